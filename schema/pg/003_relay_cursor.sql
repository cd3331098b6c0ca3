-- 003_relay_cursor.sql (PostgreSQL) - what the relay has put on the bus,
-- as one number: every event with seq <= published_seq is on the bus. As
-- ../003_relay_cursor.sql, which says why it replaces events.published.
CREATE TABLE relay_cursor (
    id            BIGINT PRIMARY KEY CHECK (id = 1),
    published_seq BIGINT NOT NULL
);
INSERT INTO relay_cursor (id, published_seq)
SELECT 1, coalesce((SELECT min(seq) - 1 FROM events WHERE published = 0),
                   (SELECT max(seq) FROM events), 0);

DROP INDEX events_unpublished;
ALTER TABLE events DROP COLUMN published;
