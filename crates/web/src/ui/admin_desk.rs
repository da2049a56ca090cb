//! Service-desk administration pages over the existing use cases: business calendars (weekly
//! hours, holidays, CSV/iCalendar import), SLA policies, and notification channels (list, add,
//! enable, test).

use askama::Template;
use axum::extract::{Form, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;
use yunwei_domain::{Action, DomainError, ErrorCode};
use yunwei_service::notify::{ChannelConfig, ChannelPatch, ChannelTest, NewChannel};
use yunwei_service::sla::{
    CalendarImport, CalendarPatch, CalendarSummary, CalendarWriteError, DayInput, NewCalendar,
    NewSlaPolicy, SlaPolicyPatch,
};

use super::pages::{blank, form_error, parse_uuid_opt};
use super::{error_page, flash_key, redirect, render, Layout, Ui};
use crate::AppState;

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// The targets' form fields, P1 … P4 × (response, resolution).
const TARGETS: [&str; 8] = [
    "p1_response_minutes",
    "p1_resolution_minutes",
    "p2_response_minutes",
    "p2_resolution_minutes",
    "p3_response_minutes",
    "p3_resolution_minutes",
    "p4_response_minutes",
    "p4_resolution_minutes",
];

fn bad(ui: &Ui, e: yunwei_service::Error) -> Response {
    error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id)
}

fn write_error(ui: &Ui, e: CalendarWriteError) -> (StatusCode, String) {
    match e {
        CalendarWriteError::Import(errs) => {
            let code = ErrorCode::ImportFailed;
            let lines: Vec<String> = errs
                .0
                .iter()
                .map(|l| format!("{}: {}", l.line, l.message(ui.ctx.lang)))
                .collect();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{} — {}", code.message(ui.ctx.lang), lines.join("; ")),
            )
        }
        CalendarWriteError::Other(e) => form_error(&ui.ctx, e),
    }
}

#[derive(Deserialize, Default)]
pub struct OkQ {
    ok: Option<String>,
}

// ---------------------------------------------------------------- calendars

#[derive(Template)]
#[template(path = "admin_calendars.html")]
struct CalendarsTpl {
    l: Layout,
    rows: Vec<CalendarSummary>,
    can_write: bool,
    name: String,
}

async fn render_calendars(
    st: &AppState,
    ui: &Ui,
    flash: Option<&'static str>,
    name: String,
    err: Option<(StatusCode, String)>,
) -> Response {
    let a = &ui.who.actor;
    let rows = match st.app.list_calendars(a).await {
        Ok(r) => r,
        Err(e) => return bad(ui, e),
    };
    let (l, code) = ui.page("sla", flash, err);
    render(
        code,
        &CalendarsTpl {
            l,
            rows,
            can_write: a.require(Action::SlaWrite).is_ok(),
            name,
        },
    )
}

pub async fn calendars(
    State(st): State<AppState>,
    ui: Ui,
    axum::extract::Query(q): axum::extract::Query<OkQ>,
) -> Response {
    render_calendars(&st, &ui, flash_key(q.ok.as_deref()), String::new(), None).await
}

#[derive(Deserialize)]
pub struct NewCalendarForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    name: String,
    base: Option<String>,
}

pub async fn calendar_create(
    State(st): State<AppState>,
    ui: Ui,
    Form(f): Form<NewCalendarForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let input = NewCalendar {
        name: f.name.clone(),
        base: blank(&f.base),
        ..Default::default()
    };
    match st.app.create_calendar(&ui.who.actor, input).await {
        Ok(c) => redirect(&format!("/admin/calendars/{}?ok=created", c.summary.id)),
        Err(e) => {
            let err = write_error(&ui, e);
            render_calendars(&st, &ui, None, f.name, Some(err)).await
        }
    }
}

/// One calendar's edit form as shown.
pub struct CalendarForm {
    name: String,
    utc_offset_minutes: String,
    /// (weekday code, hours as `HH:MM-HH:MM HH:MM-HH:MM`).
    week: Vec<(&'static str, String)>,
    makeup_hours_from: String,
    /// One `date,kind,name` line per listed day.
    days: String,
}

#[derive(Template)]
#[template(path = "admin_calendar.html")]
struct CalendarTpl {
    l: Layout,
    id: String,
    summary: CalendarSummary,
    form: CalendarForm,
    weekdays: Vec<&'static str>,
    can_write: bool,
}

async fn render_calendar(
    st: &AppState,
    ui: &Ui,
    id: Uuid,
    flash: Option<&'static str>,
    form: Option<CalendarForm>,
    err: Option<(StatusCode, String)>,
) -> Response {
    let a = &ui.who.actor;
    let d = match st.app.get_calendar(a, id).await {
        Ok(d) => d,
        Err(e) => return bad(ui, e),
    };
    let form = form.unwrap_or_else(|| CalendarForm {
        name: d.summary.name.clone(),
        utc_offset_minutes: d.summary.utc_offset_minutes.to_string(),
        week: WEEKDAYS
            .iter()
            .enumerate()
            .map(|(i, w)| {
                (
                    *w,
                    d.summary.week.get(i).cloned().unwrap_or_default().join(" "),
                )
            })
            .collect(),
        makeup_hours_from: d.summary.makeup_hours_from.clone(),
        days: d
            .days
            .iter()
            .map(|x| format!("{},{},{}", x.date, x.kind, x.name))
            .collect::<Vec<_>>()
            .join("\n"),
    });
    let (l, code) = ui.page("sla", flash, err);
    render(
        code,
        &CalendarTpl {
            l,
            id: id.to_string(),
            summary: d.summary,
            form,
            weekdays: WEEKDAYS.to_vec(),
            can_write: a.require(Action::SlaWrite).is_ok(),
        },
    )
}

pub async fn calendar(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<OkQ>,
) -> Response {
    let Ok(id) = id.parse::<Uuid>() else {
        return bad(&ui, DomainError::not_found().into());
    };
    render_calendar(&st, &ui, id, flash_key(q.ok.as_deref()), None, None).await
}

fn field<'a>(f: &'a [(String, String)], key: &str) -> &'a str {
    f.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// `date,kind,name` lines → days.
fn parse_days(text: &str) -> Result<Vec<DayInput>, yunwei_service::Error> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(3, ',');
        let date = parts
            .next()
            .and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
            .ok_or_else(|| DomainError::invalid("days"))?;
        let kind = parts.next().map(str::trim).unwrap_or("").to_string();
        let name = parts.next().map(str::trim).unwrap_or("").to_string();
        out.push(DayInput { date, kind, name });
    }
    Ok(out)
}

pub async fn calendar_update(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = ui.check_csrf(field(&f, "_csrf")) {
        return r;
    }
    let Ok(id) = id.parse::<Uuid>() else {
        return bad(&ui, DomainError::not_found().into());
    };
    let form = CalendarForm {
        name: field(&f, "name").to_string(),
        utc_offset_minutes: field(&f, "utc_offset_minutes").trim().to_string(),
        week: WEEKDAYS
            .iter()
            .map(|w| (*w, field(&f, &format!("week_{w}")).trim().to_string()))
            .collect(),
        makeup_hours_from: field(&f, "makeup_hours_from").to_string(),
        days: field(&f, "days").to_string(),
    };
    let patch = (|| -> Result<CalendarPatch, yunwei_service::Error> {
        let offset = form
            .utc_offset_minutes
            .parse::<i32>()
            .map_err(|_| DomainError::invalid("utc_offset_minutes"))?;
        Ok(CalendarPatch {
            name: Some(form.name.clone()),
            utc_offset_minutes: Some(offset),
            week: Some(
                form.week
                    .iter()
                    .map(|(_, h)| {
                        h.split([' ', ',', ';'])
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .collect(),
            ),
            makeup_hours_from: Some(form.makeup_hours_from.clone()),
            days: Some(parse_days(&form.days)?),
        })
    })();
    let result = match patch {
        Ok(p) => st.app.update_calendar(&ui.who.actor, id, p).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => redirect(&format!("/admin/calendars/{id}?ok=saved")),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_calendar(&st, &ui, id, None, Some(form), Some(err)).await
        }
    }
}

/// Import holidays and make-up working days from an uploaded CSV or iCalendar file.
pub async fn calendar_import(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    mut mp: Multipart,
) -> Response {
    let Ok(id) = id.parse::<Uuid>() else {
        return bad(&ui, DomainError::not_found().into());
    };
    let (mut csrf, mut format, mut replace, mut text, mut file_name) = (
        String::new(),
        String::new(),
        false,
        String::new(),
        String::new(),
    );
    loop {
        match mp.next_field().await {
            Ok(Some(part)) => {
                let name = part.name().unwrap_or("").to_string();
                if name == "file" {
                    file_name = part.file_name().unwrap_or("").to_lowercase();
                }
                let Ok(value) = part.text().await else {
                    return bad(&ui, DomainError::invalid("file").into());
                };
                match name.as_str() {
                    "_csrf" => csrf = value,
                    "format" => format = value,
                    "replace" => replace = !value.is_empty(),
                    "file" => text = value,
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return bad(&ui, DomainError::invalid("file").into()),
        }
    }
    if let Err(r) = ui.check_csrf(&csrf) {
        return r;
    }
    let format = match format.trim() {
        "" if file_name.ends_with(".ics") => "ics".to_string(),
        "" => "csv".to_string(),
        f => f.to_string(),
    };
    let input = CalendarImport {
        format,
        text,
        replace,
    };
    match st.app.import_calendar(&ui.who.actor, id, input).await {
        Ok(_) => redirect(&format!("/admin/calendars/{id}?ok=saved")),
        Err(e) => {
            let err = write_error(&ui, e);
            render_calendar(&st, &ui, id, None, None, Some(err)).await
        }
    }
}

// ---------------------------------------------------------------- SLA policies

pub struct PolicyRow {
    id: String,
    name: String,
    calendar_id: String,
    calendar: String,
    is_default: bool,
    /// (field, minutes) in TARGETS order.
    targets: Vec<(&'static str, i64)>,
}

#[derive(Template)]
#[template(path = "admin_sla_policies.html")]
struct PoliciesTpl {
    l: Layout,
    rows: Vec<PolicyRow>,
    calendars: Vec<(String, String)>,
    can_write: bool,
    targets: Vec<&'static str>,
}

async fn render_policies(
    st: &AppState,
    ui: &Ui,
    flash: Option<&'static str>,
    err: Option<(StatusCode, String)>,
) -> Response {
    let a = &ui.who.actor;
    let (policies, cals) = match (
        st.app.list_sla_policies(a).await,
        st.app.list_calendars(a).await,
    ) {
        (Ok(p), Ok(c)) => (p, c),
        (Err(e), _) | (_, Err(e)) => return bad(ui, e),
    };
    let rows = policies
        .into_iter()
        .map(|p| PolicyRow {
            id: p.id.to_string(),
            calendar: cals
                .iter()
                .find(|c| c.id == p.calendar_id)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            calendar_id: p.calendar_id.to_string(),
            is_default: p.is_default,
            targets: TARGETS
                .iter()
                .copied()
                .zip([
                    p.p1_response_minutes,
                    p.p1_resolution_minutes,
                    p.p2_response_minutes,
                    p.p2_resolution_minutes,
                    p.p3_response_minutes,
                    p.p3_resolution_minutes,
                    p.p4_response_minutes,
                    p.p4_resolution_minutes,
                ])
                .collect(),
            name: p.name,
        })
        .collect();
    let (l, code) = ui.page("sla", flash, err);
    render(
        code,
        &PoliciesTpl {
            l,
            rows,
            calendars: cals
                .into_iter()
                .map(|c| (c.id.to_string(), c.name))
                .collect(),
            can_write: a.require(Action::SlaWrite).is_ok(),
            targets: TARGETS.to_vec(),
        },
    )
}

pub async fn policies(
    State(st): State<AppState>,
    ui: Ui,
    axum::extract::Query(q): axum::extract::Query<OkQ>,
) -> Response {
    render_policies(&st, &ui, flash_key(q.ok.as_deref()), None).await
}

/// The eight targets from a form (a missing or non-numeric one is invalid).
fn targets(f: &[(String, String)]) -> Result<[i64; 8], yunwei_service::Error> {
    let mut out = [0i64; 8];
    for (i, name) in TARGETS.iter().enumerate() {
        out[i] = field(f, name)
            .trim()
            .parse::<i64>()
            .map_err(|_| DomainError::invalid(*name))?;
    }
    Ok(out)
}

pub async fn policy_create(
    State(st): State<AppState>,
    ui: Ui,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = ui.check_csrf(field(&f, "_csrf")) {
        return r;
    }
    let input = match (
        targets(&f),
        parse_uuid_opt(&Some(field(&f, "calendar_id").to_string())),
    ) {
        (Ok(t), Ok(calendar_id)) => Ok(NewSlaPolicy {
            name: field(&f, "name").to_string(),
            calendar_id,
            p1_response_minutes: t[0],
            p1_resolution_minutes: t[1],
            p2_response_minutes: t[2],
            p2_resolution_minutes: t[3],
            p3_response_minutes: t[4],
            p3_resolution_minutes: t[5],
            p4_response_minutes: t[6],
            p4_resolution_minutes: t[7],
            is_default: !field(&f, "is_default").is_empty(),
        }),
        (Err(e), _) => Err(e),
        (_, Err(())) => Err(DomainError::field(ErrorCode::InvalidReference, "calendar_id").into()),
    };
    let result = match input {
        Ok(i) => st.app.create_sla_policy(&ui.who.actor, i).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => redirect("/admin/sla-policies?ok=created"),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_policies(&st, &ui, None, Some(err)).await
        }
    }
}

pub async fn policy_update(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = ui.check_csrf(field(&f, "_csrf")) {
        return r;
    }
    let Ok(id) = id.parse::<Uuid>() else {
        return bad(&ui, DomainError::not_found().into());
    };
    let input = match (
        targets(&f),
        parse_uuid_opt(&Some(field(&f, "calendar_id").to_string())),
    ) {
        (Ok(t), Ok(calendar_id)) => Ok(SlaPolicyPatch {
            name: Some(field(&f, "name").to_string()),
            calendar_id,
            p1_response_minutes: Some(t[0]),
            p1_resolution_minutes: Some(t[1]),
            p2_response_minutes: Some(t[2]),
            p2_resolution_minutes: Some(t[3]),
            p3_response_minutes: Some(t[4]),
            p3_resolution_minutes: Some(t[5]),
            p4_response_minutes: Some(t[6]),
            p4_resolution_minutes: Some(t[7]),
            // There is always a default: it moves by making another policy the default.
            is_default: if field(&f, "is_default").is_empty() {
                None
            } else {
                Some(true)
            },
        }),
        (Err(e), _) => Err(e),
        (_, Err(())) => Err(DomainError::field(ErrorCode::InvalidReference, "calendar_id").into()),
    };
    let result = match input {
        Ok(i) => st.app.update_sla_policy(&ui.who.actor, id, i).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => redirect("/admin/sla-policies?ok=saved"),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_policies(&st, &ui, None, Some(err)).await
        }
    }
}

// ---------------------------------------------------------------- notification channels

pub struct ChannelRow {
    id: String,
    kind: String,
    name: String,
    /// The masked URL, or the mail server.
    target: String,
    org: String,
    enabled: bool,
}

#[derive(Template)]
#[template(path = "admin_notifications.html")]
struct ChannelsTpl {
    l: Layout,
    rows: Vec<ChannelRow>,
    kinds: Vec<&'static str>,
    orgs: Vec<(String, String)>,
    /// The test just made: (channel name, delivered, why not).
    tested: Option<(String, bool, String)>,
}

async fn render_channels(
    st: &AppState,
    ui: &Ui,
    flash: Option<&'static str>,
    tested: Option<(String, bool, String)>,
    err: Option<(StatusCode, String)>,
) -> Response {
    let a = &ui.who.actor;
    let list = match st.app.list_channels(a).await {
        Ok(l) => l,
        Err(e) => return bad(ui, e),
    };
    let orgs: Vec<(String, String)> = st
        .app
        .list_orgs(a)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|o| o.kind == "customer")
        .map(|o| (o.id.to_string(), o.name))
        .collect();
    let rows = list
        .into_iter()
        .map(|c| ChannelRow {
            id: c.id.to_string(),
            target: c
                .config
                .url
                .clone()
                .or_else(|| c.config.host.clone())
                .unwrap_or_default(),
            org: c
                .org_id
                .and_then(|o| {
                    orgs.iter()
                        .find(|x| x.0 == o.to_string())
                        .map(|x| x.1.clone())
                })
                .unwrap_or_default(),
            kind: c.kind,
            name: c.name,
            enabled: c.enabled,
        })
        .collect();
    let (l, code) = ui.page("notify", flash, err);
    render(
        code,
        &ChannelsTpl {
            l,
            rows,
            kinds: yunwei_service::notify::CHANNEL_KINDS.to_vec(),
            orgs,
            tested,
        },
    )
}

pub async fn channels(
    State(st): State<AppState>,
    ui: Ui,
    axum::extract::Query(q): axum::extract::Query<OkQ>,
) -> Response {
    render_channels(&st, &ui, flash_key(q.ok.as_deref()), None, None).await
}

#[derive(Deserialize)]
pub struct ChannelForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    url: Option<String>,
    secret: Option<String>,
    host: Option<String>,
    port: Option<String>,
    security: Option<String>,
    username: Option<String>,
    password: Option<String>,
    from: Option<String>,
    to: Option<String>,
    lang: Option<String>,
    org_id: Option<String>,
}

pub async fn channel_create(
    State(st): State<AppState>,
    ui: Ui,
    Form(f): Form<ChannelForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let port = match blank(&f.port).map(|p| p.parse::<u16>()).transpose() {
        Ok(p) => p,
        Err(_) => {
            let err = form_error(&ui.ctx, DomainError::invalid("config.port").into());
            return render_channels(&st, &ui, None, None, Some(err)).await;
        }
    };
    let Ok(org_id) = parse_uuid_opt(&f.org_id) else {
        let err = form_error(
            &ui.ctx,
            DomainError::field(ErrorCode::InvalidReference, "org_id").into(),
        );
        return render_channels(&st, &ui, None, None, Some(err)).await;
    };
    let to = blank(&f.to).map(|t| {
        t.split([',', ';', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect::<Vec<_>>()
    });
    let input = NewChannel {
        kind: f.kind.clone(),
        name: f.name.clone(),
        org_id,
        enabled: Some(true),
        config: ChannelConfig {
            url: blank(&f.url),
            secret: blank(&f.secret),
            host: blank(&f.host),
            port,
            security: blank(&f.security),
            username: blank(&f.username),
            password: f.password.clone().filter(|p| !p.is_empty()),
            from: blank(&f.from),
            to,
            lang: blank(&f.lang),
            ..Default::default()
        },
    };
    match st.app.create_channel(&ui.who.actor, input).await {
        Ok(_) => redirect("/admin/notifications?ok=created"),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_channels(&st, &ui, None, None, Some(err)).await
        }
    }
}

#[derive(Deserialize)]
pub struct TestForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    to: Option<String>,
}

/// Send a test message now; the page shows whether it was delivered and, if not, why.
pub async fn channel_test(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<TestForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(id) = id.parse::<Uuid>() else {
        return bad(&ui, DomainError::not_found().into());
    };
    let a = &ui.who.actor;
    let name = match st.app.get_channel(a, id).await {
        Ok(c) => c.name,
        Err(e) => return bad(&ui, e),
    };
    match st
        .app
        .test_channel(a, id, ChannelTest { to: blank(&f.to) })
        .await
    {
        Ok(r) => {
            let tested = Some((name, r.delivered, r.error.unwrap_or_default()));
            render_channels(&st, &ui, None, tested, None).await
        }
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_channels(&st, &ui, None, None, Some(err)).await
        }
    }
}

#[derive(Deserialize)]
pub struct EnabledForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    enabled: String,
}

pub async fn channel_enabled(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<EnabledForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(id) = id.parse::<Uuid>() else {
        return bad(&ui, DomainError::not_found().into());
    };
    let patch = ChannelPatch {
        enabled: Some(f.enabled == "true"),
        ..Default::default()
    };
    match st.app.update_channel(&ui.who.actor, id, patch).await {
        Ok(_) => redirect("/admin/notifications?ok=saved"),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_channels(&st, &ui, None, None, Some(err)).await
        }
    }
}
