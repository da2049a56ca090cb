-- Notifications (R-7.2d): channels, user preferences, the outbox the workers send from, the
-- in-app inbox. Pairs with ../postgres/0004_notify.sql.

CREATE TABLE notification_channels (
    id BLOB PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('email', 'webhook', 'wecom', 'dingtalk', 'feishu')),
    name TEXT NOT NULL,
    -- JSON text; holds secrets (robot keys, signing secrets, SMTP password): never shown in full.
    config TEXT NOT NULL,
    -- A customer organization's own channel (only its tickets' public events); NULL: provider-wide.
    org_id BLOB REFERENCES organizations (id),
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX notification_channels_name ON notification_channels (name);
CREATE INDEX notification_channels_org ON notification_channels (org_id);

CREATE TABLE notification_prefs (
    user_id BLOB NOT NULL REFERENCES users (id),
    event_kind TEXT NOT NULL,
    -- JSON array of channel kinds: "inapp", "email".
    channels TEXT NOT NULL,
    PRIMARY KEY (user_id, event_kind)
);

CREATE TABLE outbox (
    id BLOB PRIMARY KEY NOT NULL,
    channel_id BLOB REFERENCES notification_channels (id) ON DELETE SET NULL,
    recipient_user_id BLOB REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('email', 'webhook', 'wecom', 'dingtalk', 'feishu')),
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'dead')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_by TEXT,
    locked_until TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX outbox_channel ON outbox (channel_id);

CREATE TABLE inbox (
    id BLOB PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id),
    org_id BLOB REFERENCES organizations (id),
    ticket_number TEXT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    read_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX inbox_user ON inbox (user_id, id);
