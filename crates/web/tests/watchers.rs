//! Watchers of tickets through the API and the ticket page, on SQLite and PostgreSQL: who may
//! watch and add watchers, that watchers are notified (customers only of public events), the
//! organization scope, and the assignee's name shown to customers.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{session_cookie, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;

async fn submit(t: &TestApp, token: &str) -> String {
    let r = t
        .post(
            "/api/v1/tickets",
            token,
            json!({"kind": "incident", "subject": "邮件系统无法登录", "description": "全员无法登录邮箱"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {}", t.name, r.text);
    r.body["number"].as_str().unwrap().to_string()
}

async fn inbox_titles(t: &TestApp, token: &str) -> Vec<String> {
    let r = t.get("/api/v1/me/inbox?limit=200", token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["title"].as_str().unwrap_or(""),
                i["body"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|w| w["user_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn watchers_are_added_listed_removed_and_notified() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let other = t.org("乙单位").await;
        let (requester_id, requester) = t.user("kehu", "customer", Some(org)).await;
        let (colleague_id, colleague) = t.user("tongshi", "customer", Some(org)).await;
        let (stranger_id, stranger) = t.user("mosheng", "customer", Some(other)).await;
        let (agent_id, agent) = t.user("zuoxi", "agent", None).await;
        let (engineer_id, engineer) = t.user("gongchengshi", "engineer", None).await;
        let (_, auditor) = t.user("shenji", "auditor", None).await;
        let n = submit(&t, &requester).await;
        let path = format!("/api/v1/tickets/{n}/watchers");

        // A colleague of the same organization watches; twice is no error and audited once.
        let before = t.audit_count().await;
        for _ in 0..2 {
            let r = t.post(&path, &colleague, json!({})).await;
            assert_eq!(r.status, StatusCode::OK, "{}: {}", t.name, r.text);
            assert_eq!(ids(&r.body), vec![colleague_id.to_string()]);
        }
        assert_eq!(t.audit_count().await, before + 1);
        // A customer may not add somebody else; another organization's customer sees nothing.
        let r = t
            .post(&path, &colleague, json!({"user_id": requester_id}))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let r = t.post(&path, &stranger, json!({})).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = t.get(&path, &stranger).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // Auditors read but do not watch.
        assert_eq!(t.get(&path, &auditor).await.status, StatusCode::OK);
        assert_eq!(
            t.post(&path, &auditor, json!({})).await.status,
            StatusCode::FORBIDDEN
        );

        // The agent adds an engineer (internal user); not a user of another organization.
        let r = t.post(&path, &agent, json!({"user_id": engineer_id})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(ids(&r.body).len(), 2);
        let r = t.post(&path, &agent, json!({"user_id": stranger_id})).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_reference"))
        );
        let r = t
            .post(&path, &agent, json!({"user_id": Uuid::now_v7()}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

        // Watchers hear of replies; the customer watcher not of internal notes.
        let r = t
            .post(
                &format!("/api/v1/tickets/{n}/comments"),
                &agent,
                json!({"body": "正在排查邮件网关"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let r = t
            .post(
                &format!("/api/v1/tickets/{n}/comments"),
                &agent,
                json!({"body": "内部：怀疑证书过期", "internal": true}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let seen = inbox_titles(&t, &colleague).await;
        assert!(
            seen.iter().any(|x| x.contains("正在排查邮件网关")),
            "{}: {seen:?}",
            t.name
        );
        assert!(!seen.iter().any(|x| x.contains("证书")), "{seen:?}");
        let seen = inbox_titles(&t, &engineer).await;
        assert!(seen.iter().any(|x| x.contains("证书")), "{seen:?}");
        // Nobody hears of their own action; the agent is no watcher.
        assert!(!inbox_titles(&t, &agent)
            .await
            .iter()
            .any(|x| x.contains("正在排查")));
        let _ = agent_id;

        // Unwatch: oneself; others only by staff.
        let r = t
            .req(
                Method::DELETE,
                &format!("{path}/{engineer_id}"),
                Some(&colleague),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = t
            .req(
                Method::DELETE,
                &format!("{path}/{colleague_id}"),
                Some(&colleague),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        let r = t
            .req(
                Method::DELETE,
                &format!("{path}/{engineer_id}"),
                Some(&agent),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let r = t.get(&path, &agent).await;
        assert!(r.body.as_array().unwrap().is_empty());
        let r = t
            .req(
                Method::DELETE,
                &format!("{path}/not-an-id"),
                Some(&agent),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // No more notifications after unwatching.
        let before = inbox_titles(&t, &colleague).await.len();
        t.post(
            &format!("/api/v1/tickets/{n}/comments"),
            &agent,
            json!({"body": "已更新证书"}),
        )
        .await;
        assert_eq!(inbox_titles(&t, &colleague).await.len(), before);
        let _ = engineer;
    }
}

#[tokio::test]
async fn the_ticket_page_watches_and_shows_the_assignee_to_customers() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let (_, requester) = t.user("kehu", "customer", Some(org)).await;
        let (agent_id, agent) = t.user("zuoxi", "agent", None).await;
        t.app
            .update_user(
                &t.sys,
                agent_id,
                yunwei_service::users::UserPatch {
                    display_name: Some("王工".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let n = submit(&t, &requester).await;
        let r = t
            .post(
                &format!("/api/v1/tickets/{n}/transitions"),
                &agent,
                json!({"action": "triage", "criticality": "general", "breadth": "one_department", "urgency": "low", "assignee_id": agent_id}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // The API tells the customer who works the ticket.
        let r = t.get(&format!("/api/v1/tickets/{n}"), &requester).await;
        assert_eq!(r.body["assignee_name"], "王工", "{}", r.text);

        let r = t.login("kehu", "correct horse battery").await;
        let cookie = session_cookie(&r);
        let csrf = r.body["csrf_token"].as_str().unwrap().to_string();
        let page = t
            .req(
                Method::GET,
                &format!("/tickets/{n}"),
                None,
                None,
                &[("cookie", &cookie)],
            )
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.text.contains("王工"),
            "{}: the customer sees the assignee's name",
            t.name
        );
        assert!(page.text.contains("id=\"do-watch\""));
        let form = |path: String, body: String| {
            Request::post(path)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &cookie)
                .body(Body::from(body))
                .unwrap()
        };
        let before = t.audit_count().await;
        let r = t
            .send(form(format!("/tickets/{n}/watch"), "_csrf=wrong".into()))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(t.audit_count().await, before);
        let r = t
            .send(form(format!("/tickets/{n}/watch"), format!("_csrf={csrf}")))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let page = t
            .req(
                Method::GET,
                &format!("/tickets/{n}"),
                None,
                None,
                &[("cookie", &cookie)],
            )
            .await;
        assert!(page.text.contains("id=\"do-unwatch\""));
        let r = t
            .get(&format!("/api/v1/tickets/{n}/watchers"), &agent)
            .await;
        assert_eq!(r.body.as_array().unwrap().len(), 1);
        let r = t
            .send(form(
                format!("/tickets/{n}/unwatch"),
                format!("_csrf={csrf}"),
            ))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let r = t
            .get(&format!("/api/v1/tickets/{n}/watchers"), &agent)
            .await;
        assert!(r.body.as_array().unwrap().is_empty());
        assert_eq!(t.audit_count().await, before + 2);
    }
}
