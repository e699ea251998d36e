-- Replay and purge bookkeeping of the dead-letter store, and indexes for the admin API's
-- filters (every list is ordered by last failure, newest first).
ALTER TABLE dead_letters ADD COLUMN replayed_ms INTEGER;
ALTER TABLE dead_letters ADD COLUMN purged_ms INTEGER;
CREATE INDEX IF NOT EXISTS dead_letters_status ON dead_letters (status, last_failed_ms);
CREATE INDEX IF NOT EXISTS dead_letters_customer ON dead_letters (customer_id, last_failed_ms);
