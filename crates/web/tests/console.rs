//! The agent console on SQLite and PostgreSQL: saved views, queue views, bulk actions (API and
//! UI), and the administration pages for calendars, SLA policies, notification channels,
//! preferences and the inbox.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{enc, session_cookie, TestApp};
use serde_json::{json, Value};

async fn submit(t: &TestApp, token: &str, subject: &str) -> String {
    let r = t
        .post(
            "/api/v1/tickets",
            token,
            json!({"kind": "incident", "subject": subject, "description": "详细描述"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {}", t.name, r.text);
    r.body["number"].as_str().unwrap().to_string()
}

async fn triage(t: &TestApp, token: &str, n: &str, urgency: &str, body: Value) {
    let mut b = json!({"action": "triage", "criticality": "general", "breadth": "one_department", "urgency": urgency});
    for (k, v) in body.as_object().unwrap() {
        b[k] = v.clone();
    }
    let r = t
        .post(&format!("/api/v1/tickets/{n}/transitions"), token, b)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.name, r.text);
}

async fn team_with(t: &TestApp, name: &str, members: &[uuid::Uuid]) -> String {
    let r = t
        .post("/api/v1/teams", &t.admin, json!({ "name": name }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    for m in members {
        let r = t
            .req(
                Method::PUT,
                &format!("/api/v1/teams/{id}/members/{m}"),
                Some(&t.admin),
                None,
                &[],
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text);
    }
    id
}

async fn del(t: &TestApp, token: &str, id: &str) -> StatusCode {
    t.req(
        Method::DELETE,
        &format!("/api/v1/views/{id}"),
        Some(token),
        None,
        &[],
    )
    .await
    .status
}

fn numbers(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn saved_views_are_private_or_shared_with_a_team() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let (a_id, a) = t.user("zuoxi", "agent", None).await;
        let (b_id, b) = t.user("gongchengshi", "engineer", None).await;
        let (_, c) = t.user("jingli", "manager", None).await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        let team = team_with(&t, "桌面组", &[a_id, b_id]).await;
        let before = t.audit_count().await;

        let filters =
            json!({"status": "new", "priority": 2, "q": "打印机", "sort": "queue", "view": "open"});
        let r = t
            .post(
                "/api/v1/views",
                &a,
                json!({"name": "我的新工单", "filters": filters}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}: {}", t.name, r.text);
        assert_eq!(r.body["filters"]["q"], "打印机");
        assert_eq!(r.body["own"], true);
        assert!(r.body["team_id"].is_null());
        let private = r.body["id"].as_str().unwrap().to_string();
        let r = t
            .post(
                "/api/v1/views",
                &a,
                json!({"name": "组内 P1", "filters": {"priority": 1}, "team_id": team}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let shared = r.body["id"].as_str().unwrap().to_string();
        assert_eq!(t.audit_count().await, before + 2, "each save is audited");

        // Refusals: same name again, bad filters, a team the caller is not in, unknown field.
        let r = t
            .post(
                "/api/v1/views",
                &a,
                json!({"name": "我的新工单", "filters": {}}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::CONFLICT, Some("name_taken"))
        );
        for (body, field) in [
            (
                json!({"name": "x", "filters": {"status": "nope"}}),
                "filters.status",
            ),
            (
                json!({"name": "x", "filters": {"priority": 9}}),
                "filters.priority",
            ),
            (
                json!({"name": "x", "filters": {"view": "all"}}),
                "filters.view",
            ),
            (json!({"name": " ", "filters": {}}), "name"),
        ] {
            let r = t.post("/api/v1/views", &a, body).await;
            assert_eq!(
                (r.status, r.body["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
                "{}",
                r.text
            );
        }
        let r = t
            .post(
                "/api/v1/views",
                &c,
                json!({"name": "x", "filters": {}, "team_id": team}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_reference"))
        );
        let r = t
            .post(
                "/api/v1/views",
                &customer,
                json!({"name": "x", "filters": {}, "team_id": team}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

        // The owner sees both; the teammate the shared one; the outsider none.
        let names = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x["name"].as_str().unwrap().to_string())
                .collect()
        };
        let mut own = names(&t.get("/api/v1/views", &a).await.body);
        own.sort();
        assert_eq!(own, vec!["我的新工单".to_string(), "组内 P1".to_string()]);
        let teammate = t.get("/api/v1/views", &b).await.body;
        assert_eq!(names(&teammate), vec!["组内 P1".to_string()]);
        assert_eq!(teammate[0]["own"], false);
        assert!(t
            .get("/api/v1/views", &c)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty());

        // Deleting: the teammate may not (403), the outsider sees nothing to delete (404).
        assert_eq!(del(&t, &b, &shared).await, StatusCode::FORBIDDEN);
        assert_eq!(del(&t, &c, &shared).await, StatusCode::NOT_FOUND);
        assert_eq!(del(&t, &b, &private).await, StatusCode::NOT_FOUND);
        assert_eq!(del(&t, &a, &shared).await, StatusCode::NO_CONTENT);
        assert_eq!(del(&t, &a, &shared).await, StatusCode::NOT_FOUND);
        assert!(t
            .get("/api/v1/views", &b)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty());
        assert_eq!(
            t.get("/api/v1/views", &a)
                .await
                .body
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn queue_views_order_by_priority_then_deadline() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let other = t.org("乙单位").await;
        let (a_id, a) = t.user("zuoxi", "agent", None).await;
        let (e_id, _) = t.user("gongchengshi", "engineer", None).await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        let (_, outsider) = t.user("waibu", "customer", Some(other)).await;
        let team = team_with(&t, "网络组", &[a_id]).await;
        let other_team = team_with(&t, "机房组", &[e_id]).await;

        let unprioritised = submit(&t, &customer, "未定级").await;
        let low_mine = submit(&t, &customer, "低优先级-我的").await;
        let high_mine = submit(&t, &customer, "高优先级-我的").await;
        let team_only = submit(&t, &customer, "只给了团队").await;
        let elsewhere = submit(&t, &outsider, "其他单位").await;
        triage(&t, &a, &low_mine, "low", json!({"assignee_id": a_id})).await;
        triage(&t, &a, &high_mine, "high", json!({"assignee_id": a_id})).await;
        triage(&t, &a, &team_only, "medium", json!({"team_id": team})).await;
        triage(&t, &a, &elsewhere, "medium", json!({"team_id": other_team})).await;

        let q = |token: &str, view: &str| {
            let token = token.to_string();
            let view = view.to_string();
            let t = &t;
            async move { t.get(&format!("/api/v1/queue?view={view}"), &token).await }
        };
        let mine = q(&a, "mine").await;
        assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
        assert_eq!(
            numbers(&mine.body),
            vec![high_mine.clone(), low_mine.clone()]
        );
        assert_eq!(numbers(&q(&a, "team").await.body), vec![team_only.clone()]);
        assert_eq!(
            numbers(&q(&a, "unassigned").await.body),
            vec![unprioritised.clone(), team_only.clone(), elsewhere.clone()]
        );
        let open = numbers(&q(&a, "open").await.body);
        assert_eq!(open[0], unprioritised, "not yet prioritised first");
        assert_eq!(open.len(), 5);
        // P3 before P4; within P4 the earlier SLA deadline (the earlier ticket) first.
        let p = |n: &str| open.iter().position(|x| x == n).unwrap();
        assert!(p(&high_mine) < p(&low_mine));
        assert!(p(&low_mine) < p(&team_only) && p(&team_only) < p(&elsewhere));
        // Filters apply inside a view; customers only ever see their organization.
        assert_eq!(
            numbers(&t.get("/api/v1/queue?view=open&priority=1", &a).await.body).len(),
            0
        );
        let cust = numbers(&q(&customer, "open").await.body);
        assert_eq!(cust.len(), 4);
        assert!(!cust.contains(&elsewhere));
        assert!(numbers(
            &t.get(
                &format!("/api/v1/queue?view=open&organization={other}"),
                &customer
            )
            .await
            .body
        )
        .is_empty());
        // Paging by cursor.
        let first = t.get("/api/v1/queue?view=open&limit=2", &a).await.body;
        assert_eq!(numbers(&first), open[..2].to_vec());
        let cursor = first["next_cursor"].as_str().unwrap();
        let second = t
            .get(
                &format!("/api/v1/queue?view=open&limit=2&cursor={cursor}"),
                &a,
            )
            .await
            .body;
        assert_eq!(numbers(&second), open[2..4].to_vec());
        // Bad view.
        assert_eq!(
            t.get("/api/v1/queue?view=everything", &a).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}

#[tokio::test]
async fn bulk_actions_go_through_each_tickets_checks() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let (a_id, a) = t.user("zuoxi", "agent", None).await;
        let (e_id, engineer) = t.user("gongchengshi", "engineer", None).await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        let team = team_with(&t, "桌面组", &[a_id, e_id]).await;
        let n1 = submit(&t, &customer, "一").await;
        let n2 = submit(&t, &customer, "二").await;
        let n3 = submit(&t, &customer, "三").await;
        triage(&t, &a, &n1, "high", json!({"assignee_id": a_id})).await;
        triage(&t, &a, &n2, "low", json!({"team_id": team})).await;

        // Whole-input refusals change nothing.
        let before = t.audit_count().await;
        for (body, field) in [
            (
                json!({"numbers": [], "action": "assign", "team_id": team}),
                "numbers",
            ),
            (json!({"numbers": [n1], "action": "explode"}), "action"),
            (json!({"numbers": [n1], "action": "assign"}), "assignee_id"),
            (
                json!({"numbers": [n1], "action": "transition", "transition": "confirm"}),
                "transition",
            ),
            (
                json!({"numbers": [n1], "action": "priority", "priority": 1}),
                "reason",
            ),
        ] {
            let r = t.post("/api/v1/tickets/bulk", &a, body).await;
            assert_eq!(
                (r.status, r.body["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
                "{}",
                r.text
            );
        }
        let many: Vec<String> = (0..101).map(|i| format!("INC-2026-{i:06}")).collect();
        let r = t
            .post(
                "/api/v1/tickets/bulk",
                &a,
                json!({"numbers": many, "action": "assign", "team_id": team}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(t.audit_count().await, before);

        // Start work: allowed from assigned, refused from new; a missing ticket is not found.
        let r = t
            .post(
                "/api/v1/tickets/bulk",
                &a,
                json!({"numbers": [n1, n2, n3, "INC-2020-999999"], "action": "transition", "transition": "start"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            (r.body["done"].as_u64(), r.body["refused"].as_u64()),
            (Some(2), Some(2))
        );
        let items = r.body["items"].as_array().unwrap();
        assert_eq!(items[0]["status"], "in_progress");
        assert_eq!(items[2]["code"], "invalid_transition");
        assert!(items[2]["message"].as_str().unwrap().contains("状态"));
        assert_eq!(items[3]["code"], "not_found");
        assert_eq!(
            t.audit_count().await,
            before + 2,
            "one entry per ticket done"
        );

        // Assign: a new ticket is triaged (and needs its priority); others change in place.
        let r = t
            .post(
                "/api/v1/tickets/bulk",
                &a,
                json!({"numbers": [n1, n3], "action": "assign", "assignee_id": e_id, "note": "交给工程师"}),
            )
            .await;
        let items = r.body["items"].as_array().unwrap();
        assert_eq!(items[0]["ok"], true, "{}", r.text);
        assert_eq!(items[1]["code"], "validation_failed");
        let t1 = t.get(&format!("/api/v1/tickets/{n1}"), &a).await.body;
        assert_eq!(t1["assignee_id"], e_id.to_string());
        assert_eq!(t1["status"], "in_progress");
        let ev = t1["events"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (ev["kind"].as_str(), ev["body"].as_str()),
            (Some("assign"), Some("交给工程师"))
        );

        // Priority override with a reason; engineers may not override (per ticket).
        let r = t
            .post(
                "/api/v1/tickets/bulk",
                &engineer,
                json!({"numbers": [n1], "action": "priority", "priority": 1, "reason": "领导关注"}),
            )
            .await;
        assert_eq!(r.body["items"][0]["code"], "forbidden", "{}", r.text);
        let r = t
            .post(
                "/api/v1/tickets/bulk",
                &a,
                json!({"numbers": [n1, n2], "action": "priority", "priority": 1, "reason": "领导关注"}),
            )
            .await;
        assert_eq!(r.body["done"], 2, "{}", r.text);
        assert_eq!(
            t.get(&format!("/api/v1/tickets/{n2}"), &a).await.body["priority"],
            1
        );

        // A customer may cancel their own new ticket in bulk, but not assign.
        let r = t
            .post(
                "/api/v1/tickets/bulk",
                &customer,
                json!({"numbers": [n3], "action": "assign", "team_id": team}),
            )
            .await;
        assert_eq!(r.body["items"][0]["code"], "forbidden", "{}", r.text);
        let r = t
            .post(
                "/api/v1/tickets/bulk",
                &customer,
                json!({"numbers": [n3], "action": "transition", "transition": "cancel"}),
            )
            .await;
        assert_eq!(r.body["items"][0]["status"], "cancelled", "{}", r.text);
    }
}

struct Browser<'a> {
    t: &'a TestApp,
    cookie: String,
    csrf: String,
}

impl Browser<'_> {
    async fn login<'a>(t: &'a TestApp, user: &str) -> Browser<'a> {
        let r = t.login(user, "correct horse battery").await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        Browser {
            t,
            cookie: session_cookie(&r),
            csrf: r.body["csrf_token"].as_str().unwrap().to_string(),
        }
    }

    async fn get(&self, path: &str) -> common::Resp {
        self.t
            .req(Method::GET, path, None, None, &[("cookie", &self.cookie)])
            .await
    }

    async fn post(&self, path: &str, body: &str) -> common::Resp {
        self.t
            .send(
                Request::post(path)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("cookie", &self.cookie)
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await
    }
}

#[tokio::test]
async fn the_queue_page_saves_views_and_acts_in_bulk() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let (a_id, a) = t.user("zuoxi", "agent", None).await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        let team = team_with(&t, "桌面组", &[a_id]).await;
        let n1 = submit(&t, &customer, "打印机").await;
        let n2 = submit(&t, &customer, "网络").await;
        triage(&t, &a, &n1, "high", json!({"assignee_id": a_id})).await;
        let b = Browser::login(&t, "zuoxi").await;

        let page = b.get("/tickets?view=mine").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(page.text.contains(&n1) && !page.text.contains(&n2));
        for needle in [
            "id=\"queue-views\"",
            "id=\"bulk-form\"",
            "data-live=\"queue\"",
            "/assets/console.js",
            "id=\"kbd-help\"",
            "id=\"view-save\"",
        ] {
            assert!(page.text.contains(needle), "{needle}");
        }
        assert!(!page.text.contains("<script>"), "no inline script");
        let js = b.get("/assets/console.js").await;
        assert_eq!(js.status, StatusCode::OK);
        assert!(js.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        assert!(js.text.contains("EventSource"));

        // Save the current view, shared with the team; a wrong token saves nothing.
        let r = b
            .post("/tickets/views", "_csrf=wrong&name=x&view=mine")
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = b
            .post(
                "/tickets/views",
                &format!(
                    "_csrf={}&name={}&view=mine&priority=2&share_team={team}",
                    b.csrf,
                    enc("我的 P2")
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        let to = r.headers["location"].to_str().unwrap().to_string();
        assert!(
            to.contains("view=mine") && to.contains("priority=2"),
            "{to}"
        );
        let views = t.get("/api/v1/views", &a).await.body;
        assert_eq!(views[0]["name"], "我的 P2");
        assert_eq!(views[0]["team_id"], team);
        let page = b.get("/tickets").await;
        assert!(page.text.contains("我的 P2"));
        // A duplicate name shows the page again with the error.
        let r = b
            .post(
                "/tickets/views",
                &format!("_csrf={}&name={}", b.csrf, enc("我的 P2")),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert!(r.text.contains("form-error"));
        let id = views[0]["id"].as_str().unwrap();
        let r = b
            .post(
                &format!("/tickets/views/{id}/delete"),
                &format!("_csrf={}", b.csrf),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert!(t
            .get("/api/v1/views", &a)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty());

        // Bulk: start both; the new one is refused with the reason on the result page.
        let r = b
            .post(
                "/tickets/bulk",
                &format!(
                    "_csrf={}&n={n1}&n={n2}&op=transition&transition=start",
                    b.csrf
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(r.text.contains("id=\"bulk-result\""));
        assert!(r.text.contains("bulk-ok") && r.text.contains("bulk-refused"));
        assert!(
            r.text.contains("当前状态下不能执行此操作"),
            "the reason is shown"
        );
        assert_eq!(
            t.get(&format!("/api/v1/tickets/{n1}"), &a).await.body["status"],
            "in_progress"
        );
        let r = b
            .post(
                "/tickets/bulk",
                &format!("_csrf=nope&n={n2}&op=transition&transition=cancel"),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = b
            .post("/tickets/bulk", &format!("_csrf={}&op=assign", b.csrf))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn admin_pages_for_calendars_policies_channels_prefs_and_inbox() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        t.user("jingli", "manager", None).await;
        let (a_id, a) = t.user("zuoxi", "agent", None).await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        let m = Browser::login(&t, "jingli").await;
        let ag = Browser::login(&t, "zuoxi").await;
        let cu = Browser::login(&t, "kehu").await;

        // Calendars: list, create, edit hours and days, import a CSV upload.
        let page = m.get("/admin/calendars").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.text.contains("中国大陆工作日历") && page.text.contains("id=\"calendar-new\"")
        );
        assert!(ag
            .get("/admin/calendars")
            .await
            .text
            .contains("中国大陆工作日历"));
        assert!(!ag
            .get("/admin/calendars")
            .await
            .text
            .contains("id=\"calendar-new\""));
        assert_eq!(
            cu.get("/admin/calendars").await.status,
            StatusCode::FORBIDDEN
        );
        let r = m
            .post(
                "/admin/calendars",
                &format!("_csrf={}&name={}&base=office", m.csrf, enc("二线日历")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        let loc = r.headers["location"].to_str().unwrap().to_string();
        let path = loc.split('?').next().unwrap().to_string();
        let cal_id = path.rsplit('/').next().unwrap().to_string();
        let page = m.get(&loc).await;
        assert!(
            page.text.contains("09:00-12:00 13:00-18:00"),
            "{}",
            page.text
        );
        let week = "&week_mon=08:00-17:00&week_tue=09:00-18:00&week_wed=09:00-18:00&week_thu=09:00-18:00&week_fri=09:00-18:00&week_sat=&week_sun=";
        let days = enc("2030-10-01,holiday,国庆节\n2030-10-12,workday,调休");
        let r = m
            .post(
                &path,
                &format!("_csrf={}&name={}&utc_offset_minutes=480&makeup_hours_from=mon{week}&days={days}", m.csrf, enc("二线日历")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        let cal = t.get(&format!("/api/v1/calendars/{cal_id}"), &a).await.body;
        assert_eq!(cal["week"][0], json!(["08:00-17:00"]));
        assert_eq!(cal["days"].as_array().unwrap().len(), 2);
        let r = m
            .post(
                &path,
                &format!("_csrf={}&name=x&utc_offset_minutes=480&makeup_hours_from=mon&week_mon=25:00-26:00&days=", m.csrf),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        // Multipart upload.
        let boundary = "yunweiBoundary";
        let part = |name: &str, file: Option<&str>, value: &str| {
            match file {
            Some(f) => format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: text/csv\r\n\r\n{value}\r\n"),
            None => format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"),
        }
        };
        let upload = |csrf: &str, csv: &str| {
            let body = format!(
                "{}{}--{boundary}--\r\n",
                part("_csrf", None, csrf),
                part("file", Some("holidays.csv"), csv)
            );
            Request::post(format!("{path}/import"))
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .header("cookie", &m.cookie)
                .body(Body::from(body))
                .unwrap()
        };
        let r = t
            .send(upload(&m.csrf, "date,kind,name\n2031-01-01,holiday,元旦\n"))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        let cal = t.get(&format!("/api/v1/calendars/{cal_id}"), &a).await.body;
        assert_eq!(cal["days"].as_array().unwrap().len(), 3);
        let r = t
            .send(upload(
                &m.csrf,
                "date,kind,name\n2031-13-01,holiday,坏日期\n",
            ))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.text.contains("form-error") && r.text.contains("2:"),
            "{}",
            r.text
        );
        assert_eq!(
            t.send(upload("bad", "date,kind,name\n")).await.status,
            StatusCode::FORBIDDEN
        );

        // SLA policies: list, change targets, create.
        let page = m.get("/admin/sla-policies").await;
        assert!(page.text.contains("标准 SLA") && page.text.contains("id=\"policy-new\""));
        let pol = t.get("/api/v1/sla-policies", &a).await.body;
        let pid = pol[0]["id"].as_str().unwrap();
        let targets = "p1_response_minutes=10&p1_resolution_minutes=200&p2_response_minutes=30&p2_resolution_minutes=480&p3_response_minutes=120&p3_resolution_minutes=1440&p4_response_minutes=240&p4_resolution_minutes=2400";
        let r = m
            .post(
                &format!("/admin/sla-policies/{pid}"),
                &format!(
                    "_csrf={}&name={}&calendar_id={cal_id}&{targets}",
                    m.csrf,
                    enc("标准 SLA")
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        let pol = t.get("/api/v1/sla-policies", &a).await.body;
        assert_eq!(pol[0]["p1_response_minutes"], 10);
        assert_eq!(pol[0]["calendar_id"], cal_id);
        let r = m
            .post(
                "/admin/sla-policies",
                &format!(
                    "_csrf={}&name=VIP&calendar_id={cal_id}&{}",
                    m.csrf,
                    targets.replace("p1_response_minutes=10", "p1_response_minutes=999")
                ),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "response over resolution"
        );
        let r = m
            .post(
                "/admin/sla-policies",
                &format!("_csrf={}&name=VIP&calendar_id={cal_id}&{targets}", m.csrf),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        assert_eq!(
            t.get("/api/v1/sla-policies", &a)
                .await
                .body
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            ag.post(
                "/admin/sla-policies",
                &format!("_csrf={}&name=y&{targets}&calendar_id={cal_id}", ag.csrf)
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );

        // Notification channels: administrators only; an internal address is refused.
        assert_eq!(
            m.get("/admin/notifications").await.status,
            StatusCode::FORBIDDEN
        );
        let r = t.login("admin", &t.admin_password).await;
        let ad = Browser {
            t: &t,
            cookie: session_cookie(&r),
            csrf: r.body["csrf_token"].as_str().unwrap().to_string(),
        };
        let page = ad.get("/admin/notifications").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text.contains("id=\"channel-new\"") && page.text.contains("nav-notify"));
        let r = ad
            .post(
                "/admin/notifications",
                &format!(
                    "_csrf={}&kind=webhook&name=hook&url={}&secret=0123456789abcdef0123",
                    ad.csrf,
                    enc("http://127.0.0.1:9/hook")
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert!(r.text.contains("form-error"));
        t.app
            .set_notify_settings(
                &t.sys,
                yunwei_service::notify::NotifySettings {
                    allow_private_webhooks: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let r = ad
            .post(
                "/admin/notifications",
                &format!(
                    "_csrf={}&kind=webhook&name=hook&url={}&secret=0123456789abcdef0123",
                    ad.csrf,
                    enc("http://127.0.0.1:9/hook")
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        let ch = t.get("/api/v1/notification-channels", &t.admin).await.body;
        let ch_id = ch[0]["id"].as_str().unwrap();
        let r = ad
            .post(
                &format!("/admin/notifications/{ch_id}/test"),
                &format!("_csrf={}", ad.csrf),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(
            r.text.contains("id=\"test-result\"") && r.text.contains("flash err"),
            "nothing listens on port 9"
        );
        let r = ad
            .post(
                &format!("/admin/notifications/{ch_id}/enabled"),
                &format!("_csrf={}&enabled=false", ad.csrf),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(
            t.get("/api/v1/notification-channels", &t.admin).await.body[0]["enabled"],
            false
        );

        // Preferences: unchecking a box removes the channel for that kind.
        let page = ag.get("/profile/notifications").await;
        assert!(page.text.contains("id=\"prefs-form\"") && page.text.contains("inapp.reply"));
        let r = ag
            .post(
                "/profile/notifications",
                &format!("_csrf={}&inapp.reply=on&email.created=on", ag.csrf),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        let prefs = t.get("/api/v1/me/notification-preferences", &a).await.body;
        let of = |k: &str| {
            prefs["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["event_kind"] == k)
                .unwrap()["channels"]
                .clone()
        };
        assert_eq!(of("reply"), json!(["inapp"]));
        assert_eq!(of("created"), json!(["email"]));
        assert_eq!(of("note"), json!([]));

        // Inbox: a reply to the customer's ticket lands in their inbox; the header counts it.
        let n = submit(&t, &customer, "打印机").await;
        let r = t
            .post(
                &format!("/api/v1/tickets/{n}/comments"),
                &a,
                json!({"body": "已派人处理"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let page = cu.get("/").await;
        assert!(page.text.contains("id=\"unread-count\""), "{}", page.text);
        let inbox = cu.get("/inbox?unread=true").await;
        assert_eq!(inbox.status, StatusCode::OK);
        assert!(inbox.text.contains(&n));
        let items = t.get("/api/v1/me/inbox", &customer).await.body;
        let item = items["items"][0]["id"].as_str().unwrap().to_string();
        let r = cu
            .post(
                &format!("/inbox/{item}/read"),
                &format!("_csrf={}", cu.csrf),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let r = t.get("/api/v1/me/inbox", &customer).await;
        assert_eq!(r.headers["x-unread-count"], "0");
        assert!(!cu.get("/").await.text.contains("id=\"unread-count\""));
        // Another user's notification answers like a missing one.
        let r = ag
            .post(
                &format!("/inbox/{item}/read"),
                &format!("_csrf={}", ag.csrf),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let _ = a_id;
    }
}
