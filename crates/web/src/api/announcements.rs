use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use yunwei_service::announcements::{
    AnnouncementDetail, AnnouncementPatch, AnnouncementQuery, NewAnnouncement,
};

use super::Page;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, JsonBody, PathId, Query};
use crate::AppState;

/// Announcements, newest first: planned maintenance, outages, notices. Customers see the
/// published ones addressed to all organizations or to their own.
#[utoipa::path(get, path = "/api/v1/announcements", tag = "announcements", params(AnnouncementQuery),
    responses((status = 200, body = Page<AnnouncementDetail>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_announcements(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<AnnouncementQuery>,
) -> Result<Json<Page<AnnouncementDetail>>, ApiError> {
    st.app
        .list_announcements(auth.actor(), q)
        .await
        .map(|p| Json(p.into()))
        .map_err(|e| auth.ctx.err(e))
}

/// Write an announcement (administrators, managers, service-desk agents); a draft unless
/// `published` is true.
#[utoipa::path(post, path = "/api/v1/announcements", tag = "announcements", request_body = NewAnnouncement,
    responses((status = 201, body = AnnouncementDetail), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_announcement(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<NewAnnouncement>,
) -> Result<(StatusCode, Json<AnnouncementDetail>), ApiError> {
    st.app
        .create_announcement(auth.actor(), b)
        .await
        .map(|a| (StatusCode::CREATED, Json(a)))
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(get, path = "/api/v1/announcements/{id}", tag = "announcements", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = AnnouncementDetail), (status = 404, body = ErrorBody)))]
pub async fn get_announcement(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<AnnouncementDetail>, ApiError> {
    st.app
        .get_announcement(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Change an announcement, publish (`"published": true`) or withdraw it.
#[utoipa::path(patch, path = "/api/v1/announcements/{id}", tag = "announcements", params(("id" = uuid::Uuid, Path)), request_body = AnnouncementPatch,
    responses((status = 200, body = AnnouncementDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_announcement(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<AnnouncementPatch>,
) -> Result<Json<AnnouncementDetail>, ApiError> {
    st.app
        .update_announcement(auth.actor(), id, b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}
