//! Shares.

use super::{json_list, opt_i64, opt_str, to_json_list, Tx};
use crate::error::Result;
use crate::model::Share;
use sqlx::{AnyPool, Row};

const COLS: &str = "id, org_id, secret_id, vault_id, secret_path, recipient_type, recipient_id, \
    recipient_email, created_by, created_by_type, passphrase_hash, ip_allowlist, expires_at, \
    max_access_count, access_count, status, created_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Share> {
    Ok(Share {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        secret_id: r.try_get("secret_id")?,
        vault_id: r.try_get("vault_id")?,
        secret_path: r.try_get("secret_path")?,
        recipient_type: r.try_get("recipient_type")?,
        recipient_id: opt_str(r, "recipient_id")?,
        recipient_email: opt_str(r, "recipient_email")?,
        created_by: r.try_get("created_by")?,
        created_by_type: r.try_get("created_by_type")?,
        passphrase_protected: opt_str(r, "passphrase_hash")?.is_some(),
        ip_allowlist: json_list(
            &r.try_get::<String, _>("ip_allowlist")?,
            "shares",
            "ip_allowlist",
        )?,
        expires_at: r.try_get("expires_at")?,
        max_access_count: opt_i64(r, "max_access_count")?,
        access_count: r.try_get("access_count")?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Stores a new share with the Argon2id hash of its passphrase, if it has one.
pub async fn insert(tx: &mut Tx, s: &Share, passphrase_hash: Option<&str>) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO shares ({COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)"
    ))
    .bind(&s.id)
    .bind(&s.org_id)
    .bind(&s.secret_id)
    .bind(&s.vault_id)
    .bind(&s.secret_path)
    .bind(&s.recipient_type)
    .bind(&s.recipient_id)
    .bind(&s.recipient_email)
    .bind(&s.created_by)
    .bind(&s.created_by_type)
    .bind(passphrase_hash)
    .bind(to_json_list(&s.ip_allowlist))
    .bind(s.expires_at)
    .bind(s.max_access_count)
    .bind(s.access_count)
    .bind(&s.status)
    .bind(s.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One share by id, whatever its org, with the hash of its passphrase (if it has one).
pub async fn get(pool: &AnyPool, id: &str) -> Result<Option<(Share, Option<String>)>> {
    let row = sqlx::query(&format!("SELECT {COLS} FROM shares WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref()
        .map(|r| Ok((from_row(r)?, opt_str(r, "passphrase_hash")?)))
        .transpose()
}

/// Shares created by a principal, newest first.
pub async fn outbound(pool: &AnyPool, creator: &str) -> Result<Vec<Share>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM shares WHERE created_by = $1 ORDER BY created_at DESC, id"
    ))
    .bind(creator)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Shares addressed to a principal (by id, or by email for users), newest first, not revoked.
pub async fn inbound(
    pool: &AnyPool,
    recipient_id: &str,
    email: Option<&str>,
) -> Result<Vec<Share>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM shares WHERE status <> 'revoked' AND recipient_type <> 'anyone_with_link' \
         AND (recipient_id = $1 OR (recipient_type = 'external_email' AND recipient_id IS NULL \
         AND recipient_email = $2)) \
         ORDER BY created_at DESC, id"
    ))
    .bind(recipient_id)
    .bind(email.unwrap_or(""))
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Sets the stored status (`accepted`, `declined`, `revoked`).
pub async fn set_status(tx: &mut Tx, id: &str, status: &str) -> Result<()> {
    sqlx::query("UPDATE shares SET status = $1 WHERE id = $2")
        .bind(status)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Counts one access while the share is under its limit; `None` when it was used up.
pub async fn count_access(tx: &mut Tx, id: &str) -> Result<Option<i64>> {
    let row = sqlx::query(
        "UPDATE shares SET access_count = access_count + 1 WHERE id = $1 \
         AND (max_access_count IS NULL OR access_count < max_access_count) RETURNING access_count",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("access_count")?),
        None => None,
    })
}

/// The live secret with this id in the org: `(vault_id, path)`.
pub async fn secret_in_org(
    pool: &AnyPool,
    org_id: &str,
    secret_id: &str,
) -> Result<Option<(String, String)>> {
    let row = sqlx::query(&format!(
        "SELECT s.vault_id, s.path FROM secrets s JOIN vaults v ON v.id = s.vault_id \
         WHERE s.id = $1 AND v.org_id = $2 AND s.deleted_at IS NULL AND {}",
        super::secrets::VISIBLE
    ))
    .bind(secret_id)
    .bind(org_id)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some(r) => Some((r.try_get("vault_id")?, r.try_get("path")?)),
        None => None,
    })
}

/// Binds every unclaimed `external_email` share addressed to `email` to the user who signed up
/// (or verified) with it; returns how many were claimed. Runs in the signup's transaction.
pub async fn claim_external(tx: &mut Tx, email: &str, user_id: &str, now: i64) -> Result<u64> {
    let r = sqlx::query(
        "UPDATE shares SET recipient_id = $1, claimed_at = $2 \
         WHERE recipient_type = 'external_email' AND recipient_email = $3 \
         AND recipient_id IS NULL AND status <> 'revoked'",
    )
    .bind(user_id)
    .bind(now)
    .bind(email)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected())
}
