-- Billing events: each customer's MRR history, the input of the end-of-month revenue report
-- (code24_shared::reports::revenue).
--
-- A row means: "from at_ms on, customer_id pays mrr_cents a month". The customer's MRR at any
-- instant is the mrr_cents of their latest row at or before it (0 before their first row);
-- a row of 0 is a cancellation (churn), and a later non-zero row a reactivation. Whether a
-- change is new, expansion, contraction, churn or reactivation is never stored: the report
-- derives it from the history, so the month's revenue bridge always balances.
-- Money is integer cents (never floats); at_ms is epoch milliseconds, UTC.
--
-- One row per (customer, instant): two changes at the same instant would have no order. The
-- admin route `POST /api/billing-events` upserts on that pair, so a retried request is one row.
CREATE TABLE IF NOT EXISTS billing_events (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    at_ms       INTEGER NOT NULL,
    mrr_cents   INTEGER NOT NULL CHECK (mrr_cents >= 0),
    UNIQUE (customer_id, at_ms)
);

-- Serves the report's read of every event before a month's end: WHERE at_ms < ?.
CREATE INDEX IF NOT EXISTS billing_events_at ON billing_events (at_ms);
