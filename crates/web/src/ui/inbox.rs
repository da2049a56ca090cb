//! The caller's in-app inbox (list, mark read; the unread count is in the header) and
//! notification preferences.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;
use yunwei_domain::DomainError;
use yunwei_service::notify::{InboxQuery, PrefItem, PreferencesInput};

use super::pages::{blank, form_error};
use super::{encode, error_page, flash_key, fmt_time, redirect, render, Layout, Ui};
use crate::AppState;

pub struct Item {
    id: String,
    title: String,
    body: String,
    ticket: Option<String>,
    at: String,
    unread: bool,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxTpl {
    l: Layout,
    items: Vec<Item>,
    unread_only: bool,
    next_href: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct InboxQ {
    unread: Option<String>,
    cursor: Option<String>,
    ok: Option<String>,
}

pub async fn page(State(st): State<AppState>, ui: Ui, Query(q): Query<InboxQ>) -> Response {
    let a = &ui.who.actor;
    let unread_only = q.unread.as_deref() == Some("true");
    let page = match st
        .app
        .my_inbox(
            a,
            InboxQuery {
                unread: Some(unread_only),
                cursor: blank(&q.cursor),
                limit: Some(50),
            },
        )
        .await
    {
        Ok(p) => p,
        Err(e) => return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
    };
    let next_href = page.next_cursor.map(|c| {
        format!(
            "/inbox?unread={}&cursor={}",
            if unread_only { "true" } else { "" },
            encode(&c)
        )
    });
    let items = page
        .items
        .into_iter()
        .map(|i| Item {
            id: i.id.to_string(),
            title: i.title,
            body: i.body,
            ticket: i.ticket_number,
            at: fmt_time(i.created_at),
            unread: i.read_at.is_none(),
        })
        .collect();
    let mut l = ui.layout("inbox");
    l.flash = flash_key(q.ok.as_deref());
    render(
        StatusCode::OK,
        &InboxTpl {
            l,
            items,
            unread_only,
            next_href,
        },
    )
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

pub async fn mark_read(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let result = match id.parse::<Uuid>() {
        Ok(id) => st.app.mark_inbox_read(&ui.who.actor, id).await,
        Err(_) => Err(DomainError::not_found().into()),
    };
    match result {
        Ok(()) => redirect("/inbox?ok=saved"),
        Err(e) => error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
    }
}

// ---------------------------------------------------------------- preferences

#[derive(Template)]
#[template(path = "notify_prefs.html")]
struct PrefsTpl {
    l: Layout,
    /// (event kind, in-app, e-mail).
    rows: Vec<(String, bool, bool)>,
    email: String,
    email_available: bool,
}

async fn render_prefs(
    st: &AppState,
    ui: &Ui,
    flash: Option<&'static str>,
    err: Option<(StatusCode, String)>,
) -> Response {
    let p = match st.app.my_notification_prefs(&ui.who.actor).await {
        Ok(p) => p,
        Err(e) => return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
    };
    let (l, code) = ui.page("profile", flash, err);
    render(
        code,
        &PrefsTpl {
            l,
            rows: p
                .items
                .into_iter()
                .map(|i| {
                    let has = |c: &str| i.channels.iter().any(|x| x == c);
                    let (a, b) = (has("inapp"), has("email"));
                    (i.event_kind, a, b)
                })
                .collect(),
            email: p.email.unwrap_or_default(),
            email_available: p.email_available,
        },
    )
}

#[derive(Deserialize, Default)]
pub struct OkQ {
    ok: Option<String>,
}

pub async fn prefs_page(State(st): State<AppState>, ui: Ui, Query(q): Query<OkQ>) -> Response {
    render_prefs(&st, &ui, flash_key(q.ok.as_deref()), None).await
}

/// Save every event kind shown: a checked box `inapp.<kind>` / `email.<kind>` chooses it.
pub async fn prefs_save(
    State(st): State<AppState>,
    ui: Ui,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let csrf = f
        .iter()
        .find(|(k, _)| k == "_csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if let Err(r) = ui.check_csrf(csrf) {
        return r;
    }
    let a = &ui.who.actor;
    let shown = match st.app.my_notification_prefs(a).await {
        Ok(p) => p.items,
        Err(e) => return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
    };
    let checked = |key: String| f.iter().any(|(k, _)| *k == key);
    let items = shown
        .into_iter()
        .map(|i| {
            let mut channels = Vec::new();
            for c in ["inapp", "email"] {
                if checked(format!("{c}.{}", i.event_kind)) {
                    channels.push(c.to_string());
                }
            }
            PrefItem {
                event_kind: i.event_kind,
                channels,
            }
        })
        .collect();
    match st
        .app
        .set_my_notification_prefs(a, PreferencesInput { items })
        .await
    {
        Ok(_) => redirect("/profile/notifications?ok=saved"),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_prefs(&st, &ui, None, Some(err)).await
        }
    }
}
