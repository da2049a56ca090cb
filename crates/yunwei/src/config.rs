//! Configuration: flags, then `YUNWEI_*` environment variables, then the TOML file, then
//! defaults — the first that gives a value wins.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

/// Options every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// TOML configuration file [default: ./yunwei.toml when present]
    #[arg(long, global = true, env = "YUNWEI_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (holds the SQLite database) [default: ./data]
    #[arg(long, global = true, env = "YUNWEI_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://… [default: SQLite in the data directory]
    #[arg(
        long,
        global = true,
        env = "YUNWEI_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Log filter, e.g. info or yunwei=debug [default: info]
    #[arg(long, global = true, env = "YUNWEI_LOG")]
    pub log: Option<String>,
    /// This node's full-text search index [default: <data dir>/search]
    #[arg(long, global = true, env = "YUNWEI_SEARCH_DIR")]
    pub search_dir: Option<PathBuf>,
}

/// Options of `serve`.
#[derive(Debug, Clone, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "YUNWEI_LISTEN")]
    pub listen: Option<String>,
    /// Separate listener for Prometheus /metrics (e.g. 127.0.0.1:9090)
    #[arg(long, env = "YUNWEI_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
}

/// The file's shape.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub log: Option<String>,
    pub listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub metrics_on_main: Option<bool>,
    pub secure_cookies: Option<bool>,
    pub trust_forwarded_for: Option<bool>,
    pub max_connections: Option<u32>,
    pub session_idle_hours: Option<i64>,
    pub search_dir: Option<PathBuf>,
}

/// The merged configuration.
#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub search_dir: PathBuf,
    pub database_url: String,
    pub log: String,
    pub listen: String,
    pub metrics_listen: Option<String>,
    pub metrics_on_main: bool,
    pub secure_cookies: bool,
    pub trust_forwarded_for: bool,
    pub max_connections: u32,
    pub session_idle_hours: i64,
}

impl std::fmt::Debug for Config {
    // The database URL may hold a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database", &redact_url(&self.database_url))
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            .finish_non_exhaustive()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((cred, host)) = rest.split_once('@') {
            let user = cred.split(':').next().unwrap_or("");
            return format!("{scheme}://{user}:***@{host}");
        }
    }
    url.to_string()
}

pub fn load(g: &Global, s: &ServeArgs) -> anyhow::Result<Config> {
    let file = match &g.config {
        Some(p) => read_file(p)?,
        None if Path::new("yunwei.toml").exists() => read_file(Path::new("yunwei.toml"))?,
        None => FileConfig::default(),
    };
    let data_dir = g
        .data_dir
        .clone()
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("./data"));
    let database_url = g
        .database_url
        .clone()
        .or(file.database_url)
        .unwrap_or_else(|| yunwei_store::sqlite_url(&data_dir));
    let search_dir = g
        .search_dir
        .clone()
        .or(file.search_dir)
        .unwrap_or_else(|| data_dir.join("search"));
    Ok(Config {
        search_dir,
        database_url,
        data_dir,
        log: g.log.clone().or(file.log).unwrap_or_else(|| "info".into()),
        listen: s
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into()),
        metrics_listen: s.metrics_listen.clone().or(file.metrics_listen),
        metrics_on_main: file.metrics_on_main.unwrap_or(true),
        secure_cookies: file.secure_cookies.unwrap_or(false),
        trust_forwarded_for: file.trust_forwarded_for.unwrap_or(false),
        max_connections: file.max_connections.unwrap_or(16),
        session_idle_hours: file.session_idle_hours.unwrap_or(12),
    })
}

fn read_file(p: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
}

pub const DEFAULT_CONFIG: &str = r#"# yunwei configuration (TOML).
# Precedence: command-line flags > YUNWEI_* environment variables > this file > defaults.
# Pass it with --config FILE (or YUNWEI_CONFIG); ./yunwei.toml is read when present.

# Where the SQLite database lives.                       env: YUNWEI_DATA_DIR
# data_dir = "./data"

# Database. Default: SQLite at <data_dir>/yunwei.db.     env: YUNWEI_DATABASE_URL
# Several `yunwei serve` nodes may share one PostgreSQL database.
# database_url = "postgres://yunwei:CHANGE-ME@127.0.0.1/yunwei"

# Address of the web server.                             env: YUNWEI_LISTEN
# listen = "127.0.0.1:8080"

# Prometheus metrics on a separate listener (keep it private). env: YUNWEI_METRICS_LISTEN
# metrics_listen = "127.0.0.1:9090"
# Also serve /metrics on the main listener, for administrators and auditors only.
# metrics_on_main = true

# Log filter (tracing syntax).                           env: YUNWEI_LOG
# log = "info"

# Set when users reach yunwei over HTTPS (cookies get the Secure flag).
# secure_cookies = false

# Take client addresses from X-Forwarded-For: only behind a reverse proxy you run.
# trust_forwarded_for = false

# Database connections per node.
# max_connections = 16

# Sign-out after this many idle hours.
# session_idle_hours = 12

# This node's full-text search index (local disk; every node keeps its own, also when the
# nodes share PostgreSQL; rebuilt from the database when missing). env: YUNWEI_SEARCH_DIR
# search_dir = "./data/search"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_parses_and_defaults_apply() {
        let f: FileConfig = toml::from_str(DEFAULT_CONFIG).expect("example parses");
        assert!(f.listen.is_none());
        let uncommented: String = DEFAULT_CONFIG
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|x| x.contains(" = "))
                    .unwrap_or(if l.starts_with('#') { "" } else { l })
            })
            .collect::<Vec<_>>()
            .join("\n");
        let f: FileConfig = toml::from_str(&uncommented).expect("every example setting is valid");
        assert_eq!(f.listen.as_deref(), Some("127.0.0.1:8080"));
    }

    #[test]
    fn flags_beat_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "listen = \"0.0.0.0:1\"\nlog = \"debug\"\n").unwrap();
        let g = Global {
            config: Some(p),
            data_dir: Some(dir.path().into()),
            database_url: None,
            log: None,
            search_dir: None,
        };
        let c = load(
            &g,
            &ServeArgs {
                listen: Some("127.0.0.1:2".into()),
                metrics_listen: None,
            },
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:2");
        assert_eq!(c.log, "debug");
        assert!(c.database_url.starts_with("sqlite://"));
        assert_eq!(c.search_dir, dir.path().join("search"));
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert!(!format!(
            "{:?}",
            Config {
                data_dir: ".".into(),
                search_dir: "search".into(),
                database_url: "postgres://u:secret@h/db".into(),
                log: "info".into(),
                listen: "x".into(),
                metrics_listen: None,
                metrics_on_main: true,
                secure_cookies: false,
                trust_forwarded_for: false,
                max_connections: 1,
                session_idle_hours: 1
            }
        )
        .contains("secret"));
    }
}
