//! Teams (support groups) of provider staff.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::sqlite_read::{self, direct_row, try_direct};
use crate::{on_ex, on_tx, Ex, Result, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Team {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert(tx: &mut Tx, t: &Team) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query("INSERT INTO teams (id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(t.id)
        .bind(&t.name)
        .bind(&t.description)
        .bind(t.created_at)
        .bind(t.updated_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

pub async fn update(tx: &mut Tx, t: &Team) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE teams SET name = $2, description = $3, updated_at = $4 WHERE id = $1"
    )
    .bind(t.id)
    .bind(&t.name)
    .bind(&t.description)
    .bind(t.updated_at)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

direct_row!(Team {
    id,
    name,
    description,
    created_at,
    updated_at
});

pub async fn get<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Team>> {
    let sql = "SELECT id, name, description, created_at, updated_at FROM teams WHERE id = $1";
    let ex = ex.into();
    try_direct!(one, ex, sql, [id]);
    Ok(on_ex!(ex, |c| sqlx::query_as::<_, Team>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

pub async fn list<'a>(ex: impl Into<Ex<'a>>) -> Result<Vec<Team>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Team>(
        "SELECT id, name, description, created_at, updated_at FROM teams ORDER BY name"
    )
    .fetch_all(c)
    .await)?)
}

pub async fn members<'a>(ex: impl Into<Ex<'a>>, team_id: Uuid) -> Result<Vec<Uuid>> {
    let sql = "SELECT user_id FROM team_members WHERE team_id = $1 ORDER BY user_id";
    let ex = ex.into();
    if let Some(d) = ex.direct()? {
        return sqlite_read::query(d.conn(), sql, &[team_id.into()], |r| {
            sqlite_read::uuid(r, 0)
        });
    }
    Ok(on_ex!(ex, |c| sqlx::query_scalar::<_, Uuid>(sql)
        .bind(team_id)
        .fetch_all(c)
        .await)?)
}

pub async fn add_member(tx: &mut Tx, team_id: Uuid, user_id: Uuid) -> Result<bool> {
    let n = on_tx!(tx, |c| sqlx::query(
        "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
    )
    .bind(team_id)
    .bind(user_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn remove_member(tx: &mut Tx, team_id: Uuid, user_id: Uuid) -> Result<bool> {
    let n = on_tx!(tx, |c| sqlx::query(
        "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2"
    )
    .bind(team_id)
    .bind(user_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}
