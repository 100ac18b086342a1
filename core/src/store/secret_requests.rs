//! Secret requests.

use super::{opt_i64, opt_str, Tx};
use crate::error::Result;
use crate::model::SecretRequest;
use sqlx::{AnyPool, Row};

const COLS: &str = "id, org_id, agent_id, label, purpose, suggested_path, status, vault_id, \
    path, granted, policy_id, decline_reason, decided_by, decided_at, expires_at, created_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<SecretRequest> {
    Ok(SecretRequest {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        agent_id: r.try_get("agent_id")?,
        label: r.try_get("label")?,
        purpose: r.try_get("purpose")?,
        suggested_path: opt_str(r, "suggested_path")?,
        status: r.try_get("status")?,
        vault_id: opt_str(r, "vault_id")?,
        path: opt_str(r, "path")?,
        granted: opt_str(r, "granted")?,
        policy_id: opt_str(r, "policy_id")?,
        decline_reason: opt_str(r, "decline_reason")?,
        decided_by: opt_str(r, "decided_by")?,
        decided_at: opt_i64(r, "decided_at")?,
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Stores a new request.
pub async fn insert(tx: &mut Tx, q: &SecretRequest) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO secret_requests ({COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,\
         $13,$14,$15,$16)"
    ))
    .bind(&q.id)
    .bind(&q.org_id)
    .bind(&q.agent_id)
    .bind(&q.label)
    .bind(&q.purpose)
    .bind(&q.suggested_path)
    .bind(&q.status)
    .bind(&q.vault_id)
    .bind(&q.path)
    .bind(&q.granted)
    .bind(&q.policy_id)
    .bind(&q.decline_reason)
    .bind(&q.decided_by)
    .bind(q.decided_at)
    .bind(q.expires_at)
    .bind(q.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One request of the org.
pub async fn get(pool: &AnyPool, org_id: &str, id: &str) -> Result<Option<SecretRequest>> {
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM secret_requests WHERE id = $1 AND org_id = $2"
    ))
    .bind(id)
    .bind(org_id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The org's requests (or one agent's), pending first, then newest first.
pub async fn list(
    pool: &AnyPool,
    org_id: &str,
    agent_id: Option<&str>,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<SecretRequest>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM secret_requests WHERE org_id = $1 AND ($2 = '' OR agent_id = $2) \
         AND ($3 = '' OR status = $3) \
         ORDER BY CASE WHEN status = 'pending' THEN 0 ELSE 1 END, created_at DESC, id LIMIT $4"
    ))
    .bind(org_id)
    .bind(agent_id.unwrap_or(""))
    .bind(status.unwrap_or(""))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Whether any of the org's pending requests has run out of time.
pub async fn any_due(pool: &AnyPool, org_id: &str, now: i64) -> Result<bool> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM secret_requests WHERE org_id = $1 AND status = 'pending' \
         AND expires_at <= $2",
    )
    .bind(org_id)
    .bind(now)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

/// Marks the org's pending requests whose time ran out as expired.
pub async fn expire_due(tx: &mut Tx, org_id: &str, now: i64) -> Result<u64> {
    let r = sqlx::query(
        "UPDATE secret_requests SET status = 'expired' WHERE org_id = $1 AND status = 'pending' \
         AND expires_at <= $2",
    )
    .bind(org_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected())
}

/// Ends a pending request; `false` when it was no longer pending (or had expired).
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    tx: &mut Tx,
    id: &str,
    status: &str,
    vault_id: Option<&str>,
    path: Option<&str>,
    granted: Option<&str>,
    policy_id: Option<&str>,
    decline_reason: Option<&str>,
    decided_by: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE secret_requests SET status = $2, vault_id = $3, path = $4, granted = $5, \
         policy_id = $6, decline_reason = $7, decided_by = $8, decided_at = $9 \
         WHERE id = $1 AND status = 'pending' AND expires_at > $9",
    )
    .bind(id)
    .bind(status)
    .bind(vault_id)
    .bind(path)
    .bind(granted)
    .bind(policy_id)
    .bind(decline_reason)
    .bind(decided_by)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}
