-- 005_address_case.sql - e-mail addresses compared in lower case.
--
-- Addresses are stored and looked up in lower case; rows written before
-- that rule are brought in line, so Bob@Example.org meets the shares sent
-- to bob@example.org. Pending shares' addresses were lower-cased on entry
-- already: only users' addresses can differ.
UPDATE users SET email = lower(email) WHERE email IS NOT NULL AND email <> lower(email);
