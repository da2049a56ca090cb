//! The node's cache of token and session resolutions (service `auth::AuthCache`): every
//! change made through this node that ends or alters a resolution takes effect on the very
//! next request, on SQLite and on PostgreSQL.

mod common;

use axum::http::{Method, StatusCode};
use common::{session_cookie, TestApp};
use serde_json::json;

async fn me_with_cookie(t: &TestApp, cookie: &str) -> common::Resp {
    t.req(Method::GET, "/api/v1/me", None, None, &[("cookie", cookie)])
        .await
}

#[tokio::test]
async fn revoked_tokens_and_changed_users_are_seen_at_once() {
    for t in TestApp::all().await {
        let (uid, tok) = t.user("huancun", "agent", None).await;
        // Resolved twice: the second answer comes from the cache.
        for _ in 0..2 {
            let r = t.get("/api/v1/me", &tok).await;
            assert_eq!(r.status, StatusCode::OK, "{}: {}", t.name, r.text);
            assert_eq!(r.body["role"], "agent");
        }
        // A role and organization change is seen by the next request.
        let org = t.org("缓存测试单位").await;
        let r = t
            .patch(
                &format!("/api/v1/users/{uid}"),
                &t.admin,
                json!({"role": "customer", "org_id": org}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = t.get("/api/v1/me", &tok).await;
        assert_eq!(r.body["role"], "customer", "{}", t.name);
        assert_eq!(r.body["org_id"], org.to_string(), "{}", t.name);
        // Revoking one token refuses it on the next request; another token still works.
        let second = t
            .app
            .create_token(&t.sys, uid, Default::default())
            .await
            .unwrap();
        assert_eq!(
            t.get("/api/v1/me", &second.token).await.status,
            StatusCode::OK
        );
        let r = t
            .req(
                Method::DELETE,
                &format!("/api/v1/tokens/{}", second.info.id),
                Some(&t.admin),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            t.get("/api/v1/me", &second.token).await.status,
            StatusCode::UNAUTHORIZED,
            "{}",
            t.name
        );
        assert_eq!(t.get("/api/v1/me", &tok).await.status, StatusCode::OK);
        // Disabling the user refuses its token and its session on the next request.
        let r = t.login("huancun", "correct horse battery").await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let cookie = session_cookie(&r);
        assert_eq!(me_with_cookie(&t, &cookie).await.status, StatusCode::OK);
        assert_eq!(me_with_cookie(&t, &cookie).await.status, StatusCode::OK);
        let r = t
            .patch(
                &format!("/api/v1/users/{uid}"),
                &t.admin,
                json!({"disabled": true}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            t.get("/api/v1/me", &tok).await.status,
            StatusCode::UNAUTHORIZED,
            "{}",
            t.name
        );
        assert_eq!(
            me_with_cookie(&t, &cookie).await.status,
            StatusCode::UNAUTHORIZED,
            "{}",
            t.name
        );
    }
}

#[tokio::test]
async fn ended_sessions_are_refused_at_once() {
    for t in TestApp::all().await {
        let (uid, _) = t.user("huihua", "engineer", None).await;
        // Logout: the cached session is refused on the next request.
        let r = t.login("huihua", "correct horse battery").await;
        let cookie = session_cookie(&r);
        let csrf = r.body["csrf_token"].as_str().unwrap().to_string();
        for _ in 0..2 {
            assert_eq!(me_with_cookie(&t, &cookie).await.status, StatusCode::OK);
        }
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
            me_with_cookie(&t, &cookie).await.status,
            StatusCode::UNAUTHORIZED,
            "{}",
            t.name
        );
        // An administrator's password reset ends the user's sessions at once.
        let r = t.login("huihua", "correct horse battery").await;
        let cookie = session_cookie(&r);
        for _ in 0..2 {
            assert_eq!(me_with_cookie(&t, &cookie).await.status, StatusCode::OK);
        }
        let r = t
            .req(
                Method::PUT,
                &format!("/api/v1/users/{uid}/password"),
                Some(&t.admin),
                Some(json!({"password": "a new long password"})),
                &[],
            )
            .await;
        assert!(r.status.is_success(), "{}: {}", r.status, r.text);
        assert_eq!(
            me_with_cookie(&t, &cookie).await.status,
            StatusCode::UNAUTHORIZED,
            "{}",
            t.name
        );
        // Changing one's own password ends one's other sessions at once.
        let a = t.login("huihua", "a new long password").await;
        let b = t.login("huihua", "a new long password").await;
        let (ca, cb) = (session_cookie(&a), session_cookie(&b));
        let csrf_a = a.body["csrf_token"].as_str().unwrap().to_string();
        assert_eq!(me_with_cookie(&t, &cb).await.status, StatusCode::OK);
        let r = t
            .req(
                Method::POST,
                "/api/v1/me/password",
                None,
                Some(json!({"current_password": "a new long password", "new_password": "yet another long one"})),
                &[("cookie", &ca), ("x-csrf-token", &csrf_a)],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        assert_eq!(
            me_with_cookie(&t, &cb).await.status,
            StatusCode::UNAUTHORIZED,
            "{}",
            t.name
        );
        assert_eq!(me_with_cookie(&t, &ca).await.status, StatusCode::OK);
    }
}
