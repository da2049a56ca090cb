//! Notifications: channels, user preferences, the outbox and the in-app inbox.
//!
//! The outbox is written inside the transaction of the change that calls for a notification
//! (so a notification exists exactly when its change committed) and emptied by workers on any
//! node: [`claim_outbox`] takes due rows for one node under a lease — on PostgreSQL with
//! `FOR UPDATE SKIP LOCKED`, on SQLite inside `BEGIN IMMEDIATE` — and [`finish_outbox`]
//! records the outcome only while the node still holds the lease.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::sqlite_read::{direct_row, try_direct};
use crate::{on_ex, on_tx, Db, Ex, Result, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Channel {
    pub id: Uuid,
    /// email, webhook, wecom, dingtalk or feishu.
    pub kind: String,
    pub name: String,
    /// JSON text, kind-specific; holds secrets.
    pub config: String,
    /// A customer organization's own channel; None: provider-wide.
    pub org_id: Option<Uuid>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

direct_row!(Channel {
    id,
    kind,
    name,
    config,
    org_id,
    enabled,
    created_at,
    updated_at
});
direct_row!(Pref {
    user_id,
    event_kind,
    channels
});

macro_rules! channel_cols {
    () => {
        "id, kind, name, config, org_id, enabled, created_at, updated_at"
    };
}

pub async fn insert_channel(tx: &mut Tx, c: &Channel) -> Result<()> {
    let sql = concat!(
        "INSERT INTO notification_channels (",
        channel_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    );
    on_tx!(tx, |x| sqlx::query(sql)
        .bind(c.id)
        .bind(&c.kind)
        .bind(&c.name)
        .bind(&c.config)
        .bind(c.org_id)
        .bind(c.enabled)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(x)
        .await
        .map(|_| ()))?;
    Ok(())
}

pub async fn update_channel(tx: &mut Tx, c: &Channel) -> Result<()> {
    on_tx!(tx, |x| sqlx::query(
        "UPDATE notification_channels SET name = $2, config = $3, org_id = $4, enabled = $5, \
         updated_at = $6 WHERE id = $1"
    )
    .bind(c.id)
    .bind(&c.name)
    .bind(&c.config)
    .bind(c.org_id)
    .bind(c.enabled)
    .bind(c.updated_at)
    .execute(x)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Delete a channel; its undelivered outbox rows lose their channel (and die when claimed).
pub async fn delete_channel(tx: &mut Tx, id: Uuid) -> Result<bool> {
    let n = on_tx!(tx, |x| sqlx::query(
        "DELETE FROM notification_channels WHERE id = $1"
    )
    .bind(id)
    .execute(x)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn get_channel<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Channel>> {
    let sql = concat!(
        "SELECT ",
        channel_cols!(),
        " FROM notification_channels WHERE id = $1"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Channel>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

/// All channels, oldest first.
pub async fn list_channels<'a>(ex: impl Into<Ex<'a>>) -> Result<Vec<Channel>> {
    let sql = concat!(
        "SELECT ",
        channel_cols!(),
        " FROM notification_channels ORDER BY id"
    );
    let ex = ex.into();
    try_direct!(all, ex, sql, []);
    Ok(on_ex!(ex, |c| sqlx::query_as::<_, Channel>(sql)
        .fetch_all(c)
        .await)?)
}

/// One user's choice of channels for one event kind.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Pref {
    pub user_id: Uuid,
    pub event_kind: String,
    /// JSON array of channel kinds ("inapp", "email").
    pub channels: String,
}

pub async fn prefs<'a>(ex: impl Into<Ex<'a>>, user_id: Uuid) -> Result<Vec<Pref>> {
    let sql = "SELECT user_id, event_kind, channels FROM notification_prefs WHERE user_id = $1 \
               ORDER BY event_kind";
    let ex = ex.into();
    try_direct!(all, ex, sql, [user_id]);
    Ok(on_ex!(ex, |c| sqlx::query_as::<_, Pref>(sql)
        .bind(user_id)
        .fetch_all(c)
        .await)?)
}

pub async fn set_pref(tx: &mut Tx, p: &Pref) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO notification_prefs (user_id, event_kind, channels) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, event_kind) DO UPDATE SET channels = excluded.channels"
    )
    .bind(p.user_id)
    .bind(&p.event_kind)
    .bind(&p.channels)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// A notification waiting to be (or already) sent.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: Uuid,
    pub channel_id: Option<Uuid>,
    pub recipient_user_id: Option<Uuid>,
    /// email, webhook, wecom, dingtalk or feishu.
    pub kind: String,
    /// JSON text: the rendered message (and, for e-mail, the address).
    pub payload: String,
    /// pending (never tried), failed (tried, will retry), sent or dead (given up).
    pub status: String,
    /// How many times the row was claimed for sending.
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

macro_rules! outbox_cols {
    () => {
        "id, channel_id, recipient_user_id, kind, payload, status, attempts, \
     next_attempt_at, locked_by, locked_until, last_error, created_at, sent_at"
    };
}
const OUTBOX_COLS: &str = outbox_cols!();

/// Add a notification to send, inside the transaction of the change.
pub async fn insert_outbox(tx: &mut Tx, r: &OutboxRow) -> Result<()> {
    let sql = concat!(
        "INSERT INTO outbox (",
        outbox_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    );
    on_tx!(tx, |c| sqlx::query(sql)
        .bind(r.id)
        .bind(r.channel_id)
        .bind(r.recipient_user_id)
        .bind(&r.kind)
        .bind(&r.payload)
        .bind(&r.status)
        .bind(r.attempts)
        .bind(r.next_attempt_at)
        .bind(&r.locked_by)
        .bind(r.locked_until)
        .bind(&r.last_error)
        .bind(r.created_at)
        .bind(r.sent_at)
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Claim up to `max` due rows (pending or failed, `next_attempt_at <= now`, lease free or
/// expired) for `node_id` until `lease_until`, oldest due first. Each claim counts as an
/// attempt, so a node dying mid-send still uses one up.
pub async fn claim_outbox(
    db: &Db,
    node_id: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    max: i64,
) -> Result<Vec<OutboxRow>> {
    let due = "SELECT id FROM outbox WHERE status IN ('pending', 'failed') AND next_attempt_at <= $3 \
               AND (locked_until IS NULL OR locked_until < $3) ORDER BY next_attempt_at, id LIMIT $4";
    let sql = match db {
        Db::Pg(_) => format!(
            "UPDATE outbox SET locked_by = $1, locked_until = $2, attempts = attempts + 1 \
             WHERE id IN ({due} FOR UPDATE SKIP LOCKED) RETURNING {OUTBOX_COLS}"
        ),
        Db::Sqlite(_) => format!(
            "UPDATE outbox SET locked_by = $1, locked_until = $2, attempts = attempts + 1 \
             WHERE id IN ({due}) RETURNING {OUTBOX_COLS}"
        ),
    };
    let mut tx = db.begin_write().await?;
    let mut rows = on_tx!(&mut tx, |c| sqlx::query_as::<_, OutboxRow>(&sql)
        .bind(node_id)
        .bind(lease_until)
        .bind(now)
        .bind(max)
        .fetch_all(c)
        .await)?;
    tx.commit().await?;
    rows.sort_by_key(|r| (r.next_attempt_at, r.id));
    Ok(rows)
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub enum Outcome {
    Sent,
    /// Try again at this time.
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    /// Give up.
    Dead {
        error: String,
    },
}

/// Record the outcome of an attempt — only while `node_id` still holds the row's lease.
/// False: the node lost the row (its lease expired and another node took it).
pub async fn finish_outbox<'a>(
    ex: impl Into<Ex<'a>>,
    id: Uuid,
    node_id: &str,
    now: DateTime<Utc>,
    outcome: &Outcome,
) -> Result<bool> {
    let (status, next, error, sent_at) = match outcome {
        Outcome::Sent => ("sent", None, None, Some(now)),
        Outcome::Retry { at, error } => ("failed", Some(*at), Some(error.as_str()), None),
        Outcome::Dead { error } => ("dead", None, Some(error.as_str()), None),
    };
    let error: Option<String> = error.map(|e| e.chars().take(2000).collect());
    let n = on_ex!(ex.into(), |c| {
        sqlx::query(
        "UPDATE outbox SET status = $3, next_attempt_at = COALESCE($4, next_attempt_at), \
         last_error = COALESCE($5, last_error), sent_at = $6, locked_by = NULL, locked_until = NULL \
         WHERE id = $1 AND locked_by = $2 AND status IN ('pending', 'failed')"
    )
    .bind(id)
    .bind(node_id)
    .bind(status)
    .bind(next)
    .bind(&error)
    .bind(sent_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Filter for [`list_outbox`].
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    pub status: Option<String>,
    pub channel_id: Option<Uuid>,
    /// Newest-first cursor: the last id of the previous page.
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// Outbox rows, newest first.
pub async fn list_outbox<'a>(ex: impl Into<Ex<'a>>, f: &OutboxFilter) -> Result<Vec<OutboxRow>> {
    let sql = format!(
        "SELECT {OUTBOX_COLS} FROM outbox WHERE ($1 IS NULL OR status = $1) \
         AND ($2 IS NULL OR channel_id = $2) AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, OutboxRow>(&sql)
        .bind(&f.status)
        .bind(f.channel_id)
        .bind(f.before)
        .bind(f.limit)
        .fetch_all(c)
        .await)?)
}

pub async fn get_outbox<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<OutboxRow>> {
    let sql = concat!("SELECT ", outbox_cols!(), " FROM outbox WHERE id = $1");
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, OutboxRow>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

/// Delete rows sent before `sent_before` and dead rows created before `dead_before`.
pub async fn purge_outbox(
    tx: &mut Tx,
    sent_before: DateTime<Utc>,
    dead_before: DateTime<Utc>,
) -> Result<u64> {
    Ok(on_tx!(tx, |c| sqlx::query(
        "DELETE FROM outbox WHERE (status = 'sent' AND sent_at < $1) \
         OR (status = 'dead' AND created_at < $2)"
    )
    .bind(sent_before)
    .bind(dead_before)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?)
}

/// An in-app notification.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct InboxItem {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The organization of the ticket it is about.
    pub org_id: Option<Uuid>,
    pub ticket_number: Option<String>,
    pub title: String,
    pub body: String,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

macro_rules! inbox_cols {
    () => {
        "id, user_id, org_id, ticket_number, title, body, read_at, created_at"
    };
}
const INBOX_COLS: &str = inbox_cols!();

pub async fn insert_inbox(tx: &mut Tx, i: &InboxItem) -> Result<()> {
    let sql = concat!(
        "INSERT INTO inbox (",
        inbox_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    );
    on_tx!(tx, |c| sqlx::query(sql)
        .bind(i.id)
        .bind(i.user_id)
        .bind(i.org_id)
        .bind(&i.ticket_number)
        .bind(&i.title)
        .bind(&i.body)
        .bind(i.read_at)
        .bind(i.created_at)
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// A user's inbox, newest first; `before` is the cursor (last id of the previous page).
pub async fn list_inbox<'a>(
    ex: impl Into<Ex<'a>>,
    user_id: Uuid,
    unread_only: bool,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<InboxItem>> {
    let sql = format!(
        "SELECT {INBOX_COLS} FROM inbox WHERE user_id = $1 AND ($2 = FALSE OR read_at IS NULL) \
         AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, InboxItem>(&sql)
        .bind(user_id)
        .bind(unread_only)
        .bind(before)
        .bind(limit)
        .fetch_all(c)
        .await)?)
}

pub async fn unread_count<'a>(ex: impl Into<Ex<'a>>, user_id: Uuid) -> Result<i64> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM inbox WHERE user_id = $1 AND read_at IS NULL"
    )
    .bind(user_id)
    .fetch_one(c)
    .await)?)
}

/// Mark one of the user's own notifications read (another user's answers false, like a
/// missing one). Reading twice keeps the first time.
pub async fn mark_read(tx: &mut Tx, user_id: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<bool> {
    let n = on_tx!(tx, |c| sqlx::query(
        "UPDATE inbox SET read_at = COALESCE(read_at, $3) WHERE id = $1 AND user_id = $2"
    )
    .bind(id)
    .bind(user_id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}
