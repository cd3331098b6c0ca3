-- 002_federation.sql - Open Cloud Mesh: the shares this instance announced
-- to other instances, the outbound queue that delivers them and their
-- changes, and how far that queue has read the event log.

-- OCM notifications name a remote space by its share's providerId (and
-- authenticate with its secret), without saying which instance sent them.
CREATE INDEX remotes_ocm_share ON remotes (ocm_share_id) WHERE ocm_share_id IS NOT NULL;

-- Shares made here with e-mail addresses that another (trusted) instance
-- may serve. Kept apart from shares and without a foreign key: once a
-- share is deleted or its drive purged, this row still says whom to tell.
CREATE TABLE ocm_sent (
    seq         INTEGER PRIMARY KEY,
    share_id    TEXT NOT NULL UNIQUE,          -- permission id = OCM providerId
    drive_id    TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    grantee     TEXT NOT NULL,                 -- e-mail address, lower case
    name        TEXT NOT NULL,                 -- the shared item's name
    sharer      TEXT NOT NULL,                 -- user name of who shared it
    sharer_name TEXT NOT NULL,                 -- and their display name
    role        TEXT NOT NULL,
    instance    TEXT,                          -- the instance that accepted it
    secret      TEXT NOT NULL,                 -- shared secret sent with the share
    -- pending: not accepted yet; shared: accepted by instance; unshared:
    -- revoked there; local: no trusted instance serves the address;
    -- refused: the receiver no longer knows the share
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'shared', 'unshared', 'local', 'refused')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX ocm_sent_drive ON ocm_sent (drive_id) WHERE state IN ('pending', 'shared');

-- Deliveries to other instances: per share strictly in seq order (the
-- share before its changes, its changes before the unshare), each retried
-- with back-off until the receiver gives a final answer.
CREATE TABLE ocm_outbox (
    seq         INTEGER PRIMARY KEY,
    sent_seq    INTEGER NOT NULL REFERENCES ocm_sent (seq) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('share', 'changed', 'unshared')),
    etag        TEXT,                          -- kind 'changed': the new eTag
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,              -- not before this time
    last_error  TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX ocm_outbox_sent ON ocm_outbox (sent_seq, seq);
CREATE INDEX ocm_outbox_due ON ocm_outbox (next_at);

-- The last event the federation thread turned into deliveries. It starts
-- at the end of the log: shares older than this migration stay local.
CREATE TABLE ocm_cursor (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    event_seq   INTEGER NOT NULL
);
INSERT INTO ocm_cursor (id, event_seq) VALUES (1, (SELECT coalesce(max(seq), 0) FROM events));
