//! Per-org cache epochs: see `migrations/*/0017_cache_epochs.sql`.

use super::{Backend, Tx};
use crate::error::Result;
use sqlx::AnyPool;

/// The notification channel that carries an org id after each raise (PostgreSQL).
pub const CHANNEL: &str = "talon_cache";

/// Raises the org's epoch inside `tx`; on PostgreSQL also queues a notification naming the
/// org, delivered to every listening process when `tx` commits.
pub async fn bump(tx: &mut Tx, backend: Backend, org_id: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO cache_epochs (org_id, gen) VALUES ($1, 1) \
         ON CONFLICT (org_id) DO UPDATE SET gen = cache_epochs.gen + 1",
    )
    .bind(org_id)
    .execute(&mut **tx)
    .await?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(org_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The org's epoch as committed (0 before its first change).
pub async fn current(pool: &AnyPool, org_id: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT gen FROM cache_epochs WHERE org_id = $1")
            .bind(org_id)
            .fetch_optional(pool)
            .await?
            .unwrap_or(0),
    )
}

/// The org's epoch as `tx` sees it.
pub async fn current_in(tx: &mut Tx, org_id: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT gen FROM cache_epochs WHERE org_id = $1")
            .bind(org_id)
            .fetch_optional(&mut **tx)
            .await?
            .unwrap_or(0),
    )
}
