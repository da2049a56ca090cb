//! yunwei-notify: sending notifications out of the server.
//!
//! - [`render`]: the words (title and body per ticket event, zh-CN first, English);
//! - [`smtp`]: e-mail through a configured mail server (lettre, STARTTLS/TLS optional);
//! - [`webhook`]: generic webhooks signed `X-Yunwei-Signature: sha256=<hex HMAC of the body>`;
//! - [`robots`]: WeCom (企业微信), DingTalk (钉钉, signed) and Feishu (飞书, signed) group robots,
//!   formats and signatures as `shared/reference/integrations.md` §2 describes;
//! - [`guard`]: every outbound address is resolved and checked against the server's own
//!   networks before each connection.
//!
//! Nothing here touches the database: the service layer writes the outbox inside the
//! transaction of the change, and a worker hands each claimed row to [`send`].

pub mod guard;
mod http;
pub mod mask;
pub mod render;
pub mod robots;
pub mod smtp;
pub mod webhook;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use guard::{Cidr, GuardError, Policy};
pub use render::Message;
pub use smtp::{Security, SmtpServer};

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The guard refused the address (never retried).
    #[error(transparent)]
    Refused(#[from] GuardError),
    /// The channel's configuration cannot work (never retried).
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("timed out")]
    Timeout,
    /// The receiver failed or refused; `permanent` when trying again cannot help.
    #[error("{message}")]
    Failed { message: String, permanent: bool },
}

impl SendError {
    /// Retrying cannot help.
    pub fn is_permanent(&self) -> bool {
        match self {
            SendError::Refused(_) | SendError::Config(_) => true,
            SendError::Timeout => false,
            SendError::Failed { permanent, .. } => *permanent,
        }
    }

    pub(crate) fn failed(message: impl Into<String>) -> SendError {
        SendError::Failed {
            message: message.into(),
            permanent: false,
        }
    }
}

/// Where a message goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// E-mail to these addresses through this server.
    Email { server: SmtpServer, to: Vec<String> },
    /// A generic webhook; the body is signed with the secret.
    Webhook { url: String, secret: String },
    /// A WeCom group robot (`…/cgi-bin/webhook/send?key=…`; the key is the credential).
    WeCom { url: String },
    /// A DingTalk custom robot (`…/robot/send?access_token=…`), signed when a secret is set.
    DingTalk { url: String, secret: Option<String> },
    /// A Feishu / Lark custom bot (`…/open-apis/bot/v2/hook/<uuid>`), signed when a secret
    /// is set.
    Feishu { url: String, secret: Option<String> },
}

/// How one send runs.
#[derive(Debug, Clone)]
pub struct SendOptions {
    pub policy: Policy,
    /// For the whole send: resolving, connecting, talking, reading the answer.
    pub timeout: Duration,
    /// Wall-clock time for signatures (receivers compare it with theirs).
    pub now: DateTime<Utc>,
    /// Id of this delivery (the outbox row), sent to webhooks for deduplication.
    pub delivery_id: Option<String>,
}

/// Send one message to one target, within `opts.timeout`.
pub async fn send(target: &Target, msg: &Message, opts: &SendOptions) -> Result<(), SendError> {
    let work = async {
        match target {
            Target::Email { server, to } => smtp::send(server, to, msg, opts).await,
            Target::Webhook { url, secret } => webhook::send(url, secret, msg, opts).await,
            Target::WeCom { url } => robots::send_wecom(url, msg, opts).await,
            Target::DingTalk { url, secret } => {
                robots::send_dingtalk(url, secret.as_deref(), msg, opts).await
            }
            Target::Feishu { url, secret } => {
                robots::send_feishu(url, secret.as_deref(), msg, opts).await
            }
        }
    };
    match tokio::time::timeout(opts.timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(SendError::Timeout),
    }
}

/// Give up after this many attempts.
pub const MAX_ATTEMPTS: i64 = 8;

/// The wait before the next attempt after `attempts` failed ones: 30 s · 2^(attempts − 1),
/// i.e. 30 s, 1 min, 2 min, 4 min … at most an hour.
pub fn backoff(attempts: i64) -> chrono::Duration {
    let exp = attempts.clamp(1, 16) - 1;
    (chrono::Duration::seconds(30) * (1 << exp)).min(chrono::Duration::hours(1))
}

/// HMAC-SHA256.
pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    m.update(msg);
    m.finalize().into_bytes().into()
}

/// Cut a string to at most `max` bytes at a character boundary (robots count bytes).
pub(crate) fn cut_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn cut_at_char_boundary() {
        assert_eq!(super::cut_bytes("一二三", 7), "一二");
        assert_eq!(super::cut_bytes("abc", 7), "abc");
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let secs: Vec<i64> = (1..=9).map(|a| super::backoff(a).num_seconds()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(super::backoff(0).num_seconds(), 30);
        assert_eq!(super::backoff(1000).num_seconds(), 3600);
    }

    #[test]
    fn hmac_known_answer() {
        // RFC 4231 test case 2.
        let mac = super::hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
