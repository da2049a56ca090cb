//! Installation-wide key/value settings (e.g. whether the first administrator exists).

use crate::{on_ex, on_tx, sqlite_read, Ex, Result, Tx};

pub async fn get<'a>(ex: impl Into<Ex<'a>>, key: &str) -> Result<Option<String>> {
    let sql = "SELECT value FROM settings WHERE key = $1";
    let ex = ex.into();
    if let Some(d) = ex.direct()? {
        return Ok(sqlite_read::query(d.conn(), sql, &[key.into()], |r| r.get(0))?.pop());
    }
    Ok(on_ex!(ex, |c| sqlx::query_scalar::<_, String>(sql)
        .bind(key)
        .fetch_optional(c)
        .await)?)
}

/// Insert the key only if it is absent; true when this call inserted it.
pub async fn insert_if_absent(tx: &mut Tx, key: &str, value: &str) -> Result<bool> {
    let n = on_tx!(tx, |c| sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"
    )
    .bind(key)
    .bind(value)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn set(tx: &mut Tx, key: &str, value: &str) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    )
    .bind(key)
    .bind(value)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}
