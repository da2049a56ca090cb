//! The job queue on SQLite and PostgreSQL: claims are exclusive, leases expire, a node that
//! lost its lease cannot finish the job.

use std::collections::HashSet;

use chrono::Duration;
use yunwei_store::jobs;
use yunwei_testkit::TestDb;

async fn enqueue_many(db: &yunwei_store::Db, n: usize, at: chrono::DateTime<chrono::Utc>) {
    let mut tx = db.begin_write().await.unwrap();
    for i in 0..n {
        jobs::enqueue(&mut tx, "test", &format!("{{\"n\":{i}}}"), at, at)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn concurrent_claimers_never_share_a_job() {
    for t in TestDb::both().await {
        let now = yunwei_store::now();
        enqueue_many(&t.db, 60, now - Duration::seconds(1)).await;
        let mut tasks = Vec::new();
        for node in 0..4 {
            let db = t.db.clone();
            tasks.push(tokio::spawn(async move {
                let me = format!("node-{node}");
                let mut got = Vec::new();
                loop {
                    let batch = jobs::claim(&db, &me, now, Duration::minutes(5), 3)
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        break;
                    }
                    for j in batch {
                        assert_eq!(j.locked_by.as_deref(), Some(me.as_str()));
                        assert_eq!(j.attempts, 1);
                        got.push(j.id);
                    }
                    tokio::task::yield_now().await;
                }
                (me, got)
            }));
        }
        let mut seen = HashSet::new();
        let mut total = 0;
        for task in tasks {
            let (_, got) = task.await.unwrap();
            total += got.len();
            for id in got {
                assert!(seen.insert(id), "{:?}: job {id} claimed twice", t.backend);
            }
        }
        assert_eq!(total, 60, "{:?}", t.backend);
        // Everything is held: nothing more to claim until the leases expire.
        assert!(jobs::claim(&t.db, "late", now, Duration::minutes(5), 100)
            .await
            .unwrap()
            .is_empty());
    }
}

#[tokio::test]
async fn only_due_jobs_are_claimed_oldest_first() {
    for t in TestDb::both().await {
        let now = yunwei_store::now();
        let mut tx = t.db.begin_write().await.unwrap();
        let later = jobs::enqueue(&mut tx, "k", "{}", now + Duration::hours(1), now)
            .await
            .unwrap();
        let second = jobs::enqueue(&mut tx, "k", "{}", now - Duration::minutes(1), now)
            .await
            .unwrap();
        let first = jobs::enqueue(&mut tx, "k", "{}", now - Duration::minutes(2), now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let got = jobs::claim(&t.db, "a", now, Duration::minutes(1), 10)
            .await
            .unwrap();
        assert_eq!(
            got.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![first, second],
            "{:?}",
            t.backend
        );
        assert!(jobs::complete(&t.db, first, "a", now).await.unwrap());
        // Done is done: not again, not claimable.
        assert!(!jobs::complete(&t.db, first, "a", now).await.unwrap());
        let j = jobs::get(&t.db, first).await.unwrap().unwrap();
        assert_eq!(j.done_at, Some(now));
        let pending: Vec<_> = jobs::pending(&t.db)
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(pending, vec![second, later]);
        // The later job becomes due.
        let got = jobs::claim(
            &t.db,
            "a",
            now + Duration::hours(2),
            Duration::minutes(1),
            10,
        )
        .await
        .unwrap();
        assert_eq!(
            got.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![second, later],
            "the expired lease of `second` and the now-due `later`"
        );
    }
}

#[tokio::test]
async fn expired_leases_are_reclaimed_and_the_old_holder_is_refused() {
    for t in TestDb::both().await {
        let now = yunwei_store::now();
        enqueue_many(&t.db, 1, now).await;
        let lease = Duration::seconds(30);
        let a = jobs::claim(&t.db, "node-a", now, lease, 5).await.unwrap();
        assert_eq!(a.len(), 1);
        let id = a[0].id;
        // Within the lease nobody else gets it, even exactly at its end.
        assert!(jobs::claim(&t.db, "node-b", now + lease, lease, 5)
            .await
            .unwrap()
            .is_empty());
        // Node A stalls; after the lease node B takes the job over.
        let later = now + lease + Duration::seconds(1);
        let b = jobs::claim(&t.db, "node-b", later, lease, 5).await.unwrap();
        assert_eq!(b.len(), 1, "{:?}", t.backend);
        assert_eq!(b[0].id, id);
        assert_eq!(b[0].attempts, 2);
        // A comes back: it may neither complete nor fail the job.
        assert!(!jobs::complete(&t.db, id, "node-a", later).await.unwrap());
        assert!(!jobs::fail(&t.db, &a[0], "node-a", later, "x")
            .await
            .unwrap());
        // Completing inside a transaction works like that too.
        let mut tx = t.db.begin_write().await.unwrap();
        assert!(!jobs::complete(&mut tx, id, "node-a", later).await.unwrap());
        drop(tx);
        assert!(jobs::complete(&t.db, id, "node-b", later).await.unwrap());
        assert!(jobs::get(&t.db, id)
            .await
            .unwrap()
            .unwrap()
            .done_at
            .is_some());
    }
}

#[tokio::test]
async fn failures_back_off_and_give_up() {
    for t in TestDb::both().await {
        let now = yunwei_store::now();
        enqueue_many(&t.db, 1, now).await;
        let j = jobs::claim(&t.db, "n", now, Duration::minutes(1), 1)
            .await
            .unwrap()
            .remove(0);
        assert!(jobs::fail(&t.db, &j, "n", now, "boom").await.unwrap());
        let after = jobs::get(&t.db, j.id).await.unwrap().unwrap();
        assert_eq!(after.last_error.as_deref(), Some("boom"));
        assert_eq!(after.run_at, now + jobs::backoff(1));
        assert!(after.locked_by.is_none() && after.done_at.is_none());
        // Not before the back-off.
        assert!(jobs::claim(&t.db, "n", now, Duration::minutes(1), 1)
            .await
            .unwrap()
            .is_empty());
        // Keep failing until it is given up.
        let mut at = after.run_at;
        loop {
            let mut got = jobs::claim(&t.db, "n", at, Duration::minutes(1), 1)
                .await
                .unwrap();
            if got.is_empty() {
                break;
            }
            let j = got.remove(0);
            assert!(jobs::fail(&t.db, &j, "n", at, "again").await.unwrap());
            at += Duration::hours(2);
        }
        let end = jobs::get(&t.db, j.id).await.unwrap().unwrap();
        assert_eq!(end.attempts, jobs::MAX_ATTEMPTS, "{:?}", t.backend);
        assert!(end.done_at.is_some());
        assert_eq!(end.last_error.as_deref(), Some("again"));
    }
    assert_eq!(jobs::backoff(1), Duration::seconds(30));
    assert_eq!(jobs::backoff(3), Duration::minutes(2));
    assert_eq!(jobs::backoff(100), Duration::hours(1));
}

#[tokio::test]
async fn pending_unclaimed_jobs_can_be_rescheduled() {
    for t in TestDb::both().await {
        let now = yunwei_store::now();
        let mut tx = t.db.begin_write().await.unwrap();
        jobs::enqueue(&mut tx, "sla_check", "{\"t\":1}", now, now)
            .await
            .unwrap();
        jobs::enqueue(&mut tx, "sla_check", "{\"t\":2}", now, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let held = jobs::claim(&t.db, "n", now, Duration::minutes(1), 1)
            .await
            .unwrap();
        assert_eq!(held.len(), 1);
        let mut tx = t.db.begin_write().await.unwrap();
        // The held one stays; the free one with the same payload goes.
        let held_payload = held[0].payload.clone();
        assert_eq!(
            jobs::cancel_pending(&mut tx, "sla_check", &held_payload)
                .await
                .unwrap(),
            0
        );
        let other = if held_payload.contains('1') {
            "{\"t\":2}"
        } else {
            "{\"t\":1}"
        };
        assert_eq!(
            jobs::cancel_pending(&mut tx, "sla_check", other)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            jobs::purge_done(&mut tx, now + Duration::days(1))
                .await
                .unwrap(),
            0
        );
        tx.commit().await.unwrap();
        assert!(jobs::complete(&t.db, held[0].id, "n", now).await.unwrap());
        let mut tx = t.db.begin_write().await.unwrap();
        assert_eq!(
            jobs::purge_done(&mut tx, now + Duration::days(1))
                .await
                .unwrap(),
            1
        );
        tx.commit().await.unwrap();
        assert!(jobs::pending(&t.db).await.unwrap().is_empty());
    }
}
