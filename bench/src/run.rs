//! Processes and measurements: the server (start, readiness, stop), /proc sampling, wrk runs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

// ------------------------------------------------------------------ HTTP (tiny, for checks)

/// GET (or POST with a JSON body) over a fresh connection; (status, body).
pub fn http(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> anyhow::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    if let Some(b) = body {
        req.push_str(b);
    }
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .ok_or_else(|| anyhow!("bad response: {}", text.chars().take(200).collect::<String>()))?;
    let body = text.split_once("\r\n\r\n").map(|x| x.1.to_string()).unwrap_or_default();
    // chunked bodies: good enough for counting items, we only look for substrings
    Ok((status, body))
}

pub fn urlenc(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

// ------------------------------------------------------------------ /proc

fn clk_tck() -> f64 {
    static T: AtomicU64 = AtomicU64::new(0);
    let v = T.load(Ordering::Relaxed);
    if v != 0 {
        return v as f64;
    }
    let t = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100u64);
    T.store(t, Ordering::Relaxed);
    t as f64
}

pub fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|x| x.parse().ok()))
        })
        .unwrap_or(0)
}

/// (utime+stime, cutime+cstime) of a process in seconds.
fn stat_cpu(stat: &str) -> (f64, f64) {
    let Some(i) = stat.rfind(')') else { return (0.0, 0.0) };
    let f: Vec<f64> = stat[i + 2..]
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    if f.len() < 15 {
        return (0.0, 0.0);
    }
    let t = clk_tck();
    ((f[11] + f[12]) / t, (f[13] + f[14]) / t)
}

pub fn cpu_s(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| stat_cpu(&s).0)
        .unwrap_or(0.0)
}

/// CPU seconds of every live process named `postgres` (the server and its backends).
pub fn pg_cpu_s() -> f64 {
    let mut tot = 0.0;
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(n) = name.to_str() else { continue };
            if !n.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if std::fs::read_to_string(format!("/proc/{n}/comm")).is_ok_and(|c| c.trim() == "postgres") {
                if let Ok(s) = std::fs::read_to_string(format!("/proc/{n}/stat")) {
                    tot += stat_cpu(&s).0;
                }
            }
        }
    }
    tot
}

/// (busy, total) CPU seconds summed over all CPUs.
pub fn machine_cpu() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    if v.len() < 5 {
        return (0.0, 0.0);
    }
    let tot: f64 = v.iter().sum();
    let t = clk_tck();
    ((tot - v[3] - v[4]) / t, tot / t)
}

pub fn loadavg() -> [f64; 3] {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let v: Vec<f64> = s.split_whitespace().take(3).map(|x| x.parse().unwrap_or(0.0)).collect();
    [v.first().copied().unwrap_or(0.0), v.get(1).copied().unwrap_or(0.0), v.get(2).copied().unwrap_or(0.0)]
}

/// Samples VmRSS of a process every 100 ms; the maximum seen.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicU64>,
    h: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicU64::new(0));
        let (s, m) = (stop.clone(), max.clone());
        let h = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                m.fetch_max(status_kib(pid, "VmRSS:"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Sampler { stop, max, h: Some(h) }
    }
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.h.take() {
            let _ = h.join();
        }
        self.max.load(Ordering::Relaxed)
    }
}

// ------------------------------------------------------------------ the server

pub struct Server {
    child: Child,
    pub pid: u32,
    pub port: u16,
}

pub struct ServerSpec {
    pub bin: PathBuf,
    pub db_url: String,
    pub data_dir: PathBuf,
    pub port: u16,
    pub log: PathBuf,
}

impl ServerSpec {
    pub fn cli(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--database-url")
            .arg(&self.db_url)
            .env_remove("YUNWEI_CONFIG")
            .current_dir(&self.data_dir);
        c
    }

    /// Spawn `serve` and wait until /readyz answers 200; returns the server and the time
    /// from spawn to the first 200, in ms.
    pub fn start(&self) -> anyhow::Result<(Server, f64)> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let t0 = Instant::now();
        let mut child = self
            .cli()
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawning yunwei serve")?;
        loop {
            if let Ok((200, _)) = http(self.port, "GET", "/readyz", None, None) {
                break;
            }
            if let Some(st) = child.try_wait()? {
                bail!("yunwei serve exited with {st} before it was ready; see {}", self.log.display());
            }
            if t0.elapsed() > Duration::from_secs(300) {
                let _ = child.kill();
                bail!("yunwei serve not ready after 300 s");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        let pid = child.id();
        Ok((Server { child, pid, port: self.port }, ms))
    }
}

impl Server {
    pub fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

// ------------------------------------------------------------------ wrk

pub struct Load<'a> {
    pub name: &'a str,
    pub lua: &'a Path,
    pub mode: &'a str,
    pub list: &'a Path,
    pub token: &'a str,
    pub port: u16,
    pub pid: u32,
    pub pg: bool,
}

/// Wait (at most `max` s) until processes other than the server (and PostgreSQL) use less
/// than 15 % of one CPU over a 1 s window, and the server itself is idle (less than 5 %: work
/// left over from the previous point, e.g. queries of requests wrk gave up on). Returns the
/// seconds waited.
pub fn wait_quiet(pid: u32, pg: bool, max: f64) -> f64 {
    let t0 = Instant::now();
    while t0.elapsed().as_secs_f64() < max {
        let (b0, s0, p0) = (machine_cpu().0, cpu_s(pid), if pg { pg_cpu_s() } else { 0.0 });
        std::thread::sleep(Duration::from_secs(1));
        let server = (cpu_s(pid) - s0) + (if pg { pg_cpu_s() } else { 0.0 } - p0);
        let other = (machine_cpu().0 - b0) - server;
        if other < 0.15 && server < 0.05 {
            break;
        }
    }
    t0.elapsed().as_secs_f64()
}

/// One wrk run; the figures as JSON.
pub fn wrk_once(l: &Load, conc: u32, secs: u32, quiet_max: f64) -> anyhow::Result<Value> {
    let waited = if quiet_max > 0.0 { wait_quiet(l.pid, l.pg, quiet_max) } else { 0.0 };
    let load_before = loadavg();
    let threads = conc.clamp(1, 2);
    let sampler = Sampler::start(l.pid);
    let (s0, p0, m0) = (cpu_s(l.pid), if l.pg { pg_cpu_s() } else { 0.0 }, machine_cpu());
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"wrk "$@"; rc=$?; echo; echo "WRKSTAT $(cat /proc/$$/stat)"; exit $rc"#)
        .arg("sh")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{conc}"))
        .arg(format!("-d{secs}s"))
        .arg("--timeout")
        .arg("30s")
        .arg("-s")
        .arg(l.lua)
        .arg(format!("http://127.0.0.1:{}", l.port))
        .env("BENCH_MODE", l.mode)
        .env("BENCH_LIST", l.list)
        .env("BENCH_TOKEN", l.token)
        .output()
        .context("running wrk")?;
    let (s1, p1, m1) = (cpu_s(l.pid), if l.pg { pg_cpu_s() } else { 0.0 }, machine_cpu());
    let max_rss = sampler.finish();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|x| x.strip_prefix("BENCH_JSON "))
        .ok_or_else(|| anyhow!("wrk failed: {stdout} {}", String::from_utf8_lossy(&out.stderr)))?;
    let mut r: Value = serde_json::from_str(line).context("wrk JSON")?;
    let wrk_cpu = stdout
        .lines()
        .find_map(|x| x.strip_prefix("WRKSTAT "))
        .map(|s| stat_cpu(s).1)
        .unwrap_or(0.0);
    let dur = r["duration_us"].as_f64().unwrap_or(1.0) / 1e6;
    let reqs = r["requests"].as_f64().unwrap_or(0.0).max(1.0);
    let ok = r["ok_2xx"].as_f64().unwrap_or(0.0);
    let wall = (m1.1 - m0.1).max(1e-9);
    let server = s1 - s0;
    let db = p1 - p0;
    let other = ((m1.0 - m0.0) - server - db - wrk_cpu).max(0.0);
    let us = |k: &str| r[k].as_f64().unwrap_or(0.0) / 1000.0;
    let o = json!({
        "conc": conc,
        "secs": secs,
        "rps": ok / dur,
        "requests": reqs,
        "ok": ok,
        "non_2xx": r["bad4"].as_f64().unwrap_or(0.0) + r["bad5"].as_f64().unwrap_or(0.0) + r["bad_other"].as_f64().unwrap_or(0.0),
        "bad4": r["bad4"], "bad5": r["bad5"],
        "socket_errors": r["err_connect"].as_f64().unwrap_or(0.0) + r["err_read"].as_f64().unwrap_or(0.0)
            + r["err_write"].as_f64().unwrap_or(0.0) + r["err_timeout"].as_f64().unwrap_or(0.0),
        "p50_ms": us("lat_p50_us"), "p90_ms": us("lat_p90_us"), "p99_ms": us("lat_p99_us"),
        "max_ms": us("lat_max_us"), "mean_ms": us("lat_mean_us"),
        "server_cpu_ms_per_req": 1000.0 * server / reqs,
        "db_cpu_ms_per_req": 1000.0 * db / reqs,
        "server_cpu_pct": 100.0 * server / wall,
        "db_cpu_pct": 100.0 * db / wall,
        "wrk_cpu_pct": 100.0 * wrk_cpu / wall,
        "other_cpu_pct": 100.0 * other / wall,
        "machine_busy_pct": 100.0 * (m1.0 - m0.0) / wall,
        "max_rss_kib": max_rss,
        "load_before": load_before,
        "load_after": loadavg(),
        "quiet_wait_s": waited,
    });
    r = o;
    Ok(r)
}

/// Run; when other processes took more than `disturbed_pct` % of the machine, run again (at
/// most `retries` times) and keep the least disturbed run.
pub fn wrk_run(l: &Load, conc: u32, secs: u32, retries: u32, disturbed_pct: f64) -> anyhow::Result<Value> {
    let mut runs = Vec::new();
    loop {
        let r = wrk_once(l, conc, secs, 30.0)?;
        let other = r["other_cpu_pct"].as_f64().unwrap_or(0.0);
        eprintln!(
            "    {:<13} c={:<3} {:>9.1} req/s  p50 {:>7.2} ms  p99 {:>8.2} ms  non-2xx {:>5}  server {:.2} ms/req  RSS {:.0} MiB  load {:.2}  other CPU {:.0} %",
            l.name,
            conc,
            r["rps"].as_f64().unwrap_or(0.0),
            r["p50_ms"].as_f64().unwrap_or(0.0),
            r["p99_ms"].as_f64().unwrap_or(0.0),
            r["non_2xx"].as_f64().unwrap_or(0.0) + r["socket_errors"].as_f64().unwrap_or(0.0),
            r["server_cpu_ms_per_req"].as_f64().unwrap_or(0.0),
            r["max_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            r["load_before"][0].as_f64().unwrap_or(0.0),
            other
        );
        runs.push(r);
        if other <= disturbed_pct || runs.len() as u32 > retries {
            break;
        }
        eprintln!("      (disturbed: other processes used {other:.0} % of the machine; running again)");
    }
    let best = runs
        .iter()
        .min_by(|a, b| {
            a["other_cpu_pct"]
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&b["other_cpu_pct"].as_f64().unwrap_or(0.0))
        })
        .cloned()
        .unwrap_or(Value::Null);
    let mut best = best;
    best["attempts_rps"] = json!(runs.iter().map(|r| r["rps"].clone()).collect::<Vec<_>>());
    best["attempts_other_cpu_pct"] = json!(runs.iter().map(|r| r["other_cpu_pct"].clone()).collect::<Vec<_>>());
    Ok(best)
}
