use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use yunwei_domain::ticket::PriorityMatrix;
use yunwei_domain::ErrorCode;
use yunwei_service::tickets::{NewTicket, TicketDetail, TicketQuery, TransitionInput};
use yunwei_store::tickets::{Event, Ticket};

use super::Page;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, Ctx, JsonBody, Query};
use crate::AppState;

/// A ticket number in the path, as typed (`inc-2026-42` is `INC-2026-000042`); anything that is
/// not one is a missing ticket.
pub struct Number(pub String);

impl FromRequestParts<AppState> for Number {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, st).await?;
        match axum::extract::Path::<String>::from_request_parts(parts, st).await {
            Ok(p) => yunwei_domain::ticket::normalize_number(&p.0)
                .map(Number)
                .ok_or_else(|| ctx.code(ErrorCode::NotFound)),
            _ => Err(ctx.code(ErrorCode::NotFound)),
        }
    }
}

/// Submit a ticket. Only `kind`, `subject` and `description` are required; the organization
/// defaults to the caller's, the requester to the caller.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets", request_body = NewTicket,
    responses((status = 201, body = Ticket), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_ticket(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<NewTicket>,
) -> Result<(StatusCode, Json<Ticket>), ApiError> {
    st.app
        .create_ticket(auth.actor(), b)
        .await
        .map(|t| (StatusCode::CREATED, Json(t)))
        .map_err(|e| auth.ctx.err(e))
}

/// Tickets the caller may see, filtered; `sort=queue` orders by priority (unprioritised first).
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", params(TicketQuery),
    responses((status = 200, body = Page<Ticket>), (status = 422, body = ErrorBody)))]
pub async fn list_tickets(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<TicketQuery>,
) -> Result<Json<Page<Ticket>>, ApiError> {
    st.app
        .list_tickets(auth.actor(), q)
        .await
        .map(|p| Json(p.into()))
        .map_err(|e| auth.ctx.err(e))
}

/// One ticket with its timeline (customers: without internal notes) and sub-tasks.
#[utoipa::path(get, path = "/api/v1/tickets/{number}", tag = "tickets", params(("number" = String, Path, description = "e.g. INC-2026-000123 (also typed as inc-2026-123)")),
    responses((status = 200, body = TicketDetail), (status = 404, body = ErrorBody)))]
pub async fn get_ticket(
    State(st): State<AppState>,
    auth: Auth,
    Number(n): Number,
) -> Result<Json<TicketDetail>, ApiError> {
    st.app
        .get_ticket(auth.actor(), &n)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Move the ticket through the flow: triage, start, pend, resume, resolve, confirm, reject, cancel.
#[utoipa::path(post, path = "/api/v1/tickets/{number}/transitions", tag = "tickets", params(("number" = String, Path)), request_body = TransitionInput,
    responses((status = 200, body = Ticket), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn transition_ticket(
    State(st): State<AppState>,
    auth: Auth,
    Number(n): Number,
    JsonBody(b): JsonBody<TransitionInput>,
) -> Result<Json<Ticket>, ApiError> {
    st.app
        .transition_ticket(auth.actor(), &n, b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    pub body: String,
    /// An internal note, hidden from customers (staff only).
    #[serde(default)]
    pub internal: bool,
}

/// Reply on the ticket, or add an internal note.
#[utoipa::path(post, path = "/api/v1/tickets/{number}/comments", tag = "tickets", params(("number" = String, Path)), request_body = CommentBody,
    responses((status = 201, body = Event), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn comment_ticket(
    State(st): State<AppState>,
    auth: Auth,
    Number(n): Number,
    JsonBody(b): JsonBody<CommentBody>,
) -> Result<(StatusCode, Json<Event>), ApiError> {
    st.app
        .comment_ticket(auth.actor(), &n, &b.body, b.internal)
        .await
        .map(|e| (StatusCode::CREATED, Json(e)))
        .map_err(|e| auth.ctx.err(e))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityBody {
    /// 1 (most urgent) … 4.
    pub priority: i64,
    pub reason: String,
}

/// Override the matrix priority, with a reason (audited).
#[utoipa::path(put, path = "/api/v1/tickets/{number}/priority", tag = "tickets", params(("number" = String, Path)), request_body = PriorityBody,
    responses((status = 200, body = Ticket), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn override_priority(
    State(st): State<AppState>,
    auth: Auth,
    Number(n): Number,
    JsonBody(b): JsonBody<PriorityBody>,
) -> Result<Json<Ticket>, ApiError> {
    st.app
        .override_priority(auth.actor(), &n, b.priority, &b.reason)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SatisfactionBody {
    /// 1–5.
    pub score: i64,
    pub comment: Option<String>,
}

/// The requester rates a closed ticket, once.
#[utoipa::path(post, path = "/api/v1/tickets/{number}/satisfaction", tag = "tickets", params(("number" = String, Path)), request_body = SatisfactionBody,
    responses((status = 200, body = Ticket), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn rate_ticket(
    State(st): State<AppState>,
    auth: Auth,
    Number(n): Number,
    JsonBody(b): JsonBody<SatisfactionBody>,
) -> Result<Json<Ticket>, ApiError> {
    st.app
        .rate_ticket(auth.actor(), &n, b.score, b.comment.as_deref())
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

#[derive(serde::Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatrixBody {
    /// Rows: impact high, medium, low. Columns: urgency high, medium, low. Values 1–4.
    pub cells: [[u8; 3]; 3],
}

/// The impact × urgency priority matrix.
#[utoipa::path(get, path = "/api/v1/settings/priority-matrix", tag = "tickets",
    responses((status = 200, body = MatrixBody)))]
pub async fn get_matrix(
    State(st): State<AppState>,
    auth: Auth,
) -> Result<Json<MatrixBody>, ApiError> {
    auth.actor()
        .require(yunwei_domain::Action::TicketRead)
        .map_err(|e| auth.ctx.err(e))?;
    st.app
        .priority_matrix()
        .await
        .map(|m| Json(MatrixBody { cells: m.cells }))
        .map_err(|e| auth.ctx.err(e))
}

/// Change the priority matrix (administrators).
#[utoipa::path(put, path = "/api/v1/settings/priority-matrix", tag = "tickets", request_body = MatrixBody,
    responses((status = 200, body = MatrixBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_matrix(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<MatrixBody>,
) -> Result<Json<MatrixBody>, ApiError> {
    st.app
        .set_priority_matrix(auth.actor(), PriorityMatrix { cells: b.cells })
        .await
        .map(|m| Json(MatrixBody { cells: m.cells }))
        .map_err(|e| auth.ctx.err(e))
}

/// Who follows the ticket (and hears of its changes).
#[utoipa::path(get, path = "/api/v1/tickets/{number}/watchers", tag = "tickets", params(("number" = String, Path)),
    responses((status = 200, body = Vec<yunwei_store::watchers::Watcher>), (status = 404, body = ErrorBody)))]
pub async fn list_watchers(
    State(st): State<AppState>,
    auth: Auth,
    Number(n): Number,
) -> Result<Json<Vec<yunwei_store::watchers::Watcher>>, ApiError> {
    st.app
        .list_watchers(auth.actor(), &n)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Watch the ticket (default: the caller). Staff who work tickets may add provider staff or
/// users of the ticket's organization. Answers the watchers.
#[utoipa::path(post, path = "/api/v1/tickets/{number}/watchers", tag = "tickets", params(("number" = String, Path)),
    request_body = yunwei_service::watchers::WatchInput,
    responses((status = 200, body = Vec<yunwei_store::watchers::Watcher>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn watch_ticket(
    State(st): State<AppState>,
    auth: Auth,
    Number(n): Number,
    JsonBody(b): JsonBody<yunwei_service::watchers::WatchInput>,
) -> Result<Json<Vec<yunwei_store::watchers::Watcher>>, ApiError> {
    st.app
        .watch_ticket(auth.actor(), &n, b.user_id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Stop watching (oneself), or remove a watcher (staff who work tickets).
#[utoipa::path(delete, path = "/api/v1/tickets/{number}/watchers/{user_id}", tag = "tickets",
    params(("number" = String, Path), ("user_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unwatch_ticket(
    State(st): State<AppState>,
    auth: Auth,
    axum::extract::Path((n, user_id)): axum::extract::Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user_id = user_id
        .parse::<uuid::Uuid>()
        .ok()
        .filter(|_| yunwei_domain::ticket::is_number(&n))
        .ok_or_else(|| auth.ctx.code(ErrorCode::NotFound))?;
    st.app
        .unwatch_ticket(auth.actor(), &n, user_id)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .map_err(|e| auth.ctx.err(e))
}
