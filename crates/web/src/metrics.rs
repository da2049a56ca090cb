//! Prometheus metrics: requests by route and status class, latency histograms, errors, and
//! the database pool. Text exposition format, no extra dependency.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use yunwei_domain::Action;

use crate::extract::Auth;
use crate::AppState;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

#[derive(Default)]
pub struct Metrics {
    // (method, route, status) → count; (method, route) → latency histogram
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Series>>,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((method.to_string(), route.to_string(), status))
                .or_default() += 1;
        }
        if let Ok(mut l) = self.latency.lock() {
            let s = l
                .entry((method.to_string(), route.to_string()))
                .or_default();
            s.count += 1;
            s.sum += secs;
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    s.buckets[i] += 1;
                }
            }
        }
    }

    pub fn render(&self, pool: (u32, usize)) -> String {
        let mut out = String::new();
        out.push_str("# HELP yunwei_http_requests_total HTTP requests by route and status.\n# TYPE yunwei_http_requests_total counter\n");
        let mut errors: BTreeMap<(String, String), u64> = BTreeMap::new();
        if let Ok(r) = self.requests.lock() {
            for ((m, route, status), n) in r.iter() {
                let _ = writeln!(out, "yunwei_http_requests_total{{method=\"{m}\",route=\"{}\",status=\"{status}\"}} {n}", esc(route));
                if *status >= 500 {
                    *errors.entry((m.clone(), route.clone())).or_default() += n;
                }
            }
        }
        out.push_str("# HELP yunwei_http_server_errors_total Responses with status 5xx.\n# TYPE yunwei_http_server_errors_total counter\n");
        for ((m, route), n) in &errors {
            let _ = writeln!(
                out,
                "yunwei_http_server_errors_total{{method=\"{m}\",route=\"{}\"}} {n}",
                esc(route)
            );
        }
        out.push_str("# HELP yunwei_http_request_duration_seconds Request latency.\n# TYPE yunwei_http_request_duration_seconds histogram\n");
        if let Ok(l) = self.latency.lock() {
            for ((m, route), s) in l.iter() {
                let route = esc(route);
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(out, "yunwei_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{route}\",le=\"{b}\"}} {}", s.buckets[i]);
                }
                let _ = writeln!(out, "yunwei_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{route}\",le=\"+Inf\"}} {}", s.count);
                let _ = writeln!(out, "yunwei_http_request_duration_seconds_sum{{method=\"{m}\",route=\"{route}\"}} {}", s.sum);
                let _ = writeln!(out, "yunwei_http_request_duration_seconds_count{{method=\"{m}\",route=\"{route}\"}} {}", s.count);
            }
        }
        let _ = writeln!(out, "# HELP yunwei_db_pool_connections Open database connections.\n# TYPE yunwei_db_pool_connections gauge\nyunwei_db_pool_connections {}", pool.0);
        let _ = writeln!(out, "# HELP yunwei_db_pool_idle Idle database connections.\n# TYPE yunwei_db_pool_idle gauge\nyunwei_db_pool_idle {}", pool.1);
        out
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn text(body: String) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// On the metrics listener (bind it to a private address).
pub async fn metrics_open(State(st): State<AppState>) -> Response {
    text(st.metrics.render(st.app.db.pool_stats()))
}

/// On the main listener: administrators and auditors only.
pub async fn metrics_authenticated(State(st): State<AppState>, auth: Auth) -> Response {
    if let Err(e) = auth.actor().require(Action::MetricsRead) {
        return auth.ctx.err(e).into_response();
    }
    text(st.metrics.render(st.app.db.pool_stats()))
}
