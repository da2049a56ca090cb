//! Full-text search through the API, on SQLite and PostgreSQL: Chinese segmentation, replies
//! and attachment names, permissions (organizations, internal notes), rebuilding from the
//! database, and two nodes over one PostgreSQL database, each with its own index fed from the
//! audit log.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use axum::body::Body;
use axum::http::{header, Method, Request};
use axum::Router;
use common::TestApp;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use yunwei_search::TicketSearchIndex;
use yunwei_service::attachments::Upload;
use yunwei_service::search::TicketIndex;
use yunwei_service::App;
use yunwei_testkit::TestDb;

/// How long a node may take to index a change (nudged at once; other nodes poll every second).
const DEADLINE: Duration = Duration::from_secs(20);

/// Stops a node's indexer when dropped.
struct Stop(Arc<Notify>);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

/// A node: the API over `db` with its own index in `dir`, its indexer running.
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

/// Give `app` an index in `dir` and start its indexer.
fn with_index(app: App, dir: &Path) -> (App, Stop) {
    let app = app.with_search(Arc::new(TicketSearchIndex::open(dir).unwrap()));
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

/// Stop a node; once its index is closed, give back its database.
async fn shut_down(t: TestApp, stop: Stop, dir: &Path) -> TestDb {
    let TestApp {
        router, app, _db, ..
    } = t;
    drop((router, app, stop));
    let start = Instant::now();
    loop {
        match TicketSearchIndex::open(dir) {
            Ok(_) => return _db,
            Err(yunwei_search::OpenError::Busy(_)) if start.elapsed() < DEADLINE => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
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

/// One API request through a node's router.
async fn call(r: &Router, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
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
    assert!(
        status.is_success(),
        "{path}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    serde_json::from_slice(&bytes).unwrap()
}

/// The page `token` gets for `q` (and extra query `params`).
async fn page(r: &Router, token: &str, q: &str, params: &str) -> Value {
    let path = format!("/api/v1/tickets?q={}{params}", encode(q));
    call(r, Method::GET, &path, token, None).await
}

/// The numbers of the tickets `token` finds with `q` (and extra query `params`).
async fn find(r: &Router, token: &str, q: &str, params: &str) -> Vec<String> {
    page(r, token, q, params).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_str().unwrap().to_string())
        .collect()
}

/// Wait until `q` finds `number` (the indexer has caught up); false at the deadline.
async fn eventually_found(r: &Router, token: &str, q: &str, number: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        if find(r, token, q, "").await.iter().any(|n| n == number) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Wait until the node's index covers every audit entry written so far.
async fn caught_up(t: &TestApp) {
    let head = yunwei_store::search::last_seq(&t.app.db).await.unwrap();
    let start = Instant::now();
    while t.app.search_indexed_seq().is_none_or(|s| s < head) {
        assert!(
            start.elapsed() < DEADLINE,
            "{}: indexer did not catch up",
            t.name
        );
        t.app.nudge_search();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn submit(r: &Router, token: &str, body: Value) -> String {
    let t = call(r, Method::POST, "/api/v1/tickets", token, Some(body)).await;
    t["number"].as_str().unwrap().to_string()
}

async fn comment(r: &Router, token: &str, number: &str, body: &str, internal: bool) {
    let path = format!("/api/v1/tickets/{number}/comments");
    let body = json!({"body": body, "internal": internal});
    call(r, Method::POST, &path, token, Some(body)).await;
}

#[tokio::test]
async fn chinese_words_replies_and_attachment_names_are_found() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let (t, _stop) = node(db, dir.path()).await;
        let n = submit(&t.router,
            &t.admin,
            json!({"kind": "incident", "subject": "财务系统打印机无法连接网络", "description": "三楼财务室，今天上午开始"}),
        )
        .await;
        let other = submit(&t.router,
            &t.admin,
            json!({"kind": "request", "subject": "申请开通VPN账号", "description": "出差期间需要访问OA"}),
        )
        .await;
        assert!(
            eventually_found(&t.router, &t.admin, "打印机", &n).await,
            "{}",
            t.name
        );
        caught_up(&t).await;
        for q in ["打印机", "网络", "财务系统", "财务室", "打印机 网络", &n] {
            assert_eq!(
                find(&t.router, &t.admin, q, "").await,
                vec![n.clone()],
                "{}: {q}",
                t.name
            );
        }
        assert_eq!(
            find(&t.router, &t.admin, "vpn", "").await,
            vec![other.clone()]
        );
        assert_eq!(
            find(&t.router, &t.admin, "VPN账号", "").await,
            vec![other.clone()]
        );
        assert!(find(&t.router, &t.admin, "打印机 VPN", "").await.is_empty());
        assert!(find(&t.router, &t.admin, "交换机", "").await.is_empty());

        // The other list filters still apply to a search.
        assert!(find(&t.router, &t.admin, "打印机", "&kind=request")
            .await
            .is_empty());
        assert_eq!(
            find(&t.router, &t.admin, "打印机", "&kind=incident&open=true").await,
            vec![n.clone()]
        );

        // A reply, then an attachment (added through the service, so no request nudges the
        // indexer: the poll picks it up).
        comment(&t.router, &t.admin, &n, "已更换硒鼓并重新配置IP地址", false).await;
        assert!(
            eventually_found(&t.router, &t.admin, "硒鼓", &n).await,
            "{}",
            t.name
        );
        t.app
            .upload_attachment(
                &t.sys,
                &n,
                Upload {
                    file_name: "打印机驱动安装说明.txt".into(),
                    declared_type: Some("text/plain".into()),
                    content: "安装步骤".as_bytes().to_vec(),
                    internal: false,
                },
            )
            .await
            .unwrap();
        assert!(
            eventually_found(&t.router, &t.admin, "驱动安装", &n).await,
            "{}",
            t.name
        );

        // Relevance first, paged by offset.
        let third = submit(&t.router,
            &t.admin,
            json!({"kind": "incident", "subject": "邮件客户端报错", "description": "顺便说一下打印机也有点慢"}),
        )
        .await;
        assert!(eventually_found(&t.router, &t.admin, "打印机", &third).await);
        assert_eq!(
            find(&t.router, &t.admin, "打印机", "").await,
            vec![n.clone(), third.clone()],
            "{}: a subject match ranks first",
            t.name
        );
        let p = page(&t.router, &t.admin, "打印机", "&limit=1").await;
        assert_eq!(p["items"][0]["number"], n.as_str());
        assert_eq!(p["next_cursor"], "1");
        let p = page(&t.router, &t.admin, "打印机", "&limit=1&cursor=1").await;
        assert_eq!(p["items"][0]["number"], third.as_str());
        assert!(p["next_cursor"].is_null());
    }
}

#[tokio::test]
async fn customers_find_only_their_organization_and_never_internal_notes() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let (t, _stop) = node(db, dir.path()).await;
        let a = t.org("甲单位").await;
        let b = t.org("乙单位").await;
        let (_, cust_a) = t.user("kehu_a", "customer", Some(a)).await;
        let (_, cust_b) = t.user("kehu_b", "customer", Some(b)).await;
        let (_, agent) = t.user("zuoxi", "agent", None).await;
        let (_, auditor) = t.user("shenji", "auditor", None).await;
        let ta = submit(&t.router,
            &cust_a,
            json!({"kind": "incident", "subject": "邮件服务器宕机", "description": "甲单位全员收不到邮件"}),
        )
        .await;
        let tb = submit(&t.router,
            &cust_b,
            json!({"kind": "incident", "subject": "邮件服务器宕机", "description": "乙单位也收不到邮件"}),
        )
        .await;
        comment(&t.router, &agent, &ta, "机房钥匙在值班室第二个抽屉", true).await;
        t.app
            .upload_attachment(
                &t.sys,
                &ta,
                Upload {
                    file_name: "内部拓扑图说明.txt".into(),
                    declared_type: Some("text/plain".into()),
                    content: b"core".to_vec(),
                    internal: true,
                },
            )
            .await
            .unwrap();
        comment(&t.router, &agent, &ta, "正在重启邮件服务", false).await;
        caught_up(&t).await;

        let mut both = find(&t.router, &agent, "邮件服务器", "").await;
        both.sort();
        let mut expected = vec![ta.clone(), tb.clone()];
        expected.sort();
        assert_eq!(both, expected, "{}", t.name);
        assert_eq!(
            find(&t.router, &cust_a, "邮件服务器", "").await,
            vec![ta.clone()]
        );
        assert_eq!(
            find(&t.router, &cust_b, "邮件服务器", "").await,
            vec![tb.clone()]
        );
        // Asking for the other organization answers nothing, not its tickets.
        assert!(find(
            &t.router,
            &cust_a,
            "邮件服务器",
            &format!("&organization={b}")
        )
        .await
        .is_empty());
        // Internal notes and internal attachments: staff and auditors find them, customers never.
        for q in ["机房钥匙", "值班室", "拓扑图"] {
            assert_eq!(
                find(&t.router, &agent, q, "").await,
                vec![ta.clone()],
                "{}: {q}",
                t.name
            );
            assert_eq!(
                find(&t.router, &auditor, q, "").await,
                vec![ta.clone()],
                "{q}"
            );
            assert!(
                find(&t.router, &cust_a, q, "").await.is_empty(),
                "{}: {q}",
                t.name
            );
            assert!(find(&t.router, &cust_b, q, "").await.is_empty(), "{q}");
        }
        // Public replies are the customer's to find.
        assert_eq!(find(&t.router, &cust_a, "重启", "").await, vec![ta.clone()]);
        assert!(find(&t.router, &cust_b, "重启", "").await.is_empty());
        assert!(
            find(&t.router, &cust_b, &ta, "").await.is_empty(),
            "nor by number"
        );
    }
}

#[tokio::test]
async fn the_index_is_rebuilt_from_the_database_with_the_same_results() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let (t, stop) = node(db, dir.path()).await;
        let subjects = [
            "核心交换机端口故障",
            "OA系统登录缓慢",
            "财务系统打印机无法连接网络",
            "邮件客户端无法发送附件",
            "VPN断线频繁",
        ];
        let mut numbers = Vec::new();
        for (i, s) in subjects.iter().enumerate() {
            let n = submit(&t.router,
                &t.admin,
                json!({"kind": "incident", "subject": s, "description": format!("第{i}号楼，网络相关")}),
            )
            .await;
            comment(
                &t.router,
                &t.admin,
                &n,
                &format!("已联系厂商工程师{i}"),
                i % 2 == 0,
            )
            .await;
            numbers.push(n);
        }
        caught_up(&t).await;
        let queries = [
            "网络",
            "系统",
            "无法",
            "厂商工程师",
            "vpn",
            "交换机",
            "登录",
        ];
        let mut before = Vec::new();
        for q in queries {
            let mut r = find(&t.router, &t.admin, q, "").await;
            r.sort();
            assert!(!r.is_empty(), "{}: {q}", t.name);
            before.push(r);
        }
        assert_eq!(
            before[0].len(),
            numbers.len(),
            "every description says 网络"
        );

        // Rebuilt in place (what `yunwei search rebuild` does).
        let seq = t.app.search_indexed_seq().unwrap();
        let n = t.app.rebuild_search_index().await.unwrap();
        assert_eq!(n, numbers.len() as u64);
        assert!(t.app.search_indexed_seq().unwrap() >= seq);
        for (q, expected) in queries.iter().zip(&before) {
            let mut r = find(&t.router, &t.admin, q, "").await;
            r.sort();
            assert_eq!(&r, expected, "{}: {q} after a rebuild", t.name);
        }

        // The index directory deleted: a new node over the same database rebuilds it by itself.
        let db = shut_down(t, stop, dir.path()).await;
        let seq = yunwei_store::search::last_seq(&db.db).await.unwrap();
        std::fs::remove_dir_all(dir.path()).unwrap();
        let (t, _stop) = node(db, dir.path()).await;
        caught_up(&t).await;
        assert!(t.app.search_indexed_seq().unwrap() >= seq);
        for (q, expected) in queries.iter().zip(&before) {
            let mut r = find(&t.router, &t.admin, q, "").await;
            r.sort();
            assert_eq!(&r, expected, "{}: {q} in a new index", t.name);
        }
    }
}

#[tokio::test]
async fn a_restarted_node_continues_from_the_seq_in_its_index() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let (t, stop) = node(db, dir.path()).await;
        let first = submit(
            &t.router,
            &t.admin,
            json!({"kind": "incident", "subject": "机房空调漏水", "description": "A区"}),
        )
        .await;
        caught_up(&t).await;
        let seq = t.app.search_indexed_seq().unwrap();
        let db = shut_down(t, stop, dir.path()).await;
        let index = TicketSearchIndex::open(dir.path()).unwrap();
        assert_eq!(index.indexed_seq(), Some(seq), "the seq survives a restart");
        drop(index);
        // Changes made while the node was down are picked up from the feed.
        let offline = App::new(db.db.clone());
        let sys = offline.system_actor().await.unwrap();
        let second = offline
            .create_ticket(
                &sys,
                yunwei_service::tickets::NewTicket {
                    kind: "incident".into(),
                    subject: "机房UPS告警".into(),
                    description: "B区".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .number;
        let (t, _stop) = node(db, dir.path()).await;
        assert!(eventually_found(&t.router, &t.admin, "机房", &second).await);
        let mut r = find(&t.router, &t.admin, "机房", "").await;
        r.sort();
        let mut expected = vec![first, second];
        expected.sort();
        assert_eq!(r, expected, "{}", t.name);
    }
}

#[tokio::test]
async fn two_nodes_on_postgresql_each_index_every_change() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let url = db.url.clone();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, _stop_a) = node(db, dir_a.path()).await;
    // Node B: its own connection pool and its own index over the same database. Tokens are
    // in the database, so the ones made through node A work on node B.
    let db_b = yunwei_store::Db::connect(&url, yunwei_store::PoolSize { max_connections: 4 })
        .await
        .unwrap();
    let (app_b, _stop_b) = with_index(App::new(db_b), dir_b.path());
    let b = yunwei_web::router(yunwei_web::state(app_b, Default::default()));
    let (_, agent_b) = a.user("zuoxi", "agent", None).await;

    let n = submit(&a.router,
        &a.admin,
        json!({"kind": "incident", "subject": "人事系统导出报表乱码", "description": "Excel打开后中文乱码"}),
    )
    .await;
    assert!(
        eventually_found(&b, &agent_b, "报表乱码", &n).await,
        "node B indexes a ticket created through node A"
    );
    assert!(eventually_found(&a.router, &a.admin, "报表乱码", &n).await);
    // And the other way round: a reply through node B is found through node A.
    comment(&b, &agent_b, &n, "已安装中文语言包", false).await;
    assert!(eventually_found(&a.router, &a.admin, "语言包", &n).await);
    assert!(eventually_found(&b, &agent_b, "语言包", &n).await);
    assert_ne!(
        std::fs::read_dir(dir_a.path()).unwrap().count(),
        0,
        "node A has its own index"
    );
    assert_ne!(std::fs::read_dir(dir_b.path()).unwrap().count(), 0);
}
