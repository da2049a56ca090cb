//! Hostile input (issue 5, item 7), on SQLite and PostgreSQL, driven by the OpenAPI document
//! so every write route is covered the day it is added:
//!
//! - **mass assignment**: a body that sets server-owned fields (id, number, timestamps,
//!   hashes, …) is refused with a 4xx and writes nothing, on every write route;
//! - **CSRF**: a signed-in browser session without the CSRF token, or with a wrong one,
//!   changes nothing on any write route;
//! - **SQL injection and XSS** in the text fields of tickets, replies, organizations,
//!   departments, users and announcements: stored verbatim (the database is intact, the text
//!   comes back byte for byte), and every page that shows it escapes it.

mod common;

use axum::http::{header, Method, StatusCode};
use common::*;
use serde_json::{json, Value};
use uuid::Uuid;

fn write_operations(spec: &Value) -> Vec<(Method, String, bool)> {
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for m in ["post", "put", "patch", "delete"] {
            if let Some(op) = item.get(m) {
                let json_body = op
                    .pointer("/requestBody/content/application~1json")
                    .is_some();
                ops.push((
                    Method::from_bytes(m.to_uppercase().as_bytes()).unwrap(),
                    path.clone(),
                    json_body,
                ));
            }
        }
    }
    ops
}

fn fill_missing(template: &str) -> String {
    let mut path = template.to_string();
    while let (Some(a), Some(b)) = (path.find('{'), path.find('}')) {
        path.replace_range(a..=b, &Uuid::now_v7().to_string());
    }
    path
}

#[tokio::test]
async fn server_owned_fields_cannot_be_assigned() {
    for t in TestApp::all().await {
        let spec = t.get("/api/openapi.json", &t.admin).await.body;
        let hostile = json!({
            "id": Uuid::now_v7(),
            "number": "INC-2026-000001",
            "created_at": "2001-01-01T00:00:00Z",
            "updated_at": "2001-01-01T00:00:00Z",
            "created_by": Uuid::now_v7(),
            "hash": "0000",
            "prev_hash": "0000",
            "password_hash": "$argon2id$forged",
            "token_hash": "forged",
            "is_system": true,
        });
        let mut checked = 0;
        for (method, template, json_body) in write_operations(&spec) {
            if !json_body || template == "/api/v1/session" {
                continue;
            }
            let path = fill_missing(&template);
            let before = t.audit_count().await;
            let r = t
                .req(
                    method.clone(),
                    &path,
                    Some(&t.admin),
                    Some(hostile.clone()),
                    &[],
                )
                .await;
            assert!(
                r.status.is_client_error(),
                "[{}] {method} {template} accepted server-owned fields: {} {}",
                t.name,
                r.status,
                r.text
            );
            assert!(
                r.body["code"].is_string() && r.body["message"].is_string(),
                "[{}] {method} {template}: not our error format: {}",
                t.name,
                r.text
            );
            assert_eq!(
                before,
                t.audit_count().await,
                "[{}] {method} {template} wrote",
                t.name
            );
            checked += 1;
        }
        assert!(checked >= 30, "only {checked} write routes with bodies");

        // The one body where an organization may be named: a customer naming another
        // organization does not get a ticket there.
        let a = t.org("甲方单位").await;
        let b = t.org("乙方单位").await;
        let (_, cust) = t.user("hostile-cust", "customer", Some(a)).await;
        let r = t
            .post(
                "/api/v1/tickets",
                &cust,
                json!({ "kind": "request", "subject": "越权创建", "description": "x", "org_id": b }),
            )
            .await;
        if r.status.is_success() {
            assert_eq!(r.body["org_id"], json!(a), "[{}] {}", t.name, r.text);
        } else {
            assert!(r.status.is_client_error(), "[{}] {}", t.name, r.text);
        }
        let r = t
            .get(&format!("/api/v1/tickets?organization={b}"), &t.admin)
            .await;
        assert!(!r.text.contains("越权创建"), "[{}] {}", t.name, r.text);
    }
}

#[tokio::test]
async fn cookie_writes_without_the_csrf_token_change_nothing() {
    for t in TestApp::all().await {
        let spec = t.get("/api/openapi.json", &t.admin).await.body;
        let login = t.login("admin", &t.admin_password).await;
        assert_eq!(login.status, StatusCode::CREATED, "{}", login.text);
        let cookie = session_cookie(&login);
        let mut checked = 0;
        for (method, template, json_body) in write_operations(&spec) {
            if template == "/api/v1/session" {
                continue;
            }
            let path = fill_missing(&template);
            // Routes that take no user credentials at all (monitoring systems' alert
            // deliveries sign their requests): a browser's cookie does not authenticate them.
            let open =
                spec["paths"][&template][method.as_str().to_lowercase()]["security"] == json!([{}]);
            for token in [None, Some("forged-token")] {
                let mut extra = vec![(header::COOKIE.as_str(), cookie.as_str())];
                if let Some(tok) = token {
                    extra.push(("x-csrf-token", tok));
                }
                let before = t.audit_count().await;
                let r = t
                    .req(
                        method.clone(),
                        &path,
                        None,
                        json_body.then(|| json!({ "name": "csrf" })),
                        &extra,
                    )
                    .await;
                assert_eq!(
                    r.status,
                    if open {
                        StatusCode::UNAUTHORIZED
                    } else {
                        StatusCode::FORBIDDEN
                    },
                    "[{}] {method} {template} with a cookie and csrf {token:?}: {}",
                    t.name,
                    r.text
                );
                assert_eq!(before, t.audit_count().await);
            }
            checked += 1;
        }
        assert!(checked >= 30, "only {checked} write routes");
    }
}

/// Payloads that break naive SQL and HTML.
const PAYLOADS: &[&str] = &[
    "'; DROP TABLE tickets; --",
    "\" OR 1=1 --",
    "Robert'); DELETE FROM users WHERE ('1'='1",
    "<script>window.pwned=1</script>",
    "<img src=x onerror=alert(1)>",
    "\"><svg onload=alert(1)>",
    "javascript:alert(1)",
    "{{7*7}} ${7*7} {% raw %}",
    "%27%20OR%201%3D1",
    "\u{202e}gnp.exe",
];

fn escaped_everywhere(html: &str, payload: &str, page: &str) {
    for raw in ["<script>window.pwned", "<img src=x", "<svg onload"] {
        if payload.contains(raw) {
            assert!(
                !html.contains(raw),
                "{page} shows {raw:?} unescaped:\n{}",
                &html[html.find(raw).unwrap().saturating_sub(200)..]
            );
        }
    }
}

#[tokio::test]
async fn injection_payloads_are_stored_verbatim_and_shown_escaped() {
    for t in TestApp::all().await {
        let org = t.org("注入测试单位").await;
        let (_, cust) = t.user("inject-cust", "customer", Some(org)).await;
        let tickets_before = t.get("/api/v1/tickets", &t.admin).await.body["items"]
            .as_array()
            .map_or(0, Vec::len);
        let mut numbers = Vec::new();
        for (i, p) in PAYLOADS.iter().enumerate() {
            let r = t
                .post(
                    "/api/v1/tickets",
                    &cust,
                    json!({ "kind": "incident", "subject": format!("{p} #{i}"), "description": p }),
                )
                .await;
            assert_eq!(
                r.status,
                StatusCode::CREATED,
                "[{}] {p}: {}",
                t.name,
                r.text
            );
            assert_eq!(r.body["subject"], format!("{p} #{i}"), "[{}]", t.name);
            assert_eq!(r.body["description"], *p, "[{}]", t.name);
            let number = r.body["number"].as_str().unwrap().to_string();
            let r = t
                .post(
                    &format!("/api/v1/tickets/{number}/comments"),
                    &t.admin,
                    json!({ "body": p, "internal": false }),
                )
                .await;
            assert_eq!(
                r.status,
                StatusCode::CREATED,
                "[{}] {p}: {}",
                t.name,
                r.text
            );
            // Searching for the payload is just a search.
            let q: String = url_escape(p);
            let r = t.get(&format!("/api/v1/tickets?q={q}"), &cust).await;
            assert!(r.status.is_success(), "[{}] q={p}: {}", t.name, r.text);
            numbers.push(number);
        }
        // Text fields elsewhere.
        let r = t
            .post(
                &format!("/api/v1/organizations/{org}/departments"),
                &t.admin,
                json!({ "name": PAYLOADS[3] }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "[{}] {}", t.name, r.text);
        let r = t
            .post(
                "/api/v1/announcements",
                &t.admin,
                json!({
                    "kind": "notice", "title": PAYLOADS[4], "body": PAYLOADS[5],
                    "starts_at": "2026-01-01T00:00:00Z", "all_orgs": true, "published": true, "items": []
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "[{}] {}", t.name, r.text);

        // The database is intact: every ticket is still there, plus ours.
        let after = t.get("/api/v1/tickets", &t.admin).await.body["items"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(after, tickets_before + PAYLOADS.len(), "[{}]", t.name);
        assert!(t.audit_count().await > 0);

        // Pages escape the payloads, for the customer and for staff.
        let cookie_of = |r: &Resp| session_cookie(r);
        let staff = cookie_of(&t.login("admin", &t.admin_password).await);
        let cust_login = t.login("inject-cust", "correct horse battery").await;
        let customer = cookie_of(&cust_login);
        let mut pages = vec![
            "/tickets".to_string(),
            "/".to_string(),
            "/announcements".to_string(),
            format!("/orgs/{org}"),
        ];
        for n in &numbers {
            pages.push(format!("/tickets/{n}"));
        }
        for (who, cookie) in [("staff", &staff), ("customer", &customer)] {
            for page in &pages {
                let r = t
                    .req(
                        Method::GET,
                        page,
                        None,
                        None,
                        &[("cookie", cookie.as_str())],
                    )
                    .await;
                if r.status == StatusCode::NOT_FOUND || r.status == StatusCode::FORBIDDEN {
                    continue; // A page this role has no access to.
                }
                assert_eq!(
                    r.status,
                    StatusCode::OK,
                    "[{}] {who} {page}: {}",
                    t.name,
                    r.text
                );
                let csp = r
                    .headers
                    .get("content-security-policy")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                assert!(
                    csp.contains("default-src") && !csp.contains("unsafe-inline"),
                    "[{}] {page}: CSP {csp:?}",
                    t.name
                );
                for p in PAYLOADS {
                    escaped_everywhere(&r.text, p, &format!("[{}] {who} {page}", t.name));
                }
            }
        }
    }
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
