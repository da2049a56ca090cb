-- Announcements (R-7.2c): planned maintenance, outages, notices. Pairs with ../postgres/0006_announcements.sql.

CREATE TABLE announcements (
    id BLOB PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('maintenance', 'outage', 'notice')),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT,
    all_orgs BOOLEAN NOT NULL DEFAULT TRUE,
    published BOOLEAN NOT NULL DEFAULT FALSE,
    created_by BLOB REFERENCES users (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX announcements_window ON announcements (published, starts_at);

CREATE TABLE announcement_items (
    announcement_id BLOB NOT NULL REFERENCES announcements (id) ON DELETE CASCADE,
    item_id BLOB NOT NULL REFERENCES catalog_items (id),
    PRIMARY KEY (announcement_id, item_id)
);

CREATE TABLE announcement_orgs (
    announcement_id BLOB NOT NULL REFERENCES announcements (id) ON DELETE CASCADE,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    PRIMARY KEY (announcement_id, org_id)
);
CREATE INDEX announcement_orgs_org ON announcement_orgs (org_id);
