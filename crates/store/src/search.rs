//! What the full-text index is fed from: the audit log as the change feed, and the indexed
//! texts of tickets (subject, description, timeline texts, attachment names), read in id
//! ranges so a rebuild of a million tickets takes a few thousand queries.

use uuid::Uuid;

use crate::{on_ex, Ex, Result};

/// One audit entry, as much as the feed needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Change {
    pub seq: i64,
    pub entity: String,
    pub entity_id: Option<String>,
}

/// The indexed columns of a ticket.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketRow {
    pub id: Uuid,
    pub number: String,
    pub org_id: Uuid,
    pub kind: String,
    pub status: String,
    pub priority: Option<i64>,
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub subject: String,
    pub description: String,
}

/// A timeline text (reply, note, transition note …) of a ticket.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TextRow {
    pub ticket_id: Uuid,
    pub public: bool,
    pub body: String,
}

/// An attachment's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NameRow {
    pub ticket_id: Uuid,
    pub internal: bool,
    pub file_name: String,
}

macro_rules! ticket_row_cols {
    () => {
        "id, number, org_id, kind, status, priority, assignee_id, team_id, subject, description"
    };
}

/// Audit entries after `seq`, oldest first.
pub async fn changes_since<'a>(ex: impl Into<Ex<'a>>, seq: i64, limit: i64) -> Result<Vec<Change>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Change>(
        "SELECT seq, entity, entity_id FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
    )
    .bind(seq)
    .bind(limit)
    .fetch_all(c)
    .await)?)
}

/// The newest audit `seq` (0 when the log is empty).
pub async fn last_seq<'a>(ex: impl Into<Ex<'a>>) -> Result<i64> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_scalar::<_, i64>(
        "SELECT COALESCE(MAX(seq), 0) FROM audit_log"
    )
    .fetch_one(c)
    .await)?)
}

pub async fn ticket<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<TicketRow>> {
    let sql = concat!("SELECT ", ticket_row_cols!(), " FROM tickets WHERE id = $1");
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, TicketRow>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

pub async fn ticket_by_number<'a>(
    ex: impl Into<Ex<'a>>,
    number: &str,
) -> Result<Option<TicketRow>> {
    let sql = concat!(
        "SELECT ",
        ticket_row_cols!(),
        " FROM tickets WHERE number = $1"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, TicketRow>(sql)
        .bind(number)
        .fetch_optional(c)
        .await)?)
}

/// Tickets in id order after `after` (from the first with `None`).
pub async fn tickets_after<'a>(
    ex: impl Into<Ex<'a>>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<TicketRow>> {
    let sql = concat!(
        "SELECT ",
        ticket_row_cols!(),
        " FROM tickets WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, TicketRow>(sql)
        .bind(after)
        .bind(limit)
        .fetch_all(c)
        .await)?)
}

/// The timeline texts of the tickets with ids in `[first, last]`, in timeline order.
pub async fn texts<'a>(ex: impl Into<Ex<'a>>, first: Uuid, last: Uuid) -> Result<Vec<TextRow>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, TextRow>(
        "SELECT ticket_id, public, body FROM ticket_events \
         WHERE ticket_id >= $1 AND ticket_id <= $2 AND body IS NOT NULL ORDER BY ticket_id, id"
    )
    .bind(first)
    .bind(last)
    .fetch_all(c)
    .await)?)
}

/// The attachment names of the tickets with ids in `[first, last]`.
pub async fn attachment_names<'a>(
    ex: impl Into<Ex<'a>>,
    first: Uuid,
    last: Uuid,
) -> Result<Vec<NameRow>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, NameRow>(
        "SELECT ticket_id, internal, file_name FROM ticket_attachments \
         WHERE ticket_id >= $1 AND ticket_id <= $2 ORDER BY ticket_id, id"
    )
    .bind(first)
    .bind(last)
    .fetch_all(c)
    .await)?)
}
