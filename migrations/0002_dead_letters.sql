-- The dead-letter store, filled by the code24-dead-letters consumer from the dead-letter
-- queue. One row per dead job (keyed by job id, so a re-sent dead letter updates its row),
-- or per undecodable message (keyed by its queue message id).
CREATE TABLE IF NOT EXISTS dead_letters (
    id              TEXT PRIMARY KEY,
    origin_queue    TEXT NOT NULL,
    job_id          TEXT,
    sweep_id        TEXT,
    customer_id     TEXT,
    body            TEXT NOT NULL,
    error_class     TEXT NOT NULL CHECK (error_class IN ('transient', 'permanent')),
    error_message   TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    first_failed_ms INTEGER NOT NULL,
    last_failed_ms  INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'dead' CHECK (status IN ('dead', 'replayed', 'purged')),
    replay_count    INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS dead_letters_sweep ON dead_letters (sweep_id, customer_id);
CREATE INDEX IF NOT EXISTS dead_letters_failed ON dead_letters (last_failed_ms);
