DROP TABLE data_ticket_history;
DROP TABLE data_ticket_comment;
DROP TABLE data_ticket;
