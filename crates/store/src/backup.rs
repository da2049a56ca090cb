//! Backups of a SQLite installation: `VACUUM INTO` writes a consistent copy of the live
//! database (readers and writers go on meanwhile), and restore puts such a copy in place.

use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;

use crate::{Db, Result, StoreError};

/// Write a consistent copy of the running SQLite database to `dest` (which must not exist).
pub async fn backup_sqlite(db: &Db, dest: &Path) -> Result<()> {
    let Db::Sqlite(p) = db else {
        return Err(StoreError::Other(
            "backup works on SQLite; for PostgreSQL use pg_dump, or `yunwei migrate-store` to a SQLite file".into(),
        ));
    };
    if dest.exists() {
        return Err(StoreError::Other(format!(
            "{} already exists; choose a new file",
            dest.display()
        )));
    }
    let dest_str = dest
        .to_str()
        .ok_or_else(|| StoreError::Other("backup path is not UTF-8".into()))?;
    sqlx::query("VACUUM INTO $1")
        .bind(dest_str)
        .execute(p)
        .await?;
    Ok(())
}

/// Check that `file` is a yunwei SQLite database (it opens, passes an integrity check and has
/// our migrations applied).
pub async fn check_backup(file: &Path) -> Result<i64> {
    let mut conn = SqliteConnectOptions::new()
        .filename(file)
        .read_only(true)
        .connect()
        .await?;
    let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await?;
    if ok != "ok" {
        return Err(StoreError::Other(format!(
            "{} failed the integrity check: {ok}",
            file.display()
        )));
    }
    let applied: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&mut conn)
            .await
            .map_err(|_| {
                StoreError::Other(format!("{} is not a yunwei database", file.display()))
            })?;
    if applied == 0 {
        return Err(StoreError::Other(format!(
            "{} is not a yunwei database",
            file.display()
        )));
    }
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut conn)
        .await?;
    Ok(users)
}

/// Put a backup in place as the database of `data_dir`. Refuses a data directory that holds
/// a database unless `force`.
pub async fn restore_sqlite(file: &Path, data_dir: &Path, force: bool) -> Result<()> {
    check_backup(file).await?;
    let target = crate::sqlite_path(data_dir);
    if target.exists() && !force {
        return Err(StoreError::Other(format!(
            "{} already holds a database; restore into a new data directory, or pass --force to replace it",
            data_dir.display()
        )));
    }
    std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Other(e.to_string()))?;
    let tmp = data_dir.join("yunwei.db.restoring");
    std::fs::copy(file, &tmp).map_err(|e| StoreError::Other(e.to_string()))?;
    for ext in ["-wal", "-shm"] {
        let side = data_dir.join(format!("yunwei.db{ext}"));
        if side.exists() {
            std::fs::remove_file(&side).map_err(|e| StoreError::Other(e.to_string()))?;
        }
    }
    std::fs::rename(&tmp, &target).map_err(|e| StoreError::Other(e.to_string()))?;
    crate::sqlite_read::forget(&target);
    Ok(())
}
