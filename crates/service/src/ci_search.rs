//! Full-text search over configuration items (issue 4): the node's CI index and the feed
//! that keeps it current, exactly as for tickets ([`crate::search`]).
//!
//! - The CI index is a second index of the node (`<search dir>/ci`, in the `yunwei-search`
//!   crate behind [`CiIndex`]), so the ticket index, its schema and its queries are untouched.
//! - What is indexed of an item: its name (ranked highest), its external key (an exact key
//!   ranks higher still), and as other text its class (code, Chinese and English names),
//!   location, vendor, contract number, the text-valued attributes (text, enum, IP, CIDR,
//!   reference), and the names of its owner organization and department. IP addresses are
//!   also indexed whole, so `10.1.2.3` finds exactly that address and `10.1.2` every address
//!   starting so. Organization, class and status are filter fields inside the index.
//! - The **change feed is the audit log**, read after the index's own cursor: every change of
//!   an item (create, update, import, relation, patch) is audited with entity `ci` and the
//!   item's id; the item is re-read and its document replaced, or removed when the item no
//!   longer exists. A renamed organization or department re-indexes its items. Retired items
//!   stay in the index like in the list (the status filter selects them).
//! - The index is rebuilt from the database when it is missing or of another schema version
//!   (first start), and by `yunwei search rebuild`. Until it is built, `q` falls back to the
//!   substring filter of the store.
//!
//! Queries ([`crate::cmdb`]'s `list_cis` with `q`) ask the index for the ranked ids with the
//! caller's organization (customers) and the class and status filters applied inside the
//! index; the store then checks those ids against the same filters again in SQL before the
//! items are loaded.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde_json::{Map, Value};
use uuid::Uuid;
use yunwei_domain::DomainError;
use yunwei_store::ci_search as store;
use yunwei_store::cmdb::{self as cmdb_store, Ci, CiFilter};
use yunwei_store::orgs;
use yunwei_store::search as feed;

use crate::cmdb::{CiView, Schema};
use crate::search::{blocking, IndexError};
use crate::{App, Page, Result};

/// What is indexed of one configuration item.
#[derive(Debug, Clone, PartialEq)]
pub struct CiDoc {
    pub id: Uuid,
    pub org_id: Uuid,
    pub class_id: Uuid,
    /// planned, in_use, maintenance or retired.
    pub status: String,
    pub external_key: String,
    pub name: String,
    /// The other searchable texts (besides name and key): class code and names, location,
    /// vendor, contract number, text-valued attributes, owner organization and department
    /// names.
    pub texts: Vec<String>,
}

/// One search of configuration items: the text, the caller's scope and filters, the page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CiSearchRequest {
    pub text: String,
    pub org_id: Option<Uuid>,
    pub class_id: Option<Uuid>,
    pub status: Option<String>,
    pub offset: usize,
    pub limit: usize,
}

/// A node's CI index. Implementations are synchronous (CPU and local disk); the service calls
/// them on the blocking thread pool. The same contract as [`crate::search::TicketIndex`].
pub trait CiIndex: Send + Sync + 'static {
    /// The audit `seq` up to which every change is in the committed index; `None` when the
    /// index was never completely built.
    fn indexed_seq(&self) -> Option<i64>;
    /// Item ids, best match first.
    fn search(&self, req: &CiSearchRequest) -> std::result::Result<Vec<Uuid>, IndexError>;
    /// Add documents of items the index does not hold (a rebuild after [`Self::clear`]).
    fn add(&self, docs: Vec<CiDoc>) -> std::result::Result<(), IndexError>;
    /// Replace the documents of these items and remove those of `deleted` (visible after the
    /// next commit).
    fn write(&self, docs: Vec<CiDoc>, deleted: Vec<Uuid>) -> std::result::Result<(), IndexError>;
    /// Make the written changes durable and searchable, recording `seq` (`None`: not complete).
    fn commit(&self, seq: Option<i64>) -> std::result::Result<(), IndexError>;
    /// Remove every document and commit with no `seq` (the start of a rebuild).
    fn clear(&self) -> std::result::Result<(), IndexError>;
}

/// The node's CI index with its feed state.
pub struct CiSearch {
    pub(crate) index: Arc<dyn CiIndex>,
    pub(crate) nudge: tokio::sync::Notify,
    /// The audit `seq` up to which every change is searchable; -1 before the index is built.
    cursor: AtomicI64,
    /// One feed pass or rebuild at a time.
    running: tokio::sync::Mutex<()>,
}

/// What one pass of the CI feed did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CiFeedPass {
    /// Items whose documents were replaced.
    pub cis: u64,
    /// Items whose documents were removed (the item no longer exists).
    pub removed: u64,
    /// The audit `seq` the index now covers.
    pub seq: i64,
}

/// Audit entries read per query of the feed.
const FEED_BATCH: i64 = 1000;
/// Items read per query (rebuild and feed).
const READ_BATCH: usize = 500;
/// Commit a rebuild or a long feed pass every this many items.
const COMMIT_EVERY: u64 = 20_000;
/// Record the cursor in the index at least this often even when no item changed.
const IDLE_COMMIT_LAG: i64 = 10_000;
/// Longest query text taken (characters).
const MAX_QUERY_CHARS: usize = 200;
/// Deepest result offset taken.
const MAX_OFFSET: i64 = 10_000;

/// Attribute kinds whose values are text worth finding (not numbers, dates or booleans).
const TEXT_KINDS: [&str; 5] = ["text", "enum", "ip", "cidr", "reference"];

/// Names of organizations and departments, for the documents.
struct Names {
    orgs: HashMap<Uuid, String>,
    departments: HashMap<Uuid, String>,
}

/// The document of an item.
fn ci_doc(schema: &Schema, names: &Names, c: &Ci) -> CiDoc {
    let mut texts = Vec::new();
    if let Some(cl) = schema.by_id(c.class_id) {
        texts.push(cl.code.clone());
        texts.push(cl.name_zh.clone());
        texts.push(cl.name_en.clone());
    }
    texts.extend(
        [&c.location, &c.vendor, &c.contract_no]
            .into_iter()
            .flatten()
            .cloned(),
    );
    let kinds: HashMap<&str, &str> = schema
        .attrs
        .get(&c.class_id)
        .map(|v| {
            v.iter()
                .map(|a| (a.code.as_str(), a.kind.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let attrs = serde_json::from_str::<Map<String, Value>>(&c.attributes_json).unwrap_or_default();
    for (code, v) in &attrs {
        // Attributes no longer in the schema are kept as text when they are text.
        let text_kind = kinds
            .get(code.as_str())
            .is_none_or(|k| TEXT_KINDS.contains(k));
        if let (true, Value::String(s)) = (text_kind, v) {
            texts.push(s.clone());
        }
    }
    texts.extend(names.orgs.get(&c.org_id).cloned());
    texts.extend(
        c.department_id
            .and_then(|d| names.departments.get(&d))
            .cloned(),
    );
    texts.retain(|t| !t.trim().is_empty());
    CiDoc {
        id: c.id,
        org_id: c.org_id,
        class_id: c.class_id,
        status: c.status.clone(),
        external_key: c.external_key.clone(),
        name: c.name.clone(),
        texts,
    }
}

/// The offset a relevance-ranked page starts at (its `cursor`).
pub(crate) fn offset_cursor(cursor: Option<&str>) -> Result<i64> {
    match cursor.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(0),
        Some(c) => Ok(c
            .parse::<i64>()
            .ok()
            .filter(|o| (0..=MAX_OFFSET).contains(o))
            .ok_or_else(|| DomainError::invalid("cursor"))?),
    }
}

/// The id an id-ordered page starts after (its `cursor`).
pub(crate) fn id_cursor(cursor: Option<&str>) -> Result<Option<Uuid>> {
    match cursor.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => Ok(Some(
            c.parse::<Uuid>()
                .map_err(|_| DomainError::invalid("cursor"))?,
        )),
    }
}

impl App {
    /// This node's services with a CI index: the CI list's `q` searches it once it is built.
    pub fn with_ci_search(mut self, index: Arc<dyn CiIndex>) -> Self {
        self.ci_search = Some(Arc::new(CiSearch {
            cursor: AtomicI64::new(index.indexed_seq().unwrap_or(-1)),
            index,
            nudge: tokio::sync::Notify::new(),
            running: tokio::sync::Mutex::new(()),
        }));
        self
    }

    /// The CI index, when it is complete enough to answer queries.
    pub(crate) fn ci_search_index(&self) -> Option<Arc<dyn CiIndex>> {
        self.ci_search
            .as_ref()
            .filter(|s| s.index.indexed_seq().is_some())
            .map(|s| s.index.clone())
    }

    /// The audit `seq` up to which every change of an item is searchable on this node
    /// (`None`: no CI index, or not built yet).
    pub fn ci_search_indexed_seq(&self) -> Option<i64> {
        let s = self.ci_search.as_ref()?;
        s.index.indexed_seq()?;
        Some(s.cursor.load(Ordering::SeqCst))
    }

    /// Class and attribute schema and the organization and department names.
    async fn ci_doc_context(&self) -> Result<(Schema, Names)> {
        let schema = self.cmdb_schema(&self.db).await?;
        let orgs = orgs::list_orgs(&self.db, None)
            .await?
            .into_iter()
            .map(|o| (o.id, o.name))
            .collect();
        let departments = store::department_names(&self.db)
            .await?
            .into_iter()
            .collect();
        Ok((schema, Names { orgs, departments }))
    }

    /// One round of the CI indexer: build the index when it is missing, else follow the feed.
    pub(crate) async fn ci_search_round(&self) -> Result<()> {
        match self.ci_search.as_ref().map(|s| s.index.indexed_seq()) {
            None => Ok(()),
            Some(None) => self.rebuild_ci_search_index().await.map(|_| ()),
            Some(Some(_)) => self.ci_search_catch_up().await.map(|_| ()),
        }
    }

    /// Index every audit entry after the CI cursor (one feed pass).
    pub async fn ci_search_catch_up(&self) -> Result<CiFeedPass> {
        let Some(s) = self.ci_search.clone() else {
            return Ok(CiFeedPass::default());
        };
        let _running = s.running.lock().await;
        let Some(committed) = s.index.indexed_seq() else {
            return Ok(CiFeedPass::default());
        };
        let mut cursor = s.cursor.load(Ordering::SeqCst).max(committed);
        let mut pass = CiFeedPass {
            seq: cursor,
            ..Default::default()
        };
        let mut dirty = false;
        let mut committed_at = 0;
        loop {
            let entries = feed::changes_since(&self.db, cursor, FEED_BATCH).await?;
            let Some(last) = entries.last().map(|e| e.seq) else {
                break;
            };
            let mut ids = BTreeSet::new();
            for e in &entries {
                let Some(id) = e.entity_id.as_deref().and_then(|i| i.parse::<Uuid>().ok()) else {
                    continue;
                };
                match e.entity.as_str() {
                    "ci" => {
                        ids.insert(id);
                    }
                    // A new or renamed owner: its items carry its name.
                    "organization" => ids.extend(store::ci_ids_of_org(&self.db, id).await?),
                    "department" => ids.extend(store::ci_ids_of_department(&self.db, id).await?),
                    _ => {}
                }
            }
            if !ids.is_empty() {
                // Read after the entries: at least as new as they are.
                let (schema, names) = self.ci_doc_context().await?;
                let ids: Vec<Uuid> = ids.into_iter().collect();
                for chunk in ids.chunks(READ_BATCH) {
                    let rows = cmdb_store::cis_by_ids(&self.db, chunk).await?;
                    let found: HashSet<Uuid> = rows.iter().map(|c| c.id).collect();
                    let deleted: Vec<Uuid> = chunk
                        .iter()
                        .filter(|id| !found.contains(id))
                        .copied()
                        .collect();
                    let docs: Vec<CiDoc> =
                        rows.iter().map(|c| ci_doc(&schema, &names, c)).collect();
                    pass.cis += docs.len() as u64;
                    pass.removed += deleted.len() as u64;
                    dirty = true;
                    let index = s.index.clone();
                    blocking(move || index.write(docs, deleted)).await?;
                }
            }
            cursor = last;
            pass.seq = cursor;
            if (entries.len() as i64) < FEED_BATCH {
                break;
            }
            // A long backlog (a node that was down, a large import): commit as it goes.
            if pass.cis - committed_at >= COMMIT_EVERY {
                committed_at = pass.cis;
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

    /// Build this node's CI index anew from the database: every item, then the changes made
    /// meanwhile. Returns the number of items indexed.
    pub async fn rebuild_ci_search_index(&self) -> Result<u64> {
        let Some(s) = self.ci_search.clone() else {
            return Ok(0);
        };
        let started = std::time::Instant::now();
        let count = {
            let _running = s.running.lock().await;
            // Every change up to here is seen by the scan below; later ones are replayed
            // from the feed (replacing a document is idempotent).
            let start_seq = feed::last_seq(&self.db).await?;
            let index = s.index.clone();
            blocking(move || index.clear()).await?;
            let (schema, names) = self.ci_doc_context().await?;
            let mut after: Option<Uuid> = None;
            let mut count = 0u64;
            let mut since_commit = 0u64;
            loop {
                let f = CiFilter {
                    after,
                    limit: READ_BATCH as i64,
                    ..Default::default()
                };
                let rows = cmdb_store::list_cis(&self.db, &f).await?;
                let Some(last) = rows.last().map(|c| c.id) else {
                    break;
                };
                let n = rows.len() as u64;
                let docs: Vec<CiDoc> = rows.iter().map(|c| ci_doc(&schema, &names, c)).collect();
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
                cis = count,
                seq = start_seq,
                "CI search index rebuilt in {} ms",
                started.elapsed().as_millis()
            );
            count
        };
        self.ci_search_catch_up().await?;
        Ok(count)
    }

    /// The CI list's `q` through the index: ranked by relevance, paged by offset. `f` carries
    /// the caller's scope (its `org` is the caller's own for customers) and the filters; they
    /// are applied inside the index and again in SQL.
    pub(crate) async fn search_ci_page(
        &self,
        index: Arc<dyn CiIndex>,
        schema: &Schema,
        f: &CiFilter,
        offset: i64,
        limit: i64,
    ) -> Result<Page<CiView>> {
        let text: String =
            f.q.as_deref()
                .unwrap_or_default()
                .chars()
                .take(MAX_QUERY_CHARS)
                .collect();
        let req = CiSearchRequest {
            text,
            org_id: f.org,
            class_id: f.class_id,
            status: f.status.clone(),
            offset: offset.max(0) as usize,
            limit: limit as usize + 1,
        };
        let mut ids = blocking(move || index.search(&req)).await?;
        let more = ids.len() as i64 > limit;
        ids.truncate(limit as usize);
        let allowed: Vec<Uuid> = store::filter_ids(&self.db, f, &ids).await?;
        let mut rows: HashMap<Uuid, Ci> = cmdb_store::cis_by_ids(&self.db, &allowed)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let now = self.now();
        let items = ids
            .iter()
            .filter_map(|id| rows.remove(id))
            .map(|c| schema.view(c, now))
            .collect();
        Ok(Page {
            items,
            next_cursor: more.then(|| (offset + limit).to_string()),
        })
    }
}
