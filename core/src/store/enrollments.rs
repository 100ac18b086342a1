//! Agent self-enrollment requests.

use super::{opt_str, Tx};
use crate::envelope::Sealed;
use crate::error::Result;
use sqlx::{AnyPool, Row};

/// An enrollment request.
#[derive(Debug, Clone)]
pub struct EnrollmentRow {
    /// The request's id (the pairing id).
    pub id: String,
    /// Keyed hash of the `ep_` poll token.
    pub poll_hash: String,
    /// The name the agent asked for.
    pub name: String,
    /// The description the agent gave.
    pub description: String,
    /// The human the agent named as approver, when it named one.
    pub human_email: Option<String>,
    /// `pending`, `approved` or `denied`.
    pub status: String,
    /// The agent created on approval.
    pub agent_id: Option<String>,
    /// When the request lapses, unix milliseconds.
    pub expires_at: i64,
}

/// Stores a new `pending` request.
#[allow(clippy::too_many_arguments)]
pub async fn insert(tx: &mut Tx, e: &EnrollmentRow, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO enrollments (id, poll_hash, name, description, human_email, status, created_at, expires_at) \
         VALUES ($1,$2,$3,$4,$5,'pending',$6,$7)",
    )
    .bind(&e.id)
    .bind(&e.poll_hash)
    .bind(&e.name)
    .bind(&e.description)
    .bind(&e.human_email)
    .bind(now)
    .bind(e.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One request by id.
pub async fn get(pool: &AnyPool, id: &str) -> Result<Option<EnrollmentRow>> {
    let row = sqlx::query(
        "SELECT id, poll_hash, name, description, human_email, status, agent_id, expires_at FROM enrollments WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(EnrollmentRow {
        id: r.try_get("id")?,
        poll_hash: r.try_get("poll_hash")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        human_email: opt_str(&r, "human_email")?,
        status: r.try_get("status")?,
        agent_id: opt_str(&r, "agent_id")?,
        expires_at: r.try_get("expires_at")?,
    }))
}

/// Moves a pending request to `approved` (with the agent and its sealed key) or `denied`;
/// false when it was no longer pending.
pub async fn decide(
    tx: &mut Tx,
    id: &str,
    status: &str,
    org_id: Option<&str>,
    agent_id: Option<&str>,
    key: Option<&Sealed>,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE enrollments SET status = $1, org_id = $2, agent_id = $3, key_ciphertext = $4, \
         key_nonce = $5, key_wrapped_dek = $6 WHERE id = $7 AND status = 'pending'",
    )
    .bind(status)
    .bind(org_id)
    .bind(agent_id)
    .bind(key.map(|k| k.ciphertext.clone()))
    .bind(key.map(|k| k.nonce.clone()))
    .bind(key.map(|k| k.wrapped_dek.clone()))
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Takes the sealed key out (once): later polls find none. The first statement locks the row
/// (a write), so two concurrent polls cannot both take it.
pub async fn take_key(tx: &mut Tx, id: &str) -> Result<Option<Sealed>> {
    sqlx::query("UPDATE enrollments SET status = status WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let row = sqlx::query(
        "SELECT key_ciphertext, key_nonce, key_wrapped_dek FROM enrollments \
         WHERE id = $1 AND key_ciphertext IS NOT NULL",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(r) = row else { return Ok(None) };
    sqlx::query("UPDATE enrollments SET key_ciphertext = NULL, key_nonce = NULL, key_wrapped_dek = NULL WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(Some(Sealed {
        ciphertext: r.try_get("key_ciphertext")?,
        nonce: r.try_get("key_nonce")?,
        wrapped_dek: r.try_get("key_wrapped_dek")?,
    }))
}
