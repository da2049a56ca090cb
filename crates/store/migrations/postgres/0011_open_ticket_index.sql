-- Open tickets only (a few % of all at a working installation): the agent queue and the
-- open-ticket lists read this small index instead of every ticket.
CREATE INDEX tickets_open_queue ON tickets (priority ASC NULLS FIRST, resolution_due_at ASC NULLS LAST, id)
    WHERE status NOT IN ('closed', 'cancelled');
