-- Back to the rowid table with AUTOINCREMENT and its per-ticket index; AUTOINCREMENT carries
-- on above the highest id kept.
CREATE TABLE data_sync_outbox_old (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_guid      TEXT NOT NULL,
    operation        TEXT NOT NULL,
    payload          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    set_aside_reason TEXT
);
INSERT INTO data_sync_outbox_old
        (id, ticket_guid, operation, payload, created_at, attempts, last_error, set_aside_reason)
    SELECT id, ticket_guid, operation, payload, created_at, attempts, last_error, set_aside_reason
    FROM data_sync_outbox;
DROP TABLE data_sync_outbox;
ALTER TABLE data_sync_outbox_old RENAME TO data_sync_outbox;
CREATE INDEX ix_data_sync_outbox_ticket ON data_sync_outbox (ticket_guid, id);
