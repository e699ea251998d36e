-- The site registry: customers and their sites. One site per customer, because the seed's R2
-- layout (optimizations/{customerId}/{timestamp}.json) keys results by customer.
-- Customer ids become R2 key segments: the CHECK mirrors code24_shared::ids::CustomerId.
CREATE TABLE IF NOT EXISTS customers (
    id          TEXT PRIMARY KEY
                CHECK (length(id) BETWEEN 1 AND 64 AND id NOT GLOB '*[^A-Za-z0-9_-]*'),
    name        TEXT NOT NULL,
    plan        TEXT NOT NULL CHECK (plan IN ('starter', 'growth', 'enterprise')),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TABLE IF NOT EXISTS sites (
    customer_id TEXT PRIMARY KEY REFERENCES customers(id),
    url         TEXT NOT NULL
                CHECK (length(url) <= 2048 AND (url LIKE 'https://%' OR url LIKE 'http://%')),
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- Serves the producer's keyset pages: WHERE active = 1 AND customer_id > ? ORDER BY customer_id.
CREATE INDEX IF NOT EXISTS sites_active ON sites (active, customer_id);
