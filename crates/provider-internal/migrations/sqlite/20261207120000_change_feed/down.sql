ALTER TABLE data_ticket_history DROP COLUMN origin_user;
ALTER TABLE data_ticket_history DROP COLUMN origin;
