//! One conformance suite, run against SQLite and PostgreSQL (when YUNWEI_TEST_DATABASE_URL is
//! set; required under CI=true).

use chrono::Duration;
use uuid::Uuid;
use yunwei_store::audit::{self, NewEntry};
use yunwei_store::orgs::{self, Department, Organization};
use yunwei_store::users::{self, User, UserFilter};
use yunwei_store::{copy, on_db, sessions, throttle, tokens, Db, StoreError};
use yunwei_testkit::{Backend, TestDb};

fn org(name: &str, kind: &str) -> Organization {
    let now = yunwei_store::now();
    Organization {
        id: Uuid::now_v7(),
        name: name.into(),
        kind: kind.into(),
        code: None,
        contact: Some("024-1234".into()),
        disabled: false,
        created_at: now,
        updated_at: now,
    }
}

fn user(org_id: Uuid, name: &str, role: &str) -> User {
    let now = yunwei_store::now();
    User {
        id: Uuid::now_v7(),
        org_id,
        department_id: None,
        username: name.into(),
        display_name: format!("用户{name}"),
        email: None,
        phone: None,
        role: role.into(),
        password_hash: Some("x".into()),
        disabled: false,
        lang: "zh-CN".into(),
        created_at: now,
        updated_at: now,
    }
}

fn entry(action: &str) -> NewEntry {
    NewEntry {
        actor_name: "tester".into(),
        action: action.into(),
        entity: "thing".into(),
        entity_id: Some("1".into()),
        after: Some(serde_json::json!({"名称": "值", "n": 1.5})),
        ip: Some("127.0.0.1".into()),
        ..Default::default()
    }
}

/// Seed a small installation; returns (provider, customer).
async fn seed(db: &Db) -> (Organization, Organization) {
    let p = org("服务方", "provider");
    let c = org("客户甲", "customer");
    let mut tx = db.begin_write().await.unwrap();
    orgs::insert_org(&mut tx, &p).await.unwrap();
    orgs::insert_org(&mut tx, &c).await.unwrap();
    let parent = Department {
        id: Uuid::now_v7(),
        org_id: c.id,
        parent_id: None,
        name: "信息中心".into(),
        created_at: p.created_at,
        updated_at: p.created_at,
    };
    let child = Department {
        id: Uuid::now_v7(),
        org_id: c.id,
        parent_id: Some(parent.id),
        name: "运维科".into(),
        created_at: p.created_at,
        updated_at: p.created_at,
    };
    orgs::insert_department(&mut tx, &parent).await.unwrap();
    orgs::insert_department(&mut tx, &child).await.unwrap();
    // Re-parent the parent under a later department: a copy must cope with forward references.
    let mut later = Department {
        id: Uuid::now_v7(),
        org_id: c.id,
        parent_id: None,
        name: "办公室".into(),
        created_at: p.created_at,
        updated_at: p.created_at,
    };
    orgs::insert_department(&mut tx, &later).await.unwrap();
    later.parent_id = None;
    let mut parent2 = parent.clone();
    parent2.parent_id = Some(later.id);
    orgs::update_department(&mut tx, &parent2).await.unwrap();
    users::insert(&mut tx, &user(p.id, "admin", "admin"))
        .await
        .unwrap();
    users::insert(&mut tx, &user(c.id, "kehu", "customer"))
        .await
        .unwrap();
    for a in ["create", "update", "login"] {
        audit::append(&mut tx, entry(a), yunwei_store::now())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    (p, c)
}

#[tokio::test]
async fn migrations_are_one_to_one() {
    let (s, p) = yunwei_store::migration_names();
    assert_eq!(s, p, "SQLite and PostgreSQL migrations must pair up");
    assert!(!s.is_empty());
}

#[tokio::test]
async fn copy_covers_every_table() {
    for t in TestDb::both().await {
        assert_eq!(
            copy::unknown_tables(&t.db).await.unwrap(),
            Vec::<String>::new(),
            "{:?}",
            t.backend
        );
    }
}

#[tokio::test]
async fn records_round_trip_and_constraints_hold() {
    for t in TestDb::both().await {
        let db = &t.db;
        let (p, c) = seed(db).await;
        let got = orgs::get_org(db, c.id).await.unwrap().unwrap();
        assert_eq!(got.name, "客户甲");
        assert_eq!(
            got.created_at, c.created_at,
            "{:?}: timestamps kept to the microsecond",
            t.backend
        );
        assert_eq!(orgs::provider_org(db).await.unwrap().unwrap().id, p.id);
        assert_eq!(orgs::list_orgs(db, Some(c.id)).await.unwrap().len(), 1);
        assert_eq!(orgs::list_orgs(db, None).await.unwrap()[0].kind, "provider");

        // Unique constraints surface as StoreError::Unique.
        let mut tx = db.begin_write().await.unwrap();
        let e = users::insert(&mut tx, &user(p.id, "admin", "agent"))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Unique(_)), "{:?}: {e:?}", t.backend);
        drop(tx);
        let mut tx = db.begin_write().await.unwrap();
        let e = orgs::insert_org(&mut tx, &org("第二服务方", "provider"))
            .await
            .unwrap_err();
        assert!(
            matches!(e, StoreError::Unique(_)),
            "only one provider: {e:?}"
        );
        drop(tx);
        // Foreign keys hold on both.
        let mut tx = db.begin_write().await.unwrap();
        let e = users::insert(&mut tx, &user(Uuid::now_v7(), "ghost", "agent"))
            .await
            .unwrap_err();
        assert!(
            matches!(e, StoreError::ForeignKey(_)),
            "{:?}: {e:?}",
            t.backend
        );
        drop(tx);

        // Listing: filters, case-insensitive search, LIKE wildcards inert, cursor paging.
        let f = UserFilter {
            q: Some("%".into()),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(
            users::list(db, &f).await.unwrap().len(),
            2,
            "a bare % matches everything only as a no-op"
        );
        let f = UserFilter {
            q: Some("KEHU".into()),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(users::list(db, &f).await.unwrap().len(), 1);
        let first = users::list(
            db,
            &UserFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let second = users::list(
            db,
            &UserFilter {
                limit: 1,
                after: Some(first[0].id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_ne!(first[0].id, second[0].id);
        assert!(first[0].id < second[0].id);
    }
}

#[tokio::test]
async fn audit_chain_verifies_and_detects_tampering() {
    for t in TestDb::both().await {
        let db = &t.db;
        seed(db).await;
        let v = audit::verify(db).await.unwrap();
        assert_eq!((v.entries, v.fault.clone()), (3, None), "{:?}", t.backend);

        // The log refuses UPDATE and DELETE.
        let r = on_db!(db, |p| sqlx::query(
            "UPDATE audit_log SET actor_name = 'x' WHERE seq = 1"
        )
        .execute(p)
        .await
        .map(|_| ()));
        assert!(r.is_err(), "{:?}: update must be refused", t.backend);
        let r = on_db!(db, |p| sqlx::query("DELETE FROM audit_log WHERE seq = 1")
            .execute(p)
            .await
            .map(|_| ()));
        assert!(r.is_err(), "{:?}: delete must be refused", t.backend);

        // Someone with database access removes the guard and alters entry 2.
        match db {
            Db::Sqlite(p) => {
                sqlx::query("DROP TRIGGER audit_log_no_update")
                    .execute(p)
                    .await
                    .unwrap();
            }
            Db::Pg(p) => {
                sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER USER")
                    .execute(p)
                    .await
                    .unwrap();
            }
        }
        on_db!(db, |p| sqlx::query(
            "UPDATE audit_log SET after_json = '{}' WHERE seq = 2"
        )
        .execute(p)
        .await
        .map(|_| ()))
        .unwrap();
        let v = audit::verify(db).await.unwrap();
        assert_eq!(
            v.fault,
            Some(yunwei_domain::audit::ChainFault::HashMismatch { seq: 2 }),
            "{:?}",
            t.backend
        );
    }
}

#[tokio::test]
async fn audit_detects_removed_entries() {
    for t in TestDb::both().await {
        let db = &t.db;
        seed(db).await;
        match db {
            Db::Sqlite(p) => {
                sqlx::query("DROP TRIGGER audit_log_no_delete")
                    .execute(p)
                    .await
                    .unwrap();
            }
            Db::Pg(p) => {
                sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER USER")
                    .execute(p)
                    .await
                    .unwrap();
            }
        }
        on_db!(db, |p| sqlx::query("DELETE FROM audit_log WHERE seq = 3")
            .execute(p)
            .await
            .map(|_| ()))
        .unwrap();
        let v = audit::verify(db).await.unwrap();
        assert!(
            matches!(
                v.fault,
                Some(yunwei_domain::audit::ChainFault::Truncated {
                    expected_last: 3,
                    found_last: 2
                })
            ),
            "{:?}: {:?}",
            t.backend,
            v.fault
        );
        on_db!(db, |p| sqlx::query("DELETE FROM audit_log WHERE seq = 1")
            .execute(p)
            .await
            .map(|_| ()))
        .unwrap();
        let v = audit::verify(db).await.unwrap();
        assert!(
            matches!(
                v.fault,
                Some(yunwei_domain::audit::ChainFault::Gap {
                    expected: 1,
                    found: 2
                })
            ),
            "{:?}: {:?}",
            t.backend,
            v.fault
        );
    }
}

#[tokio::test]
async fn concurrent_appends_keep_one_chain() {
    for t in TestDb::both().await {
        let db = t.db.clone();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..10 {
                    let mut tx = db.begin_write().await.unwrap();
                    audit::append(&mut tx, entry(&format!("w{i}")), yunwei_store::now())
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let v = audit::verify(&db).await.unwrap();
        assert_eq!((v.entries, v.fault), (80, None), "{:?}", t.backend);
    }
}

#[tokio::test]
async fn sessions_tokens_and_throttle() {
    for t in TestDb::both().await {
        let db = &t.db;
        let (p, _) = seed(db).await;
        let u = users::get_by_username(db, "admin").await.unwrap().unwrap();
        let now = yunwei_store::now();
        let s = sessions::Session {
            id_hash: "h1".into(),
            user_id: u.id,
            csrf_token: "c".into(),
            ip: None,
            created_at: now,
            expires_at: now + Duration::hours(1),
            last_seen_at: now,
        };
        let mut tx = db.begin_write().await.unwrap();
        sessions::insert(&mut tx, &s).await.unwrap();
        tx.commit().await.unwrap();
        assert!(sessions::get_live(db, "h1", now).await.unwrap().is_some());
        assert!(
            sessions::get_live(db, "h1", now + Duration::hours(2))
                .await
                .unwrap()
                .is_none(),
            "expired"
        );
        // Disabling the user ends the session at once.
        let mut disabled = u.clone();
        disabled.disabled = true;
        let mut tx = db.begin_write().await.unwrap();
        users::update(&mut tx, &disabled).await.unwrap();
        tx.commit().await.unwrap();
        assert!(
            sessions::get_live(db, "h1", now).await.unwrap().is_none(),
            "{:?}",
            t.backend
        );

        // Tokens: live until revoked or expired.
        let tok = tokens::ApiToken {
            id: Uuid::now_v7(),
            user_id: users::get_by_username(db, "kehu")
                .await
                .unwrap()
                .unwrap()
                .id,
            name: "t".into(),
            token_hash: "th".into(),
            prefix: "yw_x".into(),
            created_at: now,
            expires_at: Some(now + Duration::days(1)),
            revoked_at: None,
            last_used_at: None,
            last_used_ip: None,
        };
        let mut tx = db.begin_write().await.unwrap();
        tokens::insert(&mut tx, &tok).await.unwrap();
        tx.commit().await.unwrap();
        assert!(tokens::find_live(db, "th", now).await.unwrap().is_some());
        assert!(tokens::find_live(db, "th", now + Duration::days(2))
            .await
            .unwrap()
            .is_none());
        let mut tx = db.begin_write().await.unwrap();
        assert!(tokens::revoke(&mut tx, tok.id, now).await.unwrap());
        assert!(
            !tokens::revoke(&mut tx, tok.id, now).await.unwrap(),
            "second revoke is a no-op"
        );
        tx.commit().await.unwrap();
        assert!(tokens::find_live(db, "th", now).await.unwrap().is_none());

        // Throttle windows.
        let since = now - Duration::minutes(15);
        let mut tx = db.begin_write().await.unwrap();
        for _ in 0..3 {
            throttle::record_failure(&mut tx, "user:x", now, since)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        assert_eq!(throttle::failures(db, "user:x", since).await.unwrap(), 3);
        let later = now + Duration::minutes(20);
        assert_eq!(
            throttle::failures(db, "user:x", later - Duration::minutes(15))
                .await
                .unwrap(),
            0,
            "window passed"
        );
        let mut tx = db.begin_write().await.unwrap();
        throttle::record_failure(&mut tx, "user:x", later, later - Duration::minutes(15))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            throttle::failures(db, "user:x", later - Duration::minutes(15))
                .await
                .unwrap(),
            1,
            "a new window starts at 1"
        );
        let _ = p;
    }
}

#[tokio::test]
async fn copy_between_stores_both_ways() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let src = TestDb::sqlite().await;
    seed(&src.db).await;
    let counts = copy::copy_all(&src.db, &pg.db).await.unwrap();
    assert_eq!(counts, copy::counts(&src.db).await.unwrap());
    assert_eq!(audit::verify(&pg.db).await.unwrap().fault, None);
    // A second copy into a non-empty store is refused and changes nothing.
    assert!(copy::copy_all(&src.db, &pg.db).await.is_err());
    assert_eq!(copy::counts(&pg.db).await.unwrap(), counts);
    // And back.
    let back = TestDb::sqlite().await;
    copy::copy_all(&pg.db, &back.db).await.unwrap();
    assert_eq!(copy::counts(&back.db).await.unwrap(), counts);
    let a = users::get_by_username(&src.db, "kehu")
        .await
        .unwrap()
        .unwrap();
    let b = users::get_by_username(&back.db, "kehu")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (a.id, a.org_id, a.created_at, a.password_hash),
        (b.id, b.org_id, b.created_at, b.password_hash)
    );
    assert_eq!(pg.backend, Backend::Postgres);
}

#[tokio::test]
async fn sqlite_backup_restores_identically() {
    let src = TestDb::sqlite().await;
    seed(&src.db).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.db");
    yunwei_store::backup::backup_sqlite(&src.db, &file)
        .await
        .unwrap();
    assert!(
        yunwei_store::backup::backup_sqlite(&src.db, &file)
            .await
            .is_err(),
        "never overwrites"
    );
    let target = dir.path().join("restored");
    yunwei_store::backup::restore_sqlite(&file, &target, false)
        .await
        .unwrap();
    assert!(
        yunwei_store::backup::restore_sqlite(&file, &target, false)
            .await
            .is_err(),
        "refuses a data dir with data"
    );
    yunwei_store::backup::restore_sqlite(&file, &target, true)
        .await
        .unwrap();
    let db = Db::connect(&yunwei_store::sqlite_url(&target), Default::default())
        .await
        .unwrap();
    assert_eq!(
        copy::counts(&db).await.unwrap(),
        copy::counts(&src.db).await.unwrap()
    );
    assert_eq!(audit::verify(&db).await.unwrap().fault, None);
    // Not a database: refused.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not sqlite").unwrap();
    assert!(
        yunwei_store::backup::restore_sqlite(&junk, &dir.path().join("x"), false)
            .await
            .is_err()
    );
}
