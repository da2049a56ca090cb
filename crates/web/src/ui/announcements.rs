//! The announcements page (R-7.2c): planned maintenance, outages and notices. Everybody reads
//! the ones addressed to them; staff who may write get a form and publish / withdraw buttons.
//! The home page shows the current ones through [`current`].

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;
use yunwei_domain::announcement::Kind;
use yunwei_domain::{Action, DomainError, ErrorCode, Lang};
use yunwei_service::announcements::{AnnouncementDetail, AnnouncementQuery, NewAnnouncement};

use super::pages::form_error;
use super::{error_page, flash_key, fmt_time, redirect, render, Layout, Ui};
use crate::i18n::T;
use crate::AppState;

/// One announcement as shown.
pub struct Row {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub window: String,
    pub audience: String,
    pub items: String,
    pub published: bool,
    pub current: bool,
}

/// What the create form holds (kept when it is shown again with an error).
pub struct FormState {
    kind: String,
    title: String,
    body: String,
    starts_at: String,
    ends_at: String,
    all_orgs: bool,
    published: bool,
    items: Vec<String>,
    orgs: Vec<String>,
}

impl FormState {
    fn blank(now: DateTime<Utc>) -> FormState {
        FormState {
            kind: Kind::Maintenance.as_str().into(),
            title: String::new(),
            body: String::new(),
            starts_at: local_input(now),
            ends_at: String::new(),
            all_orgs: true,
            published: false,
            items: vec![],
            orgs: vec![],
        }
    }

    fn has_item(&self, id: &str) -> bool {
        self.items.iter().any(|i| i == id)
    }

    fn has_org(&self, id: &str) -> bool {
        self.orgs.iter().any(|o| o == id)
    }
}

#[derive(Template)]
#[template(path = "announcements.html")]
struct PageTpl {
    l: Layout,
    rows: Vec<Row>,
    can_write: bool,
    form: FormState,
    kinds: Vec<&'static str>,
    /// (id, name) of active catalog items.
    items: Vec<(String, String)>,
    /// (id, name) of customer organizations.
    orgs: Vec<(String, String)>,
}

fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

/// A time as a `datetime-local` value in China Standard Time.
fn local_input(t: DateTime<Utc>) -> String {
    t.with_timezone(&cst()).format("%Y-%m-%dT%H:%M").to_string()
}

/// A `datetime-local` value, read as China Standard Time.
fn parse_local(field: &str, s: &str) -> Result<Option<DateTime<Utc>>, yunwei_service::Error> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let n = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| DomainError::invalid(field))?;
    n.and_local_timezone(cst())
        .single()
        .map(|d| Some(d.with_timezone(&Utc)))
        .ok_or_else(|| DomainError::invalid(field).into())
}

fn name_of(zh: bool, name_zh: &str, name_en: &str) -> String {
    if zh { name_zh } else { name_en }.to_string()
}

fn window(i: &T, d: &AnnouncementDetail) -> String {
    let end = d
        .announcement
        .ends_at
        .map(fmt_time)
        .unwrap_or_else(|| i.t("ann.open_ended").to_string());
    format!("{} – {}", fmt_time(d.announcement.starts_at), end)
}

async fn rows(
    st: &AppState,
    ui: &Ui,
    list: Vec<AnnouncementDetail>,
) -> Result<Vec<Row>, yunwei_service::Error> {
    let a = &ui.who.actor;
    let zh = ui.ctx.lang == Lang::Zh;
    let i = T(ui.ctx.lang);
    let items: HashMap<Uuid, String> = st
        .app
        .list_catalog(a, false)
        .await?
        .into_iter()
        .map(|c| (c.id, name_of(zh, &c.name_zh, &c.name_en)))
        .collect();
    let orgs: HashMap<Uuid, String> = st
        .app
        .list_orgs(a)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    let sep = if zh { "、" } else { ", " };
    Ok(list
        .into_iter()
        .map(|d| Row {
            id: d.announcement.id.to_string(),
            window: window(&i, &d),
            audience: if d.announcement.all_orgs {
                i.t("ann.audience_all").to_string()
            } else {
                d.orgs
                    .iter()
                    .filter_map(|o| orgs.get(o).cloned())
                    .collect::<Vec<_>>()
                    .join(sep)
            },
            items: d
                .items
                .iter()
                .filter_map(|x| items.get(x).cloned())
                .collect::<Vec<_>>()
                .join(sep),
            kind: d.announcement.kind,
            title: d.announcement.title,
            body: d.announcement.body,
            published: d.announcement.published,
            current: d.current,
        })
        .collect())
}

/// The published announcements in force now or starting within a week, soonest first (for the
/// home page; empty when there are none or they cannot be read).
pub async fn current(st: &AppState, ui: &Ui) -> Vec<Row> {
    let q = AnnouncementQuery {
        current: Some(true),
        limit: Some(20),
        ..Default::default()
    };
    let Ok(page) = st.app.list_announcements(&ui.who.actor, q).await else {
        return vec![];
    };
    let mut list: Vec<AnnouncementDetail> = page
        .items
        .into_iter()
        .filter(|d| d.announcement.published)
        .collect();
    list.sort_by_key(|d| d.announcement.starts_at);
    rows(st, ui, list).await.unwrap_or_default()
}

async fn render_page(
    st: &AppState,
    ui: &Ui,
    flash: Option<&'static str>,
    form: Option<FormState>,
    err: Option<(StatusCode, String)>,
) -> Response {
    let a = &ui.who.actor;
    let can_write = a.require(Action::AnnouncementWrite).is_ok();
    let zh = ui.ctx.lang == Lang::Zh;
    let q = AnnouncementQuery {
        limit: Some(100),
        ..Default::default()
    };
    let list = match st.app.list_announcements(a, q).await {
        Ok(p) => p.items,
        Err(e) => return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
    };
    let rows = match rows(st, ui, list).await {
        Ok(r) => r,
        Err(e) => return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
    };
    let (items, orgs) = if can_write {
        let items = st
            .app
            .list_catalog(a, false)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.id.to_string(), name_of(zh, &c.name_zh, &c.name_en)))
            .collect();
        let orgs = st
            .app
            .list_orgs(a)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|o| o.kind == "customer" && !o.disabled)
            .map(|o| (o.id.to_string(), o.name))
            .collect();
        (items, orgs)
    } else {
        (vec![], vec![])
    };
    let (l, status) = ui.page("announcements", flash, err);
    render(
        status,
        &PageTpl {
            l,
            rows,
            can_write,
            form: form.unwrap_or_else(|| FormState::blank(st.app.now())),
            kinds: Kind::ALL.iter().map(|k| k.as_str()).collect(),
            items,
            orgs,
        },
    )
}

#[derive(Deserialize, Default)]
pub struct PageQ {
    ok: Option<String>,
}

pub async fn page(State(st): State<AppState>, ui: Ui, Query(q): Query<PageQ>) -> Response {
    render_page(&st, &ui, flash_key(q.ok.as_deref()), None, None).await
}

fn one<'a>(f: &'a [(String, String)], key: &str) -> &'a str {
    f.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn many(f: &[(String, String)], key: &str) -> Vec<String> {
    f.iter()
        .filter(|(k, v)| k == key && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

fn ids(field: &str, v: &[String]) -> Result<Vec<Uuid>, yunwei_service::Error> {
    v.iter()
        .map(|s| {
            s.parse()
                .map_err(|_| DomainError::field(ErrorCode::InvalidReference, field).into())
        })
        .collect()
}

fn to_input(form: &FormState) -> Result<NewAnnouncement, yunwei_service::Error> {
    let starts_at =
        parse_local("starts_at", &form.starts_at)?.ok_or(DomainError::invalid("starts_at"))?;
    let orgs = ids("orgs", &form.orgs)?;
    Ok(NewAnnouncement {
        kind: form.kind.clone(),
        title: form.title.clone(),
        body: form.body.clone(),
        starts_at,
        ends_at: parse_local("ends_at", &form.ends_at)?,
        items: ids("items", &form.items)?,
        all_orgs: Some(form.all_orgs),
        orgs: if form.all_orgs { None } else { Some(orgs) },
        published: form.published,
    })
}

/// Create an announcement from the form (fields may repeat: `items`, `orgs`).
pub async fn create(
    State(st): State<AppState>,
    ui: Ui,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = ui.check_csrf(one(&f, "_csrf")) {
        return r;
    }
    let form = FormState {
        kind: one(&f, "kind").to_string(),
        title: one(&f, "title").to_string(),
        body: one(&f, "body").to_string(),
        starts_at: one(&f, "starts_at").to_string(),
        ends_at: one(&f, "ends_at").to_string(),
        all_orgs: !one(&f, "all_orgs").is_empty(),
        published: !one(&f, "published").is_empty(),
        items: many(&f, "items"),
        orgs: many(&f, "orgs"),
    };
    let result = match to_input(&form) {
        Ok(input) => st.app.create_announcement(&ui.who.actor, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => redirect("/announcements?ok=created"),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_page(&st, &ui, None, Some(form), Some(err)).await
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

async fn set_published(st: AppState, ui: Ui, id: String, csrf: String, on: bool) -> Response {
    if let Err(r) = ui.check_csrf(&csrf) {
        return r;
    }
    let Ok(id) = id.parse() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    let a = &ui.who.actor;
    let r = if on {
        st.app.publish_announcement(a, id).await
    } else {
        st.app.unpublish_announcement(a, id).await
    };
    match r {
        Ok(_) => redirect("/announcements?ok=saved"),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_page(&st, &ui, None, None, Some(err)).await
        }
    }
}

pub async fn publish(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    set_published(st, ui, id, f.csrf, true).await
}

pub async fn unpublish(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    set_published(st, ui, id, f.csrf, false).await
}
