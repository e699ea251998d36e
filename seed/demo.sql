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

-- Demo billing history (migrations/0005_billing.sql: from at_ms the customer pays mrr_cents a
-- month), covering 2026-09 to 2026-11 with every kind of movement. Idempotent through the
-- table's UNIQUE (customer_id, at_ms). The first payment (lumen-labs, 2026-01-10) starts the
-- forecast's history in February: November's end-of-month report has 10 months of it, more
-- than the 8 its three-month MRR forecast needs (shared/src/reports/forecast/mrr.rs).
-- Paying before the reported months (starter 49.00, growth 149.00, enterprise 499.00 a month).
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('acme-bakery', 1772323200000, 4900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('blue-fern', 1775001600000, 14900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('cobalt-legal', 1769904000000, 49900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('dune-outfitters', 1777593600000, 14900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('ember-coffee', 1780272000000, 4900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('fjord-analytics', 1773532800000, 49900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('granite-gyms', 1782864000000, 14900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('harbor-vets', 1783641600000, 4900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('lumen-labs', 1768003200000, 49900);
-- 2026-09: iris-florist new; acme-bakery upgrades to growth; lumen-labs churns.
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('iris-florist', 1788998400000, 4900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('acme-bakery', 1789430400000, 14900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('lumen-labs', 1789862400000, 0);
-- 2026-10: juniper-dental new; blue-fern downgrades to starter; fjord-analytics expands; harbor-vets churns.
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('juniper-dental', 1791158400000, 14900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('blue-fern', 1791763200000, 4900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('fjord-analytics', 1792281600000, 79900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('harbor-vets', 1792886400000, 0);
-- 2026-11: kestrel-books new; lumen-labs reactivates; dune-outfitters downgrades; ember-coffee churns;
-- cobalt-legal expands; granite-gyms churns and reactivates within the month.
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('kestrel-books', 1793664000000, 4900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('granite-gyms', 1793836800000, 0);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('lumen-labs', 1794096000000, 49900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('dune-outfitters', 1794614400000, 4900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('ember-coffee', 1795132800000, 0);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('cobalt-legal', 1795305600000, 69900);
INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ('granite-gyms', 1795564800000, 14900);
