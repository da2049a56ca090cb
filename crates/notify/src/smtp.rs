//! E-mail through an SMTP server (lettre): UTF-8 plain text, Base64 body, the subject as an
//! RFC 2047 encoded word. TLS is the administrator's choice: none (a relay on the LAN),
//! opportunistic STARTTLS (the default: encrypt when the server offers it), required
//! STARTTLS (port 587) or implicit TLS (port 465). The server's name is resolved and checked
//! by the [`guard`](crate::guard) like any outbound address, and the connection goes to the
//! checked address; the certificate is verified against the configured name.

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::render::one_line;
use crate::{guard, Message, SendError, SendOptions};

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Security {
    /// Plain text only (a trusted relay).
    None,
    /// STARTTLS when the server offers it.
    #[default]
    Opportunistic,
    /// STARTTLS or fail.
    StartTls,
    /// TLS from the first byte.
    Tls,
}

impl Security {
    pub fn parse(s: &str) -> Option<Security> {
        match s {
            "none" => Some(Security::None),
            "opportunistic" => Some(Security::Opportunistic),
            "starttls" => Some(Security::StartTls),
            "tls" => Some(Security::Tls),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Security::None => "none",
            Security::Opportunistic => "opportunistic",
            Security::StartTls => "starttls",
            Security::Tls => "tls",
        }
    }

    /// The usual port for this mode.
    pub fn default_port(self) -> u16 {
        match self {
            Security::Tls => 465,
            Security::StartTls => 587,
            _ => 25,
        }
    }
}

/// A mail server and the sender.
#[derive(Clone)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender address.
    pub from: String,
    /// The sender's display name, e.g. 运维服务台.
    pub from_name: Option<String>,
}

impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("from_name", &self.from_name)
            .finish()
    }
}

/// Is this an e-mail address we can send to?
pub fn valid_address(s: &str) -> bool {
    s.parse::<Address>().is_ok()
}

/// The e-mail for a message.
pub fn build(
    server: &SmtpServer,
    to: &[String],
    msg: &Message,
) -> Result<lettre::Message, SendError> {
    let from: Address = server
        .from
        .parse()
        .map_err(|_| SendError::Config("the sender address is not valid".into()))?;
    let mut b = lettre::Message::builder()
        .from(Mailbox::new(
            server.from_name.as_deref().map(one_line),
            from,
        ))
        .subject(one_line(&msg.title))
        .header(ContentType::TEXT_PLAIN)
        .header(ContentTransferEncoding::Base64);
    if to.is_empty() {
        return Err(SendError::Config("no recipient".into()));
    }
    for t in to {
        let a: Address = t.parse().map_err(|_| SendError::Failed {
            message: format!("not a valid e-mail address: {t}"),
            permanent: true,
        })?;
        b = b.to(Mailbox::new(None, a));
    }
    b.body(msg.full_text())
        .map_err(|e| SendError::Config(e.to_string()))
}

pub(crate) async fn send(
    server: &SmtpServer,
    to: &[String],
    msg: &Message,
    opts: &SendOptions,
) -> Result<(), SendError> {
    let mail = build(server, to, msg)?;
    let addrs = guard::resolve_checked(&server.host, server.port, &opts.policy).await?;
    let name = server
        .host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let mut last = SendError::failed("no address to connect to");
    for a in addrs {
        let params =
            || TlsParameters::new(name.clone()).map_err(|e| SendError::Config(e.to_string()));
        let tls = match server.security {
            Security::None => Tls::None,
            Security::Opportunistic => Tls::Opportunistic(params()?),
            Security::StartTls => Tls::Required(params()?),
            Security::Tls => Tls::Wrapper(params()?),
        };
        let mut tb = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(a.ip().to_string())
            .port(a.port())
            .tls(tls)
            .timeout(Some(opts.timeout));
        if let Some(user) = server.username.as_ref().filter(|u| !u.is_empty()) {
            tb = tb.credentials(Credentials::new(
                user.clone(),
                server.password.clone().unwrap_or_default(),
            ));
        }
        match tb.build().send(mail.clone()).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                let answered = e.is_permanent() || e.is_transient();
                let err = if e.is_timeout() {
                    SendError::Timeout
                } else {
                    SendError::Failed {
                        message: format!("SMTP: {e}"),
                        permanent: e.is_permanent(),
                    }
                };
                // The server answered: another address of it would answer the same.
                if answered {
                    return Err(err);
                }
                last = err;
            }
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use yunwei_domain::Lang;

    fn server() -> SmtpServer {
        SmtpServer {
            host: "127.0.0.1".into(),
            port: 25,
            security: Security::None,
            username: Some("u".into()),
            password: Some("hunter2".into()),
            from: "desk@example.com".into(),
            from_name: Some("运维服务台".into()),
        }
    }

    #[test]
    fn chinese_subject_is_an_encoded_word() {
        let m = crate::render::test_message(Lang::Zh, "邮件");
        let mail = build(&server(), &["a@example.com".into()], &m).unwrap();
        let raw = String::from_utf8(mail.formatted()).unwrap();
        assert!(raw.is_ascii(), "{raw}");
        assert!(raw.contains("Subject: =?utf-8?b?"), "{raw}");
        assert!(raw.contains("Content-Type: text/plain; charset=utf-8"));
        assert!(raw.contains("Content-Transfer-Encoding: base64"));
        assert!(raw.contains("To: a@example.com"));
        assert!(!format!("{:?}", server()).contains("hunter2"));
    }

    #[test]
    fn bad_addresses_are_refused() {
        let m = crate::render::test_message(Lang::En, "x");
        let e = build(&server(), &["not an address".into()], &m).unwrap_err();
        assert!(e.is_permanent());
        assert!(!valid_address("a b@c"));
        assert!(valid_address("zhang.san@example.com.cn"));
        assert_eq!(Security::parse("tls").unwrap().default_port(), 465);
    }
}
