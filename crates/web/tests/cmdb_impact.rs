//! Impact and dependency analysis over the in-memory relation graph, on SQLite and PostgreSQL:
//! equal to a reference breadth-first walk on a generated graph with cycles (and with
//! `backed_up_by` not propagating), paging and `total`, bad paging refused, a customer's view
//! limited to its organization, every change through the API seen by the next query (the CMDB
//! epoch), also by a second node on the same database, and concurrent first queries after a
//! change all answered from the reloaded graph.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use common::TestApp;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use yunwei_service::App;

/// A deterministic pseudo-random sequence (no external crate needed).
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

async fn ci(t: &TestApp, token: &str, body: Value) -> Value {
    let r = t.post("/api/v1/cis", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {}", t.name, r.text);
    r.body
}

async fn relate(t: &TestApp, token: &str, s: &str, kind: &str, d: &str) -> String {
    let r = t
        .post(
            "/api/v1/ci-relations",
            token,
            json!({"source_id": s, "kind": kind, "target_id": d}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {}", t.name, r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// GET through any node's router; (status, body).
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

/// (external key, depth) of the items of one analysis, in the order answered.
fn items(v: &Value) -> Vec<(String, u64)> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {v}"))
        .iter()
        .map(|x| {
            (
                x["external_key"].as_str().unwrap().to_string(),
                x["depth"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The reference: breadth-first from `root` over `adj`, distances of everything reached.
fn bfs(adj: &HashMap<usize, Vec<usize>>, root: usize) -> BTreeMap<usize, u64> {
    let mut dist = BTreeMap::new();
    let mut seen = HashSet::from([root]);
    let mut q = VecDeque::from([(root, 0u64)]);
    while let Some((n, d)) = q.pop_front() {
        for &m in adj.get(&n).map(Vec::as_slice).unwrap_or(&[]) {
            if seen.insert(m) {
                dist.insert(m, d + 1);
                q.push_back((m, d + 1));
            }
        }
    }
    dist
}

struct Generated {
    /// (id, external key, name, org index)
    cis: Vec<(String, String, String, usize)>,
    /// (source, kind, target) by index
    rels: Vec<(usize, &'static str, usize)>,
    orgs: [String; 2],
}

/// 48 CIs in two organizations, ~110 `depends_on` relations at random (cycles certain) and
/// `backed_up_by` relations to two backup systems, through the API.
async fn generate(t: &TestApp, engineer: &str) -> Generated {
    let orgs = [
        t.org("影响甲单位").await.to_string(),
        t.org("影响乙单位").await.to_string(),
    ];
    let classes = [
        "application_system",
        "database",
        "middleware",
        "virtual_machine",
        "physical_server",
        "business_service",
    ];
    let mut rng = Lcg(0x1234_5678);
    let mut cis = Vec::new();
    for i in 0..46 {
        let org = usize::from(i % 5 == 4);
        let class = classes[rng.below(classes.len())];
        // Names repeat, so the order within a depth falls back to the id.
        let name = format!("系统{:02}", rng.below(30));
        let key = format!("IMP-{i:03}");
        let c = ci(
            t,
            engineer,
            json!({"class": class, "org_id": orgs[org], "external_key": key, "name": name}),
        )
        .await;
        cis.push((c["id"].as_str().unwrap().to_string(), key, name, org));
    }
    for i in 0..2 {
        let key = format!("BAK-{i}");
        let c = ci(
            t,
            engineer,
            json!({"class": "backup_system", "org_id": orgs[0], "external_key": key, "name": key}),
        )
        .await;
        cis.push((c["id"].as_str().unwrap().to_string(), key.clone(), key, 0));
    }
    let mut rels = Vec::new();
    let mut have = HashSet::new();
    while rels.len() < 110 {
        let (s, d) = (rng.below(46), rng.below(46));
        if s == d || !have.insert((s, d)) {
            continue;
        }
        relate(t, engineer, &cis[s].0, "depends_on", &cis[d].0).await;
        rels.push((s, "depends_on", d));
    }
    // A database, server or VM backed up: the backup does not propagate impact.
    for s in (0..46).step_by(7) {
        let b = 46 + s % 2;
        relate(t, engineer, &cis[s].0, "backed_up_by", &cis[b].0).await;
        rels.push((s, "backed_up_by", b));
    }
    Generated { cis, rels, orgs }
}

fn adjacency(g: &Generated, dependents: bool) -> HashMap<usize, Vec<usize>> {
    let mut adj: HashMap<usize, Vec<usize>> = HashMap::new();
    for &(s, kind, d) in &g.rels {
        if kind == "backed_up_by" {
            continue;
        }
        if dependents {
            adj.entry(d).or_default().push(s);
        } else {
            adj.entry(s).or_default().push(d);
        }
    }
    adj
}

/// What the API must answer for `root`: (key, depth) ordered by depth, name, id, of the CIs
/// `visible` lets through.
fn expected(
    g: &Generated,
    adj: &HashMap<usize, Vec<usize>>,
    root: usize,
    visible: impl Fn(usize) -> bool,
) -> Vec<(String, u64)> {
    let mut v: Vec<(u64, &str, &str, &str)> = bfs(adj, root)
        .into_iter()
        .filter(|(i, _)| visible(*i))
        .map(|(i, d)| {
            (
                d,
                g.cis[i].2.as_str(),
                g.cis[i].0.as_str(),
                g.cis[i].1.as_str(),
            )
        })
        .collect();
    // Ids are UUIDv7 text; their order is the order of the UUIDs.
    v.sort();
    v.into_iter()
        .map(|(d, _, _, k)| (k.to_string(), d))
        .collect()
}

#[tokio::test]
async fn impact_and_dependencies_equal_a_reference_walk_paged_and_scoped() {
    for t in TestApp::all().await {
        let (_, engineer) = t.user("gcs-imp", "engineer", None).await;
        let g = generate(&t, &engineer).await;
        let up = adjacency(&g, true);
        let down = adjacency(&g, false);
        let mut nonempty = 0;
        for root in 0..g.cis.len() {
            for (what, adj) in [("impact", &up), ("dependencies", &down)] {
                let path = format!("/api/v1/cis/{}/{what}?limit=1000", g.cis[root].0);
                let r = t.get(&path, &t.admin).await;
                assert_eq!(r.status, StatusCode::OK, "{}: {}", t.name, r.text);
                let want = expected(&g, adj, root, |_| true);
                assert_eq!(
                    items(&r.body),
                    want,
                    "{}: {what} of {}",
                    t.name,
                    g.cis[root].1
                );
                assert_eq!(r.body["total"], want.len(), "{}", t.name);
                assert_eq!(r.body["root"]["external_key"], g.cis[root].1.as_str());
                if !want.is_empty() {
                    nonempty += 1;
                }
                // Business services: every one reached (their keys), none other.
                let services: BTreeSet<String> = r.body["business_services"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["external_key"].as_str().unwrap().to_string())
                    .collect();
                let reached_services: BTreeSet<String> = r.body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|x| x["class_code"] == "business_service")
                    .map(|x| x["external_key"].as_str().unwrap().to_string())
                    .collect();
                assert_eq!(services, reached_services, "{}", t.name);
            }
        }
        assert!(
            nonempty > 40,
            "{}: the generated graph is connected enough",
            t.name
        );
        // The backup systems are reached by nothing (backed_up_by does not propagate) …
        let r = t
            .get(&format!("/api/v1/cis/{}/impact", g.cis[46].0), &t.admin)
            .await;
        assert_eq!(r.body["total"], 0, "{}: {}", t.name, r.text);
        // … and their sources do not depend on them.
        let r = t
            .get(
                &format!("/api/v1/cis/{}/dependencies?limit=1000", g.cis[0].0),
                &t.admin,
            )
            .await;
        assert!(
            !items(&r.body).iter().any(|(k, _)| k.starts_with("BAK-")),
            "{}: {}",
            t.name,
            r.text
        );

        // Paging: pages of 7 concatenate to the whole, `total` on every page.
        let root = (0..46).max_by_key(|&i| bfs(&up, i).len()).unwrap();
        let whole = expected(&g, &up, root, |_| true);
        assert!(whole.len() > 14, "{}: a root with several pages", t.name);
        let mut paged = Vec::new();
        let mut offset = 0;
        while offset < whole.len() + 7 {
            let r = t
                .get(
                    &format!(
                        "/api/v1/cis/{}/impact?limit=7&offset={offset}",
                        g.cis[root].0
                    ),
                    &t.admin,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            assert_eq!(r.body["total"], whole.len());
            assert_eq!(
                (r.body["limit"].as_u64(), r.body["offset"].as_u64()),
                (Some(7), Some(offset as u64))
            );
            let page = items(&r.body);
            assert!(page.len() <= 7);
            paged.extend(page);
            offset += 7;
        }
        assert_eq!(paged, whole, "{}", t.name);
        // Default page: 200.
        let r = t
            .get(&format!("/api/v1/cis/{}/impact", g.cis[root].0), &t.admin)
            .await;
        assert_eq!(r.body["limit"], 200);

        // Bad paging: 422 with the field, nothing else answered.
        for (q, field) in [
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("offset=-1", "offset"),
            ("limit=-5", "limit"),
        ] {
            for what in ["impact", "dependencies"] {
                let r = t
                    .get(
                        &format!("/api/v1/cis/{}/{what}?{q}", g.cis[root].0),
                        &t.admin,
                    )
                    .await;
                assert_eq!(
                    r.status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{q}: {}",
                    r.text
                );
                assert_eq!(r.body["code"], "validation_failed", "{}", r.text);
                assert_eq!(r.body["field"], field, "{}", r.text);
                assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()));
                assert!(r.body.get("items").is_none());
            }
        }
        let r = t
            .get(
                &format!("/api/v1/cis/{}/impact?limit=lots", g.cis[root].0),
                &t.admin,
            )
            .await;
        assert!(r.status.is_client_error(), "{}", r.text);
        assert!(r.body.get("items").is_none());

        // A customer of the first organization: only its own items, counted and named; the
        // walk still goes through the other organization's items (depths unchanged).
        let (_, customer) = t
            .user("kh-imp", "customer", Some(g.orgs[0].parse().unwrap()))
            .await;
        let mut checked = 0;
        for root in (0..46).filter(|&i| g.cis[i].3 == 0) {
            let path = format!("/api/v1/cis/{}/impact?limit=1000", g.cis[root].0);
            let r = t.get(&path, &customer).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            let want = expected(&g, &up, root, |i| g.cis[i].3 == 0);
            assert_eq!(items(&r.body), want, "{}: customer's impact", t.name);
            assert_eq!(r.body["total"], want.len());
            let orgs: Vec<&str> = r.body["organizations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap())
                .collect();
            assert_eq!(orgs, vec![g.orgs[0].as_str()], "{}", t.name);
            assert!(r.body["business_services"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["org_id"] == g.orgs[0].as_str()));
            if bfs(&up, root).keys().any(|&i| g.cis[i].3 == 1) {
                checked += 1;
            }
        }
        assert!(checked > 0, "{}: some impact crosses organizations", t.name);
        // Another organization's item answers like a missing one.
        let other = (0..46).find(|&i| g.cis[i].3 == 1).unwrap();
        for what in ["impact", "dependencies"] {
            let r = t
                .get(&format!("/api/v1/cis/{}/{what}", g.cis[other].0), &customer)
                .await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
        }
    }
}

#[tokio::test]
async fn every_change_is_seen_by_the_next_query_also_on_another_node() {
    for t in TestApp::all().await {
        let (_, engineer) = t.user("gcs-epoch", "engineer", None).await;
        let org = t.org("纪元单位").await.to_string();
        let mk = |class: &str, key: &str| json!({"class": class, "org_id": org, "external_key": key, "name": key});
        let host = ci(&t, &engineer, mk("physical_server", "E-HOST")).await;
        let vm = ci(&t, &engineer, mk("virtual_machine", "E-VM")).await;
        let db = ci(&t, &engineer, mk("database", "E-DB")).await;
        let id = |v: &Value| v["id"].as_str().unwrap().to_string();
        relate(&t, &engineer, &id(&vm), "runs_on", &id(&host)).await;
        let impact = format!("/api/v1/cis/{}/impact", id(&host));

        // A second node: its own pool and graph, the same database (SQLite: the same file).
        let other = yunwei_store::Db::connect(&t._db.url, yunwei_store::PoolSize::default())
            .await
            .unwrap();
        let node_b = yunwei_web::router(yunwei_web::state(App::new(other), Default::default()));
        let keys = |v: &Value| items(v).into_iter().map(|x| x.0).collect::<Vec<_>>();
        let (st, b) = get_on(&node_b, &impact, &t.admin).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(keys(&b), ["E-VM"], "{}", t.name);
        assert_eq!(keys(&t.get(&impact, &t.admin).await.body), ["E-VM"]);

        // A relation added through node A: both nodes see it at once.
        let rel = relate(&t, &engineer, &id(&db), "runs_on", &id(&vm)).await;
        assert_eq!(
            items(&t.get(&impact, &t.admin).await.body),
            [("E-VM".to_string(), 1), ("E-DB".to_string(), 2)],
            "{}",
            t.name
        );
        let (_, b) = get_on(&node_b, &impact, &t.admin).await;
        assert_eq!(keys(&b), ["E-VM", "E-DB"], "{}: node B", t.name);

        // A new item and a rename: the brief and the business services follow.
        let svc = ci(&t, &engineer, mk("business_service", "E-SVC")).await;
        relate(&t, &engineer, &id(&svc), "depends_on", &id(&db)).await;
        let mut body = mk("business_service", "E-SVC");
        body["name"] = json!("电子政务服务");
        let r = t
            .req(
                Method::PUT,
                &format!("/api/v1/cis/{}", id(&svc)),
                Some(&engineer),
                Some(body),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let (_, b) = get_on(&node_b, &impact, &t.admin).await;
        assert_eq!(keys(&b), ["E-VM", "E-DB", "E-SVC"], "{}: node B", t.name);
        assert_eq!(
            b["business_services"][0]["name"], "电子政务服务",
            "{}",
            t.name
        );

        // The relation removed through node A: gone on both.
        let r = t
            .req(
                Method::DELETE,
                &format!("/api/v1/ci-relations/{rel}"),
                Some(&engineer),
                None,
                &[],
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text);
        assert_eq!(keys(&t.get(&impact, &t.admin).await.body), ["E-VM"]);
        let (_, b) = get_on(&node_b, &impact, &t.admin).await;
        assert_eq!(keys(&b), ["E-VM"], "{}: node B", t.name);
        assert!(b["business_services"].as_array().unwrap().is_empty());

        // An import through node B (a relation by keys): node A's next query has it.
        let csv = "源组织,源外部编号,关系类型,目标组织,目标外部编号\r\n\
                   纪元单位,E-DB,depends_on,纪元单位,E-HOST\r\n";
        let req = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/cmdb/import")
            .header(header::AUTHORIZATION, format!("Bearer {engineer}"))
            .header(header::CONTENT_TYPE, "text/csv")
            .body(Body::from(csv))
            .unwrap();
        let res = node_b.clone().oneshot(req).await.unwrap();
        let st = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
        let want = [
            ("E-DB".to_string(), 1),
            ("E-VM".to_string(), 1),
            ("E-SVC".to_string(), 2),
        ];
        assert_eq!(
            items(&t.get(&impact, &t.admin).await.body),
            want,
            "{}",
            t.name
        );

        // Many first queries at once after a change, on both nodes: all answered from the
        // reloaded graph.
        let app = ci(&t, &engineer, mk("application_system", "E-APP")).await;
        relate(&t, &engineer, &id(&app), "depends_on", &id(&svc)).await;
        let mut tasks = Vec::new();
        for i in 0..16 {
            let r = if i % 2 == 0 {
                node_b.clone()
            } else {
                t.router.clone()
            };
            let (p, tok) = (impact.clone(), t.admin.clone());
            tasks.push(tokio::spawn(async move { get_on(&r, &p, &tok).await }));
        }
        for task in tasks {
            let (st, b) = task.await.unwrap();
            assert_eq!(st, StatusCode::OK);
            assert_eq!(keys(&b), ["E-DB", "E-VM", "E-SVC", "E-APP"], "{}", t.name);
        }
    }
}
