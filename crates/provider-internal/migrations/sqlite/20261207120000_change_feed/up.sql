-- The change feed reads the history in `id` order (SQLite runs one writer at a time, so an
-- id is given in commit order). Each row says where its change came from: `origin` is
-- `local`, `pulled`, `conflict` or `maintenance`; `origin_user` the Asana user of a pulled
-- change, when known. Rows written before this migration were all local or unmarked.
-- A comment added is a row too (field `comment`, new_value the comment's guid) from now on.
ALTER TABLE data_ticket_history ADD COLUMN origin TEXT NOT NULL DEFAULT 'local';
ALTER TABLE data_ticket_history ADD COLUMN origin_user TEXT;
