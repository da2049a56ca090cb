-- CMDB (R-10.2, §6.2.3–§6.2.10): classes with typed attribute schemas, configuration items
-- with every version kept, typed relations, patch records, and the CIs a ticket affects.
-- Pairs with ../postgres/0008_cmdb.sql.

CREATE TABLE ci_classes (
    id BLOB PRIMARY KEY NOT NULL,
    code TEXT NOT NULL,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    category TEXT NOT NULL,
    has_security_level BOOLEAN NOT NULL DEFAULT FALSE,
    has_data_level BOOLEAN NOT NULL DEFAULT FALSE,
    builtin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX ci_classes_code ON ci_classes (code);

CREATE TABLE ci_attributes (
    id BLOB PRIMARY KEY NOT NULL,
    class_id BLOB NOT NULL REFERENCES ci_classes (id),
    code TEXT NOT NULL,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('text', 'number', 'date', 'enum', 'bool', 'ip', 'cidr', 'reference')),
    required BOOLEAN NOT NULL DEFAULT FALSE,
    -- JSON array: enum values, or the class codes a reference may point at.
    options_json TEXT NOT NULL DEFAULT '[]',
    position BIGINT NOT NULL,
    builtin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX ci_attributes_class_code ON ci_attributes (class_id, code);

CREATE TABLE cis (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    department_id BLOB REFERENCES departments (id),
    class_id BLOB NOT NULL REFERENCES ci_classes (id),
    external_key TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('planned', 'in_use', 'maintenance', 'retired')),
    criticality TEXT NOT NULL CHECK (criticality IN ('general', 'critical')),
    location TEXT,
    vendor TEXT,
    contract_no TEXT,
    contract_end TEXT,
    warranty_end TEXT,
    purchased_on TEXT,
    -- Money in fen (0.01 yuan).
    purchase_cost BIGINT CHECK (purchase_cost >= 0),
    annual_cost BIGINT CHECK (annual_cost >= 0),
    security_level BIGINT CHECK (security_level BETWEEN 1 AND 5),
    data_level TEXT CHECK (data_level IN ('general', 'important', 'core')),
    calendar_id BLOB REFERENCES calendars (id),
    attributes_json TEXT NOT NULL DEFAULT '{}',
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX cis_org_key ON cis (org_id, external_key);
CREATE INDEX cis_class ON cis (class_id);
CREATE INDEX cis_name ON cis (name);

CREATE TABLE ci_versions (
    id BLOB PRIMARY KEY NOT NULL,
    ci_id BLOB NOT NULL REFERENCES cis (id),
    version BIGINT NOT NULL,
    valid_from TEXT NOT NULL,
    action TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    snapshot_json TEXT NOT NULL
);
CREATE UNIQUE INDEX ci_versions_ci_version ON ci_versions (ci_id, version);

CREATE TABLE ci_relations (
    id BLOB PRIMARY KEY NOT NULL,
    source_id BLOB NOT NULL REFERENCES cis (id),
    kind TEXT NOT NULL CHECK (kind IN ('runs_on', 'depends_on', 'connected_to', 'located_in', 'powered_by', 'backed_up_by', 'member_of')),
    target_id BLOB NOT NULL REFERENCES cis (id),
    created_at TEXT NOT NULL,
    created_by BLOB REFERENCES users (id)
);
CREATE UNIQUE INDEX ci_relations_edge ON ci_relations (source_id, kind, target_id);
CREATE INDEX ci_relations_target ON ci_relations (target_id, kind);

CREATE TABLE ci_patches (
    id BLOB PRIMARY KEY NOT NULL,
    ci_id BLOB NOT NULL REFERENCES cis (id),
    patch_code TEXT NOT NULL,
    title TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    applied_at TEXT NOT NULL,
    applied_by_name TEXT NOT NULL,
    notes TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX ci_patches_ci ON ci_patches (ci_id, applied_at);

CREATE TABLE ticket_cis (
    ticket_id BLOB NOT NULL REFERENCES tickets (id),
    ci_id BLOB NOT NULL REFERENCES cis (id),
    created_at TEXT NOT NULL,
    created_by BLOB REFERENCES users (id),
    PRIMARY KEY (ticket_id, ci_id)
);
CREATE INDEX ticket_cis_ci ON ticket_cis (ci_id);
