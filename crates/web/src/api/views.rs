//! The agent console's API: saved views, queue views, bulk actions on tickets, and the live
//! feed of ticket changes (Server-Sent Events).

use std::convert::Infallible;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use yunwei_domain::Lang;
use yunwei_service::views::{BulkInput, BulkItem, NewSavedView, QueueQuery, SavedViewInfo};
use yunwei_store::tickets::Ticket;

use super::Page;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, JsonBody, PathId, Query};
use crate::AppState;

/// The caller's saved views and those shared with the caller's teams, by name.
#[utoipa::path(get, path = "/api/v1/views", tag = "tickets",
    responses((status = 200, body = Vec<SavedViewInfo>), (status = 401, body = ErrorBody)))]
pub async fn list_views(
    State(st): State<AppState>,
    auth: Auth,
) -> Result<Json<Vec<SavedViewInfo>>, ApiError> {
    st.app
        .list_saved_views(auth.actor())
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Save a queue filter set under a name (unique per owner), private or shared with one of the
/// caller's teams (`team_id`).
#[utoipa::path(post, path = "/api/v1/views", tag = "tickets", request_body = NewSavedView,
    responses((status = 201, body = SavedViewInfo), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_view(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<NewSavedView>,
) -> Result<(StatusCode, Json<SavedViewInfo>), ApiError> {
    st.app
        .create_saved_view(auth.actor(), b)
        .await
        .map(|v| (StatusCode::CREATED, Json(v)))
        .map_err(|e| auth.ctx.err(e))
}

/// Delete one of the caller's own views (a teammate's shared view: 403).
#[utoipa::path(delete, path = "/api/v1/views/{id}", tag = "tickets", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_view(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    st.app
        .delete_saved_view(auth.actor(), id)
        .await
        .map(|_| StatusCode::NO_CONTENT)
        .map_err(|e| auth.ctx.err(e))
}

/// A queue view of open tickets — `mine` (assigned to me), `team` (of my teams), `unassigned`
/// or `open` (all) — by priority (not yet prioritised first), then the running SLA deadline.
#[utoipa::path(get, path = "/api/v1/queue", tag = "tickets", params(QueueQuery),
    responses((status = 200, body = Page<Ticket>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn queue(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<QueueQuery>,
) -> Result<Json<Page<Ticket>>, ApiError> {
    st.app
        .queue_tickets(auth.actor(), q)
        .await
        .map(|p| Json(p.into()))
        .map_err(|e| auth.ctx.err(e))
}

/// One ticket's outcome of a bulk action.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkOutcome {
    pub number: String,
    pub ok: bool,
    /// The ticket's status afterwards (done).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Why it was refused: the stable error code, its message and the field concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkResult {
    /// How many tickets the action was done to.
    pub done: usize,
    /// How many refused it.
    pub refused: usize,
    pub items: Vec<BulkOutcome>,
}

pub fn outcomes(items: Vec<BulkItem>, lang: Lang) -> BulkResult {
    let items: Vec<BulkOutcome> = items
        .into_iter()
        .map(|i| match i.result {
            Ok(t) => BulkOutcome {
                number: i.number,
                ok: true,
                status: Some(t.status),
                code: None,
                message: None,
                field: None,
            },
            Err(e) => BulkOutcome {
                number: i.number,
                ok: false,
                status: None,
                code: Some(e.code().as_str().into()),
                message: Some(e.code().message(lang).into()),
                field: e.field().map(String::from),
            },
        })
        .collect();
    let done = items.iter().filter(|i| i.ok).count();
    BulkResult {
        done,
        refused: items.len() - done,
        items,
    }
}

/// Do one thing to many tickets: assign, take a flow step, or override the priority. Each
/// ticket goes through the same use case, authorization and flow checks as alone, in its own
/// transaction; the answer (200) reports each ticket's outcome. Input that is wrong as a whole
/// (no tickets, more than 100, unknown action, missing reason) answers 422 and changes nothing.
#[utoipa::path(post, path = "/api/v1/tickets/bulk", tag = "tickets", request_body = BulkInput,
    responses((status = 200, body = BulkResult), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn bulk(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<BulkInput>,
) -> Result<Json<BulkResult>, ApiError> {
    st.app
        .bulk_tickets(auth.actor(), b)
        .await
        .map(|items| Json(outcomes(items, auth.ctx.lang)))
        .map_err(|e| auth.ctx.err(e))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    /// Resume after this event id (the `Last-Event-ID` header takes precedence).
    pub last_event_id: Option<i64>,
}

/// The live feed: a `text/event-stream` of the ticket changes the caller may see (customers:
/// their organization's tickets, public changes only), from any node. Each event is
/// `event: ticket`, `id: <audit sequence number>`, `data: {"seq", "at", "number", "action",
/// "status", "priority"}`; reconnecting with `Last-Event-ID` resumes after that event.
#[utoipa::path(get, path = "/api/v1/events", tag = "tickets", params(EventsQuery),
    responses((status = 200, description = "Server-Sent Events", content_type = "text/event-stream", body = String),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn events(
    State(st): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(q.last_event_id);
    let sub = st
        .events
        .subscribe(auth.actor(), after)
        .await
        .map_err(|e| auth.ctx.err(e))?;
    let stream = futures_util::stream::unfold(sub, |mut sub| async move {
        let c = sub.next().await?;
        let data = serde_json::to_string(&c).unwrap_or_default();
        let ev = SseEvent::default()
            .event("ticket")
            .id(c.seq.to_string())
            .data(data);
        Some((Ok::<_, Infallible>(ev), sub))
    });
    let mut r = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    // Reverse proxies must pass events through as they come.
    r.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(r)
}
