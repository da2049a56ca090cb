//! The yunwei benchmark (issue 5).
//!
//!   cd bench && cargo run --release -- --size quick|full [--stores sqlite,postgres]
//!                                      [--out ../docs/benchmarks.md]
//!
//! Builds the release binary, and for each store: a fresh installation (SQLite in a new data
//! directory under bench/target/run, PostgreSQL in a new database on $YUNWEI_BENCH_PG_URL),
//! a realistic data set written through yunwei_store with the server stopped, start-up time,
//! memory, then wrk at concurrency 1, 8 and 32 against: one ticket, the agent queue, search
//! (a common word; a word no ticket has) and ticket creation (last, so the reads see exactly
//! the generated data set). Also the machine's limit for durable SQLite transactions
//! (../shared/peers/limits.py). Results go to bench/results/<size>-<store>.json; the Markdown
//! report (--out) is rendered from every results file there plus bench/analysis.md.

mod cmdb;
mod gen;
mod peer;
mod report;
mod run;
mod text;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};
use yunwei_store::{Db, PoolSize};

struct Args {
    size: String,
    stores: Vec<String>,
    out: Option<PathBuf>,
    secs: Option<u32>,
    skip_build: bool,
    reuse_data: bool,
    keep: bool,
    limits: bool,
    retries: u32,
    report_only: bool,
    concurrency: Vec<u32>,
    tickets: Option<u64>,
    generate_only: bool,
    /// The CMDB benchmark (src/cmdb.rs) instead of the tickets.
    cmdb: bool,
    /// Run this server binary instead of building `target/release/yunwei` (e.g. an older build).
    binary: Option<PathBuf>,
}

fn usage() -> ! {
    eprintln!(
        "usage: yunwei-bench --size quick|full [--stores sqlite,postgres] [--out ../docs/benchmarks.md]\n\
         \x20      [--secs N] [--tickets N] [--concurrency 1,8,32] [--skip-build] [--reuse-data] [--keep]\n\
         \x20      [--binary PATH] [--no-limits] [--retries N] [--report-only] [--generate-only]\n\
         quick: 20,000 tickets, 10 s per point; full: 1,000,000 tickets, 20 s per point.\n\
         --cmdb: the CMDB benchmark instead (quick: ~13,000 CIs; full: ~100,000 CIs and ~500,000 relations).\n\
         PostgreSQL: a new database on $YUNWEI_BENCH_PG_URL (default postgres://yunwei:yunwei@127.0.0.1:5432/postgres)."
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        size: "quick".into(),
        stores: vec!["sqlite".into(), "postgres".into()],
        out: None,
        secs: None,
        skip_build: false,
        reuse_data: false,
        keep: false,
        limits: true,
        retries: 2,
        report_only: false,
        concurrency: vec![1, 8, 32],
        tickets: None,
        generate_only: false,
        cmdb: false,
        binary: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match x.as_str() {
            "--size" => a.size = val(),
            "--stores" => a.stores = val().split(',').map(|s| s.trim().to_string()).collect(),
            "--out" => a.out = Some(PathBuf::from(val())),
            "--secs" => a.secs = Some(val().parse().unwrap_or_else(|_| usage())),
            "--tickets" => a.tickets = Some(val().parse().unwrap_or_else(|_| usage())),
            "--concurrency" => {
                a.concurrency = val()
                    .split(',')
                    .map(|s| s.trim().parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--retries" => a.retries = val().parse().unwrap_or_else(|_| usage()),
            "--skip-build" => a.skip_build = true,
            "--reuse-data" => a.reuse_data = true,
            "--keep" => a.keep = true,
            "--no-limits" => a.limits = false,
            "--report-only" => a.report_only = true,
            "--generate-only" => a.generate_only = true,
            "--cmdb" => a.cmdb = true,
            "--binary" => a.binary = Some(PathBuf::from(val())),
            _ => usage(),
        }
    }
    if !matches!(a.size.as_str(), "quick" | "full")
        || a.stores.iter().any(|s| s != "sqlite" && s != "postgres")
    {
        usage()
    }
    a
}

fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn root_dir() -> PathBuf {
    bench_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(root_dir())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> Value {
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|x| x.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':').map(|x| x.1.trim().to_string()))
        .unwrap_or_default();
    let dirty = sh("git status --porcelain --untracked-files=no | wc -l");
    json!({
        "nproc": sh("nproc"),
        "cpu": cpu,
        "mem_gib": mem as f64 / 1024.0 / 1024.0,
        "kernel": sh("uname -r"),
        "df": sh(&format!("df -hT {} | tail -1", bench_dir().display())),
        "date": sh("date -u '+%Y-%m-%d %H:%M UTC'"),
        "commit": sh("git rev-parse --short HEAD"),
        "dirty_files": dirty.parse::<u64>().unwrap_or(0),
        "rustc": sh("rustc --version"),
        "wrk": sh("wrk -v 2>&1 | head -1"),
        "sqlite_python": sh("python3 -c 'import sqlite3; print(sqlite3.sqlite_version)'"),
        "postgres": sh("psql --version"),
    })
}

fn build(a: &Args) -> anyhow::Result<PathBuf> {
    let bin = a
        .binary
        .clone()
        .unwrap_or_else(|| root_dir().join("target/release/yunwei"));
    if !a.skip_build && a.binary.is_none() {
        eprintln!("== cargo build --release -p yunwei");
        let st = Command::new("cargo")
            .args(["build", "--release", "-p", "yunwei"])
            .current_dir(root_dir())
            .status()?;
        if !st.success() {
            bail!("cargo build --release -p yunwei failed");
        }
    }
    if !bin.is_file() {
        bail!("{} missing (run without --skip-build)", bin.display());
    }
    // Use a copy: other builds in the same tree must not swap the binary during a run.
    let dir = bench_dir().join("target/bin");
    std::fs::create_dir_all(&dir)?;
    let copy = dir.join("yunwei");
    let _ = std::fs::remove_file(&copy);
    std::fs::copy(&bin, &copy)?;
    Ok(copy)
}

fn ensure_wrk() -> anyhow::Result<()> {
    if Command::new("wrk")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
    {
        return Ok(());
    }
    eprintln!("== wrk missing: apt-get install -y wrk");
    let _ = Command::new("apt-get").arg("update").status();
    let st = Command::new("apt-get")
        .args(["install", "-y", "wrk"])
        .status()?;
    if !st.success() {
        bail!("could not install wrk");
    }
    Ok(())
}

/// `postgres://u:p@h:port/db?x` with another database name.
fn with_db(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (hostpart, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let query = tail
        .split_once('?')
        .map(|x| format!("?{}", x.1))
        .unwrap_or_default();
    format!("{scheme}://{hostpart}/{db}{query}")
}

async fn pg_admin(url: &str, sql: &str) -> anyhow::Result<()> {
    use yunwei_store::sqlx::{Connection, Executor};
    let mut c = yunwei_store::sqlx::PgConnection::connect(url).await?;
    c.execute(sql).await?;
    c.close().await?;
    Ok(())
}

async fn pg_size(url: &str) -> anyhow::Result<u64> {
    use yunwei_store::sqlx::Connection;
    let mut c = yunwei_store::sqlx::PgConnection::connect(url).await?;
    let n: i64 = yunwei_store::sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut c)
        .await?;
    c.close().await?;
    Ok(n as u64)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("yunwei.db"))
                .filter_map(|e| e.metadata().ok().map(|m| m.len()))
                .sum()
        })
        .unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18_181)
}

fn run_limits(a: &Args) -> anyhow::Result<Value> {
    let script = root_dir().join("../shared/peers/limits.py");
    if !script.is_file() {
        bail!("{} missing", script.display());
    }
    let work = bench_dir().join("target/limits");
    std::fs::create_dir_all(&work)?;
    let runs = if a.size == "full" { "3" } else { "1" };
    eprintln!(
        "== machine limits: limits.py --runs {runs} (fsync, SQLite transactions; ~{} s)",
        if runs == "3" { 120 } else { 40 }
    );
    let load = run::loadavg();
    let out = Command::new("python3")
        .arg(&script)
        .args(["--runs", runs, "--fsync-secs", "5", "--sqlite-secs", "5"])
        .env("PEER_WORKDIR", &work)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprint!("{stdout}");
    let path = stdout
        .lines()
        .find_map(|l| l.strip_prefix("results: "))
        .ok_or_else(|| anyhow!("limits.py failed: {}", String::from_utf8_lossy(&out.stderr)))?;
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path.trim())?)?;
    v["load_before"] = json!(load);
    v["load_after"] = json!(run::loadavg());
    Ok(v)
}

fn write_lines(path: &Path, lines: impl IntoIterator<Item = String>) -> anyhow::Result<()> {
    let mut s = String::new();
    for l in lines {
        s.push_str(&l);
        s.push('\n');
    }
    std::fs::write(path, s)?;
    Ok(())
}

async fn bench_store(a: &Args, store: &str, bin: &Path, limits: &Value) -> anyhow::Result<Value> {
    let n_tickets = a
        .tickets
        .unwrap_or(if a.size == "full" { 1_000_000 } else { 20_000 });
    let secs = a.secs.unwrap_or(if a.size == "full" { 20 } else { 10 });
    let stamp = sh("date -u +%Y%m%d-%H%M%S");
    let run_dir = bench_dir()
        .join("target/run")
        .join(format!("{store}-{}-{stamp}", a.size));
    std::fs::create_dir_all(&run_dir)?;
    let pg_base = std::env::var("YUNWEI_BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://yunwei:yunwei@127.0.0.1:5432/postgres".into());
    let pg_name = format!("yunwei_bench_{}", stamp.replace('-', "_"));
    let db_url = if store == "sqlite" {
        yunwei_store::sqlite_url(&run_dir)
    } else {
        eprintln!("== {store}: CREATE DATABASE {pg_name}");
        pg_admin(&pg_base, &format!("CREATE DATABASE {pg_name}")).await?;
        with_db(&pg_base, &pg_name)
    };
    let spec = run::ServerSpec {
        bin: bin.to_path_buf(),
        db_url: db_url.clone(),
        data_dir: run_dir.clone(),
        port: free_port(),
        log: run_dir.join("server.log"),
    };
    let res = bench_store_inner(a, store, &spec, &run_dir, n_tickets, secs, limits).await;
    if store == "postgres" && !a.keep {
        if let Err(e) = pg_admin(
            &pg_base,
            &format!("DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)"),
        )
        .await
        {
            eprintln!("   (could not drop {pg_name}: {e})");
        }
    }
    if !a.keep && res.is_ok() {
        let _ = std::fs::remove_dir_all(&run_dir);
    }
    res
}

async fn bench_store_inner(
    a: &Args,
    store: &str,
    spec: &run::ServerSpec,
    run_dir: &Path,
    n_tickets: u64,
    secs: u32,
    limits: &Value,
) -> anyhow::Result<Value> {
    let mut out = json!({
        "store": store, "size": a.size, "tickets": n_tickets, "secs_per_point": secs,
        "machine": machine(), "started": sh("date -u '+%Y-%m-%d %H:%M:%S UTC'"),
        "binary_given": a.binary.is_some(),
    });
    // --- installation, agent account and token (through the binary, as an operator would)
    let cache = bench_dir().join(format!("target/data/{store}-{n_tickets}-v1"));
    let cached = store == "sqlite" && a.reuse_data && cache.join("done.json").is_file();
    let token;
    let gen_info;
    if cached {
        eprintln!("== {store}: reusing the data set in {}", cache.display());
        std::fs::copy(cache.join("yunwei.db"), run_dir.join("yunwei.db"))?;
        for f in ["numbers.txt", "requesters.txt"] {
            std::fs::copy(cache.join(f), run_dir.join(f))?;
        }
        token = std::fs::read_to_string(cache.join("token.txt"))?
            .trim()
            .to_string();
        gen_info =
            serde_json::from_str::<Value>(&std::fs::read_to_string(cache.join("done.json"))?)?;
    } else {
        eprintln!("== {store}: new installation, agent account and API token");
        let mut c = spec.cli();
        let mut child = c
            .args([
                "admin",
                "create-user",
                "--username",
                "bench-agent",
                "--role",
                "agent",
                "--display-name",
                "压测坐席",
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        {
            use std::io::Write;
            let mut si = child.stdin.take().ok_or_else(|| anyhow!("stdin"))?;
            si.write_all(b"bench-agent-long-password-2026\n")?;
        }
        let o = child.wait_with_output()?;
        if !o.status.success() {
            bail!("create-user failed: {}", String::from_utf8_lossy(&o.stderr));
        }
        let o = spec
            .cli()
            .args([
                "admin",
                "create-token",
                "--username",
                "bench-agent",
                "--name",
                "bench",
            ])
            .output()?;
        if !o.status.success() {
            bail!(
                "create-token failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        token = String::from_utf8_lossy(&o.stdout).trim().to_string();
        // --- the data set, through yunwei_store with the server stopped
        eprintln!("== {store}: generating {n_tickets} tickets through yunwei_store");
        let db = Db::connect(&spec.db_url, PoolSize { max_connections: 4 }).await?;
        let shape = gen::Shape::for_tickets(n_tickets);
        let g = gen::populate(&db, &shape, 0x5eed_2026).await?;
        db.close().await;
        eprintln!(
            "   {} tickets, {} timeline events, {} open, in {:.1} s ({:.0} tickets/s)",
            g.tickets,
            g.events,
            g.open,
            g.seconds,
            g.tickets as f64 / g.seconds
        );
        write_lines(
            &run_dir.join("numbers.txt"),
            g.numbers.iter().map(|n| format!("/api/v1/tickets/{n}")),
        )?;
        write_lines(
            &run_dir.join("requesters.txt"),
            g.requesters
                .iter()
                .map(|r| format!("{} {}", r.org_id, r.user_id)),
        )?;
        gen_info = json!({
            "tickets": g.tickets, "events": g.events, "open": g.open, "seconds": g.seconds,
            "tickets_per_s": g.tickets as f64 / g.seconds,
            "orgs": shape.orgs, "departments": shape.orgs * shape.depts_per_org,
            "customer_users": shape.orgs * shape.users_per_org, "staff": shape.staff, "days": shape.days,
            "batch": shape.batch,
        });
        if store == "sqlite" && n_tickets >= 200_000 {
            std::fs::create_dir_all(&cache)?;
            for f in ["yunwei.db", "numbers.txt", "requesters.txt"] {
                std::fs::copy(run_dir.join(f), cache.join(f))?;
            }
            std::fs::write(cache.join("token.txt"), &token)?;
            std::fs::write(cache.join("done.json"), gen_info.to_string())?;
        }
    }
    out["generate"] = gen_info;
    out["generate"]["reused"] = json!(cached);
    let size_of = |u: &str| {
        let u = u.to_string();
        let d = run_dir.to_path_buf();
        async move {
            if u.starts_with("sqlite") {
                Ok(dir_bytes(&d))
            } else {
                pg_size(&u).await
            }
        }
    };
    out["db_bytes_generated"] = json!(size_of(&spec.db_url).await?);
    // search word lists, queue
    write_lines(
        &run_dir.join("search_common.txt"),
        text::SEARCH_COMMON
            .iter()
            .map(|w| format!("/api/v1/tickets?q={}", run::urlenc(w))),
    )?;
    write_lines(
        &run_dir.join("search_none.txt"),
        text::SEARCH_NONE
            .iter()
            .map(|w| format!("/api/v1/tickets?q={}", run::urlenc(w))),
    )?;
    write_lines(
        &run_dir.join("queue.txt"),
        ["/api/v1/tickets?sort=queue&open=true&limit=50".to_string()],
    )?;
    if a.generate_only {
        eprintln!(
            "   database: {:.1} MB",
            f64::from(
                u32::try_from(out["db_bytes_generated"].as_u64().unwrap_or(0) / 1000)
                    .unwrap_or(u32::MAX)
            ) / 1e3
        );
        return Ok(out);
    }

    // --- the node's full-text search index, built from the database before the server starts
    // (a first `serve` would build it in the background, and search would meanwhile fall back
    // to the substring filter)
    eprintln!("== {store}: yunwei search rebuild");
    let t0 = std::time::Instant::now();
    let o = spec.cli().args(["search", "rebuild"]).output()?;
    if !o.status.success() {
        bail!(
            "search rebuild failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    out["search_rebuild_s"] = json!(t0.elapsed().as_secs_f64());
    eprintln!("   {}", String::from_utf8_lossy(&o.stdout).trim());

    // --- start-up: three starts, the last one serves the benchmark
    eprintln!("== {store}: start-up with {n_tickets} tickets");
    let mut startups = Vec::new();
    let mut server = None;
    for i in 0..3 {
        let (s, ms) = spec.start()?;
        eprintln!("   start {}: ready (/readyz 200) after {ms:.0} ms", i + 1);
        startups.push(ms);
        if i < 2 {
            s.stop()?;
        } else {
            server = Some(s);
        }
    }
    let server = server.ok_or_else(|| anyhow!("no server"))?;
    out["startup_ms"] = json!(startups);
    std::thread::sleep(std::time::Duration::from_secs(3));
    out["idle_rss_kib"] = json!(run::status_kib(server.pid, "VmRSS:"));
    eprintln!(
        "   idle RSS {:.1} MiB",
        run::status_kib(server.pid, "VmRSS:") as f64 / 1024.0
    );

    // --- sanity: the lists answer, and with the expected number of items
    let mut sanity = serde_json::Map::new();
    let count_items = |b: &str| b.matches("\"number\":").count();
    for (name, path) in [
        (
            "queue",
            "/api/v1/tickets?sort=queue&open=true&limit=50".to_string(),
        ),
        (
            "search_common",
            format!("/api/v1/tickets?q={}", run::urlenc(text::SEARCH_COMMON[0])),
        ),
        (
            "search_none",
            format!("/api/v1/tickets?q={}", run::urlenc(text::SEARCH_NONE[0])),
        ),
    ] {
        let t = Instant::now();
        let (st, body) = run::http(server.port, "GET", &path, Some(&token), None)?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        sanity.insert(
            name.into(),
            json!({"status": st, "items": count_items(&body), "first_ms": ms}),
        );
        if st != 200 {
            bail!(
                "{name}: HTTP {st}: {}",
                body.chars().take(300).collect::<String>()
            );
        }
    }
    let first = std::fs::read_to_string(run_dir.join("numbers.txt"))?
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let (st, _) = run::http(server.port, "GET", &first, Some(&token), None)?;
    sanity.insert("get".into(), json!({"status": st}));
    if st != 200 {
        bail!("GET {first}: HTTP {st}");
    }
    eprintln!("   sanity: {}", Value::Object(sanity.clone()));
    out["sanity"] = Value::Object(sanity);

    // --- load
    let lua = bench_dir().join("wrk/bench.lua");
    let endpoints = [
        ("get", "get", "numbers.txt"),
        ("queue", "get", "queue.txt"),
        ("search_common", "get", "search_common.txt"),
        ("search_none", "get", "search_none.txt"),
        ("create", "create", "requesters.txt"),
    ];
    let mut results = serde_json::Map::new();
    for (name, mode, list) in endpoints {
        let list = run_dir.join(list);
        let l = run::Load {
            name,
            lua: &lua,
            mode,
            list: &list,
            token: &token,
            port: server.port,
            pid: server.pid,
            pg: store == "postgres",
        };
        eprintln!(
            "== {store}: {name} (warm-up 3 s at c=8, then {secs} s at c = {:?})",
            a.concurrency
        );
        let _ = run::wrk_once(&l, 8, 3, 0.0)?;
        let mut per_c = serde_json::Map::new();
        for &c in &a.concurrency {
            per_c.insert(c.to_string(), run::wrk_run(&l, c, secs, a.retries, 15.0)?);
        }
        results.insert(name.into(), Value::Object(per_c));
    }
    out["results"] = Value::Object(results);
    std::thread::sleep(std::time::Duration::from_secs(5));
    out["after_load_rss_kib"] = json!(run::status_kib(server.pid, "VmRSS:"));
    out["peak_rss_kib"] = json!(run::status_kib(server.pid, "VmHWM:"));
    eprintln!(
        "   after load: RSS {:.1} MiB, peak (VmHWM) {:.1} MiB",
        out["after_load_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0,
        out["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0
    );
    let (_, body) = run::http(
        server.port,
        "GET",
        "/api/v1/tickets?limit=1",
        Some(&token),
        None,
    )?;
    out["tickets_after"] = json!(body.contains("\"number\""));
    server.stop()?;
    out["db_bytes_after"] = json!(size_of(&spec.db_url).await?);
    if store == "sqlite" {
        out["limits"] = limits.clone();
    }
    out["finished"] = json!(sh("date -u '+%Y-%m-%d %H:%M:%S UTC'"));
    Ok(out)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let a = parse_args();
    let results_dir = bench_dir().join("results");
    std::fs::create_dir_all(&results_dir)?;
    if a.cmdb && !a.report_only {
        ensure_wrk()?;
        let bin = build(&a)?;
        for store in &a.stores {
            let r = cmdb::bench_store(&a, store, &bin)
                .await
                .with_context(|| format!("CMDB benchmark on {store}"))?;
            let path = results_dir.join(format!("cmdb-{}-{store}.json", a.size));
            std::fs::write(&path, serde_json::to_string_pretty(&r)?)?;
            eprintln!("== results: {}", path.display());
        }
    }
    if !a.report_only && !a.cmdb {
        ensure_wrk()?;
        let bin = build(&a)?;
        let limits = if a.limits && !a.generate_only && a.stores.iter().any(|s| s == "sqlite") {
            run_limits(&a).context("machine limits")?
        } else {
            Value::Null
        };
        for store in &a.stores {
            let r = bench_store(&a, store, &bin, &limits)
                .await
                .with_context(|| format!("benchmark on {store}"))?;
            if a.generate_only {
                continue;
            }
            let path = results_dir.join(format!("{}-{store}.json", a.size));
            std::fs::write(&path, serde_json::to_string_pretty(&r)?)?;
            eprintln!("== results: {}", path.display());
        }
    }
    if let Some(out) = &a.out {
        let md = report::render(&results_dir, &bench_dir().join("analysis.md"))?;
        std::fs::write(out, md)?;
        eprintln!("== report: {}", out.display());
    }
    Ok(())
}
