CREATE TABLE data_sync_claim_old (
    ticket_guid TEXT PRIMARY KEY NOT NULL,
    owner       TEXT NOT NULL,
    claim_until BIGINT NOT NULL
);
INSERT INTO data_sync_claim_old SELECT ticket_guid, owner, claim_until FROM data_sync_claim;
DROP TABLE data_sync_claim;
ALTER TABLE data_sync_claim_old RENAME TO data_sync_claim;

CREATE TABLE data_sync_comment_attempt_old (
    comment_guid TEXT PRIMARY KEY NOT NULL,
    attempted_at BIGINT NOT NULL
);
INSERT INTO data_sync_comment_attempt_old SELECT comment_guid, attempted_at FROM data_sync_comment_attempt;
DROP TABLE data_sync_comment_attempt;
ALTER TABLE data_sync_comment_attempt_old RENAME TO data_sync_comment_attempt;

CREATE TABLE comment_sync_old (
    comment_guid    TEXT PRIMARY KEY NOT NULL,
    asana_story_gid TEXT NOT NULL UNIQUE
);
INSERT INTO comment_sync_old SELECT comment_guid, asana_story_gid FROM comment_sync;
DROP TABLE comment_sync;
ALTER TABLE comment_sync_old RENAME TO comment_sync;
