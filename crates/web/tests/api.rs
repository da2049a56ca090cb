//! API tests, in-process (tower `oneshot`), each run on SQLite and on PostgreSQL.

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{session_cookie, TestApp};
use serde_json::json;
use uuid::Uuid;
use yunwei_testkit::TestDb;

#[tokio::test]
async fn errors_are_coded_bilingual_and_carry_the_request_id() {
    for t in TestApp::all().await {
        let r = t.req(Method::GET, "/api/v1/me", None, None, &[]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.body["code"], "unauthenticated");
        assert_eq!(r.body["message"], "请先登录");
        assert_eq!(
            r.body["request_id"].as_str().unwrap(),
            r.headers["x-request-id"].to_str().unwrap()
        );
        let r = t
            .req(
                Method::GET,
                "/api/v1/me",
                None,
                None,
                &[("accept-language", "en-US,en;q=0.9")],
            )
            .await;
        assert_eq!(r.body["message"], "Please sign in");
        let r = t.get("/api/v1/me", "yw_notatoken").await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("token_invalid"))
        );
        let r = t.get("/api/v1/nowhere", &t.admin).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
        let r = t
            .req(
                Method::PUT,
                "/api/v1/organizations",
                Some(&t.admin),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", t.name);
    }
}

#[tokio::test]
async fn bad_input_is_refused_and_writes_nothing() {
    for t in TestApp::all().await {
        t.org("客户甲").await;
        let before = t.audit_count().await;
        let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
            (
                Request::post("/api/v1/organizations")
                    .header("authorization", format!("Bearer {}", t.admin))
                    .header("content-type", "application/json")
                    .body(Body::from("{bad"))
                    .unwrap(),
                StatusCode::BAD_REQUEST,
                "invalid_json",
            ),
            (
                Request::post("/api/v1/organizations")
                    .header("authorization", format!("Bearer {}", t.admin))
                    .header("content-type", "text/plain")
                    .body(Body::from("{}"))
                    .unwrap(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ),
            (
                Request::post("/api/v1/organizations")
                    .header("authorization", format!("Bearer {}", t.admin))
                    .header("content-type", "application/json")
                    .body(Body::from(vec![b' '; 2 * 1024 * 1024]))
                    .unwrap(),
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
            ),
        ];
        for (req, status, code) in cases {
            let r = t.send(req).await;
            assert_eq!(
                (r.status, r.body["code"].as_str()),
                (status, Some(code)),
                "{}: {}",
                t.name,
                r.text
            );
        }
        for (body, status, code, field) in [
            (json!({}), 422, "validation_failed", Some("name")),
            (
                json!({"name": "  "}),
                422,
                "validation_failed",
                Some("name"),
            ),
            (
                json!({"name": "x", "kind": "provider"}),
                422,
                "validation_failed",
                None,
            ),
            (json!({"name": "客户甲"}), 409, "name_taken", Some("name")),
            (json!({"name": 5}), 422, "validation_failed", None),
        ] {
            let r = t
                .post("/api/v1/organizations", &t.admin, body.clone())
                .await;
            assert_eq!(
                (r.status.as_u16(), r.body["code"].as_str()),
                (status, Some(code)),
                "{}: {body} → {}",
                t.name,
                r.text
            );
            if let Some(f) = field {
                assert_eq!(r.body["field"], f, "{body}");
            }
        }
        // Users: weak password, bad role, role that does not fit the organization, taken name.
        let provider_id = t.get("/api/v1/me", &t.admin).await.body["org_id"]
            .as_str()
            .unwrap()
            .to_string();
        for (body, code) in [
            (
                json!({"username": "li", "role": "agent", "password": "short"}),
                "password_too_weak",
            ),
            (
                json!({"username": "li", "role": "boss", "password": "long enough password"}),
                "validation_failed",
            ),
            (
                json!({"username": "li", "role": "customer", "password": "long enough password"}),
                "invalid_role",
            ),
            (
                json!({"username": "admin", "role": "agent", "password": "long enough password"}),
                "username_taken",
            ),
            (
                json!({"username": "l i", "role": "agent", "password": "long enough password"}),
                "validation_failed",
            ),
            (
                json!({"username": "li", "role": "agent", "password": "long enough password", "org_id": Uuid::now_v7()}),
                "invalid_reference",
            ),
            (
                json!({"username": "li", "role": "agent", "password": "long enough password", "id": provider_id}),
                "validation_failed",
            ),
        ] {
            let r = t.post("/api/v1/users", &t.admin, body.clone()).await;
            assert_eq!(
                r.body["code"].as_str(),
                Some(code),
                "{}: {body} → {}",
                t.name,
                r.text
            );
            assert!(r.status.is_client_error());
        }
        assert_eq!(
            t.audit_count().await,
            before,
            "{}: refused requests wrote nothing",
            t.name
        );
        assert_eq!(
            t.get("/api/v1/users?q=li", &t.admin).await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
    }
}

#[tokio::test]
async fn customers_see_only_their_own_organization() {
    for t in TestApp::all().await {
        let a = t.org("甲单位").await;
        let b = t.org("乙单位").await;
        let r = t
            .post(
                &format!("/api/v1/organizations/{b}/departments"),
                &t.admin,
                json!({"name": "财务处"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let (ca_id, ca) = t.user("kehu.a", "customer", Some(a)).await;
        let (cb_id, _cb) = t.user("kehu.b", "customer", Some(b)).await;
        let (_, agent) = t.user("zuoxi", "agent", None).await;
        let (_, auditor) = t.user("shenji", "auditor", None).await;

        let missing = Uuid::now_v7();
        let r = t.get("/api/v1/organizations", &ca).await;
        let ids: Vec<&str> = r
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![a.to_string()], "{}", t.name);
        // Another organization's records answer exactly like missing ones.
        for path in [
            format!("/api/v1/organizations/{b}"),
            format!("/api/v1/organizations/{b}/departments"),
            format!("/api/v1/users/{cb_id}"),
        ] {
            let other = t.get(&path, &ca).await;
            let none = t
                .get(
                    &path
                        .replace(&b.to_string(), &missing.to_string())
                        .replace(&cb_id.to_string(), &missing.to_string()),
                    &ca,
                )
                .await;
            assert_eq!(other.status, StatusCode::NOT_FOUND, "{}: {path}", t.name);
            assert_eq!(
                (other.status, &other.body["code"], &other.body["message"]),
                (none.status, &none.body["code"], &none.body["message"])
            );
        }
        let r = t.get(&format!("/api/v1/users?org_id={b}"), &ca).await;
        assert_eq!(r.body["items"].as_array().unwrap().len(), 0);
        let r = t.get("/api/v1/users", &ca).await;
        let names: Vec<&str> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["kehu.a"]);
        assert_eq!(
            t.get(&format!("/api/v1/users/{ca_id}"), &ca).await.status,
            StatusCode::OK
        );
        for (path, who) in [
            ("/api/v1/audit", &ca),
            ("/api/v1/teams", &ca),
            ("/metrics", &ca),
            ("/api/v1/tokens?all=true", &ca),
        ] {
            assert_eq!(
                t.get(path, who).await.status,
                StatusCode::FORBIDDEN,
                "{path}"
            );
        }
        assert_eq!(
            t.post("/api/v1/organizations", &ca, json!({"name": "x"}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );

        // Staff see all organizations; only admins manage users; auditors read everything, change nothing.
        assert_eq!(
            t.get(&format!("/api/v1/users/{cb_id}"), &agent)
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            t.post(
                "/api/v1/users",
                &agent,
                json!({"username": "x1", "role": "agent", "password": "long enough pass"})
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            t.get("/api/v1/audit", &auditor).await.status,
            StatusCode::OK
        );
        assert_eq!(t.get("/metrics", &auditor).await.status, StatusCode::OK);
        assert_eq!(
            t.get("/api/v1/organizations", &auditor)
                .await
                .body
                .as_array()
                .unwrap()
                .len(),
            3
        );
        for (path, body) in [
            ("/api/v1/organizations", json!({"name": "y"})),
            ("/api/v1/teams", json!({"name": "y"})),
            (
                "/api/v1/users",
                json!({"username": "x2", "role": "agent", "password": "long enough pass"}),
            ),
        ] {
            assert_eq!(
                t.post(path, &auditor, body).await.status,
                StatusCode::FORBIDDEN,
                "{path}"
            );
        }
        assert_eq!(
            t.patch(
                &format!("/api/v1/users/{ca_id}"),
                &auditor,
                json!({"disabled": true})
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        // Ids that do not parse are missing records.
        assert_eq!(
            t.get("/api/v1/users/not-a-uuid", &t.admin).await.status,
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test]
async fn browser_sessions_need_csrf_and_end_on_logout_or_disable() {
    for t in TestApp::all().await {
        let (uid, _) = t.user("gongchengshi", "engineer", None).await;
        let r = t.login("gongchengshi", "correct horse battery").await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let cookie = session_cookie(&r);
        let set = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax"),
            "{set}"
        );
        let csrf = r.body["csrf_token"].as_str().unwrap().to_string();
        let me = t
            .req(
                Method::GET,
                "/api/v1/me",
                None,
                None,
                &[("cookie", &cookie)],
            )
            .await;
        assert_eq!(me.body["username"], "gongchengshi");
        // A write with the cookie but without the CSRF header is refused.
        let pw = json!({"current_password": "correct horse battery", "new_password": "another long password"});
        let r = t
            .req(
                Method::POST,
                "/api/v1/me/password",
                None,
                Some(pw.clone()),
                &[("cookie", &cookie)],
            )
            .await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("csrf_failed"))
        );
        let r = t
            .req(
                Method::POST,
                "/api/v1/me/password",
                None,
                Some(pw.clone()),
                &[("cookie", &cookie), ("x-csrf-token", "wrong")],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = t
            .req(
                Method::POST,
                "/api/v1/me/password",
                None,
                Some(pw),
                &[("cookie", &cookie), ("x-csrf-token", &csrf)],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        assert_eq!(
            t.login("gongchengshi", "correct horse battery")
                .await
                .status,
            StatusCode::UNAUTHORIZED,
            "old password no longer works"
        );
        // Logout ends the session.
        let r = t
            .req(
                Method::DELETE,
                "/api/v1/session",
                None,
                None,
                &[("cookie", &cookie), ("x-csrf-token", &csrf)],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(
            t.req(
                Method::GET,
                "/api/v1/me",
                None,
                None,
                &[("cookie", &cookie)]
            )
            .await
            .status,
            StatusCode::UNAUTHORIZED
        );
        // Disabling a user ends their sessions and tokens at once.
        let r = t.login("gongchengshi", "another long password").await;
        let cookie = session_cookie(&r);
        let tok = t
            .app
            .create_token(&t.sys, uid, Default::default())
            .await
            .unwrap()
            .token;
        assert_eq!(t.get("/api/v1/me", &tok).await.status, StatusCode::OK);
        assert_eq!(
            t.patch(
                &format!("/api/v1/users/{uid}"),
                &t.admin,
                json!({"disabled": true})
            )
            .await
            .status,
            StatusCode::OK
        );
        assert_eq!(
            t.req(
                Method::GET,
                "/api/v1/me",
                None,
                None,
                &[("cookie", &cookie)]
            )
            .await
            .status,
            StatusCode::UNAUTHORIZED,
            "{}",
            t.name
        );
        assert_eq!(
            t.get("/api/v1/me", &tok).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            t.login("gongchengshi", "another long password")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled_and_audited() {
    for t in TestApp::all().await {
        for _ in 0..5 {
            let r = t.login("admin", "wrong password!").await;
            assert_eq!(
                (r.status, r.body["code"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("login_failed"))
            );
        }
        let r = t.login("admin", &t.admin_password).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::TOO_MANY_REQUESTS, Some("login_throttled")),
            "{}",
            t.name
        );
        // Unknown users fail the same way as wrong passwords.
        let r = t.login("nobody", "whatever it is").await;
        assert_eq!(r.body["code"], "login_failed");
        let r = t.get("/api/v1/audit?action=login_failed", &t.admin).await;
        assert_eq!(r.body["items"].as_array().unwrap().len(), 6);
        let r = t
            .get("/api/v1/audit?action=login_failed&limit=2", &t.admin)
            .await;
        assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
        let cursor = r.body["next_cursor"].as_str().unwrap().to_string();
        let r2 = t
            .get(
                &format!("/api/v1/audit?action=login_failed&limit=2&cursor={cursor}"),
                &t.admin,
            )
            .await;
        assert!(
            r2.body["items"][0]["seq"].as_i64().unwrap()
                < r.body["items"][1]["seq"].as_i64().unwrap()
        );
    }
}

#[tokio::test]
async fn tokens_are_shown_once_hashed_and_revocable() {
    for t in TestApp::all().await {
        let (_, agent) = t.user("zuoxi2", "agent", None).await;
        let r = t
            .post(
                "/api/v1/tokens",
                &agent,
                json!({"name": "脚本", "expires_in_days": 30}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let tok = r.body["token"].as_str().unwrap().to_string();
        assert!(tok.starts_with("yw_") && tok.len() > 40);
        let id = r.body["info"]["id"].as_str().unwrap().to_string();
        let list = t.get("/api/v1/tokens", &agent).await;
        assert!(!list.text.contains(&tok), "never shown again");
        assert!(!list.text.contains("token_hash"));
        assert!(list
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == id.as_str()));
        assert_eq!(t.get("/api/v1/me", &tok).await.body["username"], "zuoxi2");
        // Another non-admin cannot revoke it (answers like missing); the owner can.
        let (_, other) = t.user("zuoxi3", "agent", None).await;
        assert_eq!(
            t.req(
                Method::DELETE,
                &format!("/api/v1/tokens/{id}"),
                Some(&other),
                None,
                &[]
            )
            .await
            .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            t.post("/api/v1/tokens", &agent, json!({"expires_in_days": 0}))
                .await
                .status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let r = t
            .req(
                Method::DELETE,
                &format!("/api/v1/tokens/{id}"),
                Some(&agent),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body["revoked_at"].is_string());
        assert_eq!(
            t.get("/api/v1/me", &tok).await.status,
            StatusCode::UNAUTHORIZED
        );
        // Admins see everybody's tokens.
        assert!(
            t.get("/api/v1/tokens?all=true", &t.admin)
                .await
                .body
                .as_array()
                .unwrap()
                .len()
                >= 3
        );
    }
}

#[tokio::test]
async fn users_departments_teams_and_the_audit_trail() {
    for t in TestApp::all().await {
        let org = t.org("丙单位").await;
        let other = t.org("丁单位").await;
        let d1 = t
            .post(
                &format!("/api/v1/organizations/{org}/departments"),
                &t.admin,
                json!({"name": "信息中心"}),
            )
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_string();
        let d2 = t
            .post(
                &format!("/api/v1/organizations/{org}/departments"),
                &t.admin,
                json!({"name": "运维科", "parent_id": d1}),
            )
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_string();
        let dx = t
            .post(
                &format!("/api/v1/organizations/{other}/departments"),
                &t.admin,
                json!({"name": "办公室"}),
            )
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_string();
        // A parent from another organization, or a cycle, is refused.
        let r = t
            .post(
                &format!("/api/v1/organizations/{org}/departments"),
                &t.admin,
                json!({"name": "x", "parent_id": dx}),
            )
            .await;
        assert_eq!(r.body["code"], "invalid_reference");
        let r = t
            .patch(
                &format!("/api/v1/departments/{d1}"),
                &t.admin,
                json!({"parent_id": d2}),
            )
            .await;
        assert_eq!(r.body["code"], "invalid_reference", "cycle");
        // A customer user in a department; a department of another org is refused.
        let r = t.post("/api/v1/users", &t.admin, json!({"username": "zhao", "display_name": "赵六", "role": "customer", "org_id": org, "department_id": d2, "password": "long enough password", "email": "zhao@example.cn"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert!(r.body.get("password_hash").is_none());
        let uid = r.body["id"].as_str().unwrap().to_string();
        let r = t
            .patch(
                &format!("/api/v1/users/{uid}"),
                &t.admin,
                json!({"department_id": dx}),
            )
            .await;
        assert_eq!(r.body["code"], "invalid_reference");
        let r = t
            .patch(
                &format!("/api/v1/users/{uid}"),
                &t.admin,
                json!({"display_name": "赵六六", "clear_department": true}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["department_id"].is_null()),
            (StatusCode::OK, true)
        );
        // The last administrator stays.
        let admin_id = t.get("/api/v1/me", &t.admin).await.body["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = t
            .patch(
                &format!("/api/v1/users/{admin_id}"),
                &t.admin,
                json!({"role": "manager"}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::CONFLICT, Some("last_admin"))
        );
        // Teams hold staff only.
        let team = t
            .post(
                "/api/v1/teams",
                &t.admin,
                json!({"name": "网络组", "description": "负责网络"}),
            )
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = t
            .req(
                Method::PUT,
                &format!("/api/v1/teams/{team}/members/{uid}"),
                Some(&t.admin),
                None,
                &[],
            )
            .await;
        assert_eq!(r.body["code"], "invalid_role");
        let r = t
            .req(
                Method::PUT,
                &format!("/api/v1/teams/{team}/members/{admin_id}"),
                Some(&t.admin),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(
            t.get(&format!("/api/v1/teams/{team}"), &t.admin).await.body["members"][0],
            admin_id.as_str()
        );
        let r = t
            .req(
                Method::DELETE,
                &format!("/api/v1/teams/{team}/members/{admin_id}"),
                Some(&t.admin),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        // Every change is in the audit log with before and after, and no secret.
        let r = t
            .get(
                &format!("/api/v1/audit?entity=user&entity_id={uid}"),
                &t.admin,
            )
            .await;
        let items = r.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{}", r.text);
        assert_eq!(items[0]["action"], "update");
        assert!(items[0]["before_json"].as_str().unwrap().contains("赵六"));
        assert!(items[0]["after_json"].as_str().unwrap().contains("赵六六"));
        assert!(
            !r.text.contains("argon2"),
            "no password hash in the audit log"
        );
        let v = t.get("/api/v1/audit/verify", &t.admin).await;
        assert_eq!(v.body["intact"], true);
        assert!(v.body["entries"].as_i64().unwrap() > 8);
    }
}

#[tokio::test]
async fn lists_page_with_cursors_and_limits() {
    for t in TestApp::all().await {
        for i in 0..5 {
            t.user(&format!("page{i}"), "engineer", None).await;
        }
        let mut seen = Vec::new();
        let mut url = "/api/v1/users?q=page&limit=2".to_string();
        loop {
            let r = t.get(&url, &t.admin).await;
            assert_eq!(r.status, StatusCode::OK);
            for u in r.body["items"].as_array().unwrap() {
                seen.push(u["username"].as_str().unwrap().to_string());
            }
            match r.body["next_cursor"].as_str() {
                Some(c) => url = format!("/api/v1/users?q=page&limit=2&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(
            seen,
            vec!["page0", "page1", "page2", "page3", "page4"],
            "{}",
            t.name
        );
        for bad in [
            "limit=0",
            "limit=500",
            "limit=abc",
            "cursor=nope",
            "role=boss",
        ] {
            let r = t.get(&format!("/api/v1/users?{bad}"), &t.admin).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert_eq!(r.body["code"], "validation_failed");
        }
    }
}

#[tokio::test]
async fn health_metrics_and_the_api_document() {
    let t = TestApp::new(TestDb::sqlite().await).await;
    assert_eq!(
        t.req(Method::GET, "/healthz", None, None, &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.req(Method::GET, "/readyz", None, None, &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.req(Method::GET, "/metrics", None, None, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let m = t.get("/metrics", &t.admin).await;
    assert!(
        m.text.contains(
            "yunwei_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"} 1"
        ),
        "{}",
        m.text
    );
    assert!(m
        .text
        .contains("yunwei_http_request_duration_seconds_bucket"));
    assert!(m.text.contains("yunwei_db_pool_connections"));

    let doc = t
        .req(Method::GET, "/api/openapi.json", None, None, &[])
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(
        doc.body["openapi"].as_str().map(|v| v.starts_with("3.")),
        Some(true)
    );
    let required = &doc.body["components"]["schemas"]["NewUser"]["required"];
    assert!(required.as_array().unwrap().iter().any(|f| f == "username"));
    let snap = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/openapi.json");
    let current = yunwei_web::api::openapi_json();
    let stored = std::fs::read_to_string(snap).unwrap_or_default();
    if stored != current {
        if std::env::var("YUNWEI_BLESS").is_ok() {
            std::fs::write(snap, &current).unwrap();
        } else {
            panic!("the OpenAPI document changed; review and run with YUNWEI_BLESS=1 to update tests/snapshots/openapi.json");
        }
    }
    let docs = t.req(Method::GET, "/api/docs", None, None, &[]).await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(
        docs.text.contains("/api/v1/users/{id}")
            && !docs.text.contains("http://")
            && !docs.text.contains("https://")
    );
}

#[tokio::test]
async fn ui_pages_redirect_escape_and_check_csrf() {
    for t in TestApp::all().await {
        let r = t.req(Method::GET, "/users?q=x", None, None, &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.headers["location"], "/login?next=/users%3Fq%3Dx");
        let r = t.req(Method::GET, "/login", None, None, &[]).await;
        assert!(r.text.contains("<html lang=\"zh-CN\">") && r.text.contains("登录"));
        let r = t
            .req(
                Method::GET,
                "/login",
                None,
                None,
                &[("cookie", "yw_lang=en")],
            )
            .await;
        assert!(r.text.contains("<html lang=\"en\">") && r.text.contains("Sign in"));
        // Sign-in form without its CSRF cookie is refused.
        let form = Request::post("/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "username=admin&password={}&_csrf=abc",
                t.admin_password
            )))
            .unwrap();
        let r = t.send(form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r
            .headers
            .get(header::SET_COOKIE)
            .map(|c| !c.to_str().unwrap().starts_with("yw_session"))
            .unwrap_or(true));
        // With it, sign-in works and redirects only to local paths.
        let pre = "p".repeat(43);
        let form = Request::post("/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("yw_pre={pre}"))
            .body(Body::from(format!(
                "username=admin&password={}&_csrf={pre}&next=//evil.example",
                t.admin_password
            )))
            .unwrap();
        let r = t.send(form).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        assert_eq!(r.headers["location"], "/");
        let cookie = session_cookie(&r);
        // A form post with a wrong CSRF token writes nothing.
        let before = t.audit_count().await;
        let form = Request::post("/orgs")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", &cookie)
            .body(Body::from("_csrf=wrong&name=x"))
            .unwrap();
        assert_eq!(t.send(form).await.status, StatusCode::FORBIDDEN);
        assert_eq!(t.audit_count().await, before);
        // Text is escaped on the way out.
        t.org("<script>alert(1)</script>单位").await;
        let page = t
            .req(Method::GET, "/orgs", None, None, &[("cookie", &cookie)])
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.text.contains("<script>alert(1)"), "{}", t.name);
        assert!(
            page.text
                .contains("&#60;script&#62;alert(1)&#60;/script&#62;单位"),
            "escaped"
        );
        for path in [
            "/",
            "/orgs",
            "/users",
            "/teams",
            "/tokens",
            "/audit",
            "/audit?verify=1",
            "/profile",
            "/tickets",
            "/tickets?sort=queue&open=true&q=%E6%89%93",
            "/tickets/new",
            "/catalog",
            "/announcements",
            "/reports/desk",
        ] {
            let r = t
                .req(Method::GET, path, None, None, &[("cookie", &cookie)])
                .await;
            assert_eq!(r.status, StatusCode::OK, "{path}");
            assert!(r.headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'self'"));
        }
        let r = t
            .req(
                Method::GET,
                "/audit?verify=1",
                None,
                None,
                &[("cookie", &cookie)],
            )
            .await;
        assert!(r.text.contains("audit-verify-result") && r.text.contains("审计日志完整"));
        assert_eq!(
            t.req(
                Method::GET,
                &format!("/orgs/{}", Uuid::now_v7()),
                None,
                None,
                &[("cookie", &cookie)]
            )
            .await
            .status,
            StatusCode::NOT_FOUND
        );
    }
}
