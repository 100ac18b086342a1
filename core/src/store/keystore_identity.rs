//! The recorded identity of the keystore the database belongs to.

use super::Store;
use crate::error::Result;
use sqlx::Row;

/// What was recorded at first start.
pub struct RecordedIdentity {
    /// Lowercase hex of the raw Ed25519 JWT public key.
    pub jwt_public_key: String,
    /// The token label in use when it was recorded.
    pub token_label: String,
}

/// The recorded identity, if any.
pub async fn get(store: &Store) -> Result<Option<RecordedIdentity>> {
    let row = sqlx::query("SELECT jwt_public_key, token_label FROM keystore_identity WHERE id = 1")
        .fetch_optional(store.pool())
        .await?;
    Ok(match row {
        Some(r) => Some(RecordedIdentity {
            jwt_public_key: r.try_get("jwt_public_key")?,
            token_label: r.try_get("token_label")?,
        }),
        None => None,
    })
}

/// Records (or, for an ephemeral keystore, replaces) the identity.
pub async fn record(
    store: &Store,
    jwt_public_key: &str,
    token_label: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO keystore_identity (id, jwt_public_key, token_label, recorded_at) \
         VALUES (1, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET \
         jwt_public_key = excluded.jwt_public_key, token_label = excluded.token_label, \
         recorded_at = excluded.recorded_at",
    )
    .bind(jwt_public_key)
    .bind(token_label)
    .bind(now)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// The KEK label of the oldest vault, if there is a vault.
pub async fn some_vault_kek(store: &Store) -> Result<Option<(String, String)>> {
    let row = sqlx::query("SELECT id, kek_label FROM vaults ORDER BY created_at, id LIMIT 1")
        .fetch_optional(store.pool())
        .await?;
    Ok(match row {
        Some(r) => Some((r.try_get("id")?, r.try_get("kek_label")?)),
        None => None,
    })
}

/// Whether the database at `url` holds nothing of Talon's yet (no migrations applied). A
/// SQLite file that does not exist is fresh; it is not created here.
pub async fn database_is_fresh(url: &str) -> Result<bool> {
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    if sqlite {
        let path = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .split('?')
            .next()
            .unwrap_or_default();
        match std::fs::metadata(path) {
            Err(_) => return Ok(true),
            Ok(m) if m.len() == 0 => return Ok(true),
            Ok(_) => {}
        }
    }
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot connect to the database");
            crate::error::Error::Unavailable(crate::error::Dependency::Database)
        })?;
    let sql = if sqlite {
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
    } else {
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = '_sqlx_migrations' \
         AND table_schema = current_schema()"
    };
    let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await?;
    let _ = sqlx::Connection::close(conn).await;
    Ok(n == 0)
}
