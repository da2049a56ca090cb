//! The notification tables on SQLite and PostgreSQL: outbox claims are exclusive and leased,
//! outcomes are recorded only by the lease holder, inbox and preferences round-trip.

use chrono::Duration;
use uuid::Uuid;
use yunwei_store::notify::{self, Channel, InboxItem, OutboxFilter, OutboxRow, Outcome, Pref};
use yunwei_store::orgs::{self, Organization};
use yunwei_store::users::{self, User};
use yunwei_store::Db;
use yunwei_testkit::TestDb;

async fn seed(db: &Db) -> (Organization, User, Channel) {
    let now = yunwei_store::now();
    let o = Organization {
        id: Uuid::now_v7(),
        name: "服务方".into(),
        kind: "provider".into(),
        code: None,
        contact: None,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    let u = User {
        id: Uuid::now_v7(),
        org_id: o.id,
        department_id: None,
        username: "zuoxi".into(),
        display_name: "坐席".into(),
        email: Some("zuoxi@example.cn".into()),
        phone: None,
        role: "agent".into(),
        password_hash: None,
        disabled: false,
        lang: "zh-CN".into(),
        created_at: now,
        updated_at: now,
    };
    let c = Channel {
        id: Uuid::now_v7(),
        kind: "wecom".into(),
        name: "值班群".into(),
        config: r#"{"url":"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}"#.into(),
        org_id: None,
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    let mut tx = db.begin_write().await.unwrap();
    orgs::insert_org(&mut tx, &o).await.unwrap();
    users::insert(&mut tx, &u).await.unwrap();
    notify::insert_channel(&mut tx, &c).await.unwrap();
    tx.commit().await.unwrap();
    (o, u, c)
}

fn row(channel: Uuid, at: chrono::DateTime<chrono::Utc>) -> OutboxRow {
    OutboxRow {
        id: Uuid::now_v7(),
        channel_id: Some(channel),
        recipient_user_id: None,
        kind: "wecom".into(),
        payload: "{}".into(),
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: at,
        locked_by: None,
        locked_until: None,
        last_error: None,
        created_at: at,
        sent_at: None,
    }
}

#[tokio::test]
async fn outbox_claims_are_exclusive_and_leased() {
    for t in TestDb::both().await {
        let db = &t.db;
        let (_, _, ch) = seed(db).await;
        let now = yunwei_store::now();
        let mut tx = db.begin_write().await.unwrap();
        for _ in 0..30 {
            notify::insert_outbox(&mut tx, &row(ch.id, now))
                .await
                .unwrap();
        }
        // One row not yet due.
        let later = row(ch.id, now + Duration::minutes(5));
        notify::insert_outbox(&mut tx, &later).await.unwrap();
        tx.commit().await.unwrap();

        // Two nodes claim at once: together they get every due row, never the same one.
        let lease = now + Duration::minutes(2);
        let (a, b) = tokio::join!(
            notify::claim_outbox(db, "node-a", now, lease, 20),
            notify::claim_outbox(db, "node-b", now, lease, 20)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.len() + b.len(), 30, "{:?}", db.backend());
        let mut ids: Vec<Uuid> = a.iter().chain(&b).map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 30);
        assert!(a
            .iter()
            .all(|r| r.attempts == 1 && r.locked_by.as_deref() == Some("node-a")));
        assert!(!ids.contains(&later.id));
        assert!(notify::claim_outbox(db, "node-c", now, lease, 20)
            .await
            .unwrap()
            .is_empty());

        // Only the holder records the outcome.
        let r = &a[0];
        assert!(
            !notify::finish_outbox(db, r.id, "node-b", now, &Outcome::Sent)
                .await
                .unwrap()
        );
        let retry_at = now + Duration::seconds(30);
        assert!(notify::finish_outbox(
            db,
            r.id,
            "node-a",
            now,
            &Outcome::Retry {
                at: retry_at,
                error: "HTTP 500".into()
            }
        )
        .await
        .unwrap());
        let got = notify::get_outbox(db, r.id).await.unwrap().unwrap();
        assert_eq!(
            (got.status.as_str(), got.next_attempt_at, got.locked_by),
            ("failed", retry_at, None)
        );
        assert_eq!(got.last_error.as_deref(), Some("HTTP 500"));

        // A node that stalls past its lease loses its rows to another.
        let stalled = &b[0];
        let after = lease + Duration::seconds(1);
        let taken = notify::claim_outbox(db, "node-c", after, after + Duration::minutes(2), 100)
            .await
            .unwrap();
        assert!(taken.iter().any(|x| x.id == stalled.id && x.attempts == 2));
        assert!(taken.iter().any(|x| x.id == r.id), "the retry is due");
        assert!(
            !notify::finish_outbox(db, stalled.id, "node-b", after, &Outcome::Sent)
                .await
                .unwrap()
        );
        assert!(
            notify::finish_outbox(db, stalled.id, "node-c", after, &Outcome::Sent)
                .await
                .unwrap()
        );
        let sent = notify::get_outbox(db, stalled.id).await.unwrap().unwrap();
        assert_eq!((sent.status.as_str(), sent.sent_at), ("sent", Some(after)));
        assert!(notify::finish_outbox(
            db,
            r.id,
            "node-c",
            after,
            &Outcome::Dead {
                error: "gone".into()
            }
        )
        .await
        .unwrap());
        let dead = notify::list_outbox(
            db,
            &OutboxFilter {
                status: Some("dead".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(dead.len(), 1);

        // Deleting the channel keeps its rows, without a channel.
        let mut tx = db.begin_write().await.unwrap();
        assert!(notify::delete_channel(&mut tx, ch.id).await.unwrap());
        tx.commit().await.unwrap();
        assert_eq!(
            notify::get_outbox(db, later.id)
                .await
                .unwrap()
                .unwrap()
                .channel_id,
            None
        );

        // Old sent and dead rows are purged.
        let mut tx = db.begin_write().await.unwrap();
        let n = notify::purge_outbox(
            &mut tx,
            after + Duration::seconds(1),
            now + Duration::days(1),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(n, 2);
    }
}

#[tokio::test]
async fn inbox_and_preferences_round_trip() {
    for t in TestDb::both().await {
        let db = &t.db;
        let (o, u, _) = seed(db).await;
        let now = yunwei_store::now();
        let mut tx = db.begin_write().await.unwrap();
        let mut ids = Vec::new();
        for i in 0..3 {
            let item = InboxItem {
                id: Uuid::now_v7(),
                user_id: u.id,
                org_id: Some(o.id),
                ticket_number: Some(format!("INC-2026-00000{i}")),
                title: format!("标题{i}"),
                body: "正文".into(),
                read_at: None,
                created_at: now,
            };
            ids.push(item.id);
            notify::insert_inbox(&mut tx, &item).await.unwrap();
        }
        notify::set_pref(
            &mut tx,
            &Pref {
                user_id: u.id,
                event_kind: "reply".into(),
                channels: r#"["inapp"]"#.into(),
            },
        )
        .await
        .unwrap();
        notify::set_pref(
            &mut tx,
            &Pref {
                user_id: u.id,
                event_kind: "reply".into(),
                channels: r#"["email"]"#.into(),
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();

        let all = notify::list_inbox(db, u.id, false, None, 10).await.unwrap();
        assert_eq!(all.iter().map(|i| i.id).collect::<Vec<_>>(), {
            let mut v = ids.clone();
            v.reverse();
            v
        });
        let page = notify::list_inbox(db, u.id, false, Some(ids[2]), 10)
            .await
            .unwrap();
        assert_eq!(page.len(), 2);
        let mut tx = db.begin_write().await.unwrap();
        assert!(notify::mark_read(&mut tx, u.id, ids[0], now).await.unwrap());
        assert!(!notify::mark_read(&mut tx, Uuid::now_v7(), ids[1], now)
            .await
            .unwrap());
        assert!(
            notify::mark_read(&mut tx, u.id, ids[0], now + Duration::hours(1))
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        assert_eq!(notify::unread_count(db, u.id).await.unwrap(), 2);
        let unread = notify::list_inbox(db, u.id, true, None, 10).await.unwrap();
        assert!(unread.iter().all(|i| i.id != ids[0]));
        let read = all.iter().find(|i| i.id == ids[0]).unwrap().id;
        let again = notify::list_inbox(db, u.id, false, None, 10).await.unwrap();
        assert_eq!(
            again.iter().find(|i| i.id == read).unwrap().read_at,
            Some(now),
            "reading twice keeps the first time"
        );

        let prefs = notify::prefs(db, u.id).await.unwrap();
        assert_eq!(prefs.len(), 1);
        assert_eq!(prefs[0].channels, r#"["email"]"#);
    }
}
