//! End-to-end tests of the `yunwei` binary, run as an operator would run it: `serve` on a
//! free port, the `admin` commands next to a running server, `backup`/`restore`,
//! `audit verify` against a tampered database, `migrate-store` between SQLite and PostgreSQL,
//! and two `serve` nodes sharing one PostgreSQL database.
//!
//! Every test works in a temporary directory of its own (also the processes' working
//! directory, so no stray `./yunwei.toml` or `./data` is picked up or created), and every
//! server it starts is killed when its [`Server`] guard drops, also when the test panics.
//! The PostgreSQL tests run when `YUNWEI_TEST_DATABASE_URL` is set (see `yunwei-testkit`).

mod common;
use common::*;

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_prints_the_admin_password_once() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = root.join("data");
    let global = ["--data-dir", s(&data)];

    // A verbose log, so a leak anywhere in it would show.
    let srv = Server::start(root, "first", &global, "debug").await;
    let pw = printed_password(&srv.stdout());

    let (status, body) = call(http().post(srv.url("/api/v1/session")).json(&json!({
        "username": "admin",
        "password": pw
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user"]["username"], "admin");
    assert_eq!(body["user"]["role"], "admin");
    assert!(body["user"].get("password_hash").is_none(), "{body}");

    let (status, _) = call(http().post(srv.url("/api/v1/session")).json(&json!({
        "username": "admin",
        "password": "not-the-password"
    })))
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (out1, err1) = srv.stop();
    assert_eq!(out1.matches(pw.as_str()).count(), 1, "{out1}");
    assert!(!err1.contains(&pw), "the log holds the password:\n{err1}");
    assert!(err1.contains("listening on"), "{err1}");
    assert!(
        !err1.contains('\u{1b}'),
        "ANSI escapes in a log written to a file:\n{err1}"
    );

    // Second start on the same data directory: no new account, nothing printed.
    let srv = Server::start(root, "second", &global, "debug").await;
    let (status, body) = call(http().post(srv.url("/api/v1/session")).json(&json!({
        "username": "admin",
        "password": pw
    })))
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the first password still works: {body}"
    );
    let (out2, err2) = srv.stop();
    assert!(
        !out2.contains("password") && !out2.contains(&pw),
        "second start printed:\n{out2}"
    );
    assert!(
        !out2.contains("admin"),
        "second start printed an account:\n{out2}"
    );
    assert!(!err2.contains(&pw), "the log holds the password:\n{err2}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_work_while_serve_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = root.join("data");
    let global = ["--data-dir", s(&data)];
    let srv = Server::start(root, "serve", &global, "info").await;
    let pw = printed_password(&srv.stdout());
    // The process restarted itself with a bounded number of malloc arenas (same pid).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let env = std::fs::read(format!("/proc/{}/environ", srv.pid())).unwrap();
        assert!(
            env.split(|b| *b == 0)
                .any(|v| v.starts_with(b"MALLOC_ARENA_MAX=")),
            "serve runs without MALLOC_ARENA_MAX"
        );
    }

    // A provider user, password from stdin.
    let r = yw(
        root,
        &[
            "--data-dir",
            s(&data),
            "admin",
            "create-user",
            "--username",
            "wang",
            "--role",
            "engineer",
            "--password-stdin",
        ],
        Some("wang-secret-pass-1\n"),
    )
    .await;
    r.success();
    assert!(r.stderr.contains("wang"), "{}", r.stderr);
    assert!(
        !r.stdout.contains("wang-secret") && !r.stderr.contains("wang-secret"),
        "the password is echoed"
    );

    // Its token, alone on stdout; it works against the running server.
    let token = cli_token(root, &global, "wang", "ci").await;
    let (status, me) = call(http().get(srv.url("/api/v1/me")).bearer_auth(&token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["username"], "wang");
    assert_eq!(me["role"], "engineer");
    // And the password read from stdin (without its newline) is the password.
    let (wang_cookie, _, session) = login(&srv, "wang", "wang-secret-pass-1").await;
    assert_eq!(session["user"]["id"], me["id"]);

    // A customer user in a customer organization created through the API.
    let admin_token = cli_token(root, &global, "admin", ADMIN_TOKEN_NAME).await;
    let (status, org) = call(
        http()
            .post(srv.url("/api/v1/organizations"))
            .bearer_auth(&admin_token)
            .json(&json!({ "name": "客户甲" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    assert_eq!(org["kind"], "customer");
    let r = yw(
        root,
        &[
            "--data-dir",
            s(&data),
            "admin",
            "create-user",
            "--username",
            "kehu",
            "--role",
            "customer",
            "--org",
            "客户甲",
            "--password-stdin",
        ],
        Some("kehu-secret-pass-1\n"),
    )
    .await;
    r.success();
    let (status, page) = call(
        http()
            .get(srv.url("/api/v1/users?q=kehu"))
            .bearer_auth(&admin_token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["org_id"], org["id"]);
    assert_eq!(items[0]["role"], "customer");
    let (_, _, kehu) = login(&srv, "kehu", "kehu-secret-pass-1").await;
    assert_eq!(kehu["user"]["org_id"], org["id"]);

    // Bad input: a weak password.
    let r = yw(
        root,
        &[
            "--data-dir",
            s(&data),
            "admin",
            "create-user",
            "--username",
            "zhao",
            "--role",
            "engineer",
            "--password-stdin",
        ],
        Some("abc\n"),
    )
    .await;
    r.failure();
    assert!(r.stderr.contains("password_too_weak"), "{}", r.stderr);

    // A customer role in the provider organization.
    let r = yw(
        root,
        &[
            "--data-dir",
            s(&data),
            "admin",
            "create-user",
            "--username",
            "zhao",
            "--role",
            "customer",
            "--password-stdin",
        ],
        Some("zhao-secret-pass-1\n"),
    )
    .await;
    r.failure();
    assert!(r.stderr.contains("invalid_role"), "{}", r.stderr);

    // An organization that does not exist; a user that does not exist.
    let r = yw(
        root,
        &[
            "--data-dir",
            s(&data),
            "admin",
            "create-user",
            "--username",
            "zhao",
            "--role",
            "customer",
            "--org",
            "没有这个组织",
            "--password-stdin",
        ],
        Some("zhao-secret-pass-1\n"),
    )
    .await;
    r.failure();
    assert!(r.stderr.contains("没有这个组织"), "{}", r.stderr);
    let mut args = global.to_vec();
    args.extend(["admin", "create-token", "--username", "nobody"]);
    let r = yw(root, &args, None).await;
    r.failure();
    assert!(r.stdout.is_empty(), "{}", r.stdout);

    // None of the refused users exists.
    let (status, page) = call(
        http()
            .get(srv.url("/api/v1/users?q=zhao"))
            .bearer_auth(&admin_token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0), "{page}");

    // Recovery: reset-password while the server runs ends the user's sessions.
    let r = yw(
        root,
        &[
            "--data-dir",
            s(&data),
            "admin",
            "reset-password",
            "--username",
            "wang",
            "--password-stdin",
        ],
        Some("wang-new-pass-2\r\n"),
    )
    .await;
    r.success();
    assert!(!r.stderr.contains("wang-new-pass-2"), "{}", r.stderr);
    // The command is another process: the server may reuse the session's resolution for
    // up to yunwei_service::auth::AUTH_CACHE_TTL (docs/architecture.md), not longer.
    let status = refused_within_cache_ttl(|| {
        http()
            .get(srv.url("/api/v1/me"))
            .header("cookie", &wang_cookie)
    })
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old session survived");
    let (status, _) = call(http().post(srv.url("/api/v1/session")).json(&json!({
        "username": "wang",
        "password": "wang-secret-pass-1"
    })))
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password works");
    login(&srv, "wang", "wang-new-pass-2").await;

    let (_, err) = srv.stop();
    assert!(!err.contains(&pw));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_config_prints_toml() {
    let tmp = tempfile::tempdir().unwrap();
    let r = yw(tmp.path(), &["default-config"], None).await;
    r.success();
    for key in ["data_dir", "database_url", "listen"] {
        assert!(r.stdout.contains(key), "{key} missing:\n{}", r.stdout);
    }
    // It is TOML (all commented out: the defaults apply).
    let parsed: toml::Table = toml::from_str(&r.stdout).expect("default-config is TOML");
    assert!(parsed.is_empty(), "{parsed:?}");
    // Its example settings, uncommented, are TOML naming those keys, and a configuration file
    // the binary accepts (it refuses unknown keys).
    let uncommented: String = r
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("# ").filter(|x| x.contains(" = ")))
        .map(|l| format!("{l}\n"))
        .collect();
    let example: toml::Table = toml::from_str(&uncommented).expect("the examples are TOML");
    for key in ["data_dir", "database_url", "listen"] {
        assert!(
            example.contains_key(key),
            "no example for {key}:\n{uncommented}"
        );
    }
    let cfg = tmp.path().join("example.toml");
    std::fs::write(&cfg, &uncommented).unwrap();
    let r2 = yw(tmp.path(), &["--config", s(&cfg), "default-config"], None).await;
    r2.success();
    assert_eq!(r2.stdout, r.stdout);
    // …whereas a misspelt key is refused.
    std::fs::write(&cfg, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let r3 = yw(tmp.path(), &["--config", s(&cfg), "default-config"], None).await;
    r3.failure();
    assert!(r3.stderr.contains("lisen"), "{}", r3.stderr);
    assert!(
        !tmp.path().join("data").exists(),
        "default-config created a data directory"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let d = root.join("d");
    let e = root.join("e");
    let backup = root.join("B.db");
    let gd = ["--data-dir", s(&d)];

    let srv = Server::start(root, "d", &gd, "info").await;
    let admin_token = cli_token(root, &gd, "admin", ADMIN_TOKEN_NAME).await;
    let (status, org) = call(
        http()
            .post(srv.url("/api/v1/organizations"))
            .bearer_auth(&admin_token)
            .json(&json!({ "name": "客户乙", "code": "B-1" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let (status, user) = call(
        http()
            .post(srv.url("/api/v1/users"))
            .bearer_auth(&admin_token)
            .json(&json!({
                "username": "li",
                "role": "customer",
                "org_id": org["id"],
                "password": "li-secret-pass-1"
            })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");

    // Online backup while the server runs.
    let r = yw(root, &["--data-dir", s(&d), "backup", s(&backup)], None).await;
    r.success();
    assert!(backup.exists());
    assert!(r.stderr.contains("verified"), "{}", r.stderr);
    // Never over an existing file.
    let r = yw(root, &["--data-dir", s(&d), "backup", s(&backup)], None).await;
    r.failure();

    // Restore into a new data directory.
    let r = yw(root, &["restore", s(&backup), "--data-dir", s(&e)], None).await;
    r.success();
    assert!(r.stderr.contains("audit chain intact"), "{}", r.stderr);
    assert!(yunwei_store::sqlite_path(&e).exists());

    // Same rows, table by table (the server on D has written nothing since the backup).
    let cd = counts(&yunwei_store::sqlite_url(&d)).await;
    let ce = counts(&yunwei_store::sqlite_url(&e)).await;
    assert_eq!(cd, ce);
    let n = |c: &[(&str, i64)], t: &str| c.iter().find(|x| x.0 == t).map(|x| x.1);
    assert_eq!(n(&ce, "users"), Some(2), "{ce:?}");
    assert_eq!(n(&ce, "organizations"), Some(2), "{ce:?}");
    drop(srv);

    // A server on the restored copy has the same records, with the same ids.
    let srv_e = Server::start(root, "e", &["--data-dir", s(&e)], "info").await;
    assert!(
        !srv_e.stdout().contains("password"),
        "a restored installation is not a first start:\n{}",
        srv_e.stdout()
    );
    let org_id = org["id"].as_str().unwrap();
    let user_id = user["id"].as_str().unwrap();
    let (status, org_e) = call(
        http()
            .get(srv_e.url(&format!("/api/v1/organizations/{org_id}")))
            .bearer_auth(&admin_token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{org_e}");
    assert_eq!(org_e["name"], "客户乙");
    assert_eq!(org_e["code"], "B-1");
    let (status, user_e) = call(
        http()
            .get(srv_e.url(&format!("/api/v1/users/{user_id}")))
            .bearer_auth(&admin_token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{user_e}");
    assert_eq!(user_e["username"], "li");
    assert_eq!(user_e["org_id"], org["id"]);
    let (_, _, li) = login(&srv_e, "li", "li-secret-pass-1").await;
    assert_eq!(li["user"]["id"], user["id"]);
    drop(srv_e);

    // E holds data now: restore refuses without --force, replaces with it.
    let r = yw(root, &["restore", s(&backup), "--data-dir", s(&e)], None).await;
    r.failure();
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    let r = yw(
        root,
        &["restore", s(&backup), "--data-dir", s(&e), "--force"],
        None,
    )
    .await;
    r.success();
    // The forced restore put the backup back: the session of `li` is gone again.
    assert_eq!(counts(&yunwei_store::sqlite_url(&e)).await, ce);

    // Something that is not a backup is refused.
    let junk = root.join("junk.db");
    std::fs::write(&junk, b"not a database").unwrap();
    let r = yw(
        root,
        &["restore", s(&junk), "--data-dir", s(&root.join("f"))],
        None,
    )
    .await;
    r.failure();
    assert!(!yunwei_store::sqlite_path(&root.join("f")).exists());
}

/// A data directory with a few audit entries, made with the admin commands only.
async fn data_with_audit_entries(root: &Path, data: &Path) {
    let r = yw(
        root,
        &[
            "--data-dir",
            s(data),
            "admin",
            "create-user",
            "--username",
            "wang",
            "--role",
            "engineer",
            "--password-stdin",
        ],
        Some("wang-secret-pass-1"),
    )
    .await;
    r.success();
    cli_token(root, &["--data-dir", s(data)], "wang", "ci").await;
}

async fn audit_verify(root: &Path, data: &Path) -> Run {
    yw(root, &["--data-dir", s(data), "audit", "verify"], None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_detects_an_altered_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = root.join("data");
    data_with_audit_entries(root, &data).await;

    let r = audit_verify(root, &data).await;
    r.success();
    assert!(r.stdout.contains("intact"), "{}", r.stdout);

    let db = open_db(&yunwei_store::sqlite_url(&data)).await;
    let Db::Sqlite(p) = &db else { unreachable!() };
    let n: i64 = yunwei_store::sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(p)
        .await
        .unwrap();
    assert!(n >= 3, "{n} entries");
    // The trigger refuses the change while it exists.
    assert!(
        yunwei_store::sqlx::query("UPDATE audit_log SET actor_name = 'mallory' WHERE seq = 2")
            .execute(p)
            .await
            .is_err(),
        "audit_log_no_update let an UPDATE through"
    );
    exec_sql(&db, "DROP TRIGGER audit_log_no_update").await;
    exec_sql(
        &db,
        "UPDATE audit_log SET actor_name = 'mallory' WHERE seq = 2",
    )
    .await;
    db.close().await;

    let r = audit_verify(root, &data).await;
    assert_eq!(
        r.status.code(),
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        r.stdout,
        r.stderr
    );
    assert!(r.stdout.contains("entry #2"), "{}", r.stdout);
    assert!(!r.stdout.contains("intact"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_detects_a_removed_last_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = root.join("data");
    data_with_audit_entries(root, &data).await;
    audit_verify(root, &data).await.success();

    let db = open_db(&yunwei_store::sqlite_url(&data)).await;
    let Db::Sqlite(p) = &db else { unreachable!() };
    let last: i64 = yunwei_store::sqlx::query_scalar("SELECT MAX(seq) FROM audit_log")
        .fetch_one(p)
        .await
        .unwrap();
    assert!(
        yunwei_store::sqlx::query("DELETE FROM audit_log WHERE seq = $1")
            .bind(last)
            .execute(p)
            .await
            .is_err(),
        "audit_log_no_delete let a DELETE through"
    );
    exec_sql(&db, "DROP TRIGGER audit_log_no_delete").await;
    exec_sql(
        &db,
        "DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)",
    )
    .await;
    db.close().await;

    let r = audit_verify(root, &data).await;
    assert_eq!(
        r.status.code(),
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        r.stdout,
        r.stderr
    );
    assert!(
        r.stdout.contains(&format!("entry #{last}")) && r.stdout.contains("missing"),
        "should name entry #{last} as missing:\n{}",
        r.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_store_sqlite_to_postgres_and_back() {
    let Some(server) = yunwei_testkit::pg_server_url() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let d = root.join("d");
    let f = root.join("f");

    // A SQLite installation with an organization, a user and an API token.
    let srv = Server::start(root, "sqlite", &["--data-dir", s(&d)], "info").await;
    let pw = printed_password(&srv.stdout());
    let (cookie, csrf, _) = login(&srv, "admin", &pw).await;
    let (status, org) = call(
        http()
            .post(srv.url("/api/v1/organizations"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&json!({ "name": "客户丙" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let (status, user) = call(
        http()
            .post(srv.url("/api/v1/users"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&json!({
                "username": "zhang",
                "role": "customer",
                "org_id": org["id"],
                "password": "zhang-secret-pass-1"
            })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let (status, tok) = call(
        http()
            .post(srv.url("/api/v1/tokens"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&json!({ "name": "ci" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{tok}");
    let token = tok["token"].as_str().expect("token").to_string();
    drop(srv);

    // SQLite → PostgreSQL.
    let pg = yunwei_testkit::fresh_pg_url(&server).await;
    let sqlite_d = format!("sqlite://{}", s(&yunwei_store::sqlite_path(&d)));
    let r = yw(
        root,
        &["migrate-store", "--from", &sqlite_d, "--to", &pg],
        None,
    )
    .await;
    r.success();
    assert!(r.stderr.contains("copied and verified"), "{}", r.stderr);
    if let Some(secret) = url_password(&pg) {
        assert!(
            !r.stderr.contains(&format!(":{secret}@")),
            "the database password is in the output:\n{}",
            r.stderr
        );
    }
    assert_eq!(counts(&sqlite_d).await, counts(&pg).await);

    // A server on PostgreSQL: same admin password, same token, same records.
    let srv = Server::start(root, "pg", &["--database-url", &pg], "info").await;
    assert!(!srv.stdout().contains("password"), "{}", srv.stdout());
    if let Some(secret) = url_password(&pg) {
        assert!(!srv.stderr().contains(&format!(":{secret}@")));
    }
    let (_, _, me) = login(&srv, "admin", &pw).await;
    assert_eq!(me["user"]["username"], "admin");
    let (status, me) = call(http().get(srv.url("/api/v1/me")).bearer_auth(&token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["username"], "admin");
    let user_id = user["id"].as_str().unwrap();
    let (status, user_pg) = call(
        http()
            .get(srv.url(&format!("/api/v1/users/{user_id}")))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{user_pg}");
    assert_eq!(user_pg["org_id"], org["id"]);
    login(&srv, "zhang", "zhang-secret-pass-1").await;

    let r = yw(root, &["--database-url", &pg, "audit", "verify"], None).await;
    r.success();
    assert!(r.stdout.contains("intact"), "{}", r.stdout);
    drop(srv);

    // And back: PostgreSQL → a fresh SQLite file.
    let sqlite_f = format!("sqlite://{}", s(&yunwei_store::sqlite_path(&f)));
    let r = yw(
        root,
        &["migrate-store", "--from", &pg, "--to", &sqlite_f],
        None,
    )
    .await;
    r.success();
    assert_eq!(counts(&pg).await, counts(&sqlite_f).await);
    audit_verify(root, &f).await.success();

    // A target that already holds an installation is refused.
    let r = yw(
        root,
        &["migrate-store", "--from", &pg, "--to", &sqlite_f],
        None,
    )
    .await;
    r.failure();

    drop_pg_db(&server, &pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_postgres_database() {
    let Some(server) = yunwei_testkit::pg_server_url() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let pg = yunwei_testkit::fresh_pg_url(&server).await;
    let global = ["--database-url", pg.as_str()];

    let n1 = Server::start(root, "node1", &global, "info").await;
    let pw = printed_password(&n1.stdout());
    let n2 = Server::start(root, "node2", &global, "info").await;
    assert!(
        !n2.stdout().contains("password"),
        "the second node bootstrapped again:\n{}",
        n2.stdout()
    );

    // A session made on node 1 is good on node 2.
    let (cookie, csrf, _) = login(&n1, "admin", &pw).await;
    let (status, me) = call(http().get(n2.url("/api/v1/me")).header("cookie", &cookie)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["username"], "admin");

    // A write on node 2 needs the CSRF token, and is seen on node 1.
    let (status, body) = call(
        http()
            .post(n2.url("/api/v1/organizations"))
            .header("cookie", &cookie)
            .json(&json!({ "name": "客户丁" })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, org) = call(
        http()
            .post(n2.url("/api/v1/organizations"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&json!({ "name": "客户丁" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let (status, orgs) = call(
        http()
            .get(n1.url("/api/v1/organizations"))
            .header("cookie", &cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{orgs}");
    assert!(
        orgs.as_array()
            .expect("a list")
            .iter()
            .any(|o| o["id"] == org["id"] && o["name"] == "客户丁"),
        "{orgs}"
    );

    // Sign out on node 2: the session is gone on node 1 too.
    let (status, body) = call(
        http()
            .delete(n2.url("/api/v1/session"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // Node 1 may reuse the session's resolution for up to AUTH_CACHE_TTL, not longer.
    let status =
        refused_within_cache_ttl(|| http().get(n1.url("/api/v1/me")).header("cookie", &cookie))
            .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Both nodes wrote to one audit chain, and it holds.
    let r = yw(root, &["--database-url", &pg, "audit", "verify"], None).await;
    r.success();

    let (_, e1) = n1.stop();
    let (_, e2) = n2.stop();
    assert!(!e1.contains(&pw) && !e2.contains(&pw));
    drop_pg_db(&server, &pg).await;
}

/// Ask until the answer is 401 or a node's cache of token and session resolutions
/// (`AUTH_CACHE_TTL`) has surely expired (plus a margin); returns the last status.
async fn refused_within_cache_ttl(req: impl Fn() -> reqwest::RequestBuilder) -> StatusCode {
    let until = std::time::Instant::now()
        + yunwei_service::auth::AUTH_CACHE_TTL
        + std::time::Duration::from_secs(2);
    loop {
        let (status, _) = call(req()).await;
        if status == StatusCode::UNAUTHORIZED || std::time::Instant::now() > until {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
