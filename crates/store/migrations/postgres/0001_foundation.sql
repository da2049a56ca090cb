-- yunwei foundation schema (PostgreSQL). Kept one-to-one with ../sqlite/0001_foundation.sql.

CREATE TABLE organizations (
    id UUID PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('provider', 'customer')),
    code TEXT,
    contact TEXT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX organizations_name ON organizations (name);
CREATE UNIQUE INDEX organizations_one_provider ON organizations (kind) WHERE kind = 'provider';

CREATE TABLE departments (
    id UUID PRIMARY KEY NOT NULL,
    org_id UUID NOT NULL REFERENCES organizations (id),
    parent_id UUID REFERENCES departments (id),
    name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX departments_org_name ON departments (org_id, name);

CREATE TABLE users (
    id UUID PRIMARY KEY NOT NULL,
    org_id UUID NOT NULL REFERENCES organizations (id),
    department_id UUID REFERENCES departments (id),
    username TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'agent', 'engineer', 'customer', 'auditor')),
    password_hash TEXT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    lang TEXT NOT NULL DEFAULT 'zh-CN',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX users_username ON users (username);
CREATE INDEX users_org ON users (org_id);

CREATE TABLE teams (
    id UUID PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX teams_name ON teams (name);

CREATE TABLE team_members (
    team_id UUID NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users (id),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id UUID NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    ip TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id UUID PRIMARY KEY NOT NULL,
    user_id UUID NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    prefix TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    last_used_ip TEXT
);
CREATE UNIQUE INDEX api_tokens_hash ON api_tokens (token_hash);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE login_failures (
    key TEXT PRIMARY KEY NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    failures BIGINT NOT NULL
);

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY NOT NULL,
    id UUID NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    actor_id UUID,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT,
    org_id UUID,
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

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
