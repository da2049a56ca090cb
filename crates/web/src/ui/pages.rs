//! UI page handlers.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;
use yunwei_domain::{Action, ErrorCode, Lang, Role};
use yunwei_service::audit::AuditQuery;
use yunwei_service::orgs::{NewDepartment, NewOrg, OrgPatch};
use yunwei_service::teams::{NewTeam, TeamPatch};
use yunwei_service::users::{NewUser, UserPatch, UserQuery};
use yunwei_store::orgs::Organization;
use yunwei_store::teams::Team;
use yunwei_store::users::User;

use super::{
    anonymous_layout, error_page, flash_key, fmt_opt_time, fmt_time, redirect, render, safe_next,
    with_cookie, Layout, Ui,
};
use crate::extract::{cookie, Ctx, LANG_COOKIE, SESSION_COOKIE};
use crate::AppState;

const PRE_COOKIE: &str = "yw_pre";

pub(super) fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A service error as (status, message) for re-rendering a form.
pub(super) fn form_error(ctx: &Ctx, e: yunwei_service::Error) -> (StatusCode, String) {
    let api = ctx.err(e);
    let mut msg = api.code.message(ctx.lang).to_string();
    if let Some(f) = &api.field {
        msg.push_str(&format!(" ({f})"));
    }
    (status_of(api.code), msg)
}

pub(super) fn blank(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
}

pub(super) fn parse_uuid_opt(s: &Option<String>) -> Result<Option<Uuid>, ()> {
    match blank(s) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ()),
    }
}

#[derive(Deserialize, Default)]
pub struct Flash {
    ok: Option<String>,
}

// ---------------------------------------------------------------- sign-in, language

#[derive(Template)]
#[template(path = "login.html")]
struct LoginTpl {
    l: Layout,
    next: String,
    username: String,
}

#[derive(Deserialize)]
pub struct NextQ {
    next: Option<String>,
}

fn cookie_attrs(st: &AppState) -> &'static str {
    if st.config.secure_cookies {
        "; Path=/; HttpOnly; SameSite=Lax; Secure"
    } else {
        "; Path=/; HttpOnly; SameSite=Lax"
    }
}

fn login_form(
    st: &AppState,
    headers: &HeaderMap,
    ctx: &Ctx,
    next: &str,
    username: &str,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    // Sign-in CSRF: a random value in a cookie and in the form must match.
    let pre = cookie(headers, PRE_COOKIE)
        .filter(|v| v.len() >= 32)
        .map(str::to_string);
    let fresh = pre.is_none();
    let pre = pre.unwrap_or_else(yunwei_service::auth::random_secret);
    let mut l = anonymous_layout(
        ctx.lang,
        &format!("/login?next={}", super::encode(next)),
        pre.clone(),
    );
    l.error = error;
    let r = render(
        status,
        &LoginTpl {
            l,
            next: next.to_string(),
            username: username.to_string(),
        },
    );
    if fresh {
        with_cookie(
            r,
            format!(
                "{PRE_COOKIE}={pre}{}",
                cookie_attrs(st).replace("Lax", "Strict")
            ),
        )
    } else {
        r
    }
}

pub async fn login_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    Query(q): Query<NextQ>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        if let Ok(Some(_)) = st.app.session(secret, ctx.ip.clone()).await {
            return redirect(&next);
        }
    }
    login_form(&st, &headers, &ctx, &next, "", StatusCode::OK, None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(rename = "_csrf")]
    csrf: String,
    next: Option<String>,
}

pub async fn login_submit(
    State(st): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    let pre = cookie(&headers, PRE_COOKIE).unwrap_or("");
    if pre.is_empty() || !crate::extract::constant_time_eq(pre, &f.csrf) {
        let code = ErrorCode::CsrfFailed;
        return login_form(
            &st,
            &headers,
            &ctx,
            &next,
            &f.username,
            status_of(code),
            Some(code.message(ctx.lang).into()),
        );
    }
    match st.app.login(&f.username, &f.password, ctx.ip.clone()).await {
        Ok(s) => {
            let mut r = redirect(&next);
            r = with_cookie(
                r,
                format!("{SESSION_COOKIE}={}{}", s.secret, cookie_attrs(&st)),
            );
            with_cookie(r, format!("{PRE_COOKIE}=; Path=/; Max-Age=0"))
        }
        Err(e) => {
            let (status, msg) = form_error(&ctx, e);
            login_form(&st, &headers, &ctx, &next, &f.username, status, Some(msg))
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

pub async fn logout(State(st): State<AppState>, ui: Ui, Form(f): Form<CsrfForm>) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    if let Some(h) = &ui.who.session_hash {
        if let Err(e) = st.app.logout(&ui.who.actor, h).await {
            return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id);
        }
    }
    with_cookie(
        redirect("/login"),
        format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),
    )
}

#[derive(Deserialize)]
pub struct LangQ {
    to: String,
    next: Option<String>,
}

/// Switch the interface language (a cookie; no record changes).
pub async fn switch_lang(ctx: Ctx, Query(q): Query<LangQ>) -> Response {
    let Some(lang) = Lang::parse(&q.to) else {
        return error_page(ErrorCode::ValidationFailed, ctx.lang, &ctx.request_id);
    };
    let next = safe_next(q.next.as_deref());
    with_cookie(
        redirect(&next),
        format!(
            "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
            lang.tag()
        ),
    )
}

// ---------------------------------------------------------------- home

#[derive(Template)]
#[template(path = "home.html")]
struct HomeTpl {
    l: Layout,
    name: String,
    orgs: usize,
    users: String,
    teams: usize,
    announcements: Vec<super::announcements::Row>,
}

pub async fn home(State(st): State<AppState>, ui: Ui) -> Response {
    let a = &ui.who.actor;
    let orgs = st
        .app
        .list_orgs(a)
        .await
        .map(|v| v.iter().filter(|o| o.kind == "customer").count())
        .unwrap_or(0);
    let users = match st
        .app
        .list_users(
            a,
            UserQuery {
                limit: Some(200),
                ..Default::default()
            },
        )
        .await
    {
        Ok(p) if p.next_cursor.is_some() => "200+".to_string(),
        Ok(p) => p.items.len().to_string(),
        Err(_) => "0".into(),
    };
    let teams = st.app.list_teams(a).await.map(|v| v.len()).unwrap_or(0);
    let t = HomeTpl {
        l: ui.layout("home"),
        name: ui.who.user.display_name.clone(),
        orgs,
        users,
        teams,
        announcements: super::announcements::current(&st, &ui).await,
    };
    render(StatusCode::OK, &t)
}

// ---------------------------------------------------------------- organizations

#[derive(Template)]
#[template(path = "orgs.html")]
struct OrgsTpl {
    l: Layout,
    orgs: Vec<Organization>,
    can_write: bool,
}

async fn render_orgs(
    st: &AppState,
    ui: &Ui,
    flash: Option<&'static str>,
    err: Option<(StatusCode, String)>,
) -> Response {
    let orgs = match st.app.list_orgs(&ui.who.actor).await {
        Ok(o) => o,
        Err(e) => return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
    };
    let (l, status) = ui.page("orgs", flash, err);
    render(
        status,
        &OrgsTpl {
            l,
            orgs,
            can_write: ui.who.actor.require(Action::OrgWrite).is_ok(),
        },
    )
}

pub async fn orgs(State(st): State<AppState>, ui: Ui, Query(f): Query<Flash>) -> Response {
    render_orgs(&st, &ui, flash_key(f.ok.as_deref()), None).await
}

#[derive(Deserialize)]
pub struct OrgForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    name: String,
    code: Option<String>,
    contact: Option<String>,
    disabled: Option<String>,
}

pub async fn org_create(State(st): State<AppState>, ui: Ui, Form(f): Form<OrgForm>) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    match st
        .app
        .create_org(
            &ui.who.actor,
            NewOrg {
                name: f.name,
                code: f.code,
                contact: f.contact,
            },
        )
        .await
    {
        Ok(o) => redirect(&format!("/orgs/{}?ok=created", o.id)),
        Err(e) => render_orgs(&st, &ui, None, Some(form_error(&ui.ctx, e))).await,
    }
}

#[derive(Template)]
#[template(path = "org.html")]
struct OrgTpl {
    l: Layout,
    org: Organization,
    depts: Vec<(String, String)>,
    dept_options: Vec<(Uuid, String)>,
    users: Vec<User>,
    can_write: bool,
}

async fn render_org(
    st: &AppState,
    ui: &Ui,
    id: Uuid,
    flash: Option<&'static str>,
    err: Option<(StatusCode, String)>,
) -> Response {
    let a = &ui.who.actor;
    let org = match st.app.get_org(a, id).await {
        Ok(o) => o,
        Err(e) => return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
    };
    let depts = st.app.list_departments(a, id).await.unwrap_or_default();
    let names: HashMap<Uuid, String> = depts.iter().map(|d| (d.id, d.name.clone())).collect();
    let rows = depts
        .iter()
        .map(|d| {
            (
                d.name.clone(),
                d.parent_id
                    .and_then(|p| names.get(&p).cloned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let dept_options = depts.iter().map(|d| (d.id, d.name.clone())).collect();
    let users = st
        .app
        .list_users(
            a,
            UserQuery {
                org_id: Some(id),
                limit: Some(200),
                ..Default::default()
            },
        )
        .await
        .map(|p| p.items)
        .unwrap_or_default();
    let (l, status) = ui.page("orgs", flash, err);
    let can_write = a.require(Action::OrgWrite).is_ok();
    render(
        status,
        &OrgTpl {
            l,
            org,
            depts: rows,
            dept_options,
            users,
            can_write,
        },
    )
}

pub async fn org(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Query(f): Query<Flash>,
) -> Response {
    let Ok(id) = id.parse() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    render_org(&st, &ui, id, flash_key(f.ok.as_deref()), None).await
}

pub async fn org_update(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<OrgForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(id) = id.parse() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    let p = OrgPatch {
        name: Some(f.name),
        code: Some(f.code.unwrap_or_default()),
        contact: Some(f.contact.unwrap_or_default()),
        disabled: Some(f.disabled.is_some()),
    };
    match st.app.update_org(&ui.who.actor, id, p).await {
        Ok(o) => redirect(&format!("/orgs/{}?ok=saved", o.id)),
        Err(e) => render_org(&st, &ui, id, None, Some(form_error(&ui.ctx, e))).await,
    }
}

#[derive(Deserialize)]
pub struct DeptForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    name: String,
    parent_id: Option<String>,
}

pub async fn dept_create(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<DeptForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(id) = id.parse() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    let Ok(parent_id) = parse_uuid_opt(&f.parent_id) else {
        let e = yunwei_domain::DomainError::invalid("parent_id").into();
        return render_org(&st, &ui, id, None, Some(form_error(&ui.ctx, e))).await;
    };
    match st
        .app
        .create_department(
            &ui.who.actor,
            id,
            NewDepartment {
                name: f.name,
                parent_id,
            },
        )
        .await
    {
        Ok(_) => redirect(&format!("/orgs/{id}?ok=created")),
        Err(e) => render_org(&st, &ui, id, None, Some(form_error(&ui.ctx, e))).await,
    }
}

// ---------------------------------------------------------------- users

pub struct UserRow {
    id: Uuid,
    username: String,
    display_name: String,
    role: String,
    org_name: String,
    disabled: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersTpl {
    l: Layout,
    users: Vec<UserRow>,
    orgs: Vec<(String, String)>,
    roles: Vec<&'static str>,
    q: String,
    org_id: String,
    role: String,
    next_href: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct UsersQ {
    q: Option<String>,
    org_id: Option<String>,
    role: Option<String>,
    cursor: Option<String>,
    ok: Option<String>,
}

async fn render_users(
    st: &AppState,
    ui: &Ui,
    q: UsersQ,
    err: Option<(StatusCode, String)>,
) -> Response {
    let a = &ui.who.actor;
    let (Ok(org_id), Ok(cursor)) = (parse_uuid_opt(&q.org_id), parse_uuid_opt(&q.cursor)) else {
        return error_page(ErrorCode::ValidationFailed, ui.ctx.lang, &ui.ctx.request_id);
    };
    let query = UserQuery {
        org_id,
        role: blank(&q.role),
        q: blank(&q.q),
        cursor,
        limit: Some(50),
    };
    let page = match st.app.list_users(a, query).await {
        Ok(p) => p,
        Err(e) => return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
    };
    let orgs = st.app.list_orgs(a).await.unwrap_or_default();
    let org_names: HashMap<Uuid, String> = orgs.iter().map(|o| (o.id, o.name.clone())).collect();
    let users = page
        .items
        .into_iter()
        .map(|u| UserRow {
            org_name: org_names.get(&u.org_id).cloned().unwrap_or_default(),
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            role: u.role,
            disabled: u.disabled,
        })
        .collect();
    let next_href = page.next_cursor.map(|c| {
        format!(
            "/users?q={}&org_id={}&role={}&cursor={c}",
            super::encode(q.q.as_deref().unwrap_or("")),
            super::encode(q.org_id.as_deref().unwrap_or("")),
            super::encode(q.role.as_deref().unwrap_or(""))
        )
    });
    let mut l = ui.layout("users");
    l.flash = flash_key(q.ok.as_deref());
    let status = err.as_ref().map(|e| e.0).unwrap_or(StatusCode::OK);
    l.error = err.map(|e| e.1);
    let t = UsersTpl {
        l,
        users,
        orgs: orgs
            .iter()
            .map(|o| (o.id.to_string(), o.name.clone()))
            .collect(),
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        q: q.q.unwrap_or_default(),
        org_id: q.org_id.unwrap_or_default(),
        role: q.role.unwrap_or_default(),
        next_href,
    };
    render(status, &t)
}

pub async fn users(State(st): State<AppState>, ui: Ui, Query(q): Query<UsersQ>) -> Response {
    render_users(&st, &ui, q, None).await
}

#[derive(Deserialize)]
pub struct UserForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    username: String,
    display_name: Option<String>,
    email: Option<String>,
    role: String,
    org_id: Option<String>,
    password: String,
}

pub async fn user_create(State(st): State<AppState>, ui: Ui, Form(f): Form<UserForm>) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(org_id) = parse_uuid_opt(&f.org_id) else {
        let e = yunwei_domain::DomainError::invalid("org_id").into();
        return render_users(&st, &ui, UsersQ::default(), Some(form_error(&ui.ctx, e))).await;
    };
    let input = NewUser {
        username: f.username,
        display_name: f.display_name,
        email: f.email,
        phone: None,
        role: f.role,
        org_id,
        department_id: None,
        password: f.password,
        lang: None,
    };
    match st.app.create_user(&ui.who.actor, input).await {
        Ok(u) => redirect(&format!("/users/{}?ok=created", u.id)),
        Err(e) => render_users(&st, &ui, UsersQ::default(), Some(form_error(&ui.ctx, e))).await,
    }
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserTpl {
    l: Layout,
    user: User,
    roles: Vec<&'static str>,
    orgs: Vec<(String, String)>,
    org_id: String,
    depts: Vec<(String, String)>,
    dept_id: String,
}

async fn render_user(
    st: &AppState,
    ui: &Ui,
    id: Uuid,
    flash: Option<&'static str>,
    err: Option<(StatusCode, String)>,
) -> Response {
    let a = &ui.who.actor;
    if let Err(e) = a.require(Action::UserWrite) {
        return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id);
    }
    let user = match st.app.get_user(a, id).await {
        Ok(u) => u,
        Err(e) => return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
    };
    let orgs = st.app.list_orgs(a).await.unwrap_or_default();
    let depts = st
        .app
        .list_departments(a, user.org_id)
        .await
        .unwrap_or_default();
    let (l, status) = ui.page("users", flash, err);
    let t = UserTpl {
        l,
        org_id: user.org_id.to_string(),
        dept_id: user
            .department_id
            .map(|d| d.to_string())
            .unwrap_or_default(),
        user,
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        orgs: orgs
            .iter()
            .map(|o| (o.id.to_string(), o.name.clone()))
            .collect(),
        depts: depts
            .iter()
            .map(|d| (d.id.to_string(), d.name.clone()))
            .collect(),
    };
    render(status, &t)
}

pub async fn user(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Query(f): Query<Flash>,
) -> Response {
    let Ok(id) = id.parse() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    render_user(&st, &ui, id, flash_key(f.ok.as_deref()), None).await
}

#[derive(Deserialize)]
pub struct UserEditForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    display_name: String,
    email: Option<String>,
    phone: Option<String>,
    role: String,
    org_id: String,
    department_id: Option<String>,
    disabled: Option<String>,
}

pub async fn user_update(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<UserEditForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(id) = id.parse() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    let (Ok(org_id), Ok(dept)) = (f.org_id.parse::<Uuid>(), parse_uuid_opt(&f.department_id))
    else {
        let e = yunwei_domain::DomainError::invalid("org_id").into();
        return render_user(&st, &ui, id, None, Some(form_error(&ui.ctx, e))).await;
    };
    let p = UserPatch {
        display_name: Some(f.display_name),
        email: Some(f.email.unwrap_or_default()),
        phone: Some(f.phone.unwrap_or_default()),
        role: Some(f.role),
        org_id: Some(org_id),
        department_id: dept,
        clear_department: dept.is_none(),
        disabled: Some(f.disabled.is_some()),
        lang: None,
    };
    match st.app.update_user(&ui.who.actor, id, p).await {
        Ok(_) => redirect(&format!("/users/{id}?ok=saved")),
        Err(e) => render_user(&st, &ui, id, None, Some(form_error(&ui.ctx, e))).await,
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    password: String,
}

pub async fn user_password(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<PasswordForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(id) = id.parse() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    match st
        .app
        .set_user_password(&ui.who.actor, id, &f.password)
        .await
    {
        Ok(()) => redirect(&format!("/users/{id}?ok=saved")),
        Err(e) => render_user(&st, &ui, id, None, Some(form_error(&ui.ctx, e))).await,
    }
}

// ---------------------------------------------------------------- teams

#[derive(Template)]
#[template(path = "teams.html")]
struct TeamsTpl {
    l: Layout,
    teams: Vec<Team>,
    can_write: bool,
}

async fn render_teams(
    st: &AppState,
    ui: &Ui,
    flash: Option<&'static str>,
    err: Option<(StatusCode, String)>,
) -> Response {
    let teams = match st.app.list_teams(&ui.who.actor).await {
        Ok(t) => t,
        Err(e) => return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
    };
    let (l, status) = ui.page("teams", flash, err);
    render(
        status,
        &TeamsTpl {
            l,
            teams,
            can_write: ui.who.actor.require(Action::TeamWrite).is_ok(),
        },
    )
}

pub async fn teams(State(st): State<AppState>, ui: Ui, Query(f): Query<Flash>) -> Response {
    render_teams(&st, &ui, flash_key(f.ok.as_deref()), None).await
}

#[derive(Deserialize)]
pub struct TeamForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    name: String,
    description: Option<String>,
}

pub async fn team_create(State(st): State<AppState>, ui: Ui, Form(f): Form<TeamForm>) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    match st
        .app
        .create_team(
            &ui.who.actor,
            NewTeam {
                name: f.name,
                description: f.description,
            },
        )
        .await
    {
        Ok(t) => redirect(&format!("/teams/{}?ok=created", t.id)),
        Err(e) => render_teams(&st, &ui, None, Some(form_error(&ui.ctx, e))).await,
    }
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamTpl {
    l: Layout,
    team: Team,
    members: Vec<User>,
    staff: Vec<(String, String)>,
    can_write: bool,
}

async fn render_team(
    st: &AppState,
    ui: &Ui,
    id: Uuid,
    flash: Option<&'static str>,
    err: Option<(StatusCode, String)>,
) -> Response {
    let a = &ui.who.actor;
    let t = match st.app.get_team(a, id).await {
        Ok(t) => t,
        Err(e) => return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
    };
    let mut members = Vec::new();
    for m in &t.members {
        if let Ok(u) = st.app.get_user(a, *m).await {
            members.push(u);
        }
    }
    let provider = st
        .app
        .list_orgs(a)
        .await
        .unwrap_or_default()
        .into_iter()
        .find(|o| o.kind == "provider")
        .map(|o| o.id);
    let staff = st
        .app
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
        .filter(|u| !t.members.contains(&u.id) && !u.disabled)
        .map(|u| {
            (
                u.id.to_string(),
                format!("{} ({})", u.display_name, u.username),
            )
        })
        .collect();
    let (l, status) = ui.page("teams", flash, err);
    let can_write = a.require(Action::TeamWrite).is_ok();
    render(
        status,
        &TeamTpl {
            l,
            team: t.team,
            members,
            staff,
            can_write,
        },
    )
}

pub async fn team(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Query(f): Query<Flash>,
) -> Response {
    let Ok(id) = id.parse() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    render_team(&st, &ui, id, flash_key(f.ok.as_deref()), None).await
}

pub async fn team_update(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<TeamForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(id) = id.parse() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    let p = TeamPatch {
        name: Some(f.name),
        description: Some(f.description.unwrap_or_default()),
    };
    match st.app.update_team(&ui.who.actor, id, p).await {
        Ok(_) => redirect(&format!("/teams/{id}?ok=saved")),
        Err(e) => render_team(&st, &ui, id, None, Some(form_error(&ui.ctx, e))).await,
    }
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    user_id: String,
}

pub async fn team_add_member(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<MemberForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(id) = id.parse() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    let result = match f.user_id.parse() {
        Ok(uid) => st.app.add_team_member(&ui.who.actor, id, uid).await,
        Err(_) => Err(yunwei_domain::DomainError::invalid("user_id").into()),
    };
    match result {
        Ok(()) => redirect(&format!("/teams/{id}?ok=saved")),
        Err(e) => render_team(&st, &ui, id, None, Some(form_error(&ui.ctx, e))).await,
    }
}

pub async fn team_remove_member(
    State(st): State<AppState>,
    ui: Ui,
    Path((id, uid)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let (Ok(id), Ok(uid)) = (id.parse(), uid.parse()) else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    match st.app.remove_team_member(&ui.who.actor, id, uid).await {
        Ok(()) => redirect(&format!("/teams/{id}?ok=saved")),
        Err(e) => render_team(&st, &ui, id, None, Some(form_error(&ui.ctx, e))).await,
    }
}

// ---------------------------------------------------------------- tokens

pub struct TokenRow {
    id: Uuid,
    name: String,
    prefix: String,
    owner: String,
    created: String,
    expires: String,
    last_used: String,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensTpl {
    l: Layout,
    tokens: Vec<TokenRow>,
    created: Option<String>,
    show_owner: bool,
}

async fn render_tokens(
    st: &AppState,
    ui: &Ui,
    created: Option<String>,
    err: Option<(StatusCode, String)>,
) -> Response {
    let a = &ui.who.actor;
    let all = a.require(Action::TokenAll).is_ok();
    let list = if all {
        st.app.list_tokens(a, None).await
    } else {
        st.app.list_tokens(a, a.user_id).await
    };
    let list = match list {
        Ok(l) => l,
        Err(e) => return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
    };
    let i = crate::i18n::T(ui.ctx.lang);
    let never = i.t("token.never");
    let mut owners: HashMap<Uuid, String> = HashMap::new();
    let mut tokens = Vec::new();
    for t in list {
        if all && !owners.contains_key(&t.user_id) {
            let name = st
                .app
                .get_user(a, t.user_id)
                .await
                .map(|u| u.username)
                .unwrap_or_default();
            owners.insert(t.user_id, name);
        }
        tokens.push(TokenRow {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            owner: owners.get(&t.user_id).cloned().unwrap_or_default(),
            created: fmt_time(t.created_at),
            expires: fmt_opt_time(t.expires_at, never),
            last_used: fmt_opt_time(t.last_used_at, never),
            revoked: t.revoked_at.is_some(),
        });
    }
    let (l, status) = ui.page("tokens", None, err);
    render(
        status,
        &TokensTpl {
            l,
            tokens,
            created,
            show_owner: all,
        },
    )
}

pub async fn tokens(State(st): State<AppState>, ui: Ui) -> Response {
    render_tokens(&st, &ui, None, None).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    name: String,
    expires_in_days: Option<String>,
}

pub async fn token_create(
    State(st): State<AppState>,
    ui: Ui,
    Form(f): Form<TokenForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Some(uid) = ui.who.actor.user_id else {
        return error_page(ErrorCode::Forbidden, ui.ctx.lang, &ui.ctx.request_id);
    };
    let days = match blank(&f.expires_in_days).map(|d| d.parse::<i64>()) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(_)) => {
            let e = yunwei_domain::DomainError::invalid("expires_in_days").into();
            return render_tokens(&st, &ui, None, Some(form_error(&ui.ctx, e))).await;
        }
    };
    let input = yunwei_service::auth::NewToken {
        name: Some(f.name),
        expires_in_days: days,
    };
    match st.app.create_token(&ui.who.actor, uid, input).await {
        // Shown in the response to this POST only; never in a URL.
        Ok(c) => render_tokens(&st, &ui, Some(c.token), None).await,
        Err(e) => render_tokens(&st, &ui, None, Some(form_error(&ui.ctx, e))).await,
    }
}

pub async fn token_revoke(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(id) = id.parse() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    match st.app.revoke_token(&ui.who.actor, id).await {
        Ok(_) => redirect("/tokens"),
        Err(e) => render_tokens(&st, &ui, None, Some(form_error(&ui.ctx, e))).await,
    }
}

// ---------------------------------------------------------------- audit

pub struct AuditRow {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    entity: String,
    ip: String,
    changes: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditTpl {
    l: Layout,
    entries: Vec<AuditRow>,
    verified: Option<(i64, Option<String>)>,
    f_actor: String,
    f_entity: String,
    f_action: String,
    f_since: String,
    f_until: String,
    next_href: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct AuditQ {
    actor: Option<String>,
    entity: Option<String>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<i64>,
    verify: Option<String>,
}

/// Field-by-field differences between two JSON objects.
fn diff(before: Option<&str>, after: Option<&str>) -> Vec<(String, String, String)> {
    let parse = |s: Option<&str>| -> serde_json::Map<String, serde_json::Value> {
        s.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default()
    };
    let (b, a) = (parse(before), parse(after));
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    keys.into_iter()
        .filter(|k| b.get(*k) != a.get(*k) && k.as_str() != "updated_at")
        .map(|k| (k.clone(), show(b.get(k)), show(a.get(k))))
        .collect()
}

fn parse_day(s: &Option<String>) -> Result<Option<chrono::DateTime<chrono::Utc>>, ()> {
    match blank(s) {
        None => Ok(None),
        Some(d) => {
            let day = chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| ())?;
            // Days are China Standard Time days.
            let start = day.and_hms_opt(0, 0, 0).ok_or(())? - chrono::Duration::hours(8);
            Ok(Some(start.and_utc()))
        }
    }
}

pub async fn audit(State(st): State<AppState>, ui: Ui, Query(q): Query<AuditQ>) -> Response {
    let a = &ui.who.actor;
    let (Ok(since), Ok(until)) = (parse_day(&q.since), parse_day(&q.until)) else {
        return error_page(ErrorCode::ValidationFailed, ui.ctx.lang, &ui.ctx.request_id);
    };
    let query = AuditQuery {
        actor: q.actor.clone(),
        entity: q.entity.clone(),
        entity_id: None,
        action: q.action.clone(),
        since,
        until: until.map(|u| u + chrono::Duration::days(1)),
        cursor: q.cursor,
        limit: Some(50),
    };
    let page = match st.app.list_audit(a, query).await {
        Ok(p) => p,
        Err(e) => return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
    };
    let verified = if q.verify.is_some() {
        match st.app.verify_audit(a).await {
            Ok(v) => Some((v.entries, v.fault.map(|f| f.to_string()))),
            Err(e) => return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
        }
    } else {
        None
    };
    let entries = page
        .items
        .into_iter()
        .map(|e| AuditRow {
            changes: diff(e.before_json.as_deref(), e.after_json.as_deref()),
            seq: e.seq,
            at: fmt_time(e.at),
            actor: e.actor_name,
            action: e.action,
            entity: match &e.entity_id {
                Some(id) if !id.is_empty() => format!("{} {}", e.entity, id),
                _ => e.entity,
            },
            ip: e.ip.unwrap_or_default(),
        })
        .collect();
    let enc = |s: &Option<String>| super::encode(s.as_deref().unwrap_or(""));
    let next_href = page.next_cursor.map(|c| {
        format!(
            "/audit?actor={}&entity={}&action={}&since={}&until={}&cursor={c}",
            enc(&q.actor),
            enc(&q.entity),
            enc(&q.action),
            enc(&q.since),
            enc(&q.until)
        )
    });
    let t = AuditTpl {
        l: ui.layout("audit"),
        entries,
        verified,
        f_actor: q.actor.unwrap_or_default(),
        f_entity: q.entity.unwrap_or_default(),
        f_action: q.action.unwrap_or_default(),
        f_since: q.since.unwrap_or_default(),
        f_until: q.until.unwrap_or_default(),
        next_href,
    };
    render(StatusCode::OK, &t)
}

// ---------------------------------------------------------------- profile

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfileTpl {
    l: Layout,
    user: User,
    org_name: String,
}

async fn render_profile(
    st: &AppState,
    ui: &Ui,
    flash: Option<&'static str>,
    err: Option<(StatusCode, String)>,
) -> Response {
    let org_name = st
        .app
        .get_org(&ui.who.actor, ui.who.user.org_id)
        .await
        .map(|o| o.name)
        .unwrap_or_default();
    let (l, status) = ui.page("profile", flash, err);
    render(
        status,
        &ProfileTpl {
            l,
            user: ui.who.user.clone(),
            org_name,
        },
    )
}

pub async fn profile(State(st): State<AppState>, ui: Ui, Query(f): Query<Flash>) -> Response {
    render_profile(&st, &ui, flash_key(f.ok.as_deref()), None).await
}

#[derive(Deserialize)]
pub struct LangForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    lang: String,
}

pub async fn profile_lang(State(st): State<AppState>, ui: Ui, Form(f): Form<LangForm>) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    match st.app.set_own_lang(&ui.who.actor, &f.lang).await {
        Ok(u) => with_cookie(
            redirect("/profile?ok=saved"),
            format!(
                "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
                u.lang
            ),
        ),
        Err(e) => render_profile(&st, &ui, None, Some(form_error(&ui.ctx, e))).await,
    }
}

#[derive(Deserialize)]
pub struct ChangePasswordForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    current_password: String,
    new_password: String,
}

pub async fn profile_password(
    State(st): State<AppState>,
    ui: Ui,
    Form(f): Form<ChangePasswordForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let keep = ui.who.session_hash.clone();
    match st
        .app
        .change_password(
            &ui.who.actor,
            &f.current_password,
            &f.new_password,
            keep.as_deref(),
        )
        .await
    {
        Ok(()) => redirect("/profile?ok=password"),
        Err(e) => render_profile(&st, &ui, None, Some(form_error(&ui.ctx, e))).await,
    }
}
