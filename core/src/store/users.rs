//! Orgs, users and refresh tokens.

use super::{opt_str, Tx};
use crate::error::Result;
use crate::model::User;
use sqlx::{AnyPool, Row};

const USER_COLS: &str = "u.id, u.org_id, u.email, u.display_name, u.password_hash, u.role, \
    u.auth_method, u.email_verified, u.marketing_emails, u.created_at, o.billing_tier, \
    COALESCE((SELECT m.enabled FROM mfa m WHERE m.user_id = u.id), 0) AS totp_enabled";

fn user_from(row: &sqlx::any::AnyRow) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        email: row.try_get("email")?,
        display_name: opt_str(row, "display_name")?,
        has_password: opt_str(row, "password_hash")?.is_some(),
        role: row.try_get("role")?,
        auth_method: row.try_get("auth_method")?,
        email_verified: row.try_get::<i64, _>("email_verified")? != 0,
        marketing_emails: row.try_get::<i64, _>("marketing_emails")? != 0,
        created_at: row.try_get("created_at")?,
        billing_tier: row.try_get("billing_tier")?,
        totp_enabled: row.try_get::<i64, _>("totp_enabled")? != 0,
    })
}

/// Creates an org with its name and billing tier.
pub async fn insert_org(tx: &mut Tx, id: &str, name: &str, tier: &str, now: i64) -> Result<()> {
    sqlx::query("INSERT INTO orgs (id, name, billing_tier, created_at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(name)
        .bind(tier)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inserts a user with the Argon2id hash of its password (none for Google sign-in);
/// `Ok(false)` when the email is already registered.
pub async fn insert_user(tx: &mut Tx, u: &User, password_hash: Option<&str>) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO users (id, org_id, email, display_name, password_hash, role, auth_method, \
         email_verified, marketing_emails, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
    )
    .bind(&u.id)
    .bind(&u.org_id)
    .bind(&u.email)
    .bind(&u.display_name)
    .bind(password_hash)
    .bind(&u.role)
    .bind(&u.auth_method)
    .bind(u.email_verified as i64)
    .bind(u.marketing_emails as i64)
    .bind(u.created_at)
    .execute(&mut **tx)
    .await;
    match r {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The user with this (normalised) email, in any org.
pub async fn by_email(pool: &AnyPool, email: &str) -> Result<Option<User>> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLS} FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.email = $1"
    ))
    .bind(email)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(user_from).transpose()
}

/// The user with this (normalised) email, in any org, with the hash of its password.
pub async fn by_email_with_password(
    pool: &AnyPool,
    email: &str,
) -> Result<Option<(User, Option<String>)>> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLS} FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.email = $1"
    ))
    .bind(email)
    .fetch_optional(pool)
    .await?;
    row.as_ref()
        .map(|r| Ok((user_from(r)?, opt_str(r, "password_hash")?)))
        .transpose()
}

/// The Argon2id hash of a user's password, if the account has one.
pub async fn password_hash(pool: &AnyPool, user_id: &str) -> Result<Option<String>> {
    let hash: Option<Option<String>> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
    Ok(hash.flatten())
}

/// The user with this id, in any org.
pub async fn by_id(pool: &AnyPool, id: &str) -> Result<Option<User>> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLS} FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(user_from).transpose()
}

/// Whether a user with this id is a member of this org.
pub async fn is_member(pool: &AnyPool, user_id: &str, org_id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1 AND org_id = $2")
        .bind(user_id)
        .bind(org_id)
        .fetch_one(pool)
        .await?;
    Ok(n > 0)
}

/// Stores the keyed hash of a new refresh token in `family_id`, valid until `expires_at`.
pub async fn insert_refresh_token(
    tx: &mut Tx,
    token_hash: &str,
    user_id: &str,
    family_id: &str,
    expires_at: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, user_id, family_id, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(family_id)
    .bind(expires_at)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks an unspent, unexpired refresh token as spent; returns its user and family.
pub async fn spend_refresh_token(
    tx: &mut Tx,
    hash: &str,
    now: i64,
) -> Result<Option<(String, String)>> {
    let row = sqlx::query(
        "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL \
         AND expires_at > $1 RETURNING user_id, family_id",
    )
    .bind(now)
    .bind(hash)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match row {
        Some(r) => Some((r.try_get("user_id")?, r.try_get("family_id")?)),
        None => None,
    })
}

/// The family of a (spent or expired) refresh token.
pub async fn refresh_family(tx: &mut Tx, hash: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
        .bind(hash)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("family_id")?),
        None => None,
    })
}

/// Spends every token of a family (reuse detection).
pub async fn revoke_refresh_family(tx: &mut Tx, family: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE family_id = $2 AND used_at IS NULL")
        .bind(now)
        .bind(family)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Spends every refresh token of a user.
pub async fn revoke_user_refresh_tokens(tx: &mut Tx, user_id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Writes the display name and the marketing-email choice.
pub async fn update_profile(tx: &mut Tx, u: &User) -> Result<()> {
    sqlx::query("UPDATE users SET display_name = $1, marketing_emails = $2 WHERE id = $3")
        .bind(&u.display_name)
        .bind(u.marketing_emails as i64)
        .bind(&u.id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Replaces the user's password hash.
pub async fn set_password(tx: &mut Tx, user_id: &str, hash: &str) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Stores a mailed single-use token.
pub async fn insert_email_token(
    tx: &mut Tx,
    hash: &str,
    user_id: &str,
    purpose: &str,
    expires_at: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO email_tokens (token_hash, user_id, purpose, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(hash)
        .bind(user_id)
        .bind(purpose)
        .bind(expires_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Spends an unexpired, unused token of the purpose; returns its user.
pub async fn spend_email_token(
    tx: &mut Tx,
    hash: &str,
    purpose: &str,
    now: i64,
) -> Result<Option<String>> {
    let row = sqlx::query(
        "UPDATE email_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 \
         AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
    )
    .bind(now)
    .bind(hash)
    .bind(purpose)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("user_id")?),
        None => None,
    })
}

/// Marks the user's email address as verified.
pub async fn set_email_verified(tx: &mut Tx, user_id: &str) -> Result<()> {
    sqlx::query("UPDATE users SET email_verified = 1 WHERE id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
