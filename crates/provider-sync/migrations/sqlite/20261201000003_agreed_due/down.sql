ALTER TABLE def_asana_sync DROP COLUMN agreed_due_known;
ALTER TABLE def_asana_sync DROP COLUMN agreed_due;
