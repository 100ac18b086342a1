//! Vault KEK rotation: the vault's current KEK label, retired KEKs awaiting destruction, and
//! the secret versions still wrapped under a retired KEK.

use super::Tx;
use crate::error::Result;
use sqlx::{AnyPool, Row};

/// A KEK taken out of use for new writes; destroyed once nothing is wrapped under it.
#[derive(Debug, Clone)]
pub struct RetiredKek {
    /// The retired KEK's keystore label.
    pub kek_label: String,
    /// The vault it belonged to.
    pub vault_id: String,
    /// The vault's org.
    pub org_id: String,
    /// Label of the KEK that replaced it.
    pub replaced_by: String,
    /// When it was retired, unix milliseconds.
    pub retired_at: i64,
    /// When the keystore destroyed it, unix milliseconds; `None` while versions are still
    /// re-wrapped.
    pub destroyed_at: Option<i64>,
}

fn retired_from(r: &sqlx::any::AnyRow) -> Result<RetiredKek> {
    Ok(RetiredKek {
        kek_label: r.try_get("kek_label")?,
        vault_id: r.try_get("vault_id")?,
        org_id: r.try_get("org_id")?,
        replaced_by: r.try_get("replaced_by")?,
        retired_at: r.try_get("retired_at")?,
        destroyed_at: super::opt_i64(r, "destroyed_at")?,
    })
}

const RETIRED_COLS: &str =
    "kek_label, vault_id, org_id, replaced_by, retired_at, destroyed_at FROM retired_keks";

/// The vault's current KEK label, read inside the writing transaction.
pub async fn current_label(tx: &mut Tx, vault_id: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT kek_label FROM vaults WHERE id = $1")
            .bind(vault_id)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

/// Switches the vault from `old` to `new`; `false` when its label was no longer `old`.
pub async fn switch_label(tx: &mut Tx, vault_id: &str, old: &str, new: &str) -> Result<bool> {
    let r = sqlx::query("UPDATE vaults SET kek_label = $1 WHERE id = $2 AND kek_label = $3")
        .bind(new)
        .bind(vault_id)
        .bind(old)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Records a KEK as retired.
pub async fn insert_retired(tx: &mut Tx, k: &RetiredKek) -> Result<()> {
    sqlx::query(
        "INSERT INTO retired_keks (kek_label, vault_id, org_id, replaced_by, retired_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&k.kek_label)
    .bind(&k.vault_id)
    .bind(&k.org_id)
    .bind(&k.replaced_by)
    .bind(k.retired_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Retired KEKs not yet destroyed (to resume their re-wrap after a restart).
pub async fn pending(pool: &AnyPool) -> Result<Vec<RetiredKek>> {
    let rows = sqlx::query(&format!(
        "SELECT {RETIRED_COLS} WHERE destroyed_at IS NULL ORDER BY retired_at"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter().map(retired_from).collect()
}

/// The vault's retired KEKs, oldest first.
pub async fn for_vault(pool: &AnyPool, vault_id: &str) -> Result<Vec<RetiredKek>> {
    let rows = sqlx::query(&format!(
        "SELECT {RETIRED_COLS} WHERE vault_id = $1 ORDER BY retired_at"
    ))
    .bind(vault_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(retired_from).collect()
}

/// Labels of the vault's retired KEKs not yet destroyed, and forgets them (vault deletion).
pub async fn take_for_vault(tx: &mut Tx, vault_id: &str) -> Result<Vec<String>> {
    let labels: Vec<String> = sqlx::query_scalar(
        "SELECT kek_label FROM retired_keks WHERE vault_id = $1 AND destroyed_at IS NULL",
    )
    .bind(vault_id)
    .fetch_all(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM retired_keks WHERE vault_id = $1")
        .bind(vault_id)
        .execute(&mut **tx)
        .await?;
    Ok(labels)
}

/// Records that the KEK was destroyed in the keystore.
pub async fn mark_destroyed(tx: &mut Tx, label: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE retired_keks SET destroyed_at = $1 WHERE kek_label = $2")
        .bind(now)
        .bind(label)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A version whose DEK is wrapped under a retired KEK.
#[derive(Debug, Clone)]
pub struct WrappedVersion {
    /// The secret.
    pub secret_id: String,
    /// The version number.
    pub version: i64,
    /// The secret's path, part of the DEK's associated data.
    pub path: String,
    /// The DEK as wrapped under the retired KEK.
    pub wrapped_dek: Vec<u8>,
}

/// Up to `limit` versions still wrapped under `label`.
pub async fn wrapped_under(tx: &mut Tx, label: &str, limit: i64) -> Result<Vec<WrappedVersion>> {
    let rows = sqlx::query(
        "SELECT v.secret_id, v.version, s.path, v.wrapped_dek FROM secret_versions v \
         JOIN secrets s ON s.id = v.secret_id WHERE v.kek_label = $1 \
         ORDER BY v.secret_id, v.version LIMIT $2",
    )
    .bind(label)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(WrappedVersion {
                secret_id: r.try_get("secret_id")?,
                version: r.try_get("version")?,
                path: r.try_get("path")?,
                wrapped_dek: r.try_get("wrapped_dek")?,
            })
        })
        .collect()
}

/// Versions still wrapped under `label`.
pub async fn count_under(pool: &AnyPool, label: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM secret_versions WHERE kek_label = $1")
            .bind(label)
            .fetch_one(pool)
            .await?,
    )
}

/// Replaces one version's wrapped DEK and KEK label, if it is still under `old`.
pub async fn rewrap(
    tx: &mut Tx,
    secret_id: &str,
    version: i64,
    old: &str,
    new: &str,
    wrapped_dek: &[u8],
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE secret_versions SET wrapped_dek = $1, kek_label = $2 \
         WHERE secret_id = $3 AND version = $4 AND kek_label = $5",
    )
    .bind(wrapped_dek)
    .bind(new)
    .bind(secret_id)
    .bind(version)
    .bind(old)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}
