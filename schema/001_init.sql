-- 001_init.sql - the whole registry: users, drives, members, shares, remote
-- spaces, and the event log that is also the outbox.
--
-- Internal keys are integer rowids ("seq") so that joins and indexes stay
-- small at a million drives; the ids clients see are random UUIDs ("id").
-- Times are milliseconds since the Unix epoch, UTC.

CREATE TABLE users (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,           -- libre-graph user id (UUID)
    issuer       TEXT NOT NULL,                  -- exact iss of the identity provider
    sub          TEXT NOT NULL,                  -- subject at that issuer
    username     TEXT NOT NULL,                  -- SPACEPORT_USER_CLAIM
    display_name TEXT NOT NULL DEFAULT '',
    email        TEXT,                           -- lower case, verified addresses only
    roles        INTEGER NOT NULL DEFAULT 0,     -- bit 0 admin, bit 1 space admin
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (issuer, sub)
);
CREATE INDEX users_email ON users (email) WHERE email IS NOT NULL;
CREATE INDEX users_username ON users (username COLLATE NOCASE);
CREATE INDEX users_display_name ON users (display_name COLLATE NOCASE);

-- Storage spaces. Personal and project drives live here; a share received is
-- a mountpoint computed from shares, a registered remote space from remotes.
CREATE TABLE drives (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    drive_type   TEXT NOT NULL CHECK (drive_type IN ('personal', 'project')),
    alias        TEXT NOT NULL,                  -- personal/<username>, project/<slug>
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    owner_seq    INTEGER REFERENCES users (seq), -- personal: owner; project: creator
    quota_total  INTEGER,                        -- bytes; NULL = unlimited
    quota_used   INTEGER NOT NULL DEFAULT 0,     -- bytes, from storage change events
    etag         TEXT NOT NULL,                  -- root eTag, from storage change events
    mtime        INTEGER NOT NULL,               -- lastModifiedDateTime
    disabled_at  INTEGER,                        -- NULL = enabled; else trashed since
    created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX drives_personal ON drives (owner_seq) WHERE drive_type = 'personal';
-- Keyset paging orders by (lower(name), id) or (mtime, id); admins list all.
CREATE INDEX drives_name ON drives (lower(name), id);
CREATE INDEX drives_type_name ON drives (drive_type, lower(name), id);
CREATE INDEX drives_mtime ON drives (mtime, id);

-- Space members (the personal drive's owner is its Manager).
CREATE TABLE members (
    user_seq     INTEGER NOT NULL REFERENCES users (seq),
    drive_seq    INTEGER NOT NULL REFERENCES drives (seq) ON DELETE CASCADE,
    id           TEXT NOT NULL UNIQUE,           -- permission id
    role         TEXT NOT NULL,                  -- unified role id
    expires_at   INTEGER,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (user_seq, drive_seq)
) WITHOUT ROWID;
CREATE INDEX members_drive ON members (drive_seq, role);

-- Shares of an item (the drive root or anything below it) with one grantee:
-- a local user, an e-mail address not yet matched to a user, or a user of
-- another instance (federated, announced over OCM).
CREATE TABLE shares (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,         -- permission id
    mount_id       TEXT NOT NULL UNIQUE,         -- the grantee's mountpoint drive id
    drive_seq      INTEGER NOT NULL REFERENCES drives (seq) ON DELETE CASCADE,
    item_id        TEXT NOT NULL,                -- opaque; the drive id for its root
    item_name      TEXT NOT NULL DEFAULT '',
    grantee_seq    INTEGER REFERENCES users (seq),
    grantee_email  TEXT,                         -- lower case; set until matched
    grantee_remote TEXT,                         -- user@instance for federated grantees
    role           TEXT NOT NULL,
    expires_at     INTEGER,
    expired        INTEGER NOT NULL DEFAULT 0,   -- 1 once the expiry event is written
    creator_seq    INTEGER NOT NULL REFERENCES users (seq),
    secret         TEXT,                         -- OCM shared secret
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    CHECK (grantee_seq IS NOT NULL OR grantee_email IS NOT NULL OR grantee_remote IS NOT NULL)
);
CREATE UNIQUE INDEX shares_item_user ON shares (drive_seq, item_id, grantee_seq)
    WHERE grantee_seq IS NOT NULL;
CREATE UNIQUE INDEX shares_item_email ON shares (drive_seq, item_id, grantee_email)
    WHERE grantee_seq IS NULL AND grantee_email IS NOT NULL;
CREATE UNIQUE INDEX shares_item_remote ON shares (drive_seq, item_id, grantee_remote)
    WHERE grantee_remote IS NOT NULL;
CREATE INDEX shares_grantee ON shares (grantee_seq) WHERE grantee_seq IS NOT NULL;
CREATE INDEX shares_pending_email ON shares (grantee_email) WHERE grantee_seq IS NULL;
CREATE INDEX shares_creator ON shares (creator_seq);
CREATE INDEX shares_expiry ON shares (expires_at) WHERE expires_at IS NOT NULL AND expired = 0;

-- Spaces hosted by other (trusted) instances that a user registered here or
-- that another instance announced over OCM.
CREATE TABLE remotes (
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
    UNIQUE (owner_seq, web_dav_url)
);
CREATE INDEX remotes_remote_drive ON remotes (instance, remote_drive_id);
CREATE UNIQUE INDEX remotes_ocm ON remotes (instance, ocm_share_id) WHERE ocm_share_id IS NOT NULL;

-- The event log. Every client-visible change writes one row here in its own
-- transaction; the relay publishes unpublished rows to JetStream, the hub
-- streams them to recipients, /api/v1/events/{id} serves them.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT, -- SSE id; never reused
    id         TEXT NOT NULL UNIQUE,              -- CloudEvents id = Nats-Msg-Id
    type       TEXT NOT NULL,                     -- spaceport.share.created, ...
    subject    TEXT NOT NULL,                     -- drive id
    time       INTEGER NOT NULL,
    data       TEXT NOT NULL,                     -- JSON object
    published  INTEGER NOT NULL DEFAULT 0         -- 1 once JetStream acked it
);
CREATE INDEX events_unpublished ON events (seq) WHERE published = 0;
CREATE INDEX events_time ON events (time);

CREATE TABLE event_recipients (
    user_seq   INTEGER NOT NULL,
    event_seq  INTEGER NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    PRIMARY KEY (user_seq, event_seq)
) WITHOUT ROWID;
CREATE INDEX event_recipients_event ON event_recipients (event_seq);

-- CloudEvent ids of storage-provider changes already applied, so that a
-- redelivery changes nothing twice.
CREATE TABLE inbound_events (
    id          TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX inbound_events_time ON inbound_events (received_at);
