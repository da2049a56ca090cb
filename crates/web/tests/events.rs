//! The live feed (Server-Sent Events) over a real socket, on SQLite and PostgreSQL: changes
//! arrive, filtered by the caller's authorization, resume with Last-Event-ID, and (on
//! PostgreSQL) cross from one node to another that shares only the database.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::TestApp;
use serde_json::{json, Value};
use yunwei_service::App;

/// Serve an app on a local port; returns its base URL.
async fn serve(app: App) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = yunwei_web::state(app, yunwei_web::WebConfig::default());
    tokio::spawn(yunwei_web::serve(listener, state, std::future::pending()));
    format!("http://{addr}")
}

/// An open event stream and what has been read of it.
struct Stream {
    res: reqwest::Response,
    buf: String,
}

/// One event: (id, event name, data).
type Ev = (i64, String, Value);

impl Stream {
    async fn open(base: &str, token: &str, last_event_id: Option<i64>) -> Stream {
        let mut req = reqwest::Client::new()
            .get(format!("{base}/api/v1/events"))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        Stream {
            res,
            buf: String::new(),
        }
    }

    /// The next event within `wait`, or None.
    async fn next(&mut self, wait: Duration) -> Option<Ev> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut name, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if let Some(id) = id {
                    return Some((id, name, serde_json::from_str(&data).unwrap()));
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            match tokio::time::timeout(left, self.res.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(_) => return None,
                Err(_) => return None,
            }
        }
    }

    /// Events until one about `number` with `action` arrives (or `wait` passes).
    async fn until(&mut self, number: &str, action: &str, wait: Duration) -> Vec<Ev> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(ev) = self.next(left).await else {
                return seen;
            };
            let done = ev.2["number"] == number && ev.2["action"] == action;
            seen.push(ev);
            if done {
                return seen;
            }
        }
    }
}

fn actions(evs: &[Ev], number: &str) -> Vec<String> {
    evs.iter()
        .filter(|e| e.2["number"] == number)
        .map(|e| e.2["action"].as_str().unwrap().to_string())
        .collect()
}

const WAIT: Duration = Duration::from_secs(8);

#[tokio::test]
async fn the_live_feed_follows_authorization_and_resumes() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let other = t.org("乙单位").await;
        let (_, agent) = t.user("zuoxi", "agent", None).await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        let (_, outsider) = t.user("waibu", "customer", Some(other)).await;
        let base = serve(t.app.clone()).await;

        // Not signed in: refused.
        let r = reqwest::get(format!("{base}/api/v1/events")).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

        let mut staff = Stream::open(&base, &agent, None).await;
        let mut mine = Stream::open(&base, &customer, None).await;
        let mut theirs = Stream::open(&base, &outsider, None).await;

        let r = t
            .post(
                "/api/v1/tickets",
                &customer,
                json!({"kind": "incident", "subject": "打印机卡纸", "description": "三楼"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let n = r.body["number"].as_str().unwrap().to_string();
        for (body, internal) in [("内部：先查驱动", true), ("已派人处理", false)] {
            let r = t
                .post(
                    &format!("/api/v1/tickets/{n}/comments"),
                    &agent,
                    json!({"body": body, "internal": internal}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        }

        let seen = staff.until(&n, "reply", WAIT).await;
        assert_eq!(
            actions(&seen, &n),
            ["create", "note", "reply"],
            "{}",
            t.name
        );
        let created = seen.iter().find(|e| e.2["action"] == "create").unwrap();
        assert_eq!(created.1, "ticket");
        assert_eq!(created.2["status"], "new");
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "ids ascend");
        assert!(
            !seen.iter().any(|e| e.2.to_string().contains("先查驱动")),
            "no bodies on the feed"
        );

        let got = mine.until(&n, "reply", WAIT).await;
        assert_eq!(
            actions(&got, &n),
            ["create", "reply"],
            "{}: the customer never hears of the internal note",
            t.name
        );
        assert!(
            theirs.next(Duration::from_secs(3)).await.is_none(),
            "{}: another organization's customer hears nothing",
            t.name
        );

        // Resume after the first event: the later ones are replayed from the database.
        let first = seen[0].0;
        let mut again = Stream::open(&base, &agent, Some(first)).await;
        let replayed = again.until(&n, "reply", WAIT).await;
        assert_eq!(actions(&replayed, &n), ["note", "reply"], "{}", t.name);
        assert!(replayed.iter().all(|e| e.0 > first));
    }
}

#[tokio::test]
async fn the_live_feed_crosses_nodes_sharing_a_postgres_database() {
    let Some(db) = yunwei_testkit::TestDb::postgres().await else {
        return;
    };
    let t = TestApp::new(db).await;
    // A second node: its own pool, its own poller, the same database.
    let other = yunwei_store::Db::connect(&t._db.url, yunwei_store::PoolSize::default())
        .await
        .unwrap();
    let node_b = serve(App::new(other)).await;
    let node_a = serve(t.app.clone()).await;
    let (_, agent) = t.user("zuoxi", "agent", None).await;
    let mut on_b = Stream::open(&node_b, &agent, None).await;
    let mut on_a = Stream::open(&node_a, &agent, None).await;

    // The change is made through node A's HTTP API.
    let r = reqwest::Client::new()
        .post(format!("{node_a}/api/v1/tickets"))
        .bearer_auth(&agent)
        .json(&json!({"kind": "request", "subject": "开通VPN账号", "description": "新员工"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let n = r.json::<Value>().await.unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string();
    let b = on_b.until(&n, "create", WAIT).await;
    assert_eq!(actions(&b, &n), ["create"], "node B sees node A's change");
    let a = on_a.until(&n, "create", WAIT).await;
    assert_eq!(
        a.last().unwrap().0,
        b.last().unwrap().0,
        "same event id on both nodes"
    );
}
