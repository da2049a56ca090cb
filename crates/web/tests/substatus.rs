//! Administrator-defined sub-statuses through the API and their page, on SQLite and
//! PostgreSQL: the seeded three, CRUD and its refusals, the ticket flow accepting any active
//! sub-status of the target phase, and the SLA clock pausing by the flag recorded with each
//! status change (changing the flag later does not rewrite history).

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use common::{session_cookie, TestApp};
use serde_json::{json, Value};
use yunwei_domain::clock::SettableClock;

fn cst(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_opt(h, mi, 0)
        .unwrap()
        .and_utc()
        - Duration::hours(8)
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().map(|s| s.parse().unwrap())
}

async fn clocked(at: DateTime<Utc>) -> Vec<(TestApp, Arc<SettableClock>)> {
    let mut out = Vec::new();
    for mut t in TestApp::all().await {
        let clock = Arc::new(SettableClock::new(at));
        t.app.clock = clock.clone();
        t.router = yunwei_web::router(yunwei_web::state(t.app.clone(), Default::default()));
        out.push((t, clock));
    }
    out
}

async fn act(t: &TestApp, token: &str, number: &str, body: Value) -> common::Resp {
    t.post(
        &format!("/api/v1/tickets/{number}/transitions"),
        token,
        body,
    )
    .await
}

#[tokio::test]
async fn seeded_sub_statuses_and_administrators_crud() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        let (_, agent) = t.user("zuoxi", "agent", None).await;

        // The three built-in ones, with their pause semantics; customers may read them.
        let r = t.get("/api/v1/sub-statuses?phase=pending", &customer).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.name, r.text);
        let seeded: Vec<(String, bool)> = r
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["code"].as_str().unwrap().to_string(),
                    s["pauses_sla"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            seeded,
            vec![
                ("waiting_customer".into(), true),
                ("waiting_vendor".into(), true),
                ("waiting_change".into(), false)
            ]
        );
        assert_eq!(
            t.get("/api/v1/sub-statuses?phase=closed", &agent)
                .await
                .status,
            StatusCode::UNPROCESSABLE_ENTITY
        );

        // Only administrators define them.
        let new = json!({"phase": "pending", "code": "waiting_approval", "name_zh": "等待审批", "name_en": "Waiting for approval", "pauses_sla": true});
        assert_eq!(
            t.post("/api/v1/sub-statuses", &agent, new.clone())
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let before = t.audit_count().await;
        let r = t.post("/api/v1/sub-statuses", &t.admin, new.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(
            (r.body["active"].as_bool(), r.body["sort"].as_i64()),
            (Some(true), Some(100))
        );
        let id = r.body["id"].as_str().unwrap().to_string();
        assert_eq!(t.audit_count().await, before + 1);
        let r = t.post("/api/v1/sub-statuses", &t.admin, new).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::CONFLICT, Some("code"))
        );
        for (bad, field) in [
            (
                json!({"phase": "in_progress", "code": "remote", "name_zh": "远程", "name_en": "Remote", "pauses_sla": true}),
                "pauses_sla",
            ),
            (
                json!({"phase": "closed", "code": "x1", "name_zh": "x", "name_en": "x"}),
                "phase",
            ),
            (
                json!({"phase": "pending", "code": "Bad Code", "name_zh": "x", "name_en": "x"}),
                "code",
            ),
            (
                json!({"phase": "pending", "code": "ok_code", "name_zh": " ", "name_en": "x"}),
                "name_zh",
            ),
            (
                json!({"phase": "pending", "code": "ok_code", "name_zh": "x", "name_en": "x", "sort": -1}),
                "sort",
            ),
        ] {
            let r = t.post("/api/v1/sub-statuses", &t.admin, bad).await;
            assert_eq!(
                (r.status, r.body["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
                "{}",
                r.text
            );
        }
        // Phase and code are fixed; names, flag, order, active change.
        let r = t
            .patch(
                &format!("/api/v1/sub-statuses/{id}"),
                &t.admin,
                json!({"code": "x"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let r = t
            .patch(
                &format!("/api/v1/sub-statuses/{id}"),
                &t.admin,
                json!({"name_en": "Awaiting approval", "sort": 5}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            (r.body["name_en"].as_str(), r.body["sort"].as_i64()),
            (Some("Awaiting approval"), Some(5))
        );
        let r = t.get("/api/v1/sub-statuses?phase=pending", &agent).await;
        assert_eq!(r.body[0]["code"], "waiting_approval", "sorted first now");
        let r = t
            .patch(
                &format!("/api/v1/sub-statuses/{}", uuid::Uuid::now_v7()),
                &t.admin,
                json!({"sort": 1}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);

        // A sub-status of another phase.
        let r = t
            .post(
                "/api/v1/sub-statuses",
                &t.admin,
                json!({"phase": "in_progress", "code": "on_site", "name_zh": "现场处理", "name_en": "On site"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let on_site = r.body["id"].as_str().unwrap().to_string();

        // The flow takes any active sub-status of the target phase.
        let tk = t
            .post(
                "/api/v1/tickets",
                &customer,
                json!({"kind": "incident", "subject": "财务系统报错", "description": "登录后白屏"}),
            )
            .await;
        let n = tk.body["number"].as_str().unwrap().to_string();
        let (agent_id, _) = (
            t.get("/api/v1/me", &agent).await.body["id"]
                .as_str()
                .unwrap()
                .to_string(),
            (),
        );
        let r = act(&t, &agent, &n, json!({"action": "triage", "urgency": "low", "criticality": "general", "breadth": "one_department", "assignee_id": agent_id})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // A pending sub-status is not one of in_progress.
        let r = act(
            &t,
            &agent,
            &n,
            json!({"action": "start", "sub_status": "waiting_approval"}),
        )
        .await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("sub_status"))
        );
        let r = act(
            &t,
            &agent,
            &n,
            json!({"action": "start", "sub_status": "on_site"}),
        )
        .await;
        assert_eq!(
            (r.status, r.body["sub_status"].as_str()),
            (StatusCode::OK, Some("on_site")),
            "{}",
            r.text
        );
        let r = act(
            &t,
            &agent,
            &n,
            json!({"action": "pend", "sub_status": "waiting_approval"}),
        )
        .await;
        assert_eq!(
            (r.status, r.body["sub_status"].as_str()),
            (StatusCode::OK, Some("waiting_approval"))
        );
        act(&t, &agent, &n, json!({"action": "resume"})).await;
        // Without one, pending takes the first active pending sub-status.
        let r = act(&t, &agent, &n, json!({"action": "pend"})).await;
        assert_eq!(r.body["sub_status"], "waiting_approval");
        act(&t, &agent, &n, json!({"action": "resume"})).await;
        // Deactivated: no longer accepted, and no longer the default.
        let r = t
            .patch(
                &format!("/api/v1/sub-statuses/{id}"),
                &t.admin,
                json!({"active": false}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let r = act(
            &t,
            &agent,
            &n,
            json!({"action": "pend", "sub_status": "waiting_approval"}),
        )
        .await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("sub_status"))
        );
        let r = act(&t, &agent, &n, json!({"action": "pend"})).await;
        assert_eq!(r.body["sub_status"], "waiting_customer");
        let r = t
            .get("/api/v1/sub-statuses?phase=pending&active=true", &agent)
            .await;
        assert_eq!(r.body.as_array().unwrap().len(), 3);

        // Delete: refused for used ones, allowed for unused ones.
        let r = t
            .req(
                Method::DELETE,
                &format!("/api/v1/sub-statuses/{id}"),
                Some(&t.admin),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        let r = t
            .req(
                Method::DELETE,
                &format!("/api/v1/sub-statuses/{on_site}"),
                Some(&t.admin),
                None,
                &[],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CONFLICT,
            "on_site was used by an event"
        );
        let r = t
            .post("/api/v1/sub-statuses", &t.admin, json!({"phase": "resolved", "code": "unused", "name_zh": "未用", "name_en": "Unused"}))
            .await;
        let unused = r.body["id"].as_str().unwrap().to_string();
        let r = t
            .req(
                Method::DELETE,
                &format!("/api/v1/sub-statuses/{unused}"),
                Some(&agent),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = t
            .req(
                Method::DELETE,
                &format!("/api/v1/sub-statuses/{unused}"),
                Some(&t.admin),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let r = t
            .req(
                Method::DELETE,
                &format!("/api/v1/sub-statuses/{unused}"),
                Some(&t.admin),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn the_sla_clock_pauses_by_the_flag_recorded_with_the_status_change() {
    // Monday 2025-12-01 09:00 in China: a P1 incident's 4 business hours end at 14:00
    // (09:00–12:00, 13:00–14:00).
    for (t, clock) in clocked(cst(2025, 12, 1, 9, 0)).await {
        let org = t.org("甲单位").await;
        let (agent_id, agent) = t.user("zuoxi", "agent", None).await;
        let r = t
            .post(
                "/api/v1/sub-statuses",
                &t.admin,
                json!({"phase": "pending", "code": "waiting_approval", "name_zh": "等待审批", "name_en": "Waiting for approval", "pauses_sla": true}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        let r = t
            .post(
                "/api/v1/tickets",
                &t.admin,
                json!({"kind": "incident", "subject": "核心交换机故障", "description": "全网中断", "org_id": org,
                       "criticality": "critical", "breadth": "whole_organization", "urgency": "high"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["priority"], 1);
        assert_eq!(
            time(&r.body["resolution_due_at"]),
            Some(cst(2025, 12, 1, 14, 0))
        );
        let n = r.body["number"].as_str().unwrap().to_string();
        clock.set(cst(2025, 12, 1, 9, 10));
        act(
            &t,
            &agent,
            &n,
            json!({"action": "triage", "assignee_id": agent_id}),
        )
        .await;
        act(&t, &agent, &n, json!({"action": "start"})).await;

        // 10:00 waiting for approval stops the clock.
        clock.set(cst(2025, 12, 1, 10, 0));
        let r = act(
            &t,
            &agent,
            &n,
            json!({"action": "pend", "sub_status": "waiting_approval"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(
            r.body["resolution_due_at"].is_null(),
            "{}: {}",
            t.name,
            r.text
        );
        // 10:30 the administrator changes the flag: this wait stays a pause.
        clock.set(cst(2025, 12, 1, 10, 30));
        let r = t
            .patch(
                &format!("/api/v1/sub-statuses/{id}"),
                &t.admin,
                json!({"pauses_sla": false}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let e = t.get(&format!("/api/v1/tickets/{n}/sla"), &t.admin).await;
        assert_eq!(e.body["resolution"]["state"], "paused", "{}", e.text);
        // 11:00 resumed after an hour's pause: due 15:00.
        clock.set(cst(2025, 12, 1, 11, 0));
        let r = act(&t, &agent, &n, json!({"action": "resume"})).await;
        assert_eq!(
            time(&r.body["resolution_due_at"]),
            Some(cst(2025, 12, 1, 15, 0))
        );
        // Waiting for approval now keeps the clock running.
        let r = act(
            &t,
            &agent,
            &n,
            json!({"action": "pend", "sub_status": "waiting_approval"}),
        )
        .await;
        assert_eq!(
            time(&r.body["resolution_due_at"]),
            Some(cst(2025, 12, 1, 15, 0)),
            "{}",
            r.text
        );
        clock.set(cst(2025, 12, 1, 11, 30));
        let r = act(&t, &agent, &n, json!({"action": "resume"})).await;
        assert_eq!(
            time(&r.body["resolution_due_at"]),
            Some(cst(2025, 12, 1, 15, 0))
        );
        let e = t.get(&format!("/api/v1/tickets/{n}/sla"), &t.admin).await;
        assert_eq!(
            e.body["resolution"]["pauses"].as_array().unwrap().len(),
            1,
            "{}",
            e.text
        );
        assert_eq!(e.body["resolution"]["paused_business_seconds"], 3600);
    }
}

#[tokio::test]
async fn the_admin_page_and_the_ticket_page_use_the_table() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let (agent_id, agent) = t.user("zuoxi", "agent", None).await;
        t.user("kehu", "customer", Some(org)).await;
        let r = t.login("admin", &t.admin_password.clone()).await;
        let cookie = session_cookie(&r);
        let csrf = r.body["csrf_token"].as_str().unwrap().to_string();
        let page = t
            .req(
                Method::GET,
                "/admin/sub-statuses",
                None,
                None,
                &[("cookie", &cookie)],
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(page.text.contains("id=\"substatus-new\"") && page.text.contains("等待厂商"));
        let form = |path: &str, body: String| {
            Request::post(path)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &cookie)
                .body(Body::from(body))
                .unwrap()
        };
        let before = t.audit_count().await;
        let r = t
            .send(form(
                "/admin/sub-statuses",
                "_csrf=wrong&phase=pending&code=waiting_parts&name_zh=x&name_en=x".into(),
            ))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(t.audit_count().await, before);
        let r = t
            .send(form(
                "/admin/sub-statuses",
                format!("_csrf={csrf}&phase=pending&code=Bad&name_zh=x&name_en=x&sort=1"),
            ))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text.contains("id=\"form-error\""));
        let r = t
            .send(form(
                "/admin/sub-statuses",
                format!("_csrf={csrf}&phase=pending&code=waiting_parts&name_zh=%E7%AD%89%E5%BE%85%E5%A4%87%E4%BB%B6&name_en=Waiting+for+parts&pauses_sla=true&sort=40"),
            ))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        let list = t.get("/api/v1/sub-statuses?phase=pending", &agent).await;
        let parts = list
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["code"] == "waiting_parts")
            .cloned()
            .unwrap();
        assert_eq!(
            (parts["pauses_sla"].as_bool(), parts["sort"].as_i64()),
            (Some(true), Some(40))
        );
        // Edit: unchecked boxes turn the flag and active off.
        let id = parts["id"].as_str().unwrap();
        let r = t
            .send(form(&format!("/admin/sub-statuses/{id}"), format!("_csrf={csrf}&name_zh=%E7%AD%89%E5%A4%87%E4%BB%B6&name_en=Parts&active=true&sort=40")))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let list = t.get("/api/v1/sub-statuses?phase=pending", &agent).await;
        let parts = list
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["code"] == "waiting_parts")
            .cloned()
            .unwrap();
        assert_eq!(
            (parts["pauses_sla"].as_bool(), parts["name_en"].as_str()),
            (Some(false), Some("Parts"))
        );

        // The ticket page offers the active pending ones and shows the name.
        let tk = t
            .post("/api/v1/tickets", &agent, json!({"kind": "request", "subject": "申请显示器", "description": "需要一台显示器", "org_id": org}))
            .await;
        let n = tk.body["number"].as_str().unwrap().to_string();
        act(&t, &agent, &n, json!({"action": "triage", "urgency": "low", "criticality": "general", "breadth": "one_department", "assignee_id": agent_id})).await;
        let page = t
            .req(
                Method::GET,
                &format!("/tickets/{n}"),
                None,
                None,
                &[("cookie", &cookie)],
            )
            .await;
        assert!(page.text.contains("value=\"waiting_parts\""), "{}", t.name);
        let r = act(
            &t,
            &agent,
            &n,
            json!({"action": "pend", "sub_status": "waiting_parts"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let page = t
            .req(
                Method::GET,
                &format!("/tickets/{n}"),
                None,
                None,
                &[("cookie", &cookie)],
            )
            .await;
        assert!(
            page.text
                .contains("<span id=\"t-sub-status\">等备件</span>"),
            "{}",
            page.text
        );

        // Customers do not get the page; agents see it without the forms.
        let rc = t.login("kehu", "correct horse battery").await;
        let cc = session_cookie(&rc);
        let r = t
            .req(
                Method::GET,
                "/admin/sub-statuses",
                None,
                None,
                &[("cookie", &cc)],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let ra = t.login("zuoxi", "correct horse battery").await;
        let ac = session_cookie(&ra);
        let r = t
            .req(
                Method::GET,
                "/admin/sub-statuses",
                None,
                None,
                &[("cookie", &ac)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!r.text.contains("id=\"substatus-new\"") && r.text.contains("waiting_parts"));
    }
}
