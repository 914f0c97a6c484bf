DROP TABLE sync_kv;
DROP TABLE comment_sync;
DROP TABLE data_sync_outbox;
DROP TABLE def_asana_sync;
DROP TABLE data_ticket_history;
DROP TABLE data_ticket_comment;
DROP TABLE data_ticket;
