//! The service desk's tickets (R-7.1 … ): submit, read, list, move through the
//! flow, converse, override priority, rate satisfaction. Every change is one transaction with
//! a timeline event and an audit entry.

use chrono::{Datelike, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use yunwei_domain::ticket::{
    self, Breadth, Criticality, Kind, Party, PriorityMatrix, Status, Transition, Urgency,
};
use yunwei_domain::{validate, Action, DomainError, ErrorCode, Role};
use yunwei_store::tickets::{self, Event, Ticket, TicketFilter};
use yunwei_store::{audit, orgs, settings, substatus, teams, users, Tx};

use crate::{snapshot, Actor, App, Page, Result};

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    /// incident, request, complaint, opinion or suggestion.
    pub kind: String,
    pub subject: String,
    pub description: String,
    /// Defaults to the caller's organization (customers: always their own).
    pub org_id: Option<Uuid>,
    pub department_id: Option<Uuid>,
    /// Defaults to the caller.
    pub requester_id: Option<Uuid>,
    /// portal, phone, email, api or monitoring (customers: always portal).
    pub channel: Option<String>,
    pub category: Option<String>,
    /// general or critical.
    pub criticality: Option<String>,
    /// one_department, several_departments or whole_organization.
    pub breadth: Option<String>,
    /// high, medium or low.
    pub urgency: Option<String>,
    /// Number of the parent ticket: this one becomes its sub-task (staff only).
    pub parent: Option<String>,
    pub team_id: Option<Uuid>,
    /// Incidents: when the outage began.
    pub outage_start: Option<chrono::DateTime<Utc>>,
    /// The service catalog item the ticket is about; its SLA policy (or the organization's
    /// agreement's) applies.
    pub catalog_item_id: Option<Uuid>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionInput {
    /// triage, start, pend, resume, resolve, confirm, reject or cancel.
    pub action: String,
    /// A note on the timeline (required to reject).
    pub note: Option<String>,
    /// Required to resolve.
    pub resolution: Option<String>,
    /// Inside `pending`: what the ticket waits for.
    pub sub_status: Option<String>,
    pub category: Option<String>,
    pub criticality: Option<String>,
    pub breadth: Option<String>,
    pub urgency: Option<String>,
    pub team_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    /// Incidents: when the outage ended (on resolve).
    pub outage_end: Option<chrono::DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct TicketQuery {
    pub status: Option<String>,
    /// Only open tickets.
    pub open: Option<bool>,
    pub priority: Option<i64>,
    pub kind: Option<String>,
    #[serde(rename = "organization")]
    pub org_id: Option<Uuid>,
    pub assignee: Option<Uuid>,
    pub team: Option<Uuid>,
    /// `me`: tickets assigned to the caller.
    pub mine: Option<bool>,
    /// Words in the number, subject, description, replies (internal notes for staff) or
    /// attachment names; Chinese is segmented into words. Results are then ranked by
    /// relevance (`cursor` is an offset).
    pub q: Option<String>,
    /// `queue`: by priority (unprioritised first), then age; default newest first.
    pub sort: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// A ticket with its timeline and sub-tasks, as the caller may see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub events: Vec<Event>,
    pub children: Vec<TicketBrief>,
    /// The display name of the staff member working the ticket (shown to customers too).
    pub assignee_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketBrief {
    pub number: String,
    pub subject: String,
    pub status: String,
    pub team_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
}

fn parse_opt<T>(field: &str, v: Option<&str>, f: impl Fn(&str) -> Option<T>) -> Result<Option<T>> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => f(s)
            .map(Some)
            .ok_or_else(|| DomainError::invalid(field).into()),
    }
}

fn criticality(s: &str) -> Option<Criticality> {
    serde_json::from_value(serde_json::Value::String(s.into())).ok()
}
fn breadth(s: &str) -> Option<Breadth> {
    serde_json::from_value(serde_json::Value::String(s.into())).ok()
}
fn urgency(s: &str) -> Option<Urgency> {
    serde_json::from_value(serde_json::Value::String(s.into())).ok()
}

/// Recompute the matrix priority when all three inputs are known and no override stands.
fn apply_matrix(t: &mut Ticket, m: &PriorityMatrix) {
    if t.priority_reason.is_some() {
        return;
    }
    let (Some(c), Some(b), Some(u)) = (
        t.criticality.as_deref().and_then(criticality),
        t.breadth.as_deref().and_then(breadth),
        t.urgency.as_deref().and_then(urgency),
    ) else {
        return;
    };
    t.priority = Some(m.priority(ticket::impact(c, b), u) as i64);
}

fn event(
    t: &Ticket,
    actor: &Actor,
    kind: &str,
    public: bool,
    body: Option<String>,
    at: chrono::DateTime<Utc>,
) -> Event {
    Event {
        id: yunwei_domain::ids::new_id(),
        ticket_id: t.id,
        org_id: t.org_id,
        at,
        actor_id: actor.user_id,
        actor_name: actor.username.clone(),
        kind: kind.into(),
        public,
        body,
        data_json: None,
    }
}

impl App {
    /// The configured priority matrix (the usual one until an administrator changes it).
    pub async fn priority_matrix(&self) -> Result<PriorityMatrix> {
        Ok(match settings::get(&self.db, "priority_matrix").await? {
            Some(j) => serde_json::from_str(&j).unwrap_or_default(),
            None => PriorityMatrix::default(),
        })
    }

    pub async fn set_priority_matrix(
        &self,
        actor: &Actor,
        m: PriorityMatrix,
    ) -> Result<PriorityMatrix> {
        actor.require(Action::UserWrite)?;
        m.validate()?;
        let before = self.priority_matrix().await?;
        let mut tx = self.db.begin_write().await?;
        settings::set(
            &mut tx,
            "priority_matrix",
            &serde_json::to_string(&m).unwrap_or_default(),
        )
        .await?;
        let mut e = actor.entry("update", "priority_matrix", "priority_matrix", None);
        e.before = snapshot(&before);
        e.after = snapshot(&m);
        audit::append(&mut tx, e, self.now()).await?;
        tx.commit().await?;
        Ok(m)
    }

    pub async fn create_ticket(&self, actor: &Actor, input: NewTicket) -> Result<Ticket> {
        actor.require(Action::TicketCreate)?;
        let kind = Kind::parse(input.kind.trim()).ok_or_else(|| DomainError::invalid("kind"))?;
        let subject = validate::name("subject", &input.subject, 200)?;
        let description = validate::opt_text("description", Some(&input.description), 20_000)?
            .ok_or_else(|| DomainError::invalid("description"))?;
        let category = validate::opt_text("category", input.category.as_deref(), 100)?;
        let crit = parse_opt("criticality", input.criticality.as_deref(), criticality)?;
        let brd = parse_opt("breadth", input.breadth.as_deref(), breadth)?;
        let urg = parse_opt("urgency", input.urgency.as_deref(), urgency)?;
        let staff = actor.require(Action::TicketWork).is_ok();
        let channel = if actor.role == Role::Customer {
            "portal".to_string()
        } else {
            match input.channel.as_deref().map(str::trim) {
                None | Some("") => "api".into(),
                Some(c @ ("portal" | "phone" | "email" | "api" | "monitoring")) => c.into(),
                Some(_) => return Err(DomainError::invalid("channel").into()),
            }
        };
        let now = self.now();
        // Read and validate before the write transaction: a pooled connection taken while
        // holding the write lock can wait forever for connections that all wait for that lock,
        // and every statement under the lock lengthens the time all writers wait. What is
        // checked here stays true at the insert: organization, department, requester, team,
        // parent, catalog item and SLA policy are foreign keys of the ticket (checked again by
        // the database under the lock); a concurrent change of a requester's organization or
        // a department's is ordered after this creation, as if it had committed a moment later.
        let matrix = self.priority_matrix().await?;
        let parent = match input
            .parent
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(n) => {
                if !staff {
                    return Err(DomainError::forbidden().into());
                }
                match tickets::get_by_number(&self.db, n).await? {
                    Some(p) if actor.scope().allows(p.org_id) => Some(p),
                    _ => {
                        return Err(DomainError::field(ErrorCode::InvalidReference, "parent").into())
                    }
                }
            }
        };
        // Organization: a sub-task's is its parent's; customers' is their own.
        let org_id = match (&parent, actor.role) {
            (Some(p), _) => p.org_id,
            (None, Role::Customer) => actor.org_id,
            (None, _) => input.org_id.unwrap_or(actor.org_id),
        };
        if input.org_id.is_some_and(|o| o != org_id) && actor.role == Role::Customer {
            return Err(DomainError::field(ErrorCode::InvalidReference, "org_id").into());
        }
        orgs::get_org(&self.db, org_id)
            .await?
            .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "org_id"))?;
        let mut requester = None;
        let requester_id = match (&parent, input.requester_id) {
            (Some(p), None) => p.requester_id,
            (_, Some(r)) if staff => match users::get(&self.db, r).await? {
                Some(u) if u.org_id == org_id && !u.disabled => {
                    requester = Some(u);
                    Some(r)
                }
                _ => {
                    return Err(
                        DomainError::field(ErrorCode::InvalidReference, "requester_id").into(),
                    )
                }
            },
            (_, Some(r)) if Some(r) != actor.user_id => {
                return Err(DomainError::field(ErrorCode::InvalidReference, "requester_id").into())
            }
            _ => actor.user_id,
        };
        let mut department_id = input.department_id;
        if department_id.is_none() {
            department_id = match (requester, requester_id) {
                (Some(u), _) => u.department_id,
                (None, Some(r)) => users::get(&self.db, r).await?.and_then(|u| u.department_id),
                (None, None) => None,
            };
        }
        if let Some(d) = department_id {
            match orgs::get_department(&self.db, d).await? {
                Some(dep) if dep.org_id == org_id => {}
                _ => {
                    return Err(
                        DomainError::field(ErrorCode::InvalidReference, "department_id").into(),
                    )
                }
            }
        }
        if let Some(team) = input.team_id {
            if !staff {
                return Err(DomainError::forbidden().into());
            }
            teams::get(&self.db, team)
                .await?
                .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "team_id"))?;
        }
        // The SLA policy: the catalog item's, else the organization's current agreement's.
        let mut sla_policy_id = None;
        if let Some(item) = input.catalog_item_id {
            match yunwei_store::catalog::get(&self.db, item).await? {
                Some(i) if i.active => sla_policy_id = i.sla_policy_id,
                _ => {
                    return Err(
                        DomainError::field(ErrorCode::InvalidReference, "catalog_item_id").into(),
                    )
                }
            }
        }
        if sla_policy_id.is_none() {
            sla_policy_id = self.agreement_sla_policy(org_id, now).await?;
        }
        // The policy (or the default one) and its calendar, parsed once per version.
        let sla = crate::sla::sla_in_db(self, sla_policy_id).await?;
        let mut tx = self.db.begin_write().await?;
        let mut t = Ticket {
            id: yunwei_domain::ids::new_id(),
            // Taken at the insert (write_new_ticket).
            number: String::new(),
            kind: kind.as_str().into(),
            status: Status::New.as_str().into(),
            sub_status: None,
            subject,
            description,
            org_id,
            department_id,
            requester_id,
            created_by: actor.user_id,
            channel,
            category,
            criticality: crit.map(|c| {
                serde_json::to_value(c)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            }),
            breadth: brd.map(|b| {
                serde_json::to_value(b)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            }),
            urgency: urg.map(|u| {
                serde_json::to_value(u)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            }),
            priority: None,
            priority_reason: None,
            team_id: input.team_id,
            assignee_id: None,
            parent_id: parent.as_ref().map(|p| p.id),
            resolution: None,
            reopen_count: 0,
            first_response_at: None,
            resolved_at: None,
            closed_at: None,
            auto_confirmed: false,
            satisfaction: None,
            satisfaction_comment: None,
            rated_at: None,
            outage_start: if kind == Kind::Incident {
                input.outage_start
            } else {
                None
            },
            outage_end: None,
            created_at: now,
            updated_at: now,
            sla_policy_id,
            catalog_item_id: input.catalog_item_id,
            response_due_at: None,
            resolution_due_at: None,
            sla_warned_at: None,
            sla_breached_at: None,
        };
        apply_matrix(&mut t, &matrix);
        let created = event(&t, actor, "created", true, None, now);
        // The due times are set before the insert; without any policy yet, the defaults are
        // created inside the transaction (the first ticket of an installation).
        let sla = match sla {
            Some(s) => Some(s),
            None => crate::sla::sla_in_tx(self, &mut tx, t.sla_policy_id, now).await?,
        };
        self.write_new_ticket(&mut tx, &mut t, kind, &created, sla.as_ref(), now)
            .await?;
        if let Some(p) = &parent {
            let mut pe = event(p, actor, "subtask", false, Some(t.number.clone()), now);
            pe.data_json = Some(serde_json::json!({ "child": t.number }).to_string());
            tickets::add_event(&mut tx, &pe).await?;
        }
        let mut e = actor.entry("create", "ticket", &t.number, Some(t.org_id));
        e.after = snapshot(&t);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(t)
    }

    /// The SLA policy of the organization's agreement in force at `now`, if any.
    pub(crate) async fn agreement_sla_policy(
        &self,
        org_id: Uuid,
        now: chrono::DateTime<Utc>,
    ) -> Result<Option<Uuid>> {
        let today = now.date_naive();
        Ok(
            yunwei_store::catalog::list_agreements(&self.db, Some(org_id))
                .await?
                .into_iter()
                .filter(|a| {
                    a.starts_on.is_none_or(|s| s <= today) && a.ends_on.is_none_or(|e| e >= today)
                })
                .find_map(|a| a.sla_policy_id),
        )
    }

    /// Write a new ticket inside `tx`: its number (set on `t`), SLA due times and jobs, the row,
    /// its "created" event and the notifications of that event. The caller audits.
    pub(crate) async fn write_new_ticket(
        &self,
        tx: &mut Tx,
        t: &mut Ticket,
        kind: Kind,
        created: &Event,
        sla: Option<&crate::sla::Sla>,
        now: chrono::DateTime<Utc>,
    ) -> Result<()> {
        let jobs = match sla {
            Some(sla) => self.sla_for_new_ticket(sla, t, created),
            None => Vec::new(),
        };
        let jobs: Vec<(&str, &str, chrono::DateTime<Utc>)> = jobs
            .iter()
            .map(|(k, p, at)| (*k, p.as_str(), *at))
            .collect();
        tickets::insert_new(tx, t, kind, number_year(now), created, &jobs, now).await?;
        self.enqueue_ticket_notifications(tx, t, created).await?;
        Ok(())
    }

    /// A ticket the caller may see; another organization's answers like a missing one.
    pub(crate) async fn visible(
        &self,
        tx: Option<&mut Tx>,
        actor: &Actor,
        number: &str,
    ) -> Result<Ticket> {
        actor.require(Action::TicketRead)?;
        let t = match tx {
            Some(tx) => tickets::get_by_number(tx, number.trim()).await?,
            None => tickets::get_by_number(&self.db, number.trim()).await?,
        };
        match t {
            Some(t) if actor.scope().allows(t.org_id) => Ok(t),
            _ => Err(DomainError::not_found().into()),
        }
    }

    pub async fn get_ticket(&self, actor: &Actor, number: &str) -> Result<TicketDetail> {
        actor.require(Action::TicketRead)?;
        // One statement for the ticket, whether it has sub-tasks and its assignee's name; the
        // sub-tasks are read only when there are any.
        // Both reads on one pooled connection (one acquire and release instead of two).
        let mut c = self.db.acquire().await?;
        let v = match tickets::get_for_view(&mut c, number.trim()).await? {
            Some(v) if actor.scope().allows(v.ticket.org_id) => v,
            _ => return Err(DomainError::not_found().into()),
        };
        let t = v.ticket;
        let internal = actor.require(Action::TicketWork).is_ok() || actor.role == Role::Auditor;
        let events = tickets::events(&mut c, t.id, !internal).await?;
        let children = if v.has_children {
            tickets::children(&mut c, t.id)
                .await?
                .into_iter()
                .map(|c| TicketBrief {
                    number: c.number,
                    subject: c.subject,
                    status: c.status,
                    team_id: c.team_id,
                    assignee_id: c.assignee_id,
                })
                .collect()
        } else {
            Vec::new()
        };
        let assignee_name = t.assignee_id.and(v.assignee_name);
        Ok(TicketDetail {
            ticket: t,
            events,
            children,
            assignee_name,
        })
    }

    pub async fn list_tickets(&self, actor: &Actor, q: TicketQuery) -> Result<Page<Ticket>> {
        actor.require(Action::TicketRead)?;
        let limit = crate::page_limit(q.limit)?;
        let queue = match q.sort.as_deref() {
            None | Some("") | Some("newest") => false,
            Some("queue") => true,
            Some(_) => return Err(DomainError::invalid("sort").into()),
        };
        if let Some(s) = &q.status {
            Status::parse(s).ok_or_else(|| DomainError::invalid("status"))?;
        }
        if let Some(k) = &q.kind {
            Kind::parse(k).ok_or_else(|| DomainError::invalid("kind"))?;
        }
        if q.priority.is_some_and(|p| !(1..=4).contains(&p)) {
            return Err(DomainError::invalid("priority").into());
        }
        let org_id = match (actor.scope().org_filter(), q.org_id) {
            (Some(own), Some(asked)) if own != asked => {
                return Ok(Page {
                    items: vec![],
                    next_cursor: None,
                })
            }
            (Some(own), _) => Some(own),
            (None, asked) => asked,
        };
        // With `q` and a built index: ranked by relevance, paged by offset (crate::search).
        let ranked =
            q.q.as_deref()
                .is_some_and(|s| !s.trim().is_empty())
                .then(|| self.search_index())
                .flatten();
        let (before, offset) = match (
            queue || ranked.is_some(),
            q.cursor.as_deref().filter(|c| !c.is_empty()),
        ) {
            (_, None) => (None, 0),
            (false, Some(c)) => (
                Some(
                    c.parse::<Uuid>()
                        .map_err(|_| DomainError::invalid("cursor"))?,
                ),
                0,
            ),
            (true, Some(c)) => (
                None,
                c.parse::<i64>()
                    .ok()
                    .filter(|o| *o >= 0)
                    .ok_or_else(|| DomainError::invalid("cursor"))?,
            ),
        };
        let f = TicketFilter {
            org_id,
            status: q.status.filter(|s| !s.is_empty()),
            open_only: q.open.unwrap_or(false),
            priority: q.priority,
            assignee_id: if q.mine == Some(true) {
                actor.user_id
            } else {
                q.assignee
            },
            team_id: q.team,
            requester_id: None,
            kind: q.kind.filter(|s| !s.is_empty()),
            q: q.q.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
            queue,
            before,
            offset,
            limit: limit + 1,
        };
        if let Some(index) = ranked {
            return self.search_ticket_page(actor, index, &f, limit).await;
        }
        let mut items = tickets::list(&self.db, &f).await?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            if queue {
                Some((offset + limit).to_string())
            } else {
                items.last().map(|t| t.id.to_string())
            }
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Move a ticket through the flow of.
    pub async fn transition_ticket(
        &self,
        actor: &Actor,
        number: &str,
        input: TransitionInput,
    ) -> Result<Ticket> {
        let action = Transition::parse(input.action.trim())
            .filter(|t| *t != Transition::AutoConfirm)
            .ok_or_else(|| DomainError::invalid("action"))?;
        let note = validate::opt_text("note", input.note.as_deref(), 20_000)?;
        let now = self.now();
        let matrix = self.priority_matrix().await?;
        let mut tx = self.db.begin_write().await?;
        let before = self.visible(Some(&mut tx), actor, number).await?;
        let is_requester = actor.user_id.is_some() && actor.user_id == before.requester_id;
        let staff = actor.require(Action::TicketWork).is_ok();
        let party = if is_requester && matches!(action, Transition::Confirm | Transition::Reject) {
            Party::Requester
        } else if staff {
            Party::Staff
        } else if is_requester {
            Party::Requester
        } else {
            return Err(DomainError::forbidden().into());
        };
        let from = Status::parse(&before.status)
            .ok_or_else(|| crate::Error::Internal("bad status".into()))?;
        let to = ticket::next_status(from, action, party)?;
        let mut t = before.clone();
        t.status = to.as_str().into();
        t.sub_status = None;
        if staff && party == Party::Staff {
            if let Some(c) = validate::opt_text("category", input.category.as_deref(), 100)? {
                t.category = Some(c);
            }
            if let Some(c) = parse_opt("criticality", input.criticality.as_deref(), criticality)? {
                t.criticality = serde_json::to_value(c)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from));
            }
            if let Some(b) = parse_opt("breadth", input.breadth.as_deref(), breadth)? {
                t.breadth = serde_json::to_value(b)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from));
            }
            if let Some(u) = parse_opt("urgency", input.urgency.as_deref(), urgency)? {
                t.urgency = serde_json::to_value(u)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from));
            }
            apply_matrix(&mut t, &matrix);
            if let Some(team) = input.team_id {
                teams::get(&mut tx, team)
                    .await?
                    .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "team_id"))?;
                t.team_id = Some(team);
            }
            if let Some(a) = input.assignee_id {
                match users::get(&mut tx, a).await? {
                    Some(u)
                        if !u.disabled
                            && Role::parse(&u.role)
                                .is_some_and(|r| r.is_staff() && r != Role::Auditor) =>
                    {
                        t.assignee_id = Some(a)
                    }
                    _ => {
                        return Err(
                            DomainError::field(ErrorCode::InvalidReference, "assignee_id").into(),
                        )
                    }
                }
            }
        }
        // The sub-status: any active one of the target phase; pending defaults to the first.
        let mut pauses_sla = false;
        let chosen = match input
            .sub_status
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(code) => Some(
                substatus::get_by_code(&mut tx, to.as_str(), code)
                    .await?
                    .filter(|s| s.active)
                    .ok_or_else(|| DomainError::invalid("sub_status"))?,
            ),
            None if to == Status::Pending => substatus::list(&mut tx, Some(to.as_str()), true)
                .await?
                .into_iter()
                .next(),
            None => None,
        };
        if let Some(s) = chosen {
            pauses_sla = s.pauses_sla && to == Status::Pending;
            t.sub_status = Some(s.code);
        }
        match action {
            Transition::Triage => {
                if t.priority.is_none() {
                    return Err(DomainError::field(ErrorCode::ValidationFailed, "urgency").into());
                }
                if t.team_id.is_none() && t.assignee_id.is_none() {
                    return Err(
                        DomainError::field(ErrorCode::ValidationFailed, "assignee_id").into(),
                    );
                }
            }
            Transition::Resolve => {
                let r = validate::opt_text("resolution", input.resolution.as_deref(), 20_000)?
                    .ok_or_else(|| DomainError::invalid("resolution"))?;
                t.resolution = Some(r);
                t.resolved_at = Some(now);
                if t.kind == "incident" && t.outage_start.is_some() {
                    let end = input.outage_end.unwrap_or(now);
                    if t.outage_start.is_some_and(|s| end < s) {
                        return Err(DomainError::invalid("outage_end").into());
                    }
                    t.outage_end = Some(end);
                }
            }
            Transition::Reject => {
                if note.is_none() {
                    return Err(DomainError::invalid("note").into());
                }
                t.reopen_count += 1;
                t.resolved_at = None;
            }
            Transition::Confirm => t.closed_at = Some(now),
            _ => {}
        }
        if party == Party::Staff && t.first_response_at.is_none() && action != Transition::Cancel {
            t.first_response_at = Some(now);
        }
        t.updated_at = now;
        tickets::update(&mut tx, &t).await?;
        let body = match action {
            Transition::Resolve => t.resolution.clone(),
            _ => note,
        };
        let mut ev = event(&t, actor, action.as_str(), true, body, now);
        ev.data_json = Some(serde_json::json!({ "from": before.status, "to": t.status, "sub_status": t.sub_status, "pauses_sla": pauses_sla, "priority": t.priority, "team_id": t.team_id, "assignee_id": t.assignee_id }).to_string());
        tickets::add_event(&mut tx, &ev).await?;
        self.enqueue_ticket_notifications(&mut tx, &t, &ev).await?;
        self.refresh_sla(&mut tx, &mut t, now).await?;
        let mut e = actor.entry(action.as_str(), "ticket", &t.number, Some(t.org_id));
        e.before = snapshot(&before);
        e.after = snapshot(&t);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(t)
    }

    /// A public reply, or (staff) an internal note.
    pub async fn comment_ticket(
        &self,
        actor: &Actor,
        number: &str,
        body: &str,
        internal: bool,
    ) -> Result<Event> {
        actor.require(Action::TicketCreate)?;
        let body = validate::opt_text("body", Some(body), 20_000)?
            .ok_or_else(|| DomainError::invalid("body"))?;
        let staff = actor.require(Action::TicketWork).is_ok();
        if internal && !staff {
            return Err(DomainError::forbidden().into());
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let mut t = self.visible(Some(&mut tx), actor, number).await?;
        if !Status::parse(&t.status).is_some_and(Status::is_open) {
            return Err(DomainError::field(ErrorCode::InvalidTransition, "status").into());
        }
        let ev = event(
            &t,
            actor,
            if internal { "note" } else { "reply" },
            !internal,
            Some(body),
            now,
        );
        tickets::add_event(&mut tx, &ev).await?;
        self.enqueue_ticket_notifications(&mut tx, &t, &ev).await?;
        if staff && !internal && t.first_response_at.is_none() {
            t.first_response_at = Some(now);
        }
        t.updated_at = now;
        tickets::update(&mut tx, &t).await?;
        let mut e = actor.entry(
            if internal { "note" } else { "reply" },
            "ticket",
            &t.number,
            Some(t.org_id),
        );
        e.after = snapshot(&ev);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(ev)
    }

    /// Override the matrix priority (R-7.5.2: human judgement allowed), with a reason.
    pub async fn override_priority(
        &self,
        actor: &Actor,
        number: &str,
        priority: i64,
        reason: &str,
    ) -> Result<Ticket> {
        actor.require(Action::TicketPriorityOverride)?;
        if !(1..=4).contains(&priority) {
            return Err(DomainError::invalid("priority").into());
        }
        let reason = validate::opt_text("reason", Some(reason), 2000)?
            .ok_or_else(|| DomainError::invalid("reason"))?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = self.visible(Some(&mut tx), actor, number).await?;
        if !Status::parse(&before.status).is_some_and(Status::is_open) {
            return Err(DomainError::field(ErrorCode::InvalidTransition, "status").into());
        }
        let mut t = before.clone();
        t.priority = Some(priority);
        t.priority_reason = Some(reason.clone());
        t.updated_at = now;
        tickets::update(&mut tx, &t).await?;
        let mut ev = event(&t, actor, "priority", false, Some(reason), now);
        ev.data_json =
            Some(serde_json::json!({ "from": before.priority, "to": priority }).to_string());
        tickets::add_event(&mut tx, &ev).await?;
        self.enqueue_ticket_notifications(&mut tx, &t, &ev).await?;
        self.refresh_sla(&mut tx, &mut t, now).await?;
        let mut e = actor.entry("override_priority", "ticket", &t.number, Some(t.org_id));
        e.before = snapshot(&before);
        e.after = snapshot(&t);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(t)
    }

    /// The requester rates a closed ticket once (R-7.3f).
    pub async fn rate_ticket(
        &self,
        actor: &Actor,
        number: &str,
        score: i64,
        comment: Option<&str>,
    ) -> Result<Ticket> {
        if !(1..=5).contains(&score) {
            return Err(DomainError::invalid("score").into());
        }
        let comment = validate::opt_text("comment", comment, 5000)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = self.visible(Some(&mut tx), actor, number).await?;
        if actor.user_id.is_none() || actor.user_id != before.requester_id {
            return Err(DomainError::forbidden().into());
        }
        if before.status != Status::Closed.as_str() || before.satisfaction.is_some() {
            return Err(DomainError::field(ErrorCode::InvalidTransition, "status").into());
        }
        let mut t = before.clone();
        t.satisfaction = Some(score);
        t.satisfaction_comment = comment.clone();
        t.rated_at = Some(now);
        t.updated_at = now;
        tickets::update(&mut tx, &t).await?;
        let mut ev = event(&t, actor, "satisfaction", true, comment, now);
        ev.data_json = Some(serde_json::json!({ "score": score }).to_string());
        tickets::add_event(&mut tx, &ev).await?;
        self.enqueue_ticket_notifications(&mut tx, &t, &ev).await?;
        let mut e = actor.entry("rate", "ticket", &t.number, Some(t.org_id));
        e.after = snapshot(&t);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(t)
    }
}

/// The next number of a kind, in the year of `now` in China Standard Time (the counter row is
/// locked until `tx` ends).
/// The year of a new ticket's number: the year in China (UTC+8) at its creation.
fn number_year(now: chrono::DateTime<Utc>) -> i32 {
    now.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("offset"))
        .year()
}
