CREATE INDEX IF NOT EXISTS ix_data_sync_outbox_pending ON data_sync_outbox (set_aside_reason, id);
