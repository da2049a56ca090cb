-- Service desk extras: attachments, watchers, administrator-defined sub-statuses.
-- Pairs with ../postgres/0009_desk_extras.sql.

-- Files attached to tickets, kept in the database (nodes share nothing else). The original
-- file name is metadata only (sanitised); the content type is the one sniffed from the bytes.
CREATE TABLE ticket_attachments (
    id BLOB PRIMARY KEY NOT NULL,
    ticket_id BLOB NOT NULL REFERENCES tickets (id),
    org_id BLOB NOT NULL REFERENCES organizations (id),
    event_id BLOB REFERENCES ticket_events (id),
    internal BOOLEAN NOT NULL DEFAULT FALSE,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    sha256 TEXT NOT NULL,
    content BLOB NOT NULL,
    uploaded_by BLOB REFERENCES users (id),
    uploaded_by_name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX ticket_attachments_ticket ON ticket_attachments (ticket_id, id);

-- Users who follow a ticket and hear of its changes.
CREATE TABLE ticket_watchers (
    ticket_id BLOB NOT NULL REFERENCES tickets (id),
    user_id BLOB NOT NULL REFERENCES users (id),
    added_by BLOB REFERENCES users (id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (ticket_id, user_id)
);
CREATE INDEX ticket_watchers_user ON ticket_watchers (user_id);

-- Sub-statuses inside a phase of the flow; whether waiting in one stops the SLA clock is
-- snapshotted on each status event, so changing the flag later does not rewrite history.
CREATE TABLE ticket_sub_statuses (
    id BLOB PRIMARY KEY NOT NULL,
    phase TEXT NOT NULL CHECK (phase IN ('new', 'assigned', 'in_progress', 'pending', 'resolved')),
    code TEXT NOT NULL,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    pauses_sla BOOLEAN NOT NULL DEFAULT FALSE,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    sort INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX ticket_sub_statuses_code ON ticket_sub_statuses (phase, code);

INSERT INTO ticket_sub_statuses (id, phase, code, name_zh, name_en, pauses_sla, active, sort, created_at, updated_at) VALUES
    (X'01900000000070008000000000000001', 'pending', 'waiting_customer', '等待客户', 'Waiting for the customer', TRUE, TRUE, 10, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00'),
    (X'01900000000070008000000000000002', 'pending', 'waiting_vendor', '等待厂商', 'Waiting for a vendor', TRUE, TRUE, 20, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00'),
    (X'01900000000070008000000000000003', 'pending', 'waiting_change', '等待变更', 'Waiting for a change', FALSE, TRUE, 30, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00');
