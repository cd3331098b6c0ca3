-- 007_items.sql - what storage providers said about items, and each
-- user's view of the shares they received.
--
-- Items: the name, place and kind of an item as its storage provider last
-- described it in a spaceport.storage.changed event. The registry never
-- asks storage for them; share listings and event data read them here.
-- Kept for items that have a share and, within SPACEPORT_ITEMS_MAX, for
-- the most recently reported others: seq orders the reports (a report
-- replaces the row, so its seq is new), the oldest unshared go first.
CREATE TABLE items (
    seq          INTEGER PRIMARY KEY,
    drive_seq    INTEGER NOT NULL REFERENCES drives (seq) ON DELETE CASCADE,
    id           TEXT NOT NULL,                  -- item id (the drive id for its root)
    parent_id    TEXT,                           -- NULL for the drive root
    name         TEXT NOT NULL,
    path         TEXT NOT NULL,                  -- from the drive root, "/" for the root
    folder       INTEGER NOT NULL,               -- 1 folder, 0 file
    size         INTEGER NOT NULL DEFAULT 0,     -- bytes
    etag         TEXT NOT NULL,
    mtime        INTEGER NOT NULL,
    mime_type    TEXT,                           -- files, when reported
    UNIQUE (drive_seq, id)
);

-- The shares of one item, whatever their grantee: the bound's pruning asks
-- for each item it may drop whether a share has it, and mounting or
-- hiding finds a user's shares by item id. The unique indexes of shares
-- are partial (one per grantee kind) and answer neither: without this
-- each question reads every share, under the write lock.
CREATE INDEX shares_item ON shares (item_id, drive_seq);

-- Mounted (@client.synchronize) and hidden (@UI.Hidden) per share and
-- user, not per grantee, so that a share with a group has one state per
-- member. A row exists only once the user changed the defaults: mounted
-- (accepted automatically, as oCIS does) and not hidden.
CREATE TABLE share_states (
    share_seq    INTEGER NOT NULL REFERENCES shares (seq) ON DELETE CASCADE,
    user_seq     INTEGER NOT NULL REFERENCES users (seq),
    mounted      INTEGER NOT NULL,
    hidden       INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (share_seq, user_seq)
) WITHOUT ROWID;
