-- The claim, comment-attempt and comment-link rows are small and looked up by their text
-- key only: kept in the key's own b-tree (WITHOUT ROWID), each insert or delete writes one
-- b-tree instead of the table and its primary-key index. (PostgreSQL has no such choice.)
CREATE TABLE data_sync_claim_new (
    ticket_guid TEXT PRIMARY KEY NOT NULL,
    owner       TEXT NOT NULL,
    claim_until BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO data_sync_claim_new (ticket_guid, owner, claim_until)
    SELECT ticket_guid, owner, claim_until FROM data_sync_claim;
DROP TABLE data_sync_claim;
ALTER TABLE data_sync_claim_new RENAME TO data_sync_claim;

CREATE TABLE data_sync_comment_attempt_new (
    comment_guid TEXT PRIMARY KEY NOT NULL,
    attempted_at BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO data_sync_comment_attempt_new (comment_guid, attempted_at)
    SELECT comment_guid, attempted_at FROM data_sync_comment_attempt;
DROP TABLE data_sync_comment_attempt;
ALTER TABLE data_sync_comment_attempt_new RENAME TO data_sync_comment_attempt;

CREATE TABLE comment_sync_new (
    comment_guid    TEXT PRIMARY KEY NOT NULL,
    asana_story_gid TEXT NOT NULL UNIQUE
) WITHOUT ROWID;
INSERT INTO comment_sync_new (comment_guid, asana_story_gid)
    SELECT comment_guid, asana_story_gid FROM comment_sync;
DROP TABLE comment_sync;
ALTER TABLE comment_sync_new RENAME TO comment_sync;
