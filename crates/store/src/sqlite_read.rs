//! Direct SQLite reads: the hottest read-only queries run on the calling thread through
//! rusqlite, on read-only connections of their own, instead of through sqlx's SQLite driver.
//!
//! Why: sqlx runs every SQLite statement on the connection's worker thread and hands each
//! result row back over a channel, so a statement costs two thread wake-ups and a page of 50
//! tickets about fifty more; each row's 40 values are also copied (`sqlite3_value_dup`) before
//! they are decoded. Profiles of the single-ticket read and of the queue and search pages
//! (bench/analysis.md §0c) showed 35–50 % of the server's CPU in the kernel switching threads.
//! Here a statement is prepared once per connection (rusqlite's statement cache), stepped on
//! the caller's thread and decoded straight into the row type.
//!
//! What runs here: reads by primary or unique key (a ticket, its timeline, the ≤ 50 tickets a
//! search found) and the ticket lists (run on tokio's blocking pool, since a filtered list can
//! read many rows). Everything else, and every read inside a write transaction, stays on sqlx.
//! The connections are opened read-only (`SQLITE_OPEN_READ_ONLY`): they cannot write. In WAL
//! mode a read sees every transaction committed before it started, exactly as a pooled sqlx
//! connection does, so a write acknowledged to a user is visible to the next read.
//!
//! Values are decoded as sqlx stores them: UUIDs as 16-byte blobs, timestamps as RFC 3339 text
//! (also the other text forms sqlx accepts), booleans as integers.
//! `tests/direct_reads.rs` checks every column against sqlx's decoding of the same rows.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, Row, Statement};
use sqlx::SqlitePool;
use uuid::Uuid;

use crate::{Result, StoreError};

/// Idle connections kept per database file; more are opened while more readers run at once
/// and closed when they are returned.
const KEEP_IDLE: usize = 8;

/// The read-only connections of one database file.
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// One connection taken from [`Readers`]; returned when dropped.
pub struct Lease {
    readers: Arc<Readers>,
    conn: Option<Connection>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("path", &self.readers.path)
            .finish()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let mut idle = self.readers.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < KEEP_IDLE {
                idle.push(c);
            }
        }
    }
}

impl Lease {
    pub(crate) fn conn(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl Readers {
    fn open(&self) -> rusqlite::Result<Connection> {
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Readers do not wait for writers in WAL mode; the timeout covers the moments a
        // checkpoint or a recovery holds the WAL index.
        c.busy_timeout(Duration::from_secs(15))?;
        c.pragma_update(None, "cache_size", -i64::from(crate::SQLITE_CACHE_KIB))?;
        c.set_prepared_statement_cache_capacity(32);
        Ok(c)
    }

    fn lease(self: &Arc<Self>) -> Result<Lease> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => self.open().map_err(err)?,
        };
        Ok(Lease {
            readers: self.clone(),
            conn: Some(conn),
        })
    }
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Arc<Readers>>> {
    static READERS: OnceLock<Mutex<HashMap<PathBuf, Arc<Readers>>>> = OnceLock::new();
    READERS.get_or_init(Default::default)
}

/// Close the idle readers of the file at `path` and forget them (a restore replaced the file:
/// connections opened before would go on reading the old one).
pub(crate) fn forget(path: &std::path::Path) {
    let canon = |p: &std::path::Path| std::fs::canonicalize(p).ok();
    let target = canon(path);
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|p, _| p != path && (target.is_none() || canon(p) != target));
}

/// The readers of a pool's file; `None` for an in-memory database (no second connection can
/// open it), which then reads through sqlx as before.
fn readers_for(pool: &SqlitePool) -> Option<Arc<Readers>> {
    let opts = pool.connect_options();
    let path = opts.get_filename();
    let mut map = registry().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = map.get(path) {
        return Some(r.clone());
    }
    let name = path.to_string_lossy();
    if name.is_empty() || name.starts_with(':') || name.contains("mode=memory") || !path.is_file() {
        return None;
    }
    // Test runs make many databases in temporary directories: forget those whose file is gone
    // (closing their connections) whenever a new one is registered.
    map.retain(|p, _| p.is_file());
    let r = Arc::new(Readers {
        path: path.to_path_buf(),
        idle: Mutex::new(Vec::new()),
    });
    map.insert(path.to_path_buf(), r.clone());
    Some(r)
}

/// Whether a SQLite pool's file is read directly (without taking a connection).
pub(crate) fn available(pool: &SqlitePool) -> bool {
    readers_for(pool).is_some()
}

/// A direct-read connection of a SQLite pool's file, if it has one.
pub(crate) fn lease(pool: &SqlitePool) -> Result<Option<Lease>> {
    match readers_for(pool) {
        Some(r) => r.lease().map(Some),
        None => Ok(None),
    }
}

pub(crate) fn err(e: rusqlite::Error) -> StoreError {
    StoreError::Other(format!("sqlite read: {e}"))
}

/// A value bound to a `$N` placeholder, encoded as sqlx encodes it for SQLite.
pub(crate) enum Arg<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Uuid(Uuid),
}

impl<'a> From<Option<Uuid>> for Arg<'a> {
    fn from(v: Option<Uuid>) -> Self {
        v.map_or(Arg::Null, Arg::Uuid)
    }
}
impl<'a> From<Uuid> for Arg<'a> {
    fn from(v: Uuid) -> Self {
        Arg::Uuid(v)
    }
}
impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().map_or(Arg::Null, Arg::Text)
    }
}
impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(v)
    }
}
impl<'a> From<Option<i64>> for Arg<'a> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Arg::Null, Arg::Int)
    }
}
impl<'a> From<i64> for Arg<'a> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl<'a> From<bool> for Arg<'a> {
    fn from(v: bool) -> Self {
        Arg::Int(i64::from(v))
    }
}

/// Bind `args[k]` to the placeholder `$k+1` (the statements are written with `$N`
/// placeholders for both stores; SQLite treats `$1` as a parameter named "$1").
pub(crate) fn bind(st: &mut Statement<'_>, args: &[Arg<'_>]) -> rusqlite::Result<()> {
    for (k, a) in args.iter().enumerate() {
        let Some(i) = st.parameter_index(&format!("${}", k + 1))? else {
            continue;
        };
        match a {
            Arg::Null => st.raw_bind_parameter(i, rusqlite::types::Null)?,
            Arg::Int(v) => st.raw_bind_parameter(i, v)?,
            Arg::Text(v) => st.raw_bind_parameter(i, v)?,
            Arg::Uuid(v) => st.raw_bind_parameter(i, &v.as_bytes()[..])?,
        }
    }
    Ok(())
}

/// Run a statement and decode every row.
pub(crate) fn query<T>(
    c: &Connection,
    sql: &str,
    args: &[Arg<'_>],
    mut decode: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut run = || -> rusqlite::Result<Vec<T>> {
        let mut st = c.prepare_cached(sql)?;
        bind(&mut st, args)?;
        let mut rows = st.raw_query();
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(decode(r)?);
        }
        Ok(out)
    };
    run().map_err(err)
}

fn bad(i: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        i,
        rusqlite::types::Type::Null,
        format!("column {i}: {what}").into(),
    )
}

pub(crate) fn opt_uuid(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<Uuid>> {
    match r.get_ref(i)? {
        ValueRef::Null => Ok(None),
        ValueRef::Blob(b) => Uuid::from_slice(b)
            .map(Some)
            .map_err(|_| bad(i, "not a 16-byte uuid")),
        _ => Err(bad(i, "uuid is not a blob")),
    }
}

pub(crate) fn uuid(r: &Row<'_>, i: usize) -> rusqlite::Result<Uuid> {
    opt_uuid(r, i)?.ok_or_else(|| bad(i, "unexpected NULL"))
}

/// A timestamp in the text forms sqlx's SQLite driver reads: RFC 3339 (what it writes) and the
/// naive forms (taken as UTC).
pub(crate) fn opt_ts(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match r.get_ref(i)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => {
            let s = std::str::from_utf8(t).map_err(|_| bad(i, "timestamp is not UTF-8"))?;
            if let Ok(d) = DateTime::parse_from_rfc3339(s) {
                return Ok(Some(d.with_timezone(&Utc)));
            }
            for f in [
                "%Y-%m-%d %H:%M:%S%.f%:z",
                "%Y-%m-%dT%H:%M:%S%.f%:z",
                "%Y-%m-%d %H:%M:%S%.fZ",
                "%Y-%m-%dT%H:%M:%S%.fZ",
            ] {
                if let Ok(d) = DateTime::parse_from_str(s, f) {
                    return Ok(Some(d.with_timezone(&Utc)));
                }
            }
            for f in [
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M",
            ] {
                if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
                    return Ok(Some(d.and_utc()));
                }
            }
            Err(bad(i, "not a timestamp"))
        }
        _ => Err(bad(i, "not a timestamp")),
    }
}

pub(crate) fn ts(r: &Row<'_>, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    opt_ts(r, i)?.ok_or_else(|| bad(i, "unexpected NULL"))
}

pub(crate) fn flag(r: &Row<'_>, i: usize) -> rusqlite::Result<bool> {
    match r.get_ref(i)? {
        ValueRef::Integer(n) => Ok(n != 0),
        _ => Err(bad(i, "not a boolean")),
    }
}

fn opt_date(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<NaiveDate>> {
    match r.get_ref(i)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .map(Some)
            .ok_or_else(|| bad(i, "not a date")),
        _ => Err(bad(i, "not a date")),
    }
}

/// A column value decoded as sqlx decodes it from SQLite.
pub(crate) trait Value: Sized {
    fn get(r: &Row<'_>, i: usize) -> rusqlite::Result<Self>;
}

macro_rules! plain_value {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn get(r: &Row<'_>, i: usize) -> rusqlite::Result<Self> {
                r.get(i)
            }
        }
    )*};
}
plain_value!(String, Option<String>, i64, Option<i64>, f64, Option<f64>);

impl Value for Uuid {
    fn get(r: &Row<'_>, i: usize) -> rusqlite::Result<Self> {
        uuid(r, i)
    }
}
impl Value for Option<Uuid> {
    fn get(r: &Row<'_>, i: usize) -> rusqlite::Result<Self> {
        opt_uuid(r, i)
    }
}
impl Value for DateTime<Utc> {
    fn get(r: &Row<'_>, i: usize) -> rusqlite::Result<Self> {
        ts(r, i)
    }
}
impl Value for Option<DateTime<Utc>> {
    fn get(r: &Row<'_>, i: usize) -> rusqlite::Result<Self> {
        opt_ts(r, i)
    }
}
impl Value for bool {
    fn get(r: &Row<'_>, i: usize) -> rusqlite::Result<Self> {
        flag(r, i)
    }
}
impl Value for NaiveDate {
    fn get(r: &Row<'_>, i: usize) -> rusqlite::Result<Self> {
        opt_date(r, i)?.ok_or_else(|| bad(i, "unexpected NULL"))
    }
}
impl Value for Option<NaiveDate> {
    fn get(r: &Row<'_>, i: usize) -> rusqlite::Result<Self> {
        opt_date(r, i)
    }
}

/// A row type read directly: its fields from consecutive columns starting at `first`.
pub(crate) trait FromRow: Sized {
    fn from_row_at(r: &Row<'_>, first: usize) -> rusqlite::Result<Self>;
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Self::from_row_at(r, 0)
    }
}

/// `direct_row!(Type { a, b, c })`: [`FromRow`] for a struct whose fields are read from the
/// columns in this order — the order of the type's `*_cols!` list, which the statements
/// select.
macro_rules! direct_row {
    ($t:ty { $($f:ident),* $(,)? }) => {
        impl $crate::sqlite_read::FromRow for $t {
            #[allow(unused_assignments)]
            fn from_row_at(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Self> {
                let mut i = first;
                // Struct expressions evaluate their fields in the order written.
                Ok(Self {
                    $($f: {
                        let v = $crate::sqlite_read::Value::get(r, i)?;
                        i += 1;
                        v
                    }),*
                })
            }
        }
    };
}
pub(crate) use direct_row;

/// The first row of a direct query, if any.
pub(crate) fn one<T: FromRow>(c: &Connection, sql: &str, args: &[Arg<'_>]) -> Result<Option<T>> {
    let mut rows = query(c, sql, args, T::from_row)?;
    Ok(if rows.is_empty() {
        None
    } else {
        Some(rows.swap_remove(0))
    })
}

/// Every row of a direct query.
pub(crate) fn all<T: FromRow>(c: &Connection, sql: &str, args: &[Arg<'_>]) -> Result<Vec<T>> {
    query(c, sql, args, T::from_row)
}

/// `try_direct!(one|all, ex, sql, [args…])`: return the statement's first row (`one`) or all
/// rows (`all`) read directly when the executor `ex` (an `Ex`) has a direct connection; fall
/// through to the sqlx statement that follows otherwise.
macro_rules! try_direct {
    ($how:ident, $ex:expr, $sql:expr, [$($a:expr),* $(,)?]) => {
        if let Some(d) = $ex.direct()? {
            return $crate::sqlite_read::$how(d.conn(), $sql, &[$($crate::sqlite_read::Arg::from($a)),*]);
        }
    };
}
pub(crate) use try_direct;
