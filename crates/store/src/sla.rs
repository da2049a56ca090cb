//! Business calendars and SLA policies (R-7.5.2c, R-10.6.3).
//!
//! A calendar is stored as the JSON of the domain `CalendarSpec` (UTC offset, weekly hours,
//! make-up weekday, holidays and make-up working days); the service validates it with
//! `Calendar::new` before it is written. A policy holds, per priority, the response and
//! resolution targets in minutes of business time on its calendar. At most one policy is the
//! default (a partial unique index), which new tickets get.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::sqlite_read::{direct_row, try_direct};
use crate::{on_ex, on_tx, Ex, Result, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CalendarRow {
    pub id: Uuid,
    pub name: String,
    /// The domain `CalendarSpec` as JSON.
    pub spec_json: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

direct_row!(CalendarRow {
    id,
    name,
    spec_json,
    created_at,
    updated_at
});
direct_row!(SlaPolicy {
    id,
    name,
    calendar_id,
    p1_response_minutes,
    p1_resolution_minutes,
    p2_response_minutes,
    p2_resolution_minutes,
    p3_response_minutes,
    p3_resolution_minutes,
    p4_response_minutes,
    p4_resolution_minutes,
    is_default,
    created_at,
    updated_at,
});

macro_rules! calendar_cols {
    () => {
        "id, name, spec_json, created_at, updated_at"
    };
}

pub async fn insert_calendar(tx: &mut Tx, c: &CalendarRow) -> Result<()> {
    on_tx!(tx, |x| {
        sqlx::query(
        "INSERT INTO calendars (id, name, spec_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(c.id)
    .bind(&c.name)
    .bind(&c.spec_json)
    .bind(c.created_at)
    .bind(c.updated_at)
    .execute(x)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

pub async fn update_calendar(tx: &mut Tx, c: &CalendarRow) -> Result<()> {
    on_tx!(tx, |x| sqlx::query(
        "UPDATE calendars SET name = $2, spec_json = $3, updated_at = $4 WHERE id = $1"
    )
    .bind(c.id)
    .bind(&c.name)
    .bind(&c.spec_json)
    .bind(c.updated_at)
    .execute(x)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn get_calendar<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<CalendarRow>> {
    let sql = concat!("SELECT ", calendar_cols!(), " FROM calendars WHERE id = $1");
    let ex = ex.into();
    try_direct!(one, ex, sql, [id]);
    Ok(on_ex!(ex, |c| sqlx::query_as::<_, CalendarRow>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

pub async fn list_calendars<'a>(ex: impl Into<Ex<'a>>) -> Result<Vec<CalendarRow>> {
    let sql = concat!("SELECT ", calendar_cols!(), " FROM calendars ORDER BY name");
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, CalendarRow>(
        sql
    )
    .fetch_all(c)
    .await)?)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SlaPolicy {
    pub id: Uuid,
    pub name: String,
    /// The business calendar the targets are counted on.
    pub calendar_id: Uuid,
    /// P1: first response within this many business minutes.
    pub p1_response_minutes: i64,
    /// P1: resolution within this many business minutes (pauses excluded).
    pub p1_resolution_minutes: i64,
    pub p2_response_minutes: i64,
    pub p2_resolution_minutes: i64,
    pub p3_response_minutes: i64,
    pub p3_resolution_minutes: i64,
    pub p4_response_minutes: i64,
    pub p4_resolution_minutes: i64,
    /// New tickets get the default policy; there is at most one.
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SlaPolicy {
    /// (response, resolution) minutes for a priority 1…4 (anything else counts as 4).
    pub fn targets(&self, priority: i64) -> (i64, i64) {
        match priority {
            1 => (self.p1_response_minutes, self.p1_resolution_minutes),
            2 => (self.p2_response_minutes, self.p2_resolution_minutes),
            3 => (self.p3_response_minutes, self.p3_resolution_minutes),
            _ => (self.p4_response_minutes, self.p4_resolution_minutes),
        }
    }
}

macro_rules! policy_cols {
    () => {
        "id, name, calendar_id, p1_response_minutes, p1_resolution_minutes, \
     p2_response_minutes, p2_resolution_minutes, p3_response_minutes, p3_resolution_minutes, \
     p4_response_minutes, p4_resolution_minutes, is_default, created_at, updated_at"
    };
}

pub async fn insert_policy(tx: &mut Tx, p: &SlaPolicy) -> Result<()> {
    let sql = concat!(
        "INSERT INTO sla_policies (",
        policy_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    );
    on_tx!(tx, |x| sqlx::query(sql)
        .bind(p.id)
        .bind(&p.name)
        .bind(p.calendar_id)
        .bind(p.p1_response_minutes)
        .bind(p.p1_resolution_minutes)
        .bind(p.p2_response_minutes)
        .bind(p.p2_resolution_minutes)
        .bind(p.p3_response_minutes)
        .bind(p.p3_resolution_minutes)
        .bind(p.p4_response_minutes)
        .bind(p.p4_resolution_minutes)
        .bind(p.is_default)
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(x)
        .await
        .map(|_| ()))?;
    Ok(())
}

pub async fn update_policy(tx: &mut Tx, p: &SlaPolicy) -> Result<()> {
    on_tx!(tx, |x| {
        sqlx::query(
        "UPDATE sla_policies SET name = $2, calendar_id = $3, p1_response_minutes = $4, p1_resolution_minutes = $5, \
         p2_response_minutes = $6, p2_resolution_minutes = $7, p3_response_minutes = $8, p3_resolution_minutes = $9, \
         p4_response_minutes = $10, p4_resolution_minutes = $11, is_default = $12, updated_at = $13 WHERE id = $1"
    )
    .bind(p.id)
    .bind(&p.name)
    .bind(p.calendar_id)
    .bind(p.p1_response_minutes)
    .bind(p.p1_resolution_minutes)
    .bind(p.p2_response_minutes)
    .bind(p.p2_resolution_minutes)
    .bind(p.p3_response_minutes)
    .bind(p.p3_resolution_minutes)
    .bind(p.p4_response_minutes)
    .bind(p.p4_resolution_minutes)
    .bind(p.is_default)
    .bind(p.updated_at)
    .execute(x)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

/// Make no policy the default except `keep` (before making `keep` the default).
pub async fn clear_default(tx: &mut Tx, keep: Uuid) -> Result<()> {
    on_tx!(tx, |x| sqlx::query(
        "UPDATE sla_policies SET is_default = FALSE WHERE is_default = TRUE AND id <> $1"
    )
    .bind(keep)
    .execute(x)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn get_policy<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<SlaPolicy>> {
    let sql = concat!(
        "SELECT ",
        policy_cols!(),
        " FROM sla_policies WHERE id = $1"
    );
    let ex = ex.into();
    try_direct!(one, ex, sql, [id]);
    Ok(on_ex!(ex, |c| sqlx::query_as::<_, SlaPolicy>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

pub async fn default_policy<'a>(ex: impl Into<Ex<'a>>) -> Result<Option<SlaPolicy>> {
    let sql = concat!(
        "SELECT ",
        policy_cols!(),
        " FROM sla_policies WHERE is_default = TRUE"
    );
    let ex = ex.into();
    try_direct!(one, ex, sql, []);
    Ok(on_ex!(ex, |c| sqlx::query_as::<_, SlaPolicy>(sql)
        .fetch_optional(c)
        .await)?)
}

pub async fn list_policies<'a>(ex: impl Into<Ex<'a>>) -> Result<Vec<SlaPolicy>> {
    let sql = concat!(
        "SELECT ",
        policy_cols!(),
        " FROM sla_policies ORDER BY name"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, SlaPolicy>(sql)
        .fetch_all(c)
        .await)?)
}
