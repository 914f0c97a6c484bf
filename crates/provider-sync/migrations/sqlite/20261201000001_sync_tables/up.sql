-- The sync provider's tables as release 0.1.0 left them (it created them among the internal
-- store's own migrations). IF NOT EXISTS: a database written by 0.1.0 keeps its tables and
-- their rows as they are; a new one gets them here.

-- The ticket guid <-> Asana task gid map.
CREATE TABLE IF NOT EXISTS def_asana_sync (
    ticket_guid        TEXT PRIMARY KEY NOT NULL REFERENCES data_ticket (guid) ON DELETE CASCADE,
    asana_gid          TEXT UNIQUE,
    state              TEXT NOT NULL,   -- 'creating' or 'linked'
    last_synced_at     BIGINT,          -- microseconds since the Unix epoch, UTC
    remote_modified_at BIGINT,
    creating_since     BIGINT           -- when the current create of the task started
);

-- Changes waiting to be pushed: operation + JSON payload (a typed change in provider-sync).
CREATE TABLE IF NOT EXISTS data_sync_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_guid      TEXT NOT NULL,
    operation        TEXT NOT NULL,
    payload          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    set_aside_reason TEXT
);
CREATE INDEX IF NOT EXISTS ix_data_sync_outbox_pending ON data_sync_outbox (set_aside_reason, id);
CREATE INDEX IF NOT EXISTS ix_data_sync_outbox_ticket ON data_sync_outbox (ticket_guid, id);

-- The comment guid <-> Asana story gid map.
CREATE TABLE IF NOT EXISTS comment_sync (
    comment_guid    TEXT PRIMARY KEY NOT NULL,
    asana_story_gid TEXT NOT NULL UNIQUE
);

-- Small named values: the events sync token, the Asana gid cache, tasks to pull again.
CREATE TABLE IF NOT EXISTS sync_kv (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Per-ticket push claims (leases) shared by every process using the database. A claim is
-- free when absent or when claim_until (microseconds since the Unix epoch) has passed.
CREATE TABLE IF NOT EXISTS data_sync_claim (
    ticket_guid TEXT PRIMARY KEY NOT NULL,
    owner       TEXT NOT NULL,
    claim_until BIGINT NOT NULL
);
