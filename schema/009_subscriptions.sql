-- 009_subscriptions.sql - change notification subscriptions in Microsoft
-- Graph's shape: a user (or a trusted instance on its user's behalf)
-- asks that changes of a drive, or of their list of drives, be POSTed to
-- a notificationUrl. Delivery reads the event log after each
-- subscription's cursor, so that nothing is lost while a receiver is down
-- and nothing is sent that the owner's own change stream would not show.
CREATE TABLE subscriptions (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,     -- uuid, the Graph subscription id
    owner_seq         INTEGER NOT NULL REFERENCES users (seq),
    resource          TEXT NOT NULL,            -- as the client wrote it: 'me/drives' or 'drives/{id}'
    drive_id          TEXT,                     -- drives/{id}: that id; me/drives: NULL
    change_types      INTEGER NOT NULL,         -- bits: 1 created, 2 updated, 4 deleted
    notification_url  TEXT NOT NULL,
    lifecycle_url     TEXT,                     -- lifecycleNotificationUrl, NULL when none
    client_state      TEXT,                     -- <= 128 characters, NULL when none
    delegate          TEXT,                     -- base URL of the trusted instance that made it for its owner; NULL: made by the owner
    expires_at        INTEGER NOT NULL,         -- ms
    created_at        INTEGER NOT NULL,
    cursor            INTEGER NOT NULL,         -- every event with seq <= cursor is delivered or skipped (starts at max(events.seq) at creation)
    attempts          INTEGER NOT NULL DEFAULT 0,  -- failed tries of the current batch
    next_attempt_at   INTEGER NOT NULL DEFAULT 0,  -- ms; 0 = due now
    last_error        TEXT,
    ended_at          INTEGER,                  -- set when access was lost / expired: no more notifications, only its lifecycle note
    lifecycle_pending TEXT                      -- 'subscriptionRemoved' | 'missed' | NULL: a lifecycle notification still to send
);
CREATE INDEX subscriptions_owner ON subscriptions (owner_seq);
CREATE INDEX subscriptions_due ON subscriptions (next_attempt_at);
