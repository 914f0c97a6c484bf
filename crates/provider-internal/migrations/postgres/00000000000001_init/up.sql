-- Tickets, their comments and their change history.
CREATE TABLE data_ticket (
    guid        TEXT PRIMARY KEY NOT NULL,
    subject     TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL,
    priority    TEXT NOT NULL,
    assignee    TEXT,
    created_at  BIGINT NOT NULL,  -- microseconds since the Unix epoch, UTC
    updated_at  BIGINT NOT NULL
);
-- list_tickets: newest first, keyset on (created_at, guid), optionally filtered.
CREATE INDEX ix_data_ticket_created ON data_ticket (created_at DESC, guid DESC);
CREATE INDEX ix_data_ticket_status ON data_ticket (status, created_at DESC, guid DESC);
CREATE INDEX ix_data_ticket_assignee ON data_ticket (assignee, created_at DESC, guid DESC);
CREATE INDEX ix_data_ticket_priority ON data_ticket (priority, created_at DESC, guid DESC);

CREATE TABLE data_ticket_comment (
    comment_guid TEXT PRIMARY KEY NOT NULL,
    ticket_guid  TEXT NOT NULL REFERENCES data_ticket (guid) ON DELETE CASCADE,
    body         TEXT NOT NULL,
    author       TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX ix_data_ticket_comment_ticket ON data_ticket_comment (ticket_guid, created_at, comment_guid);

CREATE TABLE data_ticket_history (
    id          BIGSERIAL PRIMARY KEY,
    ticket_guid TEXT NOT NULL REFERENCES data_ticket (guid) ON DELETE CASCADE,
    field       TEXT NOT NULL,
    old_value   TEXT,
    new_value   TEXT,
    changed_at  BIGINT NOT NULL
);
CREATE INDEX ix_data_ticket_history_ticket ON data_ticket_history (ticket_guid, id);

-- Sync support: the guid <-> Asana gid map, the outbox, comment map and a key/value store.
CREATE TABLE def_asana_sync (
    ticket_guid        TEXT PRIMARY KEY NOT NULL REFERENCES data_ticket (guid) ON DELETE CASCADE,
    asana_gid          TEXT UNIQUE,
    state              TEXT NOT NULL,
    last_synced_at     BIGINT,
    remote_modified_at BIGINT
);

CREATE TABLE data_sync_outbox (
    id               BIGSERIAL PRIMARY KEY,
    ticket_guid      TEXT NOT NULL,
    operation        TEXT NOT NULL,
    payload          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    set_aside_reason TEXT
);
CREATE INDEX ix_data_sync_outbox_pending ON data_sync_outbox (set_aside_reason, id);
CREATE INDEX ix_data_sync_outbox_ticket ON data_sync_outbox (ticket_guid, id);

CREATE TABLE comment_sync (
    comment_guid    TEXT PRIMARY KEY NOT NULL,
    asana_story_gid TEXT NOT NULL UNIQUE
);

CREATE TABLE sync_kv (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
