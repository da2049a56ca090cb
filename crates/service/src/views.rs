//! The agent console: saved views of the ticket queue, the queue views, bulk actions, and the
//! live change feed behind the Server-Sent Events endpoint.
//!
//! * A **saved view** is a named filter set (status, priority, kind, organization, team,
//!   assignee, text, sort, queue view). It is private to its owner or shared with one of the
//!   owner's teams; the owner alone deletes it.
//! * **Queue views**: `mine` (assigned to me), `team` (of a team I belong to), `unassigned`
//!   and `open` (all open tickets), ordered by priority, then the running SLA deadline.
//! * **Bulk actions** run each ticket through the normal use case ([`App::assign_ticket`],
//!   [`App::transition_ticket`], [`App::override_priority`]), each in its own transaction with
//!   its own authorization and flow checks; the answer reports every ticket's outcome.
//! * **Live updates**: nodes share nothing but the database, so the feed is the audit log,
//!   whose `seq` is commit-ordered (every append takes the `audit_head` row lock). Each node
//!   runs one poller ([`EventHub`]) while somebody listens: it reads `seq > last` about every
//!   second and fans ticket changes out over a broadcast channel; each [`Subscription`] filters
//!   them by its caller's authorization and can resume after a given sequence number
//!   (`Last-Event-ID`), replaying from the database.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;
use yunwei_domain::ticket::{Kind, Status, Transition};
use yunwei_domain::{validate, Action, DomainError, ErrorCode, Role};
use yunwei_store::tickets::{self, Event, Ticket};
use yunwei_store::views::{self as store, FeedRow, QueueFilter, SavedView};
use yunwei_store::{audit, teams, users};

use crate::tickets::TransitionInput;
use crate::{snapshot, Actor, App, Error, Page, Result};

/// At most this many saved views per user.
pub const MAX_VIEWS_PER_USER: i64 = 100;
/// At most this many tickets in one bulk action.
pub const MAX_BULK: usize = 100;
/// The queue views.
pub const QUEUE_VIEWS: &[&str] = &["mine", "team", "unassigned", "open"];
/// What customers hear of on the live feed (never internal notes, priority overrides or SLA
/// alerts).
const PUBLIC_ACTIONS: &[&str] = &[
    "create",
    "triage",
    "assign",
    "start",
    "pend",
    "resume",
    "resolve",
    "confirm",
    "reject",
    "auto_confirm",
    "cancel",
    "reply",
    "rate",
];

// ---------------------------------------------------------------------------------------------
// Saved views
// ---------------------------------------------------------------------------------------------

/// A queue filter set. Every field is optional; absent means "any".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewFilters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<Uuid>,
    /// Text searched in the number, subject and description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// `newest` (default) or `queue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    /// Only open tickets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<bool>,
    /// Only tickets assigned to the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mine: Option<bool>,
    /// A queue view: mine, team, unassigned or open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
}

fn blank(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl ViewFilters {
    /// Trimmed and checked.
    pub fn validated(self) -> Result<ViewFilters> {
        let status = blank(self.status);
        if let Some(s) = &status {
            Status::parse(s).ok_or_else(|| DomainError::invalid("filters.status"))?;
        }
        let kind = blank(self.kind);
        if let Some(k) = &kind {
            Kind::parse(k).ok_or_else(|| DomainError::invalid("filters.kind"))?;
        }
        if self.priority.is_some_and(|p| !(1..=4).contains(&p)) {
            return Err(DomainError::invalid("filters.priority").into());
        }
        let sort = blank(self.sort);
        if sort
            .as_deref()
            .is_some_and(|s| !matches!(s, "newest" | "queue"))
        {
            return Err(DomainError::invalid("filters.sort").into());
        }
        let view = blank(self.view);
        if view.as_deref().is_some_and(|v| !QUEUE_VIEWS.contains(&v)) {
            return Err(DomainError::invalid("filters.view").into());
        }
        let q = validate::opt_text("filters.q", self.q.as_deref(), 200)?;
        Ok(ViewFilters {
            status,
            priority: self.priority,
            kind,
            org_id: self.org_id,
            team_id: self.team_id,
            assignee_id: self.assignee_id,
            q,
            sort,
            open: self.open.filter(|o| *o),
            mine: self.mine.filter(|m| *m),
            view,
        })
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSavedView {
    pub name: String,
    pub filters: ViewFilters,
    /// Share with this team (the caller must belong to it); private when absent.
    pub team_id: Option<Uuid>,
}

/// A saved view as its viewer sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SavedViewInfo {
    pub id: Uuid,
    pub name: String,
    pub filters: ViewFilters,
    /// Shared with this team; private when absent.
    pub team_id: Option<Uuid>,
    pub owner_id: Uuid,
    /// The caller owns it (and may delete it).
    pub own: bool,
    pub created_at: DateTime<Utc>,
}

fn info(v: &SavedView, me: Uuid) -> SavedViewInfo {
    SavedViewInfo {
        id: v.id,
        name: v.name.clone(),
        filters: serde_json::from_str(&v.filters).unwrap_or_default(),
        team_id: v.team_id,
        owner_id: v.user_id,
        own: v.user_id == me,
        created_at: v.created_at,
    }
}

fn own(actor: &Actor) -> Result<Uuid> {
    actor.user_id.ok_or_else(|| DomainError::forbidden().into())
}

// ---------------------------------------------------------------------------------------------
// Queue views and bulk actions
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct QueueQuery {
    /// mine (assigned to me), team (of my teams), unassigned, or open (all open tickets).
    pub view: String,
    pub status: Option<String>,
    pub priority: Option<i64>,
    pub kind: Option<String>,
    #[serde(rename = "organization")]
    pub org_id: Option<Uuid>,
    pub team: Option<Uuid>,
    pub assignee: Option<Uuid>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// One action on many tickets.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkInput {
    /// Ticket numbers, 1 … 100.
    pub numbers: Vec<String>,
    /// `assign` (to `team_id` and/or `assignee_id`; new tickets are triaged), `transition`
    /// (the flow step in `transition`) or `priority` (override to `priority` with `reason`).
    pub action: String,
    pub team_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    /// triage, start, pend, resume, resolve or cancel.
    pub transition: Option<String>,
    pub note: Option<String>,
    /// Required to resolve.
    pub resolution: Option<String>,
    pub sub_status: Option<String>,
    pub priority: Option<i64>,
    pub reason: Option<String>,
}

/// One ticket's outcome of a bulk action.
#[derive(Debug)]
pub struct BulkItem {
    pub number: String,
    pub result: Result<Ticket>,
}

// ---------------------------------------------------------------------------------------------
// The live feed
// ---------------------------------------------------------------------------------------------

/// A change to a ticket, as the live feed carries it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketChange {
    /// The audit sequence number (the event id; send it back as `Last-Event-ID` to resume).
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub number: String,
    /// What happened: create, triage, assign, start, pend, resume, resolve, confirm, reject,
    /// auto_confirm, cancel, reply, note, override_priority, rate, sla_warning, sla_breach …
    pub action: String,
    #[serde(skip)]
    pub org_id: Uuid,
    /// The ticket's status after the change, when the change recorded it.
    pub status: Option<String>,
    pub priority: Option<i64>,
}

fn change_of(r: &FeedRow) -> Option<TicketChange> {
    if r.entity != "ticket" {
        return None;
    }
    let number = r.entity_id.clone()?;
    let org_id = r.org_id?;
    let after: Option<serde_json::Value> = r
        .after_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok());
    // Only ticket snapshots (they carry the number) tell the status; event snapshots do not.
    let snap = after.filter(|v| v.get("number").and_then(|n| n.as_str()) == Some(&number));
    Some(TicketChange {
        seq: r.seq,
        at: r.at,
        number,
        action: r.action.clone(),
        org_id,
        status: snap
            .as_ref()
            .and_then(|v| v.get("status")?.as_str().map(String::from)),
        priority: snap.as_ref().and_then(|v| v.get("priority")?.as_i64()),
    })
}

/// May this caller see this change?
pub fn may_see(actor: &Actor, c: &TicketChange) -> bool {
    if actor.require(Action::TicketRead).is_err() || !actor.scope().allows(c.org_id) {
        return false;
    }
    let internal = actor.require(Action::TicketWork).is_ok() || actor.role == Role::Auditor;
    internal || PUBLIC_ACTIONS.contains(&c.action.as_str())
}

/// Rows read per query of the feed.
const FEED_BATCH: i64 = 500;
/// At most this many audit entries are replayed for one resuming subscriber.
const MAX_REPLAY: i64 = 5_000;
/// How often a subscription re-checks that its user may still listen.
const RECHECK: Duration = Duration::from_secs(30);

/// One node's poller of the change feed and its fan-out to subscribers.
pub struct EventHub {
    app: App,
    tx: broadcast::Sender<Arc<TicketChange>>,
    running: Mutex<bool>,
    interval: Duration,
}

impl EventHub {
    /// A hub polling about every `interval` while somebody listens.
    pub fn new(app: App, interval: Duration) -> Arc<EventHub> {
        let (tx, _) = broadcast::channel(1024);
        Arc::new(EventHub {
            app,
            tx,
            running: Mutex::new(false),
            interval,
        })
    }

    /// Is the poller running (somebody listens)?
    pub fn is_running(&self) -> bool {
        *self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Listen as `actor`, after audit sequence `after` (the `Last-Event-ID`), or from now.
    pub async fn subscribe(
        self: &Arc<Self>,
        actor: &Actor,
        after: Option<i64>,
    ) -> Result<Subscription> {
        actor.require(Action::TicketRead)?;
        // Where the log stands, read before subscribing: a poller started now begins there,
        // and this subscriber replays from there (or from `after`) after subscribing, so
        // nothing committed in between is missed (duplicates are skipped by sequence).
        let now = store::last_seq(&self.app.db).await?;
        let rx = {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            let rx = self.tx.subscribe();
            if !*running {
                *running = true;
                let hub = Arc::clone(self);
                tokio::spawn(async move { hub.run(now).await });
            }
            rx
        };
        let last = match after {
            Some(a) if (0..=now).contains(&a) => a,
            _ => now,
        };
        let mut s = Subscription {
            app: self.app.clone(),
            actor: actor.clone(),
            rx,
            last,
            pending: VecDeque::new(),
            checked: tokio::time::Instant::now(),
        };
        s.replay().await?;
        Ok(s)
    }

    async fn run(self: Arc<Self>, start: i64) {
        let mut last = start;
        loop {
            tokio::time::sleep(self.interval).await;
            {
                let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
                if self.tx.receiver_count() == 0 {
                    *running = false;
                    return;
                }
            }
            // Drain what is there (in batches), then wait for the next round.
            loop {
                match store::feed_since(&self.app.db, last, FEED_BATCH).await {
                    Ok(rows) => {
                        for r in &rows {
                            last = r.seq;
                            if let Some(c) = change_of(r) {
                                let _ = self.tx.send(Arc::new(c));
                            }
                        }
                        if (rows.len() as i64) < FEED_BATCH {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!("live feed: {e}");
                        break;
                    }
                }
            }
        }
    }
}

/// One listener: the changes its caller may see, in order, each once.
pub struct Subscription {
    app: App,
    actor: Actor,
    rx: broadcast::Receiver<Arc<TicketChange>>,
    last: i64,
    pending: VecDeque<TicketChange>,
    checked: tokio::time::Instant,
}

impl Subscription {
    /// The last sequence number delivered or skipped.
    pub fn position(&self) -> i64 {
        self.last
    }

    /// Read what was committed after `last` from the database (resume, or after lagging).
    async fn replay(&mut self) -> Result<()> {
        let mut from = self.last;
        let mut read = 0;
        loop {
            let rows = store::feed_since(&self.app.db, from, FEED_BATCH).await?;
            let n = rows.len() as i64;
            for r in &rows {
                from = r.seq;
                if let Some(c) = change_of(r) {
                    self.pending.push_back(c);
                }
            }
            read += n;
            if n < FEED_BATCH || read >= MAX_REPLAY {
                break;
            }
        }
        Ok(())
    }

    /// Is the user still active, with the same role and organization?
    async fn still_allowed(&self) -> bool {
        let Some(uid) = self.actor.user_id else {
            return true;
        };
        match users::get(&self.app.db, uid).await {
            Ok(Some(u)) => {
                !u.disabled && u.role == self.actor.role.as_str() && u.org_id == self.actor.org_id
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!("live feed: {e}");
                true
            }
        }
    }

    /// The next change the caller may see; `None` when the subscription ends (the user was
    /// disabled or changed role, or the node shuts the feed down).
    pub async fn next(&mut self) -> Option<TicketChange> {
        loop {
            while let Some(c) = self.pending.pop_front() {
                if c.seq <= self.last {
                    continue;
                }
                self.last = c.seq;
                if may_see(&self.actor, &c) {
                    return Some(c);
                }
            }
            if self.checked.elapsed() >= RECHECK {
                if !self.still_allowed().await {
                    return None;
                }
                self.checked = tokio::time::Instant::now();
            }
            let wait = RECHECK.saturating_sub(self.checked.elapsed());
            tokio::select! {
                r = self.rx.recv() => match r {
                    Ok(c) => self.pending.push_back((*c).clone()),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Err(e) = self.replay().await {
                            tracing::warn!("live feed: {e}");
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Use cases
// ---------------------------------------------------------------------------------------------

fn name_taken(e: yunwei_store::StoreError) -> Error {
    if matches!(e, yunwei_store::StoreError::Unique(_)) {
        DomainError::field(ErrorCode::NameTaken, "name").into()
    } else {
        e.into()
    }
}

impl App {
    /// The teams the caller belongs to (views may be shared with them).
    pub async fn my_teams(&self, actor: &Actor) -> Result<Vec<Uuid>> {
        match actor.user_id {
            Some(me) => Ok(store::teams_of(&self.db, me).await?),
            None => Ok(Vec::new()),
        }
    }

    /// The caller's saved views and those shared with the caller's teams, by name.
    pub async fn list_saved_views(&self, actor: &Actor) -> Result<Vec<SavedViewInfo>> {
        actor.require(Action::TicketRead)?;
        let me = own(actor)?;
        Ok(store::list_for(&self.db, me)
            .await?
            .iter()
            .map(|v| info(v, me))
            .collect())
    }

    /// Save a filter set under a name, private or shared with one of the caller's teams.
    pub async fn create_saved_view(
        &self,
        actor: &Actor,
        input: NewSavedView,
    ) -> Result<SavedViewInfo> {
        actor.require(Action::TicketRead)?;
        let me = own(actor)?;
        let name = validate::name("name", &input.name, 100)?;
        let filters = input.filters.validated()?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        if let Some(team) = input.team_id {
            let mine = store::teams_of(&mut tx, me).await?;
            if !mine.contains(&team) || teams::get(&mut tx, team).await?.is_none() {
                return Err(DomainError::field(ErrorCode::InvalidReference, "team_id").into());
            }
        }
        if store::count_own(&mut tx, me).await? >= MAX_VIEWS_PER_USER {
            return Err(DomainError::invalid("name").into());
        }
        let v = SavedView {
            id: yunwei_domain::ids::new_id(),
            user_id: me,
            team_id: input.team_id,
            name,
            filters: serde_json::to_string(&filters).map_err(|e| Error::Internal(e.to_string()))?,
            created_at: now,
            updated_at: now,
        };
        store::insert(&mut tx, &v).await.map_err(name_taken)?;
        let out = info(&v, me);
        let mut e = actor.entry("create", "saved_view", v.id, Some(actor.org_id));
        e.after = snapshot(&out);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Delete one of the caller's own views (a teammate's shared view is refused; a view the
    /// caller cannot see answers like a missing one).
    pub async fn delete_saved_view(&self, actor: &Actor, id: Uuid) -> Result<()> {
        actor.require(Action::TicketRead)?;
        let me = own(actor)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let v = store::get(&mut tx, id)
            .await?
            .ok_or_else(DomainError::not_found)?;
        if v.user_id != me {
            let shared = match v.team_id {
                Some(t) => store::teams_of(&mut tx, me).await?.contains(&t),
                None => false,
            };
            return Err(if shared {
                DomainError::forbidden().into()
            } else {
                DomainError::not_found().into()
            });
        }
        store::delete(&mut tx, id).await?;
        let mut e = actor.entry("delete", "saved_view", id, Some(actor.org_id));
        e.before = snapshot(&info(&v, me));
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A queue view: open tickets by priority, then the running SLA deadline.
    pub async fn queue_tickets(&self, actor: &Actor, q: QueueQuery) -> Result<Page<Ticket>> {
        actor.require(Action::TicketRead)?;
        let limit = crate::page_limit(q.limit)?;
        let view = q.view.trim();
        if !QUEUE_VIEWS.contains(&view) {
            return Err(DomainError::invalid("view").into());
        }
        let status = blank(q.status);
        if let Some(s) = &status {
            Status::parse(s).ok_or_else(|| DomainError::invalid("status"))?;
        }
        let kind = blank(q.kind);
        if let Some(k) = &kind {
            Kind::parse(k).ok_or_else(|| DomainError::invalid("kind"))?;
        }
        if q.priority.is_some_and(|p| !(1..=4).contains(&p)) {
            return Err(DomainError::invalid("priority").into());
        }
        let offset = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => 0,
            Some(c) => c
                .parse::<i64>()
                .ok()
                .filter(|o| *o >= 0)
                .ok_or_else(|| DomainError::invalid("cursor"))?,
        };
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
        let me = match view {
            "mine" | "team" => Some(own(actor)?),
            _ => None,
        };
        let f = QueueFilter {
            org_id,
            assignee_id: if view == "mine" { me } else { q.assignee },
            member_of: if view == "team" { me } else { None },
            unassigned: view == "unassigned",
            status,
            priority: q.priority,
            kind,
            team_id: q.team,
            offset,
            limit: limit + 1,
        };
        let mut items = store::queue(&self.db, &f).await?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            Some((offset + limit).to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Give an open ticket to a team and/or a person. A new ticket is triaged (it needs its
    /// priority); otherwise the assignment changes in place, with a timeline entry.
    pub async fn assign_ticket(
        &self,
        actor: &Actor,
        number: &str,
        team_id: Option<Uuid>,
        assignee_id: Option<Uuid>,
        note: Option<&str>,
    ) -> Result<Ticket> {
        actor.require(Action::TicketWork)?;
        if team_id.is_none() && assignee_id.is_none() {
            return Err(DomainError::invalid("assignee_id").into());
        }
        let note = validate::opt_text("note", note, 20_000)?;
        let number = number.trim();
        let current = tickets::get_by_number(&self.db, number)
            .await?
            .filter(|t| actor.scope().allows(t.org_id))
            .ok_or_else(DomainError::not_found)?;
        if current.status == Status::New.as_str() {
            return self
                .transition_ticket(
                    actor,
                    number,
                    TransitionInput {
                        action: "triage".into(),
                        note,
                        team_id,
                        assignee_id,
                        ..Default::default()
                    },
                )
                .await;
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = tickets::get_by_number(&mut tx, number)
            .await?
            .filter(|t| actor.scope().allows(t.org_id))
            .ok_or_else(DomainError::not_found)?;
        if !Status::parse(&before.status).is_some_and(Status::is_open) {
            return Err(DomainError::field(ErrorCode::InvalidTransition, "status").into());
        }
        let mut t = before.clone();
        if let Some(team) = team_id {
            teams::get(&mut tx, team)
                .await?
                .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "team_id"))?;
            t.team_id = Some(team);
        }
        if let Some(a) = assignee_id {
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
        t.updated_at = now;
        tickets::update(&mut tx, &t).await?;
        let ev = Event {
            id: yunwei_domain::ids::new_id(),
            ticket_id: t.id,
            org_id: t.org_id,
            at: now,
            actor_id: actor.user_id,
            actor_name: actor.username.clone(),
            kind: "assign".into(),
            public: true,
            body: note,
            data_json: Some(
                serde_json::json!({
                    "from": { "team_id": before.team_id, "assignee_id": before.assignee_id },
                    "to": { "team_id": t.team_id, "assignee_id": t.assignee_id },
                })
                .to_string(),
            ),
        };
        tickets::add_event(&mut tx, &ev).await?;
        self.enqueue_ticket_notifications(&mut tx, &t, &ev).await?;
        let mut e = actor.entry("assign", "ticket", &t.number, Some(t.org_id));
        e.before = snapshot(&before);
        e.after = snapshot(&t);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(t)
    }

    /// One action on many tickets, each through its normal use case and checks. The input as a
    /// whole is checked first; then every ticket answers for itself.
    pub async fn bulk_tickets(&self, actor: &Actor, input: BulkInput) -> Result<Vec<BulkItem>> {
        actor.require(Action::TicketRead)?;
        let mut numbers: Vec<String> = Vec::new();
        for n in &input.numbers {
            let n = n.trim().to_string();
            if !n.is_empty() && !numbers.contains(&n) {
                numbers.push(n);
            }
        }
        if numbers.is_empty() || numbers.len() > MAX_BULK {
            return Err(DomainError::invalid("numbers").into());
        }
        let action = input.action.trim();
        match action {
            "assign" => {
                if input.team_id.is_none() && input.assignee_id.is_none() {
                    return Err(DomainError::invalid("assignee_id").into());
                }
            }
            "transition" => {
                let t = input
                    .transition
                    .as_deref()
                    .map(str::trim)
                    .and_then(Transition::parse)
                    .ok_or_else(|| DomainError::invalid("transition"))?;
                if matches!(
                    t,
                    Transition::AutoConfirm | Transition::Confirm | Transition::Reject
                ) {
                    return Err(DomainError::invalid("transition").into());
                }
            }
            "priority" => {
                if !input.priority.is_some_and(|p| (1..=4).contains(&p)) {
                    return Err(DomainError::invalid("priority").into());
                }
                validate::opt_text("reason", input.reason.as_deref(), 2000)?
                    .ok_or_else(|| DomainError::invalid("reason"))?;
            }
            _ => return Err(DomainError::invalid("action").into()),
        }
        let mut out = Vec::with_capacity(numbers.len());
        for n in numbers {
            let result = match action {
                "assign" => {
                    self.assign_ticket(
                        actor,
                        &n,
                        input.team_id,
                        input.assignee_id,
                        input.note.as_deref(),
                    )
                    .await
                }
                "transition" => {
                    self.transition_ticket(
                        actor,
                        &n,
                        TransitionInput {
                            action: input.transition.clone().unwrap_or_default(),
                            note: input.note.clone(),
                            resolution: input.resolution.clone(),
                            sub_status: input.sub_status.clone(),
                            ..Default::default()
                        },
                    )
                    .await
                }
                _ => {
                    self.override_priority(
                        actor,
                        &n,
                        input.priority.unwrap_or(0),
                        input.reason.as_deref().unwrap_or(""),
                    )
                    .await
                }
            };
            if let Err(e) = &result {
                if e.code() == ErrorCode::InternalError {
                    tracing::error!("bulk {action} on {n}: {e}");
                }
            }
            out.push(BulkItem { number: n, result });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(action: &str, after: Option<&str>) -> FeedRow {
        FeedRow {
            seq: 7,
            at: Utc::now(),
            action: action.into(),
            entity: "ticket".into(),
            entity_id: Some("INC-2026-000001".into()),
            org_id: Some(Uuid::nil()),
            after_json: after.map(String::from),
        }
    }

    fn actor(role: Role, org: Uuid) -> Actor {
        Actor {
            user_id: Some(Uuid::now_v7()),
            username: "x".into(),
            role,
            org_id: org,
            ip: None,
        }
    }

    #[test]
    fn changes_carry_status_only_from_ticket_snapshots() {
        let c = change_of(&row(
            "start",
            Some(r#"{"number":"INC-2026-000001","status":"in_progress","priority":2}"#),
        ))
        .unwrap();
        assert_eq!(c.status.as_deref(), Some("in_progress"));
        assert_eq!(c.priority, Some(2));
        let note = change_of(&row("note", Some(r#"{"kind":"note","body":"secret"}"#))).unwrap();
        assert_eq!(note.status, None);
        let mut other = row("create", None);
        other.entity = "user".into();
        assert!(change_of(&other).is_none());
    }

    #[test]
    fn customers_see_public_changes_of_their_own_organization() {
        let org = Uuid::nil();
        let c = change_of(&row("reply", None)).unwrap();
        let n = change_of(&row("note", None)).unwrap();
        assert!(may_see(&actor(Role::Customer, org), &c));
        assert!(!may_see(&actor(Role::Customer, org), &n));
        assert!(!may_see(&actor(Role::Customer, Uuid::now_v7()), &c));
        assert!(may_see(&actor(Role::Agent, Uuid::now_v7()), &n));
        assert!(may_see(&actor(Role::Auditor, Uuid::now_v7()), &n));
    }

    #[test]
    fn filters_are_checked() {
        let ok = ViewFilters {
            status: Some(" new ".into()),
            q: Some("  ".into()),
            open: Some(false),
            ..Default::default()
        }
        .validated()
        .unwrap();
        assert_eq!(ok.status.as_deref(), Some("new"));
        assert_eq!(ok.q, None);
        assert_eq!(ok.open, None);
        for bad in [
            ViewFilters {
                status: Some("nope".into()),
                ..Default::default()
            },
            ViewFilters {
                priority: Some(5),
                ..Default::default()
            },
            ViewFilters {
                view: Some("everything".into()),
                ..Default::default()
            },
            ViewFilters {
                sort: Some("oldest".into()),
                ..Default::default()
            },
        ] {
            assert!(bad.validated().is_err());
        }
    }
}
