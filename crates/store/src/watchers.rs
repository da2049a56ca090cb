//! Users who follow a ticket (watchers) and so hear of its changes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{on_ex, on_tx, Ex, Result, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Watcher {
    pub ticket_id: Uuid,
    pub user_id: Uuid,
    /// The user's display name.
    pub display_name: String,
    pub username: String,
    pub org_id: Uuid,
    /// Who added the watcher (the watcher themself, or an agent).
    pub added_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Add a watcher; false when already watching.
pub async fn add(
    tx: &mut Tx,
    ticket_id: Uuid,
    user_id: Uuid,
    added_by: Option<Uuid>,
    at: DateTime<Utc>,
) -> Result<bool> {
    let n = on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO ticket_watchers (ticket_id, user_id, added_by, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING"
    )
    .bind(ticket_id)
    .bind(user_id)
    .bind(added_by)
    .bind(at)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n > 0)
}

/// Remove a watcher; false when not watching.
pub async fn remove(tx: &mut Tx, ticket_id: Uuid, user_id: Uuid) -> Result<bool> {
    let n = on_tx!(tx, |c| sqlx::query(
        "DELETE FROM ticket_watchers WHERE ticket_id = $1 AND user_id = $2"
    )
    .bind(ticket_id)
    .bind(user_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// A ticket's watchers with their names, in the order they were added.
pub async fn list<'a>(ex: impl Into<Ex<'a>>, ticket_id: Uuid) -> Result<Vec<Watcher>> {
    Ok(on_ex!(ex.into(), |c| {
        sqlx::query_as::<_, Watcher>(
        "SELECT w.ticket_id, w.user_id, u.display_name, u.username, u.org_id, w.added_by, w.created_at \
         FROM ticket_watchers w JOIN users u ON u.id = w.user_id WHERE w.ticket_id = $1 \
         ORDER BY w.created_at, w.user_id"
    )
    .bind(ticket_id)
    .fetch_all(c)
    .await
    })?)
}

/// The ids of a ticket's watchers (for notifications).
pub async fn user_ids<'a>(ex: impl Into<Ex<'a>>, ticket_id: Uuid) -> Result<Vec<Uuid>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_scalar::<_, Uuid>(
        "SELECT user_id FROM ticket_watchers WHERE ticket_id = $1 ORDER BY user_id"
    )
    .bind(ticket_id)
    .fetch_all(c)
    .await)?)
}

/// Is the user watching the ticket?
pub async fn is_watching<'a>(
    ex: impl Into<Ex<'a>>,
    ticket_id: Uuid,
    user_id: Uuid,
) -> Result<bool> {
    let n = on_ex!(ex.into(), |c| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM ticket_watchers WHERE ticket_id = $1 AND user_id = $2"
    )
    .bind(ticket_id)
    .bind(user_id)
    .fetch_one(c)
    .await)?;
    Ok(n > 0)
}
