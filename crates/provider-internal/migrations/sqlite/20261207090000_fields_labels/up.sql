-- A ticket's custom field values and labels, one row per element: a field holding a set
-- (multi_enum, people) has a row per member. `kind` is `label`, or the type of the field
-- the row belongs to (text, number, enum, multi_enum, date, people), so a value reads back
-- in its type whatever the config declares today. A label's `value` is ''.
-- `ticket_created_at` repeats the ticket's (immutable) creation time, so that a list filtered
-- by a value walks the filter index in the list's own order and stops after one page.
CREATE TABLE data_ticket_value (
    ticket_guid       TEXT NOT NULL REFERENCES data_ticket (guid) ON DELETE CASCADE,
    kind              TEXT NOT NULL,
    name              TEXT NOT NULL,
    value             TEXT NOT NULL,
    ticket_created_at BIGINT NOT NULL,
    PRIMARY KEY (ticket_guid, name, value, kind)
);
CREATE INDEX ix_data_ticket_value_filter
    ON data_ticket_value (name, value, kind, ticket_created_at DESC, ticket_guid DESC);
