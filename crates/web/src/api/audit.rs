use axum::extract::State;
use axum::Json;
use serde::Serialize;
use yunwei_service::audit::AuditQuery;
use yunwei_store::audit::Entry;

use super::Page;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, Query};
use crate::AppState;

/// Browse the audit log, newest first (administrators and auditors).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Page<Entry>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_audit(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Page<Entry>>, ApiError> {
    st.app
        .list_audit(auth.actor(), q)
        .await
        .map(|p| Json(p.into()))
        .map_err(|e| auth.ctx.err(e))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Verification {
    pub intact: bool,
    /// Entries verified (up to the first fault).
    pub entries: i64,
    /// The first fault: which entry and what is wrong.
    pub fault: Option<String>,
}

/// Recompute the whole hash chain.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = Verification), (status = 403, body = ErrorBody)))]
pub async fn verify_audit(
    State(st): State<AppState>,
    auth: Auth,
) -> Result<Json<Verification>, ApiError> {
    let v = st
        .app
        .verify_audit(auth.actor())
        .await
        .map_err(|e| auth.ctx.err(e))?;
    Ok(Json(Verification {
        intact: v.fault.is_none(),
        entries: v.entries,
        fault: v.fault.map(|f| f.to_string()),
    }))
}
