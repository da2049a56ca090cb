-- Service catalog (R-5.2, R-6.x) and customers' service agreements. Pairs with ../sqlite/0005_catalog.sql.

CREATE TABLE catalog_items (
    id UUID PRIMARY KEY NOT NULL,
    code TEXT NOT NULL,
    clause TEXT,
    class TEXT NOT NULL CHECK (class IN ('basic', 'performance', 'value_added', 'new_concept', 'new_technology')),
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    description TEXT,
    owner_team_id UUID REFERENCES teams (id),
    sla_policy_id UUID,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    seeded BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX catalog_items_code ON catalog_items (code);

CREATE TABLE agreements (
    id UUID PRIMARY KEY NOT NULL,
    org_id UUID NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    contract_no TEXT,
    starts_on DATE,
    ends_on DATE,
    sla_policy_id UUID,
    notes TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX agreements_org ON agreements (org_id);

CREATE TABLE agreement_items (
    agreement_id UUID NOT NULL REFERENCES agreements (id) ON DELETE CASCADE,
    item_id UUID NOT NULL REFERENCES catalog_items (id),
    PRIMARY KEY (agreement_id, item_id)
);

ALTER TABLE tickets ADD COLUMN catalog_item_id UUID REFERENCES catalog_items (id);
