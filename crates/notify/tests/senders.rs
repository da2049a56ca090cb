//! The senders against a real HTTP server on this machine: a name is resolved once, checked,
//! and connected to only at the checked addresses; a refused address is never contacted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use yunwei_domain::Lang;
use yunwei_notify::{render, send, Cidr, Policy, SendError, SendOptions, Target};

type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

async fn server() -> (u16, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |h: HeaderMap, b: Bytes| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push((h, b.to_vec()));
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (port, seen)
}

fn opts(policy: Policy) -> SendOptions {
    SendOptions {
        policy,
        timeout: Duration::from_secs(5),
        now: chrono::Utc::now(),
        delivery_id: Some("d-1".into()),
    }
}

#[tokio::test]
async fn a_host_name_is_connected_to_at_its_checked_addresses() {
    let (port, seen) = server().await;
    let msg = render::test_message(Lang::Zh, "本机");
    let target = Target::Webhook {
        url: format!("http://localhost:{port}/hook"),
        secret: "0123456789abcdef".into(),
    };
    // localhost resolves to loopback addresses: refused by default, nothing is sent.
    let e = send(&target, &msg, &opts(Policy::default()))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SendError::Refused(_)) && e.is_permanent(),
        "{e}"
    );
    assert!(seen.lock().unwrap().is_empty());

    // Allowed: delivered to the port of the URL, signed.
    let allow = Policy {
        allow_private: true,
        allow_cidrs: vec![],
    };
    send(&target, &msg, &opts(allow)).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let (h, body) = &seen[0];
    let sig = h["x-yunwei-signature"].to_str().unwrap();
    assert_eq!(
        sig,
        yunwei_notify::webhook::signature("0123456789abcdef", body)
    );
    assert_eq!(h["x-yunwei-delivery"], "d-1");
    assert_eq!(h["x-yunwei-event"], "test");
}

#[tokio::test]
async fn an_allow_list_opens_only_its_networks() {
    let (port, seen) = server().await;
    let msg = render::test_message(Lang::En, "lo");
    let target = Target::WeCom {
        url: format!("http://127.0.0.1:{port}/hook?key=k"),
    };
    let other: Cidr = "10.0.0.0/8".parse().unwrap();
    let e = send(
        &target,
        &msg,
        &opts(Policy {
            allow_private: false,
            allow_cidrs: vec![other],
        }),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("127.0.0.1"), "{e}");
    assert!(seen.lock().unwrap().is_empty());
    let lo: Cidr = "127.0.0.1/32".parse().unwrap();
    // The server answers "ok", which is no robot answer: delivered, but not accepted.
    let e = send(
        &target,
        &msg,
        &opts(Policy {
            allow_private: false,
            allow_cidrs: vec![lo],
        }),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("not a robot answer"), "{e}");
    assert!(!e.is_permanent());
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_closed_port_is_a_retryable_failure() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let msg = render::test_message(Lang::Zh, "x");
    let target = Target::Feishu {
        url: format!("http://127.0.0.1:{port}/open-apis/bot/v2/hook/x"),
        secret: None,
    };
    let e = send(
        &target,
        &msg,
        &opts(Policy {
            allow_private: true,
            allow_cidrs: vec![],
        }),
    )
    .await
    .unwrap_err();
    assert!(!e.is_permanent(), "{e}");
}
