-- Alerts (shared/src/alerts): incidents and the webhook's outbox. One open incident per key at
-- a time (the partial unique index: two ticks deciding at once open it once); one message per
-- incident and phase (the primary key), written in the same batch as the incident's change,
-- and only if that change is in the table (so a tick whose opening was refused writes no
-- message). Messages are sent, retried, suppressed by the rate cap or given up by the
-- dispatcher's ticks; the dashboard's health page reads both tables.
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    severity TEXT NOT NULL,
    summary TEXT NOT NULL,
    opened_ms INTEGER NOT NULL,
    resolved_ms INTEGER
);

CREATE UNIQUE INDEX IF NOT EXISTS incidents_open_key ON incidents (key) WHERE resolved_ms IS NULL;
CREATE INDEX IF NOT EXISTS incidents_opened ON incidents (opened_ms);

CREATE TABLE IF NOT EXISTS alert_messages (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    key TEXT NOT NULL,
    phase TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    -- A tick sending the message holds it until then, so an overlapping tick does not send it too.
    lease_until_ms INTEGER,
    sent_ms INTEGER,
    last_error TEXT,
    body TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS alert_messages_pending ON alert_messages (status, created_ms);
CREATE INDEX IF NOT EXISTS alert_messages_sent ON alert_messages (phase, status, sent_ms);
