DROP TABLE data_sync_claim;
DROP TABLE sync_kv;
DROP TABLE comment_sync;
DROP TABLE data_sync_outbox;
DROP TABLE def_asana_sync;
