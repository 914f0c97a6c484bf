-- Each history row says where its change came from: `origin` is `local`, `pulled`,
-- `conflict` or `maintenance`; `origin_user` the Asana user of a pulled change, when known.
-- A comment added is a row too (field `comment`, new_value the comment's guid) from now on.
ALTER TABLE data_ticket_history ADD COLUMN origin TEXT NOT NULL DEFAULT 'local';
ALTER TABLE data_ticket_history ADD COLUMN origin_user TEXT;

-- The change feed reads the history in commit order, which `id` is not on PostgreSQL: a
-- BIGSERIAL id is given at insert, so a reader could see id 10 committed while id 9 is still
-- in flight, and skip 9 for good. `commit_seq` is given at COMMIT instead, by a deferred
-- trigger that takes a transaction-scoped advisory lock first: writers take their sequence
-- numbers one commit at a time, and the lock is released only once the commit is visible,
-- so every reader sees the sequence without holes that could still fill. (The lock is held
-- from the trigger to the end of the commit: writers of history serialise only there.)
-- Rows written before this migration keep their id as their sequence number.
ALTER TABLE data_ticket_history ADD COLUMN commit_seq BIGINT;
UPDATE data_ticket_history SET commit_seq = id;
CREATE SEQUENCE data_ticket_history_commit_seq;
SELECT setval('data_ticket_history_commit_seq', COALESCE(MAX(id), 0) + 1, false)
    FROM data_ticket_history;
CREATE UNIQUE INDEX ix_data_ticket_history_commit_seq ON data_ticket_history (commit_seq);

CREATE FUNCTION data_ticket_history_commit_seq() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- The key is the store's own: 0x7469636b65747331 ("tickets1").
    PERFORM pg_advisory_xact_lock(8388345093869040433);
    UPDATE data_ticket_history
        SET commit_seq = nextval('data_ticket_history_commit_seq')
        WHERE id = NEW.id;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER tr_data_ticket_history_commit_seq
    AFTER INSERT ON data_ticket_history
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION data_ticket_history_commit_seq();
