//! Org membership: members and invitations.

use super::Tx;
use crate::error::Result;
use sqlx::{AnyPool, Row};

/// The org's members, oldest first.
pub async fn members(pool: &AnyPool, org_id: &str) -> Result<Vec<crate::model::User>> {
    let rows = sqlx::query("SELECT id FROM users WHERE org_id = $1 ORDER BY created_at, id")
        .bind(org_id)
        .fetch_all(pool)
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let id: String = r.try_get("id")?;
        if let Some(u) = super::users::by_id(pool, &id).await? {
            out.push(u);
        }
    }
    Ok(out)
}

/// How many owners the org has (so the last one cannot be demoted or removed).
pub async fn count_owners(tx: &mut Tx, org_id: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE org_id = $1 AND role = 'owner'")
            .bind(org_id)
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// Sets a user's org role.
pub async fn set_role(tx: &mut Tx, user_id: &str, role: &str) -> Result<()> {
    sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
        .bind(role)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Deletes the user (their keys and refresh tokens cascade) and the policies naming them.
pub async fn remove_member(tx: &mut Tx, user_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM policies WHERE principal_type = 'user' AND principal_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Stores an invitation of `email` to the org with `role`, valid until `expires_at`.
#[allow(clippy::too_many_arguments)]
pub async fn insert_invite(
    tx: &mut Tx,
    id: &str,
    org_id: &str,
    email: &str,
    role: &str,
    invited_by: &str,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO invites (id, org_id, email, role, invited_by, created_at, expires_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(id)
    .bind(org_id)
    .bind(email)
    .bind(role)
    .bind(invited_by)
    .bind(now)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Claims the newest pending, unexpired invite for the email: `(org_id, role)`. One
/// statement, so it is also the transaction's first write.
pub async fn claim_invite(tx: &mut Tx, email: &str, now: i64) -> Result<Option<(String, String)>> {
    let row = sqlx::query(
        "UPDATE invites SET accepted_at = $1 WHERE id = (SELECT id FROM invites WHERE email = $2 \
         AND accepted_at IS NULL AND expires_at > $1 ORDER BY created_at DESC LIMIT 1) \
         RETURNING org_id, role",
    )
    .bind(now)
    .bind(email)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match row {
        Some(r) => Some((r.try_get("org_id")?, r.try_get("role")?)),
        None => None,
    })
}
