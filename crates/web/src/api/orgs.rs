use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use yunwei_service::orgs::{DepartmentPatch, NewDepartment, NewOrg, OrgPatch};
use yunwei_store::orgs::{Department, Organization};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, JsonBody, PathId};
use crate::AppState;

/// Organizations the caller may see (customers: their own).
#[utoipa::path(get, path = "/api/v1/organizations", tag = "organizations",
    responses((status = 200, body = Vec<Organization>), (status = 401, body = ErrorBody)))]
pub async fn list_orgs(
    State(st): State<AppState>,
    auth: Auth,
) -> Result<Json<Vec<Organization>>, ApiError> {
    st.app
        .list_orgs(auth.actor())
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Create a customer organization.
#[utoipa::path(post, path = "/api/v1/organizations", tag = "organizations", request_body = NewOrg,
    responses((status = 201, body = Organization), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_org(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<NewOrg>,
) -> Result<(StatusCode, Json<Organization>), ApiError> {
    st.app
        .create_org(auth.actor(), b)
        .await
        .map(|o| (StatusCode::CREATED, Json(o)))
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(get, path = "/api/v1/organizations/{id}", tag = "organizations",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Organization), (status = 404, body = ErrorBody)))]
pub async fn get_org(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Organization>, ApiError> {
    st.app
        .get_org(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(patch, path = "/api/v1/organizations/{id}", tag = "organizations",
    params(("id" = uuid::Uuid, Path)), request_body = OrgPatch,
    responses((status = 200, body = Organization), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_org(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<OrgPatch>,
) -> Result<Json<Organization>, ApiError> {
    st.app
        .update_org(auth.actor(), id, b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(get, path = "/api/v1/organizations/{id}/departments", tag = "organizations",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<Department>), (status = 404, body = ErrorBody)))]
pub async fn list_departments(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Vec<Department>>, ApiError> {
    st.app
        .list_departments(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(post, path = "/api/v1/organizations/{id}/departments", tag = "organizations",
    params(("id" = uuid::Uuid, Path)), request_body = NewDepartment,
    responses((status = 201, body = Department), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_department(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<NewDepartment>,
) -> Result<(StatusCode, Json<Department>), ApiError> {
    st.app
        .create_department(auth.actor(), id, b)
        .await
        .map(|d| (StatusCode::CREATED, Json(d)))
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(patch, path = "/api/v1/departments/{id}", tag = "organizations",
    params(("id" = uuid::Uuid, Path)), request_body = DepartmentPatch,
    responses((status = 200, body = Department), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_department(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<DepartmentPatch>,
) -> Result<Json<Department>, ApiError> {
    st.app
        .update_department(auth.actor(), id, b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}
