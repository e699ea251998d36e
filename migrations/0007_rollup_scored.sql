-- Successes that carried the elite scores (a success recovered from a crashed attempt's result
-- carries none). Score averages divide by this count, not by `successes`.
ALTER TABLE daily_rollups ADD COLUMN scored INTEGER NOT NULL DEFAULT 0;
