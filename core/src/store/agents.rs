//! Agents. API keys are stored only as keyed hashes.

use super::{json_list, opt_i64, to_json_list, Tx};
use crate::error::Result;
use crate::model::Agent;
use sqlx::{AnyPool, Row};

const COLS: &str = "id, org_id, name, description, scopes, scopes_explicit, vault_ids, is_active, \
    token_ttl_seconds, expires_at, api_key_prefix, api_key_expires_at, created_by, created_at, last_active_at, environment";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Agent> {
    Ok(Agent {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        scopes: json_list(&row.try_get::<String, _>("scopes")?, "agents", "scopes")?,
        scopes_explicit: row.try_get::<i64, _>("scopes_explicit")? != 0,
        vault_ids: json_list(
            &row.try_get::<String, _>("vault_ids")?,
            "agents",
            "vault_ids",
        )?,
        is_active: row.try_get::<i64, _>("is_active")? != 0,
        token_ttl_seconds: opt_i64(row, "token_ttl_seconds")?,
        expires_at: opt_i64(row, "expires_at")?,
        api_key_prefix: row.try_get("api_key_prefix")?,
        api_key_expires_at: opt_i64(row, "api_key_expires_at")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        last_active_at: opt_i64(row, "last_active_at")?,
        environment: super::opt_str(row, "environment")?,
    })
}

/// Stores a new agent with the keyed hash of its API key.
pub async fn insert(tx: &mut Tx, a: &Agent, api_key_hash: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO agents (id, org_id, name, description, scopes, scopes_explicit, vault_ids, \
         is_active, token_ttl_seconds, expires_at, api_key_hash, api_key_prefix, api_key_expires_at, \
         created_by, created_at, environment) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
    )
    .bind(&a.id)
    .bind(&a.org_id)
    .bind(&a.name)
    .bind(&a.description)
    .bind(to_json_list(&a.scopes))
    .bind(a.scopes_explicit as i64)
    .bind(to_json_list(&a.vault_ids))
    .bind(a.is_active as i64)
    .bind(a.token_ttl_seconds)
    .bind(a.expires_at)
    .bind(api_key_hash)
    .bind(&a.api_key_prefix)
    .bind(a.api_key_expires_at)
    .bind(&a.created_by)
    .bind(a.created_at)
    .bind(&a.environment)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A live (not deleted) agent of the org.
pub async fn get(pool: &AnyPool, org_id: &str, id: &str) -> Result<Option<Agent>> {
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM agents WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(org_id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A live agent by the keyed hash of its API key.
pub async fn by_key_hash(pool: &AnyPool, hash: &str) -> Result<Option<Agent>> {
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM agents WHERE api_key_hash = $1 AND deleted_at IS NULL"
    ))
    .bind(hash)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The org's live agents, oldest first.
pub async fn list(pool: &AnyPool, org_id: &str) -> Result<Vec<Agent>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM agents WHERE org_id = $1 AND deleted_at IS NULL ORDER BY created_at, id"
    ))
    .bind(org_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Records `now` as the agent's last activity.
pub async fn touch(tx: &mut Tx, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE agents SET last_active_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Writes the mutable fields of an agent.
pub async fn update(tx: &mut Tx, a: &Agent) -> Result<()> {
    sqlx::query(
        "UPDATE agents SET name = $1, description = $2, scopes = $3, scopes_explicit = $4, \
         vault_ids = $5, is_active = $6, token_ttl_seconds = $7, expires_at = $8, \
         api_key_expires_at = $9, environment = $10 WHERE id = $11 AND deleted_at IS NULL",
    )
    .bind(&a.name)
    .bind(&a.description)
    .bind(to_json_list(&a.scopes))
    .bind(a.scopes_explicit as i64)
    .bind(to_json_list(&a.vault_ids))
    .bind(a.is_active as i64)
    .bind(a.token_ttl_seconds)
    .bind(a.expires_at)
    .bind(a.api_key_expires_at)
    .bind(&a.environment)
    .bind(&a.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deactivates the org's live agent `id` if it is active and returns its name; `None` when
/// there was no such active agent. Its key and live tokens stop working from the commit on.
pub async fn deactivate(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<String>> {
    let row = sqlx::query(
        "UPDATE agents SET is_active = 0 WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL \
         AND is_active = 1 RETURNING name",
    )
    .bind(id)
    .bind(org_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("name")?),
        None => None,
    })
}

/// Replaces the agent's key hash; the old key stops working with the commit.
pub async fn set_key(tx: &mut Tx, id: &str, hash: &str, prefix: &str) -> Result<()> {
    sqlx::query("UPDATE agents SET api_key_hash = $1, api_key_prefix = $2, api_key_expires_at = NULL WHERE id = $3")
        .bind(hash)
        .bind(prefix)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Removes the agent: it disappears from lists and lookups, its policies are deleted, its
/// key hash is replaced so the key cannot match again. Audit events stay.
pub async fn remove(tx: &mut Tx, id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE agents SET deleted_at = $1, is_active = 0, api_key_hash = $2 WHERE id = $3",
    )
    .bind(now)
    .bind(format!("deleted:{id}"))
    .bind(id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM policies WHERE principal_type = 'agent' AND principal_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What authenticating an agent token needs, in one round trip: the live, active, unexpired
/// agent's creator, whether the token's `jti` is revoked, and how many IP rules its org has.
pub async fn token_check(
    pool: &AnyPool,
    id: &str,
    org_id: &str,
    jti: &str,
    now: i64,
) -> Result<Option<(String, bool, i64)>> {
    let row = sqlx::query(
        "SELECT a.created_by, \
           (SELECT COUNT(*) FROM revoked_tokens r WHERE r.jti = $3) AS revoked, \
           (SELECT COUNT(*) FROM ip_rules i WHERE i.org_id = a.org_id) AS ip_rules \
         FROM agents a WHERE a.id = $1 AND a.org_id = $2 AND a.deleted_at IS NULL \
           AND a.is_active = 1 AND (a.expires_at IS NULL OR a.expires_at > $4)",
    )
    .bind(id)
    .bind(org_id)
    .bind(jti)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some(r) => Some((
            r.try_get("created_by")?,
            r.try_get::<i64, _>("revoked")? > 0,
            r.try_get("ip_rules")?,
        )),
        None => None,
    })
}
