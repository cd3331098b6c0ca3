-- 008_event_initiator.sql - each event keeps the Initiator-ID of the
-- request whose write made it (the client instance that asked, such as one
-- browser tab; NULL when none was sent or nobody asked: provisioning,
-- expiry, storage changes). The bus carries it as the CloudEvents
-- extension attribute initiatorid and oCIS's change stream as the
-- payload's initiatorid, so that a client can skip its own changes.
ALTER TABLE events ADD COLUMN initiator TEXT;
