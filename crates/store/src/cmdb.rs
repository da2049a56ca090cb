//! The CMDB: classes and their attribute schemas, configuration items with every
//! version kept (`ci_versions.valid_from` answers "as it was on a date"), typed relations,
//! patch records, and the CIs a ticket affects.
//!
//! Impact and dependency queries are recursive CTEs (`UNION`, so cycles end). Imports write in
//! batches: one statement inserts a few thousand rows from a JSON array bound as a single
//! parameter (`json_each` on SQLite, `json_to_recordset` on PostgreSQL), so the SQL text is
//! fixed and every value is bound.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;
use yunwei_domain::audit::{entry_hash, AuditContent};

use crate::audit::NewEntry;
use crate::{on_ex, on_tx, Db, Ex, Result, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CiClass {
    pub id: Uuid,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// space, power, facility, network, segment, server, cluster, virtual, storage, backup,
    /// software, service, data, endpoint or security (the relation rules use it).
    pub category: String,
    /// Items carry a GB 17859 security protection level (1–5).
    pub has_security_level: bool,
    /// Items carry a data security level (general, important, core).
    pub has_data_level: bool,
    /// Seeded from the standard.
    pub builtin: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! class_cols {
    () => {
        "id, code, name_zh, name_en, category, has_security_level, has_data_level, builtin, created_at, updated_at"
    };
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CiAttribute {
    pub id: Uuid,
    pub class_id: Uuid,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// text, number, date, enum, bool, ip, cidr or reference.
    pub kind: String,
    pub required: bool,
    /// JSON array: enum values, or the class codes a reference may point at.
    pub options_json: String,
    pub position: i64,
    pub builtin: bool,
    pub created_at: DateTime<Utc>,
}

macro_rules! attr_cols {
    () => {
        "id, class_id, code, name_zh, name_en, kind, required, options_json, position, builtin, created_at"
    };
}

/// A configuration item.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Ci {
    pub id: Uuid,
    pub org_id: Uuid,
    pub department_id: Option<Uuid>,
    pub class_id: Uuid,
    /// Unique within the organization; imports match on it.
    pub external_key: String,
    pub name: String,
    /// planned, in_use, maintenance or retired.
    pub status: String,
    /// general or critical.
    pub criticality: String,
    pub location: Option<String>,
    pub vendor: Option<String>,
    pub contract_no: Option<String>,
    pub contract_end: Option<NaiveDate>,
    pub warranty_end: Option<NaiveDate>,
    pub purchased_on: Option<NaiveDate>,
    /// Purchase cost in fen (0.01 yuan).
    pub purchase_cost: Option<i64>,
    /// Running cost per year in fen.
    pub annual_cost: Option<i64>,
    /// GB 17859 level 1–5 (classes with `has_security_level`).
    pub security_level: Option<i64>,
    /// general, important or core (classes with `has_data_level`).
    pub data_level: Option<String>,
    /// The business calendar of its service hours; 24×7 when absent.
    pub calendar_id: Option<Uuid>,
    /// The attribute values as a JSON object (the service shows them as `attributes`).
    #[serde(skip)]
    pub attributes_json: String,
    /// 1 on creation, one more with every change.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! ci_cols {
    () => {
        "id, org_id, department_id, class_id, external_key, name, status, criticality, location, vendor, \
         contract_no, contract_end, warranty_end, purchased_on, purchase_cost, annual_cost, security_level, \
         data_level, calendar_id, attributes_json, version, created_at, updated_at"
    };
}

macro_rules! ci_cols_c {
    () => {
        "c.id, c.org_id, c.department_id, c.class_id, c.external_key, c.name, c.status, c.criticality, c.location, c.vendor, \
         c.contract_no, c.contract_end, c.warranty_end, c.purchased_on, c.purchase_cost, c.annual_cost, c.security_level, \
         c.data_level, c.calendar_id, c.attributes_json, c.version, c.created_at, c.updated_at"
    };
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CiVersion {
    pub id: Uuid,
    pub ci_id: Uuid,
    pub version: i64,
    /// From this instant on, the item was as in `snapshot_json` (until the next version).
    pub valid_from: DateTime<Utc>,
    /// create, update, import.
    pub action: String,
    pub actor_name: String,
    pub snapshot_json: String,
}

macro_rules! version_cols {
    () => {
        "id, ci_id, version, valid_from, action, actor_name, snapshot_json"
    };
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Relation {
    pub id: Uuid,
    pub source_id: Uuid,
    /// runs_on, depends_on, connected_to, located_in, powered_by, backed_up_by, member_of.
    pub kind: String,
    pub target_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
}

macro_rules! rel_cols {
    () => {
        "id, source_id, kind, target_id, created_at, created_by"
    };
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Patch {
    pub id: Uuid,
    pub ci_id: Uuid,
    /// e.g. KB5034441, CVE or vendor advisory number.
    pub patch_code: String,
    pub title: String,
    /// low, medium, high or critical.
    pub severity: String,
    pub applied_at: DateTime<Utc>,
    pub applied_by_name: String,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
}

macro_rules! patch_cols {
    () => {
        "id, ci_id, patch_code, title, severity, applied_at, applied_by_name, notes, created_at"
    };
}

/// A ticket linked to a CI, as the CI page shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LinkedTicket {
    pub ticket_id: Uuid,
    pub number: String,
    pub kind: String,
    pub status: String,
    pub subject: String,
    pub org_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub outage_start: Option<DateTime<Utc>>,
    pub outage_end: Option<DateTime<Utc>>,
    pub linked_at: DateTime<Utc>,
}

// ------------------------------------------------------------------------------------ classes

pub async fn insert_class(tx: &mut Tx, c: &CiClass) -> Result<()> {
    on_tx!(tx, |x| sqlx::query(concat!(
        "INSERT INTO ci_classes (",
        class_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(c.id)
    .bind(&c.code)
    .bind(&c.name_zh)
    .bind(&c.name_en)
    .bind(&c.category)
    .bind(c.has_security_level)
    .bind(c.has_data_level)
    .bind(c.builtin)
    .bind(c.created_at)
    .bind(c.updated_at)
    .execute(x)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn list_classes<'a>(ex: impl Into<Ex<'a>>) -> Result<Vec<CiClass>> {
    let sql = concat!("SELECT ", class_cols!(), " FROM ci_classes ORDER BY code");
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, CiClass>(sql)
        .fetch_all(c)
        .await)?)
}

pub async fn get_class<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<CiClass>> {
    let sql = concat!("SELECT ", class_cols!(), " FROM ci_classes WHERE id = $1");
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, CiClass>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

pub async fn insert_attribute(tx: &mut Tx, a: &CiAttribute) -> Result<()> {
    on_tx!(tx, |x| sqlx::query(concat!(
        "INSERT INTO ci_attributes (",
        attr_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(a.id)
    .bind(a.class_id)
    .bind(&a.code)
    .bind(&a.name_zh)
    .bind(&a.name_en)
    .bind(&a.kind)
    .bind(a.required)
    .bind(&a.options_json)
    .bind(a.position)
    .bind(a.builtin)
    .bind(a.created_at)
    .execute(x)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Every attribute of every class, by class then position.
pub async fn list_attributes<'a>(ex: impl Into<Ex<'a>>) -> Result<Vec<CiAttribute>> {
    let sql = concat!(
        "SELECT ",
        attr_cols!(),
        " FROM ci_attributes ORDER BY class_id, position, code"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, CiAttribute>(
        sql
    )
    .fetch_all(c)
    .await)?)
}

// ---------------------------------------------------------------------------------------- CIs

pub async fn insert_ci(tx: &mut Tx, c: &Ci) -> Result<()> {
    on_tx!(tx, |x| {
        sqlx::query(concat!(
        "INSERT INTO cis (",
        ci_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
    ))
    .bind(c.id)
    .bind(c.org_id)
    .bind(c.department_id)
    .bind(c.class_id)
    .bind(&c.external_key)
    .bind(&c.name)
    .bind(&c.status)
    .bind(&c.criticality)
    .bind(&c.location)
    .bind(&c.vendor)
    .bind(&c.contract_no)
    .bind(c.contract_end)
    .bind(c.warranty_end)
    .bind(c.purchased_on)
    .bind(c.purchase_cost)
    .bind(c.annual_cost)
    .bind(c.security_level)
    .bind(&c.data_level)
    .bind(c.calendar_id)
    .bind(&c.attributes_json)
    .bind(c.version)
    .bind(c.created_at)
    .bind(c.updated_at)
    .execute(x)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

pub async fn update_ci(tx: &mut Tx, c: &Ci) -> Result<()> {
    on_tx!(tx, |x| {
        sqlx::query(
        "UPDATE cis SET department_id = $2, class_id = $3, external_key = $4, name = $5, status = $6, \
         criticality = $7, location = $8, vendor = $9, contract_no = $10, contract_end = $11, \
         warranty_end = $12, purchased_on = $13, purchase_cost = $14, annual_cost = $15, \
         security_level = $16, data_level = $17, calendar_id = $18, attributes_json = $19, \
         version = $20, updated_at = $21 WHERE id = $1"
    )
    .bind(c.id)
    .bind(c.department_id)
    .bind(c.class_id)
    .bind(&c.external_key)
    .bind(&c.name)
    .bind(&c.status)
    .bind(&c.criticality)
    .bind(&c.location)
    .bind(&c.vendor)
    .bind(&c.contract_no)
    .bind(c.contract_end)
    .bind(c.warranty_end)
    .bind(c.purchased_on)
    .bind(c.purchase_cost)
    .bind(c.annual_cost)
    .bind(c.security_level)
    .bind(&c.data_level)
    .bind(c.calendar_id)
    .bind(&c.attributes_json)
    .bind(c.version)
    .bind(c.updated_at)
    .execute(x)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

pub async fn get_ci<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Ci>> {
    let sql = concat!("SELECT ", ci_cols!(), " FROM cis WHERE id = $1");
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Ci>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

pub async fn get_by_key<'a>(ex: impl Into<Ex<'a>>, org: Uuid, key: &str) -> Result<Option<Ci>> {
    let sql = concat!(
        "SELECT ",
        ci_cols!(),
        " FROM cis WHERE org_id = $1 AND external_key = $2"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Ci>(sql)
        .bind(org)
        .bind(key)
        .fetch_optional(c)
        .await)?)
}

/// CIs of an organization whose external key or name is exactly `s` (the ticket page's
/// "add by key or name").
pub async fn find_by_key_or_name<'a>(ex: impl Into<Ex<'a>>, org: Uuid, s: &str) -> Result<Vec<Ci>> {
    let sql = concat!(
        "SELECT ",
        ci_cols!(),
        " FROM cis WHERE org_id = $1 AND (external_key = $2 OR name = $2) ORDER BY id LIMIT 10"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Ci>(sql)
        .bind(org)
        .bind(s)
        .fetch_all(c)
        .await)?)
}

/// Of each of `wanted` (external keys or names), the one CI of the organization carrying it
/// as its external key or name; names matching no CI or several are left out. One statement
/// for all of them (then [`cis_by_ids`]).
pub async fn unique_by_keys_or_names(
    db: &Db,
    org: Uuid,
    wanted: &[String],
) -> Result<HashMap<String, Ci>> {
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let list = serde_json::to_string(wanted).unwrap_or_else(|_| "[]".into());
    let pairs: Vec<(String, Uuid)> = match db {
        Db::Sqlite(p) => {
            sqlx::query_as(
                "SELECT j.value, MIN(c.id) FROM (SELECT DISTINCT value FROM json_each($2)) j \
                 JOIN cis c ON c.org_id = $1 AND (c.external_key = j.value OR c.name = j.value) \
                 GROUP BY j.value HAVING COUNT(*) = 1",
            )
            .bind(org)
            .bind(&list)
            .fetch_all(p)
            .await?
        }
        Db::Pg(p) => {
            sqlx::query_as(
                "SELECT j.value, (array_agg(c.id))[1] FROM \
                 (SELECT DISTINCT value FROM json_array_elements_text($2::json)) j \
                 JOIN cis c ON c.org_id = $1 AND (c.external_key = j.value OR c.name = j.value) \
                 GROUP BY j.value HAVING COUNT(*) = 1",
            )
            .bind(org)
            .bind(&list)
            .fetch_all(p)
            .await?
        }
    };
    let ids: Vec<Uuid> = pairs.iter().map(|(_, id)| *id).collect();
    let by_id: HashMap<Uuid, Ci> = cis_by_ids(db, &ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    Ok(pairs
        .into_iter()
        .filter_map(|(w, id)| by_id.get(&id).map(|c| (w, c.clone())))
        .collect())
}

/// Filters for [`list_cis`]; `after` is the cursor (ids ascending).
#[derive(Debug, Clone, Default)]
pub struct CiFilter {
    pub org: Option<Uuid>,
    pub class_id: Option<Uuid>,
    pub status: Option<String>,
    /// Substring of the name or external key.
    pub q: Option<String>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

pub async fn list_cis<'a>(ex: impl Into<Ex<'a>>, f: &CiFilter) -> Result<Vec<Ci>> {
    let sql = concat!(
        "SELECT ",
        ci_cols!(),
        " FROM cis WHERE ($1 IS NULL OR org_id = $1) AND ($2 IS NULL OR class_id = $2) \
         AND ($3 IS NULL OR status = $3) \
         AND ($4 IS NULL OR name LIKE $4 OR external_key LIKE $4) \
         AND ($5 IS NULL OR id > $5) ORDER BY id LIMIT $6"
    );
    let like = f.q.as_ref().map(|q| {
        let esc = q.replace(['%', '_'], "");
        format!("%{esc}%")
    });
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Ci>(sql)
        .bind(f.org)
        .bind(f.class_id)
        .bind(&f.status)
        .bind(&like)
        .bind(f.after)
        .bind(f.limit)
        .fetch_all(c)
        .await)?)
}

/// Every CI of the given organizations (all when `None`), ordered for export.
pub async fn all_cis<'a>(ex: impl Into<Ex<'a>>, org: Option<Uuid>) -> Result<Vec<Ci>> {
    let sql = concat!(
        "SELECT ",
        ci_cols!(),
        " FROM cis WHERE ($1 IS NULL OR org_id = $1) ORDER BY org_id, external_key"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Ci>(sql)
        .bind(org)
        .fetch_all(c)
        .await)?)
}

/// CIs by id (any number; read in chunks).
pub async fn cis_by_ids<'a>(ex: impl Into<Ex<'a>>, ids: &[Uuid]) -> Result<Vec<Ci>> {
    let mut ex = ex.into();
    let mut out = Vec::with_capacity(ids.len());
    let pg_sql = concat!(
        "SELECT ",
        ci_cols!(),
        " FROM cis WHERE id IN (SELECT value::uuid FROM json_array_elements_text($1::json))"
    );
    let sqlite_sql = concat!(
        "SELECT ",
        ci_cols!(),
        " FROM cis WHERE id IN (SELECT unhex(value) FROM json_each($1))"
    );
    for chunk in ids.chunks(2000) {
        let mut rows = match &mut ex {
            Ex::Db(crate::Db::Sqlite(p)) => {
                sqlx::query_as::<_, Ci>(sqlite_sql)
                    .bind(hex_list(chunk))
                    .fetch_all(p)
                    .await?
            }
            Ex::Tx(Tx::Sqlite(t)) => {
                t.ready().await?;
                sqlx::query_as::<_, Ci>(sqlite_sql)
                    .bind(hex_list(chunk))
                    .fetch_all(&mut **t)
                    .await?
            }
            Ex::Conn(crate::Conn::Sqlite(c)) => {
                sqlx::query_as::<_, Ci>(sqlite_sql)
                    .bind(hex_list(chunk))
                    .fetch_all(&mut **c)
                    .await?
            }
            Ex::Conn(crate::Conn::SqliteDirect(p, _)) => {
                sqlx::query_as::<_, Ci>(sqlite_sql)
                    .bind(hex_list(chunk))
                    .fetch_all(&*p)
                    .await?
            }
            Ex::Db(crate::Db::Pg(p)) => {
                sqlx::query_as::<_, Ci>(pg_sql)
                    .bind(uuid_list(chunk))
                    .fetch_all(p)
                    .await?
            }
            Ex::Tx(Tx::Pg(t)) => {
                sqlx::query_as::<_, Ci>(pg_sql)
                    .bind(uuid_list(chunk))
                    .fetch_all(&mut **t)
                    .await?
            }
            Ex::Conn(crate::Conn::Pg(c)) => {
                sqlx::query_as::<_, Ci>(pg_sql)
                    .bind(uuid_list(chunk))
                    .fetch_all(&mut **c)
                    .await?
            }
        };
        out.append(&mut rows);
    }
    Ok(out)
}

fn hex_list(ids: &[Uuid]) -> String {
    Value::Array(
        ids.iter()
            .map(|u| Value::String(u.simple().to_string()))
            .collect(),
    )
    .to_string()
}

fn uuid_list(ids: &[Uuid]) -> String {
    Value::Array(ids.iter().map(|u| Value::String(u.to_string())).collect()).to_string()
}

/// (org, external key, id) of every CI, for imports.
pub async fn all_keys<'a>(ex: impl Into<Ex<'a>>) -> Result<Vec<(Uuid, String, Uuid)>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<
        _,
        (Uuid, String, Uuid),
    >(
        "SELECT org_id, external_key, id FROM cis"
    )
    .fetch_all(c)
    .await)?)
}

// ----------------------------------------------------------------------------------- versions

pub async fn insert_version(tx: &mut Tx, v: &CiVersion) -> Result<()> {
    on_tx!(tx, |x| sqlx::query(concat!(
        "INSERT INTO ci_versions (",
        version_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(v.id)
    .bind(v.ci_id)
    .bind(v.version)
    .bind(v.valid_from)
    .bind(&v.action)
    .bind(&v.actor_name)
    .bind(&v.snapshot_json)
    .execute(x)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Every version of a CI, newest first.
pub async fn versions<'a>(ex: impl Into<Ex<'a>>, ci: Uuid) -> Result<Vec<CiVersion>> {
    let sql = concat!(
        "SELECT ",
        version_cols!(),
        " FROM ci_versions WHERE ci_id = $1 ORDER BY version DESC"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, CiVersion>(sql)
        .bind(ci)
        .fetch_all(c)
        .await)?)
}

/// The version in force at `at`: the latest with `valid_from <= at`.
pub async fn version_at<'a>(
    ex: impl Into<Ex<'a>>,
    ci: Uuid,
    at: DateTime<Utc>,
) -> Result<Option<CiVersion>> {
    let sql = concat!(
        "SELECT ",
        version_cols!(),
        " FROM ci_versions WHERE ci_id = $1 AND valid_from <= $2 ORDER BY version DESC LIMIT 1"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, CiVersion>(sql)
        .bind(ci)
        .bind(at)
        .fetch_optional(c)
        .await)?)
}

// ---------------------------------------------------------------------------------- relations

pub async fn insert_relation(tx: &mut Tx, r: &Relation) -> Result<()> {
    on_tx!(tx, |x| sqlx::query(concat!(
        "INSERT INTO ci_relations (",
        rel_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6)"
    ))
    .bind(r.id)
    .bind(r.source_id)
    .bind(&r.kind)
    .bind(r.target_id)
    .bind(r.created_at)
    .bind(r.created_by)
    .execute(x)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn get_relation<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Relation>> {
    let sql = concat!("SELECT ", rel_cols!(), " FROM ci_relations WHERE id = $1");
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Relation>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

pub async fn delete_relation(tx: &mut Tx, id: Uuid) -> Result<()> {
    on_tx!(tx, |x| sqlx::query(
        "DELETE FROM ci_relations WHERE id = $1"
    )
    .bind(id)
    .execute(x)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Relations where the CI is source or target.
pub async fn relations_of<'a>(ex: impl Into<Ex<'a>>, ci: Uuid) -> Result<Vec<Relation>> {
    let sql = concat!(
        "SELECT ",
        rel_cols!(),
        " FROM ci_relations WHERE source_id = $1 OR target_id = $1 ORDER BY id"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Relation>(sql)
        .bind(ci)
        .fetch_all(c)
        .await)?)
}

/// Every relation whose source belongs to the organization (all when `None`), for export.
pub async fn all_relations<'a>(ex: impl Into<Ex<'a>>, org: Option<Uuid>) -> Result<Vec<Relation>> {
    let sql = "SELECT r.id, r.source_id, r.kind, r.target_id, r.created_at, r.created_by \
         FROM ci_relations r JOIN cis s ON s.id = r.source_id \
         WHERE ($1 IS NULL OR s.org_id = $1) ORDER BY r.source_id, r.kind, r.target_id";
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Relation>(sql)
        .bind(org)
        .fetch_all(c)
        .await)?)
}

/// The CIs that depend on `root`, transitively (sources of relations whose target is in the
/// set, except `backed_up_by`), with the edges among them, for a breadth-first walk.
pub async fn impact_edges<'a>(ex: impl Into<Ex<'a>>, root: Uuid) -> Result<Vec<(Uuid, Uuid)>> {
    let sql = "WITH RECURSIVE up(id) AS (SELECT $1 UNION \
               SELECT r.source_id FROM ci_relations r JOIN up ON r.target_id = up.id \
               WHERE r.kind <> 'backed_up_by') \
               SELECT r.target_id, r.source_id FROM ci_relations r \
               WHERE r.target_id IN (SELECT id FROM up) AND r.kind <> 'backed_up_by'";
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, (Uuid, Uuid)>(
        sql
    )
    .bind(root)
    .fetch_all(c)
    .await)?)
}

/// What `root` depends on, transitively (targets, except over `backed_up_by`), as edges
/// (from, to).
pub async fn dependency_edges<'a>(ex: impl Into<Ex<'a>>, root: Uuid) -> Result<Vec<(Uuid, Uuid)>> {
    let sql = "WITH RECURSIVE down(id) AS (SELECT $1 UNION \
               SELECT r.target_id FROM ci_relations r JOIN down ON r.source_id = down.id \
               WHERE r.kind <> 'backed_up_by') \
               SELECT r.source_id, r.target_id FROM ci_relations r \
               WHERE r.source_id IN (SELECT id FROM down) AND r.kind <> 'backed_up_by'";
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, (Uuid, Uuid)>(
        sql
    )
    .bind(root)
    .fetch_all(c)
    .await)?)
}

/// Outages `(start, end)` of incidents linked to `root` or anything it depends on that
/// overlap `[from, to)`.
pub async fn outages<'a>(
    ex: impl Into<Ex<'a>>,
    root: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>> {
    let sql = "WITH RECURSIVE down(id) AS (SELECT $1 UNION \
               SELECT r.target_id FROM ci_relations r JOIN down ON r.source_id = down.id \
               WHERE r.kind <> 'backed_up_by') \
               SELECT t.outage_start, t.outage_end FROM tickets t \
               WHERE t.kind = 'incident' AND t.outage_start IS NOT NULL \
               AND t.outage_start < $3 AND (t.outage_end IS NULL OR t.outage_end > $2) \
               AND t.id IN (SELECT tc.ticket_id FROM ticket_cis tc WHERE tc.ci_id IN (SELECT id FROM down))";
    type Span = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let rows: Vec<Span> = on_ex!(ex.into(), |c| sqlx::query_as(sql)
        .bind(root)
        .bind(from)
        .bind(to)
        .fetch_all(c)
        .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(s, e)| s.map(|s| (s, e)))
        .collect())
}

// ------------------------------------------------------------------------------------ patches

pub async fn insert_patch(tx: &mut Tx, p: &Patch) -> Result<()> {
    on_tx!(tx, |x| sqlx::query(concat!(
        "INSERT INTO ci_patches (",
        patch_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(p.id)
    .bind(p.ci_id)
    .bind(&p.patch_code)
    .bind(&p.title)
    .bind(&p.severity)
    .bind(p.applied_at)
    .bind(&p.applied_by_name)
    .bind(&p.notes)
    .bind(p.created_at)
    .execute(x)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Patch records of a CI, newest first.
pub async fn patches<'a>(ex: impl Into<Ex<'a>>, ci: Uuid) -> Result<Vec<Patch>> {
    let sql = concat!(
        "SELECT ",
        patch_cols!(),
        " FROM ci_patches WHERE ci_id = $1 ORDER BY applied_at DESC, id DESC"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Patch>(sql)
        .bind(ci)
        .fetch_all(c)
        .await)?)
}

// -------------------------------------------------------------------------------- ticket_cis

/// Link; false when the link existed.
pub async fn link_ticket(
    tx: &mut Tx,
    ticket: Uuid,
    ci: Uuid,
    at: DateTime<Utc>,
    by: Option<Uuid>,
) -> Result<bool> {
    let n = on_tx!(tx, |x| {
        sqlx::query(
        "INSERT INTO ticket_cis (ticket_id, ci_id, created_at, created_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING"
    )
    .bind(ticket)
    .bind(ci)
    .bind(at)
    .bind(by)
    .execute(x)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n > 0)
}

/// Unlink; false when there was no link.
pub async fn unlink_ticket(tx: &mut Tx, ticket: Uuid, ci: Uuid) -> Result<bool> {
    let n = on_tx!(tx, |x| sqlx::query(
        "DELETE FROM ticket_cis WHERE ticket_id = $1 AND ci_id = $2"
    )
    .bind(ticket)
    .bind(ci)
    .execute(x)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// The CIs a ticket affects.
pub async fn cis_of_ticket<'a>(ex: impl Into<Ex<'a>>, ticket: Uuid) -> Result<Vec<Ci>> {
    let sql = concat!(
        "SELECT ",
        ci_cols_c!(),
        " FROM cis c JOIN ticket_cis tc ON tc.ci_id = c.id WHERE tc.ticket_id = $1 ORDER BY c.name, c.id"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Ci>(sql)
        .bind(ticket)
        .fetch_all(c)
        .await)?)
}

/// The tickets linked to a CI, newest first.
pub async fn tickets_of_ci<'a>(
    ex: impl Into<Ex<'a>>,
    ci: Uuid,
    org: Option<Uuid>,
    limit: i64,
) -> Result<Vec<LinkedTicket>> {
    let sql = "SELECT t.id AS ticket_id, t.number, t.kind, t.status, t.subject, t.org_id, t.created_at, \
               t.outage_start, t.outage_end, tc.created_at AS linked_at \
               FROM tickets t JOIN ticket_cis tc ON tc.ticket_id = t.id \
               WHERE tc.ci_id = $1 AND ($2 IS NULL OR t.org_id = $2) ORDER BY t.created_at DESC, t.id DESC LIMIT $3";
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, LinkedTicket>(
        sql
    )
    .bind(ci)
    .bind(org)
    .bind(limit)
    .fetch_all(c)
    .await)?)
}

// ------------------------------------------------------------------------------------- batches

/// Rows per batched statement.
const BATCH: usize = 2000;

fn id_v(u: Uuid) -> Value {
    Value::String(u.to_string())
}

fn opt_id(u: Option<Uuid>) -> Value {
    u.map(id_v).unwrap_or(Value::Null)
}

/// Times as sqlx writes them to SQLite (RFC 3339, `+00:00`), which PostgreSQL also reads.
fn ts(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, false))
}

fn date(d: Option<NaiveDate>) -> Value {
    d.map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
        .unwrap_or(Value::Null)
}

async fn run_batch(
    tx: &mut Tx,
    sqlite: &'static str,
    pg: &'static str,
    rows: &[Value],
) -> Result<u64> {
    let mut n = 0;
    for chunk in rows.chunks(BATCH) {
        let payload = Value::Array(chunk.to_vec()).to_string();
        n += match tx {
            Tx::Sqlite(t) => {
                t.ready().await?;
                sqlx::query(sqlite)
                    .bind(payload)
                    .execute(&mut **t)
                    .await?
                    .rows_affected()
            }
            Tx::Pg(t) => sqlx::query(pg)
                .bind(payload)
                .execute(&mut **t)
                .await?
                .rows_affected(),
        };
    }
    Ok(n)
}

/// Insert many CIs in batches.
pub async fn insert_cis_bulk(tx: &mut Tx, cis: &[Ci]) -> Result<()> {
    let rows: Vec<Value> = cis
        .iter()
        .map(|c| {
            json!({
                "id": id_v(c.id), "org_id": id_v(c.org_id), "department_id": opt_id(c.department_id),
                "class_id": id_v(c.class_id), "external_key": c.external_key, "name": c.name,
                "status": c.status, "criticality": c.criticality, "location": c.location,
                "vendor": c.vendor, "contract_no": c.contract_no, "contract_end": date(c.contract_end),
                "warranty_end": date(c.warranty_end), "purchased_on": date(c.purchased_on),
                "purchase_cost": c.purchase_cost, "annual_cost": c.annual_cost,
                "security_level": c.security_level, "data_level": c.data_level,
                "calendar_id": opt_id(c.calendar_id), "attributes_json": c.attributes_json,
                "version": c.version, "created_at": ts(c.created_at), "updated_at": ts(c.updated_at),
            })
        })
        .collect();
    run_batch(
        tx,
        concat!(
            "INSERT INTO cis (",
            ci_cols!(),
            ") SELECT unhex(replace(value ->> 'id', '-', '')), unhex(replace(value ->> 'org_id', '-', '')), \
             unhex(replace(value ->> 'department_id', '-', '')), unhex(replace(value ->> 'class_id', '-', '')), \
             value ->> 'external_key', value ->> 'name', value ->> 'status', value ->> 'criticality', \
             value ->> 'location', value ->> 'vendor', value ->> 'contract_no', value ->> 'contract_end', \
             value ->> 'warranty_end', value ->> 'purchased_on', value ->> 'purchase_cost', value ->> 'annual_cost', \
             value ->> 'security_level', value ->> 'data_level', unhex(replace(value ->> 'calendar_id', '-', '')), \
             value ->> 'attributes_json', value ->> 'version', value ->> 'created_at', value ->> 'updated_at' \
             FROM json_each($1)"
        ),
        concat!(
            "INSERT INTO cis (",
            ci_cols!(),
            ") SELECT ",
            ci_cols!(),
            " FROM json_to_recordset($1::json) AS x(id uuid, org_id uuid, department_id uuid, class_id uuid, \
             external_key text, name text, status text, criticality text, location text, vendor text, \
             contract_no text, contract_end date, warranty_end date, purchased_on date, purchase_cost bigint, \
             annual_cost bigint, security_level bigint, data_level text, calendar_id uuid, attributes_json text, \
             version bigint, created_at timestamptz, updated_at timestamptz)"
        ),
        &rows,
    )
    .await?;
    Ok(())
}

/// Insert many versions in batches.
pub async fn insert_versions_bulk(tx: &mut Tx, vs: &[CiVersion]) -> Result<()> {
    let rows: Vec<Value> = vs
        .iter()
        .map(|v| {
            json!({
                "id": id_v(v.id), "ci_id": id_v(v.ci_id), "version": v.version,
                "valid_from": ts(v.valid_from), "action": v.action, "actor_name": v.actor_name,
                "snapshot_json": v.snapshot_json,
            })
        })
        .collect();
    run_batch(
        tx,
        concat!(
            "INSERT INTO ci_versions (",
            version_cols!(),
            ") SELECT unhex(replace(value ->> 'id', '-', '')), unhex(replace(value ->> 'ci_id', '-', '')), \
             value ->> 'version', value ->> 'valid_from', value ->> 'action', value ->> 'actor_name', \
             value ->> 'snapshot_json' FROM json_each($1)"
        ),
        concat!(
            "INSERT INTO ci_versions (",
            version_cols!(),
            ") SELECT ",
            version_cols!(),
            " FROM json_to_recordset($1::json) AS x(id uuid, ci_id uuid, version bigint, \
             valid_from timestamptz, action text, actor_name text, snapshot_json text)"
        ),
        &rows,
    )
    .await?;
    Ok(())
}

/// Insert many relations in batches, skipping those that exist; returns how many were new.
pub async fn insert_relations_bulk(tx: &mut Tx, rs: &[Relation]) -> Result<u64> {
    let rows: Vec<Value> = rs
        .iter()
        .map(|r| {
            json!({
                "id": id_v(r.id), "source_id": id_v(r.source_id), "kind": r.kind,
                "target_id": id_v(r.target_id), "created_at": ts(r.created_at),
                "created_by": opt_id(r.created_by),
            })
        })
        .collect();
    run_batch(
        tx,
        concat!(
            "INSERT INTO ci_relations (",
            rel_cols!(),
            ") SELECT unhex(replace(value ->> 'id', '-', '')), unhex(replace(value ->> 'source_id', '-', '')), \
             value ->> 'kind', unhex(replace(value ->> 'target_id', '-', '')), value ->> 'created_at', \
             unhex(replace(value ->> 'created_by', '-', '')) FROM json_each($1) WHERE TRUE \
             ON CONFLICT DO NOTHING"
        ),
        concat!(
            "INSERT INTO ci_relations (",
            rel_cols!(),
            ") SELECT ",
            rel_cols!(),
            " FROM json_to_recordset($1::json) AS x(id uuid, source_id uuid, kind text, target_id uuid, \
             created_at timestamptz, created_by uuid) ON CONFLICT DO NOTHING"
        ),
        &rows,
    )
    .await
}

/// Every (source, kind, target) relation, for imports.
pub async fn all_edges<'a>(ex: impl Into<Ex<'a>>) -> Result<Vec<(Uuid, String, Uuid)>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<
        _,
        (Uuid, String, Uuid),
    >(
        "SELECT source_id, kind, target_id FROM ci_relations"
    )
    .fetch_all(c)
    .await)?)
}

/// Append many audit entries in one go, in the caller's transaction, continuing the hash chain
/// exactly as [`crate::audit::append`] does entry by entry.
pub async fn audit_many(tx: &mut Tx, entries: Vec<NewEntry>, at: DateTime<Utc>) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let at = yunwei_domain::audit::truncate_to_micros(at);
    let n = entries.len() as i64;
    let (last, mut prev): (i64, String) = on_tx!(tx, |c| {
        sqlx::query_as(
        "UPDATE audit_head SET last_seq = last_seq + $1 WHERE id = 1 RETURNING last_seq, last_hash"
    )
    .bind(n)
    .fetch_one(c)
    .await
    })?;
    let first = last - n + 1;
    let mut rows = Vec::with_capacity(entries.len());
    for (i, e) in entries.into_iter().enumerate() {
        let seq = first + i as i64;
        let id = yunwei_domain::ids::new_id();
        let before = e.before.as_ref().map(|v| v.to_string());
        let after = e.after.as_ref().map(|v| v.to_string());
        let hash = entry_hash(
            &prev,
            &AuditContent {
                seq,
                id,
                at_micros: at.timestamp_micros(),
                actor_id: e.actor_id,
                actor_name: &e.actor_name,
                action: &e.action,
                entity: &e.entity,
                entity_id: e.entity_id.as_deref(),
                org_id: e.org_id,
                before: before.as_deref(),
                after: after.as_deref(),
                ip: e.ip.as_deref(),
            },
        );
        rows.push(json!({
            "seq": seq, "id": id_v(id), "at": ts(at), "actor_id": opt_id(e.actor_id),
            "actor_name": e.actor_name, "action": e.action, "entity": e.entity,
            "entity_id": e.entity_id, "org_id": opt_id(e.org_id), "before_json": before,
            "after_json": after, "ip": e.ip, "prev_hash": prev, "hash": hash,
        }));
        prev = hash;
    }
    run_batch(
        tx,
        "INSERT INTO audit_log (seq, id, at, actor_id, actor_name, action, entity, entity_id, org_id, \
         before_json, after_json, ip, prev_hash, hash) SELECT value ->> 'seq', \
         unhex(replace(value ->> 'id', '-', '')), value ->> 'at', unhex(replace(value ->> 'actor_id', '-', '')), \
         value ->> 'actor_name', value ->> 'action', value ->> 'entity', value ->> 'entity_id', \
         unhex(replace(value ->> 'org_id', '-', '')), value ->> 'before_json', value ->> 'after_json', \
         value ->> 'ip', value ->> 'prev_hash', value ->> 'hash' FROM json_each($1)",
        "INSERT INTO audit_log (seq, id, at, actor_id, actor_name, action, entity, entity_id, org_id, \
         before_json, after_json, ip, prev_hash, hash) SELECT seq, id, at, actor_id, actor_name, action, \
         entity, entity_id, org_id, before_json, after_json, ip, prev_hash, hash \
         FROM json_to_recordset($1::json) AS x(seq bigint, id uuid, at timestamptz, actor_id uuid, \
         actor_name text, action text, entity text, entity_id text, org_id uuid, before_json text, \
         after_json text, ip text, prev_hash text, hash text)",
        &rows,
    )
    .await?;
    on_tx!(tx, |c| sqlx::query(
        "UPDATE audit_head SET last_hash = $1 WHERE id = 1"
    )
    .bind(&prev)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

// ------------------------------------------------------------------- the relation graph, epoch

/// Increment the CMDB epoch in the caller's transaction and log which CIs it touched
/// (`cmdb_graph_log`): every CI written and both ends of every relation written or deleted;
/// `None` (or more than [`GRAPH_LOG_MAX_IDS`] ids, or none) logs "everything" (a NULL row),
/// after which nodes reload their graph in full. Every transaction that writes CIs or
/// relations calls it, so a node holding the relation graph in memory sees that it is stale
/// and what to re-read (the row lock serializes CMDB writes on PostgreSQL, as `audit_head`
/// does all writes, so epochs commit in order). Log rows older than [`GRAPH_LOG_KEEP`] epochs
/// are pruned. Returns the new epoch.
pub async fn bump_epoch(tx: &mut Tx, touched: Option<&[Uuid]>) -> Result<i64> {
    let epoch: i64 = on_tx!(tx, |c| sqlx::query_scalar(
        "INSERT INTO cmdb_epoch (id, epoch) VALUES (1, 1) \
         ON CONFLICT (id) DO UPDATE SET epoch = cmdb_epoch.epoch + 1 RETURNING epoch"
    )
    .fetch_one(c)
    .await)?;
    let mut ids: Vec<Uuid> = touched.map(<[Uuid]>::to_vec).unwrap_or_default();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() || ids.len() > GRAPH_LOG_MAX_IDS {
        on_tx!(tx, |c| sqlx::query(
            "INSERT INTO cmdb_graph_log (epoch, ci_id) VALUES ($1, NULL)"
        )
        .bind(epoch)
        .execute(c)
        .await
        .map(|_| ()))?;
    } else {
        match tx {
            Tx::Sqlite(t) => {
                t.ready().await?;
                sqlx::query(
                    "INSERT INTO cmdb_graph_log (epoch, ci_id) \
                     SELECT $1, unhex(value) FROM json_each($2)",
                )
                .bind(epoch)
                .bind(hex_list(&ids))
                .execute(&mut **t)
                .await
                .map(|_| ())?
            }
            Tx::Pg(t) => sqlx::query(
                "INSERT INTO cmdb_graph_log (epoch, ci_id) \
                 SELECT $1, value::uuid FROM json_array_elements_text($2::json)",
            )
            .bind(epoch)
            .bind(uuid_list(&ids))
            .execute(&mut **t)
            .await
            .map(|_| ())?,
        }
    }
    on_tx!(tx, |c| sqlx::query(
        "DELETE FROM cmdb_graph_log WHERE epoch <= $1"
    )
    .bind(epoch - GRAPH_LOG_KEEP)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(epoch)
}

/// The current CMDB epoch (0 before the first write).
pub async fn epoch<'a>(ex: impl Into<Ex<'a>>) -> Result<i64> {
    let v: Option<i64> = on_ex!(ex.into(), |c| sqlx::query_scalar(
        "SELECT epoch FROM cmdb_epoch WHERE id = 1"
    )
    .fetch_optional(c)
    .await)?;
    Ok(v.unwrap_or(0))
}

/// A CI as the in-memory relation graph holds it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GraphCi {
    pub id: Uuid,
    pub org_id: Uuid,
    pub department_id: Option<Uuid>,
    pub class_id: Uuid,
    pub name: String,
    pub external_key: String,
    pub status: String,
    pub criticality: String,
}

/// One row of [`load_graph`].
pub enum GraphRow {
    Ci(GraphCi),
    /// A relation that propagates impact: (source, target).
    Edge(Uuid, Uuid),
}

/// Evaluates `$sqlite` or `$pg` (each reading through the transaction `$tx`) in one read-only
/// snapshot: a deferred read transaction on SQLite (its first SELECT fixes the WAL snapshot),
/// repeatable read on PostgreSQL.
macro_rules! in_snapshot {
    ($db:expr, $tx:ident => $sqlite:expr, $pg:expr) => {
        match $db {
            crate::Db::Sqlite(p) => {
                let mut $tx = p.begin().await?;
                let out = $sqlite;
                $tx.commit().await?;
                out
            }
            crate::Db::Pg(p) => {
                let mut $tx = p.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .execute(&mut *$tx)
                    .await?;
                let out = $pg;
                $tx.commit().await?;
                out
            }
        }
    };
}

/// Everything the relation graph is built from, read in one snapshot: the epoch, the classes,
/// every CI and then every relation that propagates impact (`backed_up_by` left out), both
/// streamed to `on_row`. Returns the epoch and the classes.
pub async fn load_graph(
    db: &crate::Db,
    mut on_row: impl FnMut(GraphRow) + Send,
) -> Result<(i64, Vec<CiClass>)> {
    use futures_util::TryStreamExt;
    const CIS: &str = "SELECT id, org_id, department_id, class_id, name, external_key, status, \
                       criticality FROM cis";
    const EDGES: &str =
        "SELECT source_id, target_id FROM ci_relations WHERE kind <> 'backed_up_by'";
    const EPOCH: &str = "SELECT epoch FROM cmdb_epoch WHERE id = 1";
    let classes_sql = concat!("SELECT ", class_cols!(), " FROM ci_classes ORDER BY code");
    macro_rules! read_all {
        ($tx:expr) => {{
            let epoch: Option<i64> = sqlx::query_scalar(EPOCH).fetch_optional(&mut *$tx).await?;
            let classes = sqlx::query_as::<_, CiClass>(classes_sql)
                .fetch_all(&mut *$tx)
                .await?;
            {
                let mut s = sqlx::query_as::<_, GraphCi>(CIS).fetch(&mut *$tx);
                while let Some(c) = s.try_next().await? {
                    on_row(GraphRow::Ci(c));
                }
            }
            {
                let mut s = sqlx::query_as::<_, (Uuid, Uuid)>(EDGES).fetch(&mut *$tx);
                while let Some((a, b)) = s.try_next().await? {
                    on_row(GraphRow::Edge(a, b));
                }
            }
            (epoch.unwrap_or(0), classes)
        }};
    }
    let out = in_snapshot!(db, tx => read_all!(tx), read_all!(tx));
    Ok(out)
}

/// Run a query taking a list of ids as its `$1` (a JSON array; SQLite: hex, PostgreSQL: text),
/// in chunks, on the pool.
macro_rules! by_id_chunks {
    ($db:expr, $ids:expr, $row:ty, $sqlite:expr, $pg:expr, |$q:ident| $bind:expr) => {{
        let mut out: Vec<$row> = Vec::new();
        for chunk in $ids.chunks(2000) {
            let mut rows: Vec<$row> = match $db {
                crate::Db::Sqlite(p) => {
                    let $q = sqlx::query_as::<_, $row>($sqlite).bind(hex_list(chunk));
                    $bind.fetch_all(p).await?
                }
                crate::Db::Pg(p) => {
                    let $q = sqlx::query_as::<_, $row>($pg).bind(uuid_list(chunk));
                    $bind.fetch_all(p).await?
                }
            };
            out.append(&mut rows);
        }
        out
    }};
}

/// (id, name) of the organizations with these ids.
pub async fn org_names(db: &crate::Db, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>> {
    Ok(by_id_chunks!(
        db,
        ids,
        (Uuid, String),
        "SELECT id, name FROM organizations WHERE id IN (SELECT unhex(value) FROM json_each($1))",
        "SELECT id, name FROM organizations \
         WHERE id IN (SELECT value::uuid FROM json_array_elements_text($1::json))",
        |q| q
    ))
}

/// (id, name) of the departments with these ids.
pub async fn department_names(db: &crate::Db, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>> {
    Ok(by_id_chunks!(
        db,
        ids,
        (Uuid, String),
        "SELECT id, name FROM departments WHERE id IN (SELECT unhex(value) FROM json_each($1))",
        "SELECT id, name FROM departments \
         WHERE id IN (SELECT value::uuid FROM json_array_elements_text($1::json))",
        |q| q
    ))
}

/// Outages `(start, end)` of incidents linked to any of `cis` that overlap `[from, to)`, each
/// incident once.
pub async fn outages_of(
    db: &crate::Db,
    cis: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>> {
    type Row = (Uuid, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let rows = by_id_chunks!(
        db,
        cis,
        Row,
        "SELECT t.id, t.outage_start, t.outage_end FROM tickets t \
         WHERE t.kind = 'incident' AND t.outage_start IS NOT NULL \
         AND t.outage_start < $3 AND (t.outage_end IS NULL OR t.outage_end > $2) \
         AND t.id IN (SELECT tc.ticket_id FROM ticket_cis tc \
         WHERE tc.ci_id IN (SELECT unhex(value) FROM json_each($1)))",
        "SELECT t.id, t.outage_start, t.outage_end FROM tickets t \
         WHERE t.kind = 'incident' AND t.outage_start IS NOT NULL \
         AND t.outage_start < $3 AND (t.outage_end IS NULL OR t.outage_end > $2) \
         AND t.id IN (SELECT tc.ticket_id FROM ticket_cis tc \
         WHERE tc.ci_id IN (SELECT value::uuid FROM json_array_elements_text($1::json)))",
        |q| q.bind(from).bind(to)
    );
    let mut seen = std::collections::HashSet::new();
    Ok(rows
        .into_iter()
        .filter(|r| seen.insert(r.0))
        .filter_map(|(_, s, e)| s.map(|s| (s, e)))
        .collect())
}

// ------------------------------------------------------------- the relation graph, change log

/// Epochs whose log rows [`bump_epoch`] keeps; a node further behind reloads in full.
pub const GRAPH_LOG_KEEP: i64 = 10_000;
/// More CIs than this in one write are logged as "everything".
pub const GRAPH_LOG_MAX_IDS: usize = 5_000;

/// What changed in the relation graph since an epoch, read by [`graph_changes`].
pub enum GraphChanges {
    /// Read the whole graph again: a write logged "everything", the log does not cover the
    /// epochs since (pruned, or written before the log existed), too many CIs changed, or the
    /// database's epoch is behind the graph's (another database).
    Reload,
    Patch(GraphPatch),
}

/// The changes since an epoch: the touched CIs as they are now, and every relation that
/// propagates impact with either end among them.
pub struct GraphPatch {
    /// The epoch this patch brings the graph to (the database's, in the snapshot read).
    pub epoch: i64,
    /// Every class (a small table, read whole).
    pub classes: Vec<CiClass>,
    /// The CIs the log names, each once (sorted).
    pub touched: Vec<Uuid>,
    /// Those of them that exist; a touched CI not here is gone.
    pub cis: Vec<GraphCi>,
    /// (source, target) of the propagating relations with either end touched (a pair may
    /// repeat: two kinds, or both ends touched).
    pub edges: Vec<(Uuid, Uuid)>,
}

/// The changes to the relation graph since `since` (the epoch a graph was read at), read in
/// one snapshot (a read transaction; repeatable read on PostgreSQL) together with the epoch
/// they bring the graph to, so the patched graph corresponds exactly to that epoch. At most
/// `max_cis` touched CIs; more answer [`GraphChanges::Reload`].
pub async fn graph_changes(db: &crate::Db, since: i64, max_cis: usize) -> Result<GraphChanges> {
    const EPOCH: &str = "SELECT epoch FROM cmdb_epoch WHERE id = 1";
    const LOG: &str = "SELECT epoch, ci_id FROM cmdb_graph_log \
                       WHERE epoch > $1 AND epoch <= $2 ORDER BY epoch LIMIT $3";
    const CIS_SQLITE: &str = "SELECT id, org_id, department_id, class_id, name, external_key, \
        status, criticality FROM cis WHERE id IN (SELECT unhex(value) FROM json_each($1))";
    const CIS_PG: &str = "SELECT id, org_id, department_id, class_id, name, external_key, \
        status, criticality FROM cis \
        WHERE id IN (SELECT value::uuid FROM json_array_elements_text($1::json))";
    const EDGES_SQLITE: &str = "SELECT source_id, target_id FROM ci_relations \
        WHERE kind <> 'backed_up_by' AND source_id IN (SELECT unhex(value) FROM json_each($1)) \
        UNION ALL SELECT source_id, target_id FROM ci_relations \
        WHERE kind <> 'backed_up_by' AND target_id IN (SELECT unhex(value) FROM json_each($1))";
    const EDGES_PG: &str = "SELECT source_id, target_id FROM ci_relations \
        WHERE kind <> 'backed_up_by' \
        AND source_id IN (SELECT value::uuid FROM json_array_elements_text($1::json)) \
        UNION ALL SELECT source_id, target_id FROM ci_relations \
        WHERE kind <> 'backed_up_by' \
        AND target_id IN (SELECT value::uuid FROM json_array_elements_text($1::json))";
    let classes_sql = concat!("SELECT ", class_cols!(), " FROM ci_classes ORDER BY code");
    let max_rows = i64::try_from(max_cis).unwrap_or(i64::MAX - 1);
    macro_rules! read_all {
        ($tx:expr, $cis:expr, $edges:expr, $list:expr) => {{
            // The epoch first: it fixes the snapshot (SQLite) and bounds the log read, so
            // what is read is exactly the state at that epoch.
            let epoch: i64 = sqlx::query_scalar::<_, i64>(EPOCH)
                .fetch_optional(&mut *$tx)
                .await?
                .unwrap_or(0);
            // Every epoch has at least one log row: more epochs than rows allowed, too many.
            if epoch < since || epoch - since > max_rows {
                None
            } else {
                let log: Vec<(i64, Option<Uuid>)> = sqlx::query_as(LOG)
                    .bind(since)
                    .bind(epoch)
                    .bind(max_rows + 1)
                    .fetch_all(&mut *$tx)
                    .await?;
                let mut epochs = 0i64;
                let mut last = since;
                let mut all = false;
                let mut touched: Vec<Uuid> = Vec::with_capacity(log.len());
                for (e, id) in &log {
                    if *e != last {
                        epochs += 1;
                        last = *e;
                    }
                    match id {
                        Some(id) => touched.push(*id),
                        None => all = true,
                    }
                }
                touched.sort_unstable();
                touched.dedup();
                // A NULL row, too many rows, or an epoch without rows (pruned, or from before
                // the log): reload.
                if all || log.len() as i64 > max_rows || epochs != epoch - since {
                    None
                } else {
                    let list = $list(&touched);
                    let classes = sqlx::query_as::<_, CiClass>(classes_sql)
                        .fetch_all(&mut *$tx)
                        .await?;
                    let (mut cis, mut edges) = (Vec::new(), Vec::new());
                    if !touched.is_empty() {
                        cis = sqlx::query_as::<_, GraphCi>($cis)
                            .bind(&list)
                            .fetch_all(&mut *$tx)
                            .await?;
                        edges = sqlx::query_as::<_, (Uuid, Uuid)>($edges)
                            .bind(&list)
                            .fetch_all(&mut *$tx)
                            .await?;
                    }
                    Some(GraphPatch {
                        epoch,
                        classes,
                        touched,
                        cis,
                        edges,
                    })
                }
            }
        }};
    }
    let out = in_snapshot!(db, tx =>
        read_all!(tx, CIS_SQLITE, EDGES_SQLITE, hex_list),
        read_all!(tx, CIS_PG, EDGES_PG, uuid_list));
    Ok(match out {
        Some(p) => GraphChanges::Patch(p),
        None => GraphChanges::Reload,
    })
}

// ------------------------------------------------------------------ the CI page, bounded reads

/// A relation seen from one of its ends, with the CI at the other end (read in one join).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RelatedCi {
    pub r_id: Uuid,
    pub r_source_id: Uuid,
    pub r_kind: String,
    pub r_target_id: Uuid,
    pub r_created_at: DateTime<Utc>,
    pub r_created_by: Option<Uuid>,
    /// `out` when the CI asked about is the source, `in` when it is the target.
    pub dir: String,
    #[sqlx(flatten)]
    pub other: Ci,
}

impl RelatedCi {
    pub fn relation(&self) -> Relation {
        Relation {
            id: self.r_id,
            source_id: self.r_source_id,
            kind: self.r_kind.clone(),
            target_id: self.r_target_id,
            created_at: self.r_created_at,
            created_by: self.r_created_by,
        }
    }
}

#[derive(sqlx::FromRow)]
struct CountedRow {
    #[sqlx(flatten)]
    row: RelatedCi,
    total: i64,
}

macro_rules! related_cols {
    () => {
        "r.id AS r_id, r.source_id AS r_source_id, r.kind AS r_kind, r.target_id AS r_target_id, \
         r.created_at AS r_created_at, r.created_by AS r_created_by, "
    };
}

/// One page of a CI's relations, both directions, with the CI at the other end, ordered by
/// direction (`out` first), kind, the other CI's name and the relation id; with `org`, only
/// relations whose other end belongs to that organization. Returns the page and the number of
/// such relations in all.
pub async fn relations_page(
    db: &crate::Db,
    ci: Uuid,
    org: Option<Uuid>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<RelatedCi>, u64)> {
    // Counted and ordered on the sort keys alone (an item behind a core switch has thousands
    // of relations); only the page's relations and items are read whole.
    let sql = concat!(
        "WITH k AS (SELECT r.id AS rid, c.id AS cid, 'out' AS dir, r.kind AS kind, c.name AS name \
         FROM ci_relations r JOIN cis c ON c.id = r.target_id \
         WHERE r.source_id = $1 AND ($2 IS NULL OR c.org_id = $2) \
         UNION ALL SELECT r.id, c.id, 'in', r.kind, c.name \
         FROM ci_relations r JOIN cis c ON c.id = r.source_id \
         WHERE r.target_id = $1 AND ($2 IS NULL OR c.org_id = $2)), \
         pg AS (SELECT rid, cid, dir, kind, name, COUNT(*) OVER () AS total FROM k \
         ORDER BY dir DESC, kind, name, rid LIMIT $3 OFFSET $4) \
         SELECT ",
        related_cols!(),
        "pg.dir AS dir, ",
        ci_cols_c!(),
        ", pg.total AS total FROM pg JOIN ci_relations r ON r.id = pg.rid \
         JOIN cis c ON c.id = pg.cid ORDER BY pg.dir DESC, pg.kind, pg.name, pg.rid"
    );
    let rows = on_ex!(Ex::from(db), |c| sqlx::query_as::<_, CountedRow>(sql)
        .bind(ci)
        .bind(org)
        .bind(limit)
        .bind(offset)
        .fetch_all(c)
        .await)?;
    let total = match rows.first() {
        Some(r) => r.total as u64,
        // Past the end (or nothing at all): the count on its own.
        None => relations_count(db, ci, org).await?,
    };
    Ok((rows.into_iter().map(|r| r.row).collect(), total))
}

/// How many relations [`relations_page`] pages through.
pub async fn relations_count(db: &crate::Db, ci: Uuid, org: Option<Uuid>) -> Result<u64> {
    let n: i64 = match org {
        // Every relation has both ends (they are deleted with their CIs): the indexes answer.
        None => on_ex!(Ex::from(db), |c| sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM ci_relations WHERE source_id = $1) \
             + (SELECT COUNT(*) FROM ci_relations WHERE target_id = $1)"
        )
        .bind(ci)
        .fetch_one(c)
        .await)?,
        Some(o) => on_ex!(Ex::from(db), |c| sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM ci_relations r JOIN cis c ON c.id = r.target_id \
             WHERE r.source_id = $1 AND c.org_id = $2) \
             + (SELECT COUNT(*) FROM ci_relations r JOIN cis c ON c.id = r.source_id \
             WHERE r.target_id = $1 AND c.org_id = $2)"
        )
        .bind(ci)
        .bind(o)
        .fetch_one(c)
        .await)?,
    };
    Ok(n.max(0) as u64)
}

/// One layer of the topology drawing: the CIs one relation away from the `frontier` (in its
/// order), following relations from source to target (`down`) or from target to source,
/// leaving out the CIs in `placed` and, with `org`, those of other organizations. Each CI
/// comes once, through its first relation in (frontier position, kind) order, and the CIs are
/// ordered by (frontier position, kind, name, id); at most `limit` are returned (at least
/// one when there are any), with how many distinct CIs there are in all.
pub async fn relation_layer(
    db: &crate::Db,
    frontier: &[Uuid],
    down: bool,
    org: Option<Uuid>,
    placed: &[Uuid],
    limit: i64,
) -> Result<(Vec<(RelatedCi, i64)>, u64)> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        row: RelatedCi,
        pos: i64,
        found: i64,
    }
    if frontier.is_empty() {
        return Ok((vec![], 0));
    }
    macro_rules! layer_sql {
        ($f:literal, $p:literal, $from:literal, $dir:literal) => {
            concat!(
                "WITH f(id, pos) AS (",
                $f,
                "), p(id) AS (",
                $p,
                "), cand AS (SELECT r.id AS rid, c.id AS cid, f.pos AS pos, r.kind AS kind, \
                 c.name AS name, ROW_NUMBER() OVER (PARTITION BY c.id ORDER BY f.pos, r.kind) AS rn \
                 FROM f JOIN ci_relations r ON ",
                $from,
                " WHERE c.id NOT IN (SELECT id FROM p) AND ($3 IS NULL OR c.org_id = $3)), \
                 pg AS (SELECT rid, cid, pos, kind, name, COUNT(*) OVER () AS found FROM cand \
                 WHERE rn = 1 ORDER BY pos, kind, name, cid LIMIT $4) \
                 SELECT ",
                related_cols!(),
                $dir,
                " AS dir, pg.pos AS pos, ",
                ci_cols_c!(),
                ", pg.found AS found FROM pg JOIN ci_relations r ON r.id = pg.rid \
                 JOIN cis c ON c.id = pg.cid ORDER BY pg.pos, pg.kind, pg.name, pg.cid"
            )
        };
    }
    let sql = match (db, down) {
        (crate::Db::Sqlite(_), true) => layer_sql!(
            "SELECT unhex(value), key FROM json_each($1)",
            "SELECT unhex(value) FROM json_each($2)",
            "r.source_id = f.id JOIN cis c ON c.id = r.target_id",
            "'out'"
        ),
        (crate::Db::Sqlite(_), false) => layer_sql!(
            "SELECT unhex(value), key FROM json_each($1)",
            "SELECT unhex(value) FROM json_each($2)",
            "r.target_id = f.id JOIN cis c ON c.id = r.source_id",
            "'in'"
        ),
        (crate::Db::Pg(_), true) => layer_sql!(
            "SELECT value::uuid, ord - 1 FROM json_array_elements_text($1::json) WITH ORDINALITY AS t(value, ord)",
            "SELECT value::uuid FROM json_array_elements_text($2::json)",
            "r.source_id = f.id JOIN cis c ON c.id = r.target_id",
            "'out'"
        ),
        (crate::Db::Pg(_), false) => layer_sql!(
            "SELECT value::uuid, ord - 1 FROM json_array_elements_text($1::json) WITH ORDINALITY AS t(value, ord)",
            "SELECT value::uuid FROM json_array_elements_text($2::json)",
            "r.target_id = f.id JOIN cis c ON c.id = r.source_id",
            "'in'"
        ),
    };
    let (f, p) = match db {
        crate::Db::Sqlite(_) => (hex_list(frontier), hex_list(placed)),
        crate::Db::Pg(_) => (uuid_list(frontier), uuid_list(placed)),
    };
    let rows = on_ex!(Ex::from(db), |c| sqlx::query_as::<_, Row>(sql)
        .bind(&f)
        .bind(&p)
        .bind(org)
        .bind(limit.max(1))
        .fetch_all(c)
        .await)?;
    let found = rows.first().map(|r| r.found.max(0) as u64).unwrap_or(0);
    Ok((
        rows.into_iter()
            .take(limit.max(0) as usize)
            .map(|r| (r.row, r.pos))
            .collect(),
        found,
    ))
}

/// The relations between the CIs in `ids` (both ends among them), at most `limit`, in id order.
pub async fn relations_among(db: &crate::Db, ids: &[Uuid], limit: i64) -> Result<Vec<Relation>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let rows = match db {
        crate::Db::Sqlite(p) => {
            sqlx::query_as::<_, Relation>(concat!(
                "SELECT ",
                rel_cols!(),
                " FROM ci_relations WHERE source_id IN (SELECT unhex(value) FROM json_each($1)) \
                 AND target_id IN (SELECT unhex(value) FROM json_each($1)) ORDER BY id LIMIT $2"
            ))
            .bind(hex_list(ids))
            .bind(limit)
            .fetch_all(p)
            .await?
        }
        crate::Db::Pg(p) => {
            sqlx::query_as::<_, Relation>(concat!(
                "SELECT ",
                rel_cols!(),
                " FROM ci_relations WHERE source_id IN (SELECT value::uuid FROM json_array_elements_text($1::json)) \
                 AND target_id IN (SELECT value::uuid FROM json_array_elements_text($1::json)) ORDER BY id LIMIT $2"
            ))
            .bind(uuid_list(ids))
            .bind(limit)
            .fetch_all(p)
            .await?
        }
    };
    Ok(rows)
}

/// A CI read inside a write transaction for changing it: on PostgreSQL the row is locked
/// (`FOR UPDATE`) until the transaction ends, so a concurrent writer waits and then reads what
/// this one wrote; SQLite write transactions are serialized already (`BEGIN IMMEDIATE`).
pub async fn get_ci_for_update(tx: &mut Tx, id: Uuid) -> Result<Option<Ci>> {
    Ok(match tx {
        Tx::Sqlite(_) => get_ci(tx, id).await?,
        Tx::Pg(t) => {
            sqlx::query_as::<_, Ci>(concat!(
                "SELECT ",
                ci_cols!(),
                " FROM cis WHERE id = $1 FOR UPDATE"
            ))
            .bind(id)
            .fetch_optional(&mut **t)
            .await?
        }
    })
}

/// What changes whenever a class or attribute is added or a class changes: the number of
/// classes and attributes and their latest change. The classes and attributes are only ever
/// inserted (and classes updated with `updated_at`), so equal keys mean an equal schema; a
/// cache of the schema compares this (one cheap query) before it trusts what it holds.
pub async fn schema_key(db: &crate::Db) -> Result<(i64, String, i64, String)> {
    Ok(match db {
        crate::Db::Sqlite(p) => {
            sqlx::query_as::<_, (i64, String, i64, String)>(
                "SELECT (SELECT COUNT(*) FROM ci_classes), \
                 (SELECT COALESCE(MAX(updated_at), '') FROM ci_classes), \
                 (SELECT COUNT(*) FROM ci_attributes), \
                 (SELECT COALESCE(MAX(created_at), '') FROM ci_attributes)",
            )
            .fetch_one(p)
            .await?
        }
        crate::Db::Pg(p) => {
            sqlx::query_as::<_, (i64, String, i64, String)>(
                "SELECT (SELECT COUNT(*) FROM ci_classes), \
                 (SELECT COALESCE(MAX(updated_at)::text, '') FROM ci_classes), \
                 (SELECT COUNT(*) FROM ci_attributes), \
                 (SELECT COALESCE(MAX(created_at)::text, '') FROM ci_attributes)",
            )
            .fetch_one(p)
            .await?
        }
    })
}

/// A version of a CI without its snapshot (what a list of versions shows).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CiVersionHead {
    pub version: i64,
    pub valid_from: DateTime<Utc>,
    pub action: String,
    pub actor_name: String,
}

/// The newest `limit` versions of a CI without their snapshots, newest first, and how many
/// versions it has in all (counted only when there are more than `limit`).
pub async fn version_heads(
    db: &crate::Db,
    ci: Uuid,
    limit: i64,
) -> Result<(Vec<CiVersionHead>, u64)> {
    let sql = "SELECT version, valid_from, action, actor_name FROM ci_versions \
               WHERE ci_id = $1 ORDER BY version DESC LIMIT $2";
    let count = "SELECT COUNT(*) FROM ci_versions WHERE ci_id = $1";
    let rows = match db {
        crate::Db::Sqlite(p) => {
            sqlx::query_as::<_, CiVersionHead>(sql)
                .bind(ci)
                .bind(limit)
                .fetch_all(p)
                .await?
        }
        crate::Db::Pg(p) => {
            sqlx::query_as::<_, CiVersionHead>(sql)
                .bind(ci)
                .bind(limit)
                .fetch_all(p)
                .await?
        }
    };
    if (rows.len() as i64) < limit {
        let n = rows.len() as u64;
        return Ok((rows, n));
    }
    let total = match db {
        crate::Db::Sqlite(p) => {
            sqlx::query_scalar::<_, i64>(count)
                .bind(ci)
                .fetch_one(p)
                .await?
        }
        crate::Db::Pg(p) => {
            sqlx::query_scalar::<_, i64>(count)
                .bind(ci)
                .fetch_one(p)
                .await?
        }
    };
    Ok((rows, total.max(0) as u64))
}
