//! Service-desk pages: the queue, the submission form (portal and agent), the ticket with its
//! timeline and the actions the caller may take.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;
use yunwei_domain::ticket::{Kind, Status};
use yunwei_domain::{Action, DomainError, ErrorCode, Role};
use yunwei_service::tickets::{NewTicket, TicketBrief, TicketQuery, TransitionInput};
use yunwei_service::users::UserQuery;
use yunwei_service::views::{BulkInput, NewSavedView, QueueQuery, ViewFilters};
use yunwei_store::tickets::Ticket;

use super::pages::{blank, form_error, parse_uuid_opt};
use super::{error_page, flash_key, fmt_time, redirect, render, Layout, Ui};
use crate::AppState;

fn bad(ui: &Ui, code: ErrorCode) -> Response {
    error_page(code, ui.ctx.lang, &ui.ctx.request_id)
}

fn number_ok(n: &str) -> bool {
    yunwei_domain::ticket::is_number(n)
}

// ---------------------------------------------------------------- list

pub struct Row {
    number: String,
    subject: String,
    kind: String,
    status: String,
    priority: Option<i64>,
    org: String,
    assignee: String,
    created: String,
    /// The deadline that runs (response until the first response, then resolution).
    due: String,
}

#[derive(Default)]
pub struct Filters {
    q: String,
    status: String,
    kind: String,
    priority: String,
    org: String,
    team: String,
    assignee: String,
    view: String,
    open: bool,
    mine: bool,
    queue: bool,
}

/// A saved view in the sidebar.
pub struct ViewRow {
    id: String,
    name: String,
    href: String,
    own: bool,
    team: String,
}

#[derive(Template)]
#[template(path = "tickets.html")]
struct ListTpl {
    l: Layout,
    rows: Vec<Row>,
    f: Filters,
    statuses: Vec<&'static str>,
    kinds: Vec<&'static str>,
    is_staff: bool,
    can_create: bool,
    can_override: bool,
    next_href: Option<String>,
    views: Vec<ViewRow>,
    queue_views: Vec<&'static str>,
    orgs: Vec<(String, String)>,
    teams: Vec<(String, String)>,
    my_teams: Vec<(String, String)>,
    staff: Vec<(String, String)>,
    steps: Vec<&'static str>,
}

#[derive(Deserialize, Default)]
pub struct ListQ {
    q: Option<String>,
    status: Option<String>,
    kind: Option<String>,
    priority: Option<String>,
    open: Option<String>,
    mine: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
    ok: Option<String>,
    org: Option<String>,
    team: Option<String>,
    assignee: Option<String>,
    view: Option<String>,
}

/// The flow steps offered for many tickets at once.
const BULK_STEPS: &[&str] = &["start", "pend", "resume", "resolve", "cancel"];

async fn names(st: &AppState, ui: &Ui, ids: impl Iterator<Item = Uuid>) -> HashMap<Uuid, String> {
    let mut out = HashMap::new();
    for id in ids {
        if let std::collections::hash_map::Entry::Vacant(v) = out.entry(id) {
            let name = st
                .app
                .get_user(&ui.who.actor, id)
                .await
                .map(|u| u.display_name)
                .unwrap_or_else(|_| "—".into());
            v.insert(name);
        }
    }
    out
}

/// (id, "name (username)") of the provider's staff who may work tickets.
async fn staff_options(st: &AppState, ui: &Ui) -> Vec<(String, String)> {
    let a = &ui.who.actor;
    let provider = st
        .app
        .list_orgs(a)
        .await
        .unwrap_or_default()
        .into_iter()
        .find(|o| o.kind == "provider")
        .map(|o| o.id);
    st.app
        .list_users(
            a,
            UserQuery {
                org_id: provider,
                limit: Some(200),
                ..Default::default()
            },
        )
        .await
        .map(|p| p.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|u| !u.disabled && Role::parse(&u.role).is_some_and(|r| r != Role::Auditor))
        .map(|u| {
            (
                u.id.to_string(),
                format!("{} ({})", u.display_name, u.username),
            )
        })
        .collect()
}

/// The list URL of a filter set.
fn list_href(f: &ViewFilters) -> String {
    let enc = |s: &Option<String>| super::encode(s.as_deref().unwrap_or(""));
    let id = |u: &Option<Uuid>| u.map(|x| x.to_string()).unwrap_or_default();
    let mut h = format!(
        "/tickets?q={}&status={}&kind={}&priority={}&org={}&team={}&assignee={}&sort={}",
        enc(&f.q),
        enc(&f.status),
        enc(&f.kind),
        f.priority.map(|p| p.to_string()).unwrap_or_default(),
        id(&f.org_id),
        id(&f.team_id),
        id(&f.assignee_id),
        enc(&f.sort),
    );
    if f.open == Some(true) {
        h.push_str("&open=true");
    }
    if f.mine == Some(true) {
        h.push_str("&mine=true");
    }
    if let Some(v) = &f.view {
        h.push_str(&format!("&view={}", super::encode(v)));
    }
    h
}

pub async fn list(State(st): State<AppState>, ui: Ui, Query(q): Query<ListQ>) -> Response {
    let flash = flash_key(q.ok.as_deref());
    render_list(&st, &ui, q, flash, None).await
}

async fn render_list(
    st: &AppState,
    ui: &Ui,
    q: ListQ,
    flash: Option<&'static str>,
    err: Option<(StatusCode, String)>,
) -> Response {
    let a = &ui.who.actor;
    let staff = a.require(Action::TicketWork).is_ok();
    let priority = match blank(&q.priority).map(|p| p.parse::<i64>()) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => return bad(ui, ErrorCode::ValidationFailed),
    };
    let (Ok(org), Ok(team), Ok(assignee)) = (
        parse_uuid_opt(&q.org),
        parse_uuid_opt(&q.team),
        parse_uuid_opt(&q.assignee),
    ) else {
        return bad(ui, ErrorCode::ValidationFailed);
    };
    let view = blank(&q.view);
    let open = q.open.as_deref() == Some("true");
    let mine = q.mine.as_deref() == Some("true");
    let queue = q.sort.as_deref() == Some("queue");
    let page = match &view {
        Some(v) => {
            st.app
                .queue_tickets(
                    a,
                    QueueQuery {
                        view: v.clone(),
                        status: blank(&q.status),
                        priority,
                        kind: blank(&q.kind),
                        org_id: org,
                        team,
                        assignee,
                        cursor: blank(&q.cursor),
                        limit: Some(50),
                    },
                )
                .await
        }
        None => {
            st.app
                .list_tickets(
                    a,
                    TicketQuery {
                        status: blank(&q.status),
                        open: Some(open),
                        priority,
                        kind: blank(&q.kind),
                        org_id: org,
                        assignee,
                        team,
                        mine: Some(mine),
                        q: blank(&q.q),
                        sort: if queue { Some("queue".into()) } else { None },
                        cursor: blank(&q.cursor),
                        limit: Some(50),
                    },
                )
                .await
        }
    };
    let page = match page {
        Ok(p) => p,
        Err(e) => return bad(ui, ui.ctx.err(e).code),
    };
    let org_list = st.app.list_orgs(a).await.unwrap_or_default();
    let orgs: HashMap<Uuid, String> = org_list.iter().map(|o| (o.id, o.name.clone())).collect();
    let who = names(st, ui, page.items.iter().filter_map(|t| t.assignee_id)).await;
    let rows = page
        .items
        .into_iter()
        .map(|t| Row {
            org: orgs.get(&t.org_id).cloned().unwrap_or_default(),
            assignee: t
                .assignee_id
                .and_then(|i| who.get(&i).cloned())
                .unwrap_or_default(),
            created: fmt_time(t.created_at),
            due: super::fmt_opt_time(
                if t.first_response_at.is_none() {
                    t.response_due_at
                } else {
                    t.resolution_due_at
                },
                "",
            ),
            number: t.number,
            subject: t.subject,
            kind: t.kind,
            status: t.status,
            priority: t.priority,
        })
        .collect();
    let enc = |s: &Option<String>| super::encode(s.as_deref().unwrap_or(""));
    let next_href = page.next_cursor.map(|c| {
        format!(
            "/tickets?q={}&status={}&kind={}&priority={}&open={}&mine={}&sort={}&org={}&team={}&assignee={}&view={}&cursor={c}",
            enc(&q.q),
            enc(&q.status),
            enc(&q.kind),
            enc(&q.priority),
            enc(&q.open),
            enc(&q.mine),
            enc(&q.sort),
            enc(&q.org),
            enc(&q.team),
            enc(&q.assignee),
            enc(&q.view)
        )
    });
    let all_teams = if staff {
        st.app.list_teams(a).await.unwrap_or_default()
    } else {
        Vec::new()
    };
    let team_name: HashMap<Uuid, String> =
        all_teams.iter().map(|x| (x.id, x.name.clone())).collect();
    let mine_teams = st.app.my_teams(a).await.unwrap_or_default();
    let views = st
        .app
        .list_saved_views(a)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|v| ViewRow {
            id: v.id.to_string(),
            href: list_href(&v.filters),
            name: v.name,
            own: v.own,
            team: v
                .team_id
                .and_then(|t| team_name.get(&t).cloned())
                .unwrap_or_default(),
        })
        .collect();
    let (l, code) = ui.page("tickets", flash, err);
    let t = ListTpl {
        l,
        rows,
        f: Filters {
            q: q.q.unwrap_or_default(),
            status: q.status.unwrap_or_default(),
            kind: q.kind.unwrap_or_default(),
            priority: q.priority.unwrap_or_default(),
            org: q.org.unwrap_or_default(),
            team: q.team.unwrap_or_default(),
            assignee: q.assignee.unwrap_or_default(),
            view: view.unwrap_or_default(),
            open,
            mine,
            queue,
        },
        statuses: Status::ALL.iter().map(|s| s.as_str()).collect(),
        kinds: Kind::ALL.iter().map(|k| k.as_str()).collect(),
        is_staff: staff,
        can_create: a.require(Action::TicketCreate).is_ok(),
        can_override: a.require(Action::TicketPriorityOverride).is_ok(),
        next_href,
        views,
        queue_views: yunwei_service::views::QUEUE_VIEWS.to_vec(),
        orgs: if staff {
            org_list
                .iter()
                .map(|o| (o.id.to_string(), o.name.clone()))
                .collect()
        } else {
            Vec::new()
        },
        my_teams: all_teams
            .iter()
            .filter(|x| mine_teams.contains(&x.id))
            .map(|x| (x.id.to_string(), x.name.clone()))
            .collect(),
        teams: all_teams
            .iter()
            .map(|x| (x.id.to_string(), x.name.clone()))
            .collect(),
        staff: if staff {
            staff_options(st, ui).await
        } else {
            Vec::new()
        },
        steps: BULK_STEPS.to_vec(),
    };
    render(code, &t)
}

#[derive(Deserialize)]
pub struct ViewForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    name: String,
    share_team: Option<String>,
    q: Option<String>,
    status: Option<String>,
    kind: Option<String>,
    priority: Option<String>,
    org: Option<String>,
    team: Option<String>,
    assignee: Option<String>,
    sort: Option<String>,
    open: Option<String>,
    mine: Option<String>,
    view: Option<String>,
}

impl ViewForm {
    /// The list the form was on (to show again with an error).
    fn list_q(&self) -> ListQ {
        ListQ {
            q: self.q.clone(),
            status: self.status.clone(),
            kind: self.kind.clone(),
            priority: self.priority.clone(),
            open: self.open.clone(),
            mine: self.mine.clone(),
            sort: self.sort.clone(),
            org: self.org.clone(),
            team: self.team.clone(),
            assignee: self.assignee.clone(),
            view: self.view.clone(),
            ..Default::default()
        }
    }
}

/// Save the current filters as a view.
pub async fn view_create(State(st): State<AppState>, ui: Ui, Form(f): Form<ViewForm>) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let ids = (
        parse_uuid_opt(&f.org),
        parse_uuid_opt(&f.team),
        parse_uuid_opt(&f.assignee),
        parse_uuid_opt(&f.share_team),
    );
    let input = match ids {
        (Ok(org_id), Ok(team_id), Ok(assignee_id), Ok(share)) => {
            match blank(&f.priority).map(|p| p.parse::<i64>()).transpose() {
                Ok(priority) => Ok(NewSavedView {
                    name: f.name.clone(),
                    team_id: share,
                    filters: ViewFilters {
                        status: blank(&f.status),
                        priority,
                        kind: blank(&f.kind),
                        org_id,
                        team_id,
                        assignee_id,
                        q: blank(&f.q),
                        sort: blank(&f.sort),
                        open: Some(f.open.as_deref() == Some("true")),
                        mine: Some(f.mine.as_deref() == Some("true")),
                        view: blank(&f.view),
                    },
                }),
                Err(_) => Err(DomainError::invalid("filters.priority").into()),
            }
        }
        _ => Err(DomainError::field(ErrorCode::InvalidReference, "team_id").into()),
    };
    let result = match input {
        Ok(i) => st.app.create_saved_view(&ui.who.actor, i).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => redirect(&list_href(&v.filters)),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_list(&st, &ui, f.list_q(), None, Some(err)).await
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// Delete one of the caller's views.
pub async fn view_delete(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(id) = id.parse::<Uuid>() else {
        return bad(&ui, ErrorCode::NotFound);
    };
    match st.app.delete_saved_view(&ui.who.actor, id).await {
        Ok(()) => redirect("/tickets?ok=deleted"),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_list(&st, &ui, ListQ::default(), None, Some(err)).await
        }
    }
}

pub struct BulkRow {
    number: String,
    ok: bool,
    status: String,
    message: String,
}

#[derive(Template)]
#[template(path = "tickets_bulk.html")]
struct BulkTpl {
    l: Layout,
    rows: Vec<BulkRow>,
    done: usize,
    refused: usize,
}

fn one<'a>(f: &'a [(String, String)], key: &str) -> &'a str {
    f.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn opt(f: &[(String, String)], key: &str) -> Option<String> {
    Some(one(f, key).trim().to_string()).filter(|s| !s.is_empty())
}

/// Do one thing to the selected tickets (checkboxes `n`), each through its normal use case;
/// the result page tells each ticket's outcome.
pub async fn bulk(
    State(st): State<AppState>,
    ui: Ui,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = ui.check_csrf(one(&f, "_csrf")) {
        return r;
    }
    let numbers: Vec<String> = f
        .iter()
        .filter(|(k, v)| k == "n" && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_string())
        .collect();
    let ids = (
        parse_uuid_opt(&opt(&f, "team_id")),
        parse_uuid_opt(&opt(&f, "assignee_id")),
    );
    let priority = opt(&f, "priority").map(|p| p.parse::<i64>().unwrap_or(0));
    let result = match ids {
        (Ok(team_id), Ok(assignee_id)) => {
            st.app
                .bulk_tickets(
                    &ui.who.actor,
                    BulkInput {
                        numbers,
                        action: one(&f, "op").to_string(),
                        team_id,
                        assignee_id,
                        transition: opt(&f, "transition"),
                        note: opt(&f, "note"),
                        resolution: opt(&f, "resolution"),
                        sub_status: None,
                        priority,
                        reason: opt(&f, "reason"),
                    },
                )
                .await
        }
        _ => Err(DomainError::field(ErrorCode::InvalidReference, "assignee_id").into()),
    };
    match result {
        Ok(items) => {
            let r = crate::api::bulk_outcomes(items, ui.ctx.lang);
            let (l, code) = ui.page("tickets", None, None);
            let t = BulkTpl {
                l,
                done: r.done,
                refused: r.refused,
                rows: r
                    .items
                    .into_iter()
                    .map(|i| BulkRow {
                        number: i.number,
                        ok: i.ok,
                        status: i.status.unwrap_or_default(),
                        message: match (i.message, i.field) {
                            (Some(m), Some(f)) => format!("{m} ({f})"),
                            (Some(m), None) => m,
                            _ => String::new(),
                        },
                    })
                    .collect(),
            };
            render(code, &t)
        }
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_list(&st, &ui, ListQ::default(), None, Some(err)).await
        }
    }
}

// ---------------------------------------------------------------- new

#[derive(Deserialize, Default)]
pub struct NewForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    criticality: String,
    #[serde(default)]
    breadth: String,
    #[serde(default)]
    urgency: String,
    #[serde(default)]
    org_id: String,
    #[serde(default)]
    channel: String,
    parent: Option<String>,
}

#[derive(Template)]
#[template(path = "ticket_new.html")]
struct NewTpl {
    l: Layout,
    form: NewForm,
    kinds: Vec<&'static str>,
    orgs: Vec<(String, String)>,
    is_staff: bool,
    parent: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct NewQ {
    parent: Option<String>,
}

async fn render_new(
    st: &AppState,
    ui: &Ui,
    mut form: NewForm,
    err: Option<(StatusCode, String)>,
) -> Response {
    let a = &ui.who.actor;
    if let Err(e) = a.require(Action::TicketCreate) {
        return bad(ui, ui.ctx.err(e).code);
    }
    let staff = a.require(Action::TicketWork).is_ok();
    let orgs = st.app.list_orgs(a).await.unwrap_or_default();
    if form.org_id.is_empty() {
        form.org_id = a.org_id.to_string();
    }
    if form.kind.is_empty() {
        form.kind = "incident".into();
    }
    if form.channel.is_empty() {
        form.channel = "phone".into();
    }
    let parent = form.parent.clone().filter(|p| number_ok(p));
    let (l, status) = ui.page("tickets", None, err);
    let t = NewTpl {
        l,
        form,
        kinds: Kind::ALL.iter().map(|k| k.as_str()).collect(),
        orgs: orgs
            .into_iter()
            .map(|o| (o.id.to_string(), o.name))
            .collect(),
        is_staff: staff,
        parent,
    };
    render(status, &t)
}

pub async fn new_form(State(st): State<AppState>, ui: Ui, Query(q): Query<NewQ>) -> Response {
    render_new(
        &st,
        &ui,
        NewForm {
            parent: q.parent,
            ..Default::default()
        },
        None,
    )
    .await
}

pub async fn create(State(st): State<AppState>, ui: Ui, Form(f): Form<NewForm>) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let a = &ui.who.actor;
    let staff = a.require(Action::TicketWork).is_ok();
    let org_id = if staff && f.parent.is_none() {
        match parse_uuid_opt(&Some(f.org_id.clone())) {
            Ok(o) => o,
            Err(()) => {
                let e = DomainError::invalid("org_id").into();
                let err = form_error(&ui.ctx, e);
                return render_new(&st, &ui, f, Some(err)).await;
            }
        }
    } else {
        None
    };
    let input = NewTicket {
        kind: f.kind.clone(),
        subject: f.subject.clone(),
        description: f.description.clone(),
        org_id,
        channel: if staff && f.parent.is_none() {
            Some(f.channel.clone())
        } else {
            None
        },
        criticality: Some(f.criticality.clone()),
        breadth: Some(f.breadth.clone()),
        urgency: Some(f.urgency.clone()),
        parent: f.parent.clone(),
        ..Default::default()
    };
    match st.app.create_ticket(a, input).await {
        Ok(t) => redirect(&format!("/tickets/{}?ok=created", t.number)),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_new(&st, &ui, f, Some(err)).await
        }
    }
}

// ---------------------------------------------------------------- one ticket

pub struct EventRow {
    actor: String,
    kind: String,
    at: String,
    body: Option<String>,
    public: bool,
}

#[derive(Template)]
#[template(path = "ticket.html")]
struct TicketTpl {
    l: Layout,
    t: Ticket,
    events: Vec<EventRow>,
    children: Vec<TicketBrief>,
    parent_number: Option<String>,
    org: String,
    requester: String,
    team: String,
    assignee: String,
    created: String,
    open: bool,
    is_staff: bool,
    can_comment: bool,
    can_override: bool,
    can_rate: bool,
    can_cancel: bool,
    awaiting_me: bool,
    teams: Vec<(String, String)>,
    staff: Vec<(String, String)>,
    me: String,
    /// (clock label key, state, due, explanation) for response and resolution.
    sla: Vec<(&'static str, String, String, String)>,
    sla_policy: String,
    /// The sub-status's name in the page's language.
    sub_label: Option<String>,
    /// (code, name) of the active pending sub-statuses.
    pend_options: Vec<(String, String)>,
    attachments: Vec<AttachmentRow>,
    can_attach: bool,
    /// The CIs the ticket affects and the impact they suggest.
    cmdb: super::cmdb::TicketCmdb,
    /// The largest attachment, e.g. `20 MiB`.
    max_attachment: String,
    watchers: Vec<WatcherRow>,
    watching: bool,
    can_watch: bool,
    /// (user id, name) of people staff may add as watchers.
    watch_candidates: Vec<(String, String)>,
}

pub struct AttachmentRow {
    id: String,
    name: String,
    size: String,
    content_type: String,
    by: String,
    at: String,
    internal: bool,
}

pub struct WatcherRow {
    user_id: String,
    name: String,
    removable: bool,
}

/// A size for people: `512 B`, `1.5 KiB`, `20.0 MiB`.
fn human_size(n: i64) -> String {
    let n = n.max(0) as f64;
    if n < 1024.0 {
        format!("{n} B")
    } else if n < 1024.0 * 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else {
        format!("{:.1} MiB", n / 1024.0 / 1024.0)
    }
}

async fn render_ticket(
    st: &AppState,
    ui: &Ui,
    number: &str,
    flash: Option<&'static str>,
    err: Option<(StatusCode, String)>,
) -> Response {
    let a = &ui.who.actor;
    if !number_ok(number) {
        return bad(ui, ErrorCode::NotFound);
    }
    let d = match st.app.get_ticket(a, number).await {
        Ok(d) => d,
        Err(e) => return bad(ui, ui.ctx.err(e).code),
    };
    let t = d.ticket;
    let staff = a.require(Action::TicketWork).is_ok();
    let is_requester = a.user_id.is_some() && a.user_id == t.requester_id;
    let status = Status::parse(&t.status).unwrap_or(Status::Closed);
    let org = st
        .app
        .get_org(a, t.org_id)
        .await
        .map(|o| o.name)
        .unwrap_or_default();
    let people = names(st, ui, t.requester_id.into_iter()).await;
    let teams_all = st.app.list_teams(a).await.unwrap_or_default();
    let team = t
        .team_id
        .and_then(|id| {
            teams_all
                .iter()
                .find(|x| x.id == id)
                .map(|x| x.name.clone())
        })
        .unwrap_or_else(|| "—".into());
    let parent_number = match t.parent_id {
        Some(p) => yunwei_store::tickets::get(&st.app.db, p)
            .await
            .ok()
            .flatten()
            .filter(|x| a.scope().allows(x.org_id))
            .map(|x| x.number),
        None => None,
    };
    let staff_opts = if staff {
        staff_options(st, ui).await
    } else {
        Vec::new()
    };
    let zh = ui.ctx.lang == yunwei_domain::Lang::Zh;
    let (sla, sla_policy) = match st.app.explain_sla(a, number).await {
        Ok(x) => {
            let clock = |key: &'static str, c: &yunwei_service::sla::SlaClock| {
                let due = c.due_at.map(fmt_time).unwrap_or_else(|| "—".into());
                (
                    key,
                    c.state.clone(),
                    due,
                    if zh {
                        c.text_zh.clone()
                    } else {
                        c.text_en.clone()
                    },
                )
            };
            (
                vec![
                    clock("sla.response", &x.response),
                    clock("sla.resolution", &x.resolution),
                ],
                format!("{} · {}", x.policy_name, x.calendar_name),
            )
        }
        Err(_) => (Vec::new(), String::new()),
    };
    let events = d
        .events
        .into_iter()
        .map(|e| EventRow {
            actor: e.actor_name,
            kind: e.kind,
            at: fmt_time(e.at),
            body: e.body,
            public: e.public,
        })
        .collect();
    let subs = st
        .app
        .list_sub_statuses(a, None, false)
        .await
        .unwrap_or_default();
    let sub_name = |s: &yunwei_store::substatus::SubStatus| {
        if zh {
            s.name_zh.clone()
        } else {
            s.name_en.clone()
        }
    };
    let sub_label = t.sub_status.as_ref().map(|code| {
        subs.iter()
            .find(|s| s.phase == t.status && &s.code == code)
            .map(sub_name)
            .unwrap_or_else(|| code.clone())
    });
    let pend_options = subs
        .iter()
        .filter(|s| s.active && s.phase == Status::Pending.as_str())
        .map(|s| (s.code.clone(), sub_name(s)))
        .collect();
    let attachments = st
        .app
        .list_attachments(a, number)
        .await
        .unwrap_or_default()
        .into_iter()
        .rev()
        .map(|x| AttachmentRow {
            id: x.id.to_string(),
            size: human_size(x.size),
            content_type: x.content_type,
            by: x.uploaded_by_name,
            at: fmt_time(x.created_at),
            internal: x.internal,
            name: x.file_name,
        })
        .collect();
    let watcher_list = st.app.list_watchers(a, number).await.unwrap_or_default();
    let watching = a
        .user_id
        .is_some_and(|me| watcher_list.iter().any(|w| w.user_id == me));
    let watchers = watcher_list
        .iter()
        .map(|w| WatcherRow {
            user_id: w.user_id.to_string(),
            name: w.display_name.clone(),
            removable: staff || Some(w.user_id) == a.user_id,
        })
        .collect();
    let watch_candidates = if staff {
        let mut c: Vec<(String, String)> = staff_opts.clone();
        if let Ok(p) = st
            .app
            .list_users(
                a,
                UserQuery {
                    org_id: Some(t.org_id),
                    limit: Some(200),
                    ..Default::default()
                },
            )
            .await
        {
            c.extend(
                p.items
                    .into_iter()
                    .filter(|u| !u.disabled && u.org_id == t.org_id)
                    .map(|u| {
                        (
                            u.id.to_string(),
                            format!("{} ({})", u.display_name, u.username),
                        )
                    }),
            );
        }
        let mut seen: std::collections::HashSet<String> =
            watcher_list.iter().map(|w| w.user_id.to_string()).collect();
        c.retain(|(id, _)| seen.insert(id.clone()));
        c
    } else {
        Vec::new()
    };
    let cmdb = super::cmdb::ticket_section(st, ui, &t.number).await;
    let (l, code) = ui.page("tickets", flash, err);
    let tpl = TicketTpl {
        l,
        cmdb,
        org,
        requester: t
            .requester_id
            .and_then(|i| people.get(&i).cloned())
            .unwrap_or_else(|| "—".into()),
        assignee: d.assignee_name.clone().unwrap_or_else(|| "—".into()),
        team,
        created: fmt_time(t.created_at),
        open: status.is_open(),
        is_staff: staff,
        can_comment: a.require(Action::TicketCreate).is_ok(),
        can_override: a.require(Action::TicketPriorityOverride).is_ok(),
        can_rate: is_requester && status == Status::Closed && t.satisfaction.is_none(),
        can_cancel: matches!(status, Status::New | Status::Assigned) && (staff || is_requester),
        awaiting_me: is_requester && status == Status::Resolved,
        teams: teams_all
            .into_iter()
            .map(|x| (x.id.to_string(), x.name))
            .collect(),
        staff: staff_opts,
        me: a.user_id.map(|u| u.to_string()).unwrap_or_default(),
        sla,
        sla_policy,
        sub_label,
        pend_options,
        attachments,
        can_attach: status.is_open() && a.require(Action::TicketCreate).is_ok(),
        max_attachment: human_size(st.app.settings.attachment_max_bytes as i64),
        watchers,
        watching,
        can_watch: a.require(Action::TicketCreate).is_ok(),
        watch_candidates,
        events,
        children: d.children,
        parent_number,
        t,
    };
    render(code, &tpl)
}

#[derive(Deserialize, Default)]
pub struct OkQ {
    ok: Option<String>,
}

pub async fn show(
    State(st): State<AppState>,
    ui: Ui,
    Path(n): Path<String>,
    Query(q): Query<OkQ>,
) -> Response {
    // A number typed loosely (`inc-2026-42`) goes to its canonical address.
    match yunwei_domain::ticket::normalize_number(&n) {
        Some(c) if c != n => redirect(&format!("/tickets/{c}")),
        _ => render_ticket(&st, &ui, &n, flash_key(q.ok.as_deref()), None).await,
    }
}

#[derive(Deserialize)]
pub struct ActForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    action: String,
    note: Option<String>,
    resolution: Option<String>,
    sub_status: Option<String>,
    criticality: Option<String>,
    breadth: Option<String>,
    urgency: Option<String>,
    category: Option<String>,
    team_id: Option<String>,
    assignee_id: Option<String>,
}

pub async fn act(
    State(st): State<AppState>,
    ui: Ui,
    Path(n): Path<String>,
    Form(f): Form<ActForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let (Ok(team_id), Ok(assignee_id)) =
        (parse_uuid_opt(&f.team_id), parse_uuid_opt(&f.assignee_id))
    else {
        let err = form_error(&ui.ctx, DomainError::invalid("assignee_id").into());
        return render_ticket(&st, &ui, &n, None, Some(err)).await;
    };
    let input = TransitionInput {
        action: f.action,
        note: blank(&f.note),
        resolution: blank(&f.resolution),
        sub_status: blank(&f.sub_status),
        category: blank(&f.category),
        criticality: blank(&f.criticality),
        breadth: blank(&f.breadth),
        urgency: blank(&f.urgency),
        team_id,
        assignee_id,
        outage_end: None,
    };
    match st.app.transition_ticket(&ui.who.actor, &n, input).await {
        Ok(t) => redirect(&format!("/tickets/{}?ok=saved", t.number)),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_ticket(&st, &ui, &n, None, Some(err)).await
        }
    }
}

#[derive(Deserialize)]
pub struct CommentForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    body: String,
    internal: Option<String>,
}

pub async fn comment(
    State(st): State<AppState>,
    ui: Ui,
    Path(n): Path<String>,
    Form(f): Form<CommentForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    match st
        .app
        .comment_ticket(&ui.who.actor, &n, &f.body, f.internal.is_some())
        .await
    {
        Ok(_) => redirect(&format!("/tickets/{n}?ok=saved")),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_ticket(&st, &ui, &n, None, Some(err)).await
        }
    }
}

#[derive(Deserialize)]
pub struct PriorityForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    priority: String,
    reason: String,
}

pub async fn priority(
    State(st): State<AppState>,
    ui: Ui,
    Path(n): Path<String>,
    Form(f): Form<PriorityForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let p = f.priority.parse::<i64>().unwrap_or(0);
    match st
        .app
        .override_priority(&ui.who.actor, &n, p, &f.reason)
        .await
    {
        Ok(_) => redirect(&format!("/tickets/{n}?ok=saved")),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_ticket(&st, &ui, &n, None, Some(err)).await
        }
    }
}

#[derive(Deserialize)]
pub struct RateForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    score: Option<String>,
    comment: Option<String>,
}

pub async fn rate(
    State(st): State<AppState>,
    ui: Ui,
    Path(n): Path<String>,
    Form(f): Form<RateForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let score = f
        .score
        .as_deref()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0);
    match st
        .app
        .rate_ticket(&ui.who.actor, &n, score, f.comment.as_deref())
        .await
    {
        Ok(_) => redirect(&format!("/tickets/{n}?ok=saved")),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_ticket(&st, &ui, &n, None, Some(err)).await
        }
    }
}

// ---------------------------------------------------------------- attachments, watchers

/// Upload a file from the ticket page (a multipart form whose `_csrf` field is checked before
/// anything is stored).
pub async fn upload(
    State(st): State<AppState>,
    ui: Ui,
    Path(n): Path<String>,
    mp: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let fail = |code: ErrorCode| form_error(&ui.ctx, DomainError::field(code, "file").into());
    let Ok(mp) = mp else {
        let err = fail(ErrorCode::UnsupportedMediaType);
        return render_ticket(&st, &ui, &n, None, Some(err)).await;
    };
    let parts = match crate::api::read_upload(mp, st.app.settings.attachment_max_bytes).await {
        Ok(p) => p,
        Err(code) => {
            // Refused while reading (too large, malformed): nothing was stored.
            let err = fail(code);
            return render_ticket(&st, &ui, &n, None, Some(err)).await;
        }
    };
    if let Err(r) = ui.check_csrf(parts.csrf.as_deref().unwrap_or("")) {
        return r;
    }
    let Some(up) = parts
        .file
        .filter(|f| !f.file_name.is_empty() || !f.content.is_empty())
    else {
        let err = fail(ErrorCode::ValidationFailed);
        return render_ticket(&st, &ui, &n, None, Some(err)).await;
    };
    match st.app.upload_attachment(&ui.who.actor, &n, up).await {
        Ok(_) => redirect(&format!("/tickets/{n}?ok=saved")),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_ticket(&st, &ui, &n, None, Some(err)).await
        }
    }
}

#[derive(Deserialize)]
pub struct WatchForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    user_id: Option<String>,
}

/// Watch the ticket (oneself), or (staff) add somebody as a watcher.
pub async fn watch(
    State(st): State<AppState>,
    ui: Ui,
    Path(n): Path<String>,
    Form(f): Form<WatchForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(user_id) = parse_uuid_opt(&f.user_id) else {
        let err = form_error(&ui.ctx, DomainError::invalid("user_id").into());
        return render_ticket(&st, &ui, &n, None, Some(err)).await;
    };
    match st.app.watch_ticket(&ui.who.actor, &n, user_id).await {
        Ok(_) => redirect(&format!("/tickets/{n}?ok=saved")),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_ticket(&st, &ui, &n, None, Some(err)).await
        }
    }
}

/// Stop watching (oneself), or (staff) remove a watcher.
pub async fn unwatch(
    State(st): State<AppState>,
    ui: Ui,
    Path(n): Path<String>,
    Form(f): Form<WatchForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let user_id = match parse_uuid_opt(&f.user_id) {
        Ok(Some(u)) => Some(u),
        Ok(None) => ui.who.actor.user_id,
        Err(()) => None,
    };
    let Some(user_id) = user_id else {
        let err = form_error(&ui.ctx, DomainError::invalid("user_id").into());
        return render_ticket(&st, &ui, &n, None, Some(err)).await;
    };
    match st.app.unwatch_ticket(&ui.who.actor, &n, user_id).await {
        Ok(()) => redirect(&format!("/tickets/{n}?ok=saved")),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_ticket(&st, &ui, &n, None, Some(err)).await
        }
    }
}
