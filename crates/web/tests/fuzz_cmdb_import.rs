//! Fuzzing of the CMDB import (issue 5, item 7): the CSV table splitter, the XLSX reader and the
//! whole import through the HTTP API. cargo-fuzz needs a nightly toolchain these machines
//! cannot fetch, so this uses proptest's generators in a time-bounded loop (as
//! crates/domain/tests/fuzz_parsers.rs does for the calendar parsers): random bytes, random
//! Unicode, and inputs built from the import's own vocabulary (headers, class codes in both
//! languages, organization names, dates, money, IPs, JSON attributes, quoting), which reach far
//! deeper than random text.
//!
//! Each target runs for `YUNWEI_FUZZ_SECS` seconds (default 30 under `CI=true`, 3 otherwise).
//!
//! Properties: no input panics; every row keeps a line number that exists in the input; what
//! the CSV writer produces splits back into the same cells; the XLSX reader never panics on
//! corrupted workbooks; an import answers 200 or a coded 4xx, never 5xx; an import refused for
//! bad rows names lines that exist and writes nothing (items, relations and the audit log are
//! unchanged).

mod common;

use std::time::Instant;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::TestApp;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use yunwei_fuzzkit::{budget, fuzz};
use yunwei_service::cmdb_import::{parse_csv_tables, to_csv, TableOut, CI_HEADERS, REL_HEADERS};

/// Lines of the text as the splitter counts them (`\n` ends a line).
fn lines_in(text: &str) -> usize {
    text.matches('\n').count() + 1
}

/// A cell from the import's vocabulary, or something hostile.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("甲单位".to_string()),
        Just("乙单位".to_string()),
        Just("不存在的单位".to_string()),
        Just("信息中心".to_string()),
        prop::sample::select(vec![
            "rack",
            "switch",
            "交换机",
            "database",
            "数据库",
            "application",
            "business_service",
            "physical_server",
            "virtual_machine",
            "no_such_class",
        ])
        .prop_map(str::to_string),
        prop::sample::select(vec![
            "在用",
            "计划",
            "维护中",
            "已退役",
            "in_use",
            "retired",
            "一般",
            "关键",
            "重要",
            "critical",
            "depends_on",
            "runs_on",
            "位于",
            "供电",
            "备份",
            "backed_up_by",
            "重要数据",
            "核心数据",
        ])
        .prop_map(str::to_string),
        "[A-Z]{1,3}-[0-9]{1,3}",
        "20[0-9]{2}-[01][0-9]-[0-3][0-9]",
        "-?[0-9]{1,12}(\\.[0-9]{1,3})?",
        "[0-9]{1,3}(,[0-9]{3}){1,3}\\.[0-9]{2}",
        "[0-9]{1,2}",
        Just("{\"mgmt_ip\":\"10.0.0.1\",\"u_size\":1}".to_string()),
        Just("{\"mgmt_ip\":\"999.1.1.1\"}".to_string()),
        Just("{\"u_height\":\"很高\"}".to_string()),
        Just("{not json".to_string()),
        Just("[1,2,3]".to_string()),
        Just("=HYPERLINK(\"http://x\")".to_string()),
        Just("'=1+1".to_string()),
        Just("<script>alert(1)</script>".to_string()),
        Just("'; DROP TABLE cis; --".to_string()),
        Just("\u{202e}evil".to_string()),
        "\\PC{0,40}",
        "[\",\r\n ]{1,6}",
    ]
}

/// A CSV document built from headers (right, shuffled or wrong) and rows of vocabulary cells,
/// written with correct quoting or raw.
fn import_csv() -> impl Strategy<Value = String> {
    let header = prop_oneof![
        4 => Just(CI_HEADERS.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        1 => Just(CI_HEADERS[..5].iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        1 => Just(vec!["名称".to_string(), "foo".to_string()]),
        1 => prop::collection::vec(cell(), 1..6),
    ];
    let rel_header = Just(
        REL_HEADERS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    );
    (
        header,
        prop::collection::vec(prop::collection::vec(cell(), 0..21), 0..6),
        prop::option::of((
            rel_header,
            prop::collection::vec(prop::collection::vec(cell(), 0..7), 0..4),
        )),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(head, rows, rels, quoted, crlf)| {
            let nl = if crlf { "\r\n" } else { "\n" };
            // Quoted: every cell quoted properly; raw: cells as they are (so a comma or a quote
            // inside a cell breaks the row, as in a hand-made file).
            let q = |c: &String| {
                if quoted {
                    format!("\"{}\"", c.replace('"', "\"\""))
                } else {
                    c.clone()
                }
            };
            let line = |r: &Vec<String>| r.iter().map(q).collect::<Vec<_>>().join(",");
            let mut s = String::from("\u{feff}");
            s.push_str(&line(&head));
            for r in &rows {
                s.push_str(nl);
                s.push_str(&line(r));
            }
            if let Some((h, rs)) = rels {
                s.push_str(nl);
                s.push_str(nl);
                s.push_str(&line(&h));
                for r in &rs {
                    s.push_str(nl);
                    s.push_str(&line(r));
                }
            }
            s.push_str(nl);
            s
        })
}

#[test]
fn csv_splitter_never_panics_and_keeps_line_numbers() {
    let text = prop_oneof![
        "\\PC{0,400}",
        "[a-z,\"\r\n甲]{0,200}",
        import_csv(),
        prop::collection::vec(any::<u8>(), 0..400)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ];
    fuzz("parse_csv_tables", text, |t| {
        let lines = lines_in(&t);
        match parse_csv_tables(&t) {
            Ok(tables) => {
                for tb in &tables {
                    prop_assert!(!tb.rows.is_empty(), "empty table returned");
                    let mut last = 0;
                    for (line, _) in &tb.rows {
                        prop_assert!(*line >= 1 && *line <= lines, "line {line} of {lines}");
                        prop_assert!(*line > last, "lines not increasing");
                        last = *line;
                    }
                }
            }
            Err(line) => prop_assert!(line >= 1 && line <= lines, "error line {line} of {lines}"),
        }
        Ok(())
    });
}

/// What the importer reads from a cell (its `cell` without the trimming): one quote in front
/// of a formula character or of another quote is removed.
fn unneutralise(c: String) -> String {
    match c.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\'']) => rest.to_string(),
        _ => c,
    }
}

#[test]
fn export_output_reads_back_as_the_same_cells() {
    // One table of the item layout (the writers have fixed headers) with arbitrary cells.
    let rows = prop::collection::vec(
        prop::collection::vec("\\PC{0,20}|[\",\r\n'=+@-]{0,4}", 19),
        1..5,
    );
    fuzz("export round trip (CSV, XLSX)", rows, |rows| {
        let table = [TableOut {
            name: "配置项",
            headers: &CI_HEADERS,
            rows: rows.clone(),
        }];
        let read_back = |tables: Vec<yunwei_service::cmdb_import::TableIn>| -> Vec<Vec<String>> {
            tables
                .iter()
                .flat_map(|t| t.rows.iter().map(|r| r.1.clone()))
                .skip(1)
                .map(|r| r.into_iter().map(unneutralise).collect())
                .collect()
        };
        // CSV: a row whose cells are all empty separates tables in this format, so it vanishes.
        let csv = parse_csv_tables(&to_csv(&table))
            .map_err(|l| TestCaseError::fail(format!("line {l}")))?;
        let expected: Vec<Vec<String>> = rows
            .iter()
            .filter(|r| r.iter().any(|c| !c.is_empty()))
            .cloned()
            .collect();
        prop_assert_eq!(read_back(csv), expected);
        // XLSX: blank rows (only whitespace) are skipped; trailing empty cells are kept as
        // empty strings because the header row fixes the width.
        let bytes =
            yunwei_web::api::to_xlsx(&table).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let xlsx =
            yunwei_web::api::from_xlsx(&bytes).ok_or_else(|| TestCaseError::fail("unreadable"))?;
        let expected: Vec<Vec<String>> = rows
            .iter()
            .filter(|r| r.iter().any(|c| !c.trim().is_empty()))
            .cloned()
            .collect();
        prop_assert_eq!(read_back(xlsx), expected);
        Ok(())
    });
}

#[test]
fn xlsx_reader_never_panics_on_corrupted_workbooks() {
    let good = yunwei_web::api::to_xlsx(&[
        TableOut {
            name: "配置项",
            headers: &CI_HEADERS,
            rows: vec![vec![
                "甲单位".into(),
                "S-01".into(),
                "核心交换机".into(),
                "switch".into(),
            ]
            .into_iter()
            .chain(std::iter::repeat_n(String::new(), 15))
            .collect()],
        },
        TableOut {
            name: "关系",
            headers: &REL_HEADERS,
            rows: vec![vec![
                "甲单位".into(),
                "S-01".into(),
                "位于".into(),
                "甲单位".into(),
                "R-01".into(),
            ]],
        },
    ])
    .unwrap();
    assert!(yunwei_web::api::from_xlsx(&good).is_some_and(|t| t.len() == 2));
    // The reader turns calamine's panics on corrupted files into "unreadable"; keep their
    // messages (and backtraces) out of the log, and every other panic's as it was.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info
            .location()
            .is_some_and(|l| l.file().contains("calamine"))
        {
            default_hook(info);
        }
    }));
    let n = good.len();
    let mutated = prop_oneof![
        // A few bytes changed anywhere (the ZIP directory, the compressed XML, the tail).
        prop::collection::vec((0..n, any::<u8>()), 1..8).prop_map({
            let good = good.clone();
            move |edits| {
                let mut b = good.clone();
                for (i, v) in edits {
                    b[i] = v;
                }
                b
            }
        }),
        // Truncated.
        (0..n).prop_map({
            let good = good.clone();
            move |k| good[..k].to_vec()
        }),
        // Random bytes, with and without the ZIP magic.
        prop::collection::vec(any::<u8>(), 0..600),
        prop::collection::vec(any::<u8>(), 0..600).prop_map(|mut b| {
            b.splice(0..0, *b"PK\x03\x04");
            b
        }),
    ];
    fuzz("from_xlsx", mutated, |bytes| {
        if let Some(tables) = yunwei_web::api::from_xlsx(&bytes) {
            for t in tables {
                prop_assert!(t.rows.iter().all(|(line, _)| *line >= 1));
            }
        }
        Ok(())
    });
}

async fn counts(t: &TestApp) -> (i64, i64, i64) {
    let audit = t.audit_count().await;
    let cis = t.get("/api/v1/cmdb/export.csv", &t.admin).await.text;
    let tables = parse_csv_tables(&cis).unwrap();
    let n = |i: usize| tables.get(i).map_or(0, |t| t.rows.len() as i64 - 1);
    (n(0), n(1), audit)
}

/// The whole import through the HTTP API, on SQLite and on PostgreSQL: generated documents
/// (mostly wrong in some way), imported all-or-nothing and with `apply_valid`.
#[tokio::test]
async fn import_answers_coded_4xx_and_writes_nothing_when_refused() {
    for t in TestApp::all().await {
        let a = t.org("甲单位").await;
        t.org("乙单位").await;
        let r = t
            .post(
                &format!("/api/v1/organizations/{a}/departments"),
                &t.admin,
                serde_json::json!({"name": "信息中心"}),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text);
        let (_, engineer) = t.user("fuzz.gcs", "engineer", None).await;
        let per_store = budget() / 2;
        let deadline = Instant::now() + per_store;
        let mut runner = TestRunner::new(Config::default());
        let strategy = (import_csv(), any::<bool>());
        let (mut cases, mut accepted, mut refused) = (0u32, 0u32, 0u32);
        while Instant::now() < deadline {
            let (csv, apply_valid) = strategy.new_tree(&mut runner).unwrap().current();
            let before = counts(&t).await;
            let path = if apply_valid {
                "/api/v1/cmdb/import?apply_valid=true"
            } else {
                "/api/v1/cmdb/import"
            };
            let req = Request::builder()
                .method(Method::POST)
                .uri(path)
                .header(header::AUTHORIZATION, format!("Bearer {engineer}"))
                .header(header::CONTENT_TYPE, "text/csv")
                .body(Body::from(csv.clone()))
                .unwrap();
            let r = t.send(req).await;
            cases += 1;
            assert!(
                r.status == StatusCode::OK || r.status.is_client_error(),
                "{}: {} for {csv:?}: {}",
                t.name,
                r.status,
                r.text
            );
            if r.status == StatusCode::OK {
                accepted += 1;
                continue;
            }
            refused += 1;
            let code = r.body["code"].as_str().unwrap_or_default();
            assert!(!code.is_empty(), "{}: no error code: {}", t.name, r.text);
            assert!(
                r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{}: no message: {}",
                t.name,
                r.text
            );
            let lines = lines_in(&csv) as u64;
            if let Some(rows) = r.body["errors"].as_array() {
                for row in rows {
                    let l = row["line"].as_u64().unwrap_or(0);
                    assert!(
                        l >= 1 && l <= lines,
                        "{}: line {l} of {lines}: {}",
                        t.name,
                        r.text
                    );
                }
            }
            assert_eq!(
                counts(&t).await,
                before,
                "{}: a refused import wrote something: {csv:?} → {}",
                t.name,
                r.text
            );
        }
        eprintln!(
            "{}: {cases} imports ({accepted} accepted, {refused} refused) in {per_store:?}",
            t.name
        );
        assert!(cases > 0);
    }
}
