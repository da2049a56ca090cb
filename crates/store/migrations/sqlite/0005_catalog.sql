-- Service catalog (R-5.2, R-6.x) and customers' service agreements. Pairs with ../postgres/0005_catalog.sql.

CREATE TABLE catalog_items (
    id BLOB PRIMARY KEY NOT NULL,
    code TEXT NOT NULL,
    clause TEXT,
    class TEXT NOT NULL CHECK (class IN ('basic', 'performance', 'value_added', 'new_concept', 'new_technology')),
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    description TEXT,
    owner_team_id BLOB REFERENCES teams (id),
    sla_policy_id BLOB,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    seeded BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX catalog_items_code ON catalog_items (code);

CREATE TABLE agreements (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    contract_no TEXT,
    starts_on TEXT,
    ends_on TEXT,
    sla_policy_id BLOB,
    notes TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX agreements_org ON agreements (org_id);

CREATE TABLE agreement_items (
    agreement_id BLOB NOT NULL REFERENCES agreements (id) ON DELETE CASCADE,
    item_id BLOB NOT NULL REFERENCES catalog_items (id),
    PRIMARY KEY (agreement_id, item_id)
);

ALTER TABLE tickets ADD COLUMN catalog_item_id BLOB REFERENCES catalog_items (id);
