//! CMDB pages: the item list with filters, creation and import/export; an item's page (facts,
//! attributes, relations, a server-rendered SVG topology around it, impact, availability over
//! the last 30 days, tickets, versions, patches); the room/rack elevation; and the affected-CI
//! section of the ticket page with the impact it suggests. No JavaScript.

use askama::Template;
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;
use yunwei_domain::cmdb::{RelKind, CRITICALITIES, STATUSES};
use yunwei_domain::{Action, ErrorCode, Lang};
use yunwei_service::cmdb::{
    AvailabilityQuery, CiBrief, CiInput, CiQuery, CiView, ClassDetail, ImpactQuery, NewRelation,
    TicketCiLink,
};

use super::pages::form_error;
use super::{error_page, flash_key, fmt_time, redirect, render, Layout, Ui};
use crate::AppState;

fn name_of(lang: Lang, zh: &str, en: &str) -> String {
    if lang == Lang::Zh { zh } else { en }.to_string()
}

fn fail(ui: &Ui, e: yunwei_service::Error) -> Response {
    error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id)
}

// ---------------------------------------------------------------------------------- list

pub struct Row {
    id: String,
    key: String,
    name: String,
    class: String,
    status: String,
    criticality: String,
}

#[derive(Template)]
#[template(path = "cmdb.html")]
struct ListTpl {
    l: Layout,
    rows: Vec<Row>,
    q: String,
    class: String,
    /// (code, name)
    classes: Vec<(String, String)>,
    /// (id, name)
    orgs: Vec<(String, String)>,
    statuses: Vec<&'static str>,
    criticalities: Vec<&'static str>,
    can_write: bool,
    /// The next page's link (`q` and the cursor percent-encoded).
    next_href: Option<String>,
    import_report: Option<String>,
    import_errors: Vec<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQ {
    q: Option<String>,
    class: Option<String>,
    /// An id, or with `q` an offset (results ranked by relevance).
    cursor: Option<String>,
    ok: Option<String>,
}

async fn render_list(
    st: &AppState,
    ui: &Ui,
    q: ListQ,
    err: Option<(StatusCode, String)>,
    import: Option<(String, Vec<String>)>,
) -> Response {
    let a = &ui.who.actor;
    let lang = ui.ctx.lang;
    let classes = match st.app.list_ci_classes(a).await {
        Ok(c) => c,
        Err(e) => return fail(ui, e),
    };
    let page = match st
        .app
        .list_cis(
            a,
            CiQuery {
                class: q.class.clone(),
                q: q.q.clone(),
                cursor: q.cursor,
                limit: Some(100),
                ..Default::default()
            },
        )
        .await
    {
        Ok(p) => p,
        Err(e) => return fail(ui, e),
    };
    let orgs = if a.require(Action::CmdbWrite).is_ok() {
        st.app
            .list_orgs(a)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|o| (o.id.to_string(), o.name))
            .collect()
    } else {
        vec![]
    };
    let (l, status) = ui.page("cmdb", flash_key(q.ok.as_deref()), err);
    let (import_report, import_errors) = match import {
        Some((r, e)) => (Some(r), e),
        None => (None, vec![]),
    };
    let next_href = page.next_cursor.as_deref().map(|n| {
        format!(
            "/cmdb?q={}&class={}&cursor={}",
            super::encode(q.q.as_deref().unwrap_or("")),
            super::encode(q.class.as_deref().unwrap_or("")),
            super::encode(n)
        )
    });
    render(
        status,
        &ListTpl {
            rows: page
                .items
                .into_iter()
                .map(|v| Row {
                    id: v.ci.id.to_string(),
                    key: v.ci.external_key,
                    name: v.ci.name,
                    class: name_of(lang, &v.class_name_zh, &v.class_name_en),
                    status: v.ci.status,
                    criticality: v.ci.criticality,
                })
                .collect(),
            q: q.q.unwrap_or_default(),
            class: q.class.unwrap_or_default(),
            classes: classes
                .iter()
                .map(|c: &ClassDetail| {
                    (
                        c.class.code.clone(),
                        name_of(lang, &c.class.name_zh, &c.class.name_en),
                    )
                })
                .collect(),
            orgs,
            statuses: STATUSES.to_vec(),
            criticalities: CRITICALITIES.to_vec(),
            can_write: a.require(Action::CmdbWrite).is_ok(),
            next_href,
            import_report,
            import_errors,
            l,
        },
    )
}

pub async fn list(State(st): State<AppState>, ui: Ui, Query(q): Query<ListQ>) -> Response {
    render_list(&st, &ui, q, None, None).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    class: String,
    org_id: String,
    external_key: String,
    name: String,
    status: String,
    criticality: String,
    location: String,
}

pub async fn create(State(st): State<AppState>, ui: Ui, Form(f): Form<CreateForm>) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let input = CiInput {
        class: f.class,
        org_id: f.org_id.parse().ok(),
        external_key: f.external_key,
        name: f.name,
        status: Some(f.status),
        criticality: Some(f.criticality),
        location: Some(f.location),
        ..Default::default()
    };
    match st.app.create_ci(&ui.who.actor, input).await {
        Ok(v) => redirect(&format!("/cmdb/cis/{}?ok=created", v.ci.id)),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_list(&st, &ui, ListQ::default(), Some(err), None).await
        }
    }
}

/// Import a CSV or XLSX file from the list page (multipart: `_csrf`, `file`, `apply_valid`).
pub async fn import(State(st): State<AppState>, ui: Ui, mut mp: Multipart) -> Response {
    let (mut csrf, mut name, mut data, mut apply) =
        (String::new(), String::new(), Vec::new(), false);
    while let Ok(Some(field)) = mp.next_field().await {
        match field.name().unwrap_or("") {
            "_csrf" => csrf = field.text().await.unwrap_or_default(),
            "apply_valid" => apply = !field.text().await.unwrap_or_default().is_empty(),
            "file" => {
                name = field.file_name().unwrap_or("").to_lowercase();
                data = field.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            }
            _ => {}
        }
    }
    if let Err(r) = ui.check_csrf(&csrf) {
        return r;
    }
    let format = if name.ends_with(".xlsx") {
        "xlsx"
    } else {
        "csv"
    };
    let lang = ui.ctx.lang;
    let rows_out = |rows: &[yunwei_service::cmdb_import::RowError]| -> Vec<String> {
        crate::api::cmdb::row_errors(lang, rows)
            .into_iter()
            .map(|e| format!("{} {}: {}", e.table, e.line, e.message))
            .collect()
    };
    let tables = match crate::api::cmdb::read_tables(format, &data) {
        Ok(t) => t,
        Err(rows) => {
            let msg = ErrorCode::ImportFailed.message(lang).to_string();
            return render_list(
                &st,
                &ui,
                ListQ::default(),
                Some((StatusCode::UNPROCESSABLE_ENTITY, msg)),
                Some((String::new(), rows_out(&rows))),
            )
            .await;
        }
    };
    match st.app.import_cis(&ui.who.actor, tables, apply).await {
        Ok(r) => {
            let summary = format!(
                "+{} ~{} ={} · {} +{} · ✗{}",
                r.created,
                r.updated,
                r.unchanged,
                crate::i18n::T(lang).t("cmdb.relations"),
                r.relations_created,
                r.rejected
            );
            render_list(&st, &ui, ListQ::default(), None, Some((summary, vec![]))).await
        }
        Err(yunwei_service::cmdb_import::ImportError::Rows(rows)) => {
            let msg = ErrorCode::ImportFailed.message(lang).to_string();
            render_list(
                &st,
                &ui,
                ListQ::default(),
                Some((StatusCode::UNPROCESSABLE_ENTITY, msg)),
                Some((String::new(), rows_out(&rows))),
            )
            .await
        }
        Err(yunwei_service::cmdb_import::ImportError::Other(e)) => {
            let err = form_error(&ui.ctx, e);
            render_list(&st, &ui, ListQ::default(), Some(err), None).await
        }
    }
}

// ------------------------------------------------------------------------------ topology
// The drawing around an item (depth 1–3, both directions): `super::cmdb_topology`.

// ------------------------------------------------------------------------------- CI page

#[derive(Template)]
#[template(path = "cmdb_ci.html")]
struct CiTpl {
    l: Layout,
    v: CiView,
    class_name: String,
    facts: Vec<(&'static str, String)>,
    /// (label, value)
    attrs: Vec<(String, String)>,
    rels: Vec<RelRow>,
    /// The relations the caller may see in all (an item in a room or behind a core switch
    /// can have thousands; the page lists [`RELATIONS_LISTED`] at a time), and the page
    /// shown (1-based, inclusive).
    rels_total: u64,
    rels_from: u64,
    rels_to: u64,
    /// Links to the previous / next page of relations.
    rels_prev: Option<String>,
    rels_next: Option<String>,
    topo: super::cmdb_topology::Topology,
    edit: super::cmdb_edit::EditForm,
    impact: Vec<(String, String, String, u32)>,
    impact_services: String,
    impact_depts: String,
    /// Impact items reached in all, and the page shown (1-based, inclusive).
    impact_total: u64,
    impact_from: u64,
    impact_to: u64,
    /// Links to the previous / next page of the impact list.
    impact_prev: Option<String>,
    impact_next: Option<String>,
    availability: String,
    availability_detail: String,
    tickets: Vec<(String, String, String, String)>,
    versions: Vec<(i64, String, String, String)>,
    /// Versions in all (the newest [`VERSIONS_LISTED`] are listed).
    versions_total: u64,
    patches: Vec<(String, String, String, String)>,
    has_rack_view: bool,
    can_write: bool,
    kinds: Vec<(&'static str, &'static str)>,
    as_of: Option<String>,
}

pub struct RelRow {
    rel_id: String,
    dir: String,
    kind: String,
    other_id: String,
    other: String,
    other_class: String,
}

/// Impact items per page of the CI page, and business services named before "… (n)".
const IMPACT_PAGE: i64 = 50;
const IMPACT_SERVICES_SHOWN: usize = 30;

fn money(f: Option<i64>) -> String {
    f.map(|v| format!("¥{}.{:02}", v / 100, v % 100))
        .unwrap_or_default()
}

#[derive(Deserialize, Default)]
pub struct CiQ {
    ok: Option<String>,
    as_of: Option<String>,
    /// Topology depth, 1–3.
    depth: Option<String>,
    /// Topology direction: both, down, up.
    dir: Option<String>,
    /// The first impact item shown (paging of the impact list).
    impact_offset: Option<String>,
    /// The first relation listed (paging of the relation list).
    rels_offset: Option<String>,
}

async fn render_ci(
    st: &AppState,
    ui: &Ui,
    id: Uuid,
    q: CiQ,
    err: Option<(StatusCode, String)>,
) -> Response {
    render_ci_edit(st, ui, id, q, err, None).await
}

/// The item's page; `sent` re-shows the edit form with what the user typed.
/// Relations listed on an item's page; the rest are counted (and in the API, the export and
/// the topology).
const RELATIONS_LISTED: i64 = 200;

/// Versions listed on an item's page, newest first; all of them are in the API
/// (`/api/v1/cis/{id}/versions`) and the as-of view.
const VERSIONS_LISTED: i64 = 30;

pub(super) async fn render_ci_edit(
    st: &AppState,
    ui: &Ui,
    id: Uuid,
    q: CiQ,
    err: Option<(StatusCode, String)>,
    sent: Option<super::cmdb_edit::Sent>,
) -> Response {
    let a = &ui.who.actor;
    let lang = ui.ctx.lang;
    let i = crate::i18n::T(lang);
    let as_of = q
        .as_of
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .and_then(|n| {
            n.and_local_timezone(chrono::FixedOffset::east_opt(8 * 3600)?)
                .single()
        })
        .map(|d| d.with_timezone(&chrono::Utc));
    // Read and checked once; every section below takes it.
    let r = match st.app.read_ci(a, id).await {
        Ok(r) => r,
        Err(e) => return fail(ui, e),
    };
    let v = match st.app.ci_view_of(a, &r, as_of).await {
        Ok(v) => v,
        Err(e) => return fail(ui, e),
    };
    let rels_offset = q
        .rels_offset
        .as_deref()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0)
        .clamp(0, i64::from(u32::MAX));
    let rels = st
        .app
        .ci_relations_page_of(a, &r, Some(RELATIONS_LISTED), Some(rels_offset))
        .await
        .ok();
    let impact_offset = q
        .impact_offset
        .as_deref()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0)
        .clamp(0, i64::from(u32::MAX));
    let impact = st
        .app
        .ci_impact_of(
            a,
            &r,
            ImpactQuery {
                limit: Some(IMPACT_PAGE),
                offset: Some(impact_offset),
            },
        )
        .await
        .ok();
    let avail = st
        .app
        .ci_availability_of(
            a,
            &r,
            AvailabilityQuery {
                from: None,
                to: None,
            },
        )
        .await
        .ok();
    let tickets = st.app.ci_tickets_of(a, &r).await.unwrap_or_default();
    let (versions, versions_total) = st
        .app
        .ci_version_heads_of(a, &r, VERSIONS_LISTED)
        .await
        .unwrap_or_default();
    let patches = st.app.ci_patches_of(a, &r).await.unwrap_or_default();
    let org = st
        .app
        .get_org(a, v.ci.org_id)
        .await
        .map(|o| o.name)
        .unwrap_or_default();
    let topo =
        super::cmdb_topology::build(st, ui, &v, &r, q.depth.as_deref(), q.dir.as_deref()).await;
    let na = i.t("common.none").to_string();
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| na.clone());
    let date =
        |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(|| na.clone());
    let facts: Vec<(&'static str, String)> = vec![
        ("cmdb.key", v.ci.external_key.clone()),
        ("cmdb.org", org.clone()),
        ("cmdb.status", i.v("cmdb.status", &v.ci.status).to_string()),
        (
            "cmdb.criticality",
            i.v("cmdb.crit", &v.ci.criticality).to_string(),
        ),
        ("cmdb.location", opt(&v.ci.location)),
        ("cmdb.vendor", opt(&v.ci.vendor)),
        (
            "cmdb.contract",
            format!("{} · {}", opt(&v.ci.contract_no), date(v.ci.contract_end)),
        ),
        ("cmdb.warranty_end", date(v.ci.warranty_end)),
        (
            "cmdb.cost",
            match v.tco {
                Some(t) => format!(
                    "{} / {} · TCO {}",
                    money(v.ci.purchase_cost),
                    money(v.ci.annual_cost),
                    money(Some(t))
                ),
                None => na.clone(),
            },
        ),
        (
            "cmdb.security_level",
            v.ci.security_level
                .map(|l| l.to_string())
                .unwrap_or_else(|| na.clone()),
        ),
        (
            "cmdb.data_level",
            v.ci.data_level
                .as_deref()
                .map(|d| i.v("cmdb.data", d).to_string())
                .unwrap_or_else(|| na.clone()),
        ),
        ("cmdb.version", v.ci.version.to_string()),
    ];
    let classes = st.app.ci_classes_of(a, &r).unwrap_or_default();
    let schema = classes.iter().find(|c| c.class.id == v.ci.class_id);
    let edit = super::cmdb_edit::form(st, ui, &v, &classes, &org, as_of.is_some(), sent).await;
    let attrs = v
        .attributes
        .iter()
        .map(|(k, val)| {
            let label = schema
                .and_then(|c| c.attributes.iter().find(|x| &x.code == k))
                .map(|x| name_of(lang, &x.name_zh, &x.name_en))
                .unwrap_or_else(|| k.clone());
            let s = match val {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (label, s)
        })
        .collect();
    let (availability, availability_detail) = match avail {
        Some(r) => (
            format!("{:.3}%", r.ratio * 100.0),
            format!(
                "{} – {} · {} {} · {} {}",
                fmt_time(r.from),
                fmt_time(r.to),
                i.t("cmdb.outage_minutes"),
                r.outage_seconds / 60,
                i.t("cmdb.calendar"),
                r.calendar.unwrap_or_else(|| "7×24".into())
            ),
        ),
        None => (na.clone(), String::new()),
    };
    let sep = if lang == Lang::Zh { "、" } else { ", " };
    let (impact_total, impact_from, impact_to) = match &impact {
        Some(im) => (
            im.total,
            (im.offset + 1).min(im.total),
            (im.offset + im.items.len() as u64).min(im.total),
        ),
        None => (0, 0, 0),
    };
    let page_link = |o: i64| format!("/cmdb/cis/{id}?impact_offset={o}#ci-impact");
    let impact_prev = (impact_offset > 0).then(|| page_link((impact_offset - IMPACT_PAGE).max(0)));
    let impact_next = (impact_offset + IMPACT_PAGE < impact_total as i64)
        .then(|| page_link(impact_offset + IMPACT_PAGE));
    let (impact_rows, impact_services, impact_depts) = match impact {
        Some(im) => (
            im.items
                .iter()
                .map(|x| {
                    (
                        x.ci.id.to_string(),
                        x.ci.name.clone(),
                        name_of(lang, &x.ci.class_name_zh, &x.ci.class_name_en),
                        x.depth,
                    )
                })
                .collect(),
            {
                // All business services reached; a long list is cut with a count.
                let mut names: Vec<String> = im
                    .business_services
                    .iter()
                    .take(IMPACT_SERVICES_SHOWN)
                    .map(|b| b.name.clone())
                    .collect();
                if im.business_services.len() > IMPACT_SERVICES_SHOWN {
                    names.push(format!("… ({})", im.business_services.len()));
                }
                names.join(sep)
            },
            im.organizations
                .iter()
                .map(|o| o.name.clone())
                .chain(im.departments.iter().map(|d| d.name.clone()))
                .collect::<Vec<_>>()
                .join(sep),
        ),
        None => (vec![], String::new(), String::new()),
    };
    let (rels, rels_total) = match rels {
        Some(p) => (p.items, p.total),
        None => (vec![], 0),
    };
    let rels_from = if rels.is_empty() {
        0
    } else {
        rels_offset as u64 + 1
    };
    let rels_to = (rels_offset as u64 + rels.len() as u64).min(rels_total);
    let rels_link = |o: i64| format!("/cmdb/cis/{id}?rels_offset={o}#ci-relations");
    let rels_prev = (rels_offset > 0).then(|| rels_link((rels_offset - RELATIONS_LISTED).max(0)));
    let rels_next = (rels_offset + RELATIONS_LISTED < rels_total as i64)
        .then(|| rels_link(rels_offset + RELATIONS_LISTED));
    let has_rack_view = matches!(v.class_code.as_str(), "rack" | "machine_room");
    let (l, status) = ui.page("cmdb", flash_key(q.ok.as_deref()), err);
    render(
        status,
        &CiTpl {
            class_name: name_of(lang, &v.class_name_zh, &v.class_name_en),
            facts,
            attrs,
            rels_total,
            rels_from,
            rels_to,
            rels_prev,
            rels_next,
            rels: rels
                .iter()
                .map(|r| RelRow {
                    rel_id: r.relation.id.to_string(),
                    dir: r.direction.clone(),
                    kind: RelKind::parse(&r.relation.kind)
                        .map(|k| if lang == Lang::Zh { k.zh() } else { k.en() })
                        .unwrap_or("")
                        .to_string(),
                    other_id: r.other.id.to_string(),
                    other: format!("{} ({})", r.other.name, r.other.external_key),
                    other_class: name_of(lang, &r.other.class_name_zh, &r.other.class_name_en),
                })
                .collect(),
            topo,
            edit,
            impact: impact_rows,
            impact_services,
            impact_depts,
            impact_total,
            impact_from,
            impact_to,
            impact_prev,
            impact_next,
            availability,
            availability_detail,
            tickets: tickets
                .into_iter()
                .map(|t| {
                    (
                        t.number,
                        t.subject,
                        i.v("status", &t.status).to_string(),
                        fmt_time(t.created_at),
                    )
                })
                .collect(),
            versions: versions
                .into_iter()
                .map(|x| (x.version, fmt_time(x.valid_from), x.action, x.actor_name))
                .collect(),
            versions_total,
            patches: patches
                .into_iter()
                .map(|p| (p.patch_code, p.title, p.severity, fmt_time(p.applied_at)))
                .collect(),
            has_rack_view,
            can_write: a.require(Action::CmdbWrite).is_ok(),
            kinds: RelKind::ALL
                .iter()
                .map(|k| (k.as_str(), if lang == Lang::Zh { k.zh() } else { k.en() }))
                .collect(),
            as_of: q.as_of.filter(|s| !s.is_empty()),
            v,
            l,
        },
    )
}

pub async fn show(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Query(q): Query<CiQ>,
) -> Response {
    let Ok(id) = id.parse() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    render_ci(&st, &ui, id, q, None).await
}

#[derive(Deserialize)]
pub struct RelForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    kind: String,
    /// The other item's external key (same organization).
    target: String,
    /// `out`: this item → target; `in`: target → this item.
    dir: String,
}

/// Add a relation from the item's page.
pub async fn relate(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<RelForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(id) = id.parse::<Uuid>() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    let a = &ui.who.actor;
    let result = async {
        let me = st.app.get_ci(a, id, None).await?;
        let found = st
            .app
            .list_cis(
                a,
                CiQuery {
                    org_id: Some(me.ci.org_id),
                    q: Some(f.target.trim().to_string()),
                    limit: Some(50),
                    ..Default::default()
                },
            )
            .await?;
        let other = found
            .items
            .into_iter()
            .find(|c| c.ci.external_key == f.target.trim())
            .ok_or_else(|| {
                yunwei_domain::DomainError::field(ErrorCode::InvalidReference, "target")
            })?;
        let (s, t) = if f.dir == "in" {
            (other.ci.id, id)
        } else {
            (id, other.ci.id)
        };
        st.app
            .create_ci_relation(
                a,
                NewRelation {
                    source_id: s,
                    kind: f.kind.clone(),
                    target_id: t,
                },
            )
            .await
    }
    .await;
    match result {
        Ok(_) => redirect(&format!("/cmdb/cis/{id}?ok=saved")),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_ci(&st, &ui, id, CiQ::default(), Some(err)).await
        }
    }
}

// ------------------------------------------------------------------------------ rack view

pub struct Slot {
    pub id: String,
    pub name: String,
    pub y: i32,
    pub h: i32,
    pub label: String,
}

pub struct RackDraw {
    pub id: String,
    pub name: String,
    pub units: i32,
    pub height: i32,
    pub slots: Vec<Slot>,
    /// (y, unit number) for the scale.
    pub scale: Vec<(i32, i32)>,
    /// Items in the rack without a unit position.
    pub loose: Vec<(String, String)>,
}

pub const U_PX: i32 = 14;

#[derive(Template)]
#[template(path = "cmdb_rack.html")]
struct RackTpl {
    l: Layout,
    v: CiView,
    racks: Vec<RackDraw>,
}

async fn rack_draw(st: &AppState, ui: &Ui, rack: &CiBrief, units: i32) -> RackDraw {
    let a = &ui.who.actor;
    let units = units.clamp(1, 60);
    let mut slots = Vec::new();
    let mut loose = Vec::new();
    for r in st.app.ci_relations(a, rack.id).await.unwrap_or_default() {
        if r.direction != "in" || r.relation.kind != "located_in" {
            continue;
        }
        let Ok(dev) = st.app.get_ci(a, r.other.id, None).await else {
            continue;
        };
        let pos = dev.attributes.get("rack_position").and_then(|x| x.as_i64());
        let size = dev
            .attributes
            .get("u_size")
            .and_then(|x| x.as_i64())
            .unwrap_or(1)
            .clamp(1, 20) as i32;
        match pos {
            Some(p) if p >= 1 && (p as i32) + size - 1 <= units => {
                let top = p as i32 + size - 1;
                slots.push(Slot {
                    id: dev.ci.id.to_string(),
                    label: format!(
                        "U{}{}",
                        p,
                        if size > 1 {
                            format!("–{top}")
                        } else {
                            String::new()
                        }
                    ),
                    name: dev.ci.name.clone(),
                    y: (units - top) * U_PX + 10,
                    h: size * U_PX - 2,
                });
            }
            _ => loose.push((dev.ci.id.to_string(), dev.ci.name.clone())),
        }
    }
    RackDraw {
        id: rack.id.to_string(),
        name: rack.name.clone(),
        units,
        height: units * U_PX + 20,
        slots,
        scale: (1..=units)
            .filter(|u| u % 5 == 0 || *u == 1)
            .map(|u| ((units - u) * U_PX + 10 + U_PX - 4, u))
            .collect(),
        loose,
    }
}

/// The room/rack view: a rack's elevation, or every rack located in a machine room.
pub async fn rack(State(st): State<AppState>, ui: Ui, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<Uuid>() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    let a = &ui.who.actor;
    let v = match st.app.get_ci(a, id, None).await {
        Ok(v) => v,
        Err(e) => return fail(&ui, e),
    };
    let units = |v: &CiView| {
        v.attributes
            .get("u_height")
            .and_then(|x| x.as_i64())
            .unwrap_or(42) as i32
    };
    let mut racks = Vec::new();
    let classes = st.app.list_ci_classes(a).await.unwrap_or_default();
    let brief = |v: &CiView| CiBrief {
        id: v.ci.id,
        external_key: v.ci.external_key.clone(),
        name: v.ci.name.clone(),
        class_code: v.class_code.clone(),
        class_name_zh: v.class_name_zh.clone(),
        class_name_en: v.class_name_en.clone(),
        category: v.category.clone(),
        org_id: v.ci.org_id,
        department_id: v.ci.department_id,
        status: v.ci.status.clone(),
        criticality: v.ci.criticality.clone(),
    };
    match v.class_code.as_str() {
        "rack" => racks.push(rack_draw(&st, &ui, &brief(&v), units(&v)).await),
        "machine_room" => {
            let _ = classes;
            for r in st.app.ci_relations(a, id).await.unwrap_or_default() {
                if r.direction == "in"
                    && r.relation.kind == "located_in"
                    && r.other.class_code == "rack"
                {
                    if let Ok(rv) = st.app.get_ci(a, r.other.id, None).await {
                        racks.push(rack_draw(&st, &ui, &r.other, units(&rv)).await);
                    }
                }
            }
        }
        _ => return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id),
    }
    let (l, status) = ui.page("cmdb", None, None);
    render(status, &RackTpl { l, v, racks })
}

// ------------------------------------------------------------------- ticket page section

/// The affected-CI section of a ticket page.
#[derive(Default)]
pub struct TicketCmdb {
    pub visible: bool,
    pub can_link: bool,
    /// (id, name, key, class)
    pub cis: Vec<(String, String, String, String)>,
    pub breadth: Option<String>,
    pub criticality: Option<String>,
    pub services: String,
    pub departments: String,
}

/// What the ticket page shows about the CIs a ticket affects (empty when the caller may not
/// read the CMDB).
pub async fn ticket_section(st: &AppState, ui: &Ui, number: &str) -> TicketCmdb {
    let a = &ui.who.actor;
    let lang = ui.ctx.lang;
    let Ok(s) = st.app.ticket_impact_suggestion(a, number).await else {
        return TicketCmdb::default();
    };
    let sep = if lang == Lang::Zh { "、" } else { ", " };
    TicketCmdb {
        visible: true,
        can_link: a.require(Action::TicketWork).is_ok(),
        cis: s
            .cis
            .iter()
            .map(|c| {
                (
                    c.id.to_string(),
                    c.name.clone(),
                    c.external_key.clone(),
                    name_of(lang, &c.class_name_zh, &c.class_name_en),
                )
            })
            .collect(),
        breadth: s.breadth,
        criticality: s.criticality,
        services: s
            .business_services
            .iter()
            .map(|b| b.name.clone())
            .collect::<Vec<_>>()
            .join(sep),
        departments: s
            .departments
            .iter()
            .map(|d| d.name.clone())
            .collect::<Vec<_>>()
            .join(sep),
    }
}

#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    key: Option<String>,
    ci_id: Option<String>,
}

/// Link (with `key`) or unlink (with `ci_id`) a CI from the ticket page.
pub async fn ticket_link(
    State(st): State<AppState>,
    ui: Ui,
    Path(number): Path<String>,
    Form(f): Form<LinkForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    if !yunwei_domain::ticket::is_number(&number) {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    }
    let a = &ui.who.actor;
    let r = match f.ci_id.as_deref().and_then(|s| s.parse::<Uuid>().ok()) {
        Some(ci) => st.app.unlink_ticket_ci(a, &number, ci).await,
        None => {
            st.app
                .link_ticket_ci(
                    a,
                    &number,
                    TicketCiLink {
                        ci_id: None,
                        key: f.key,
                    },
                )
                .await
        }
    };
    match r {
        Ok(_) => redirect(&format!("/tickets/{number}?ok=saved#cmdb")),
        Err(e) => fail(&ui, e),
    }
}
