//! The authorization matrix (issue 5, item 5): every API route of the OpenAPI document ×
//! every role × an object of the caller's own organization, of another organization, and a
//! missing one — on SQLite and PostgreSQL.
//!
//! What must hold:
//! - a customer's request for another organization's object is answered exactly like one
//!   for a missing object (same status, same error code), is never a success, and writes
//!   nothing (the audit log does not grow);
//! - no list, search, export or report a customer can call shows another organization's
//!   records (their ids, numbers and a marker written into them);
//! - no route answers any role with a server error, and every route but signing in refuses
//!   an anonymous caller.
//!
//! The routes come from `/api/openapi.json`, so a new route is in the matrix the day it is
//! added — and fails here until its path parameters have a fixture below.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use serde_json::{json, Value};
use uuid::Uuid;

/// One customer organization's objects, reachable through path parameters.
struct Side {
    org: Uuid,
    dept: Uuid,
    agreement: Uuid,
    user: Uuid,
    token: String,
    token_id: String,
    ticket: String,
    announcement: String,
    attachment: String,
    ci: String,
    relation: String,
    view: String,
    alert_source: String,
    alert: String,
    marker: String,
}

/// Build a customer organization with one of everything a path can name.
async fn side(t: &TestApp, tag: &str) -> Side {
    let marker = format!("MARK{tag}{}", Uuid::now_v7().simple());
    let org = t.org(&format!("客户{tag}-{marker}")).await;
    let r = t
        .post(
            &format!("/api/v1/organizations/{org}/departments"),
            &t.admin,
            json!({ "name": format!("部门{marker}") }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let dept: Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    let r = t
        .post(
            &format!("/api/v1/organizations/{org}/agreements"),
            &t.admin,
            json!({ "name": format!("协议{marker}"), "contract_no": marker }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let agreement: Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    let (user, token) = t
        .user(
            &format!("cust{}", tag.to_lowercase()),
            "customer",
            Some(org),
        )
        .await;
    let r = t
        .post(
            "/api/v1/tokens",
            &token,
            json!({ "name": format!("t{marker}") }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let token_id = r.body["info"]["id"].as_str().unwrap().to_string();
    let r = t
        .post(
            "/api/v1/tickets",
            &token,
            json!({
                "kind": "incident",
                "subject": format!("打印机故障 {marker}"),
                "description": format!("机密描述 {marker}"),
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let ticket = r.body["number"].as_str().unwrap().to_string();
    // A public reply, so timelines and notifications carry the marker too.
    let r = t
        .post(
            &format!("/api/v1/tickets/{ticket}/comments"),
            &t.admin,
            json!({ "body": format!("回复 {marker}"), "internal": false }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = t
        .post(
            "/api/v1/announcements",
            &t.admin,
            json!({
                "kind": "maintenance",
                "title": format!("维护公告 {marker}"),
                "body": marker,
                "starts_at": "2026-01-01T00:00:00Z",
                "orgs": [org],
                "published": true,
                "items": [],
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let announcement = r.body["id"].as_str().unwrap().to_string();

    // An attachment on the ticket (a public one, so the customer sees it).
    const B: &str = "matrixboundary";
    let body = format!(
        "--{B}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{marker}.txt\"\r\n\
         Content-Type: text/plain\r\n\r\n日志 {marker}\r\n--{B}--\r\n"
    );
    let req = Request::post(format!("/api/v1/tickets/{ticket}/attachments"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", format!("multipart/form-data; boundary={B}"))
        .body(Body::from(body))
        .unwrap();
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let attachment = r.body["id"].as_str().unwrap().to_string();

    // Two configuration items of the organization and a relation between them.
    let mut cis = Vec::new();
    for (class, key) in [("application_system", "APP"), ("database", "DB")] {
        let r = t
            .post(
                "/api/v1/cis",
                &t.admin,
                json!({ "class": class, "org_id": org, "external_key": format!("{key}-{marker}"),
                        "name": format!("{key} {marker}") }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        cis.push(r.body["id"].as_str().unwrap().to_string());
    }
    let r = t
        .post(
            "/api/v1/ci-relations",
            &t.admin,
            json!({ "source_id": cis[0], "kind": "depends_on", "target_id": cis[1] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let relation = r.body["id"].as_str().unwrap().to_string();
    // The ticket affects the application.
    let r = t
        .post(
            &format!("/api/v1/tickets/{ticket}/cis"),
            &t.admin,
            json!({ "ci_id": cis[0] }),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);

    // A saved view of the customer.
    let r = t
        .post(
            "/api/v1/views",
            &token,
            json!({ "name": format!("视图{marker}"), "filters": { "q": marker } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let view = r.body["id"].as_str().unwrap().to_string();

    // An alert source of the organization and an alert it raised (which opened an incident).
    let r = t
        .post(
            "/api/v1/alert-sources",
            &t.admin,
            json!({ "name": format!("监控{marker}"), "org_id": org, "format": "generic" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let alert_source = r.body["id"].as_str().unwrap().to_string();
    let secret = r.body["secret"].as_str().unwrap().to_string();
    let raw = json!({ "dedup_key": format!("k{marker}"), "status": "firing", "summary": format!("告警 {marker}") })
        .to_string();
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{ts}.{marker}.{raw}").as_bytes());
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    let req = Request::post(format!("/api/v1/alerts/ingest/{alert_source}"))
        .header("content-type", "application/json")
        .header("x-yunwei-timestamp", &ts)
        .header("x-yunwei-nonce", &marker)
        .header("x-yunwei-signature", sig)
        .body(Body::from(raw))
        .unwrap();
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let r = t
        .get(&format!("/api/v1/alerts?source={alert_source}"), &t.admin)
        .await;
    let alert = r.body["items"][0]["id"].as_str().unwrap().to_string();

    Side {
        alert_source,
        alert,
        org,
        dept,
        agreement,
        user,
        token,
        token_id,
        ticket,
        announcement,
        attachment,
        ci: cis[0].clone(),
        relation,
        view,
        marker,
    }
}

/// The value of every path parameter of `template` for objects of `s`; `None` if the route
/// names nothing organization-scoped (its parameters are then filled with missing ids).
fn fill(template: &str, s: Option<&Side>) -> Option<String> {
    let missing_uuid = Uuid::now_v7().to_string();
    let scoped: Option<(&str, String)> = if template.starts_with("/api/v1/tickets/{number}") {
        Some((
            "{number}",
            s.map_or("INC-2026-999999".into(), |s| s.ticket.clone()),
        ))
    } else if template.starts_with("/api/v1/organizations/{id}") {
        Some((
            "{id}",
            s.map_or(missing_uuid.clone(), |s| s.org.to_string()),
        ))
    } else if template.starts_with("/api/v1/departments/{id}") {
        Some((
            "{id}",
            s.map_or(missing_uuid.clone(), |s| s.dept.to_string()),
        ))
    } else if template.starts_with("/api/v1/agreements/{id}") {
        Some((
            "{id}",
            s.map_or(missing_uuid.clone(), |s| s.agreement.to_string()),
        ))
    } else if template.starts_with("/api/v1/users/{id}") {
        Some((
            "{id}",
            s.map_or(missing_uuid.clone(), |s| s.user.to_string()),
        ))
    } else if template.starts_with("/api/v1/tokens/{id}") {
        Some((
            "{id}",
            s.map_or(missing_uuid.clone(), |s| s.token_id.clone()),
        ))
    } else if template.starts_with("/api/v1/announcements/{id}") {
        Some((
            "{id}",
            s.map_or(missing_uuid.clone(), |s| s.announcement.clone()),
        ))
    } else if template.starts_with("/api/v1/attachments/{id}") {
        Some((
            "{id}",
            s.map_or(missing_uuid.clone(), |s| s.attachment.clone()),
        ))
    } else if template.starts_with("/api/v1/cis/{id}") {
        Some(("{id}", s.map_or(missing_uuid.clone(), |s| s.ci.clone())))
    } else if template.starts_with("/api/v1/ci-relations/{id}") {
        Some((
            "{id}",
            s.map_or(missing_uuid.clone(), |s| s.relation.clone()),
        ))
    } else if template.starts_with("/api/v1/alert-sources/{id}") {
        Some((
            "{id}",
            s.map_or(missing_uuid.clone(), |s| s.alert_source.clone()),
        ))
    } else if template.starts_with("/api/v1/alerts/ingest/{source}") {
        Some((
            "{source}",
            s.map_or(missing_uuid.clone(), |s| s.alert_source.clone()),
        ))
    } else if template.starts_with("/api/v1/alerts/{id}") {
        Some(("{id}", s.map_or(missing_uuid.clone(), |s| s.alert.clone())))
    } else if template.starts_with("/api/v1/views/{id}") {
        Some(("{id}", s.map_or(missing_uuid.clone(), |s| s.view.clone())))
    } else {
        None
    };
    let (param, value) = scoped?;
    let mut path = template.replacen(param, &value, 1);
    // Secondary parameters (a skill of a user, a member of a team) name nothing that exists.
    while let (Some(a), Some(b)) = (path.find('{'), path.find('}')) {
        path.replace_range(a..=b, &Uuid::now_v7().to_string());
    }
    Some(path)
}

/// Path parameters of routes that are not organization-scoped (teams, calendars, catalog
/// items, …): filled with ids that exist nowhere.
fn fill_missing(template: &str) -> String {
    let mut path = template.to_string();
    while let (Some(a), Some(b)) = (path.find('{'), path.find('}')) {
        path.replace_range(a..=b, &Uuid::now_v7().to_string());
    }
    path
}

/// A body that gets past input validation where it can, so the object lookup is reached.
fn body_for(template: &str, method: &Method) -> Option<Value> {
    if *method == Method::GET || *method == Method::DELETE {
        return None;
    }
    Some(if template.ends_with("/cis") {
        json!({ "ci_id": Uuid::now_v7() })
    } else if template.ends_with("/comments") {
        json!({ "body": "越权测试", "internal": false })
    } else if template.ends_with("/transitions") {
        json!({ "action": "confirm" })
    } else if template.ends_with("/satisfaction") {
        json!({ "score": 1, "comment": "越权" })
    } else if template.ends_with("/priority") {
        json!({ "priority": 1, "reason": "越权" })
    } else if template.ends_with("/password") {
        json!({ "password": "another long password 123" })
    } else if template.ends_with("/departments") {
        json!({ "name": "越权部门" })
    } else if template.ends_with("/agreements") {
        json!({ "name": "越权协议" })
    } else {
        json!({ "name": "越权", "display_name": "越权", "title": "越权" })
    })
}

fn operations(spec: &Value) -> Vec<(Method, String)> {
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        // The live event stream never ends; its per-organization filtering is tested in
        // tests/events.rs.
        if path == "/api/v1/events" {
            continue;
        }
        for m in ["get", "post", "put", "patch", "delete"] {
            if item.get(m).is_some() {
                ops.push((
                    Method::from_bytes(m.to_uppercase().as_bytes()).unwrap(),
                    path.clone(),
                ));
            }
        }
    }
    ops
}

fn code(r: &Resp) -> String {
    r.body["code"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn no_route_leaks_across_organizations() {
    for t in TestApp::all().await {
        let spec = t.get("/api/openapi.json", &t.admin).await.body;
        let ops = operations(&spec);
        assert!(ops.len() > 40, "the OpenAPI document lists the routes");
        let a = side(&t, "A").await;
        let b = side(&t, "B").await;

        // Provider roles, each with its own token.
        let mut roles: Vec<(&str, String)> = vec![("admin", t.admin.clone())];
        for role in ["manager", "agent", "engineer", "auditor"] {
            let (_, tok) = t.user(&format!("matrix-{role}"), role, None).await;
            roles.push((role, tok));
        }

        let mut checked = 0;
        for (method, template) in &ops {
            if template == "/api/v1/session" {
                continue;
            }
            // Anonymous callers are refused everywhere.
            let path = fill(template, Some(&a)).unwrap_or_else(|| fill_missing(template));
            let anon = t
                .req(method.clone(), &path, None, body_for(template, method), &[])
                .await;
            assert_eq!(
                anon.status,
                StatusCode::UNAUTHORIZED,
                "[{}] anonymous {method} {path}: {}",
                t.name,
                anon.text
            );

            // Customer A against B's object and against a missing one.
            if let Some(other) = fill(template, Some(&b)) {
                let missing = fill(template, None).unwrap();
                let before = t.audit_count().await;
                let r_other = t
                    .req(
                        method.clone(),
                        &other,
                        Some(&a.token),
                        body_for(template, method),
                        &[],
                    )
                    .await;
                let after = t.audit_count().await;
                let r_missing = t
                    .req(
                        method.clone(),
                        &missing,
                        Some(&a.token),
                        body_for(template, method),
                        &[],
                    )
                    .await;
                assert!(
                    !r_other.status.is_success(),
                    "[{}] customer A {method} {other} (organization B's) succeeded: {}",
                    t.name,
                    r_other.text
                );
                assert_eq!(
                    (r_other.status, code(&r_other)),
                    (r_missing.status, code(&r_missing)),
                    "[{}] customer A {method} {template}: B's object answered {} but a missing one {}",
                    t.name,
                    r_other.text,
                    r_missing.text
                );
                assert!(
                    !r_other.text.contains(&b.marker),
                    "[{}] {method} {other} shows B's data: {}",
                    t.name,
                    r_other.text
                );
                assert_eq!(
                    before, after,
                    "[{}] customer A {method} {other} wrote to the audit log",
                    t.name
                );
                checked += 1;
            }

            // Every role, own / other / missing: never a server error.
            for (role, tok) in roles
                .iter()
                .map(|(r, t)| (*r, t.as_str()))
                .chain([("customer", a.token.as_str())])
            {
                for s in [Some(&a), Some(&b), None] {
                    let path = fill(template, s).unwrap_or_else(|| fill_missing(template));
                    // Leave the session and our own tokens alone: revoking them would end the run.
                    if *method == Method::DELETE && template.starts_with("/api/v1/tokens") {
                        continue;
                    }
                    if template.ends_with("/password") && s.is_some() {
                        continue;
                    }
                    let r = t
                        .req(
                            method.clone(),
                            &path,
                            Some(tok),
                            body_for(template, method),
                            &[],
                        )
                        .await;
                    assert!(
                        !r.status.is_server_error(),
                        "[{}] {role} {method} {path}: {}",
                        t.name,
                        r.text
                    );
                }
            }
        }
        assert!(
            checked >= 15,
            "only {checked} scoped operations were checked"
        );

        // Lists, searches, exports and reports customer A can call show nothing of B.
        let searches = [
            format!("/api/v1/tickets?q={}", b.marker),
            "/api/v1/tickets?q=打印机".to_string(),
            format!("/api/v1/tickets?org={}", b.org),
            format!("/api/v1/tickets?organization={}", b.org),
        ];
        let lists = ops
            .iter()
            .filter(|(m, p)| *m == Method::GET && !p.contains('{'))
            .map(|(_, p)| p.clone())
            .chain(searches);
        for path in lists {
            let r = t.get(&path, &a.token).await;
            assert!(
                !r.status.is_server_error(),
                "[{}] {path}: {}",
                t.name,
                r.text
            );
            for needle in [b.marker.as_str(), b.ticket.as_str(), &b.org.to_string()] {
                assert!(
                    !r.text.contains(needle),
                    "[{}] customer A GET {path} shows organization B's {needle}: {}",
                    t.name,
                    r.text
                );
            }
        }
        // And A does see its own ticket, so the searches above were real.
        let r = t
            .get(&format!("/api/v1/tickets?q={}", a.marker), &a.token)
            .await;
        assert!(r.text.contains(&a.ticket), "[{}] {}", t.name, r.text);
    }
}
