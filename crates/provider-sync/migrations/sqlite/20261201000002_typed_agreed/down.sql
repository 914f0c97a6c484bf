DROP TABLE data_sync_comment_attempt;
ALTER TABLE def_asana_sync DROP COLUMN pushed_at;
ALTER TABLE def_asana_sync DROP COLUMN agreed_assignee_known;
ALTER TABLE def_asana_sync DROP COLUMN agreed_assignee;
ALTER TABLE def_asana_sync DROP COLUMN agreed_priority;
ALTER TABLE def_asana_sync DROP COLUMN agreed_status;
ALTER TABLE def_asana_sync DROP COLUMN agreed_description;
ALTER TABLE def_asana_sync DROP COLUMN agreed_subject;
