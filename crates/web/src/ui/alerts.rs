//! The alerts page: what the monitoring systems raised (staff), and the alert sources
//! (administrators and managers connect systems here; credentials are shown once).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;
use yunwei_domain::{Action, ErrorCode};
use yunwei_service::alerts::{
    AlertQuery, AlertSourcePatch, AlertSourceView, AlertSourceWithCredentials, AlertView,
    NewAlertSource,
};

use super::pages::{blank, form_error, parse_uuid_opt};
use super::{error_page, flash_key, fmt_opt_time, fmt_time, redirect, render, Layout, Ui};
use crate::AppState;

/// One alert as the page shows it.
struct Row {
    a: AlertView,
    source: String,
    org: String,
    first_seen: String,
    last_seen: String,
    resolved_at: String,
}

/// One source as the page shows it.
struct SourceRow {
    s: AlertSourceView,
    org: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct PageTpl {
    l: Layout,
    status: String,
    rows: Vec<Row>,
    next: Option<String>,
    sources: Vec<SourceRow>,
    can_write: bool,
    orgs: Vec<(String, String)>,
    teams: Vec<(String, String)>,
    form: NewForm,
    /// Credentials just issued (shown this once).
    issued: Option<AlertSourceWithCredentials>,
}

#[derive(Deserialize, Default)]
pub struct ListQ {
    status: Option<String>,
    cursor: Option<String>,
    ok: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct NewForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    org_id: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    auth_mode: String,
    team_id: Option<String>,
    urgency: Option<String>,
}

const STATUSES: &[&str] = &["open", "firing", "acknowledged", "resolved", "all"];

async fn render_page(
    st: &AppState,
    ui: &Ui,
    q: ListQ,
    form: NewForm,
    issued: Option<AlertSourceWithCredentials>,
    err: Option<(StatusCode, String)>,
) -> Response {
    let a = &ui.who.actor;
    let page_err =
        |e: yunwei_service::Error| error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id);
    if let Err(e) = a.require(Action::AlertRead) {
        return page_err(e);
    }
    let status = q
        .status
        .as_deref()
        .filter(|s| STATUSES.contains(s))
        .unwrap_or("open")
        .to_string();
    let page = match st
        .app
        .list_alerts(
            a,
            AlertQuery {
                status: (status != "all").then(|| status.clone()),
                cursor: q.cursor.clone(),
                ..Default::default()
            },
        )
        .await
    {
        Ok(p) => p,
        Err(e) => return page_err(e),
    };
    let sources = match st.app.list_alert_sources(a, None).await {
        Ok(s) => s,
        Err(e) => return page_err(e),
    };
    let orgs: Vec<(String, String)> = match st.app.list_orgs(a).await {
        Ok(o) => o.into_iter().map(|o| (o.id.to_string(), o.name)).collect(),
        Err(e) => return page_err(e),
    };
    let can_write = a.require(Action::AlertSourceWrite).is_ok();
    let teams = if can_write {
        match st.app.list_teams(a).await {
            Ok(t) => t.into_iter().map(|t| (t.id.to_string(), t.name)).collect(),
            Err(e) => return page_err(e),
        }
    } else {
        Vec::new()
    };
    let org_name: HashMap<&str, &str> = orgs
        .iter()
        .map(|(id, n)| (id.as_str(), n.as_str()))
        .collect();
    let source_name: HashMap<Uuid, &str> =
        sources.iter().map(|s| (s.id, s.name.as_str())).collect();
    let rows = page
        .items
        .into_iter()
        .map(|a| Row {
            source: source_name.get(&a.source_id).unwrap_or(&"?").to_string(),
            org: org_name
                .get(a.org_id.to_string().as_str())
                .unwrap_or(&"?")
                .to_string(),
            first_seen: fmt_time(a.first_seen),
            last_seen: fmt_time(a.last_seen),
            resolved_at: fmt_opt_time(a.resolved_at, ""),
            a,
        })
        .collect();
    let sources = sources
        .into_iter()
        .map(|s| SourceRow {
            org: org_name
                .get(s.org_id.to_string().as_str())
                .unwrap_or(&"?")
                .to_string(),
            s,
        })
        .collect();
    let next = page.next_cursor.map(|c| {
        format!(
            "/alerts?status={}&cursor={}",
            super::encode(&status),
            super::encode(&c)
        )
    });
    let (l, code) = ui.page("alerts", flash_key(q.ok.as_deref()), err);
    let code = if issued.is_some() && code == StatusCode::OK {
        StatusCode::CREATED
    } else {
        code
    };
    render(
        code,
        &PageTpl {
            l,
            status,
            rows,
            next,
            sources,
            can_write,
            orgs,
            teams,
            form,
            issued,
        },
    )
}

pub async fn page(State(st): State<AppState>, ui: Ui, Query(q): Query<ListQ>) -> Response {
    render_page(&st, &ui, q, NewForm::default(), None, None).await
}

pub async fn create_source(State(st): State<AppState>, ui: Ui, Form(f): Form<NewForm>) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let bad = |field: &str| form_error(&ui.ctx, yunwei_domain::DomainError::invalid(field).into());
    let Ok(org_id) = f.org_id.trim().parse::<Uuid>() else {
        let err = bad("org_id");
        return render_page(&st, &ui, ListQ::default(), f, None, Some(err)).await;
    };
    let Ok(team_id) = parse_uuid_opt(&f.team_id) else {
        let err = bad("team_id");
        return render_page(&st, &ui, ListQ::default(), f, None, Some(err)).await;
    };
    let input = NewAlertSource {
        name: f.name.clone(),
        org_id,
        format: f.format.clone(),
        auth_mode: Some(f.auth_mode.clone()),
        team_id,
        urgency: blank(&f.urgency),
        ..Default::default()
    };
    match st.app.create_alert_source(&ui.who.actor, input).await {
        Ok(issued) => {
            render_page(
                &st,
                &ui,
                ListQ::default(),
                NewForm::default(),
                Some(issued),
                None,
            )
            .await
        }
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_page(&st, &ui, ListQ::default(), f, None, Some(err)).await
        }
    }
}

#[derive(Deserialize)]
pub struct SourceAction {
    #[serde(rename = "_csrf")]
    csrf: String,
    /// enable, disable or rotate.
    action: String,
}

pub async fn source_action(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<SourceAction>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(id) = id.parse::<Uuid>() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    let patch = match f.action.as_str() {
        "enable" => AlertSourcePatch {
            enabled: Some(true),
            ..Default::default()
        },
        "disable" => AlertSourcePatch {
            enabled: Some(false),
            ..Default::default()
        },
        "rotate" => AlertSourcePatch {
            rotate_credentials: Some(true),
            ..Default::default()
        },
        _ => {
            let err = form_error(
                &ui.ctx,
                yunwei_domain::DomainError::invalid("action").into(),
            );
            return render_page(
                &st,
                &ui,
                ListQ::default(),
                NewForm::default(),
                None,
                Some(err),
            )
            .await;
        }
    };
    let rotate = patch.rotate_credentials.is_some();
    match st.app.update_alert_source(&ui.who.actor, id, patch).await {
        Ok(issued) if rotate => {
            render_page(
                &st,
                &ui,
                ListQ::default(),
                NewForm::default(),
                Some(issued),
                None,
            )
            .await
        }
        Ok(_) => redirect("/alerts?ok=saved"),
        Err(e) if e.code() == ErrorCode::NotFound => {
            error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id)
        }
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_page(
                &st,
                &ui,
                ListQ::default(),
                NewForm::default(),
                None,
                Some(err),
            )
            .await
        }
    }
}
