-- Monthly-analytics sections: one customer's section of one monthly-analytics run, written by
-- the run's per-customer job (code24_shared::reports::analytics::CustomerMonthly, as JSON) and
-- read back by the run's finalize job, which folds every section of the run into the platform
-- report in R2. Upserted by (run, customer), so a retried or redelivered job rewrites its row.
CREATE TABLE IF NOT EXISTS monthly_sections (
    run_id      TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    section     TEXT NOT NULL CHECK (json_valid(section)),
    PRIMARY KEY (run_id, customer_id)
);
