//! The service catalog and agreements through the API, on SQLite and PostgreSQL.

mod common;

use axum::http::{Method, StatusCode};
use common::TestApp;
use serde_json::json;

#[tokio::test]
async fn the_catalog_is_seeded_from_the_standard_and_editable() {
    for t in TestApp::all().await {
        let (_, customer_org_user) = {
            let org = t.org("甲单位").await;
            t.user("kehu", "customer", Some(org)).await
        };
        let (_, agent) = t.user("zuoxi", "agent", None).await;
        let r = t.get("/api/v1/catalog", &customer_org_user).await;
        assert_eq!(r.status, StatusCode::OK);
        let items = r.body.as_array().unwrap();
        assert_eq!(
            items.len(),
            yunwei_domain::catalog::SEED.len(),
            "{}",
            t.name
        );
        let room = items.iter().find(|i| i["code"] == "6.2.3.1").unwrap();
        assert_eq!(
            (room["class"].as_str(), room["name_zh"].as_str()),
            (Some("basic"), Some("机房管理和维护"))
        );
        for class in [
            "basic",
            "performance",
            "value_added",
            "new_concept",
            "new_technology",
        ] {
            assert!(items.iter().any(|i| i["class"] == class), "{class}");
        }
        // Seeding again adds nothing.
        assert_eq!(t.app.seed_catalog().await.unwrap(), 0);
        // Managers edit; others may not.
        let id = room["id"].as_str().unwrap();
        let path = format!("/api/v1/catalog/{id}");
        assert_eq!(
            t.patch(&path, &agent, json!({"active": false}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            t.patch(&path, &t.admin, json!({"class": "magic"}))
                .await
                .body["field"],
            "class"
        );
        let r = t
            .patch(
                &path,
                &t.admin,
                json!({"name_zh": "机房环境管理和维护", "active": false}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["active"].as_bool()),
            (StatusCode::OK, Some(false))
        );
        assert_eq!(
            t.get("/api/v1/catalog", &agent)
                .await
                .body
                .as_array()
                .unwrap()
                .len(),
            items.len() - 1,
            "inactive items are hidden"
        );
        assert_eq!(
            t.get("/api/v1/catalog?all=true", &t.admin)
                .await
                .body
                .as_array()
                .unwrap()
                .len(),
            items.len()
        );
        // The provider's own items.
        let r = t.post("/api/v1/catalog", &t.admin, json!({"code": "X-1", "class": "value_added", "name_zh": "驻场服务", "name_en": "On-site staffing"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(
            t.post(
                "/api/v1/catalog",
                &t.admin,
                json!({"code": "X-1", "class": "basic", "name_zh": "x", "name_en": "x"})
            )
            .await
            .status,
            StatusCode::CONFLICT
        );
    }
}

#[tokio::test]
async fn agreements_name_the_items_a_customer_receives() {
    for t in TestApp::all().await {
        let a = t.org("甲单位").await;
        let b = t.org("乙单位").await;
        let (_, ca) = t.user("kehu.a", "customer", Some(a)).await;
        let items = t.get("/api/v1/catalog", &t.admin).await.body;
        let ids: Vec<String> = items
            .as_array()
            .unwrap()
            .iter()
            .take(3)
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        let r = t
            .post(&format!("/api/v1/organizations/{b}/agreements"), &t.admin, json!({"name": "2027 年度运维服务合同", "contract_no": "HT-2027-01", "starts_on": "2027-01-01", "ends_on": "2027-12-31", "items": ids}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["items"].as_array().unwrap().len(), 3);
        let id = r.body["id"].as_str().unwrap().to_string();
        // Bad dates, unknown items, and non-managers are refused.
        let bad = t
            .post(
                &format!("/api/v1/organizations/{b}/agreements"),
                &t.admin,
                json!({"name": "x", "starts_on": "2027-02-01", "ends_on": "2027-01-01"}),
            )
            .await;
        assert_eq!(bad.body["field"], "ends_on");
        let bad = t
            .post(
                &format!("/api/v1/organizations/{b}/agreements"),
                &t.admin,
                json!({"name": "x", "items": [uuid::Uuid::now_v7()]}),
            )
            .await;
        assert_eq!(bad.body["code"], "invalid_reference");
        assert_eq!(
            t.post(
                &format!("/api/v1/organizations/{a}/agreements"),
                &ca,
                json!({"name": "x"})
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        // A customer sees only its own organization's agreements.
        assert_eq!(
            t.get(&format!("/api/v1/organizations/{b}/agreements"), &ca)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            t.get(&format!("/api/v1/organizations/{a}/agreements"), &ca)
                .await
                .body
                .as_array()
                .unwrap()
                .len(),
            0
        );
        let r = t
            .req(
                Method::PATCH,
                &format!("/api/v1/agreements/{id}"),
                Some(&t.admin),
                Some(json!({"items": [], "notes": "续签"})),
                &[],
            )
            .await;
        assert_eq!(
            (r.status, r.body["items"].as_array().unwrap().len()),
            (StatusCode::OK, 0)
        );
        let audit = t
            .get(
                &format!("/api/v1/audit?entity=agreement&entity_id={id}"),
                &t.admin,
            )
            .await;
        assert_eq!(audit.body["items"].as_array().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn a_catalog_item_or_an_agreement_brings_its_own_sla_policy() {
    for t in TestApp::all().await {
        let org = t.org("丙单位").await;
        let (_, customer) = t.user("kehu.c", "customer", Some(org)).await;
        // Make sure the defaults exist, then a stricter policy.
        submit_ticket(&t, &customer, None).await;
        let r = t
            .post(
                "/api/v1/sla-policies",
                &t.admin,
                json!({"name": "金牌", "p1_response_minutes": 5, "p1_resolution_minutes": 60, "p2_response_minutes": 10, "p2_resolution_minutes": 120,
                       "p3_response_minutes": 20, "p3_resolution_minutes": 240, "p4_response_minutes": 30, "p4_resolution_minutes": 480}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let gold = r.body["id"].as_str().unwrap().to_string();
        let items = t.get("/api/v1/catalog", &t.admin).await.body;
        let item = items
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["code"] == "6.2.4")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            t.patch(
                &format!("/api/v1/catalog/{item}"),
                &t.admin,
                json!({"sla_policy_id": uuid::Uuid::now_v7()})
            )
            .await
            .body["field"],
            "sla_policy_id"
        );
        assert_eq!(
            t.patch(
                &format!("/api/v1/catalog/{item}"),
                &t.admin,
                json!({"sla_policy_id": gold})
            )
            .await
            .status,
            StatusCode::OK
        );
        let tk = submit_ticket(&t, &customer, Some(&item)).await;
        assert_eq!(
            tk["sla_policy_id"].as_str(),
            Some(gold.as_str()),
            "{}",
            t.name
        );
        assert_eq!(tk["catalog_item_id"].as_str(), Some(item.as_str()));
        // Without an item, the organization's agreement's policy applies.
        let r = t
            .post(
                &format!("/api/v1/organizations/{org}/agreements"),
                &t.admin,
                json!({"name": "金牌协议", "sla_policy_id": gold}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let tk = submit_ticket(&t, &customer, None).await;
        assert_eq!(tk["sla_policy_id"].as_str(), Some(gold.as_str()));
        let bad = t.post("/api/v1/tickets", &customer, json!({"kind": "request", "subject": "s", "description": "d", "catalog_item_id": uuid::Uuid::now_v7()})).await;
        assert_eq!(bad.body["field"], "catalog_item_id");
    }
}

async fn submit_ticket(t: &TestApp, token: &str, item: Option<&str>) -> serde_json::Value {
    let mut body =
        json!({"kind": "request", "subject": "网络调整", "description": "需要新增一个 VLAN"});
    if let Some(i) = item {
        body["catalog_item_id"] = json!(i);
    }
    let r = t.post("/api/v1/tickets", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body
}
