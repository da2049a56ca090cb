//! Watchers: users who follow a ticket and hear of its changes like its requester and
//! assignee do (customers only of public events of their own organization's tickets, as
//! everywhere in notifications).
//!
//! Anybody who may submit tickets may watch (and stop watching) a ticket they can see —
//! customers thus their own organization's. Staff who work tickets may add and remove other
//! watchers: provider staff, or users of the ticket's organization. Each change is audited on
//! the ticket (`watch` / `unwatch`, entity `ticket`, entity id the ticket number).

use serde::Deserialize;
use uuid::Uuid;
use yunwei_domain::{Action, DomainError, ErrorCode, Role};
use yunwei_store::watchers::{self, Watcher};
use yunwei_store::{audit, users};

use crate::{Actor, App, Result};

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchInput {
    /// Who is to watch; default the caller. Others only by staff who work tickets.
    pub user_id: Option<Uuid>,
}

impl App {
    /// A ticket's watchers.
    pub async fn list_watchers(&self, actor: &Actor, number: &str) -> Result<Vec<Watcher>> {
        let t = self.visible(None, actor, number).await?;
        Ok(watchers::list(&self.db, t.id).await?)
    }

    /// Add a watcher (the caller by default). Watching twice is no error.
    pub async fn watch_ticket(
        &self,
        actor: &Actor,
        number: &str,
        user_id: Option<Uuid>,
    ) -> Result<Vec<Watcher>> {
        actor.require(Action::TicketCreate)?;
        let target = match (user_id, actor.user_id) {
            (Some(u), _) => u,
            (None, Some(me)) => me,
            (None, None) => return Err(DomainError::invalid("user_id").into()),
        };
        let other = Some(target) != actor.user_id;
        if other {
            actor.require(Action::TicketWork)?;
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let t = self.visible(Some(&mut tx), actor, number).await?;
        if other {
            let fits = match users::get(&mut tx, target).await? {
                Some(u) if !u.disabled => {
                    u.org_id == t.org_id || Role::parse(&u.role).is_some_and(Role::is_staff)
                }
                _ => false,
            };
            if !fits {
                return Err(DomainError::field(ErrorCode::InvalidReference, "user_id").into());
            }
        }
        if watchers::add(&mut tx, t.id, target, actor.user_id, now).await? {
            let mut e = actor.entry("watch", "ticket", &t.number, Some(t.org_id));
            e.after = Some(serde_json::json!({ "watcher": target }));
            audit::append(&mut tx, e, now).await?;
        }
        let list = watchers::list(&mut tx, t.id).await?;
        tx.commit().await?;
        Ok(list)
    }

    /// Remove a watcher: oneself, or (staff who work tickets) anybody. Removing somebody who
    /// is not watching is no error.
    pub async fn unwatch_ticket(&self, actor: &Actor, number: &str, user_id: Uuid) -> Result<()> {
        actor.require(Action::TicketRead)?;
        if Some(user_id) != actor.user_id {
            actor.require(Action::TicketWork)?;
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let t = self.visible(Some(&mut tx), actor, number).await?;
        if watchers::remove(&mut tx, t.id, user_id).await? {
            let mut e = actor.entry("unwatch", "ticket", &t.number, Some(t.org_id));
            e.before = Some(serde_json::json!({ "watcher": user_id }));
            audit::append(&mut tx, e, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
