//! Group commit for SQLite: many write transactions share one `COMMIT` (one fsync), and
//! writers queue in the process instead of in SQLite's busy handler.
//!
//! SQLite allows one writer at a time. With `BEGIN IMMEDIATE` on a pool of connections, the
//! writers that do not get the lock sleep and retry in SQLite's busy handler, which is unfair
//! and makes the latency tail explode under load; and every commit pays its own fsync.
//! Here every write of one database file in this process goes through one [`Gate`]:
//!
//! 1. A writer waits its turn on a FIFO async mutex (the *gate*).
//! 2. If no batch is open, it takes a pooled connection and runs `BEGIN IMMEDIATE`;
//!    otherwise it joins the open batch. Either way its own work runs inside a savepoint of
//!    its own, so it can roll back alone (`ROLLBACK TO`).
//! 3. Its commit leaves its savepoint open and, if nobody is queued behind it (or the batch
//!    is big or old enough), commits the batch; otherwise it leaves the batch open for the
//!    next writer and waits for the batch's outcome.
//!
//! Every statement sent to the connection is a hand-off to sqlx's worker thread, paid under
//! the lock every writer waits for; so the savepoint statements ride along with statements
//! that run anyway. A member's savepoint is opened by its first statement text, prefixed with
//! `RELEASE` of the previous member's savepoint (if it committed) and `SAVEPOINT` of its own
//! ([`GroupTx::take_prefix`], or [`GroupTx::ready`] which sends the prefix alone). So at a
//! member's start at most one savepoint is open (the previous member's), and the member's
//! takes the other of two names (`yw_a`, `yw_b`): a member that rolls back runs `ROLLBACK TO`
//! its own by name, and if that does not exist (its prefix failed), nothing of it was
//! written, but what the prefix did is unknown, so the whole batch is rolled back and its
//! members told (none was acknowledged). Two names, not one per member: sqlx prepares each
//! distinct text once per connection and keeps it, so the texts must repeat.
//! 4. A writer's commit returns only once the batch's `COMMIT` has returned: a write is
//!    acknowledged only when durable. If the batch fails, every member gets the error —
//!    none of them was acknowledged, so nothing acknowledged is lost.
//!
//! A lone writer commits at once (no added latency); under load, one fsync serves as many
//! writers as queued up during the previous one. Other processes on the same file (the
//! CLI next to `serve`) still use SQLite's own locking; batches stay short, so they get in.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, Executor, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{watch, Mutex, OwnedMutexGuard};

use crate::{Result, StoreError};

/// Commit the open batch once it has this many members, even if writers are queued.
const MAX_MEMBERS: usize = 128;
/// … or once it has been open this long.
const MAX_AGE: Duration = Duration::from_millis(20);
/// A member waiting for its batch's outcome looks again this often, and commits the batch
/// itself if nobody else did (a queued writer that gave up leaves nobody to do it).
const WAIT_POLL: Duration = Duration::from_millis(5);

type Outcome = Option<std::result::Result<(), String>>;

struct Open {
    id: u64,
    conn: PoolConnection<Sqlite>,
    members: usize,
    opened: Instant,
    done: watch::Sender<Outcome>,
    /// The savepoint of the last committed member, still open (released by the next
    /// member's prefix, or by the batch's `COMMIT`).
    unreleased: Option<Savepoint>,
    /// The current member's savepoint, and whether a text opening it has been sent.
    savepoint: Savepoint,
    sent: bool,
}

/// Values the writer knows while it holds the gate, so a write need not read them first:
/// each use checks in its own statement that the database still holds what is cached (another
/// process, a rolled-back member or a bulk operation may have changed it), and on a mismatch
/// writes nothing and reads afresh. So a stale entry costs a statement, never a wrong value.
#[derive(Default)]
pub(crate) struct WriteCache {
    /// `audit_head`: (last_seq, last_hash).
    pub(crate) audit_head: Option<(i64, String)>,
    /// `ticket_counters`: (prefix, year) → value.
    pub(crate) counters: HashMap<(String, i32), i64>,
}

/// One of the two savepoint names (see the module's comment).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Savepoint {
    A,
    B,
}

impl Savepoint {
    fn other(self) -> Savepoint {
        match self {
            Savepoint::A => Savepoint::B,
            Savepoint::B => Savepoint::A,
        }
    }

    /// The text that opens this savepoint, releasing `previous` first.
    fn prefix(self, previous: Option<Savepoint>) -> &'static str {
        match (previous, self) {
            (None, Savepoint::A) => "SAVEPOINT yw_a",
            (None, Savepoint::B) => "SAVEPOINT yw_b",
            (Some(Savepoint::B), Savepoint::A) => "RELEASE yw_b; SAVEPOINT yw_a",
            (Some(Savepoint::A), Savepoint::B) => "RELEASE yw_a; SAVEPOINT yw_b",
            (Some(_), _) => unreachable!("a member's savepoint is not the previous one's"),
        }
    }

    fn rollback(self) -> &'static str {
        match self {
            Savepoint::A => "ROLLBACK TO yw_a; RELEASE yw_a",
            Savepoint::B => "ROLLBACK TO yw_b; RELEASE yw_b",
        }
    }
}

#[derive(Default)]
struct State {
    open: Option<Open>,
    next_id: u64,
    cache: WriteCache,
}

/// The write gate of one database file.
pub(crate) struct Gate {
    state: Arc<Mutex<State>>,
    waiting: AtomicUsize,
}

/// One gate per database file per process (two pools on one file share it); `None` for an
/// in-memory database.
pub(crate) fn gate_for(pool: &SqlitePool) -> Option<Arc<Gate>> {
    let path: PathBuf = pool.connect_options().get_filename().to_path_buf();
    let name = path.to_string_lossy();
    if name.is_empty() || name.starts_with(':') || name.contains("mode=memory") {
        return None;
    }
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    // A few files per process at most (tests: one per test database), so entries stay.
    static GATES: OnceLock<StdMutex<HashMap<PathBuf, Arc<Gate>>>> = OnceLock::new();
    let mut gates = GATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let g = gates.entry(path).or_insert_with(|| {
        Arc::new(Gate {
            state: Arc::new(Mutex::new(State::default())),
            waiting: AtomicUsize::new(0),
        })
    });
    Some(g.clone())
}

/// Counts a writer as queued while it waits for the gate (also if its future is dropped).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Queued(n)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A write transaction inside a group batch. Derefs to the connection; dropped without
/// [`GroupTx::commit`], its work is rolled back (the batch's other members are unaffected).
pub struct GroupTx {
    gate: Arc<Gate>,
    guard: Option<OwnedMutexGuard<State>>,
}

/// The connection, once the member's savepoint is opened (by [`GroupTx::ready`] or a text
/// with [`GroupTx::take_prefix`]): a statement sent before would run outside it, and would
/// not be undone if the member rolls back, so that is a bug, and panics.
impl std::ops::Deref for GroupTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        let open = self
            .guard
            .as_ref()
            .and_then(|g| g.open.as_ref())
            .expect("a live group transaction has an open batch");
        assert!(open.sent, "a statement before the member's savepoint");
        &open.conn
    }
}

impl std::ops::DerefMut for GroupTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        let open = self
            .guard
            .as_mut()
            .and_then(|g| g.open.as_mut())
            .expect("a live group transaction has an open batch");
        assert!(open.sent, "a statement before the member's savepoint");
        &mut open.conn
    }
}

impl Gate {
    pub(crate) async fn begin(self: &Arc<Self>, pool: &SqlitePool) -> Result<GroupTx> {
        let mut guard = {
            let _queued = Queued::new(&self.waiting);
            self.state.clone().lock_owned().await
        };
        match guard.open.as_mut() {
            Some(open) => {
                open.savepoint = open.unreleased.map_or(Savepoint::A, Savepoint::other);
                open.sent = false;
            }
            None => {
                let mut conn = pool.acquire().await?;
                conn.execute("BEGIN IMMEDIATE").await?;
                guard.next_id += 1;
                let (done, _) = watch::channel(None);
                guard.open = Some(Open {
                    id: guard.next_id,
                    conn,
                    members: 0,
                    opened: Instant::now(),
                    done,
                    unreleased: None,
                    savepoint: Savepoint::A,
                    sent: false,
                });
            }
        }
        Ok(GroupTx {
            gate: self.clone(),
            guard: Some(guard),
        })
    }
}

/// End the open batch: `COMMIT` (or `ROLLBACK`) and tell its members. `COMMIT` and
/// `ROLLBACK` end every savepoint still open.
async fn finish(state: &mut State, commit: bool) {
    let Some(mut open) = state.open.take() else {
        return;
    };
    if !commit {
        state.cache = WriteCache::default();
    }
    let sql = if commit { "COMMIT" } else { "ROLLBACK" };
    let outcome = match open.conn.execute(sql).await {
        Ok(_) if commit => Ok(()),
        Ok(_) => Err("the write batch was rolled back".to_string()),
        Err(e) => {
            // The connection's state is unknown: roll back whatever is left and do not
            // return it to the pool.
            let _ = open.conn.execute("ROLLBACK").await;
            let raw = open.conn.detach();
            let _ = raw.close().await;
            open.done.send_replace(Some(Err(e.to_string())));
            return;
        }
    };
    open.done.send_replace(Some(outcome));
}

/// Let go of the gate. With nobody queued, the open batch ends now: committed if it has
/// members, rolled back if it is empty (so no idle transaction holds SQLite's write lock).
async fn release(gate: &Gate, mut guard: OwnedMutexGuard<State>) {
    if let Some(open) = guard.open.as_ref() {
        if gate.waiting.load(Ordering::SeqCst) == 0 {
            let members = open.members;
            finish(&mut guard, members > 0).await;
        }
    }
    drop(guard);
}

/// Undo the current member's work. If that fails (its savepoint does not exist: the text
/// that was to open it failed, after an unknown part of it), the whole batch is rolled back
/// and its members failed.
async fn rollback_member(state: &mut State) {
    // What the member cached may not have been written.
    state.cache = WriteCache::default();
    let Some(open) = state.open.as_mut() else {
        return;
    };
    if !open.sent {
        // Nothing of it reached the database.
        return;
    }
    let undone = open.conn.execute(open.savepoint.rollback()).await;
    match undone {
        // The prefix that opened it released the previous member's savepoint.
        Ok(_) => open.unreleased = None,
        Err(_) => finish(state, false).await,
    }
}

impl GroupTx {
    fn open_mut(&mut self) -> &mut Open {
        self.guard
            .as_mut()
            .and_then(|g| g.open.as_mut())
            .expect("a live group transaction has an open batch")
    }

    /// The statements that open this member's savepoint, to run before its first statement
    /// in the same text (`"{prefix}; {statements}"`); `None` once they have been sent. From
    /// here on the savepoint counts as opened: if the text fails, the rollback finds out.
    pub(crate) fn take_prefix(&mut self) -> Option<&'static str> {
        let open = self.open_mut();
        if open.sent {
            return None;
        }
        open.sent = true;
        Some(open.savepoint.prefix(open.unreleased.take()))
    }

    /// Open this member's savepoint now, if no statement text has done so yet.
    pub(crate) async fn ready(&mut self) -> Result<()> {
        if let Some(prefix) = self.take_prefix() {
            self.open_mut().conn.execute(prefix).await?;
        }
        Ok(())
    }

    /// What the writer knows while it holds the gate (see [`WriteCache`]).
    pub(crate) fn cache(&mut self) -> &mut WriteCache {
        &mut self.guard.as_mut().expect("a live group transaction").cache
    }

    /// Commit: returns once the batch holding this write is durable (or failed).
    pub async fn commit(mut self) -> Result<()> {
        let mut guard = self.guard.take().expect("commit once");
        let gate = self.gate.clone();
        let open = guard.open.as_mut().expect("a live group transaction");
        // A member that wrote nothing has no savepoint; one that did leaves it open for the
        // next member's prefix (or the batch's COMMIT) to end.
        if open.sent {
            open.unreleased = Some(open.savepoint);
        }
        open.members += 1;
        let id = open.id;
        let mut rx = open.done.subscribe();
        let now = open.members >= MAX_MEMBERS
            || open.opened.elapsed() >= MAX_AGE
            || gate.waiting.load(Ordering::SeqCst) == 0;
        if now {
            finish(&mut guard, true).await;
        }
        release(&gate, guard).await;

        loop {
            if let Some(outcome) = rx.borrow().clone() {
                return outcome.map_err(|e| StoreError::Other(format!("group commit: {e}")));
            }
            match tokio::time::timeout(WAIT_POLL, rx.changed()).await {
                Ok(Ok(())) => continue,
                // The batch's sender is gone without an outcome: it was never committed.
                Ok(Err(_)) => {
                    return Err(StoreError::Other(
                        "group commit: the write batch was abandoned".into(),
                    ))
                }
                Err(_) => {
                    // Nobody has ended our batch yet: if it is still open and nobody holds
                    // the gate, end it ourselves.
                    if let Ok(mut g) = gate.state.clone().try_lock_owned() {
                        if g.open.as_ref().is_some_and(|o| o.id == id) {
                            finish(&mut g, true).await;
                        }
                        drop(g);
                    }
                }
            }
        }
    }
}

impl Drop for GroupTx {
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        let gate = self.gate.clone();
        match tokio::runtime::Handle::try_current() {
            // The guard moves into the task, so no other writer runs before the undo.
            Ok(rt) => {
                rt.spawn(async move {
                    rollback_member(&mut guard).await;
                    release(&gate, guard).await;
                });
            }
            // No runtime left (shutdown): close the connection, which rolls the batch back.
            Err(_) => {
                if let Some(open) = guard.open.take() {
                    drop(open.conn.detach());
                }
            }
        }
    }
}
