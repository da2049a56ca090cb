-- The agent queue orders open tickets by priority, then resolution due time with the tickets
-- that have none last, then id. SQLite indexes put NULLs first, so the index of 0011 could not
-- give "due time, NULLs last": SQLite read every open ticket of a priority and sorted them
-- (a temporary B-tree per request). The order is now written as (due IS NULL, due), which this
-- index holds exactly, so a page of the queue reads just its rows.
DROP INDEX tickets_open_queue;
CREATE INDEX tickets_open_queue ON tickets (priority, resolution_due_at IS NULL, resolution_due_at, id)
    WHERE status NOT IN ('closed', 'cancelled');
