//! Full-text search over configuration items through the API and the CMDB page, on SQLite
//! and PostgreSQL: Chinese words, IP addresses, class names, ranking and paging,
//! organization scope, the feed (updates, retirement, renamed owners, imports, removal),
//! rebuilding from the database, and two nodes over one PostgreSQL database.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use common::{session_cookie, TestApp};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tokio::sync::Notify;
use tower::ServiceExt;
use yunwei_search::{CiSearchIndex, TicketSearchIndex};
use yunwei_service::App;
use yunwei_testkit::TestDb;

/// How long a node may take to index a change (nudged at once; other nodes poll every second).
const DEADLINE: Duration = Duration::from_secs(20);

/// Stops a node's indexers when dropped.
struct Stop(Arc<Notify>);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

/// Give `app` its ticket and CI indexes in `dir` and start its indexer.
fn with_index(app: App, dir: &Path) -> (App, Stop) {
    let app = app
        .with_search(Arc::new(TicketSearchIndex::open(dir).unwrap()))
        .with_ci_search(Arc::new(CiSearchIndex::open(dir).unwrap()));
    let indexer = app.clone();
    let stop = Arc::new(Notify::new());
    let stopped = stop.clone();
    tokio::spawn(async move {
        indexer
            .run_search_indexer(async move { stopped.notified().await })
            .await
    });
    (app, Stop(stop))
}

/// A node: the API over `db` with its own indexes in `dir`, its indexer running.
async fn node(db: TestDb, dir: &Path) -> (TestApp, Stop) {
    let (app, stop) = with_index(App::new(db.db.clone()), dir);
    let boot = app.bootstrap().await.unwrap();
    let sys = app.system_actor().await.unwrap();
    let admin_user = app.get_user_by_username(&sys, "admin").await.unwrap();
    let admin = app
        .create_token(&sys, admin_user.id, Default::default())
        .await
        .unwrap()
        .token;
    let router = yunwei_web::router(yunwei_web::state(app.clone(), Default::default()));
    let name = match db.backend {
        yunwei_testkit::Backend::Sqlite => "sqlite",
        yunwei_testkit::Backend::Postgres => "postgres",
    };
    let t = TestApp {
        router,
        app,
        sys,
        admin,
        admin_password: boot.admin_password.unwrap_or_default(),
        name,
        _db: db,
    };
    (t, stop)
}

/// Stop a node; once its indexes are closed, give back its database.
async fn shut_down(t: TestApp, stop: Stop, dir: &Path) -> TestDb {
    let TestApp {
        router, app, _db, ..
    } = t;
    drop((router, app, stop));
    let start = Instant::now();
    loop {
        match (TicketSearchIndex::open(dir), CiSearchIndex::open(dir)) {
            (Ok(_), Ok(_)) => return _db,
            (Err(yunwei_search::OpenError::Busy(_)), _)
            | (_, Err(yunwei_search::OpenError::Busy(_)))
                if start.elapsed() < DEADLINE =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (Err(e), _) | (_, Err(e)) => panic!("{e}"),
        }
    }
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A GET or POST through a node's router: (status, JSON body, text).
async fn call(
    r: &Router,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value, String) {
    let b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    let req = match body {
        Some(j) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(j.to_string())),
        None => b.body(Body::empty()),
    };
    let res = r.clone().oneshot(req.unwrap()).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text,
    )
}

/// The CI list page `token` gets for `q` (and extra query `params`).
async fn page(r: &Router, token: &str, q: &str, params: &str) -> Value {
    let path = format!("/api/v1/cis?q={}{params}", encode(q));
    let (status, body, text) = call(r, Method::GET, &path, token, None).await;
    assert_eq!(status, StatusCode::OK, "{q}: {text}");
    body
}

/// The external keys `token` finds with `q`, in the order given.
async fn find(r: &Router, token: &str, q: &str, params: &str) -> Vec<String> {
    page(r, token, q, params).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["external_key"].as_str().unwrap().to_string())
        .collect()
}

/// The same, sorted.
async fn find_set(r: &Router, token: &str, q: &str, params: &str) -> Vec<String> {
    let mut v = find(r, token, q, params).await;
    v.sort();
    v
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Wait until the node's CI index covers every audit entry written so far.
async fn caught_up(t: &TestApp) {
    let head = yunwei_store::search::last_seq(&t.app.db).await.unwrap();
    let start = Instant::now();
    while t.app.ci_search_indexed_seq().is_none_or(|s| s < head) {
        assert!(
            start.elapsed() < DEADLINE,
            "{}: CI indexer did not catch up",
            t.name
        );
        t.app.nudge_search();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait until `q` finds exactly `keys` (in any order); false at the deadline.
async fn eventually(r: &Router, token: &str, q: &str, keys: &[&str]) -> bool {
    let start = Instant::now();
    let want = {
        let mut w = strs(keys);
        w.sort();
        w
    };
    while start.elapsed() < DEADLINE {
        if find_set(r, token, q, "").await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn ci(r: &Router, token: &str, body: Value) -> Value {
    let (status, body, text) = call(r, Method::POST, "/api/v1/cis", token, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    body
}

async fn put_ci(t: &TestApp, id: &Value, body: Value) {
    let path = format!("/api/v1/cis/{}", id.as_str().unwrap());
    let r = t
        .req(Method::PUT, &path, Some(&t.admin), Some(body), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.name, r.text);
}

async fn department(t: &TestApp, org: uuid::Uuid, name: &str) -> String {
    let r = t
        .post(
            &format!("/api/v1/organizations/{org}/departments"),
            &t.admin,
            json!({ "name": name }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// The CMDB page (HTML) for `q`, signed in as `username`.
async fn list_html(t: &TestApp, username: &str, password: &str, q: &str) -> String {
    let r = t.login(username, password).await;
    assert!(r.status.is_success(), "{}", r.text);
    let cookie = session_cookie(&r);
    let r = t
        .req(
            Method::GET,
            &format!("/cmdb?q={}", encode(q)),
            None,
            None,
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.text
}

#[tokio::test]
async fn chinese_words_addresses_and_class_names_are_found_and_ranked() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let (t, _stop) = node(db, dir.path()).await;
        let org = t.org("甲单位").await;
        let dept = department(&t, org, "信息中心").await;
        ci(
            &t.router,
            &t.admin,
            json!({"class": "database", "org_id": org, "department_id": dept,
                "external_key": "DB-FIN-01", "name": "财务系统核心数据库",
                "location": "A栋三楼机房", "vendor": "甲骨文",
                "attributes": {"engine": "Oracle", "version": "19c", "port": 1521}}),
        )
        .await;
        ci(&t.router,
            &t.admin,
            json!({"class": "physical_server", "org_id": org, "external_key": "SRV-0001",
                "name": "财务应用服务器", "attributes": {"mgmt_ip": "10.1.2.3", "serial": "SN8842XQ"}}),
        )
        .await;
        ci(
            &t.router,
            &t.admin,
            json!({"class": "virtual_machine", "org_id": org, "external_key": "VM-0002",
                "name": "备用虚拟机", "attributes": {"ip_address": "10.1.2.30"}}),
        )
        .await;
        ci(
            &t.router,
            &t.admin,
            json!({"class": "switch", "org_id": org, "external_key": "SW-CORE-1",
                "name": "核心交换机", "location": "数据库机房"}),
        )
        .await;
        caught_up(&t).await;

        let cases: &[(&str, &[&str])] = &[
            ("财务", &["DB-FIN-01", "SRV-0001"]),
            ("财务 数据库", &["DB-FIN-01"]),
            ("财务系统", &["DB-FIN-01"]),
            ("10.1.2.3", &["SRV-0001"]),
            ("10.1.2.30", &["VM-0002"]),
            ("10.1.2", &["SRV-0001", "VM-0002"]),
            ("10.1", &["SRV-0001", "VM-0002"]),
            ("10.1.9", &[]),
            ("物理服务器", &["SRV-0001"]),
            ("Physical server", &["SRV-0001"]),
            ("physical_server", &["SRV-0001"]),
            ("虚拟机", &["VM-0002"]),
            ("交换机", &["SW-CORE-1"]),
            ("甲骨文", &["DB-FIN-01"]),
            ("oracle", &["DB-FIN-01"]),
            ("sn8842xq", &["SRV-0001"]),
            ("信息中心", &["DB-FIN-01"]),
            ("甲单位", &["DB-FIN-01", "SRV-0001", "SW-CORE-1", "VM-0002"]),
            ("db-fin-01", &["DB-FIN-01"]),
            ("SRV", &["SRV-0001"]),
            ("三楼", &["DB-FIN-01"]),
            ("打印机", &[]),
        ];
        for (q, keys) in cases {
            assert_eq!(
                find_set(&t.router, &t.admin, q, "").await,
                strs(keys),
                "{}: {q}",
                t.name
            );
        }
        // The name ranks before other texts: 数据库 is the name of one, the location of the
        // other.
        assert_eq!(
            find(&t.router, &t.admin, "数据库", "").await,
            strs(&["DB-FIN-01", "SW-CORE-1"]),
            "{}",
            t.name
        );
        // The list's filters apply to a search.
        assert_eq!(
            find(&t.router, &t.admin, "财务", "&class=database").await,
            strs(&["DB-FIN-01"])
        );
        assert!(find(&t.router, &t.admin, "数据库", "&status=retired")
            .await
            .is_empty());
        // Paged by relevance: the cursor is an offset.
        let p = page(&t.router, &t.admin, "数据库", "&limit=1").await;
        assert_eq!(p["items"][0]["external_key"], "DB-FIN-01");
        assert_eq!(p["next_cursor"], "1");
        let p = page(&t.router, &t.admin, "数据库", "&limit=1&cursor=1").await;
        assert_eq!(p["items"][0]["external_key"], "SW-CORE-1");
        assert!(p["next_cursor"].is_null());
        for bad in ["&cursor=abc", "&cursor=-1", "&cursor=99999999"] {
            let r = t
                .get(
                    &format!("/api/v1/cis?q={}{bad}", encode("数据库")),
                    &t.admin,
                )
                .await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{bad}: {}",
                r.text
            );
            assert_eq!(r.body["code"], "validation_failed", "{}", r.text);
        }
        let r = t.get("/api/v1/cis?cursor=abc", &t.admin).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);

        // The CMDB page's search box uses it.
        let html = list_html(&t, "admin", &t.admin_password, "数据库").await;
        assert!(
            html.contains("DB-FIN-01") && html.contains("SW-CORE-1"),
            "{}",
            t.name
        );
        assert!(!html.contains("SRV-0001") && !html.contains("VM-0002"));
        assert!(
            html.find("DB-FIN-01") < html.find("SW-CORE-1"),
            "ranked on the page too"
        );
    }
}

#[tokio::test]
async fn customers_find_only_their_own_organizations_items() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let (t, _stop) = node(db, dir.path()).await;
        let a = t.org("甲单位").await;
        let b = t.org("乙单位").await;
        let (_, cust_a) = t.user("kehu_a", "customer", Some(a)).await;
        let (_, cust_b) = t.user("kehu_b", "customer", Some(b)).await;
        let (_, engineer) = t.user("gongcheng", "engineer", None).await;
        for (org, key, ip) in [(a, "MAIL-A", "10.8.0.1"), (b, "MAIL-B", "10.9.0.1")] {
            ci(
                &t.router,
                &engineer,
                json!({"class": "physical_server", "org_id": org, "external_key": key,
                    "name": "邮件服务器", "attributes": {"mgmt_ip": ip}}),
            )
            .await;
        }
        caught_up(&t).await;
        assert_eq!(
            find_set(&t.router, &engineer, "邮件服务器", "").await,
            strs(&["MAIL-A", "MAIL-B"]),
            "{}",
            t.name
        );
        assert_eq!(
            find(&t.router, &cust_a, "邮件服务器", "").await,
            strs(&["MAIL-A"])
        );
        assert_eq!(
            find(&t.router, &cust_b, "邮件服务器", "").await,
            strs(&["MAIL-B"])
        );
        // Never the other organization's: by name, key, address, owner name or filter.
        for q in ["MAIL-B", "10.9.0.1", "10.9", "乙单位", "服务器"] {
            assert!(
                !find(&t.router, &cust_a, q, "")
                    .await
                    .contains(&"MAIL-B".to_string()),
                "{}: {q}",
                t.name
            );
        }
        assert!(
            find(&t.router, &cust_a, "邮件服务器", &format!("&org_id={b}"))
                .await
                .is_empty()
        );
        assert_eq!(
            find(&t.router, &cust_b, "10.9.0.1", "").await,
            strs(&["MAIL-B"])
        );
        // The page too.
        let html = list_html(&t, "kehu_a", "correct horse battery", "邮件服务器").await;
        assert!(
            html.contains("MAIL-A") && !html.contains("MAIL-B"),
            "{}",
            t.name
        );
    }
}

/// Remove an item at the store level with an audit entry, as a deletion would (the API
/// retires items instead; the feed must still drop a document whose item is gone).
async fn remove_ci(db: &yunwei_store::Db, id: uuid::Uuid, org: uuid::Uuid) {
    use yunwei_store::Tx;
    let mut tx = db.begin_write().await.unwrap();
    for sql in [
        "DELETE FROM ci_versions WHERE ci_id = $1",
        "DELETE FROM cis WHERE id = $1",
    ] {
        match &mut tx {
            Tx::Sqlite(c) => {
                c.ready().await.unwrap();
                sqlx::query(sql).bind(id).execute(&mut **c).await.unwrap();
            }
            Tx::Pg(c) => {
                sqlx::query(sql).bind(id).execute(&mut **c).await.unwrap();
            }
        }
    }
    let entry = yunwei_store::audit::NewEntry {
        actor_id: None,
        actor_name: "system".into(),
        action: "delete".into(),
        entity: "ci".into(),
        entity_id: Some(id.to_string()),
        org_id: Some(org),
        before: None,
        after: None,
        ip: None,
    };
    yunwei_store::audit::append(&mut tx, entry, chrono::Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn updates_retirement_renamed_owners_imports_and_removals_follow_the_feed() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let (t, _stop) = node(db, dir.path()).await;
        let org = t.org("丙单位").await;
        let body = |name: &str, status: &str| {
            json!({"class": "physical_server", "org_id": org, "external_key": "SRV-X",
                "name": name, "status": status, "location": "一号机房"})
        };
        let c = ci(&t.router, &t.admin, body("旧名称服务器", "in_use")).await;
        assert!(
            eventually(&t.router, &t.admin, "旧名称", &["SRV-X"]).await,
            "{}",
            t.name
        );

        // Renamed: found by the new name, not the old.
        put_ci(&t, &c["id"], body("新名称服务器", "in_use")).await;
        assert!(
            eventually(&t.router, &t.admin, "新名称", &["SRV-X"]).await,
            "{}",
            t.name
        );
        caught_up(&t).await;
        assert!(find(&t.router, &t.admin, "旧名称", "").await.is_empty());

        // Retired: still an item of the list (as without `q`), selected by the status filter.
        put_ci(&t, &c["id"], body("新名称服务器", "retired")).await;
        caught_up(&t).await;
        assert_eq!(
            find(&t.router, &t.admin, "新名称", "").await,
            strs(&["SRV-X"])
        );
        assert_eq!(
            find(&t.router, &t.admin, "新名称", "&status=retired").await,
            strs(&["SRV-X"])
        );
        assert!(find(&t.router, &t.admin, "新名称", "&status=in_use")
            .await
            .is_empty());
        let plain = t.get("/api/v1/cis?status=retired", &t.admin).await;
        assert_eq!(plain.body["items"][0]["external_key"], "SRV-X");

        // The owner renamed: its items are found by the new name.
        let r = t
            .patch(
                &format!("/api/v1/organizations/{org}"),
                &t.admin,
                json!({"name": "丙单位信息部"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(
            eventually(&t.router, &t.admin, "信息部", &["SRV-X"]).await,
            "{}",
            t.name
        );

        // Imported items are indexed like created ones.
        let csv = "组织,外部编号,名称,类别,部门,生命周期状态,重要性,位置,厂商,合同编号,合同到期日,保修到期日,采购日期,采购成本（元）,年运行成本（元）,安全保护等级,数据安全级别,服务日历,扩展属性\r\n\
            丙单位信息部,BK-01,异地备份服务器,backup_system,,在用,一般,灾备机房,,,,,,,,,,,\"{\"\"software\"\":\"\"NetBackup\"\"}\"\r\n";
        let r = t
            .send(
                axum::http::Request::post("/api/v1/cmdb/import")
                    .header("authorization", format!("Bearer {}", t.admin))
                    .header("content-type", "text/csv")
                    .body(axum::body::Body::from(csv))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.name, r.text);
        assert!(
            eventually(&t.router, &t.admin, "异地备份", &["BK-01"]).await,
            "{}",
            t.name
        );
        assert_eq!(
            find(&t.router, &t.admin, "netbackup", "").await,
            strs(&["BK-01"])
        );
        assert_eq!(
            find(&t.router, &t.admin, "备份系统", "").await,
            strs(&["BK-01"])
        );

        // Removed from the database: removed from the index.
        let id: uuid::Uuid = c["id"].as_str().unwrap().parse().unwrap();
        remove_ci(&t.app.db, id, org).await;
        assert!(
            eventually(&t.router, &t.admin, "新名称", &[]).await,
            "{}",
            t.name
        );
        assert_eq!(
            find(&t.router, &t.admin, "丙单位信息部", "").await,
            strs(&["BK-01"])
        );
    }
}

#[tokio::test]
async fn the_ci_index_is_rebuilt_from_the_database_and_tickets_are_unaffected() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let (t, stop) = node(db, dir.path()).await;
        let items = [
            (
                "physical_server",
                "SRV-1",
                "核心业务服务器",
                json!({"mgmt_ip": "172.16.0.10"}),
            ),
            (
                "database",
                "DB-1",
                "人事系统数据库",
                json!({"engine": "PostgreSQL"}),
            ),
            (
                "switch",
                "SW-1",
                "汇聚交换机",
                json!({"mgmt_ip": "172.16.0.1"}),
            ),
            (
                "application_system",
                "APP-1",
                "OA办公系统",
                json!({"url": "https://oa.example.cn"}),
            ),
            (
                "ups",
                "UPS-1",
                "二号机房不间断电源",
                json!({"model": "APC SRT10K"}),
            ),
        ];
        for (class, key, name, attrs) in &items {
            ci(
                &t.router,
                &t.admin,
                json!({"class": class, "external_key": key, "name": name, "attributes": attrs}),
            )
            .await;
        }
        let ticket = t
            .post(
                "/api/v1/tickets",
                &t.admin,
                json!({"kind": "incident", "subject": "汇聚交换机端口故障", "description": "二号机房"}),
            )
            .await;
        assert_eq!(ticket.status, StatusCode::CREATED, "{}", ticket.text);
        let number = ticket.body["number"].as_str().unwrap().to_string();
        caught_up(&t).await;
        let queries = [
            "服务器",
            "数据库",
            "172.16.0",
            "172.16.0.1",
            "交换机",
            "postgresql",
            "系统",
            "机房",
            "apc",
        ];
        let mut before = Vec::new();
        for q in queries {
            let r = find_set(&t.router, &t.admin, q, "").await;
            assert!(!r.is_empty(), "{}: {q}", t.name);
            before.push(r);
        }
        assert_eq!(before[3], strs(&["SW-1"]));

        // Rebuilt in place (what `yunwei search rebuild` does).
        let seq = t.app.ci_search_indexed_seq().unwrap();
        let n = t.app.rebuild_ci_search_index().await.unwrap();
        assert_eq!(n, items.len() as u64);
        assert!(t.app.ci_search_indexed_seq().unwrap() >= seq);
        for (q, expected) in queries.iter().zip(&before) {
            assert_eq!(
                &find_set(&t.router, &t.admin, q, "").await,
                expected,
                "{}: {q} after a rebuild",
                t.name
            );
        }

        // The search directory deleted: a new node over the same database builds both
        // indexes by itself, and tickets are found as before (CIs do not appear in them).
        let db = shut_down(t, stop, dir.path()).await;
        std::fs::remove_dir_all(dir.path()).unwrap();
        let (t, _stop) = node(db, dir.path()).await;
        caught_up(&t).await;
        for (q, expected) in queries.iter().zip(&before) {
            assert_eq!(
                &find_set(&t.router, &t.admin, q, "").await,
                expected,
                "{}: {q} in a new index",
                t.name
            );
        }
        let start = Instant::now();
        loop {
            let r = t
                .get(&format!("/api/v1/tickets?q={}", encode("交换机")), &t.admin)
                .await;
            let numbers: Vec<&str> = r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["number"].as_str().unwrap())
                .collect();
            if numbers == [number.as_str()] {
                break;
            }
            assert!(start.elapsed() < DEADLINE, "{}: {numbers:?}", t.name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            dir.path().join("ci").is_dir(),
            "the CI index is in <dir>/ci"
        );
    }
}

#[tokio::test]
async fn two_nodes_on_postgresql_each_index_items_created_through_the_other() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let url = db.url.clone();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, _stop_a) = node(db, dir_a.path()).await;
    // Node B: its own connection pool and its own indexes over the same database.
    let db_b = yunwei_store::Db::connect(&url, yunwei_store::PoolSize { max_connections: 4 })
        .await
        .unwrap();
    let (app_b, _stop_b) = with_index(App::new(db_b), dir_b.path());
    let b = yunwei_web::router(yunwei_web::state(app_b, Default::default()));
    let (_, engineer) = a.user("gongcheng", "engineer", None).await;

    ci(
        &a.router,
        &engineer,
        json!({"class": "storage_array", "external_key": "SAN-A", "name": "集中存储阵列",
            "attributes": {"mgmt_ip": "192.168.10.5"}}),
    )
    .await;
    assert!(
        eventually(&b, &engineer, "存储阵列", &["SAN-A"]).await,
        "node B indexes an item created through node A"
    );
    assert_eq!(
        find(&b, &engineer, "192.168.10.5", "").await,
        strs(&["SAN-A"])
    );
    ci(
        &b,
        &engineer,
        json!({"class": "firewall", "external_key": "FW-B", "name": "互联网边界防火墙"}),
    )
    .await;
    assert!(
        eventually(&a.router, &engineer, "防火墙", &["FW-B"]).await,
        "node A indexes an item created through node B"
    );
    assert!(eventually(&b, &engineer, "防火墙", &["FW-B"]).await);
    assert!(dir_a.path().join("ci").is_dir() && dir_b.path().join("ci").is_dir());
}

/// Percentile of sorted durations, in milliseconds.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn dir_bytes(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn vm_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Measurement (SQLite; `YUNWEI_CI_MEASURE_N` items, default 2,000): the figures in the docs are
/// `YUNWEI_CI_MEASURE_N=100000 cargo test --release -p yunwei-web --test cmdb_search measure -- --nocapture`.
/// Builds the CI index from the database, then times queries through the service (index,
/// the scope check in SQL and loading the page) and the feed after an import-sized batch.
/// Runs in every test run at 2,000 items (it checks that the whole set is indexed and every kind
/// of query answers); `YUNWEI_CI_MEASURE_N=100000` with `--release -- --nocapture` is the
/// measurement quoted in the docs. Nothing here is timed against a limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measure_index_build_and_query_latency() {
    use yunwei_service::cmdb::CiQuery;
    use yunwei_store::cmdb::{self as store, Ci};
    let n: usize = std::env::var("YUNWEI_CI_MEASURE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let app =
        App::new(db.db.clone()).with_ci_search(Arc::new(CiSearchIndex::open(dir.path()).unwrap()));
    app.bootstrap().await.unwrap();
    let sys = app.system_actor().await.unwrap();
    let cities = ["沈阳", "大连", "鞍山", "抚顺", "本溪"];
    let bodies = ["市财政局", "市人民医院", "市教育局", "市公安局"];
    let mut orgs = Vec::new();
    for c in cities {
        for b in bodies {
            let o = app
                .create_org(
                    &sys,
                    yunwei_service::orgs::NewOrg {
                        name: format!("{c}{b}"),
                        code: None,
                        contact: None,
                    },
                )
                .await
                .unwrap();
            orgs.push(o.id);
        }
    }
    let classes: std::collections::HashMap<String, uuid::Uuid> = store::list_classes(&db.db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.code, c.id))
        .collect();
    let systems = [
        "财务", "人事", "营销", "生产", "仓储", "客服", "办公", "门户", "邮件", "监控", "档案",
        "招生", "医保", "税务", "社保", "物流", "采购", "审计", "党建", "安防",
    ];
    // (class, name part, has an address)
    let kinds = [
        ("database", "数据库", false),
        ("physical_server", "应用服务器", true),
        ("physical_server", "数据库服务器", true),
        ("virtual_machine", "虚拟机", true),
        ("switch", "接入交换机", true),
        ("firewall", "防火墙", true),
        ("storage_array", "存储阵列", true),
        ("middleware", "中间件", false),
        ("application_system", "业务系统", false),
        ("operating_system", "操作系统", false),
        ("ups", "不间断电源", false),
        ("rack", "机柜", false),
    ];
    let vendors = [
        "华为",
        "新华三",
        "浪潮",
        "联想",
        "戴尔",
        "甲骨文",
        "达梦",
        "东方通",
        "深信服",
        "中兴",
    ];
    let now = chrono::Utc::now();
    let orgs_n = orgs.len();
    // The address of item `i`, when its class has one.
    let ip_of = |i: usize| -> Option<String> {
        let k = i / orgs_n;
        kinds[(i / 7) % kinds.len()]
            .2
            .then(|| format!("10.{}.{}.{}", i % orgs_n, (k / 250) % 250, k % 250 + 1))
    };
    let make = |i: usize| -> Ci {
        let org_i = i % orgs.len();
        let (class, part, addr) = kinds[(i / 7) % kinds.len()];
        let system = systems[(i / 3) % systems.len()];
        let mut attrs = serde_json::Map::new();
        if let (true, Some(ip)) = (addr, ip_of(i)) {
            let code = if class == "virtual_machine" {
                "ip_address"
            } else {
                "mgmt_ip"
            };
            attrs.insert(code.into(), json!(ip));
        }
        if matches!(
            class,
            "physical_server" | "switch" | "firewall" | "storage_array"
        ) {
            attrs.insert(
                "model".into(),
                json!(format!("{}-{}", vendors[i % 10], 1000 + i % 97)),
            );
            attrs.insert(
                "serial".into(),
                json!(format!(
                    "SN{:08X}",
                    i.wrapping_mul(2654435761) & 0xffff_ffff
                )),
            );
        }
        Ci {
            id: yunwei_domain::ids::new_id(),
            org_id: orgs[org_i],
            department_id: None,
            class_id: classes[class],
            external_key: format!("CI-{i:06}"),
            name: format!("{system}{part}{:03}", i % 1000),
            status: if i.is_multiple_of(20) {
                "retired"
            } else {
                "in_use"
            }
            .into(),
            criticality: "general".into(),
            location: Some(format!(
                "{}栋{}楼机房{}列",
                ["A", "B", "C", "D"][i % 4],
                1 + i % 9,
                1 + i % 12
            )),
            vendor: Some(vendors[i % vendors.len()].into()),
            contract_no: None,
            contract_end: None,
            warranty_end: None,
            purchased_on: None,
            purchase_cost: None,
            annual_cost: None,
            security_level: None,
            data_level: None,
            calendar_id: None,
            attributes_json: serde_json::Value::Object(attrs).to_string(),
            version: 1,
            created_at: now,
            updated_at: now,
        }
    };
    let started = Instant::now();
    let all: Vec<Ci> = (0..n).map(make).collect();
    let mut tx = db.db.begin_write().await.unwrap();
    store::insert_cis_bulk(&mut tx, &all).await.unwrap();
    tx.commit().await.unwrap();
    eprintln!(
        "generated and inserted {n} items in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(all);

    let rss_before = vm_kb("VmRSS:");
    let started = Instant::now();
    let count = app.rebuild_ci_search_index().await.unwrap();
    let build = started.elapsed();
    assert_eq!(count, n as u64);
    let size = dir_bytes(&dir.path().join("ci"));
    eprintln!(
        "index build: {count} items in {:.1} s ({:.0} items/s); {:.1} MB on disk; RSS {} MB before, {} MB after, peak {} MB",
        build.as_secs_f64(),
        count as f64 / build.as_secs_f64(),
        size as f64 / 1e6,
        rss_before / 1024,
        vm_kb("VmRSS:") / 1024,
        vm_kb("VmHWM:") / 1024,
    );

    let search = |q: String, org: Option<uuid::Uuid>| {
        let app = app.clone();
        let sys = sys.clone();
        async move {
            let started = Instant::now();
            let p = app
                .list_cis(
                    &sys,
                    CiQuery {
                        q: Some(q),
                        org_id: org,
                        limit: Some(50),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            (started.elapsed(), p)
        }
    };
    let rounds = 300;
    // Addresses of items spread over the set.
    let ips: Vec<String> = (0..n)
        .step_by((n / rounds).max(1))
        .filter_map(|i| ip_of(i).or_else(|| ip_of(i + 7)))
        .collect();
    let mut report = Vec::new();
    /// A query of round `i`: its text and the organization asked for.
    type MakeQuery<'a> = &'a dyn Fn(usize) -> (String, Option<uuid::Uuid>);
    let kinds_of_query: [(&str, MakeQuery); 8] = [
        ("one common word (数据库)", &|_| {
            ("数据库".to_string(), None)
        }),
        ("a system name", &|i| {
            (systems[i % systems.len()].to_string(), None)
        }),
        ("two words (system + kind)", &|i| {
            (format!("{} 服务器", systems[i % systems.len()]), None)
        }),
        ("a fragment (bigram phrase)", &|i| {
            (format!("{}数", &systems[i % systems.len()][3..]), None)
        }),
        ("an exact IP address", &|i| {
            (ips[i % ips.len()].clone(), None)
        }),
        ("an IP prefix (10.x.y)", &|i| {
            (format!("10.{}.{}", i % 20, i % 10), None)
        }),
        ("an exact external key", &|i| {
            (format!("CI-{:06}", (i * 7919) % n), None)
        }),
        ("a customer's word query (org filter)", &|i| {
            ("服务器".to_string(), Some(orgs[i % orgs.len()]))
        }),
    ];
    for (label, f) in kinds_of_query {
        let mut times = Vec::with_capacity(rounds);
        let mut hits = 0;
        for i in 0..rounds {
            let (q, org) = f(i);
            let (t, p) = search(q.clone(), org).await;
            if let Some(o) = org {
                assert!(p.items.iter().all(|c| c.ci.org_id == o), "{q}");
            }
            if label.contains("exact IP") {
                assert_eq!(p.items.len(), 1, "{q}");
            }
            if label.contains("key") {
                assert_eq!(p.items[0].ci.external_key, q, "the exact key first");
            }
            hits += p.items.len();
            times.push(t);
        }
        times.sort();
        report.push(format!(
            "{label}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({:.0} items per page on average)",
            pct(&times, 0.5),
            pct(&times, 0.99),
            pct(&times, 1.0),
            hits as f64 / rounds as f64
        ));
    }
    // For comparison: the substring filter of a node without the index.
    let plain = App::new(db.db.clone());
    let mut times = Vec::new();
    for i in 0..50 {
        let started = Instant::now();
        plain
            .list_cis(
                &sys,
                CiQuery {
                    q: Some(systems[i % systems.len()].to_string()),
                    limit: Some(50),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    eprintln!(
        "without the index (substring of name or key, id order): p50 {:.1} ms, p99 {:.1} ms",
        pct(&times, 0.5),
        pct(&times, 0.99)
    );
    // Every address is one item's.
    let i = (n / 2..n).find(|i| ip_of(*i).is_some()).unwrap();
    let ip = ip_of(i).unwrap();
    let (_, p) = search(ip.clone(), None).await;
    assert_eq!(p.items.len(), 1, "{ip} is one item's");
    assert_eq!(p.items[0].ci.external_key, format!("CI-{i:06}"));
    for r in &report {
        eprintln!("query through the service, {r}");
    }

    // The feed after an import-sized batch: items and their audit entries in one transaction.
    let batch = n / 10;
    let more: Vec<Ci> = (n..n + batch).map(make).collect();
    let entries = more
        .iter()
        .map(|c| yunwei_store::audit::NewEntry {
            actor_id: None,
            actor_name: "system".into(),
            action: "create".into(),
            entity: "ci".into(),
            entity_id: Some(c.id.to_string()),
            org_id: Some(c.org_id),
            before: None,
            after: None,
            ip: None,
        })
        .collect();
    let mut tx = db.db.begin_write().await.unwrap();
    store::insert_cis_bulk(&mut tx, &more).await.unwrap();
    store::audit_many(&mut tx, entries, chrono::Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let started = Instant::now();
    let pass = app.ci_search_catch_up().await.unwrap();
    assert_eq!(pass.cis, batch as u64);
    eprintln!(
        "feed: {batch} new items indexed from the audit log in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (_, p) = search(format!("CI-{:06}", n + 1), None).await;
    assert_eq!(p.items[0].ci.external_key, format!("CI-{:06}", n + 1));
}
