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
}

#[derive(Default)]
pub struct Filters {
    q: String,
    status: String,
    kind: String,
    priority: String,
    open: bool,
    mine: bool,
    queue: bool,
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
    next_href: Option<String>,
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
}

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

pub async fn list(State(st): State<AppState>, ui: Ui, Query(q): Query<ListQ>) -> Response {
    let a = &ui.who.actor;
    let staff = a.require(Action::TicketWork).is_ok();
    let priority = match blank(&q.priority).map(|p| p.parse::<i64>()) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => return bad(&ui, ErrorCode::ValidationFailed),
    };
    let open = q.open.as_deref() == Some("true");
    let mine = q.mine.as_deref() == Some("true");
    let queue = q.sort.as_deref() == Some("queue");
    let query = TicketQuery {
        status: blank(&q.status),
        open: Some(open),
        priority,
        kind: blank(&q.kind),
        org_id: None,
        assignee: None,
        team: None,
        mine: Some(mine),
        q: blank(&q.q),
        sort: if queue { Some("queue".into()) } else { None },
        cursor: blank(&q.cursor),
        limit: Some(50),
    };
    let page = match st.app.list_tickets(a, query).await {
        Ok(p) => p,
        Err(e) => return bad(&ui, ui.ctx.err(e).code),
    };
    let orgs: HashMap<Uuid, String> = st
        .app
        .list_orgs(a)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    let who = names(&st, &ui, page.items.iter().filter_map(|t| t.assignee_id)).await;
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
            "/tickets?q={}&status={}&kind={}&priority={}&open={}&mine={}&sort={}&cursor={c}",
            enc(&q.q),
            enc(&q.status),
            enc(&q.kind),
            enc(&q.priority),
            enc(&q.open),
            enc(&q.mine),
            enc(&q.sort)
        )
    });
    let mut l = ui.layout("tickets");
    l.flash = flash_key(q.ok.as_deref());
    let t = ListTpl {
        l,
        rows,
        f: Filters {
            q: q.q.unwrap_or_default(),
            status: q.status.unwrap_or_default(),
            kind: q.kind.unwrap_or_default(),
            priority: q.priority.unwrap_or_default(),
            open,
            mine,
            queue,
        },
        statuses: Status::ALL.iter().map(|s| s.as_str()).collect(),
        kinds: Kind::ALL.iter().map(|k| k.as_str()).collect(),
        is_staff: staff,
        can_create: a.require(Action::TicketCreate).is_ok(),
        next_href,
    };
    render(StatusCode::OK, &t)
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
    let people = names(
        st,
        ui,
        [t.requester_id, t.assignee_id].into_iter().flatten(),
    )
    .await;
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
    let (l, code) = ui.page("tickets", flash, err);
    let tpl = TicketTpl {
        l,
        org,
        requester: t
            .requester_id
            .and_then(|i| people.get(&i).cloned())
            .unwrap_or_else(|| "—".into()),
        assignee: t
            .assignee_id
            .and_then(|i| people.get(&i).cloned())
            .unwrap_or_else(|| "—".into()),
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
    render_ticket(&st, &ui, &n, flash_key(q.ok.as_deref()), None).await
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
