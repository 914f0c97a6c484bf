-- A test extension's own table: one row per change its hook saw.
CREATE TABLE ext_change_log (
    id          BIGSERIAL PRIMARY KEY,
    ticket_guid TEXT NOT NULL,
    kind        TEXT NOT NULL
);
