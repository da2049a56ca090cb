//! The direct SQLite reads (rusqlite on read-only connections, `sqlite_read.rs`) decode every
//! column exactly as sqlx does: the same rows read both ways compare equal, field by field,
//! with every optional field set and with every one empty, and with the other timestamp
//! forms sqlx accepts. Also the queue order (NULL due times last) on both stores.

use std::str::FromStr;

use chrono::{Duration, TimeZone, Utc};
use serde_json::Value;
use uuid::Uuid;
use yunwei_domain::ticket::Kind;
use yunwei_store::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use yunwei_store::tickets::{self, Event, Ticket, TicketFilter};
use yunwei_store::{Db, SqliteTx, Tx};
use yunwei_testkit::TestDb;

fn ticket(number: &str, org: Uuid, full: bool, parent: Option<Uuid>) -> Ticket {
    let at = |h: i64| {
        Some(
            Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()
                + Duration::hours(h)
                + Duration::microseconds(123_457),
        )
    };
    let s = |v: &str| full.then(|| v.to_string());
    let id = |_: ()| full.then(Uuid::now_v7);
    Ticket {
        id: Uuid::now_v7(),
        number: number.into(),
        kind: "incident".into(),
        status: "in_progress".into(),
        sub_status: s("等待备件"),
        subject: format!("财务系统无法登录 {number} <script>'\""),
        description: "影响月底结账，已重启电脑。\n第二行 ✓".into(),
        org_id: org,
        department_id: id(()),
        requester_id: id(()),
        created_by: id(()),
        channel: "phone".into(),
        category: s("应用/财务"),
        criticality: s("critical"),
        breadth: s("one_department"),
        urgency: s("high"),
        priority: full.then_some(2),
        priority_reason: s("矩阵：高 × 部门"),
        team_id: id(()),
        assignee_id: id(()),
        parent_id: parent,
        resolution: s("已更换网卡"),
        reopen_count: if full { 3 } else { 0 },
        first_response_at: if full { at(1) } else { None },
        resolved_at: if full { at(2) } else { None },
        closed_at: if full { at(3) } else { None },
        auto_confirmed: full,
        satisfaction: full.then_some(5),
        satisfaction_comment: s("很满意"),
        rated_at: if full { at(4) } else { None },
        outage_start: if full { at(-1) } else { None },
        outage_end: if full { at(0) } else { None },
        created_at: at(-2).unwrap(),
        updated_at: at(5).unwrap(),
        sla_policy_id: id(()),
        response_due_at: if full { at(6) } else { None },
        resolution_due_at: if full { at(7) } else { None },
        sla_warned_at: if full { at(8) } else { None },
        sla_breached_at: if full { at(9) } else { None },
        catalog_item_id: id(()),
    }
}

fn event(t: &Ticket, public: bool, full: bool) -> Event {
    Event {
        id: Uuid::now_v7(),
        ticket_id: t.id,
        org_id: t.org_id,
        at: t.updated_at,
        actor_id: full.then(Uuid::now_v7),
        actor_name: "王工程师".into(),
        kind: if public { "reply" } else { "note" }.into(),
        public,
        body: full.then(|| "已远程处理 <b>".to_string()),
        data_json: full.then(|| r#"{"from":"new","to":"assigned"}"#.to_string()),
    }
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

/// A write transaction on a second pool of the same file with foreign keys off, so rows can
/// name ids the test does not create (teams, policies, catalog items …).
async fn raw_tx(url: &str) -> Tx {
    let opts = SqliteConnectOptions::from_str(url)
        .unwrap()
        .foreign_keys(false);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .unwrap();
    Tx::Sqlite(SqliteTx::Plain(pool.begin().await.unwrap()))
}

#[tokio::test]
async fn direct_reads_decode_like_sqlx() {
    let t = TestDb::sqlite().await;
    let db: &Db = &t.db;
    assert!(db.direct_reads(), "a SQLite file reads directly");
    let org = Uuid::now_v7();
    let full = ticket("INC-2026-000001", org, true, None);
    let bare = ticket("INC-2026-000002", org, false, Some(full.id));
    let mut tx = raw_tx(&t.url).await;
    yunwei_store::sqlx::query("INSERT INTO organizations (id, name, kind, disabled, created_at, updated_at) VALUES ($1, '客户甲', 'customer', 0, $2, $2)")
        .bind(org)
        .bind(full.created_at)
        .execute(match &mut tx {
            Tx::Sqlite(t) => &mut **t,
            Tx::Pg(_) => unreachable!(),
        })
        .await
        .unwrap();
    for x in [&full, &bare] {
        tickets::insert(&mut tx, x).await.unwrap();
    }
    for e in [
        event(&full, true, true),
        event(&full, false, false),
        event(&full, true, false),
    ] {
        tickets::add_event(&mut tx, &e).await.unwrap();
    }
    // A timestamp in each other text form sqlx reads (naive ones are UTC).
    tx.commit().await.unwrap();
    let mut tx = raw_tx(&t.url).await;
    let odd = ticket("INC-2026-000003", org, false, None);
    tickets::insert(&mut tx, &odd).await.unwrap();
    yunwei_store::sqlx::query(
        "UPDATE tickets SET first_response_at = '2026-03-01 09:30:00', resolved_at = '2026-03-01T09:31:02.5', \
         closed_at = '2026-03-01 10:00:00.000001+08:00', rated_at = '2026-03-01T10:00:00Z' WHERE id = $1",
    )
    .bind(odd.id)
    .execute(match &mut tx {
        Tx::Sqlite(t) => &mut **t,
        Tx::Pg(_) => unreachable!(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // sqlx reads: inside a transaction (never direct); direct: on the pool and on a held Conn.
    let mut via_sqlx = db.begin_write().await.unwrap();
    let mut held = db.acquire().await.unwrap();
    for x in [&full, &bare, &odd] {
        let a = tickets::get(&mut via_sqlx, x.id).await.unwrap().unwrap();
        let b = tickets::get(db, x.id).await.unwrap().unwrap();
        assert_eq!(json(&a), json(&b), "{}", x.number);
        let c = tickets::get_by_number(&mut held, &x.number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(json(&a), json(&c));
        let v1 = tickets::get_for_view(&mut via_sqlx, &x.number)
            .await
            .unwrap()
            .unwrap();
        let v2 = tickets::get_for_view(&mut held, &x.number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(json(&v1.ticket), json(&v2.ticket));
        assert_eq!(
            (v1.has_children, v1.assignee_name),
            (v2.has_children, v2.assignee_name)
        );
        for public_only in [false, true] {
            let e1 = tickets::events(&mut via_sqlx, x.id, public_only)
                .await
                .unwrap();
            let e2 = tickets::events(&mut held, x.id, public_only).await.unwrap();
            assert_eq!(json(&e1), json(&e2));
        }
        let c1 = tickets::children(&mut via_sqlx, x.id).await.unwrap();
        let c2 = tickets::children(db, x.id).await.unwrap();
        assert_eq!(json(&c1), json(&c2));
    }
    // What was written comes back: the fully set ticket equals the one inserted.
    let got = tickets::get(db, full.id).await.unwrap().unwrap();
    assert_eq!(json(&got), json(&full));
    assert!(
        tickets::get_for_view(db, &full.number)
            .await
            .unwrap()
            .unwrap()
            .has_children
    );
    assert_eq!(tickets::events(db, full.id, true).await.unwrap().len(), 2);
    assert_eq!(tickets::events(db, full.id, false).await.unwrap().len(), 3);
    let o = tickets::get(db, odd.id).await.unwrap().unwrap();
    assert_eq!(
        o.first_response_at,
        Some(Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).unwrap())
    );
    assert_eq!(
        o.closed_at,
        Some(Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap() + Duration::microseconds(1))
    );
    assert_eq!(
        o.rated_at,
        Some(Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap())
    );
    assert!(tickets::get(db, Uuid::now_v7()).await.unwrap().is_none());
    assert!(tickets::get_by_number(db, "INC-2026-999999")
        .await
        .unwrap()
        .is_none());

    // Lists and the search's id lookup, with and without filters.
    let filters = [
        TicketFilter {
            limit: 50,
            ..Default::default()
        },
        TicketFilter {
            limit: 50,
            queue: true,
            open_only: true,
            ..Default::default()
        },
        TicketFilter {
            limit: 1,
            offset: 1,
            queue: true,
            ..Default::default()
        },
        TicketFilter {
            limit: 50,
            org_id: Some(org),
            priority: Some(2),
            ..Default::default()
        },
        TicketFilter {
            limit: 50,
            org_id: Some(Uuid::now_v7()),
            ..Default::default()
        },
        TicketFilter {
            limit: 50,
            q: Some("000002".into()),
            ..Default::default()
        },
        TicketFilter {
            limit: 50,
            before: Some(odd.id),
            status: Some("in_progress".into()),
            ..Default::default()
        },
        TicketFilter {
            limit: 50,
            kind: Some("request".into()),
            ..Default::default()
        },
    ];
    for f in &filters {
        let a = tickets::list(&mut via_sqlx, f).await.unwrap();
        let b = tickets::list(db, f).await.unwrap();
        assert_eq!(json(&a), json(&b), "{f:?}");
        let ids: Vec<Uuid> = [&full, &bare, &odd].iter().map(|t| t.id).collect();
        let mut c = tickets::list_by_ids(db, f, &ids).await.unwrap();
        let mut expect: Vec<Ticket> = [&full, &bare, &odd]
            .into_iter()
            .filter(|t| {
                f.org_id.is_none_or(|o| o == t.org_id)
                    && f.priority.is_none_or(|p| Some(p) == t.priority)
                    && f.kind.as_ref().is_none_or(|k| *k == t.kind)
                    && f.status.as_ref().is_none_or(|s| *s == t.status)
            })
            .map(|t| tickets::get(db, t.id))
            .collect::<futures_util::future::JoinAll<_>>()
            .await
            .into_iter()
            .map(|r| r.unwrap().unwrap())
            .collect();
        c.sort_by_key(|t| t.id);
        expect.sort_by_key(|t| t.id);
        assert_eq!(json(&c), json(&expect), "{f:?}");
    }
    assert_eq!(tickets::list(db, &filters[0]).await.unwrap().len(), 3);
    assert!(tickets::list(db, &filters[4]).await.unwrap().is_empty());
    drop(via_sqlx);

    // A committed write is visible to the next direct read at once.
    let mut tx = raw_tx(&t.url).await;
    let late = ticket("INC-2026-000004", org, true, None);
    tickets::insert(&mut tx, &late).await.unwrap();
    assert!(
        tickets::get(db, late.id).await.unwrap().is_none(),
        "not before its commit"
    );
    tx.commit().await.unwrap();
    assert!(tickets::get(db, late.id).await.unwrap().is_some());
}

/// A customer organization, written in `tx`; its id.
async fn customer_org(tx: &mut Tx) -> Uuid {
    let now = yunwei_store::now();
    let org = yunwei_store::orgs::Organization {
        id: Uuid::now_v7(),
        name: "客户乙".into(),
        kind: "customer".into(),
        code: None,
        contact: None,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    yunwei_store::orgs::insert_org(tx, &org).await.unwrap();
    org.id
}

/// The queue: priority first (none first: not yet prioritised), then resolution due time with
/// tickets that have none last, then creation order; same on both stores.
#[tokio::test]
async fn queue_order_puts_missing_due_times_last() {
    for t in TestDb::both().await {
        let db = &t.db;
        let mut tx = db.begin_write().await.unwrap();
        let org = customer_org(&mut tx).await;
        let now = yunwei_store::now();
        // (priority, due in hours or none, status)
        let spec: [(Option<i64>, Option<i64>, &str); 8] = [
            (Some(2), None, "assigned"),
            (Some(1), Some(5), "assigned"),
            (Some(2), Some(1), "in_progress"),
            (None, Some(3), "new"),
            (Some(1), None, "pending"),
            (Some(1), Some(2), "closed"),
            (Some(2), Some(1), "assigned"),
            (Some(1), Some(4), "in_progress"),
        ];
        let mut made = Vec::new();
        for (i, (p, due, status)) in spec.iter().enumerate() {
            let mut x = ticket(&format!("INC-2026-1{i:05}"), org, false, None);
            x.priority = *p;
            x.status = (*status).into();
            x.resolution_due_at = due.map(|h| now + Duration::hours(h));
            tickets::insert(&mut tx, &x).await.unwrap();
            made.push(x);
        }
        tx.commit().await.unwrap();
        let f = TicketFilter {
            limit: 50,
            queue: true,
            open_only: true,
            org_id: Some(org),
            ..Default::default()
        };
        let got: Vec<String> = tickets::list(db, &f)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.number)
            .collect();
        let n = |i: usize| made[i].number.clone();
        assert_eq!(
            got,
            vec![n(3), n(7), n(1), n(4), n(2), n(6), n(0)],
            "{:?}",
            t.backend
        );
        // Paging through the queue gives the same order.
        let mut paged = Vec::new();
        for off in 0..7 {
            let page = tickets::list(
                db,
                &TicketFilter {
                    limit: 2,
                    offset: off * 2,
                    ..f.clone()
                },
            )
            .await
            .unwrap();
            paged.extend(page.into_iter().map(|t| t.number));
        }
        assert_eq!(paged, got);
    }
}

/// The configuration reads a ticket creation makes before its write transaction
/// (organization, department, requester, team, catalog item, agreements, SLA policy and
/// calendar, settings) decode directly exactly as through sqlx: every optional field set and
/// every one empty.
#[tokio::test]
async fn config_reads_decode_like_sqlx() {
    use yunwei_store::catalog::{self, Agreement, Item};
    use yunwei_store::orgs::{self, Department, Organization};
    use yunwei_store::sla::{self, CalendarRow, SlaPolicy};
    use yunwei_store::teams::{self, Team};
    use yunwei_store::users::{self, User};
    use yunwei_store::{notify, settings};

    let t = TestDb::sqlite().await;
    let db: &Db = &t.db;
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap() + Duration::microseconds(7);
    let org = |code: Option<&str>| Organization {
        id: Uuid::now_v7(),
        name: format!("客户 {code:?}"),
        kind: "customer".into(),
        code: code.map(String::from),
        contact: code.map(|_| "张三 13800000000".into()),
        disabled: code.is_none(),
        created_at: at,
        updated_at: at + Duration::seconds(1),
    };
    let (o1, o2) = (org(Some("KH-01")), org(None));
    let d1 = Department {
        id: Uuid::now_v7(),
        org_id: o1.id,
        parent_id: None,
        name: "财务部".into(),
        created_at: at,
        updated_at: at,
    };
    let d2 = Department {
        id: Uuid::now_v7(),
        parent_id: Some(d1.id),
        name: "会计科".into(),
        ..d1.clone()
    };
    let user = |dept: Option<Uuid>, full: bool| User {
        id: Uuid::now_v7(),
        org_id: o1.id,
        department_id: dept,
        username: format!("u{}", Uuid::now_v7().simple()),
        display_name: "李会计".into(),
        email: full.then(|| "li@example.cn".into()),
        phone: full.then(|| "024-12345678".into()),
        role: "customer".into(),
        password_hash: full.then(|| "$argon2id$v=19$x".into()),
        disabled: !full,
        lang: "zh-CN".into(),
        created_at: at,
        updated_at: at,
    };
    let (u1, u2) = (user(Some(d2.id), true), user(None, false));
    let team = |desc: Option<&str>| Team {
        id: Uuid::now_v7(),
        name: format!("团队 {desc:?}"),
        description: desc.map(String::from),
        created_at: at,
        updated_at: at,
    };
    let (t1, t2) = (team(Some("一线")), team(None));
    let cal = CalendarRow {
        id: Uuid::now_v7(),
        name: "沈阳工作日".into(),
        spec_json: r#"{"utc_offset_minutes":480}"#.into(),
        created_at: at,
        updated_at: at,
    };
    let policy = |default: bool| SlaPolicy {
        id: Uuid::now_v7(),
        name: format!("策略 {default}"),
        calendar_id: cal.id,
        p1_response_minutes: 15,
        p1_resolution_minutes: 240,
        p2_response_minutes: 30,
        p2_resolution_minutes: 480,
        p3_response_minutes: 120,
        p3_resolution_minutes: 1440,
        p4_response_minutes: 480,
        p4_resolution_minutes: 4320,
        is_default: default,
        created_at: at,
        updated_at: at,
    };
    let (p1, p2) = (policy(true), policy(false));
    let item = |full: bool| Item {
        id: Uuid::now_v7(),
        code: format!("X-{}", Uuid::now_v7().simple()),
        clause: full.then(|| "6.2.3.1".into()),
        class: "basic".into(),
        name_zh: "桌面运维".into(),
        name_en: "Desktop".into(),
        description: full.then(|| "说明".into()),
        owner_team_id: full.then_some(t1.id),
        sla_policy_id: full.then_some(p2.id),
        active: full,
        seeded: !full,
        created_at: at,
        updated_at: at,
    };
    let (i1, i2) = (item(true), item(false));
    let agreement = |full: bool| Agreement {
        id: Uuid::now_v7(),
        org_id: o1.id,
        name: "年度运维合同".into(),
        contract_no: full.then(|| "HT-2026-001".into()),
        starts_on: full.then(|| chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()),
        ends_on: full.then(|| chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()),
        sla_policy_id: full.then_some(p2.id),
        notes: full.then(|| "含驻场".into()),
        created_at: at,
        updated_at: at,
    };
    let (a1, a2) = (agreement(true), agreement(false));

    let mut tx = db.begin_write().await.unwrap();
    for o in [&o1, &o2] {
        orgs::insert_org(&mut tx, o).await.unwrap();
    }
    for d in [&d1, &d2] {
        orgs::insert_department(&mut tx, d).await.unwrap();
    }
    for u in [&u1, &u2] {
        users::insert(&mut tx, u).await.unwrap();
    }
    for x in [&t1, &t2] {
        teams::insert(&mut tx, x).await.unwrap();
    }
    sla::insert_calendar(&mut tx, &cal).await.unwrap();
    for p in [&p1, &p2] {
        sla::insert_policy(&mut tx, p).await.unwrap();
    }
    for i in [&i1, &i2] {
        assert!(catalog::insert_if_absent(&mut tx, i).await.unwrap());
    }
    for a in [&a1, &a2] {
        catalog::insert_agreement(&mut tx, a).await.unwrap();
    }
    settings::set(&mut tx, "priority_matrix", r#"{"说明":"矩阵"}"#)
        .await
        .unwrap();
    for u in [&u1, &u2] {
        assert!(teams::add_member(&mut tx, t1.id, u.id).await.unwrap());
    }
    let pref = notify::Pref {
        user_id: u1.id,
        event_kind: "created".into(),
        channels: r#"["inapp","email"]"#.into(),
    };
    notify::set_pref(&mut tx, &pref).await.unwrap();
    let channel = |org: Option<Uuid>| notify::Channel {
        id: Uuid::now_v7(),
        kind: "wecom".into(),
        name: format!("企业微信 {org:?}"),
        config: r#"{"url":"http://127.0.0.1:9/x"}"#.into(),
        org_id: org,
        enabled: org.is_none(),
        created_at: at,
        updated_at: at,
    };
    for c in [channel(None), channel(Some(o1.id))] {
        notify::insert_channel(&mut tx, &c).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut s = db.begin_write().await.unwrap(); // sqlx inside a transaction
    for o in [&o1, &o2] {
        let d = orgs::get_org(db, o.id).await.unwrap();
        assert_eq!(json(&d), json(&orgs::get_org(&mut s, o.id).await.unwrap()));
        assert_eq!(json(&d.unwrap()), json(o));
    }
    for x in [&d1, &d2] {
        let d = orgs::get_department(db, x.id).await.unwrap();
        assert_eq!(
            json(&d),
            json(&orgs::get_department(&mut s, x.id).await.unwrap())
        );
        assert_eq!(json(&d.unwrap()), json(x));
    }
    for u in [&u1, &u2] {
        let d = users::get(db, u.id).await.unwrap().unwrap();
        let v = users::get(&mut s, u.id).await.unwrap().unwrap();
        assert_eq!(json(&d), json(&v));
        // The password hash is never serialized: compare it on its own.
        assert_eq!(d.password_hash, v.password_hash);
        assert_eq!(d.password_hash, u.password_hash);
        assert_eq!(json(&d), json(u));
    }
    for x in [&t1, &t2] {
        let d = teams::get(db, x.id).await.unwrap();
        assert_eq!(json(&d), json(&teams::get(&mut s, x.id).await.unwrap()));
        assert_eq!(json(&d.unwrap()), json(x));
    }
    for i in [&i1, &i2] {
        let d = catalog::get(db, i.id).await.unwrap();
        assert_eq!(json(&d), json(&catalog::get(&mut s, i.id).await.unwrap()));
        assert_eq!(json(&d.unwrap()), json(i));
    }
    for org in [Some(o1.id), Some(o2.id), None] {
        let d = catalog::list_agreements(db, org).await.unwrap();
        assert_eq!(
            json(&d),
            json(&catalog::list_agreements(&mut s, org).await.unwrap())
        );
    }
    let mut expect = vec![a1.clone(), a2.clone()];
    expect.sort_by_key(|a| a.id);
    assert_eq!(
        json(&catalog::list_agreements(db, Some(o1.id)).await.unwrap()),
        json(&expect)
    );
    let d = sla::get_calendar(db, cal.id).await.unwrap();
    assert_eq!(
        json(&d),
        json(&sla::get_calendar(&mut s, cal.id).await.unwrap())
    );
    assert_eq!(json(&d.unwrap()), json(&cal));
    for p in [&p1, &p2] {
        let d = sla::get_policy(db, p.id).await.unwrap();
        assert_eq!(
            json(&d),
            json(&sla::get_policy(&mut s, p.id).await.unwrap())
        );
        assert_eq!(json(&d.unwrap()), json(p));
    }
    let d = sla::default_policy(db).await.unwrap();
    assert_eq!(json(&d), json(&sla::default_policy(&mut s).await.unwrap()));
    assert_eq!(d.unwrap().id, p1.id);
    assert_eq!(
        settings::get(db, "priority_matrix")
            .await
            .unwrap()
            .as_deref(),
        Some(r#"{"说明":"矩阵"}"#)
    );
    assert_eq!(
        settings::get(db, "priority_matrix").await.unwrap(),
        settings::get(&mut s, "priority_matrix").await.unwrap()
    );
    for team in [t1.id, t2.id] {
        let d = teams::members(db, team).await.unwrap();
        assert_eq!(d, teams::members(&mut s, team).await.unwrap());
    }
    let mut both = vec![u1.id, u2.id];
    both.sort();
    assert_eq!(teams::members(db, t1.id).await.unwrap(), both);
    for u in [u1.id, u2.id] {
        let d = notify::prefs(db, u).await.unwrap();
        assert_eq!(json(&d), json(&notify::prefs(&mut s, u).await.unwrap()));
    }
    assert_eq!(
        json(&notify::prefs(db, u1.id).await.unwrap()),
        json(&[&pref])
    );
    let d = notify::list_channels(db).await.unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(
        json(&d),
        json(&notify::list_channels(&mut s).await.unwrap())
    );

    // Tx::committed: in a group-committed transaction on a SQLite file, the committed state
    // (not what this transaction wrote); on PostgreSQL the transaction itself.
    settings::set(&mut s, "priority_matrix", "{}")
        .await
        .unwrap();
    assert_eq!(
        settings::get(s.committed(db), "priority_matrix")
            .await
            .unwrap()
            .as_deref(),
        Some(r#"{"说明":"矩阵"}"#)
    );
    drop(s);

    // Missing rows are None both ways.
    let none = Uuid::now_v7();
    assert!(orgs::get_org(db, none).await.unwrap().is_none());
    assert!(users::get(db, none).await.unwrap().is_none());
    assert!(teams::get(db, none).await.unwrap().is_none());
    assert!(catalog::get(db, none).await.unwrap().is_none());
    assert!(sla::get_policy(db, none).await.unwrap().is_none());
    assert!(settings::get(db, "no such key").await.unwrap().is_none());
}

/// `Tx::committed` reads what was committed on a SQLite file (off the writer's connection) and
/// through the transaction itself on PostgreSQL.
#[tokio::test]
async fn committed_reads_per_store() {
    use yunwei_store::settings;
    for t in TestDb::both().await {
        let db = &t.db;
        let mut tx = db.begin_write().await.unwrap();
        settings::set(&mut tx, "k", "old").await.unwrap();
        tx.commit().await.unwrap();
        let mut tx = db.begin_write().await.unwrap();
        settings::set(&mut tx, "k", "new").await.unwrap();
        let seen = settings::get(tx.committed(db), "k").await.unwrap();
        let expect = if db.direct_reads() { "old" } else { "new" };
        assert_eq!(seen.as_deref(), Some(expect));
        assert_eq!(db.direct_reads(), matches!(db, Db::Sqlite(_)));
        tx.commit().await.unwrap();
        assert_eq!(
            settings::get(db, "k").await.unwrap().as_deref(),
            Some("new")
        );
    }
}

/// A new ticket, its number, its first event and its jobs in one call (one statement text on
/// SQLite): all written, read back equal; a failing event (its id taken) leaves neither
/// ticket nor jobs nor a number taken once the transaction is dropped, on both stores. The
/// second creation runs on what the writer knows of the counter (SQLite), the first reads it.
#[tokio::test]
async fn a_ticket_its_first_event_and_its_jobs_are_written_together() {
    for t in TestDb::both().await {
        let db = &t.db;
        let mut tx = db.begin_write().await.unwrap();
        let org = customer_org(&mut tx).await;
        // Without the references to users, teams and departments this test does not create.
        let mut a = ticket("", org, false, None);
        let ev = event(&a, true, false);
        let now = yunwei_store::now();
        let jobs = [
            ("sla_check", "{\"n\":1}", now),
            ("sla_check", "{\"n\":2}", now + Duration::hours(4)),
        ];
        tickets::insert_new(&mut tx, &mut a, Kind::Incident, 2026, &ev, &jobs, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(a.number, "INC-2026-000001", "{:?}", t.backend);
        let got = tickets::get(db, a.id).await.unwrap().unwrap();
        assert_eq!(json(&got), json(&a), "{:?}", t.backend);
        let events = tickets::events(db, a.id, false).await.unwrap();
        assert_eq!(events.len(), 1, "{:?}", t.backend);
        assert_eq!(
            serde_json::to_value(&events[0]).unwrap(),
            serde_json::to_value(&ev).unwrap()
        );

        let mut b = ticket("", org, false, None);
        let mut clash = event(&b, true, false);
        clash.id = ev.id;
        let mut tx = db.begin_write().await.unwrap();
        assert!(tickets::insert_new(
            &mut tx,
            &mut b,
            Kind::Incident,
            2026,
            &clash,
            &jobs[..1],
            now
        )
        .await
        .is_err());
        drop(tx);
        assert!(
            tickets::get(db, b.id).await.unwrap().is_none(),
            "{:?}",
            t.backend
        );
        let pending = yunwei_store::jobs::pending(db).await.unwrap();
        let mut payloads: Vec<&str> = pending.iter().map(|j| j.payload.as_str()).collect();
        payloads.sort();
        assert_eq!(payloads, ["{\"n\":1}", "{\"n\":2}"], "{:?}", t.backend);

        // The failed creation took no number.
        let mut c = ticket("", org, false, None);
        let ce = event(&c, true, false);
        let mut tx = db.begin_write().await.unwrap();
        tickets::insert_new(&mut tx, &mut c, Kind::Incident, 2026, &ce, &[], now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(c.number, "INC-2026-000002", "{:?}", t.backend);
        assert!(tickets::get(db, c.id).await.unwrap().is_some());
    }
}

/// An audit entry of a ticket's creation.
fn created_entry(number: &str) -> yunwei_store::audit::NewEntry {
    yunwei_store::audit::NewEntry {
        actor_name: "tester".into(),
        action: "create".into(),
        entity: "ticket".into(),
        entity_id: Some(number.into()),
        ..Default::default()
    }
}

/// A new ticket of `kind` and its audit entry, in a write transaction left open; returns it
/// and the ticket's number.
async fn create_audited(db: &Db, org: Uuid, kind: Kind) -> (Tx, String) {
    let now = yunwei_store::now();
    let mut x = ticket("", org, false, None);
    let xe = event(&x, true, false);
    let mut tx = db.begin_write().await.unwrap();
    tickets::insert_new(&mut tx, &mut x, kind, 2026, &xe, &[], now)
        .await
        .unwrap();
    yunwei_store::audit::append(&mut tx, created_entry(&x.number), now)
        .await
        .unwrap();
    (tx, x.number)
}

/// What the SQLite writer knows of a ticket counter and of the audit head goes stale when
/// another connection moves them (another process: here a second pool on the file, outside
/// the write gate): the next creation and the next audit entry notice, write nothing on the
/// stale values, and take fresh ones; numbers stay unique and consecutive, the chain verifies.
#[tokio::test]
async fn a_writer_notices_a_counter_and_an_audit_head_moved_by_another_connection() {
    use yunwei_store::audit;
    let t = TestDb::sqlite().await;
    let db = &t.db;
    let now = yunwei_store::now();
    let mut tx = db.begin_write().await.unwrap();
    let org = customer_org(&mut tx).await;
    tx.commit().await.unwrap();
    let mut numbers = Vec::new();
    for round in 0..3 {
        for _ in 0..2 {
            let (tx, number) = create_audited(db, org, Kind::Request).await;
            tx.commit().await.unwrap();
            numbers.push(number);
        }
        // Another connection takes a number and appends to the audit log.
        let mut other = raw_tx(&t.url).await;
        let taken = tickets::next_number(&mut other, "REQ", 2026).await.unwrap();
        audit::append(&mut other, created_entry(&format!("other {round}")), now)
            .await
            .unwrap();
        other.commit().await.unwrap();
        numbers.push(format!("REQ-2026-{taken:06}"));
    }
    let expected: Vec<String> = (1..=9).map(|n| format!("REQ-2026-{n:06}")).collect();
    assert_eq!(numbers, expected);
    let v = audit::verify(db).await.unwrap();
    assert_eq!(v.fault, None);
    assert_eq!(v.entries, 9);
}

/// A writer that rolls back (its savepoint undone) leaves the batch's other members and what
/// the next writer knows intact: numbers and the audit chain carry on from what was committed.
#[tokio::test]
async fn a_rolled_back_writer_leaves_numbers_and_the_chain_whole() {
    use yunwei_store::audit;
    for t in TestDb::both().await {
        let db = &t.db;
        let mut tx = db.begin_write().await.unwrap();
        let org = customer_org(&mut tx).await;
        tx.commit().await.unwrap();
        let mut kept = Vec::new();
        for i in 0..6 {
            let (tx, number) = create_audited(db, org, Kind::Complaint).await;
            if i % 2 == 1 {
                drop(tx);
                // The undo runs on the runtime; the next writer queues behind it.
                continue;
            }
            tx.commit().await.unwrap();
            kept.push(number);
        }
        assert_eq!(
            kept,
            ["CMP-2026-000001", "CMP-2026-000002", "CMP-2026-000003"],
            "{:?}",
            t.backend
        );
        let v = audit::verify(db).await.unwrap();
        assert_eq!((v.entries, v.fault), (3, None), "{:?}", t.backend);
    }
}
