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
//!    otherwise it joins the open batch. Either way its own work runs inside
//!    `SAVEPOINT yw_write`, so it can roll back alone (`ROLLBACK TO`).
//! 3. Its commit releases the savepoint. If nobody is queued behind it (or the batch is
//!    big or old enough) it commits the batch; otherwise it leaves the batch open for the
//!    next writer and waits for the batch's outcome.
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
}

#[derive(Default)]
struct State {
    open: Option<Open>,
    next_id: u64,
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

impl std::ops::Deref for GroupTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        let open = self
            .guard
            .as_ref()
            .and_then(|g| g.open.as_ref())
            .expect("a live group transaction has an open batch");
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
        &mut open.conn
    }
}

impl Gate {
    pub(crate) async fn begin(self: &Arc<Self>, pool: &SqlitePool) -> Result<GroupTx> {
        let mut guard = {
            let _queued = Queued::new(&self.waiting);
            self.state.clone().lock_owned().await
        };
        if guard.open.is_none() {
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
            });
        }
        let started = guard
            .open
            .as_mut()
            .expect("opened above")
            .conn
            .execute("SAVEPOINT yw_write")
            .await;
        if let Err(e) = started {
            finish(&mut guard, false).await;
            return Err(e.into());
        }
        Ok(GroupTx {
            gate: self.clone(),
            guard: Some(guard),
        })
    }
}

/// End the open batch: `COMMIT` (or `ROLLBACK`) and tell its members.
async fn finish(state: &mut State, commit: bool) {
    let Some(mut open) = state.open.take() else {
        return;
    };
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

/// Undo the current member's work. If that fails, the whole batch is broken: roll it back
/// and fail its members.
async fn rollback_member(state: &mut State) {
    let Some(open) = state.open.as_mut() else {
        return;
    };
    let undone = match open.conn.execute("ROLLBACK TO yw_write").await {
        Ok(_) => open.conn.execute("RELEASE yw_write").await.map(|_| ()),
        Err(e) => Err(e),
    };
    if undone.is_err() {
        finish(state, false).await;
    }
}

impl GroupTx {
    /// Commit: returns once the batch holding this write is durable (or failed).
    pub async fn commit(mut self) -> Result<()> {
        let mut guard = self.guard.take().expect("commit once");
        let gate = self.gate.clone();
        let open = guard.open.as_mut().expect("a live group transaction");
        if let Err(e) = open.conn.execute("RELEASE yw_write").await {
            rollback_member(&mut guard).await;
            release(&gate, guard).await;
            return Err(e.into());
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
