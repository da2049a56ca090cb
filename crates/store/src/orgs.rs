//! Organizations (the provider and its customers) and their departments.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::sqlite_read::{direct_row, try_direct};
use crate::{on_ex, on_tx, Ex, Result, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    /// `provider` (exactly one: the O&M provider itself) or `customer`.
    pub kind: String,
    pub code: Option<String>,
    pub contact: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Department {
    pub id: Uuid,
    pub org_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

direct_row!(Organization {
    id,
    name,
    kind,
    code,
    contact,
    disabled,
    created_at,
    updated_at
});
direct_row!(Department {
    id,
    org_id,
    parent_id,
    name,
    created_at,
    updated_at
});

macro_rules! org_cols {
    () => {
        "id, name, kind, code, contact, disabled, created_at, updated_at"
    };
}

pub async fn insert_org(tx: &mut Tx, o: &Organization) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO organizations (id, name, kind, code, contact, disabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(o.id)
    .bind(&o.name)
    .bind(&o.kind)
    .bind(&o.code)
    .bind(&o.contact)
    .bind(o.disabled)
    .bind(o.created_at)
    .bind(o.updated_at)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

pub async fn update_org(tx: &mut Tx, o: &Organization) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE organizations SET name = $2, code = $3, contact = $4, disabled = $5, updated_at = $6 WHERE id = $1"
    )
    .bind(o.id)
    .bind(&o.name)
    .bind(&o.code)
    .bind(&o.contact)
    .bind(o.disabled)
    .bind(o.updated_at)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

pub async fn get_org<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Organization>> {
    let sql = concat!("SELECT ", org_cols!(), " FROM organizations WHERE id = $1");
    let ex = ex.into();
    try_direct!(one, ex, sql, [id]);
    Ok(on_ex!(ex, |c| sqlx::query_as::<_, Organization>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

pub async fn provider_org<'a>(ex: impl Into<Ex<'a>>) -> Result<Option<Organization>> {
    let sql = concat!(
        "SELECT ",
        org_cols!(),
        " FROM organizations WHERE kind = 'provider'"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Organization>(
        sql
    )
    .fetch_optional(c)
    .await)?)
}

/// All organizations, or only `only` when given; provider first, then by name.
pub async fn list_orgs<'a>(ex: impl Into<Ex<'a>>, only: Option<Uuid>) -> Result<Vec<Organization>> {
    let sql = concat!(
        "SELECT ",
        org_cols!(),
        " FROM organizations WHERE ($1 IS NULL OR id = $1) \
         ORDER BY CASE WHEN kind = 'provider' THEN 0 ELSE 1 END, name"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Organization>(
        sql
    )
    .bind(only)
    .fetch_all(c)
    .await)?)
}

macro_rules! dept_cols {
    () => {
        "id, org_id, parent_id, name, created_at, updated_at"
    };
}

pub async fn insert_department(tx: &mut Tx, d: &Department) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO departments (id, org_id, parent_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(d.id)
    .bind(d.org_id)
    .bind(d.parent_id)
    .bind(&d.name)
    .bind(d.created_at)
    .bind(d.updated_at)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

pub async fn update_department(tx: &mut Tx, d: &Department) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE departments SET name = $2, parent_id = $3, updated_at = $4 WHERE id = $1"
    )
    .bind(d.id)
    .bind(&d.name)
    .bind(d.parent_id)
    .bind(d.updated_at)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn get_department<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Department>> {
    let sql = concat!("SELECT ", dept_cols!(), " FROM departments WHERE id = $1");
    let ex = ex.into();
    try_direct!(one, ex, sql, [id]);
    Ok(on_ex!(ex, |c| sqlx::query_as::<_, Department>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

pub async fn list_departments<'a>(ex: impl Into<Ex<'a>>, org_id: Uuid) -> Result<Vec<Department>> {
    let sql = concat!(
        "SELECT ",
        dept_cols!(),
        " FROM departments WHERE org_id = $1 ORDER BY name"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Department>(sql)
        .bind(org_id)
        .fetch_all(c)
        .await)?)
}
