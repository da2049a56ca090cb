//! Notifications: channels and the outbound address policy (administrators), the caller's
//! own preferences and in-app inbox.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use yunwei_service::notify::{
    ChannelPatch, ChannelTest, ChannelTestResult, ChannelView, InboxQuery, NewChannel,
    NotifySettings, OutboxQuery, OutboxView, Preferences, PreferencesInput,
};
use yunwei_store::notify::InboxItem;

use super::Page;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, JsonBody, PathId, Query};
use crate::AppState;

/// Notification channels: the e-mail server, webhooks, WeCom / DingTalk / Feishu robots.
/// Secrets and the credentials in robot URLs are masked.
#[utoipa::path(get, path = "/api/v1/notification-channels", tag = "notifications",
    responses((status = 200, body = Vec<ChannelView>), (status = 403, body = ErrorBody)))]
pub async fn list_channels(
    State(st): State<AppState>,
    auth: Auth,
) -> Result<Json<Vec<ChannelView>>, ApiError> {
    st.app
        .list_channels(auth.actor())
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Add a channel. Its URL or mail server must resolve, and not to an internal address unless
/// the notification settings allow it (`url_not_allowed`).
#[utoipa::path(post, path = "/api/v1/notification-channels", tag = "notifications", request_body = NewChannel,
    responses((status = 201, body = ChannelView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_channel(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<NewChannel>,
) -> Result<(StatusCode, Json<ChannelView>), ApiError> {
    st.app
        .create_channel(auth.actor(), b)
        .await
        .map(|c| (StatusCode::CREATED, Json(c)))
        .map_err(|e| auth.ctx.err(e))
}

/// Change a channel: name, enabled, configuration fields (a masked value sent back keeps
/// the stored secret).
#[utoipa::path(patch, path = "/api/v1/notification-channels/{id}", tag = "notifications", params(("id" = uuid::Uuid, Path)), request_body = ChannelPatch,
    responses((status = 200, body = ChannelView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_channel(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<ChannelPatch>,
) -> Result<Json<ChannelView>, ApiError> {
    st.app
        .update_channel(auth.actor(), id, b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Remove a channel; its undelivered notifications are dropped.
#[utoipa::path(delete, path = "/api/v1/notification-channels/{id}", tag = "notifications", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_channel(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    st.app
        .delete_channel(auth.actor(), id)
        .await
        .map(|_| StatusCode::NO_CONTENT)
        .map_err(|e| auth.ctx.err(e))
}

/// Send a test message through the channel now (within 5 s); the answer says whether it was
/// delivered and, if not, why.
#[utoipa::path(post, path = "/api/v1/notification-channels/{id}/test", tag = "notifications", params(("id" = uuid::Uuid, Path)), request_body = ChannelTest,
    responses((status = 200, body = ChannelTestResult), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn test_channel(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<ChannelTest>,
) -> Result<Json<ChannelTestResult>, ApiError> {
    st.app
        .test_channel(auth.actor(), id, b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Notification settings: which internal networks outbound notifications may reach, and the
/// public address used in links.
#[utoipa::path(get, path = "/api/v1/settings/notifications", tag = "notifications",
    responses((status = 200, body = NotifySettings), (status = 403, body = ErrorBody)))]
pub async fn get_settings(
    State(st): State<AppState>,
    auth: Auth,
) -> Result<Json<NotifySettings>, ApiError> {
    st.app
        .notify_settings(auth.actor())
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(put, path = "/api/v1/settings/notifications", tag = "notifications", request_body = NotifySettings,
    responses((status = 200, body = NotifySettings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_settings(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<NotifySettings>,
) -> Result<Json<NotifySettings>, ApiError> {
    st.app
        .set_notify_settings(auth.actor(), b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// The outbox, newest first: pending, failed (retrying with back-off), sent, dead.
#[utoipa::path(get, path = "/api/v1/notification-outbox", tag = "notifications", params(OutboxQuery),
    responses((status = 200, body = Page<OutboxView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_outbox(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<OutboxQuery>,
) -> Result<Json<Page<OutboxView>>, ApiError> {
    st.app
        .list_outbox(auth.actor(), q)
        .await
        .map(|p| Json(p.into()))
        .map_err(|e| auth.ctx.err(e))
}

/// The caller's notification preferences: per event kind, `inapp` and/or `email`.
#[utoipa::path(get, path = "/api/v1/me/notification-preferences", tag = "notifications",
    responses((status = 200, body = Preferences), (status = 401, body = ErrorBody)))]
pub async fn get_prefs(
    State(st): State<AppState>,
    auth: Auth,
) -> Result<Json<Preferences>, ApiError> {
    st.app
        .my_notification_prefs(auth.actor())
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Change the caller's preferences for the event kinds given.
#[utoipa::path(put, path = "/api/v1/me/notification-preferences", tag = "notifications", request_body = PreferencesInput,
    responses((status = 200, body = Preferences), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_prefs(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<PreferencesInput>,
) -> Result<Json<Preferences>, ApiError> {
    st.app
        .set_my_notification_prefs(auth.actor(), b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// The caller's in-app notifications, newest first (`unread=true`: only unread ones); the
/// `x-unread-count` header tells how many are unread.
#[utoipa::path(get, path = "/api/v1/me/inbox", tag = "notifications", params(InboxQuery),
    responses((status = 200, body = Page<InboxItem>, headers(("x-unread-count" = i64, description = "Unread notifications"))), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_inbox(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<InboxQuery>,
) -> Result<([(&'static str, String); 1], Json<Page<InboxItem>>), ApiError> {
    let page = st
        .app
        .my_inbox(auth.actor(), q)
        .await
        .map_err(|e| auth.ctx.err(e))?;
    let unread = st
        .app
        .my_unread_count(auth.actor())
        .await
        .map_err(|e| auth.ctx.err(e))?;
    Ok(([("x-unread-count", unread.to_string())], Json(page.into())))
}

/// Mark one of the caller's notifications read.
#[utoipa::path(post, path = "/api/v1/me/inbox/{id}/read", tag = "notifications", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn mark_read(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    st.app
        .mark_inbox_read(auth.actor(), id)
        .await
        .map(|_| StatusCode::NO_CONTENT)
        .map_err(|e| auth.ctx.err(e))
}
