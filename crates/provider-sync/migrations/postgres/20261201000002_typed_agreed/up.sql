-- The values both sides last agreed on, as typed columns of the link (0.1.0 kept them as a
-- JSON text per ticket in sync_kv; opening the store moves those rows here), and when a push
-- last wrote the task.
ALTER TABLE def_asana_sync ADD COLUMN agreed_subject TEXT;
ALTER TABLE def_asana_sync ADD COLUMN agreed_description TEXT;
ALTER TABLE def_asana_sync ADD COLUMN agreed_status TEXT;        -- e.g. IN_PROGRESS
ALTER TABLE def_asana_sync ADD COLUMN agreed_priority TEXT;      -- e.g. high
ALTER TABLE def_asana_sync ADD COLUMN agreed_assignee TEXT;
-- Whether agreed_assignee is known (NULL there is "nobody" when known).
ALTER TABLE def_asana_sync ADD COLUMN agreed_assignee_known BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE def_asana_sync ADD COLUMN pushed_at BIGINT;

-- When the first post of a comment was attempted (before the request), while its story gid
-- is not known: a later attempt first looks for the story.
CREATE TABLE data_sync_comment_attempt (
    comment_guid TEXT PRIMARY KEY NOT NULL,
    attempted_at BIGINT NOT NULL
);
