//! Fill a migrated, bootstrapped installation with a realistic data set, directly through
//! `yunwei_store` (the server is stopped): customer organizations with departments and users,
//! provider teams and staff, and tickets spread over months or years, with a status mix that
//! follows their age (old ones closed, recent ones in every phase), a timeline per ticket and
//! one audit entry per ticket (its creation, with the full snapshot, as the service writes it).
//! Thousands of tickets go into one write transaction.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, Utc};
use uuid::Uuid;
use yunwei_domain::ticket::{self, Breadth, Criticality, Kind, PriorityMatrix, Urgency};
use yunwei_store::orgs::{self, Department, Organization};
use yunwei_store::tickets::{self, Event, Ticket};
use yunwei_domain::audit::{entry_hash, AuditContent};
use yunwei_store::{on_db, on_tx, teams, users, Db, Tx};

use crate::text::{self, Rng};

pub struct Shape {
    pub tickets: u64,
    pub orgs: usize,
    pub depts_per_org: usize,
    pub users_per_org: usize,
    pub staff: usize,
    /// Over how many days the tickets were created (ending now).
    pub days: i64,
    pub batch: u64,
}

impl Shape {
    pub fn for_tickets(n: u64) -> Shape {
        let big = n >= 200_000;
        Shape {
            tickets: n,
            orgs: if big { 60 } else { 12 },
            depts_per_org: if big { 12 } else { 8 },
            users_per_org: if big { 120 } else { 25 },
            staff: if big { 80 } else { 30 },
            // ~1,000 tickets a day over ~2.7 years at 1M; ~330 a day over 2 months at 20k
            days: (n as i64 / 1_000).max(60),
            batch: 5_000,
        }
    }
}

pub struct Requester {
    pub org_id: Uuid,
    pub user_id: Uuid,
}

pub struct Generated {
    pub tickets: u64,
    pub events: u64,
    pub open: u64,
    pub seconds: f64,
    /// A sample of existing ticket numbers (for the read benchmark).
    pub numbers: Vec<String>,
    /// Customer users with their organization (for the creation benchmark).
    pub requesters: Vec<Requester>,
}

fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    yunwei_domain::audit::truncate_to_micros(t)
}

fn v7_at(t: DateTime<Utc>) -> Uuid {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        t.timestamp() as u64,
        t.timestamp_subsec_nanos(),
    );
    Uuid::new_v7(ts)
}

fn snake<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

struct Dept {
    id: Uuid,
    name: String,
}

struct Org {
    id: Uuid,
    depts: Vec<Dept>,
    users: Vec<(Uuid, usize)>, // user id, dept index
}

pub async fn populate(db: &Db, shape: &Shape, seed: u64) -> anyhow::Result<Generated> {
    let t0 = Instant::now();
    let mut r = Rng::new(seed);
    let now = micros(Utc::now());
    let start = now - Duration::days(shape.days);
    let provider = orgs::provider_org(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no provider organization: bootstrap first"))?;

    // --- organizations, departments, users, teams, staff
    let mut tx = db.begin_write().await?;
    let mut org_list: Vec<Org> = Vec::new();
    let mut requesters = Vec::new();
    let mut uname = 0u64;
    for i in 0..shape.orgs {
        let name = format!(
            "{}{}{}",
            text::CITIES[i % text::CITIES.len()],
            text::ORG_KINDS[(i / text::CITIES.len() + i) % text::ORG_KINDS.len()],
            if i >= text::CITIES.len() * text::ORG_KINDS.len() {
                format!("{}", i)
            } else {
                String::new()
            }
        );
        let o = Organization {
            id: Uuid::now_v7(),
            name: format!("{name}{}", i / text::CITIES.len() + 1),
            kind: "customer".into(),
            code: Some(format!("C{:04}", i + 1)),
            contact: Some(text::person(&mut r)),
            disabled: false,
            created_at: start,
            updated_at: start,
        };
        orgs::insert_org(&mut tx, &o).await?;
        let mut depts = Vec::new();
        for d in 0..shape.depts_per_org {
            let dep = Department {
                id: Uuid::now_v7(),
                org_id: o.id,
                parent_id: None,
                name: text::DEPARTMENTS[d % text::DEPARTMENTS.len()].to_string(),
                created_at: start,
                updated_at: start,
            };
            orgs::insert_department(&mut tx, &dep).await?;
            depts.push(Dept {
                id: dep.id,
                name: dep.name,
            });
        }
        let mut us = Vec::new();
        for _ in 0..shape.users_per_org {
            uname += 1;
            let di = r.below(depts.len() as u64) as usize;
            let u = users::User {
                id: Uuid::now_v7(),
                org_id: o.id,
                department_id: Some(depts[di].id),
                username: format!("kh{uname:06}"),
                display_name: text::person(&mut r),
                email: Some(format!("kh{uname:06}@example.cn")),
                phone: None,
                role: "customer".into(),
                password_hash: None,
                disabled: false,
                lang: "zh-CN".into(),
                created_at: start,
                updated_at: start,
            };
            users::insert(&mut tx, &u).await?;
            requesters.push(Requester {
                org_id: o.id,
                user_id: u.id,
            });
            us.push((u.id, di));
        }
        org_list.push(Org {
            id: o.id,
            depts,
            users: us,
        });
    }
    let mut team_ids = Vec::new();
    for t in text::TEAMS {
        let team = teams::Team {
            id: Uuid::now_v7(),
            name: t.to_string(),
            description: None,
            created_at: start,
            updated_at: start,
        };
        teams::insert(&mut tx, &team).await?;
        team_ids.push(team.id);
    }
    let mut staff = Vec::new();
    for i in 0..shape.staff {
        let u = users::User {
            id: Uuid::now_v7(),
            org_id: provider.id,
            department_id: None,
            username: format!("yw{:04}", i + 1),
            display_name: text::person(&mut r),
            email: None,
            phone: None,
            role: if i % 3 == 0 { "agent" } else { "engineer" }.into(),
            password_hash: None,
            disabled: false,
            lang: "zh-CN".into(),
            created_at: start,
            updated_at: start,
        };
        users::insert(&mut tx, &u).await?;
        teams::add_member(&mut tx, team_ids[i % team_ids.len()], u.id).await?;
        staff.push((u.id, u.username.clone(), team_ids[i % team_ids.len()]));
    }
    tx.commit().await?;

    // --- tickets: made on a thread of their own (texts, snapshot JSON, audit hashes) while this
    // one writes them, so both cores work
    let counters: HashMap<(String, i64), i64> = on_db!(db, |p| yunwei_store::sqlx::query_as::<_, (String, i64, i64)>(
        "SELECT prefix, year, value FROM ticket_counters"
    )
    .fetch_all(p)
    .await)?
    .into_iter()
    .map(|(p, y, v)| ((p, y), v))
    .collect();
    let head0 = {
        let mut tx = db.begin_write().await?;
        get_head(&mut tx).await?
    };
    let (send, recv) = std::sync::mpsc::sync_channel::<Vec<Item>>(16);
    let n_tickets = shape.tickets;
    let days = shape.days;
    let maker = std::thread::spawn(move || {
        let mut r = r;
        let mut counters = counters;
        let mut head = head0;
        let matrix = PriorityMatrix::default();
        let step_us = (days * 86_400_000_000) / n_tickets.max(1) as i64;
        let sample_every = (n_tickets / 20_000).max(1);
        let mut numbers = Vec::new();
        let (mut n_events, mut n_open) = (0u64, 0u64);
        let offset8 = chrono::FixedOffset::east_opt(8 * 3600).expect("offset");
        let mut i = 0u64;
        while i < n_tickets {
            let mut chunk = Vec::with_capacity(FLUSH);
            while chunk.len() < FLUSH && i < n_tickets {
            let created = micros(
                start
                    + Duration::microseconds(i as i64 * step_us + r.below(step_us as u64 / 2) as i64),
            );
            let kind = [
                Kind::Incident,
                Kind::Request,
                Kind::Complaint,
                Kind::Opinion,
                Kind::Suggestion,
            ][r.weighted(&[62, 30, 3, 2, 3])];
            let org = &org_list[r.below(org_list.len() as u64) as usize];
            let (req, di) = org.users[r.below(org.users.len() as u64) as usize];
            let dept = &org.depts[di];
            let (subject, description) = text::ticket_text(&mut r, kind.as_str(), &dept.name);
            let age_days = (now - created).num_days();
            // status by age: older than two weeks → closed (5 % cancelled)
            let status = if age_days > 14 {
                if r.chance(0.05) {
                    "cancelled"
                } else {
                    "closed"
                }
            } else {
                ["new", "assigned", "in_progress", "pending", "resolved", "closed"]
                    [r.weighted(&[10, 15, 20, 10, 20, 25])]
            };
            let triaged = !matches!(status, "new") && !(status == "cancelled" && r.chance(0.5));
            let (crit, brd, urg) = (
                [Criticality::General, Criticality::Critical][r.weighted(&[80, 20])],
                [
                    Breadth::OneDepartment,
                    Breadth::SeveralDepartments,
                    Breadth::WholeOrganization,
                ][r.weighted(&[75, 20, 5])],
                [Urgency::High, Urgency::Medium, Urgency::Low][r.weighted(&[15, 55, 30])],
            );
            let (agent_id, agent_name, _) = &staff[r.below(staff.len() as u64) as usize];
            let (eng_id, eng_name, eng_team) = &staff[r.below(staff.len() as u64) as usize];
            let year = created.with_timezone(&offset8).year();
            let seq = {
                let c = counters.entry((kind.prefix().to_string(), year as i64)).or_insert(0);
                *c += 1;
                *c
            };
            let t_resp = created + Duration::minutes(r.range(3, 90));
            let t_resolved = t_resp + Duration::minutes(r.range(20, 60 * 48));
            let t_closed = t_resolved + Duration::hours(r.range(1, 72));
            let resolved = matches!(status, "resolved" | "closed");
            let closed = status == "closed";
            let auto = closed && r.chance(0.3);
            let rated = closed && !auto && r.chance(0.4);
            let t = Ticket {
                id: v7_at(created),
                number: ticket::format_number(kind, year, seq),
                kind: kind.as_str().into(),
                status: status.into(),
                sub_status: (status == "pending").then(|| "waiting_customer".into()),
                subject,
                description,
                org_id: org.id,
                department_id: Some(dept.id),
                requester_id: Some(req),
                created_by: Some(*agent_id),
                channel: ["phone", "portal", "email", "api", "monitoring"][r.weighted(&[45, 35, 10, 5, 5])]
                    .into(),
                category: triaged.then(|| "故障处理".to_string()),
                criticality: triaged.then(|| snake(crit)),
                breadth: triaged.then(|| snake(brd)),
                urgency: triaged.then(|| snake(urg)),
                priority: triaged.then(|| matrix.priority(ticket::impact(crit, brd), urg) as i64),
                priority_reason: None,
                team_id: triaged.then_some(*eng_team),
                assignee_id: triaged.then_some(*eng_id),
                parent_id: None,
                resolution: resolved.then(|| text::RESOLUTIONS[r.below(8) as usize].to_string()),
                reopen_count: 0,
                first_response_at: triaged.then_some(micros(t_resp)),
                resolved_at: resolved.then_some(micros(t_resolved)),
                closed_at: closed.then_some(micros(t_closed)),
                auto_confirmed: auto,
                satisfaction: rated.then(|| r.range(3, 5)),
                satisfaction_comment: None,
                rated_at: rated.then_some(micros(t_closed)),
                outage_start: (kind == Kind::Incident).then_some(created),
                outage_end: (kind == Kind::Incident && resolved).then_some(micros(t_resolved)),
                created_at: created,
                updated_at: micros(if closed {
                    t_closed
                } else if resolved {
                    t_resolved
                } else {
                    created
                }),
                sla_policy_id: None,
                response_due_at: None,
                resolution_due_at: None,
                sla_warned_at: None,
                sla_breached_at: None,
                catalog_item_id: None,
            };
            if !matches!(status, "closed" | "cancelled") {
                n_open += 1;
            }
            // the timeline
            let ev = |kind: &str, at: DateTime<Utc>, actor: (&Uuid, &String), public: bool, body: Option<String>| Event {
                id: v7_at(at),
                ticket_id: t.id,
                org_id: t.org_id,
                at: micros(at),
                actor_id: Some(*actor.0),
                actor_name: actor.1.clone(),
                kind: kind.into(),
                public,
                body,
                data_json: None,
            };
            let mut evs = vec![ev("created", created, (agent_id, agent_name), true, None)];
            if triaged {
                evs.push(ev("triage", t_resp, (agent_id, agent_name), true, None));
                if status != "assigned" && status != "cancelled" {
                    evs.push(ev(
                        "start",
                        t_resp + Duration::minutes(5),
                        (eng_id, eng_name),
                        true,
                        None,
                    ));
                    if r.chance(0.5) {
                        let body = text::REPLIES[r.below(5) as usize].to_string();
                        evs.push(ev("reply", t_resp + Duration::minutes(10), (eng_id, eng_name), true, Some(body)));
                    }
                }
            }
            if status == "pending" {
                evs.push(ev("pend", t_resp + Duration::minutes(15), (eng_id, eng_name), true, None));
            }
            if resolved {
                evs.push(ev("resolve", t_resolved, (eng_id, eng_name), true, t.resolution.clone()));
            }
            if closed {
                evs.push(ev(if auto { "auto_confirm" } else { "confirm" }, t_closed, (agent_id, agent_name), true, None));
            }
            if status == "cancelled" {
                evs.push(ev("cancel", t_resp, (agent_id, agent_name), true, Some("重复提交，已合并处理。".into())));
            }
            n_events += evs.len() as u64;
            // the audit entry, chained exactly as audit::append does (checked by `yunwei audit verify`)
            let after = serde_json::to_value(&t).ok().map(|v| v.to_string());
            let a = AuditRow {
                seq: head.0 + 1,
                id: v7_at(created),
                at: created,
                actor_id: Some(*agent_id),
                actor_name: agent_name.clone(),
                action: "create".into(),
                entity: "ticket".into(),
                entity_id: Some(t.number.clone()),
                org_id: Some(t.org_id),
                before: None,
                after,
                ip: Some("127.0.0.1".into()),
                prev: head.1.clone(),
                hash: String::new(),
            };
            let hash = entry_hash(
                &a.prev,
                &AuditContent {
                    seq: a.seq,
                    id: a.id,
                    at_micros: a.at.timestamp_micros(),
                    actor_id: a.actor_id,
                    actor_name: &a.actor_name,
                    action: &a.action,
                    entity: &a.entity,
                    entity_id: a.entity_id.as_deref(),
                    org_id: a.org_id,
                    before: a.before.as_deref(),
                    after: a.after.as_deref(),
                    ip: a.ip.as_deref(),
                },
            );
            head = (a.seq, hash.clone());
            let number = t.number.clone();
            chunk.push(Item { prefix: kind.prefix(), year, seq, ticket: t, events: evs, audit: AuditRow { hash, ..a } });
            if i % sample_every == 0 {
                numbers.push(number);
            }
            i += 1;
            }
            if send.send(chunk).is_err() {
                break;
            }
        }
        (numbers, n_events, n_open)
    });
    let mut written = 0u64;
    let mut tx: Option<Tx> = None;
    let mut head = (0i64, String::new());
    let mut used: HashMap<(&'static str, i32), i64> = HashMap::new();
    while let Ok(chunk) = recv.recv() {
        if tx.is_none() {
            tx = Some(db.begin_write().await?);
        }
        let t = tx.as_mut().expect("tx");
        let (mut evs, mut aus) = (Vec::new(), Vec::new());
        for it in chunk {
            // The number: the service takes it with tickets::next_number, one statement per
            // ticket; here the counter is set once per transaction (set_counters), which halves
            // the statements — each costs two thread hand-offs through sqlx.
            let c = used.entry((it.prefix, it.year)).or_insert(0);
            *c = (*c).max(it.seq);
            tickets::insert(t, &it.ticket).await?;
            evs.extend(it.events);
            head = (it.audit.seq, it.audit.hash.clone());
            aus.push(it.audit);
            written += 1;
        }
        flush(t, &mut evs, &mut aus).await?;
        if written % shape.batch == 0 {
            let mut t = tx.take().expect("tx");
            set_head(&mut t, &head).await?;
            set_counters(&mut t, &used).await?;
            t.commit().await?;
            if written % 100_000 == 0 {
                eprintln!(
                    "    {written} tickets, {:.0} s, {:.0}/s",
                    t0.elapsed().as_secs_f64(),
                    written as f64 / t0.elapsed().as_secs_f64()
                );
            }
        }
    }
    if let Some(mut t) = tx.take() {
        set_head(&mut t, &head).await?;
        set_counters(&mut t, &used).await?;
        t.commit().await?;
    }
    let (numbers, n_events, n_open) = maker.join().map_err(|_| anyhow::anyhow!("generator thread panicked"))?;
    anyhow::ensure!(written == shape.tickets, "wrote {written} of {} tickets", shape.tickets);
    Ok(Generated {
        tickets: shape.tickets,
        events: n_events,
        open: n_open,
        seconds: t0.elapsed().as_secs_f64(),
        numbers,
        requesters,
    })
}

/// Tickets whose events and audit entries go into one multi-row INSERT.
const FLUSH: usize = 100;

struct Item {
    prefix: &'static str,
    year: i32,
    seq: i64,
    ticket: Ticket,
    events: Vec<Event>,
    audit: AuditRow,
}

struct AuditRow {
    seq: i64,
    id: Uuid,
    at: DateTime<Utc>,
    actor_id: Option<Uuid>,
    actor_name: String,
    action: String,
    entity: String,
    entity_id: Option<String>,
    org_id: Option<Uuid>,
    before: Option<String>,
    after: Option<String>,
    ip: Option<String>,
    prev: String,
    hash: String,
}

async fn get_head(tx: &mut Tx) -> anyhow::Result<(i64, String)> {
    Ok(on_tx!(tx, |c| yunwei_store::sqlx::query_as::<_, (i64, String)>(
        "SELECT last_seq, last_hash FROM audit_head WHERE id = 1"
    )
    .fetch_one(c)
    .await)?)
}

async fn set_head(tx: &mut Tx, head: &(i64, String)) -> anyhow::Result<()> {
    on_tx!(tx, |c| yunwei_store::sqlx::query("UPDATE audit_head SET last_seq = $1, last_hash = $2 WHERE id = 1")
        .bind(head.0)
        .bind(&head.1)
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// `($1,$2),($3,$4)` for PostgreSQL; `(?,?),(?,?)` for SQLite, where numbered parameters make
/// preparing and binding quadratic in their count.
/// Bring the number counters to the highest numbers written. Each counter is first taken
/// once with `tickets::next_number` (so a row exists, created the way the service creates
/// it), then set.
async fn set_counters(tx: &mut Tx, used: &HashMap<(&'static str, i32), i64>) -> anyhow::Result<()> {
    for (&(prefix, year), &v) in used {
        let got = tickets::next_number(tx, prefix, year).await?;
        anyhow::ensure!(got <= v + 1, "counter {prefix} {year} at {got}, beyond {v}");
        on_tx!(tx, |c| yunwei_store::sqlx::query("UPDATE ticket_counters SET value = $1 WHERE prefix = $2 AND year = $3")
            .bind(v)
            .bind(prefix)
            .bind(year as i64)
            .execute(c)
            .await
            .map(|_| ()))?;
    }
    Ok(())
}

fn values(rows: usize, cols: usize, numbered: bool) -> String {
    let mut s = String::new();
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            if numbered {
                s.push_str(&format!("${}", r * cols + c + 1));
            } else {
                s.push('?');
            }
        }
        s.push(')');
    }
    s
}

/// Write the buffered timeline events and audit entries with one statement each (one
/// statement per row through sqlx costs two thread hand-offs, which dominated the run time).
async fn flush(tx: &mut Tx, evs: &mut Vec<Event>, aus: &mut Vec<AuditRow>) -> anyhow::Result<()> {
    let pg = matches!(tx, Tx::Pg(_));
    for chunk in evs.chunks(2_000) {
        let sql = format!(
            "INSERT INTO ticket_events (id, ticket_id, org_id, at, actor_id, actor_name, kind, public, body, data_json) VALUES {}",
            values(chunk.len(), 10, pg)
        );
        on_tx!(tx, |c| {
            let mut q = yunwei_store::sqlx::query(&sql);
            for e in chunk {
                q = q
                    .bind(e.id)
                    .bind(e.ticket_id)
                    .bind(e.org_id)
                    .bind(e.at)
                    .bind(e.actor_id)
                    .bind(&e.actor_name)
                    .bind(&e.kind)
                    .bind(e.public)
                    .bind(&e.body)
                    .bind(&e.data_json);
            }
            q.execute(c).await.map(|_| ())
        })?;
    }
    evs.clear();
    for chunk in aus.chunks(1_000) {
        let sql = format!(
            "INSERT INTO audit_log (seq, id, at, actor_id, actor_name, action, entity, entity_id, org_id, before_json, after_json, ip, prev_hash, hash) VALUES {}",
            values(chunk.len(), 14, pg)
        );
        on_tx!(tx, |c| {
            let mut q = yunwei_store::sqlx::query(&sql);
            for a in chunk {
                q = q
                    .bind(a.seq)
                    .bind(a.id)
                    .bind(a.at)
                    .bind(a.actor_id)
                    .bind(&a.actor_name)
                    .bind(&a.action)
                    .bind(&a.entity)
                    .bind(&a.entity_id)
                    .bind(a.org_id)
                    .bind(&a.before)
                    .bind(&a.after)
                    .bind(&a.ip)
                    .bind(&a.prev)
                    .bind(&a.hash);
            }
            q.execute(c).await.map(|_| ())
        })?;
    }
    aus.clear();
    Ok(())
}
