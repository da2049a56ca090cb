-- Monitoring alerts (R-5.1a, R-10.1, R-7.1): the sources that may push alerts, the alerts
-- they raised (at most one open per source and key), and the nonces of signed requests seen
-- in the last 10 minutes (replay protection). Pairs with ../postgres/0014_alerts.sql.

CREATE TABLE alert_sources (
    id BLOB PRIMARY KEY NOT NULL,
    -- The organization whose incidents the source opens (and only that one).
    org_id BLOB NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    format TEXT NOT NULL CHECK (format IN ('alertmanager', 'zabbix', 'pagerduty', 'generic')),
    auth_mode TEXT NOT NULL CHECK (auth_mode IN ('hmac', 'bearer')),
    -- hmac: the signing secret (needed to verify; shown once at creation, never again).
    hmac_secret TEXT,
    -- bearer: hex SHA-256 of the token (the token itself is shown once, never stored).
    token_hash TEXT,
    ticket_kind TEXT NOT NULL DEFAULT 'incident' CHECK (ticket_kind IN ('incident', 'request')),
    criticality TEXT NOT NULL DEFAULT 'general' CHECK (criticality IN ('general', 'critical')),
    breadth TEXT NOT NULL DEFAULT 'one_department' CHECK (breadth IN ('one_department', 'several_departments', 'whole_organization')),
    -- NULL: from the alert's severity.
    urgency TEXT CHECK (urgency IN ('high', 'medium', 'low')),
    team_id BLOB REFERENCES teams (id),
    rate_per_sec BIGINT NOT NULL DEFAULT 50 CHECK (rate_per_sec BETWEEN 1 AND 10000),
    burst BIGINT NOT NULL DEFAULT 200 CHECK (burst BETWEEN 1 AND 100000),
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_by BLOB REFERENCES users (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK ((auth_mode = 'hmac' AND hmac_secret IS NOT NULL) OR (auth_mode = 'bearer' AND token_hash IS NOT NULL))
);
CREATE UNIQUE INDEX alert_sources_name ON alert_sources (name);
CREATE INDEX alert_sources_org ON alert_sources (org_id);

CREATE TABLE alerts (
    id BLOB PRIMARY KEY NOT NULL,
    source_id BLOB NOT NULL REFERENCES alert_sources (id),
    org_id BLOB NOT NULL REFERENCES organizations (id),
    dedup_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('firing', 'acknowledged', 'resolved')),
    severity TEXT NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning', 'info')),
    summary TEXT NOT NULL,
    description TEXT NOT NULL,
    host TEXT,
    -- JSON object of label name → value.
    labels_json TEXT NOT NULL DEFAULT '{}',
    starts_at TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    occurrences BIGINT NOT NULL DEFAULT 1,
    ticket_id BLOB REFERENCES tickets (id),
    ci_id BLOB REFERENCES cis (id),
    acknowledged_at TEXT,
    resolved_at TEXT
);
-- At most one open alert per source and key: concurrent deliveries of one alert deduplicate.
CREATE UNIQUE INDEX alerts_open_key ON alerts (source_id, dedup_key) WHERE resolved_at IS NULL;
CREATE INDEX alerts_org ON alerts (org_id, id);
CREATE INDEX alerts_source ON alerts (source_id, id);
CREATE INDEX alerts_ticket ON alerts (ticket_id);

CREATE TABLE alert_nonces (
    source_id BLOB NOT NULL REFERENCES alert_sources (id),
    nonce TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (source_id, nonce)
);
CREATE INDEX alert_nonces_seen ON alert_nonces (seen_at);
