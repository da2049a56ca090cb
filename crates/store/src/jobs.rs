//! Background jobs claimed with leases, so any number of nodes can work one queue.
//!
//! A job is due when `run_at <= now`, it is not done, and its lease is free or expired
//! (`locked_until < now`). [`claim`] takes due jobs atomically for one node and a lease:
//! on PostgreSQL with `FOR UPDATE SKIP LOCKED` (claimers pass each other by), on SQLite inside
//! a `BEGIN IMMEDIATE` transaction (the write lock serializes claimers). So two nodes never
//! hold one job at once, and the job of a node that died is claimed again once its lease
//! expires. [`complete`] and [`fail`] act only while the job is still locked by the calling
//! node: a node that lost its lease (another node claimed the job again) is refused, and —
//! when it completes inside the transaction that did the job's work — its work rolls back.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{on_ex, on_tx, Db, Ex, Result, Tx};

/// After this many attempts a failing job is given up (marked done, its error kept).
pub const MAX_ATTEMPTS: i64 = 10;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Job {
    pub id: Uuid,
    pub kind: String,
    /// JSON text, kind-specific.
    pub payload: String,
    pub run_at: DateTime<Utc>,
    /// How many times the job was claimed.
    pub attempts: i64,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
}

macro_rules! job_cols {
    () => {
        "id, kind, payload, run_at, attempts, locked_by, locked_until, last_error, created_at, done_at"
    };
}
const JOB_COLS: &str = job_cols!();

/// Add a job, inside the transaction whose change calls for it.
pub async fn enqueue(
    tx: &mut Tx,
    kind: &str,
    payload: &str,
    run_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Uuid> {
    let id = yunwei_domain::ids::new_id();
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO jobs (id, kind, payload, run_at, attempts, created_at) VALUES ($1, $2, $3, $4, 0, $5)"
    )
    .bind(id)
    .bind(kind)
    .bind(payload)
    .bind(run_at)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(id)
}

/// Drop the pending, unclaimed jobs of a kind with exactly this payload (before scheduling
/// them anew). Jobs a node holds are left alone.
pub async fn cancel_pending(tx: &mut Tx, kind: &str, payload: &str) -> Result<u64> {
    Ok(on_tx!(tx, |c| {
        sqlx::query(
        "DELETE FROM jobs WHERE kind = $1 AND payload = $2 AND done_at IS NULL AND locked_by IS NULL"
    )
    .bind(kind)
    .bind(payload)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?)
}

/// Claim up to `max` due jobs for `node_id` until `now + lease`, oldest `run_at` first.
/// Each claim counts as an attempt.
pub async fn claim(
    db: &Db,
    node_id: &str,
    now: DateTime<Utc>,
    lease: Duration,
    max: i64,
) -> Result<Vec<Job>> {
    let until = now + lease;
    let mut jobs = match db {
        Db::Pg(p) => {
            let sql = format!(
                "UPDATE jobs SET locked_by = $1, locked_until = $2, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM jobs WHERE done_at IS NULL AND run_at <= $3 \
                 AND (locked_until IS NULL OR locked_until < $3) ORDER BY run_at LIMIT $4 \
                 FOR UPDATE SKIP LOCKED) RETURNING {JOB_COLS}"
            );
            sqlx::query_as::<_, Job>(&sql)
                .bind(node_id)
                .bind(until)
                .bind(now)
                .bind(max)
                .fetch_all(p)
                .await?
        }
        Db::Sqlite(p) => {
            // Look before taking the write lock: most rounds find nothing to do.
            let due: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM jobs WHERE done_at IS NULL AND run_at <= $1 \
                 AND (locked_until IS NULL OR locked_until < $1) LIMIT 1",
            )
            .bind(now)
            .fetch_optional(p)
            .await?;
            if due.is_none() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "UPDATE jobs SET locked_by = $1, locked_until = $2, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM jobs WHERE done_at IS NULL AND run_at <= $3 \
                 AND (locked_until IS NULL OR locked_until < $3) ORDER BY run_at LIMIT $4) \
                 RETURNING {JOB_COLS}"
            );
            let mut tx = db.begin_write().await?;
            let jobs = on_tx!(&mut tx, |c| sqlx::query_as::<_, Job>(&sql)
                .bind(node_id)
                .bind(until)
                .bind(now)
                .bind(max)
                .fetch_all(c)
                .await)?;
            tx.commit().await?;
            jobs
        }
    };
    jobs.sort_by_key(|j| (j.run_at, j.id));
    Ok(jobs)
}

/// Mark a job done — only while `node_id` still holds it. False: the node lost the job (its
/// lease expired and another node claimed it, or it is already done).
pub async fn complete<'a>(
    ex: impl Into<Ex<'a>>,
    id: Uuid,
    node_id: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = on_ex!(ex.into(), |c| sqlx::query(
        "UPDATE jobs SET done_at = $3, locked_until = NULL \
         WHERE id = $1 AND locked_by = $2 AND done_at IS NULL"
    )
    .bind(id)
    .bind(node_id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// How long to wait before the next attempt after `attempts` failed ones: 30 s, 1 min, 2 min …
/// at most an hour.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(1, 8) - 1;
    (Duration::seconds(30) * (1 << exp)).min(Duration::hours(1))
}

/// Record a failure — only while `node_id` still holds the job: release it for a retry after
/// [`backoff`], or give it up (done, with the error) after [`MAX_ATTEMPTS`]. False: the node
/// no longer holds the job.
pub async fn fail<'a>(
    ex: impl Into<Ex<'a>>,
    job: &Job,
    node_id: &str,
    now: DateTime<Utc>,
    error: &str,
) -> Result<bool> {
    let error: String = error.chars().take(2000).collect();
    let give_up = job.attempts >= MAX_ATTEMPTS;
    let retry_at = now + backoff(job.attempts);
    let n = on_ex!(ex.into(), |c| sqlx::query(
        "UPDATE jobs SET locked_by = NULL, locked_until = NULL, last_error = $3, run_at = $4, \
         done_at = CASE WHEN $5 THEN $6 ELSE NULL END \
         WHERE id = $1 AND locked_by = $2 AND done_at IS NULL"
    )
    .bind(job.id)
    .bind(node_id)
    .bind(&error)
    .bind(if give_up { job.run_at } else { retry_at })
    .bind(give_up)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

pub async fn get<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Job>> {
    let sql = concat!("SELECT ", job_cols!(), " FROM jobs WHERE id = $1");
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Job>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

/// Jobs not done yet, by `run_at`.
pub async fn pending<'a>(ex: impl Into<Ex<'a>>) -> Result<Vec<Job>> {
    let sql = concat!(
        "SELECT ",
        job_cols!(),
        " FROM jobs WHERE done_at IS NULL ORDER BY run_at, id"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Job>(sql)
        .fetch_all(c)
        .await)?)
}

/// Delete jobs finished before `before`; returns how many.
pub async fn purge_done(tx: &mut Tx, before: DateTime<Utc>) -> Result<u64> {
    Ok(on_tx!(tx, |c| sqlx::query(
        "DELETE FROM jobs WHERE done_at IS NOT NULL AND done_at < $1"
    )
    .bind(before)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Binds the jobs' parameters to `$q` (reassigned) in the order of [`insert_sql`].
macro_rules! bind_jobs {
    ($q:ident, $ids:expr, $jobs:expr, $now:expr) => {
        for (id, (kind, payload, run_at)) in $ids.iter().zip($jobs) {
            $q = $q
                .bind(*id)
                .bind(*kind)
                .bind(*payload)
                .bind(*run_at)
                .bind($now);
        }
    };
}
pub(crate) use bind_jobs;

/// Add several jobs in one statement (one round trip), inside the transaction whose change
/// calls for them; returns their ids in order. Same rows as [`enqueue`] called for each.
pub async fn enqueue_many(
    tx: &mut Tx,
    jobs: &[(&str, &str, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = jobs.iter().map(|_| yunwei_domain::ids::new_id()).collect();
    let sql = insert_sql(jobs.len(), 0, false);
    on_tx!(tx, |c| {
        let mut q = sqlx::query(&sql);
        bind_jobs!(q, &ids, jobs, now);
        q.execute(c).await.map(|_| ())
    })?;
    Ok(ids)
}

/// The INSERT of `count` jobs, their parameters numbered from `$first + 1`, five per job
/// (id, kind, payload, run at, created at), in the order `bind_jobs!` binds them. `guarded`:
/// only if the statement before it changed a row (SQLite's `changes()`).
pub(crate) fn insert_sql(count: usize, first: usize, guarded: bool) -> String {
    let mut sql =
        String::from("INSERT INTO jobs (id, kind, payload, run_at, attempts, created_at) ");
    sql.push_str(if guarded {
        "SELECT * FROM (VALUES "
    } else {
        "VALUES "
    });
    for i in 0..count {
        let n = first + i * 5;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, 0, ${})",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5
        ));
    }
    if guarded {
        sql.push_str(") WHERE changes() > 0");
    }
    sql
}
