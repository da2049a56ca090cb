//! The reliability battery of the binary (issue 5, item 4), run as an operator would run it:
//!
//! - **Crash consistency**: clients create tickets while the server is killed with SIGKILL at
//!   random moments and started again on the same database. Afterwards every acknowledged
//!   ticket is there exactly once with the number it was acknowledged with, nothing that was
//!   not asked for exists, and nothing is half done (every ticket has its timeline and its
//!   audit entry, the number counters equal the tickets, the audit chain verifies).
//! - **Numbering under concurrency**: many concurrent clients, on SQLite and across two nodes
//!   on one PostgreSQL database; no number repeats and none is skipped (checked in the
//!   database).
//!
//! Sizes: CI runs `YUNWEI_CRASH_WRITES` (default 10,000 acknowledged writes on SQLite, 2,000
//! on PostgreSQL) and `YUNWEI_NUMBERING_TICKETS` (default 3,000) with
//! `YUNWEI_NUMBERING_CLIENTS` (default 128). The long mode of docs/reliability.md sets them
//! to 10,000 (both stores) / 100,000 / 256.

mod common;
use common::*;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift64*), seeded from the clock and printed, so a
/// failing run can be repeated with `YUNWEI_CRASH_SEED`.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("YUNWEI_CRASH_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0x9e37_79b9)
            })
            | 1;
        eprintln!("crash test seed: {seed}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// What the clients saw: acknowledged subjects with their numbers, and subjects whose fate
/// is unknown (the connection broke or the server answered with an error before/without
/// acknowledging — such a ticket may or may not exist, but at most once).
#[derive(Default)]
struct Seen {
    acked: HashMap<String, String>,
    in_doubt: HashSet<String>,
    refused: Vec<String>,
}

const PREFIX: &str = "崩溃测试";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(4)
        .build()
        .expect("http client")
}

/// One client: create tickets against whatever server is current until `goal` tickets are
/// acknowledged in total.
async fn crash_client(
    id: usize,
    base: Arc<RwLock<String>>,
    token: String,
    acked: Arc<AtomicUsize>,
    goal: usize,
    seen: Arc<Mutex<Seen>>,
) {
    let http = client();
    let mut i = 0usize;
    while acked.load(Ordering::SeqCst) < goal {
        i += 1;
        let subject = format!("{PREFIX} c{id} #{i}");
        let url = format!("{}/api/v1/tickets", base.read().unwrap());
        let answer = http
            .post(url)
            .bearer_auth(&token)
            .json(&json!({
                "kind": "incident",
                "subject": subject,
                "description": "服务器被强制结束时提交的工单：已确认的必须存在且只存在一次。",
            }))
            .send()
            .await;
        match answer {
            Ok(r) if r.status() == StatusCode::CREATED => match r.json::<Value>().await {
                Ok(body) => {
                    let number = body["number"].as_str().unwrap_or_default().to_string();
                    seen.lock().unwrap().acked.insert(subject, number);
                    acked.fetch_add(1, Ordering::SeqCst);
                }
                // The answer broke off mid-body: not acknowledged.
                Err(_) => {
                    seen.lock().unwrap().in_doubt.insert(subject);
                }
            },
            Ok(r) if r.status().is_client_error() => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                seen.lock()
                    .unwrap()
                    .refused
                    .push(format!("{subject}: {status} {text}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // Not connected: the request never reached a server (it is down or restarting).
            Err(e) if e.is_connect() => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(_) | Err(_) => {
                seen.lock().unwrap().in_doubt.insert(subject);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Count rows answered by a `SELECT COUNT(*) …`.
async fn scalar(db: &Db, sql: &str) -> i64 {
    match db {
        Db::Sqlite(p) => yunwei_store::sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(p)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}")),
        Db::Pg(p) => yunwei_store::sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(p)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}")),
    }
}

/// `(subject, number)` of the tickets whose subject starts with `prefix`.
async fn tickets_with_prefix(db: &Db, prefix: &str) -> Vec<(String, String)> {
    let sql = "SELECT subject, number FROM tickets WHERE subject LIKE $1";
    let pattern = format!("{prefix}%");
    match db {
        Db::Sqlite(p) => yunwei_store::sqlx::query_as(sql)
            .bind(pattern)
            .fetch_all(p)
            .await
            .expect("tickets"),
        Db::Pg(p) => yunwei_store::sqlx::query_as(sql)
            .bind(pattern)
            .fetch_all(p)
            .await
            .expect("tickets"),
    }
}

/// The database-wide invariants every run must leave: numbers unique and well-formed, no
/// counter ahead of or behind its tickets, every ticket with its creation event and its
/// single creation audit entry.
async fn assert_consistent(db: &Db) {
    let dup = scalar(
        db,
        "SELECT COUNT(*) FROM (SELECT number FROM tickets GROUP BY number HAVING COUNT(*) > 1) d",
    )
    .await;
    assert_eq!(dup, 0, "ticket numbers repeat");
    let counted = scalar(
        db,
        "SELECT CAST(COALESCE(SUM(value), 0) AS BIGINT) FROM ticket_counters",
    )
    .await;
    let tickets = scalar(db, "SELECT COUNT(*) FROM tickets").await;
    assert_eq!(
        counted, tickets,
        "the number counters do not match the tickets (a number skipped or reused)"
    );
    let without_event = scalar(
        db,
        "SELECT COUNT(*) FROM tickets t WHERE NOT EXISTS \
         (SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id)",
    )
    .await;
    assert_eq!(without_event, 0, "tickets without a timeline");
    let audit_mismatch = scalar(
        db,
        "SELECT COUNT(*) FROM tickets t WHERE (SELECT COUNT(*) FROM audit_log a \
         WHERE a.entity = 'ticket' AND a.action = 'create' AND a.entity_id = t.number) <> 1",
    )
    .await;
    assert_eq!(
        audit_mismatch, 0,
        "tickets without exactly one creation audit entry"
    );
    let numbers = tickets_with_prefix(db, "").await;
    for (_, n) in &numbers {
        assert!(
            well_formed(n),
            "number {n:?} does not match ^[A-Z]{{2,5}}-\\d{{4}}-\\d{{6,}}$"
        );
    }
}

fn well_formed(n: &str) -> bool {
    let parts: Vec<&str> = n.split('-').collect();
    parts.len() == 3
        && (2..=5).contains(&parts[0].len())
        && parts[0].chars().all(|c| c.is_ascii_uppercase())
        && parts[1].len() == 4
        && parts[1].chars().all(|c| c.is_ascii_digit())
        && parts[2].len() >= 6
        && parts[2].chars().all(|c| c.is_ascii_digit())
}

/// Kill -9 the server at random moments while clients write; check what survived.
async fn crash_consistency(global: &[&str], db_url: &str, goal: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut rng = Rng::seeded();

    let mut srv = Server::start(root, "crash-0", global, "info").await;
    let token = cli_token(root, global, "admin", ADMIN_TOKEN_NAME).await;
    let base = Arc::new(RwLock::new(srv.url("")));
    let acked = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Seen::default()));

    let clients: Vec<_> = (0..16)
        .map(|id| {
            tokio::spawn(crash_client(
                id,
                base.clone(),
                token.clone(),
                acked.clone(),
                goal,
                seen.clone(),
            ))
        })
        .collect();

    let started = Instant::now();
    let mut kills = 0;
    while acked.load(Ordering::SeqCst) < goal {
        tokio::time::sleep(Duration::from_millis(rng.between(200, 2500))).await;
        if acked.load(Ordering::SeqCst) >= goal {
            break;
        }
        srv.kill(); // SIGKILL: no shutdown hook runs.
        kills += 1;
        srv = Server::start(root, &format!("crash-{kills}"), global, "info").await;
        *base.write().unwrap() = srv.url("");
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "the crash run did not reach {goal} acknowledged writes in 15 minutes ({} so far)",
            acked.load(Ordering::SeqCst)
        );
    }
    for c in clients {
        c.await.expect("client task");
    }
    // One more kill after the last acknowledgement, then a clean look at the database.
    srv.kill();
    let restarted = Server::start(root, "crash-final", global, "info").await;
    let (_, log) = restarted.stop();
    assert!(!log.contains("panicked"), "{log}");

    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap();
    assert!(
        seen.refused.is_empty(),
        "requests refused during the run: {:?}",
        &seen.refused[..seen.refused.len().min(5)]
    );
    assert!(
        kills >= 1,
        "the run ended before the server was killed once"
    );
    eprintln!(
        "crash run: {} acknowledged, {} in doubt, {kills} kills, {:.1} s",
        seen.acked.len(),
        seen.in_doubt.len(),
        started.elapsed().as_secs_f64()
    );

    let db = open_db(db_url).await;
    let rows = tickets_with_prefix(&db, PREFIX).await;
    let mut by_subject: HashMap<&str, Vec<&str>> = HashMap::new();
    for (s, n) in &rows {
        by_subject.entry(s).or_default().push(n);
    }
    for (subject, number) in &seen.acked {
        let found = by_subject
            .get(subject.as_str())
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            found,
            vec![number.as_str()],
            "acknowledged ticket {subject:?} ({number}) must exist exactly once"
        );
    }
    for (subject, numbers) in &by_subject {
        assert!(
            numbers.len() == 1
                && (seen.acked.contains_key(*subject) || seen.in_doubt.contains(*subject)),
            "a ticket nobody asked for, or a duplicate: {subject:?} {numbers:?}"
        );
    }
    assert_consistent(&db).await;
    db.close().await;

    let r = if db_url.starts_with("sqlite") {
        yw(root, &[global, &["audit", "verify"]].concat(), None).await
    } else {
        yw(root, &["--database-url", db_url, "audit", "verify"], None).await
    };
    r.success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let url = format!("sqlite://{}", s(&yunwei_store::sqlite_path(&data)));
    let global = ["--data-dir", s(&data)];
    crash_consistency(&global, &url, env_usize("YUNWEI_CRASH_WRITES", 10_000)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_on_postgres() {
    let Some(server) = yunwei_testkit::pg_server_url() else {
        return;
    };
    let pg = yunwei_testkit::fresh_pg_url(&server).await;
    let global = ["--database-url", pg.as_str()];
    crash_consistency(&global, &pg, env_usize("YUNWEI_CRASH_WRITES", 2_000)).await;
    drop_pg_db(&server, &pg).await;
}

/// `total` creations from `clients` concurrent clients spread over `nodes`; every answer
/// must be 201 and every number new.
async fn create_concurrently(nodes: &[&Server], token: &str, clients: usize, total: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let numbers = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let kinds = ["incident", "request", "complaint", "opinion", "suggestion"];
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let base = nodes[c % nodes.len()].url("/api/v1/tickets");
            let (next, failed, numbers, token) = (
                next.clone(),
                failed.clone(),
                numbers.clone(),
                token.to_string(),
            );
            tokio::spawn(async move {
                let http = client();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= total || failed.load(Ordering::SeqCst) {
                        break;
                    }
                    let r = http
                        .post(&base)
                        .bearer_auth(&token)
                        .json(&json!({
                            "kind": kinds[i % kinds.len()],
                            "subject": format!("编号并发 {i}"),
                            "description": "并发创建，检查编号不重复。",
                        }))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == StatusCode::CREATED => {
                            let body: Value = r.json().await.expect("ticket JSON");
                            let n = body["number"].as_str().expect("number").to_string();
                            numbers.lock().unwrap().push(n);
                        }
                        Ok(r) => {
                            failed.store(true, Ordering::SeqCst);
                            let status = r.status();
                            panic!(
                                "creation {i}: {status} {}",
                                r.text().await.unwrap_or_default()
                            );
                        }
                        Err(e) => {
                            failed.store(true, Ordering::SeqCst);
                            panic!("creation {i}: {e}");
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client task");
    }
    let numbers = numbers.lock().unwrap();
    assert_eq!(numbers.len(), total);
    let unique: HashSet<&String> = numbers.iter().collect();
    assert_eq!(unique.len(), total, "the API answered a number twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_never_repeat_under_concurrency_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = root.join("data");
    let global = ["--data-dir", s(&data)];
    let srv = Server::start(root, "numbers", &global, "info").await;
    let token = cli_token(root, &global, "admin", ADMIN_TOKEN_NAME).await;
    let total = env_usize("YUNWEI_NUMBERING_TICKETS", 3_000);
    let started = Instant::now();
    create_concurrently(
        &[&srv],
        &token,
        env_usize("YUNWEI_NUMBERING_CLIENTS", 128),
        total,
    )
    .await;
    eprintln!(
        "{total} creations on SQLite in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    srv.stop();
    let db = open_db(&format!(
        "sqlite://{}",
        s(&yunwei_store::sqlite_path(&data))
    ))
    .await;
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM tickets WHERE subject LIKE '编号并发%'"
        )
        .await,
        total as i64
    );
    assert_consistent(&db).await;
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_never_repeat_across_two_postgres_nodes() {
    let Some(server) = yunwei_testkit::pg_server_url() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let pg = yunwei_testkit::fresh_pg_url(&server).await;
    let global = ["--database-url", pg.as_str()];
    let n1 = Server::start(root, "numbers-1", &global, "info").await;
    let n2 = Server::start(root, "numbers-2", &global, "info").await;
    let token = cli_token(root, &global, "admin", ADMIN_TOKEN_NAME).await;
    let total = env_usize("YUNWEI_NUMBERING_TICKETS", 3_000);
    let started = Instant::now();
    create_concurrently(
        &[&n1, &n2],
        &token,
        env_usize("YUNWEI_NUMBERING_CLIENTS", 128),
        total,
    )
    .await;
    eprintln!(
        "{total} creations across two PostgreSQL nodes in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    n1.stop();
    n2.stop();
    let db = open_db(&pg).await;
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM tickets WHERE subject LIKE '编号并发%'"
        )
        .await,
        total as i64
    );
    assert_consistent(&db).await;
    db.close().await;
    drop_pg_db(&server, &pg).await;
}
