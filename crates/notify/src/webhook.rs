//! Generic webhooks: a JSON POST, signed.
//!
//! Headers:
//! - `X-Yunwei-Timestamp`: Unix time in seconds when the request was signed (also in the body
//!   as `timestamp`, so it is covered by the signature);
//! - `X-Yunwei-Signature`: `sha256=` + lower-case hex of HMAC-SHA256(key = the channel's
//!   secret, message = the raw request body, byte for byte);
//! - `X-Yunwei-Event`: the event kind; `X-Yunwei-Delivery`: the delivery id (the same id on
//!   every retry of one notification, for deduplication).
//!
//! A receiver recomputes the HMAC over the body it received, compares in constant time, and
//! rejects a `timestamp` far from its own clock (replays).
//!
//! Body:
//! ```json
//! {"event": "reply", "timestamp": 1767225600, "delivery_id": "…", "event_id": "…",
//!  "lang": "zh-CN", "title": "…", "text": "…", "link": "https://…/tickets/INC-2026-000001",
//!  "ticket": {"number": "INC-2026-000001", "subject": "…", "kind": "incident",
//!             "status": "assigned", "priority": 2, "org_id": "…"}}
//! ```

use serde_json::json;

use crate::{guard, http, Message, SendError, SendOptions};

pub const SIGNATURE_HEADER: &str = "X-Yunwei-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Yunwei-Timestamp";
pub const EVENT_HEADER: &str = "X-Yunwei-Event";
pub const DELIVERY_HEADER: &str = "X-Yunwei-Delivery";

/// `sha256=<hex>` of HMAC-SHA256(secret, body).
pub fn signature(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(crate::hmac_sha256(secret.as_bytes(), body))
    )
}

/// The request body.
pub fn body(msg: &Message, timestamp: i64, delivery_id: Option<&str>) -> Vec<u8> {
    json!({
        "event": msg.event,
        "timestamp": timestamp,
        "delivery_id": delivery_id,
        "event_id": msg.event_id,
        "lang": msg.lang,
        "title": msg.title,
        "text": msg.body,
        "link": msg.link,
        "ticket": msg.ticket,
    })
    .to_string()
    .into_bytes()
}

pub(crate) async fn send(
    url: &str,
    secret: &str,
    msg: &Message,
    opts: &SendOptions,
) -> Result<(), SendError> {
    let url = guard::parse_url(url)?;
    if secret.is_empty() {
        return Err(SendError::Config("a webhook needs a secret".into()));
    }
    let ts = opts.now.timestamp();
    let body = body(msg, ts, opts.delivery_id.as_deref());
    let sig = signature(secret, &body);
    let mut headers = vec![
        (SIGNATURE_HEADER, sig),
        (TIMESTAMP_HEADER, ts.to_string()),
        (EVENT_HEADER, msg.event.clone()),
    ];
    if let Some(d) = &opts.delivery_id {
        headers.push((DELIVERY_HEADER, d.clone()));
    }
    let r = http::post_json(&url, body, &headers, opts).await?;
    if (200..300).contains(&r.status) {
        Ok(())
    } else {
        Err(http::status_error(&r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_the_raw_body() {
        // python3: hmac.new(b"key", b'{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            signature("key", br#"{"a":1}"#),
            "sha256=88a67f24bbcdaed0e6c997404bb79a743baf44c6bab2f4c27328e3009d22e342"
        );
        let m = crate::render::test_message(yunwei_domain::Lang::Zh, "x");
        let b = body(&m, 1_767_225_600, Some("d1"));
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["timestamp"], 1_767_225_600);
        assert_eq!(v["delivery_id"], "d1");
        assert_eq!(v["event"], "test");
        assert!(signature("k", &b).starts_with("sha256="));
        assert_eq!(signature("k", &b).len(), 7 + 64);
    }
}
