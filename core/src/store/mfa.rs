//! TOTP enrolment per user.

use super::Tx;
use crate::envelope::Sealed;
use crate::error::Result;
use sqlx::{AnyPool, Row};

/// A user's TOTP record.
#[derive(Debug, Clone)]
pub struct MfaRow {
    /// The TOTP seed, sealed like a secret value.
    pub sealed: Sealed,
    /// Label of the KEK its DEK is wrapped under.
    pub kek_label: String,
    /// False while setup awaits its first valid code.
    pub enabled: bool,
    /// Keyed hashes of the unused recovery codes.
    pub recovery_codes: Vec<String>,
}

/// The user's TOTP record, pending or enabled.
pub async fn get(pool: &AnyPool, user_id: &str) -> Result<Option<MfaRow>> {
    let row = sqlx::query(
        "SELECT seed_ciphertext, seed_nonce, seed_wrapped_dek, kek_label, enabled, recovery_codes \
         FROM mfa WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(MfaRow {
        sealed: Sealed {
            ciphertext: r.try_get("seed_ciphertext")?,
            nonce: r.try_get("seed_nonce")?,
            wrapped_dek: r.try_get("seed_wrapped_dek")?,
        },
        kek_label: r.try_get("kek_label")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        recovery_codes: super::json_list(
            &r.try_get::<String, _>("recovery_codes")?,
            "mfa",
            "recovery_codes",
        )?,
    }))
}

/// Stores a pending (not yet enabled) seed, replacing any earlier pending one.
pub async fn put_pending(
    tx: &mut Tx,
    user_id: &str,
    sealed: &Sealed,
    kek: &str,
    now: i64,
) -> Result<()> {
    sqlx::query("DELETE FROM mfa WHERE user_id = $1 AND enabled = 0")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO mfa (user_id, seed_ciphertext, seed_nonce, seed_wrapped_dek, kek_label, enabled, \
         last_step, recovery_codes, created_at) VALUES ($1,$2,$3,$4,$5,0,0,'[]',$6)",
    )
    .bind(user_id)
    .bind(&sealed.ciphertext)
    .bind(&sealed.nonce)
    .bind(&sealed.wrapped_dek)
    .bind(kek)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records the accepted step only if it is newer than the last one: a code is accepted once.
pub async fn consume_step(tx: &mut Tx, user_id: &str, step: i64) -> Result<bool> {
    let r = sqlx::query("UPDATE mfa SET last_step = $1 WHERE user_id = $2 AND last_step < $1")
        .bind(step)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Turns on the pending seed and stores the keyed hashes of the recovery codes.
pub async fn enable(tx: &mut Tx, user_id: &str, recovery_hashes: &[String]) -> Result<()> {
    sqlx::query("UPDATE mfa SET enabled = 1, recovery_codes = $1 WHERE user_id = $2")
        .bind(super::to_json_list(recovery_hashes))
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Replaces the keyed hashes of the unused recovery codes.
pub async fn set_recovery(tx: &mut Tx, user_id: &str, recovery_hashes: &[String]) -> Result<()> {
    sqlx::query("UPDATE mfa SET recovery_codes = $1 WHERE user_id = $2")
        .bind(super::to_json_list(recovery_hashes))
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Removes the user's TOTP record, turning MFA off.
pub async fn delete(tx: &mut Tx, user_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM mfa WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
