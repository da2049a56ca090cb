//! The service desk evaluation and staff quality records through the API, on SQLite
//! and PostgreSQL: a small data set with known timings (the app runs on a clock the test sets),
//! then exact figures, the exports and the permissions.

mod common;

use std::sync::Arc;

use axum::http::{header, Method, StatusCode};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use common::{session_cookie, TestApp};
use serde_json::{json, Value};
use yunwei_domain::clock::SettableClock;

/// An instant given as wall-clock time in China (UTC+8) on Tuesday 2025-09-16.
fn at(h: u32, mi: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2025, 9, 16)
        .unwrap()
        .and_hms_opt(h, mi, 0)
        .unwrap()
        .and_utc()
        - Duration::hours(8)
}

async fn clocked() -> Vec<(TestApp, Arc<SettableClock>)> {
    let mut out = Vec::new();
    for mut t in TestApp::all().await {
        let clock = Arc::new(SettableClock::new(at(9, 0)));
        t.app.clock = clock.clone();
        t.router = yunwei_web::router(yunwei_web::state(
            t.app.clone(),
            yunwei_web::WebConfig::default(),
        ));
        out.push((t, clock));
    }
    out
}

async fn ok(t: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
    let r = t.req(method, path, Some(token), body.clone(), &[]).await;
    assert!(
        r.status.is_success(),
        "{}: {path} {body:?} → {} {}",
        t.name,
        r.status,
        r.text
    );
    r.body
}

async fn submit(t: &TestApp, token: &str, kind: &str) -> String {
    let b = ok(
        t,
        Method::POST,
        "/api/v1/tickets",
        token,
        Some(json!({"kind": kind, "subject": format!("{kind} 工单"), "description": "描述"})),
    )
    .await;
    b["number"].as_str().unwrap().to_string()
}

async fn act(t: &TestApp, token: &str, number: &str, body: Value) {
    ok(
        t,
        Method::POST,
        &format!("/api/v1/tickets/{number}/transitions"),
        token,
        Some(body),
    )
    .await;
}

fn triage(p1: bool, team: &str, assignee: &str) -> Value {
    let (c, b) = if p1 {
        ("critical", "whole_organization")
    } else {
        ("general", "one_department")
    };
    json!({"action": "triage", "criticality": c, "breadth": b, "urgency": "high", "team_id": team, "assignee_id": assignee})
}

struct Data {
    customer: String,
    agent_id: String,
    engineer_id: String,
    team: String,
    manager: String,
    auditor: String,
    agent: String,
}

/// Six tickets created at 09:00 and moved at known minutes; staff records for two people.
async fn build(t: &TestApp, clock: &SettableClock) -> Data {
    let org = t.org("甲单位").await;
    let (_, customer) = t.user("kehu", "customer", Some(org)).await;
    let (agent_id, agent) = t.user("zuoxi", "agent", None).await;
    let (engineer_id, engineer) = t.user("gcs", "engineer", None).await;
    let (_, manager) = t.user("jingli", "manager", None).await;
    let (_, auditor) = t.user("shenji", "auditor", None).await;
    let team = ok(
        t,
        Method::POST,
        "/api/v1/teams",
        &t.admin,
        Some(json!({"name": "一线"})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for u in [agent_id, engineer_id] {
        ok(
            t,
            Method::PUT,
            &format!("/api/v1/teams/{team}/members/{u}"),
            &t.admin,
            None,
        )
        .await;
    }
    let (a, e) = (agent_id.to_string(), engineer_id.to_string());

    clock.set(at(9, 0));
    let t1 = submit(t, &customer, "incident").await;
    let t2 = submit(t, &customer, "request").await;
    let t3 = submit(t, &customer, "incident").await;
    let t4 = submit(t, &customer, "complaint").await;
    let t5 = submit(t, &customer, "suggestion").await;
    let t6 = submit(t, &customer, "opinion").await;

    clock.set(at(9, 5));
    act(t, &customer, &t6, json!({"action": "cancel"})).await;
    clock.set(at(9, 10));
    act(t, &agent, &t1, triage(false, &team, &a)).await;
    clock.set(at(9, 20));
    act(t, &agent, &t1, json!({"action": "start"})).await;
    act(t, &agent, &t3, triage(true, &team, &a)).await;
    clock.set(at(9, 30));
    act(t, &agent, &t2, triage(false, &team, &e)).await;
    act(
        t,
        &agent,
        &t3,
        json!({"action": "pend", "sub_status": "waiting_customer"}),
    )
    .await;
    clock.set(at(9, 40));
    act(
        t,
        &agent,
        &t1,
        json!({"action": "resolve", "resolution": "已修复"}),
    )
    .await;
    act(t, &agent, &t4, triage(false, &team, &a)).await;
    clock.set(at(9, 50));
    ok(
        t,
        Method::PUT,
        &format!("/api/v1/tickets/{t5}/priority"),
        &agent,
        Some(json!({"priority": 1, "reason": "领导关注"})),
    )
    .await;
    clock.set(at(10, 0));
    act(t, &customer, &t1, json!({"action": "confirm"})).await;
    act(t, &agent, &t3, json!({"action": "resume"})).await;
    act(
        t,
        &agent,
        &t4,
        json!({"action": "resolve", "resolution": "已答复"}),
    )
    .await;
    clock.set(at(10, 10));
    act(
        t,
        &customer,
        &t4,
        json!({"action": "reject", "note": "不满意"}),
    )
    .await;
    clock.set(at(10, 20));
    act(
        t,
        &agent,
        &t4,
        json!({"action": "resolve", "resolution": "再次答复"}),
    )
    .await;
    clock.set(at(10, 30));
    act(
        t,
        &engineer,
        &t2,
        json!({"action": "resolve", "resolution": "已开通"}),
    )
    .await;
    act(t, &customer, &t4, json!({"action": "confirm"})).await;
    clock.set(at(10, 40));
    act(t, &customer, &t2, json!({"action": "confirm"})).await;
    for (n, score) in [(&t1, 5), (&t2, 3), (&t4, 4)] {
        ok(
            t,
            Method::POST,
            &format!("/api/v1/tickets/{n}/satisfaction"),
            &customer,
            Some(json!({"score": score})),
        )
        .await;
    }
    clock.set(at(11, 0));
    act(
        t,
        &agent,
        &t3,
        json!({"action": "resolve", "resolution": "已恢复"}),
    )
    .await;

    // Staff quality records.
    let post = |who: String, what: &'static str, body: Value| async move {
        ok(
            t,
            Method::POST,
            &format!("/api/v1/users/{who}/{what}"),
            &t.admin,
            Some(body),
        )
        .await
    };
    post(a.clone(), "skills", json!({"skill": "网络", "level": 4})).await;
    post(a.clone(), "skills", json!({"skill": "数据库", "level": 3})).await;
    post(e.clone(), "skills", json!({"skill": "Linux", "level": 5})).await;
    post(a.clone(), "certifications", json!({"name": "CCNA", "issuer": "Cisco", "obtained_on": "2024-01-01", "expires_on": "2026-12-31"})).await;
    post(
        a.clone(),
        "certifications",
        json!({"name": "旧证书", "obtained_on": "2020-01-01", "expires_on": "2023-01-01"}),
    )
    .await;
    post(
        a.clone(),
        "trainings",
        json!({"course": "ITIL 基础", "hours": 8, "completed_on": "2025-09-16"}),
    )
    .await;
    post(
        a.clone(),
        "trainings",
        json!({"course": "上月培训", "hours": 4, "completed_on": "2025-08-01"}),
    )
    .await;
    post(
        e.clone(),
        "trainings",
        json!({"course": "Linux 运维", "hours": 2, "completed_on": "2025-09-16"}),
    )
    .await;
    Data {
        customer,
        agent_id: a,
        engineer_id: e,
        team,
        manager,
        auditor,
        agent,
    }
}

const PERIOD: &str = "from=2025-09-16&to=2025-09-17";

fn count(list: &Value, key: &str) -> i64 {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {list}"))["count"]
        .as_i64()
        .unwrap()
}

fn by<'a>(list: &'a Value, field: &str, value: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|x| x[field] == value)
        .unwrap_or_else(|| panic!("no {field}={value} in {list}"))
}

#[tokio::test]
async fn the_desk_evaluation_has_exact_figures_on_both_stores() {
    for (t, clock) in clocked().await {
        let d = build(&t, &clock).await;
        let r = t
            .get(
                &format!("/api/v1/reports/desk-evaluation?{PERIOD}&organization=&team="),
                &d.auditor,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.name, r.text);
        let ev = &r.body;
        assert_eq!(ev["tickets"], 6, "{}", t.name);
        for (k, n) in [
            ("incident", 2),
            ("request", 1),
            ("complaint", 1),
            ("opinion", 1),
            ("suggestion", 1),
        ] {
            assert_eq!(count(&ev["by_kind"], k), n, "{k}");
        }
        for (s, n) in [
            ("new", 1),
            ("assigned", 0),
            ("in_progress", 0),
            ("pending", 0),
            ("resolved", 1),
            ("closed", 3),
            ("cancelled", 1),
        ] {
            assert_eq!(count(&ev["by_status"], s), n, "{s}");
        }
        // Responses after 10, 20, 30, 40 minutes; resolutions after 40, 80, 90, 120.
        assert_eq!(
            ev["response"],
            json!({"count": 4, "median_minutes": 25.0, "p90_minutes": 40.0})
        );
        assert_eq!(
            ev["resolution"],
            json!({"count": 4, "median_minutes": 85.0, "p90_minutes": 120.0})
        );
        // P1: the ticket answered after 20 minutes missed its 15-minute response target.
        let sla = &ev["sla"];
        assert_eq!(sla[0]["priority"], 1);
        assert_eq!(sla[0]["tickets"], 2);
        assert_eq!(
            sla[0]["response"],
            json!({"count": 0, "base": 1, "rate": 0.0})
        );
        assert_eq!(
            sla[0]["resolution"],
            json!({"count": 1, "base": 1, "rate": 1.0})
        );
        assert_eq!(sla[2]["priority"], 3);
        assert_eq!(sla[2]["tickets"], 3);
        assert_eq!(
            sla[2]["response"],
            json!({"count": 3, "base": 3, "rate": 1.0})
        );
        assert_eq!(
            sla[2]["resolution"],
            json!({"count": 3, "base": 3, "rate": 1.0})
        );
        assert_eq!(sla[4]["priority"], Value::Null);
        assert_eq!(
            sla[4]["response"],
            json!({"count": 3, "base": 4, "rate": 0.75})
        );
        assert_eq!(
            ev["first_contact_resolution"],
            json!({"count": 2, "base": 4, "rate": 0.5})
        );
        assert_eq!(ev["reopen"], json!({"count": 1, "base": 4, "rate": 0.25}));
        assert_eq!(
            ev["escalation"],
            json!({"count": 1, "base": 6, "rate": 0.1667})
        );
        assert_eq!(
            ev["auto_confirmation"],
            json!({"count": 0, "base": 3, "rate": 0.0})
        );
        assert_eq!(
            ev["satisfaction"],
            json!({"rated": 3, "closed": 3, "response_rate": 1.0, "average": 4.0, "distribution": [0, 0, 1, 1, 1]})
        );
        assert_eq!(
            ev["feedback"],
            json!({"complaint": 1, "opinion": 1, "suggestion": 1})
        );
        let agent = by(&ev["agents"], "username", "zuoxi");
        assert_eq!(
            (
                agent["assigned"].as_i64(),
                agent["resolved"].as_i64(),
                agent["median_resolution_minutes"].as_f64(),
                agent["satisfaction_average"].as_f64()
            ),
            (Some(3), Some(3), Some(80.0), Some(4.5))
        );
        let eng = by(&ev["agents"], "username", "gcs");
        assert_eq!(
            (
                eng["assigned"].as_i64(),
                eng["resolved"].as_i64(),
                eng["median_resolution_minutes"].as_f64(),
                eng["satisfaction_average"].as_f64()
            ),
            (Some(1), Some(1), Some(90.0), Some(3.0))
        );
        assert_eq!(ev["agents"][0]["username"], "zuoxi", "most resolved first");
        let team = by(&ev["teams"], "name", "一线");
        assert_eq!(
            (
                team["tickets"].as_i64(),
                team["resolved"].as_i64(),
                team["median_resolution_minutes"].as_f64(),
                team["satisfaction_average"].as_f64()
            ),
            (Some(4), Some(4), Some(85.0), Some(4.0))
        );
        assert_eq!(
            (
                team["members"].as_i64(),
                team["skills"].as_i64(),
                team["average_level"].as_f64(),
                team["valid_certifications"].as_i64(),
                team["training_hours"].as_i64()
            ),
            (Some(2), Some(3), Some(4.0), Some(1), Some(10))
        );
        let s = by(&ev["staff"], "username", "zuoxi");
        assert_eq!(
            (
                s["skills"].as_i64(),
                s["average_level"].as_f64(),
                s["valid_certifications"].as_i64(),
                s["training_hours"].as_i64()
            ),
            (Some(2), Some(3.5), Some(1), Some(8))
        );
        let s = by(&ev["staff"], "username", "gcs");
        assert_eq!(
            (
                s["skills"].as_i64(),
                s["average_level"].as_f64(),
                s["training_hours"].as_i64()
            ),
            (Some(2 - 1), Some(5.0), Some(2))
        );
        assert!(ev["staff"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["username"] != "shenji" && s["username"] != "kehu"));

        // Filters: the team, an organization without tickets, a period without tickets.
        let r = t
            .get(
                &format!("/api/v1/reports/desk-evaluation?{PERIOD}&team={}", d.team),
                &d.manager,
            )
            .await;
        assert_eq!(
            (r.status, r.body["tickets"].as_i64()),
            (StatusCode::OK, Some(4))
        );
        assert_eq!(r.body["staff"].as_array().unwrap().len(), 2);
        let other = t.org("乙单位").await;
        let r = t
            .get(
                &format!("/api/v1/reports/desk-evaluation?{PERIOD}&organization={other}"),
                &d.manager,
            )
            .await;
        assert_eq!(
            (r.status, r.body["tickets"].as_i64()),
            (StatusCode::OK, Some(0))
        );
        assert_eq!(r.body["response"]["median_minutes"], Value::Null);
        let r = t
            .get(
                "/api/v1/reports/desk-evaluation?from=2025-09-17&to=2025-09-18",
                &d.manager,
            )
            .await;
        assert_eq!(r.body["tickets"], 0);

        // CSV: UTF-8 with BOM, Chinese headers, an attachment.
        let r = t
            .get(
                &format!("/api/v1/reports/desk-evaluation.csv?{PERIOD}"),
                &d.auditor,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        assert_eq!(
            r.headers[header::CONTENT_DISPOSITION],
            "attachment; filename=\"desk-evaluation_2025-09-16_2025-09-17.csv\""
        );
        let lines: Vec<&str> = r.text.split("\r\n").collect();
        assert_eq!(lines[0], "\u{feff}类别,指标,对象,数值,单位");
        assert_eq!(lines[1], "概况,工单总数,,6,件");
        assert!(
            lines.contains(&"响应,响应时间中位数,,25,分钟"),
            "{}",
            r.text
        );
        assert!(
            lines.contains(&"SLA达成,响应达成率,全部,75,%"),
            "{}",
            r.text
        );
        assert!(
            lines.contains(&"用户满意度,评分分布,5分,1,件"),
            "{}",
            r.text
        );
        assert!(lines.contains(
            &"用户名,姓名,分派工单数,已解决工单数,解决时间中位数（分钟）,已评价工单数,满意度平均分"
        ));
        assert!(lines.contains(&"zuoxi,zuoxi,3,3,80,2,4.5"), "{}", r.text);

        // XLSX: a zip archive.
        let r = t
            .get(
                &format!("/api/v1/reports/desk-evaluation.xlsx?{PERIOD}"),
                &d.manager,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains(".xlsx"));
        let bytes = t
            .req(
                Method::GET,
                &format!("/api/v1/reports/desk-evaluation.xlsx?{PERIOD}"),
                Some(&d.manager),
                None,
                &[],
            )
            .await;
        assert!(bytes.text.as_bytes().starts_with(b"PK"));

        // Permissions and bad input.
        for who in [&d.customer, &d.agent] {
            for path in [
                "/api/v1/reports/desk-evaluation",
                "/api/v1/reports/desk-evaluation.csv",
                "/api/v1/reports/desk-evaluation.xlsx",
            ] {
                assert_eq!(
                    t.get(&format!("{path}?{PERIOD}"), who).await.status,
                    StatusCode::FORBIDDEN,
                    "{path}"
                );
            }
        }
        for (q, field) in [
            ("from=2025-13-01&to=2025-09-17", "from"),
            ("from=yesterday&to=2025-09-17", "from"),
            ("to=2025-09-17", "from"),
            ("from=2025-09-17&to=2025-09-16", "to"),
            ("from=2025-09-16&to=2025-09-16", "to"),
            ("from=2025-09-16&to=2025-09-17&team=x", "team"),
        ] {
            let r = t
                .get(&format!("/api/v1/reports/desk-evaluation?{q}"), &d.auditor)
                .await;
            assert_eq!(
                (r.status, r.body["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
                "{q}: {}",
                r.text
            );
        }
        let r = t
            .get(
                &format!(
                    "/api/v1/reports/desk-evaluation?{PERIOD}&team={}",
                    uuid::Uuid::now_v7()
                ),
                &d.auditor,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

        // The page: figures, SVG charts, export links.
        let login = t.login("admin", &t.admin_password).await;
        let cookie = session_cookie(&login);
        let r = t
            .req(
                Method::GET,
                &format!("/reports/desk?{PERIOD}"),
                None,
                None,
                &[("cookie", &cookie)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(
            r.text.contains("id=\"chart-kinds\"") && r.text.contains("<rect"),
            "{}",
            r.text
        );
        assert!(r
            .text
            .contains("href=\"/api/v1/reports/desk-evaluation.csv?from=2025-09-16"));
        assert!(r
            .text
            .contains("href=\"/api/v1/reports/desk-evaluation.xlsx?from=2025-09-16"));
        assert!(r.text.contains("id=\"eval-tickets\">6<"));
        assert!(r.text.contains("href=\"/reports/desk\""), "nav link");
        assert!(!r.text.contains("style="));
        let r = t
            .req(
                Method::GET,
                "/reports/desk?from=bad&to=2025-09-17",
                None,
                None,
                &[("cookie", &cookie)],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn staff_quality_records_are_written_by_admins_and_read_by_managers_and_auditors() {
    for (t, clock) in clocked().await {
        let d = build(&t, &clock).await;
        let path = format!("/api/v1/users/{}/skills", d.agent_id);
        let r = t.get(&path, &d.auditor).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.name, r.text);
        assert_eq!(r.body.as_array().unwrap().len(), 2);
        assert_eq!(t.get(&path, &d.manager).await.status, StatusCode::OK);
        assert_eq!(
            t.get(&path, &d.customer).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(t.get(&path, &d.agent).await.status, StatusCode::FORBIDDEN);
        assert_eq!(
            t.post(&path, &d.manager, json!({"skill": "存储", "level": 3}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let r = t
            .post(&path, &t.admin, json!({"skill": "存储", "level": 6}))
            .await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("level"))
        );
        let r = t
            .post(&path, &t.admin, json!({"skill": "网络", "level": 2}))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        let r = t
            .post(
                &format!("/api/v1/users/{}/certifications", d.engineer_id),
                &t.admin,
                json!({"name": "RHCE", "obtained_on": "2025-01-01", "expires_on": "2024-01-01"}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("expires_on"))
        );
        let r = t
            .post(
                &format!("/api/v1/users/{}/trainings", d.engineer_id),
                &t.admin,
                json!({"course": "x", "hours": 0, "completed_on": "2025-01-01"}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("hours"))
        );
        // Customers have no staff records.
        let kehu = t.app.get_user_by_username(&t.sys, "kehu").await.unwrap();
        let r = t
            .post(
                &format!("/api/v1/users/{}/skills", kehu.id),
                &t.admin,
                json!({"skill": "x", "level": 1}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let r = t
            .get(
                &format!("/api/v1/users/{}/skills", uuid::Uuid::now_v7()),
                &t.admin,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);

        // Delete: only the user's own record; audited.
        let trainings = t
            .get(
                &format!("/api/v1/users/{}/trainings", d.agent_id),
                &d.auditor,
            )
            .await
            .body;
        assert_eq!(trainings.as_array().unwrap().len(), 2);
        let id = trainings[0]["id"].as_str().unwrap();
        let before = t.audit_count().await;
        let wrong = format!("/api/v1/users/{}/trainings/{id}", d.engineer_id);
        assert_eq!(
            t.req(Method::DELETE, &wrong, Some(&t.admin), None, &[])
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let right = format!("/api/v1/users/{}/trainings/{id}", d.agent_id);
        assert_eq!(
            t.req(Method::DELETE, &right, Some(&d.manager), None, &[])
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            t.req(Method::DELETE, &right, Some(&t.admin), None, &[])
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(t.audit_count().await, before + 1);
        assert_eq!(
            t.req(Method::DELETE, &right, Some(&t.admin), None, &[])
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let trainings = t
            .get(
                &format!("/api/v1/users/{}/trainings", d.agent_id),
                &d.auditor,
            )
            .await
            .body;
        assert_eq!(trainings.as_array().unwrap().len(), 1);
        let certs = t
            .get(
                &format!("/api/v1/users/{}/certifications", d.agent_id),
                &d.auditor,
            )
            .await
            .body;
        assert_eq!(certs[0]["name"], "旧证书");
        assert_eq!(certs[1]["expires_on"], "2026-12-31");
        for kind in ["skills", "certifications"] {
            let list = t
                .get(&format!("/api/v1/users/{}/{kind}", d.agent_id), &t.admin)
                .await
                .body;
            let id = list[0]["id"].as_str().unwrap();
            assert_eq!(
                t.req(
                    Method::DELETE,
                    &format!("/api/v1/users/{}/{kind}/{id}", d.agent_id),
                    Some(&t.admin),
                    None,
                    &[]
                )
                .await
                .status,
                StatusCode::NO_CONTENT
            );
        }
    }
}
