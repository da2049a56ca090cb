//! yunwei-web: everything HTTP.
//!
//! - `/api/v1/…` JSON API (handlers in [`api`], registered through utoipa-axum so the OpenAPI
//!   document at `/api/openapi.json` is generated from the routes themselves);
//! - server-rendered UI (handlers in [`ui`], askama templates, embedded CSS, no build step);
//! - `/healthz`, `/readyz`, and Prometheus `/metrics` (on its own listener, or behind auth).
//!
//! A request flows: middleware (request id, metrics, logging) → extractor [`extract::Auth`]
//! (session cookie or bearer token → [`yunwei_service::Actor`]) → a thin handler that parses
//! input and calls one [`yunwei_service::App`] method (which checks permissions and scope and
//! writes the audit entry) → JSON or HTML. Errors from any layer become [`error::ApiError`]
//! (JSON) or an error page (HTML), with a stable code, a zh-CN/en message and the request id.

// Handlers return `Result<_, Response>` (axum style); boxing every rejection buys nothing here.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod error;
pub mod extract;
pub mod i18n;
pub mod metrics;
pub mod ui;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use yunwei_service::App;

/// Web settings.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Mark cookies `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted reverse proxy).
    pub trust_forwarded_for: bool,
    /// Serve `/metrics` on the main listener too (behind admin/auditor authentication).
    pub metrics_on_main: bool,
}

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub config: Arc<WebConfig>,
    pub metrics: Arc<metrics::Metrics>,
    /// This node's live feed of ticket changes (one poller of the audit log, started while
    /// somebody listens).
    pub events: Arc<yunwei_service::views::EventHub>,
}

/// Request id, carried in request extensions, echoed in `x-request-id`, shown in errors.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

async fn request_context(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = uuid::Uuid::now_v7().simple().to_string();
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let start = std::time::Instant::now();
    let mut res = next.run(req).await;
    let elapsed = start.elapsed();
    st.metrics
        .observe(method.as_str(), &route, res.status().as_u16(), elapsed);
    // A write went through: let this node's search indexer pick it up now (crate service::search).
    if !method.is_safe() && (res.status().is_success() || res.status().is_redirection()) {
        st.app.nudge_search();
    }
    tracing::info!(target: "yunwei::http", request_id = %id, %method, route = %route, status = res.status().as_u16(), ms = elapsed.as_secs_f64() * 1000.0);
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    let h = res.headers_mut();
    h.entry("x-content-type-options")
        .or_insert(axum::http::HeaderValue::from_static("nosniff"));
    h.entry("x-frame-options")
        .or_insert(axum::http::HeaderValue::from_static("DENY"));
    h.entry("referrer-policy")
        .or_insert(axum::http::HeaderValue::from_static("same-origin"));
    h.entry("content-security-policy").or_insert(axum::http::HeaderValue::from_static(
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    ));
    res
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(st): State<AppState>) -> Response {
    match st.app.db.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!("readyz: database unreachable: {e}");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "database unreachable",
            )
                .into_response()
        }
    }
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let (api_router, openapi) = api::router();
    let openapi = Arc::new(openapi);
    let mut r = Router::new()
        .merge(api_router)
        .merge(api::docs_router(openapi))
        .merge(ui::router())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if state.config.metrics_on_main {
        r = r.route("/metrics", get(metrics::metrics_authenticated));
    }
    r.fallback(error::fallback)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_context,
        ))
        .with_state(state)
}

/// The metrics-only router (for its own listener).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::metrics_open))
        .with_state(state)
}

/// Serve until the future `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// How often a node polls the audit log for the live feed while somebody listens.
pub const LIVE_FEED_POLL: std::time::Duration = std::time::Duration::from_secs(1);

pub fn state(app: App, config: WebConfig) -> AppState {
    AppState {
        events: yunwei_service::views::EventHub::new(app.clone(), LIVE_FEED_POLL),
        app,
        config: Arc::new(config),
        metrics: Arc::new(metrics::Metrics::default()),
    }
}
