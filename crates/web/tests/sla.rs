//! SLA on tickets through the API, on SQLite and PostgreSQL: deadlines on the China calendar,
//! pauses, explanations, calendars and policies, and the worker's warnings, breaches and
//! auto-confirmations — with a clock the tests set instead of sleeping.

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use common::TestApp;
use serde_json::{json, Value};
use yunwei_domain::clock::SettableClock;

/// An instant given as wall-clock time in China (UTC+8).
fn cst(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_opt(h, mi, 0)
        .unwrap()
        .and_utc()
        - Duration::hours(8)
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap()
}

/// Both stores, each app running on a clock set to `at`.
async fn clocked(at: DateTime<Utc>) -> Vec<(TestApp, Arc<SettableClock>)> {
    let mut out = Vec::new();
    for mut t in TestApp::all().await {
        let clock = Arc::new(SettableClock::new(at));
        t.app.clock = clock.clone();
        t.router = yunwei_web::router(yunwei_web::state(
            t.app.clone(),
            yunwei_web::WebConfig::default(),
        ));
        out.push((t, clock));
    }
    out
}

async fn submit(t: &TestApp, token: &str, body: Value) -> Value {
    let r = t.post("/api/v1/tickets", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {}", t.name, r.text);
    r.body
}

async fn act(t: &TestApp, token: &str, number: &str, body: Value) -> Value {
    let r = t
        .post(
            &format!("/api/v1/tickets/{number}/transitions"),
            token,
            body.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}: {body} → {}", t.name, r.text);
    r.body
}

async fn ticket(t: &TestApp, token: &str, number: &str) -> Value {
    let r = t.get(&format!("/api/v1/tickets/{number}"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

fn kinds(detail: &Value) -> Vec<String> {
    detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

/// criticality, breadth, urgency giving P1 … P4 with the usual matrix.
const PRIORITY_INPUTS: [(&str, &str, &str); 4] = [
    ("critical", "whole_organization", "high"),
    ("critical", "one_department", "high"),
    ("general", "one_department", "high"),
    ("general", "one_department", "low"),
];

fn incident(p: usize, subject: &str) -> Value {
    let (c, b, u) = PRIORITY_INPUTS[p - 1];
    json!({"kind": "incident", "subject": subject, "description": "描述", "criticality": c, "breadth": b, "urgency": u})
}

#[tokio::test]
async fn deadlines_on_create_follow_priority_and_the_china_calendar() {
    // Tuesday 2025-09-30 16:00, the eve of National Day: 10-01 … 10-08 are holidays, Saturday
    // 10-11 a make-up working day.
    for (t, _clock) in clocked(cst(2025, 9, 30, 16, 0)).await {
        let expected = [
            (1, cst(2025, 9, 30, 16, 15), cst(2025, 10, 9, 11, 0)),
            (2, cst(2025, 9, 30, 16, 30), cst(2025, 10, 9, 16, 0)),
            (3, cst(2025, 9, 30, 18, 0), cst(2025, 10, 11, 16, 0)),
            (4, cst(2025, 10, 9, 11, 0), cst(2025, 10, 14, 16, 0)),
        ];
        let policies = t.get("/api/v1/sla-policies", &t.admin).await;
        assert_eq!(policies.status, StatusCode::OK, "{}", policies.text);
        let default = policies.body[0].clone();
        assert_eq!(
            (
                default["name"].as_str(),
                default["is_default"].as_bool(),
                default["p1_response_minutes"].as_i64(),
                default["p4_resolution_minutes"].as_i64()
            ),
            (Some("标准 SLA"), Some(true), Some(15), Some(2400))
        );
        for (p, response, resolution) in expected {
            let tk = submit(&t, &t.admin, incident(p, &format!("P{p}"))).await;
            assert_eq!(tk["priority"].as_i64(), Some(p as i64));
            assert_eq!(
                (time(&tk["response_due_at"]), time(&tk["resolution_due_at"])),
                (response, resolution),
                "{}: P{p}",
                t.name
            );
            assert_eq!(tk["sla_policy_id"], default["id"]);
            assert!(tk["sla_warned_at"].is_null() && tk["sla_breached_at"].is_null());
        }
        // Unprioritised tickets run on the P4 targets until triage.
        let org = t.org("甲单位").await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        let tk = submit(
            &t,
            &customer,
            json!({"kind": "request", "subject": "开通账号", "description": "新员工"}),
        )
        .await;
        assert!(tk["priority"].is_null());
        assert_eq!(time(&tk["resolution_due_at"]), cst(2025, 10, 14, 16, 0));
    }
}

#[tokio::test]
async fn pending_for_the_customer_pauses_and_the_explanation_names_the_holiday() {
    for (t, clock) in clocked(cst(2025, 9, 30, 16, 0)).await {
        let org = t.org("甲单位").await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        let (_, other_customer) = t
            .user("wairen", "customer", Some(t.org("乙单位").await))
            .await;
        let (agent_id, agent) = t.user("zuoxi", "agent", None).await;
        let mut body = incident(1, "核心交换机故障");
        body["org_id"] = json!(org);
        let tk = submit(&t, &t.admin, body).await;
        let n = tk["number"].as_str().unwrap().to_string();
        assert_eq!(time(&tk["resolution_due_at"]), cst(2025, 10, 9, 11, 0));

        clock.set(cst(2025, 9, 30, 16, 5));
        act(
            &t,
            &agent,
            &n,
            json!({"action": "triage", "assignee_id": agent_id}),
        )
        .await;
        act(&t, &agent, &n, json!({"action": "start"})).await;
        // Waiting for a change does not stop the clock.
        clock.set(cst(2025, 9, 30, 17, 0));
        let r = act(
            &t,
            &agent,
            &n,
            json!({"action": "pend", "sub_status": "waiting_change"}),
        )
        .await;
        assert_eq!(time(&r["resolution_due_at"]), cst(2025, 10, 9, 11, 0));
        clock.set(cst(2025, 9, 30, 17, 30));
        act(&t, &agent, &n, json!({"action": "resume"})).await;

        // Waiting for the customer does: no deadline while paused.
        clock.set(cst(2025, 10, 9, 9, 0));
        let r = act(
            &t,
            &agent,
            &n,
            json!({"action": "pend", "sub_status": "waiting_customer", "note": "请提供配置截图"}),
        )
        .await;
        assert!(r["resolution_due_at"].is_null(), "{}: {r}", t.name);
        clock.set(cst(2025, 10, 9, 10, 0));
        let e = t.get(&format!("/api/v1/tickets/{n}/sla"), &t.admin).await;
        assert_eq!(e.status, StatusCode::OK, "{}", e.text);
        assert_eq!(e.body["resolution"]["state"], "paused");
        assert!(e.body["resolution"]["due_at"].is_null());
        let zh = e.body["resolution"]["text_zh"].as_str().unwrap();
        assert!(zh.contains("暂停") && zh.contains("2 小时"), "{zh}");

        // Resumed at 11:00 after two business hours: the deadline moves from 11:00 to 14:00.
        clock.set(cst(2025, 10, 9, 11, 0));
        let r = act(&t, &agent, &n, json!({"action": "resume"})).await;
        assert_eq!(time(&r["resolution_due_at"]), cst(2025, 10, 9, 14, 0));
        assert_eq!(time(&r["response_due_at"]), cst(2025, 9, 30, 16, 15));

        let e = t.get(&format!("/api/v1/tickets/{n}/sla"), &customer).await;
        assert_eq!(
            e.status,
            StatusCode::OK,
            "customers read their own: {}",
            e.text
        );
        let res = &e.body["resolution"];
        assert_eq!(
            (
                res["state"].as_str(),
                res["target_seconds"].as_i64(),
                res["paused_business_seconds"].as_i64(),
                res["elapsed_seconds"].as_i64()
            ),
            (
                Some("running"),
                Some(4 * 3600),
                Some(2 * 3600),
                Some(2 * 3600)
            )
        );
        assert_eq!(time(&res["due_at"]), cst(2025, 10, 9, 14, 0));
        assert_eq!(
            res["text_zh"],
            "解决：10-09 14:00 到期：自 09-30 16:00 起 4 个工作小时，暂停 2 小时，节假日 10-01…10-08（国庆节、中秋）"
        );
        assert_eq!(
            res["text_en"],
            "Resolution: due 10-09 14:00: 4 business hours from 09-30 16:00, paused 2 h, holiday 10-01…10-08 (国庆节, 中秋)"
        );
        assert_eq!(res["skipped"][0]["kind"], "holiday");
        assert_eq!(res["skipped"][0]["names"], json!(["国庆节", "中秋"]));
        assert_eq!(res["pauses"].as_array().unwrap().len(), 1);
        assert_eq!(e.body["response"]["state"], "met");
        assert_eq!(e.body["calendar_name"], "中国大陆工作日历");
        assert_eq!(e.body["holidays_outdated"], false);
        // Another organization's customer: like a missing ticket.
        let e = t
            .get(&format!("/api/v1/tickets/{n}/sla"), &other_customer)
            .await;
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let e = t.get("/api/v1/tickets/INC-2025-999999/sla", &t.admin).await;
        assert_eq!(e.status, StatusCode::NOT_FOUND);

        // Resolved late: the resolution clock shows the breach.
        clock.set(cst(2025, 10, 9, 15, 0));
        act(
            &t,
            &agent,
            &n,
            json!({"action": "resolve", "resolution": "更换模块"}),
        )
        .await;
        let e = t.get(&format!("/api/v1/tickets/{n}/sla"), &t.admin).await;
        assert_eq!(e.body["resolution"]["state"], "breached");
        assert_eq!(e.body["resolution"]["remaining_seconds"], -3600);
    }
}

#[tokio::test]
async fn calendars_and_policies() {
    for (t, clock) in clocked(cst(2025, 9, 30, 16, 0)).await {
        let (_, agent) = t.user("zuoxi", "agent", None).await;
        let (_, auditor) = t.user("shenji", "auditor", None).await;
        let (_, manager) = t.user("jingli", "manager", None).await;
        let org = t.org("甲单位").await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;

        let r = t.get("/api/v1/calendars", &agent).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let china = r.body[0].clone();
        assert_eq!(china["name"], "中国大陆工作日历");
        assert_eq!(china["utc_offset_minutes"], 480);
        assert_eq!(china["week"][0], json!(["09:00-12:00", "13:00-18:00"]));
        assert!(china["holidays"].as_u64().unwrap() > 300);
        assert_eq!(china["first_year"], 2004);
        assert_eq!(
            t.get("/api/v1/calendars", &customer).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            t.get("/api/v1/calendars", &auditor).await.status,
            StatusCode::OK
        );
        let id = china["id"].as_str().unwrap();
        let d = t.get(&format!("/api/v1/calendars/{id}"), &agent).await;
        assert!(d.body["days"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["date"] == "2025-10-11" && x["kind"] == "workday"));

        // A file with bad lines: 422 with every bad line, nothing written.
        let before = t.audit_count().await;
        let bad = json!({"name": "坏日历", "base": "office", "import": {"format": "csv",
            "text": "date,kind,name\n2025-10-01,holiday,国庆节\n2025-13-01,holiday,x\nfoo\n2025-10-01,workday,冲突\n"}});
        let r = t.post("/api/v1/calendars", &manager, bad.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.body["code"], "import_failed");
        let lines: Vec<i64> = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["line"].as_i64().unwrap())
            .collect();
        assert_eq!(lines, vec![3, 4, 5]);
        assert!(r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("第 3 行"));
        assert!(r.body["request_id"].as_str().is_some_and(|s| !s.is_empty()));
        let r = t
            .req(
                Method::POST,
                "/api/v1/calendars",
                Some(&manager),
                Some(bad),
                &[("accept-language", "en")],
            )
            .await;
        assert!(r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 3: `2025-13-01` is not a date"));
        assert_eq!(t.audit_count().await, before);

        // Office hours with an imported holiday.
        let r = t
            .post(
                "/api/v1/calendars",
                &manager,
                json!({"name": "沈阳分公司", "base": "office", "import": {"format": "csv",
                "text": "date,kind,name\n2025-12-01,holiday,厂庆\n"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let sy = r.body["id"].as_str().unwrap().to_string();
        assert_eq!(
            (
                r.body["holidays"].as_u64(),
                r.body["days"][0]["name"].as_str()
            ),
            (Some(1), Some("厂庆"))
        );
        // Import iCalendar: merged.
        let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20251001\r\nDTEND;VALUE=DATE:20251004\r\nSUMMARY:国庆节(休)\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20250928\r\nSUMMARY:国庆节(班)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let r = t
            .post(
                &format!("/api/v1/calendars/{sy}/import"),
                &manager,
                json!({"format": "ics", "text": ics}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            (
                r.body["holidays"].as_u64(),
                r.body["makeup_workdays"].as_u64()
            ),
            (Some(4), Some(1))
        );
        let r = t
            .post(
                &format!("/api/v1/calendars/{sy}/import"),
                &manager,
                json!({"format": "ics", "text": "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20251001T090000\nEND:VEVENT\nEND:VCALENDAR\n"}),
            )
            .await;
        assert_eq!(
            (
                r.status,
                r.body["code"].as_str(),
                r.body["errors"][0]["line"].as_i64()
            ),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("import_failed"),
                Some(3)
            )
        );
        let r = t
            .post(
                &format!("/api/v1/calendars/{sy}/import"),
                &manager,
                json!({"format": "xlsx", "text": ""}),
            )
            .await;
        assert_eq!(r.body["field"], "format");
        let r = t
            .post(
                &format!("/api/v1/calendars/{sy}/import"),
                &agent,
                json!({"format": "csv", "text": "date,kind,name\n"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        // Change hours and name; bad hours are refused.
        let r = t
            .patch(
                &format!("/api/v1/calendars/{sy}"),
                &manager,
                json!({"name": "沈阳分公司日历", "week": [["08:30-17:30"], ["08:30-17:30"], ["08:30-17:30"], ["08:30-17:30"], ["08:30-17:30"], [], []]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["week"][4], json!(["08:30-17:30"]));
        let r = t
            .patch(
                &format!("/api/v1/calendars/{sy}"),
                &manager,
                json!({"week": [["09:00-12:00", "11:00-13:00"], [], [], [], [], [], []]}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("week"))
        );
        let r = t
            .patch(
                &format!("/api/v1/calendars/{sy}"),
                &manager,
                json!({"week": [[], [], [], [], [], [], []], "days": []}),
            )
            .await;
        assert_eq!(r.body["field"], "week", "a calendar needs working time");
        let r = t
            .post(
                "/api/v1/calendars",
                &manager,
                json!({"name": "沈阳分公司日历"}),
            )
            .await;
        assert_eq!(r.body["code"], "name_taken");

        // A 24×7 calendar and an urgent policy on it, made the default.
        let r = t
            .post(
                "/api/v1/calendars",
                &t.admin,
                json!({"name": "7×24", "base": "always"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["week"][6], json!(["00:00-24:00"]));
        let always = r.body["id"].as_str().unwrap().to_string();
        let policy = json!({"name": "加急", "calendar_id": always,
            "p1_response_minutes": 5, "p1_resolution_minutes": 60,
            "p2_response_minutes": 10, "p2_resolution_minutes": 120,
            "p3_response_minutes": 30, "p3_resolution_minutes": 480,
            "p4_response_minutes": 60, "p4_resolution_minutes": 960, "is_default": true});
        assert_eq!(
            t.post("/api/v1/sla-policies", &agent, policy.clone())
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let mut bad = policy.clone();
        bad["p2_response_minutes"] = json!(121);
        let r = t.post("/api/v1/sla-policies", &manager, bad).await;
        assert_eq!(r.body["field"], "p2_response_minutes");
        let r = t.post("/api/v1/sla-policies", &manager, policy).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let urgent = r.body["id"].as_str().unwrap().to_string();
        let list = t.get("/api/v1/sla-policies", &auditor).await.body;
        let defaults: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["is_default"] == true)
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(defaults, vec!["加急"]);
        // New tickets get it: on 24×7, P1 is due an hour after creation.
        let tk = submit(&t, &t.admin, incident(1, "x")).await;
        assert_eq!(tk["sla_policy_id"].as_str(), Some(urgent.as_str()));
        assert_eq!(time(&tk["resolution_due_at"]), cst(2025, 9, 30, 17, 0));
        // The default cannot be switched off, only moved to another policy.
        let r = t
            .patch(
                &format!("/api/v1/sla-policies/{urgent}"),
                &manager,
                json!({"is_default": false}),
            )
            .await;
        assert_eq!(r.body["field"], "is_default");
        let standard = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "标准 SLA")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = t
            .patch(
                &format!("/api/v1/sla-policies/{standard}"),
                &manager,
                json!({"is_default": true, "p1_resolution_minutes": 300}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["p1_resolution_minutes"], 300);
        let r = t
            .patch(
                &format!("/api/v1/sla-policies/{standard}"),
                &manager,
                json!({"calendar_id": uuid::Uuid::now_v7()}),
            )
            .await;
        assert_eq!(r.body["code"], "invalid_reference");
        clock.set(cst(2025, 12, 2, 9, 0));
        let tk = submit(&t, &t.admin, incident(1, "y")).await;
        assert_eq!(tk["sla_policy_id"].as_str(), Some(standard.as_str()));
        assert_eq!(time(&tk["resolution_due_at"]), cst(2025, 12, 2, 15, 0));
        assert_eq!(
            t.patch(
                &format!("/api/v1/sla-policies/{}", uuid::Uuid::now_v7()),
                &manager,
                json!({"name": "x"})
            )
            .await
            .status,
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test]
async fn the_worker_warns_breaches_and_escalates() {
    // Monday 2025-12-01 09:00.
    for (t, clock) in clocked(cst(2025, 12, 1, 9, 0)).await {
        let (agent_id, agent) = t.user("zuoxi", "agent", None).await;
        let p2 = submit(&t, &t.admin, incident(2, "P2")).await["number"]
            .as_str()
            .unwrap()
            .to_string();
        let p1 = submit(&t, &t.admin, incident(1, "P1")).await["number"]
            .as_str()
            .unwrap()
            .to_string();
        let paused = submit(&t, &t.admin, incident(2, "paused")).await["number"]
            .as_str()
            .unwrap()
            .to_string();
        act(
            &t,
            &agent,
            &paused,
            json!({"action": "triage", "assignee_id": agent_id}),
        )
        .await;
        clock.set(cst(2025, 12, 1, 10, 0));
        act(
            &t,
            &agent,
            &paused,
            json!({"action": "pend", "sub_status": "waiting_vendor"}),
        )
        .await;

        // P1 is due at 14:00 (warning at 3 h: 12:00), P2 at 18:00 (warning at 6 h: 16:00).
        clock.set(cst(2025, 12, 1, 11, 59));
        assert_eq!(t.app.work_once("node-a").await.unwrap(), 0);
        clock.set(cst(2025, 12, 1, 12, 0));
        assert_eq!(t.app.work_once("node-a").await.unwrap(), 1);
        let d = ticket(&t, &t.admin, &p1).await;
        assert_eq!(time(&d["sla_warned_at"]), cst(2025, 12, 1, 12, 0));
        assert!(d["sla_breached_at"].is_null());
        assert!(kinds(&d).contains(&"sla_warning".to_string()));
        let warning = d["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "sla_warning")
            .unwrap()
            .clone();
        assert_eq!(warning["public"], false, "an internal event");
        assert_eq!(warning["actor_name"], "system");

        // 14:00 (after the lunch break): P1 breached; it cannot go above P1.
        clock.set(cst(2025, 12, 1, 13, 59));
        assert_eq!(t.app.work_once("node-a").await.unwrap(), 0);
        clock.set(cst(2025, 12, 1, 14, 0));
        assert_eq!(t.app.work_once("node-a").await.unwrap(), 1);
        let d = ticket(&t, &t.admin, &p1).await;
        assert_eq!(time(&d["sla_breached_at"]), cst(2025, 12, 1, 14, 0));
        assert_eq!(d["priority"], 1);

        clock.set(cst(2025, 12, 1, 16, 0));
        assert_eq!(t.app.work_once("node-b").await.unwrap(), 1);
        let d = ticket(&t, &t.admin, &p2).await;
        assert_eq!(time(&d["sla_warned_at"]), cst(2025, 12, 1, 16, 0));
        assert_eq!(d["priority"], 2);
        // Running again changes nothing.
        assert_eq!(t.app.work_once("node-b").await.unwrap(), 0);
        let events_before = kinds(&ticket(&t, &t.admin, &p2).await).len();

        // 18:00: P2 breached and escalated to P1, audited as the system.
        clock.set(cst(2025, 12, 1, 18, 0));
        assert_eq!(t.app.work_once("node-a").await.unwrap(), 1);
        let d = ticket(&t, &t.admin, &p2).await;
        assert_eq!(time(&d["sla_breached_at"]), cst(2025, 12, 1, 18, 0));
        assert_eq!(d["priority"], 1);
        assert!(d["priority_reason"].as_str().unwrap().contains("SLA"));
        // P1 targets now: due 14:00 the same day.
        assert_eq!(time(&d["resolution_due_at"]), cst(2025, 12, 1, 14, 0));
        assert_eq!(kinds(&d).len(), events_before + 1);
        let breach = d["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "sla_breach")
            .unwrap()
            .clone();
        let data: Value = serde_json::from_str(breach["data_json"].as_str().unwrap()).unwrap();
        assert_eq!(
            (data["priority_from"].as_i64(), data["priority_to"].as_i64()),
            (Some(2), Some(1))
        );
        let audit = t.get("/api/v1/audit?action=sla_breach", &t.admin).await;
        assert_eq!(audit.status, StatusCode::OK, "{}", audit.text);
        let items = audit.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{}", audit.text);
        assert!(items.iter().all(|e| e["actor_name"] == "system"));
        assert!(items.iter().any(|e| e["entity_id"] == p2.as_str()));
        let v = t.get("/api/v1/audit/verify", &t.admin).await;
        assert_eq!(v.body["intact"], true, "{}", v.text);
        // Idempotent from here on.
        assert_eq!(t.app.work_once("node-a").await.unwrap(), 0);
        clock.set(cst(2025, 12, 8, 18, 0));
        assert_eq!(t.app.work_once("node-a").await.unwrap(), 0);

        // The ticket waiting for a vendor neither warned nor breached.
        let d = ticket(&t, &t.admin, &paused).await;
        assert!(d["sla_warned_at"].is_null() && d["sla_breached_at"].is_null());
        assert!(d["resolution_due_at"].is_null());
        // Resumed on Tuesday 12-09 09:00 with 7 business hours left: due 17:00.
        clock.set(cst(2025, 12, 9, 9, 0));
        let r = act(&t, &agent, &paused, json!({"action": "resume"})).await;
        assert_eq!(time(&r["resolution_due_at"]), cst(2025, 12, 9, 17, 0));
        clock.set(cst(2025, 12, 9, 17, 0));
        // Warning (at 15:00, 6 h) and breach (17:00) are both due now.
        assert_eq!(t.app.work_once("node-a").await.unwrap(), 2);
        let d = ticket(&t, &t.admin, &paused).await;
        assert_eq!(time(&d["sla_breached_at"]), cst(2025, 12, 9, 17, 0));
        assert_eq!(time(&d["sla_warned_at"]), cst(2025, 12, 9, 17, 0));
        assert_eq!(d["priority"], 1);
    }
}

#[tokio::test]
async fn silent_requesters_confirm_after_three_business_days() {
    // Monday 2025-12-01 09:00.
    for (t, clock) in clocked(cst(2025, 12, 1, 9, 0)).await {
        let org = t.org("甲单位").await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        let (agent_id, agent) = t.user("zuoxi", "agent", None).await;
        let mut numbers = Vec::new();
        for subject in ["打印机", "邮箱"] {
            let tk = submit(
                &t,
                &customer,
                json!({"kind": "incident", "subject": subject, "description": "坏了"}),
            )
            .await;
            let n = tk["number"].as_str().unwrap().to_string();
            act(&t, &agent, &n, json!({"action": "triage", "criticality": "general", "breadth": "one_department", "urgency": "medium", "assignee_id": agent_id})).await;
            act(&t, &agent, &n, json!({"action": "start"})).await;
            numbers.push(n);
        }
        clock.set(cst(2025, 12, 1, 10, 0));
        for n in &numbers {
            act(
                &t,
                &agent,
                n,
                json!({"action": "resolve", "resolution": "已处理"}),
            )
            .await;
        }
        // The requester rejects the second one on Tuesday; it is resolved again on Friday.
        clock.set(cst(2025, 12, 2, 10, 0));
        act(
            &t,
            &customer,
            &numbers[1],
            json!({"action": "reject", "note": "仍然无法收信"}),
        )
        .await;
        clock.set(cst(2025, 12, 5, 10, 0));
        act(
            &t,
            &agent,
            &numbers[1],
            json!({"action": "resolve", "resolution": "已重建邮箱"}),
        )
        .await;

        // Resolved Monday: Tuesday, Wednesday, Thursday — closed at Thursday 18:00.
        clock.set(cst(2025, 12, 4, 17, 59));
        t.app.work_once("node-a").await.unwrap();
        assert_eq!(
            ticket(&t, &customer, &numbers[0]).await["status"],
            "resolved"
        );
        clock.set(cst(2025, 12, 4, 18, 0));
        assert_eq!(t.app.work_once("node-a").await.unwrap(), 1);
        let d = ticket(&t, &customer, &numbers[0]).await;
        assert_eq!(
            (
                d["status"].as_str(),
                d["auto_confirmed"].as_bool(),
                d["closed_at"].as_str().map(|_| time(&d["closed_at"]))
            ),
            (Some("closed"), Some(true), Some(cst(2025, 12, 4, 18, 0)))
        );
        assert_eq!(
            kinds(&d).last().map(String::as_str),
            Some("auto_confirm"),
            "the customer sees it"
        );
        // The requester may still rate it.
        let r = t
            .post(
                &format!("/api/v1/tickets/{}/satisfaction", numbers[0]),
                &customer,
                json!({"score": 4}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let audit = t.get("/api/v1/audit?action=auto_confirm", &t.admin).await;
        assert_eq!(audit.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(audit.body["items"][0]["actor_name"], "system");

        // The second, resolved again on Friday: Monday, Tuesday, Wednesday 12-10 18:00.
        assert_eq!(
            ticket(&t, &customer, &numbers[1]).await["status"],
            "resolved"
        );
        clock.set(cst(2025, 12, 10, 17, 0));
        t.app.work_once("node-a").await.unwrap();
        assert_eq!(
            ticket(&t, &customer, &numbers[1]).await["status"],
            "resolved"
        );
        clock.set(cst(2025, 12, 10, 18, 0));
        assert_eq!(t.app.work_once("node-a").await.unwrap(), 1);
        let d = ticket(&t, &customer, &numbers[1]).await;
        assert_eq!(d["status"], "closed");
        assert_eq!(d["auto_confirmed"], true);
        // Nothing left to do.
        clock.set(cst(2026, 1, 31, 18, 0));
        assert_eq!(t.app.work_once("node-a").await.unwrap(), 0);
        assert!(yunwei_store::jobs::pending(&t.app.db)
            .await
            .unwrap()
            .is_empty());
    }
}
