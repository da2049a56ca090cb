//! The CMDB through the API, on SQLite and PostgreSQL: classes and typed attributes,
//! items with versions and as-of reads, permissions and organization scope, relations checked
//! against classes, impact analysis (transitive, cycle-safe), availability from incident
//! outages, ticket links with the impact they suggest, import/export round trips (CSV, XLSX).

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::TestApp;
use serde_json::{json, Value};

async fn dept(t: &TestApp, org: &str, name: &str) -> String {
    let r = t
        .post(
            &format!("/api/v1/organizations/{org}/departments"),
            &t.admin,
            json!({"name": name}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

async fn ci(t: &TestApp, token: &str, body: Value) -> Value {
    let r = t.post("/api/v1/cis", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {}", t.name, r.text);
    r.body
}

async fn relate(t: &TestApp, token: &str, s: &Value, kind: &str, d: &Value) -> Value {
    let r = t
        .post(
            "/api/v1/ci-relations",
            token,
            json!({"source_id": s["id"], "kind": kind, "target_id": d["id"]}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}: {kind}: {}",
        t.name,
        r.text
    );
    r.body
}

fn keys(v: &Value, path: &str) -> Vec<String> {
    let mut k: Vec<String> = v[path]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["external_key"].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k
}

async fn raw(
    t: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    ctype: &str,
    body: Vec<u8>,
) -> common::Resp {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, ctype)
        .body(Body::from(body))
        .unwrap();
    t.send(req).await
}

async fn bytes(t: &TestApp, path: &str, token: &str) -> Vec<u8> {
    let req = Request::builder()
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(t.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

#[tokio::test]
async fn items_are_typed_versioned_audited_and_scoped() {
    for t in TestApp::all().await {
        let classes = t.get("/api/v1/ci-classes", &t.admin).await;
        assert_eq!(classes.status, StatusCode::OK);
        let codes: Vec<&str> = classes
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["code"].as_str().unwrap())
            .collect();
        for want in [
            "machine_room",
            "rack",
            "ups",
            "env_sensor",
            "switch",
            "subnet_vlan",
            "virtual_machine",
            "cloud_instance",
            "business_service",
            "data_set",
            "iot_device",
        ] {
            assert!(codes.contains(&want), "{}: {want}", t.name);
        }
        let org = t.org("甲单位").await;
        let other = t.org("乙单位").await;
        let finance = dept(&t, &org.to_string(), "财务处").await;
        let (_, engineer) = t.user("gcs", "engineer", None).await;
        let (_, agent) = t.user("zx", "agent", None).await;
        let (_, auditor) = t.user("sj", "auditor", None).await;
        let (_, customer) = t.user("kh", "customer", Some(org)).await;
        let (_, outsider) = t.user("kh2", "customer", Some(other)).await;

        let body = json!({
            "class": "application_system", "org_id": org, "department_id": finance,
            "external_key": "APP-FIN", "name": "财务系统", "criticality": "critical",
            "security_level": 3, "purchase_cost": 10_000_000, "annual_cost": 1_200_000,
            "purchased_on": "2025-01-01", "vendor": "某软件公司", "location": "主机房",
            "warranty_end": "2027-12-31",
            "attributes": {"url": "https://fin.example.cn", "version": "2.1"},
        });
        let app = ci(&t, &engineer, body.clone()).await;
        assert_eq!(app["version"], 1);
        assert_eq!(app["status"], "in_use");
        assert_eq!(app["class_code"], "application_system");
        assert_eq!(app["attributes"]["url"], "https://fin.example.cn");
        assert!(
            app["tco"].as_i64().unwrap() > 10_000_000,
            "TCO adds running cost"
        );
        assert!(app.get("attributes_json").is_none());
        let id = app["id"].as_str().unwrap().to_string();

        // Validation: typed attributes, class-bound levels, unique keys.
        for (patch, code, field) in [
            (json!({"class": "nope"}), "invalid_reference", "class"),
            (
                json!({"external_key": " "}),
                "validation_failed",
                "external_key",
            ),
            (
                json!({"external_key": "X2", "attributes": {"url": 5, "bogus": 1}}),
                "ci_attribute_invalid",
                "attributes.bogus",
            ),
            (
                json!({"external_key": "X3", "security_level": 6}),
                "validation_failed",
                "security_level",
            ),
            (
                json!({"external_key": "X4", "data_level": "core"}),
                "validation_failed",
                "data_level",
            ),
            (
                json!({"external_key": "X5", "status": "broken"}),
                "validation_failed",
                "status",
            ),
            (
                json!({"external_key": "X6", "department_id": uuid::Uuid::now_v7()}),
                "invalid_reference",
                "department_id",
            ),
            (json!({}), "ci_key_taken", "external_key"),
        ] {
            let mut b = body.clone();
            for (k, v) in patch.as_object().unwrap() {
                b[k] = v.clone();
            }
            let r = t.post("/api/v1/cis", &engineer, b).await;
            assert_eq!(r.body["code"], code, "{}: {patch}: {}", t.name, r.text);
            assert_eq!(r.body["field"], field, "{}: {patch}", t.name);
        }
        let subnet = t.post("/api/v1/cis", &engineer, json!({"class": "subnet_vlan", "org_id": org, "external_key": "NET-1", "name": "办公网", "attributes": {"cidr": "10.1.0.0/16x"}})).await;
        assert_eq!(subnet.body["field"], "attributes.cidr", "{}", subnet.text);
        let subnet = ci(&t, &engineer, json!({"class": "subnet_vlan", "org_id": org, "external_key": "NET-1", "name": "办公网", "attributes": {"cidr": "10.1.0.0/16", "vlan_id": "20"}})).await;
        assert_eq!(
            subnet["attributes"],
            json!({"cidr": "10.1.0.0/16", "vlan_id": 20})
        );

        // Only admins and engineers write; everybody reads within their scope.
        for who in [&agent, &auditor, &customer] {
            let mut b = body.clone();
            b["external_key"] = json!("Y");
            assert_eq!(
                t.post("/api/v1/cis", who, b).await.status,
                StatusCode::FORBIDDEN
            );
        }
        for who in [&agent, &auditor, &customer] {
            assert_eq!(
                t.get(&format!("/api/v1/cis/{id}"), who).await.status,
                StatusCode::OK
            );
        }
        assert_eq!(
            t.get(&format!("/api/v1/cis/{id}"), &outsider).await.status,
            StatusCode::NOT_FOUND
        );
        let mine = t.get("/api/v1/cis?limit=200", &customer).await;
        assert_eq!(mine.body["items"].as_array().unwrap().len(), 2);
        let theirs = t.get("/api/v1/cis", &outsider).await;
        assert!(theirs.body["items"].as_array().unwrap().is_empty());
        let filtered = t
            .get("/api/v1/cis?class=subnet_vlan&q=办公", &t.admin)
            .await;
        assert_eq!(filtered.body["items"].as_array().unwrap().len(), 1);

        // A change is a new version; the old one stays readable as of its time.
        let before_change = chrono::Utc::now();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let mut changed = body.clone();
        changed["name"] = json!("财务核算系统");
        changed["status"] = json!("maintenance");
        let r = t
            .req(
                Method::PUT,
                &format!("/api/v1/cis/{id}"),
                Some(&engineer),
                Some(changed.clone()),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["version"], 2);
        // The same content again changes nothing.
        let r = t
            .req(
                Method::PUT,
                &format!("/api/v1/cis/{id}"),
                Some(&engineer),
                Some(changed),
                &[],
            )
            .await;
        assert_eq!(r.body["version"], 2);
        let versions = t.get(&format!("/api/v1/cis/{id}/versions"), &auditor).await;
        assert_eq!(versions.body.as_array().unwrap().len(), 2);
        let asof = before_change.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let old = t
            .get(
                &format!("/api/v1/cis/{id}?as_of={}", asof.replace('+', "%2B")),
                &auditor,
            )
            .await;
        assert_eq!(old.status, StatusCode::OK, "{}", old.text);
        assert_eq!(old.body["name"], "财务系统");
        assert_eq!(old.body["status"], "in_use");
        assert_eq!(old.body["version"], 1);
        let now = t.get(&format!("/api/v1/cis/{id}"), &auditor).await;
        assert_eq!(now.body["name"], "财务核算系统");
        let too_early = t
            .get(
                &format!("/api/v1/cis/{id}?as_of=2001-01-01T00:00:00Z"),
                &auditor,
            )
            .await;
        assert_eq!(too_early.status, StatusCode::NOT_FOUND);

        // Patch records (R-6.2.8.1).
        let p = t.post(&format!("/api/v1/cis/{id}/patches"), &engineer, json!({"patch_code": "KB5034441", "title": "安全更新", "severity": "high", "applied_at": "2026-03-01T10:00:00Z"})).await;
        assert_eq!(p.status, StatusCode::CREATED, "{}", p.text);
        assert_eq!(t.post(&format!("/api/v1/cis/{id}/patches"), &engineer, json!({"patch_code": "x", "title": "y", "severity": "urgent", "applied_at": "2026-03-01T10:00:00Z"})).await.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            t.get(&format!("/api/v1/cis/{id}/patches"), &customer)
                .await
                .body
                .as_array()
                .unwrap()
                .len(),
            1
        );

        // Every change of the item is audited under entity "ci" and its id.
        let audit = t
            .get(&format!("/api/v1/audit?entity=ci&entity_id={id}"), &t.admin)
            .await;
        let actions: Vec<&str> = audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, vec!["patch", "update", "create"], "{}", t.name);

        // Administrators extend the schema; engineers may not.
        let cls = t.post("/api/v1/ci-classes", &t.admin, json!({"code": "ats", "name_zh": "自动转换开关", "name_en": "Automatic transfer switch", "category": "power"})).await;
        assert_eq!(cls.status, StatusCode::CREATED, "{}", cls.text);
        assert_eq!(
            t.post(
                "/api/v1/ci-classes",
                &engineer,
                json!({"code": "x", "name_zh": "x", "name_en": "x", "category": "power"})
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        let cid = cls.body["id"].as_str().unwrap();
        let a = t.post(&format!("/api/v1/ci-classes/{cid}/attributes"), &t.admin, json!({"code": "mode", "name_zh": "模式", "name_en": "Mode", "kind": "enum", "options": ["auto", "manual"]})).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        let ats = t.post("/api/v1/cis", &engineer, json!({"class": "ats", "org_id": org, "external_key": "ATS-1", "name": "ATS", "attributes": {"mode": "semi"}})).await;
        assert_eq!(ats.body["field"], "attributes.mode");
        ci(&t, &engineer, json!({"class": "ats", "org_id": org, "external_key": "ATS-1", "name": "ATS", "attributes": {"mode": "auto"}})).await;
        assert!(yunwei_store::audit::verify(&t.app.db)
            .await
            .unwrap()
            .fault
            .is_none());
    }
}

#[tokio::test]
async fn relations_impact_availability_and_ticket_suggestion() {
    for t in TestApp::all().await {
        let org = t.org("丙单位").await;
        let o = org.to_string();
        let d1 = dept(&t, &o, "办公室").await;
        let d2 = dept(&t, &o, "信息中心").await;
        let _d3 = dept(&t, &o, "后勤处").await;
        let (_, engineer) = t.user("gcs", "engineer", None).await;
        let (agent_id, agent) = t.user("zx", "agent", None).await;
        let mk = |class: &str, key: &str, extra: Value| {
            let mut b = json!({"class": class, "org_id": org, "external_key": key, "name": key});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            b
        };
        let room = ci(&t, &engineer, mk("machine_room", "ROOM", json!({}))).await;
        let rack = ci(
            &t,
            &engineer,
            mk("rack", "RACK-A1", json!({"attributes": {"u_height": 42}})),
        )
        .await;
        let ups = ci(&t, &engineer, mk("ups", "UPS-1", json!({}))).await;
        let host = ci(
            &t,
            &engineer,
            mk(
                "physical_server",
                "HOST-1",
                json!({"department_id": d2, "attributes": {"rack_position": 10, "u_size": 2}}),
            ),
        )
        .await;
        let vm = ci(
            &t,
            &engineer,
            mk("virtual_machine", "VM-1", json!({"department_id": d2})),
        )
        .await;
        let db = ci(
            &t,
            &engineer,
            mk("database", "DB-1", json!({"department_id": d2})),
        )
        .await;
        let app = ci(
            &t,
            &engineer,
            mk("application_system", "APP-OA", json!({"department_id": d1})),
        )
        .await;
        let svc = ci(
            &t,
            &engineer,
            mk(
                "business_service",
                "SVC-OA",
                json!({"department_id": d1, "criticality": "critical"}),
            ),
        )
        .await;
        let backup = ci(&t, &engineer, mk("backup_system", "BAK-1", json!({}))).await;

        relate(&t, &engineer, &rack, "located_in", &room).await;
        relate(&t, &engineer, &host, "located_in", &rack).await;
        relate(&t, &engineer, &host, "powered_by", &ups).await;
        relate(&t, &engineer, &vm, "runs_on", &host).await;
        relate(&t, &engineer, &db, "runs_on", &vm).await;
        relate(&t, &engineer, &app, "depends_on", &db).await;
        relate(&t, &engineer, &app, "member_of", &svc).await;
        relate(&t, &engineer, &svc, "depends_on", &app).await;
        // A cycle: the database also "depends on" the service (nonsense, but it must not loop).
        relate(&t, &engineer, &db, "depends_on", &svc).await;
        relate(&t, &engineer, &db, "backed_up_by", &backup).await;

        // Relations must fit the classes, exist once, not loop on themselves.
        for (s, kind, d, code) in [
            (&room, "located_in", &host, "ci_relation_not_allowed"),
            (&db, "powered_by", &ups, "ci_relation_not_allowed"),
            (&host, "runs_on", &vm, "ci_relation_not_allowed"),
            (&host, "located_in", &host, "ci_relation_not_allowed"),
            (&vm, "runs_on", &host, "conflict"),
        ] {
            let r = t
                .post(
                    "/api/v1/ci-relations",
                    &engineer,
                    json!({"source_id": s["id"], "kind": kind, "target_id": d["id"]}),
                )
                .await;
            assert_eq!(r.body["code"], code, "{}: {kind}: {}", t.name, r.text);
        }
        assert_eq!(
            t.post(
                "/api/v1/ci-relations",
                &agent,
                json!({"source_id": vm["id"], "kind": "depends_on", "target_id": db["id"]})
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );

        // Impact of the UPS: everything above it, transitively; the backup is not affected.
        let imp = t
            .get(
                &format!("/api/v1/cis/{}/impact", ups["id"].as_str().unwrap()),
                &agent,
            )
            .await;
        assert_eq!(imp.status, StatusCode::OK, "{}", imp.text);
        assert_eq!(
            keys(&imp.body, "items"),
            vec!["APP-OA", "DB-1", "HOST-1", "SVC-OA", "VM-1"]
        );
        assert_eq!(keys(&imp.body, "business_services"), vec!["SVC-OA"]);
        let depth = |k: &str| {
            imp.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["external_key"] == k)
                .unwrap()["depth"]
                .as_u64()
                .unwrap()
        };
        assert_eq!((depth("HOST-1"), depth("VM-1"), depth("DB-1")), (1, 2, 3));
        let depts: Vec<&str> = imp.body["departments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(depts, vec!["信息中心", "办公室"]);
        assert_eq!(imp.body["organizations"][0]["name"], "丙单位");
        // The room: everything in it.
        let imp = t
            .get(
                &format!("/api/v1/cis/{}/impact", room["id"].as_str().unwrap()),
                &agent,
            )
            .await;
        assert_eq!(
            keys(&imp.body, "items"),
            vec!["APP-OA", "DB-1", "HOST-1", "RACK-A1", "SVC-OA", "VM-1"]
        );
        // Dependencies of the application, through the cycle and down to the room.
        let dep = t
            .get(
                &format!("/api/v1/cis/{}/dependencies", app["id"].as_str().unwrap()),
                &agent,
            )
            .await;
        assert_eq!(
            keys(&dep.body, "items"),
            vec!["BAK-1", "DB-1", "HOST-1", "RACK-A1", "ROOM", "SVC-OA", "UPS-1", "VM-1"]
                .into_iter()
                .filter(|k| *k != "BAK-1")
                .collect::<Vec<_>>()
        );
        let rels = t
            .get(
                &format!("/api/v1/cis/{}/relations", host["id"].as_str().unwrap()),
                &agent,
            )
            .await;
        assert_eq!(rels.body.as_array().unwrap().len(), 3);

        // Tickets: link the database to an incident; the suggestion follows what depends on it.
        let tk = t.post("/api/v1/tickets", &agent, json!({"kind": "incident", "subject": "数据库宕机", "description": "OA 打不开", "org_id": org, "outage_start": "2026-03-02T02:00:00Z"})).await;
        assert_eq!(tk.status, StatusCode::CREATED, "{}", tk.text);
        let number = tk.body["number"].as_str().unwrap().to_string();
        let s = t
            .get(
                &format!("/api/v1/tickets/{number}/impact-suggestion"),
                &agent,
            )
            .await;
        assert_eq!(s.body["breadth"], Value::Null, "no CIs, no suggestion");
        let r = t
            .post(
                &format!("/api/v1/tickets/{number}/cis"),
                &agent,
                json!({"key": "DB-1"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(keys(&json!({"x": r.body}), "x"), vec!["DB-1"]);
        assert_eq!(
            t.post(
                &format!("/api/v1/tickets/{number}/cis"),
                &agent,
                json!({"key": "NOPE"})
            )
            .await
            .body["code"],
            "invalid_reference"
        );
        let s = t
            .get(
                &format!("/api/v1/tickets/{number}/impact-suggestion"),
                &agent,
            )
            .await;
        assert_eq!(s.status, StatusCode::OK, "{}", s.text);
        assert_eq!(s.body["breadth"], "several_departments", "{}", s.text);
        assert_eq!(s.body["criticality"], "critical");
        assert_eq!(keys(&s.body, "business_services"), vec!["SVC-OA"]);
        let linked = t
            .get(
                &format!("/api/v1/cis/{}/tickets", db["id"].as_str().unwrap()),
                &agent,
            )
            .await;
        assert_eq!(linked.body[0]["number"], number.as_str());
        // Unlink, then link the UPS by id: the rack-less UPS has no department → whole org.
        let r = t
            .req(
                Method::DELETE,
                &format!("/api/v1/tickets/{number}/cis"),
                Some(&agent),
                Some(json!({"ci_id": db["id"]})),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(r.body.as_array().unwrap().is_empty());
        t.post(
            &format!("/api/v1/tickets/{number}/cis"),
            &agent,
            json!({"ci_id": db["id"]}),
        )
        .await;
        let audit = t
            .get("/api/v1/audit?entity=ticket&action=link_ci", &t.admin)
            .await;
        assert_eq!(audit.body["items"].as_array().unwrap().len(), 2);

        // Availability: the incident's outage (02:00–05:00 UTC) hits the DB and everything that
        // depends on it — the application — but not the host below it.
        let res = t.post(&format!("/api/v1/tickets/{number}/transitions"), &agent, json!({"action": "triage", "criticality": "critical", "breadth": "several_departments", "urgency": "high", "assignee_id": agent_id})).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        t.post(
            &format!("/api/v1/tickets/{number}/transitions"),
            &agent,
            json!({"action": "start"}),
        )
        .await;
        let res = t.post(&format!("/api/v1/tickets/{number}/transitions"), &agent, json!({"action": "resolve", "resolution": "重启", "outage_end": "2026-03-02T05:00:00Z"})).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let period = "from=2026-03-02T00:00:00Z&to=2026-03-03T00:00:00Z";
        let a = t
            .get(
                &format!(
                    "/api/v1/cis/{}/availability?{period}",
                    app["id"].as_str().unwrap()
                ),
                &agent,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        assert_eq!(a.body["service_seconds"], 86_400);
        assert_eq!(a.body["outage_seconds"], 3 * 3600);
        assert!((a.body["ratio"].as_f64().unwrap() - 0.875).abs() < 1e-9);
        let a = t
            .get(
                &format!(
                    "/api/v1/cis/{}/availability?{period}",
                    host["id"].as_str().unwrap()
                ),
                &agent,
            )
            .await;
        assert_eq!(a.body["outage_seconds"], 0);
        assert_eq!(a.body["ratio"], 1.0);
        assert_eq!(
            t.get(
                &format!(
                    "/api/v1/cis/{}/availability?from=2026-03-03T00:00:00Z&to=2026-03-02T00:00:00Z",
                    host["id"].as_str().unwrap()
                ),
                &agent
            )
            .await
            .status,
            StatusCode::UNPROCESSABLE_ENTITY
        );

        // Removing a relation is audited on the source item.
        let rid = rels
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == "powered_by")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            t.req(
                Method::DELETE,
                &format!("/api/v1/ci-relations/{rid}"),
                Some(&engineer),
                None,
                &[]
            )
            .await
            .status,
            StatusCode::NO_CONTENT
        );
        let imp = t
            .get(
                &format!("/api/v1/cis/{}/impact", ups["id"].as_str().unwrap()),
                &agent,
            )
            .await;
        assert!(imp.body["items"].as_array().unwrap().is_empty());
        let audit = t
            .get(
                &format!(
                    "/api/v1/audit?entity=ci&entity_id={}",
                    host["id"].as_str().unwrap()
                ),
                &t.admin,
            )
            .await;
        let actions: Vec<&str> = audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, vec!["unrelate", "relate", "relate", "create"]);
        let _ = d1;
    }
}

#[tokio::test]
async fn import_export_round_trip_and_bad_rows() {
    for t in TestApp::all().await {
        let org = t.org("丁单位").await;
        dept(&t, &org.to_string(), "信息中心").await;
        let (_, engineer) = t.user("gcs", "engineer", None).await;
        let (_, customer) = t.user("kh", "customer", Some(org)).await;
        let csv = "\u{feff}组织,外部编号,名称,类别,部门,生命周期状态,重要性,位置,厂商,合同编号,合同到期日,保修到期日,采购日期,采购成本（元）,年运行成本（元）,安全保护等级,数据安全级别,服务日历,扩展属性\r\n\
            丁单位,R-01,一号机柜,rack,,在用,一般,主机房 A 列,,,,,,,,,,,\"{\"\"u_height\"\":42}\"\r\n\
            丁单位,S-01,核心交换机,交换机,信息中心,在用,关键,主机房,华为,HT-2026-01,2028-12-31,2027-06-30,2025-06-01,\"120,000.50\",8000,,,,\"{\"\"mgmt_ip\"\":\"\"10.0.0.1\"\",\"\"rack_position\"\":20,\"\"u_size\"\":1}\"\r\n\
            丁单位,DB-01,人事数据库,database,信息中心,维护中,关键,,,,,,,,,2,重要数据,,\r\n\
            \r\n\
            源组织,源外部编号,关系类型,目标组织,目标外部编号\r\n\
            丁单位,S-01,位于,丁单位,R-01\r\n\
            丁单位,DB-01,depends_on,丁单位,S-01\r\n";
        let r = raw(
            &t,
            Method::POST,
            "/api/v1/cmdb/import",
            &engineer,
            "text/csv",
            csv.as_bytes().to_vec(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.name, r.text);
        assert_eq!(
            (
                r.body["created"].as_u64(),
                r.body["relations_created"].as_u64()
            ),
            (Some(3), Some(2)),
            "{}",
            r.text
        );
        let sw = t.get("/api/v1/cis?q=S-01", &t.admin).await.body["items"][0].clone();
        assert_eq!(sw["purchase_cost"], 12_000_050);
        assert_eq!(sw["security_level"], Value::Null);
        let db = t.get("/api/v1/cis?q=DB-01", &t.admin).await.body["items"][0].clone();
        assert_eq!(
            (db["security_level"].as_i64(), db["data_level"].as_str()),
            (Some(2), Some("important"))
        );
        assert_eq!(sw["attributes"]["mgmt_ip"], "10.0.0.1");
        // Importing the same file again changes nothing.
        let audit_before = t.audit_count().await;
        let r = raw(
            &t,
            Method::POST,
            "/api/v1/cmdb/import",
            &engineer,
            "text/csv",
            csv.as_bytes().to_vec(),
        )
        .await;
        assert_eq!(
            (
                r.body["created"].as_u64(),
                r.body["updated"].as_u64(),
                r.body["unchanged"].as_u64(),
                r.body["relations_created"].as_u64()
            ),
            (Some(0), Some(0), Some(3), Some(0)),
            "{}",
            r.text
        );
        assert_eq!(
            t.audit_count().await,
            audit_before + 1,
            "only the import summary"
        );
        // Customers and agents may not import.
        assert_eq!(
            raw(
                &t,
                Method::POST,
                "/api/v1/cmdb/import",
                &customer,
                "text/csv",
                csv.as_bytes().to_vec()
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );

        // Export → import elsewhere → export: identical, in CSV and in XLSX.
        let exported = bytes(&t, "/api/v1/cmdb/export.csv", &t.admin).await;
        let text = String::from_utf8(exported.clone()).unwrap();
        assert!(
            text.starts_with("\u{feff}组织,外部编号,名称,类别"),
            "{text}"
        );
        assert!(
            text.contains("关键") && text.contains("位于") && text.contains("120000.50"),
            "{text}"
        );
        let xlsx = bytes(&t, "/api/v1/cmdb/export.xlsx", &t.admin).await;
        for (format, file, ctype) in [
            ("csv", exported.clone(), "text/csv"),
            (
                "xlsx",
                xlsx.clone(),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
        ] {
            let fresh = TestApp::new(match t.name {
                "sqlite" => yunwei_testkit::TestDb::sqlite().await,
                _ => yunwei_testkit::TestDb::postgres().await.expect("postgres"),
            })
            .await;
            let o = fresh.org("丁单位").await;
            dept(&fresh, &o.to_string(), "信息中心").await;
            let r = raw(
                &fresh,
                Method::POST,
                &format!("/api/v1/cmdb/import?format={format}"),
                &fresh.admin,
                ctype,
                file,
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{} {format}: {}", t.name, r.text);
            assert_eq!(r.body["created"], 3);
            let again = bytes(&fresh, "/api/v1/cmdb/export.csv", &fresh.admin).await;
            assert_eq!(
                String::from_utf8(again).unwrap(),
                text,
                "{} {format} round trip",
                t.name
            );
        }

        // Bad rows: each reported with its line; nothing changes unless asked.
        let bad = "组织,外部编号,名称,类别,生命周期状态,扩展属性\n\
            丁单位,NEW-1,新设备,switch,在用,\n\
            丁单位,NEW-2,坏设备,toaster,在用,\n\
            丁单位,NEW-3,坏地址,switch,在用,\"{\"\"mgmt_ip\"\":\"\"999.1.1.1\"\"}\"\n\
            无此单位,NEW-4,x,switch,,\n\
            丁单位,NEW-5,x,switch,坏掉了,\n\
            \n\
            源组织,源外部编号,关系类型,目标组织,目标外部编号\n\
            丁单位,NEW-1,运行于,丁单位,R-01\n\
            丁单位,NEW-1,位于,丁单位,NOPE\n";
        let r = raw(
            &t,
            Method::POST,
            "/api/v1/cmdb/import",
            &engineer,
            "text/csv",
            bad.as_bytes().to_vec(),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.body["code"], "import_failed");
        let lines: Vec<(String, u64, String)> = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["table"].as_str().unwrap().to_string(),
                    e["line"].as_u64().unwrap(),
                    e["code"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            lines,
            vec![
                ("cis".into(), 3, "invalid_reference".into()),
                ("cis".into(), 4, "ci_attribute_invalid".into()),
                ("cis".into(), 5, "invalid_reference".into()),
                ("cis".into(), 6, "validation_failed".into()),
                ("relations".into(), 9, "ci_relation_not_allowed".into()),
                ("relations".into(), 10, "invalid_reference".into()),
            ],
            "{}",
            r.text
        );
        assert!(r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("类别"));
        assert_eq!(
            t.get("/api/v1/cis?q=NEW-", &t.admin).await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            0,
            "nothing changed"
        );
        let r = raw(
            &t,
            Method::POST,
            "/api/v1/cmdb/import?apply_valid=true",
            &engineer,
            "text/csv",
            bad.as_bytes().to_vec(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            (r.body["created"].as_u64(), r.body["rejected"].as_u64()),
            (Some(1), Some(6))
        );
        assert_eq!(
            t.get("/api/v1/cis?q=NEW-", &t.admin).await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert!(
            yunwei_store::audit::verify(&t.app.db)
                .await
                .unwrap()
                .fault
                .is_none(),
            "batched audit keeps the chain"
        );
    }
}

/// `GET /api/v1/cis/{id}/relations?limit&offset`: one page in a stable order (direction `out`
/// first, kind, the other item's name, relation id), the total in `x-total-count`, and for a
/// customer only relations to their own organization's items, in the page and in the count.
#[tokio::test]
async fn relations_are_paged_in_order_with_a_scoped_total() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let other = t.org("乙单位").await;
        let (_, customer) = t.user("kh", "customer", Some(org)).await;
        let (_, outsider) = t.user("kh2", "customer", Some(other)).await;
        let mk = |o: uuid::Uuid, key: &str, name: &str, class: &str| json!({"class": class, "org_id": o, "external_key": key, "name": name});
        let hub = ci(&t, &t.admin, mk(org, "HUB", "hub", "application_system")).await;
        // ASCII names, so both stores' collations order them alike.
        let mut by_name = std::collections::HashMap::new();
        for (o, key, name) in [
            (org, "A1", "n03"),
            (org, "A2", "n01"),
            (other, "B1", "n02"),
            (org, "A3", "n07"),
            (org, "A4", "n05"),
            (org, "A5", "n04"),
            (other, "B2", "n06"),
            (other, "B3", "n08"),
        ] {
            let c = ci(&t, &t.admin, mk(o, key, name, "application_system")).await;
            by_name.insert(name, c);
        }
        let svc = ci(&t, &t.admin, mk(org, "SVC", "n00", "business_service")).await;
        for n in ["n03", "n01", "n02"] {
            relate(&t, &t.admin, &hub, "depends_on", &by_name[n]).await;
        }
        relate(&t, &t.admin, &hub, "member_of", &svc).await;
        for n in ["n07", "n05", "n04", "n06", "n08"] {
            relate(&t, &t.admin, &by_name[n], "depends_on", &hub).await;
        }
        let hub_id = hub["id"].as_str().unwrap();
        let page = |who: String, q: String| {
            let t = &t;
            async move {
                let r = t
                    .get(&format!("/api/v1/cis/{hub_id}/relations?{q}"), &who)
                    .await;
                assert_eq!(r.status, StatusCode::OK, "{}: {q}: {}", t.name, r.text);
                let total: u64 = r.headers["x-total-count"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                let rows: Vec<String> = r
                    .body
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| {
                        format!(
                            "{} {} {}",
                            x["direction"].as_str().unwrap(),
                            x["kind"].as_str().unwrap(),
                            x["other"]["name"].as_str().unwrap()
                        )
                    })
                    .collect();
                (rows, total)
            }
        };
        let all = [
            "out depends_on n01",
            "out depends_on n02",
            "out depends_on n03",
            "out member_of n00",
            "in depends_on n04",
            "in depends_on n05",
            "in depends_on n06",
            "in depends_on n07",
            "in depends_on n08",
        ];
        let admin = t.admin.clone();
        assert_eq!(
            page(admin.clone(), "limit=4".into()).await,
            (all[..4].iter().map(|s| s.to_string()).collect(), 9),
            "{}",
            t.name
        );
        assert_eq!(
            page(admin.clone(), "limit=4&offset=4".into()).await,
            (all[4..8].iter().map(|s| s.to_string()).collect(), 9),
            "{}",
            t.name
        );
        assert_eq!(
            page(admin.clone(), "limit=4&offset=8".into()).await,
            (vec![all[8].to_string()], 9),
            "{}",
            t.name
        );
        assert_eq!(
            page(admin.clone(), "offset=20".into()).await,
            (vec![], 9),
            "{}: past the end",
            t.name
        );
        assert_eq!(
            page(admin.clone(), "offset=0".into()).await.0.len(),
            9,
            "{}: default limit",
            t.name
        );
        // The relation ids break ties and pages do not overlap: every relation exactly once.
        let unpaged = t
            .get(&format!("/api/v1/cis/{hub_id}/relations"), &t.admin)
            .await;
        assert_eq!(unpaged.status, StatusCode::OK);
        assert_eq!(unpaged.body.as_array().unwrap().len(), 9);
        assert!(
            unpaged.headers.get("x-total-count").is_none(),
            "the unpaged answer is as it was"
        );

        // A customer: only relations to their organization's items, and a count of those.
        let mine: Vec<&str> = all
            .iter()
            .copied()
            .filter(|s| !["n02", "n06", "n08"].iter().any(|n| s.ends_with(n)))
            .collect();
        assert_eq!(mine.len(), 6);
        let (rows, total) = page(customer.clone(), "limit=4".into()).await;
        assert_eq!(
            (rows, total),
            (mine[..4].iter().map(|s| s.to_string()).collect(), 6),
            "{}",
            t.name
        );
        let (rows, total) = page(customer.clone(), "limit=4&offset=4".into()).await;
        assert_eq!(
            (rows, total),
            (mine[4..].iter().map(|s| s.to_string()).collect(), 6),
            "{}",
            t.name
        );
        // Another organization's customer: the item answers like a missing one …
        let r = t
            .get(
                &format!("/api/v1/cis/{hub_id}/relations?limit=10"),
                &outsider,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", t.name);
        assert!(r.headers.get("x-total-count").is_none());
        // … and on their own item, the relation to the foreign hub is neither listed nor counted.
        let b2 = by_name["n06"]["id"].as_str().unwrap();
        let r = t
            .get(&format!("/api/v1/cis/{b2}/relations?limit=10"), &outsider)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.name, r.text);
        assert_eq!(r.body.as_array().unwrap().len(), 0);
        assert_eq!(r.headers["x-total-count"], "0");
        let r = t
            .get(&format!("/api/v1/cis/{b2}/relations?limit=10"), &t.admin)
            .await;
        assert_eq!(r.headers["x-total-count"], "1");

        for bad in ["limit=0", "limit=501", "offset=-1", "limit=x"] {
            let r = t
                .get(&format!("/api/v1/cis/{hub_id}/relations?{bad}"), &t.admin)
                .await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}: {bad}: {}",
                t.name,
                r.text
            );
        }
    }
}

/// `PUT /api/v1/cis/{id}?version=N` is checked in the write transaction: of two saves of the
/// same version sent at once, one is written (200) and the other refused (409 `conflict` on
/// `version`); one version and one audit entry are added.
#[tokio::test]
async fn concurrent_saves_of_one_version_write_once() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let body = json!({"class": "application_system", "org_id": org, "external_key": "APP-1", "name": "甲系统"});
        let c = ci(&t, &t.admin, body.clone()).await;
        let id = c["id"].as_str().unwrap().to_string();
        assert_eq!(c["version"], 1);
        let audits = t.audit_count().await;
        let put = |name: &'static str, version: &'static str| {
            let mut b = body.clone();
            b["name"] = json!(name);
            let path = format!("/api/v1/cis/{id}?version={version}");
            let t = &t;
            async move {
                t.req(Method::PUT, &path, Some(&t.admin), Some(b), &[])
                    .await
            }
        };
        let (a, b) = tokio::join!(put("甲系统一", "1"), put("甲系统二", "1"));
        let mut st = [a.status, b.status];
        st.sort();
        assert_eq!(
            st,
            [StatusCode::OK, StatusCode::CONFLICT],
            "{}: {} / {}",
            t.name,
            a.text,
            b.text
        );
        let (won, lost) = if a.status == StatusCode::OK {
            (a, b)
        } else {
            (b, a)
        };
        assert_eq!(lost.body["code"], "conflict", "{}", t.name);
        assert_eq!(lost.body["field"], "version", "{}", t.name);
        assert_eq!(won.body["version"], 2);
        let now = t.get(&format!("/api/v1/cis/{id}"), &t.admin).await;
        assert_eq!(
            now.body["name"], won.body["name"],
            "{}: the winner's save is what is there",
            t.name
        );
        assert_eq!(now.body["version"], 2);
        let versions = t.get(&format!("/api/v1/cis/{id}/versions"), &t.admin).await;
        assert_eq!(versions.body.as_array().unwrap().len(), 2, "{}", t.name);
        assert_eq!(
            t.audit_count().await,
            audits + 1,
            "{}: one audit entry",
            t.name
        );

        // A stale version later is refused too, and nothing is written; the current one saves.
        let r = put("甲系统三", "1").await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", t.name);
        assert_eq!(t.audit_count().await, audits + 1);
        let r = put("甲系统三", "2").await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.name, r.text);
        assert_eq!(r.body["version"], 3);
        // Without a version, as before: saved over whatever is there.
        let mut b = body.clone();
        b["name"] = json!("甲系统四");
        let r = t
            .req(
                Method::PUT,
                &format!("/api/v1/cis/{id}"),
                Some(&t.admin),
                Some(b),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", t.name);
        assert_eq!(r.body["version"], 4);
    }
}
