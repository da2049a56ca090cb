//! Test support: a fresh, migrated database per test, on SQLite and on PostgreSQL.
//!
//! PostgreSQL is found through `YUNWEI_TEST_DATABASE_URL` (a server URL whose user may create
//! databases; each test gets a database of its own). When the variable is unset, PostgreSQL
//! tests are skipped with a loud message — except when `CI=true`, where they fail, so CI never
//! skips a store silently.

use std::path::PathBuf;

use yunwei_store::{Db, PoolSize};

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database for one test. Keeps its temporary directory alive.
pub struct TestDb {
    pub db: Db,
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL server URL for tests, or None (after printing why) when tests may skip it.
pub fn pg_server_url() -> Option<String> {
    match std::env::var("YUNWEI_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("CI")
                .map(|v| v == "true" || v == "1")
                .unwrap_or(false)
            {
                panic!("CI=true but YUNWEI_TEST_DATABASE_URL is unset: PostgreSQL tests must run in CI");
            }
            eprintln!("WARNING: YUNWEI_TEST_DATABASE_URL is unset; skipping the PostgreSQL half of this test");
            None
        }
    }
}

/// Test databases older than this are left-overs of earlier runs (no test runs this long).
const STALE_AFTER_MS: u64 = 6 * 3600 * 1000;

/// The creation time (Unix ms) of a test database, read from the UUIDv7 in its name.
fn test_db_created_ms(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("yunwei_test_")?;
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(&hex[..12], 16).ok()
}

/// Drop the test databases of earlier runs (once per process): each test creates one and
/// a test process cannot drop its own while its pools are open, so without this a
/// long-lived server collects them. Only names of the `yunwei_test_<uuidv7>` form whose
/// UUID is older than [`STALE_AFTER_MS`] are touched, and a database still in use is left
/// (a plain `DROP DATABASE` refuses it).
async fn drop_stale_test_dbs(conn: &mut sqlx::PgConnection) {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let names: Vec<String> = match sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'yunwei\\_test\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    {
        Ok(n) => n,
        Err(_) => return,
    };
    for name in names {
        match test_db_created_ms(&name) {
            Some(t) if now_ms.saturating_sub(t) > STALE_AFTER_MS => {
                // The name was checked to be yunwei_test_ + 32 hex digits: safe to quote.
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                    .execute(&mut *conn)
                    .await;
            }
            _ => {}
        }
    }
}

/// Create an empty PostgreSQL database for a test; returns its URL.
pub async fn fresh_pg_url(server: &str) -> String {
    use sqlx::Connection;
    let name = format!("yunwei_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .expect("connect to YUNWEI_TEST_DATABASE_URL");
    drop_stale_test_dbs(&mut conn).await;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let _ = conn.close().await;
    replace_db_name(server, &name)
}

fn replace_db_name(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl TestDb {
    /// A fresh migrated SQLite database in a temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = yunwei_store::sqlite_url(dir.path());
        let db = Db::connect(&url, PoolSize::default())
            .await
            .expect("open sqlite");
        db.migrate().await.expect("migrate sqlite");
        TestDb {
            db,
            url,
            backend: Backend::Sqlite,
            _dir: Some(dir),
        }
    }

    /// A fresh migrated PostgreSQL database, or None when PostgreSQL tests may be skipped.
    pub async fn postgres() -> Option<TestDb> {
        let server = pg_server_url()?;
        let url = fresh_pg_url(&server).await;
        let db = Db::connect(&url, PoolSize { max_connections: 8 })
            .await
            .expect("open postgres");
        db.migrate().await.expect("migrate postgres");
        Some(TestDb {
            db,
            url,
            backend: Backend::Postgres,
            _dir: None,
        })
    }

    /// Both stores (PostgreSQL when available).
    pub async fn both() -> Vec<TestDb> {
        let mut v = vec![TestDb::sqlite().await];
        if let Some(pg) = TestDb::postgres().await {
            v.push(pg);
        }
        v
    }

    pub fn dir(&self) -> Option<PathBuf> {
        self._dir.as_ref().map(|d| d.path().to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_db_age_is_read_from_its_name() {
        let id = uuid::Uuid::now_v7();
        let ms = id.get_timestamp().map(|t| {
            let (s, n) = t.to_unix();
            s * 1000 + u64::from(n) / 1_000_000
        });
        let name = format!("yunwei_test_{}", id.simple());
        assert_eq!(super::test_db_created_ms(&name), ms);
        assert_eq!(super::test_db_created_ms("yunwei_test_xyz"), None);
        assert_eq!(super::test_db_created_ms("postgres"), None);
        assert_eq!(
            super::test_db_created_ms("yunwei_test_0000000000007000800000000000000g"),
            None
        );
    }

    #[test]
    fn db_name_is_replaced() {
        assert_eq!(
            super::replace_db_name("postgres://u:p@h:5432/postgres", "x"),
            "postgres://u:p@h:5432/x"
        );
        assert_eq!(
            super::replace_db_name("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            super::replace_db_name("postgres://u@h", "x"),
            "postgres://u@h/x"
        );
    }
}
