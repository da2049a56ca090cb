//! The CMDB benchmark (issue 4: "the impact query at any depth p99 < 100 ms; the CI page
//! p99 < 50 ms" at 100,000 CIs and 500,000 relations).
//!
//!   cd bench && cargo run --release -- --cmdb --size full --stores sqlite,postgres --out ../docs/benchmarks.md
//!
//! For each store: a fresh installation (agent account, API token and a signed-in session
//! through the binary and the API), a layered CMDB written through `yunwei_store` with the
//! server stopped — per customer organization machine rooms → racks, UPS, PDUs, precision
//! air-conditioning → servers (dual power, dual uplinks) → virtualization clusters → VMs →
//! operating systems → databases / middleware → applications → business services, access and
//! core switches, routers and firewalls (`connected_to`), storage arrays, backups
//! (`backed_up_by`, which does not propagate impact), shared infrastructure services (DNS, NTP,
//! directory, monitoring, logging) every OS depends on, applications depending on each other
//! and services ⇄ applications (cycles); the provider's backbone routers connect every
//! organization's core switches (one root reaches almost everything). Then the server: the
//! first impact query (graph load), the reload after an epoch change, and wrk at c = 1/8/32
//! on impact (random roots; high fan-in roots: rooms, UPS, core switches, DNS, the backbone),
//! dependencies (random), the CI page `/cmdb/cis/{id}` (random; high fan-in), with a session
//! cookie. Results: bench/results/cmdb-<size>-<store>.json, rendered by [`report`].

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use chrono::Utc;
use serde_json::{json, Value};
use uuid::Uuid;
use yunwei_store::cmdb::{self as store, Ci, CiClass, CiVersion, Relation};
use yunwei_store::orgs::{self, Department, Organization};
use yunwei_store::{Db, PoolSize};

use crate::text::Rng;
use crate::{run, Args};

const PASSWORD: &str = "bench-agent-long-password-2026";

// ------------------------------------------------------------------------------- generation

/// What the generator made: counts and the roots the load uses.
pub struct Made {
    pub cis: usize,
    pub relations: usize,
    pub orgs: usize,
    pub seconds: f64,
    /// Every CI id (random roots are drawn from them).
    pub ids: Vec<Uuid>,
    /// High fan-in roots, with what they are.
    pub fanin: Vec<(Uuid, &'static str)>,
}

struct Gen<'a> {
    classes: &'a [CiClass],
    now: chrono::DateTime<Utc>,
    cis: Vec<Ci>,
    rels: Vec<Relation>,
    n: u64,
}

impl Gen<'_> {
    fn ci(
        &mut self,
        org: Uuid,
        dept: Option<Uuid>,
        class: &str,
        name: String,
        critical: bool,
    ) -> Uuid {
        let class_id = self
            .classes
            .iter()
            .find(|c| c.code == class)
            .map(|c| c.id)
            .unwrap_or_else(|| panic!("class {class} not seeded"));
        self.n += 1;
        let id = Uuid::now_v7();
        self.cis.push(Ci {
            id,
            org_id: org,
            department_id: dept,
            class_id,
            external_key: format!("CI-{:06}", self.n),
            name,
            status: "in_use".into(),
            criticality: if critical { "critical" } else { "general" }.into(),
            location: None,
            vendor: None,
            contract_no: None,
            contract_end: None,
            warranty_end: None,
            purchased_on: None,
            purchase_cost: None,
            annual_cost: None,
            security_level: None,
            data_level: None,
            calendar_id: None,
            attributes_json: "{}".into(),
            version: 1,
            created_at: self.now,
            updated_at: self.now,
        });
        id
    }

    fn rel(&mut self, s: Uuid, kind: &str, t: Uuid) {
        self.rels.push(Relation {
            id: Uuid::now_v7(),
            source_id: s,
            kind: kind.into(),
            target_id: t,
            created_at: self.now,
            created_by: None,
        });
    }
}

/// Write the data set; `orgs` customer organizations of ~6,300 CIs and ~31,000 relations each.
pub async fn populate(db: &Db, n_orgs: usize, seed: u64) -> anyhow::Result<Made> {
    let t0 = Instant::now();
    let mut r = Rng::new(seed);
    let now = yunwei_domain::audit::truncate_to_micros(Utc::now());
    let provider = orgs::provider_org(db)
        .await?
        .ok_or_else(|| anyhow!("no provider organization: bootstrap first"))?;
    let classes = store::list_classes(db).await?;
    let mut g = Gen {
        classes: &classes,
        now,
        cis: Vec::new(),
        rels: Vec::new(),
        n: 0,
    };
    let mut fanin: Vec<(Uuid, &'static str)> = Vec::new();
    let mut rels_total = 0usize;
    let mut tx = db.begin_write().await?;
    // The provider's backbone: two routers every organization's core switches connect to.
    let backbone: Vec<Uuid> = (0..2)
        .map(|i| {
            g.ci(
                provider.id,
                None,
                "router",
                format!("骨干路由器-{}", i + 1),
                true,
            )
        })
        .collect();
    g.rel(backbone[0], "connected_to", backbone[1]);
    fanin.push((backbone[0], "backbone router (provider)"));
    const DEPTS: &[&str] = &[
        "信息中心",
        "财务处",
        "人事处",
        "办公室",
        "业务一处",
        "业务二处",
        "审计处",
        "后勤处",
    ];
    for o in 0..n_orgs {
        let org = Organization {
            id: Uuid::now_v7(),
            name: format!("压测单位{:02}", o + 1),
            kind: "customer".into(),
            code: Some(format!("CM{:03}", o + 1)),
            contact: None,
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        orgs::insert_org(&mut tx, &org).await?;
        let mut depts = Vec::new();
        for d in DEPTS {
            let dep = Department {
                id: Uuid::now_v7(),
                org_id: org.id,
                parent_id: None,
                name: d.to_string(),
                created_at: now,
                updated_at: now,
            };
            orgs::insert_department(&mut tx, &dep).await?;
            depts.push(dep.id);
        }
        let it = Some(depts[0]);
        let oid = org.id;
        let rooms: Vec<Uuid> = (0..4)
            .map(|i| g.ci(oid, it, "machine_room", format!("{}号机房", i + 1), true))
            .collect();
        let ups: Vec<Uuid> = (0..8)
            .map(|i| g.ci(oid, it, "ups", format!("UPS-{}", i + 1), true))
            .collect();
        for (i, &u) in ups.iter().enumerate() {
            g.rel(u, "located_in", rooms[i / 2]);
        }
        let acs: Vec<Uuid> = (0..12)
            .map(|i| {
                g.ci(
                    oid,
                    it,
                    "precision_ac",
                    format!("精密空调-{}", i + 1),
                    false,
                )
            })
            .collect();
        for (i, &a) in acs.iter().enumerate() {
            g.rel(a, "located_in", rooms[i / 3]);
            g.rel(a, "powered_by", ups[i / 3 * 2]);
        }
        // Network: routers → firewalls; two core switches; an access switch per rack.
        let routers: Vec<Uuid> = (0..2)
            .map(|i| g.ci(oid, it, "router", format!("出口路由器-{}", i + 1), true))
            .collect();
        let fws: Vec<Uuid> = (0..2)
            .map(|i| g.ci(oid, it, "firewall", format!("防火墙-{}", i + 1), true))
            .collect();
        let cores: Vec<Uuid> = (0..2)
            .map(|i| g.ci(oid, it, "switch", format!("核心交换机-{}", i + 1), true))
            .collect();
        for i in 0..2 {
            g.rel(routers[i], "connected_to", backbone[i]);
            g.rel(fws[i], "connected_to", routers[i]);
            g.rel(fws[i], "located_in", rooms[0]);
            g.rel(routers[i], "located_in", rooms[0]);
            for &c in &cores {
                g.rel(c, "connected_to", fws[i]);
            }
            g.rel(cores[i], "located_in", rooms[i]);
            g.rel(cores[i], "powered_by", ups[i * 2]);
        }
        let storage: Vec<Uuid> = (0..8)
            .map(|i| {
                g.ci(
                    oid,
                    it,
                    "storage_array",
                    format!("存储阵列-{}", i + 1),
                    true,
                )
            })
            .collect();
        let backups: Vec<Uuid> = (0..4)
            .map(|i| {
                g.ci(
                    oid,
                    it,
                    "backup_system",
                    format!("备份系统-{}", i + 1),
                    false,
                )
            })
            .collect();
        for (i, &s) in storage.iter().enumerate() {
            g.rel(s, "located_in", rooms[i / 2]);
            g.rel(s, "connected_to", cores[i % 2]);
        }
        for (i, &b) in backups.iter().enumerate() {
            g.rel(b, "connected_to", cores[i % 2]);
        }
        // Racks with a PDU and an access switch each; ten servers per rack.
        let mut servers = Vec::new();
        let mut access = Vec::new();
        for k in 0..160 {
            let room = rooms[k / 40];
            let rack = g.ci(
                oid,
                it,
                "rack",
                format!("{}号机房-{:02}机柜", k / 40 + 1, k % 40 + 1),
                false,
            );
            g.rel(rack, "located_in", room);
            g.rel(rack, "depends_on", acs[k / 40 * 3 + k % 3]);
            let pdu = g.ci(oid, it, "pdu", format!("PDU-{:03}", k + 1), false);
            g.rel(pdu, "located_in", rack);
            g.rel(pdu, "powered_by", ups[k / 40 * 2 + k % 2]);
            let sw = g.ci(oid, it, "switch", format!("接入交换机-{:03}", k + 1), false);
            g.rel(sw, "located_in", rack);
            g.rel(sw, "connected_to", cores[0]);
            g.rel(sw, "connected_to", cores[1]);
            access.push((sw, pdu));
            for s in 0..10 {
                let srv = g.ci(
                    oid,
                    it,
                    "physical_server",
                    format!("服务器-{:03}-{:02}", k + 1, s + 1),
                    false,
                );
                g.rel(srv, "located_in", rack);
                g.rel(srv, "powered_by", pdu);
                servers.push((srv, k));
            }
        }
        for &(srv, k) in &servers {
            // Dual power (the neighbouring rack's PDU) and dual uplinks.
            let nb = if k % 2 == 0 { k + 1 } else { k - 1 };
            g.rel(srv, "powered_by", access[nb].1);
            g.rel(srv, "connected_to", access[k].0);
            g.rel(srv, "connected_to", access[nb].0);
            g.rel(
                srv,
                "depends_on",
                storage[r.below(storage.len() as u64) as usize],
            );
            g.rel(srv, "depends_on", acs[k / 40 * 3 + k % 3]);
        }
        // Clusters of 40 servers; VMs on the clusters; an OS per VM.
        let clusters: Vec<Uuid> = (0..40)
            .map(|i| {
                g.ci(
                    oid,
                    it,
                    "virtualization_cluster",
                    format!("虚拟化集群-{:02}", i + 1),
                    true,
                )
            })
            .collect();
        for (i, &(srv, _)) in servers.iter().enumerate() {
            g.rel(srv, "member_of", clusters[i / 40]);
        }
        let mut oses = Vec::new();
        for v in 0..1600 {
            let d = Some(depts[r.below(depts.len() as u64) as usize]);
            let vm = g.ci(
                oid,
                d,
                "virtual_machine",
                format!("虚拟机-{:04}", v + 1),
                false,
            );
            g.rel(vm, "runs_on", clusters[v % 40]);
            let sw = r.below(160) as usize;
            g.rel(vm, "connected_to", access[sw].0);
            g.rel(vm, "connected_to", access[(sw + 1) % 160].0);
            let os = g.ci(
                oid,
                d,
                "operating_system",
                format!("操作系统-{:04}", v + 1),
                false,
            );
            g.rel(os, "runs_on", vm);
            oses.push((os, d));
        }
        // Shared infrastructure on the first six OSes; every OS depends on three of them.
        const INFRA: &[&str] = &[
            "DNS 服务",
            "NTP 时间服务",
            "统一身份认证（AD）",
            "监控平台",
            "日志平台",
            "LDAP 目录",
        ];
        let infra: Vec<Uuid> = INFRA
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let m = g.ci(oid, it, "middleware", n.to_string(), true);
                g.rel(m, "runs_on", oses[i].0);
                m
            })
            .collect();
        for &(os, _) in oses.iter().skip(6) {
            g.rel(os, "depends_on", infra[0]);
            g.rel(os, "depends_on", infra[1]);
            g.rel(os, "depends_on", infra[2]);
            g.rel(os, "depends_on", infra[3 + r.below(3) as usize]);
        }
        // Databases and middleware on OSes 6..606; applications on the next 300.
        let mut dbs = Vec::new();
        let mut mws = Vec::new();
        for i in 0..300 {
            let (os, d) = oses[6 + i];
            let dbi = g.ci(
                oid,
                d,
                "database",
                format!("数据库-{:03}", i + 1),
                r.chance(0.2),
            );
            g.rel(dbi, "runs_on", os);
            g.rel(dbi, "backed_up_by", backups[i % 4]);
            dbs.push(dbi);
            let (os2, d2) = oses[306 + i];
            let mw = g.ci(oid, d2, "middleware", format!("中间件-{:03}", i + 1), false);
            g.rel(mw, "runs_on", os2);
            mws.push(mw);
        }
        let mut apps = Vec::new();
        for i in 0..300 {
            let (os, d) = oses[606 + i];
            let app = g.ci(
                oid,
                d,
                "application_system",
                format!("应用系统-{:03}", i + 1),
                r.chance(0.1),
            );
            g.rel(app, "runs_on", os);
            for _ in 0..2 {
                g.rel(app, "depends_on", dbs[r.below(300) as usize]);
                g.rel(app, "depends_on", mws[r.below(300) as usize]);
            }
            g.rel(app, "depends_on", infra[2]);
            g.rel(app, "depends_on", infra[4]);
            g.rel(app, "backed_up_by", backups[i % 4]);
            if i > 0 {
                g.rel(app, "depends_on", apps[r.below(i as u64) as usize]);
            }
            apps.push(app);
        }
        // 60 business services of 5 applications each, both ways (cycles).
        for sv in 0..60 {
            let d = Some(depts[sv % depts.len()]);
            let svc = g.ci(
                oid,
                d,
                "business_service",
                format!("业务服务-{:02}", sv + 1),
                sv % 4 == 0,
            );
            for a in 0..5 {
                let app = apps[sv * 5 + a];
                g.rel(app, "member_of", svc);
                g.rel(svc, "depends_on", app);
            }
        }
        if o == 0 {
            fanin.push((rooms[0], "machine room"));
            fanin.push((ups[0], "UPS"));
            fanin.push((cores[0], "core switch"));
            fanin.push((infra[0], "DNS service"));
        }
        // Write in batches of about one organization.
        store::insert_cis_bulk(&mut tx, &g.cis).await?;
        let versions: Vec<CiVersion> = g
            .cis
            .iter()
            .map(|c| CiVersion {
                id: Uuid::now_v7(),
                ci_id: c.id,
                version: 1,
                valid_from: now,
                action: "create".into(),
                actor_name: "bench".into(),
                snapshot_json: json!({"name": c.name, "external_key": c.external_key}).to_string(),
            })
            .collect();
        store::insert_versions_bulk(&mut tx, &versions).await?;
        store::insert_relations_bulk(&mut tx, &g.rels).await?;
        bump_all(&mut tx).await?;
        tx.commit().await?;
        tx = db.begin_write().await?;
        rels_total += g.rels.len();
        eprintln!(
            "   organization {}/{n_orgs}: {} CIs, {rels_total} relations so far",
            o + 1,
            g.n
        );
        g.cis.clear();
        g.rels.clear();
    }
    if !g.cis.is_empty() || !g.rels.is_empty() {
        store::insert_cis_bulk(&mut tx, &g.cis).await?;
        store::insert_relations_bulk(&mut tx, &g.rels).await?;
    }
    bump_all(&mut tx).await?;
    tx.commit().await?;
    let (n_cis, n_rels, ids) = counts(db).await?;
    Ok(Made {
        cis: n_cis,
        relations: n_rels,
        orgs: n_orgs,
        seconds: t0.elapsed().as_secs_f64(),
        ids,
        fanin,
    })
}

async fn counts(db: &Db) -> anyhow::Result<(usize, usize, Vec<Uuid>)> {
    let ids: Vec<Uuid> = store::all_keys(db)
        .await?
        .into_iter()
        .map(|k| k.2)
        .collect();
    let rels = store::all_edges(db).await?.len();
    Ok((ids.len(), rels, ids))
}

// ------------------------------------------------------------------------------- HTTP

/// One request over a fresh connection: (status, headers, body).
fn http_full(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> anyhow::Result<(u16, String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
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
    let (head, body) = text
        .split_once("\r\n\r\n")
        .map(|(h, b)| (h.to_string(), b.to_string()))
        .unwrap_or_default();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .ok_or_else(|| anyhow!("bad response"))?;
    Ok((status, head, body))
}

/// Time one GET in ms; fails unless 200.
fn timed_get(port: u16, path: &str, auth: &[(&str, &str)]) -> anyhow::Result<(f64, String)> {
    let t = Instant::now();
    let (st, _, body) = http_full(port, "GET", path, auth, None)?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if st != 200 {
        bail!(
            "GET {path}: HTTP {st}: {}",
            body.chars().take(300).collect::<String>()
        );
    }
    Ok((ms, body))
}

/// `ms` of every "cmdb relation graph loaded" line of the server log.
fn logged_loads(log: &Path) -> Vec<f64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("cmdb relation graph loaded"))
        .filter_map(|l| {
            let i = l
                .find("ms=")
                .map(|i| i + 3)
                .or_else(|| l.find("\"ms\":").map(|i| i + 5))?;
            let num: String = l[i..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            num.parse().ok()
        })
        .collect()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}

// ------------------------------------------------------------------------------- the run

pub async fn bench_store(a: &Args, store: &str, bin: &Path) -> anyhow::Result<Value> {
    let n_orgs = if a.size == "full" { 16 } else { 2 };
    let secs = a.secs.unwrap_or(if a.size == "full" { 15 } else { 8 });
    let stamp = crate::sh("date -u +%Y%m%d-%H%M%S");
    let run_dir = crate::bench_dir()
        .join("target/run")
        .join(format!("cmdb-{store}-{}-{stamp}", a.size));
    std::fs::create_dir_all(&run_dir)?;
    let pg_base = std::env::var("YUNWEI_BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://yunwei:yunwei@127.0.0.1:5432/postgres".into());
    let pg_name = format!("yunwei_bench_cmdb_{}", stamp.replace('-', "_"));
    let db_url = if store == "sqlite" {
        yunwei_store::sqlite_url(&run_dir)
    } else {
        crate::pg_admin(&pg_base, &format!("CREATE DATABASE {pg_name}")).await?;
        crate::with_db(&pg_base, &pg_name)
    };
    let spec = run::ServerSpec {
        bin: bin.to_path_buf(),
        db_url,
        data_dir: run_dir.clone(),
        port: crate::free_port(),
        log: run_dir.join("server.log"),
    };
    let res = inner(a, store, &spec, &run_dir, n_orgs, secs).await;
    if store == "postgres" && !a.keep {
        if let Err(e) = crate::pg_admin(
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

fn write_lines(path: &Path, lines: impl IntoIterator<Item = String>) -> anyhow::Result<()> {
    crate::write_lines(path, lines)
}

async fn inner(
    a: &Args,
    store: &str,
    spec: &run::ServerSpec,
    run_dir: &Path,
    n_orgs: usize,
    secs: u32,
) -> anyhow::Result<Value> {
    let mut out = json!({
        "kind": "cmdb", "store": store, "size": a.size, "secs_per_point": secs,
        "machine": crate::machine(), "started": crate::sh("date -u '+%Y-%m-%d %H:%M:%S UTC'"),
    });
    eprintln!("== cmdb {store}: new installation, agent account and API token");
    let mut child = spec
        .cli()
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
        let mut si = child.stdin.take().ok_or_else(|| anyhow!("stdin"))?;
        si.write_all(format!("{PASSWORD}\n").as_bytes())?;
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
    let token = String::from_utf8_lossy(&o.stdout).trim().to_string();

    eprintln!("== cmdb {store}: generating {n_orgs} organizations' CMDB through yunwei_store");
    let db = Db::connect(&spec.db_url, PoolSize { max_connections: 4 }).await?;
    let made = populate(&db, n_orgs, 0xc3db_2026).await?;
    eprintln!(
        "   {} CIs, {} relations in {:.1} s",
        made.cis, made.relations, made.seconds
    );
    out["generate"] = json!({"cis": made.cis, "relations": made.relations, "orgs": made.orgs, "seconds": made.seconds});

    let mut r = Rng::new(7);
    let pick = |r: &mut Rng, n: usize| -> Vec<Uuid> {
        (0..n)
            .map(|_| made.ids[r.below(made.ids.len() as u64) as usize])
            .collect()
    };
    let random = pick(&mut r, 2000);
    write_lines(
        &run_dir.join("impact_random.txt"),
        random.iter().map(|i| format!("/api/v1/cis/{i}/impact")),
    )?;
    write_lines(
        &run_dir.join("impact_fanin.txt"),
        made.fanin
            .iter()
            .map(|(i, _)| format!("/api/v1/cis/{i}/impact")),
    )?;
    write_lines(
        &run_dir.join("deps_random.txt"),
        random
            .iter()
            .map(|i| format!("/api/v1/cis/{i}/dependencies")),
    )?;
    write_lines(
        &run_dir.join("page_random.txt"),
        random.iter().map(|i| format!("/cmdb/cis/{i}")),
    )?;
    write_lines(
        &run_dir.join("page_fanin.txt"),
        made.fanin.iter().map(|(i, _)| format!("/cmdb/cis/{i}")),
    )?;

    eprintln!("== cmdb {store}: start");
    let (server, ms) = spec.start()?;
    out["startup_ms"] = json!(ms);
    std::thread::sleep(Duration::from_secs(2));
    out["idle_rss_kib"] = json!(run::status_kib(server.pid, "VmRSS:"));
    let bearer = format!("Bearer {token}");
    let auth: [(&str, &str); 1] = [("Authorization", bearer.as_str())];

    // The first impact query loads the graph.
    let (first_ms, body) = timed_get(
        server.port,
        &format!("/api/v1/cis/{}/impact?limit=1", made.fanin[0].0),
        &auth,
    )?;
    let total: Value = serde_json::from_str::<Value>(&body)
        .map(|v| v["total"].clone())
        .unwrap_or(Value::Null);
    eprintln!(
        "   first impact query (graph load): {first_ms:.0} ms; the backbone reaches {total} items"
    );
    out["first_query_ms"] = json!(first_ms);
    out["rss_after_load_kib"] = json!(run::status_kib(server.pid, "VmRSS:"));
    let mut sanity = serde_json::Map::new();
    for (id, what) in &made.fanin {
        let (ms, body) = timed_get(server.port, &format!("/api/v1/cis/{id}/impact"), &auth)?;
        let v: Value = serde_json::from_str(&body)?;
        sanity.insert(what.to_string(), json!({"total": v["total"], "items": v["items"].as_array().map(|x| x.len()), "business_services": v["business_services"].as_array().map(|x| x.len()), "ms": ms}));
    }
    eprintln!("   fan-in roots: {}", Value::Object(sanity.clone()));
    out["fanin"] = Value::Object(sanity);

    // Reload after an epoch change (as any write of CIs or relations, on any node, does).
    let mut reload = Vec::new();
    let mut warm = Vec::new();
    let probe = format!("/api/v1/cis/{}/impact", random[0]);
    for _ in 0..5 {
        let mut tx = db.begin_write().await?;
        bump_all(&mut tx).await?;
        tx.commit().await?;
        reload.push(timed_get(server.port, &probe, &auth)?.0);
        warm.push(timed_get(server.port, &probe, &auth)?.0);
    }
    let logged = logged_loads(&spec.log);
    eprintln!("   after an epoch change: first query {:.0} ms (median of 5), then {:.1} ms; loads logged: {logged:?}", median(&reload), median(&warm));
    out["reload"] =
        json!({"first_query_ms": reload, "next_query_ms": warm, "logged_load_ms": logged});
    out["small_change"] = small_change(spec, server.port, &random[1000..], &probe, &auth)?;
    db.close().await;

    // A session for the HTML page.
    let (st, head, body) = http_full(
        server.port,
        "POST",
        "/api/v1/session",
        &[],
        Some(&json!({"username": "bench-agent", "password": PASSWORD}).to_string()),
    )?;
    if st >= 300 {
        bail!("sign-in: HTTP {st}: {body}");
    }
    let cookie = head
        .lines()
        .filter_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .find(|c| c.starts_with("yw_session="))
        .and_then(|c| c.split(';').next())
        .ok_or_else(|| anyhow!("no session cookie"))?
        .to_string();
    let (page_ms, page) = timed_get(
        server.port,
        &format!("/cmdb/cis/{}", made.fanin[0].0),
        &[("Cookie", cookie.as_str())],
    )?;
    if !page.contains("ci-impact") {
        bail!("the CI page has no impact section");
    }
    eprintln!(
        "   CI page of the machine room: {page_ms:.0} ms, {} bytes",
        page.len()
    );

    // Load.
    let lua = crate::bench_dir().join("wrk/bench.lua");
    let points = [
        ("impact_random", "impact_random.txt", false),
        ("impact_fanin", "impact_fanin.txt", false),
        ("deps_random", "deps_random.txt", false),
        ("page_random", "page_random.txt", true),
        ("page_fanin", "page_fanin.txt", true),
    ];
    let mut results = serde_json::Map::new();
    for (name, list, html) in points {
        // bench.lua sends BENCH_COOKIE as a Cookie header when set (the HTML pages).
        if html {
            std::env::set_var("BENCH_COOKIE", &cookie);
        } else {
            std::env::remove_var("BENCH_COOKIE");
        }
        let list = run_dir.join(list);
        let l = run::Load {
            name,
            lua: &lua,
            mode: "get",
            list: &list,
            token: &token,
            port: server.port,
            pid: server.pid,
            pg: store == "postgres",
        };
        eprintln!(
            "== cmdb {store}: {name} (warm-up 3 s at c=8, then {secs} s at c = {:?})",
            a.concurrency
        );
        let _ = run::wrk_once(&l, 8, 3, 0.0)?;
        let mut per_c = serde_json::Map::new();
        for &c in &a.concurrency {
            per_c.insert(c.to_string(), run::wrk_run(&l, c, secs, a.retries, 15.0)?);
        }
        results.insert(name.into(), Value::Object(per_c));
    }
    std::env::remove_var("BENCH_COOKIE");
    out["results"] = Value::Object(results);
    out["peak_rss_kib"] = json!(run::status_kib(server.pid, "VmHWM:"));
    server.stop()?;
    out["finished"] = json!(crate::sh("date -u '+%Y-%m-%d %H:%M:%S UTC'"));
    Ok(out)
}

// ------------------------------------------------------------------------------- report

const LABELS: &[(&str, &str)] = &[
    ("impact_random", "impact `GET /api/v1/cis/{id}/impact`, random roots (first page of 200)"),
    ("impact_fanin", "impact, high fan-in roots (machine room, UPS, core switch, DNS, the provider's backbone router)"),
    ("deps_random", "dependencies `GET /api/v1/cis/{id}/dependencies`, random roots"),
    ("page_random", "CI page `/cmdb/cis/{id}` (HTML, session), random CIs"),
    ("page_fanin", "CI page, high fan-in CIs"),
];

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// The CMDB section of docs/benchmarks.md from results/cmdb-*.json.
pub fn report(md: &mut String, results: &Path) {
    use std::fmt::Write as _;
    let mut all = Vec::new();
    for name in [
        "cmdb-full-sqlite",
        "cmdb-full-postgres",
        "cmdb-quick-sqlite",
        "cmdb-quick-postgres",
    ] {
        if let Ok(s) = std::fs::read_to_string(results.join(format!("{name}.json"))) {
            if let Ok(j) = serde_json::from_str::<Value>(&s) {
                all.push(j);
            }
        }
    }
    if all.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n## CMDB: impact analysis and the CI page (issue 4)\n\n\
         `cd bench && cargo run --release -- --cmdb --size full` (16 customer organizations; `quick`: 2). A layered CMDB written \
         through `yunwei_store` (see `bench/src/cmdb.rs`): per organization 4 machine rooms, 160 racks with a PDU and an access \
         switch each, 8 UPS, 12 precision air-conditioners, 1,600 servers (dual power, dual uplinks, a storage array), 40 \
         virtualization clusters, 1,600 VMs with an OS each, 300 databases (backed up: `backed_up_by`, which does not propagate), \
         300 middleware, shared DNS/NTP/directory/monitoring/logging every OS depends on, 300 applications depending on databases, \
         middleware and each other, 60 business services ⇄ applications (cycles); core switches → firewalls → routers → the \
         provider's two backbone routers (so one root reaches almost every CI). Impact and dependencies are answered from each \
         node's in-memory relation graph (`crates/service/src/cmdb_graph.rs`), kept current from the change log every CMDB write appends (patched in milliseconds; read in full at start, after an import, or when the log was pruned). \
         Targets: impact at any depth p99 < 100 ms, CI page p99 < 50 ms.\n"
    );
    for r in &all {
        let pg = r["store"] == "postgres";
        let g = &r["generate"];
        let _ = writeln!(
            md,
            "\n### {} — `{}`: {} CIs, {} relations\n\nRun {} – {}, commit `{}`; {} s per point. Generated in {:.0} s.\n",
            if pg { "PostgreSQL 15" } else { "SQLite" },
            r["size"].as_str().unwrap_or(""),
            f(&g["cis"]),
            f(&g["relations"]),
            r["started"].as_str().unwrap_or(""),
            r["finished"].as_str().unwrap_or(""),
            r["machine"]["commit"].as_str().unwrap_or(""),
            r["secs_per_point"],
            f(&g["seconds"]),
        );
        let rl = &r["reload"];
        let arr = |v: &Value| {
            v.as_array()
                .map(|a| a.iter().map(f).collect::<Vec<f64>>())
                .unwrap_or_default()
        };
        let _ = writeln!(md, "| figure | value |\n|---|---|");
        let _ = writeln!(
            md,
            "| first impact query after start (loads the graph) | {:.0} ms |",
            f(&r["first_query_ms"])
        );
        let _ = writeln!(
            md,
            "| graph load after an epoch change, as logged by the server | {} ms |",
            arr(&rl["logged_load_ms"])
                .iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            md,
            "| the first query after an epoch change with the whole graph to read again (the bench bumps the epoch without a log entry) / the next one (median of 5) | {:.0} ms / {:.1} ms |",
            median(&arr(&rl["first_query_ms"])),
            median(&arr(&rl["next_query_ms"]))
        );
        let sc = &r["small_change"];
        if sc.is_object() {
            let _ = writeln!(
                md,
                "| one relation added through the API: the write / the first impact query after it (graph patched from the change log) / 1 s later / the next one (medians of 7); patches as logged | {:.1} / {:.1} / {:.1} / {:.1} ms; {} |",
                median(&arr(&sc["write_ms"])),
                median(&arr(&sc["first_query_ms"])),
                median(&arr(&sc["first_query_1s_after_write_ms"])),
                median(&arr(&sc["next_query_ms"])),
                arr(&sc["logged_patch_ms"])
                    .iter()
                    .map(|x| format!("{x:.1}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let _ = writeln!(
            md,
            "| RSS idle / after the graph load / peak | {:.1} / {:.1} / {:.1} MiB |",
            f(&r["idle_rss_kib"]) / 1024.0,
            f(&r["rss_after_load_kib"]) / 1024.0,
            f(&r["peak_rss_kib"]) / 1024.0
        );
        if let Some(o) = r["fanin"].as_object() {
            let s: Vec<String> = o
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}: {} reached, {} business services ({:.0} ms)",
                        v["total"],
                        v["business_services"],
                        f(&v["ms"])
                    )
                })
                .collect();
            let _ = writeln!(md, "| high fan-in roots | {} |", s.join("; "));
        }
        let _ = writeln!(md, "\n| request | c | req/s | p50 ms | p99 ms | max ms | non-2xx | server CPU ms/req |{} other CPU % | target |", if pg { " PostgreSQL CPU ms/req |" } else { "" });
        let _ = writeln!(
            md,
            "|---|---|---|---|---|---|---|---|{}---|---|",
            if pg { "---|" } else { "" }
        );
        for (key, label) in LABELS {
            let Some(pc) = r["results"][key].as_object() else {
                continue;
            };
            let limit = if key.starts_with("page") { 50.0 } else { 100.0 };
            let mut cs: Vec<(&String, &Value)> = pc.iter().collect();
            cs.sort_by_key(|(c, _)| c.parse::<u32>().unwrap_or(0));
            for (c, x) in cs {
                let p99 = f(&x["p99_ms"]);
                let _ = writeln!(
                    md,
                    "| {label} | {c} | {:.0} | {:.2} | {:.1} | {:.1} | {:.0} | {:.2} |{} {:.0} | p99 < {limit:.0} ms: {} |",
                    f(&x["rps"]),
                    f(&x["p50_ms"]),
                    p99,
                    f(&x["max_ms"]),
                    f(&x["non_2xx"]) + f(&x["socket_errors"]),
                    f(&x["server_cpu_ms_per_req"]),
                    if pg { format!(" {:.2} |", f(&x["db_cpu_ms_per_req"])) } else { String::new() },
                    f(&x["other_cpu_pct"]),
                    if f(&x["ok"]) >= 1.0 && p99 < limit { "**met**" } else { "**not met**" }
                );
            }
        }
    }
}

// ------------------------------------------------------------------------------- small changes

/// Mark every CMDB change in `tx` (the generator's bulk writes, the forced reloads): the
/// epoch, and where the store has the graph change log (migration 0013), a "reload
/// everything" row. A database made by an older binary (`--binary`) has no log.
async fn bump_all(tx: &mut yunwei_store::Tx) -> anyhow::Result<()> {
    use yunwei_store::Tx;
    let has_log: i64 = match tx {
        Tx::Sqlite(t) => yunwei_store::sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'cmdb_graph_log'",
        )
        .fetch_one(&mut **t)
        .await?,
        Tx::Pg(t) => {
            yunwei_store::sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'cmdb_graph_log'",
            )
            .fetch_one(&mut **t)
            .await?
        }
    };
    if has_log > 0 {
        store::bump_epoch(tx, None).await?;
    } else {
        let sql = "INSERT INTO cmdb_epoch (id, epoch) VALUES (1, 1) \
                   ON CONFLICT (id) DO UPDATE SET epoch = cmdb_epoch.epoch + 1";
        match tx {
            Tx::Sqlite(t) => yunwei_store::sqlx::query(sql)
                .execute(&mut **t)
                .await
                .map(|_| ())?,
            Tx::Pg(t) => yunwei_store::sqlx::query(sql)
                .execute(&mut **t)
                .await
                .map(|_| ())?,
        }
    }
    Ok(())
}

/// `ms` of every "cmdb relation graph patched" line of the server log.
fn logged_patches(log: &Path) -> Vec<f64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("cmdb relation graph patched"))
        .filter_map(|l| {
            let i = l
                .find(" ms=")
                .map(|i| i + 4)
                .or_else(|| l.find("\"ms\":").map(|i| i + 5))?;
            let num: String = l[i..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            num.parse().ok()
        })
        .collect()
}

/// The first impact query after a small change through the API, as an engineer makes it:
/// one `depends_on` relation added between two random CIs, then `probe` twice (the first
/// brings the graph up to date: a patch from the change log, or a full reload where there is
/// none), seven times.
fn small_change(
    spec: &run::ServerSpec,
    port: u16,
    ids: &[Uuid],
    probe: &str,
    auth: &[(&str, &str)],
) -> anyhow::Result<Value> {
    let mut child = spec
        .cli()
        .args([
            "admin",
            "create-user",
            "--username",
            "bench-engineer",
            "--role",
            "engineer",
            "--display-name",
            "压测工程师",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    {
        let mut si = child.stdin.take().ok_or_else(|| anyhow!("stdin"))?;
        si.write_all(format!("{PASSWORD}\n").as_bytes())?;
    }
    let o = child.wait_with_output()?;
    if !o.status.success() {
        bail!(
            "create-user (engineer) failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = spec
        .cli()
        .args([
            "admin",
            "create-token",
            "--username",
            "bench-engineer",
            "--name",
            "bench",
        ])
        .output()?;
    if !o.status.success() {
        bail!(
            "create-token (engineer) failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let bearer = format!("Bearer {}", String::from_utf8_lossy(&o.stdout).trim());
    let writer: [(&str, &str); 1] = [("Authorization", bearer.as_str())];
    let (mut write, mut first, mut next) = (Vec::new(), Vec::new(), Vec::new());
    for pair in ids
        .chunks(2)
        .filter(|p| p.len() == 2 && p[0] != p[1])
        .take(7)
    {
        let body = json!({"source_id": pair[0], "kind": "depends_on", "target_id": pair[1]});
        let t = Instant::now();
        let (st, _, text) = http_full(
            port,
            "POST",
            "/api/v1/ci-relations",
            &writer,
            Some(&body.to_string()),
        )?;
        if st != 201 {
            bail!(
                "POST /api/v1/ci-relations: HTTP {st}: {}",
                text.chars().take(300).collect::<String>()
            );
        }
        write.push(t.elapsed().as_secs_f64() * 1000.0);
        first.push(timed_get(port, probe, auth)?.0);
        next.push(timed_get(port, probe, auth)?.0);
    }
    // The same once the node is idle again (1 s after the write: the CI index feed and any
    // other work the write started have run), so the graph's own catch-up shows alone.
    let mut settled = Vec::new();
    for pair in ids[100..]
        .chunks(2)
        .filter(|p| p.len() == 2 && p[0] != p[1])
        .take(7)
    {
        let body = json!({"source_id": pair[0], "kind": "depends_on", "target_id": pair[1]});
        let (st, _, text) = http_full(
            port,
            "POST",
            "/api/v1/ci-relations",
            &writer,
            Some(&body.to_string()),
        )?;
        if st != 201 {
            bail!(
                "POST /api/v1/ci-relations: HTTP {st}: {}",
                text.chars().take(300).collect::<String>()
            );
        }
        std::thread::sleep(Duration::from_secs(1));
        settled.push(timed_get(port, probe, auth)?.0);
    }
    eprintln!(
        "   … 1 s after the write: first query {:.1} ms (median of {})",
        median(&settled),
        settled.len()
    );
    let patched = logged_patches(&spec.log);
    eprintln!(
        "   after one relation added through the API: first query {:.1} ms (median of {}), then {:.1} ms; the write {:.1} ms; patches logged: {patched:?}",
        median(&first),
        first.len(),
        median(&next),
        median(&write)
    );
    Ok(
        json!({"write_ms": write, "first_query_ms": first, "next_query_ms": next,
              "first_query_1s_after_write_ms": settled,
              "logged_patch_ms": patched, "logged_load_ms": logged_loads(&spec.log)}),
    )
}
