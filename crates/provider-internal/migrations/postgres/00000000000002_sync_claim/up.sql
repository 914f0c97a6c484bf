-- Per-ticket push claims (leases), so that several processes sharing this database never
-- push the same ticket at the same time. A claim is free when absent or when `claim_until`
-- (microseconds since the Unix epoch, UTC) has passed.
CREATE TABLE data_sync_claim (
    ticket_guid TEXT PRIMARY KEY NOT NULL,
    owner       TEXT NOT NULL,
    claim_until BIGINT NOT NULL
);

-- When the current create of the ticket's remote task started (state `creating`).
ALTER TABLE def_asana_sync ADD COLUMN creating_since BIGINT;
