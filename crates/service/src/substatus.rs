//! Sub-statuses inside the phases of the ticket flow, defined by administrators:
//! e.g. 挂起 · 等待客户 (the SLA clock stops) or 挂起 · 等待变更 (it keeps running). The three
//! sub-statuses of the pending phase that earlier versions had built in are seeded by the
//! migration with their pause semantics.
//!
//! A ticket moving into a phase may name any **active** sub-status of that phase; moving into
//! `pending` without one takes the first active pending sub-status. Whether the chosen one
//! stops the SLA clock is written onto the status event (`pauses_sla`), and the clock reads
//! it from there — changing the flag later does not rewrite any ticket's history. Phase and
//! code never change (tickets and events refer to them); names, the flag, order and whether
//! it is active do. A sub-status no ticket or event ever used may be deleted; others are
//! deactivated instead.

use serde::Deserialize;
use uuid::Uuid;
use yunwei_domain::ticket::Status;
use yunwei_domain::{validate, Action, DomainError, ErrorCode};
use yunwei_store::audit;
use yunwei_store::substatus::{self, SubStatus};

use crate::{snapshot, Actor, App, Result};

/// The phases that may have sub-statuses (closed and cancelled are final).
pub const PHASES: [Status; 5] = [
    Status::New,
    Status::Assigned,
    Status::InProgress,
    Status::Pending,
    Status::Resolved,
];

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubStatus {
    /// new, assigned, in_progress, pending or resolved.
    pub phase: String,
    /// Lower-case letters, digits and `_`, starting with a letter, 2–40 characters.
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// Waiting in it stops the resolution clock (only in the pending phase).
    #[serde(default)]
    pub pauses_sla: bool,
    /// Default true.
    pub active: Option<bool>,
    /// Display order within the phase (default 100).
    pub sort: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubStatusPatch {
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    /// Applies to status changes from now on; past ones keep the flag they were made with.
    pub pauses_sla: Option<bool>,
    pub active: Option<bool>,
    pub sort: Option<i64>,
}

fn check_code(code: &str) -> Result<String> {
    let c = code.trim();
    let ok = (2..=40).contains(&c.len())
        && c.starts_with(|ch: char| ch.is_ascii_lowercase())
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(c.to_string())
    } else {
        Err(DomainError::invalid("code").into())
    }
}

fn check_sort(sort: i64) -> Result<i64> {
    if (0..=1_000_000).contains(&sort) {
        Ok(sort)
    } else {
        Err(DomainError::invalid("sort").into())
    }
}

fn check_pause(phase: &str, pauses: bool) -> Result<()> {
    if pauses && phase != Status::Pending.as_str() {
        return Err(DomainError::invalid("pauses_sla").into());
    }
    Ok(())
}

impl App {
    /// Sub-statuses by phase and order; `phase` narrows to one phase, `active_only` leaves out
    /// deactivated ones. Everybody who reads tickets may read them (they label tickets).
    pub async fn list_sub_statuses(
        &self,
        actor: &Actor,
        phase: Option<&str>,
        active_only: bool,
    ) -> Result<Vec<SubStatus>> {
        actor.require(Action::TicketRead)?;
        let phase = phase.map(str::trim).filter(|p| !p.is_empty());
        if let Some(p) = phase {
            if !PHASES.iter().any(|s| s.as_str() == p) {
                return Err(DomainError::invalid("phase").into());
            }
        }
        Ok(substatus::list(&self.db, phase, active_only).await?)
    }

    pub async fn create_sub_status(&self, actor: &Actor, input: NewSubStatus) -> Result<SubStatus> {
        actor.require(Action::SubStatusWrite)?;
        let phase = PHASES
            .iter()
            .find(|s| s.as_str() == input.phase.trim())
            .ok_or_else(|| DomainError::invalid("phase"))?
            .as_str();
        let code = check_code(&input.code)?;
        let name_zh = validate::name("name_zh", &input.name_zh, 50)?;
        let name_en = validate::name("name_en", &input.name_en, 80)?;
        check_pause(phase, input.pauses_sla)?;
        let sort = check_sort(input.sort.unwrap_or(100))?;
        let now = self.now();
        let s = SubStatus {
            id: yunwei_domain::ids::new_id(),
            phase: phase.into(),
            code,
            name_zh,
            name_en,
            pauses_sla: input.pauses_sla,
            active: input.active.unwrap_or(true),
            sort,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin_write().await?;
        if substatus::get_by_code(&mut tx, &s.phase, &s.code)
            .await?
            .is_some()
        {
            return Err(DomainError::field(ErrorCode::Conflict, "code").into());
        }
        substatus::insert(&mut tx, &s).await.map_err(|e| {
            if e.is_unique_on("ticket_sub_statuses") || e.is_unique_on("code") {
                DomainError::field(ErrorCode::Conflict, "code").into()
            } else {
                crate::Error::from(e)
            }
        })?;
        let mut e = actor.entry("create", "sub_status", s.id, None);
        e.after = snapshot(&s);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(s)
    }

    pub async fn update_sub_status(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: SubStatusPatch,
    ) -> Result<SubStatus> {
        actor.require(Action::SubStatusWrite)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = substatus::get(&mut tx, id)
            .await?
            .ok_or_else(DomainError::not_found)?;
        let mut s = before.clone();
        if let Some(n) = &patch.name_zh {
            s.name_zh = validate::name("name_zh", n, 50)?;
        }
        if let Some(n) = &patch.name_en {
            s.name_en = validate::name("name_en", n, 80)?;
        }
        if let Some(p) = patch.pauses_sla {
            check_pause(&s.phase, p)?;
            s.pauses_sla = p;
        }
        if let Some(a) = patch.active {
            s.active = a;
        }
        if let Some(o) = patch.sort {
            s.sort = check_sort(o)?;
        }
        s.updated_at = now;
        substatus::update(&mut tx, &s).await?;
        let mut e = actor.entry("update", "sub_status", s.id, None);
        e.before = snapshot(&before);
        e.after = snapshot(&s);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(s)
    }

    /// Delete a sub-status no ticket or event ever used; a used one answers `conflict`
    /// (deactivate it instead).
    pub async fn delete_sub_status(&self, actor: &Actor, id: Uuid) -> Result<()> {
        actor.require(Action::SubStatusWrite)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let s = substatus::get(&mut tx, id)
            .await?
            .ok_or_else(DomainError::not_found)?;
        if substatus::in_use(&mut tx, &s.phase, &s.code).await? {
            return Err(DomainError::field(ErrorCode::Conflict, "active").into());
        }
        substatus::delete(&mut tx, id).await?;
        let mut e = actor.entry("delete", "sub_status", s.id, None);
        e.before = snapshot(&s);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(())
    }
}
