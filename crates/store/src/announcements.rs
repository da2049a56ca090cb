//! Announcements (R-7.2c): planned maintenance, outages and notices, the catalog items they
//! affect and the organizations they are addressed to.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{on_ex, on_tx, Ex, Result, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Announcement {
    pub id: Uuid,
    /// maintenance, outage or notice.
    pub kind: String,
    pub title: String,
    pub body: String,
    pub starts_at: DateTime<Utc>,
    /// Open-ended when absent.
    pub ends_at: Option<DateTime<Utc>>,
    /// Addressed to every organization; otherwise to those listed.
    pub all_orgs: bool,
    pub published: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! cols {
    () => {
        "id, kind, title, body, starts_at, ends_at, all_orgs, published, created_by, created_at, updated_at"
    };
}

pub async fn insert(tx: &mut Tx, a: &Announcement) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(concat!(
        "INSERT INTO announcements (",
        cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(a.id)
    .bind(&a.kind)
    .bind(&a.title)
    .bind(&a.body)
    .bind(a.starts_at)
    .bind(a.ends_at)
    .bind(a.all_orgs)
    .bind(a.published)
    .bind(a.created_by)
    .bind(a.created_at)
    .bind(a.updated_at)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn update(tx: &mut Tx, a: &Announcement) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE announcements SET kind = $2, title = $3, body = $4, starts_at = $5, ends_at = $6, \
         all_orgs = $7, published = $8, updated_at = $9 WHERE id = $1"
    )
    .bind(a.id)
    .bind(&a.kind)
    .bind(&a.title)
    .bind(&a.body)
    .bind(a.starts_at)
    .bind(a.ends_at)
    .bind(a.all_orgs)
    .bind(a.published)
    .bind(a.updated_at)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn get<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Announcement>> {
    let sql = concat!("SELECT ", cols!(), " FROM announcements WHERE id = $1");
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Announcement>(
        sql
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

/// Filters for [`list`]. Newest first; `before` is the cursor (the last id of the previous
/// page).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only published announcements.
    pub published_only: bool,
    /// Only announcements addressed to all organizations or to this one.
    pub audience: Option<Uuid>,
    /// Only announcements in force at `.0` or starting by `.1`: `starts_at <= .1` and
    /// (`ends_at` absent or `>= .0`).
    pub current: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub kind: Option<String>,
    pub before: Option<Uuid>,
    pub limit: i64,
}

pub async fn list<'a>(ex: impl Into<Ex<'a>>, f: &Filter) -> Result<Vec<Announcement>> {
    let sql = concat!(
        "SELECT ",
        cols!(),
        " FROM announcements WHERE ($1 = FALSE OR published = TRUE) \
         AND ($2 IS NULL OR all_orgs = TRUE OR EXISTS (SELECT 1 FROM announcement_orgs o \
              WHERE o.announcement_id = announcements.id AND o.org_id = $2)) \
         AND ($3 IS NULL OR ((ends_at IS NULL OR ends_at >= $3) AND starts_at <= $4)) \
         AND ($5 IS NULL OR kind = $5) \
         AND ($6 IS NULL OR id < $6) ORDER BY id DESC LIMIT $7"
    );
    let (now, horizon) = match f.current {
        Some((n, h)) => (Some(n), Some(h)),
        None => (None, None),
    };
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Announcement>(
        sql
    )
    .bind(f.published_only)
    .bind(f.audience)
    .bind(now)
    .bind(horizon)
    .bind(&f.kind)
    .bind(f.before)
    .bind(f.limit)
    .fetch_all(c)
    .await)?)
}

/// Replace the catalog items an announcement names.
pub async fn set_items(tx: &mut Tx, id: Uuid, items: &[Uuid]) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "DELETE FROM announcement_items WHERE announcement_id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map(|_| ()))?;
    for i in items {
        on_tx!(tx, |c| {
            sqlx::query(
            "INSERT INTO announcement_items (announcement_id, item_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        )
        .bind(id)
        .bind(*i)
        .execute(c)
        .await
        .map(|_| ())
        })?;
    }
    Ok(())
}

pub async fn items<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Vec<Uuid>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_scalar::<_, Uuid>(
        "SELECT item_id FROM announcement_items WHERE announcement_id = $1 ORDER BY item_id"
    )
    .bind(id)
    .fetch_all(c)
    .await)?)
}

/// Replace the organizations an announcement is addressed to.
pub async fn set_orgs(tx: &mut Tx, id: Uuid, orgs: &[Uuid]) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "DELETE FROM announcement_orgs WHERE announcement_id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map(|_| ()))?;
    for o in orgs {
        on_tx!(tx, |c| {
            sqlx::query(
            "INSERT INTO announcement_orgs (announcement_id, org_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        )
        .bind(id)
        .bind(*o)
        .execute(c)
        .await
        .map(|_| ())
        })?;
    }
    Ok(())
}

pub async fn orgs<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Vec<Uuid>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_scalar::<_, Uuid>(
        "SELECT org_id FROM announcement_orgs WHERE announcement_id = $1 ORDER BY org_id"
    )
    .bind(id)
    .fetch_all(c)
    .await)?)
}
