use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use yunwei_service::users::{NewUser, UserPatch, UserQuery};
use yunwei_store::users::User;

use super::Page;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, JsonBody, PathId, Query};
use crate::AppState;

/// The user directory (customers: their own organization's users).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserQuery),
    responses((status = 200, body = Page<User>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_users(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<UserQuery>,
) -> Result<Json<Page<User>>, ApiError> {
    st.app
        .list_users(auth.actor(), q)
        .await
        .map(|p| Json(p.into()))
        .map_err(|e| auth.ctx.err(e))
}

/// Create a user (administrators). Without `org_id` the user belongs to the provider.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = User), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_user(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    st.app
        .create_user(auth.actor(), b)
        .await
        .map(|u| (StatusCode::CREATED, Json(u)))
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<User>, ApiError> {
    st.app
        .get_user(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Change a user: name, contact, role, organization, department, enabled.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = uuid::Uuid, Path)), request_body = UserPatch,
    responses((status = 200, body = User), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_user(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<UserPatch>,
) -> Result<Json<User>, ApiError> {
    st.app
        .update_user(auth.actor(), id, b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// At least 10 characters.
    pub password: String,
}

/// Set a user's password (administrators); ends the user's sessions.
#[utoipa::path(put, path = "/api/v1/users/{id}/password", tag = "users", params(("id" = uuid::Uuid, Path)), request_body = PasswordBody,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_password(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    st.app
        .set_user_password(auth.actor(), id, &b.password)
        .await
        .map(|_| StatusCode::NO_CONTENT)
        .map_err(|e| auth.ctx.err(e))
}
