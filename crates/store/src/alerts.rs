//! Monitoring alerts: the sources allowed to push them, the alerts (at most one open per
//! source and dedup key, enforced by the partial unique index `alerts_open_key`), and the
//! nonces of signed requests (replay protection, kept 10 minutes).
//!
//! Deduplication is one statement: [`upsert_firing`] inserts the alert or, when an open one
//! with the same key exists (also one another transaction is inserting at that moment:
//! PostgreSQL waits for it, SQLite's writers are serialized), counts one more occurrence.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{on_db, on_ex, on_tx, Db, Ex, Result, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Source {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    /// alertmanager, zabbix, pagerduty or generic.
    pub format: String,
    /// hmac or bearer.
    pub auth_mode: String,
    /// hmac: the signing secret. Never shown after creation.
    #[serde(skip)]
    pub hmac_secret: Option<String>,
    /// bearer: hex SHA-256 of the token.
    #[serde(skip)]
    pub token_hash: Option<String>,
    pub ticket_kind: String,
    pub criticality: String,
    pub breadth: String,
    pub urgency: Option<String>,
    pub team_id: Option<Uuid>,
    pub rate_per_sec: i64,
    pub burst: i64,
    pub enabled: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! source_cols {
    () => {
        "id, org_id, name, format, auth_mode, hmac_secret, token_hash, ticket_kind, criticality, \
         breadth, urgency, team_id, rate_per_sec, burst, enabled, created_by, created_at, updated_at"
    };
}

pub async fn insert_source(tx: &mut Tx, s: &Source) -> Result<()> {
    let sql = concat!(
        "INSERT INTO alert_sources (",
        source_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    );
    on_tx!(tx, |c| sqlx::query(sql)
        .bind(s.id)
        .bind(s.org_id)
        .bind(&s.name)
        .bind(&s.format)
        .bind(&s.auth_mode)
        .bind(&s.hmac_secret)
        .bind(&s.token_hash)
        .bind(&s.ticket_kind)
        .bind(&s.criticality)
        .bind(&s.breadth)
        .bind(&s.urgency)
        .bind(s.team_id)
        .bind(s.rate_per_sec)
        .bind(s.burst)
        .bind(s.enabled)
        .bind(s.created_by)
        .bind(s.created_at)
        .bind(s.updated_at)
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Write every changeable field (name, credentials, defaults, rate, enabled).
pub async fn update_source(tx: &mut Tx, s: &Source) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE alert_sources SET name = $2, auth_mode = $3, hmac_secret = $4, token_hash = $5, \
         ticket_kind = $6, criticality = $7, breadth = $8, urgency = $9, team_id = $10, \
         rate_per_sec = $11, burst = $12, enabled = $13, updated_at = $14 WHERE id = $1"
    )
    .bind(s.id)
    .bind(&s.name)
    .bind(&s.auth_mode)
    .bind(&s.hmac_secret)
    .bind(&s.token_hash)
    .bind(&s.ticket_kind)
    .bind(&s.criticality)
    .bind(&s.breadth)
    .bind(&s.urgency)
    .bind(s.team_id)
    .bind(s.rate_per_sec)
    .bind(s.burst)
    .bind(s.enabled)
    .bind(s.updated_at)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn get_source<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Source>> {
    let sql = concat!(
        "SELECT ",
        source_cols!(),
        " FROM alert_sources WHERE id = $1"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Source>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

/// Sources, oldest first; of one organization when given.
pub async fn list_sources<'a>(ex: impl Into<Ex<'a>>, org: Option<Uuid>) -> Result<Vec<Source>> {
    let sql = concat!(
        "SELECT ",
        source_cols!(),
        " FROM alert_sources WHERE ($1 IS NULL OR org_id = $1) ORDER BY id"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Source>(sql)
        .bind(org)
        .fetch_all(c)
        .await)?)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Alert {
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
    /// JSON object of label name → value.
    pub labels_json: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub occurrences: i64,
    pub ticket_id: Option<Uuid>,
    pub ci_id: Option<Uuid>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

macro_rules! alert_cols {
    () => {
        "id, source_id, org_id, dedup_key, status, severity, summary, description, host, labels_json, \
         starts_at, first_seen, last_seen, occurrences, ticket_id, ci_id, acknowledged_at, resolved_at"
    };
}

/// What [`upsert_firing`] found.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Upserted {
    pub id: Uuid,
    pub ticket_id: Option<Uuid>,
    pub occurrences: i64,
}

/// Open the alert, or count one more occurrence of the open alert with its source and key
/// (latest severity, texts and labels win, as Alertmanager's clients expect). The alert was
/// new exactly when the returned id is `a.id`.
pub async fn upsert_firing(tx: &mut Tx, a: &Alert) -> Result<Upserted> {
    let sql = concat!(
        "INSERT INTO alerts (",
        alert_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         ON CONFLICT (source_id, dedup_key) WHERE resolved_at IS NULL DO UPDATE SET \
         occurrences = alerts.occurrences + 1, last_seen = excluded.last_seen, \
         severity = excluded.severity, summary = excluded.summary, \
         description = excluded.description, host = excluded.host, labels_json = excluded.labels_json \
         RETURNING id, ticket_id, occurrences"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as::<_, Upserted>(sql)
        .bind(a.id)
        .bind(a.source_id)
        .bind(a.org_id)
        .bind(&a.dedup_key)
        .bind(&a.status)
        .bind(&a.severity)
        .bind(&a.summary)
        .bind(&a.description)
        .bind(&a.host)
        .bind(&a.labels_json)
        .bind(a.starts_at)
        .bind(a.first_seen)
        .bind(a.last_seen)
        .bind(a.occurrences)
        .bind(a.ticket_id)
        .bind(a.ci_id)
        .bind(a.acknowledged_at)
        .bind(a.resolved_at)
        .fetch_one(c)
        .await)?)
}

/// Record the ticket (and CI) an alert opened.
pub async fn set_ticket(tx: &mut Tx, id: Uuid, ticket: Uuid, ci: Option<Uuid>) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE alerts SET ticket_id = $2, ci_id = $3 WHERE id = $1"
    )
    .bind(id)
    .bind(ticket)
    .bind(ci)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Resolve the open alert of a source and key; None when there is none.
pub async fn resolve_open(
    tx: &mut Tx,
    source: Uuid,
    key: &str,
    at: DateTime<Utc>,
) -> Result<Option<Alert>> {
    let sql = concat!(
        "UPDATE alerts SET status = 'resolved', resolved_at = $3, last_seen = $3 \
         WHERE source_id = $1 AND dedup_key = $2 AND resolved_at IS NULL RETURNING ",
        alert_cols!()
    );
    Ok(on_tx!(tx, |c| sqlx::query_as::<_, Alert>(sql)
        .bind(source)
        .bind(key)
        .bind(at)
        .fetch_optional(c)
        .await)?)
}

/// Mark the open alert of a source and key acknowledged (the first time); None when there is
/// no open alert.
pub async fn acknowledge_open(
    tx: &mut Tx,
    source: Uuid,
    key: &str,
    at: DateTime<Utc>,
) -> Result<Option<Alert>> {
    let sql = concat!(
        "UPDATE alerts SET status = 'acknowledged', acknowledged_at = COALESCE(acknowledged_at, $3), \
         last_seen = $3 WHERE source_id = $1 AND dedup_key = $2 AND resolved_at IS NULL RETURNING ",
        alert_cols!()
    );
    Ok(on_tx!(tx, |c| sqlx::query_as::<_, Alert>(sql)
        .bind(source)
        .bind(key)
        .bind(at)
        .fetch_optional(c)
        .await)?)
}

pub async fn get_alert<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Alert>> {
    let sql = concat!("SELECT ", alert_cols!(), " FROM alerts WHERE id = $1");
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Alert>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

/// Filters of [`list_alerts`]; newest first, `before` the last id of the previous page.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub org_id: Option<Uuid>,
    pub source_id: Option<Uuid>,
    /// firing, acknowledged or resolved.
    pub status: Option<String>,
    /// Only open (not resolved) alerts.
    pub open_only: bool,
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// An alert with the number of the ticket it opened.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AlertRow {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub alert: Alert,
    pub ticket_number: Option<String>,
}

macro_rules! alert_cols_a {
    () => {
        "a.id, a.source_id, a.org_id, a.dedup_key, a.status, a.severity, a.summary, a.description, \
         a.host, a.labels_json, a.starts_at, a.first_seen, a.last_seen, a.occurrences, a.ticket_id, \
         a.ci_id, a.acknowledged_at, a.resolved_at, t.number AS ticket_number"
    };
}

pub async fn list_alerts<'a>(ex: impl Into<Ex<'a>>, f: &AlertFilter) -> Result<Vec<AlertRow>> {
    let sql = concat!(
        "SELECT ",
        alert_cols_a!(),
        " FROM alerts a LEFT JOIN tickets t ON t.id = a.ticket_id \
         WHERE ($1 IS NULL OR a.org_id = $1) AND ($2 IS NULL OR a.source_id = $2) \
         AND ($3 IS NULL OR a.status = $3) AND ($4 = FALSE OR a.resolved_at IS NULL) \
         AND ($5 IS NULL OR a.id < $5) ORDER BY a.id DESC LIMIT $6"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, AlertRow>(sql)
        .bind(f.org_id)
        .bind(f.source_id)
        .bind(&f.status)
        .bind(f.open_only)
        .bind(f.before)
        .bind(f.limit)
        .fetch_all(c)
        .await)?)
}

/// One alert with its ticket's number.
pub async fn get_alert_row<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<AlertRow>> {
    let sql = concat!(
        "SELECT ",
        alert_cols_a!(),
        " FROM alerts a LEFT JOIN tickets t ON t.id = a.ticket_id WHERE a.id = $1"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, AlertRow>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

/// Remember a signed request's nonce; false when the source already used it (a replay).
pub async fn insert_nonce(
    tx: &mut Tx,
    source: Uuid,
    nonce: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    let n = on_tx!(tx, |c| sqlx::query(
        "INSERT INTO alert_nonces (source_id, nonce, seen_at) VALUES ($1, $2, $3) \
         ON CONFLICT (source_id, nonce) DO NOTHING"
    )
    .bind(source)
    .bind(nonce)
    .bind(at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Forget nonces seen before `before`.
pub async fn prune_nonces(tx: &mut Tx, before: DateTime<Utc>) -> Result<u64> {
    Ok(on_tx!(tx, |c| sqlx::query(
        "DELETE FROM alert_nonces WHERE seen_at < $1"
    )
    .bind(before)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Row counts (alerts, nonces), for tests and metrics.
pub async fn counts(db: &Db) -> Result<(i64, i64)> {
    let a = on_db!(db, |p| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM alerts"
    )
    .fetch_one(p)
    .await)?;
    let n = on_db!(db, |p| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM alert_nonces"
    )
    .fetch_one(p)
    .await)?;
    Ok((a, n))
}
