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

/// Create an empty PostgreSQL database for a test; returns its URL.
pub async fn fresh_pg_url(server: &str) -> String {
    use sqlx::Connection;
    let name = format!("yunwei_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .expect("connect to YUNWEI_TEST_DATABASE_URL");
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
