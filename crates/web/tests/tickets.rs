//! Service-desk tickets through the API, on SQLite and PostgreSQL: the flow, every
//! refusal, organization isolation, numbering.

mod common;

use axum::http::{Method, StatusCode};
use common::TestApp;
use serde_json::{json, Value};

async fn submit(t: &TestApp, token: &str, body: Value) -> Value {
    let r = t.post("/api/v1/tickets", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {}", t.name, r.text);
    r.body
}

async fn act(t: &TestApp, token: &str, number: &str, body: Value) -> common::Resp {
    t.post(
        &format!("/api/v1/tickets/{number}/transitions"),
        token,
        body,
    )
    .await
}

fn is_number(s: &str) -> bool {
    yunwei_domain::ticket::is_number(s)
}

#[tokio::test]
async fn the_whole_flow_of_r_7_3() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        let (agent_id, agent) = t.user("zuoxi", "agent", None).await;
        let team = t
            .post("/api/v1/teams", &t.admin, json!({"name": "桌面组"}))
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_string();

        // The customer submits; organization, requester and channel come from the caller.
        let tk = submit(&t, &customer, json!({"kind": "incident", "subject": "打印机无法打印", "description": "三楼财务室打印机卡纸，无法打印报表"})).await;
        let n = tk["number"].as_str().unwrap().to_string();
        assert!(is_number(&n) && n.starts_with("INC-"), "{n}");
        assert_eq!(
            (
                tk["status"].as_str(),
                tk["channel"].as_str(),
                tk["org_id"].as_str()
            ),
            (Some("new"), Some("portal"), Some(org.to_string().as_str()))
        );
        assert!(tk["priority"].is_null());

        // The agent cannot resolve before classifying and prioritising.
        let r = act(
            &t,
            &agent,
            &n,
            json!({"action": "resolve", "resolution": "x"}),
        )
        .await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::CONFLICT, Some("invalid_transition")),
            "{}",
            t.name
        );
        let r = act(&t, &agent, &n, json!({"action": "triage", "team_id": team})).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("urgency"))
        );
        let r = act(&t, &agent, &n, json!({"action": "triage", "criticality": "critical", "breadth": "one_department", "urgency": "high"})).await;
        assert_eq!(
            r.body["field"], "assignee_id",
            "triage needs a team or an assignee"
        );
        let r = act(&t, &agent, &n, json!({"action": "triage", "criticality": "critical", "breadth": "one_department", "urgency": "high", "team_id": team, "assignee_id": agent_id, "category": "终端"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            (r.body["status"].as_str(), r.body["priority"].as_i64()),
            (Some("assigned"), Some(2)),
            "critical × one department = medium impact; × high urgency = P2"
        );
        assert!(r.body["first_response_at"].is_string());
        // The customer cannot work the ticket.
        let r = act(&t, &customer, &n, json!({"action": "start"})).await;
        assert_eq!(r.body["code"], "forbidden");
        assert_eq!(
            act(&t, &agent, &n, json!({"action": "start"})).await.body["status"],
            "in_progress"
        );
        let r = act(
            &t,
            &agent,
            &n,
            json!({"action": "pend", "sub_status": "waiting_for_godot"}),
        )
        .await;
        assert_eq!(r.body["field"], "sub_status");
        let r = act(
            &t,
            &agent,
            &n,
            json!({"action": "pend", "sub_status": "waiting_vendor", "note": "等待厂商配件"}),
        )
        .await;
        assert_eq!(
            (r.body["status"].as_str(), r.body["sub_status"].as_str()),
            (Some("pending"), Some("waiting_vendor"))
        );
        assert_eq!(
            act(&t, &agent, &n, json!({"action": "resume"})).await.body["status"],
            "in_progress"
        );
        let r = act(&t, &agent, &n, json!({"action": "resolve"})).await;
        assert_eq!(r.body["field"], "resolution");
        let r = act(
            &t,
            &agent,
            &n,
            json!({"action": "resolve", "resolution": "更换搓纸轮"}),
        )
        .await;
        assert_eq!(r.body["status"], "resolved");
        // Only the user confirms; staff cannot confirm for them.
        assert_eq!(
            act(&t, &agent, &n, json!({"action": "confirm"})).await.body["code"],
            "forbidden"
        );
        // The user rejects (a reason is required) → reopened.
        assert_eq!(
            act(&t, &customer, &n, json!({"action": "reject"}))
                .await
                .body["field"],
            "note"
        );
        let r = act(
            &t,
            &customer,
            &n,
            json!({"action": "reject", "note": "还是卡纸"}),
        )
        .await;
        assert_eq!(
            (r.body["status"].as_str(), r.body["reopen_count"].as_i64()),
            (Some("in_progress"), Some(1))
        );
        act(
            &t,
            &agent,
            &n,
            json!({"action": "resolve", "resolution": "更换整个进纸组件"}),
        )
        .await;
        // Rating before closing is refused; confirm, then rate once.
        assert_eq!(
            t.post(
                &format!("/api/v1/tickets/{n}/satisfaction"),
                &customer,
                json!({"score": 5})
            )
            .await
            .body["code"],
            "invalid_transition"
        );
        let r = act(
            &t,
            &customer,
            &n,
            json!({"action": "confirm", "note": "好了"}),
        )
        .await;
        assert_eq!(
            (
                r.body["status"].as_str(),
                r.body["auto_confirmed"].as_bool()
            ),
            (Some("closed"), Some(false))
        );
        assert_eq!(
            t.post(
                &format!("/api/v1/tickets/{n}/satisfaction"),
                &customer,
                json!({"score": 6})
            )
            .await
            .body["field"],
            "score"
        );
        assert_eq!(
            t.post(
                &format!("/api/v1/tickets/{n}/satisfaction"),
                &agent,
                json!({"score": 5})
            )
            .await
            .body["code"],
            "forbidden"
        );
        let r = t
            .post(
                &format!("/api/v1/tickets/{n}/satisfaction"),
                &customer,
                json!({"score": 4, "comment": "响应及时"}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["satisfaction"].as_i64()),
            (StatusCode::OK, Some(4))
        );
        assert_eq!(
            t.post(
                &format!("/api/v1/tickets/{n}/satisfaction"),
                &customer,
                json!({"score": 5})
            )
            .await
            .status,
            StatusCode::CONFLICT
        );
        // Nothing leaves closed.
        for a in [
            "triage", "start", "pend", "resume", "resolve", "confirm", "reject", "cancel",
        ] {
            let r = act(
                &t,
                &agent,
                &n,
                json!({"action": a, "note": "x", "resolution": "x"}),
            )
            .await;
            assert!(
                r.status == StatusCode::CONFLICT || r.status == StatusCode::FORBIDDEN,
                "{a}: {}",
                r.text
            );
        }
        assert_eq!(
            act(&t, &agent, &n, json!({"action": "auto_confirm"}))
                .await
                .body["field"],
            "action",
            "the system's step is not for callers"
        );
        // Every step is on the timeline, in order.
        let d = t.get(&format!("/api/v1/tickets/{n}"), &customer).await.body;
        let kinds: Vec<&str> = d["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "created",
                "triage",
                "start",
                "pend",
                "resume",
                "resolve",
                "reject",
                "resolve",
                "confirm",
                "satisfaction"
            ],
            "{}",
            t.name
        );
        // And in the audit log.
        let a = t
            .get(
                &format!("/api/v1/audit?entity=ticket&entity_id={n}&limit=50"),
                &t.admin,
            )
            .await;
        assert_eq!(a.body["items"].as_array().unwrap().len(), 10);
    }
}

#[tokio::test]
async fn other_organizations_tickets_do_not_exist_for_customers() {
    for t in TestApp::all().await {
        let a = t.org("甲单位").await;
        let b = t.org("乙单位").await;
        let (_, ca) = t.user("kehu.a", "customer", Some(a)).await;
        let (_, cb) = t.user("kehu.b", "customer", Some(b)).await;
        let (_, agent) = t.user("zuoxi", "agent", None).await;
        let mine = submit(
            &t,
            &ca,
            json!({"kind": "request", "subject": "申请开通 VPN 账号", "description": "新员工入职"}),
        )
        .await;
        let theirs = submit(
            &t,
            &cb,
            json!({"kind": "request", "subject": "申请开通 VPN 账号", "description": "乙单位"}),
        )
        .await;
        let theirs_n = theirs["number"].as_str().unwrap();
        let missing = "REQ-2020-999999";
        // A number typed loosely finds the same ticket, and only within the caller's scope.
        let loose = |n: &str| {
            let (head, seq) = n.rsplit_once('-').unwrap();
            format!("{}-{}", head.to_lowercase(), seq.trim_start_matches('0'))
        };
        let mine_n = mine["number"].as_str().unwrap();
        let r = t
            .get(&format!("/api/v1/tickets/{}", loose(mine_n)), &ca)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", loose(mine_n));
        assert_eq!(r.body["number"], mine_n);
        let r = t
            .get(&format!("/api/v1/tickets/{}", loose(theirs_n)), &ca)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        for path in [
            format!("/api/v1/tickets/{theirs_n}"),
            format!("/api/v1/tickets/{missing}"),
        ] {
            let r = t.get(&path, &ca).await;
            assert_eq!(
                (r.status, r.body["code"].as_str()),
                (StatusCode::NOT_FOUND, Some("not_found")),
                "{path}"
            );
        }
        for (path, body) in [
            (
                format!("/api/v1/tickets/{theirs_n}/comments"),
                json!({"body": "偷看"}),
            ),
            (
                format!("/api/v1/tickets/{theirs_n}/transitions"),
                json!({"action": "cancel"}),
            ),
            (
                format!("/api/v1/tickets/{theirs_n}/satisfaction"),
                json!({"score": 1}),
            ),
        ] {
            assert_eq!(
                t.post(&path, &ca, body).await.status,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        let list = t.get("/api/v1/tickets?q=VPN", &ca).await;
        let numbers: Vec<&str> = list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["number"].as_str().unwrap())
            .collect();
        assert_eq!(
            numbers,
            vec![mine["number"].as_str().unwrap()],
            "{}",
            t.name
        );
        assert_eq!(
            t.get(&format!("/api/v1/tickets?organization={b}"), &ca)
                .await
                .body["items"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            t.get("/api/v1/tickets?q=VPN", &agent).await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        // A customer cannot file for another organization or requester.
        let r = t
            .post(
                "/api/v1/tickets",
                &ca,
                json!({"kind": "request", "subject": "x", "description": "y", "org_id": b}),
            )
            .await;
        assert_eq!(r.body["code"], "invalid_reference");
        // Internal notes stay internal.
        let n = mine["number"].as_str().unwrap();
        assert_eq!(
            t.post(
                &format!("/api/v1/tickets/{n}/comments"),
                &agent,
                json!({"body": "内部：该用户上周也报过", "internal": true})
            )
            .await
            .status,
            StatusCode::CREATED
        );
        assert_eq!(
            t.post(
                &format!("/api/v1/tickets/{n}/comments"),
                &ca,
                json!({"body": "请尽快", "internal": true})
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            t.post(
                &format!("/api/v1/tickets/{n}/comments"),
                &ca,
                json!({"body": "请尽快"})
            )
            .await
            .status,
            StatusCode::CREATED
        );
        let seen = t.get(&format!("/api/v1/tickets/{n}"), &ca).await;
        assert!(
            !seen.text.contains("上周也报过") && seen.text.contains("请尽快"),
            "{}",
            t.name
        );
        assert!(t
            .get(&format!("/api/v1/tickets/{n}"), &agent)
            .await
            .text
            .contains("上周也报过"));
    }
}

#[tokio::test]
async fn submission_defaults_and_refusals() {
    for t in TestApp::all().await {
        let (_, auditor) = t.user("shenji", "auditor", None).await;
        let (_, engineer) = t.user("gcs", "engineer", None).await;
        let me = t.get("/api/v1/me", &t.admin).await.body;
        let tk = submit(&t, &t.admin, json!({"kind": "suggestion", "subject": "建议增加夜间值班", "description": "节假日夜间无人响应"})).await;
        assert_eq!(
            (
                tk["org_id"].clone(),
                tk["requester_id"].clone(),
                tk["channel"].as_str()
            ),
            (me["org_id"].clone(), me["id"].clone(), Some("api"))
        );
        assert!(tk["number"].as_str().unwrap().starts_with("SUG-"));
        for (body, field) in [
            (
                json!({"kind": "bug", "subject": "s", "description": "d"}),
                "kind",
            ),
            (
                json!({"kind": "incident", "subject": "", "description": "d"}),
                "subject",
            ),
            (
                json!({"kind": "incident", "subject": "s", "description": "  "}),
                "description",
            ),
            (
                json!({"kind": "incident", "subject": "s", "description": "d", "urgency": "yesterday"}),
                "urgency",
            ),
            (
                json!({"kind": "incident", "subject": "s", "description": "d", "channel": "pigeon"}),
                "channel",
            ),
            (
                json!({"kind": "incident", "subject": "s", "description": "d", "parent": "INC-2020-999999"}),
                "parent",
            ),
        ] {
            let r = t.post("/api/v1/tickets", &t.admin, body.clone()).await;
            assert_eq!(
                (r.status, r.body["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
                "{body}: {}",
                r.text
            );
        }
        let r = t.post("/api/v1/tickets", &t.admin, json!({"kind": "incident", "subject": "s", "description": "d", "number": "INC-2026-000001"})).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "server-owned fields cannot be set"
        );
        assert_eq!(
            t.post(
                "/api/v1/tickets",
                &auditor,
                json!({"kind": "incident", "subject": "s", "description": "d"})
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            t.get(
                &format!("/api/v1/tickets/{}", tk["number"].as_str().unwrap()),
                &auditor
            )
            .await
            .status,
            StatusCode::OK
        );
        assert_eq!(
            t.get("/api/v1/tickets/not-a-number", &t.admin).await.status,
            StatusCode::NOT_FOUND
        );
        // Priority override: a reason is required; engineers may not.
        let n = tk["number"].as_str().unwrap();
        let path = format!("/api/v1/tickets/{n}/priority");
        assert_eq!(
            t.req(
                Method::PUT,
                &path,
                Some(&engineer),
                Some(json!({"priority": 1, "reason": "x"})),
                &[]
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            t.req(
                Method::PUT,
                &path,
                Some(&t.admin),
                Some(json!({"priority": 1, "reason": " "})),
                &[]
            )
            .await
            .body["field"],
            "reason"
        );
        assert_eq!(
            t.req(
                Method::PUT,
                &path,
                Some(&t.admin),
                Some(json!({"priority": 0, "reason": "x"})),
                &[]
            )
            .await
            .body["field"],
            "priority"
        );
        let r = t
            .req(
                Method::PUT,
                &path,
                Some(&t.admin),
                Some(json!({"priority": 1, "reason": "领导关注"})),
                &[],
            )
            .await;
        assert_eq!(
            (
                r.body["priority"].as_i64(),
                r.body["priority_reason"].as_str()
            ),
            (Some(1), Some("领导关注"))
        );
        // Sub-tasks stay in the parent's organization and roll up into it.
        let child = submit(&t, &engineer, json!({"kind": "request", "subject": "子任务：网络组检查交换机", "description": "d", "parent": n})).await;
        assert_eq!(child["org_id"], tk["org_id"]);
        let d = t.get(&format!("/api/v1/tickets/{n}"), &t.admin).await.body;
        assert_eq!(d["children"][0]["number"], child["number"]);
    }
}

#[tokio::test]
async fn queue_filters_and_search() {
    for t in TestApp::all().await {
        let (_, agent) = t.user("zuoxi", "agent", None).await;
        let mut numbers = Vec::new();
        for (subject, urgency) in [
            ("邮件系统无法登录", "low"),
            ("核心业务系统宕机", "high"),
            ("打印机缺墨", "medium"),
        ] {
            let tk = submit(&t, &agent, json!({"kind": "incident", "subject": subject, "description": "详情", "criticality": "critical", "breadth": "whole_organization", "urgency": urgency})).await;
            numbers.push(tk["number"].as_str().unwrap().to_string());
        }
        submit(
            &t,
            &agent,
            json!({"kind": "request", "subject": "申请新电脑", "description": "无优先级"}),
        )
        .await;
        let q = t.get("/api/v1/tickets?sort=queue&open=true", &agent).await;
        let subjects: Vec<&str> = q.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["subject"].as_str().unwrap())
            .collect();
        assert_eq!(
            subjects,
            [
                "申请新电脑",
                "核心业务系统宕机",
                "打印机缺墨",
                "邮件系统无法登录"
            ],
            "{}: unprioritised first, then P1…",
            t.name
        );
        let r = t.get("/api/v1/tickets?q=系统", &agent).await;
        assert_eq!(
            r.body["items"].as_array().unwrap().len(),
            2,
            "Chinese substring search"
        );
        assert_eq!(
            t.get("/api/v1/tickets?priority=1", &agent).await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            t.get("/api/v1/tickets?kind=request", &agent).await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            t.get(&format!("/api/v1/tickets?q={}", numbers[1]), &agent)
                .await
                .body["items"][0]["subject"],
            "核心业务系统宕机"
        );
        // Paging: newest first by cursor, queue by offset.
        let p1 = t.get("/api/v1/tickets?limit=3", &agent).await.body;
        let c = p1["next_cursor"].as_str().unwrap();
        let p2 = t
            .get(&format!("/api/v1/tickets?limit=3&cursor={c}"), &agent)
            .await
            .body;
        assert_eq!(
            (
                p1["items"].as_array().unwrap().len(),
                p2["items"].as_array().unwrap().len()
            ),
            (3, 1)
        );
        let q1 = t
            .get("/api/v1/tickets?sort=queue&limit=2", &agent)
            .await
            .body;
        let q2 = t
            .get(
                &format!(
                    "/api/v1/tickets?sort=queue&limit=2&cursor={}",
                    q1["next_cursor"].as_str().unwrap()
                ),
                &agent,
            )
            .await
            .body;
        assert_eq!(q2["items"][0]["subject"], "打印机缺墨");
        for bad in [
            "status=open",
            "priority=9",
            "kind=bug",
            "sort=random",
            "cursor=zzz",
            "limit=0",
        ] {
            assert_eq!(
                t.get(&format!("/api/v1/tickets?{bad}"), &agent)
                    .await
                    .status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{bad}"
            );
        }
    }
}

#[tokio::test]
async fn numbers_never_repeat_under_concurrency() {
    for t in TestApp::all().await {
        let (_, agent) = t.user("zuoxi", "agent", None).await;
        let mut tasks = Vec::new();
        for i in 0..40 {
            let router = t.router.clone();
            let token = agent.clone();
            tasks.push(tokio::spawn(async move {
                use tower::ServiceExt;
                let req = axum::http::Request::post("/api/v1/tickets")
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(json!({"kind": if i % 2 == 0 { "incident" } else { "request" }, "subject": format!("并发 {i}"), "description": "d"}).to_string()))
                    .unwrap();
                let res = router.oneshot(req).await.unwrap();
                assert_eq!(res.status(), StatusCode::CREATED);
                let b = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
                serde_json::from_slice::<Value>(&b).unwrap()["number"].as_str().unwrap().to_string()
            }));
        }
        let mut numbers = Vec::new();
        for task in tasks {
            numbers.push(task.await.unwrap());
        }
        let mut unique = numbers.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 40, "{}", t.name);
        let incs: Vec<&String> = unique.iter().filter(|n| n.starts_with("INC-")).collect();
        assert_eq!(incs.len(), 20);
        assert!(incs.last().unwrap().ends_with("-000020"), "{incs:?}");
    }
}
