//! API tokens: shown once, stored as SHA-256, with expiry, revocation and last use.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{on_ex, on_tx, Ex, Result, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    #[serde(skip)]
    #[schema(ignore)]
    pub token_hash: String,
    /// The first characters of the token, to recognise it in lists.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
}

macro_rules! token_cols {
    () => {
        "id, user_id, name, token_hash, prefix, created_at, expires_at, revoked_at, last_used_at, last_used_ip"
    };
}

pub async fn insert(tx: &mut Tx, t: &ApiToken) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(concat!(
        "INSERT INTO api_tokens (",
        token_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(t.id)
    .bind(t.user_id)
    .bind(&t.name)
    .bind(&t.token_hash)
    .bind(&t.prefix)
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.revoked_at)
    .bind(t.last_used_at)
    .bind(&t.last_used_ip)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn get<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<ApiToken>> {
    let sql = concat!("SELECT ", token_cols!(), " FROM api_tokens WHERE id = $1");
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, ApiToken>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

/// A usable token by hash: not revoked, not expired, its user enabled.
pub async fn find_live<'a>(
    ex: impl Into<Ex<'a>>,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<ApiToken>> {
    let sql = "SELECT t.id, t.user_id, t.name, t.token_hash, t.prefix, t.created_at, t.expires_at, t.revoked_at, \
               t.last_used_at, t.last_used_ip FROM api_tokens t JOIN users u ON u.id = t.user_id \
               WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2) \
               AND u.disabled = FALSE";
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, ApiToken>(sql)
        .bind(hash)
        .bind(now)
        .fetch_optional(c)
        .await)?)
}

/// Tokens of one user, or of everybody.
pub async fn list<'a>(ex: impl Into<Ex<'a>>, user_id: Option<Uuid>) -> Result<Vec<ApiToken>> {
    let sql = concat!(
        "SELECT ",
        token_cols!(),
        " FROM api_tokens WHERE ($1 IS NULL OR user_id = $1) ORDER BY id DESC"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, ApiToken>(sql)
        .bind(user_id)
        .fetch_all(c)
        .await)?)
}

pub async fn revoke(tx: &mut Tx, id: Uuid, at: DateTime<Utc>) -> Result<bool> {
    let n = on_tx!(tx, |c| sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"
    )
    .bind(id)
    .bind(at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn record_use(tx: &mut Tx, id: Uuid, at: DateTime<Utc>, ip: Option<&str>) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE api_tokens SET last_used_at = $2, last_used_ip = $3 WHERE id = $1"
    )
    .bind(id)
    .bind(at)
    .bind(ip)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}
