//! Dashboard session records (the storage behind the dashboard's session cookie).

use super::Tx;
use crate::error::Result;
use sqlx::{AnyPool, Row};

/// Inserts or replaces a record.
pub async fn upsert(
    tx: &mut Tx,
    id: &str,
    user_id: Option<&str>,
    data: &str,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO dashboard_sessions (id, user_id, data, expires_at) VALUES ($1,$2,$3,$4) \
         ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, data = excluded.data, \
         expires_at = excluded.expires_at",
    )
    .bind(id)
    .bind(user_id)
    .bind(data)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts a record unless the id is taken; answers whether it was inserted.
pub async fn insert_new(
    tx: &mut Tx,
    id: &str,
    user_id: Option<&str>,
    data: &str,
    expires_at: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO dashboard_sessions (id, user_id, data, expires_at) VALUES ($1,$2,$3,$4) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(user_id)
    .bind(data)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The data of a record that has not expired at `now`.
pub async fn load(pool: &AnyPool, id: &str, now: i64) -> Result<Option<(String, i64)>> {
    let row = sqlx::query(
        "SELECT data, expires_at FROM dashboard_sessions WHERE id = $1 AND expires_at > $2",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    row.map(|r| Ok((r.try_get("data")?, r.try_get("expires_at")?)))
        .transpose()
}

/// Ends one session.
pub async fn delete(tx: &mut Tx, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM dashboard_sessions WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Ends every session of a user; answers how many there were.
pub async fn delete_for_user(tx: &mut Tx, user_id: &str) -> Result<u64> {
    let done = sqlx::query("DELETE FROM dashboard_sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}

/// Removes records that expired before `now`.
pub async fn delete_expired(tx: &mut Tx, now: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}
