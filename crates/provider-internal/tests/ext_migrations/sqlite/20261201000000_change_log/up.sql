-- A test extension's own table: one row per change its hook saw.
CREATE TABLE ext_change_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_guid TEXT NOT NULL,
    kind        TEXT NOT NULL
);
