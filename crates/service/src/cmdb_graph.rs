//! The CMDB's relation graph in memory, for impact analysis at any depth (issue 4: p99 under
//! 100 ms at 100,000 CIs and 500,000 relations).
//!
//! Each node holds one [`Graph`]: CIs numbered 0..n (`u32`), the relations that propagate
//! impact (every kind but `backed_up_by`, as [`RelKind::propagates_impact`] says) as compressed
//! adjacency lists in both directions, and per CI what the analysis needs without the
//! database: organization, department, class (with its category), name, external key, status
//! and criticality.
//!
//! **Freshness:** every transaction that writes CIs or relations increments the CMDB epoch
//! (`cmdb_epoch`, [`store::bump_epoch`]) in that transaction and logs the CIs it touched
//! (`cmdb_graph_log`). Every use reads the epoch (one small query); when it differs from the
//! one the graph was read at, the graph is brought up to date, so a change committed on any
//! node sharing the database is seen by the next query on every node. Usually by a patch
//! ([`store::graph_changes`]): the log rows after the graph's epoch, the touched CIs and their
//! relations, read in one snapshot with the epoch they correspond to, applied to a copy of
//! the graph in memory (milliseconds). A full reload when the log says "everything" (an
//! import), covers too many CIs, or no longer reaches back to the graph's epoch (pruned). The
//! full graph and its epoch are likewise read in one snapshot (a read transaction;
//! repeatable read on PostgreSQL). One loader at a time per node: concurrent requests wait
//! for it and use its graph (no thundering herd).
//!
//! [`RelKind::propagates_impact`]: yunwei_domain::cmdb::RelKind::propagates_impact

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use uuid::Uuid;
use yunwei_domain::cmdb::Category;
use yunwei_store::cmdb::{self as store, Ci, CiClass, GraphChanges, GraphCi, GraphPatch, GraphRow};
use yunwei_store::Db;

use crate::cmdb::CiBrief;
use crate::Result;

/// "No department" / "unknown class".
const NONE: u32 = u32::MAX;

/// A graph behind by changes to more CIs than this is read again in full rather than patched.
const PATCH_MAX_CIS: usize = 10_000;

/// Which way a walk goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// To what depends on the item (sources of relations whose target it is): impact.
    Dependents,
    /// To what the item depends on (targets of its relations).
    Dependencies,
}

/// A class as the graph needs it.
#[derive(Debug, Clone)]
struct ClassInfo {
    id: Uuid,
    code: String,
    name_zh: String,
    name_en: String,
    category: String,
    is_service: bool,
}

/// The relation graph of one epoch.
pub struct Graph {
    /// The CMDB epoch the graph was read at.
    pub epoch: i64,
    /// Milliseconds the load took.
    pub load_ms: f64,
    ids: Vec<Uuid>,
    index: HashMap<Uuid, u32>,
    org: Vec<u32>,
    orgs: Vec<Uuid>,
    org_index: HashMap<Uuid, u32>,
    dept: Vec<u32>,
    depts: Vec<Uuid>,
    dept_index: HashMap<Uuid, u32>,
    class: Vec<u32>,
    classes: Vec<ClassInfo>,
    class_index: HashMap<Uuid, u32>,
    /// Shared with the graphs patched from this one (a patch copies the per-CI vectors).
    name: Vec<Arc<str>>,
    key: Vec<Arc<str>>,
    /// Status and criticality, interned in `words`.
    status: Vec<u16>,
    crit: Vec<u16>,
    words: Vec<Box<str>>,
    /// Position of each CI in the order (name, id): the order within one depth.
    rank: Vec<u32>,
    /// Dependents: for CI i, `up[up_off[i]..up_off[i + 1]]`.
    up_off: Vec<u32>,
    up: Vec<u32>,
    /// Dependencies, likewise.
    down_off: Vec<u32>,
    down: Vec<u32>,
}

#[derive(Default)]
struct Builder {
    ids: Vec<Uuid>,
    index: HashMap<Uuid, u32>,
    org: Vec<u32>,
    orgs: Vec<Uuid>,
    org_index: HashMap<Uuid, u32>,
    dept: Vec<u32>,
    depts: Vec<Uuid>,
    dept_index: HashMap<Uuid, u32>,
    class_ids: Vec<Uuid>,
    name: Vec<Arc<str>>,
    key: Vec<Arc<str>>,
    status: Vec<u16>,
    crit: Vec<u16>,
    words: Vec<Box<str>>,
    word_index: HashMap<String, u16>,
    edges: Vec<(u32, u32)>,
    unknown_ends: usize,
}

fn intern(map: &mut HashMap<Uuid, u32>, list: &mut Vec<Uuid>, id: Uuid) -> u32 {
    *map.entry(id).or_insert_with(|| {
        list.push(id);
        (list.len() - 1) as u32
    })
}

impl Builder {
    fn word(&mut self, s: String) -> u16 {
        if let Some(&w) = self.word_index.get(&s) {
            return w;
        }
        // Statuses and criticalities are a handful of codes; more than u16 distinct values
        // cannot occur (the columns are checked), but stay total anyway.
        let w = u16::try_from(self.words.len()).unwrap_or(u16::MAX);
        if w < u16::MAX {
            self.words.push(s.clone().into_boxed_str());
            self.word_index.insert(s, w);
        }
        w
    }

    fn ci(&mut self, c: GraphCi) {
        let i = self.ids.len() as u32;
        self.ids.push(c.id);
        self.index.insert(c.id, i);
        let o = intern(&mut self.org_index, &mut self.orgs, c.org_id);
        self.org.push(o);
        let d = match c.department_id {
            Some(d) => intern(&mut self.dept_index, &mut self.depts, d),
            None => NONE,
        };
        self.dept.push(d);
        self.class_ids.push(c.class_id);
        self.name.push(Arc::from(c.name));
        self.key.push(Arc::from(c.external_key));
        let s = self.word(c.status);
        self.status.push(s);
        let k = self.word(c.criticality);
        self.crit.push(k);
    }

    fn edge(&mut self, source: Uuid, target: Uuid) {
        match (self.index.get(&source), self.index.get(&target)) {
            (Some(&s), Some(&t)) if s != t => self.edges.push((s, t)),
            (Some(_), Some(_)) => {}
            _ => self.unknown_ends += 1,
        }
    }
}

/// Compressed adjacency: for each `(from, to)` pair, `to` in the list of `from`; duplicates
/// (two relation kinds between the same items) removed.
fn csr(n: usize, pairs: impl Iterator<Item = (u32, u32)> + Clone) -> (Vec<u32>, Vec<u32>) {
    let mut off = vec![0u32; n + 1];
    for (a, _) in pairs.clone() {
        off[a as usize + 1] += 1;
    }
    for i in 0..n {
        off[i + 1] += off[i];
    }
    let mut pos: Vec<u32> = off[..n].to_vec();
    let mut adj = vec![0u32; off[n] as usize];
    for (a, b) in pairs {
        adj[pos[a as usize] as usize] = b;
        pos[a as usize] += 1;
    }
    // Sort and deduplicate each list, compacting in place.
    let mut out_off = vec![0u32; n + 1];
    let mut w = 0usize;
    for i in 0..n {
        let (s, e) = (off[i] as usize, off[i + 1] as usize);
        adj[s..e].sort_unstable();
        let start = w;
        for r in s..e {
            if w == start || adj[w - 1] != adj[r] {
                adj[w] = adj[r];
                w += 1;
            }
        }
        out_off[i + 1] = w as u32;
    }
    adj.truncate(w);
    adj.shrink_to_fit();
    (out_off, adj)
}

/// The order within one depth: (name, id).
fn by_name(name: &[Arc<str>], ids: &[Uuid], x: u32, y: u32) -> std::cmp::Ordering {
    name[x as usize]
        .cmp(&name[y as usize])
        .then(ids[x as usize].cmp(&ids[y as usize]))
}

/// Each CI's position in `order`.
fn rank_of(order: &[u32]) -> Vec<u32> {
    let mut rank = vec![0u32; order.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i as usize] = r as u32;
    }
    rank
}

/// The classes as the graph holds them, and their numbers.
fn class_table(rows: Vec<CiClass>) -> (Vec<ClassInfo>, HashMap<Uuid, u32>) {
    let mut index = HashMap::new();
    let classes = rows
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            index.insert(c.id, i as u32);
            ClassInfo {
                id: c.id,
                is_service: Category::parse(&c.category) == Some(Category::Service),
                code: c.code,
                name_zh: c.name_zh,
                name_en: c.name_en,
                category: c.category,
            }
        })
        .collect();
    (classes, index)
}

/// The number of a status or criticality in `words`, added if new (a handful of codes; past
/// u16::MAX distinct values, which the checked columns cannot hold, the last slot).
fn word_slot(words: &mut Vec<Box<str>>, s: &str) -> u16 {
    if let Some(w) = words.iter().position(|x| &**x == s) {
        return w as u16;
    }
    let w = u16::try_from(words.len()).unwrap_or(u16::MAX);
    if w < u16::MAX {
        words.push(s.into());
    }
    w
}

/// `v` renumbered: entry `k` of the answer is `v[back[k]]`; all of `v` when `same`.
fn gather<T: Clone>(v: &[T], back: &[u32], same: bool) -> Vec<T> {
    if same {
        v.to_vec()
    } else {
        back.iter().map(|&o| v[o as usize].clone()).collect()
    }
}

/// One direction of the adjacency after a patch. CI `v` (new numbering) keeps its old list
/// (`old_of[v]`, renumbered by `remap`) without the touched neighbours, unless it is touched
/// itself; then every list gets its edges from `extra` ((from, to), sorted by from), which
/// hold every edge with a touched end. Lists stay sorted and free of duplicates.
fn patch_csr(
    old_off: &[u32],
    old_adj: &[u32],
    remap: &[u32],
    old_of: &[u32],
    touched: &[bool],
    extra: &[(u32, u32)],
) -> (Vec<u32>, Vec<u32>) {
    let n = old_of.len();
    let mut off = Vec::with_capacity(n + 1);
    off.push(0u32);
    let mut adj: Vec<u32> = Vec::with_capacity(old_adj.len() + extra.len());
    let mut k = 0usize;
    for v in 0..n {
        let start = adj.len();
        if !touched[v] {
            let o = old_of[v] as usize;
            for &m in &old_adj[old_off[o] as usize..old_off[o + 1] as usize] {
                let nm = remap[m as usize];
                if nm != NONE && !touched[nm as usize] {
                    adj.push(nm);
                }
            }
        }
        let mut more = false;
        while k < extra.len() && extra[k].0 as usize == v {
            adj.push(extra[k].1);
            k += 1;
            more = true;
        }
        if more {
            adj[start..].sort_unstable();
            let mut w = start;
            for r in start..adj.len() {
                if w == start || adj[w - 1] != adj[r] {
                    adj[w] = adj[r];
                    w += 1;
                }
            }
            adj.truncate(w);
        }
        off.push(adj.len() as u32);
    }
    adj.shrink_to_fit();
    (off, adj)
}

impl Graph {
    /// Read the graph from the database (one snapshot), streaming the rows.
    pub async fn load(db: &Db) -> Result<Graph> {
        let t0 = Instant::now();
        let mut b = Builder::default();
        let (epoch, class_rows) = store::load_graph(db, |row| match row {
            GraphRow::Ci(c) => b.ci(c),
            GraphRow::Edge(s, t) => b.edge(s, t),
        })
        .await?;
        Ok(b.finish(epoch, class_rows, t0))
    }
}

impl Builder {
    /// The graph of the rows given to the builder.
    fn finish(self, epoch: i64, class_rows: Vec<CiClass>, t0: Instant) -> Graph {
        let b = self;
        let n = b.ids.len();
        let (classes, class_index) = class_table(class_rows);
        let class: Vec<u32> = b
            .class_ids
            .iter()
            .map(|c| class_index.get(c).copied().unwrap_or(NONE))
            .collect();
        let (up_off, up) = csr(n, b.edges.iter().map(|&(s, t)| (t, s)));
        let (down_off, down) = csr(n, b.edges.iter().map(|&(s, t)| (s, t)));
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_unstable_by(|&x, &y| by_name(&b.name, &b.ids, x, y));
        let rank = rank_of(&order);
        let load_ms = t0.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            epoch,
            cis = n,
            relations = up.len(),
            skipped = b.unknown_ends,
            ms = load_ms,
            "cmdb relation graph loaded"
        );
        Graph {
            epoch,
            load_ms,
            ids: b.ids,
            index: b.index,
            org: b.org,
            orgs: b.orgs,
            org_index: b.org_index,
            dept: b.dept,
            depts: b.depts,
            dept_index: b.dept_index,
            class,
            classes,
            class_index,
            name: b.name,
            key: b.key,
            status: b.status,
            crit: b.crit,
            words: b.words,
            rank,
            up_off,
            up,
            down_off,
            down,
        }
    }
}

impl Graph {
    /// Number of CIs.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Number of distinct (source, target) pairs that propagate impact.
    pub fn edge_count(&self) -> usize {
        self.up.len()
    }

    pub fn index_of(&self, id: Uuid) -> Option<u32> {
        self.index.get(&id).copied()
    }

    pub fn id(&self, i: u32) -> Uuid {
        self.ids[i as usize]
    }

    pub fn org_id(&self, i: u32) -> Uuid {
        self.orgs[self.org[i as usize] as usize]
    }

    pub fn department_id(&self, i: u32) -> Option<Uuid> {
        match self.dept[i as usize] {
            NONE => None,
            d => Some(self.depts[d as usize]),
        }
    }

    pub fn is_service(&self, i: u32) -> bool {
        match self.class[i as usize] {
            NONE => false,
            c => self.classes[c as usize].is_service,
        }
    }

    pub fn is_critical(&self, i: u32) -> bool {
        &*self.words[self.crit[i as usize] as usize] == "critical"
    }

    /// The order key within one depth: (name, id).
    pub fn rank(&self, i: u32) -> u32 {
        self.rank[i as usize]
    }

    /// Which CIs `scope` lets the caller see: `None` all, `Some(set)` those of one organization
    /// (an organization without CIs sees none but the ones it is given explicitly).
    pub fn visible(&self, org_filter: Option<Uuid>) -> impl Fn(u32) -> bool + '_ {
        let own: Option<u32> = org_filter.map(|o| self.org_index.get(&o).copied().unwrap_or(NONE));
        move |i| match own {
            None => true,
            Some(o) => o != NONE && self.org[i as usize] == o,
        }
    }

    /// Everything reachable from `roots` (breadth first, each CI once, cycle-safe) with its
    /// distance from the nearest root, in the order visited; the roots themselves are not in
    /// the answer.
    pub fn reach(&self, roots: &[u32], dir: Direction) -> Vec<(u32, u32)> {
        let (off, adj) = match dir {
            Direction::Dependents => (&self.up_off, &self.up),
            Direction::Dependencies => (&self.down_off, &self.down),
        };
        let mut seen = vec![false; self.ids.len()];
        let mut out: Vec<(u32, u32)> = Vec::new();
        let mut frontier: Vec<u32> = Vec::new();
        for &r in roots {
            if (r as usize) < seen.len() && !seen[r as usize] {
                seen[r as usize] = true;
                frontier.push(r);
            }
        }
        let mut depth = 0u32;
        let mut next: Vec<u32> = Vec::new();
        while !frontier.is_empty() {
            depth += 1;
            for &n in &frontier {
                let (s, e) = (off[n as usize] as usize, off[n as usize + 1] as usize);
                for &m in &adj[s..e] {
                    if !seen[m as usize] {
                        seen[m as usize] = true;
                        out.push((m, depth));
                        next.push(m);
                    }
                }
            }
            std::mem::swap(&mut frontier, &mut next);
            next.clear();
        }
        out
    }

    fn class_brief(&self, class: u32) -> Option<&ClassInfo> {
        match class {
            NONE => None,
            c => self.classes.get(c as usize),
        }
    }

    /// The CI in lists, from the graph alone.
    pub fn brief(&self, i: u32) -> CiBrief {
        let u = i as usize;
        let cl = self.class_brief(self.class[u]);
        CiBrief {
            id: self.ids[u],
            external_key: self.key[u].to_string(),
            name: self.name[u].to_string(),
            class_code: cl.map(|c| c.code.clone()).unwrap_or_default(),
            class_name_zh: cl.map(|c| c.name_zh.clone()).unwrap_or_default(),
            class_name_en: cl.map(|c| c.name_en.clone()).unwrap_or_default(),
            category: cl.map(|c| c.category.clone()).unwrap_or_default(),
            org_id: self.org_id(i),
            department_id: self.department_id(i),
            status: self.words[self.status[u] as usize].to_string(),
            criticality: self.words[self.crit[u] as usize].to_string(),
        }
    }

    /// A CI read from the database, in lists (class names from the graph).
    pub fn brief_of(&self, c: &Ci) -> CiBrief {
        let cl = self
            .class_index
            .get(&c.class_id)
            .and_then(|&x| self.class_brief(x));
        CiBrief {
            id: c.id,
            external_key: c.external_key.clone(),
            name: c.name.clone(),
            class_code: cl.map(|x| x.code.clone()).unwrap_or_default(),
            class_name_zh: cl.map(|x| x.name_zh.clone()).unwrap_or_default(),
            class_name_en: cl.map(|x| x.name_en.clone()).unwrap_or_default(),
            category: cl.map(|x| x.category.clone()).unwrap_or_default(),
            org_id: c.org_id,
            department_id: c.department_id,
            status: c.status.clone(),
            criticality: c.criticality.clone(),
        }
    }

    /// Is the class a business service (category `service`)? False for classes the graph
    /// does not know.
    pub fn class_is_service(&self, class_id: Uuid) -> bool {
        self.class_index
            .get(&class_id)
            .and_then(|&x| self.class_brief(x))
            .is_some_and(|c| c.is_service)
    }
}

/// The incremental update, and the comparison the tests use.
impl Graph {
    /// This graph brought to the patch's epoch: the touched CIs replaced (added, changed, or
    /// removed when gone), every relation with a touched end replaced by the patch's, the
    /// classes re-read. The per-CI columns are copied (names and keys shared), the adjacency
    /// rebuilt in one pass (O(CIs + relations)); the order by name is merged, not re-sorted,
    /// and only when a name or the set of CIs changed.
    pub fn patched(&self, p: GraphPatch) -> Graph {
        let t0 = Instant::now();
        let old_n = self.ids.len();
        let (classes, class_index) = class_table(p.classes);
        let class_map: Vec<u32> = self
            .classes
            .iter()
            .map(|c| class_index.get(&c.id).copied().unwrap_or(NONE))
            .collect();
        let mut rows: HashMap<Uuid, GraphCi> = p.cis.into_iter().map(|c| (c.id, c)).collect();
        // The touched CIs the graph holds (old numbers), and how many are gone.
        let mut touched_old = vec![false; old_n];
        let mut gone = 0usize;
        for id in &p.touched {
            if let Some(&i) = self.index.get(id) {
                touched_old[i as usize] = true;
                if !rows.contains_key(id) {
                    gone += 1;
                }
            }
        }
        // Old number -> new (NONE: gone) and back; the numbers stay when nothing is gone.
        let same = gone == 0;
        let (remap, mut old_of): (Vec<u32>, Vec<u32>) = if same {
            let all: Vec<u32> = (0..old_n as u32).collect();
            (all.clone(), all)
        } else {
            let mut remap = Vec::with_capacity(old_n);
            let mut back = Vec::with_capacity(old_n);
            for (i, &t) in touched_old.iter().enumerate() {
                if t && !rows.contains_key(&self.ids[i]) {
                    remap.push(NONE);
                } else {
                    remap.push(back.len() as u32);
                    back.push(i as u32);
                }
            }
            (remap, back)
        };
        let mut ids = gather(&self.ids, &old_of, same);
        let mut org = gather(&self.org, &old_of, same);
        let mut dept = gather(&self.dept, &old_of, same);
        let mut class: Vec<u32> = gather(&self.class, &old_of, same)
            .into_iter()
            .map(|c| {
                if c == NONE {
                    NONE
                } else {
                    class_map[c as usize]
                }
            })
            .collect();
        let mut name = gather(&self.name, &old_of, same);
        let mut key = gather(&self.key, &old_of, same);
        let mut status = gather(&self.status, &old_of, same);
        let mut crit = gather(&self.crit, &old_of, same);
        let mut touched = gather(&touched_old, &old_of, same);
        let mut index: HashMap<Uuid, u32> = if same {
            self.index.clone()
        } else {
            ids.iter()
                .enumerate()
                .map(|(i, &id)| (id, i as u32))
                .collect()
        };
        let mut orgs = self.orgs.clone();
        let mut org_index = self.org_index.clone();
        let mut depts = self.depts.clone();
        let mut dept_index = self.dept_index.clone();
        let mut words = self.words.clone();
        let mut reordered = !same;
        for id in &p.touched {
            let Some(c) = rows.remove(id) else { continue };
            let o = intern(&mut org_index, &mut orgs, c.org_id);
            let d = match c.department_id {
                Some(d) => intern(&mut dept_index, &mut depts, d),
                None => NONE,
            };
            let cl = class_index.get(&c.class_id).copied().unwrap_or(NONE);
            let st = word_slot(&mut words, &c.status);
            let cr = word_slot(&mut words, &c.criticality);
            match index.get(id) {
                Some(&i) => {
                    let i = i as usize;
                    if *name[i] != *c.name {
                        name[i] = Arc::from(c.name);
                        reordered = true;
                    }
                    if *key[i] != *c.external_key {
                        key[i] = Arc::from(c.external_key);
                    }
                    (org[i], dept[i], class[i], status[i], crit[i]) = (o, d, cl, st, cr);
                }
                None => {
                    index.insert(c.id, ids.len() as u32);
                    ids.push(c.id);
                    org.push(o);
                    dept.push(d);
                    class.push(cl);
                    name.push(Arc::from(c.name));
                    key.push(Arc::from(c.external_key));
                    status.push(st);
                    crit.push(cr);
                    touched.push(true);
                    old_of.push(NONE);
                    reordered = true;
                }
            }
        }
        let n = ids.len();
        // Every relation with a touched end, as the database has it now.
        let (mut extra_up, mut extra_down) = (Vec::new(), Vec::new());
        let mut unknown_ends = 0usize;
        for (a, b) in &p.edges {
            match (index.get(a), index.get(b)) {
                (Some(&s), Some(&t)) if s != t => {
                    extra_down.push((s, t));
                    extra_up.push((t, s));
                }
                (Some(_), Some(_)) => {}
                _ => unknown_ends += 1,
            }
        }
        extra_up.sort_unstable();
        extra_down.sort_unstable();
        let (up_off, up) = patch_csr(&self.up_off, &self.up, &remap, &old_of, &touched, &extra_up);
        let (down_off, down) = patch_csr(
            &self.down_off,
            &self.down,
            &remap,
            &old_of,
            &touched,
            &extra_down,
        );
        let rank = if reordered {
            // The old order without the touched CIs (their names are unchanged, so it is still
            // sorted), merged with the touched ones sorted.
            let mut order_old = vec![0u32; old_n];
            for (i, &r) in self.rank.iter().enumerate() {
                order_old[r as usize] = i as u32;
            }
            let mut moved: Vec<u32> = (0..n as u32).filter(|&v| touched[v as usize]).collect();
            moved.sort_unstable_by(|&x, &y| by_name(&name, &ids, x, y));
            let mut order = Vec::with_capacity(n);
            let mut m = moved.iter().peekable();
            for &i in &order_old {
                if touched_old[i as usize] {
                    continue;
                }
                let v = remap[i as usize];
                while let Some(&&t) = m.peek() {
                    if by_name(&name, &ids, t, v).is_lt() {
                        order.push(t);
                        m.next();
                    } else {
                        break;
                    }
                }
                order.push(v);
            }
            order.extend(m);
            rank_of(&order)
        } else {
            self.rank.clone()
        };
        let load_ms = t0.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            from = self.epoch,
            epoch = p.epoch,
            touched = p.touched.len(),
            cis = n,
            relations = up.len(),
            skipped = unknown_ends,
            ms = load_ms,
            "cmdb relation graph patched"
        );
        Graph {
            epoch: p.epoch,
            load_ms,
            ids,
            index,
            org,
            orgs,
            org_index,
            dept,
            depts,
            dept_index,
            class,
            classes,
            class_index,
            name,
            key,
            status,
            crit,
            words,
            rank,
            up_off,
            up,
            down_off,
            down,
        }
    }

    /// The first difference in contents between two graphs, whatever their internal
    /// numbering: the CIs and what the graph holds of each, the classes, the relations both
    /// ways, the order by name. `None` when they hold the same.
    pub fn difference(&self, other: &Graph) -> Option<String> {
        if self.len() != other.len() {
            return Some(format!("{} CIs against {}", self.len(), other.len()));
        }
        if self.edge_count() != other.edge_count() {
            let (a, b) = (self.edge_count(), other.edge_count());
            return Some(format!("{a} relations against {b}"));
        }
        let classes = |g: &Graph| {
            let mut v: Vec<String> = g.classes.iter().map(|c| format!("{c:?}")).collect();
            v.sort();
            v
        };
        if classes(self) != classes(other) {
            return Some("the classes differ".into());
        }
        let class_id = |g: &Graph, i: u32| g.class_brief(g.class[i as usize]).map(|c| c.id);
        let near = |g: &Graph, i: u32, dir: Direction| {
            let (off, adj) = match dir {
                Direction::Dependents => (&g.up_off, &g.up),
                Direction::Dependencies => (&g.down_off, &g.down),
            };
            let (s, e) = (off[i as usize] as usize, off[i as usize + 1] as usize);
            adj[s..e]
                .iter()
                .map(|&m| g.id(m))
                .collect::<HashSet<Uuid>>()
        };
        for i in 0..self.len() as u32 {
            let id = self.id(i);
            let Some(j) = other.index_of(id) else {
                return Some(format!("CI {id} only in the first"));
            };
            let (a, b) = (
                format!("{:?}", self.brief(i)),
                format!("{:?}", other.brief(j)),
            );
            if a != b {
                return Some(format!("CI {id}: {a} against {b}"));
            }
            if class_id(self, i) != class_id(other, j)
                || self.is_service(i) != other.is_service(j)
                || self.is_critical(i) != other.is_critical(j)
            {
                return Some(format!("CI {id}: class or criticality differ"));
            }
            for dir in [Direction::Dependents, Direction::Dependencies] {
                if near(self, i, dir) != near(other, j, dir) {
                    return Some(format!("CI {id}: {dir:?} differ"));
                }
            }
        }
        let order = |g: &Graph| {
            let mut v: Vec<(u32, Uuid)> =
                (0..g.len() as u32).map(|i| (g.rank(i), g.id(i))).collect();
            v.sort_unstable();
            let ranks_ok = v.iter().enumerate().all(|(k, x)| x.0 as usize == k);
            (ranks_ok, v.into_iter().map(|x| x.1).collect::<Vec<_>>())
        };
        let (a, b) = (order(self), order(other));
        if !a.0 || !b.0 {
            return Some("the ranks are not a numbering".into());
        }
        if a.1 != b.1 {
            return Some("the order by name differs".into());
        }
        None
    }

    /// Do the two graphs hold the same ([`Graph::difference`])?
    pub fn same_as(&self, other: &Graph) -> bool {
        self.difference(other).is_none()
    }
}

/// The node's graph, shared by all requests, reloaded when the CMDB epoch moves.
#[derive(Default)]
pub struct GraphCache {
    /// The graph and when its load started.
    current: RwLock<Option<(Arc<Graph>, Instant)>>,
    /// Held by the one loader.
    loading: tokio::sync::Mutex<()>,
    /// Full loads and patches so far (diagnostics, tests).
    loads: AtomicU64,
    patches: AtomicU64,
}

impl GraphCache {
    fn current(&self) -> Option<(Arc<Graph>, Instant)> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The graph as of now: every change committed before this call is in it.
    pub async fn get(&self, db: &Db) -> Result<Arc<Graph>> {
        let asked = Instant::now();
        let epoch = store::epoch(db).await?;
        if let Some((g, _)) = self.current() {
            if g.epoch == epoch {
                return Ok(g);
            }
        }
        let _one = self.loading.lock().await;
        // Another request may have loaded it meanwhile: a graph read at our epoch, or read
        // from a snapshot taken after this call began, holds every change committed before.
        if let Some((g, started)) = self.current() {
            if g.epoch == epoch || started >= asked {
                return Ok(g);
            }
        }
        // A graph read from a snapshot taken after this instant holds every change committed
        // before it; a patch is read in one such snapshot with the epoch it brings the graph
        // to, so the patched graph's epoch is the one its contents correspond to.
        let started = Instant::now();
        let g = match self.current() {
            Some((old, _)) => match store::graph_changes(db, old.epoch, PATCH_MAX_CIS).await? {
                GraphChanges::Patch(p) => {
                    self.patches.fetch_add(1, Ordering::Relaxed);
                    Arc::new(old.patched(p))
                }
                GraphChanges::Reload => {
                    self.loads.fetch_add(1, Ordering::Relaxed);
                    Arc::new(Graph::load(db).await?)
                }
            },
            None => {
                self.loads.fetch_add(1, Ordering::Relaxed);
                Arc::new(Graph::load(db).await?)
            }
        };
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some((g.clone(), started));
        Ok(g)
    }

    /// The graph currently held, without checking the epoch (diagnostics).
    pub fn peek(&self) -> Option<Arc<Graph>> {
        self.current().map(|x| x.0)
    }

    /// (full loads, patches) this node has made of its graph.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.loads.load(Ordering::Relaxed),
            self.patches.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::csr;

    #[test]
    fn csr_groups_sorts_and_deduplicates() {
        let pairs = [(2u32, 1u32), (0, 2), (0, 1), (0, 2), (2, 0)];
        let (off, adj) = csr(3, pairs.iter().copied());
        assert_eq!(off, vec![0, 2, 2, 4]);
        assert_eq!(adj, vec![1, 2, 0, 1]);
    }
}

/// Dense slots for counting distinct owners without hashing (impact analysis).
impl Graph {
    /// Number of organization slots; [`Graph::org_slot`] is below it.
    pub fn org_slots(&self) -> usize {
        self.orgs.len()
    }

    /// The slot of CI `i`'s organization.
    pub fn org_slot(&self, i: u32) -> usize {
        self.org[i as usize] as usize
    }

    /// The organization of a slot.
    pub fn org_of_slot(&self, s: usize) -> Uuid {
        self.orgs[s]
    }

    /// Number of department slots; [`Graph::dept_slot`] is below it.
    pub fn dept_slots(&self) -> usize {
        self.depts.len()
    }

    /// The slot of CI `i`'s department, if it has one.
    pub fn dept_slot(&self, i: u32) -> Option<usize> {
        match self.dept[i as usize] {
            NONE => None,
            d => Some(d as usize),
        }
    }

    /// The department of a slot.
    pub fn dept_of_slot(&self, s: usize) -> Uuid {
        self.depts[s]
    }
}

#[cfg(test)]
mod patch_tests {
    //! The incremental update against a graph built from scratch, on random changes: CIs
    //! added, renamed, moved, reclassified, removed; relations added and removed; classes
    //! added and changed.

    use std::collections::BTreeSet;

    use super::*;

    /// A deterministic pseudo-random sequence.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) % n as u64) as usize
        }
    }

    fn class(code: &str, category: &str) -> CiClass {
        let now = chrono::Utc::now();
        CiClass {
            id: Uuid::now_v7(),
            code: code.into(),
            name_zh: format!("{code}-zh"),
            name_en: format!("{code}-en"),
            category: category.into(),
            has_security_level: false,
            has_data_level: false,
            builtin: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// The database in miniature.
    struct World {
        classes: Vec<CiClass>,
        orgs: Vec<Uuid>,
        depts: Vec<Uuid>,
        cis: Vec<GraphCi>,
        /// (source, target); a pair may repeat (two kinds).
        edges: Vec<(Uuid, Uuid)>,
    }

    impl World {
        /// A graph read from scratch, the CIs in an order of their own (numbering differs).
        fn load(&self, epoch: i64, rotate: usize) -> Graph {
            let mut b = Builder::default();
            let n = self.cis.len();
            for k in 0..n {
                b.ci(self.cis[(k + rotate) % n.max(1)].clone());
            }
            for &(s, t) in &self.edges {
                b.edge(s, t);
            }
            b.finish(epoch, self.classes.clone(), Instant::now())
        }

        fn ci(&self, rng: &mut Lcg) -> GraphCi {
            let org = rng.below(self.orgs.len());
            GraphCi {
                id: Uuid::now_v7(),
                org_id: self.orgs[org],
                department_id: (rng.below(3) > 0).then(|| self.depts[rng.below(self.depts.len())]),
                class_id: self.classes[rng.below(self.classes.len())].id,
                name: format!("名{}", rng.below(40)),
                external_key: format!("K{}", rng.below(1_000_000)),
                status: ["planned", "in_use", "maintenance", "retired"][rng.below(4)].into(),
                criticality: ["general", "critical"][rng.below(2)].into(),
            }
        }

        /// One random change; the CIs it touches go into `touched`.
        fn change(&mut self, rng: &mut Lcg, touched: &mut BTreeSet<Uuid>) {
            let n = self.cis.len();
            match rng.below(10) {
                0 | 1 => {
                    let c = self.ci(rng);
                    touched.insert(c.id);
                    self.cis.push(c);
                }
                2 if n > 0 => {
                    let i = rng.below(n);
                    self.cis[i].name = format!("名{}", rng.below(40));
                    touched.insert(self.cis[i].id);
                }
                3 if n > 0 => {
                    let i = rng.below(n);
                    let c = self.ci(rng);
                    let id = self.cis[i].id;
                    self.cis[i] = GraphCi { id, ..c };
                    touched.insert(id);
                }
                4 if n > 1 => {
                    // Removed with its relations: their other ends are touched too.
                    let id = self.cis.swap_remove(rng.below(n)).id;
                    touched.insert(id);
                    self.edges.retain(|&(s, t)| {
                        if s == id || t == id {
                            touched.insert(s);
                            touched.insert(t);
                            false
                        } else {
                            true
                        }
                    });
                }
                5..=7 if n > 1 => {
                    let (s, t) = (self.cis[rng.below(n)].id, self.cis[rng.below(n)].id);
                    if s != t {
                        self.edges.push((s, t));
                        touched.insert(s);
                        touched.insert(t);
                    }
                }
                8 if !self.edges.is_empty() => {
                    let (s, t) = self.edges.swap_remove(rng.below(self.edges.len()));
                    touched.insert(s);
                    touched.insert(t);
                }
                9 => {
                    // Classes change without any CI changing.
                    if rng.below(2) == 0 {
                        let k = self.classes.len();
                        self.classes.push(class(&format!("c{k}"), "server"));
                    } else {
                        let i = rng.below(self.classes.len());
                        self.classes[i].category = ["service", "software"][rng.below(2)].into();
                        self.classes[i].name_en.push('!');
                    }
                }
                _ => {}
            }
        }

        /// What the store's patch read answers for `touched`.
        fn patch(&self, epoch: i64, touched: &BTreeSet<Uuid>) -> GraphPatch {
            let mut edges = Vec::new();
            for &(s, t) in &self.edges {
                if touched.contains(&s) {
                    edges.push((s, t));
                }
                if touched.contains(&t) {
                    edges.push((s, t));
                }
            }
            GraphPatch {
                epoch,
                classes: self.classes.clone(),
                touched: touched.iter().copied().collect(),
                cis: self
                    .cis
                    .iter()
                    .filter(|c| touched.contains(&c.id))
                    .cloned()
                    .collect(),
                edges,
            }
        }
    }

    #[test]
    fn a_patched_graph_equals_one_read_from_scratch() {
        for seed in 0..12u64 {
            let mut rng = Lcg(seed);
            let mut w = World {
                classes: vec![
                    class("server", "server"),
                    class("app", "software"),
                    class("svc", "service"),
                ],
                orgs: (0..3).map(|_| Uuid::now_v7()).collect(),
                depts: (0..4).map(|_| Uuid::now_v7()).collect(),
                cis: Vec::new(),
                edges: Vec::new(),
            };
            for _ in 0..30 {
                let c = w.ci(&mut rng);
                w.cis.push(c);
            }
            for _ in 0..60 {
                let (s, t) = (rng.below(30), rng.below(30));
                w.edges.push((w.cis[s].id, w.cis[t].id));
            }
            let mut g = w.load(1, 0);
            let mut epoch = 1;
            for step in 0..150 {
                let mut touched = BTreeSet::new();
                for _ in 0..1 + rng.below(3) {
                    w.change(&mut rng, &mut touched);
                }
                epoch += 1;
                g = g.patched(w.patch(epoch, &touched));
                let fresh = w.load(epoch, step);
                assert_eq!(g.epoch, epoch);
                assert_eq!(g.difference(&fresh), None, "seed {seed}, step {step}");
                // The walks agree as well.
                if !w.cis.is_empty() {
                    let root = w.cis[rng.below(w.cis.len())].id;
                    for dir in [Direction::Dependents, Direction::Dependencies] {
                        let walk = |x: &Graph| {
                            let r = x.index_of(root).unwrap();
                            let mut v: Vec<(Uuid, u32)> = x
                                .reach(&[r], dir)
                                .iter()
                                .map(|&(m, d)| (x.id(m), d))
                                .collect();
                            v.sort();
                            v
                        };
                        assert_eq!(walk(&g), walk(&fresh), "seed {seed}, step {step}");
                    }
                }
            }
        }
    }

    #[test]
    fn difference_sees_a_changed_name_and_a_missing_relation() {
        let mut w = World {
            classes: vec![class("server", "server")],
            orgs: vec![Uuid::now_v7()],
            depts: vec![Uuid::now_v7()],
            cis: Vec::new(),
            edges: Vec::new(),
        };
        let mut rng = Lcg(7);
        for _ in 0..3 {
            let c = w.ci(&mut rng);
            w.cis.push(c);
        }
        w.edges.push((w.cis[0].id, w.cis[1].id));
        let a = w.load(1, 0);
        assert!(a.same_as(&w.load(1, 2)));
        w.cis[2].name.push('x');
        assert!(a.difference(&w.load(1, 1)).is_some());
        w.cis[2].name.pop();
        w.edges.clear();
        assert!(a.difference(&w.load(1, 0)).is_some());
    }
}
