-- Daily rollups of optimization runs: one row per (customer, UTC day of the jobs' scheduled
-- time), the D1 copy of code24_shared::reports::analytics::DailyRollup. The truth lives in the
-- ledger's job shards, which count each run exactly once, in the transaction that records the
-- job's end (code24_shared::ledger::rollups); each shard's alarm copies the rows it changed
-- here within about 30 s, as upserts of absolute values (a repeated copy is harmless). The
-- monthly analytics read a month of rows (code24_runtime::rollups::month_rollups), never the
-- optimization objects in R2.
--
-- A run is an optimization job that ended succeeded or dead (superseded jobs are not runs).
--   runs                 succeeded + dead jobs of the day (a replayed dead job counts once, as
--                        what it last ended as)
--   successes, transient_failures, permanent_failures
--                        by outcome; a death counts by its error's class
--   duration_ms_sum      sum of the measured job durations (work start to end), ms
--   duration_buckets     JSON array of job counts per duration bucket, upper bounds
--                        [100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, open] ms
--                        (DURATION_BUCKETS_MS); runs the consumer did not measure (settled by
--                        the dead-letters consumer) are in neither the sum nor the buckets
--   score_sums           JSON array [brand, designer, developer] of score sums over the
--                        successes that wrote their result (a result recovered from a crashed
--                        attempt is a success without scores)
--   first_scores, last_scores
--                        JSON arrays [brand, designer, developer] of the scored successes with
--                        the smallest and the largest scheduled time; NULL when none
--   first_at_ms, last_at_ms
--                        those successes' scheduled times, epoch ms
--   updated_ms           when the shard's alarm last wrote the row, epoch ms
CREATE TABLE IF NOT EXISTS daily_rollups (
    customer_id        TEXT NOT NULL,
    day                TEXT NOT NULL,
    runs               INTEGER NOT NULL,
    successes          INTEGER NOT NULL,
    transient_failures INTEGER NOT NULL,
    permanent_failures INTEGER NOT NULL,
    duration_ms_sum    INTEGER NOT NULL,
    duration_buckets   TEXT NOT NULL CHECK (json_valid(duration_buckets)),
    score_sums         TEXT NOT NULL CHECK (json_valid(score_sums)),
    first_scores       TEXT CHECK (first_scores IS NULL OR json_valid(first_scores)),
    first_at_ms        INTEGER,
    last_scores        TEXT CHECK (last_scores IS NULL OR json_valid(last_scores)),
    last_at_ms         INTEGER,
    updated_ms         INTEGER NOT NULL,
    PRIMARY KEY (customer_id, day)
);

-- A month of every customer (the monthly run's fan-out and tests) reads by day.
CREATE INDEX IF NOT EXISTS daily_rollups_by_day ON daily_rollups (day);
