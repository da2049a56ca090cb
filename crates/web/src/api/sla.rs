//! Business calendars, SLA policies and a ticket's SLA explanation (R-7.5.2c, R-10.6.3).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use yunwei_domain::ErrorCode;
use yunwei_service::sla::{
    CalendarDetail, CalendarImport, CalendarPatch, CalendarSummary, CalendarWriteError,
    NewCalendar, NewSlaPolicy, SlaExplanation, SlaPolicyPatch,
};
use yunwei_store::sla::SlaPolicy;

use super::tickets::Number;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, Ctx, JsonBody, PathId};
use crate::AppState;

/// One rejected line of an imported file.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportLine {
    /// 1-based line number in the file.
    pub line: usize,
    /// What is wrong with it, in the request's language.
    pub message: String,
}

/// A 422 of a calendar write: `import_failed` with the usual error fields plus every
/// rejected line, or `validation_failed` (no `errors`, maybe `field`) like any other route.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportErrorBody {
    pub code: String,
    pub message: String,
    pub request_id: String,
    /// The field at fault (`validation_failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every rejected line (`import_failed`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub errors: Vec<ImportLine>,
}

fn write_err(ctx: &Ctx, e: CalendarWriteError) -> Response {
    match e {
        CalendarWriteError::Import(errs) => {
            let code = ErrorCode::ImportFailed;
            let body = ImportErrorBody {
                code: code.as_str().into(),
                message: code.message(ctx.lang).into(),
                request_id: ctx.request_id.clone(),
                field: None,
                errors: errs
                    .0
                    .iter()
                    .map(|l| ImportLine {
                        line: l.line,
                        message: l.message(ctx.lang),
                    })
                    .collect(),
            };
            (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
        }
        CalendarWriteError::Other(e) => ctx.err(e).into_response(),
    }
}

/// Business calendars (without their day lists).
#[utoipa::path(get, path = "/api/v1/calendars", tag = "sla",
    responses((status = 200, body = Vec<CalendarSummary>), (status = 403, body = ErrorBody)))]
pub async fn list_calendars(
    State(st): State<AppState>,
    auth: Auth,
) -> Result<Json<Vec<CalendarSummary>>, ApiError> {
    st.app
        .list_calendars(auth.actor())
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Create a calendar from the China default, office hours or 24×7, optionally importing a CSV
/// or iCalendar file of holidays and make-up working days. Bad lines answer `import_failed`
/// (422) with every line in `errors`.
#[utoipa::path(post, path = "/api/v1/calendars", tag = "sla", request_body = NewCalendar,
    responses((status = 201, body = CalendarDetail), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, description = "validation_failed, or import_failed with the rejected lines", body = ImportErrorBody)))]
pub async fn create_calendar(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<NewCalendar>,
) -> Result<(StatusCode, Json<CalendarDetail>), Response> {
    st.app
        .create_calendar(auth.actor(), b)
        .await
        .map(|c| (StatusCode::CREATED, Json(c)))
        .map_err(|e| write_err(&auth.ctx, e))
}

/// A calendar with its holidays and make-up working days.
#[utoipa::path(get, path = "/api/v1/calendars/{id}", tag = "sla", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = CalendarDetail), (status = 404, body = ErrorBody)))]
pub async fn get_calendar(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<CalendarDetail>, ApiError> {
    st.app
        .get_calendar(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Rename a calendar, change its hours, or replace its list of days. Deadlines already stored
/// change when their tickets next change.
#[utoipa::path(patch, path = "/api/v1/calendars/{id}", tag = "sla", params(("id" = uuid::Uuid, Path)), request_body = CalendarPatch,
    responses((status = 200, body = CalendarDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_calendar(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<CalendarPatch>,
) -> Result<Json<CalendarDetail>, ApiError> {
    st.app
        .update_calendar(auth.actor(), id, b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Import holidays and make-up working days (`csv` or `ics`) into a calendar: merged (the file
/// wins on its dates) or, with `replace`, instead of the listed days.
#[utoipa::path(post, path = "/api/v1/calendars/{id}/import", tag = "sla", params(("id" = uuid::Uuid, Path)), request_body = CalendarImport,
    responses((status = 200, body = CalendarDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "validation_failed, or import_failed with the rejected lines", body = ImportErrorBody)))]
pub async fn import_calendar(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<CalendarImport>,
) -> Result<Json<CalendarDetail>, Response> {
    st.app
        .import_calendar(auth.actor(), id, b)
        .await
        .map(Json)
        .map_err(|e| write_err(&auth.ctx, e))
}

/// SLA policies: response and resolution targets per priority, in business minutes.
#[utoipa::path(get, path = "/api/v1/sla-policies", tag = "sla",
    responses((status = 200, body = Vec<SlaPolicy>), (status = 403, body = ErrorBody)))]
pub async fn list_policies(
    State(st): State<AppState>,
    auth: Auth,
) -> Result<Json<Vec<SlaPolicy>>, ApiError> {
    st.app
        .list_sla_policies(auth.actor())
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Create a policy; with `is_default` new tickets get it.
#[utoipa::path(post, path = "/api/v1/sla-policies", tag = "sla", request_body = NewSlaPolicy,
    responses((status = 201, body = SlaPolicy), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_policy(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<NewSlaPolicy>,
) -> Result<(StatusCode, Json<SlaPolicy>), ApiError> {
    st.app
        .create_sla_policy(auth.actor(), b)
        .await
        .map(|p| (StatusCode::CREATED, Json(p)))
        .map_err(|e| auth.ctx.err(e))
}

/// Change a policy's name, calendar or targets, or make it the default. Tickets' stored
/// deadlines change when the tickets next change.
#[utoipa::path(patch, path = "/api/v1/sla-policies/{id}", tag = "sla", params(("id" = uuid::Uuid, Path)), request_body = SlaPolicyPatch,
    responses((status = 200, body = SlaPolicy), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_policy(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<SlaPolicyPatch>,
) -> Result<Json<SlaPolicy>, ApiError> {
    st.app
        .update_sla_policy(auth.actor(), id, b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// How the ticket's response and resolution clocks stand and how their deadlines came about
/// (skipped holidays and weekends, pauses), in Chinese and English. Customers: their own
/// organization's tickets.
#[utoipa::path(get, path = "/api/v1/tickets/{number}/sla", tag = "tickets", params(("number" = String, Path, description = "e.g. INC-2026-000123")),
    responses((status = 200, body = SlaExplanation), (status = 404, body = ErrorBody)))]
pub async fn ticket_sla(
    State(st): State<AppState>,
    auth: Auth,
    Number(n): Number,
) -> Result<Json<SlaExplanation>, ApiError> {
    st.app
        .explain_sla(auth.actor(), &n)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}
