-- 006_groups.sql - groups as identity providers name them, who is in
-- them, and what they were given: space memberships and shares.
--
-- A group belongs to one issuer: "physics" of one identity provider is
-- not "physics" of another, as a user is not (issuer, sub) of another
-- issuer. Memberships come only from tokens (SPACEPORT_GROUPS_CLAIM): the
-- newest token of a user replaces them, and groups_digest (SHA-256 of the
-- sorted names, '' for none) lets provisioning see "unchanged" on the one
-- read it already does.
CREATE TABLE groups (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,          -- libre-graph group id (UUID)
    issuer     TEXT NOT NULL,
    name       TEXT NOT NULL,                 -- exactly as the claim says it; displayName
    created_at INTEGER NOT NULL,
    UNIQUE (issuer, name)
);
CREATE INDEX groups_name ON groups (name COLLATE NOCASE);

CREATE TABLE group_members (
    group_seq INTEGER NOT NULL REFERENCES groups (seq),
    user_seq  INTEGER NOT NULL REFERENCES users (seq),
    PRIMARY KEY (group_seq, user_seq)
) WITHOUT ROWID;
CREATE INDEX group_members_user ON group_members (user_seq, group_seq);

ALTER TABLE users ADD COLUMN groups_digest TEXT NOT NULL DEFAULT '';

-- Space memberships of groups: every member of the group reaches the
-- drive with the role (the best of this and their own, should they have
-- several). Expiry as members.expires_at.
CREATE TABLE drive_groups (
    group_seq  INTEGER NOT NULL REFERENCES groups (seq),
    drive_seq  INTEGER NOT NULL REFERENCES drives (seq) ON DELETE CASCADE,
    id         TEXT NOT NULL UNIQUE,          -- permission id
    role       TEXT NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (group_seq, drive_seq)
) WITHOUT ROWID;
CREATE INDEX drive_groups_drive ON drive_groups (drive_seq, role);

-- Every (user, drive, role, expiry) a membership gives, the user's own or
-- through a group; several rows when both. Readers pick the best role.
CREATE VIEW reach AS
    SELECT user_seq, drive_seq, role, expires_at FROM members
    UNION ALL
    SELECT gm.user_seq, g.drive_seq, g.role, g.expires_at
    FROM drive_groups g JOIN group_members gm ON gm.group_seq = g.group_seq;

-- Of the recipients of a group grant's event, the group's known members:
-- the users whose access it changes, as against the drive's other members,
-- the sharer and the actor, who are only told. oCIS's change stream names
-- the first in affecteduserids (api/clientlog.c); its clients drop a
-- space or a share from their view when they find their user there.
ALTER TABLE event_recipients ADD COLUMN affected INTEGER NOT NULL DEFAULT 0;

-- Shares gain a group grantee. The CHECK of 001 names the grantee kinds,
-- and SQLite cannot change a CHECK: the table is rebuilt as it was, plus
-- grantee_group_seq.
CREATE TABLE shares_new (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    mount_id          TEXT NOT NULL UNIQUE,
    drive_seq         INTEGER NOT NULL REFERENCES drives (seq) ON DELETE CASCADE,
    item_id           TEXT NOT NULL,
    item_name         TEXT NOT NULL DEFAULT '',
    grantee_seq       INTEGER REFERENCES users (seq),
    grantee_email     TEXT,
    grantee_remote    TEXT,
    role              TEXT NOT NULL,
    expires_at        INTEGER,
    expired           INTEGER NOT NULL DEFAULT 0,
    creator_seq       INTEGER NOT NULL REFERENCES users (seq),
    secret            TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    grantee_group_seq INTEGER REFERENCES groups (seq), -- every member of the group
    CHECK (grantee_seq IS NOT NULL OR grantee_email IS NOT NULL OR grantee_remote IS NOT NULL
           OR grantee_group_seq IS NOT NULL)
);
INSERT INTO shares_new (seq, id, mount_id, drive_seq, item_id, item_name, grantee_seq,
    grantee_email, grantee_remote, role, expires_at, expired, creator_seq, secret, created_at,
    updated_at)
SELECT seq, id, mount_id, drive_seq, item_id, item_name, grantee_seq, grantee_email,
    grantee_remote, role, expires_at, expired, creator_seq, secret, created_at, updated_at
FROM shares;
DROP TABLE shares;
ALTER TABLE shares_new RENAME TO shares;
CREATE UNIQUE INDEX shares_item_user ON shares (drive_seq, item_id, grantee_seq)
    WHERE grantee_seq IS NOT NULL;
CREATE UNIQUE INDEX shares_item_email ON shares (drive_seq, item_id, grantee_email)
    WHERE grantee_seq IS NULL AND grantee_email IS NOT NULL;
CREATE UNIQUE INDEX shares_item_remote ON shares (drive_seq, item_id, grantee_remote)
    WHERE grantee_remote IS NOT NULL;
CREATE UNIQUE INDEX shares_item_group ON shares (drive_seq, item_id, grantee_group_seq)
    WHERE grantee_group_seq IS NOT NULL;
CREATE INDEX shares_grantee ON shares (grantee_seq) WHERE grantee_seq IS NOT NULL;
CREATE INDEX shares_grantee_group ON shares (grantee_group_seq)
    WHERE grantee_group_seq IS NOT NULL;
CREATE INDEX shares_pending_email ON shares (grantee_email) WHERE grantee_seq IS NULL;
CREATE INDEX shares_creator ON shares (creator_seq);
CREATE INDEX shares_expiry ON shares (expires_at) WHERE expires_at IS NOT NULL AND expired = 0;
