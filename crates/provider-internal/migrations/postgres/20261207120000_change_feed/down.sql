DROP TRIGGER tr_data_ticket_history_commit_seq ON data_ticket_history;
DROP FUNCTION data_ticket_history_commit_seq();
DROP INDEX ix_data_ticket_history_commit_seq;
DROP SEQUENCE data_ticket_history_commit_seq;
ALTER TABLE data_ticket_history DROP COLUMN commit_seq;
ALTER TABLE data_ticket_history DROP COLUMN origin_user;
ALTER TABLE data_ticket_history DROP COLUMN origin;
