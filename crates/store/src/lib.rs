//! yunwei-store: persistence over SQLite and PostgreSQL.
//!
//! One [`Db`] value wraps either backend's pool; the backend is picked once, from the URL
//! scheme. Every query is written once, with `$1` placeholders both backends accept, and
//! run against whichever pool is present through the [`on_db!`] / [`on_tx!`] macros, which
//! instantiate the same code for both. Row types derive `sqlx::FromRow` generically, so they
//! decode from either backend. Types are chosen so both stores hold values exactly: UUIDs,
//! UTC timestamps to the microsecond, i64, bool, text.
//!
//! Writes go through [`Tx`], started with [`Db::begin_write`]: on SQLite a member of a
//! group-committed batch (writers queue in the process, the batch runs under
//! `BEGIN IMMEDIATE` so a read-then-write transaction cannot fail on a stale snapshot, and
//! one `COMMIT` serves every writer that queued meanwhile; see `group_commit`), on
//! PostgreSQL a normal transaction. A write is acknowledged to the user only after its
//! commit is durable; SQLite runs with `synchronous=FULL` in WAL mode.

pub mod alerts;
pub mod announcements;
pub mod attachments;
pub mod audit;
pub mod backup;
pub mod catalog;
pub mod ci_search;
pub mod cmdb;
pub mod copy;
mod group_commit;
pub mod jobs;
pub mod notify;
pub mod orgs;
pub mod search;
pub mod sessions;
pub mod settings;
pub mod sla;
mod sqlite_read;
pub mod staff;
pub mod substatus;
pub mod teams;
pub mod throttle;
pub mod tickets;
pub mod tokens;
pub mod users;
pub mod views;
pub mod watchers;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

pub use sqlx;

/// Run the same code against whichever backend a [`Db`] holds.
#[macro_export]
macro_rules! on_db {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            $crate::Db::Sqlite($p) => $body,
            $crate::Db::Pg($p) => $body,
        }
    };
}

/// Run the same code on the connection of whichever backend a [`Tx`] holds.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::Tx::Sqlite(t) => {
                $crate::SqliteTx::ready(t).await?;
                let $c = &mut **t;
                $body
            }
            $crate::Tx::Pg(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; the text names the constraint or columns.
    #[error("unique constraint violated: {0}")]
    Unique(String),
    /// A foreign key refused the write.
    #[error("foreign key violated: {0}")]
    ForeignKey(String),
    #[error("invalid database url: {0}")]
    BadUrl(String),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Other(String),
    #[error(transparent)]
    Sqlx(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(d) = &e {
            let what = d
                .constraint()
                .map(str::to_string)
                .unwrap_or_else(|| d.message().to_string());
            if d.is_unique_violation() {
                return StoreError::Unique(what);
            }
            if d.is_foreign_key_violation() {
                return StoreError::ForeignKey(what);
            }
        }
        StoreError::Sqlx(e)
    }
}

impl StoreError {
    /// True when a unique violation names this index or column.
    pub fn is_unique_on(&self, needle: &str) -> bool {
        matches!(self, StoreError::Unique(w) if w.contains(needle))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// A write transaction on either backend. Dropped without commit, it rolls back.
pub enum Tx {
    Sqlite(SqliteTx),
    Pg(Transaction<'static, Postgres>),
}

/// A SQLite write transaction: a member of a group-committed batch (see `group_commit`),
/// or, for an in-memory database, a plain `BEGIN IMMEDIATE` transaction. Either way it
/// derefs to the connection, so queries run on `&mut **t`.
pub enum SqliteTx {
    Group(group_commit::GroupTx),
    Plain(Transaction<'static, Sqlite>),
}

impl SqliteTx {
    /// Make the connection ready for a statement: a group-committed member opens its
    /// savepoint if no statement has yet (see `group_commit`). Every statement sent through
    /// `&mut **t` must come after this; [`on_tx!`] and [`on_ex!`] do it.
    pub async fn ready(&mut self) -> Result<()> {
        match self {
            SqliteTx::Group(g) => g.ready().await,
            SqliteTx::Plain(_) => Ok(()),
        }
    }

    /// The group-committed member's prefix (see `group_commit`): statements to put before the
    /// first statement of a text; `None` once sent, or for a plain transaction.
    pub(crate) fn take_prefix(&mut self) -> Option<&'static str> {
        match self {
            SqliteTx::Group(g) => g.take_prefix(),
            SqliteTx::Plain(_) => None,
        }
    }

    /// The writer's cache (see `group_commit::WriteCache`); `None` for a plain transaction.
    pub(crate) fn cache(&mut self) -> Option<&mut group_commit::WriteCache> {
        match self {
            SqliteTx::Group(g) => Some(g.cache()),
            SqliteTx::Plain(_) => None,
        }
    }
}

impl std::ops::Deref for SqliteTx {
    type Target = sqlx::SqliteConnection;
    fn deref(&self) -> &sqlx::SqliteConnection {
        match self {
            SqliteTx::Group(t) => t,
            SqliteTx::Plain(t) => t,
        }
    }
}

impl std::ops::DerefMut for SqliteTx {
    fn deref_mut(&mut self) -> &mut sqlx::SqliteConnection {
        match self {
            SqliteTx::Group(t) => &mut *t,
            SqliteTx::Plain(t) => &mut *t,
        }
    }
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The SQLite file inside a data directory.
pub fn sqlite_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("yunwei.db")
}

/// The URL of the SQLite file inside a data directory.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}", sqlite_path(data_dir).display())
}

/// A pooled PostgreSQL connection idle longer than this is pinged before it is handed out.
const PG_PING_IF_IDLE: Duration = Duration::from_secs(10);

/// Connection pool sizes.
#[derive(Debug, Clone, Copy)]
pub struct PoolSize {
    pub max_connections: u32,
}

impl Default for PoolSize {
    fn default() -> Self {
        Self {
            max_connections: 16,
        }
    }
}

impl Db {
    /// Connect to `sqlite://PATH` or `postgres://…`, creating a SQLite file if missing.
    pub async fn connect(url: &str, size: PoolSize) -> Result<Db> {
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or(rest);
            if path.is_empty() {
                return Err(StoreError::BadUrl("sqlite url without a path".into()));
            }
            if let Some(parent) = Path::new(path).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        StoreError::Other(format!("cannot create {}: {e}", parent.display()))
                    })?;
                }
            }
            let opts = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(15))
                .foreign_keys(true)
                // Reads: a page cache of up to SQLITE_CACHE_KIB per connection (SQLite's default
                // is 2 MiB); it grows only as pages are touched. No memory map: each pooled
                // connection maps the file on its own, so 16 connections × a 64 MiB map showed as
                // ~1 GiB of resident memory under load (the same file pages counted 16 times),
                // for no read gain measurable here (bench/analysis.md section 2).
                .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"));
            // No ping before handing out a connection: sqlx pings on every acquire by
            // default (and again on every release), which for an in-process SQLite is a
            // worker-thread round trip per statement, for nothing (a local file does not
            // hang up). Release still pings (sqlx always does), which also rolls back what a
            // cancelled future left open.
            let pool = SqlitePoolOptions::new()
                .max_connections(size.max_connections.max(2))
                .test_before_acquire(false)
                .connect_with(opts)
                .await?;
            Ok(Db::Sqlite(pool))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts =
                PgConnectOptions::from_str(url).map_err(|e| StoreError::BadUrl(e.to_string()))?;
            // sqlx pings on every acquire by default: a network round trip before each
            // statement. Every connection is pinged when it is released anyway, so ping again
            // only one that sat idle long enough for the server or a middlebox to drop it.
            let pool = PgPoolOptions::new()
                .max_connections(size.max_connections)
                .acquire_timeout(Duration::from_secs(15))
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for > PG_PING_IF_IDLE {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect_with(opts)
                .await?;
            Ok(Db::Pg(pool))
        } else {
            Err(StoreError::BadUrl(
                "expected sqlite://PATH or postgres://…".into(),
            ))
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Pg(_) => "postgres",
        }
    }

    /// Apply pending migrations. Safe to run from several processes at once: PostgreSQL
    /// takes an advisory lock; on SQLite, where sqlx has no migration lock, a process that
    /// loses the race (the other applied the migration first) retries and finds it applied.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Db::Sqlite(p) => {
                let mut attempt = 0;
                loop {
                    match SQLITE_MIGRATOR.run(p).await {
                        Ok(()) => break,
                        Err(e) if attempt < 10 => {
                            attempt += 1;
                            tracing::debug!("sqlite migration raced ({e}); retrying");
                            tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Db::Pg(p) => PG_MIGRATOR.run(p).await?,
        }
        Ok(())
    }

    /// Open an existing installation: a SQLite URL must name an existing file (commands that
    /// only read, like `audit verify` and `backup`, must not create an empty database).
    pub async fn connect_existing(url: &str, size: PoolSize) -> Result<Db> {
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or(rest);
            if !Path::new(path).is_file() {
                return Err(StoreError::Other(format!(
                    "no database at {path}; check --data-dir / --database-url"
                )));
            }
        }
        Db::connect(url, size).await
    }

    /// Start a write transaction.
    pub async fn begin_write(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite(p) => Tx::Sqlite(match group_commit::gate_for(p) {
                Some(gate) => SqliteTx::Group(gate.begin(p).await?),
                None => SqliteTx::Plain(p.begin_with("BEGIN IMMEDIATE").await?),
            }),
            Db::Pg(p) => Tx::Pg(p.begin().await?),
        })
    }

    /// Is the database reachable?
    pub async fn ping(&self) -> Result<()> {
        on_db!(self, |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Pool figures for metrics: (connections open, idle).
    pub fn pool_stats(&self) -> (u32, usize) {
        on_db!(self, |p| (p.size(), p.num_idle()))
    }

    pub async fn close(&self) {
        on_db!(self, |p| p.close().await)
    }
}

/// Where a read runs: on the pool, or inside a write transaction (to see its own writes and
/// hold its locks).
pub enum Ex<'a> {
    Db(&'a Db),
    Tx(&'a mut Tx),
    Conn(&'a mut Conn),
}

/// One pooled connection held across several reads (no transaction): a request that reads
/// twice takes one connection from the pool instead of two.
pub enum Conn {
    /// An in-memory SQLite database: every read on the one pooled connection.
    Sqlite(sqlx::pool::PoolConnection<Sqlite>),
    /// A SQLite file: reads that have a direct form run on the held read-only connection
    /// (see `sqlite_read`), the others on the pool.
    SqliteDirect(SqlitePool, sqlite_read::Lease),
    Pg(sqlx::pool::PoolConnection<Postgres>),
}

/// Where a read with a direct SQLite form runs (see `sqlite_read`).
pub(crate) enum Direct<'a> {
    Leased(sqlite_read::Lease),
    Held(&'a sqlite_read::Lease),
}

impl Direct<'_> {
    pub(crate) fn conn(&self) -> &rusqlite::Connection {
        match self {
            Direct::Leased(l) => l.conn(),
            Direct::Held(l) => l.conn(),
        }
    }
}

impl Ex<'_> {
    /// The direct read connection for this executor: on a SQLite file outside a
    /// transaction; `None` elsewhere (PostgreSQL, a transaction, an in-memory database).
    pub(crate) fn direct(&self) -> Result<Option<Direct<'_>>> {
        Ok(match self {
            Ex::Db(db) => db.direct_lease()?.map(Direct::Leased),
            Ex::Conn(Conn::SqliteDirect(_, l)) => Some(Direct::Held(l)),
            _ => None,
        })
    }
}

impl<'a> From<&'a mut Conn> for Ex<'a> {
    fn from(c: &'a mut Conn) -> Self {
        Ex::Conn(c)
    }
}

impl Db {
    /// Hold one pooled connection for several reads (see [`Conn`]).
    pub async fn acquire(&self) -> Result<Conn> {
        Ok(match self {
            Db::Sqlite(p) => match sqlite_read::lease(p)? {
                Some(l) => Conn::SqliteDirect(p.clone(), l),
                None => Conn::Sqlite(p.acquire().await?),
            },
            Db::Pg(p) => Conn::Pg(p.acquire().await?),
        })
    }

    /// Whether the hot reads of this database run directly (see `sqlite_read`): a SQLite
    /// file.
    pub fn direct_reads(&self) -> bool {
        match self {
            Db::Sqlite(p) => sqlite_read::available(p),
            Db::Pg(_) => false,
        }
    }

    /// A read-only connection of its own for direct reads (see `sqlite_read`): SQLite files
    /// only.
    pub(crate) fn direct_lease(&self) -> Result<Option<sqlite_read::Lease>> {
        match self {
            Db::Sqlite(p) => sqlite_read::lease(p),
            Db::Pg(_) => Ok(None),
        }
    }
}

impl<'a> From<&'a Db> for Ex<'a> {
    fn from(d: &'a Db) -> Self {
        Ex::Db(d)
    }
}

impl<'a> From<&'a mut Tx> for Ex<'a> {
    fn from(t: &'a mut Tx) -> Self {
        Ex::Tx(t)
    }
}

/// Run the same read on a pool or inside a transaction, on either backend.
#[macro_export]
macro_rules! on_ex {
    ($ex:expr, |$c:ident| $body:expr) => {
        match $ex {
            $crate::Ex::Db($crate::Db::Sqlite(p)) => {
                let $c = p;
                $body
            }
            $crate::Ex::Db($crate::Db::Pg(p)) => {
                let $c = p;
                $body
            }
            $crate::Ex::Tx($crate::Tx::Sqlite(t)) => {
                $crate::SqliteTx::ready(t).await?;
                let $c = &mut **t;
                $body
            }
            $crate::Ex::Tx($crate::Tx::Pg(t)) => {
                let $c = &mut **t;
                $body
            }
            $crate::Ex::Conn($crate::Conn::Sqlite(k)) => {
                let $c = &mut **k;
                $body
            }
            $crate::Ex::Conn($crate::Conn::SqliteDirect(p, _)) => {
                let $c = &*p;
                $body
            }
            $crate::Ex::Conn($crate::Conn::Pg(k)) => {
                let $c = &mut **k;
                $body
            }
        }
    };
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(SqliteTx::Group(t)) => t.commit().await?,
            Tx::Sqlite(SqliteTx::Plain(t)) => t.commit().await?,
            Tx::Pg(t) => t.commit().await?,
        }
        Ok(())
    }

    /// An executor for reads, during this transaction, of rows it has not written and may
    /// read as last committed (configuration, users, preferences). On a SQLite file (a
    /// group-committed transaction) that is `db`'s direct reader: the statement runs off the
    /// writer's connection, so it does not lengthen the time every writer waits for the write
    /// lock; it sees every committed write (WAL), but not those of the other members of the
    /// still open batch — as if they had committed a moment after this one read. Elsewhere it
    /// is the transaction itself (on PostgreSQL, a second pooled connection taken while this
    /// one holds locks could wait on the pool). `db` must be the transaction's database.
    pub fn committed<'a>(&'a mut self, db: &'a Db) -> Ex<'a> {
        match self {
            Tx::Sqlite(SqliteTx::Group(_)) if db.direct_reads() => Ex::Db(db),
            _ => Ex::Tx(self),
        }
    }
}

/// The names of the migration files of each backend (for the one-to-one check).
pub fn migration_names() -> (Vec<String>, Vec<String>) {
    let names = |m: &sqlx::migrate::Migrator| {
        m.iter()
            .map(|x| format!("{}_{}", x.version, x.description))
            .collect()
    };
    (names(&SQLITE_MIGRATOR), names(&PG_MIGRATOR))
}

/// Current time truncated to microseconds (what both stores keep).
pub fn now() -> chrono::DateTime<chrono::Utc> {
    yunwei_domain::audit::truncate_to_micros(chrono::Utc::now())
}

/// SQLite page cache per pooled connection, in KiB (`PRAGMA cache_size` = -this).
pub const SQLITE_CACHE_KIB: u32 = 4096;
