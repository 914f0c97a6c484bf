-- When a ticket is due: a calendar day (YYYY-MM-DD, never converted through a time zone)
-- or an instant (microseconds since the Unix epoch, UTC); at most one of the two is set.
ALTER TABLE data_ticket ADD COLUMN due_on TEXT;
ALTER TABLE data_ticket ADD COLUMN due_at BIGINT;
