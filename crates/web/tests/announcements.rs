//! Announcements (R-7.2c) through the API and the UI, on SQLite and PostgreSQL.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::{Duration, SecondsFormat, Utc};
use common::{session_cookie, TestApp};
use serde_json::{json, Value};

fn at(offset: Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn titles(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect()
}

async fn create(t: &TestApp, token: &str, body: Value) -> String {
    let r = t.post("/api/v1/announcements", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {}", t.name, r.text);
    r.body["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn staff_write_announcements_and_bad_input_is_refused() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let (_, agent) = t.user("zuoxi", "agent", None).await;
        let (_, engineer) = t.user("gongchengshi", "engineer", None).await;
        let (_, auditor) = t.user("shenji", "auditor", None).await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        let catalog = t.get("/api/v1/catalog", &t.admin).await.body;
        let item = catalog[0]["id"].as_str().unwrap().to_string();
        let body = json!({
            "kind": "maintenance",
            "title": "核心交换机固件升级",
            "body": "届时网络中断约 30 分钟。\n请提前保存工作。",
            "starts_at": at(Duration::days(2)),
            "ends_at": at(Duration::days(2) + Duration::hours(2)),
            "items": [item],
        });
        let r = t.post("/api/v1/announcements", &agent, body.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}: {}", t.name, r.text);
        assert_eq!(r.body["kind"], "maintenance");
        assert_eq!(r.body["all_orgs"], true);
        assert_eq!(r.body["published"], false);
        assert_eq!(r.body["current"], true, "starts within a week");
        assert_eq!(r.body["items"], json!([item]));
        assert!(r.body["body"].as_str().unwrap().contains('\n'));
        let id = r.body["id"].as_str().unwrap().to_string();
        // Engineers, auditors and customers may not write.
        for who in [&engineer, &auditor, &customer] {
            assert_eq!(
                t.post("/api/v1/announcements", who, body.clone())
                    .await
                    .status,
                StatusCode::FORBIDDEN
            );
            assert_eq!(
                t.patch(
                    &format!("/api/v1/announcements/{id}"),
                    who,
                    json!({"published": true})
                )
                .await
                .status,
                StatusCode::FORBIDDEN
            );
        }
        // Validation refusals name the field.
        let refused = |patch: Value| {
            let mut b = body.clone();
            for (k, v) in patch.as_object().unwrap() {
                b[k] = v.clone();
            }
            b
        };
        for (patch, field, code) in [
            (json!({"kind": "party"}), "kind", "validation_failed"),
            (json!({"title": "  "}), "title", "validation_failed"),
            (
                json!({"title": "长".repeat(201)}),
                "title",
                "validation_failed",
            ),
            (
                json!({"body": "x".repeat(20_001)}),
                "body",
                "validation_failed",
            ),
            (
                json!({"starts_at": at(Duration::days(3)), "ends_at": at(Duration::days(2))}),
                "ends_at",
                "validation_failed",
            ),
            (json!({"orgs": []}), "orgs", "validation_failed"),
            (
                json!({"all_orgs": true, "orgs": [org]}),
                "orgs",
                "validation_failed",
            ),
            (
                json!({"orgs": [uuid::Uuid::now_v7()]}),
                "orgs",
                "invalid_reference",
            ),
            (
                json!({"items": [uuid::Uuid::now_v7()]}),
                "items",
                "invalid_reference",
            ),
        ] {
            let r = t
                .post("/api/v1/announcements", &agent, refused(patch.clone()))
                .await;
            assert_eq!(
                (r.body["code"].as_str(), r.body["field"].as_str()),
                (Some(code), Some(field)),
                "{}: {patch} → {}",
                t.name,
                r.text
            );
        }
        let ok = t
            .post(
                "/api/v1/announcements",
                &agent,
                refused(json!({"title": "长".repeat(200), "body": "x".repeat(20_000)})),
            )
            .await;
        assert_eq!(ok.status, StatusCode::CREATED, "limits are inclusive");
        // Updates are validated against the stored window too.
        let path = format!("/api/v1/announcements/{id}");
        let r = t
            .patch(&path, &agent, json!({"ends_at": at(Duration::days(1))}))
            .await;
        assert_eq!(r.body["field"], "ends_at", "{}", r.text);
        let r = t
            .patch(
                &path,
                &agent,
                json!({"title": "核心交换机固件升级（改期）", "clear_ends_at": true, "orgs": [org], "published": true}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            (
                r.body["all_orgs"].as_bool(),
                r.body["ends_at"].is_null(),
                r.body["published"].as_bool()
            ),
            (Some(false), true, Some(true))
        );
        assert_eq!(r.body["orgs"], json!([org.to_string()]));
        assert_eq!(
            t.patch(
                &format!("/api/v1/announcements/{}", uuid::Uuid::now_v7()),
                &agent,
                json!({"title": "x"})
            )
            .await
            .status,
            StatusCode::NOT_FOUND
        );
        // Every write is audited.
        let audit = t
            .get(
                &format!("/api/v1/audit?entity=announcement&entity_id={id}"),
                &t.admin,
            )
            .await;
        let entries = audit.body["items"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{}", audit.text);
        assert_eq!(entries[0]["action"], "update");
        assert!(entries[0]["after_json"].as_str().unwrap().contains("改期"));
        assert_eq!(entries[1]["action"], "create");
        assert_eq!(entries[1]["actor_name"], "zuoxi");
    }
}

#[tokio::test]
async fn customers_see_only_published_announcements_for_their_organization() {
    for t in TestApp::all().await {
        let a = t.org("甲单位").await;
        let b = t.org("乙单位").await;
        let (_, ca) = t.user("kehu.a", "customer", Some(a)).await;
        let (_, cb) = t.user("kehu.b", "customer", Some(b)).await;
        let (_, engineer) = t.user("gongchengshi", "engineer", None).await;
        let soon = at(-Duration::hours(1));
        let for_a = create(
            &t,
            &t.admin,
            json!({"kind": "outage", "title": "甲单位专线中断", "starts_at": soon, "orgs": [a], "published": true}),
        )
        .await;
        let for_all = create(
            &t,
            &t.admin,
            json!({"kind": "notice", "title": "春节值班安排", "starts_at": soon, "published": true}),
        )
        .await;
        let draft = create(
            &t,
            &t.admin,
            json!({"kind": "notice", "title": "草稿公告", "starts_at": soon}),
        )
        .await;
        let list = |tok: String| {
            let t = &t;
            async move { titles(&t.get("/api/v1/announcements", &tok).await.body) }
        };
        assert_eq!(
            list(cb.clone()).await,
            vec!["春节值班安排"],
            "{}: org B sees neither A's nor the draft",
            t.name
        );
        assert_eq!(
            list(ca.clone()).await,
            vec!["春节值班安排", "甲单位专线中断"]
        );
        assert_eq!(list(engineer.clone()).await.len(), 3, "staff see all");
        // Another organization's announcement, or a draft, answers like a missing one.
        let missing = t
            .get(
                &format!("/api/v1/announcements/{}", uuid::Uuid::now_v7()),
                &cb,
            )
            .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        for id in [&for_a, &draft] {
            let r = t.get(&format!("/api/v1/announcements/{id}"), &cb).await;
            assert_eq!(
                (r.status, &r.body["code"]),
                (missing.status, &missing.body["code"]),
                "{}",
                t.name
            );
        }
        let r = t.get(&format!("/api/v1/announcements/{for_a}"), &ca).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["orgs"], json!([a.to_string()]));
        assert_eq!(
            t.get(&format!("/api/v1/announcements/{for_all}"), &cb)
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            t.get(&format!("/api/v1/announcements/{draft}"), &engineer)
                .await
                .status,
            StatusCode::OK
        );
        // A customer never learns which other organizations an announcement addresses.
        let both = create(
            &t,
            &t.admin,
            json!({"kind": "outage", "title": "两家单位", "starts_at": soon, "orgs": [a, b], "published": true}),
        )
        .await;
        let r = t.get(&format!("/api/v1/announcements/{both}"), &cb).await;
        assert_eq!(r.body["orgs"], json!([b.to_string()]));
        // Withdrawn, it disappears for customers again.
        let r = t
            .patch(
                &format!("/api/v1/announcements/{for_all}"),
                &t.admin,
                json!({"published": false}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(list(cb.clone()).await, vec!["两家单位"]);
    }
}

#[tokio::test]
async fn the_current_filter_keeps_announcements_in_force_or_within_a_week() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        for (title, start, end) in [
            ("进行中", -Duration::hours(2), Some(Duration::hours(2))),
            ("长期有效", -Duration::days(30), None),
            (
                "三天后",
                Duration::days(3),
                Some(Duration::days(3) + Duration::hours(1)),
            ),
            ("已结束", -Duration::days(2), Some(-Duration::days(1))),
            ("下个月", Duration::days(30), None),
        ] {
            let mut b = json!({"kind": "maintenance", "title": title, "starts_at": at(start), "published": true});
            if let Some(e) = end {
                b["ends_at"] = json!(at(e));
            }
            create(&t, &t.admin, b).await;
        }
        let all = t.get("/api/v1/announcements", &customer).await;
        assert_eq!(titles(&all.body).len(), 5);
        let current = t.get("/api/v1/announcements?current=true", &customer).await;
        assert_eq!(current.status, StatusCode::OK, "{}", current.text);
        let mut got = titles(&current.body);
        got.sort();
        let mut want = vec!["进行中", "长期有效", "三天后"];
        want.sort();
        assert_eq!(got, want, "{}", t.name);
        assert!(current.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["current"] == true));
        let outages = t.get("/api/v1/announcements?kind=outage", &customer).await;
        assert_eq!(titles(&outages.body).len(), 0);
        assert_eq!(
            t.get("/api/v1/announcements?kind=party", &customer)
                .await
                .body["field"],
            "kind"
        );
        // Pages.
        let p1 = t.get("/api/v1/announcements?limit=2", &customer).await;
        assert_eq!(titles(&p1.body), vec!["下个月", "已结束"]);
        let cursor = p1.body["next_cursor"].as_str().unwrap().to_string();
        let p2 = t
            .get(
                &format!("/api/v1/announcements?limit=2&cursor={cursor}"),
                &customer,
            )
            .await;
        assert_eq!(titles(&p2.body), vec!["三天后", "长期有效"]);
    }
}

#[tokio::test]
async fn the_page_lists_creates_and_publishes_with_csrf() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        t.user("zuoxi", "agent", None).await;
        t.user("kehu", "customer", Some(org)).await;
        let r = t.login("zuoxi", "correct horse battery").await;
        let cookie = session_cookie(&r);
        let csrf = r.body["csrf_token"].as_str().unwrap().to_string();
        let form = |path: &str, body: String| {
            Request::post(path)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &cookie)
                .body(Body::from(body))
                .unwrap()
        };
        let page = t
            .req(
                Method::GET,
                "/announcements",
                None,
                None,
                &[("cookie", &cookie)],
            )
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text.contains("id=\"ann-form\"") && page.text.contains("nav-announcements"));
        // A wrong token writes nothing.
        let before = t.audit_count().await;
        let r = t
            .send(form(
                "/announcements",
                "_csrf=wrong&kind=notice&title=x&starts_at=2030-01-01T08:00".into(),
            ))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(t.audit_count().await, before);
        // Bad input shows the form again with the error and keeps what was typed.
        let r = t
            .send(form(
                "/announcements",
                format!("_csrf={csrf}&kind=notice&title=%E5%81%9C%E7%94%B5&starts_at=2030-01-02T08:00&ends_at=2030-01-01T08:00"),
            ))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert!(r.text.contains("form-error") && r.text.contains("停电"));
        // A draft for the organization, starting in an hour (China Standard Time).
        let start = (Utc::now() + Duration::hours(9))
            .format("%Y-%m-%dT%H:%M")
            .to_string();
        let r = t
            .send(form(
                "/announcements",
                format!("_csrf={csrf}&kind=maintenance&title=%E6%9C%BA%E6%88%BF%E6%96%AD%E7%94%B5%E7%BB%B4%E6%8A%A4&body=%3Cb%3Ebold%3C%2Fb%3E&starts_at={start}&orgs={org}"),
            ))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        let list = t.get("/api/v1/announcements", &t.admin).await.body;
        let a = &list["items"][0];
        assert_eq!(
            (
                a["title"].as_str(),
                a["all_orgs"].as_bool(),
                a["published"].as_bool()
            ),
            (Some("机房断电维护"), Some(false), Some(false))
        );
        let id = a["id"].as_str().unwrap().to_string();
        let page = t
            .req(
                Method::GET,
                "/announcements",
                None,
                None,
                &[("cookie", &cookie)],
            )
            .await;
        assert!(page.text.contains("机房断电维护") && page.text.contains("&#60;b&#62;bold"));
        assert!(!page.text.contains("<b>bold"));
        assert!(page.text.contains(&format!("/announcements/{id}/publish")));
        // The customer sees nothing until it is published; then on the home page too.
        let rc = t.login("kehu", "correct horse battery").await;
        let ccookie = session_cookie(&rc);
        let ccsrf = rc.body["csrf_token"].as_str().unwrap().to_string();
        let cpage = |path: &'static str| {
            let c = ccookie.clone();
            let t = &t;
            async move {
                t.req(Method::GET, path, None, None, &[("cookie", &c)])
                    .await
            }
        };
        assert!(!cpage("/announcements").await.text.contains("机房断电维护"));
        assert!(!cpage("/").await.text.contains("机房断电维护"));
        let r = t
            .send(form(
                &format!("/announcements/{id}/publish"),
                format!("_csrf={csrf}"),
            ))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        let cp = cpage("/announcements").await;
        assert!(cp.text.contains("机房断电维护"), "{}", t.name);
        assert!(!cp.text.contains("ann-form"), "customers get no form");
        let home = cpage("/").await;
        assert!(home.text.contains("home-announcements") && home.text.contains("机房断电维护"));
        // Customers cannot publish or withdraw.
        let r = t
            .send(
                Request::post(format!("/announcements/{id}/unpublish"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("cookie", &ccookie)
                    .body(Body::from(format!("_csrf={ccsrf}")))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = t
            .send(form(
                &format!("/announcements/{id}/unpublish"),
                format!("_csrf={csrf}"),
            ))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert!(!cpage("/").await.text.contains("机房断电维护"));
        let audit = t
            .get(
                &format!("/api/v1/audit?entity=announcement&entity_id={id}"),
                &t.admin,
            )
            .await;
        let actions: Vec<&str> = audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, vec!["unpublish", "publish", "create"]);
    }
}
