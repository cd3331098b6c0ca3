-- 011_ocm_inbound.sql (PostgreSQL) - Open Cloud Mesh shares received: a
-- share is identified by its sender instance and providerId alone, and
-- keeps what it grants. As ../011_ocm_inbound.sql, which says why.
--
-- SQLite rebuilds remotes to drop 001's UNIQUE (owner_seq, web_dav_url);
-- here the named constraint is dropped and the two columns added (last,
-- where the rebuild puts them). The rebuild keeps every other index, so
-- only remotes_url is new.
ALTER TABLE remotes DROP CONSTRAINT remotes_owner_url;
ALTER TABLE remotes ADD COLUMN permissions TEXT CHECK (permissions IN ('read', 'read,write'));
ALTER TABLE remotes ADD COLUMN resource_type TEXT CHECK (resource_type IN ('file', 'folder'));
-- The only type accepted before this version.
UPDATE remotes SET resource_type = 'folder' WHERE ocm_share_id IS NOT NULL;
CREATE UNIQUE INDEX remotes_url ON remotes (owner_seq, web_dav_url) WHERE ocm_share_id IS NULL;

ALTER TABLE ocm_sent ADD COLUMN answer TEXT CHECK (answer IN ('accepted', 'declined'));
ALTER TABLE ocm_sent ADD COLUMN answered_at BIGINT;
ALTER TABLE ocm_sent ADD COLUMN answered_by TEXT;
