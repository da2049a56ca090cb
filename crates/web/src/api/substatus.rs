//! Sub-statuses of the ticket flow's phases (administrators define them).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use yunwei_service::substatus::{NewSubStatus, SubStatusPatch};
use yunwei_store::substatus::SubStatus;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, JsonBody, PathId, Query};
use crate::AppState;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct SubStatusQuery {
    /// Only this phase: new, assigned, in_progress, pending or resolved.
    pub phase: Option<String>,
    /// Only active ones.
    pub active: Option<bool>,
}

/// Sub-statuses by phase and order (everybody who reads tickets: they label tickets).
#[utoipa::path(get, path = "/api/v1/sub-statuses", tag = "tickets", params(SubStatusQuery),
    responses((status = 200, body = Vec<SubStatus>), (status = 422, body = ErrorBody)))]
pub async fn list_sub_statuses(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<SubStatusQuery>,
) -> Result<Json<Vec<SubStatus>>, ApiError> {
    st.app
        .list_sub_statuses(auth.actor(), q.phase.as_deref(), q.active.unwrap_or(false))
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Define a sub-status (administrators). `pauses_sla` only in the pending phase.
#[utoipa::path(post, path = "/api/v1/sub-statuses", tag = "tickets", request_body = NewSubStatus,
    responses((status = 201, body = SubStatus), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_sub_status(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<NewSubStatus>,
) -> Result<(StatusCode, Json<SubStatus>), ApiError> {
    st.app
        .create_sub_status(auth.actor(), b)
        .await
        .map(|s| (StatusCode::CREATED, Json(s)))
        .map_err(|e| auth.ctx.err(e))
}

/// Rename, reorder, (de)activate a sub-status or change whether it stops the SLA clock (for
/// status changes from now on; past ones keep their flag). Phase and code are fixed.
#[utoipa::path(patch, path = "/api/v1/sub-statuses/{id}", tag = "tickets", params(("id" = uuid::Uuid, Path)), request_body = SubStatusPatch,
    responses((status = 200, body = SubStatus), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_sub_status(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<SubStatusPatch>,
) -> Result<Json<SubStatus>, ApiError> {
    st.app
        .update_sub_status(auth.actor(), id, b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Delete a sub-status no ticket or event ever used (409 otherwise: deactivate it instead).
#[utoipa::path(delete, path = "/api/v1/sub-statuses/{id}", tag = "tickets", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_sub_status(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    st.app
        .delete_sub_status(auth.actor(), id)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .map_err(|e| auth.ctx.err(e))
}
