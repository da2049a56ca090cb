//! The relation graph kept up to date by patches from the CMDB change log (`cmdb_graph_log`),
//! on SQLite and PostgreSQL: after every one of a random sequence of writes through the API
//! (items created, renamed, moved between departments, retired; relations added and removed;
//! an item removed at the store level), the patched graph of two nodes equals one read from
//! scratch and their impact and dependency answers equal a fresh node's; what each write
//! logs; a node behind the kept log (pruned) and a node after an import (logged as
//! "everything") read the graph in full.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use common::TestApp;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;
use yunwei_service::cmdb::ImpactQuery;
use yunwei_service::cmdb_graph::Graph;
use yunwei_service::App;
use yunwei_store::cmdb as store;
use yunwei_store::Db;

/// A deterministic pseudo-random sequence.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn uuid(v: &Value) -> Uuid {
    v.as_str().unwrap().parse().unwrap()
}

async fn dept(t: &TestApp, org: Uuid, name: &str) -> Uuid {
    let r = t
        .post(
            &format!("/api/v1/organizations/{org}/departments"),
            &t.admin,
            json!({"name": name}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    uuid(&r.body["id"])
}

async fn create(t: &TestApp, token: &str, body: &Value) -> Uuid {
    let r = t.post("/api/v1/cis", token, body.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {}", t.name, r.text);
    uuid(&r.body["id"])
}

async fn put(t: &TestApp, token: &str, id: Uuid, body: &Value) {
    let r = t
        .req(
            Method::PUT,
            &format!("/api/v1/cis/{id}"),
            Some(token),
            Some(body.clone()),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.name, r.text);
}

/// A relation through the API: its id, or `None` when that relation already exists.
async fn relate(t: &TestApp, token: &str, s: Uuid, kind: &str, d: Uuid) -> Option<Uuid> {
    let r = t
        .post(
            "/api/v1/ci-relations",
            token,
            json!({"source_id": s, "kind": kind, "target_id": d}),
        )
        .await;
    match r.status {
        StatusCode::CREATED => Some(uuid(&r.body["id"])),
        StatusCode::CONFLICT => None,
        s => panic!("{}: relate answered {s}: {}", t.name, r.text),
    }
}

async fn unrelate(t: &TestApp, token: &str, id: Uuid) {
    let r = t
        .req(
            Method::DELETE,
            &format!("/api/v1/ci-relations/{id}"),
            Some(token),
            None,
            &[],
        )
        .await;
    assert!(r.status.is_success(), "{}: {}", t.name, r.text);
}

/// GET through a node's router; (status, body).
async fn get_on(r: &Router, path: &str, token: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = r.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn import(t: &TestApp, token: &str, csv: &str) -> Value {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/cmdb/import")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(csv.to_string()))
        .unwrap();
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.name, r.text);
    r.body
}

/// Run one statement on the store (the tests' stand-in for pruning and deletion).
async fn exec(db: &Db, sql: &str, arg: Option<i64>) {
    match db {
        Db::Sqlite(p) => {
            sqlx::query(sql).bind(arg).execute(p).await.unwrap();
        }
        Db::Pg(p) => {
            sqlx::query(sql).bind(arg).execute(p).await.unwrap();
        }
    }
}

/// The ids the log holds for one epoch (`None`: everything).
async fn logged(db: &Db, epoch: i64) -> Vec<Option<Uuid>> {
    let sql = "SELECT ci_id FROM cmdb_graph_log WHERE epoch = $1 ORDER BY ci_id";
    match db {
        Db::Sqlite(p) => sqlx::query_scalar(sql).bind(epoch).fetch_all(p).await,
        Db::Pg(p) => sqlx::query_scalar(sql).bind(epoch).fetch_all(p).await,
    }
    .unwrap()
}

async fn log_rows_up_to(db: &Db, epoch: i64) -> i64 {
    let sql = "SELECT COUNT(*) FROM cmdb_graph_log WHERE epoch <= $1";
    match db {
        Db::Sqlite(p) => sqlx::query_scalar(sql).bind(epoch).fetch_one(p).await,
        Db::Pg(p) => sqlx::query_scalar(sql).bind(epoch).fetch_one(p).await,
    }
    .unwrap()
}

/// Remove an item at the store level with its relations, logging it and the other ends of
/// its relations, as a deletion would (the API retires items instead).
async fn remove_ci(db: &Db, id: Uuid, others: &[Uuid]) {
    use yunwei_store::Tx;
    let mut tx = db.begin_write().await.unwrap();
    for sql in [
        "DELETE FROM ci_relations WHERE source_id = $1 OR target_id = $1",
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
    let mut touched = others.to_vec();
    touched.push(id);
    store::bump_epoch(&mut tx, Some(&touched)).await.unwrap();
    tx.commit().await.unwrap();
}

/// The node's graph (brought up to date) equals one read from scratch.
async fn assert_fresh(app: &App, what: &str) {
    let g = app.cmdb_graph.get(&app.db).await.unwrap();
    let fresh = Graph::load(&app.db).await.unwrap();
    assert_eq!(g.epoch, fresh.epoch, "{what}");
    assert_eq!(g.difference(&fresh), None, "{what}");
}

/// Impact and dependencies of `root` as `app` answers them, and as a fresh node does.
async fn assert_answers_fresh(app: &App, sys: &yunwei_service::Actor, root: Uuid, what: &str) {
    let fresh = App::new(app.db.clone());
    let q = || ImpactQuery {
        limit: Some(1000),
        offset: None,
    };
    let a = app.ci_impact(sys, root, q()).await.unwrap();
    let b = fresh.ci_impact(sys, root, q()).await.unwrap();
    assert_eq!(json!(a), json!(b), "{what}: impact");
    let a = app.ci_dependencies(sys, root, q()).await.unwrap();
    let b = fresh.ci_dependencies(sys, root, q()).await.unwrap();
    assert_eq!(json!(a), json!(b), "{what}: dependencies");
}

const CLASSES: [&str; 5] = [
    "application_system",
    "database",
    "virtual_machine",
    "physical_server",
    "business_service",
];

#[tokio::test]
async fn random_writes_keep_every_node_graph_equal_to_a_fresh_read() {
    for t in TestApp::all().await {
        let (_, engineer) = t.user("gcs-incr", "engineer", None).await;
        let orgs = [t.org("增量甲单位").await, t.org("增量乙单位").await];
        let depts = [
            dept(&t, orgs[0], "信息处").await,
            dept(&t, orgs[0], "财务处").await,
            dept(&t, orgs[1], "办公室").await,
        ];
        let mut rng = Lcg(0x5eed_0004);
        // (id, body as last written)
        let mut cis: Vec<(Uuid, Value)> = Vec::new();
        let mut rels: Vec<(Uuid, Uuid, Uuid)> = Vec::new();
        let mut key = 0usize;
        let mut new_body = |rng: &mut Lcg| {
            key += 1;
            let o = rng.below(2);
            let mut b = json!({
                "class": CLASSES[rng.below(CLASSES.len())],
                "org_id": orgs[o],
                "external_key": format!("INC-{key:03}"),
                // Names repeat, so the order within a depth falls back to the id.
                "name": format!("系统{:02}", rng.below(12)),
            });
            if o == 0 && rng.below(2) == 0 {
                b["department_id"] = json!(depts[rng.below(2)]);
            }
            b
        };
        for _ in 0..14 {
            let b = new_body(&mut rng);
            cis.push((create(&t, &engineer, &b).await, b));
        }
        let backup = json!({"class": "backup_system", "org_id": orgs[0],
                            "external_key": "INC-BAK", "name": "备份系统"});
        let backup = create(&t, &engineer, &backup).await;
        for _ in 0..20 {
            let (s, d) = (cis[rng.below(14)].0, cis[rng.below(14)].0);
            if s != d {
                if let Some(r) = relate(&t, &engineer, s, "depends_on", d).await {
                    rels.push((r, s, d));
                }
            }
        }

        // A second node: its own pool and graph, the same database (SQLite: the same file).
        let other = Db::connect(&t._db.url, yunwei_store::PoolSize::default())
            .await
            .unwrap();
        let node_b = App::new(other);
        let router_b = yunwei_web::router(yunwei_web::state(node_b.clone(), Default::default()));
        assert_fresh(&t.app, "node A, loaded").await;
        assert_fresh(&node_b, "node B, loaded").await;
        assert_eq!(t.app.cmdb_graph.counts(), (1, 0));
        assert_eq!(node_b.cmdb_graph.counts(), (1, 0));

        for step in 0..40 {
            let what = format!("{} step {step}", t.name);
            let n = cis.len();
            let op = rng.below(12);
            match op {
                0 | 1 => {
                    let b = new_body(&mut rng);
                    cis.push((create(&t, &engineer, &b).await, b));
                }
                2 | 3 => {
                    // Renamed, or moved to another department, or another criticality.
                    let i = rng.below(n);
                    let (id, mut b) = cis[i].clone();
                    match rng.below(3) {
                        0 => b["name"] = json!(format!("系统{:02}", rng.below(12))),
                        1 if b["org_id"] == json!(orgs[0]) => {
                            b["department_id"] = json!(depts[rng.below(2)])
                        }
                        _ => b["criticality"] = json!(["general", "critical"][rng.below(2)]),
                    }
                    put(&t, &engineer, id, &b).await;
                    cis[i].1 = b;
                }
                4 => {
                    // Retired.
                    let i = rng.below(n);
                    let (id, mut b) = cis[i].clone();
                    b["status"] = json!("retired");
                    put(&t, &engineer, id, &b).await;
                    cis[i].1 = b;
                }
                5..=7 => {
                    let (s, d) = (cis[rng.below(n)].0, cis[rng.below(n)].0);
                    if s != d {
                        if let Some(r) = relate(&t, &engineer, s, "depends_on", d).await {
                            rels.push((r, s, d));
                        }
                    }
                }
                8 => {
                    // Backed up by: stored, but it does not propagate impact.
                    relate(&t, &engineer, cis[rng.below(n)].0, "backed_up_by", backup).await;
                }
                9 | 10 if !rels.is_empty() => {
                    let (r, _, _) = rels.swap_remove(rng.below(rels.len()));
                    unrelate(&t, &engineer, r).await;
                }
                11 if n > 8 => {
                    let (id, _) = cis.swap_remove(rng.below(n));
                    let mut others: BTreeSet<Uuid> = BTreeSet::from([backup]);
                    rels.retain(|&(_, s, d)| {
                        if s == id || d == id {
                            others.insert(s);
                            others.insert(d);
                            false
                        } else {
                            true
                        }
                    });
                    let others: Vec<Uuid> = others.into_iter().collect();
                    remove_ci(&t.app.db, id, &others).await;
                }
                _ => {}
            }
            // The next query on node A patches its graph.
            let root = cis[rng.below(cis.len())].0;
            let (st, _) = get_on(&t.router, &format!("/api/v1/cis/{root}/impact"), &t.admin).await;
            assert_eq!(st, StatusCode::OK, "{what}");
            assert_fresh(&t.app, &what).await;
            assert_answers_fresh(&t.app, &t.sys, root, &what).await;
            // Node B catches up every third step, several epochs at once.
            if step % 3 == 2 {
                let (st, _) = get_on(
                    &router_b,
                    &format!("/api/v1/cis/{root}/dependencies"),
                    &t.admin,
                )
                .await;
                assert_eq!(st, StatusCode::OK, "{what}");
                assert_fresh(&node_b, &format!("{what}, node B")).await;
                assert_answers_fresh(&node_b, &t.sys, root, &format!("{what}, node B")).await;
            }
        }
        // Neither node read the whole graph again: every change was a patch.
        let (loads, patches) = t.app.cmdb_graph.counts();
        assert_eq!(loads, 1, "{}", t.name);
        assert!(patches >= 30, "{}: {patches} patches", t.name);
        let (loads, patches) = node_b.cmdb_graph.counts();
        assert_eq!(loads, 1, "{}", t.name);
        assert!(patches >= 10, "{}: {patches} patches", t.name);
    }
}

#[tokio::test]
async fn each_write_logs_what_it_touched_and_a_node_behind_the_log_reads_in_full() {
    for t in TestApp::all().await {
        let (_, engineer) = t.user("gcs-log", "engineer", None).await;
        let org = t.org("日志单位").await;
        let mk = |class: &str, key: &str| json!({"class": class, "org_id": org, "external_key": key, "name": key});
        let host = create(&t, &engineer, &mk("physical_server", "L-HOST")).await;
        let vm = create(&t, &engineer, &mk("virtual_machine", "L-VM")).await;
        let app = create(&t, &engineer, &mk("application_system", "L-APP")).await;
        let db = &t.app.db;
        assert_eq!(
            logged(db, store::epoch(db).await.unwrap()).await,
            [Some(app)]
        );
        relate(&t, &engineer, vm, "runs_on", host).await.unwrap();
        let mut both = vec![Some(vm), Some(host)];
        both.sort();
        assert_eq!(logged(db, store::epoch(db).await.unwrap()).await, both);
        let impact = format!("/api/v1/cis/{host}/impact");
        let keys = |v: &Value| {
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["external_key"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&t.get(&impact, &t.admin).await.body), ["L-VM"]);
        assert_eq!(t.app.cmdb_graph.counts(), (1, 0));

        // A change after the graph's epoch: patched.
        let rel = relate(&t, &engineer, app, "runs_on", vm).await.unwrap();
        assert_eq!(
            keys(&t.get(&impact, &t.admin).await.body),
            ["L-VM", "L-APP"]
        );
        assert_eq!(t.app.cmdb_graph.counts(), (1, 1));
        assert_fresh(&t.app, t.name).await;

        // The log rows after the graph's epoch are gone (as pruning removes them): the next
        // query reads the graph in full, and has the change.
        unrelate(&t, &engineer, rel).await;
        exec(db, "DELETE FROM cmdb_graph_log WHERE epoch > $1", Some(0)).await;
        assert_eq!(keys(&t.get(&impact, &t.admin).await.body), ["L-VM"]);
        assert_eq!(t.app.cmdb_graph.counts(), (2, 1));
        assert_fresh(&t.app, t.name).await;

        // Pruning itself: far ahead, a write removes the rows of epochs more than the kept
        // number behind; the node, behind them, reads in full, and patches again after.
        create(&t, &engineer, &mk("database", "L-DB")).await;
        assert_eq!(keys(&t.get(&impact, &t.admin).await.body), ["L-VM"]);
        assert_eq!(t.app.cmdb_graph.counts(), (2, 2));
        let before = store::epoch(db).await.unwrap();
        assert_eq!(log_rows_up_to(db, before).await, 1);
        exec(
            db,
            "UPDATE cmdb_epoch SET epoch = epoch + $1",
            Some(store::GRAPH_LOG_KEEP + 5),
        )
        .await;
        relate(&t, &engineer, app, "runs_on", vm).await.unwrap();
        let e = store::epoch(db).await.unwrap();
        assert!(e - store::GRAPH_LOG_KEEP >= before);
        assert_eq!(log_rows_up_to(db, e - store::GRAPH_LOG_KEEP).await, 0);
        assert_eq!(logged(db, e).await.len(), 2);
        assert_eq!(
            keys(&t.get(&impact, &t.admin).await.body),
            ["L-VM", "L-APP"]
        );
        assert_eq!(t.app.cmdb_graph.counts(), (3, 2));
        assert_fresh(&t.app, t.name).await;
        let mut b = mk("application_system", "L-APP");
        b["name"] = json!("应用甲");
        put(&t, &engineer, app, &b).await;
        assert_eq!(
            logged(db, store::epoch(db).await.unwrap()).await,
            [Some(app)]
        );
        let v = t.get(&impact, &t.admin).await.body;
        assert_eq!(v["items"][1]["name"], "应用甲", "{}", t.name);
        assert_eq!(t.app.cmdb_graph.counts(), (3, 3));
        assert_fresh(&t.app, t.name).await;
    }
}

#[tokio::test]
async fn an_import_logs_everything_and_the_next_query_reads_in_full() {
    for t in TestApp::all().await {
        let (_, engineer) = t.user("gcs-imp", "engineer", None).await;
        let org = t.org("导入日志单位").await;
        let host = create(
            &t,
            &engineer,
            &json!({"class": "physical_server", "org_id": org, "external_key": "M-HOST",
                    "name": "主机"}),
        )
        .await;
        let impact = format!("/api/v1/cis/{host}/impact");
        let r = t.get(&impact, &t.admin).await;
        assert_eq!(r.body["total"], 0, "{}", r.text);
        assert_eq!(t.app.cmdb_graph.counts(), (1, 0));

        let csv = "组织,外部编号,名称,类别\r\n\
                   导入日志单位,M-VM,虚拟机,virtual_machine\r\n\
                   \r\n\
                   源组织,源外部编号,关系类型,目标组织,目标外部编号\r\n\
                   导入日志单位,M-VM,runs_on,导入日志单位,M-HOST\r\n";
        let report = import(&t, &engineer, csv).await;
        assert_eq!(report["created"], 1, "{report}");
        assert_eq!(report["relations_created"], 1, "{report}");
        let db = &t.app.db;
        assert_eq!(logged(db, store::epoch(db).await.unwrap()).await, [None]);
        let r = t.get(&impact, &t.admin).await;
        assert_eq!(r.body["items"][0]["external_key"], "M-VM", "{}", r.text);
        assert_eq!(t.app.cmdb_graph.counts(), (2, 0));
        assert_fresh(&t.app, t.name).await;
    }
}
