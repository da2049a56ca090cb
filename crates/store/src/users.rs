//! Users: every person who signs in — provider staff and customer organizations' users.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::sqlite_read::{direct_row, try_direct};
use crate::{on_ex, on_tx, Ex, Result, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    pub org_id: Uuid,
    pub department_id: Option<Uuid>,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// admin, manager, agent, engineer, customer or auditor.
    pub role: String,
    /// Never serialized: not in API answers, not in the audit log.
    #[serde(skip)]
    #[schema(ignore)]
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub lang: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

direct_row!(User {
    id,
    org_id,
    department_id,
    username,
    display_name,
    email,
    phone,
    role,
    password_hash,
    disabled,
    lang,
    created_at,
    updated_at,
});

macro_rules! user_cols {
    () => {
        "id, org_id, department_id, username, display_name, email, phone, role, password_hash, disabled, lang, created_at, updated_at"
    };
}

pub async fn insert(tx: &mut Tx, u: &User) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(concat!(
        "INSERT INTO users (",
        user_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(u.id)
    .bind(u.org_id)
    .bind(u.department_id)
    .bind(&u.username)
    .bind(&u.display_name)
    .bind(&u.email)
    .bind(&u.phone)
    .bind(&u.role)
    .bind(&u.password_hash)
    .bind(u.disabled)
    .bind(&u.lang)
    .bind(u.created_at)
    .bind(u.updated_at)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Write every field but the id, username, password and creation time.
pub async fn update(tx: &mut Tx, u: &User) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE users SET org_id = $2, department_id = $3, display_name = $4, email = $5, phone = $6, \
         role = $7, disabled = $8, lang = $9, updated_at = $10 WHERE id = $1"
    )
    .bind(u.id)
    .bind(u.org_id)
    .bind(u.department_id)
    .bind(&u.display_name)
    .bind(&u.email)
    .bind(&u.phone)
    .bind(&u.role)
    .bind(u.disabled)
    .bind(&u.lang)
    .bind(u.updated_at)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

pub async fn set_password(tx: &mut Tx, id: Uuid, hash: &str, at: DateTime<Utc>) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1"
    )
    .bind(id)
    .bind(hash)
    .bind(at)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn get<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<User>> {
    let sql = concat!("SELECT ", user_cols!(), " FROM users WHERE id = $1");
    let ex = ex.into();
    try_direct!(one, ex, sql, [id]);
    Ok(on_ex!(ex, |c| sqlx::query_as::<_, User>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

pub async fn get_by_username<'a>(ex: impl Into<Ex<'a>>, username: &str) -> Result<Option<User>> {
    let sql = concat!("SELECT ", user_cols!(), " FROM users WHERE username = $1");
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, User>(sql)
        .bind(username)
        .fetch_optional(c)
        .await)?)
}

/// Filters for [`list`]. `after` is the cursor: the last id of the previous page.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub org_id: Option<Uuid>,
    pub role: Option<String>,
    /// Matches username or display name, case-insensitively, anywhere.
    pub q: Option<String>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

/// Users in id (creation) order, a page at a time.
pub async fn list<'a>(ex: impl Into<Ex<'a>>, f: &UserFilter) -> Result<Vec<User>> {
    let sql = concat!(
        "SELECT ",
        user_cols!(),
        " FROM users WHERE ($1 IS NULL OR org_id = $1) AND ($2 IS NULL OR role = $2) \
         AND ($3 IS NULL OR LOWER(username) LIKE $3 OR LOWER(display_name) LIKE $3) \
         AND ($4 IS NULL OR id > $4) ORDER BY id LIMIT $5"
    );
    let pattern =
        f.q.as_ref()
            .map(|q| format!("%{}%", escape_like(&q.to_lowercase())));
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, User>(sql)
        .bind(f.org_id)
        .bind(&f.role)
        .bind(&pattern)
        .bind(f.after)
        .bind(f.limit)
        .fetch_all(c)
        .await)?)
}

/// `LIKE` wildcards in user text match themselves only... as far as both stores allow without
/// an ESCAPE clause: we drop them, so `%` and `_` in a search do not widen it.
fn escape_like(s: &str) -> String {
    s.chars().filter(|c| *c != '%' && *c != '_').collect()
}

/// Active administrators, counted inside a write transaction (for the last-admin rule).
pub async fn count_active_admins(tx: &mut Tx) -> Result<i64> {
    Ok(on_tx!(tx, |c| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = FALSE"
    )
    .fetch_one(c)
    .await)?)
}

pub async fn count<'a>(ex: impl Into<Ex<'a>>) -> Result<i64> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM users"
    )
    .fetch_one(c)
    .await)?)
}
