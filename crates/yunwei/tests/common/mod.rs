//! Shared harness of the binary tests: run `yunwei` as an operator would (a temporary
//! working directory, a free port, the configuration environment removed), servers killed
//! when their guard drops.
#![allow(dead_code)]

pub use std::fs::File;
pub use std::path::{Path, PathBuf};
pub use std::process::{Child, Command, ExitStatus, Stdio};
pub use std::time::{Duration, Instant};

pub use reqwest::StatusCode;
pub use serde_json::{json, Value};
pub use yunwei_store::{Db, PoolSize};

pub const BIN: &str = env!("CARGO_BIN_EXE_yunwei");

/// The binary's configuration variables: removed from the children's environment so the
/// caller's environment cannot change what a test runs against.
pub const CONFIG_ENV: &[&str] = &[
    "YUNWEI_CONFIG",
    "YUNWEI_DATA_DIR",
    "YUNWEI_DATABASE_URL",
    "YUNWEI_LOG",
    "YUNWEI_LISTEN",
    "YUNWEI_METRICS_LISTEN",
];

pub const ADMIN_TOKEN_NAME: &str = "tests";

pub fn command(cwd: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(cwd);
    for v in CONFIG_ENV {
        c.env_remove(v);
    }
    // The default colour behaviour is under test (no ANSI escapes into files).
    c.env_remove("NO_COLOR");
    c
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local addr")
        .port()
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// The outcome of one finished command.
pub struct Run {
    pub args: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert!(
            self.status.success(),
            "`yunwei {}` failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.args,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn failure(&self) -> &Self {
        assert!(
            !self.status.success(),
            "`yunwei {}` should have failed but succeeded:\nstdout:\n{}\nstderr:\n{}",
            self.args,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Run `yunwei ARGS` to completion in `cwd`, with `stdin` (if any) on standard input.
pub async fn yw(cwd: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    use tokio::io::AsyncWriteExt;
    let mut c = tokio::process::Command::from(command(cwd));
    c.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = c.spawn().expect("spawn yunwei");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(text.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let out = tokio::time::timeout(Duration::from_secs(180), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("`yunwei {}` did not finish in time", args.join(" ")))
        .expect("wait for yunwei");
    Run {
        args: args.join(" "),
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A running `yunwei serve`; killed on drop. Its stdout and stderr go to files in `cwd`.
pub struct Server {
    child: Option<Child>,
    base: String,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Start `yunwei GLOBAL… serve --listen 127.0.0.1:PORT` and wait until it answers
    /// `/healthz`. `name` names its output files.
    pub async fn start(cwd: &Path, name: &str, global: &[&str], log: &str) -> Server {
        let mut last_err = String::new();
        for attempt in 0..3 {
            let port = free_port();
            let listen = format!("127.0.0.1:{port}");
            let stdout_path = cwd.join(format!("{name}-{attempt}.stdout"));
            let stderr_path = cwd.join(format!("{name}-{attempt}.stderr"));
            let child = command(cwd)
                .args(global)
                .args(["--log", log, "serve", "--listen", &listen])
                .stdin(Stdio::null())
                .stdout(File::create(&stdout_path).expect("stdout file"))
                .stderr(File::create(&stderr_path).expect("stderr file"))
                .spawn()
                .expect("spawn yunwei serve");
            let mut srv = Server {
                child: Some(child),
                base: format!("http://{listen}"),
                stdout_path,
                stderr_path,
            };
            match srv.wait_ready(port).await {
                Ok(()) => return srv,
                // Somebody took the port between our probe and the server's bind: try another.
                Err(e) if e.contains("cannot listen") => last_err = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("server {name} could not get a port: {last_err}")
    }

    /// Ready: the process runs, its log says it listens on *our* port (so a stranger that
    /// grabbed the port cannot answer for it), and `/healthz` answers 200.
    pub async fn wait_ready(&mut self, port: u16) -> Result<(), String> {
        let client = http();
        let deadline = Instant::now() + Duration::from_secs(90);
        let mine = format!("listening on http://127.0.0.1:{port}");
        loop {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!(
                    "server exited ({st}) before it became healthy; stderr:\n{}",
                    self.stderr()
                ));
            }
            if self.stderr().contains(&mine) {
                if let Ok(r) = client.get(self.url("/healthz")).send().await {
                    if r.status() == StatusCode::OK {
                        return Ok(());
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "server did not become healthy in time; stderr:\n{}",
                    self.stderr()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Kill the server; returns everything it wrote (stdout, stderr).
    pub fn stop(mut self) -> (String, String) {
        self.kill();
        (self.stdout(), self.stderr())
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The administrator password a first start printed: exactly once, on the `password:` line.
#[track_caller]
pub fn printed_password(stdout: &str) -> String {
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains("password:")).collect();
    assert_eq!(
        lines.len(),
        1,
        "one `password:` line expected on stdout:\n{stdout}"
    );
    let pw = lines[0]
        .split("password:")
        .nth(1)
        .expect("text after password:")
        .trim()
        .to_string();
    assert!(pw.len() >= 10, "implausible password {pw:?} in:\n{stdout}");
    assert_eq!(
        stdout.matches(pw.as_str()).count(),
        1,
        "the password is printed exactly once:\n{stdout}"
    );
    pw
}

/// Send a request; answer its status and JSON body (Null when there is none).
pub async fn call(rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let r = rb.send().await.expect("http request");
    let status = r.status();
    let text = r.text().await.expect("http body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Sign in; answers (cookie header value `yw_session=…`, csrf token, the whole answer).
pub async fn login(srv: &Server, username: &str, password: &str) -> (String, String, Value) {
    let r = http()
        .post(srv.url("/api/v1/session"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("login request");
    let status = r.status();
    let cookie = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|kv| kv.trim_start().starts_with("yw_session="))
        .map(|kv| kv.trim().to_string());
    let body: Value = r.json().await.expect("login answer is JSON");
    assert_eq!(status, StatusCode::CREATED, "login as {username}: {body}");
    let cookie = cookie.expect("login sets the yw_session cookie");
    let csrf = body["csrf_token"]
        .as_str()
        .expect("login answer carries csrf_token")
        .to_string();
    (cookie, csrf, body)
}

/// `admin create-token` for `username`; checks stdout is the token alone.
pub async fn cli_token(cwd: &Path, global: &[&str], username: &str, name: &str) -> String {
    let mut args = global.to_vec();
    args.extend([
        "admin",
        "create-token",
        "--username",
        username,
        "--name",
        name,
    ]);
    let r = yw(cwd, &args, None).await;
    r.success();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "create-token prints only the token:\n{}",
        r.stdout
    );
    let token = lines[0];
    assert!(
        token.starts_with("yw_") && token.trim() == token && token.len() > 10,
        "a token, not {token:?}"
    );
    assert_eq!(r.stdout, format!("{token}\n"));
    token.to_string()
}

pub async fn open_db(url: &str) -> Db {
    Db::connect(url, PoolSize { max_connections: 2 })
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"))
}

pub async fn counts(url: &str) -> Vec<(&'static str, i64)> {
    let db = open_db(url).await;
    let c = yunwei_store::copy::counts(&db).await.expect("row counts");
    db.close().await;
    c
}

pub async fn exec_sql(db: &Db, sql: &str) {
    let Db::Sqlite(p) = db else {
        panic!("tampering is done on SQLite")
    };
    yunwei_store::sqlx::query(sql)
        .execute(p)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Remove a test database created with `fresh_pg_url` (best effort).
pub async fn drop_pg_db(server: &str, url: &str) {
    use yunwei_store::sqlx::Connection;
    let name = url
        .split('?')
        .next()
        .and_then(|b| b.rsplit('/').next())
        .unwrap_or_default();
    if !name.starts_with("yunwei_test_") {
        return;
    }
    if let Ok(mut c) = yunwei_store::sqlx::PgConnection::connect(server).await {
        let _ = yunwei_store::sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c)
            .await;
        let _ = c.close().await;
    }
}

/// The password inside `postgres://user:PASSWORD@…`, if any.
pub fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let cred = rest.split_once('@')?.0;
    cred.split_once(':').map(|(_, p)| p.to_string())
}
