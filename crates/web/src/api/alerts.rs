//! Monitoring alerts: the endpoint monitoring systems post to, alert sources (staff manage
//! them), and the alerts they raised. See crates/service/src/alerts.rs for the checks.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use yunwei_domain::ErrorCode;
use yunwei_service::alerts::{
    AlertQuery, AlertSourcePatch, AlertSourceView, AlertSourceWithCredentials, AlertView,
    IngestCredentials, IngestReport, NewAlertSource,
};

use super::Page;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, Ctx, JsonBody, PathId, Query};
use crate::AppState;

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

/// Receive alerts from a monitoring system (no user session: the alert source's own
/// credentials). `hmac` sources sign: `X-Yunwei-Timestamp` (unix seconds, ±300 s),
/// `X-Yunwei-Nonce` (1–64 visible ASCII characters, never reused) and
/// `X-Yunwei-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + nonce + "." + body)>`.
/// `bearer` sources (Alertmanager, Grafana) send `Authorization: Bearer <token>`. The body is
/// the source's format (Alertmanager / Grafana webhook, Zabbix webhook JSON, PagerDuty Events
/// v2, or yunwei's generic JSON), at most 1 MiB and 500 alerts. A new alert opens an incident,
/// a repeated one is counted, a recovery is noted on its ticket. Answered 202 once committed;
/// a refused request (401 unknown or disabled source, bad signature, stale timestamp, reused
/// nonce; 400 malformed; 413 too large; 429 over the source's rate, with `Retry-After`) writes
/// nothing.
#[utoipa::path(post, path = "/api/v1/alerts/ingest/{source}", tag = "alerts", security(()),
    params(("source" = String, Path, description = "The alert source id")),
    request_body(content = Object, content_type = "application/json"),
    responses((status = 202, body = IngestReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn ingest(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rej) => {
            let code = if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ErrorCode::PayloadTooLarge
            } else {
                ErrorCode::InvalidJson
            };
            return ctx.code(code).into_response();
        }
    };
    let Ok(source) = source.parse::<uuid::Uuid>() else {
        // An id that cannot exist fails like any unknown source.
        return ctx.code(ErrorCode::AlertAuthFailed).into_response();
    };
    let creds = IngestCredentials {
        timestamp: header(&headers, "x-yunwei-timestamp"),
        nonce: header(&headers, "x-yunwei-nonce"),
        signature: header(&headers, "x-yunwei-signature"),
        bearer: header(&headers, "authorization")
            .and_then(|v| v.strip_prefix("Bearer ").map(|t| t.trim().to_string())),
    };
    match st.app.ingest(source, &creds, &body, ctx.ip.clone()).await {
        Ok(report) => (StatusCode::ACCEPTED, Json(report)).into_response(),
        Err(rej) => {
            let mut res = ctx.err(rej.error).into_response();
            if let Some(s) = rej.retry_after {
                if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                    res.headers_mut().insert("retry-after", v);
                }
            }
            res
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct SourceQuery {
    /// Only the sources of this organization.
    pub organization: Option<uuid::Uuid>,
}

/// Alert sources (staff), oldest first; never their secrets or tokens.
#[utoipa::path(get, path = "/api/v1/alert-sources", tag = "alerts", params(SourceQuery),
    responses((status = 200, body = Vec<AlertSourceView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_sources(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<SourceQuery>,
) -> Result<Json<Vec<AlertSourceView>>, ApiError> {
    st.app
        .list_alert_sources(auth.actor(), q.organization)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Connect a monitoring system (administrators, managers). The answer carries the signing
/// secret (`hmac`) or the token (`bearer`) this once; it is never shown again.
#[utoipa::path(post, path = "/api/v1/alert-sources", tag = "alerts", request_body = NewAlertSource,
    responses((status = 201, body = AlertSourceWithCredentials), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_source(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<NewAlertSource>,
) -> Result<(StatusCode, Json<AlertSourceWithCredentials>), ApiError> {
    st.app
        .create_alert_source(auth.actor(), b)
        .await
        .map(|s| (StatusCode::CREATED, Json(s)))
        .map_err(|e| auth.ctx.err(e))
}

/// One alert source.
#[utoipa::path(get, path = "/api/v1/alert-sources/{id}", tag = "alerts", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = AlertSourceView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_source(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<AlertSourceView>, ApiError> {
    st.app
        .get_alert_source(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Change an alert source: defaults of its incidents, rate, enabled; `rotate_credentials`
/// (or a new `auth_mode`) issues new credentials, answered this once, and the old ones stop
/// working at once.
#[utoipa::path(patch, path = "/api/v1/alert-sources/{id}", tag = "alerts", params(("id" = uuid::Uuid, Path)), request_body = AlertSourcePatch,
    responses((status = 200, body = AlertSourceWithCredentials), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_source(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<AlertSourcePatch>,
) -> Result<Json<AlertSourceWithCredentials>, ApiError> {
    st.app
        .update_alert_source(auth.actor(), id, b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Alerts, newest first (staff): by `status` (firing, acknowledged, resolved, or open),
/// `source`, `organization`.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, body = Page<AlertView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_alerts(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<AlertQuery>,
) -> Result<Json<Page<AlertView>>, ApiError> {
    st.app
        .list_alerts(auth.actor(), q)
        .await
        .map(|p| Json(p.into()))
        .map_err(|e| auth.ctx.err(e))
}

/// One alert, with the number of the incident it opened.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = AlertView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_alert(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<AlertView>, ApiError> {
    st.app
        .get_alert(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}
