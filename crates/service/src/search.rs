//! Full-text search over tickets (issue 3, item 8): the node's local index and the feed that
//! keeps it current. Configuration items have an index of their own, fed the same way
//! ([`crate::ci_search`]); one indexer task ([`App::run_search_indexer`]) keeps both current.
//!
//! The index itself (tantivy with jieba segmentation and CJK bigrams) lives in the
//! `yunwei-search` crate, behind the [`TicketIndex`] trait, so its heavy dependencies stay out
//! of this crate. Every node keeps its own index, fed from the database alone:
//!
//! - The **change feed is the audit log**. Every change of a ticket (creation, transitions,
//!   replies and notes, priority, rating, SLA events, auto-confirmation …) appends an audit
//!   entry in its own transaction, and `seq` is commit-ordered (appends are serialized by the
//!   `audit_head` row), so "every entry after the last one indexed" never skips a change.
//! - One indexer task per node ([`App::run_search_indexer`]) reads the entries after its
//!   cursor, maps those about tickets (entity `ticket` or `reply`, id = number or id; replies,
//!   notes and attachments are recorded on their ticket) to ticket ids,
//!   re-reads those tickets from the database and replaces their documents, then commits the
//!   index together with the last `seq` it covers, so a restart continues where it stopped.
//! - The index can always be rebuilt from the database ([`App::rebuild_search_index`],
//!   `yunwei search rebuild`); a missing index or one of another schema version is rebuilt
//!   automatically when the indexer starts. Until the first build is complete, `q` falls back
//!   to the substring filter of the store.
//! - Freshness: a write on this node nudges the indexer ([`App::nudge_search`], called by the
//!   web layer after every successful write request), which indexes the writes of the next
//!   200 ms in one pass and one commit; other nodes see the change within their poll interval.
//!
//! Queries ([`App::list_tickets`] with `q`) ask the index for the ranked ids with the caller's
//! organization (customers) and the other filters applied inside the index, and without the
//! internal-notes field for callers who may not read internal notes; the store then loads those
//! tickets with the same filters and the organization scope enforced again in SQL.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;
use yunwei_domain::{Action, Role};
use yunwei_store::search::{self as store, NameRow, TextRow, TicketRow};
use yunwei_store::tickets::{self, Ticket, TicketFilter};

use crate::{Actor, App, Error, Page, Result};

/// An error of the index (I/O, a corrupt segment …).
pub type IndexError = Box<dyn std::error::Error + Send + Sync>;

/// What is indexed of one ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketDoc {
    pub id: Uuid,
    pub number: String,
    pub org_id: Uuid,
    pub kind: String,
    pub status: String,
    pub priority: Option<i64>,
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub subject: String,
    pub description: String,
    /// Timeline texts the customer sees (public replies, public transition notes).
    pub replies: Vec<String>,
    /// Internal notes (staff and auditors only).
    pub notes: Vec<String>,
    /// Names of the ticket's attachments the customer sees (those of internal notes are in
    /// `notes`).
    pub attachments: Vec<String>,
}

/// One search: the text, who may see what, the list filters and the page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchRequest {
    pub text: String,
    /// Whether internal notes may match (staff and auditors).
    pub include_notes: bool,
    pub org_id: Option<Uuid>,
    pub status: Option<String>,
    pub open_only: bool,
    pub kind: Option<String>,
    pub priority: Option<i64>,
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub offset: usize,
    pub limit: usize,
}

/// A node's ticket index. Implementations are synchronous (CPU and local disk); the service
/// calls them on the blocking thread pool.
pub trait TicketIndex: Send + Sync + 'static {
    /// The audit `seq` up to which every change is in the committed index; `None` when the
    /// index was never completely built (new, rebuilding, or of another schema version).
    fn indexed_seq(&self) -> Option<i64>;
    /// Ticket ids, best match first.
    fn search(&self, req: &SearchRequest) -> std::result::Result<Vec<Uuid>, IndexError>;
    /// Add documents of tickets the index does not hold (a rebuild after [`Self::clear`]):
    /// no deletions to queue, so a rebuild of a million tickets stays in little memory.
    fn add(&self, docs: Vec<TicketDoc>) -> std::result::Result<(), IndexError>;
    /// Replace the documents of these tickets and remove those of `deleted` (visible after
    /// the next commit).
    fn write(
        &self,
        docs: Vec<TicketDoc>,
        deleted: Vec<Uuid>,
    ) -> std::result::Result<(), IndexError>;
    /// Make the written changes durable and searchable; `seq` is recorded with the commit
    /// (`None`: the index is not complete yet).
    fn commit(&self, seq: Option<i64>) -> std::result::Result<(), IndexError>;
    /// Remove every document and commit with no `seq` (the start of a rebuild).
    fn clear(&self) -> std::result::Result<(), IndexError>;
}

/// The node's index with its feed state.
pub struct Search {
    index: Arc<dyn TicketIndex>,
    nudge: tokio::sync::Notify,
    /// The audit `seq` up to which every change is searchable (ahead of the committed one
    /// when the entries since touched no ticket); -1 before the index is built.
    cursor: AtomicI64,
    /// One feed pass or rebuild at a time.
    running: tokio::sync::Mutex<()>,
    /// How often the indexer looks for changes made through other nodes.
    pub poll: Duration,
}

/// Audit entries read per query of the feed.
const FEED_BATCH: i64 = 1000;
/// Tickets read per query while rebuilding.
const REBUILD_BATCH: i64 = 500;
/// Commit a rebuild or a long feed pass every this many tickets (bounds the work lost when
/// the node stops).
const COMMIT_EVERY: u64 = 20_000;
/// Record the cursor in the index at least this often even when no ticket changed.
const IDLE_COMMIT_LAG: i64 = 10_000;
/// Longest query text taken (characters).
const MAX_QUERY_CHARS: usize = 200;
/// After a nudge the indexer waits this long before its pass, so the writes of that moment are
/// indexed by one pass and made searchable by one commit. Without it every write was followed by
/// its own pass and index commit, which cost each ticket creation several milliseconds of CPU
/// (creations/s fell by half; docs/benchmarks.md). A write is searchable on its node within
/// about this delay plus one pass.
const COALESCE: Duration = Duration::from_millis(200);

fn index_err(e: IndexError) -> Error {
    Error::Internal(format!("search index: {e}"))
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::result::Result<T, IndexError> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("search index task: {e}")))?
        .map_err(index_err)
}

/// What one pass of the feed did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedPass {
    /// Tickets whose documents were replaced.
    pub tickets: u64,
    /// The audit `seq` the index now covers.
    pub seq: i64,
}

fn doc(t: TicketRow, texts: &[TextRow], names: &[NameRow]) -> TicketDoc {
    let (mut replies, mut notes, mut attachments) = (Vec::new(), Vec::new(), Vec::new());
    for x in texts {
        if x.public {
            replies.push(x.body.clone());
        } else {
            notes.push(x.body.clone());
        }
    }
    // An attachment of an internal note is as internal as the note: its name goes with notes.
    for a in names {
        if a.internal {
            notes.push(a.file_name.clone());
        } else {
            attachments.push(a.file_name.clone());
        }
    }
    TicketDoc {
        id: t.id,
        number: t.number,
        org_id: t.org_id,
        kind: t.kind,
        status: t.status,
        priority: t.priority,
        assignee_id: t.assignee_id,
        team_id: t.team_id,
        subject: t.subject,
        description: t.description,
        replies,
        notes,
        attachments,
    }
}

impl App {
    /// This node's services with a search index: `q` searches the index once it is built.
    pub fn with_search(mut self, index: Arc<dyn TicketIndex>) -> Self {
        self.search = Some(Arc::new(Search {
            cursor: AtomicI64::new(index.indexed_seq().unwrap_or(-1)),
            index,
            nudge: tokio::sync::Notify::new(),
            running: tokio::sync::Mutex::new(()),
            poll: Duration::from_secs(1),
        }));
        self
    }

    /// Tell this node's indexers (tickets and configuration items) that something changed
    /// (they index at once instead of at their next poll). Cheap; does nothing without an
    /// index.
    pub fn nudge_search(&self) {
        if let Some(s) = &self.search {
            s.nudge.notify_one();
        }
        if let Some(s) = &self.ci_search {
            s.nudge.notify_one();
        }
    }

    /// The index, when it is complete enough to answer queries.
    pub(crate) fn search_index(&self) -> Option<Arc<dyn TicketIndex>> {
        self.search
            .as_ref()
            .filter(|s| s.index.indexed_seq().is_some())
            .map(|s| s.index.clone())
    }

    /// The audit `seq` up to which every change is searchable on this node (`None`: no index,
    /// or not built yet).
    pub fn search_indexed_seq(&self) -> Option<i64> {
        let s = self.search.as_ref()?;
        s.index.indexed_seq()?;
        Some(s.cursor.load(Ordering::SeqCst))
    }

    /// Keep this node's indexes (tickets, and configuration items when it has a CI index)
    /// current until `shutdown` completes: build each if it is missing, then index the audit
    /// log's new entries whenever nudged and at least every poll interval. The two run side
    /// by side (a long rebuild of one does not hold up the other). Errors are logged and
    /// retried at the next round.
    pub async fn run_search_indexer(&self, shutdown: impl Future<Output = ()>) {
        if self.search.is_none() && self.ci_search.is_none() {
            return;
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let tickets = async {
            let Some(s) = self.search.clone() else {
                return;
            };
            let mut stopped = stopped.clone();
            loop {
                let pass = if s.index.indexed_seq().is_none() {
                    self.rebuild_search_index().await.map(|_| ())
                } else {
                    self.search_catch_up().await.map(|_| ())
                };
                if let Err(e) = pass {
                    tracing::warn!("search indexer: {e}");
                }
                tokio::select! {
                    _ = s.nudge.notified() => {
                        // Gather the writes of the next moment into one pass and one commit.
                        tokio::select! {
                            _ = tokio::time::sleep(COALESCE) => {}
                            _ = stopped.changed() => return,
                        }
                    }
                    _ = tokio::time::sleep(s.poll) => {}
                    _ = stopped.changed() => return,
                }
            }
        };
        let cis = async {
            let Some(s) = self.ci_search.clone() else {
                return;
            };
            let poll = self
                .search
                .as_ref()
                .map_or(Duration::from_secs(1), |t| t.poll);
            let mut stopped = stopped.clone();
            loop {
                if let Err(e) = self.ci_search_round().await {
                    tracing::warn!("CI search indexer: {e}");
                }
                tokio::select! {
                    _ = s.nudge.notified() => {
                        tokio::select! {
                            _ = tokio::time::sleep(COALESCE) => {}
                            _ = stopped.changed() => return,
                        }
                    }
                    _ = tokio::time::sleep(poll) => {}
                    _ = stopped.changed() => return,
                }
            }
        };
        let stopper = async move {
            shutdown.await;
            let _ = stop.send(true);
        };
        tokio::join!(tickets, cis, stopper);
    }

    /// Index every audit entry after the cursor (one feed pass).
    pub async fn search_catch_up(&self) -> Result<FeedPass> {
        let Some(s) = self.search.clone() else {
            return Ok(FeedPass::default());
        };
        let _running = s.running.lock().await;
        let committed = s.index.indexed_seq();
        let Some(committed) = committed else {
            return Ok(FeedPass::default());
        };
        let mut cursor = s.cursor.load(Ordering::SeqCst).max(committed);
        let mut pass = FeedPass {
            tickets: 0,
            seq: cursor,
        };
        let mut dirty = false;
        let mut committed_tickets = 0;
        loop {
            let entries = store::changes_since(&self.db, cursor, FEED_BATCH).await?;
            let Some(last) = entries.last().map(|e| e.seq) else {
                break;
            };
            let mut keys = BTreeSet::new();
            for e in &entries {
                let Some(id) = e.entity_id.as_deref() else {
                    continue;
                };
                match e.entity.as_str() {
                    "ticket" | "reply" => {
                        keys.insert(id.to_string());
                    }
                    _ => {}
                }
            }
            let (mut docs, mut deleted) = (Vec::new(), Vec::new());
            for key in keys {
                let by_id = key.parse::<Uuid>().ok();
                let row = match by_id {
                    Some(id) => store::ticket(&self.db, id).await?,
                    None => store::ticket_by_number(&self.db, &key).await?,
                };
                match row {
                    Some(t) => {
                        let texts = store::texts(&self.db, t.id, t.id).await?;
                        let names = store::attachment_names(&self.db, t.id, t.id).await?;
                        docs.push(doc(t, &texts, &names));
                    }
                    None => deleted.extend(by_id),
                }
            }
            if !docs.is_empty() || !deleted.is_empty() {
                pass.tickets += docs.len() as u64;
                dirty = true;
                let index = s.index.clone();
                blocking(move || index.write(docs, deleted)).await?;
            }
            cursor = last;
            pass.seq = cursor;
            if (entries.len() as i64) < FEED_BATCH {
                break;
            }
            // A long backlog (a node that was down): commit as it goes.
            if pass.tickets - committed_tickets >= COMMIT_EVERY {
                committed_tickets = pass.tickets;
                let index = s.index.clone();
                blocking(move || index.commit(Some(cursor))).await?;
                s.cursor.store(cursor, Ordering::SeqCst);
                dirty = false;
            }
        }
        if dirty || cursor - committed >= IDLE_COMMIT_LAG {
            let index = s.index.clone();
            blocking(move || index.commit(Some(cursor))).await?;
        }
        // Only now is every change up to the cursor searchable.
        s.cursor.store(cursor, Ordering::SeqCst);
        Ok(pass)
    }

    /// Build this node's index anew from the database: every ticket, then the changes made
    /// meanwhile. Returns the number of tickets indexed.
    pub async fn rebuild_search_index(&self) -> Result<u64> {
        let Some(s) = self.search.clone() else {
            return Ok(0);
        };
        let started = std::time::Instant::now();
        {
            let _running = s.running.lock().await;
            // Every change up to here is committed and will be seen by the scan below;
            // later ones are replayed from the feed (replacing a document is idempotent).
            let start_seq = store::last_seq(&self.db).await?;
            let index = s.index.clone();
            blocking(move || index.clear()).await?;
            let mut after: Option<Uuid> = None;
            let mut count = 0u64;
            let mut since_commit = 0u64;
            loop {
                let rows = store::tickets_after(&self.db, after, REBUILD_BATCH).await?;
                let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
                    break;
                };
                let (first, last) = (first.id, last.id);
                let texts = store::texts(&self.db, first, last).await?;
                let names = store::attachment_names(&self.db, first, last).await?;
                let mut by_ticket: BTreeMap<Uuid, Vec<TextRow>> = BTreeMap::new();
                for x in texts {
                    by_ticket.entry(x.ticket_id).or_default().push(x);
                }
                let mut names_by: BTreeMap<Uuid, Vec<NameRow>> = BTreeMap::new();
                for a in names {
                    names_by.entry(a.ticket_id).or_default().push(a);
                }
                let n = rows.len() as u64;
                let docs: Vec<TicketDoc> = rows
                    .into_iter()
                    .map(|t| {
                        let texts = by_ticket.remove(&t.id).unwrap_or_default();
                        let names = names_by.remove(&t.id).unwrap_or_default();
                        doc(t, &texts, &names)
                    })
                    .collect();
                let index = s.index.clone();
                blocking(move || index.add(docs)).await?;
                after = Some(last);
                count += n;
                since_commit += n;
                if since_commit >= COMMIT_EVERY {
                    since_commit = 0;
                    let index = s.index.clone();
                    blocking(move || index.commit(None)).await?;
                }
            }
            let index = s.index.clone();
            blocking(move || index.commit(Some(start_seq))).await?;
            s.cursor.store(start_seq, Ordering::SeqCst);
            tracing::info!(
                tickets = count,
                seq = start_seq,
                "search index rebuilt in {} ms",
                started.elapsed().as_millis()
            );
            drop(_running);
            self.search_catch_up().await?;
            Ok(count)
        }
    }

    /// The ticket list's `q` through the index: ranked by relevance, paged by offset.
    /// `f` carries the caller's scope and filters (its `org_id` is already the caller's own
    /// for customers); they are applied inside the index and again in SQL.
    pub(crate) async fn search_ticket_page(
        &self,
        actor: &Actor,
        index: Arc<dyn TicketIndex>,
        f: &TicketFilter,
        limit: i64,
    ) -> Result<Page<Ticket>> {
        let text: String =
            f.q.as_deref()
                .unwrap_or_default()
                .chars()
                .take(MAX_QUERY_CHARS)
                .collect();
        let req = SearchRequest {
            text,
            include_notes: actor.require(Action::TicketWork).is_ok() || actor.role == Role::Auditor,
            org_id: f.org_id,
            status: f.status.clone(),
            open_only: f.open_only,
            kind: f.kind.clone(),
            priority: f.priority,
            assignee_id: f.assignee_id,
            team_id: f.team_id,
            offset: f.offset.max(0) as usize,
            limit: limit as usize + 1,
        };
        let mut ids = blocking(move || index.search(&req)).await?;
        let more = ids.len() as i64 > limit;
        ids.truncate(limit as usize);
        let mut rows: BTreeMap<Uuid, Ticket> = tickets::list_by_ids(&self.db, f, &ids)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        let items = ids.iter().filter_map(|id| rows.remove(id)).collect();
        Ok(Page {
            items,
            next_cursor: more.then(|| (f.offset + limit).to_string()),
        })
    }
}
