DROP TABLE data_ticket_value;
