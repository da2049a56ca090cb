//! CMDB import and export (CSV and XLSX with Chinese column headers).
//!
//! A file holds two tables: configuration items (`组织, 外部编号, 名称, 类别, …`) and
//! relations (`源组织, 源外部编号, 关系类型, 目标组织, 目标外部编号`). In CSV they follow each
//! other separated by an empty line; in XLSX each is a sheet. Rows match existing items by
//! (organization, external key), so importing the same file twice changes nothing. A bad row
//! is reported with its line and reason; an import with errors changes nothing unless the
//! caller asks to apply the valid rows. Everything is written in one transaction, in batches.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;
use yunwei_domain::cmdb::{self as rules, RelKind};
use yunwei_domain::{Action, ErrorCode};
use yunwei_store::audit::NewEntry;
use yunwei_store::cmdb::{self as store, Ci, CiVersion, Relation};
use yunwei_store::{orgs, sla};

use crate::cmdb::{check_input, CiInput, Schema};
use crate::{Actor, App, Result};

/// Column headers of the item table, in export order.
pub const CI_HEADERS: [&str; 19] = [
    "组织",
    "外部编号",
    "名称",
    "类别",
    "部门",
    "生命周期状态",
    "重要性",
    "位置",
    "厂商",
    "合同编号",
    "合同到期日",
    "保修到期日",
    "采购日期",
    "采购成本（元）",
    "年运行成本（元）",
    "安全保护等级",
    "数据安全级别",
    "服务日历",
    "扩展属性",
];

/// Column headers of the relation table.
pub const REL_HEADERS: [&str; 5] = [
    "源组织",
    "源外部编号",
    "关系类型",
    "目标组织",
    "目标外部编号",
];

/// A table read from a file: its rows with their 1-based line numbers (header first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableIn {
    pub rows: Vec<(usize, Vec<String>)>,
}

/// A table to write.
#[derive(Debug, Clone)]
pub struct TableOut {
    pub name: &'static str,
    pub headers: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
}

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// `cis` or `relations`.
    pub table: &'static str,
    /// 1-based line (CSV) or row (XLSX).
    pub line: usize,
    pub code: ErrorCode,
    /// The column or field concerned.
    pub field: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub relations_created: usize,
    pub relations_unchanged: usize,
    /// Rows left out (only when the valid rows were applied).
    pub rejected: usize,
}

/// An import that was refused, or failed.
#[derive(Debug)]
pub enum ImportError {
    /// Rows are wrong and the valid ones were not to be applied: nothing changed.
    Rows(Vec<RowError>),
    Other(crate::Error),
}

impl<E: Into<crate::Error>> From<E> for ImportError {
    fn from(e: E) -> Self {
        ImportError::Other(e.into())
    }
}

// ------------------------------------------------------------------------------------- CSV

/// Split CSV text into tables separated by empty lines (RFC 4180 quoting, a leading BOM is
/// dropped). Returns `Err(line)` on an unterminated quote.
pub fn parse_csv_tables(text: &str) -> std::result::Result<Vec<TableIn>, usize> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut tables = Vec::new();
    let mut cur = TableIn::default();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    let (mut row, mut field) = (Vec::<String>::new(), String::new());
    let mut row_line = 1usize;
    let mut in_quotes = false;
    let mut quoted_line = 0;
    let mut any = false;
    loop {
        let c = chars.next();
        if in_quotes {
            match c {
                None => return Err(quoted_line),
                Some('"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                Some('"') => in_quotes = false,
                Some('\n') => {
                    line += 1;
                    field.push('\n');
                }
                Some(ch) => field.push(ch),
            }
            continue;
        }
        match c {
            Some('"') if field.is_empty() => {
                in_quotes = true;
                quoted_line = line;
                any = true;
            }
            Some(',') => {
                row.push(std::mem::take(&mut field));
                any = true;
            }
            Some('\r') => {}
            None | Some('\n') => {
                row.push(std::mem::take(&mut field));
                let blank = !any && row.iter().all(|f| f.is_empty());
                if blank {
                    if !cur.rows.is_empty() {
                        tables.push(std::mem::take(&mut cur));
                    }
                } else {
                    cur.rows.push((row_line, std::mem::take(&mut row)));
                }
                row.clear();
                any = false;
                if c.is_none() {
                    break;
                }
                line += 1;
                row_line = line;
            }
            Some(ch) => {
                field.push(ch);
                any = true;
            }
        }
    }
    if !cur.rows.is_empty() {
        tables.push(cur);
    }
    Ok(tables)
}

/// A value as the export writes it, so that the importer's `cell` reads back exactly `s`. In
/// CSV (`formulas`) a leading formula character is neutralised with a quote (CSV injection);
/// in both formats a value that already starts with a quote followed by a formula character or
/// another quote gets one more quote, since `cell` removes one there.
pub fn export_cell(s: &str, formulas: bool) -> String {
    let quoted_formula = s
        .strip_prefix('\'')
        .is_some_and(|r| r.starts_with(['=', '+', '-', '@', '\'']));
    if quoted_formula || (formulas && s.starts_with(['=', '+', '-', '@'])) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

fn csv_field(s: &str) -> String {
    let s = export_cell(s, true);
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Tables as CSV: UTF-8 with BOM, CRLF, tables separated by an empty line.
pub fn to_csv(tables: &[TableOut]) -> String {
    let mut out = String::from("\u{feff}");
    for (i, t) in tables.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let head: Vec<String> = t.headers.iter().map(|h| csv_field(h)).collect();
        out.push_str(&head.join(","));
        out.push_str("\r\n");
        for r in &t.rows {
            let cells: Vec<String> = r.iter().map(|c| csv_field(c)).collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
    }
    out
}

/// Undo the export's formula neutralisation (see [`export_cell`]).
fn cell(s: &str) -> String {
    let s = s.trim();
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\'']) => rest.to_string(),
        _ => s.to_string(),
    }
}

// ------------------------------------------------------------------------------- formatting

fn money(fen: Option<i64>) -> String {
    fen.map(|f| format!("{}.{:02}", f / 100, (f % 100).abs()))
        .unwrap_or_default()
}

fn parse_money(s: &str) -> Option<std::result::Result<i64, ()>> {
    let s = s.trim().replace(',', "");
    if s.is_empty() {
        return None;
    }
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i.to_string(), f.to_string()),
        None => (s.clone(), String::new()),
    };
    if frac.len() > 2
        || int.is_empty()
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || int.len() > 15
    {
        return Some(Err(()));
    }
    let i: i64 = int.parse().map_err(|_| ()).ok()?;
    let f: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
    Some(Ok(i * 100 + f))
}

fn date_s(d: Option<NaiveDate>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

impl App {
    /// The caller's items and their relations as two tables (items ordered by organization
    /// name and external key).
    pub async fn export_cis(&self, actor: &Actor) -> Result<Vec<TableOut>> {
        actor.require(Action::CmdbRead)?;
        let scope = actor.scope().org_filter();
        let schema = self.cmdb_schema(&self.db).await?;
        let org_names: HashMap<Uuid, String> = orgs::list_orgs(&self.db, scope)
            .await?
            .into_iter()
            .map(|o| (o.id, o.name))
            .collect();
        let mut depts: HashMap<Uuid, String> = HashMap::new();
        for o in org_names.keys() {
            for d in orgs::list_departments(&self.db, *o).await? {
                depts.insert(d.id, d.name);
            }
        }
        let cals: HashMap<Uuid, String> = sla::list_calendars(&self.db)
            .await?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect();
        let mut cis = store::all_cis(&self.db, scope).await?;
        let on = |o: Uuid| org_names.get(&o).cloned().unwrap_or_default();
        cis.sort_by(|a, b| {
            on(a.org_id)
                .cmp(&on(b.org_id))
                .then(a.external_key.cmp(&b.external_key))
        });
        let by_id: HashMap<Uuid, (String, String)> = cis
            .iter()
            .map(|c| (c.id, (on(c.org_id), c.external_key.clone())))
            .collect();
        let rows = cis
            .iter()
            .map(|c| {
                vec![
                    on(c.org_id),
                    c.external_key.clone(),
                    c.name.clone(),
                    schema
                        .by_id(c.class_id)
                        .map(|x| x.code.clone())
                        .unwrap_or_default(),
                    c.department_id
                        .and_then(|d| depts.get(&d).cloned())
                        .unwrap_or_default(),
                    rules::status_zh(&c.status).to_string(),
                    rules::criticality_zh(&c.criticality).to_string(),
                    c.location.clone().unwrap_or_default(),
                    c.vendor.clone().unwrap_or_default(),
                    c.contract_no.clone().unwrap_or_default(),
                    date_s(c.contract_end),
                    date_s(c.warranty_end),
                    date_s(c.purchased_on),
                    money(c.purchase_cost),
                    money(c.annual_cost),
                    c.security_level.map(|l| l.to_string()).unwrap_or_default(),
                    c.data_level
                        .as_deref()
                        .map(rules::data_level_zh)
                        .unwrap_or_default()
                        .to_string(),
                    c.calendar_id
                        .and_then(|x| cals.get(&x).cloned())
                        .unwrap_or_default(),
                    if c.attributes_json == "{}" {
                        String::new()
                    } else {
                        c.attributes_json.clone()
                    },
                ]
            })
            .collect();
        let mut rels: Vec<Vec<String>> = store::all_relations(&self.db, scope)
            .await?
            .into_iter()
            .filter_map(|r| {
                let (so, sk) = by_id.get(&r.source_id)?.clone();
                let (to, tk) = by_id.get(&r.target_id)?.clone();
                let kind = RelKind::parse(&r.kind)?.zh().to_string();
                Some(vec![so, sk, kind, to, tk])
            })
            .collect();
        rels.sort();
        Ok(vec![
            TableOut {
                name: "配置项",
                headers: &CI_HEADERS,
                rows,
            },
            TableOut {
                name: "关系",
                headers: &REL_HEADERS,
                rows: rels,
            },
        ])
    }

    /// Import items and relations. With errors and `apply_valid` false nothing changes and
    /// every bad row is returned.
    pub async fn import_cis(
        &self,
        actor: &Actor,
        tables: Vec<TableIn>,
        apply_valid: bool,
    ) -> std::result::Result<ImportReport, ImportError> {
        actor.require(Action::CmdbWrite)?;
        let mut errors: Vec<RowError> = Vec::new();
        // Which table is which, by its header.
        let mut ci_table: Option<TableIn> = None;
        let mut rel_table: Option<TableIn> = None;
        for t in tables {
            let head: Vec<String> = t
                .rows
                .first()
                .map(|r| r.1.iter().map(|h| cell(h)).collect())
                .unwrap_or_default();
            if head.iter().any(|h| h == REL_HEADERS[1]) {
                rel_table = Some(t);
            } else if head.iter().any(|h| h == CI_HEADERS[1]) {
                ci_table = Some(t);
            } else {
                errors.push(RowError {
                    table: "cis",
                    line: t.rows.first().map(|r| r.0).unwrap_or(1),
                    code: ErrorCode::ImportFailed,
                    field: Some("header".into()),
                });
            }
        }
        if ci_table.is_none() && rel_table.is_none() && errors.is_empty() {
            errors.push(RowError {
                table: "cis",
                line: 1,
                code: ErrorCode::ImportFailed,
                field: Some("header".into()),
            });
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let schema = self.cmdb_schema(&mut tx).await?;
        let all_orgs = orgs::list_orgs(&mut tx, actor.scope().org_filter()).await?;
        let org_by_name: HashMap<String, Uuid> =
            all_orgs.iter().map(|o| (o.name.clone(), o.id)).collect();
        let mut dept_by_name: HashMap<(Uuid, String), Uuid> = HashMap::new();
        for o in &all_orgs {
            for d in orgs::list_departments(&mut tx, o.id).await? {
                dept_by_name.insert((o.id, d.name), d.id);
            }
        }
        let cal_by_name: HashMap<String, Uuid> = sla::list_calendars(&mut tx)
            .await?
            .into_iter()
            .map(|c| (c.name, c.id))
            .collect();
        let existing: HashMap<(Uuid, String), Ci> =
            store::all_cis(&mut tx, actor.scope().org_filter())
                .await?
                .into_iter()
                .map(|c| ((c.org_id, c.external_key.clone()), c))
                .collect();

        // Items.
        struct Row {
            line: usize,
            ci: Ci,
            is_new: bool,
            changed: bool,
            before: Option<Ci>,
        }
        let mut rows: Vec<Row> = Vec::new();
        let mut in_file: HashMap<(Uuid, String), usize> = HashMap::new();
        if let Some(t) = &ci_table {
            let head: Vec<String> = t.rows[0].1.iter().map(|h| cell(h)).collect();
            let col: HashMap<&str, usize> = CI_HEADERS
                .iter()
                .filter_map(|h| head.iter().position(|x| x == h).map(|i| (*h, i)))
                .collect();
            for req in ["外部编号", "名称", "类别"] {
                if !col.contains_key(req) {
                    errors.push(RowError {
                        table: "cis",
                        line: t.rows[0].0,
                        code: ErrorCode::ImportFailed,
                        field: Some(req.into()),
                    });
                }
            }
            if errors.is_empty() {
                for (line, r) in t.rows.iter().skip(1) {
                    let get = |h: &str| {
                        col.get(h)
                            .and_then(|i| r.get(*i))
                            .map(|s| cell(s))
                            .unwrap_or_default()
                    };
                    match self.import_row(
                        actor,
                        &schema,
                        &org_by_name,
                        &dept_by_name,
                        &cal_by_name,
                        &get,
                    ) {
                        Err((code, field)) => errors.push(RowError {
                            table: "cis",
                            line: *line,
                            code,
                            field,
                        }),
                        Ok(k) => {
                            let key = (k.org_id, k.external_key.clone());
                            if in_file.contains_key(&key) {
                                errors.push(RowError {
                                    table: "cis",
                                    line: *line,
                                    code: ErrorCode::CiKeyTaken,
                                    field: Some("外部编号".into()),
                                });
                                continue;
                            }
                            let (ci, is_new, changed, before) = match existing.get(&key) {
                                Some(old) => {
                                    let mut c = old.clone();
                                    k.apply(&mut c);
                                    let changed = c != *old;
                                    if changed {
                                        c.version += 1;
                                        c.updated_at = now;
                                    }
                                    (c, false, changed, Some(old.clone()))
                                }
                                None => (k.new_ci(now), true, true, None),
                            };
                            in_file.insert(key, rows.len());
                            rows.push(Row {
                                line: *line,
                                ci,
                                is_new,
                                changed,
                                before,
                            });
                        }
                    }
                }
            }
        }
        // References among attributes: to existing items or rows of the file.
        let class_of_key = |org: Uuid, key: &str, rows: &Vec<Row>| -> Option<Uuid> {
            in_file
                .get(&(org, key.to_string()))
                .map(|i| rows[*i].ci.class_id)
                .or_else(|| existing.get(&(org, key.to_string())).map(|c| c.class_id))
        };
        let mut bad_rows: HashSet<usize> = HashSet::new();
        for (i, r) in rows.iter().enumerate() {
            let defs = schema.defs(r.ci.class_id);
            let attrs: Map<String, Value> =
                serde_json::from_str(&r.ci.attributes_json).unwrap_or_default();
            for (code, key, classes) in rules::references(&defs, &attrs) {
                let ok = class_of_key(r.ci.org_id, key, &rows).is_some_and(|cid| {
                    key != r.ci.external_key
                        && (classes.is_empty()
                            || classes
                                .iter()
                                .any(|c| schema.by_id(cid).is_some_and(|x| &x.code == c)))
                });
                if !ok {
                    errors.push(RowError {
                        table: "cis",
                        line: r.line,
                        code: ErrorCode::CiAttributeInvalid,
                        field: Some(format!("attributes.{code}")),
                    });
                    bad_rows.insert(i);
                }
            }
        }

        // Relations.
        let id_of = |org: Uuid,
                     key: &str,
                     rows: &Vec<Row>,
                     bad: &HashSet<usize>|
         -> Option<(Uuid, Uuid, Uuid)> {
            match in_file.get(&(org, key.to_string())) {
                Some(i) if bad.contains(i) => None,
                Some(i) => Some((rows[*i].ci.id, rows[*i].ci.class_id, org)),
                None => existing
                    .get(&(org, key.to_string()))
                    .map(|c| (c.id, c.class_id, org)),
            }
        };
        let mut edges: HashSet<(Uuid, String, Uuid)> =
            store::all_edges(&mut tx).await?.into_iter().collect();
        let mut new_rels: Vec<Relation> = Vec::new();
        let mut rels_unchanged = 0usize;
        if let Some(t) = &rel_table {
            let head: Vec<String> = t.rows[0].1.iter().map(|h| cell(h)).collect();
            let col: Vec<Option<usize>> = REL_HEADERS
                .iter()
                .map(|h| head.iter().position(|x| x == h))
                .collect();
            if col[1].is_none() || col[2].is_none() || col[4].is_none() {
                errors.push(RowError {
                    table: "relations",
                    line: t.rows[0].0,
                    code: ErrorCode::ImportFailed,
                    field: Some("header".into()),
                });
            } else {
                for (line, r) in t.rows.iter().skip(1) {
                    let get = |i: usize| {
                        col[i]
                            .and_then(|c| r.get(c))
                            .map(|s| cell(s))
                            .unwrap_or_default()
                    };
                    let mut err = |field: &str, code: ErrorCode| {
                        errors.push(RowError {
                            table: "relations",
                            line: *line,
                            code,
                            field: Some(field.into()),
                        });
                    };
                    let org = |name: String| -> Option<Uuid> {
                        if name.is_empty() {
                            Some(actor.org_id)
                        } else {
                            org_by_name.get(&name).copied()
                        }
                    };
                    let Some(so) = org(get(0)) else {
                        err("源组织", ErrorCode::InvalidReference);
                        continue;
                    };
                    let Some(to) = org(get(3)) else {
                        err("目标组织", ErrorCode::InvalidReference);
                        continue;
                    };
                    let Some(kind) = RelKind::parse(&get(2)) else {
                        err("关系类型", ErrorCode::ValidationFailed);
                        continue;
                    };
                    let Some(s) = id_of(so, &get(1), &rows, &bad_rows) else {
                        err("源外部编号", ErrorCode::InvalidReference);
                        continue;
                    };
                    let Some(d) = id_of(to, &get(4), &rows, &bad_rows) else {
                        err("目标外部编号", ErrorCode::InvalidReference);
                        continue;
                    };
                    if s.0 == d.0
                        || !rules::relation_allowed(
                            kind,
                            schema.category(s.1),
                            schema.category(d.1),
                        )
                    {
                        err("关系类型", ErrorCode::CiRelationNotAllowed);
                        continue;
                    }
                    if !edges.insert((s.0, kind.as_str().to_string(), d.0)) {
                        rels_unchanged += 1;
                        continue;
                    }
                    new_rels.push(Relation {
                        id: yunwei_domain::ids::new_id(),
                        source_id: s.0,
                        kind: kind.as_str().into(),
                        target_id: d.0,
                        created_at: now,
                        created_by: actor.user_id,
                    });
                }
            }
        }
        errors.sort_by(|a, b| (a.table, a.line).cmp(&(b.table, b.line)));
        if !errors.is_empty() && !apply_valid {
            return Err(ImportError::Rows(errors));
        }

        // Write.
        let mut report = ImportReport {
            rejected: errors
                .iter()
                .map(|e| (e.table, e.line))
                .collect::<HashSet<_>>()
                .len(),
            relations_unchanged: rels_unchanged,
            ..Default::default()
        };
        let mut creates = Vec::new();
        let mut versions = Vec::new();
        let mut entries = Vec::new();
        for (i, r) in rows.into_iter().enumerate() {
            if bad_rows.contains(&i) {
                continue;
            }
            if !r.changed {
                report.unchanged += 1;
                continue;
            }
            let view = schema.view(r.ci.clone(), now);
            versions.push(CiVersion {
                id: yunwei_domain::ids::new_id(),
                ci_id: r.ci.id,
                version: r.ci.version,
                valid_from: now,
                action: "import".into(),
                actor_name: actor.username.clone(),
                snapshot_json: serde_json::to_string(&view).unwrap_or_else(|_| "{}".into()),
            });
            let mut e = actor.entry(
                if r.is_new { "create" } else { "update" },
                "ci",
                r.ci.id,
                Some(r.ci.org_id),
            );
            if let Some(b) = &r.before {
                e.before = crate::snapshot(&schema.view(b.clone(), now));
            }
            e.after = crate::snapshot(&view);
            entries.push(e);
            if r.is_new {
                report.created += 1;
                creates.push(r.ci);
            } else {
                report.updated += 1;
                store::update_ci(&mut tx, &r.ci).await?;
            }
        }
        store::insert_cis_bulk(&mut tx, &creates).await?;
        store::insert_versions_bulk(&mut tx, &versions).await?;
        report.relations_created = store::insert_relations_bulk(&mut tx, &new_rels).await? as usize;
        // One audit entry per item whose relations grew.
        let mut by_source: BTreeMap<Uuid, Vec<Value>> = BTreeMap::new();
        for r in &new_rels {
            by_source
                .entry(r.source_id)
                .or_default()
                .push(serde_json::json!({
                    "relation_id": r.id, "kind": r.kind, "target_id": r.target_id,
                }));
        }
        let org_of: HashMap<Uuid, Uuid> = creates
            .iter()
            .map(|c| (c.id, c.org_id))
            .chain(existing.values().map(|c| (c.id, c.org_id)))
            .collect();
        for (src, list) in by_source {
            let mut e = actor.entry("relate", "ci", src, org_of.get(&src).copied());
            e.after = Some(Value::Array(list));
            entries.push(e);
        }
        let mut summary: NewEntry =
            actor.entry("import", "ci_import", now.timestamp_micros(), None);
        summary.after = crate::snapshot(&report);
        entries.push(summary);
        if report.created + report.updated + report.relations_created > 0 {
            // A bulk write: every node reloads its graph in full (a NULL log row).
            store::bump_epoch(&mut tx, None).await?;
        }
        store::audit_many(&mut tx, entries, now).await?;
        tx.commit().await?;
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    fn import_row(
        &self,
        actor: &Actor,
        schema: &Schema,
        org_by_name: &HashMap<String, Uuid>,
        dept_by_name: &HashMap<(Uuid, String), Uuid>,
        cal_by_name: &HashMap<String, Uuid>,
        get: &dyn Fn(&str) -> String,
    ) -> std::result::Result<crate::cmdb::Checked, (ErrorCode, Option<String>)> {
        let f = |h: &str| (ErrorCode::ValidationFailed, Some(h.to_string()));
        let r = |h: &str| (ErrorCode::InvalidReference, Some(h.to_string()));
        let org_name = get("组织");
        let org = if org_name.is_empty() {
            actor.org_id
        } else {
            *org_by_name.get(&org_name).ok_or_else(|| r("组织"))?
        };
        let dept = match get("部门") {
            d if d.is_empty() => None,
            d => Some(*dept_by_name.get(&(org, d)).ok_or_else(|| r("部门"))?),
        };
        let cal = match get("服务日历") {
            c if c.is_empty() => None,
            c => Some(*cal_by_name.get(&c).ok_or_else(|| r("服务日历"))?),
        };
        let date =
            |h: &str| -> std::result::Result<Option<NaiveDate>, (ErrorCode, Option<String>)> {
                match get(h) {
                    s if s.is_empty() => Ok(None),
                    s => NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                        .map(Some)
                        .map_err(|_| f(h)),
                }
            };
        let cost = |h: &str| match parse_money(&get(h)) {
            None => Ok(None),
            Some(Ok(v)) => Ok(Some(v)),
            Some(Err(())) => Err(f(h)),
        };
        let level = match get("安全保护等级") {
            s if s.is_empty() => None,
            s => Some(s.parse::<i64>().map_err(|_| f("安全保护等级"))?),
        };
        let attributes = match get("扩展属性") {
            s if s.is_empty() => Map::new(),
            s => match serde_json::from_str::<Value>(&s) {
                Ok(Value::Object(m)) => m,
                _ => return Err(f("扩展属性")),
            },
        };
        let input = CiInput {
            class: get("类别"),
            org_id: Some(org),
            department_id: dept,
            external_key: get("外部编号"),
            name: get("名称"),
            status: Some(get("生命周期状态")),
            criticality: Some(get("重要性")),
            location: Some(get("位置")),
            vendor: Some(get("厂商")),
            contract_no: Some(get("合同编号")),
            contract_end: date("合同到期日")?,
            warranty_end: date("保修到期日")?,
            purchased_on: date("采购日期")?,
            purchase_cost: cost("采购成本（元）")?,
            annual_cost: cost("年运行成本（元）")?,
            security_level: level,
            data_level: Some(get("数据安全级别")),
            calendar_id: cal,
            attributes,
        };
        let header_of = |field: &str| -> String {
            let h = match field {
                "class" => "类别",
                "external_key" => "外部编号",
                "name" => "名称",
                "status" => "生命周期状态",
                "criticality" => "重要性",
                "location" => "位置",
                "vendor" => "厂商",
                "contract_no" => "合同编号",
                "security_level" => "安全保护等级",
                "data_level" => "数据安全级别",
                "purchase_cost" => "采购成本（元）",
                "annual_cost" => "年运行成本（元）",
                other => return other.to_string(),
            };
            h.to_string()
        };
        check_input(schema, org, &input).map_err(|e| match e {
            crate::Error::Domain(d) => (d.code, d.field.as_deref().map(header_of)),
            other => (other.code(), None),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_tables_split_on_empty_lines_and_keep_quoted_newlines() {
        let text = "\u{feff}a,b\r\n1,\"x,\"\"y\"\"\nz\"\r\n\r\nc,d\r\n2,3\r\n";
        let t = parse_csv_tables(text).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[0].rows[1],
            (2, vec!["1".to_string(), "x,\"y\"\nz".to_string()])
        );
        assert_eq!(t[1].rows[0].0, 5);
        assert_eq!(parse_csv_tables("a,\"b\n"), Err(1));
        let out = to_csv(&[TableOut {
            name: "t",
            headers: &["h1", "h2"],
            rows: vec![vec!["-1".into(), "a,b".into()]],
        }]);
        let back = parse_csv_tables(&out).unwrap();
        assert_eq!(cell(&back[0].rows[1].1[0]), "-1");
        assert_eq!(back[0].rows[1].1[1], "a,b");
    }

    #[test]
    fn money_round_trips_in_fen() {
        assert_eq!(money(Some(123456)), "1234.56");
        assert_eq!(money(Some(5)), "0.05");
        assert_eq!(parse_money("1234.56"), Some(Ok(123456)));
        assert_eq!(parse_money("1,234.5"), Some(Ok(123450)));
        assert_eq!(parse_money("12"), Some(Ok(1200)));
        assert_eq!(parse_money(""), None);
        assert_eq!(parse_money("1.234"), Some(Err(())));
        assert_eq!(parse_money("-3"), Some(Err(())));
    }
}
