-- Announcements (R-7.2c): planned maintenance, outages, notices. Pairs with ../sqlite/0006_announcements.sql.

CREATE TABLE announcements (
    id UUID PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('maintenance', 'outage', 'notice')),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ,
    all_orgs BOOLEAN NOT NULL DEFAULT TRUE,
    published BOOLEAN NOT NULL DEFAULT FALSE,
    created_by UUID REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX announcements_window ON announcements (published, starts_at);

CREATE TABLE announcement_items (
    announcement_id UUID NOT NULL REFERENCES announcements (id) ON DELETE CASCADE,
    item_id UUID NOT NULL REFERENCES catalog_items (id),
    PRIMARY KEY (announcement_id, item_id)
);

CREATE TABLE announcement_orgs (
    announcement_id UUID NOT NULL REFERENCES announcements (id) ON DELETE CASCADE,
    org_id UUID NOT NULL REFERENCES organizations (id),
    PRIMARY KEY (announcement_id, org_id)
);
CREATE INDEX announcement_orgs_org ON announcement_orgs (org_id);
