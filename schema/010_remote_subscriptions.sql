-- 010_remote_subscriptions.sql - a remote space registered by URL is
-- subscribed to at its hosting instance (a Graph subscription made for its
-- owner, signed by this instance): what this side keeps to renew it, to
-- recognise its notifications and to delete it again.
ALTER TABLE remotes ADD COLUMN sub_id TEXT;          -- the subscription's id at the hosting instance
ALTER TABLE remotes ADD COLUMN sub_state TEXT;       -- hex SHA-256 of the clientState it was given
ALTER TABLE remotes ADD COLUMN sub_expires_at INTEGER; -- ms; renewed well before
ALTER TABLE remotes ADD COLUMN sub_next_at INTEGER NOT NULL DEFAULT 0; -- ms; next renewal try after a failure
ALTER TABLE remotes ADD COLUMN sub_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE remotes ADD COLUMN sub_error TEXT;       -- why the last renewal failed, for the operator
ALTER TABLE remotes ADD COLUMN sub_seq INTEGER NOT NULL DEFAULT 0; -- the newest sequenceNumber applied: redeliveries are skipped
CREATE UNIQUE INDEX remotes_sub ON remotes (instance, sub_id) WHERE sub_id IS NOT NULL;
CREATE INDEX remotes_sub_due ON remotes (sub_expires_at) WHERE sub_id IS NOT NULL;

-- Subscriptions to delete at hosting instances: their remote space is gone
-- here, and the DELETE is retried until the instance confirms (or says it
-- has none).
CREATE TABLE remote_unsubscribes (
    seq        INTEGER PRIMARY KEY,
    instance   TEXT NOT NULL,
    sub_id     TEXT NOT NULL,
    next_at    INTEGER NOT NULL DEFAULT 0, -- ms
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    UNIQUE (instance, sub_id)
);
