//! Notifications of the service desk (R-7.2d): in-app, e-mail, signed webhooks and the group
//! robots of WeCom, DingTalk and Feishu.
//!
//! A change to a ticket calls [`App::enqueue_ticket_notifications`] inside its own write
//! transaction: it decides who hears about the event, writes the in-app notifications and
//! puts everything else in the **outbox** — so a notification exists exactly when the change
//! committed, and no receiver, however slow or broken, delays or fails the request. Workers on
//! any node empty the outbox ([`App::deliver_outbox_once`]): rows are claimed under a lease,
//! sent with a 5 s timeout, and retried with exponential back-off (30 s · 2^(n−1), at most an
//! hour) until the 8th attempt, after which they are `dead`. Delivery is at-least-once: a node
//! that dies after sending but before recording it leaves the row to be sent again.
//!
//! Who hears what:
//! - the requester: public events of their ticket (never an internal note);
//! - the assignee and the members of the ticket's team: new, assigned, reply, internal note,
//!   rejected resolution, SLA warning and breach; the assignee also confirmations,
//!   cancellations, priority changes and ratings;
//! - watchers of the ticket: every event (customers among them: public ones only);
//! - nobody hears of their own action; disabled users hear nothing;
//! - a customer only ever hears of public events of their own organization's tickets;
//! - channels of a customer organization (its own robot or mailbox) get the public events of
//!   that organization's tickets only; provider-wide channels get every public event, and
//!   internal ones too when configured with `internal: true`.
//!
//! Each user chooses per event kind between `inapp` and `email` (default: both; e-mail only
//! goes out when the user has an address and a provider-wide e-mail channel — the mail server
//! — is configured and enabled).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use yunwei_domain::{validate, Action, DomainError, ErrorCode, Lang, Role};
use yunwei_notify::render::{self, EventFacts, TicketRef, EVENT_KINDS};
use yunwei_notify::{guard, mask, GuardError, Message, Policy, SendError, SendOptions, Target};
use yunwei_store::notify::{self as store, Channel, InboxItem, OutboxFilter, OutboxRow, Outcome};
use yunwei_store::tickets::{Event, Ticket};
use yunwei_store::{audit, orgs, settings, teams, users, Tx};

use crate::{snapshot, Actor, App, Page, Result};

/// Each send (resolving, connecting, answering) must finish within this.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a claimed row stays with its node (well over [`SEND_TIMEOUT`]).
const LEASE_SECONDS: i64 = 120;
/// Rows claimed and sent at once by one node.
const BATCH: i64 = 20;
/// The settings key of [`NotifySettings`].
const SETTINGS_KEY: &str = "notifications";
/// Channel kinds.
pub const CHANNEL_KINDS: &[&str] = &["email", "webhook", "wecom", "dingtalk", "feishu"];
/// What a user may choose per event kind.
pub const USER_CHANNELS: &[&str] = &["inapp", "email"];

/// Installation-wide notification settings (administrators).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// Allow webhooks, robots and mail servers on internal addresses (loopback, private,
    /// link-local, unique-local …). Off by default.
    #[serde(default)]
    pub allow_private_webhooks: bool,
    /// Internal networks allowed even with `allow_private_webhooks` off, e.g. `10.20.0.0/16`.
    #[serde(default)]
    pub allowed_cidrs: Vec<String>,
    /// Where users open yunwei, e.g. `https://yunwei.example.cn`: notifications link to
    /// `<public_url>/tickets/<number>`.
    #[serde(default)]
    pub public_url: Option<String>,
}

impl NotifySettings {
    pub fn policy(&self) -> Policy {
        Policy {
            allow_private: self.allow_private_webhooks,
            allow_cidrs: self
                .allowed_cidrs
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
        }
    }
}

/// A channel's configuration; which fields apply depends on the kind:
/// - `webhook`: `url`, `secret` (required, at least 16 characters: the HMAC key);
/// - `wecom`: `url` (`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`);
/// - `dingtalk`: `url` (`https://oapi.dingtalk.com/robot/send?access_token=…`), `secret`
///   (the `SEC…` signing secret, optional);
/// - `feishu`: `url` (`https://open.feishu.cn/open-apis/bot/v2/hook/…`), `secret` (optional);
/// - `email`: `host`, `port`, `security` (`none`, `opportunistic` (default), `starttls`,
///   `tls`), `username`, `password`, `from`, `from_name`, and `to` (addresses that receive
///   the ticket events, e.g. a customer's IT mailbox; without `to`, a provider-wide e-mail
///   channel is the mail server for users' own e-mail notifications).
///
/// All kinds: `lang` (`zh-CN` default, or `en`), `events` (only these event kinds; default
/// all), `internal` (provider-wide channels only: also internal notes and events).
///
/// In answers `url`, `secret` and `password` are masked; sending a masked value back keeps
/// the stored one, an empty string removes an optional value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<bool>,
}

impl ChannelConfig {
    /// The same configuration with its secrets masked (for answers and the audit log).
    pub fn masked(&self) -> ChannelConfig {
        let mut c = self.clone();
        c.url = c.url.as_deref().map(mask::url);
        c.secret = c.secret.as_deref().map(mask::secret);
        c.password = c.password.as_deref().map(mask::secret);
        c
    }

    fn lang(&self) -> Lang {
        self.lang
            .as_deref()
            .and_then(Lang::parse)
            .unwrap_or_default()
    }

    fn security(&self) -> yunwei_notify::Security {
        self.security
            .as_deref()
            .and_then(yunwei_notify::Security::parse)
            .unwrap_or_default()
    }

    fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.security().default_port())
    }

    fn smtp(&self) -> Option<yunwei_notify::SmtpServer> {
        Some(yunwei_notify::SmtpServer {
            host: self.host.clone()?,
            port: self.port(),
            security: self.security(),
            username: self.username.clone(),
            password: self.password.clone(),
            from: self.from.clone()?,
            from_name: self.from_name.clone(),
        })
    }
}

/// A notification channel as shown: secrets masked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelView {
    pub id: Uuid,
    /// email, webhook, wecom, dingtalk or feishu.
    pub kind: String,
    pub name: String,
    pub config: ChannelConfig,
    /// A customer organization's own channel; null: provider-wide.
    pub org_id: Option<Uuid>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn view(c: &Channel) -> ChannelView {
    ChannelView {
        id: c.id,
        kind: c.kind.clone(),
        name: c.name.clone(),
        config: parse_config(c).masked(),
        org_id: c.org_id,
        enabled: c.enabled,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

fn parse_config(c: &Channel) -> ChannelConfig {
    serde_json::from_str(&c.config).unwrap_or_default()
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    /// email, webhook, wecom, dingtalk or feishu.
    pub kind: String,
    pub name: String,
    pub config: ChannelConfig,
    /// A customer organization's own channel (gets only that organization's public events).
    pub org_id: Option<Uuid>,
    /// Default true.
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    pub name: Option<String>,
    /// Fields given replace the stored ones; masked values keep them; "" removes one.
    pub config: Option<ChannelConfig>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelTest {
    /// E-mail channels: where the test goes (default: the channel's `to`, else the caller's
    /// own address).
    pub to: Option<String>,
}

/// The result of a channel test.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelTestResult {
    pub delivered: bool,
    /// Why not, when not delivered.
    pub error: Option<String>,
}

/// One event kind's channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrefItem {
    /// created, triage, assign, start, pend, resume, resolve, confirm, auto_confirm, reject,
    /// cancel, reply, note, priority, satisfaction, sla_warning or sla_breach.
    pub event_kind: String,
    /// `inapp` and/or `email`; empty: no notification of this kind.
    pub channels: Vec<String>,
}

/// A user's notification preferences, one entry per event kind.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preferences {
    pub items: Vec<PrefItem>,
    /// Where e-mail goes (the user's address), if anywhere.
    pub email: Option<String>,
    /// Whether an e-mail server is configured (otherwise `email` choices have no effect).
    pub email_available: bool,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesInput {
    /// The event kinds to change (others stay as they are).
    pub items: Vec<PrefItem>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct InboxQuery {
    /// Only unread notifications.
    pub unread: Option<bool>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct OutboxQuery {
    /// pending, failed, sent or dead.
    pub status: Option<String>,
    pub channel_id: Option<Uuid>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// An outbox row as administrators see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutboxView {
    pub id: Uuid,
    pub channel_id: Option<Uuid>,
    pub recipient_user_id: Option<Uuid>,
    pub kind: String,
    /// pending, failed (will retry), sent or dead (given up).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub title: Option<String>,
    pub ticket_number: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// What one round of delivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    pub claimed: usize,
    pub sent: usize,
    pub retried: usize,
    pub dead: usize,
    /// Rows whose lease another node took over before the outcome was recorded.
    pub lost: usize,
}

/// What an outbox row carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payload {
    message: Message,
    /// E-mail to a user: the address (channel e-mail goes to the channel's `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<Vec<String>>,
}

/// Staff hear of these: assignee and team members.
const TEAM_EVENTS: &[&str] = &[
    "created",
    "triage",
    "assign",
    "reply",
    "note",
    "reject",
    "sla_warning",
    "sla_breach",
];
/// The assignee also hears of these.
const ASSIGNEE_EVENTS: &[&str] = &[
    "confirm",
    "auto_confirm",
    "cancel",
    "priority",
    "satisfaction",
];

fn guard_error(field: &str, e: GuardError) -> crate::Error {
    match e {
        GuardError::BadUrl(_) => DomainError::invalid(field).into(),
        _ => DomainError::field(ErrorCode::UrlNotAllowed, field).into(),
    }
}

fn name_taken(e: yunwei_store::StoreError) -> crate::Error {
    if matches!(e, yunwei_store::StoreError::Unique(_)) {
        DomainError::field(ErrorCode::NameTaken, "name").into()
    } else {
        e.into()
    }
}

/// Trimmed; empty is None.
fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Normalize and check a configuration for its kind (no network).
fn validate_config(
    kind: &str,
    mut c: ChannelConfig,
    org_id: Option<Uuid>,
) -> Result<ChannelConfig> {
    let inv = |f: &str| -> crate::Error { DomainError::invalid(format!("config.{f}")).into() };
    c.url = clean(c.url);
    c.secret = clean(c.secret);
    c.host = clean(c.host);
    c.security = clean(c.security);
    c.username = clean(c.username);
    c.password = c.password.filter(|p| !p.is_empty());
    c.from = clean(c.from);
    c.from_name = clean(c.from_name);
    c.lang = clean(c.lang);
    if let Some(l) = &c.lang {
        let l = Lang::parse(l).ok_or_else(|| inv("lang"))?;
        c.lang = Some(l.tag().into());
    }
    if let Some(ev) = &c.events {
        if ev.iter().any(|e| !EVENT_KINDS.contains(&e.as_str())) {
            return Err(inv("events"));
        }
    }
    if c.internal == Some(true) && org_id.is_some() {
        return Err(inv("internal"));
    }
    let url_kind = kind != "email";
    if url_kind {
        let u = c.url.as_deref().ok_or_else(|| inv("url"))?;
        if u.chars().count() > 2000 {
            return Err(inv("url"));
        }
        guard::parse_url(u).map_err(|_| inv("url"))?;
        for (f, set) in [
            ("host", c.host.is_some()),
            ("port", c.port.is_some()),
            ("security", c.security.is_some()),
            ("username", c.username.is_some()),
            ("password", c.password.is_some()),
            ("from", c.from.is_some()),
            ("from_name", c.from_name.is_some()),
            ("to", c.to.is_some()),
        ] {
            if set {
                return Err(inv(f));
            }
        }
    }
    match kind {
        "webhook" => {
            if c.secret.as_ref().is_none_or(|s| s.chars().count() < 16) {
                return Err(inv("secret"));
            }
        }
        "wecom" => {
            if c.secret.is_some() {
                return Err(inv("secret"));
            }
        }
        "dingtalk" | "feishu" => {}
        "email" => {
            for (f, set) in [("url", c.url.is_some()), ("secret", c.secret.is_some())] {
                if set {
                    return Err(inv(f));
                }
            }
            let host = c.host.as_deref().ok_or_else(|| inv("host"))?;
            if host.len() > 253 || host.chars().any(|ch| ch.is_whitespace() || ch == '/') {
                return Err(inv("host"));
            }
            if let Some(s) = &c.security {
                yunwei_notify::Security::parse(s).ok_or_else(|| inv("security"))?;
            }
            if c.port == Some(0) {
                return Err(inv("port"));
            }
            let from = c.from.as_deref().ok_or_else(|| inv("from"))?;
            if !yunwei_notify::smtp::valid_address(from) {
                return Err(inv("from"));
            }
            if let Some(n) = &c.from_name {
                validate::name("config.from_name", n, 100)?;
            }
            if let Some(to) = c.to.take() {
                let to: Vec<String> = to
                    .into_iter()
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty())
                    .collect();
                if to.len() > 50 || to.iter().any(|a| !yunwei_notify::smtp::valid_address(a)) {
                    return Err(inv("to"));
                }
                c.to = (!to.is_empty()).then_some(to);
            }
            if org_id.is_some() && c.to.is_none() {
                // An organization's e-mail channel exists to reach its mailbox.
                return Err(inv("to"));
            }
        }
        _ => return Err(DomainError::invalid("kind").into()),
    }
    Ok(c)
}

/// Check the channel's addresses against the policy (resolves names: no transaction open).
async fn check_addresses(kind: &str, c: &ChannelConfig, policy: &Policy) -> Result<()> {
    if kind == "email" {
        let host = c.host.as_deref().unwrap_or_default();
        guard::resolve_checked(host, c.port(), policy)
            .await
            .map_err(|e| guard_error("config.host", e))?;
    } else {
        let url = guard::parse_url(c.url.as_deref().unwrap_or_default())
            .map_err(|e| guard_error("config.url", e))?;
        guard::check_url(&url, policy)
            .await
            .map_err(|e| guard_error("config.url", e))?;
    }
    Ok(())
}

/// Where a channel's messages go.
fn target(kind: &str, c: &ChannelConfig, to: Option<Vec<String>>) -> Result<Target, SendError> {
    let url = || {
        c.url
            .clone()
            .ok_or_else(|| SendError::Config("no url".into()))
    };
    Ok(match kind {
        "email" => Target::Email {
            server: c
                .smtp()
                .ok_or_else(|| SendError::Config("no mail server".into()))?,
            to: to.or_else(|| c.to.clone()).unwrap_or_default(),
        },
        "webhook" => Target::Webhook {
            url: url()?,
            secret: c.secret.clone().unwrap_or_default(),
        },
        "wecom" => Target::WeCom { url: url()? },
        "dingtalk" => Target::DingTalk {
            url: url()?,
            secret: c.secret.clone(),
        },
        "feishu" => Target::Feishu {
            url: url()?,
            secret: c.secret.clone(),
        },
        other => return Err(SendError::Config(format!("unknown channel kind {other}"))),
    })
}

/// A user's channels for an event kind (stored, or the default: in-app and e-mail).
fn chosen(prefs: &[store::Pref], kind: &str) -> Vec<String> {
    prefs
        .iter()
        .find(|p| p.event_kind == kind)
        .and_then(|p| serde_json::from_str(&p.channels).ok())
        .unwrap_or_else(|| USER_CHANNELS.iter().map(|s| s.to_string()).collect())
}

fn ticket_ref(t: &Ticket) -> TicketRef {
    TicketRef {
        number: t.number.clone(),
        subject: t.subject.clone(),
        kind: t.kind.clone(),
        status: t.status.clone(),
        priority: t.priority,
        org_id: t.org_id.to_string(),
    }
}

fn new_outbox(
    channel: &Channel,
    recipient: Option<Uuid>,
    payload: &Payload,
    now: DateTime<Utc>,
) -> OutboxRow {
    OutboxRow {
        id: yunwei_domain::ids::new_id(),
        channel_id: Some(channel.id),
        recipient_user_id: recipient,
        kind: channel.kind.clone(),
        payload: serde_json::to_string(payload).unwrap_or_default(),
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: now,
        locked_by: None,
        locked_until: None,
        last_error: None,
        created_at: now,
        sent_at: None,
    }
}

/// A name for this process among the nodes (for outbox leases).
pub fn node_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into());
    let id = yunwei_domain::ids::new_id().simple().to_string();
    format!(
        "{}-{}-{}",
        host.chars().take(40).collect::<String>(),
        std::process::id(),
        &id[id.len() - 8..]
    )
}

impl App {
    async fn load_notify_settings<'a>(
        &self,
        ex: impl Into<yunwei_store::Ex<'a>>,
    ) -> Result<NotifySettings> {
        Ok(match settings::get(ex, SETTINGS_KEY).await? {
            Some(j) => serde_json::from_str(&j).unwrap_or_default(),
            None => NotifySettings::default(),
        })
    }

    /// Decide who hears about a ticket event and write the inbox and outbox rows — inside the
    /// transaction of the change. What it writes and the watchers go through `tx`; the
    /// configuration it reads (settings, channels, users, preferences — which a ticket change
    /// does not write) is read as committed (`Tx::committed`: on SQLite off the writer's
    /// connection, so the write lock is held for fewer statements).
    pub async fn enqueue_ticket_notifications(
        &self,
        tx: &mut Tx,
        ticket: &Ticket,
        event: &Event,
    ) -> Result<()> {
        let kind = event.kind.as_str();
        if !EVENT_KINDS.contains(&kind) || event.ticket_id != ticket.id {
            return Ok(());
        }
        let now = self.now();
        let cfg = self.load_notify_settings(tx.committed(&self.db)).await?;
        let link = cfg
            .public_url
            .as_deref()
            .map(|u| format!("{}/tickets/{}", u.trim_end_matches('/'), ticket.number));
        let tref = ticket_ref(ticket);
        let facts = EventFacts {
            kind,
            actor_name: &event.actor_name,
            body: event.body.as_deref(),
        };

        // People.
        let mut people: Vec<Uuid> = Vec::new();
        if event.public {
            people.extend(ticket.requester_id);
        }
        if TEAM_EVENTS.contains(&kind) || ASSIGNEE_EVENTS.contains(&kind) {
            people.extend(ticket.assignee_id);
        }
        if TEAM_EVENTS.contains(&kind) {
            if let Some(team) = ticket.team_id {
                people.extend(teams::members(tx.committed(&self.db), team).await?);
            }
        }
        // Watchers hear of every event (customers: public ones only, by the rule below).
        // (A ticket created in this transaction has none yet.)
        if kind != "created" {
            people.extend(yunwei_store::watchers::user_ids(&mut *tx, ticket.id).await?);
        }
        let mut seen = std::collections::HashSet::new();
        people.retain(|u| seen.insert(*u) && Some(*u) != event.actor_id);

        let channels = store::list_channels(tx.committed(&self.db)).await?;
        let mail_server = channels
            .iter()
            .find(|c| c.enabled && c.kind == "email" && c.org_id.is_none());
        for uid in people {
            let Some(u) = users::get(tx.committed(&self.db), uid).await? else {
                continue;
            };
            if u.disabled {
                continue;
            }
            // Anybody who is not provider staff is held to the customer rules.
            let staff = Role::parse(&u.role).is_some_and(Role::is_staff);
            if !staff && (!event.public || u.org_id != ticket.org_id) {
                continue;
            }
            let lang = Lang::parse(&u.lang).unwrap_or_default();
            let msg = render::ticket_event(
                lang,
                &tref,
                &facts,
                Some(event.id.to_string()),
                link.clone(),
            );
            let prefs = store::prefs(tx.committed(&self.db), u.id).await?;
            let wanted = chosen(&prefs, kind);
            if wanted.iter().any(|c| c == "inapp") {
                store::insert_inbox(
                    tx,
                    &InboxItem {
                        id: yunwei_domain::ids::new_id(),
                        user_id: u.id,
                        org_id: Some(ticket.org_id),
                        ticket_number: Some(ticket.number.clone()),
                        title: msg.title.clone(),
                        body: msg.body.clone(),
                        read_at: None,
                        created_at: now,
                    },
                )
                .await?;
            }
            let address = u
                .email
                .as_deref()
                .map(str::trim)
                .filter(|a| yunwei_notify::smtp::valid_address(a));
            if let (true, Some(addr), Some(server)) =
                (wanted.iter().any(|c| c == "email"), address, mail_server)
            {
                let payload = Payload {
                    message: msg,
                    to: Some(vec![addr.to_string()]),
                };
                store::insert_outbox(tx, &new_outbox(server, Some(u.id), &payload, now)).await?;
            }
        }

        // Channels: robots, webhooks, mailboxes.
        for ch in channels.iter().filter(|c| c.enabled) {
            let c = parse_config(ch);
            if ch.kind == "email" && c.to.as_ref().is_none_or(|t| t.is_empty()) {
                continue; // the mail server itself, not a mailbox
            }
            let in_scope = match ch.org_id {
                Some(org) => org == ticket.org_id && event.public,
                None => event.public || c.internal == Some(true),
            };
            let wanted = c
                .events
                .as_ref()
                .is_none_or(|ev| ev.iter().any(|e| e == kind));
            if !in_scope || !wanted {
                continue;
            }
            let msg = render::ticket_event(
                c.lang(),
                &tref,
                &facts,
                Some(event.id.to_string()),
                link.clone(),
            );
            let payload = Payload {
                message: msg,
                to: None,
            };
            store::insert_outbox(tx, &new_outbox(ch, None, &payload, now)).await?;
        }
        Ok(())
    }

    /// Claim the due outbox rows for this node and send them (concurrently, each within
    /// [`SEND_TIMEOUT`]); record sent, retry with back-off, or dead.
    pub async fn deliver_outbox_once(
        &self,
        node_id: &str,
        now: DateTime<Utc>,
    ) -> Result<DeliveryReport> {
        let policy = self.load_notify_settings(&self.db).await?.policy();
        let lease_until = now + chrono::Duration::seconds(LEASE_SECONDS);
        let rows = store::claim_outbox(&self.db, node_id, now, lease_until, BATCH).await?;
        let mut report = DeliveryReport {
            claimed: rows.len(),
            ..Default::default()
        };
        let mut set = tokio::task::JoinSet::new();
        for row in rows {
            let app = self.clone();
            let policy = policy.clone();
            let node = node_id.to_string();
            set.spawn(async move { app.deliver_one(row, policy, &node, now).await });
        }
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok((outcome, held))) => {
                    if !held {
                        report.lost += 1;
                    }
                    match outcome {
                        Outcome::Sent => report.sent += 1,
                        Outcome::Retry { .. } => report.retried += 1,
                        Outcome::Dead { .. } => report.dead += 1,
                    }
                }
                Ok(Err(e)) => tracing::warn!("outbox: recording a delivery failed: {e}"),
                Err(e) => tracing::error!("outbox: a delivery task failed: {e}"),
            }
        }
        Ok(report)
    }

    /// Send one claimed row and record the outcome; true when the lease was still ours.
    async fn deliver_one(
        &self,
        row: OutboxRow,
        policy: Policy,
        node_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(Outcome, bool)> {
        let result = match self.prepare(&row).await? {
            Err(e) => Err(e),
            Ok((target, msg)) => {
                let opts = SendOptions {
                    policy,
                    timeout: SEND_TIMEOUT,
                    now: self.now(),
                    delivery_id: Some(row.id.to_string()),
                };
                yunwei_notify::send(&target, &msg, &opts).await
            }
        };
        let outcome = match result {
            Ok(()) => Outcome::Sent,
            Err(e) if e.is_permanent() || row.attempts >= yunwei_notify::MAX_ATTEMPTS => {
                tracing::warn!(outbox = %row.id, kind = %row.kind, attempts = row.attempts, "notification given up: {e}");
                Outcome::Dead {
                    error: e.to_string(),
                }
            }
            Err(e) => {
                tracing::info!(outbox = %row.id, kind = %row.kind, attempts = row.attempts, "notification failed, will retry: {e}");
                Outcome::Retry {
                    at: now + yunwei_notify::backoff(row.attempts),
                    error: e.to_string(),
                }
            }
        };
        let held = store::finish_outbox(&self.db, row.id, node_id, now, &outcome).await?;
        Ok((outcome, held))
    }

    /// The target and message of a row; a row that cannot be sent at all is a permanent
    /// error.
    async fn prepare(&self, row: &OutboxRow) -> Result<Result<(Target, Message), SendError>> {
        let Ok(payload) = serde_json::from_str::<Payload>(&row.payload) else {
            return Ok(Err(SendError::Config("unreadable payload".into())));
        };
        let Some(cid) = row.channel_id else {
            return Ok(Err(SendError::Config("the channel was deleted".into())));
        };
        let Some(ch) = store::get_channel(&self.db, cid).await? else {
            return Ok(Err(SendError::Config("the channel was deleted".into())));
        };
        if !ch.enabled {
            return Ok(Err(SendError::Config("the channel is disabled".into())));
        }
        let cfg = parse_config(&ch);
        Ok(target(&ch.kind, &cfg, payload.to).map(|t| (t, payload.message)))
    }

    /// Deliver the outbox on this node until the process ends: every 2 s (at once again
    /// after a full batch), and purge old rows hourly.
    pub fn spawn_notification_worker(&self) -> tokio::task::JoinHandle<()> {
        let app = self.clone();
        tokio::spawn(async move {
            let node = node_id();
            let mut last_purge: Option<DateTime<Utc>> = None;
            loop {
                let now = app.now();
                let pause = match app.deliver_outbox_once(&node, now).await {
                    Ok(r) if r.claimed as i64 >= BATCH => Duration::ZERO,
                    Ok(_) => Duration::from_secs(2),
                    Err(e) => {
                        tracing::warn!("outbox delivery: {e}");
                        Duration::from_secs(10)
                    }
                };
                if last_purge.is_none_or(|t| now - t > chrono::Duration::hours(1)) {
                    last_purge = Some(now);
                    if let Ok(mut tx) = app.db.begin_write().await {
                        let _ = store::purge_outbox(
                            &mut tx,
                            now - chrono::Duration::days(30),
                            now - chrono::Duration::days(90),
                        )
                        .await;
                        let _ = tx.commit().await;
                    }
                }
                tokio::time::sleep(pause).await;
            }
        })
    }

    // --- channels (administrators) ---

    pub async fn list_channels(&self, actor: &Actor) -> Result<Vec<ChannelView>> {
        actor.require(Action::NotifyAdmin)?;
        Ok(store::list_channels(&self.db)
            .await?
            .iter()
            .map(view)
            .collect())
    }

    pub async fn get_channel(&self, actor: &Actor, id: Uuid) -> Result<ChannelView> {
        actor.require(Action::NotifyAdmin)?;
        store::get_channel(&self.db, id)
            .await?
            .map(|c| view(&c))
            .ok_or_else(|| DomainError::not_found().into())
    }

    pub async fn create_channel(&self, actor: &Actor, input: NewChannel) -> Result<ChannelView> {
        actor.require(Action::NotifyAdmin)?;
        let kind = input.kind.trim().to_string();
        if !CHANNEL_KINDS.contains(&kind.as_str()) {
            return Err(DomainError::invalid("kind").into());
        }
        let name = validate::name("name", &input.name, 100)?;
        let config = validate_config(&kind, input.config, input.org_id)?;
        let policy = self.load_notify_settings(&self.db).await?.policy();
        check_addresses(&kind, &config, &policy).await?;
        let now = self.now();
        let c = Channel {
            id: yunwei_domain::ids::new_id(),
            kind,
            name,
            config: serde_json::to_string(&config).unwrap_or_default(),
            org_id: input.org_id,
            enabled: input.enabled.unwrap_or(true),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin_write().await?;
        if let Some(org) = c.org_id {
            orgs::get_org(&mut tx, org)
                .await?
                .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "org_id"))?;
        }
        store::insert_channel(&mut tx, &c)
            .await
            .map_err(name_taken)?;
        let v = view(&c);
        let mut e = actor.entry("create", "notification_channel", c.id, c.org_id);
        e.after = snapshot(&v);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(v)
    }

    pub async fn update_channel(
        &self,
        actor: &Actor,
        id: Uuid,
        p: ChannelPatch,
    ) -> Result<ChannelView> {
        actor.require(Action::NotifyAdmin)?;
        let before = store::get_channel(&self.db, id)
            .await?
            .ok_or(DomainError::not_found())?;
        let mut c = before.clone();
        if let Some(n) = &p.name {
            c.name = validate::name("name", n, 100)?;
        }
        if let Some(enabled) = p.enabled {
            c.enabled = enabled;
        }
        if let Some(patch) = p.config {
            let old = parse_config(&before);
            let masked = old.masked();
            let mut merged = old.clone();
            // A masked value sent back means "unchanged".
            let keep = |new: Option<String>, old: &Option<String>, shown: &Option<String>| match new
            {
                Some(v) if Some(&v) == shown.as_ref() => old.clone(),
                Some(v) => Some(v),
                None => old.clone(),
            };
            merged.url = keep(patch.url, &old.url, &masked.url);
            merged.secret = keep(patch.secret, &old.secret, &masked.secret);
            merged.password = keep(patch.password, &old.password, &masked.password);
            macro_rules! take {
                ($($f:ident),*) => { $( if patch.$f.is_some() { merged.$f = patch.$f; } )* };
            }
            take!(host, port, security, username, from, from_name, to, lang, events, internal);
            let merged = validate_config(&c.kind, merged, c.org_id)?;
            if merged.url != old.url || merged.host != old.host || merged.port != old.port {
                let policy = self.load_notify_settings(&self.db).await?.policy();
                check_addresses(&c.kind, &merged, &policy).await?;
            }
            c.config = serde_json::to_string(&merged).unwrap_or_default();
        }
        let now = self.now();
        c.updated_at = now;
        let mut tx = self.db.begin_write().await?;
        store::get_channel(&mut tx, id)
            .await?
            .ok_or(DomainError::not_found())?;
        store::update_channel(&mut tx, &c)
            .await
            .map_err(name_taken)?;
        let v = view(&c);
        let mut e = actor.entry("update", "notification_channel", c.id, c.org_id);
        e.before = snapshot(&view(&before));
        e.after = snapshot(&v);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(v)
    }

    pub async fn delete_channel(&self, actor: &Actor, id: Uuid) -> Result<()> {
        actor.require(Action::NotifyAdmin)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = store::get_channel(&mut tx, id)
            .await?
            .ok_or(DomainError::not_found())?;
        store::delete_channel(&mut tx, id).await?;
        let mut e = actor.entry("delete", "notification_channel", id, before.org_id);
        e.before = snapshot(&view(&before));
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Send a test message through a channel now (not through the outbox).
    pub async fn test_channel(
        &self,
        actor: &Actor,
        id: Uuid,
        input: ChannelTest,
    ) -> Result<ChannelTestResult> {
        actor.require(Action::NotifyAdmin)?;
        let ch = store::get_channel(&self.db, id)
            .await?
            .ok_or(DomainError::not_found())?;
        let cfg = parse_config(&ch);
        let policy = self.load_notify_settings(&self.db).await?.policy();
        check_addresses(&ch.kind, &cfg, &policy).await?;
        let to = if ch.kind == "email" {
            let own = match actor.user_id {
                Some(u) => users::get(&self.db, u).await?.and_then(|u| u.email),
                None => None,
            };
            let to = clean(input.to)
                .map(|t| vec![t])
                .or_else(|| cfg.to.clone())
                .or_else(|| clean(own).map(|t| vec![t]))
                .ok_or_else(|| DomainError::invalid("to"))?;
            if to.iter().any(|a| !yunwei_notify::smtp::valid_address(a)) {
                return Err(DomainError::invalid("to").into());
            }
            Some(to)
        } else {
            None
        };
        let msg = render::test_message(cfg.lang(), &ch.name);
        let opts = SendOptions {
            policy,
            timeout: SEND_TIMEOUT,
            now: self.now(),
            delivery_id: Some(yunwei_domain::ids::new_id().to_string()),
        };
        let result = match target(&ch.kind, &cfg, to) {
            Ok(t) => yunwei_notify::send(&t, &msg, &opts).await,
            Err(e) => Err(e),
        };
        Ok(match result {
            Ok(()) => ChannelTestResult {
                delivered: true,
                error: None,
            },
            Err(e) => ChannelTestResult {
                delivered: false,
                error: Some(e.to_string()),
            },
        })
    }

    pub async fn notify_settings(&self, actor: &Actor) -> Result<NotifySettings> {
        actor.require(Action::NotifyAdmin)?;
        self.load_notify_settings(&self.db).await
    }

    pub async fn set_notify_settings(
        &self,
        actor: &Actor,
        mut s: NotifySettings,
    ) -> Result<NotifySettings> {
        actor.require(Action::NotifyAdmin)?;
        let mut cidrs = Vec::new();
        for c in &s.allowed_cidrs {
            let parsed: yunwei_notify::Cidr = c
                .parse()
                .map_err(|_| DomainError::invalid("allowed_cidrs"))?;
            cidrs.push(parsed.to_string());
        }
        if cidrs.len() > 100 {
            return Err(DomainError::invalid("allowed_cidrs").into());
        }
        s.allowed_cidrs = cidrs;
        s.public_url = clean(s.public_url);
        if let Some(u) = &s.public_url {
            if u.len() > 500 || guard::parse_url(u).is_err() {
                return Err(DomainError::invalid("public_url").into());
            }
            s.public_url = Some(u.trim_end_matches('/').to_string());
        }
        let before = self.load_notify_settings(&self.db).await?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        settings::set(
            &mut tx,
            SETTINGS_KEY,
            &serde_json::to_string(&s).unwrap_or_default(),
        )
        .await?;
        let mut e = actor.entry("update", "notify_settings", SETTINGS_KEY, None);
        e.before = snapshot(&before);
        e.after = snapshot(&s);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(s)
    }

    /// The outbox, newest first (administrators: what was sent, what is retrying, what died).
    pub async fn list_outbox(&self, actor: &Actor, q: OutboxQuery) -> Result<Page<OutboxView>> {
        actor.require(Action::NotifyAdmin)?;
        let limit = crate::page_limit(q.limit)?;
        if let Some(s) = &q.status {
            if !["pending", "failed", "sent", "dead"].contains(&s.as_str()) {
                return Err(DomainError::invalid("status").into());
            }
        }
        let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(
                c.parse::<Uuid>()
                    .map_err(|_| DomainError::invalid("cursor"))?,
            ),
        };
        let f = OutboxFilter {
            status: q.status,
            channel_id: q.channel_id,
            before,
            limit: limit + 1,
        };
        let mut rows = store::list_outbox(&self.db, &f).await?;
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.id.to_string())
        } else {
            None
        };
        let items = rows
            .into_iter()
            .map(|r| {
                let p: Option<Payload> = serde_json::from_str(&r.payload).ok();
                OutboxView {
                    id: r.id,
                    channel_id: r.channel_id,
                    recipient_user_id: r.recipient_user_id,
                    kind: r.kind,
                    status: r.status,
                    attempts: r.attempts,
                    next_attempt_at: r.next_attempt_at,
                    last_error: r.last_error,
                    title: p.as_ref().map(|p| p.message.title.clone()),
                    ticket_number: p.and_then(|p| p.message.ticket.map(|t| t.number)),
                    created_at: r.created_at,
                    sent_at: r.sent_at,
                }
            })
            .collect();
        Ok(Page { items, next_cursor })
    }

    // --- the caller's own preferences and inbox ---

    fn own(actor: &Actor) -> Result<Uuid> {
        actor.user_id.ok_or_else(|| DomainError::forbidden().into())
    }

    pub async fn my_notification_prefs(&self, actor: &Actor) -> Result<Preferences> {
        let uid = Self::own(actor)?;
        let prefs = store::prefs(&self.db, uid).await?;
        let email = users::get(&self.db, uid).await?.and_then(|u| u.email);
        let email_available = store::list_channels(&self.db)
            .await?
            .iter()
            .any(|c| c.enabled && c.kind == "email" && c.org_id.is_none());
        Ok(Preferences {
            items: EVENT_KINDS
                .iter()
                .filter(|k| {
                    actor.role.is_staff()
                        || !matches!(**k, "note" | "priority" | "sla_warning" | "sla_breach")
                })
                .map(|k| PrefItem {
                    event_kind: k.to_string(),
                    channels: chosen(&prefs, k),
                })
                .collect(),
            email,
            email_available,
        })
    }

    pub async fn set_my_notification_prefs(
        &self,
        actor: &Actor,
        input: PreferencesInput,
    ) -> Result<Preferences> {
        let uid = Self::own(actor)?;
        if input.items.len() > EVENT_KINDS.len() * 2 {
            return Err(DomainError::invalid("items").into());
        }
        let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for it in input.items {
            if !EVENT_KINDS.contains(&it.event_kind.as_str()) {
                return Err(DomainError::invalid("event_kind").into());
            }
            let mut ch: Vec<String> = Vec::new();
            for c in it.channels {
                if !USER_CHANNELS.contains(&c.as_str()) {
                    return Err(DomainError::invalid("channels").into());
                }
                if !ch.contains(&c) {
                    ch.push(c);
                }
            }
            ch.sort();
            wanted.insert(it.event_kind, ch);
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        for (k, ch) in &wanted {
            store::set_pref(
                &mut tx,
                &store::Pref {
                    user_id: uid,
                    event_kind: k.clone(),
                    channels: serde_json::to_string(ch).unwrap_or_default(),
                },
            )
            .await?;
        }
        let mut e = actor.entry("update", "notification_prefs", uid, Some(actor.org_id));
        e.after = snapshot(&wanted);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        self.my_notification_prefs(actor).await
    }

    pub async fn my_inbox(&self, actor: &Actor, q: InboxQuery) -> Result<Page<InboxItem>> {
        let uid = Self::own(actor)?;
        let limit = crate::page_limit(q.limit)?;
        let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(
                c.parse::<Uuid>()
                    .map_err(|_| DomainError::invalid("cursor"))?,
            ),
        };
        let mut items =
            store::list_inbox(&self.db, uid, q.unread.unwrap_or(false), before, limit + 1).await?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|i| i.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    pub async fn my_unread_count(&self, actor: &Actor) -> Result<i64> {
        let uid = Self::own(actor)?;
        Ok(store::unread_count(&self.db, uid).await?)
    }

    /// Mark one of the caller's notifications read (another user's answers not found).
    pub async fn mark_inbox_read(&self, actor: &Actor, id: Uuid) -> Result<()> {
        let uid = Self::own(actor)?;
        let mut tx = self.db.begin_write().await?;
        if !store::mark_read(&mut tx, uid, id, self.now()).await? {
            return Err(DomainError::not_found().into());
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_checked_per_kind() {
        let ok = |kind: &str, c: ChannelConfig| validate_config(kind, c, None);
        let field = |r: Result<ChannelConfig>| match r {
            Err(crate::Error::Domain(d)) => d.field.unwrap_or_default(),
            other => panic!("{other:?}"),
        };
        let hook = ChannelConfig {
            url: Some(" https://hooks.example.com/x ".into()),
            secret: Some("0123456789abcdef".into()),
            ..Default::default()
        };
        assert_eq!(
            ok("webhook", hook.clone()).unwrap().url.as_deref(),
            Some("https://hooks.example.com/x")
        );
        let mut short = hook.clone();
        short.secret = Some("short".into());
        assert_eq!(field(ok("webhook", short)), "config.secret");
        let mut host = hook.clone();
        host.host = Some("smtp.example.com".into());
        assert_eq!(field(ok("webhook", host)), "config.host");
        let mut ev = hook.clone();
        ev.events = Some(vec!["nonsense".into()]);
        assert_eq!(field(ok("webhook", ev)), "config.events");
        let mut internal = hook.clone();
        internal.internal = Some(true);
        assert_eq!(
            field(validate_config("webhook", internal, Some(Uuid::nil()))),
            "config.internal"
        );
        assert_eq!(field(ok("wecom", ChannelConfig::default())), "config.url");
        let mail = ChannelConfig {
            host: Some("smtp.example.com".into()),
            from: Some("desk@example.com".into()),
            ..Default::default()
        };
        assert!(ok("email", mail.clone()).is_ok());
        let mut bad = mail.clone();
        bad.security = Some("ssl3".into());
        assert_eq!(field(ok("email", bad)), "config.security");
        assert_eq!(
            field(validate_config("email", mail, Some(Uuid::nil()))),
            "config.to"
        );
    }

    #[test]
    fn masked_values_hide_secrets() {
        let c = ChannelConfig {
            url: Some(
                "https://oapi.dingtalk.com/robot/send?access_token=abcdef0123456789abcdef".into(),
            ),
            secret: Some("SEC0123456789abcdef".into()),
            password: Some("p".into()),
            ..Default::default()
        };
        let m = c.masked();
        assert_eq!(
            m.url.as_deref(),
            Some("https://oapi.dingtalk.com/robot/send?access_token=***cdef")
        );
        assert_eq!(m.secret.as_deref(), Some("***cdef"));
        assert_eq!(m.password.as_deref(), Some("***"));
    }

    #[test]
    fn default_preferences_are_inapp_and_email() {
        assert_eq!(chosen(&[], "reply"), vec!["inapp", "email"]);
        let p = store::Pref {
            user_id: Uuid::nil(),
            event_kind: "reply".into(),
            channels: "[\"inapp\"]".into(),
        };
        assert_eq!(chosen(std::slice::from_ref(&p), "reply"), vec!["inapp"]);
        assert_eq!(chosen(&[p], "created"), vec!["inapp", "email"]);
    }
}
