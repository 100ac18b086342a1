//! Fixed-window counters in the database, so every process sharing it sees the same counts.

use crate::error::Result;
use sqlx::{AnyPool, Row};

/// Adds one to the bucket's count in the window starting at `window_start` (a new window resets
/// the count) and returns the count after the increment.
pub async fn hit(pool: &AnyPool, bucket: &str, window_start: i64) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO rate_limits (bucket, window_start, count) VALUES ($1, $2, 1) \
         ON CONFLICT (bucket) DO UPDATE SET \
           count = CASE WHEN rate_limits.window_start = excluded.window_start THEN rate_limits.count + 1 ELSE 1 END, \
           window_start = excluded.window_start \
         RETURNING count",
    )
    .bind(bucket)
    .bind(window_start)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get("count")?)
}

/// The bucket's count in the window starting at `window_start` (0 for an older window).
pub async fn count(pool: &AnyPool, bucket: &str, window_start: i64) -> Result<i64> {
    let n: Option<i64> =
        sqlx::query_scalar("SELECT count FROM rate_limits WHERE bucket = $1 AND window_start = $2")
            .bind(bucket)
            .bind(window_start)
            .fetch_optional(pool)
            .await?;
    Ok(n.unwrap_or(0))
}
