//! Staff quality records under `/api/v1/users/{id}/skills|certifications|trainings`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use yunwei_service::staff::{NewCertification, NewSkill, NewTraining};
use yunwei_store::staff::{Certification, Record, Skill, Training};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, JsonBody, PathId, PathIds};
use crate::AppState;

/// A staff member's skills (managers, administrators, auditors).
#[utoipa::path(get, path = "/api/v1/users/{id}/skills", tag = "users", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<Skill>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_skills(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Vec<Skill>>, ApiError> {
    st.app
        .list_skills(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Record a skill with its level 1–5 (administrators).
#[utoipa::path(post, path = "/api/v1/users/{id}/skills", tag = "users", params(("id" = uuid::Uuid, Path)), request_body = NewSkill,
    responses((status = 201, body = Skill), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_skill(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<NewSkill>,
) -> Result<(StatusCode, Json<Skill>), ApiError> {
    st.app
        .add_skill(auth.actor(), id, b)
        .await
        .map(|s| (StatusCode::CREATED, Json(s)))
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/skills/{item_id}", tag = "users",
    params(("id" = uuid::Uuid, Path), ("item_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_skill(
    State(st): State<AppState>,
    auth: Auth,
    PathIds(id, item): PathIds,
) -> Result<StatusCode, ApiError> {
    st.app
        .delete_staff_record(auth.actor(), Record::Skill, id, item)
        .await
        .map(|_| StatusCode::NO_CONTENT)
        .map_err(|e| auth.ctx.err(e))
}

/// A staff member's certifications.
#[utoipa::path(get, path = "/api/v1/users/{id}/certifications", tag = "users", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<Certification>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_certifications(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Vec<Certification>>, ApiError> {
    st.app
        .list_certifications(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Record a certification (administrators).
#[utoipa::path(post, path = "/api/v1/users/{id}/certifications", tag = "users", params(("id" = uuid::Uuid, Path)), request_body = NewCertification,
    responses((status = 201, body = Certification), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_certification(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<NewCertification>,
) -> Result<(StatusCode, Json<Certification>), ApiError> {
    st.app
        .add_certification(auth.actor(), id, b)
        .await
        .map(|s| (StatusCode::CREATED, Json(s)))
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/certifications/{item_id}", tag = "users",
    params(("id" = uuid::Uuid, Path), ("item_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_certification(
    State(st): State<AppState>,
    auth: Auth,
    PathIds(id, item): PathIds,
) -> Result<StatusCode, ApiError> {
    st.app
        .delete_staff_record(auth.actor(), Record::Certification, id, item)
        .await
        .map(|_| StatusCode::NO_CONTENT)
        .map_err(|e| auth.ctx.err(e))
}

/// A staff member's trainings.
#[utoipa::path(get, path = "/api/v1/users/{id}/trainings", tag = "users", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<Training>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_trainings(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Vec<Training>>, ApiError> {
    st.app
        .list_trainings(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Record a completed training (administrators).
#[utoipa::path(post, path = "/api/v1/users/{id}/trainings", tag = "users", params(("id" = uuid::Uuid, Path)), request_body = NewTraining,
    responses((status = 201, body = Training), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_training(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<NewTraining>,
) -> Result<(StatusCode, Json<Training>), ApiError> {
    st.app
        .add_training(auth.actor(), id, b)
        .await
        .map(|s| (StatusCode::CREATED, Json(s)))
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/trainings/{item_id}", tag = "users",
    params(("id" = uuid::Uuid, Path), ("item_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_training(
    State(st): State<AppState>,
    auth: Auth,
    PathIds(id, item): PathIds,
) -> Result<StatusCode, ApiError> {
    st.app
        .delete_staff_record(auth.actor(), Record::Training, id, item)
        .await
        .map(|_| StatusCode::NO_CONTENT)
        .map_err(|e| auth.ctx.err(e))
}
