ALTER TABLE data_ticket DROP COLUMN due_at;
ALTER TABLE data_ticket DROP COLUMN due_on;
