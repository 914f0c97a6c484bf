-- Tickets, their comments and their change history. (Release 0.1.0 also created the sync
-- tables here; they now belong to provider-sync, whose own migrations create them when the
-- sync provider opens the database, and keep those of an older database as they are.)
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
