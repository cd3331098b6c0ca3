-- 012_ocm_outbound.sql - Open Cloud Mesh outbound: what a share is sent
-- as, permission changes, and this instance's own answers (SHARE_ACCEPTED,
-- SHARE_DECLINED) as the recipient of shares from other instances.

-- A sent share's shareWith, when it is an OCM address of a contact (its
-- instance is then known from the start: ocm_sent.instance); NULL: the
-- grantee's e-mail address, whose instance WebFinger finds. What it shares
-- ('file' or 'folder', from the item as storage described it) and when it
-- expires (seconds since the epoch; NULL: never), both sent with it.
ALTER TABLE ocm_sent ADD COLUMN share_with TEXT;
ALTER TABLE ocm_sent ADD COLUMN resource_type TEXT CHECK (resource_type IN ('file', 'folder'));
ALTER TABLE ocm_sent ADD COLUMN expiration INTEGER;

-- Shares received over OCM that this instance answers: the sender
-- (instance) and its providerId, and the last answer queued. No secret:
-- a Spaceport sender matches the answer by the signer and the providerId.
CREATE TABLE ocm_replies (
    seq           INTEGER PRIMARY KEY,
    instance      TEXT NOT NULL,                 -- base URL of the sending instance
    provider_id   TEXT NOT NULL,                 -- its providerId of the share
    resource_type TEXT NOT NULL DEFAULT 'folder' CHECK (resource_type IN ('file', 'folder')),
    answer        TEXT NOT NULL CHECK (answer IN ('accepted', 'declined')),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (instance, provider_id)
);

-- The queue, rebuilt for its new kinds: a delivery belongs to a sent share
-- (share, changed, unshared, permission) or to a reply (accepted,
-- declined), strictly in seq order within each.
CREATE TABLE ocm_outbox_new (
    seq         INTEGER PRIMARY KEY,
    sent_seq    INTEGER REFERENCES ocm_sent (seq) ON DELETE CASCADE,
    reply_seq   INTEGER REFERENCES ocm_replies (seq) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('share', 'changed', 'unshared', 'permission',
                                              'accepted', 'declined')),
    etag        TEXT,                          -- kind 'changed': the new eTag
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,              -- not before this time
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    CHECK ((sent_seq IS NULL) <> (reply_seq IS NULL)),
    CHECK ((kind IN ('accepted', 'declined')) = (reply_seq IS NOT NULL))
);
INSERT INTO ocm_outbox_new (seq, sent_seq, kind, etag, attempts, next_at, last_error, created_at)
SELECT seq, sent_seq, kind, etag, attempts, next_at, last_error, created_at FROM ocm_outbox;
DROP TABLE ocm_outbox;
ALTER TABLE ocm_outbox_new RENAME TO ocm_outbox;
CREATE INDEX ocm_outbox_sent ON ocm_outbox (sent_seq, seq);
CREATE INDEX ocm_outbox_reply ON ocm_outbox (reply_seq, seq);
CREATE INDEX ocm_outbox_due ON ocm_outbox (next_at);
