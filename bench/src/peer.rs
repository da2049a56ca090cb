//! The side-by-side section: yunwei and Request Tracker 5 measured in one run of
//! `bench/peer-rt5.sh` through the peer's own harness (`../shared/peers/rt5/bench.py`), from
//! `bench/results/peer/{yunwei,rt5}-{sqlite,postgres}.json`.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn read(dir: &Path, name: &str) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(dir.join(name)).ok()?).ok()
}

fn rate(x: f64) -> String {
    if x >= 100.0 {
        format!("{:.0}", x)
    } else if x >= 10.0 {
        format!("{:.1}", x)
    } else {
        format!("{:.2}", x)
    }
}

fn ms(us: f64) -> String {
    let m = us / 1000.0;
    if m >= 100.0 {
        format!("{:.0}", m)
    } else {
        format!("{:.1}", m)
    }
}

/// Memory of the measured system at its peak over the points: (max RSS MiB, max PSS MiB), the
/// database server's included when it was sampled (RT on PostgreSQL: its own cluster).
fn peak_mem(d: &Value) -> (f64, f64) {
    let mut rss: f64 = 0.0;
    let mut pss: f64 = 0.0;
    for ep in ["create", "get", "search_like", "search_status"] {
        if let Some(m) = d[ep].as_object() {
            for v in m.values() {
                let r = &v["median_run"];
                rss = rss.max(f(&r["max_rss_kib"]) + f(&r["db_max_rss_kib"]));
                pss = pss.max(f(&r["max_pss_kib"]) + f(&r["db_max_pss_kib"]));
            }
        }
    }
    (rss / 1024.0, pss / 1024.0)
}

/// Renders the section when peer results exist; false otherwise.
pub fn report(md: &mut String, results: &Path) -> bool {
    let dir = results.join("peer");
    let mut any = false;
    for (store, label) in [("sqlite", "SQLite"), ("postgres", "PostgreSQL")] {
        let (Some(y), Some(rt)) = (
            read(&dir, &format!("yunwei-{store}.json")),
            read(&dir, &format!("rt5-{store}.json")),
        ) else {
            continue;
        };
        if !any {
            let _ = writeln!(
                md,
                "\n## Side by side with Request Tracker 5 (same harness, same machine)\n\n\
                 `bench/peer-rt5.sh --store sqlite|postgres` runs both systems one after the other on this machine through \
                 the peer's own harness, `../shared/peers/rt5/bench.py` (wrk 4.1 + `rt5/bench.lua`; each point the median of \
                 its runs; server CPU and memory from `/proc` over the server's process group — and, for RT on PostgreSQL, its \
                 own database cluster): the same ticket creation body, a random existing ticket read, a search matching ~1 % of \
                 tickets (`tag-NNN-` in the subject: RT `Subject LIKE`, yunwei its full-text search) and a search every \
                 ticket matches (status new, first page of 20; RT also counts the total, yunwei does not), at concurrency \
                 1, 8 and 32, on the same store. Both are filled to the same number of tickets first (yunwei through its API; \
                 RT through REST2 for the first 200, then by cloning its own rows with `rt5/sqlfill.py`, since RT creates 1–4 \
                 tickets per second); yunwei answers a creation only after its commit is durable. RT 5.0.3 from Debian's packages with Starlet (10 workers), \
                 authenticated by session cookie (its fastest; token auth bcrypts per request); yunwei with an agent's API \
                 token (SHA-256 per request). Ratio = yunwei ÷ RT requests per second."
            );
            any = true;
        }
        let _ = writeln!(
            md,
            "\n### On {label}\n\nRun started {} (yunwei) and {} (RT5) UTC; {} s × {} runs per point; {} tickets before the reads.\n",
            y["started"].as_str().unwrap_or("?"),
            rt["started"].as_str().unwrap_or("?"),
            y["args"]["duration"],
            y["args"]["runs"],
            y["snapshots"]
                .as_object()
                .and_then(|m| m.iter().find(|(k, _)| k.starts_with("fill_")))
                .map(|(_, s)| s["tickets"].to_string())
                .unwrap_or_else(|| "?".into()),
        );
        let _ = writeln!(
            md,
            "| request | c | RT5 req/s | RT5 p50 / p99 ms | RT5 errors | yunwei req/s | yunwei p50 / p99 ms | yunwei errors | ratio | CPU ms/req RT5 / yunwei |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        for (ep, name) in [
            ("create", "create a ticket"),
            ("get", "read one ticket"),
            ("search_like", "search, ~1 % match"),
            ("search_status", "search, all match (first 20)"),
        ] {
            for c in ["1", "8", "32"] {
                let (a, b) = (&rt[ep][c]["median_run"], &y[ep][c]["median_run"]);
                if a.is_null() && b.is_null() {
                    continue;
                }
                let cpu = |r: &Value| f(&r["cpu_ms_per_req"]) + f(&r["db_cpu_ms_per_req"]);
                let ratio = if f(&a["rps"]) > 0.0 {
                    format!("**{:.0}×**", f(&b["rps"]) / f(&a["rps"]))
                } else {
                    "—".into()
                };
                // A point where no request finished within the run has no latency to show.
                let lat = |r: &Value| {
                    if f(&r["rps"]) > 0.0 {
                        format!("{} / {}", ms(f(&r["lat_p50_us"])), ms(f(&r["lat_p99_us"])))
                    } else {
                        format!("none completed in {} s", y["args"]["duration"])
                    }
                };
                let _ = writeln!(
                    md,
                    "| {name} | {c} | {} | {} | {} | {} | {} | {} | {ratio} | {:.1} / {:.2} |",
                    rate(f(&a["rps"])),
                    lat(a),
                    a["errors"],
                    rate(f(&b["rps"])),
                    lat(b),
                    b["errors"],
                    cpu(a),
                    cpu(b),
                );
            }
        }
        let (rr, rp) = peak_mem(&rt);
        let (yr, yp) = peak_mem(&y);
        let idle = |d: &Value| {
            let s = &d["snapshots"]["end_idle"];
            format!(
                "{:.0} MiB RSS / {:.0} MiB PSS in {} processes",
                f(&s["rss_kib"]) / 1024.0,
                f(&s["pss_kib"]) / 1024.0,
                s["procs"]
            )
        };
        let disk = |d: &Value| {
            let s = &d["snapshots"]["end_idle"];
            let bytes = s["db_size_cmd_bytes"]
                .as_f64()
                .unwrap_or_else(|| f(&s["db_bytes"]));
            format!(
                "{:.1} MB for {} tickets ({:.2} KB each)",
                bytes / 1e6,
                s["tickets"],
                bytes / f(&s["tickets"]).max(1.0) / 1e3
            )
        };
        let _ = writeln!(md, "\n| | RT5 | yunwei |\n|---|---|---|");
        let _ = writeln!(md, "| peak memory under load (max over the points) | {rr:.0} MiB RSS / {rp:.0} MiB PSS | {yr:.0} MiB RSS / {yp:.0} MiB PSS |");
        let _ = writeln!(md, "| idle after the load | {} | {} |", idle(&rt), idle(&y));
        let _ = writeln!(md, "| database at the end | {} | {} |", disk(&rt), disk(&y));
    }
    any
}
