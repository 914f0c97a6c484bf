ALTER TABLE def_asana_sync DROP COLUMN agreed;
