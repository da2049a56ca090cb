//! The CMDB item page's write side and its deeper topology, on SQLite and PostgreSQL: the
//! edit form (saved through the service, versioned and audited; bad input re-shown with the
//! coded error and nothing written; stale forms refused; CSRF; customers and auditors get no
//! form and their forged posts are refused), retiring, deleting a relation (audited), and the
//! topology at depth 1–3 in both directions with its node cap and organization scope. The
//! last test drives the same pages in headless Chromium (see `browser.rs` for the set-up it
//! repeats); it leaves `cmdb-edit-error.png` and `cmdb-topology-depth2.png` in
//! `target/browser-screenshots/`.

mod common;

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{enc, session_cookie, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;
use yunwei_service::cmdb::{CiInput, NewRelation};

// ------------------------------------------------------------------------------- helpers

/// A signed-in browser session driven through plain HTTP (cookie + form posts).
struct Session<'a> {
    t: &'a TestApp,
    cookie: String,
    csrf: String,
}

impl Session<'_> {
    async fn login<'a>(t: &'a TestApp, user: &str) -> Session<'a> {
        let r = t.login(user, "correct horse battery").await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        Session {
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

fn form(fields: &BTreeMap<&str, String>) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn ci(t: &TestApp, org: Uuid, class: &str, key: &str, name: &str, attrs: Value) -> Uuid {
    t.app
        .create_ci(
            &t.sys,
            CiInput {
                class: class.into(),
                org_id: Some(org),
                external_key: key.into(),
                name: name.into(),
                attributes: attrs.as_object().unwrap().clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{}: create {key}: {e:?}", t.name))
        .ci
        .id
}

async fn relate(t: &TestApp, source: Uuid, kind: &str, target: Uuid) -> Uuid {
    t.app
        .create_ci_relation(
            &t.sys,
            NewRelation {
                source_id: source,
                kind: kind.into(),
                target_id: target,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{}: relate {kind}: {e:?}", t.name))
        .id
}

async fn api_ci(t: &TestApp, id: Uuid) -> Value {
    let r = t.get(&format!("/api/v1/cis/{id}"), &t.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

async fn audit_actions(t: &TestApp, id: Uuid) -> Vec<String> {
    let r = t
        .get(&format!("/api/v1/audit?entity=ci&entity_id={id}"), &t.admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

/// The edit form of the seeded server, every field filled as a user would leave it.
fn server_form(csrf: &str, version: i64) -> BTreeMap<&'static str, String> {
    [
        ("_csrf", csrf.to_string()),
        ("version", version.to_string()),
        ("name", "核心数据库服务器".into()),
        ("external_key", "SRV-1".into()),
        ("status", "maintenance".into()),
        ("criticality", "critical".into()),
        ("department_id", String::new()),
        ("location", "二号机房".into()),
        ("vendor", "某服务器厂商".into()),
        ("contract_no", "HT-2025-001".into()),
        ("contract_end", "2030-06-30".into()),
        ("warranty_end", "2029-12-31".into()),
        ("purchased_on", "2025-01-01".into()),
        ("purchase_cost", "120000.50".into()),
        ("annual_cost", "8000".into()),
        ("security_level", "3".into()),
        ("calendar_id", String::new()),
        ("attr.mgmt_ip", "10.0.0.11".into()),
        ("attr.cpu_cores", "32".into()),
        ("attr.model", String::new()),
        ("attr.serial", String::new()),
        ("attr.memory_gb", String::new()),
        ("attr.rack_position", String::new()),
        ("attr.u_size", String::new()),
    ]
    .into_iter()
    .collect()
}

// --------------------------------------------------------------------------------- tests

#[tokio::test]
async fn the_edit_form_saves_refuses_bad_input_and_hides_from_readers() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let other = t.org("乙单位").await;
        t.user("gcs", "engineer", None).await;
        t.user("sj", "auditor", None).await;
        t.user("kh", "customer", Some(org)).await;
        t.user("kh2", "customer", Some(other)).await;
        let server = ci(
            &t,
            org,
            "physical_server",
            "SRV-1",
            "数据库服务器",
            json!({"mgmt_ip": "10.0.0.10", "cpu_cores": 16}),
        )
        .await;
        let room = ci(&t, org, "machine_room", "ROOM-1", "一号机房", json!({})).await;
        let eng = Session::login(&t, "gcs").await;
        let page_url = format!("/cmdb/cis/{server}");
        let edit_url = format!("/cmdb/cis/{server}/edit");

        // The engineer's page has the form, pre-filled.
        let page = eng.get(&page_url).await;
        assert_eq!(page.status, StatusCode::OK, "{}: {}", t.name, page.text);
        for needle in [
            "id=\"ci-edit-form\"",
            &format!("action=\"{edit_url}\""),
            "name=\"_csrf\"",
            "name=\"version\" value=\"1\"",
            "id=\"ci-edit-name\" value=\"数据库服务器\"",
            "id=\"ci-edit-attr-mgmt_ip\" value=\"10.0.0.10\"",
            "id=\"ci-edit-attr-cpu_cores\" value=\"16\"",
            "name=\"security_level\"",
            "第三级 安全标记保护级",
            "id=\"ci-retire\"",
        ] {
            assert!(page.text.contains(needle), "{}: page has {needle}", t.name);
        }
        assert!(
            !page.text.contains("name=\"data_level\""),
            "servers carry no data security level"
        );

        // Save every field through the form.
        let before = t.audit_count().await;
        let r = eng.post(&edit_url, &form(&server_form(&eng.csrf, 1))).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}: {}", t.name, r.text);
        assert_eq!(
            r.headers["location"].to_str().unwrap(),
            format!("/cmdb/cis/{server}?ok=saved")
        );
        let now = api_ci(&t, server).await;
        assert_eq!(now["name"], "核心数据库服务器");
        assert_eq!(now["status"], "maintenance");
        assert_eq!(now["criticality"], "critical");
        assert_eq!(now["location"], "二号机房");
        assert_eq!(now["contract_no"], "HT-2025-001");
        assert_eq!(now["contract_end"], "2030-06-30");
        assert_eq!(now["purchase_cost"], 12_000_050);
        assert_eq!(now["annual_cost"], 800_000);
        assert_eq!(now["security_level"], 3);
        assert_eq!(now["attributes"]["mgmt_ip"], "10.0.0.11");
        assert_eq!(now["attributes"]["cpu_cores"], 32);
        assert_eq!(now["version"], 2);
        let versions = t
            .get(&format!("/api/v1/cis/{server}/versions"), &t.admin)
            .await;
        let actions: Vec<&str> = versions
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, vec!["update", "create"], "{}", t.name);
        assert_eq!(audit_actions(&t, server).await, vec!["update", "create"]);
        assert_eq!(t.audit_count().await, before + 1);
        let page = eng.get(&format!("{page_url}?ok=saved")).await;
        assert!(page.text.contains("核心数据库服务器") && page.text.contains("v2"));
        assert!(page.text.contains("name=\"version\" value=\"2\""));

        // Bad input: re-shown with the coded bilingual error and what was typed; nothing
        // written.
        let before = t.audit_count().await;
        let cases: [(&str, &str, StatusCode, &str, &str); 5] = [
            (
                "security_level",
                "9",
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "安全保护等级（GB 17859）",
            ),
            (
                "attr.mgmt_ip",
                "10.0.0.300",
                StatusCode::UNPROCESSABLE_ENTITY,
                "ci_attribute_invalid",
                "管理地址",
            ),
            (
                "purchase_cost",
                "12.345",
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "采购成本（元）",
            ),
            (
                "contract_end",
                "2030-02-30",
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "合同到期",
            ),
            (
                "attr.no_such_attribute",
                "x",
                StatusCode::UNPROCESSABLE_ENTITY,
                "ci_attribute_invalid",
                "no_such_attribute",
            ),
        ];
        for (field, value, status, code, label) in cases {
            let mut f = server_form(&eng.csrf, 2);
            f.insert("name", "不应保存的名称".into());
            f.insert(field, value.into());
            let r = eng.post(&edit_url, &form(&f)).await;
            assert_eq!(r.status, status, "{}: {field}={value}: {}", t.name, r.text);
            assert!(r.text.contains("id=\"form-error\""), "{field}: an alert");
            assert!(r.text.contains(code), "{field}: the code {code}");
            assert!(r.text.contains(label), "{field}: the field's label {label}");
            assert!(
                r.text.contains("value=\"不应保存的名称\""),
                "{field}: the typed name is kept"
            );
            assert!(r.text.contains("<details id=\"ci-edit-details\" open>"));
            // The refused input is marked (an unknown attribute has no input to mark).
            let id = format!("id=\"ci-edit-{}\"", field.replace('.', "-"));
            match r.text.find(&id) {
                Some(at) => {
                    let tag = &r.text[at..at + r.text[at..].find('>').unwrap()];
                    assert!(
                        tag.contains("aria-invalid=\"true\""),
                        "{field} marked: {tag}"
                    );
                    assert_eq!(r.text.matches("aria-invalid").count(), 1, "{field}");
                }
                None => assert!(!r.text.contains("aria-invalid"), "{field}"),
            }
        }
        // The value typed into an IP attribute and an out-of-range level stay visible.
        let mut f = server_form(&eng.csrf, 2);
        f.insert("attr.mgmt_ip", "10.0.0.300".into());
        let r = eng.post(&edit_url, &form(&f)).await;
        assert!(r
            .text
            .contains("id=\"ci-edit-attr-mgmt_ip\" value=\"10.0.0.300\""));
        let mut f = server_form(&eng.csrf, 2);
        f.insert("security_level", "9".into());
        let r = eng.post(&edit_url, &form(&f)).await;
        assert!(
            r.text.contains("<option value=\"9\" selected>9</option>"),
            "the level as sent"
        );
        // In English the same refusal is in English, with the same code.
        let r = t
            .send(
                Request::post(&edit_url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("cookie", format!("{}; yw_lang=en", eng.cookie))
                    .body(Body::from(form(&f)))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text.contains("validation_failed"), "{}", r.text);
        assert!(r.text.contains("Security level (GB 17859)"));
        // An unknown enum value on a machine room.
        let room_form: BTreeMap<&str, String> = [
            ("_csrf", eng.csrf.clone()),
            ("version", "1".to_string()),
            ("name", "一号机房".into()),
            ("external_key", "ROOM-1".into()),
            ("attr.tier", "Z".into()),
        ]
        .into_iter()
        .collect();
        let r = eng
            .post(&format!("/cmdb/cis/{room}/edit"), &form(&room_form))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert!(r.text.contains("ci_attribute_invalid") && r.text.contains("机房等级"));
        assert!(r.text.contains("<option value=\"Z\" selected>Z</option>"));
        assert_eq!(api_ci(&t, room).await["version"], 1);

        // A form filled from an older version is refused (409), nothing written.
        let r = eng.post(&edit_url, &form(&server_form(&eng.csrf, 1))).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        assert!(r.text.contains("conflict"));
        assert!(
            r.text.contains("name=\"version\" value=\"2\""),
            "re-shown to be saved over the current version"
        );

        // CSRF: missing or wrong → refused.
        let mut f = server_form(&eng.csrf, 2);
        f.remove("_csrf");
        let r = eng.post(&edit_url, &form(&f)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.text.contains("csrf_failed"));
        let r = eng
            .post(&edit_url, &form(&server_form("not-the-token", 2)))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);

        let unchanged = api_ci(&t, server).await;
        assert_eq!(unchanged["version"], 2, "{}", t.name);
        assert_eq!(unchanged["name"], "核心数据库服务器");
        assert_eq!(unchanged["attributes"]["mgmt_ip"], "10.0.0.11");
        assert_eq!(t.audit_count().await, before, "nothing written");

        // Readers: no form; a forged post is refused and writes nothing.
        let readers = [
            ("kh", StatusCode::OK, Session::login(&t, "kh").await),
            ("sj", StatusCode::OK, Session::login(&t, "sj").await),
            (
                "kh2",
                StatusCode::NOT_FOUND,
                Session::login(&t, "kh2").await,
            ),
        ];
        let before = t.audit_count().await; // signing in is audited
        for (user, get_status, s) in &readers {
            let get_status = *get_status;
            let page = s.get(&page_url).await;
            assert_eq!(page.status, get_status, "{user}");
            for absent in [
                "ci-edit-form",
                "/edit\"",
                "/retire\"",
                "/delete\"",
                "rel-form",
            ] {
                assert!(!page.text.contains(absent), "{user} sees no {absent}");
            }
            for path in [&edit_url, &format!("/cmdb/cis/{server}/retire")] {
                let r = s.post(path, &form(&server_form(&s.csrf, 2))).await;
                assert!(
                    r.status == StatusCode::FORBIDDEN || r.status == StatusCode::NOT_FOUND,
                    "{user} {path}: {}",
                    r.status
                );
            }
        }
        assert_eq!(api_ci(&t, server).await["version"], 2);
        assert_eq!(t.audit_count().await, before, "nothing written by readers");

        // Retire: a new version with status retired; the button is gone afterwards.
        let r = eng
            .post(
                &format!("/cmdb/cis/{server}/retire"),
                &format!("_csrf={}&version=2", eng.csrf),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        let now = api_ci(&t, server).await;
        assert_eq!(
            (now["status"].as_str(), now["version"].as_i64()),
            (Some("retired"), Some(3))
        );
        assert_eq!(now["name"], "核心数据库服务器", "only the status changed");
        assert_eq!(now["purchase_cost"], 12_000_050);
        assert_eq!(now["attributes"]["cpu_cores"], 32);
        assert!(!eng.get(&page_url).await.text.contains("id=\"ci-retire\""));
        assert_eq!(audit_actions(&t, server).await[0], "update");
    }
}

#[tokio::test]
async fn a_relation_is_deleted_from_the_page_and_audited() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        t.user("gcs", "engineer", None).await;
        t.user("kh", "customer", Some(org)).await;
        let server = ci(
            &t,
            org,
            "physical_server",
            "SRV-1",
            "数据库服务器",
            json!({}),
        )
        .await;
        let app = ci(
            &t,
            org,
            "application_system",
            "APP-1",
            "财务系统",
            json!({}),
        )
        .await;
        let other = ci(&t, org, "application_system", "APP-2", "OA 系统", json!({})).await;
        let rel = relate(&t, app, "runs_on", server).await;
        let unrelated = relate(&t, other, "depends_on", app).await;
        let eng = Session::login(&t, "gcs").await;
        let kh = Session::login(&t, "kh").await;
        let del = format!("/cmdb/cis/{server}/relations/{rel}/delete");

        let page = eng.get(&format!("/cmdb/cis/{server}")).await;
        assert!(
            page.text.contains(&format!("action=\"{del}\"")),
            "{}",
            t.name
        );
        assert!(page.text.contains(&format!("id=\"rel-del-confirm-{rel}\"")));
        assert!(page.text.contains("确认删除"));
        let customer_page = kh.get(&format!("/cmdb/cis/{server}")).await;
        assert_eq!(customer_page.status, StatusCode::OK);
        assert!(
            customer_page.text.contains("财务系统"),
            "the customer sees the relation"
        );
        assert!(!customer_page.text.contains(&del), "but no delete form");

        let before = t.audit_count().await;
        // A customer's forged post, a missing token, a relation not on this item: refused.
        let r = kh.post(&del, &format!("_csrf={}", kh.csrf)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}: {}", t.name, r.text);
        let r = eng.post(&del, "").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = eng
            .post(
                &format!("/cmdb/cis/{server}/relations/{unrelated}/delete"),
                &format!("_csrf={}", eng.csrf),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = eng
            .post(
                &format!("/cmdb/cis/{server}/relations/not-a-uuid/delete"),
                &format!("_csrf={}", eng.csrf),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(t.audit_count().await, before);
        let rels = t
            .get(&format!("/api/v1/cis/{server}/relations"), &t.admin)
            .await;
        assert_eq!(rels.body.as_array().unwrap().len(), 1);

        // The engineer deletes it.
        let r = eng.post(&del, &format!("_csrf={}", eng.csrf)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}: {}", t.name, r.text);
        assert_eq!(
            r.headers["location"].to_str().unwrap(),
            format!("/cmdb/cis/{server}?ok=deleted")
        );
        let rels = t
            .get(&format!("/api/v1/cis/{server}/relations"), &t.admin)
            .await;
        assert!(rels.body.as_array().unwrap().is_empty(), "{}", rels.text);
        assert_eq!(t.audit_count().await, before + 1);
        let audit = t
            .get(
                &format!("/api/v1/audit?entity=ci&entity_id={app}&action=unrelate"),
                &t.admin,
            )
            .await;
        let items = audit.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{}", audit.text);
        assert_eq!(items[0]["actor_name"], "gcs", "{}", audit.text);
        let before_rel: Value =
            serde_json::from_str(items[0]["before_json"].as_str().unwrap()).unwrap();
        assert_eq!(before_rel["id"], rel.to_string());
        assert_eq!(before_rel["kind"], "runs_on");
        let page = eng.get(&format!("/cmdb/cis/{server}?ok=deleted")).await;
        assert!(page.text.contains("已删除"));
        assert!(!page.text.contains(&del));
        // Again: it is gone.
        let r = eng.post(&del, &format!("_csrf={}", eng.csrf)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // The other relation is untouched.
        let rels = t
            .get(&format!("/api/v1/cis/{app}/relations"), &t.admin)
            .await;
        assert_eq!(rels.body.as_array().unwrap().len(), 1);
    }
}

async fn html(s: &Session<'_>, url: &str) -> String {
    let r = s.get(url).await;
    assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.text);
    r.text
}

fn svg_of(html: &str) -> &str {
    let start = html.find("<svg").unwrap();
    let end = html[start..].find("</svg>").unwrap();
    &html[start..start + end]
}

fn node_ids(html: &str) -> Vec<String> {
    html.split("class=\"topo-node\" data-id=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_topology_goes_deeper_both_ways_within_scope_and_a_cap() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let other = t.org("乙单位").await;
        t.user("gcs", "engineer", None).await;
        t.user("kh", "customer", Some(org)).await;
        // service → app → vm → server → rack → room (each "runs on"/"located in" the next).
        let room = ci(&t, org, "machine_room", "ROOM-1", "一号机房", json!({})).await;
        let rack = ci(&t, org, "rack", "RACK-1", "A1 机柜", json!({})).await;
        let server = ci(
            &t,
            org,
            "physical_server",
            "SRV-1",
            "数据库服务器",
            json!({}),
        )
        .await;
        let vm = ci(&t, org, "virtual_machine", "VM-1", "财务虚拟机", json!({})).await;
        let app = ci(
            &t,
            org,
            "application_system",
            "APP-1",
            "财务系统",
            json!({}),
        )
        .await;
        let svc = ci(
            &t,
            org,
            "business_service",
            "SVC-1",
            "财务报销服务",
            json!({}),
        )
        .await;
        relate(&t, rack, "located_in", room).await;
        relate(&t, server, "located_in", rack).await;
        relate(&t, vm, "runs_on", server).await;
        relate(&t, app, "runs_on", vm).await;
        relate(&t, svc, "depends_on", app).await;
        // Another organization's item that depends on the VM, and one of 甲's own items that
        // depends only on it.
        let foreign = ci(
            &t,
            other,
            "application_system",
            "B-APP",
            "乙单位监控平台",
            json!({}),
        )
        .await;
        let hidden = ci(
            &t,
            org,
            "application_system",
            "APP-H",
            "经乙单位才可达",
            json!({}),
        )
        .await;
        relate(&t, foreign, "depends_on", vm).await;
        relate(&t, hidden, "depends_on", foreign).await;

        let eng = Session::login(&t, "gcs").await;
        let kh = Session::login(&t, "kh").await;
        let vm_page = format!("/cmdb/cis/{vm}");

        // Depth 1 (the default): the neighbours only.
        let d1 = html(&eng, &vm_page).await;
        assert!(
            d1.contains("data-depth=\"1\" data-dir=\"both\""),
            "{}",
            t.name
        );
        let mut ids = node_ids(&d1);
        ids.sort();
        let mut want = vec![
            vm.to_string(),
            server.to_string(),
            app.to_string(),
            foreign.to_string(),
        ];
        want.sort();
        assert_eq!(ids, want, "{}", t.name);
        assert!(d1.contains("运行于"), "kinds labelled in Chinese");
        assert!(!d1.contains(&format!("data-id=\"{rack}\"")));

        // Depth 2: the second level both ways, linked to their pages.
        let d2 = html(&eng, &format!("{vm_page}?depth=2&dir=both")).await;
        for (id, name) in [
            (rack, "A1 机柜"),
            (svc, "财务报销服务"),
            (hidden, "经乙单位才可达"),
        ] {
            assert!(
                d2.contains(&format!("data-id=\"{id}\"")),
                "{}: {name}",
                t.name
            );
            assert!(
                d2.contains(&format!("href=\"/cmdb/cis/{id}?depth=2&#38;dir=both\"")),
                "{name} is a link"
            );
            assert!(d2.contains(name));
        }
        assert!(
            !d2.contains(&format!("data-id=\"{room}\"")),
            "room is at depth 3"
        );
        assert!(d2.contains("位于") && d2.contains("依赖"));
        assert!(
            d2.contains("受影响 · 2") && d2.contains("依赖 · 2"),
            "layers labelled"
        );
        // Impacted items are drawn above the item, dependencies below.
        let y_of = |html: &str, id: Uuid| -> i32 {
            let at = html.find(&format!("data-id=\"{id}\"")).unwrap();
            let rest = &html[at..];
            let y = rest.split("<text x=\"").nth(1).unwrap();
            y.split("y=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert!(y_of(&d2, svc) < y_of(&d2, app));
        assert!(y_of(&d2, app) < y_of(&d2, vm));
        assert!(y_of(&d2, vm) < y_of(&d2, server));
        assert!(y_of(&d2, server) < y_of(&d2, rack));
        // The same request draws the same picture.
        let again = html(&eng, &format!("{vm_page}?depth=2&dir=both")).await;
        assert_eq!(svg_of(&d2), svg_of(&again));

        // One direction at depth 3.
        let down = html(&eng, &format!("{vm_page}?depth=3&dir=down")).await;
        let mut ids = node_ids(&down);
        ids.sort();
        let mut want = vec![
            vm.to_string(),
            server.to_string(),
            rack.to_string(),
            room.to_string(),
        ];
        want.sort();
        assert_eq!(ids, want, "{}: what the VM depends on", t.name);
        let up = html(&eng, &format!("{vm_page}?depth=3&dir=up")).await;
        let mut ids = node_ids(&up);
        ids.sort();
        let mut want = vec![
            vm.to_string(),
            app.to_string(),
            svc.to_string(),
            foreign.to_string(),
            hidden.to_string(),
        ];
        want.sort();
        assert_eq!(ids, want, "{}: what the VM impacts", t.name);
        // Nonsense parameters fall back to depth 1, both ways.
        let odd = html(&eng, &format!("{vm_page}?depth=9&dir=sideways")).await;
        assert!(odd.contains("data-depth=\"1\" data-dir=\"both\""));

        // The engineer at depth 3 reaches 甲's item through 乙's; the customer of 甲 sees
        // neither 乙's item nor what lies only behind it.
        let d3 = html(&eng, &format!("{vm_page}?depth=3")).await;
        assert!(d3.contains(&format!("data-id=\"{hidden}\"")), "{}", t.name);
        // (Only the drawing: the impact list on the same page is another section's business.)
        let c3_page = html(&kh, &format!("{vm_page}?depth=3")).await;
        let c3 = svg_of(&c3_page);
        for id in [room, rack, server, app, svc] {
            assert!(
                c3.contains(&format!("data-id=\"{id}\"")),
                "{}: {id}",
                t.name
            );
        }
        assert!(!c3.contains("乙单位监控平台") && !c3.contains(&foreign.to_string()));
        assert!(!c3.contains(&hidden.to_string()) && !c3.contains("经乙单位才可达"));

        // A hub with more neighbours than the cap: 150 drawn, the rest counted.
        let hub = ci(
            &t,
            org,
            "physical_server",
            "HUB",
            "共享存储服务器",
            json!({}),
        )
        .await;
        for k in 0..160 {
            let a = ci(
                &t,
                org,
                "application_system",
                &format!("APP-{k:03}"),
                &format!("应用{k:03}"),
                json!({}),
            )
            .await;
            relate(&t, a, "depends_on", hub).await;
        }
        let r = eng.get(&format!("/cmdb/cis/{hub}")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(node_ids(&r.text).len(), 150, "{}", t.name);
        assert!(r.text.contains("id=\"topo-more\""));
        assert!(
            r.text.contains("另有至少 11 个相关配置项未绘制"),
            "{}",
            t.name
        );
        // Deeper: the cut nodes are not expanded, the drawn ones are (149 more look-ups).
        let started = std::time::Instant::now();
        let r = eng.get(&format!("/cmdb/cis/{hub}?depth=3")).await;
        eprintln!("{}: hub at depth 3 in {:?}", t.name, started.elapsed());
        assert_eq!(node_ids(&r.text).len(), 150);
        assert!(r.text.contains("另有至少 11 个相关配置项未绘制"));
        let r = eng.get(&format!("/cmdb/cis/{vm}")).await;
        assert!(
            !r.text.contains("id=\"topo-more\""),
            "no note without a cut"
        );
    }
}

// ------------------------------------------------------------------------------ browser

mod browser {
    use std::path::Path;
    use std::time::Duration;

    use super::common::browser::*;
    use fantoccini::{Client, Locator};
    use serde_json::json;
    use uuid::Uuid;
    use yunwei_service::cmdb::{CiInput, NewRelation};

    const FLOW_BUDGET: Duration = Duration::from_secs(120);
    const PW: &str = "correct horse battery";

    async fn text_of(c: &Client, css: &str) -> String {
        c.find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    async fn fill(c: &Client, css: &str, value: &str) {
        let e = c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"));
        e.clear()
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        e.send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    async fn click(c: &Client, css: &str) {
        c.find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    async fn click_xpath(c: &Client, xpath: &str) {
        c.find(Locator::XPath(xpath))
            .await
            .unwrap_or_else(|e| panic!("find {xpath}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {xpath}: {e}"));
    }

    async fn goto(c: &Client, url: &str) {
        c.goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// Wait until the element's text satisfies `ok` (the page may be mid-navigation).
    async fn wait_text(c: &Client, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        eventually(what, || async {
            let t = c.find(Locator::Css(css)).await.ok()?.text().await.ok()?;
            ok(&t).then_some(t)
        })
        .await
    }

    async fn value_of(c: &Client, css: &str) -> String {
        c.find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
            .prop("value")
            .await
            .unwrap_or_else(|e| panic!("value of {css}: {e}"))
            .unwrap_or_default()
    }

    /// A screenshot of the window scrolled to an element.
    async fn screenshot(c: &Client, css: &str, name: &str) {
        let dir = target_dir().join("browser-screenshots");
        std::fs::create_dir_all(&dir).expect("create target/browser-screenshots");
        c.execute(
            "document.querySelector(arguments[0]).scrollIntoView()",
            vec![json!(css)],
        )
        .await
        .unwrap_or_else(|e| panic!("scroll to {css}: {e}"));
        let png = c.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(name), png).expect("write the screenshot");
    }

    struct Seeded {
        server: Uuid,
        room: Uuid,
    }

    /// room ← rack ← server ← vm ← app; an engineer `gongchengshi`.
    async fn seed(app: &yunwei_service::App) -> Seeded {
        let sys = app.system_actor().await.unwrap();
        app.create_user(
            &sys,
            yunwei_service::users::NewUser {
                username: "gongchengshi".into(),
                display_name: Some("王工".into()),
                email: None,
                phone: None,
                role: "engineer".into(),
                org_id: None,
                department_id: None,
                password: PW.into(),
                lang: None,
            },
        )
        .await
        .unwrap();
        let mut ids = Vec::new();
        for (class, key, name, attrs) in [
            ("machine_room", "ROOM-1", "一号机房", json!({})),
            ("rack", "RACK-A1", "A1 机柜", json!({})),
            (
                "physical_server",
                "SRV-01",
                "核心数据库服务器",
                json!({"mgmt_ip": "10.0.0.10"}),
            ),
            ("virtual_machine", "VM-01", "OA 虚拟机", json!({})),
            ("application_system", "APP-OA", "OA 系统", json!({})),
        ] {
            let v = app
                .create_ci(
                    &sys,
                    CiInput {
                        class: class.into(),
                        external_key: key.into(),
                        name: name.into(),
                        attributes: attrs.as_object().unwrap().clone(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            ids.push(v.ci.id);
        }
        for (s, kind, t) in [
            (1, "located_in", 0),
            (2, "located_in", 1),
            (3, "runs_on", 2),
            (4, "runs_on", 3),
        ] {
            app.create_ci_relation(
                &sys,
                NewRelation {
                    source_id: ids[s],
                    kind: kind.into(),
                    target_id: ids[t],
                },
            )
            .await
            .unwrap();
        }
        // 204 more racks in the room: 205 relations, two pages of the relation list.
        for k in 0..204 {
            let rack = app
                .create_ci(
                    &sys,
                    CiInput {
                        class: "rack".into(),
                        external_key: format!("RACK-X{k:03}"),
                        name: format!("X{k:03} 机柜"),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            app.create_ci_relation(
                &sys,
                NewRelation {
                    source_id: rack.ci.id,
                    kind: "located_in".into(),
                    target_id: ids[0],
                },
            )
            .await
            .unwrap();
        }
        Seeded {
            server: ids[2],
            room: ids[0],
        }
    }

    /// Edit a CI through the form (then a bad IP), draw the topology at depth 2 and follow a
    /// second-level node, delete a relation after confirming.
    async fn flow(c: Client, base: String, s: Seeded, store: &str) {
        goto(&c, &format!("{base}/login")).await;
        fill(&c, "#username", "gongchengshi").await;
        fill(&c, "#password", PW).await;
        click(&c, "#login-submit").await;
        eventually("signed in", || async {
            c.find(Locator::Css("#logout")).await.ok()
        })
        .await;
        let page = format!("{base}/cmdb/cis/{}", s.server);

        // Edit: open the section, change the name and an IP attribute, save.
        goto(&c, &page).await;
        click(&c, "#ci-edit-open").await;
        fill(&c, "#ci-edit-name", "核心数据库服务器（主）").await;
        fill(&c, "#ci-edit-attr-mgmt_ip", "10.0.0.20").await;
        click(&c, "#ci-edit-submit").await;
        wait_text(&c, "#ci-title", "the new name", |t| t.contains("（主）")).await;
        assert!(text_of(&c, "#ci-attrs").await.contains("10.0.0.20"));
        let versions = text_of(&c, "#ci-versions").await;
        assert!(
            versions.contains("v2") && versions.contains("update"),
            "{store}: {versions}"
        );

        // A bad IP: the coded error, the typed values kept, nothing saved.
        click(&c, "#ci-edit-open").await;
        fill(&c, "#ci-edit-name", "不应保存").await;
        fill(&c, "#ci-edit-attr-mgmt_ip", "10.0.0.300").await;
        click(&c, "#ci-edit-submit").await;
        let alert = wait_text(&c, "#form-error", "the refusal", |t| !t.is_empty()).await;
        assert!(
            alert.contains("ci_attribute_invalid") && alert.contains("管理地址"),
            "{store}: {alert}"
        );
        assert_eq!(value_of(&c, "#ci-edit-attr-mgmt_ip").await, "10.0.0.300");
        assert_eq!(value_of(&c, "#ci-edit-name").await, "不应保存");
        assert!(text_of(&c, "#ci-title").await.contains("（主）"));
        screenshot(&c, "#ci-edit", &format!("cmdb-edit-error-{store}.png")).await;

        // Topology at depth 2: the room (two relations down) is drawn and is a link.
        goto(&c, &page).await;
        click(&c, "#topo-depth option[value='2']").await;
        click(&c, "#topo-submit").await;
        eventually("the depth-2 drawing", || async {
            let svg = c.find(Locator::Css("#topology-svg")).await.ok()?;
            (svg.attr("data-depth").await.ok()?? == "2").then_some(())
        })
        .await;
        let svg = text_of(&c, "#topology-svg").await;
        for name in [
            "一号机房",
            "OA 系统",
            "A1 机柜",
            "OA 虚拟机",
            "位于",
            "运行于",
        ] {
            assert!(svg.contains(name), "{store}: depth 2 shows {name}: {svg}");
        }
        screenshot(
            &c,
            "#ci-topology",
            &format!("cmdb-topology-depth2-{store}.png"),
        )
        .await;
        click(
            &c,
            &format!("#topology-svg a.topo-node[data-id='{}']", s.room),
        )
        .await;
        wait_text(&c, "#ci-title", "the room's page", |t| {
            t.contains("一号机房")
        })
        .await;
        let url = c.current_url().await.unwrap();
        assert!(url.query().unwrap_or("").contains("depth=2"), "{url}");

        // Delete the server's relation to the rack, after confirming.
        goto(&c, &page).await;
        let row = "//table[@id='ci-rel-table']//tr[.//a[contains(., 'A1 机柜')]]";
        click_xpath(&c, &format!("{row}//summary")).await;
        click_xpath(&c, &format!("{row}//button")).await;
        eventually("the relation gone", || async {
            let url = c.current_url().await.ok()?;
            if !url.query().unwrap_or("").contains("ok=deleted") {
                return None;
            }
            let t = c
                .find(Locator::Css("#ci-rel-table"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            (!t.contains("A1 机柜")).then_some(())
        })
        .await;
        let rels = text_of(&c, "#ci-rel-table").await;
        assert!(
            rels.contains("OA 虚拟机"),
            "{store}: the other relation stays: {rels}"
        );

        // The room's 205 relations: 200 listed, then the next page with the other 5.
        let rows = "#ci-rel-table tbody tr";
        goto(&c, &format!("{base}/cmdb/cis/{}", s.room)).await;
        let total = text_of(&c, "#rel-total").await;
        assert!(
            total.contains("205") && total.contains("1–200"),
            "{store}: {total}"
        );
        assert_eq!(c.find_all(Locator::Css(rows)).await.unwrap().len(), 200);
        assert!(c.find(Locator::Css("#rel-prev")).await.is_err());
        click(&c, "#rel-next").await;
        wait_text(&c, "#rel-total", "the second page of relations", |t| {
            t.contains("201–205")
        })
        .await;
        let url = c.current_url().await.unwrap();
        assert!(
            url.query().unwrap_or("").contains("rels_offset=200"),
            "{url}"
        );
        assert_eq!(c.find_all(Locator::Css(rows)).await.unwrap().len(), 5);
        let second = text_of(&c, "#ci-rel-table").await;
        assert!(
            second.contains("X203 机柜"),
            "{store}: the last by name: {second}"
        );
        assert!(c.find(Locator::Css("#rel-next")).await.is_err());
        click(&c, "#rel-prev").await;
        wait_text(&c, "#rel-total", "back to the first page", |t| {
            t.contains("1–200")
        })
        .await;
        click(&c, "#logout").await;
        eventually("signed out", || async {
            let u = c.current_url().await.ok()?;
            (u.path() == "/login").then_some(())
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn browser_cmdb_edit_topology_and_relation_delete() {
        for bin in [CHROMEDRIVER, CHROMIUM] {
            if !Path::new(bin).exists() {
                if in_ci() {
                    panic!("CI=true but {bin} is missing: install chromium and chromium-driver");
                }
                eprintln!("WARNING: {bin} not found: SKIPPING the CMDB edit browser test.");
                return;
            }
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let profile = std::env::temp_dir().join(format!(
            "yunwei-chromium-{}-{}",
            std::process::id(),
            Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&profile).expect("create the browser profile dir");
        let (_driver, driver_url) = start_chromedriver(profile.clone()).await;
        let client = connect_browser(&driver_url, &profile).await;
        let c2 = client.clone();
        let run = tokio::spawn(tokio::time::timeout(FLOW_BUDGET * 2, async move {
            for tdb in yunwei_testkit::TestDb::both().await {
                let store = match tdb.backend {
                    yunwei_testkit::Backend::Sqlite => "sqlite",
                    yunwei_testkit::Backend::Postgres => "postgres",
                };
                let app = yunwei_service::App::new(tdb.db.clone());
                app.bootstrap().await.unwrap();
                let seeded = seed(&app).await;
                let state = yunwei_web::state(app, yunwei_web::WebConfig::default());
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let base = format!("http://{}", listener.local_addr().unwrap());
                let server =
                    tokio::spawn(yunwei_web::serve(listener, state, std::future::pending()));
                flow(c2.clone(), base, seeded, store).await;
                server.abort();
                drop(tdb);
            }
        }));
        let outcome = run.await;
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("the CMDB edit browser flow took longer than expected"),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("the CMDB edit browser flow task failed: {e}"),
        }
    }
}

/// The class schema an item's page uses is cached per node: a class and attributes another
/// node adds (a second service on the same database) are on this node's next page.
#[tokio::test]
async fn a_class_added_by_another_node_is_on_the_next_page() {
    use yunwei_service::cmdb::{NewAttribute, NewClass};
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        t.user("gcs", "engineer", None).await;
        let eng = Session::login(&t, "gcs").await;
        let server = ci(
            &t,
            org,
            "physical_server",
            "SRV-1",
            "数据库服务器",
            json!({}),
        )
        .await;
        let server_url = format!("/cmdb/cis/{server}");
        // This node reads (and keeps) the schema.
        let page = eng.get(&server_url).await;
        assert_eq!(page.status, StatusCode::OK, "{}: {}", t.name, page.text);
        assert!(!page.text.contains("ci-edit-attr-asset_tag"), "{}", t.name);

        // Another node adds a class with an attribute, an item of it, and an attribute of the
        // server's class.
        let other = yunwei_service::App::new(t._db.db.clone());
        let cooling = other
            .create_ci_class(
                &t.sys,
                NewClass {
                    code: "cooling_ctl".into(),
                    name_zh: "机房温控系统".into(),
                    name_en: "Cooling controller".into(),
                    category: "facility".into(),
                    has_security_level: false,
                    has_data_level: false,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", t.name));
        let attr = |code: &str, zh: &str, kind: &str| NewAttribute {
            code: code.into(),
            name_zh: zh.into(),
            name_en: code.into(),
            kind: kind.into(),
            options: vec![],
        };
        other
            .add_ci_attribute(
                &t.sys,
                cooling.class.id,
                attr("setpoint", "设定温度", "number"),
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", t.name));
        let server_class = other
            .list_ci_classes(&t.sys)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.class.code == "physical_server")
            .unwrap();
        other
            .add_ci_attribute(
                &t.sys,
                server_class.class.id,
                attr("asset_tag", "资产标签号", "text"),
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", t.name));
        let unit = other
            .create_ci(
                &t.sys,
                CiInput {
                    class: "cooling_ctl".into(),
                    org_id: Some(org),
                    external_key: "COOL-1".into(),
                    name: "一号温控".into(),
                    attributes: json!({"setpoint": 22}).as_object().unwrap().clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", t.name))
            .ci
            .id;

        // This node's next pages have them.
        let page = eng.get(&format!("/cmdb/cis/{unit}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}: {}", t.name, page.text);
        for needle in [
            "机房温控系统",
            "设定温度",
            "id=\"ci-edit-attr-setpoint\" value=\"22\"",
        ] {
            assert!(page.text.contains(needle), "{}: {needle}", t.name);
        }
        let page = eng.get(&server_url).await;
        assert!(
            page.text.contains("id=\"ci-edit-attr-asset_tag\""),
            "{}: the new attribute is in the server's form",
            t.name
        );
        let classes = t.get("/api/v1/ci-classes", &t.admin).await;
        let c = classes
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == "cooling_ctl")
            .unwrap_or_else(|| panic!("{}: the class is listed", t.name));
        assert_eq!(c["attributes"][0]["code"], "setpoint", "{}", t.name);
    }
}

/// An item's page lists its newest versions and counts the rest.
#[tokio::test]
async fn the_page_lists_the_newest_versions_and_counts_the_rest() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        t.user("gcs", "engineer", None).await;
        let eng = Session::login(&t, "gcs").await;
        let id = ci(&t, org, "application_system", "APP-1", "系统0", json!({})).await;
        for n in 1..=31 {
            t.app
                .update_ci(
                    &t.sys,
                    id,
                    CiInput {
                        class: "application_system".into(),
                        org_id: Some(org),
                        external_key: "APP-1".into(),
                        name: format!("系统{n}"),
                        ..Default::default()
                    },
                    None,
                )
                .await
                .unwrap_or_else(|e| panic!("{}: {e:?}", t.name));
        }
        let page = html(&eng, &format!("/cmdb/cis/{id}")).await;
        let listed = page.matches("<li><span class=\"meta\">v").count();
        assert_eq!(listed, 30, "{}", t.name);
        assert!(page.contains("v32 · "), "{}: the newest first", t.name);
        assert!(
            !page.contains("v2 · "),
            "{}: the oldest are not listed",
            t.name
        );
        assert!(page.contains("… (32)"), "{}: all are counted", t.name);
    }
}
