-- 013_ocm_invites.sql - Open Cloud Mesh invitations: the invites a user
-- made (a token handed out of band), and the contacts an accepted invite
-- gives both sides: remote users one can share with.

-- A contact: a user of another (trusted) instance that this user may
-- share with, known from an invite accepted by either side. Unique per
-- owner and OCM address: accepting a second invite of the same pair
-- refreshes the one contact.
CREATE TABLE ocm_contacts (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,         -- what user search and shares name it by
    owner_seq  INTEGER NOT NULL REFERENCES users (seq) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,                -- the remote user's userID at their instance
    provider   TEXT NOT NULL,                -- their instance's host (authority)
    instance   TEXT NOT NULL,                -- that instance's entry of SPACEPORT_TRUSTED_INSTANCES
    address    TEXT NOT NULL,                -- OCM address: user_id@provider
    name       TEXT NOT NULL,
    email      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (owner_seq, address)
);

-- An invite: the token is never stored, only its SHA-256 (hex), so a
-- copy of the database accepts no invite. Expired and accepted invites
-- stay listed to their owner; neither can be accepted (again).
CREATE TABLE ocm_invites (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    token_hash  TEXT NOT NULL UNIQUE,
    owner_seq   INTEGER NOT NULL REFERENCES users (seq) ON DELETE CASCADE,
    description TEXT NOT NULL DEFAULT '',
    recipient   TEXT,                        -- the e-mail address it was meant for, if named
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    accepted_at INTEGER,
    contact_seq INTEGER REFERENCES ocm_contacts (seq) ON DELETE SET NULL
);
CREATE INDEX ocm_invites_owner ON ocm_invites (owner_seq, created_at);

-- A share with a contact names it as shares.grantee_remote (its OCM
-- address; a contact of the share's creator) and keeps the instance it
-- goes to: the contact may be removed later, the share still knows whom
-- to tell.
ALTER TABLE shares ADD COLUMN grantee_instance TEXT;
