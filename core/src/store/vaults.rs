//! Vaults.

use super::{opt_str, Tx};
use crate::error::Result;
use crate::model::Vault;
use sqlx::{AnyPool, Row};

const COLS: &str = "v.id, v.org_id, v.name, v.description, v.created_by, v.created_by_type, \
    v.creator_user_id, v.kek_label, v.created_at, \
    (SELECT COUNT(*) FROM secrets s WHERE s.vault_id = v.id AND s.deleted_at IS NULL \
    AND substr(s.path, 1, 1) <> '#') AS secret_count";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Vault> {
    Ok(Vault {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_by: row.try_get("created_by")?,
        created_by_type: row.try_get("created_by_type")?,
        creator_user_id: opt_str(row, "creator_user_id")?,
        kek_label: row.try_get("kek_label")?,
        created_at: row.try_get("created_at")?,
        secret_count: row.try_get("secret_count")?,
    })
}

/// Stores a new vault (the secret count is not stored).
pub async fn insert(tx: &mut Tx, v: &Vault) -> Result<()> {
    sqlx::query(
        "INSERT INTO vaults (id, org_id, name, description, created_by, created_by_type, \
         creator_user_id, kek_label, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
    )
    .bind(&v.id)
    .bind(&v.org_id)
    .bind(&v.name)
    .bind(&v.description)
    .bind(&v.created_by)
    .bind(&v.created_by_type)
    .bind(&v.creator_user_id)
    .bind(&v.kek_label)
    .bind(v.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The vault with this id in this org, if any.
pub async fn get(pool: &AnyPool, org_id: &str, id: &str) -> Result<Option<Vault>> {
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM vaults v WHERE v.id = $1 AND v.org_id = $2"
    ))
    .bind(id)
    .bind(org_id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every vault of the org, oldest first.
pub async fn list(pool: &AnyPool, org_id: &str) -> Result<Vec<Vault>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM vaults v WHERE v.org_id = $1 ORDER BY v.created_at, v.id"
    ))
    .bind(org_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Removes the vault; its secrets, versions and policies go with it (foreign keys cascade).
pub async fn delete(tx: &mut Tx, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM vaults WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
