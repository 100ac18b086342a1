//! Personal API keys and the access-token revocation list.

use super::{json_list, opt_i64, to_json_list, Tx};
use crate::error::Result;
use crate::model::ApiKey;
use sqlx::{AnyPool, Row};

const COLS: &str = "id, user_id, org_id, name, key_prefix, scopes, is_active, created_at, expires_at, last_used_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        org_id: row.try_get("org_id")?,
        name: row.try_get("name")?,
        key_prefix: row.try_get("key_prefix")?,
        scopes: json_list(&row.try_get::<String, _>("scopes")?, "api_keys", "scopes")?,
        is_active: row.try_get::<i64, _>("is_active")? != 0,
        created_at: row.try_get("created_at")?,
        expires_at: opt_i64(row, "expires_at")?,
        last_used_at: opt_i64(row, "last_used_at")?,
    })
}

/// Stores a new key with its keyed hash (the key itself is never stored).
pub async fn insert(tx: &mut Tx, k: &ApiKey, hash: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, user_id, org_id, name, key_hash, key_prefix, scopes, is_active, \
         created_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,1,$8,$9)",
    )
    .bind(&k.id)
    .bind(&k.user_id)
    .bind(&k.org_id)
    .bind(&k.name)
    .bind(hash)
    .bind(&k.key_prefix)
    .bind(to_json_list(&k.scopes))
    .bind(k.created_at)
    .bind(k.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The key whose keyed hash is `hash`, active or not.
pub async fn by_hash(pool: &AnyPool, hash: &str) -> Result<Option<ApiKey>> {
    let row = sqlx::query(&format!("SELECT {COLS} FROM api_keys WHERE key_hash = $1"))
        .bind(hash)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// One key by id, active or not.
pub async fn get(pool: &AnyPool, id: &str) -> Result<Option<ApiKey>> {
    let row = sqlx::query(&format!("SELECT {COLS} FROM api_keys WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The user's keys, oldest first, revoked ones included.
pub async fn list_for_user(pool: &AnyPool, user_id: &str) -> Result<Vec<ApiKey>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM api_keys WHERE user_id = $1 ORDER BY created_at, id"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Revokes a key.
pub async fn deactivate(tx: &mut Tx, id: &str) -> Result<()> {
    sqlx::query("UPDATE api_keys SET is_active = 0 WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records use at most once a minute.
pub async fn touch(pool: &AnyPool, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)")
        .bind(now)
        .bind(id)
        .bind(now - 60_000)
        .execute(pool)
        .await?;
    Ok(())
}

/// Puts an access token's `jti` on the revocation list until it expires.
pub async fn revoke_jti(tx: &mut Tx, jti: &str, expires_at: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
    )
    .bind(jti)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether an access token's `jti` is on the revocation list.
pub async fn is_revoked(pool: &AnyPool, jti: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM revoked_tokens WHERE jti = $1")
        .bind(jti)
        .fetch_one(pool)
        .await?;
    Ok(n > 0)
}
