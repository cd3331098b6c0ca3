-- 005_verified_addresses.sql (PostgreSQL) - users' addresses are only those
-- their identity provider verified, in lower case. As
-- ../005_verified_addresses.sql: the stored ones are forgotten, and each
-- user's next request stores the address their token verifies.
UPDATE users SET email = NULL WHERE email IS NOT NULL;
