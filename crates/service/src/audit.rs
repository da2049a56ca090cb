//! Browsing and verifying the audit log.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use yunwei_domain::{Action, DomainError};
use yunwei_store::audit::{self, AuditFilter, Entry, Verified};

use crate::{Actor, App, Page, Result};

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Username of whoever acted.
    pub actor: Option<String>,
    /// organization, department, user, team, api_token, session …
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    /// create, update, login, login_failed …
    pub action: Option<String>,
    /// RFC 3339; entries at or after.
    pub since: Option<DateTime<Utc>>,
    /// RFC 3339; entries before.
    pub until: Option<DateTime<Utc>>,
    /// Sequence number to continue below (from `next_cursor`).
    pub cursor: Option<i64>,
    pub limit: Option<i64>,
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.map(|x| x.trim().to_string()).filter(|x| !x.is_empty())
}

impl App {
    pub async fn list_audit(&self, actor: &Actor, q: AuditQuery) -> Result<Page<Entry>> {
        actor.require(Action::AuditRead)?;
        let limit = crate::page_limit(q.limit)?;
        if q.cursor.is_some_and(|c| c < 1) {
            return Err(DomainError::invalid("cursor").into());
        }
        let f = AuditFilter {
            actor_name: nonempty(q.actor),
            entity: nonempty(q.entity),
            entity_id: nonempty(q.entity_id),
            action: nonempty(q.action),
            since: q.since,
            until: q.until,
            before_seq: q.cursor,
            limit: limit + 1,
        };
        let mut items = audit::list(&self.db, &f).await?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|e| e.seq.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    pub async fn verify_audit(&self, actor: &Actor) -> Result<Verified> {
        actor.require(Action::AuditRead)?;
        Ok(audit::verify(&self.db).await?)
    }
}
