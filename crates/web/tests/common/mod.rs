//! Shared test support: the app driven in-process, on SQLite and PostgreSQL.
#![allow(dead_code)]

pub mod browser;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;
use yunwei_service::users::NewUser;
use yunwei_service::{Actor, App};
use yunwei_testkit::TestDb;

pub struct TestApp {
    pub router: Router,
    pub app: App,
    pub sys: Actor,
    pub admin: String,
    pub admin_password: String,
    pub name: &'static str,
    pub _db: TestDb,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl TestApp {
    pub async fn new(db: TestDb) -> TestApp {
        let app = App::new(db.db.clone());
        let boot = app.bootstrap().await.unwrap();
        let sys = app.system_actor().await.unwrap();
        let admin_user = app.get_user_by_username(&sys, "admin").await.unwrap();
        let admin = app
            .create_token(&sys, admin_user.id, Default::default())
            .await
            .unwrap()
            .token;
        let router = yunwei_web::router(yunwei_web::state(
            app.clone(),
            yunwei_web::WebConfig {
                metrics_on_main: true,
                ..Default::default()
            },
        ));
        let name = match db.backend {
            yunwei_testkit::Backend::Sqlite => "sqlite",
            yunwei_testkit::Backend::Postgres => "postgres",
        };
        TestApp {
            router,
            app,
            sys,
            admin,
            admin_password: boot.admin_password.unwrap(),
            name,
            _db: db,
        }
    }

    pub async fn all() -> Vec<TestApp> {
        let mut v = Vec::new();
        for db in TestDb::both().await {
            v.push(TestApp::new(db).await);
        }
        v
    }

    pub async fn req(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = auth {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(j) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(j.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        self.send(req).await
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, auth: &str) -> Resp {
        self.req(Method::GET, path, Some(auth), None, &[]).await
    }

    pub async fn post(&self, path: &str, auth: &str, body: Value) -> Resp {
        self.req(Method::POST, path, Some(auth), Some(body), &[])
            .await
    }

    pub async fn patch(&self, path: &str, auth: &str, body: Value) -> Resp {
        self.req(Method::PATCH, path, Some(auth), Some(body), &[])
            .await
    }

    pub async fn user(&self, username: &str, role: &str, org: Option<Uuid>) -> (Uuid, String) {
        let u = self
            .app
            .create_user(
                &self.sys,
                NewUser {
                    username: username.into(),
                    display_name: None,
                    email: None,
                    phone: None,
                    role: role.into(),
                    org_id: org,
                    department_id: None,
                    password: "correct horse battery".into(),
                    lang: None,
                },
            )
            .await
            .unwrap();
        let t = self
            .app
            .create_token(&self.sys, u.id, Default::default())
            .await
            .unwrap()
            .token;
        (u.id, t)
    }

    pub async fn org(&self, name: &str) -> Uuid {
        let r = self
            .post(
                "/api/v1/organizations",
                &self.admin,
                json!({ "name": name }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn audit_count(&self) -> i64 {
        yunwei_store::audit::verify(&self.app.db)
            .await
            .unwrap()
            .entries
    }

    pub async fn login(&self, username: &str, password: &str) -> Resp {
        self.req(
            Method::POST,
            "/api/v1/session",
            None,
            Some(json!({"username": username, "password": password})),
            &[],
        )
        .await
    }
}

pub fn session_cookie(r: &Resp) -> String {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("yw_session="))
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_string()
}

/// Percent-encoding for form bodies and query strings (everything but `A–Z a–z 0–9 - _ .`).
#[allow(dead_code)]
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
