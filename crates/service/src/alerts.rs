//! Monitoring alerts (R-5.1a "operation monitoring and early warning", R-10.1, R-7.1): alert
//! sources pushing Alertmanager / Grafana, Zabbix, PagerDuty Events v2 or yunwei's generic
//! JSON; each new alert opens an incident in the source's organization, duplicates are
//! counted, recoveries are noted on the ticket (which the user still confirms, R-7.3).
//!
//! [`App::ingest`] runs, in this order:
//! 1. **size** — a body over 1 MiB is refused (413) before anything else;
//! 2. **authentication by the source** — `hmac`: `X-Yunwei-Timestamp` (unix seconds, within
//!    300 s of the server clock), `X-Yunwei-Nonce` (1–64 visible ASCII characters) and
//!    `X-Yunwei-Signature: sha256=<hex HMAC-SHA256(secret, timestamp "." nonce "." body)>`,
//!    verified in constant time; `bearer`: `Authorization: Bearer <token>`, whose SHA-256 is
//!    compared in constant time (for Alertmanager and Grafana, which can only send an
//!    Authorization header; no replay protection beyond TLS). An unknown or disabled source
//!    fails exactly like a bad signature (an HMAC is computed anyway);
//! 3. **rate limit** per source (token bucket in this node's memory, the source's
//!    `rate_per_sec` and `burst`), after authentication so forged requests cannot use up a
//!    source's budget;
//! 4. **parse** (`yunwei_monitor`), refusals naming the field;
//! 5. **one write transaction**: the nonce (a replay rolls everything back), then per event
//!    the alert row (upsert on the open-alert unique index), then the tickets: new incidents
//!    created exactly as [`App::create_ticket`] creates them (number, matrix priority, SLA due
//!    times and jobs, notifications to inbox and outbox, timeline, audit entry, so the search
//!    indexer and the live feed see them), recovery notes, CI links, and the audit entries of
//!    the alerts. The request is answered only after this commit; a refused request writes
//!    nothing.
//!
//! Locks are taken in one order (nonce, alert keys sorted, existing tickets by id, ticket
//! counter, audit head last), so concurrent deliveries on PostgreSQL wait for each other
//! instead of deadlocking; a deadlock or serialization failure is retried.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;
use yunwei_domain::ticket::{self, Breadth, Criticality, Kind, PriorityMatrix, Status, Urgency};
use yunwei_domain::{validate, Action, DomainError, ErrorCode, Role};
use yunwei_monitor::{AlertEvent, AlertStatus, Format, ParseError, MAX_BODY_BYTES};
use yunwei_store::alerts::{self as store, Alert, AlertFilter, AlertRow, Source};
use yunwei_store::audit::NewEntry;
use yunwei_store::cmdb::{self as scmdb, Ci};
use yunwei_store::tickets::{self, Event, Ticket};
use yunwei_store::{orgs, teams, StoreError, Tx};

use crate::auth::{constant_time_eq, random_secret, sha256_hex};
use crate::{snapshot, Actor, App, Error, Page, Result};

/// How far a signed request's timestamp may be from the server clock.
pub const MAX_SKEW_SECS: i64 = 300;
/// How long nonces are kept (twice the skew: a nonce cannot be replayed while its timestamp
/// is still accepted).
pub const NONCE_TTL_SECS: i64 = 600;
/// Default rate limit per source: requests per second and burst.
pub const DEFAULT_RATE_PER_SEC: i64 = 50;
pub const DEFAULT_BURST: i64 = 200;

// ---------------------------------------------------------------------------- inputs

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAlertSource {
    pub name: String,
    /// The organization whose incidents the source opens (and no other).
    pub org_id: Uuid,
    /// alertmanager (also Grafana), zabbix, pagerduty or generic.
    pub format: String,
    /// hmac (default) or bearer.
    pub auth_mode: Option<String>,
    /// incident (default) or request.
    pub ticket_kind: Option<String>,
    /// general (default) or critical: with breadth and urgency, the matrix priority.
    pub criticality: Option<String>,
    /// one_department (default), several_departments or whole_organization.
    pub breadth: Option<String>,
    /// high, medium or low for every alert; absent: from the alert's severity (critical and
    /// major → high, minor → medium, warning and info → low).
    pub urgency: Option<String>,
    /// The team new incidents are given to.
    pub team_id: Option<Uuid>,
    /// Requests per second (1–10,000, default 50).
    pub rate_per_sec: Option<i64>,
    /// Burst (1–100,000, default 200).
    pub burst: Option<i64>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertSourcePatch {
    pub name: Option<String>,
    /// Changing the mode issues new credentials.
    pub auth_mode: Option<String>,
    /// Issue a new secret (hmac) or token (bearer); the old one stops working at once.
    pub rotate_credentials: Option<bool>,
    pub ticket_kind: Option<String>,
    pub criticality: Option<String>,
    pub breadth: Option<String>,
    /// high, medium, low; `""` or `severity`: from the alert's severity.
    pub urgency: Option<String>,
    pub team_id: Option<Uuid>,
    pub rate_per_sec: Option<i64>,
    pub burst: Option<i64>,
    /// false disables the source: its requests are refused like unknown ones.
    pub enabled: Option<bool>,
}

/// An alert source as shown (never its secret or token).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertSourceView {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub format: String,
    pub auth_mode: String,
    pub ticket_kind: String,
    pub criticality: String,
    pub breadth: String,
    pub urgency: Option<String>,
    pub team_id: Option<Uuid>,
    pub rate_per_sec: i64,
    pub burst: i64,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Where the monitoring system posts: `/api/v1/alerts/ingest/{id}`.
    pub ingest_path: String,
}

impl From<&Source> for AlertSourceView {
    fn from(s: &Source) -> Self {
        AlertSourceView {
            id: s.id,
            org_id: s.org_id,
            name: s.name.clone(),
            format: s.format.clone(),
            auth_mode: s.auth_mode.clone(),
            ticket_kind: s.ticket_kind.clone(),
            criticality: s.criticality.clone(),
            breadth: s.breadth.clone(),
            urgency: s.urgency.clone(),
            team_id: s.team_id,
            rate_per_sec: s.rate_per_sec,
            burst: s.burst,
            enabled: s.enabled,
            created_at: s.created_at,
            updated_at: s.updated_at,
            ingest_path: format!("/api/v1/alerts/ingest/{}", s.id),
        }
    }
}

/// A source with its new credentials: answered once, at creation or renewal, never again.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertSourceWithCredentials {
    #[serde(flatten)]
    pub source: AlertSourceView,
    /// hmac: the signing secret.
    pub secret: Option<String>,
    /// bearer: the token for `Authorization: Bearer`.
    pub token: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct AlertQuery {
    /// firing, acknowledged, resolved, or open (not resolved).
    pub status: Option<String>,
    /// An alert source id.
    pub source: Option<Uuid>,
    #[serde(rename = "organization")]
    pub org_id: Option<Uuid>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// An alert as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    pub id: Uuid,
    pub source_id: Uuid,
    pub org_id: Uuid,
    pub dedup_key: String,
    /// firing, acknowledged or resolved.
    pub status: String,
    /// critical, major, minor, warning or info.
    pub severity: String,
    pub summary: String,
    pub description: String,
    pub host: Option<String>,
    #[schema(value_type = Object)]
    pub labels: serde_json::Value,
    pub starts_at: Option<DateTime<Utc>>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Deliveries counted while the alert was open (1 = no duplicates).
    pub occurrences: i64,
    /// The incident the alert opened.
    pub ticket_number: Option<String>,
    pub ci_id: Option<Uuid>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl From<AlertRow> for AlertView {
    fn from(r: AlertRow) -> Self {
        let a = r.alert;
        AlertView {
            labels: serde_json::from_str(&a.labels_json).unwrap_or(serde_json::json!({})),
            id: a.id,
            source_id: a.source_id,
            org_id: a.org_id,
            dedup_key: a.dedup_key,
            status: a.status,
            severity: a.severity,
            summary: a.summary,
            description: a.description,
            host: a.host,
            starts_at: a.starts_at,
            first_seen: a.first_seen,
            last_seen: a.last_seen,
            occurrences: a.occurrences,
            ticket_number: r.ticket_number,
            ci_id: a.ci_id,
            acknowledged_at: a.acknowledged_at,
            resolved_at: a.resolved_at,
        }
    }
}

/// The credentials of an ingest request, as sent (header values).
#[derive(Debug, Clone, Default)]
pub struct IngestCredentials {
    /// `X-Yunwei-Timestamp`.
    pub timestamp: Option<String>,
    /// `X-Yunwei-Nonce`.
    pub nonce: Option<String>,
    /// `X-Yunwei-Signature`.
    pub signature: Option<String>,
    /// The token of `Authorization: Bearer <token>`.
    pub bearer: Option<String>,
}

/// What one ingest request did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct IngestReport {
    /// Events in the body.
    pub received: usize,
    /// New alerts (each opened an incident).
    pub opened: usize,
    /// Firing events of an alert that was already open (counted, no new ticket).
    pub deduplicated: usize,
    pub resolved: usize,
    pub acknowledged: usize,
    /// Recoveries or acknowledgements of alerts that were not open.
    pub ignored: usize,
    /// Numbers of the tickets opened.
    pub tickets: Vec<String>,
}

/// A refused ingest request; `retry_after` (seconds) with `rate_limited`.
#[derive(Debug)]
pub struct IngestRejection {
    pub error: Error,
    pub retry_after: Option<u64>,
}

impl<E: Into<Error>> From<E> for IngestRejection {
    fn from(e: E) -> Self {
        IngestRejection {
            error: e.into(),
            retry_after: None,
        }
    }
}

// ------------------------------------------------------------------------ node state

/// This node's per-source token buckets and nonce pruning clock.
#[derive(Default)]
pub struct AlertGate {
    buckets: Mutex<HashMap<Uuid, (f64, Instant)>>,
    last_prune: AtomicI64,
}

impl AlertGate {
    /// Take one token of the source's bucket; Err(seconds to wait) when empty.
    pub fn take(
        &self,
        source: Uuid,
        rate_per_sec: i64,
        burst: i64,
    ) -> std::result::Result<(), u64> {
        let rate = rate_per_sec.max(1) as f64;
        let burst = burst.max(1) as f64;
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if b.len() > 10_000 {
            // Forgotten sources' buckets: full ones carry no state worth keeping.
            b.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = b.entry(source).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate).ceil().max(1.0) as u64)
        }
    }

    /// True at most once a minute per node: time to prune old nonces.
    fn prune_due(&self, now: DateTime<Utc>) -> bool {
        let t = now.timestamp();
        let last = self.last_prune.load(Ordering::Relaxed);
        t - last >= 60
            && self
                .last_prune
                .compare_exchange(last, t, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

// --------------------------------------------------------------------------- helpers

fn parse_choice(field: &str, v: Option<&str>, allowed: &[&str], default: &str) -> Result<String> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default.to_string()),
        Some(s) if allowed.contains(&s) => Ok(s.to_string()),
        Some(_) => Err(DomainError::invalid(field).into()),
    }
}

const KINDS: &[&str] = &["incident", "request"];
const CRITICALITIES: &[&str] = &["general", "critical"];
const BREADTHS: &[&str] = &[
    "one_department",
    "several_departments",
    "whole_organization",
];
const URGENCIES: &[&str] = &["high", "medium", "low"];
const MODES: &[&str] = &["hmac", "bearer"];

fn urgency_choice(v: Option<&str>) -> Result<Option<String>> {
    match v.map(str::trim) {
        None | Some("") | Some("severity") => Ok(None),
        Some(u) if URGENCIES.contains(&u) => Ok(Some(u.to_string())),
        Some(_) => Err(DomainError::invalid("urgency").into()),
    }
}

fn rate(field: &str, v: Option<i64>, default: i64, max: i64) -> Result<i64> {
    match v {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(DomainError::invalid(field).into()),
    }
}

/// New credentials for a mode: (secret stored, token hash stored, secret shown, token shown).
fn credentials(
    mode: &str,
) -> (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
) {
    if mode == "hmac" {
        let s = random_secret();
        (Some(s.clone()), None, Some(s), None)
    } else {
        let t = format!("ywa_{}", random_secret());
        (None, Some(sha256_hex(&t)), None, Some(t))
    }
}

fn name_taken(e: StoreError) -> Error {
    if matches!(e, StoreError::Unique(_)) {
        DomainError::field(ErrorCode::NameTaken, "name").into()
    } else {
        e.into()
    }
}

type HmacSha256 = Hmac<Sha256>;

/// The HMAC of a signed request, for a secret (what a sender computes).
pub fn signature(secret: &str, timestamp: &str, nonce: &str, body: &[u8]) -> String {
    let mac = signing_mac(secret, timestamp, nonce, body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// HMAC-SHA256(secret, timestamp "." nonce "." body), not yet finalized.
fn signing_mac(secret: &str, timestamp: &str, nonce: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(nonce.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn valid_nonce(n: &str) -> bool {
    (1..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_graphic())
}

/// Does the request authenticate as this source? Computes an HMAC also without a source, so
/// unknown sources take as long as bad signatures.
fn authenticates(
    src: Option<&Source>,
    c: &IngestCredentials,
    body: &[u8],
    now: DateTime<Utc>,
) -> bool {
    let mode = src.map_or("hmac", |s| s.auth_mode.as_str());
    if mode == "bearer" {
        let sent = c.bearer.as_deref().unwrap_or("");
        let want = src.and_then(|s| s.token_hash.as_deref()).unwrap_or("");
        let got = sha256_hex(sent);
        return !sent.is_empty() && constant_time_eq(got.as_bytes(), want.as_bytes());
    }
    let secret = src
        .and_then(|s| s.hmac_secret.as_deref())
        .unwrap_or("yunwei-no-such-source");
    let ts = c.timestamp.as_deref().map(str::trim).unwrap_or("");
    let nonce = c.nonce.as_deref().map(str::trim).unwrap_or("");
    let sig = c
        .signature
        .as_deref()
        .map(str::trim)
        .and_then(|s| s.strip_prefix("sha256="))
        .and_then(|h| hex::decode(h).ok())
        .unwrap_or_default();
    let sig_ok = signing_mac(secret, ts, nonce, body)
        .verify_slice(&sig)
        .is_ok();
    let fresh = ts
        .parse::<i64>()
        .is_ok_and(|t| (now.timestamp() - t).abs() <= MAX_SKEW_SECS);
    src.is_some() && sig_ok && fresh && valid_nonce(nonce)
}

fn parse_error(e: ParseError) -> Error {
    match e {
        ParseError::TooLarge { .. } => ErrorCode::PayloadTooLarge.into(),
        ParseError::InvalidJson => ErrorCode::InvalidJson.into(),
        other => {
            let field: String = other.field().unwrap_or("body").chars().take(64).collect();
            DomainError::field(ErrorCode::AlertPayloadInvalid, field).into()
        }
    }
}

/// A deadlock or serialization failure on PostgreSQL: the transaction may simply run again.
fn retryable(e: &Error) -> bool {
    match e {
        Error::Store(StoreError::Sqlx(sqlx_err)) => sqlx_err
            .as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|c| c == "40P01" || c == "40001"),
        Error::Store(s) => s.is_unique_on("alerts_open_key"),
        _ => false,
    }
}

fn parse_enum<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.into())).ok()
}

/// Host names a CI may carry for an alert's host: as sent, without port, without scheme and
/// path (`https://db01:9100/x` → `db01`).
fn host_candidates(host: &str) -> Vec<String> {
    let mut v = vec![host.to_string()];
    let no_scheme = host.split_once("://").map_or(host, |(_, r)| r);
    let no_path = no_scheme.split('/').next().unwrap_or(no_scheme);
    let no_port = match no_path.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.contains(':') => h,
        _ => no_path,
    };
    for c in [no_path, no_port] {
        if !c.is_empty() && !v.iter().any(|x| x == c) {
            v.push(c.to_string());
        }
    }
    v
}

/// What is read before the write transaction.
struct Prepared {
    matrix: PriorityMatrix,
    sla_policy_id: Option<Uuid>,
    sla: Option<crate::sla::Sla>,
    /// Host or `ci` label → the one CI of the organization with that external key or name.
    cis: HashMap<String, Ci>,
}

enum Plan {
    Open(Alert, usize),
    Resolve(Alert, usize),
    Ack(Alert),
}

impl App {
    // ---------------------------------------------------------------- administration

    pub async fn list_alert_sources(
        &self,
        actor: &Actor,
        org: Option<Uuid>,
    ) -> Result<Vec<AlertSourceView>> {
        actor.require(Action::AlertRead)?;
        let org = match (actor.scope().org_filter(), org) {
            (Some(own), Some(asked)) if own != asked => return Ok(vec![]),
            (Some(own), _) => Some(own),
            (None, asked) => asked,
        };
        Ok(store::list_sources(&self.db, org)
            .await?
            .iter()
            .map(AlertSourceView::from)
            .collect())
    }

    async fn visible_source(&self, actor: &Actor, id: Uuid) -> Result<Source> {
        match store::get_source(&self.db, id).await? {
            Some(s) if actor.scope().allows(s.org_id) => Ok(s),
            _ => Err(DomainError::not_found().into()),
        }
    }

    pub async fn get_alert_source(&self, actor: &Actor, id: Uuid) -> Result<AlertSourceView> {
        actor.require(Action::AlertRead)?;
        Ok(AlertSourceView::from(
            &self.visible_source(actor, id).await?,
        ))
    }

    pub async fn create_alert_source(
        &self,
        actor: &Actor,
        input: NewAlertSource,
    ) -> Result<AlertSourceWithCredentials> {
        actor.require(Action::AlertSourceWrite)?;
        let name = validate::name("name", &input.name, 100)?;
        let format =
            Format::parse(input.format.trim()).ok_or_else(|| DomainError::invalid("format"))?;
        let mode = parse_choice("auth_mode", input.auth_mode.as_deref(), MODES, "hmac")?;
        let ticket_kind = parse_choice(
            "ticket_kind",
            input.ticket_kind.as_deref(),
            KINDS,
            "incident",
        )?;
        let criticality = parse_choice(
            "criticality",
            input.criticality.as_deref(),
            CRITICALITIES,
            "general",
        )?;
        let breadth = parse_choice(
            "breadth",
            input.breadth.as_deref(),
            BREADTHS,
            "one_department",
        )?;
        let urgency = urgency_choice(input.urgency.as_deref())?;
        let rate_per_sec = rate(
            "rate_per_sec",
            input.rate_per_sec,
            DEFAULT_RATE_PER_SEC,
            10_000,
        )?;
        let burst = rate("burst", input.burst, DEFAULT_BURST, 100_000)?;
        orgs::get_org(&self.db, input.org_id)
            .await?
            .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "org_id"))?;
        if let Some(team) = input.team_id {
            teams::get(&self.db, team)
                .await?
                .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "team_id"))?;
        }
        let (hmac_secret, token_hash, secret, token) = credentials(&mode);
        let now = self.now();
        let s = Source {
            id: yunwei_domain::ids::new_id(),
            org_id: input.org_id,
            name,
            format: format.as_str().into(),
            auth_mode: mode,
            hmac_secret,
            token_hash,
            ticket_kind,
            criticality,
            breadth,
            urgency,
            team_id: input.team_id,
            rate_per_sec,
            burst,
            enabled: input.enabled.unwrap_or(true),
            created_by: actor.user_id,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin_write().await?;
        store::insert_source(&mut tx, &s)
            .await
            .map_err(name_taken)?;
        let mut e = actor.entry("create", "alert_source", s.id, Some(s.org_id));
        e.after = snapshot(&AlertSourceView::from(&s));
        yunwei_store::audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(AlertSourceWithCredentials {
            source: AlertSourceView::from(&s),
            secret,
            token,
        })
    }

    pub async fn update_alert_source(
        &self,
        actor: &Actor,
        id: Uuid,
        p: AlertSourcePatch,
    ) -> Result<AlertSourceWithCredentials> {
        actor.require(Action::AlertSourceWrite)?;
        if let Some(team) = p.team_id {
            teams::get(&self.db, team)
                .await?
                .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "team_id"))?;
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = match store::get_source(&mut tx, id).await? {
            Some(s) if actor.scope().allows(s.org_id) => s,
            _ => return Err(DomainError::not_found().into()),
        };
        let mut s = before.clone();
        if let Some(n) = &p.name {
            s.name = validate::name("name", n, 100)?;
        }
        if let Some(k) = &p.ticket_kind {
            s.ticket_kind = parse_choice("ticket_kind", Some(k), KINDS, &s.ticket_kind)?;
        }
        if let Some(c) = &p.criticality {
            s.criticality = parse_choice("criticality", Some(c), CRITICALITIES, &s.criticality)?;
        }
        if let Some(b) = &p.breadth {
            s.breadth = parse_choice("breadth", Some(b), BREADTHS, &s.breadth)?;
        }
        if p.urgency.is_some() {
            s.urgency = urgency_choice(p.urgency.as_deref())?;
        }
        if p.team_id.is_some() {
            s.team_id = p.team_id;
        }
        s.rate_per_sec = rate("rate_per_sec", p.rate_per_sec, s.rate_per_sec, 10_000)?;
        s.burst = rate("burst", p.burst, s.burst, 100_000)?;
        if let Some(e) = p.enabled {
            s.enabled = e;
        }
        let mut rotated = p.rotate_credentials == Some(true);
        if let Some(m) = &p.auth_mode {
            let m = parse_choice("auth_mode", Some(m), MODES, &s.auth_mode)?;
            rotated |= m != s.auth_mode;
            s.auth_mode = m;
        }
        let (mut secret, mut token) = (None, None);
        if rotated {
            let (hs, th, sh, tk) = credentials(&s.auth_mode);
            s.hmac_secret = hs;
            s.token_hash = th;
            secret = sh;
            token = tk;
        }
        s.updated_at = now;
        store::update_source(&mut tx, &s)
            .await
            .map_err(name_taken)?;
        let mut e = actor.entry("update", "alert_source", s.id, Some(s.org_id));
        e.before = snapshot(&AlertSourceView::from(&before));
        let mut after = snapshot(&AlertSourceView::from(&s));
        if let (Some(serde_json::Value::Object(m)), true) = (after.as_mut(), rotated) {
            m.insert("credentials_renewed".into(), serde_json::Value::Bool(true));
        }
        e.after = after;
        yunwei_store::audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(AlertSourceWithCredentials {
            source: AlertSourceView::from(&s),
            secret,
            token,
        })
    }

    pub async fn list_alerts(&self, actor: &Actor, q: AlertQuery) -> Result<Page<AlertView>> {
        actor.require(Action::AlertRead)?;
        let limit = crate::page_limit(q.limit)?;
        let (status, open_only) = match q.status.as_deref().map(str::trim) {
            None | Some("") => (None, false),
            Some("open") => (None, true),
            Some(s @ ("firing" | "acknowledged" | "resolved")) => (Some(s.to_string()), false),
            Some(_) => return Err(DomainError::invalid("status").into()),
        };
        let org_id = match (actor.scope().org_filter(), q.org_id) {
            (Some(own), Some(asked)) if own != asked => {
                return Ok(Page {
                    items: vec![],
                    next_cursor: None,
                })
            }
            (Some(own), _) => Some(own),
            (None, asked) => asked,
        };
        let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(
                c.parse::<Uuid>()
                    .map_err(|_| DomainError::invalid("cursor"))?,
            ),
        };
        let rows = store::list_alerts(
            &self.db,
            &AlertFilter {
                org_id,
                source_id: q.source,
                status,
                open_only,
                before,
                limit,
            },
        )
        .await?;
        let next_cursor = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|r| r.alert.id.to_string()))
            .flatten();
        Ok(Page {
            items: rows.into_iter().map(AlertView::from).collect(),
            next_cursor,
        })
    }

    pub async fn get_alert(&self, actor: &Actor, id: Uuid) -> Result<AlertView> {
        actor.require(Action::AlertRead)?;
        match store::get_alert_row(&self.db, id).await? {
            Some(r) if actor.scope().allows(r.alert.org_id) => Ok(r.into()),
            _ => Err(DomainError::not_found().into()),
        }
    }

    // ------------------------------------------------------------------------ ingest

    /// Take a monitoring system's request for the alert source `source_id` (see the module
    /// documentation for the order of checks). Answers only after everything it caused is
    /// committed; a refused request writes nothing.
    pub async fn ingest(
        &self,
        source_id: Uuid,
        creds: &IngestCredentials,
        body: &[u8],
        ip: Option<String>,
    ) -> std::result::Result<IngestReport, IngestRejection> {
        if body.len() > MAX_BODY_BYTES {
            return Err(Error::from(ErrorCode::PayloadTooLarge).into());
        }
        let now = self.now();
        let src = store::get_source(&self.db, source_id)
            .await?
            .filter(|s| s.enabled);
        if !authenticates(src.as_ref(), creds, body, now) {
            return Err(Error::from(ErrorCode::AlertAuthFailed).into());
        }
        let Some(src) = src else {
            return Err(Error::from(ErrorCode::AlertAuthFailed).into());
        };
        if let Err(wait) = self.alert_gate.take(src.id, src.rate_per_sec, src.burst) {
            return Err(IngestRejection {
                error: ErrorCode::RateLimited.into(),
                retry_after: Some(wait),
            });
        }
        let format = Format::parse(&src.format)
            .ok_or_else(|| Error::Internal(format!("alert source {} format", src.id)))?;
        let events = yunwei_monitor::parse(format, body).map_err(parse_error)?;
        let prepared = self.prepare_ingest(&src, &events, now).await?;
        let nonce = (src.auth_mode == "hmac")
            .then(|| creds.nonce.as_deref().unwrap_or("").trim().to_string());
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .ingest_tx(&src, nonce.as_deref(), &events, &prepared, ip.clone())
                .await
            {
                Err(e) if attempt < 4 && retryable(&e) => {
                    tracing::debug!("alert ingest retried after: {e}");
                    continue;
                }
                Err(e) => return Err(e.into()),
                Ok(r) => return Ok(r),
            }
        }
    }

    /// Reads before the write transaction (see `create_ticket` for why): priority matrix,
    /// SLA policy, the CIs named by hosts.
    async fn prepare_ingest(
        &self,
        src: &Source,
        events: &[AlertEvent],
        now: DateTime<Utc>,
    ) -> Result<Prepared> {
        let matrix = self.priority_matrix().await?;
        let sla_policy_id = self.agreement_sla_policy(src.org_id, now).await?;
        let sla = if events.iter().any(|e| e.status == AlertStatus::Firing) {
            crate::sla::sla_in_db(self, sla_policy_id).await?
        } else {
            None
        };
        let mut names: Vec<String> = Vec::new();
        for e in events.iter().filter(|e| e.status == AlertStatus::Firing) {
            for n in e
                .labels
                .get("ci")
                .cloned()
                .into_iter()
                .chain(e.host.as_deref().map(host_candidates).unwrap_or_default())
            {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
            if names.len() >= 100 {
                break;
            }
        }
        let cis = scmdb::unique_by_keys_or_names(&self.db, src.org_id, &names).await?;
        Ok(Prepared {
            matrix,
            sla_policy_id,
            sla,
            cis,
        })
    }

    fn source_actor(src: &Source, ip: Option<String>) -> Actor {
        Actor {
            user_id: None,
            username: format!("告警源 {}", src.name),
            role: Role::Admin,
            org_id: src.org_id,
            ip,
        }
    }

    async fn ingest_tx(
        &self,
        src: &Source,
        nonce: Option<&str>,
        events: &[AlertEvent],
        prepared: &Prepared,
        ip: Option<String>,
    ) -> Result<IngestReport> {
        let now = self.now();
        let actor = Self::source_actor(src, ip);
        let mut report = IngestReport {
            received: events.len(),
            ..Default::default()
        };
        let mut tx = self.db.begin_write().await?;
        if let Some(n) = nonce {
            if !store::insert_nonce(&mut tx, src.id, n, now).await? {
                return Err(ErrorCode::AlertAuthFailed.into());
            }
            if self.alert_gate.prune_due(now) {
                store::prune_nonces(&mut tx, now - chrono::Duration::seconds(NONCE_TTL_SECS))
                    .await?;
            }
        }
        // Phase 1: the alert rows, keys in sorted order (a stable sort keeps each key's events
        // in the order sent).
        let mut order: Vec<usize> = (0..events.len()).collect();
        order.sort_by(|a, b| events[*a].dedup_key.cmp(&events[*b].dedup_key));
        let mut plans = Vec::new();
        for i in order {
            let ev = &events[i];
            match ev.status {
                AlertStatus::Firing => {
                    let a = Alert {
                        id: yunwei_domain::ids::new_id(),
                        source_id: src.id,
                        org_id: src.org_id,
                        dedup_key: ev.dedup_key.clone(),
                        status: "firing".into(),
                        severity: ev.severity.as_str().into(),
                        summary: ev.summary.clone(),
                        description: ev.description.clone(),
                        host: ev.host.clone(),
                        labels_json: serde_json::to_string(&ev.labels)
                            .unwrap_or_else(|_| "{}".into()),
                        starts_at: ev.starts_at.map(yunwei_domain::audit::truncate_to_micros),
                        first_seen: now,
                        last_seen: now,
                        occurrences: 1,
                        ticket_id: None,
                        ci_id: None,
                        acknowledged_at: None,
                        resolved_at: None,
                    };
                    let up = store::upsert_firing(&mut tx, &a).await?;
                    if up.id == a.id {
                        plans.push(Plan::Open(a, i));
                    } else {
                        report.deduplicated += 1;
                    }
                }
                AlertStatus::Resolved => {
                    match store::resolve_open(&mut tx, src.id, &ev.dedup_key, now).await? {
                        Some(a) => plans.push(Plan::Resolve(a, i)),
                        None => report.ignored += 1,
                    }
                }
                AlertStatus::Acknowledged => {
                    match store::acknowledge_open(&mut tx, src.id, &ev.dedup_key, now).await? {
                        Some(a) => plans.push(Plan::Ack(a)),
                        None => report.ignored += 1,
                    }
                }
            }
        }
        let mut audits: Vec<NewEntry> = Vec::new();
        // Phase 2a: recovery notes on tickets that existed before, by ticket id.
        let mut notes: Vec<(Uuid, &Alert, usize)> = plans
            .iter()
            .filter_map(|p| match p {
                Plan::Resolve(a, i) => a.ticket_id.map(|t| (t, a, *i)),
                _ => None,
            })
            .collect();
        notes.sort_by_key(|n| n.0);
        for (ticket_id, a, i) in &notes {
            self.recovery_note(
                &mut tx,
                &actor,
                *ticket_id,
                a,
                &events[*i],
                src,
                now,
                &mut audits,
            )
            .await?;
        }
        // Phase 2b: the incidents of new alerts.
        let mut opened: HashMap<Uuid, Uuid> = HashMap::new();
        // Without any SLA policy yet (a new installation), the defaults are created inside
        // the transaction, as `create_ticket` does.
        let opens = plans.iter().any(|p| matches!(p, Plan::Open(..)));
        let sla = match &prepared.sla {
            None if opens => {
                crate::sla::sla_in_tx(self, &mut tx, prepared.sla_policy_id, now).await?
            }
            _ => None,
        };
        let the_sla = prepared.sla.as_ref().or(sla.as_ref());
        for p in &plans {
            if let Plan::Open(a, i) = p {
                let ev = &events[*i];
                let (t, ci) = self
                    .open_incident(
                        &mut tx,
                        &actor,
                        src,
                        a,
                        ev,
                        prepared,
                        the_sla,
                        now,
                        &mut audits,
                    )
                    .await?;
                opened.insert(a.id, t.id);
                report.opened += 1;
                report.tickets.push(t.number.clone());
                let mut e = actor.entry("open", "alert", a.id, Some(src.org_id));
                let mut after = snapshot(a);
                if let Some(serde_json::Value::Object(m)) = after.as_mut() {
                    m.insert("ticket_number".into(), t.number.clone().into());
                    if let Some(ci) = ci {
                        m.insert("ci_id".into(), ci.to_string().into());
                    }
                }
                e.after = after;
                audits.push(e);
            }
        }
        // Phase 2c: alerts opened and resolved in this same body, and the alert entries.
        for p in &plans {
            match p {
                Plan::Resolve(a, i) => {
                    if a.ticket_id.is_none() {
                        if let Some(t) = opened.get(&a.id) {
                            self.recovery_note(
                                &mut tx,
                                &actor,
                                *t,
                                a,
                                &events[*i],
                                src,
                                now,
                                &mut audits,
                            )
                            .await?;
                        }
                    }
                    report.resolved += 1;
                    let mut e = actor.entry("resolve", "alert", a.id, Some(src.org_id));
                    e.after = snapshot(a);
                    audits.push(e);
                }
                Plan::Ack(a) => {
                    report.acknowledged += 1;
                    let mut e = actor.entry("acknowledge", "alert", a.id, Some(src.org_id));
                    e.after = snapshot(a);
                    audits.push(e);
                }
                Plan::Open(..) => {}
            }
        }
        // Phase 3: the audit entries, last (the audit head is the most contended lock).
        scmdb::audit_many(&mut tx, audits, now).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// A public timeline note on the alert's ticket that the alert recovered (the ticket is
    /// not closed: its requester confirms, R-7.3). Nothing when the ticket is closed.
    #[allow(clippy::too_many_arguments)]
    async fn recovery_note(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        ticket_id: Uuid,
        a: &Alert,
        ev: &AlertEvent,
        src: &Source,
        now: DateTime<Utc>,
        audits: &mut Vec<NewEntry>,
    ) -> Result<()> {
        let Some(mut t) = tickets::get(&mut *tx, ticket_id).await? else {
            return Ok(());
        };
        if !Status::parse(&t.status).is_some_and(Status::is_open) {
            return Ok(());
        }
        let body = format!(
            "监控告警已恢复，请确认故障是否已排除。\nThe monitoring alert has recovered; please confirm the fault is fixed.\n\n告警 / Alert：{}\n告警源 / Source：{}\n告警键 / Key：{}\n恢复时间 / Recovered at：{}",
            ev.summary,
            src.name,
            a.dedup_key,
            now.to_rfc3339()
        );
        let ev = Event {
            id: yunwei_domain::ids::new_id(),
            ticket_id: t.id,
            org_id: t.org_id,
            at: now,
            actor_id: None,
            actor_name: actor.username.clone(),
            kind: "reply".into(),
            public: true,
            body: Some(body),
            data_json: Some(
                serde_json::json!({ "alert_id": a.id, "alert_status": "resolved" }).to_string(),
            ),
        };
        tickets::add_event(tx, &ev).await?;
        self.enqueue_ticket_notifications(tx, &t, &ev).await?;
        t.updated_at = now;
        tickets::update(tx, &t).await?;
        let mut e = actor.entry("reply", "ticket", &t.number, Some(t.org_id));
        e.after = snapshot(&ev);
        audits.push(e);
        Ok(())
    }

    /// Create the incident of a new alert inside the ingest transaction, the way
    /// `App::create_ticket` creates a ticket (crates/service/src/tickets.rs): number, matrix
    /// priority, SLA due times and jobs, "created" event, notifications, audit entry.
    #[allow(clippy::too_many_arguments)]
    async fn open_incident(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        src: &Source,
        a: &Alert,
        ev: &AlertEvent,
        prepared: &Prepared,
        sla: Option<&crate::sla::Sla>,
        now: DateTime<Utc>,
        audits: &mut Vec<NewEntry>,
    ) -> Result<(Ticket, Option<Uuid>)> {
        let kind = Kind::parse(&src.ticket_kind).unwrap_or(Kind::Incident);
        let urgency = src
            .urgency
            .clone()
            .unwrap_or_else(|| ev.severity.urgency().to_string());
        let priority = match (
            parse_enum::<Criticality>(&src.criticality),
            parse_enum::<Breadth>(&src.breadth),
            parse_enum::<Urgency>(&urgency),
        ) {
            (Some(c), Some(b), Some(u)) => {
                Some(prepared.matrix.priority(ticket::impact(c, b), u) as i64)
            }
            _ => None,
        };
        let subject =
            yunwei_monitor::truncate(&format!("[{}] {}", ev.severity.label_zh(), ev.summary), 200);
        let mut description = String::new();
        if !ev.description.is_empty() {
            description.push_str(&ev.description);
            description.push_str("\n\n");
        }
        description.push_str(&format!(
            "告警源 / Source：{}\n级别 / Severity：{} ({})\n告警键 / Key：{}\n",
            src.name,
            ev.severity.label_zh(),
            ev.severity.as_str(),
            ev.dedup_key
        ));
        if let Some(h) = &ev.host {
            description.push_str(&format!("主机 / Host：{h}\n"));
        }
        if let Some(s) = ev.starts_at {
            description.push_str(&format!("开始时间 / Started：{}\n", s.to_rfc3339()));
        }
        if !ev.labels.is_empty() {
            description.push_str("标签 / Labels：\n");
            for (k, v) in &ev.labels {
                description.push_str(&format!("  {k} = {v}\n"));
            }
        }
        let description = yunwei_monitor::truncate(description.trim(), 20_000);
        let mut t = Ticket {
            id: yunwei_domain::ids::new_id(),
            // Taken at the insert (write_new_ticket).
            number: String::new(),
            kind: kind.as_str().into(),
            status: Status::New.as_str().into(),
            sub_status: None,
            subject,
            description,
            org_id: src.org_id,
            department_id: None,
            requester_id: None,
            created_by: None,
            channel: "monitoring".into(),
            category: Some("monitoring".into()),
            criticality: Some(src.criticality.clone()),
            breadth: Some(src.breadth.clone()),
            urgency: Some(urgency),
            priority,
            priority_reason: None,
            team_id: src.team_id,
            assignee_id: None,
            parent_id: None,
            resolution: None,
            reopen_count: 0,
            first_response_at: None,
            resolved_at: None,
            closed_at: None,
            auto_confirmed: false,
            satisfaction: None,
            satisfaction_comment: None,
            rated_at: None,
            outage_start: (kind == Kind::Incident).then(|| a.starts_at.unwrap_or(now)),
            outage_end: None,
            created_at: now,
            updated_at: now,
            sla_policy_id: prepared.sla_policy_id,
            catalog_item_id: None,
            response_due_at: None,
            resolution_due_at: None,
            sla_warned_at: None,
            sla_breached_at: None,
        };
        let created = Event {
            id: yunwei_domain::ids::new_id(),
            ticket_id: t.id,
            org_id: t.org_id,
            at: now,
            actor_id: None,
            actor_name: actor.username.clone(),
            kind: "created".into(),
            public: true,
            body: None,
            data_json: Some(
                serde_json::json!({ "alert_id": a.id, "source_id": src.id, "dedup_key": a.dedup_key })
                    .to_string(),
            ),
        };
        self.write_new_ticket(tx, &mut t, kind, &created, sla, now)
            .await?;
        let mut e = actor.entry("create", "ticket", &t.number, Some(t.org_id));
        e.after = snapshot(&t);
        audits.push(e);
        // The configuration item: a `ci` label, else the host, naming exactly one CI of the
        // organization by external key or name.
        let ci = ev
            .labels
            .get("ci")
            .and_then(|n| prepared.cis.get(n))
            .or_else(|| {
                ev.host
                    .as_deref()
                    .map(host_candidates)
                    .unwrap_or_default()
                    .iter()
                    .find_map(|h| prepared.cis.get(h))
            })
            .filter(|c| c.org_id == src.org_id);
        if let Some(ci) = ci {
            if scmdb::link_ticket(tx, t.id, ci.id, now, None).await? {
                let mut e = actor.entry("link_ci", "ticket", t.id, Some(t.org_id));
                e.after = Some(serde_json::json!({
                    "number": t.number, "ci_id": ci.id, "external_key": ci.external_key, "name": ci.name,
                }));
                audits.push(e);
            }
        }
        let ci_id = ci.map(|c| c.id);
        store::set_ticket(tx, a.id, t.id, ci_id).await?;
        Ok((t, ci_id))
    }
}

/// Labels as stored (for tests and the UI).
pub fn labels_of(a: &Alert) -> BTreeMap<String, String> {
    serde_json::from_str(&a.labels_json).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_candidates_strip_scheme_port_and_path() {
        assert_eq!(
            host_candidates("https://db01:9100/metrics"),
            vec!["https://db01:9100/metrics", "db01:9100", "db01"]
        );
        assert_eq!(host_candidates("web01"), vec!["web01"]);
        assert_eq!(host_candidates("[::1]:80"), vec!["[::1]:80"]);
    }

    #[test]
    fn token_bucket_refuses_beyond_the_burst() {
        let g = AlertGate::default();
        let id = Uuid::now_v7();
        for _ in 0..5 {
            assert!(g.take(id, 1, 5).is_ok());
        }
        assert_eq!(g.take(id, 1, 5), Err(1));
        // Another source has its own bucket.
        assert!(g.take(Uuid::now_v7(), 1, 5).is_ok());
    }

    #[test]
    fn signatures_verify_only_with_secret_fresh_time_and_nonce() {
        let now = Utc::now();
        let ts = now.timestamp().to_string();
        let src = Source {
            id: Uuid::now_v7(),
            org_id: Uuid::now_v7(),
            name: "x".into(),
            format: "generic".into(),
            auth_mode: "hmac".into(),
            hmac_secret: Some("s3cret".into()),
            token_hash: None,
            ticket_kind: "incident".into(),
            criticality: "general".into(),
            breadth: "one_department".into(),
            urgency: None,
            team_id: None,
            rate_per_sec: 1,
            burst: 1,
            enabled: true,
            created_by: None,
            created_at: now,
            updated_at: now,
        };
        let c = |ts: &str, nonce: &str, sig: String| IngestCredentials {
            timestamp: Some(ts.into()),
            nonce: Some(nonce.into()),
            signature: Some(sig),
            bearer: None,
        };
        let body = b"{}";
        assert!(authenticates(
            Some(&src),
            &c(&ts, "n1", signature("s3cret", &ts, "n1", body)),
            body,
            now
        ));
        assert!(!authenticates(
            Some(&src),
            &c(&ts, "n1", signature("wrong", &ts, "n1", body)),
            body,
            now
        ));
        assert!(!authenticates(
            Some(&src),
            &c(&ts, "n1", signature("s3cret", &ts, "n1", b"{ }")),
            body,
            now
        ));
        let old = (now.timestamp() - 301).to_string();
        assert!(!authenticates(
            Some(&src),
            &c(&old, "n1", signature("s3cret", &old, "n1", body)),
            body,
            now
        ));
        let long = "n".repeat(65);
        assert!(!authenticates(
            Some(&src),
            &c(&ts, &long, signature("s3cret", &ts, &long, body)),
            body,
            now
        ));
        assert!(!authenticates(
            None,
            &c(
                &ts,
                "n1",
                signature("yunwei-no-such-source", &ts, "n1", body)
            ),
            body,
            now
        ));
    }
}
