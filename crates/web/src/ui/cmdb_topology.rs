//! The topology drawing on an item's page: the item and what is related to it up to three
//! relations away, in one or both directions — what it depends on (the targets of its
//! relations, drawn below it) and what it impacts (the sources of relations to it, drawn
//! above it). Server-rendered SVG, no script; layered by distance, each layer ordered by its
//! parents' places, then relation kind, name and id, so the same data always gives the same
//! drawing. At most [`MAX_NODES`] nodes are drawn; the page says how many more were found.
//!
//! Every layer comes from `App::ci_topology_layer` (one bounded query per layer), which leaves
//! out items of other organizations for customers, around an item the page read and checked
//! once (`App::read_ci`): the drawing never shows what the caller could not open.

use std::collections::{BTreeMap, HashMap, HashSet};

use uuid::Uuid;
use yunwei_domain::cmdb::RelKind;
use yunwei_domain::Lang;
use yunwei_service::cmdb::{CiView, ReadableCi};

use super::Ui;
use crate::i18n::T;
use crate::AppState;

/// The most nodes drawn (the item included).
pub const MAX_NODES: usize = 150;
/// The deepest the drawing goes.
pub const MAX_DEPTH: u32 = 3;
/// The most relations read between the drawn items.
const EDGES_READ: i64 = 5000;

const BOX_W: i32 = 160;
const BOX_H: i32 = 44;
const STEP_X: i32 = 180;
const STEP_Y: i32 = 100;
/// Nodes per row; a wider layer wraps onto more rows.
const PER_ROW: usize = 7;
/// Room on the left for the layer labels.
const MARGIN_L: i32 = 110;
const MARGIN_R: i32 = 20;
const MARGIN_TOP: i32 = 20;
const MIN_W: i32 = 900;

/// Which way the drawing follows relations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Both,
    /// What the item depends on: relation targets, transitively.
    Down,
    /// What the item impacts: relation sources, transitively.
    Up,
}

impl Direction {
    pub const ALL: [Direction; 3] = [Direction::Both, Direction::Down, Direction::Up];

    /// Anything unknown is `both`.
    pub fn parse(s: Option<&str>) -> Direction {
        match s.map(str::trim) {
            Some("down") => Direction::Down,
            Some("up") => Direction::Up,
            _ => Direction::Both,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Both => "both",
            Direction::Down => "down",
            Direction::Up => "up",
        }
    }

    fn label_key(self) -> &'static str {
        match self {
            Direction::Both => "cmdb.topo.dir_both",
            Direction::Down => "cmdb.topo.dir_down",
            Direction::Up => "cmdb.topo.dir_up",
        }
    }
}

/// Depth from the query: 1–3, anything else 1.
pub fn parse_depth(s: Option<&str>) -> u32 {
    s.and_then(|d| d.trim().parse::<u32>().ok())
        .filter(|d| (1..=MAX_DEPTH).contains(d))
        .unwrap_or(1)
}

/// A node of the drawing; (`x`, `y`) is its centre, (`bx`, `by`) its box's corner.
pub struct Node {
    pub id: String,
    pub href: String,
    pub x: i32,
    pub y: i32,
    pub bx: i32,
    pub by: i32,
    /// The name, shortened to fit the box.
    pub name: String,
    /// Name, external key and class, shown on hover.
    pub title: String,
    pub class: String,
    /// `root`, `up` (impacted) or `down` (depended on).
    pub role: &'static str,
}

/// A relation, source → target, with its kind written at the middle.
pub struct Edge {
    pub x1: i32,
    pub y1: i32,
    pub x2: i32,
    pub y2: i32,
    pub mx: i32,
    pub my: i32,
    pub label: String,
}

pub struct Topology {
    pub w: i32,
    pub h: i32,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// (x, y, text) of each layer's label.
    pub layers: Vec<(i32, i32, String)>,
    pub depth: u32,
    pub dir: &'static str,
    /// (value, label, selected) for the depth selector.
    pub depths: Vec<(u32, bool)>,
    /// (value, label, selected) for the direction selector.
    pub dirs: Vec<(&'static str, &'static str, bool)>,
    /// "N more not drawn", when the cap cut the drawing.
    pub more: Option<String>,
}

/// A placed item.
struct Placed {
    id: Uuid,
    name: String,
    key: String,
    class: String,
    /// 0 the item, +d what it depends on at distance d, −d what it impacts.
    layer: i32,
    parent: Option<Uuid>,
    kind: String,
}

fn class_name(lang: Lang, zh: &str, en: &str) -> String {
    if lang == Lang::Zh { zh } else { en }.to_string()
}

pub fn kind_label(lang: Lang, kind: &str) -> String {
    RelKind::parse(kind)
        .map(|k| if lang == Lang::Zh { k.zh() } else { k.en() })
        .unwrap_or(kind)
        .to_string()
}

/// Shorten to about `max` half-width columns (a CJK character counts two).
fn short(s: &str, max: usize) -> String {
    let mut used = 0;
    let mut out = String::new();
    for c in s.chars() {
        let w = if c.is_ascii() { 1 } else { 2 };
        if used + w > max {
            out.push('…');
            return out;
        }
        used += w;
        out.push(c);
    }
    out
}

/// Build the drawing around `root` (read and checked once for the page as `r`): one query
/// per layer (each side at each distance), bounded by the room left under [`MAX_NODES`] and
/// returning the count of what it left out, then one query for the relations between the
/// drawn items.
pub async fn build(
    st: &AppState,
    ui: &Ui,
    root: &CiView,
    r: &ReadableCi,
    depth: Option<&str>,
    dir: Option<&str>,
) -> Topology {
    let a = &ui.who.actor;
    let lang = ui.ctx.lang;
    let depth = parse_depth(depth);
    let dir = Direction::parse(dir);
    let sides: &[Direction] = match dir {
        Direction::Both => &[Direction::Down, Direction::Up],
        Direction::Down => &[Direction::Down],
        Direction::Up => &[Direction::Up],
    };

    let mut placed = vec![Placed {
        id: root.ci.id,
        name: root.ci.name.clone(),
        key: root.ci.external_key.clone(),
        class: class_name(lang, &root.class_name_zh, &root.class_name_en),
        layer: 0,
        parent: None,
        kind: String::new(),
    }];
    let mut index: HashMap<Uuid, usize> = HashMap::from([(root.ci.id, 0)]);
    // Items found but not drawn (the cap); an item left out on two sides counts twice.
    let mut more: u64 = 0;
    let mut frontiers: HashMap<Direction, Vec<Uuid>> =
        sides.iter().map(|s| (*s, vec![root.ci.id])).collect();

    for d in 1..=depth as i32 {
        for side in sides {
            let frontier = frontiers.remove(side).unwrap_or_default();
            let mut next = Vec::new();
            if !frontier.is_empty() {
                let ids: Vec<Uuid> = placed.iter().map(|p| p.id).collect();
                let room = MAX_NODES.saturating_sub(placed.len()) as i64;
                // Scope and permission are checked by the service; a failed read draws
                // nothing more.
                let (steps, found) = st
                    .app
                    .ci_topology_layer(a, r, &frontier, *side == Direction::Down, &ids, room)
                    .await
                    .unwrap_or_default();
                more += found.saturating_sub(steps.len() as u64);
                for step in steps {
                    let o = &step.relation.other;
                    if index.contains_key(&o.id) {
                        continue;
                    }
                    index.insert(o.id, placed.len());
                    placed.push(Placed {
                        id: o.id,
                        name: o.name.clone(),
                        key: o.external_key.clone(),
                        class: class_name(lang, &o.class_name_zh, &o.class_name_en),
                        layer: if *side == Direction::Down { d } else { -d },
                        parent: Some(step.parent),
                        kind: step.relation.relation.kind.clone(),
                    });
                    next.push(o.id);
                }
            }
            frontiers.insert(*side, next);
        }
    }

    // The relations between drawn items with at least one end in a layer that was followed
    // further (the outermost layers' own relations are not drawn, as they were not read).
    let ids: Vec<Uuid> = placed.iter().map(|p| p.id).collect();
    let expanded: HashSet<Uuid> = placed
        .iter()
        .filter(|p| p.layer.unsigned_abs() < depth)
        .map(|p| p.id)
        .collect();
    let rels: BTreeMap<Uuid, (Uuid, Uuid, String)> = st
        .app
        .ci_relations_among(a, r, &ids, EDGES_READ)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|x| expanded.contains(&x.source_id) || expanded.contains(&x.target_id))
        .map(|x| (x.id, (x.source_id, x.target_id, x.kind)))
        .collect();

    let i = T(lang);
    let (nodes, layers, w, h, centre) = layout(lang, &placed, depth, dir);
    let edges = edges(lang, &rels, &index, &centre);
    let more = (more > 0).then(|| {
        i.t("cmdb.topo.more")
            .replace("{n}", &more.to_string())
            .replace("{cap}", &MAX_NODES.to_string())
    });
    Topology {
        w,
        h,
        nodes,
        edges,
        layers,
        depth,
        dir: dir.as_str(),
        depths: (1..=MAX_DEPTH).map(|d| (d, d == depth)).collect(),
        dirs: Direction::ALL
            .iter()
            .map(|x| (x.as_str(), i.t(x.label_key()), *x == dir))
            .collect(),
        more,
    }
}

type Layout = (
    Vec<Node>,
    Vec<(i32, i32, String)>,
    i32,
    i32,
    HashMap<Uuid, (i32, i32)>,
);

/// Place the nodes: layers top to bottom from the most impacted to the deepest dependency,
/// each layer in rows of at most [`PER_ROW`], centred.
fn layout(lang: Lang, placed: &[Placed], depth: u32, dir: Direction) -> Layout {
    let i = T(lang);
    let mut by_layer: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for (k, p) in placed.iter().enumerate() {
        by_layer.entry(p.layer).or_default().push(k);
    }
    // Order each layer by its parents' places (nearer layers first), then kind, name, id.
    let mut place_of: HashMap<Uuid, usize> = HashMap::new();
    place_of.insert(placed[0].id, 0);
    for d in 1..=depth as i32 {
        for l in [d, -d] {
            let Some(members) = by_layer.get_mut(&l) else {
                continue;
            };
            members.sort_by(|&x, &y| {
                let (px, py) = (&placed[x], &placed[y]);
                let parent = |p: &Placed| p.parent.and_then(|q| place_of.get(&q).copied());
                (parent(px), &px.kind, &px.name, px.id).cmp(&(
                    parent(py),
                    &py.kind,
                    &py.name,
                    py.id,
                ))
            });
            for (k, m) in members.iter().enumerate() {
                place_of.insert(placed[*m].id, k);
            }
        }
    }
    let widest = by_layer
        .values()
        .map(|v| v.len().min(PER_ROW))
        .max()
        .unwrap_or(1) as i32;
    let w = (MARGIN_L + widest * STEP_X + MARGIN_R).max(MIN_W);
    let cx = MARGIN_L + (w - MARGIN_L - MARGIN_R) / 2;
    let mut y = MARGIN_TOP + BOX_H / 2;
    let mut nodes = Vec::new();
    let mut labels = Vec::new();
    let mut centre = HashMap::new();
    for (layer, members) in &by_layer {
        let text = match layer.cmp(&0) {
            std::cmp::Ordering::Equal => i.t("cmdb.this_item").to_string(),
            std::cmp::Ordering::Less => format!("{} · {}", i.t("cmdb.topo.layer_up"), -layer),
            std::cmp::Ordering::Greater => {
                format!("{} · {}", i.t("cmdb.topo.layer_down"), layer)
            }
        };
        labels.push((10, y + 4, text));
        for row in members.chunks(PER_ROW) {
            let n = row.len() as i32;
            for (k, m) in row.iter().enumerate() {
                let p = &placed[*m];
                let x = cx + (2 * k as i32 - (n - 1)) * STEP_X / 2;
                centre.insert(p.id, (x, y));
                nodes.push(Node {
                    id: p.id.to_string(),
                    href: format!("/cmdb/cis/{}?depth={depth}&dir={}", p.id, dir.as_str()),
                    x,
                    y,
                    bx: x - BOX_W / 2,
                    by: y - BOX_H / 2,
                    name: short(&p.name, 20),
                    title: format!("{} ({}) · {}", p.name, p.key, p.class),
                    class: short(&p.class, 22),
                    role: match layer.cmp(&0) {
                        std::cmp::Ordering::Equal => "root",
                        std::cmp::Ordering::Less => "up",
                        std::cmp::Ordering::Greater => "down",
                    },
                });
            }
            y += STEP_Y;
        }
    }
    let h = y - STEP_Y + BOX_H / 2 + MARGIN_TOP;
    (nodes, labels, w, h, centre)
}

/// The relations between drawn nodes; the line stops at the target's box, and labels of
/// several relations between the same two nodes are stacked.
fn edges(
    lang: Lang,
    rels: &BTreeMap<Uuid, (Uuid, Uuid, String)>,
    index: &HashMap<Uuid, usize>,
    centre: &HashMap<Uuid, (i32, i32)>,
) -> Vec<Edge> {
    let mut out = Vec::new();
    let mut between: HashMap<(Uuid, Uuid), i32> = HashMap::new();
    for (s, t, kind) in rels.values() {
        if !index.contains_key(s) || !index.contains_key(t) {
            continue;
        }
        let (Some(&(x1, y1)), Some(&(x2, y2))) = (centre.get(s), centre.get(t)) else {
            continue;
        };
        let pair = if s < t { (*s, *t) } else { (*t, *s) };
        let nth = between.entry(pair).or_insert(0);
        let (dx, dy) = ((x2 - x1) as f64, (y2 - y1) as f64);
        let cut = (f64::from(BOX_W / 2) / dx.abs().max(1e-6))
            .min(f64::from(BOX_H / 2) / dy.abs().max(1e-6))
            .min(0.5);
        let t = 1.0 - cut;
        out.push(Edge {
            x1,
            y1,
            x2: x1 + (dx * t) as i32,
            y2: y1 + (dy * t) as i32,
            mx: (x1 + x2) / 2,
            my: (y1 + y2) / 2 - 4 + 13 * *nth,
            label: kind_label(lang, kind),
        });
        *nth += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: u128, layer: i32, parent: Option<u128>, name: &str) -> Placed {
        Placed {
            id: Uuid::from_u128(id),
            name: name.into(),
            key: format!("K{id}"),
            class: "类".into(),
            layer,
            parent: parent.map(Uuid::from_u128),
            kind: "depends_on".into(),
        }
    }

    #[test]
    fn depth_and_direction_are_parsed_leniently() {
        assert_eq!(parse_depth(Some("2")), 2);
        assert_eq!(parse_depth(Some("3")), 3);
        for bad in [None, Some(""), Some("0"), Some("4"), Some("-1"), Some("x")] {
            assert_eq!(parse_depth(bad), 1, "{bad:?}");
        }
        assert_eq!(Direction::parse(Some("up")), Direction::Up);
        assert_eq!(Direction::parse(Some("down")), Direction::Down);
        assert_eq!(Direction::parse(Some("sideways")), Direction::Both);
        assert_eq!(Direction::parse(None), Direction::Both);
    }

    #[test]
    fn names_are_shortened_by_width() {
        assert_eq!(short("abc", 20), "abc");
        assert_eq!(short("核心数据库服务器", 20), "核心数据库服务器");
        assert_eq!(
            short("一二三四五六七八九十十一", 20),
            "一二三四五六七八九十…"
        );
        assert_eq!(short(&"a".repeat(25), 20), format!("{}…", "a".repeat(20)));
    }

    #[test]
    fn layout_is_layered_and_deterministic() {
        // Root; two dependencies (one with a child at depth 2); one dependent above.
        let placed = vec![
            p(1, 0, None, "根"),
            p(2, 1, Some(1), "b 应用"),
            p(3, 1, Some(1), "a 应用"),
            p(4, 2, Some(2), "丙"),
            p(5, -1, Some(1), "上"),
        ];
        let (nodes, labels, w, h, centre) = layout(Lang::Zh, &placed, 2, Direction::Both);
        assert_eq!(nodes.len(), 5);
        assert_eq!(labels.len(), 4, "one label per layer");
        assert!(w >= MIN_W && h > 0);
        let y = |id: u128| centre[&Uuid::from_u128(id)].1;
        let x = |id: u128| centre[&Uuid::from_u128(id)].0;
        assert!(y(5) < y(1), "what it impacts is above");
        assert!(y(1) < y(2) && y(2) == y(3), "dependencies below, one layer");
        assert!(y(3) < y(4), "depth 2 further down");
        assert!(x(3) < x(2), "a layer is ordered by name (a before b)");
        assert_eq!(nodes[0].role, "up");
        assert!(nodes.iter().any(|n| n.role == "root"));
        assert!(nodes.iter().all(|n| n.href.ends_with("?depth=2&dir=both")));
        // Same input, same drawing.
        let (again, ..) = layout(Lang::Zh, &placed, 2, Direction::Both);
        let pos: Vec<(i32, i32)> = nodes.iter().map(|n| (n.x, n.y)).collect();
        let pos2: Vec<(i32, i32)> = again.iter().map(|n| (n.x, n.y)).collect();
        assert_eq!(pos, pos2);
    }

    #[test]
    fn a_wide_layer_wraps_into_rows() {
        let mut placed = vec![p(1, 0, None, "根")];
        for k in 0..(PER_ROW as u128 * 2 + 1) {
            placed.push(p(100 + k, 1, Some(1), &format!("n{k:02}")));
        }
        let (nodes, _, w, _, centre) = layout(Lang::En, &placed, 1, Direction::Down);
        let rows: HashSet<i32> = centre
            .iter()
            .filter(|(id, _)| **id != Uuid::from_u128(1))
            .map(|(_, c)| c.1)
            .collect();
        assert_eq!(rows.len(), 3, "15 nodes at 7 a row make three rows");
        assert!(nodes.iter().all(|n| n.bx >= 0 && n.bx + BOX_W <= w));
    }

    #[test]
    fn edges_stop_at_the_box_and_stack_labels() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let index = HashMap::from([(a, 0), (b, 1)]);
        let centre = HashMap::from([(a, (400, 100)), (b, (400, 300))]);
        let rels = BTreeMap::from([
            (Uuid::from_u128(10), (a, b, "runs_on".to_string())),
            (Uuid::from_u128(11), (a, b, "depends_on".to_string())),
            // An end that is not drawn: no edge.
            (
                Uuid::from_u128(12),
                (a, Uuid::from_u128(3), "depends_on".to_string()),
            ),
        ]);
        let e = edges(Lang::Zh, &rels, &index, &centre);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].x2, e[0].y2), (400, 300 - BOX_H / 2));
        assert_eq!(e[0].label, "运行于");
        assert_eq!(e[1].label, "依赖");
        assert_ne!(e[0].my, e[1].my, "labels do not overlap");
    }
}
