-- Service desk (§7): tickets, their timeline, number counters. Pairs with ../postgres/0002_service_desk.sql.

CREATE TABLE ticket_counters (
    prefix TEXT NOT NULL,
    year BIGINT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (prefix, year)
);

CREATE TABLE tickets (
    id BLOB PRIMARY KEY NOT NULL,
    number TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('incident', 'request', 'complaint', 'opinion', 'suggestion')),
    status TEXT NOT NULL CHECK (status IN ('new', 'assigned', 'in_progress', 'pending', 'resolved', 'closed', 'cancelled')),
    sub_status TEXT,
    subject TEXT NOT NULL,
    description TEXT NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    department_id BLOB REFERENCES departments (id),
    requester_id BLOB REFERENCES users (id),
    created_by BLOB REFERENCES users (id),
    channel TEXT NOT NULL CHECK (channel IN ('portal', 'phone', 'email', 'api', 'monitoring')),
    category TEXT,
    criticality TEXT CHECK (criticality IN ('general', 'critical')),
    breadth TEXT CHECK (breadth IN ('one_department', 'several_departments', 'whole_organization')),
    urgency TEXT CHECK (urgency IN ('high', 'medium', 'low')),
    priority BIGINT CHECK (priority BETWEEN 1 AND 4),
    priority_reason TEXT,
    team_id BLOB REFERENCES teams (id),
    assignee_id BLOB REFERENCES users (id),
    parent_id BLOB REFERENCES tickets (id),
    resolution TEXT,
    reopen_count BIGINT NOT NULL DEFAULT 0,
    first_response_at TEXT,
    resolved_at TEXT,
    closed_at TEXT,
    auto_confirmed BOOLEAN NOT NULL DEFAULT FALSE,
    satisfaction BIGINT CHECK (satisfaction BETWEEN 1 AND 5),
    satisfaction_comment TEXT,
    rated_at TEXT,
    outage_start TEXT,
    outage_end TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX tickets_number ON tickets (number);
CREATE INDEX tickets_org ON tickets (org_id, id);
CREATE INDEX tickets_queue ON tickets (status, priority, id);
CREATE INDEX tickets_assignee ON tickets (assignee_id, status);
CREATE INDEX tickets_parent ON tickets (parent_id);

CREATE TABLE ticket_events (
    id BLOB PRIMARY KEY NOT NULL,
    ticket_id BLOB NOT NULL REFERENCES tickets (id),
    org_id BLOB NOT NULL REFERENCES organizations (id),
    at TEXT NOT NULL,
    actor_id BLOB REFERENCES users (id),
    actor_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    public BOOLEAN NOT NULL,
    body TEXT,
    data_json TEXT
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);
