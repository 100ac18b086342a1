//! CLI device codes.

use super::{opt_str, Tx};
use crate::error::Result;
use sqlx::{AnyPool, Row};

/// A device authorization request.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    /// The request's id.
    pub id: String,
    /// Keyed hash of the `dc_` device code the CLI polls with.
    pub device_hash: String,
    /// The short code the human approves, `ABCD-EFGH`.
    pub user_code: String,
    /// The name the CLI gave for itself.
    pub client_id: String,
    /// The only account allowed to approve, when the CLI named one.
    pub email: Option<String>,
    /// `pending`, `approved`, `denied` or `redeemed`.
    pub status: String,
    /// The user who approved or denied it.
    pub user_id: Option<String>,
    /// When the code pair expires, unix milliseconds.
    pub expires_at: i64,
    /// The CLI's last poll, unix milliseconds, for `slow_down`.
    pub last_poll_at: Option<i64>,
}

const COLUMNS: &str =
    "id, device_hash, user_code, client_id, email, status, user_id, expires_at, last_poll_at";

fn row(r: &sqlx::any::AnyRow) -> Result<DeviceRow> {
    Ok(DeviceRow {
        id: r.try_get("id")?,
        device_hash: r.try_get("device_hash")?,
        user_code: r.try_get("user_code")?,
        client_id: r.try_get("client_id")?,
        email: opt_str(r, "email")?,
        status: r.try_get("status")?,
        user_id: opt_str(r, "user_id")?,
        expires_at: r.try_get("expires_at")?,
        last_poll_at: r.try_get::<Option<i64>, _>("last_poll_at")?,
    })
}

/// Stores a new `pending` request.
pub async fn insert(tx: &mut Tx, d: &DeviceRow, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO device_codes (id, device_hash, user_code, client_id, email, status, created_at, expires_at) \
         VALUES ($1,$2,$3,$4,$5,'pending',$6,$7)",
    )
    .bind(&d.id)
    .bind(&d.device_hash)
    .bind(&d.user_code)
    .bind(&d.client_id)
    .bind(&d.email)
    .bind(now)
    .bind(d.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The request whose device code hashes to `hash`.
pub async fn by_hash(pool: &AnyPool, hash: &str) -> Result<Option<DeviceRow>> {
    let r = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM device_codes WHERE device_hash = $1"
    ))
    .bind(hash)
    .fetch_optional(pool)
    .await?;
    r.as_ref().map(row).transpose()
}

/// The request with this (normalised) user code.
pub async fn by_user_code(pool: &AnyPool, code: &str) -> Result<Option<DeviceRow>> {
    let r = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM device_codes WHERE user_code = $1"
    ))
    .bind(code)
    .fetch_optional(pool)
    .await?;
    r.as_ref().map(row).transpose()
}

/// Records a poll time.
pub async fn touch(pool: &AnyPool, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE device_codes SET last_poll_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Moves a pending code to `approved` (by `user_id`) or `denied`; false when it was no longer
/// pending.
pub async fn decide(tx: &mut Tx, id: &str, status: &str, user_id: &str) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE device_codes SET status = $1, user_id = $2 WHERE id = $3 AND status = 'pending'",
    )
    .bind(status)
    .bind(user_id)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Moves an approved code to `redeemed`; false when another poll redeemed it first.
pub async fn redeem(tx: &mut Tx, id: &str) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE device_codes SET status = 'redeemed' WHERE id = $1 AND status = 'approved'",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}
