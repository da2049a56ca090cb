-- Service desk (§7): tickets, their timeline, number counters. Pairs with ../sqlite/0002_service_desk.sql.

CREATE TABLE ticket_counters (
    prefix TEXT NOT NULL,
    year BIGINT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (prefix, year)
);

CREATE TABLE tickets (
    id UUID PRIMARY KEY NOT NULL,
    number TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('incident', 'request', 'complaint', 'opinion', 'suggestion')),
    status TEXT NOT NULL CHECK (status IN ('new', 'assigned', 'in_progress', 'pending', 'resolved', 'closed', 'cancelled')),
    sub_status TEXT,
    subject TEXT NOT NULL,
    description TEXT NOT NULL,
    org_id UUID NOT NULL REFERENCES organizations (id),
    department_id UUID REFERENCES departments (id),
    requester_id UUID REFERENCES users (id),
    created_by UUID REFERENCES users (id),
    channel TEXT NOT NULL CHECK (channel IN ('portal', 'phone', 'email', 'api', 'monitoring')),
    category TEXT,
    criticality TEXT CHECK (criticality IN ('general', 'critical')),
    breadth TEXT CHECK (breadth IN ('one_department', 'several_departments', 'whole_organization')),
    urgency TEXT CHECK (urgency IN ('high', 'medium', 'low')),
    priority BIGINT CHECK (priority BETWEEN 1 AND 4),
    priority_reason TEXT,
    team_id UUID REFERENCES teams (id),
    assignee_id UUID REFERENCES users (id),
    parent_id UUID REFERENCES tickets (id),
    resolution TEXT,
    reopen_count BIGINT NOT NULL DEFAULT 0,
    first_response_at TIMESTAMPTZ,
    resolved_at TIMESTAMPTZ,
    closed_at TIMESTAMPTZ,
    auto_confirmed BOOLEAN NOT NULL DEFAULT FALSE,
    satisfaction BIGINT CHECK (satisfaction BETWEEN 1 AND 5),
    satisfaction_comment TEXT,
    rated_at TIMESTAMPTZ,
    outage_start TIMESTAMPTZ,
    outage_end TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX tickets_number ON tickets (number);
CREATE INDEX tickets_org ON tickets (org_id, id);
CREATE INDEX tickets_queue ON tickets (status, priority, id);
CREATE INDEX tickets_assignee ON tickets (assignee_id, status);
CREATE INDEX tickets_parent ON tickets (parent_id);

CREATE TABLE ticket_events (
    id UUID PRIMARY KEY NOT NULL,
    ticket_id UUID NOT NULL REFERENCES tickets (id),
    org_id UUID NOT NULL REFERENCES organizations (id),
    at TIMESTAMPTZ NOT NULL,
    actor_id UUID REFERENCES users (id),
    actor_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    public BOOLEAN NOT NULL,
    body TEXT,
    data_json TEXT
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);
