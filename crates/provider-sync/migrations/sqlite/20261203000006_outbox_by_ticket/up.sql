-- The outbox in one b-tree ordered by ticket: WITHOUT ROWID with the key (ticket_guid, id).
-- Every synced operation inserts a row and every push deletes its ticket's rows; in the
-- rowid table each of those also wrote the per-ticket index (a second page per change) and,
-- for AUTOINCREMENT, sqlite_sequence (a third for a comment).
--
-- An id is now given by the insert (provider-sync's `db::outbox_insert`): the time in
-- microseconds, above the ticket's newest id and every id the process gave before. Ids of
-- the entries kept here are far below any such time, so they stay first in their ticket's
-- order and no id comes back.
CREATE TABLE data_sync_outbox_new (
    id               BIGINT NOT NULL,
    ticket_guid      TEXT NOT NULL,
    operation        TEXT NOT NULL,
    payload          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    set_aside_reason TEXT,
    PRIMARY KEY (ticket_guid, id)
) WITHOUT ROWID;
INSERT INTO data_sync_outbox_new
        (id, ticket_guid, operation, payload, created_at, attempts, last_error, set_aside_reason)
    SELECT id, ticket_guid, operation, payload, created_at, attempts, last_error, set_aside_reason
    FROM data_sync_outbox;
DROP TABLE data_sync_outbox;
ALTER TABLE data_sync_outbox_new RENAME TO data_sync_outbox;
