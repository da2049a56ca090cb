//! Browser sessions, kept in the database so every node sees them. The cookie holds a random
//! secret; only its SHA-256 is stored.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{on_ex, on_tx, Ex, Result, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    pub id_hash: String,
    pub user_id: Uuid,
    pub csrf_token: String,
    pub ip: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

pub async fn insert(tx: &mut Tx, s: &Session) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, ip, created_at, expires_at, last_seen_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(&s.id_hash)
    .bind(s.user_id)
    .bind(&s.csrf_token)
    .bind(&s.ip)
    .bind(s.created_at)
    .bind(s.expires_at)
    .bind(s.last_seen_at)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

/// A session that has not expired and whose user is enabled.
pub async fn get_live<'a>(
    ex: impl Into<Ex<'a>>,
    id_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>> {
    Ok(on_ex!(ex.into(), |c| {
        sqlx::query_as::<_, Session>(
        "SELECT s.id_hash, s.user_id, s.csrf_token, s.ip, s.created_at, s.expires_at, s.last_seen_at \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled = FALSE"
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(c)
    .await
    })?)
}

/// Slide the expiry forward.
pub async fn touch(
    tx: &mut Tx,
    id_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id_hash = $1"
    )
    .bind(id_hash)
    .bind(now)
    .bind(expires_at)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn delete(tx: &mut Tx, id_hash: &str) -> Result<bool> {
    let n = on_tx!(tx, |c| sqlx::query(
        "DELETE FROM sessions WHERE id_hash = $1"
    )
    .bind(id_hash)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// End every session of a user (disabled, password changed).
pub async fn delete_for_user(tx: &mut Tx, user_id: Uuid, except: Option<&str>) -> Result<u64> {
    Ok(on_tx!(tx, |c| sqlx::query(
        "DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR id_hash <> $2)"
    )
    .bind(user_id)
    .bind(except)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?)
}

pub async fn purge_expired(tx: &mut Tx, now: DateTime<Utc>) -> Result<u64> {
    Ok(on_tx!(tx, |c| sqlx::query(
        "DELETE FROM sessions WHERE expires_at <= $1"
    )
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?)
}
