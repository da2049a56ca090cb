//! The agent console's storage: saved views of the ticket queue, the queue views ("my work",
//! "my team's", "unassigned", all open) and the change feed the live updates tail (the audit
//! log, whose `seq` is a commit-ordered sequence).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::tickets::Ticket;
use crate::{on_ex, on_tx, Ex, Result, Tx};

/// A named filter set of the ticket queue.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SavedView {
    pub id: Uuid,
    /// The owner (only the owner may delete it).
    pub user_id: Uuid,
    /// Shared with the members of this team; private when absent.
    pub team_id: Option<Uuid>,
    pub name: String,
    /// The filters as JSON (the service's `ViewFilters`).
    pub filters: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! view_cols {
    () => {
        "id, user_id, team_id, name, filters, created_at, updated_at"
    };
}

pub async fn insert(tx: &mut Tx, v: &SavedView) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(concat!(
        "INSERT INTO saved_views (",
        view_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(v.id)
    .bind(v.user_id)
    .bind(v.team_id)
    .bind(&v.name)
    .bind(&v.filters)
    .bind(v.created_at)
    .bind(v.updated_at)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn get<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<SavedView>> {
    let sql = concat!("SELECT ", view_cols!(), " FROM saved_views WHERE id = $1");
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, SavedView>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

pub async fn delete(tx: &mut Tx, id: Uuid) -> Result<bool> {
    let n = on_tx!(tx, |c| sqlx::query("DELETE FROM saved_views WHERE id = $1")
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// The user's own views and those shared with a team the user belongs to, by name.
pub async fn list_for<'a>(ex: impl Into<Ex<'a>>, user_id: Uuid) -> Result<Vec<SavedView>> {
    let sql = concat!(
        "SELECT ",
        view_cols!(),
        " FROM saved_views WHERE user_id = $1 \
         OR team_id IN (SELECT team_id FROM team_members WHERE user_id = $1) ORDER BY name, id"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, SavedView>(sql)
        .bind(user_id)
        .fetch_all(c)
        .await)?)
}

/// How many views the user owns.
pub async fn count_own<'a>(ex: impl Into<Ex<'a>>, user_id: Uuid) -> Result<i64> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM saved_views WHERE user_id = $1"
    )
    .bind(user_id)
    .fetch_one(c)
    .await)?)
}

/// The teams a user belongs to.
pub async fn teams_of<'a>(ex: impl Into<Ex<'a>>, user_id: Uuid) -> Result<Vec<Uuid>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_scalar::<_, Uuid>(
        "SELECT team_id FROM team_members WHERE user_id = $1 ORDER BY team_id"
    )
    .bind(user_id)
    .fetch_all(c)
    .await)?)
}

/// Filters of a queue view. Only open tickets are in a queue.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    /// The caller's organization (customers).
    pub org_id: Option<Uuid>,
    /// Assigned to this user ("my work", or an explicit assignee).
    pub assignee_id: Option<Uuid>,
    /// Of a team this user belongs to ("my team's").
    pub member_of: Option<Uuid>,
    /// Nobody assigned.
    pub unassigned: bool,
    pub status: Option<String>,
    pub priority: Option<i64>,
    pub kind: Option<String>,
    pub team_id: Option<Uuid>,
    pub offset: i64,
    pub limit: i64,
}

/// Open tickets by priority (not yet prioritised first), then by the SLA deadline that runs
/// (the response deadline until the first response, then the resolution deadline; paused
/// clocks last), then age.
pub async fn queue<'a>(ex: impl Into<Ex<'a>>, f: &QueueFilter) -> Result<Vec<Ticket>> {
    let sql = "SELECT * FROM tickets WHERE status NOT IN ('closed', 'cancelled') \
         AND ($1 IS NULL OR org_id = $1) AND ($2 IS NULL OR assignee_id = $2) \
         AND ($3 IS NULL OR team_id IN (SELECT team_id FROM team_members WHERE user_id = $3)) \
         AND ($4 = FALSE OR assignee_id IS NULL) AND ($5 IS NULL OR status = $5) \
         AND ($6 IS NULL OR priority = $6) AND ($7 IS NULL OR kind = $7) AND ($8 IS NULL OR team_id = $8) \
         ORDER BY priority ASC NULLS FIRST, \
         (CASE WHEN first_response_at IS NULL THEN response_due_at ELSE resolution_due_at END) ASC NULLS LAST, \
         id ASC LIMIT $9 OFFSET $10";
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Ticket>(sql)
        .bind(f.org_id)
        .bind(f.assignee_id)
        .bind(f.member_of)
        .bind(f.unassigned)
        .bind(&f.status)
        .bind(f.priority)
        .bind(&f.kind)
        .bind(f.team_id)
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(c)
        .await)?)
}

/// One audit entry as the change feed needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeedRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    pub org_id: Option<Uuid>,
    /// The record after the change, for ticket entries only.
    pub after_json: Option<String>,
}

/// Audit entries after `after_seq`, oldest first.
pub async fn feed_since<'a>(
    ex: impl Into<Ex<'a>>,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<FeedRow>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, FeedRow>(
        "SELECT seq, at, action, entity, entity_id, org_id, \
         CASE WHEN entity = 'ticket' THEN after_json ELSE NULL END AS after_json \
         FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
    )
    .bind(after_seq)
    .bind(limit)
    .fetch_all(c)
    .await)?)
}

/// The last audit sequence number committed (0 when the log is empty).
pub async fn last_seq<'a>(ex: impl Into<Ex<'a>>) -> Result<i64> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_scalar::<_, i64>(
        "SELECT COALESCE(MAX(seq), 0) FROM audit_log"
    )
    .fetch_one(c)
    .await)?)
}
