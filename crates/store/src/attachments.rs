//! Files attached to tickets, kept in the database: nodes share nothing but the database, so
//! the bytes live next to the metadata (BLOB on SQLite, BYTEA on PostgreSQL). Listing reads
//! the metadata only; the content is read when a file is downloaded.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{on_ex, on_tx, Ex, Result, Tx};

/// An attachment without its content.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Attachment {
    /// Internal id (UUIDv7); the download address is built from it, never from the file name.
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub org_id: Uuid,
    /// The timeline entry recording the upload.
    pub event_id: Option<Uuid>,
    /// Visible to provider staff only (an attachment to an internal note).
    pub internal: bool,
    /// The original name, sanitised (no path, no control characters, at most 200 characters).
    pub file_name: String,
    /// The type sniffed from the content, e.g. `image/png`.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    pub uploaded_by: Option<Uuid>,
    pub uploaded_by_name: String,
    pub created_at: DateTime<Utc>,
}

macro_rules! cols {
    () => {
        "id, ticket_id, org_id, event_id, internal, file_name, content_type, size, sha256, uploaded_by, \
         uploaded_by_name, created_at"
    };
}

pub async fn insert(tx: &mut Tx, a: &Attachment, content: &[u8]) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(concat!(
        "INSERT INTO ticket_attachments (",
        cols!(),
        ", content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(a.id)
    .bind(a.ticket_id)
    .bind(a.org_id)
    .bind(a.event_id)
    .bind(a.internal)
    .bind(&a.file_name)
    .bind(&a.content_type)
    .bind(a.size)
    .bind(&a.sha256)
    .bind(a.uploaded_by)
    .bind(&a.uploaded_by_name)
    .bind(a.created_at)
    .bind(content)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn get<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Attachment>> {
    let sql = concat!("SELECT ", cols!(), " FROM ticket_attachments WHERE id = $1");
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Attachment>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

/// The bytes of an attachment.
pub async fn content<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Vec<u8>>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_scalar::<_, Vec<u8>>(
        "SELECT content FROM ticket_attachments WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

/// A ticket's attachments, oldest first; `public_only` leaves out internal ones.
pub async fn list_for_ticket<'a>(
    ex: impl Into<Ex<'a>>,
    ticket_id: Uuid,
    public_only: bool,
) -> Result<Vec<Attachment>> {
    let sql = concat!(
        "SELECT ",
        cols!(),
        " FROM ticket_attachments WHERE ticket_id = $1 AND ($2 = FALSE OR internal = FALSE) ORDER BY id"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Attachment>(sql)
        .bind(ticket_id)
        .bind(public_only)
        .fetch_all(c)
        .await)?)
}

/// How many attachments a ticket has (all of them).
pub async fn count_for_ticket<'a>(ex: impl Into<Ex<'a>>, ticket_id: Uuid) -> Result<i64> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM ticket_attachments WHERE ticket_id = $1"
    )
    .bind(ticket_id)
    .fetch_one(c)
    .await)?)
}
