-- Demo customers for local runs (`cargo xtask dev`). Idempotent: safe to apply again.
-- 'lumen-labs' is inactive, to show that inactive sites are not swept.
INSERT OR IGNORE INTO customers (id, name, plan) VALUES ('acme-bakery', 'Acme Bakery', 'starter');
INSERT OR IGNORE INTO customers (id, name, plan) VALUES ('blue-fern', 'Blue Fern Studio', 'growth');
INSERT OR IGNORE INTO customers (id, name, plan) VALUES ('cobalt-legal', 'Cobalt Legal', 'enterprise');
INSERT OR IGNORE INTO customers (id, name, plan) VALUES ('dune-outfitters', 'Dune Outfitters', 'growth');
INSERT OR IGNORE INTO customers (id, name, plan) VALUES ('ember-coffee', 'Ember Coffee', 'starter');
INSERT OR IGNORE INTO customers (id, name, plan) VALUES ('fjord-analytics', 'Fjord Analytics', 'enterprise');
INSERT OR IGNORE INTO customers (id, name, plan) VALUES ('granite-gyms', 'Granite Gyms', 'growth');
INSERT OR IGNORE INTO customers (id, name, plan) VALUES ('harbor-vets', 'Harbor Vets', 'starter');
INSERT OR IGNORE INTO customers (id, name, plan) VALUES ('iris-florist', 'Iris Florist', 'starter');
INSERT OR IGNORE INTO customers (id, name, plan) VALUES ('juniper-dental', 'Juniper Dental', 'growth');
INSERT OR IGNORE INTO customers (id, name, plan) VALUES ('kestrel-books', 'Kestrel Books', 'starter');
INSERT OR IGNORE INTO customers (id, name, plan) VALUES ('lumen-labs', 'Lumen Labs', 'enterprise');
INSERT OR IGNORE INTO sites (customer_id, url, active) VALUES ('acme-bakery', 'https://acme-bakery.example', 1);
INSERT OR IGNORE INTO sites (customer_id, url, active) VALUES ('blue-fern', 'https://bluefern.example', 1);
INSERT OR IGNORE INTO sites (customer_id, url, active) VALUES ('cobalt-legal', 'https://cobalt-legal.example', 1);
INSERT OR IGNORE INTO sites (customer_id, url, active) VALUES ('dune-outfitters', 'https://dune-outfitters.example', 1);
INSERT OR IGNORE INTO sites (customer_id, url, active) VALUES ('ember-coffee', 'https://ember.coffee.example', 1);
INSERT OR IGNORE INTO sites (customer_id, url, active) VALUES ('fjord-analytics', 'https://fjord-analytics.example', 1);
INSERT OR IGNORE INTO sites (customer_id, url, active) VALUES ('granite-gyms', 'https://granitegyms.example', 1);
INSERT OR IGNORE INTO sites (customer_id, url, active) VALUES ('harbor-vets', 'https://harbor-vets.example', 1);
INSERT OR IGNORE INTO sites (customer_id, url, active) VALUES ('iris-florist', 'https://iris-florist.example', 1);
INSERT OR IGNORE INTO sites (customer_id, url, active) VALUES ('juniper-dental', 'https://juniper-dental.example', 1);
INSERT OR IGNORE INTO sites (customer_id, url, active) VALUES ('kestrel-books', 'https://kestrel-books.example', 1);
INSERT OR IGNORE INTO sites (customer_id, url, active) VALUES ('lumen-labs', 'https://lumenlabs.example', 0);
