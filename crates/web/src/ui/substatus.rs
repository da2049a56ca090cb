//! The sub-statuses page: administrators define the sub-statuses of the flow's phases and
//! whether waiting in one stops the SLA clock; everybody else who works tickets sees them.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;
use yunwei_domain::{Action, ErrorCode};
use yunwei_service::substatus::{NewSubStatus, SubStatusPatch, PHASES};
use yunwei_store::substatus::SubStatus;

use super::pages::{blank, form_error};
use super::{error_page, flash_key, redirect, render, Layout, Ui};
use crate::AppState;

#[derive(Template)]
#[template(path = "substatus.html")]
struct PageTpl {
    l: Layout,
    rows: Vec<SubStatus>,
    can_write: bool,
    phases: Vec<&'static str>,
    form: NewForm,
}

#[derive(Deserialize, Default)]
pub struct NewForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    phase: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name_zh: String,
    #[serde(default)]
    name_en: String,
    pauses_sla: Option<String>,
    #[serde(default)]
    sort: String,
}

#[derive(Deserialize, Default)]
pub struct OkQ {
    ok: Option<String>,
}

async fn render_page(
    st: &AppState,
    ui: &Ui,
    mut form: NewForm,
    flash: Option<&'static str>,
    err: Option<(StatusCode, String)>,
) -> Response {
    let a = &ui.who.actor;
    if let Err(e) = a.require(Action::TicketWork) {
        return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id);
    }
    let rows = match st.app.list_sub_statuses(a, None, false).await {
        Ok(r) => r,
        Err(e) => return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
    };
    if form.phase.is_empty() {
        form.phase = "pending".into();
    }
    if form.sort.is_empty() {
        form.sort = "100".into();
    }
    let (l, status) = ui.page("substatus", flash, err);
    let t = PageTpl {
        l,
        rows,
        can_write: a.require(Action::SubStatusWrite).is_ok(),
        phases: PHASES.iter().map(|p| p.as_str()).collect(),
        form,
    };
    render(status, &t)
}

pub async fn page(State(st): State<AppState>, ui: Ui, Query(q): Query<OkQ>) -> Response {
    render_page(
        &st,
        &ui,
        NewForm::default(),
        flash_key(q.ok.as_deref()),
        None,
    )
    .await
}

fn sort_of(s: &str) -> Result<Option<i64>, yunwei_service::Error> {
    match s.trim() {
        "" => Ok(None),
        v => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| yunwei_domain::DomainError::invalid("sort").into()),
    }
}

pub async fn create(State(st): State<AppState>, ui: Ui, Form(f): Form<NewForm>) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let sort = match sort_of(&f.sort) {
        Ok(s) => s,
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            return render_page(&st, &ui, f, None, Some(err)).await;
        }
    };
    let input = NewSubStatus {
        phase: f.phase.clone(),
        code: f.code.clone(),
        name_zh: f.name_zh.clone(),
        name_en: f.name_en.clone(),
        pauses_sla: f.pauses_sla.is_some(),
        active: Some(true),
        sort,
    };
    match st.app.create_sub_status(&ui.who.actor, input).await {
        Ok(_) => redirect("/admin/sub-statuses?ok=created"),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_page(&st, &ui, f, None, Some(err)).await
        }
    }
}

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    name_zh: Option<String>,
    name_en: Option<String>,
    pauses_sla: Option<String>,
    active: Option<String>,
    sort: Option<String>,
}

pub async fn update(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<EditForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(id) = id.parse::<Uuid>() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    let sort = match sort_of(f.sort.as_deref().unwrap_or("")) {
        Ok(s) => s,
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            return render_page(&st, &ui, NewForm::default(), None, Some(err)).await;
        }
    };
    let patch = SubStatusPatch {
        name_zh: blank(&f.name_zh),
        name_en: blank(&f.name_en),
        pauses_sla: Some(f.pauses_sla.is_some()),
        active: Some(f.active.is_some()),
        sort,
    };
    match st.app.update_sub_status(&ui.who.actor, id, patch).await {
        Ok(_) => redirect("/admin/sub-statuses?ok=saved"),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_page(&st, &ui, NewForm::default(), None, Some(err)).await
        }
    }
}
