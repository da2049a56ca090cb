//! The service catalog and customers' service agreements.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::sqlite_read::{direct_row, try_direct};
use crate::{on_ex, on_tx, Ex, Result, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Item {
    pub id: Uuid,
    /// Stable code; seeded items use their clause, e.g. `6.2.3.1`.
    pub code: String,
    pub clause: Option<String>,
    /// basic, performance, value_added, new_concept or new_technology.
    pub class: String,
    pub name_zh: String,
    pub name_en: String,
    pub description: Option<String>,
    pub owner_team_id: Option<Uuid>,
    pub sla_policy_id: Option<Uuid>,
    pub active: bool,
    /// Seeded from the standard (not created by a user).
    pub seeded: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

direct_row!(Item {
    id,
    code,
    clause,
    class,
    name_zh,
    name_en,
    description,
    owner_team_id,
    sla_policy_id,
    active,
    seeded,
    created_at,
    updated_at,
});
direct_row!(Agreement {
    id,
    org_id,
    name,
    contract_no,
    starts_on,
    ends_on,
    sla_policy_id,
    notes,
    created_at,
    updated_at,
});

macro_rules! item_cols {
    () => {
        "id, code, clause, class, name_zh, name_en, description, owner_team_id, sla_policy_id, active, seeded, created_at, updated_at"
    };
}

/// Insert unless the code exists; true when inserted.
pub async fn insert_if_absent(tx: &mut Tx, i: &Item) -> Result<bool> {
    let n = on_tx!(tx, |c| {
        sqlx::query(concat!(
        "INSERT INTO catalog_items (",
        item_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (code) DO NOTHING"
    ))
    .bind(i.id)
    .bind(&i.code)
    .bind(&i.clause)
    .bind(&i.class)
    .bind(&i.name_zh)
    .bind(&i.name_en)
    .bind(&i.description)
    .bind(i.owner_team_id)
    .bind(i.sla_policy_id)
    .bind(i.active)
    .bind(i.seeded)
    .bind(i.created_at)
    .bind(i.updated_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n > 0)
}

pub async fn update(tx: &mut Tx, i: &Item) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE catalog_items SET class = $2, name_zh = $3, name_en = $4, description = $5, owner_team_id = $6, \
         sla_policy_id = $7, active = $8, updated_at = $9 WHERE id = $1"
    )
    .bind(i.id)
    .bind(&i.class)
    .bind(&i.name_zh)
    .bind(&i.name_en)
    .bind(&i.description)
    .bind(i.owner_team_id)
    .bind(i.sla_policy_id)
    .bind(i.active)
    .bind(i.updated_at)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

pub async fn get<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Item>> {
    let sql = concat!("SELECT ", item_cols!(), " FROM catalog_items WHERE id = $1");
    let ex = ex.into();
    try_direct!(one, ex, sql, [id]);
    Ok(on_ex!(ex, |c| sqlx::query_as::<_, Item>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

/// All items, by code.
pub async fn list<'a>(ex: impl Into<Ex<'a>>, active_only: bool) -> Result<Vec<Item>> {
    let sql = concat!(
        "SELECT ",
        item_cols!(),
        " FROM catalog_items WHERE ($1 = FALSE OR active = TRUE) ORDER BY code"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Item>(sql)
        .bind(active_only)
        .fetch_all(c)
        .await)?)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Agreement {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub contract_no: Option<String>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub sla_policy_id: Option<Uuid>,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! agreement_cols {
    () => {
        "id, org_id, name, contract_no, starts_on, ends_on, sla_policy_id, notes, created_at, updated_at"
    };
}

pub async fn insert_agreement(tx: &mut Tx, a: &Agreement) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(concat!(
        "INSERT INTO agreements (",
        agreement_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(a.id)
    .bind(a.org_id)
    .bind(&a.name)
    .bind(&a.contract_no)
    .bind(a.starts_on)
    .bind(a.ends_on)
    .bind(a.sla_policy_id)
    .bind(&a.notes)
    .bind(a.created_at)
    .bind(a.updated_at)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn update_agreement(tx: &mut Tx, a: &Agreement) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE agreements SET name = $2, contract_no = $3, starts_on = $4, ends_on = $5, sla_policy_id = $6, notes = $7, \
         updated_at = $8 WHERE id = $1"
    )
    .bind(a.id)
    .bind(&a.name)
    .bind(&a.contract_no)
    .bind(a.starts_on)
    .bind(a.ends_on)
    .bind(a.sla_policy_id)
    .bind(&a.notes)
    .bind(a.updated_at)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

pub async fn get_agreement<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Agreement>> {
    let sql = concat!(
        "SELECT ",
        agreement_cols!(),
        " FROM agreements WHERE id = $1"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Agreement>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

/// Agreements of one organization, or of all.
pub async fn list_agreements<'a>(
    ex: impl Into<Ex<'a>>,
    org_id: Option<Uuid>,
) -> Result<Vec<Agreement>> {
    let sql = concat!(
        "SELECT ",
        agreement_cols!(),
        " FROM agreements WHERE ($1 IS NULL OR org_id = $1) ORDER BY id"
    );
    let ex = ex.into();
    try_direct!(all, ex, sql, [org_id]);
    Ok(on_ex!(ex, |c| sqlx::query_as::<_, Agreement>(sql)
        .bind(org_id)
        .fetch_all(c)
        .await)?)
}

/// Replace the items an agreement names.
pub async fn set_agreement_items(tx: &mut Tx, agreement_id: Uuid, items: &[Uuid]) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "DELETE FROM agreement_items WHERE agreement_id = $1"
    )
    .bind(agreement_id)
    .execute(c)
    .await
    .map(|_| ()))?;
    for i in items {
        on_tx!(tx, |c| {
            sqlx::query("INSERT INTO agreement_items (agreement_id, item_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(agreement_id)
            .bind(*i)
            .execute(c)
            .await
            .map(|_| ())
        })?;
    }
    Ok(())
}

pub async fn agreement_items<'a>(ex: impl Into<Ex<'a>>, agreement_id: Uuid) -> Result<Vec<Uuid>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_scalar::<_, Uuid>(
        "SELECT item_id FROM agreement_items WHERE agreement_id = $1 ORDER BY item_id"
    )
    .bind(agreement_id)
    .fetch_all(c)
    .await)?)
}
