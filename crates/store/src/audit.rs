//! The audit log: appended inside the transaction of the change it records, hash-chained
//! through the single `audit_head` row (which serializes appends on both stores), and
//! protected from UPDATE/DELETE by triggers.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;
use yunwei_domain::audit::{entry_hash, AuditContent, ChainFault, GENESIS};

use crate::{on_ex, on_tx, Ex, Result, Tx};

/// What a caller records; sequence, time and hashes are filled in by [`append`].
#[derive(Debug, Clone, Default)]
pub struct NewEntry {
    pub actor_id: Option<Uuid>,
    pub actor_name: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    pub org_id: Option<Uuid>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Entry {
    pub seq: i64,
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_name: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    pub org_id: Option<Uuid>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub ip: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl Entry {
    fn content(&self) -> AuditContent<'_> {
        AuditContent {
            seq: self.seq,
            id: self.id,
            at_micros: self.at.timestamp_micros(),
            actor_id: self.actor_id,
            actor_name: &self.actor_name,
            action: &self.action,
            entity: &self.entity,
            entity_id: self.entity_id.as_deref(),
            org_id: self.org_id,
            before: self.before_json.as_deref(),
            after: self.after_json.as_deref(),
            ip: self.ip.as_deref(),
        }
    }
}

macro_rules! entry_cols {
    () => {
        "seq, id, at, actor_id, actor_name, action, entity, entity_id, org_id, before_json, after_json, ip, prev_hash, hash"
    };
}

/// Append an entry inside the caller's transaction; returns its sequence number.
///
/// On SQLite the writer knows the head (see `group_commit::WriteCache`): the entry is chained
/// to it and written in one call to the connection's worker, the head's UPDATE checking that
/// it still holds what the writer knows and the INSERT writing only if it did (`changes()`).
/// Otherwise (first append of the process, or the head moved: another process, a bulk
/// append, a rolled-back member), the head is read and moved first, as on PostgreSQL.
pub async fn append(tx: &mut Tx, e: NewEntry, at: DateTime<Utc>) -> Result<i64> {
    let at = yunwei_domain::audit::truncate_to_micros(at);
    let before = e.before.as_ref().map(|v| v.to_string());
    let after = e.after.as_ref().map(|v| v.to_string());
    let mut entry = Entry {
        seq: 0,
        id: yunwei_domain::ids::new_id(),
        at,
        actor_id: e.actor_id,
        actor_name: e.actor_name,
        action: e.action,
        entity: e.entity,
        entity_id: e.entity_id,
        org_id: e.org_id,
        before_json: before,
        after_json: after,
        ip: e.ip,
        prev_hash: String::new(),
        hash: String::new(),
    };
    if let Tx::Sqlite(c) = &mut *tx {
        if let Some((last, prev)) = c.cache().and_then(|k| k.audit_head.clone()) {
            entry.seq = last + 1;
            entry.prev_hash = prev;
            entry.hash = entry_hash(&entry.prev_hash, &entry.content());
            let mut sql = String::with_capacity(2048);
            if let Some(p) = c.take_prefix() {
                sql.push_str(p);
                sql.push_str("; ");
            }
            sql.push_str(concat!(
                "UPDATE audit_head SET last_seq = $1, last_hash = $14 \
                 WHERE id = 1 AND last_seq = $1 - 1 AND last_hash = $13; INSERT INTO audit_log (",
                entry_cols!(),
                ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 \
                 WHERE changes() = 1 RETURNING 1"
            ));
            let written = bind_entry(sqlx::query(&sql), &entry)
                .fetch_all(&mut **c)
                .await?;
            let cache = c
                .cache()
                .expect("a cached head comes from a group transaction");
            if written.len() == 1 {
                cache.audit_head = Some((entry.seq, entry.hash));
                return Ok(entry.seq);
            }
            cache.audit_head = None;
        }
    }
    let (seq, prev): (i64, String) = on_tx!(tx, |c| {
        sqlx::query_as(
        "UPDATE audit_head SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq, last_hash"
    )
    .fetch_one(c)
    .await
    })?;
    entry.seq = seq;
    entry.prev_hash = prev;
    entry.hash = entry_hash(&entry.prev_hash, &entry.content());
    // The head's new hash and the entry in one round trip. PostgreSQL: one statement (a
    // data-modifying WITH runs whether or not it is referenced). SQLite has no such form, but
    // sqlx runs every statement of a query's text in one call on the connection's worker
    // thread, binding `$N` by number in each: two statements, one hand-off to the worker.
    let sql = if matches!(tx, Tx::Pg(_)) {
        concat!(
            "WITH head AS (UPDATE audit_head SET last_hash = $14 WHERE id = 1) INSERT INTO audit_log (",
            entry_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        )
    } else {
        concat!(
            "UPDATE audit_head SET last_hash = $14 WHERE id = 1; INSERT INTO audit_log (",
            entry_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        )
    };
    on_tx!(tx, |c| bind_entry(sqlx::query(sql), &entry)
        .execute(c)
        .await
        .map(|_| ()))?;
    if let Tx::Sqlite(c) = tx {
        if let Some(cache) = c.cache() {
            cache.audit_head = Some((entry.seq, entry.hash));
        }
    }
    Ok(seq)
}

/// Binds an entry's 14 fields in the order of `entry_cols!`.
fn bind_entry<'q, DB: sqlx::Database>(
    q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    e: &'q Entry,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    i64: sqlx::Type<DB> + sqlx::Encode<'q, DB>,
    Uuid: sqlx::Type<DB> + sqlx::Encode<'q, DB>,
    DateTime<Utc>: sqlx::Type<DB> + sqlx::Encode<'q, DB>,
    Option<Uuid>: sqlx::Type<DB> + sqlx::Encode<'q, DB>,
    String: sqlx::Type<DB> + sqlx::Encode<'q, DB>,
    Option<String>: sqlx::Type<DB> + sqlx::Encode<'q, DB>,
{
    q.bind(e.seq)
        .bind(e.id)
        .bind(e.at)
        .bind(e.actor_id)
        .bind(&e.actor_name)
        .bind(&e.action)
        .bind(&e.entity)
        .bind(&e.entity_id)
        .bind(e.org_id)
        .bind(&e.before_json)
        .bind(&e.after_json)
        .bind(&e.ip)
        .bind(&e.prev_hash)
        .bind(&e.hash)
}

/// Filters for browsing; `before_seq` is the cursor (newest first).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor_name: Option<String>,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before_seq: Option<i64>,
    pub limit: i64,
}

pub async fn list<'a>(ex: impl Into<Ex<'a>>, f: &AuditFilter) -> Result<Vec<Entry>> {
    let sql = concat!(
        "SELECT ",
        entry_cols!(),
        " FROM audit_log WHERE ($1 IS NULL OR actor_name = $1) AND ($2 IS NULL OR entity = $2) \
         AND ($3 IS NULL OR entity_id = $3) AND ($4 IS NULL OR action = $4) AND ($5 IS NULL OR at >= $5) \
         AND ($6 IS NULL OR at < $6) AND ($7 IS NULL OR seq < $7) ORDER BY seq DESC LIMIT $8"
    );
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Entry>(sql)
        .bind(&f.actor_name)
        .bind(&f.entity)
        .bind(&f.entity_id)
        .bind(&f.action)
        .bind(f.since)
        .bind(f.until)
        .bind(f.before_seq)
        .bind(f.limit)
        .fetch_all(c)
        .await)?)
}

/// Outcome of a full verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: i64,
    pub fault: Option<ChainFault>,
}

/// Walk the whole chain, recomputing every hash; report the first fault. Runs in one read
/// snapshot, so a verification while the server writes sees a consistent log and head.
pub async fn verify(db: &crate::Db) -> Result<Verified> {
    match db {
        crate::Db::Sqlite(p) => {
            let mut tx = p.begin().await?;
            let v = verify_in::<sqlx::Sqlite>(&mut *tx).await;
            tx.commit().await?;
            v
        }
        crate::Db::Pg(p) => {
            let mut tx = p.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *tx)
                .await?;
            let v = verify_in::<sqlx::Postgres>(&mut *tx).await;
            tx.commit().await?;
            v
        }
    }
}

async fn verify_in<DB>(conn: &mut <DB as sqlx::Database>::Connection) -> Result<Verified>
where
    DB: sqlx::Database,
    for<'c> &'c mut <DB as sqlx::Database>::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'r> Entry: sqlx::FromRow<'r, <DB as sqlx::Database>::Row>,
    for<'r> (i64, String): sqlx::FromRow<'r, <DB as sqlx::Database>::Row>,
    i64: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
{
    let (head_seq, head_hash): (i64, String) =
        sqlx::query_as("SELECT last_seq, last_hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?;
    let mut prev = GENESIS.to_string();
    let mut expected = 1i64;
    let mut after = 0i64;
    let mut count = 0i64;
    loop {
        let sql = concat!(
            "SELECT ",
            entry_cols!(),
            " FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 1000"
        );
        let page: Vec<Entry> = sqlx::query_as::<DB, Entry>(sql)
            .bind(after)
            .fetch_all(&mut *conn)
            .await?;
        if page.is_empty() {
            break;
        }
        for e in &page {
            if e.seq != expected {
                return Ok(Verified {
                    entries: count,
                    fault: Some(ChainFault::Gap {
                        expected,
                        found: e.seq,
                    }),
                });
            }
            let h = entry_hash(&prev, &e.content());
            if e.prev_hash != prev || e.hash != h {
                return Ok(Verified {
                    entries: count,
                    fault: Some(ChainFault::HashMismatch { seq: e.seq }),
                });
            }
            prev = h;
            expected += 1;
            count += 1;
        }
        after = page.last().map(|e| e.seq).unwrap_or(after);
    }
    if head_seq > count {
        return Ok(Verified {
            entries: count,
            fault: Some(ChainFault::Truncated {
                expected_last: head_seq,
                found_last: count,
            }),
        });
    }
    if head_seq < count {
        return Ok(Verified {
            entries: count,
            fault: Some(ChainFault::BeyondHead {
                head: head_seq,
                found_last: count,
            }),
        });
    }
    if head_hash != prev {
        return Ok(Verified {
            entries: count,
            fault: Some(ChainFault::HashMismatch { seq: count }),
        });
    }
    Ok(Verified {
        entries: count,
        fault: None,
    })
}
