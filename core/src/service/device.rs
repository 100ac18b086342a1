//! CLI device authorization: `talon login` asks for a code pair, a signed-in human approves the
//! short user code, and the CLI's poll receives a 24-hour access token once.

use super::audit::AuditEvent;
use super::credentials::new_bearer_secret;
use super::principal::user_principal;
use super::{Core, Principal, RequestContext};
use crate::error::{Error, Result};
use crate::material::random_bytes;
use crate::material::BearerSecret;
use crate::store::device_codes::{self, DeviceRow};
use crate::store::users;
use serde_json::json;

/// Lifetime of a code pair.
pub const DEVICE_CODE_TTL_S: i64 = 600;
/// Seconds a client waits between polls.
pub const DEVICE_POLL_INTERVAL_S: i64 = 5;
/// Lifetime of the access token a device login issues.
pub const DEVICE_TOKEN_TTL_S: i64 = 86_400;

/// Unambiguous user-code alphabet (no 0/O, 1/I/L).
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// What the CLI receives from `POST /v1/auth/device/code`.
#[derive(Debug)]
pub struct DeviceStarted {
    /// The `dc_` secret the CLI polls with; only its keyed hash is stored.
    pub device_code: String,
    /// The short code (`ABCD-EFGH`) the human types or confirms on the approval page.
    pub user_code: String,
    /// The approval page, with the user code filled in.
    pub verification_uri: String,
    /// Seconds until the code pair expires.
    pub expires_in: i64,
    /// Seconds the CLI waits between polls.
    pub interval: i64,
}

/// A device token issued on an approved poll.
#[derive(Debug)]
pub struct DeviceToken {
    /// A signed access token, valid for 24 hours.
    pub access_token: BearerSecret,
    /// Lifetime of the access token, seconds.
    pub expires_in: i64,
    /// The approving user's email address.
    pub email: String,
    /// The approving user's id.
    pub user_id: String,
    /// The approving user's org.
    pub org_id: String,
}

/// The answer to one poll.
#[derive(Debug)]
pub enum DevicePoll {
    /// Not decided yet; poll again after the interval.
    Pending,
    /// Polled sooner than the interval; wait longer.
    SlowDown,
    /// The human refused the login.
    Denied,
    /// Expired, unknown or already redeemed.
    Expired,
    /// Approved: the token, handed out on this poll only.
    Approved(DeviceToken),
}

/// What the approval page shows about a user code.
#[derive(Debug)]
pub struct DeviceInfo {
    /// The code, normalised as `ABCD-EFGH`.
    pub user_code: String,
    /// The name the CLI gave for itself.
    pub client_id: String,
    /// `pending`, `approved`, `denied` or `expired`.
    pub status: String,
    /// When the code pair expires, unix milliseconds.
    pub expires_at: i64,
}

fn new_user_code() -> String {
    let bytes = random_bytes::<8>();
    let chars: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

/// `abcd efgh`, `ABCDEFGH` and `abcd-efgh` all read as `ABCD-EFGH`.
fn normalize_user_code(code: &str) -> String {
    let c: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if c.len() == 8 {
        format!("{}-{}", &c[..4], &c[4..])
    } else {
        c
    }
}

impl Core {
    fn device_status_of<'a>(&self, d: &'a DeviceRow) -> &'a str {
        match d.status.as_str() {
            "pending" if d.expires_at <= self.now() => "expired",
            "redeemed" => "approved",
            s => s,
        }
    }

    /// Starts a device login. Rate limited per client IP.
    pub async fn device_code(
        &self,
        client_id: &str,
        email: Option<String>,
        ctx: &RequestContext,
    ) -> Result<DeviceStarted> {
        let client_id = client_id.trim();
        if client_id.is_empty() || client_id.len() > 100 {
            return Err(Error::invalid(
                "client_id",
                "client_id must be 1 to 100 characters",
            ));
        }
        let email = email
            .filter(|e| !e.trim().is_empty())
            .map(|e| super::credentials::normalize_email(&e))
            .transpose()?;
        let bucket = format!("device:{}", ctx.ip.as_deref().unwrap_or("-"));
        self.check_auth_throttle(&bucket).await?;
        self.note_auth_failure(&bucket).await?;
        let device_code = new_bearer_secret("dc_");
        let row = DeviceRow {
            id: uuid::Uuid::new_v4().to_string(),
            device_hash: self.credential_hash(&device_code).await?,
            user_code: new_user_code(),
            client_id: client_id.to_owned(),
            email,
            status: "pending".into(),
            user_id: None,
            expires_at: self.now() + DEVICE_CODE_TTL_S * 1000,
            last_poll_at: None,
        };
        let mut tx = self.store().begin().await?;
        device_codes::insert(&mut tx, &row, self.now()).await?;
        tx.commit().await?;
        Ok(DeviceStarted {
            device_code,
            verification_uri: format!(
                "{}/cli/verify?code={}",
                self.config().public_url,
                row.user_code
            ),
            user_code: row.user_code,
            expires_in: DEVICE_CODE_TTL_S,
            interval: DEVICE_POLL_INTERVAL_S,
        })
    }

    /// One poll of the CLI. The token is issued once, on the first poll after approval; a poll
    /// sooner than `interval` after the previous one answers `slow_down`.
    pub async fn device_token(
        &self,
        device_code: &str,
        ctx: &RequestContext,
    ) -> Result<DevicePoll> {
        let hash = self.credential_hash(device_code).await?;
        let Some(d) = device_codes::by_hash(self.store().pool(), &hash).await? else {
            return Ok(DevicePoll::Expired);
        };
        let now = self.now();
        if d.status == "pending" && d.expires_at <= now {
            return Ok(DevicePoll::Expired);
        }
        let too_soon = d
            .last_poll_at
            .is_some_and(|t| now - t < DEVICE_POLL_INTERVAL_S * 1000 - 500);
        device_codes::touch(self.store().pool(), &d.id, now).await?;
        if too_soon && d.status == "pending" {
            return Ok(DevicePoll::SlowDown);
        }
        match d.status.as_str() {
            "pending" => Ok(DevicePoll::Pending),
            "denied" => Ok(DevicePoll::Denied),
            "approved" => {
                let user_id = d.user_id.clone().unwrap_or_default();
                let user = users::by_id(self.store().pool(), &user_id)
                    .await?
                    .ok_or(Error::Unauthorized("The approving user no longer exists"))?;
                let mut tx = self.store().begin().await?;
                if !device_codes::redeem(&mut tx, &d.id).await? {
                    return Ok(DevicePoll::Expired);
                }
                self.append_audit(
                    &mut tx,
                    ctx,
                    AuditEvent::by(
                        &user_principal(&user, None)?,
                        "auth.success",
                        "auth",
                        Some(user.id.clone()),
                        json!({"method": "device", "client_id": d.client_id}),
                    ),
                )
                .await?;
                let mut claims = self.user_claims(&user, "device");
                claims.exp = claims.iat + DEVICE_TOKEN_TTL_S;
                let access_token = self.sign(claims).await?;
                tx.commit().await?;
                Ok(DevicePoll::Approved(DeviceToken {
                    access_token: BearerSecret::new(access_token),
                    expires_in: DEVICE_TOKEN_TTL_S,
                    email: user.email,
                    user_id: user.id,
                    org_id: user.org_id,
                }))
            }
            _ => Ok(DevicePoll::Expired),
        }
    }

    /// What a user code is for, for the approval page. 404 when unknown.
    pub async fn device_info(&self, user_code: &str) -> Result<DeviceInfo> {
        let d = device_codes::by_user_code(self.store().pool(), &normalize_user_code(user_code))
            .await?
            .ok_or(Error::NotFound("Device code"))?;
        Ok(DeviceInfo {
            status: self.device_status_of(&d).to_owned(),
            user_code: d.user_code,
            client_id: d.client_id,
            expires_at: d.expires_at,
        })
    }

    /// A signed-in human approves (or denies) a user code. 403 when the code was requested for
    /// another email, 404 when unknown, 410 when expired, 409 when already decided.
    pub async fn decide_device(
        &self,
        p: &Principal,
        user_code: &str,
        approve: bool,
        ctx: &RequestContext,
    ) -> Result<()> {
        let (user_id, _) = p.require_human()?;
        let d = device_codes::by_user_code(self.store().pool(), &normalize_user_code(user_code))
            .await?
            .ok_or(Error::NotFound("Device code"))?;
        if let (Some(want), Principal::User { email, .. }) = (&d.email, p) {
            if want != email {
                return Err(Error::Forbidden(
                    "This code was requested for another account".into(),
                ));
            }
        }
        match self.device_status_of(&d) {
            "pending" => {}
            "expired" => return Err(Error::Gone("This code has expired".into())),
            _ => return Err(Error::Conflict("This code was already used".into())),
        }
        let status = if approve { "approved" } else { "denied" };
        let mut tx = self.store().begin().await?;
        if !device_codes::decide(&mut tx, &d.id, status, user_id).await? {
            return Err(Error::Conflict("This code was already used".into()));
        }
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                if approve {
                    "auth.device_approved"
                } else {
                    "auth.device_denied"
                },
                "auth",
                Some(d.id.clone()),
                json!({"client_id": d.client_id}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_use_the_unambiguous_alphabet() {
        for _ in 0..50 {
            let c = new_user_code();
            assert_eq!(c.len(), 9);
            assert_eq!(&c[4..5], "-");
            assert!(c
                .chars()
                .filter(|c| *c != '-')
                .all(|c| ALPHABET.contains(&(c as u8))));
        }
    }

    #[test]
    fn user_codes_are_normalized() {
        for input in ["abcd-efgh", "ABCDEFGH", "abcd efgh"] {
            assert_eq!(normalize_user_code(input), "ABCD-EFGH");
        }
    }
}
