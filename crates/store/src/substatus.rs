//! Sub-statuses inside a phase of the ticket flow (e.g. 挂起 · 等待客户), defined by
//! administrators. Whether one stops the SLA clock is snapshotted on each status event.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{on_ex, on_tx, Ex, Result, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SubStatus {
    pub id: Uuid,
    /// The phase it belongs to: new, assigned, in_progress, pending or resolved.
    pub phase: String,
    /// Stable code, e.g. `waiting_customer`; stored on the ticket.
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// Waiting in it stops the resolution clock (pending phase only).
    pub pauses_sla: bool,
    /// Inactive ones are kept for history but cannot be chosen.
    pub active: bool,
    /// Display order within the phase.
    pub sort: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! cols {
    () => {
        "id, phase, code, name_zh, name_en, pauses_sla, active, sort, created_at, updated_at"
    };
}

pub async fn insert(tx: &mut Tx, s: &SubStatus) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(concat!(
        "INSERT INTO ticket_sub_statuses (",
        cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(s.id)
    .bind(&s.phase)
    .bind(&s.code)
    .bind(&s.name_zh)
    .bind(&s.name_en)
    .bind(s.pauses_sla)
    .bind(s.active)
    .bind(s.sort)
    .bind(s.created_at)
    .bind(s.updated_at)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Names, flag, active and order change; phase and code never do (tickets refer to them).
pub async fn update(tx: &mut Tx, s: &SubStatus) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE ticket_sub_statuses SET name_zh = $2, name_en = $3, pauses_sla = $4, active = $5, sort = $6, \
         updated_at = $7 WHERE id = $1"
    )
    .bind(s.id)
    .bind(&s.name_zh)
    .bind(&s.name_en)
    .bind(s.pauses_sla)
    .bind(s.active)
    .bind(s.sort)
    .bind(s.updated_at)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

pub async fn get<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<SubStatus>> {
    let sql = concat!(
        "SELECT ",
        cols!(),
        " FROM ticket_sub_statuses WHERE id = $1"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, SubStatus>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

pub async fn get_by_code<'a>(
    ex: impl Into<Ex<'a>>,
    phase: &str,
    code: &str,
) -> Result<Option<SubStatus>> {
    let sql = concat!(
        "SELECT ",
        cols!(),
        " FROM ticket_sub_statuses WHERE phase = $1 AND code = $2"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, SubStatus>(sql)
        .bind(phase)
        .bind(code)
        .fetch_optional(c)
        .await)?)
}

/// All sub-statuses, by phase, order and code; optionally only active ones of one phase.
pub async fn list<'a>(
    ex: impl Into<Ex<'a>>,
    phase: Option<&str>,
    active_only: bool,
) -> Result<Vec<SubStatus>> {
    let sql = concat!(
        "SELECT ",
        cols!(),
        " FROM ticket_sub_statuses WHERE ($1 IS NULL OR phase = $1) AND ($2 = FALSE OR active = TRUE) \
         ORDER BY phase, sort, code"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, SubStatus>(sql)
        .bind(phase)
        .bind(active_only)
        .fetch_all(c)
        .await)?)
}

/// Has any ticket (now) or status event (ever) used the sub-status?
pub async fn in_use<'a>(ex: impl Into<Ex<'a>>, phase: &str, code: &str) -> Result<bool> {
    // Status events carry `"sub_status":"<code>"` in their compact JSON.
    let pattern = format!("%\"sub_status\":\"{code}\"%");
    let n = on_ex!(ex.into(), |c| sqlx::query_scalar::<_, i64>(
        "SELECT (SELECT COUNT(*) FROM tickets WHERE status = $1 AND sub_status = $2) \
         + (SELECT COUNT(*) FROM ticket_events WHERE data_json LIKE $3)"
    )
    .bind(phase)
    .bind(code)
    .bind(&pattern)
    .fetch_one(c)
    .await)?;
    Ok(n > 0)
}

pub async fn delete(tx: &mut Tx, id: Uuid) -> Result<bool> {
    let n = on_tx!(tx, |c| sqlx::query(
        "DELETE FROM ticket_sub_statuses WHERE id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}
