//! Headless Chromium through chromedriver (WebDriver, fantoccini) for the browser tests:
//! start the driver on a free port, open a Chinese-language session, wait for things.

use std::future::Future;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::json;

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// How long any single explicit wait may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// Kills chromedriver and removes the browser's profile directory when dropped, also when the
/// test panics.
pub struct DriverGuard {
    pub child: Child,
    pub profile: PathBuf,
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

pub fn free_port() -> u16 {
    let l = StdListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        // crates/web -> the workspace root.
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .expect("workspace root")
            .join("target"),
    }
}

/// Poll `f` until it yields `Some`, or panic after [`WAIT`] naming what was awaited.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > WAIT {
            panic!("timed out after {WAIT:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn chromedriver_ready(http: &reqwest::Client, url: &str) -> bool {
    let Ok(r) = http
        .get(format!("{url}/status"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
    else {
        return false;
    };
    let Ok(v) = r.json::<serde_json::Value>().await else {
        return false;
    };
    v["value"]["ready"] == json!(true)
}

/// Start chromedriver on a free port and wait until it reports ready.
pub async fn start_chromedriver(profile: PathBuf) -> (DriverGuard, String) {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn chromedriver");
    let mut guard = DriverGuard { child, profile };
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = guard.child.try_wait() {
            panic!("chromedriver exited early ({status}); is port {port} taken?");
        }
        if chromedriver_ready(&http, &url).await {
            break;
        }
        if start.elapsed() > WAIT {
            panic!("chromedriver did not answer {url}/status within {WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (guard, url)
}

pub async fn connect_browser(driver_url: &str, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
            // A browser set to Chinese, like the people this UI is for (headless Chromium
            // otherwise sends `Accept-Language: en-US`, which the server honours).
            "prefs": { "intl.accept_languages": "zh-CN,zh" },
        }),
    );
    // fantoccini 0.21 builds its HTTP connector only through a TLS feature; we talk plain
    // HTTP to chromedriver, but rustls still wants the system's CA list (ca-certificates).
    ClientBuilder::rustls()
        .expect("rustls connector (it needs CA certificates: apt-get install ca-certificates)")
        .capabilities(caps)
        .connect(driver_url)
        .await
        .expect("start a Chromium session through chromedriver")
}
