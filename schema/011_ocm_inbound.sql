-- 011_ocm_inbound.sql - Open Cloud Mesh shares received: a share is
-- identified by its sender instance and providerId alone, and keeps what
-- it grants.
--
-- 001 made (owner, webDavUrl) unique for every remote space, so a second
-- share of the same folder (another providerId: the spec makes it unique
-- per share) could only take over the first one's row, whose own
-- SHARE_UNSHARED was then refused. SQLite cannot drop a table constraint:
-- the table is rebuilt as it was, without it. Spaces registered by URL stay
-- unique per owner through a partial index; OCM shares stay unique per
-- (instance, providerId).
CREATE TABLE remotes_new (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,        -- local mountpoint drive id
    owner_seq       INTEGER NOT NULL REFERENCES users (seq),
    instance        TEXT NOT NULL,               -- base URL of the hosting instance
    web_dav_url     TEXT NOT NULL,
    remote_drive_id TEXT NOT NULL,
    name            TEXT NOT NULL,
    etag            TEXT,
    mtime           INTEGER,
    ocm_share_id    TEXT,                        -- set when announced over OCM
    ocm_secret      TEXT,
    created_at      INTEGER NOT NULL,
    sub_id          TEXT,
    sub_state       TEXT,
    sub_expires_at  INTEGER,
    sub_next_at     INTEGER NOT NULL DEFAULT 0,
    sub_attempts    INTEGER NOT NULL DEFAULT 0,
    sub_error       TEXT,
    sub_seq         INTEGER NOT NULL DEFAULT 0,
    -- What an OCM share grants: 'read' or 'read,write' (NULL: registered by
    -- URL, or announced before this migration: the hosting instance
    -- decides), and whether it is a 'file' or a 'folder'.
    permissions     TEXT CHECK (permissions IN ('read', 'read,write')),
    resource_type   TEXT CHECK (resource_type IN ('file', 'folder'))
);
INSERT INTO remotes_new (seq, id, owner_seq, instance, web_dav_url, remote_drive_id, name, etag,
    mtime, ocm_share_id, ocm_secret, created_at, sub_id, sub_state, sub_expires_at, sub_next_at,
    sub_attempts, sub_error, sub_seq, permissions, resource_type)
SELECT seq, id, owner_seq, instance, web_dav_url, remote_drive_id, name, etag, mtime,
    ocm_share_id, ocm_secret, created_at, sub_id, sub_state, sub_expires_at, sub_next_at,
    sub_attempts, sub_error, sub_seq, NULL,
    CASE WHEN ocm_share_id IS NOT NULL THEN 'folder' END -- the only type accepted before
FROM remotes;
DROP TABLE remotes;
ALTER TABLE remotes_new RENAME TO remotes;
CREATE UNIQUE INDEX remotes_url ON remotes (owner_seq, web_dav_url) WHERE ocm_share_id IS NULL;
CREATE INDEX remotes_remote_drive ON remotes (instance, remote_drive_id);
CREATE UNIQUE INDEX remotes_ocm ON remotes (instance, ocm_share_id) WHERE ocm_share_id IS NOT NULL;
CREATE INDEX remotes_ocm_share ON remotes (ocm_share_id) WHERE ocm_share_id IS NOT NULL;
CREATE UNIQUE INDEX remotes_sub ON remotes (instance, sub_id) WHERE sub_id IS NOT NULL;
CREATE INDEX remotes_sub_due ON remotes (sub_expires_at) WHERE sub_id IS NOT NULL;

-- Shares sent: the receiver's answer (SHARE_ACCEPTED or SHARE_DECLINED)
-- and when it came. An answer may come before the receiver's 201 to the
-- share is recorded (instance still NULL): answered_by keeps the instance
-- that signed it (NULL: matched by the share's secret), and the answer
-- stands once the share is recorded as delivered to that instance.
ALTER TABLE ocm_sent ADD COLUMN answer TEXT CHECK (answer IN ('accepted', 'declined'));
ALTER TABLE ocm_sent ADD COLUMN answered_at INTEGER;
ALTER TABLE ocm_sent ADD COLUMN answered_by TEXT;
