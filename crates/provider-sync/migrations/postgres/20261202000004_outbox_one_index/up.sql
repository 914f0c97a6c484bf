-- Every synced operation inserts into the outbox and every push deletes from it: one index
-- fewer to keep up. The per-ticket index serves the pushes; the pending and set-aside counts
-- of status and flush scan the (normally small) table.
DROP INDEX IF EXISTS ix_data_sync_outbox_pending;
