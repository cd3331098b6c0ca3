-- 003_relay_cursor.sql - what the relay has put on the bus, as one number.
--
-- The relay publishes events in sequence order and records what the bus
-- acknowledged as a prefix of the log, so "published" is a cursor, not a
-- flag on every row: marking a round rewrites one row instead of the pages
-- of every event in it (and their index entries).
CREATE TABLE relay_cursor (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    published_seq INTEGER NOT NULL   -- every event with seq <= this is on the bus
);
INSERT INTO relay_cursor (id, published_seq)
SELECT 1, coalesce((SELECT min(seq) - 1 FROM events WHERE published = 0),
                   (SELECT max(seq) FROM events), 0);

DROP INDEX events_unpublished;
ALTER TABLE events DROP COLUMN published;
