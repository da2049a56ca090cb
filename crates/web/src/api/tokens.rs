use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use yunwei_service::auth::{CreatedToken, NewToken};
use yunwei_store::tokens::ApiToken;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, JsonBody, PathId, Query};
use crate::AppState;

#[derive(Deserialize, Default, utoipa::IntoParams)]
pub struct TokenQuery {
    /// Another user's tokens (administrators).
    pub user_id: Option<uuid::Uuid>,
    /// Everybody's tokens (administrators).
    pub all: Option<bool>,
}

/// API tokens: one's own by default.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(TokenQuery),
    responses((status = 200, body = Vec<ApiToken>), (status = 403, body = ErrorBody)))]
pub async fn list_tokens(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<TokenQuery>,
) -> Result<Json<Vec<ApiToken>>, ApiError> {
    let who = if q.all == Some(true) {
        None
    } else {
        q.user_id.or(auth.actor().user_id)
    };
    st.app
        .list_tokens(auth.actor(), who)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    pub name: Option<String>,
    /// 1–3650; absent: no expiry.
    pub expires_in_days: Option<i64>,
    /// For another user (administrators).
    pub user_id: Option<uuid::Uuid>,
}

/// Create a token; the answer carries it once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = TokenBody,
    responses((status = 201, body = CreatedToken), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_token(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<TokenBody>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let Some(uid) = b.user_id.or(auth.actor().user_id) else {
        return Err(auth.ctx.code(yunwei_domain::ErrorCode::Forbidden));
    };
    st.app
        .create_token(
            auth.actor(),
            uid,
            NewToken {
                name: b.name,
                expires_in_days: b.expires_in_days,
            },
        )
        .await
        .map(|t| (StatusCode::CREATED, Json(t)))
        .map_err(|e| auth.ctx.err(e))
}

/// Revoke a token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = ApiToken), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<ApiToken>, ApiError> {
    st.app
        .revoke_token(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}
