-- 004_member_expiry.sql (PostgreSQL) - a membership's expiry, written once
-- as an event: expired is 1 once spaceport.space.member.expired is written
-- (../004_member_expiry.sql says by whom).
ALTER TABLE members ADD COLUMN expired BIGINT NOT NULL DEFAULT 0;
CREATE INDEX members_expiry ON members (expires_at) WHERE expires_at IS NOT NULL AND expired = 0;
