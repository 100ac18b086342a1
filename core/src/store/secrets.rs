//! Secrets and their versions. Values are only ever stored sealed.

use super::{opt_i64, Tx};
use crate::envelope::Sealed;
use crate::error::Result;
use crate::model::SecretVersion;
use sqlx::{AnyPool, Row};

/// A version with its sealed value.
#[derive(Debug, Clone)]
pub struct SealedVersion {
    /// The version's metadata.
    pub meta: SecretVersion,
    /// The ciphertext, nonce and wrapped DEK.
    pub sealed: Sealed,
}

/// Secrets a secret route may name: not the hidden ones (`#env/<id>`, env-var values), whose
/// paths no [`SecretPath`](crate::secret_path::SecretPath) can spell.
pub(crate) const VISIBLE: &str = "substr(s.path, 1, 1) <> '#'";

const META_COLS: &str = "s.id AS secret_id, s.vault_id, s.path, s.deleted_at, v.version, \
    v.secret_type, v.metadata, v.expires_at, v.max_access_count, v.access_count, v.is_disabled, \
    v.created_by, v.created_at, v.kek_label";

fn meta_from(row: &sqlx::any::AnyRow) -> Result<SecretVersion> {
    Ok(SecretVersion {
        secret_id: row.try_get("secret_id")?,
        vault_id: row.try_get("vault_id")?,
        path: row.try_get("path")?,
        deleted: opt_i64(row, "deleted_at")?.is_some(),
        version: row.try_get("version")?,
        secret_type: row.try_get("secret_type")?,
        metadata: row.try_get("metadata")?,
        expires_at: opt_i64(row, "expires_at")?,
        max_access_count: opt_i64(row, "max_access_count")?,
        access_count: row.try_get("access_count")?,
        is_disabled: row.try_get::<i64, _>("is_disabled")? != 0,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        kek_label: row.try_get("kek_label")?,
    })
}

/// The live secret at a path: `(secret_id, latest_version)`.
pub async fn live_secret(tx: &mut Tx, vault_id: &str, path: &str) -> Result<Option<(String, i64)>> {
    let row = sqlx::query(
        "SELECT id, latest_version FROM secrets WHERE vault_id = $1 AND path = $2 AND deleted_at IS NULL",
    )
    .bind(vault_id)
    .bind(path)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match row {
        Some(r) => Some((r.try_get("id")?, r.try_get("latest_version")?)),
        None => None,
    })
}

/// Creates the secret row for a new path, with version 1 as its latest.
pub async fn insert_secret(
    tx: &mut Tx,
    id: &str,
    vault_id: &str,
    path: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO secrets (id, vault_id, path, latest_version, created_at) VALUES ($1,$2,$3,1,$4)",
    )
    .bind(id)
    .bind(vault_id)
    .bind(path)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Points the secret at `version` as its latest.
pub async fn set_latest(tx: &mut Tx, secret_id: &str, version: i64) -> Result<()> {
    sqlx::query("UPDATE secrets SET latest_version = $1 WHERE id = $2")
        .bind(version)
        .bind(secret_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inserts one sealed version.
pub async fn insert_version(
    tx: &mut Tx,
    v: &SecretVersion,
    sealed: &Sealed,
    algorithm: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO secret_versions (secret_id, version, secret_type, metadata, ciphertext, nonce, \
         wrapped_dek, kek_label, algorithm, expires_at, max_access_count, access_count, is_disabled, \
         created_by, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,0,0,$12,$13)",
    )
    .bind(&v.secret_id)
    .bind(v.version)
    .bind(&v.secret_type)
    .bind(&v.metadata)
    .bind(&sealed.ciphertext)
    .bind(&sealed.nonce)
    .bind(&sealed.wrapped_dek)
    .bind(&v.kek_label)
    .bind(algorithm)
    .bind(v.expires_at)
    .bind(v.max_access_count)
    .bind(&v.created_by)
    .bind(v.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The newest non-disabled version of the most recent secret at `path` (live or deleted),
/// with its sealed value. `None` when no secret was ever written at the path.
pub async fn latest_for_read(
    pool: &AnyPool,
    vault_id: &str,
    path: &str,
) -> Result<Option<SealedVersion>> {
    let row = sqlx::query(&format!(
        "SELECT {META_COLS}, v.ciphertext, v.nonce, v.wrapped_dek FROM secrets s \
         JOIN secret_versions v ON v.secret_id = s.id \
         WHERE s.vault_id = $1 AND s.path = $2 \
         ORDER BY (CASE WHEN s.deleted_at IS NULL THEN 0 ELSE 1 END), s.created_at DESC, \
                  v.is_disabled, v.version DESC LIMIT 1"
    ))
    .bind(vault_id)
    .bind(path)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(SealedVersion {
        meta: meta_from(&row)?,
        sealed: Sealed {
            ciphertext: row.try_get("ciphertext")?,
            nonce: row.try_get("nonce")?,
            wrapped_dek: row.try_get("wrapped_dek")?,
        },
    }))
}

/// Counts one read of a version, only while it is under its `max_access_count`. Returns the new
/// count, or `None` when the limit was already reached (a conditional update, exact under
/// concurrency).
pub async fn count_access(tx: &mut Tx, secret_id: &str, version: i64) -> Result<Option<i64>> {
    let row = sqlx::query(
        "UPDATE secret_versions SET access_count = access_count + 1 \
         WHERE secret_id = $1 AND version = $2 \
         AND (max_access_count IS NULL OR access_count < max_access_count) RETURNING access_count",
    )
    .bind(secret_id)
    .bind(version)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("access_count")?),
        None => None,
    })
}

/// Latest version metadata of every live secret in the vault whose path starts with `prefix`,
/// sorted by path.
pub async fn list_latest(
    pool: &AnyPool,
    vault_id: &str,
    prefix: &str,
) -> Result<Vec<SecretVersion>> {
    let rows = sqlx::query(&format!(
        "SELECT {META_COLS} FROM secrets s \
         JOIN secret_versions v ON v.secret_id = s.id AND v.version = s.latest_version \
         WHERE s.vault_id = $1 AND s.deleted_at IS NULL AND substr(s.path, 1, CAST($2 AS INTEGER)) = $3 \
         AND {VISIBLE} ORDER BY s.path"
    ))
    .bind(vault_id)
    .bind(prefix.len() as i64)
    .bind(prefix)
    .fetch_all(pool)
    .await?;
    rows.iter().map(meta_from).collect()
}

/// Soft-deletes the live secret at the path; returns its id, or `None` if there was none.
pub async fn soft_delete(
    tx: &mut Tx,
    vault_id: &str,
    path: &str,
    now: i64,
) -> Result<Option<String>> {
    let row = sqlx::query(
        "UPDATE secrets SET deleted_at = $1 WHERE vault_id = $2 AND path = $3 AND deleted_at IS NULL RETURNING id",
    )
    .bind(now)
    .bind(vault_id)
    .bind(path)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("id")?),
        None => None,
    })
}

/// The most recent secret (live or deleted) at the path: `(secret_id, deleted)`.
pub async fn newest_at(
    pool: &AnyPool,
    vault_id: &str,
    path: &str,
) -> Result<Option<(String, bool)>> {
    let row = sqlx::query(
        "SELECT id, deleted_at FROM secrets WHERE vault_id = $1 AND path = $2 \
         ORDER BY (CASE WHEN deleted_at IS NULL THEN 0 ELSE 1 END), created_at DESC LIMIT 1",
    )
    .bind(vault_id)
    .bind(path)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some(r) => Some((r.try_get("id")?, opt_i64(&r, "deleted_at")?.is_some())),
        None => None,
    })
}

/// Every version of a secret, ascending.
pub async fn versions(pool: &AnyPool, secret_id: &str) -> Result<Vec<SecretVersion>> {
    let rows = sqlx::query(&format!(
        "SELECT {META_COLS} FROM secrets s JOIN secret_versions v ON v.secret_id = s.id \
         WHERE s.id = $1 ORDER BY v.version"
    ))
    .bind(secret_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(meta_from).collect()
}

/// One version of a secret with its sealed value.
pub async fn version_for_read(
    pool: &AnyPool,
    secret_id: &str,
    version: i64,
) -> Result<Option<SealedVersion>> {
    let row = sqlx::query(&format!(
        "SELECT {META_COLS}, v.ciphertext, v.nonce, v.wrapped_dek FROM secrets s \
         JOIN secret_versions v ON v.secret_id = s.id WHERE s.id = $1 AND v.version = $2"
    ))
    .bind(secret_id)
    .bind(version)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(SealedVersion {
        meta: meta_from(&row)?,
        sealed: Sealed {
            ciphertext: row.try_get("ciphertext")?,
            nonce: row.try_get("nonce")?,
            wrapped_dek: row.try_get("wrapped_dek")?,
        },
    }))
}

/// Disables one version (idempotent); false when the version does not exist.
pub async fn disable_version(tx: &mut Tx, secret_id: &str, version: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE secret_versions SET is_disabled = 1 WHERE secret_id = $1 AND version = $2",
    )
    .bind(secret_id)
    .bind(version)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}
