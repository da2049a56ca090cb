//! The CMDB (R-10.2, §6.2.3–§6.2.10): classes with typed attribute schemas, configuration
//! items (owner, location, vendor, contract and warranty, cost and TCO, criticality, lifecycle,
//! GB 17859 level, data security level, patches), every version kept, typed relations checked
//! against the classes, impact analysis, availability from incident outages, and the CIs a
//! ticket affects with the impact they suggest.
//!
//! Everybody reads (`CmdbRead`); customers only their own organization's items, and another
//! organization's item answers exactly like a missing one. Administrators and engineers write
//! (`CmdbWrite`); administrators extend the schema (`CmdbSchema`). Every change of an item
//! writes a version and an audit entry with entity `ci` and the item's id.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;
use yunwei_domain::calendar::{Calendar, CalendarSpec};
use yunwei_domain::cmdb::{self as rules, AttrDef, AttrKind, Category, RelKind};
use yunwei_domain::{validate, Action, DomainError, ErrorCode};
use yunwei_store::cmdb::{
    self as store, Ci, CiAttribute, CiClass, CiVersion, LinkedTicket, Patch, Relation,
};
use yunwei_store::{audit, orgs, sla, Ex, Tx};

use crate::cmdb_graph::Direction;
use crate::{snapshot, Actor, App, Page, Result};

// ------------------------------------------------------------------------------------- inputs

/// A configuration item as written (create, replace, import).
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiInput {
    /// Class code, e.g. `physical_server`.
    pub class: String,
    /// Owner organization (default: the caller's).
    pub org_id: Option<Uuid>,
    /// Owner department (of that organization); absent: the organization as a whole.
    pub department_id: Option<Uuid>,
    /// Unique within the organization; imports match on it.
    pub external_key: String,
    pub name: String,
    /// planned, in_use (default), maintenance, retired.
    pub status: Option<String>,
    /// general (default) or critical.
    pub criticality: Option<String>,
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
    /// GB 17859 level 1–5; only on classes that carry it.
    pub security_level: Option<i64>,
    /// general, important or core; only on classes that carry it.
    pub data_level: Option<String>,
    /// Business calendar of the service hours (default 24×7).
    pub calendar_id: Option<Uuid>,
    /// Attribute values by attribute code.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct CiQuery {
    /// Class code.
    pub class: Option<String>,
    pub org_id: Option<Uuid>,
    pub status: Option<String>,
    /// Words in the name, external key, class, location, vendor, contract number, text
    /// attributes (IP addresses whole or by their start) or owner organization or
    /// department; Chinese is segmented into words. Results are then ranked by relevance
    /// (`cursor` is an offset). Without a search index on the node: part of the name or
    /// external key.
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRelation {
    pub source_id: Uuid,
    /// runs_on, depends_on, connected_to, located_in, powered_by, backed_up_by, member_of.
    pub kind: String,
    pub target_id: Uuid,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPatch {
    pub patch_code: String,
    pub title: String,
    /// low, medium, high or critical.
    pub severity: String,
    pub applied_at: DateTime<Utc>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClass {
    /// Lower-case letters, digits, `_`.
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// One of the categories (the relation rules use it).
    pub category: String,
    #[serde(default)]
    pub has_security_level: bool,
    #[serde(default)]
    pub has_data_level: bool,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAttribute {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// text, number, date, enum, bool, ip, cidr, reference.
    pub kind: String,
    /// New attributes cannot be required (existing items would not have them).
    #[serde(default)]
    pub options: Vec<String>,
}

// ------------------------------------------------------------------------------------ outputs

/// A class with its attribute schema.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClassDetail {
    #[serde(flatten)]
    pub class: CiClass,
    pub attributes: Vec<AttributeView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttributeView {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub kind: String,
    pub required: bool,
    pub options: Vec<String>,
    pub builtin: bool,
}

/// A configuration item as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CiView {
    #[serde(flatten)]
    pub ci: Ci,
    pub class_code: String,
    pub class_name_zh: String,
    pub class_name_en: String,
    pub category: String,
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// Total cost of ownership to date in fen: purchase cost plus the yearly running
    /// cost over the time since purchase (or over one year when the purchase date is unknown).
    pub tco: Option<i64>,
}

/// A CI in lists of related, impacted or affected items.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CiBrief {
    pub id: Uuid,
    pub external_key: String,
    pub name: String,
    pub class_code: String,
    pub class_name_zh: String,
    pub class_name_en: String,
    pub category: String,
    pub org_id: Uuid,
    pub department_id: Option<Uuid>,
    pub status: String,
    pub criticality: String,
}

/// A relation seen from one of its ends.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RelationView {
    #[serde(flatten)]
    pub relation: Relation,
    /// `out` when the item is the source, `in` when it is the target.
    pub direction: String,
    /// The item at the other end.
    pub other: CiBrief,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NamedRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImpactItem {
    #[serde(flatten)]
    pub ci: CiBrief,
    /// Relations between it and the item analysed.
    pub depth: u32,
}

/// Everything that depends on an item (or that it depends on), transitively.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Impact {
    pub root: CiBrief,
    /// One page of the items reached, by depth, then name, then id.
    pub items: Vec<ImpactItem>,
    /// How many items the caller may see were reached (all pages).
    pub total: u64,
    /// The page: items `offset` … `offset + limit - 1` of `total`.
    pub offset: u64,
    pub limit: u64,
    /// Among all items reached (not only this page), like the organizations and departments.
    pub business_services: Vec<CiBrief>,
    pub organizations: Vec<NamedRef>,
    pub departments: Vec<NamedRef>,
}

/// Paging of an impact or dependency analysis.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct ImpactQuery {
    /// Items per page: 1–1000, default 200.
    pub limit: Option<i64>,
    /// Items to skip (0 or more; default 0).
    pub offset: Option<i64>,
}

impl ImpactQuery {
    /// (limit, offset), checked.
    pub fn page(&self) -> Result<(usize, usize)> {
        let limit = match self.limit {
            None => 200,
            Some(n) if (1..=1000).contains(&n) => n as usize,
            Some(_) => return Err(DomainError::invalid("limit").into()),
        };
        let offset = match self.offset {
            None => 0,
            Some(n) if (0..=i64::from(u32::MAX)).contains(&n) => n as usize,
            Some(_) => return Err(DomainError::invalid("offset").into()),
        };
        Ok((limit, offset))
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct AvailabilityQuery {
    /// RFC 3339; default 30 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339; default now.
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Outage {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

/// Availability over a period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AvailabilityReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The service-hours calendar; absent: 24×7.
    pub calendar: Option<String>,
    pub service_seconds: i64,
    pub outage_seconds: i64,
    /// Between 0 and 1.
    pub ratio: f64,
    /// Outages of incidents linked to the item or to what it depends on.
    pub outages: Vec<Outage>,
}

/// The impact a ticket's affected CIs suggest.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImpactSuggestionView {
    /// one_department, several_departments or whole_organization; absent without CIs.
    pub breadth: Option<String>,
    /// general or critical; absent without CIs.
    pub criticality: Option<String>,
    /// The CIs linked to the ticket.
    pub cis: Vec<CiBrief>,
    /// Business services reached from them.
    pub business_services: Vec<CiBrief>,
    pub departments: Vec<NamedRef>,
    pub organizations: Vec<NamedRef>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketCiLink {
    /// The CI by id …
    pub ci_id: Option<Uuid>,
    /// … or by external key or exact name (the ticket's organization first, then the
    /// provider's).
    pub key: Option<String>,
}

// ------------------------------------------------------------------------------------ helpers

/// Classes and attributes loaded once per use case.
pub(crate) struct Schema {
    pub classes: Vec<CiClass>,
    pub attrs: HashMap<Uuid, Vec<CiAttribute>>,
}

impl Schema {
    pub fn by_id(&self, id: Uuid) -> Option<&CiClass> {
        self.classes.iter().find(|c| c.id == id)
    }

    /// By code or Chinese or English name.
    pub fn by_code(&self, s: &str) -> Option<&CiClass> {
        let s = s.trim();
        self.classes.iter().find(|c| c.code == s).or_else(|| {
            self.classes
                .iter()
                .find(|c| c.name_zh == s || c.name_en == s)
        })
    }

    pub fn defs(&self, class: Uuid) -> Vec<AttrDef> {
        self.attrs
            .get(&class)
            .map(|v| v.iter().map(def_of).collect())
            .unwrap_or_default()
    }

    pub fn category(&self, class: Uuid) -> Category {
        self.by_id(class)
            .and_then(|c| Category::parse(&c.category))
            .unwrap_or(Category::Software)
    }

    pub fn brief(&self, c: &Ci) -> CiBrief {
        let cl = self.by_id(c.class_id);
        CiBrief {
            id: c.id,
            external_key: c.external_key.clone(),
            name: c.name.clone(),
            class_code: cl.map(|x| x.code.clone()).unwrap_or_default(),
            class_name_zh: cl.map(|x| x.name_zh.clone()).unwrap_or_default(),
            class_name_en: cl.map(|x| x.name_en.clone()).unwrap_or_default(),
            category: cl.map(|x| x.category.clone()).unwrap_or_default(),
            org_id: c.org_id,
            department_id: c.department_id,
            status: c.status.clone(),
            criticality: c.criticality.clone(),
        }
    }

    pub fn view(&self, c: Ci, now: DateTime<Utc>) -> CiView {
        let b = self.brief(&c);
        let attributes =
            serde_json::from_str::<Map<String, Value>>(&c.attributes_json).unwrap_or_default();
        CiView {
            tco: tco(&c, now),
            ci: c,
            class_code: b.class_code,
            class_name_zh: b.class_name_zh,
            class_name_en: b.class_name_en,
            category: b.category,
            attributes,
        }
    }
}

fn def_of(a: &CiAttribute) -> AttrDef {
    AttrDef {
        code: a.code.clone(),
        kind: AttrKind::parse(&a.kind).unwrap_or(AttrKind::Text),
        required: a.required,
        options: serde_json::from_str(&a.options_json).unwrap_or_default(),
    }
}

fn attr_view(a: &CiAttribute) -> AttributeView {
    AttributeView {
        code: a.code.clone(),
        name_zh: a.name_zh.clone(),
        name_en: a.name_en.clone(),
        kind: a.kind.clone(),
        required: a.required,
        options: serde_json::from_str(&a.options_json).unwrap_or_default(),
        builtin: a.builtin,
    }
}

/// Purchase cost plus running cost over the years since purchase (one year when unknown).
pub fn tco(c: &Ci, now: DateTime<Utc>) -> Option<i64> {
    if c.purchase_cost.is_none() && c.annual_cost.is_none() {
        return None;
    }
    let running = c.annual_cost.map(|a| match c.purchased_on {
        Some(d) => {
            let days = (now.date_naive() - d).num_days().max(0);
            (a as i128 * days as i128 / 365) as i64
        }
        None => a,
    });
    Some(c.purchase_cost.unwrap_or(0) + running.unwrap_or(0))
}

fn opt_field(field: &str, v: Option<&str>) -> Result<Option<String>> {
    Ok(validate::opt_text(field, v, rules::FIELD_MAX)?)
}

/// A CI validated against its class, without ids and times (filled in by the caller).
pub(crate) struct Checked {
    pub class_id: Uuid,
    pub org_id: Uuid,
    pub department_id: Option<Uuid>,
    pub external_key: String,
    pub name: String,
    pub status: String,
    pub criticality: String,
    pub location: Option<String>,
    pub vendor: Option<String>,
    pub contract_no: Option<String>,
    pub contract_end: Option<NaiveDate>,
    pub warranty_end: Option<NaiveDate>,
    pub purchased_on: Option<NaiveDate>,
    pub purchase_cost: Option<i64>,
    pub annual_cost: Option<i64>,
    pub security_level: Option<i64>,
    pub data_level: Option<String>,
    pub calendar_id: Option<Uuid>,
    pub attributes: Map<String, Value>,
}

impl Checked {
    pub fn apply(&self, c: &mut Ci) {
        c.class_id = self.class_id;
        c.department_id = self.department_id;
        c.external_key = self.external_key.clone();
        c.name = self.name.clone();
        c.status = self.status.clone();
        c.criticality = self.criticality.clone();
        c.location = self.location.clone();
        c.vendor = self.vendor.clone();
        c.contract_no = self.contract_no.clone();
        c.contract_end = self.contract_end;
        c.warranty_end = self.warranty_end;
        c.purchased_on = self.purchased_on;
        c.purchase_cost = self.purchase_cost;
        c.annual_cost = self.annual_cost;
        c.security_level = self.security_level;
        c.data_level = self.data_level.clone();
        c.calendar_id = self.calendar_id;
        c.attributes_json = Value::Object(self.attributes.clone()).to_string();
    }

    pub fn new_ci(&self, now: DateTime<Utc>) -> Ci {
        let mut c = Ci {
            id: yunwei_domain::ids::new_id(),
            org_id: self.org_id,
            department_id: None,
            class_id: self.class_id,
            external_key: String::new(),
            name: String::new(),
            status: String::new(),
            criticality: String::new(),
            location: None,
            vendor: None,
            contract_no: None,
            contract_end: None,
            warranty_end: None,
            purchased_on: None,
            purchase_cost: None,
            annual_cost: None,
            security_level: None,
            data_level: None,
            calendar_id: None,
            attributes_json: "{}".into(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        self.apply(&mut c);
        c
    }
}

/// Check everything that needs no database; the organization is decided by the caller.
pub(crate) fn check_input(schema: &Schema, org_id: Uuid, i: &CiInput) -> Result<Checked> {
    let class = schema
        .by_code(&i.class)
        .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "class"))?;
    let status = match i.status.as_deref().map(str::trim) {
        None | Some("") => "in_use",
        Some(s) => rules::parse_status(s).ok_or_else(|| DomainError::invalid("status"))?,
    };
    let criticality = match i.criticality.as_deref().map(str::trim) {
        None | Some("") => "general",
        Some(s) => {
            rules::parse_criticality(s).ok_or_else(|| DomainError::invalid("criticality"))?
        }
    };
    if let Some(l) = i.security_level {
        if !class.has_security_level || !rules::security_level_ok(l) {
            return Err(DomainError::invalid("security_level").into());
        }
    }
    let data_level = match i.data_level.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => {
            let l = rules::parse_data_level(s).ok_or_else(|| DomainError::invalid("data_level"))?;
            if !class.has_data_level {
                return Err(DomainError::invalid("data_level").into());
            }
            Some(l.to_string())
        }
    };
    for (f, v) in [
        ("purchase_cost", i.purchase_cost),
        ("annual_cost", i.annual_cost),
    ] {
        if v.is_some_and(|x| x < 0) {
            return Err(DomainError::invalid(f).into());
        }
    }
    let defs = schema.defs(class.id);
    let attributes = rules::validate_attributes(&defs, &i.attributes)?;
    Ok(Checked {
        class_id: class.id,
        org_id,
        department_id: i.department_id,
        external_key: rules::external_key(&i.external_key)?,
        name: validate::name("name", &i.name, rules::NAME_MAX)?,
        status: status.into(),
        criticality: criticality.into(),
        location: opt_field("location", i.location.as_deref())?,
        vendor: opt_field("vendor", i.vendor.as_deref())?,
        contract_no: opt_field("contract_no", i.contract_no.as_deref())?,
        contract_end: i.contract_end,
        warranty_end: i.warranty_end,
        purchased_on: i.purchased_on,
        purchase_cost: i.purchase_cost,
        annual_cost: i.annual_cost,
        security_level: i.security_level,
        data_level,
        calendar_id: i.calendar_id,
        attributes,
    })
}

/// The version snapshot: the item as shown, with its attributes.
fn version_of(view: &CiView, action: &str, actor: &Actor, at: DateTime<Utc>) -> CiVersion {
    CiVersion {
        id: yunwei_domain::ids::new_id(),
        ci_id: view.ci.id,
        version: view.ci.version,
        valid_from: at,
        action: action.into(),
        actor_name: actor.username.clone(),
        snapshot_json: serde_json::to_string(view).unwrap_or_else(|_| "{}".into()),
    }
}

fn calendar_of_spec(json: &str) -> Option<Calendar> {
    let spec: CalendarSpec = serde_json::from_str(json).ok()?;
    Calendar::new(spec).ok()
}

/// One page (`offset`, `limit`) of `items` in the order of `key`, given that `items` is
/// already ordered by the key's high half (the depth, as a breadth-first walk yields them):
/// only the depths the page touches are sorted.
fn page_in_order(
    items: &mut [(u32, u32)],
    offset: usize,
    limit: usize,
    key: impl Fn(&(u32, u32)) -> u64,
) -> Vec<(u32, u32)> {
    let end = offset.saturating_add(limit).min(items.len());
    if offset >= end {
        return vec![];
    }
    debug_assert!(items.windows(2).all(|w| w[0].1 <= w[1].1));
    // The run of the depth at `offset` starts at `lo`; the run of the depth at `end - 1`
    // ends at `hi`.
    let (d_lo, d_hi) = (items[offset].1, items[end - 1].1);
    let lo = items.partition_point(|x| x.1 < d_lo);
    let hi = items.partition_point(|x| x.1 <= d_hi);
    items[lo..hi].sort_unstable_by_key(|x| key(x));
    items[offset..end].to_vec()
}

fn sorted_refs(mut v: Vec<NamedRef>) -> Vec<NamedRef> {
    v.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    v
}

impl App {
    pub(crate) async fn cmdb_schema<'a>(&self, ex: impl Into<Ex<'a>>) -> Result<Schema> {
        let mut ex = ex.into();
        let (classes, attrs) = match &mut ex {
            Ex::Db(d) => (
                store::list_classes(*d).await?,
                store::list_attributes(*d).await?,
            ),
            Ex::Tx(t) => (
                store::list_classes(&mut **t).await?,
                store::list_attributes(&mut **t).await?,
            ),
            Ex::Conn(c) => (
                store::list_classes(&mut **c).await?,
                store::list_attributes(&mut **c).await?,
            ),
        };
        let mut map: HashMap<Uuid, Vec<CiAttribute>> = HashMap::new();
        for a in attrs {
            map.entry(a.class_id).or_default().push(a);
        }
        Ok(Schema {
            classes,
            attrs: map,
        })
    }

    /// Seed the classes and attributes of the standard that are missing (first start and
    /// upgrades; safe to repeat and to run from several nodes).
    pub async fn seed_cmdb(&self) -> Result<()> {
        let schema = self.cmdb_schema(&self.db).await?;
        let missing =
            rules::SEED
                .iter()
                .any(|s| match schema.classes.iter().find(|c| c.code == s.code) {
                    None => true,
                    Some(c) => s.attrs.iter().any(|a| {
                        !schema
                            .attrs
                            .get(&c.id)
                            .is_some_and(|v| v.iter().any(|x| x.code == a.code))
                    }),
                });
        if !missing {
            return Ok(());
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let schema = self.cmdb_schema(&mut tx).await?;
        for s in rules::SEED {
            let class = match schema.classes.iter().find(|c| c.code == s.code) {
                Some(c) => c.clone(),
                None => {
                    let c = CiClass {
                        id: yunwei_domain::ids::new_id(),
                        code: s.code.into(),
                        name_zh: s.name_zh.into(),
                        name_en: s.name_en.into(),
                        category: s.category.as_str().into(),
                        has_security_level: s.has_security_level,
                        has_data_level: s.has_data_level,
                        builtin: true,
                        created_at: now,
                        updated_at: now,
                    };
                    store::insert_class(&mut tx, &c).await?;
                    c
                }
            };
            let have: Vec<&CiAttribute> = schema
                .attrs
                .get(&class.id)
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            for (pos, a) in s.attrs.iter().enumerate() {
                if have.iter().any(|x| x.code == a.code) {
                    continue;
                }
                store::insert_attribute(
                    &mut tx,
                    &CiAttribute {
                        id: yunwei_domain::ids::new_id(),
                        class_id: class.id,
                        code: a.code.into(),
                        name_zh: a.name_zh.into(),
                        name_en: a.name_en.into(),
                        kind: a.kind.as_str().into(),
                        required: a.required,
                        options_json: serde_json::to_string(a.options)
                            .unwrap_or_else(|_| "[]".into()),
                        position: pos as i64,
                        builtin: true,
                        created_at: now,
                    },
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    // ------------------------------------------------------------------------------ schema

    pub async fn list_ci_classes(&self, actor: &Actor) -> Result<Vec<ClassDetail>> {
        actor.require(Action::CmdbRead)?;
        let s = self.cached_cmdb_schema().await?;
        Ok(s.classes
            .iter()
            .map(|c| ClassDetail {
                class: c.clone(),
                attributes: s
                    .attrs
                    .get(&c.id)
                    .map(|v| v.iter().map(attr_view).collect())
                    .unwrap_or_default(),
            })
            .collect())
    }

    pub async fn create_ci_class(&self, actor: &Actor, input: NewClass) -> Result<ClassDetail> {
        actor.require(Action::CmdbSchema)?;
        let code = input.code.trim().to_string();
        if !rules::code_ok(&code) {
            return Err(DomainError::invalid("code").into());
        }
        let category =
            Category::parse(&input.category).ok_or_else(|| DomainError::invalid("category"))?;
        let now = self.now();
        let c = CiClass {
            id: yunwei_domain::ids::new_id(),
            code,
            name_zh: validate::name("name_zh", &input.name_zh, 100)?,
            name_en: validate::name("name_en", &input.name_en, 100)?,
            category: category.as_str().into(),
            has_security_level: input.has_security_level,
            has_data_level: input.has_data_level,
            builtin: false,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin_write().await?;
        store::insert_class(&mut tx, &c).await.map_err(|e| {
            if e.is_unique_on("code") {
                DomainError::field(ErrorCode::NameTaken, "code").into()
            } else {
                crate::Error::from(e)
            }
        })?;
        let mut e = actor.entry("create", "ci_class", c.id, None);
        e.after = snapshot(&c);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(ClassDetail {
            class: c,
            attributes: vec![],
        })
    }

    pub async fn add_ci_attribute(
        &self,
        actor: &Actor,
        class_id: Uuid,
        input: NewAttribute,
    ) -> Result<ClassDetail> {
        actor.require(Action::CmdbSchema)?;
        let code = input.code.trim().to_string();
        if !rules::code_ok(&code) {
            return Err(DomainError::invalid("code").into());
        }
        let kind = AttrKind::parse(&input.kind).ok_or_else(|| DomainError::invalid("kind"))?;
        let options: Vec<String> = input
            .options
            .iter()
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
            .collect();
        if (kind == AttrKind::Enum) == options.is_empty() && !(kind == AttrKind::Reference) {
            return Err(DomainError::invalid("options").into());
        }
        if options.iter().any(|o| o.chars().count() > 100) {
            return Err(DomainError::invalid("options").into());
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let schema = self.cmdb_schema(&mut tx).await?;
        let class = schema
            .by_id(class_id)
            .cloned()
            .ok_or(DomainError::not_found())?;
        if kind == AttrKind::Reference && options.iter().any(|o| schema.by_code(o).is_none()) {
            return Err(DomainError::field(ErrorCode::InvalidReference, "options").into());
        }
        let existing = schema.attrs.get(&class_id).map(Vec::len).unwrap_or(0);
        let a = CiAttribute {
            id: yunwei_domain::ids::new_id(),
            class_id,
            code,
            name_zh: validate::name("name_zh", &input.name_zh, 100)?,
            name_en: validate::name("name_en", &input.name_en, 100)?,
            kind: kind.as_str().into(),
            required: false,
            options_json: serde_json::to_string(&options).unwrap_or_else(|_| "[]".into()),
            position: existing as i64,
            builtin: false,
            created_at: now,
        };
        store::insert_attribute(&mut tx, &a).await.map_err(|e| {
            if e.is_unique_on("code") || e.is_unique_on("ci_attributes") {
                DomainError::field(ErrorCode::NameTaken, "code").into()
            } else {
                crate::Error::from(e)
            }
        })?;
        let mut e = actor.entry("add_attribute", "ci_class", class_id, None);
        e.after = snapshot(&a);
        audit::append(&mut tx, e, now).await?;
        let mut attrs: Vec<AttributeView> = schema
            .attrs
            .get(&class_id)
            .map(|v| v.iter().map(attr_view).collect())
            .unwrap_or_default();
        attrs.push(attr_view(&a));
        tx.commit().await?;
        Ok(ClassDetail {
            class,
            attributes: attrs,
        })
    }

    // --------------------------------------------------------------------------------- items

    /// An item the caller may read (another organization's answers like a missing one).
    async fn readable_ci(&self, actor: &Actor, id: Uuid) -> Result<Ci> {
        actor.require(Action::CmdbRead)?;
        match store::get_ci(&self.db, id).await? {
            Some(c) if actor.scope().allows(c.org_id) => Ok(c),
            _ => Err(DomainError::not_found().into()),
        }
    }

    pub async fn list_cis(&self, actor: &Actor, q: CiQuery) -> Result<Page<CiView>> {
        actor.require(Action::CmdbRead)?;
        let limit = crate::page_limit(q.limit)?;
        let schema = self.cmdb_schema(&self.db).await?;
        let class_id = match q.class.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => Some(
                schema
                    .by_code(c)
                    .map(|x| x.id)
                    .ok_or_else(|| DomainError::invalid("class"))?,
            ),
        };
        let status = match q.status.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(
                rules::parse_status(s)
                    .ok_or_else(|| DomainError::invalid("status"))?
                    .to_string(),
            ),
        };
        let org = match (actor.scope().org_filter(), q.org_id) {
            (Some(own), Some(o)) if o != own => {
                return Ok(Page {
                    items: vec![],
                    next_cursor: None,
                })
            }
            (Some(own), _) => Some(own),
            (None, o) => o,
        };
        let text = q.q.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        // With `q` and a built index: ranked by relevance, paged by offset (crate::ci_search).
        if let Some(index) = text.as_ref().and_then(|_| self.ci_search_index()) {
            let offset = crate::ci_search::offset_cursor(q.cursor.as_deref())?;
            let f = store::CiFilter {
                org,
                class_id,
                status,
                q: text,
                after: None,
                limit,
            };
            return self.search_ci_page(index, &schema, &f, offset, limit).await;
        }
        let f = store::CiFilter {
            org,
            class_id,
            status,
            q: text,
            after: crate::ci_search::id_cursor(q.cursor.as_deref())?,
            limit: limit + 1,
        };
        let mut rows = store::list_cis(&self.db, &f).await?;
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|c| c.id.to_string())
        } else {
            None
        };
        let now = self.now();
        Ok(Page {
            items: rows.into_iter().map(|c| schema.view(c, now)).collect(),
            next_cursor,
        })
    }

    /// An item as it is, or as it was at `as_of` (from its versions; not found before it
    /// existed).
    pub async fn get_ci(
        &self,
        actor: &Actor,
        id: Uuid,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<CiView> {
        let c = self.readable_ci(actor, id).await?;
        let schema = self.cmdb_schema(&self.db).await?;
        self.view_at(&schema, c, as_of).await
    }

    /// Every version of an item, newest first.
    pub async fn ci_versions(&self, actor: &Actor, id: Uuid) -> Result<Vec<CiVersion>> {
        self.readable_ci(actor, id).await?;
        Ok(store::versions(&self.db, id).await?)
    }

    async fn check_refs(
        &self,
        tx: &mut Tx,
        schema: &Schema,
        k: &Checked,
        self_id: Option<Uuid>,
    ) -> Result<()> {
        match orgs::get_org(&mut *tx, k.org_id).await? {
            Some(_) => {}
            None => return Err(DomainError::field(ErrorCode::InvalidReference, "org_id").into()),
        }
        if let Some(d) = k.department_id {
            match orgs::get_department(&mut *tx, d).await? {
                Some(dep) if dep.org_id == k.org_id => {}
                _ => {
                    return Err(
                        DomainError::field(ErrorCode::InvalidReference, "department_id").into(),
                    )
                }
            }
        }
        if let Some(c) = k.calendar_id {
            if sla::get_calendar(&mut *tx, c).await?.is_none() {
                return Err(DomainError::field(ErrorCode::InvalidReference, "calendar_id").into());
            }
        }
        let defs = schema.defs(k.class_id);
        for (code, key, classes) in rules::references(&defs, &k.attributes) {
            let bad =
                || DomainError::field(ErrorCode::CiAttributeInvalid, format!("attributes.{code}"));
            let target = store::get_by_key(&mut *tx, k.org_id, key)
                .await?
                .ok_or_else(bad)?;
            if Some(target.id) == self_id {
                return Err(bad().into());
            }
            if !classes.is_empty() {
                let tc = schema.by_id(target.class_id).map(|c| c.code.as_str());
                if !classes.iter().any(|c| Some(c.as_str()) == tc) {
                    return Err(bad().into());
                }
            }
        }
        Ok(())
    }

    fn write_org(&self, actor: &Actor, requested: Option<Uuid>) -> Uuid {
        requested.unwrap_or(actor.org_id)
    }

    pub async fn create_ci(&self, actor: &Actor, input: CiInput) -> Result<CiView> {
        actor.require(Action::CmdbWrite)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let schema = self.cmdb_schema(&mut tx).await?;
        let k = check_input(&schema, self.write_org(actor, input.org_id), &input)?;
        self.check_refs(&mut tx, &schema, &k, None).await?;
        let c = k.new_ci(now);
        store::insert_ci(&mut tx, &c).await.map_err(key_taken)?;
        let view = schema.view(c, now);
        store::insert_version(&mut tx, &version_of(&view, "create", actor, now)).await?;
        store::bump_epoch(&mut tx, Some(&[view.ci.id])).await?;
        let mut e = actor.entry("create", "ci", view.ci.id, Some(view.ci.org_id));
        e.after = snapshot(&view);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Replace an item's fields (the organization stays). With `expected_version`, the item
    /// must still be at that version: checked inside the write transaction, so of two saves
    /// of the same version one wins and the other is refused (409 `conflict` on `version`).
    pub async fn update_ci(
        &self,
        actor: &Actor,
        id: Uuid,
        input: CiInput,
        expected_version: Option<i64>,
    ) -> Result<CiView> {
        actor.require(Action::CmdbWrite)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = match store::get_ci_for_update(&mut tx, id).await? {
            Some(c) if actor.scope().allows(c.org_id) => c,
            _ => return Err(DomainError::not_found().into()),
        };
        if expected_version.is_some_and(|v| v != before.version) {
            return Err(DomainError::field(ErrorCode::Conflict, "version").into());
        }
        if input.org_id.is_some_and(|o| o != before.org_id) {
            return Err(DomainError::invalid("org_id").into());
        }
        let schema = self.cmdb_schema(&mut tx).await?;
        let k = check_input(&schema, before.org_id, &input)?;
        self.check_refs(&mut tx, &schema, &k, Some(id)).await?;
        let mut c = before.clone();
        k.apply(&mut c);
        if c == before {
            return Ok(schema.view(c, now));
        }
        c.version += 1;
        c.updated_at = now;
        store::update_ci(&mut tx, &c).await.map_err(key_taken)?;
        let view = schema.view(c, now);
        store::insert_version(&mut tx, &version_of(&view, "update", actor, now)).await?;
        store::bump_epoch(&mut tx, Some(&[id])).await?;
        let mut e = actor.entry("update", "ci", id, Some(view.ci.org_id));
        e.before = snapshot(&schema.view(before, now));
        e.after = snapshot(&view);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(view)
    }

    // ----------------------------------------------------------------------------- relations

    /// The item's relations, both ways, with the item at the other end (customers: only
    /// relations to their own organization's items).
    pub async fn ci_relations(&self, actor: &Actor, id: Uuid) -> Result<Vec<RelationView>> {
        self.readable_ci(actor, id).await?;
        let schema = self.cmdb_schema(&self.db).await?;
        let rels = store::relations_of(&self.db, id).await?;
        let others: Vec<Uuid> = rels
            .iter()
            .map(|r| {
                if r.source_id == id {
                    r.target_id
                } else {
                    r.source_id
                }
            })
            .collect();
        let cis: HashMap<Uuid, Ci> = store::cis_by_ids(&self.db, &others)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let mut out = Vec::new();
        for r in rels {
            let (dir, other) = if r.source_id == id {
                ("out", r.target_id)
            } else {
                ("in", r.source_id)
            };
            let Some(o) = cis.get(&other) else { continue };
            if !actor.scope().allows(o.org_id) {
                continue;
            }
            out.push(RelationView {
                other: schema.brief(o),
                direction: dir.into(),
                relation: r,
            });
        }
        Ok(out)
    }

    pub async fn create_ci_relation(&self, actor: &Actor, input: NewRelation) -> Result<Relation> {
        actor.require(Action::CmdbWrite)?;
        let kind = RelKind::parse(&input.kind).ok_or_else(|| DomainError::invalid("kind"))?;
        if input.source_id == input.target_id {
            return Err(DomainError::field(ErrorCode::CiRelationNotAllowed, "target_id").into());
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let s = writable_ci(&mut tx, actor, input.source_id, "source_id").await?;
        let t = writable_ci(&mut tx, actor, input.target_id, "target_id").await?;
        let schema = self.cmdb_schema(&mut tx).await?;
        if !rules::relation_allowed(
            kind,
            schema.category(s.class_id),
            schema.category(t.class_id),
        ) {
            return Err(DomainError::field(ErrorCode::CiRelationNotAllowed, "kind").into());
        }
        let r = Relation {
            id: yunwei_domain::ids::new_id(),
            source_id: s.id,
            kind: kind.as_str().into(),
            target_id: t.id,
            created_at: now,
            created_by: actor.user_id,
        };
        store::insert_relation(&mut tx, &r).await.map_err(|e| {
            if matches!(e, yunwei_store::StoreError::Unique(_)) {
                DomainError::field(ErrorCode::Conflict, "kind").into()
            } else {
                crate::Error::from(e)
            }
        })?;
        store::bump_epoch(&mut tx, Some(&[s.id, t.id])).await?;
        let mut e = actor.entry("relate", "ci", s.id, Some(s.org_id));
        e.after = Some(serde_json::json!({
            "relation_id": r.id, "kind": r.kind, "target_id": t.id, "target_key": t.external_key,
            "target_name": t.name,
        }));
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(r)
    }

    pub async fn delete_ci_relation(&self, actor: &Actor, id: Uuid) -> Result<()> {
        actor.require(Action::CmdbWrite)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let r = store::get_relation(&mut tx, id)
            .await?
            .ok_or(DomainError::not_found())?;
        let s = store::get_ci(&mut tx, r.source_id)
            .await?
            .ok_or(DomainError::not_found())?;
        if !actor.scope().allows(s.org_id) {
            return Err(DomainError::not_found().into());
        }
        store::delete_relation(&mut tx, id).await?;
        store::bump_epoch(&mut tx, Some(&[r.source_id, r.target_id])).await?;
        let mut e = actor.entry("unrelate", "ci", s.id, Some(s.org_id));
        e.before = snapshot(&r);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(())
    }

    // -------------------------------------------------------------------------------- impact

    /// Everything that depends on the item, transitively (cycle-safe), with the business
    /// services, organizations and departments among them; one page of the items.
    pub async fn ci_impact(&self, actor: &Actor, id: Uuid, q: ImpactQuery) -> Result<Impact> {
        let page = q.page()?;
        let root = self.readable_ci(actor, id).await?;
        self.analyse(actor, root, Direction::Dependents, page).await
    }

    /// Everything the item depends on, transitively; one page of the items.
    pub async fn ci_dependencies(&self, actor: &Actor, id: Uuid, q: ImpactQuery) -> Result<Impact> {
        let page = q.page()?;
        let root = self.readable_ci(actor, id).await?;
        self.analyse(actor, root, Direction::Dependencies, page)
            .await
    }

    /// The walk over the node's relation graph ([`crate::cmdb_graph`]): every item reached
    /// the caller may see is counted and ordered (depth, name, id); business services,
    /// organizations and departments come from all of them; only the page is read from the
    /// database (and checked against the caller's scope again).
    async fn analyse(
        &self,
        actor: &Actor,
        root: Ci,
        dir: Direction,
        (limit, offset): (usize, usize),
    ) -> Result<Impact> {
        let g = self.cmdb_graph.get(&self.db).await?;
        let scope = actor.scope();
        let visible = g.visible(scope.org_filter());
        let mut reached: Vec<(u32, u32)> = match g.index_of(root.id) {
            Some(r) => g
                .reach(&[r], dir)
                .into_iter()
                .filter(|&(i, _)| visible(i))
                .collect(),
            None => vec![],
        };
        // The walk visits depth by depth, so the order (depth, name, id) only needs sorting
        // within the depths the page touches; owners are counted in dense slots (no hashing):
        // at ~95,000 items reached this is what keeps a query to a few ms of CPU.
        let key = |&(i, d): &(u32, u32)| (u64::from(d) << 32) | u64::from(g.rank(i));
        let mut business_services: Vec<(u64, u32)> = Vec::new();
        let mut org_seen = vec![false; g.org_slots()];
        let mut dept_seen = vec![false; g.dept_slots()];
        for x in &reached {
            if g.is_service(x.0) {
                business_services.push((key(x), x.0));
            }
            org_seen[g.org_slot(x.0)] = true;
            if let Some(d) = g.dept_slot(x.0) {
                dept_seen[d] = true;
            }
        }
        business_services.sort_unstable();
        let business_services: Vec<CiBrief> =
            business_services.iter().map(|&(_, i)| g.brief(i)).collect();
        let mut org_ids: HashSet<Uuid> = HashSet::from([root.org_id]);
        org_ids.extend(
            (0..org_seen.len())
                .filter(|&s| org_seen[s])
                .map(|s| g.org_of_slot(s)),
        );
        let mut dept_ids: HashSet<Uuid> = root.department_id.into_iter().collect();
        dept_ids.extend(
            (0..dept_seen.len())
                .filter(|&s| dept_seen[s])
                .map(|s| g.dept_of_slot(s)),
        );
        let page: Vec<(u32, u32)> = page_in_order(&mut reached, offset, limit, key);
        let ids: Vec<Uuid> = page.iter().map(|&(i, _)| g.id(i)).collect();
        let cis: HashMap<Uuid, Ci> = store::cis_by_ids(&self.db, &ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let items = page
            .iter()
            .filter_map(|&(i, depth)| {
                let c = cis.get(&g.id(i)).filter(|c| scope.allows(c.org_id))?;
                Some(ImpactItem {
                    ci: g.brief_of(c),
                    depth,
                })
            })
            .collect();
        let (organizations, departments) = self.owners(org_ids, dept_ids).await?;
        Ok(Impact {
            root: g.brief_of(&root),
            items,
            total: reached.len() as u64,
            offset: offset as u64,
            limit: limit as u64,
            business_services,
            organizations,
            departments,
        })
    }

    /// Names of these organizations and departments (one query each), sorted by name.
    async fn owners(
        &self,
        org_ids: HashSet<Uuid>,
        dept_ids: HashSet<Uuid>,
    ) -> Result<(Vec<NamedRef>, Vec<NamedRef>)> {
        let orgs_: Vec<Uuid> = org_ids.into_iter().collect();
        let depts: Vec<Uuid> = dept_ids.into_iter().collect();
        let named = |v: Vec<(Uuid, String)>| {
            sorted_refs(
                v.into_iter()
                    .map(|(id, name)| NamedRef { id, name })
                    .collect(),
            )
        };
        Ok((
            named(store::org_names(&self.db, &orgs_).await?),
            named(store::department_names(&self.db, &depts).await?),
        ))
    }

    // -------------------------------------------------------------------------- availability

    /// Availability over `[from, to)` from the outages of incidents linked to the item or to
    /// what it depends on, over its service hours.
    pub async fn ci_availability(
        &self,
        actor: &Actor,
        id: Uuid,
        q: AvailabilityQuery,
    ) -> Result<AvailabilityReport> {
        let c = self.readable_ci(actor, id).await?;
        self.availability_of(&c, q).await
    }

    async fn availability_of(&self, c: &Ci, q: AvailabilityQuery) -> Result<AvailabilityReport> {
        let id = c.id;
        let to = yunwei_domain::audit::truncate_to_micros(q.to.unwrap_or_else(|| self.now()));
        let from =
            yunwei_domain::audit::truncate_to_micros(q.from.unwrap_or(to - Duration::days(30)));
        if from > to || to - from > Duration::days(3700) {
            return Err(DomainError::invalid("from").into());
        }
        let (cal, name) = match c.calendar_id {
            Some(cid) => match sla::get_calendar(&self.db, cid).await? {
                Some(row) => (
                    calendar_of_spec(&row.spec_json).ok_or_else(|| {
                        crate::Error::Internal(format!("calendar {cid}: invalid spec"))
                    })?,
                    Some(row.name),
                ),
                None => (always(), None),
            },
            None => (always(), None),
        };
        // The item and everything it depends on, from the relation graph; their incidents'
        // outages in one query per 2,000 items.
        let g = self.cmdb_graph.get(&self.db).await?;
        let mut cis = vec![id];
        if let Some(r) = g.index_of(id) {
            cis.extend(
                g.reach(&[r], Direction::Dependencies)
                    .into_iter()
                    .map(|(i, _)| g.id(i)),
            );
        }
        let outages = store::outages_of(&self.db, &cis, from, to).await?;
        let a = rules::availability(&cal, from, to, &outages);
        let mut list: Vec<Outage> = outages
            .into_iter()
            .map(|(start, end)| Outage { start, end })
            .collect();
        list.sort_by_key(|o| o.start);
        Ok(AvailabilityReport {
            from,
            to,
            calendar: name,
            service_seconds: a.service_seconds,
            outage_seconds: a.outage_seconds,
            ratio: a.ratio,
            outages: list,
        })
    }

    // ------------------------------------------------------------------------------- patches

    pub async fn ci_patches(&self, actor: &Actor, id: Uuid) -> Result<Vec<Patch>> {
        self.readable_ci(actor, id).await?;
        Ok(store::patches(&self.db, id).await?)
    }

    /// Record a patch applied to an item (R-6.2.8.1).
    pub async fn add_ci_patch(&self, actor: &Actor, id: Uuid, input: NewPatch) -> Result<Patch> {
        actor.require(Action::CmdbWrite)?;
        let severity = input.severity.trim();
        if !["low", "medium", "high", "critical"].contains(&severity) {
            return Err(DomainError::invalid("severity").into());
        }
        let now = self.now();
        let p = Patch {
            id: yunwei_domain::ids::new_id(),
            ci_id: id,
            patch_code: validate::name("patch_code", &input.patch_code, 100)?,
            title: validate::name("title", &input.title, 200)?,
            severity: severity.into(),
            applied_at: yunwei_domain::audit::truncate_to_micros(input.applied_at),
            applied_by_name: actor.username.clone(),
            notes: validate::opt_text("notes", input.notes.as_deref(), 2000)?,
            created_at: now,
        };
        let mut tx = self.db.begin_write().await?;
        let c = match store::get_ci(&mut tx, id).await? {
            Some(c) if actor.scope().allows(c.org_id) => c,
            _ => return Err(DomainError::not_found().into()),
        };
        store::insert_patch(&mut tx, &p).await?;
        let mut e = actor.entry("patch", "ci", c.id, Some(c.org_id));
        e.after = snapshot(&p);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(p)
    }

    // ------------------------------------------------------------------------------- tickets

    /// Tickets linked to the item, newest first (customers: their organization's).
    pub async fn ci_tickets(&self, actor: &Actor, id: Uuid) -> Result<Vec<LinkedTicket>> {
        self.readable_ci(actor, id).await?;
        self.tickets_of(actor, id).await
    }

    /// The CIs a ticket affects (customers: their organization's).
    pub async fn ticket_cis(&self, actor: &Actor, number: &str) -> Result<Vec<CiBrief>> {
        actor.require(Action::CmdbRead)?;
        let t = self.visible(None, actor, number).await?;
        let schema = self.cmdb_schema(&self.db).await?;
        Ok(store::cis_of_ticket(&self.db, t.id)
            .await?
            .iter()
            .filter(|c| actor.scope().allows(c.org_id))
            .map(|c| schema.brief(c))
            .collect())
    }

    /// Link a CI to a ticket (by id, or by external key / exact name: the ticket's
    /// organization first, then the provider's).
    pub async fn link_ticket_ci(
        &self,
        actor: &Actor,
        number: &str,
        link: TicketCiLink,
    ) -> Result<Vec<CiBrief>> {
        actor.require(Action::TicketWork)?;
        actor.require(Action::CmdbRead)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let t = self.visible(Some(&mut tx), actor, number).await?;
        let ci = match (link.ci_id, link.key.as_deref().map(str::trim)) {
            (Some(id), _) => store::get_ci(&mut tx, id).await?,
            (None, Some(k)) if !k.is_empty() => {
                let mut found = store::find_by_key_or_name(&mut tx, t.org_id, k).await?;
                if found.is_empty() {
                    if let Some(p) = orgs::provider_org(&mut tx).await? {
                        found = store::find_by_key_or_name(&mut tx, p.id, k).await?;
                    }
                }
                if found.len() > 1 {
                    return Err(DomainError::field(ErrorCode::Conflict, "key").into());
                }
                found.pop()
            }
            _ => return Err(DomainError::invalid("key").into()),
        };
        let ci = match ci {
            Some(c) if actor.scope().allows(c.org_id) => c,
            _ => return Err(DomainError::field(ErrorCode::InvalidReference, "key").into()),
        };
        if store::link_ticket(&mut tx, t.id, ci.id, now, actor.user_id).await? {
            let mut e = actor.entry("link_ci", "ticket", t.id, Some(t.org_id));
            e.after = Some(serde_json::json!({
                "number": t.number, "ci_id": ci.id, "external_key": ci.external_key, "name": ci.name,
            }));
            audit::append(&mut tx, e, now).await?;
        }
        tx.commit().await?;
        self.ticket_cis(actor, number).await
    }

    pub async fn unlink_ticket_ci(
        &self,
        actor: &Actor,
        number: &str,
        ci_id: Uuid,
    ) -> Result<Vec<CiBrief>> {
        actor.require(Action::TicketWork)?;
        actor.require(Action::CmdbRead)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let t = self.visible(Some(&mut tx), actor, number).await?;
        if !store::unlink_ticket(&mut tx, t.id, ci_id).await? {
            return Err(DomainError::not_found().into());
        }
        let mut e = actor.entry("unlink_ci", "ticket", t.id, Some(t.org_id));
        e.before = Some(serde_json::json!({ "number": t.number, "ci_id": ci_id }));
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        self.ticket_cis(actor, number).await
    }

    /// The impact a ticket's CIs suggest: breadth from the departments and
    /// organizations owning them and what depends on them, criticality from the business
    /// services reached.
    pub async fn ticket_impact_suggestion(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<ImpactSuggestionView> {
        actor.require(Action::CmdbRead)?;
        let t = self.visible(None, actor, number).await?;
        let roots = store::cis_of_ticket(&self.db, t.id).await?;
        let g = self.cmdb_graph.get(&self.db).await?;
        let root_idx: Vec<u32> = roots.iter().filter_map(|c| g.index_of(c.id)).collect();
        let mut reached = g.reach(&root_idx, Direction::Dependents);
        reached.sort_unstable_by_key(|&(i, d)| (u64::from(d) << 32) | u64::from(g.rank(i)));
        let depts = orgs::list_departments(&self.db, t.org_id).await?.len();
        // The suggestion counts everything reached, also what the caller may not see.
        let input: Vec<rules::Reached<Uuid, Uuid>> = roots
            .iter()
            .map(|c| rules::Reached {
                org: c.org_id,
                department: c.department_id,
                is_business_service: g.class_is_service(c.class_id),
                critical: c.criticality == "critical",
            })
            .chain(reached.iter().map(|&(i, _)| rules::Reached {
                org: g.org_id(i),
                department: g.department_id(i),
                is_business_service: g.is_service(i),
                critical: g.is_critical(i),
            }))
            .collect();
        let s = rules::suggest_impact(&input, depts);
        let scope = actor.scope();
        let visible = g.visible(scope.org_filter());
        let cis: Vec<CiBrief> = roots
            .iter()
            .filter(|c| scope.allows(c.org_id))
            .map(|c| g.brief_of(c))
            .collect();
        let mut business_services: Vec<CiBrief> = cis
            .iter()
            .filter(|b| b.category == Category::Service.as_str())
            .cloned()
            .collect();
        let mut org_ids: HashSet<Uuid> = cis.iter().map(|b| b.org_id).collect();
        let mut dept_ids: HashSet<Uuid> = cis.iter().filter_map(|b| b.department_id).collect();
        for &(i, _) in reached.iter().filter(|&&(i, _)| visible(i)) {
            org_ids.insert(g.org_id(i));
            if let Some(d) = g.department_id(i) {
                dept_ids.insert(d);
            }
            if g.is_service(i) {
                business_services.push(g.brief(i));
            }
        }
        let (o, d) = self.owners(org_ids, dept_ids).await?;
        Ok(ImpactSuggestionView {
            breadth: s.as_ref().map(|x| x.breadth.clone()),
            criticality: s.map(|x| x.criticality),
            cis,
            business_services,
            departments: d,
            organizations: o,
        })
    }

    // ------------------------------------------------------------------ the CI page, bounded

    /// Read an item and check the caller may (another organization's answers like a missing
    /// one), with the class schema: the CI page does this once and hands the result to its
    /// sections (`*_of` below) instead of each reading and checking the item again.
    pub async fn read_ci(&self, actor: &Actor, id: Uuid) -> Result<ReadableCi> {
        let ci = self.readable_ci(actor, id).await?;
        let schema = self.cached_cmdb_schema().await?;
        Ok(ReadableCi {
            ci,
            schema,
            reader: actor.user_id,
        })
    }

    /// [`App::get_ci`] of an item read with [`App::read_ci`].
    pub async fn ci_view_of(
        &self,
        actor: &Actor,
        r: &ReadableCi,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<CiView> {
        r.check(actor)?;
        self.view_at(&r.schema, r.ci.clone(), as_of).await
    }

    async fn view_at(
        &self,
        schema: &Schema,
        c: Ci,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<CiView> {
        match as_of {
            None => Ok(schema.view(c, self.now())),
            Some(at) => {
                let v = store::version_at(&self.db, c.id, at)
                    .await?
                    .ok_or(DomainError::not_found())?;
                let snap: Value = serde_json::from_str(&v.snapshot_json)
                    .map_err(|e| crate::Error::Internal(format!("ci version {}: {e}", v.id)))?;
                let mut view = schema.view(c, at);
                apply_snapshot(&mut view, &snap)?;
                Ok(view)
            }
        }
    }

    /// One page of the item's relations, both ways, with the item at the other end, ordered
    /// by direction (`out` first), kind, the other item's name and the relation id, and how
    /// many there are (customers: only relations to their own organization's items, counted
    /// the same way). `limit` 1–500 (default 200).
    pub async fn ci_relations_page(
        &self,
        actor: &Actor,
        id: Uuid,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<RelationPage> {
        let r = self.read_ci(actor, id).await?;
        self.ci_relations_page_of(actor, &r, limit, offset).await
    }

    /// [`App::ci_relations_page`] of an item read with [`App::read_ci`].
    pub async fn ci_relations_page_of(
        &self,
        actor: &Actor,
        r: &ReadableCi,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<RelationPage> {
        r.check(actor)?;
        let limit = match limit {
            None => 200,
            Some(n) if (1..=500).contains(&n) => n,
            Some(_) => return Err(DomainError::invalid("limit").into()),
        };
        let offset = match offset {
            None => 0,
            Some(n) if n >= 0 => n,
            Some(_) => return Err(DomainError::invalid("offset").into()),
        };
        let (rows, total) =
            store::relations_page(&self.db, r.ci.id, actor.scope().org_filter(), limit, offset)
                .await?;
        Ok(RelationPage {
            items: rows.iter().map(|x| r.relation_view(x)).collect(),
            total,
            offset: offset as u64,
            limit: limit as u64,
        })
    }

    /// One layer of the topology around an item read with [`App::read_ci`]: the items one
    /// relation away from `frontier` (the item itself, or items of the previous layer as this
    /// function returned them), following relations to their targets (`down`) or to their
    /// sources, leaving out `placed`; each item once, ordered by (frontier position, kind,
    /// name, id), at most `limit` of them, with the number of such items in all. Customers
    /// see only their organization's items. One query.
    pub async fn ci_topology_layer(
        &self,
        actor: &Actor,
        r: &ReadableCi,
        frontier: &[Uuid],
        down: bool,
        placed: &[Uuid],
        limit: i64,
    ) -> Result<(Vec<TopologyStep>, u64)> {
        r.check(actor)?;
        let (rows, found) = store::relation_layer(
            &self.db,
            frontier,
            down,
            actor.scope().org_filter(),
            placed,
            limit,
        )
        .await?;
        let items = rows
            .iter()
            .filter_map(|(x, pos)| {
                let parent = *frontier.get(usize::try_from(*pos).ok()?)?;
                Some(TopologyStep {
                    parent,
                    relation: r.relation_view(x),
                })
            })
            .collect();
        Ok((items, found))
    }

    /// The relations between `ids` (items of a topology drawn around an item read with
    /// [`App::read_ci`], so all visible to the caller), at most `limit`.
    pub async fn ci_relations_among(
        &self,
        actor: &Actor,
        r: &ReadableCi,
        ids: &[Uuid],
        limit: i64,
    ) -> Result<Vec<Relation>> {
        r.check(actor)?;
        Ok(store::relations_among(&self.db, ids, limit).await?)
    }

    /// The classes with their attributes, as [`App::list_ci_classes`] answers, from the
    /// schema read with the item.
    pub fn ci_classes_of(&self, actor: &Actor, r: &ReadableCi) -> Result<Vec<ClassDetail>> {
        r.check(actor)?;
        Ok(r.schema
            .classes
            .iter()
            .map(|c| ClassDetail {
                class: c.clone(),
                attributes: r
                    .schema
                    .attrs
                    .get(&c.id)
                    .map(|v| v.iter().map(attr_view).collect())
                    .unwrap_or_default(),
            })
            .collect())
    }

    /// [`App::ci_tickets`] of an item read with [`App::read_ci`].
    pub async fn ci_tickets_of(&self, actor: &Actor, r: &ReadableCi) -> Result<Vec<LinkedTicket>> {
        r.check(actor)?;
        self.tickets_of(actor, r.ci.id).await
    }

    async fn tickets_of(&self, actor: &Actor, id: Uuid) -> Result<Vec<LinkedTicket>> {
        if actor.require(Action::TicketRead).is_err() {
            return Ok(vec![]);
        }
        Ok(store::tickets_of_ci(&self.db, id, actor.scope().org_filter(), 200).await?)
    }

    /// [`App::ci_versions`] of an item read with [`App::read_ci`].
    pub async fn ci_versions_of(&self, actor: &Actor, r: &ReadableCi) -> Result<Vec<CiVersion>> {
        r.check(actor)?;
        Ok(store::versions(&self.db, r.ci.id).await?)
    }

    /// [`App::ci_patches`] of an item read with [`App::read_ci`].
    pub async fn ci_patches_of(&self, actor: &Actor, r: &ReadableCi) -> Result<Vec<Patch>> {
        r.check(actor)?;
        Ok(store::patches(&self.db, r.ci.id).await?)
    }

    /// [`App::ci_availability`] of an item read with [`App::read_ci`].
    pub async fn ci_availability_of(
        &self,
        actor: &Actor,
        r: &ReadableCi,
        q: AvailabilityQuery,
    ) -> Result<AvailabilityReport> {
        r.check(actor)?;
        self.availability_of(&r.ci, q).await
    }

    /// [`App::ci_impact`] of an item read with [`App::read_ci`].
    pub async fn ci_impact_of(
        &self,
        actor: &Actor,
        r: &ReadableCi,
        q: ImpactQuery,
    ) -> Result<Impact> {
        r.check(actor)?;
        let page = q.page()?;
        self.analyse(actor, r.ci.clone(), Direction::Dependents, page)
            .await
    }

    /// The newest `limit` (1–500) versions of an item read with [`App::read_ci`], without
    /// their snapshots, and how many it has in all.
    pub async fn ci_version_heads_of(
        &self,
        actor: &Actor,
        r: &ReadableCi,
        limit: i64,
    ) -> Result<(Vec<store::CiVersionHead>, u64)> {
        r.check(actor)?;
        if !(1..=500).contains(&limit) {
            return Err(DomainError::invalid("limit").into());
        }
        Ok(store::version_heads(&self.db, r.ci.id, limit).await?)
    }

    /// The classes and attributes, from this node's cache when the database's schema key
    /// ([`store::schema_key`], one cheap query on every call) is the one it was read with:
    /// a class or attribute added by any node is seen by the next call.
    pub(crate) async fn cached_cmdb_schema(&self) -> Result<std::sync::Arc<Schema>> {
        // The key is read before the schema: a change committed in between makes the cached
        // schema newer than its key, never older, and the next call reads it again.
        let key = store::schema_key(&self.db).await?;
        if let Some(s) = self.cmdb_schema_cache.get(&key) {
            return Ok(s);
        }
        let s = std::sync::Arc::new(self.cmdb_schema(&self.db).await?);
        self.cmdb_schema_cache.put(key, s.clone());
        Ok(s)
    }
}

async fn writable_ci(tx: &mut Tx, actor: &Actor, id: Uuid, field: &str) -> Result<Ci> {
    match store::get_ci(&mut *tx, id).await? {
        Some(c) if actor.scope().allows(c.org_id) => Ok(c),
        _ => Err(DomainError::field(ErrorCode::InvalidReference, field).into()),
    }
}

fn always() -> Calendar {
    Calendar::always_open(480).expect("24x7 at UTC+8 is valid")
}

fn key_taken(e: yunwei_store::StoreError) -> crate::Error {
    if e.is_unique_on("external_key") || e.is_unique_on("cis_org_key") {
        DomainError::field(ErrorCode::CiKeyTaken, "external_key").into()
    } else {
        e.into()
    }
}

/// Overlay a stored snapshot on the current view (as-of): every field the snapshot holds.
fn apply_snapshot(view: &mut CiView, snap: &Value) -> Result<()> {
    let mut cur = serde_json::to_value(&*view)
        .map_err(|e| crate::Error::Internal(format!("ci view: {e}")))?;
    if let (Some(c), Some(s)) = (cur.as_object_mut(), snap.as_object()) {
        for (k, v) in s {
            c.insert(k.clone(), v.clone());
        }
    }
    let m = cur.as_object().cloned().unwrap_or_default();
    let get_s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
    let get_i = |k: &str| m.get(k).and_then(Value::as_i64);
    let get_d = |k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
    };
    let get_u = |k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Uuid>().ok())
    };
    let c = &mut view.ci;
    c.name = get_s("name").unwrap_or_default();
    c.external_key = get_s("external_key").unwrap_or_default();
    c.status = get_s("status").unwrap_or_default();
    c.criticality = get_s("criticality").unwrap_or_default();
    c.department_id = get_u("department_id");
    c.location = get_s("location");
    c.vendor = get_s("vendor");
    c.contract_no = get_s("contract_no");
    c.contract_end = get_d("contract_end");
    c.warranty_end = get_d("warranty_end");
    c.purchased_on = get_d("purchased_on");
    c.purchase_cost = get_i("purchase_cost");
    c.annual_cost = get_i("annual_cost");
    c.security_level = get_i("security_level");
    c.data_level = get_s("data_level");
    c.calendar_id = get_u("calendar_id");
    c.version = get_i("version").unwrap_or(c.version);
    if let Some(t) = m
        .get("updated_at")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    {
        c.updated_at = t.with_timezone(&Utc);
    }
    view.attributes = m
        .get("attributes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    c.attributes_json = Value::Object(view.attributes.clone()).to_string();
    if let Some(s) = get_s("class_code") {
        view.class_code = s;
    }
    if let Some(s) = get_s("class_name_zh") {
        view.class_name_zh = s;
    }
    if let Some(s) = get_s("class_name_en") {
        view.class_name_en = s;
    }
    view.tco = get_i("tco");
    Ok(())
}

#[cfg(test)]
mod page_tests {
    use super::page_in_order;

    /// Every page of a depth-ordered list equals the same page of the fully sorted list.
    #[test]
    fn a_page_equals_the_page_of_the_full_sort() {
        // A small deterministic generator (no extra dependency): depths 1..=5, ranks 0..400.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..200 {
            let n = (next() % 300) as usize;
            let mut items: Vec<(u32, u32)> = (0..n)
                .map(|k| (k as u32, 1 + (next() % 5) as u32))
                .collect();
            let rank: Vec<u32> = (0..n).map(|_| (next() % 400) as u32).collect();
            items.sort_by_key(|x| x.1); // the walk's order: by depth, arbitrary within
            let key = |&(i, d): &(u32, u32)| {
                // Unique, like the real key (rank is unique per item there).
                (u64::from(d) << 40) | (u64::from(rank[i as usize]) << 16) | u64::from(i)
            };
            let mut full = items.clone();
            full.sort_by_key(key);
            let limit = 1 + (next() % 60) as usize;
            let offset = (next() % (n as u64 + 20)) as usize;
            let want: Vec<(u32, u32)> = full.iter().skip(offset).take(limit).copied().collect();
            let mut work = items.clone();
            let got = page_in_order(&mut work, offset, limit, key);
            assert_eq!(
                got, want,
                "round {round}, n {n}, offset {offset}, limit {limit}"
            );
        }
    }
}

/// An item read and checked once for one caller ([`App::read_ci`]), with the class schema.
pub struct ReadableCi {
    ci: Ci,
    schema: std::sync::Arc<Schema>,
    reader: Option<Uuid>,
}

impl ReadableCi {
    pub fn ci(&self) -> &Ci {
        &self.ci
    }

    /// Only the caller it was read for may use it.
    fn check(&self, actor: &Actor) -> Result<()> {
        actor.require(Action::CmdbRead)?;
        if self.reader != actor.user_id || !actor.scope().allows(self.ci.org_id) {
            return Err(DomainError::not_found().into());
        }
        Ok(())
    }

    fn relation_view(&self, x: &store::RelatedCi) -> RelationView {
        RelationView {
            relation: x.relation(),
            direction: x.dir.clone(),
            other: self.schema.brief(&x.other),
        }
    }
}

/// One page of an item's relations ([`App::ci_relations_page`]).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RelationPage {
    pub items: Vec<RelationView>,
    /// All the relations the caller may see, on every page.
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
}

/// An item placed by a topology layer, through its relation to `parent` (of the frontier).
#[derive(Debug, Clone)]
pub struct TopologyStep {
    pub parent: Uuid,
    pub relation: RelationView,
}

/// This node's copy of the class schema ([`App::cached_cmdb_schema`]), with the key it was
/// read under.
#[derive(Default)]
pub struct SchemaCache(std::sync::Mutex<Option<(SchemaKey, std::sync::Arc<Schema>)>>);

type SchemaKey = (i64, String, i64, String);

impl SchemaCache {
    fn get(&self, key: &SchemaKey) -> Option<std::sync::Arc<Schema>> {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref().filter(|(k, _)| k == key).map(|(_, s)| s.clone())
    }

    fn put(&self, key: SchemaKey, s: std::sync::Arc<Schema>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((key, s));
    }
}
