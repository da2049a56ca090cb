-- SLA (R-7.5.2c, R-10.6.3): business calendars, SLA policies, ticket deadlines, and the jobs
-- background workers claim with leases. Pairs with ../sqlite/0003_sla.sql.

CREATE TABLE calendars (
    id UUID PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    -- The domain CalendarSpec as JSON: UTC offset, weekly hours, make-up weekday, special days.
    spec_json TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX calendars_name ON calendars (name);

CREATE TABLE sla_policies (
    id UUID PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    calendar_id UUID NOT NULL REFERENCES calendars (id),
    -- Targets in minutes of business time, per priority.
    p1_response_minutes BIGINT NOT NULL CHECK (p1_response_minutes > 0),
    p1_resolution_minutes BIGINT NOT NULL CHECK (p1_resolution_minutes > 0),
    p2_response_minutes BIGINT NOT NULL CHECK (p2_response_minutes > 0),
    p2_resolution_minutes BIGINT NOT NULL CHECK (p2_resolution_minutes > 0),
    p3_response_minutes BIGINT NOT NULL CHECK (p3_response_minutes > 0),
    p3_resolution_minutes BIGINT NOT NULL CHECK (p3_resolution_minutes > 0),
    p4_response_minutes BIGINT NOT NULL CHECK (p4_response_minutes > 0),
    p4_resolution_minutes BIGINT NOT NULL CHECK (p4_resolution_minutes > 0),
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX sla_policies_name ON sla_policies (name);
CREATE UNIQUE INDEX sla_policies_one_default ON sla_policies (is_default) WHERE is_default = TRUE;

ALTER TABLE tickets ADD COLUMN sla_policy_id UUID REFERENCES sla_policies (id);
ALTER TABLE tickets ADD COLUMN response_due_at TIMESTAMPTZ;
ALTER TABLE tickets ADD COLUMN resolution_due_at TIMESTAMPTZ;
ALTER TABLE tickets ADD COLUMN sla_warned_at TIMESTAMPTZ;
ALTER TABLE tickets ADD COLUMN sla_breached_at TIMESTAMPTZ;

CREATE TABLE jobs (
    id UUID PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    run_at TIMESTAMPTZ NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    locked_by TEXT,
    locked_until TIMESTAMPTZ,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    done_at TIMESTAMPTZ
);
CREATE INDEX jobs_pending ON jobs (run_at) WHERE done_at IS NULL;
CREATE INDEX jobs_kind_payload ON jobs (kind, payload) WHERE done_at IS NULL;
