//! Schemathesis (issue 5, item 6) against the running binary's `/api/openapi.json`, as four
//! identities — customers of two organizations, an agent, an administrator — on SQLite and
//! on PostgreSQL: no server errors, no response that breaks the documented schema or
//! content type, and no response to one organization's customer that shows the other
//! organization's data (a custom check, `no_cross_organization_data`, looks for markers
//! written into the other organization's records).
//!
//! Needs the `st` command of schemathesis 4.32.5 (`pip install schemathesis==4.32.5`;
//! `.ci/run` installs it into a virtualenv). `YUNWEI_SCHEMATHESIS` names another command;
//! `YUNWEI_SCHEMATHESIS_SECS` sets the time per identity (default 10; the long mode of
//! docs/reliability.md uses 300). Without the command the test is skipped, except under
//! `CI=true`, where it fails.

mod common;
use common::*;

const HOOKS: &str = r#"
import os
import schemathesis

FORBIDDEN = [m for m in os.environ.get("YW_FORBIDDEN", "").split(",") if m]


@schemathesis.check
def no_cross_organization_data(ctx, response, case):
    text = response.content.decode("utf-8", "replace")
    for marker in FORBIDDEN:
        if marker in text:
            raise AssertionError(
                "the response shows another organization's data (" + marker + ")"
            )
"#;

fn st_command() -> Option<String> {
    let cmd = std::env::var("YUNWEI_SCHEMATHESIS").unwrap_or_else(|_| "st".into());
    let found = std::process::Command::new(&cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(cmd);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!(
            "CI=true but schemathesis (`{cmd}`) is not installed: pip install schemathesis==4.32.5"
        );
    }
    eprintln!("schemathesis (`{cmd}`) not found: skipping");
    None
}

/// Make an organization with a customer, a ticket and a reply carrying `marker`; answers
/// the customer's token.
async fn customer_side(
    srv: &Server,
    root: &Path,
    global: &[&str],
    admin: &str,
    name: &str,
    marker: &str,
) -> String {
    let http = http();
    let (st, org) = call(
        http.post(srv.url("/api/v1/organizations"))
            .bearer_auth(admin)
            .json(&json!({ "name": format!("{name}{marker}") })),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{org}");
    let username = format!("st-{}", if name == "甲" { "a" } else { "b" });
    let (st, user) = call(
        http.post(srv.url("/api/v1/users"))
            .bearer_auth(admin)
            .json(&json!({
                "username": username,
                "role": "customer",
                "org_id": org["id"],
                "password": "correct horse battery staple",
                "display_name": format!("客户{marker}"),
            })),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{user}");
    let token = cli_token(root, global, &username, "schemathesis").await;
    let (st, t) = call(
        http.post(srv.url("/api/v1/tickets"))
            .bearer_auth(&token)
            .json(&json!({
                "kind": "incident",
                "subject": format!("邮件系统无法登录 {marker}"),
                "description": format!("只属于本单位的描述 {marker}"),
            })),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    let number = t["number"].as_str().expect("number");
    let (st, r) = call(
        http.post(srv.url(&format!("/api/v1/tickets/{number}/comments")))
            .bearer_auth(admin)
            .json(&json!({ "body": format!("已收到 {marker}"), "internal": false })),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    token
}

async fn fuzz_api(global: &[&str]) {
    let Some(st) = st_command() else {
        return;
    };
    let secs = std::env::var("YUNWEI_SCHEMATHESIS_SECS").unwrap_or_else(|_| "10".into());
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::write(root.join("yw_st_hooks.py"), HOOKS).unwrap();

    let srv = Server::start(root, "st", global, "info").await;
    let admin = cli_token(root, global, "admin", ADMIN_TOKEN_NAME).await;
    let marker_a = format!("MARKA{}", uuid::Uuid::now_v7().simple());
    let marker_b = format!("MARKB{}", uuid::Uuid::now_v7().simple());
    let cust_a = customer_side(&srv, root, global, &admin, "甲", &marker_a).await;
    let cust_b = customer_side(&srv, root, global, &admin, "乙", &marker_b).await;
    let (status, agent) = call(
        http()
            .post(srv.url("/api/v1/users"))
            .bearer_auth(&admin)
            .json(&json!({ "username": "st-agent", "role": "agent", "password": "correct horse battery staple" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let agent_token = cli_token(root, global, "st-agent", "schemathesis").await;

    // Customers first: the staff runs may change what customers can reach.
    let runs = [
        ("customer-a", cust_a, marker_b.clone()),
        ("customer-b", cust_b, marker_a.clone()),
        ("agent", agent_token, String::new()),
        ("admin", admin, String::new()),
    ];
    let schema = srv.url("/api/openapi.json");
    for (who, token, forbidden) in runs {
        let out = tokio::process::Command::new(&st)
            .current_dir(root)
            .env("SCHEMATHESIS_HOOKS", "yw_st_hooks")
            .env("PYTHONPATH", root)
            .env("YW_FORBIDDEN", &forbidden)
            .args([
                "run",
                &schema,
                "--header",
                &format!("Authorization: Bearer {token}"),
                "--checks",
                "not_a_server_error,response_schema_conformance,content_type_conformance,no_cross_organization_data",
                // Signing out and revoking tokens would end the identity's run.
                "--exclude-path",
                "/api/v1/session",
                // The live event stream never ends (tested in crates/web/tests/events.rs).
                "--exclude-path",
                "/api/v1/events",
                "--exclude-path-regex",
                "^/api/v1/tokens/",
                // The coverage phase of 4.32.5 can fail inside schemathesis itself (a KeyError
                // in its schema walker): its own bug, not ours, so it is left out.
                "--phases",
                "examples,fuzzing,stateful",
                "--max-time",
                &secs,
                "--workers",
                "2",
                "--generation-database",
                "none",
                "--no-color",
            ])
            .output()
            .await
            .expect("run schemathesis");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "schemathesis as {who} found problems:\n{text}\n\nserver log:\n{}",
            srv.stderr()
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .join("\n")
        );
        let summary = text
            .lines()
            .rev()
            .find(|l| l.contains(" in ") && l.contains('='))
            .unwrap_or_default();
        eprintln!("schemathesis as {who}: {summary}");
    }
    let (_, log) = srv.stop();
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    fuzz_api(&["--data-dir", s(&data)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_on_postgres() {
    let Some(server) = yunwei_testkit::pg_server_url() else {
        return;
    };
    let pg = yunwei_testkit::fresh_pg_url(&server).await;
    fuzz_api(&["--database-url", pg.as_str()]).await;
    drop_pg_db(&server, &pg).await;
}
