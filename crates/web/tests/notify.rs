//! Notifications through the API and the outbox, on SQLite and PostgreSQL, against real
//! receivers started here: an SMTP sink and an HTTP server that checks webhook signatures
//! and the WeCom / DingTalk / Feishu formats as shared/reference/integrations.md gives them.
//!
//! Until ticket changes call `enqueue_ticket_notifications` themselves, [`enqueued`] calls it
//! for the change just made (and does nothing once they do).

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use common::TestApp;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use uuid::Uuid;
use yunwei_service::users::NewUser;
use yunwei_store::notify::{self as nstore, OutboxFilter, OutboxRow};
use yunwei_store::{on_db, tickets};

// ---------------------------------------------------------------------------------------
// Receivers

/// One message the SMTP sink accepted.
#[derive(Debug, Clone)]
struct Mail {
    rcpt: Vec<String>,
    data: String,
}

/// A minimal SMTP server: enough of RFC 5321 to take messages (no TLS, no AUTH).
async fn smtp_sink() -> (SocketAddr, Arc<Mutex<Vec<Mail>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let store = mails.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                w.write_all(b"220 sink.test ESMTP ready\r\n").await.ok();
                let mut rcpt = Vec::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.trim_end().to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") {
                        b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
                    } else if cmd.starts_with("HELO") || cmd.starts_with("MAIL FROM") {
                        b"250 OK\r\n"
                    } else if cmd.starts_with("RCPT TO") {
                        let a = line.trim_end()[8..]
                            .trim()
                            .trim_start_matches('<')
                            .trim_end_matches('>')
                            .to_string();
                        rcpt.push(a);
                        b"250 OK\r\n"
                    } else if cmd == "DATA" {
                        w.write_all(b"354 go ahead\r\n").await.ok();
                        let mut data = String::new();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" {
                                break;
                            }
                            // Undo dot-stuffing.
                            data.push_str(line.strip_prefix('.').unwrap_or(&line));
                        }
                        store.lock().unwrap().push(Mail {
                            rcpt: std::mem::take(&mut rcpt),
                            data,
                        });
                        b"250 OK queued\r\n"
                    } else if cmd == "QUIT" {
                        w.write_all(b"221 bye\r\n").await.ok();
                        return;
                    } else if cmd == "RSET" || cmd == "NOOP" {
                        b"250 OK\r\n"
                    } else {
                        b"502 not implemented\r\n"
                    };
                    w.write_all(reply).await.ok();
                }
            });
        }
    });
    (addr, mails)
}

/// One request the HTTP receiver got.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
    /// What the receiver concluded (signature checks).
    verdict: Result<(), String>,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

type Hits = Arc<Mutex<Vec<Hit>>>;

const WEBHOOK_SECRET: &str = "whsec-0123456789abcdef";
const DINGTALK_SECRET: &str = "SEC0123456789abcdef0123456789";
const FEISHU_SECRET: &str = "feishu-secret-0123456789";

fn hmac256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn query_param(q: &str, name: &str) -> Option<String> {
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Percent-decoding (the sign is URL-encoded Base64).
fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Checks per integrations.md §2 and the webhook convention.
fn verify(path: &str, query: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    if path.starts_with("/hook") {
        let ts: i64 = headers
            .get("x-yunwei-timestamp")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .ok_or("no timestamp")?;
        let sig = headers
            .get("x-yunwei-signature")
            .and_then(|v| v.to_str().ok())
            .ok_or("no signature")?;
        let want = format!(
            "sha256={}",
            hex::encode(hmac256(WEBHOOK_SECRET.as_bytes(), body))
        );
        if sig != want {
            return Err(format!("bad signature {sig}"));
        }
        let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        if v["timestamp"].as_i64() != Some(ts) || (now_ms() / 1000 - ts).abs() > 300 {
            return Err("timestamp".into());
        }
        return Ok(());
    }
    if path.starts_with("/dingtalk") {
        // timestamp (ms) and sign = urlencode(base64(HMAC-SHA256(key=secret, ts + "\n" + secret)))
        let ts = query_param(query, "timestamp").ok_or("no timestamp")?;
        let sign = query_param(query, "sign").ok_or("no sign")?;
        if query_param(query, "access_token").as_deref() != Some("dt-token") {
            return Err("access_token lost".into());
        }
        let tsn: i64 = ts.parse().map_err(|_| "ts")?;
        if (now_ms() - tsn).abs() > 3_600_000 {
            return Err("timestamp not within an hour (ms expected)".into());
        }
        let want = b64(&hmac256(
            DINGTALK_SECRET.as_bytes(),
            format!("{ts}\n{DINGTALK_SECRET}").as_bytes(),
        ));
        if pct_decode(&sign) != want {
            return Err("sign not match".into());
        }
        if sign.contains('+') || sign.contains('/') || sign.contains('=') {
            return Err("sign not URL-encoded".into());
        }
        let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        if v["msgtype"] != "text" || !v["text"]["content"].is_string() {
            return Err("not a text message".into());
        }
        return Ok(());
    }
    if path.starts_with("/feishu") {
        // body: "timestamp" (s, string), "sign" = base64(HMAC-SHA256(key = ts + "\n" + secret, ""))
        let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let ts = v["timestamp"]
            .as_str()
            .ok_or("timestamp must be a string")?;
        let tsn: i64 = ts.parse().map_err(|_| "ts")?;
        if (now_ms() / 1000 - tsn).abs() > 3600 {
            return Err("timestamp not within an hour (s expected)".into());
        }
        let want = b64(&hmac256(format!("{ts}\n{FEISHU_SECRET}").as_bytes(), b""));
        if v["sign"].as_str() != Some(want.as_str()) {
            return Err("sign match fail".into());
        }
        if v["msg_type"] != "post" {
            return Err("msg_type".into());
        }
        return Ok(());
    }
    if path.starts_with("/wecom") {
        if query_param(query, "key").as_deref() != Some("wecom-key-0001") {
            return Err("key lost".into());
        }
        let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let content = v["text"]["content"].as_str().ok_or("no content")?;
        if v["msgtype"] != "text" || content.len() > 2048 {
            return Err("not a WeCom text message".into());
        }
        return Ok(());
    }
    Ok(())
}

async fn receive(
    State(hits): State<Hits>,
    Path(rest): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let path = format!("/{rest}");
    let query = q.unwrap_or_default();
    let verdict = verify(&path, &query, &headers, &body);
    hits.lock().unwrap().push(Hit {
        path: path.clone(),
        query,
        headers,
        body: body.to_vec(),
        verdict: verdict.clone(),
    });
    if path.starts_with("/slow") {
        tokio::time::sleep(Duration::from_secs(10)).await;
        return (StatusCode::OK, "{}".into());
    }
    if path.starts_with("/fail") {
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom".into());
    }
    let ok = verdict.is_ok();
    let answer = if path.starts_with("/feishu") {
        if ok {
            json!({"code": 0, "msg": "success", "data": {}})
        } else {
            json!({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"})
        }
    } else if path.starts_with("/dingtalk") || path.starts_with("/wecom") {
        if ok {
            json!({"errcode": 0, "errmsg": "ok"})
        } else {
            json!({"errcode": 310000, "errmsg": "sign not match"})
        }
    } else {
        return if ok {
            (StatusCode::OK, "ok".into())
        } else {
            (StatusCode::UNAUTHORIZED, "bad signature".into())
        };
    };
    (StatusCode::OK, answer.to_string())
}

async fn http_receiver() -> (String, Hits) {
    let hits: Hits = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/{*rest}", post(receive))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), hits)
}

// ---------------------------------------------------------------------------------------
// Helpers

/// Decode RFC 2047 encoded words (B and Q) in a header value.
fn decode_words(v: &str) -> String {
    let mut out = Vec::new();
    // Whitespace between two encoded words is dropped; any other is kept.
    let mut prev_encoded = None;
    for part in v.split_whitespace() {
        let lower = part.to_ascii_lowercase();
        let word = if lower.starts_with("=?utf-8?b?") && part.ends_with("?=") {
            Some(
                base64::engine::general_purpose::STANDARD
                    .decode(&part[10..part.len() - 2])
                    .unwrap(),
            )
        } else if lower.starts_with("=?utf-8?q?") && part.ends_with("?=") {
            let q = &part[10..part.len() - 2];
            Some(pct_decode(&q.replace('=', "%").replace('_', " ")).into_bytes())
        } else {
            None
        };
        let encoded = word.is_some();
        if prev_encoded.is_some() && !(encoded && prev_encoded == Some(true)) {
            out.push(b' ');
        }
        out.extend(word.unwrap_or_else(|| part.as_bytes().to_vec()));
        prev_encoded = Some(encoded);
    }
    String::from_utf8(out).unwrap()
}

/// (header value, decoded body) of a raw message.
fn parse_mail(raw: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with(' ') || line.starts_with('\t') {
            headers.last_mut().unwrap().1.push_str(line);
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let b64body: String = body.split_whitespace().collect();
    let body = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64body)
            .unwrap(),
    )
    .unwrap();
    (headers, body)
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> &'a str {
    &h.iter().find(|(k, _)| k == name).unwrap().1
}

async fn person(
    t: &TestApp,
    username: &str,
    role: &str,
    org: Option<Uuid>,
    email: Option<&str>,
    lang: Option<&str>,
) -> (Uuid, String) {
    let u = t
        .app
        .create_user(
            &t.sys,
            NewUser {
                username: username.into(),
                display_name: None,
                email: email.map(String::from),
                phone: None,
                role: role.into(),
                org_id: org,
                department_id: None,
                password: "correct horse battery".into(),
                lang: lang.map(String::from),
            },
        )
        .await
        .unwrap();
    let tok = t
        .app
        .create_token(&t.sys, u.id, Default::default())
        .await
        .unwrap()
        .token;
    (u.id, tok)
}

async fn rows(t: &TestApp) -> i64 {
    on_db!(&t.app.db, |p| yunwei_store::sqlx::query_scalar::<_, i64>(
        "SELECT (SELECT COUNT(*) FROM outbox) + (SELECT COUNT(*) FROM inbox)"
    )
    .fetch_one(p)
    .await)
    .unwrap()
}

/// After a ticket change: when the change wrote no notifications itself, enqueue them for
/// its latest event inside a transaction of our own.
async fn enqueued(t: &TestApp, number: &str, before: i64) {
    if rows(t).await > before {
        return;
    }
    let tk = tickets::get_by_number(&t.app.db, number)
        .await
        .unwrap()
        .unwrap();
    let ev = tickets::events(&t.app.db, tk.id, false)
        .await
        .unwrap()
        .pop()
        .unwrap();
    let mut tx = t.app.db.begin_write().await.unwrap();
    t.app
        .enqueue_ticket_notifications(&mut tx, &tk, &ev)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn outbox(t: &TestApp) -> Vec<OutboxRow> {
    nstore::list_outbox(
        &t.app.db,
        &OutboxFilter {
            limit: 1000,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

async fn allow_loopback(t: &TestApp) {
    let r = t
        .req(
            Method::PUT,
            "/api/v1/settings/notifications",
            Some(&t.admin),
            Some(json!({"allowed_cidrs": ["127.0.0.0/8"], "public_url": "https://yw.example.cn/"})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["public_url"], "https://yw.example.cn");
}

async fn channel(t: &TestApp, body: Value) -> Value {
    let r = t
        .post("/api/v1/notification-channels", &t.admin, body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {}", t.name, r.text);
    r.body
}

async fn submit(t: &TestApp, token: &str, subject: &str) -> String {
    let before = rows(t).await;
    let started = Instant::now();
    let r = t
        .post(
            "/api/v1/tickets",
            token,
            json!({"kind": "incident", "subject": subject, "description": "三楼财务室打印机卡纸"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "creating a ticket took {:?}",
        started.elapsed()
    );
    let n = r.body["number"].as_str().unwrap().to_string();
    enqueued(t, &n, before).await;
    n
}

// ---------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn email_webhook_and_robots_deliver_what_integrations_md_specifies() {
    for t in TestApp::all().await {
        let (smtp, mails) = smtp_sink().await;
        let (base, hits) = http_receiver().await;
        allow_loopback(&t).await;
        channel(
            &t,
            json!({"kind": "email", "name": "邮件服务器", "config": {
            "host": "127.0.0.1", "port": smtp.port(), "security": "none",
            "from": "desk@yw.example.cn", "from_name": "运维服务台"}}),
        )
        .await;
        channel(
            &t,
            json!({"kind": "webhook", "name": "webhook", "config": {
            "url": format!("{base}/hook"), "secret": WEBHOOK_SECRET}}),
        )
        .await;
        channel(
            &t,
            json!({"kind": "wecom", "name": "企业微信值班群", "config": {
            "url": format!("{base}/wecom/cgi-bin/webhook/send?key=wecom-key-0001")}}),
        )
        .await;
        channel(&t, json!({"kind": "dingtalk", "name": "钉钉群", "config": {
            "url": format!("{base}/dingtalk/robot/send?access_token=dt-token"), "secret": DINGTALK_SECRET}}))
        .await;
        channel(&t, json!({"kind": "feishu", "name": "飞书群", "config": {
            "url": format!("{base}/feishu/open-apis/bot/v2/hook/0b1c2d3e-aaaa-bbbb-cccc-1234567890ab"),
            "secret": FEISHU_SECRET, "lang": "en"}}))
        .await;

        let org = t.org("甲单位").await;
        let (_, customer) = person(
            &t,
            "kehu",
            "customer",
            Some(org),
            Some("kehu@jia.example.cn"),
            None,
        )
        .await;
        let (agent_id, agent) = person(
            &t,
            "zuoxi",
            "agent",
            None,
            Some("zuoxi@yw.example.cn"),
            None,
        )
        .await;
        let (eng_id, _) = person(
            &t,
            "gongchengshi",
            "engineer",
            None,
            Some("gcs@yw.example.cn"),
            Some("en"),
        )
        .await;
        let team = t
            .post("/api/v1/teams", &t.admin, json!({"name": "桌面组"}))
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_string();
        for u in [agent_id, eng_id] {
            let r = t
                .req(
                    Method::PUT,
                    &format!("/api/v1/teams/{team}/members/{u}"),
                    Some(&t.admin),
                    None,
                    &[],
                )
                .await;
            assert_eq!(r.status, StatusCode::NO_CONTENT);
        }

        // Created by the customer: the channels hear of it, the customer (who did it) does not.
        let n = submit(&t, &customer, "打印机无法打印").await;
        // Triaged by the agent: the customer (public event) and the engineer (team) hear of it.
        let before = rows(&t).await;
        let r = t
            .post(
                &format!("/api/v1/tickets/{n}/transitions"),
                &agent,
                json!({"action": "triage", "criticality": "general", "breadth": "one_department",
                       "urgency": "high", "team_id": team, "assignee_id": agent_id}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        enqueued(&t, &n, before).await;

        let report = t
            .app
            .deliver_outbox_once("node-a", t.app.now())
            .await
            .unwrap();
        assert_eq!(
            report.claimed,
            report.sent,
            "{}: {report:?} {:?}",
            t.name,
            outbox(&t).await
        );
        // 2 events × 4 robots/webhooks + 2 e-mails (customer and engineer for the triage).
        assert_eq!(report.sent, 10, "{}: {report:?}", t.name);
        assert!(outbox(&t)
            .await
            .iter()
            .all(|r| r.status == "sent" && r.attempts == 1));

        // E-mail: the Chinese subject as an RFC 2047 encoded word, the body in Base64.
        let mails = mails.lock().unwrap().clone();
        assert_eq!(mails.len(), 2, "{mails:?}");
        let to_customer = mails
            .iter()
            .find(|m| m.rcpt == ["kehu@jia.example.cn"])
            .unwrap();
        assert!(to_customer.data.is_ascii());
        let (h, body) = parse_mail(&to_customer.data);
        let subject = header(&h, "subject");
        // The Chinese words travel as RFC 2047 encoded words; the number stays readable.
        assert!(
            subject.is_ascii()
                && subject.starts_with(&format!("[{n}] "))
                && subject.to_ascii_lowercase().contains("=?utf-8?b?"),
            "{subject}"
        );
        assert_eq!(
            decode_words(subject),
            format!("[{n}] 工单已分派：打印机无法打印")
        );
        assert!(decode_words(header(&h, "from")).contains("运维服务台"));
        assert!(header(&h, "content-type").contains("charset=utf-8"));
        assert!(body.contains(&format!("工单：{n}")), "{body}");
        assert!(
            body.contains(&format!("查看：https://yw.example.cn/tickets/{n}")),
            "{body}"
        );
        let to_engineer = mails
            .iter()
            .find(|m| m.rcpt == ["gcs@yw.example.cn"])
            .unwrap();
        let (h, _) = parse_mail(&to_engineer.data);
        assert_eq!(
            decode_words(header(&h, "subject")),
            format!("[{n}] Ticket assigned: 打印机无法打印")
        );

        // Webhooks and robots: every request passed the receiver's checks.
        let hits = hits.lock().unwrap().clone();
        assert_eq!(hits.len(), 8, "{hits:?}");
        for h in &hits {
            assert_eq!(
                h.verdict,
                Ok(()),
                "{} {}: {}",
                h.path,
                h.query,
                String::from_utf8_lossy(&h.body)
            );
        }
        let hook: Vec<&Hit> = hits.iter().filter(|h| h.path == "/hook").collect();
        let events: Vec<String> = hook
            .iter()
            .map(|h| h.json()["event"].as_str().unwrap().into())
            .collect();
        assert!(events.contains(&"created".to_string()) && events.contains(&"triage".to_string()));
        let created = hook
            .iter()
            .find(|h| h.json()["event"] == "created")
            .unwrap()
            .json();
        assert_eq!(created["ticket"]["number"], n.as_str());
        assert_eq!(
            created["link"],
            format!("https://yw.example.cn/tickets/{n}")
        );
        assert!(hook[0].headers.get("x-yunwei-delivery").is_some());
        let wecom = hits
            .iter()
            .find(|h| h.path.starts_with("/wecom"))
            .unwrap()
            .json();
        assert!(wecom["text"]["content"].as_str().unwrap().contains(&n));
        let feishu = hits
            .iter()
            .find(|h| h.path.starts_with("/feishu"))
            .unwrap()
            .json();
        assert!(
            feishu["content"]["post"]["en_us"]["title"]
                .as_str()
                .unwrap()
                .contains(&n),
            "{feishu}"
        );

        // In-app: the customer and the engineer have one each; the agent (who acted) none.
        let inbox = t.get("/api/v1/me/inbox", &customer).await;
        assert_eq!(inbox.status, StatusCode::OK);
        assert_eq!(
            inbox.body["items"].as_array().unwrap().len(),
            1,
            "{}",
            inbox.text
        );
        assert_eq!(inbox.body["items"][0]["ticket_number"], n.as_str());
        assert_eq!(inbox.headers["x-unread-count"], "1");
        let a = t.get("/api/v1/me/inbox", &agent).await;
        assert_eq!(a.body["items"].as_array().unwrap().len(), 0);

        // Nothing left to send.
        let again = t
            .app
            .deliver_outbox_once("node-a", t.app.now())
            .await
            .unwrap();
        assert_eq!(again.claimed, 0);
    }
}

#[tokio::test]
async fn a_slow_receiver_never_slows_the_request_and_is_retried_later() {
    for t in TestApp::all().await {
        let (base, hits) = http_receiver().await;
        allow_loopback(&t).await;
        channel(
            &t,
            json!({"kind": "webhook", "name": "slow", "config": {
            "url": format!("{base}/slow"), "secret": WEBHOOK_SECRET}}),
        )
        .await;
        let org = t.org("乙单位").await;
        let (_, customer) = person(&t, "kehu", "customer", Some(org), None, None).await;

        // The request returns at once: it only wrote the outbox.
        let started = Instant::now();
        let n = submit(&t, &customer, "网络中断").await;
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(
            hits.lock().unwrap().is_empty(),
            "nothing is sent within the request"
        );

        // The worker gives up on the slow receiver after 5 s and retries 30 s later.
        let now = t.app.now();
        let started = Instant::now();
        let r = t.app.deliver_outbox_once("node-a", now).await.unwrap();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(4500) && took < Duration::from_secs(9),
            "{took:?}"
        );
        assert_eq!((r.claimed, r.retried), (1, 1), "{r:?}");
        let row = outbox(&t).await.pop().unwrap();
        assert_eq!((row.status.as_str(), row.attempts), ("failed", 1));
        assert_eq!(row.next_attempt_at, now + chrono::Duration::seconds(30));
        assert!(
            row.last_error.as_deref().unwrap().contains("timed out"),
            "{row:?}"
        );
        assert!(row.payload.contains(&n));
        // Not due yet: nothing is claimed.
        let r = t
            .app
            .deliver_outbox_once("node-a", now + chrono::Duration::seconds(29))
            .await
            .unwrap();
        assert_eq!(r.claimed, 0);
    }
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_back_off_then_dead() {
    for t in TestApp::all().await {
        let (base, hits) = http_receiver().await;
        allow_loopback(&t).await;
        channel(
            &t,
            json!({"kind": "dingtalk", "name": "broken", "config": {
            "url": format!("{base}/fail/robot/send?access_token=x")}}),
        )
        .await;
        let org = t.org("丙单位").await;
        let (_, customer) = person(&t, "kehu", "customer", Some(org), None, None).await;
        submit(&t, &customer, "邮件系统故障").await;

        let mut now = t.app.now();
        let mut waits = Vec::new();
        for attempt in 1..=8 {
            let r = t.app.deliver_outbox_once("node-a", now).await.unwrap();
            assert_eq!(r.claimed, 1, "{}: attempt {attempt}", t.name);
            let row = outbox(&t).await.pop().unwrap();
            assert_eq!(row.attempts, attempt);
            assert!(
                row.last_error.as_deref().unwrap().contains("HTTP 500"),
                "{row:?}"
            );
            if attempt < 8 {
                assert_eq!(row.status, "failed");
                waits.push((row.next_attempt_at - now).num_seconds());
                // A moment before it is due, nobody claims it.
                let early = t
                    .app
                    .deliver_outbox_once(
                        "node-b",
                        row.next_attempt_at - chrono::Duration::seconds(1),
                    )
                    .await
                    .unwrap();
                assert_eq!(early.claimed, 0);
                now = row.next_attempt_at;
            } else {
                assert_eq!(row.status, "dead");
                assert_eq!(r.dead, 1);
            }
        }
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920]);
        assert_eq!(hits.lock().unwrap().len(), 8);
        let later = t
            .app
            .deliver_outbox_once("node-a", now + chrono::Duration::days(1))
            .await
            .unwrap();
        assert_eq!(later.claimed, 0, "dead rows stay dead");

        // Administrators see the dead letter.
        let r = t
            .get("/api/v1/notification-outbox?status=dead", &t.admin)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["items"][0]["attempts"], 8);
        assert!(r.body["items"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("500"));
        assert!(
            !r.text.contains("access_token=x"),
            "no credentials in errors"
        );
    }
}

#[tokio::test]
async fn outbound_addresses_on_our_own_network_are_refused_unless_allowed() {
    for t in TestApp::all().await {
        let (base, hits) = http_receiver().await;
        for url in [
            "http://127.0.0.1:9/hook",
            "http://10.1.2.3/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:9/hook",
            "http://localhost:9/hook",
            "http://0x7f.1/hook",
        ] {
            let r = t
                .post(
                    "/api/v1/notification-channels",
                    &t.admin,
                    json!({"kind": "wecom", "name": "x", "config": {"url": url}}),
                )
                .await;
            assert_eq!(
                (r.status, r.body["code"].as_str(), r.body["field"].as_str()),
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some("url_not_allowed"),
                    Some("config.url")
                ),
                "{}: {url}: {}",
                t.name,
                r.text
            );
        }
        let r = t
            .post(
                "/api/v1/notification-channels",
                &t.admin,
                json!({"kind": "email", "name": "m",
                "config": {"host": "localhost", "port": 25, "from": "a@b.example"}}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("config.host"))
        );
        let r = t
            .post(
                "/api/v1/notification-channels",
                &t.admin,
                json!({"kind": "wecom", "name": "x", "config": {"url": "file:///etc/passwd"}}),
            )
            .await;
        assert_eq!(r.body["code"], "validation_failed");

        // An allow-list opens exactly its networks.
        allow_loopback(&t).await;
        let ch = channel(
            &t,
            json!({"kind": "webhook", "name": "lo", "config": {
            "url": format!("{base}/hook"), "secret": WEBHOOK_SECRET}}),
        )
        .await;
        let r = t
            .post(
                "/api/v1/notification-channels",
                &t.admin,
                json!({"kind": "wecom", "name": "x", "config": {"url": "http://10.1.2.3/hook"}}),
            )
            .await;
        assert_eq!(r.body["code"], "url_not_allowed");
        // Allowing every private address (checked at configuration time only: nothing is
        // sent to it here).
        let r = t
            .req(
                Method::PUT,
                "/api/v1/settings/notifications",
                Some(&t.admin),
                Some(json!({"allow_private_webhooks": true})),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let private = channel(
            &t,
            json!({"kind": "wecom", "name": "lan", "enabled": false,
            "config": {"url": "http://10.1.2.3/hook"}}),
        )
        .await;
        assert_eq!(private["enabled"], false);

        // The check is made again when sending: the allowance withdrawn, the queued
        // notification is refused and never sent.
        let org = t.org("丁单位").await;
        let (_, customer) = person(&t, "kehu", "customer", Some(org), None, None).await;
        submit(&t, &customer, "服务器宕机").await;
        let r = t
            .req(
                Method::PUT,
                "/api/v1/settings/notifications",
                Some(&t.admin),
                Some(json!({})),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let rep = t
            .app
            .deliver_outbox_once("node-a", t.app.now())
            .await
            .unwrap();
        assert_eq!((rep.claimed, rep.dead), (1, 1), "{rep:?}");
        let row = outbox(&t).await.pop().unwrap();
        assert!(row.last_error.unwrap().contains("internal address"));
        assert!(hits.lock().unwrap().is_empty());
        let id = ch["id"].as_str().unwrap();
        let r = t
            .post(
                &format!("/api/v1/notification-channels/{id}/test"),
                &t.admin,
                json!({}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("url_not_allowed"))
        );

        // Bad allow-list entries are refused.
        let r = t
            .req(
                Method::PUT,
                "/api/v1/settings/notifications",
                Some(&t.admin),
                Some(json!({"allowed_cidrs": ["10.0.0.0/33"]})),
                &[],
            )
            .await;
        assert_eq!(r.body["field"], "allowed_cidrs");
    }
}

#[tokio::test]
async fn customers_hear_only_of_public_events_of_their_own_organization() {
    for t in TestApp::all().await {
        let (base, hits) = http_receiver().await;
        allow_loopback(&t).await;
        let org_a = t.org("甲单位").await;
        let org_b = t.org("乙单位").await;
        // Each customer organization has its own robot.
        channel(
            &t,
            json!({"kind": "wecom", "name": "甲单位群", "org_id": org_a, "config": {
            "url": format!("{base}/wecom/a?key=wecom-key-0001")}}),
        )
        .await;
        channel(
            &t,
            json!({"kind": "wecom", "name": "乙单位群", "org_id": org_b, "config": {
            "url": format!("{base}/wecom/b?key=wecom-key-0001")}}),
        )
        .await;
        // The provider's own robot also hears internal notes.
        channel(
            &t,
            json!({"kind": "wecom", "name": "服务台内部群", "config": {
            "url": format!("{base}/wecom/staff?key=wecom-key-0001"), "internal": true}}),
        )
        .await;
        let r = t
            .post("/api/v1/notification-channels", &t.admin, json!({"kind": "wecom", "name": "bad",
                "org_id": org_a, "config": {"url": format!("{base}/wecom/x?key=k"), "internal": true}}))
            .await;
        assert_eq!(
            r.body["field"], "config.internal",
            "an organization's channel never hears internal events"
        );

        let (a_id, cust_a) = person(&t, "kehu-a", "customer", Some(org_a), None, None).await;
        let (b_id, cust_b) = person(&t, "kehu-b", "customer", Some(org_b), None, None).await;
        let (_, agent) = person(&t, "zuoxi", "agent", None, None, None).await;

        let n = submit(&t, &cust_a, "打印机无法打印").await;
        // An internal note and a public reply by the agent.
        for (body, internal) in [("内部备注：硒鼓需更换", true), ("已安排工程师上门", false)]
        {
            let before = rows(&t).await;
            let r = t
                .post(
                    &format!("/api/v1/tickets/{n}/comments"),
                    &agent,
                    json!({"body": body, "internal": internal}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            enqueued(&t, &n, before).await;
        }
        // Even a ticket that names another organization's customer does not reach them.
        let mut tk = tickets::get_by_number(&t.app.db, &n)
            .await
            .unwrap()
            .unwrap();
        let ev = tickets::events(&t.app.db, tk.id, false).await.unwrap();
        let reply = ev.iter().find(|e| e.kind == "reply").unwrap();
        tk.requester_id = Some(b_id);
        let mut tx = t.app.db.begin_write().await.unwrap();
        t.app
            .enqueue_ticket_notifications(&mut tx, &tk, reply)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let inbox_a = t.get("/api/v1/me/inbox", &cust_a).await;
        let items = inbox_a.body["items"].as_array().unwrap();
        assert_eq!(
            items.len(),
            1,
            "{}: only the public reply: {}",
            t.name,
            inbox_a.text
        );
        assert!(items[0]["body"]
            .as_str()
            .unwrap()
            .contains("已安排工程师上门"));
        assert!(!inbox_a.text.contains("硒鼓"));
        let inbox_b = t.get("/api/v1/me/inbox", &cust_b).await;
        assert_eq!(
            inbox_b.body["items"].as_array().unwrap().len(),
            0,
            "{}",
            inbox_b.text
        );
        assert!(nstore::list_inbox(&t.app.db, b_id, false, None, 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            nstore::list_inbox(&t.app.db, a_id, false, None, 10)
                .await
                .unwrap()
                .len(),
            1
        );

        t.app
            .deliver_outbox_once("node-a", t.app.now())
            .await
            .unwrap();
        let hits = hits.lock().unwrap().clone();
        let texts = |p: &str| -> Vec<String> {
            hits.iter()
                .filter(|h| h.path == p)
                .map(|h| h.json()["text"]["content"].as_str().unwrap().to_string())
                .collect()
        };
        assert!(
            texts("/wecom/b").is_empty(),
            "乙单位's robot hears nothing of 甲单位"
        );
        let a = texts("/wecom/a");
        // created, the public reply (twice: also the replay above) — never the note.
        assert_eq!(a.len(), 3, "{a:?}");
        assert!(a.iter().all(|x| !x.contains("硒鼓")), "{a:?}");
        let staff = texts("/wecom/staff");
        assert!(
            staff.iter().any(|x| x.contains("内部备注：硒鼓需更换")),
            "{staff:?}"
        );
    }
}

#[tokio::test]
async fn secrets_are_masked_and_channels_are_for_administrators() {
    for t in TestApp::all().await {
        let (base, hits) = http_receiver().await;
        allow_loopback(&t).await;
        let key = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa";
        let ch = channel(&t, json!({"kind": "dingtalk", "name": "钉钉群", "config": {
            "url": format!("{base}/dingtalk/robot/send?access_token=dt-token"), "secret": DINGTALK_SECRET}}))
        .await;
        let wecom = channel(
            &t,
            json!({"kind": "wecom", "name": "企业微信", "config": {
            "url": format!("{base}/wecom/send?key={key}")}}),
        )
        .await;
        let mail = channel(&t, json!({"kind": "email", "name": "smtp", "config": {
            "host": "127.0.0.1", "port": 2525, "username": "desk", "password": "smtp-password-123456",
            "from": "desk@yw.example.cn"}}))
        .await;
        let id = ch["id"].as_str().unwrap();
        assert_eq!(ch["config"]["secret"], "***6789");
        assert_eq!(
            wecom["config"]["url"],
            format!("{base}/wecom/send?key=***5aaa")
        );
        assert_eq!(mail["config"]["password"], "***3456");
        let list = t.get("/api/v1/notification-channels", &t.admin).await;
        for secret in [DINGTALK_SECRET, key, "smtp-password-123456", "dt-token"] {
            assert!(!list.text.contains(secret), "{}", list.text);
            assert!(!ch.to_string().contains(secret));
        }
        // Nor does the audit log keep them.
        let audit = t
            .get("/api/v1/audit?entity=notification_channel", &t.admin)
            .await;
        assert_eq!(
            audit.body["items"].as_array().unwrap().len(),
            3,
            "{}",
            audit.text
        );
        for secret in [DINGTALK_SECRET, key, "smtp-password-123456"] {
            assert!(!audit.text.contains(secret));
        }

        // Sending the masked form back keeps the secret: the robot still verifies the sign.
        let echoed = ch["config"].clone();
        let r = t
            .patch(
                &format!("/api/v1/notification-channels/{id}"),
                &t.admin,
                json!({"name": "钉钉值班群", "config": echoed}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let stored = nstore::get_channel(&t.app.db, id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(
            stored.config.contains(DINGTALK_SECRET)
                && stored.config.contains("access_token=dt-token")
        );
        let r = t
            .post(
                &format!("/api/v1/notification-channels/{id}/test"),
                &t.admin,
                json!({}),
            )
            .await;
        assert_eq!(
            (r.status, &r.body["delivered"]),
            (StatusCode::OK, &json!(true)),
            "{}",
            r.text
        );
        assert_eq!(hits.lock().unwrap().last().unwrap().verdict, Ok(()));
        // A wrong secret: the robot refuses and the test says why.
        let r = t
            .patch(
                &format!("/api/v1/notification-channels/{id}"),
                &t.admin,
                json!({"config": {"secret": "SECwrong-wrong-wrong"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let r = t
            .post(
                &format!("/api/v1/notification-channels/{id}/test"),
                &t.admin,
                json!({}),
            )
            .await;
        assert_eq!(r.body["delivered"], false);
        assert!(
            r.body["error"].as_str().unwrap().contains("310000"),
            "{}",
            r.text
        );

        // Only administrators.
        let (_, agent) = person(&t, "zuoxi", "agent", None, None, None).await;
        let (_, manager) = person(&t, "jingli", "manager", None, None, None).await;
        for tok in [&agent, &manager] {
            assert_eq!(
                t.get("/api/v1/notification-channels", tok).await.status,
                StatusCode::FORBIDDEN
            );
            assert_eq!(
                t.post("/api/v1/notification-channels", tok, json!({"kind": "wecom", "name": "x", "config": {"url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}})).await.status,
                StatusCode::FORBIDDEN
            );
            assert_eq!(
                t.get("/api/v1/settings/notifications", tok).await.status,
                StatusCode::FORBIDDEN
            );
            assert_eq!(
                t.req(
                    Method::DELETE,
                    &format!("/api/v1/notification-channels/{id}"),
                    Some(tok),
                    None,
                    &[]
                )
                .await
                .status,
                StatusCode::FORBIDDEN
            );
        }
        let r = t
            .req(
                Method::DELETE,
                &format!("/api/v1/notification-channels/{id}"),
                Some(&t.admin),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let r = t
            .patch(
                &format!("/api/v1/notification-channels/{id}"),
                &t.admin,
                json!({"enabled": false}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = t
            .post(
                "/api/v1/notification-channels",
                &t.admin,
                json!({"kind": "wecom", "name": "企业微信",
            "config": {"url": format!("{base}/wecom/send?key=k")}}),
            )
            .await;
        assert_eq!(r.body["code"], "name_taken");
    }
}

#[tokio::test]
async fn preferences_choose_the_channels_and_the_inbox_is_ones_own() {
    for t in TestApp::all().await {
        let (smtp, mails) = smtp_sink().await;
        allow_loopback(&t).await;
        let org = t.org("甲单位").await;
        let (_, customer) = person(
            &t,
            "kehu",
            "customer",
            Some(org),
            Some("kehu@jia.example.cn"),
            Some("en"),
        )
        .await;
        let (_, agent) = person(&t, "zuoxi", "agent", None, None, None).await;

        let p = t
            .get("/api/v1/me/notification-preferences", &customer)
            .await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        assert_eq!(p.body["email"], "kehu@jia.example.cn");
        assert_eq!(p.body["email_available"], false);
        let items = p.body["items"].as_array().unwrap();
        assert!(items
            .iter()
            .all(|i| i["channels"] == json!(["inapp", "email"])));
        assert!(
            !items.iter().any(|i| i["event_kind"] == "note"),
            "customers never get notes"
        );

        channel(&t, json!({"kind": "email", "name": "smtp", "config": {
            "host": "127.0.0.1", "port": smtp.port(), "security": "none", "from": "desk@yw.example.cn"}}))
        .await;
        // Replies: in-app only. Resolutions: e-mail only.
        let r = t
            .req(
                Method::PUT,
                "/api/v1/me/notification-preferences",
                Some(&customer),
                Some(
                    json!({"items": [{"event_kind": "reply", "channels": ["inapp"]},
                                      {"event_kind": "start", "channels": ["email", "email"]}]}),
                ),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["email_available"], true);
        let get = |k: &str| {
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["event_kind"] == k)
                .unwrap()["channels"]
                .clone()
        };
        assert_eq!(
            (get("reply"), get("start")),
            (json!(["inapp"]), json!(["email"]))
        );
        for bad in [
            json!({"items": [{"event_kind": "nope", "channels": []}]}),
            json!({"items": [{"event_kind": "reply", "channels": ["sms"]}]}),
        ] {
            let r = t
                .req(
                    Method::PUT,
                    "/api/v1/me/notification-preferences",
                    Some(&customer),
                    Some(bad),
                    &[],
                )
                .await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        }

        let n = submit(&t, &customer, "无法登录 VPN").await;
        let before = rows(&t).await;
        let r = t
            .post(
                &format!("/api/v1/tickets/{n}/comments"),
                &agent,
                json!({"body": "请重启客户端"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        enqueued(&t, &n, before).await;
        assert!(outbox(&t).await.is_empty(), "no e-mail for a reply");
        let before = rows(&t).await;
        let r = t
            .post(&format!("/api/v1/tickets/{n}/transitions"), &agent,
                json!({"action": "triage", "criticality": "general", "breadth": "one_department", "urgency": "low",
                       "assignee_id": t.app.get_user_by_username(&t.sys, "zuoxi").await.unwrap().id}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        enqueued(&t, &n, before).await;
        let before = rows(&t).await;
        let r = t
            .post(
                &format!("/api/v1/tickets/{n}/transitions"),
                &agent,
                json!({"action": "start"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        enqueued(&t, &n, before).await;
        // triage: default (in-app + e-mail); start: e-mail only.
        let rep = t
            .app
            .deliver_outbox_once("node-a", t.app.now())
            .await
            .unwrap();
        assert_eq!(rep.sent, 2, "{rep:?}");
        let mails = mails.lock().unwrap().clone();
        let subjects: Vec<String> = mails
            .iter()
            .map(|m| decode_words(header(&parse_mail(&m.data).0, "subject")))
            .collect();
        assert!(
            subjects.contains(&format!("[{n}] Work started: 无法登录 VPN")),
            "{subjects:?}"
        );

        let inbox = t.get("/api/v1/me/inbox", &customer).await;
        let items = inbox.body["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 2, "reply and triage: {}", inbox.text);
        assert!(
            items[0]["title"]
                .as_str()
                .unwrap()
                .starts_with(&format!("[{n}] Ticket assigned")),
            "newest first, in English"
        );
        assert_eq!(inbox.headers["x-unread-count"], "2");
        let id = items[1]["id"].as_str().unwrap();
        // Someone else cannot mark it read.
        let r = t
            .req(
                Method::POST,
                &format!("/api/v1/me/inbox/{id}/read"),
                Some(&agent),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = t
            .req(
                Method::POST,
                &format!("/api/v1/me/inbox/{id}/read"),
                Some(&customer),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let unread = t.get("/api/v1/me/inbox?unread=true", &customer).await;
        assert_eq!(unread.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(unread.headers["x-unread-count"], "1");
        let page = t.get("/api/v1/me/inbox?limit=1", &customer).await;
        assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
        let cursor = page.body["next_cursor"].as_str().unwrap();
        let next = t
            .get(
                &format!("/api/v1/me/inbox?limit=1&cursor={cursor}"),
                &customer,
            )
            .await;
        assert_eq!(next.body["items"][0]["id"], id);
    }
}
