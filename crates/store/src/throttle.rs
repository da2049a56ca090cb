//! Failed sign-in counting per key (a username, an address), in the database so that every
//! node counts the same failures.

use chrono::{DateTime, Utc};

use crate::{on_ex, on_tx, Ex, Result, Tx};

/// Count one failure; a window older than `window_start_after` starts over.
pub async fn record_failure(
    tx: &mut Tx,
    key: &str,
    now: DateTime<Utc>,
    window_start_after: DateTime<Utc>,
) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO login_failures (key, window_start, failures) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN login_failures.window_start > $3 THEN login_failures.failures + 1 ELSE 1 END, \
           window_start = CASE WHEN login_failures.window_start > $3 THEN login_failures.window_start ELSE $2 END"
    )
    .bind(key)
    .bind(now)
    .bind(window_start_after)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

/// Failures counted for the key in a window that began after `window_start_after`.
pub async fn failures<'a>(
    ex: impl Into<Ex<'a>>,
    key: &str,
    window_start_after: DateTime<Utc>,
) -> Result<i64> {
    let n = on_ex!(ex.into(), |c| sqlx::query_scalar::<_, i64>(
        "SELECT failures FROM login_failures WHERE key = $1 AND window_start > $2"
    )
    .bind(key)
    .bind(window_start_after)
    .fetch_optional(c)
    .await)?;
    Ok(n.unwrap_or(0))
}

pub async fn clear(tx: &mut Tx, key: &str) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "DELETE FROM login_failures WHERE key = $1"
    )
    .bind(key)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}
