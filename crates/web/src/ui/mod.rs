//! The server-rendered UI: askama templates, plain forms with CSRF tokens, no JavaScript
//! build step. Pages are zh-CN by default with an English switch; every asset is embedded.
//!
//! Conventions: a GET handler renders through a `render_*` function that POST handlers reuse
//! to show the same page again with the error (and the error's HTTP status) when input is bad;
//! on success a POST redirects (303) with `?ok=<flash key>`.

mod admin_desk;
mod alerts;
mod announcements;
mod catalog;
pub(crate) mod cmdb;
mod cmdb_edit;
mod cmdb_topology;
mod inbox;
mod pages;
mod reports;
mod substatus;
mod tickets;

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, FixedOffset, Utc};
use yunwei_domain::{authz, Action, ErrorCode, Lang};
use yunwei_service::auth::Authenticated;

use crate::extract::{cookie, Ctx, LANG_COOKIE, SESSION_COOKIE};
use crate::i18n::T;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/assets/app.css", get(css))
        .route("/assets/console.js", get(console_js))
        .route("/tickets/views", post(tickets::view_create))
        .route("/tickets/views/{id}/delete", post(tickets::view_delete))
        .route("/tickets/bulk", post(tickets::bulk))
        .route("/inbox", get(inbox::page))
        .route("/alerts", get(alerts::page))
        .route("/alerts/sources", post(alerts::create_source))
        .route("/alerts/sources/{id}", post(alerts::source_action))
        .route("/inbox/{id}/read", post(inbox::mark_read))
        .route(
            "/profile/notifications",
            get(inbox::prefs_page).post(inbox::prefs_save),
        )
        .route(
            "/admin/calendars",
            get(admin_desk::calendars).post(admin_desk::calendar_create),
        )
        .route(
            "/admin/calendars/{id}",
            get(admin_desk::calendar).post(admin_desk::calendar_update),
        )
        .route(
            "/admin/calendars/{id}/import",
            post(admin_desk::calendar_import),
        )
        .route(
            "/admin/sla-policies",
            get(admin_desk::policies).post(admin_desk::policy_create),
        )
        .route("/admin/sla-policies/{id}", post(admin_desk::policy_update))
        .route(
            "/admin/notifications",
            get(admin_desk::channels).post(admin_desk::channel_create),
        )
        .route(
            "/admin/notifications/{id}/test",
            post(admin_desk::channel_test),
        )
        .route(
            "/admin/notifications/{id}/enabled",
            post(admin_desk::channel_enabled),
        )
        .route("/login", get(pages::login_page).post(pages::login_submit))
        .route("/logout", post(pages::logout))
        .route("/lang", get(pages::switch_lang))
        .route("/", get(pages::home))
        .route("/orgs", get(pages::orgs).post(pages::org_create))
        .route("/orgs/{id}", get(pages::org).post(pages::org_update))
        .route("/orgs/{id}/departments", post(pages::dept_create))
        .route("/users", get(pages::users).post(pages::user_create))
        .route("/users/{id}", get(pages::user).post(pages::user_update))
        .route("/users/{id}/password", post(pages::user_password))
        .route("/teams", get(pages::teams).post(pages::team_create))
        .route("/teams/{id}", get(pages::team).post(pages::team_update))
        .route("/teams/{id}/members", post(pages::team_add_member))
        .route(
            "/teams/{id}/members/{user_id}/remove",
            post(pages::team_remove_member),
        )
        .route("/tokens", get(pages::tokens).post(pages::token_create))
        .route("/tokens/{id}/revoke", post(pages::token_revoke))
        .route("/audit", get(pages::audit))
        .route("/catalog", get(catalog::page))
        .route("/reports/desk", get(reports::page))
        .route(
            "/announcements",
            get(announcements::page).post(announcements::create),
        )
        .route("/announcements/{id}/publish", post(announcements::publish))
        .route(
            "/announcements/{id}/unpublish",
            post(announcements::unpublish),
        )
        .route("/catalog/{id}", post(catalog::update))
        .route("/cmdb", get(cmdb::list).post(cmdb::create))
        .route("/cmdb/import", post(cmdb::import))
        .route("/cmdb/cis/{id}", get(cmdb::show))
        .route("/cmdb/cis/{id}/relations", post(cmdb::relate))
        .route("/cmdb/cis/{id}/edit", post(cmdb_edit::update))
        .route("/cmdb/cis/{id}/retire", post(cmdb_edit::retire))
        .route(
            "/cmdb/cis/{id}/relations/{rel}/delete",
            post(cmdb_edit::delete_relation),
        )
        .route("/cmdb/cis/{id}/rack", get(cmdb::rack))
        .route("/tickets/{number}/cis", post(cmdb::ticket_link))
        .route("/tickets", get(tickets::list))
        .route("/tickets/new", get(tickets::new_form).post(tickets::create))
        .route("/tickets/{number}", get(tickets::show))
        .route("/tickets/{number}/act", post(tickets::act))
        .route("/tickets/{number}/comment", post(tickets::comment))
        .route("/tickets/{number}/priority", post(tickets::priority))
        .route("/tickets/{number}/rate", post(tickets::rate))
        .route(
            "/tickets/{number}/attachments",
            // The upload reads its own size limit (the configured attachment size).
            post(tickets::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/tickets/{number}/watch", post(tickets::watch))
        .route("/tickets/{number}/unwatch", post(tickets::unwatch))
        .route(
            "/admin/sub-statuses",
            get(substatus::page).post(substatus::create),
        )
        .route("/admin/sub-statuses/{id}", post(substatus::update))
        .route("/profile", get(pages::profile))
        .route("/profile/lang", post(pages::profile_lang))
        .route("/profile/password", post(pages::profile_password))
}

/// The console script: live updates and keyboard shortcuts (no inline script: the CSP allows
/// only scripts from this origin).
async fn console_js() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/console.js"),
    )
        .into_response()
}

async fn css() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/app.css"),
    )
        .into_response()
}

/// What the navigation may show.
#[derive(Debug, Clone, Default)]
pub struct Can {
    pub tickets: bool,
    pub catalog: bool,
    pub reports: bool,
    pub announcements: bool,
    pub cmdb: bool,
    pub orgs: bool,
    pub users: bool,
    pub users_write: bool,
    pub teams: bool,
    pub audit: bool,
    /// Sub-statuses of the ticket flow (staff who work tickets see them; admins edit).
    pub sub_statuses: bool,
    /// Business calendars and SLA policies.
    pub sla: bool,
    /// Notification channels.
    pub notify: bool,
    /// Monitoring alerts and their sources.
    pub alerts: bool,
}

/// Everything the base layout needs.
pub struct Layout {
    pub i: T,
    pub user: Option<yunwei_store::users::User>,
    pub csrf: String,
    pub can: Can,
    pub section: &'static str,
    pub flash: Option<&'static str>,
    pub error: Option<String>,
    pub lang_href: String,
    /// Unread in-app notifications (shown in the header).
    pub unread: i64,
}

/// A signed-in browser user.
pub struct Ui {
    pub ctx: Ctx,
    pub who: Authenticated,
    pub path: String,
    /// Unread in-app notifications.
    pub unread: i64,
}

impl FromRequestParts<AppState> for Ui {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let mut ctx = Ctx::from_request_parts(parts, st)
            .await
            .map_err(IntoResponse::into_response)?;
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let who = match cookie(&parts.headers, SESSION_COOKIE) {
            Some(secret) => st
                .app
                .session(secret, ctx.ip.clone())
                .await
                .map_err(|e| ctx.err(e).into_response())?,
            None => None,
        };
        let Some(who) = who else {
            let target = format!("/login?next={}", encode(&path));
            return Err(redirect(&target));
        };
        if cookie(&parts.headers, LANG_COOKIE).is_none() {
            if let Some(l) = Lang::parse(&who.user.lang) {
                ctx.lang = l;
            }
        }
        let unread = st.app.my_unread_count(&who.actor).await.unwrap_or(0);
        Ok(Ui {
            ctx,
            who,
            path,
            unread,
        })
    }
}

impl Ui {
    pub fn layout(&self, section: &'static str) -> Layout {
        let role = self.who.actor.role;
        Layout {
            i: T(self.ctx.lang),
            user: Some(self.who.user.clone()),
            csrf: self.who.csrf_token.clone().unwrap_or_default(),
            can: Can {
                tickets: authz::permits(role, Action::TicketRead),
                catalog: authz::permits(role, Action::CatalogRead),
                reports: authz::permits(role, Action::EvaluationRead),
                announcements: authz::permits(role, Action::CatalogRead),
                cmdb: authz::permits(role, Action::CmdbRead),
                orgs: authz::permits(role, Action::OrgRead),
                users: authz::permits(role, Action::UserRead),
                users_write: authz::permits(role, Action::UserWrite),
                teams: authz::permits(role, Action::TeamRead),
                audit: authz::permits(role, Action::AuditRead),
                sub_statuses: authz::permits(role, Action::TicketWork),
                sla: authz::permits(role, Action::SlaRead),
                notify: authz::permits(role, Action::NotifyAdmin),
                alerts: authz::permits(role, Action::AlertRead),
            },
            section,
            flash: None,
            error: None,
            lang_href: lang_href(self.ctx.lang, &self.path),
            unread: self.unread,
        }
    }

    /// The layout of a page shown after a redirect (`flash`) or again with a form error, and
    /// the status to answer with (the error's, else 200).
    pub fn page(
        &self,
        section: &'static str,
        flash: Option<&'static str>,
        err: Option<(StatusCode, String)>,
    ) -> (Layout, StatusCode) {
        let mut l = self.layout(section);
        l.flash = flash;
        let status = err.as_ref().map(|e| e.0).unwrap_or(StatusCode::OK);
        l.error = err.map(|e| e.1);
        (l, status)
    }

    /// The form's CSRF token must equal the session's.
    pub fn check_csrf(&self, sent: &str) -> Result<(), Response> {
        let expected = self.who.csrf_token.as_deref().unwrap_or("");
        if expected.is_empty() || !crate::extract::constant_time_eq(sent, expected) {
            return Err(error_page(
                ErrorCode::CsrfFailed,
                self.ctx.lang,
                &self.ctx.request_id,
            ));
        }
        Ok(())
    }
}

pub fn anonymous_layout(lang: Lang, path: &str, csrf: String) -> Layout {
    Layout {
        i: T(lang),
        user: None,
        csrf,
        can: Can::default(),
        section: "",
        flash: None,
        error: None,
        lang_href: lang_href(lang, path),
        unread: 0,
    }
}

fn lang_href(lang: Lang, path: &str) -> String {
    let other = match lang {
        Lang::Zh => "en",
        Lang::En => "zh-CN",
    };
    format!("/lang?to={other}&next={}", encode(path))
}

/// Percent-encode for a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Only local paths are followed after sign-in or a language switch (no open redirect).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.contains(['\r', '\n']) =>
        {
            n.to_string()
        }
        _ => "/".into(),
    }
}

pub fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

pub fn with_cookie(mut r: Response, cookie: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(SET_COOKIE, v);
    }
    r
}

/// Render a template with a status.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => {
            let mut r = (status, Html(html)).into_response();
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => {
            tracing::error!("template: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTpl {
    l: Layout,
    code: &'static str,
    message: &'static str,
    request_id: String,
}

/// A whole-page error.
pub fn error_page(code: ErrorCode, lang: Lang, request_id: &str) -> Response {
    let t = ErrorTpl {
        l: anonymous_layout(lang, "/", String::new()),
        code: code.as_str(),
        message: code.message(lang),
        request_id: request_id.into(),
    };
    render(
        StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &t,
    )
}

/// Times are shown in China Standard Time (UTC+8).
pub fn fmt_time(t: DateTime<Utc>) -> String {
    let cst = FixedOffset::east_opt(8 * 3600).expect("valid offset");
    t.with_timezone(&cst).format("%Y-%m-%d %H:%M").to_string()
}

pub fn fmt_opt_time(t: Option<DateTime<Utc>>, none: &str) -> String {
    t.map(fmt_time).unwrap_or_else(|| none.to_string())
}

/// The flash keys a redirect may carry.
pub fn flash_key(ok: Option<&str>) -> Option<&'static str> {
    match ok {
        Some("saved") => Some("flash.saved"),
        Some("created") => Some("flash.created"),
        Some("password") => Some("profile.password_changed"),
        Some("deleted") => Some("flash.deleted"),
        _ => None,
    }
}
