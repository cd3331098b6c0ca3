-- 004_member_expiry.sql - a membership's expiry, written once as an event.
--
-- A membership stops counting the moment expires_at passes (every query
-- compares it with the time); expired says that its
-- spaceport.space.member.expired event has been written, by the sweeper or
-- by the invitation that gives the same user the space again, so that the
-- event is written exactly once, as shares.expired does for shares.
ALTER TABLE members ADD COLUMN expired INTEGER NOT NULL DEFAULT 0;
CREATE INDEX members_expiry ON members (expires_at) WHERE expires_at IS NOT NULL AND expired = 0;
