//! Tickets, their timeline and their human-readable numbers.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use yunwei_domain::ticket::{format_number, Kind};

use crate::{on_ex, on_tx, sqlite_read, Ex, Result, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Ticket {
    pub id: Uuid,
    /// e.g. `INC-2026-000123`; unique per installation, never reused.
    pub number: String,
    /// incident, request, complaint, opinion or suggestion.
    pub kind: String,
    /// new, assigned, in_progress, pending, resolved, closed or cancelled.
    pub status: String,
    pub sub_status: Option<String>,
    pub subject: String,
    pub description: String,
    pub org_id: Uuid,
    pub department_id: Option<Uuid>,
    pub requester_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    /// portal, phone, email, api or monitoring.
    pub channel: String,
    pub category: Option<String>,
    pub criticality: Option<String>,
    pub breadth: Option<String>,
    pub urgency: Option<String>,
    /// 1 (most urgent) … 4; absent until the ticket is prioritised.
    pub priority: Option<i64>,
    pub priority_reason: Option<String>,
    pub team_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    pub parent_id: Option<Uuid>,
    pub resolution: Option<String>,
    pub reopen_count: i64,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub auto_confirmed: bool,
    pub satisfaction: Option<i64>,
    pub satisfaction_comment: Option<String>,
    pub rated_at: Option<DateTime<Utc>>,
    pub outage_start: Option<DateTime<Utc>>,
    pub outage_end: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The SLA policy whose targets apply (the default policy when the ticket was created).
    pub sla_policy_id: Option<Uuid>,
    /// When the first response is due (business time from creation).
    pub response_due_at: Option<DateTime<Utc>>,
    /// When the resolution is due, pauses included; absent while the SLA clock is paused.
    pub resolution_due_at: Option<DateTime<Utc>>,
    /// When the warning share of the resolution target was reached.
    pub sla_warned_at: Option<DateTime<Utc>>,
    /// When the resolution target was missed.
    pub sla_breached_at: Option<DateTime<Utc>>,
    /// The service catalog item the ticket is about.
    pub catalog_item_id: Option<Uuid>,
}

macro_rules! ticket_cols {
    () => {
        "id, number, kind, status, sub_status, subject, description, org_id, department_id, requester_id, created_by, \
         channel, category, criticality, breadth, urgency, priority, priority_reason, team_id, assignee_id, parent_id, \
         resolution, reopen_count, first_response_at, resolved_at, closed_at, auto_confirmed, satisfaction, \
         satisfaction_comment, rated_at, outage_start, outage_end, created_at, updated_at, sla_policy_id, \
         response_due_at, resolution_due_at, sla_warned_at, sla_breached_at, catalog_item_id"
    };
}

/// Take the next number of a kind and year, inside the creating transaction.
pub async fn next_number(tx: &mut Tx, prefix: &str, year: i32) -> Result<i64> {
    Ok(on_tx!(tx, |c| {
        sqlx::query_scalar::<_, i64>(
        "INSERT INTO ticket_counters (prefix, year, value) VALUES ($1, $2, 1) \
         ON CONFLICT (prefix, year) DO UPDATE SET value = ticket_counters.value + 1 RETURNING value"
    )
    .bind(prefix)
    .bind(year as i64)
    .fetch_one(c)
    .await
    })?)
}

/// A ticket's 40 parameters, `$1`–`$40`, in the order of `ticket_cols!`.
macro_rules! ticket_params {
    () => {
        "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
         $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40"
    };
}

/// The INSERT of a ticket: 40 parameters, `$1`–`$40`.
macro_rules! insert_ticket_sql {
    () => {
        concat!(
            "INSERT INTO tickets (",
            ticket_cols!(),
            ") VALUES (",
            ticket_params!(),
            ")"
        )
    };
}

/// An event's 10 parameters from `$41`, as the first event of a new ticket.
macro_rules! first_event_params {
    () => {
        "$41, $42, $43, $44, $45, $46, $47, $48, $49, $50"
    };
}

/// A timeline event's INSERT up to its values.
macro_rules! insert_event_columns {
    () => {
        "INSERT INTO ticket_events (id, ticket_id, org_id, at, actor_id, actor_name, kind, public, body, data_json)"
    };
}

/// Binds a ticket's 40 fields in the order of `insert_ticket_sql!`.
macro_rules! bind_ticket {
    ($q:expr, $t:expr) => {
        $q.bind($t.id)
            .bind(&$t.number)
            .bind(&$t.kind)
            .bind(&$t.status)
            .bind(&$t.sub_status)
            .bind(&$t.subject)
            .bind(&$t.description)
            .bind($t.org_id)
            .bind($t.department_id)
            .bind($t.requester_id)
            .bind($t.created_by)
            .bind(&$t.channel)
            .bind(&$t.category)
            .bind(&$t.criticality)
            .bind(&$t.breadth)
            .bind(&$t.urgency)
            .bind($t.priority)
            .bind(&$t.priority_reason)
            .bind($t.team_id)
            .bind($t.assignee_id)
            .bind($t.parent_id)
            .bind(&$t.resolution)
            .bind($t.reopen_count)
            .bind($t.first_response_at)
            .bind($t.resolved_at)
            .bind($t.closed_at)
            .bind($t.auto_confirmed)
            .bind($t.satisfaction)
            .bind(&$t.satisfaction_comment)
            .bind($t.rated_at)
            .bind($t.outage_start)
            .bind($t.outage_end)
            .bind($t.created_at)
            .bind($t.updated_at)
            .bind($t.sla_policy_id)
            .bind($t.response_due_at)
            .bind($t.resolution_due_at)
            .bind($t.sla_warned_at)
            .bind($t.sla_breached_at)
            .bind($t.catalog_item_id)
    };
}

/// Binds an event's 10 fields in the order of `insert_event_columns!`.
macro_rules! bind_event {
    ($q:expr, $e:expr) => {
        $q.bind($e.id)
            .bind($e.ticket_id)
            .bind($e.org_id)
            .bind($e.at)
            .bind($e.actor_id)
            .bind(&$e.actor_name)
            .bind(&$e.kind)
            .bind($e.public)
            .bind(&$e.body)
            .bind(&$e.data_json)
    };
}

pub async fn insert(tx: &mut Tx, t: &Ticket) -> Result<()> {
    on_tx!(tx, |c| bind_ticket!(sqlx::query(insert_ticket_sql!()), t)
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// A new ticket, its number, the first event of its timeline and its jobs (the SLA's, run at
/// their times): takes the next number of the ticket's kind and `year`, sets it on `t` and
/// writes the rest.
///
/// On SQLite this is one call to the connection's worker thread (sqlx runs each statement of
/// one text in turn, binding `$N` by number in each), headed by the member's savepoint: the
/// writer knows the counter's value (see `group_commit::WriteCache`), and the text checks it
/// in the counter's UPDATE, each following statement writing only if the one before did
/// (`changes()`). If another writer moved the counter, nothing is written and the number is
/// taken afresh, as on PostgreSQL: the counter (`RETURNING`), then the rest.
pub async fn insert_new(
    tx: &mut Tx,
    t: &mut Ticket,
    kind: Kind,
    year: i32,
    e: &Event,
    jobs: &[(&str, &str, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Result<()> {
    let key = (kind.prefix().to_string(), year);
    let cached = match tx {
        Tx::Sqlite(c) => c.cache().and_then(|k| k.counters.get(&key).copied()),
        Tx::Pg(_) => None,
    };
    let ids: Vec<Uuid> = jobs.iter().map(|_| yunwei_domain::ids::new_id()).collect();
    if let (Tx::Sqlite(c), Some(last)) = (&mut *tx, cached) {
        let seq = last + 1;
        t.number = format_number(kind, year, seq);
        let mut sql = String::with_capacity(2048);
        if let Some(p) = c.take_prefix() {
            sql.push_str(p);
            sql.push_str("; ");
        }
        let n = 50 + 5 * jobs.len();
        sql.push_str(&format!(
            "UPDATE ticket_counters SET value = ${} WHERE prefix = ${} AND year = ${} AND value = ${} - 1; ",
            n + 1,
            n + 2,
            n + 3,
            n + 1
        ));
        sql.push_str(concat!(
            "INSERT INTO tickets (",
            ticket_cols!(),
            ") SELECT ",
            ticket_params!(),
            " WHERE changes() = 1 RETURNING 1; ",
            insert_event_columns!(),
            " SELECT ",
            first_event_params!(),
            " WHERE changes() = 1"
        ));
        if !jobs.is_empty() {
            sql.push_str("; ");
            sql.push_str(&crate::jobs::insert_sql(jobs.len(), 50, true));
        }
        let mut q = bind_event!(bind_ticket!(sqlx::query(&sql), t), e);
        crate::jobs::bind_jobs!(q, &ids, jobs, now);
        let written = q
            .bind(seq)
            .bind(&key.0)
            .bind(year as i64)
            .fetch_all(&mut **c)
            .await?;
        let cache = c
            .cache()
            .expect("a cached value comes from a group transaction");
        if written.len() == 1 {
            cache.counters.insert(key, seq);
            return Ok(());
        }
        cache.counters.remove(&key);
    }
    let seq = next_number(tx, kind.prefix(), year).await?;
    t.number = format_number(kind, year, seq);
    match tx {
        Tx::Sqlite(c) => {
            let mut sql = concat!(
                insert_ticket_sql!(),
                "; ",
                insert_event_columns!(),
                " VALUES (",
                first_event_params!(),
                ")"
            )
            .to_string();
            if !jobs.is_empty() {
                sql.push_str("; ");
                sql.push_str(&crate::jobs::insert_sql(jobs.len(), 50, false));
            }
            let mut q = bind_event!(bind_ticket!(sqlx::query(&sql), t), e);
            crate::jobs::bind_jobs!(q, &ids, jobs, now);
            // next_number opened the member's savepoint.
            q.execute(&mut **c).await?;
            if let Some(cache) = c.cache() {
                cache.counters.insert(key, seq);
            }
        }
        Tx::Pg(_) => {
            insert(tx, t).await?;
            add_event(tx, e).await?;
            crate::jobs::enqueue_many(tx, jobs, now).await?;
        }
    }
    Ok(())
}

/// Write every mutable field.
pub async fn update(tx: &mut Tx, t: &Ticket) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE tickets SET status = $2, sub_status = $3, subject = $4, description = $5, department_id = $6, \
         category = $7, criticality = $8, breadth = $9, urgency = $10, priority = $11, priority_reason = $12, \
         team_id = $13, assignee_id = $14, resolution = $15, reopen_count = $16, first_response_at = $17, \
         resolved_at = $18, closed_at = $19, auto_confirmed = $20, satisfaction = $21, satisfaction_comment = $22, \
         rated_at = $23, outage_start = $24, outage_end = $25, updated_at = $26, sla_policy_id = $27, \
         response_due_at = $28, resolution_due_at = $29, sla_warned_at = $30, sla_breached_at = $31, catalog_item_id = $32 WHERE id = $1"
    )
    .bind(t.id)
    .bind(&t.status)
    .bind(&t.sub_status)
    .bind(&t.subject)
    .bind(&t.description)
    .bind(t.department_id)
    .bind(&t.category)
    .bind(&t.criticality)
    .bind(&t.breadth)
    .bind(&t.urgency)
    .bind(t.priority)
    .bind(&t.priority_reason)
    .bind(t.team_id)
    .bind(t.assignee_id)
    .bind(&t.resolution)
    .bind(t.reopen_count)
    .bind(t.first_response_at)
    .bind(t.resolved_at)
    .bind(t.closed_at)
    .bind(t.auto_confirmed)
    .bind(t.satisfaction)
    .bind(&t.satisfaction_comment)
    .bind(t.rated_at)
    .bind(t.outage_start)
    .bind(t.outage_end)
    .bind(t.updated_at)
    .bind(t.sla_policy_id)
    .bind(t.response_due_at)
    .bind(t.resolution_due_at)
    .bind(t.sla_warned_at)
    .bind(t.sla_breached_at)
    .bind(t.catalog_item_id)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

pub async fn get_by_number<'a>(ex: impl Into<Ex<'a>>, number: &str) -> Result<Option<Ticket>> {
    let sql = concat!("SELECT ", ticket_cols!(), " FROM tickets WHERE number = $1");
    let ex = ex.into();
    if let Some(d) = ex.direct()? {
        return Ok(sqlite_read::query(d.conn(), sql, &[number.into()], direct::ticket)?.pop());
    }
    Ok(on_ex!(ex, |c| sqlx::query_as::<_, Ticket>(sql)
        .bind(number)
        .fetch_optional(c)
        .await)?)
}

pub async fn get<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Ticket>> {
    let sql = concat!("SELECT ", ticket_cols!(), " FROM tickets WHERE id = $1");
    let ex = ex.into();
    if let Some(d) = ex.direct()? {
        return Ok(sqlite_read::query(d.conn(), sql, &[id.into()], direct::ticket)?.pop());
    }
    Ok(on_ex!(ex, |c| sqlx::query_as::<_, Ticket>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

/// Sub-tasks of a ticket.
pub async fn children<'a>(ex: impl Into<Ex<'a>>, parent: Uuid) -> Result<Vec<Ticket>> {
    let sql = concat!(
        "SELECT ",
        ticket_cols!(),
        " FROM tickets WHERE parent_id = $1 ORDER BY id"
    );
    let ex = ex.into();
    if let Some(d) = ex.direct()? {
        return sqlite_read::query(d.conn(), sql, &[parent.into()], direct::ticket);
    }
    Ok(on_ex!(ex, |c| sqlx::query_as::<_, Ticket>(sql)
        .bind(parent)
        .fetch_all(c)
        .await)?)
}

#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub org_id: Option<Uuid>,
    pub status: Option<String>,
    /// Only open tickets (not closed or cancelled).
    pub open_only: bool,
    pub priority: Option<i64>,
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub requester_id: Option<Uuid>,
    pub kind: Option<String>,
    /// Substring of subject, description or number (Chinese text matches by substring).
    pub q: Option<String>,
    /// Queue order (priority, then age) instead of newest first.
    pub queue: bool,
    /// Newest-first cursor: the last id of the previous page.
    pub before: Option<Uuid>,
    /// Queue-order offset.
    pub offset: i64,
    pub limit: i64,
}

/// The list query's conditions. `$3` is the open-only flag: when it is set the condition is the
/// literal `status NOT IN ('closed', 'cancelled')`, so the planner can use the partial index
/// `tickets_open_queue` (migrations 0011, 0015) instead of reading every ticket. The queue
/// order is written `(resolution_due_at IS NULL), resolution_due_at` rather than `NULLS LAST`
/// because that is what a SQLite index can hold: the queue then reads a page in index order.
macro_rules! list_where {
    ($open:literal) => {
        concat!(
            " FROM tickets WHERE ($1 IS NULL OR org_id = $1) AND ($2 IS NULL OR status = $2) AND ",
            $open,
            " AND ($4 IS NULL OR priority = $4) \
             AND ($5 IS NULL OR assignee_id = $5) AND ($6 IS NULL OR team_id = $6) AND ($7 IS NULL OR requester_id = $7) \
             AND ($8 IS NULL OR kind = $8) \
             AND ($9 IS NULL OR subject LIKE $9 OR description LIKE $9 OR number LIKE $9) \
             AND ($10 IS NULL OR id < $10)"
        )
    };
}

macro_rules! list_sql {
    ($open:literal, $order:literal) => {
        concat!(
            "SELECT ",
            ticket_cols!(),
            list_where!($open),
            $order,
            " LIMIT $11 OFFSET $12"
        )
    };
}

pub async fn list<'a>(ex: impl Into<Ex<'a>>, f: &TicketFilter) -> Result<Vec<Ticket>> {
    let sql = match (f.queue, f.open_only) {
        (false, false) => list_sql!("$3 = FALSE", " ORDER BY id DESC"),
        (false, true) => list_sql!(
            "$3 = TRUE AND status NOT IN ('closed', 'cancelled')",
            " ORDER BY id DESC"
        ),
        (true, false) => list_sql!(
            "$3 = FALSE",
            " ORDER BY priority ASC NULLS FIRST, (resolution_due_at IS NULL) ASC, resolution_due_at ASC, id ASC"
        ),
        (true, true) => list_sql!(
            "$3 = TRUE AND status NOT IN ('closed', 'cancelled')",
            " ORDER BY priority ASC NULLS FIRST, (resolution_due_at IS NULL) ASC, resolution_due_at ASC, id ASC"
        ),
    };
    let pattern = f.q.as_ref().map(|q| {
        format!(
            "%{}%",
            q.chars()
                .filter(|c| *c != '%' && *c != '_')
                .collect::<String>()
        )
    });
    let ex = ex.into();
    if let Ex::Db(db) = &ex {
        if let Some(lease) = db.direct_lease()? {
            // A filtered list can read many rows: on the blocking pool, not a runtime thread.
            let (f, pattern) = (f.clone(), pattern.clone());
            return tokio::task::spawn_blocking(move || {
                let args = [
                    f.org_id.into(),
                    (&f.status).into(),
                    f.open_only.into(),
                    f.priority.into(),
                    f.assignee_id.into(),
                    f.team_id.into(),
                    f.requester_id.into(),
                    (&f.kind).into(),
                    (&pattern).into(),
                    f.before.into(),
                    f.limit.into(),
                    f.offset.into(),
                ];
                sqlite_read::query(lease.conn(), sql, &args, direct::ticket)
            })
            .await
            .map_err(|e| crate::StoreError::Other(format!("sqlite read task: {e}")))?;
        }
    }
    Ok(on_ex!(ex, |c| sqlx::query_as::<_, Ticket>(sql)
        .bind(f.org_id)
        .bind(&f.status)
        .bind(f.open_only)
        .bind(f.priority)
        .bind(f.assignee_id)
        .bind(f.team_id)
        .bind(f.requester_id)
        .bind(&f.kind)
        .bind(&pattern)
        .bind(f.before)
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(c)
        .await)?)
}

/// Ids per query of [`list_by_ids`].
const ID_SLOTS: usize = 50;

macro_rules! id_slots {
    () => {
        "$9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42, $43, $44, $45, $46, $47, $48, $49, $50, $51, $52, $53, $54, $55, $56, $57, $58"
    };
}

/// The tickets among `ids` that pass the filter's organization and field conditions (not
/// `q`, cursor or paging), in no particular order: the full-text search finds the ids, this
/// enforces the caller's scope again in SQL. One query per 50 ids.
pub async fn list_by_ids(db: &crate::Db, f: &TicketFilter, ids: &[Uuid]) -> Result<Vec<Ticket>> {
    let sql = concat!(
        "SELECT ",
        ticket_cols!(),
        " FROM tickets WHERE ($1 IS NULL OR org_id = $1) AND ($2 IS NULL OR status = $2) \
         AND ($3 = FALSE OR status NOT IN ('closed', 'cancelled')) AND ($4 IS NULL OR priority = $4) \
         AND ($5 IS NULL OR assignee_id = $5) AND ($6 IS NULL OR team_id = $6) AND ($7 IS NULL OR requester_id = $7) \
         AND ($8 IS NULL OR kind = $8) AND id IN (",
        id_slots!(),
        ")"
    );
    let mut out = Vec::with_capacity(ids.len());
    if let Some(lease) = db.direct_lease()? {
        // Primary-key lookups, at most a few pages: on this thread.
        for chunk in ids.chunks(ID_SLOTS) {
            let mut args: Vec<sqlite_read::Arg<'_>> = vec![
                f.org_id.into(),
                (&f.status).into(),
                f.open_only.into(),
                f.priority.into(),
                f.assignee_id.into(),
                f.team_id.into(),
                f.requester_id.into(),
                (&f.kind).into(),
            ];
            args.extend((0..ID_SLOTS).map(|i| chunk.get(i).copied().into()));
            out.extend(sqlite_read::query(
                lease.conn(),
                sql,
                &args,
                direct::ticket,
            )?);
        }
        return Ok(out);
    }
    for chunk in ids.chunks(ID_SLOTS) {
        let rows = crate::on_db!(db, |p| {
            let mut q = sqlx::query_as::<_, Ticket>(sql)
                .bind(f.org_id)
                .bind(&f.status)
                .bind(f.open_only)
                .bind(f.priority)
                .bind(f.assignee_id)
                .bind(f.team_id)
                .bind(f.requester_id)
                .bind(&f.kind);
            for i in 0..ID_SLOTS {
                q = q.bind(chunk.get(i).copied());
            }
            q.fetch_all(p).await
        })?;
        out.extend(rows);
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Event {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub org_id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_name: String,
    /// created, triage, start, pend, resume, resolve, confirm, reject, auto_confirm, cancel,
    /// reply (public), note (internal), priority, assign, satisfaction …
    pub kind: String,
    /// Visible to the customer.
    pub public: bool,
    pub body: Option<String>,
    pub data_json: Option<String>,
}

pub async fn add_event(tx: &mut Tx, e: &Event) -> Result<()> {
    on_tx!(tx, |c| bind_event!(
        sqlx::query(concat!(
            insert_event_columns!(),
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )),
        e
    )
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// A ticket's timeline, oldest first; `public_only` for customers.
pub async fn events<'a>(
    ex: impl Into<Ex<'a>>,
    ticket_id: Uuid,
    public_only: bool,
) -> Result<Vec<Event>> {
    let sql = "SELECT id, ticket_id, org_id, at, actor_id, actor_name, kind, public, body, data_json FROM ticket_events \
         WHERE ticket_id = $1 AND ($2 = FALSE OR public = TRUE) ORDER BY id";
    let ex = ex.into();
    if let Some(d) = ex.direct()? {
        let args = [ticket_id.into(), public_only.into()];
        return sqlite_read::query(d.conn(), sql, &args, direct::event);
    }
    Ok(on_ex!(ex, |c| {
        sqlx::query_as::<_, Event>(sql)
            .bind(ticket_id)
            .bind(public_only)
            .fetch_all(c)
            .await
    })?)
}

/// At most this many tickets feed one evaluation (see [`created_between`]).
pub const EVALUATION_MAX_TICKETS: i64 = 100_000;

/// Tickets created in `[from, to)`, optionally of one organization and/or team, oldest first.
///
/// For reports computed in memory: it returns at most `limit` rows (callers pass one more
/// than they accept, [`EVALUATION_MAX_TICKETS`] + 1, to detect a period that is too large).
/// Tens of thousands of rows are fine; beyond that, narrow the period.
pub async fn created_between<'a>(
    ex: impl Into<Ex<'a>>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    org_id: Option<Uuid>,
    team_id: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Ticket>> {
    let sql = concat!(
        "SELECT ",
        ticket_cols!(),
        " FROM tickets WHERE created_at >= $1 AND created_at < $2 \
         AND ($3 IS NULL OR org_id = $3) AND ($4 IS NULL OR team_id = $4) ORDER BY created_at, id LIMIT $5"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Ticket>(sql)
        .bind(from)
        .bind(to)
        .bind(org_id)
        .bind(team_id)
        .bind(limit)
        .fetch_all(c)
        .await)?)
}

/// The event kinds [`event_kinds_created_between`] can report.
pub const EVALUATION_EVENT_KINDS: &[&str] = &["pend", "priority", "reject", "sla_breach"];

/// Distinct (ticket id, event kind) pairs of the kinds in [`EVALUATION_EVENT_KINDS`], for
/// tickets created in `[from, to)` with the same filters as [`created_between`] (bounded by
/// that query's row limit times the number of kinds).
pub async fn event_kinds_created_between<'a>(
    ex: impl Into<Ex<'a>>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    org_id: Option<Uuid>,
    team_id: Option<Uuid>,
) -> Result<Vec<(Uuid, String)>> {
    let sql = "SELECT DISTINCT e.ticket_id, e.kind FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id \
         WHERE t.created_at >= $1 AND t.created_at < $2 AND ($3 IS NULL OR t.org_id = $3) \
         AND ($4 IS NULL OR t.team_id = $4) AND e.kind IN ('pend', 'priority', 'reject', 'sla_breach') \
         ORDER BY e.ticket_id, e.kind";
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, (Uuid, String)>(
        sql
    )
    .bind(from)
    .bind(to)
    .bind(org_id)
    .bind(team_id)
    .fetch_all(c)
    .await)?)
}

/// A ticket with what its detail view needs besides: whether it has sub-tasks and its
/// assignee's display name (one statement instead of three).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketForView {
    #[sqlx(flatten)]
    pub ticket: Ticket,
    pub has_children: bool,
    pub assignee_name: Option<String>,
}

/// [`get_by_number`] with [`TicketForView`]'s extras.
pub async fn get_for_view<'a>(
    ex: impl Into<Ex<'a>>,
    number: &str,
) -> Result<Option<TicketForView>> {
    let sql = concat!(
        "SELECT ",
        ticket_cols!(),
        ", EXISTS (SELECT 1 FROM tickets c WHERE c.parent_id = tickets.id) AS has_children, \
         (SELECT u.display_name FROM users u WHERE u.id = tickets.assignee_id) AS assignee_name \
         FROM tickets WHERE number = $1"
    );
    let ex = ex.into();
    if let Some(d) = ex.direct()? {
        return Ok(sqlite_read::query(d.conn(), sql, &[number.into()], direct::for_view)?.pop());
    }
    Ok(on_ex!(ex, |c| sqlx::query_as::<_, TicketForView>(sql)
        .bind(number)
        .fetch_optional(c)
        .await)?)
}

/// Direct SQLite decoding of the rows above (see `sqlite_read`); column order of
/// `ticket_cols!` and of the events query.
mod direct {
    use rusqlite::Row;

    use super::{Event, Ticket, TicketForView};
    use crate::sqlite_read::{direct_row, flag, FromRow};

    direct_row!(Ticket {
        id,
        number,
        kind,
        status,
        sub_status,
        subject,
        description,
        org_id,
        department_id,
        requester_id,
        created_by,
        channel,
        category,
        criticality,
        breadth,
        urgency,
        priority,
        priority_reason,
        team_id,
        assignee_id,
        parent_id,
        resolution,
        reopen_count,
        first_response_at,
        resolved_at,
        closed_at,
        auto_confirmed,
        satisfaction,
        satisfaction_comment,
        rated_at,
        outage_start,
        outage_end,
        created_at,
        updated_at,
        sla_policy_id,
        response_due_at,
        resolution_due_at,
        sla_warned_at,
        sla_breached_at,
        catalog_item_id,
    });

    direct_row!(Event {
        id,
        ticket_id,
        org_id,
        at,
        actor_id,
        actor_name,
        kind,
        public,
        body,
        data_json
    });

    pub(super) fn ticket(r: &Row<'_>) -> rusqlite::Result<Ticket> {
        Ticket::from_row(r)
    }

    pub(super) fn for_view(r: &Row<'_>) -> rusqlite::Result<TicketForView> {
        Ok(TicketForView {
            ticket: Ticket::from_row(r)?,
            has_children: flag(r, 40)?,
            assignee_name: r.get(41)?,
        })
    }

    pub(super) fn event(r: &Row<'_>) -> rusqlite::Result<Event> {
        Event::from_row(r)
    }
}
