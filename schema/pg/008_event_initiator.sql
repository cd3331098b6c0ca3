-- 008_event_initiator.sql (PostgreSQL) - each event keeps the Initiator-ID
-- of the request whose write made it (NULL when none); see
-- ../008_event_initiator.sql.
ALTER TABLE events ADD COLUMN initiator TEXT;
