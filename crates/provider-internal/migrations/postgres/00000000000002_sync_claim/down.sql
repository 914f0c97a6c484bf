DROP TABLE data_sync_claim;
ALTER TABLE def_asana_sync DROP COLUMN creating_since;
