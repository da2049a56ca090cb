-- yunwei foundation schema (SQLite). Kept one-to-one with ../postgres/0001_foundation.sql.
-- Types: ids are UUIDv7 (BLOB here, UUID there); times are UTC (TEXT here, TIMESTAMPTZ there).

CREATE TABLE organizations (
    id BLOB PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('provider', 'customer')),
    code TEXT,
    contact TEXT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX organizations_name ON organizations (name);
CREATE UNIQUE INDEX organizations_one_provider ON organizations (kind) WHERE kind = 'provider';

CREATE TABLE departments (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    parent_id BLOB REFERENCES departments (id),
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX departments_org_name ON departments (org_id, name);

CREATE TABLE users (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    department_id BLOB REFERENCES departments (id),
    username TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'agent', 'engineer', 'customer', 'auditor')),
    password_hash TEXT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    lang TEXT NOT NULL DEFAULT 'zh-CN',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX users_username ON users (username);
CREATE INDEX users_org ON users (org_id);

CREATE TABLE teams (
    id BLOB PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX teams_name ON teams (name);

CREATE TABLE team_members (
    team_id BLOB NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users (id),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    ip TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id BLOB PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    prefix TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    last_used_at TEXT,
    last_used_ip TEXT
);
CREATE UNIQUE INDEX api_tokens_hash ON api_tokens (token_hash);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE login_failures (
    key TEXT PRIMARY KEY NOT NULL,
    window_start TEXT NOT NULL,
    failures BIGINT NOT NULL
);

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY NOT NULL,
    id BLOB NOT NULL,
    at TEXT NOT NULL,
    actor_id BLOB,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT,
    org_id BLOB,
    before_json TEXT,
    after_json TEXT,
    ip TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);
CREATE INDEX audit_log_actor ON audit_log (actor_id);

CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY NOT NULL,
    last_seq BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, last_seq, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TABLE settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
