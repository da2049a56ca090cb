//! The group robots of WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书), as described in
//! `shared/reference/integrations.md` §2.
//!
//! | | WeCom | DingTalk | Feishu |
//! |---|---|---|---|
//! | message | `{"msgtype":"text","text":{"content"}}`, ≤ 2048 bytes | `{"msgtype":"text","text":{"content"},"at":{"isAtAll":false}}` | `{"msg_type":"post","content":{"post":{"zh_cn"\|"en_us":{"title","content":[[…]]}}}}`, body ≤ 20 KB |
//! | signing | none (the `key` in the URL is the credential) | `timestamp` (ms) and `sign` = URL-encoded Base64 of HMAC-SHA256(key = secret, msg = `timestamp + "\n" + secret`), appended to the query | `timestamp` (s, a string) and `sign` = Base64 of HMAC-SHA256(key = `timestamp + "\n" + secret`, msg = empty), in the JSON body |
//! | success | `errcode` 0 | `errcode` 0 | `code` 0 (legacy `StatusCode` 0) |
//!
//! Plain text and Feishu's rich-text `text` elements are used rather than markdown: ticket
//! subjects are user input, and markdown or `<at>` tags in them must not turn into links or
//! mentions of the whole group.

use base64::Engine;
use serde_json::{json, Value};

use crate::render::link_label;
use crate::{cut_bytes, guard, http, Message, SendError, SendOptions};

/// WeCom text content limit, in bytes.
pub const WECOM_TEXT_MAX: usize = 2048;
/// Our cut for DingTalk text, in bytes (its robots refuse very long messages).
pub const DINGTALK_TEXT_MAX: usize = 4000;
/// Our cut for the Feishu body text, in bytes (the whole request must stay under 20 KB).
pub const FEISHU_TEXT_MAX: usize = 8000;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Percent-encode everything but RFC 3986 unreserved characters (for Base64 output this is
/// exactly what JavaScript's `encodeURIComponent` gives).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// WeCom: `{"msgtype":"text","text":{"content":…}}`.
pub fn wecom_payload(msg: &Message) -> Value {
    json!({
        "msgtype": "text",
        "text": { "content": cut_bytes(&msg.full_text(), WECOM_TEXT_MAX) },
    })
}

/// DingTalk's signature for a timestamp in milliseconds: Base64 of
/// HMAC-SHA256(key = secret, message = `timestamp + "\n" + secret`), not yet URL-encoded.
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let string_to_sign = format!("{timestamp_ms}\n{secret}");
    b64(&crate::hmac_sha256(
        secret.as_bytes(),
        string_to_sign.as_bytes(),
    ))
}

/// The robot URL with `&timestamp=…&sign=…` appended when a secret is set.
pub fn dingtalk_url(url: &str, secret: Option<&str>, timestamp_ms: i64) -> String {
    match secret.filter(|s| !s.is_empty()) {
        None => url.to_string(),
        Some(secret) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!(
                "{url}{sep}timestamp={timestamp_ms}&sign={}",
                url_encode(&dingtalk_sign(secret, timestamp_ms))
            )
        }
    }
}

/// DingTalk: `{"msgtype":"text","text":{"content":…},"at":{"isAtAll":false}}`.
pub fn dingtalk_payload(msg: &Message) -> Value {
    json!({
        "msgtype": "text",
        "text": { "content": cut_bytes(&msg.full_text(), DINGTALK_TEXT_MAX) },
        "at": { "atMobiles": [], "atUserIds": [], "isAtAll": false },
    })
}

/// Feishu's signature for a timestamp in seconds: Base64 of HMAC-SHA256 with the key
/// `timestamp + "\n" + secret` over an empty message.
pub fn feishu_sign(secret: &str, timestamp_s: i64) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    b64(&crate::hmac_sha256(key.as_bytes(), b""))
}

/// Feishu: a rich-text `post`, signed in the body when a secret is set.
pub fn feishu_payload(msg: &Message, secret: Option<&str>, timestamp_s: i64) -> Value {
    let mut lines: Vec<Value> = cut_bytes(&msg.body, FEISHU_TEXT_MAX)
        .lines()
        .map(|l| json!([{ "tag": "text", "text": l }]))
        .collect();
    if let Some(link) = &msg.link {
        lines.push(json!([
            { "tag": "text", "text": link_label(&msg.lang) },
            { "tag": "a", "text": link, "href": link },
        ]));
    }
    let locale = if msg.lang == "en" { "en_us" } else { "zh_cn" };
    let mut v = json!({
        "msg_type": "post",
        "content": { "post": { locale: { "title": msg.title, "content": lines } } },
    });
    if let Some(secret) = secret.filter(|s| !s.is_empty()) {
        v["timestamp"] = Value::String(timestamp_s.to_string());
        v["sign"] = Value::String(feishu_sign(secret, timestamp_s));
    }
    v
}

/// Did the robot accept the message? WeCom and DingTalk answer `errcode` 0, Feishu `code`
/// 0 (older deployments `StatusCode` 0).
pub fn accepted(reply: &str) -> Result<(), String> {
    let v: Value = serde_json::from_str(reply)
        .map_err(|_| format!("not a robot answer: {}", crate::render::excerpt(reply, 200)))?;
    for key in ["errcode", "code", "StatusCode"] {
        if let Some(c) = v.get(key).and_then(Value::as_i64) {
            if c == 0 {
                return Ok(());
            }
            let text = ["errmsg", "msg", "StatusMessage"]
                .iter()
                .find_map(|k| v.get(*k).and_then(Value::as_str))
                .unwrap_or("");
            return Err(format!("robot refused: {key} {c} {text}"));
        }
    }
    Err(format!(
        "not a robot answer: {}",
        crate::render::excerpt(reply, 200)
    ))
}

async fn post_robot(url: &str, payload: &Value, opts: &SendOptions) -> Result<(), SendError> {
    let url = guard::parse_url(url)?;
    let r = http::post_json(&url, payload.to_string().into_bytes(), &[], opts).await?;
    if !(200..300).contains(&r.status) {
        return Err(http::status_error(&r));
    }
    accepted(&r.body).map_err(SendError::failed)
}

pub(crate) async fn send_wecom(
    url: &str,
    msg: &Message,
    opts: &SendOptions,
) -> Result<(), SendError> {
    post_robot(url, &wecom_payload(msg), opts).await
}

pub(crate) async fn send_dingtalk(
    url: &str,
    secret: Option<&str>,
    msg: &Message,
    opts: &SendOptions,
) -> Result<(), SendError> {
    let signed = dingtalk_url(url, secret, opts.now.timestamp_millis());
    post_robot(&signed, &dingtalk_payload(msg), opts).await
}

pub(crate) async fn send_feishu(
    url: &str,
    secret: Option<&str>,
    msg: &Message,
    opts: &SendOptions,
) -> Result<(), SendError> {
    post_robot(
        url,
        &feishu_payload(msg, secret, opts.now.timestamp()),
        opts,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use yunwei_domain::Lang;

    fn msg() -> Message {
        let mut m = crate::render::test_message(Lang::Zh, "值班群");
        m.link = Some("https://yw.example/tickets/INC-2026-000001".into());
        m
    }

    #[test]
    fn dingtalk_signature_known_answer() {
        // python3: base64(hmac.new(b"SECabc123", b"1700000000000\nSECabc123", sha256))
        assert_eq!(
            dingtalk_sign("SECabc123", 1_700_000_000_000),
            "N5P09a4+p1AMJIJWnIvQd2Yxw9+fu/oEBnPrjCcsLXk="
        );
        assert_eq!(
            dingtalk_url(
                "https://oapi.dingtalk.com/robot/send?access_token=t0k",
                Some("SECabc123"),
                1_700_000_000_000
            ),
            "https://oapi.dingtalk.com/robot/send?access_token=t0k&timestamp=1700000000000&sign=N5P09a4%2Bp1AMJIJWnIvQd2Yxw9%2Bfu%2FoEBnPrjCcsLXk%3D"
        );
        assert_eq!(dingtalk_url("https://h/x?a=1", None, 1), "https://h/x?a=1");
        let p = dingtalk_payload(&msg());
        assert_eq!(p["msgtype"], "text");
        assert_eq!(p["at"]["isAtAll"], false);
        assert!(p["text"]["content"]
            .as_str()
            .unwrap()
            .contains("查看：https://yw.example/tickets/INC-2026-000001"));
    }

    #[test]
    fn feishu_signature_known_answer() {
        // python3: base64(hmac.new(b"1599360473\ndemo-secret", b"", sha256))
        assert_eq!(
            feishu_sign("demo-secret", 1_599_360_473),
            "3/MaVZ8JLIy4TUG+7KSFJqvUkTKd+HWY8g+56DZWq8s="
        );
        let p = feishu_payload(&msg(), Some("demo-secret"), 1_599_360_473);
        assert_eq!(p["timestamp"], "1599360473");
        assert_eq!(p["sign"], "3/MaVZ8JLIy4TUG+7KSFJqvUkTKd+HWY8g+56DZWq8s=");
        assert_eq!(p["msg_type"], "post");
        let post = &p["content"]["post"]["zh_cn"];
        assert!(post["title"].as_str().unwrap().contains("值班群"));
        let last = post["content"].as_array().unwrap().last().unwrap();
        assert_eq!(last[1]["tag"], "a");
        let unsigned = feishu_payload(&msg(), None, 1);
        assert!(unsigned.get("sign").is_none() && unsigned.get("timestamp").is_none());
    }

    #[test]
    fn wecom_text_is_cut_to_2048_bytes() {
        let mut m = msg();
        m.body = "长".repeat(3000);
        let p = wecom_payload(&m);
        assert_eq!(p["msgtype"], "text");
        assert!(p["text"]["content"].as_str().unwrap().len() <= WECOM_TEXT_MAX);
    }

    #[test]
    fn robot_answers() {
        assert!(accepted(r#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
        assert!(accepted(r#"{"code":0,"msg":"success","data":{}}"#).is_ok());
        assert!(accepted(r#"{"StatusCode":0,"StatusMessage":"success"}"#).is_ok());
        assert_eq!(
            accepted(r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#).unwrap_err(),
            "robot refused: code 19021 sign match fail or timestamp is not within one hour from current time"
        );
        assert!(accepted(r#"{"errcode":310000,"errmsg":"sign not match"}"#).is_err());
        assert!(accepted("<html>").is_err());
    }

    #[test]
    fn url_encoding_matches_encode_uri_component_for_base64() {
        assert_eq!(url_encode("a+b/c=="), "a%2Bb%2Fc%3D%3D");
    }
}
