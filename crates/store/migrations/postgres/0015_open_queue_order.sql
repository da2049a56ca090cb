-- The agent queue's order is now written as (due IS NULL, due) on both stores (SQLite cannot
-- index "NULLS LAST"); the index follows the same expression so PostgreSQL reads the queue in
-- index order as before.
DROP INDEX tickets_open_queue;
CREATE INDEX tickets_open_queue ON tickets (priority ASC NULLS FIRST, (resolution_due_at IS NULL), resolution_due_at, id)
    WHERE status NOT IN ('closed', 'cancelled');
