use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use yunwei_service::teams::{NewTeam, TeamPatch, TeamWithMembers};
use yunwei_store::teams::Team;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, JsonBody, PathId, PathIds};
use crate::AppState;

#[utoipa::path(get, path = "/api/v1/teams", tag = "teams",
    responses((status = 200, body = Vec<Team>), (status = 403, body = ErrorBody)))]
pub async fn list_teams(
    State(st): State<AppState>,
    auth: Auth,
) -> Result<Json<Vec<Team>>, ApiError> {
    st.app
        .list_teams(auth.actor())
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = NewTeam,
    responses((status = 201, body = Team), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_team(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<NewTeam>,
) -> Result<(StatusCode, Json<Team>), ApiError> {
    st.app
        .create_team(auth.actor(), b)
        .await
        .map(|t| (StatusCode::CREATED, Json(t)))
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "teams", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = TeamWithMembers), (status = 404, body = ErrorBody)))]
pub async fn get_team(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<TeamWithMembers>, ApiError> {
    st.app
        .get_team(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(patch, path = "/api/v1/teams/{id}", tag = "teams", params(("id" = uuid::Uuid, Path)), request_body = TeamPatch,
    responses((status = 200, body = Team), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_team(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<TeamPatch>,
) -> Result<Json<Team>, ApiError> {
    st.app
        .update_team(auth.actor(), id, b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Add a provider staff member.
#[utoipa::path(put, path = "/api/v1/teams/{id}/members/{user_id}", tag = "teams",
    params(("id" = uuid::Uuid, Path), ("user_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_member(
    State(st): State<AppState>,
    auth: Auth,
    PathIds(id, user_id): PathIds,
) -> Result<StatusCode, ApiError> {
    st.app
        .add_team_member(auth.actor(), id, user_id)
        .await
        .map(|_| StatusCode::NO_CONTENT)
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(delete, path = "/api/v1/teams/{id}/members/{user_id}", tag = "teams",
    params(("id" = uuid::Uuid, Path), ("user_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn remove_member(
    State(st): State<AppState>,
    auth: Auth,
    PathIds(id, user_id): PathIds,
) -> Result<StatusCode, ApiError> {
    st.app
        .remove_team_member(auth.actor(), id, user_id)
        .await
        .map(|_| StatusCode::NO_CONTENT)
        .map_err(|e| auth.ctx.err(e))
}
