//! Access policies.

use super::{json_list, opt_i64, to_json_list, Tx};
use crate::error::Result;
use crate::model::Policy;
use sqlx::{AnyPool, Row};

const COLS: &str = "id, vault_id, secret_path_pattern, principal_type, principal_id, permissions, \
    conditions, expires_at, effect, priority, created_by, created_by_type, created_at, updated_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Policy> {
    Ok(Policy {
        id: row.try_get("id")?,
        vault_id: row.try_get("vault_id")?,
        secret_path_pattern: row.try_get("secret_path_pattern")?,
        principal_type: row.try_get("principal_type")?,
        principal_id: row.try_get("principal_id")?,
        permissions: json_list(
            &row.try_get::<String, _>("permissions")?,
            "policies",
            "permissions",
        )?,
        conditions: row.try_get("conditions")?,
        expires_at: opt_i64(row, "expires_at")?,
        effect: row.try_get("effect")?,
        priority: row.try_get("priority")?,
        created_by: row.try_get("created_by")?,
        created_by_type: row.try_get("created_by_type")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Stores a new policy.
pub async fn insert(tx: &mut Tx, p: &Policy) -> Result<()> {
    sqlx::query(
        "INSERT INTO policies (id, vault_id, secret_path_pattern, principal_type, principal_id, \
         permissions, conditions, expires_at, effect, priority, created_by, created_by_type, \
         created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
    )
    .bind(&p.id)
    .bind(&p.vault_id)
    .bind(&p.secret_path_pattern)
    .bind(&p.principal_type)
    .bind(&p.principal_id)
    .bind(to_json_list(&p.permissions))
    .bind(&p.conditions)
    .bind(p.expires_at)
    .bind(&p.effect)
    .bind(p.priority)
    .bind(&p.created_by)
    .bind(&p.created_by_type)
    .bind(p.created_at)
    .bind(p.updated_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// All policies of a vault, oldest first.
pub async fn for_vault(pool: &AnyPool, vault_id: &str) -> Result<Vec<Policy>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM policies WHERE vault_id = $1 ORDER BY created_at, id"
    ))
    .bind(vault_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The policies of one principal on one vault.
pub async fn for_principal(
    pool: &AnyPool,
    vault_id: &str,
    principal_type: &str,
    principal_id: &str,
) -> Result<Vec<Policy>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM policies WHERE vault_id = $1 AND principal_type = $2 AND principal_id = $3"
    ))
    .bind(vault_id)
    .bind(principal_type)
    .bind(principal_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Ids of vaults where the principal holds at least one unexpired allow policy.
pub async fn granted_vaults(
    pool: &AnyPool,
    principal_type: &str,
    principal_id: &str,
    now: i64,
) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT DISTINCT vault_id FROM policies WHERE principal_type = $1 AND principal_id = $2 \
         AND effect = 'allow' AND (expires_at IS NULL OR expires_at > $3)",
    )
    .bind(principal_type)
    .bind(principal_id)
    .bind(now)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("vault_id")?))
        .collect()
}

/// Patterns of the agent's unexpired allow policies (the informational `scopes` claim).
pub async fn agent_patterns(pool: &AnyPool, agent_id: &str, now: i64) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT DISTINCT secret_path_pattern FROM policies WHERE principal_type = 'agent' \
         AND principal_id = $1 AND effect = 'allow' AND (expires_at IS NULL OR expires_at > $2) \
         ORDER BY secret_path_pattern",
    )
    .bind(agent_id)
    .bind(now)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("secret_path_pattern")?))
        .collect()
}

/// One policy of a vault.
pub async fn get(pool: &AnyPool, vault_id: &str, id: &str) -> Result<Option<Policy>> {
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM policies WHERE id = $1 AND vault_id = $2"
    ))
    .bind(id)
    .bind(vault_id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// One policy by id, whatever its vault (the caller checks the vault's org).
pub async fn by_id(pool: &AnyPool, id: &str) -> Result<Option<Policy>> {
    let row = sqlx::query(&format!("SELECT {COLS} FROM policies WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Writes the mutable fields of a policy.
pub async fn update(tx: &mut Tx, p: &Policy) -> Result<()> {
    sqlx::query(
        "UPDATE policies SET permissions = $1, conditions = $2, expires_at = $3, effect = $4, \
         priority = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(to_json_list(&p.permissions))
    .bind(&p.conditions)
    .bind(p.expires_at)
    .bind(&p.effect)
    .bind(p.priority)
    .bind(p.updated_at)
    .bind(&p.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes a policy.
pub async fn delete(tx: &mut Tx, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM policies WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
