-- The due date both sides last agreed on (a day YYYY-MM-DD, or an RFC 3339 UTC instant),
-- and whether it is known (NULL with known = "agreed on no due date").
ALTER TABLE def_asana_sync ADD COLUMN agreed_due TEXT;
ALTER TABLE def_asana_sync ADD COLUMN agreed_due_known BOOLEAN NOT NULL DEFAULT FALSE;
