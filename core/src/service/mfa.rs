//! TOTP multi-factor authentication: setup, verification at login, recovery codes, disable.

use super::audit::AuditEvent;
use super::credentials::verify_password;
use super::principal::user_principal;
use super::{Core, Principal, RequestContext};
use crate::envelope::{self, Binding};
use crate::error::{Error, Result};
use crate::material::BearerSecret;
use crate::material::{random_bytes, Password, SecretValue};
use crate::model::User;
use crate::store::{api_keys, mfa, rate_limits, users};
use crate::totp;
use serde_json::json;

/// KEK that wraps every TOTP seed's DEK.
pub(crate) const TOTP_KEK: &str = "talon-kek:totp:1";
const MFA_TOKEN_TTL_S: i64 = 300;
const MFA_MAX_ATTEMPTS: i64 = 5;

/// What `mfa/setup` returns.
#[derive(Debug)]
pub struct MfaSetup {
    /// The new TOTP seed, base32, for manual entry in an authenticator app.
    pub secret: SecretValue,
    /// The `otpauth://` URI carrying the seed, for a QR code.
    pub otpauth_uri: SecretValue,
}

fn seed_binding(user: &User) -> (String, String) {
    (user.org_id.clone(), user.id.clone())
}

fn invalid_code() -> Error {
    Error::invalid("code", "The code is not valid")
}

impl Core {
    async fn open_seed(&self, user: &User, row: &mfa::MfaRow) -> Result<SecretValue> {
        let (org, uid) = seed_binding(user);
        let (sealed, kek) = (row.sealed.clone(), row.kek_label.clone());
        self.keys(move |k| {
            let b = Binding {
                org_id: &org,
                vault_id: "mfa",
                secret_id: &uid,
                path: "totp",
                version: 1,
            };
            envelope::open(k, &kek, &b, &sealed)
        })
        .await?
        .map_err(|_| Error::Internal("TOTP seed failed to open".into()))
    }

    /// Checks a TOTP code (each accepted once) or spends a recovery code, inside `tx`.
    pub(crate) async fn check_second_factor(
        &self,
        tx: &mut crate::store::Tx,
        user: &User,
        row: &mfa::MfaRow,
        code: &str,
    ) -> Result<bool> {
        let seed = self.open_seed(user, row).await?;
        let seed_bytes = decode_seed(seed.expose_secret());
        if let Some(step) = totp::matching_step(&seed_bytes, code, self.now() / 1000) {
            return mfa::consume_step(tx, &user.id, step).await;
        }
        let hash = self.credential_hash(&normalize_recovery(code)).await?;
        if let Some(pos) = row.recovery_codes.iter().position(|h| h == &hash) {
            let mut left = row.recovery_codes.clone();
            left.remove(pos);
            mfa::set_recovery(tx, &user.id, &left).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Whether the user has TOTP enabled.
    pub async fn mfa_status(&self, p: &Principal) -> Result<(bool, usize)> {
        let (user_id, _) = p.require_human()?;
        Ok(match mfa::get(self.store().pool(), user_id).await? {
            Some(r) if r.enabled => (true, r.recovery_codes.len()),
            _ => (false, 0),
        })
    }

    /// Starts enrolment: a new seed, pending until `verify-setup`. 409 when already enabled.
    pub async fn mfa_setup(&self, p: &Principal) -> Result<MfaSetup> {
        let user = self.me(p).await?;
        if mfa::get(self.store().pool(), &user.id)
            .await?
            .is_some_and(|r| r.enabled)
        {
            return Err(Error::Conflict("MFA is already enabled".into()));
        }
        let secret = SecretValue::new(totp::base32(&random_bytes::<20>()));
        let uri = SecretValue::new(format!(
            "otpauth://totp/Talon:{}?secret={}&issuer=Talon&algorithm=SHA1&digits=6&period=30",
            user.email,
            secret.expose_secret()
        ));
        let (org, uid) = seed_binding(&user);
        let value = SecretValue::new(secret.expose_secret().to_owned());
        let sealed = self
            .keys(move |k| {
                let b = Binding {
                    org_id: &org,
                    vault_id: "mfa",
                    secret_id: &uid,
                    path: "totp",
                    version: 1,
                };
                envelope::seal(k, TOTP_KEK, &b, &value)
            })
            .await?
            .map_err(|_| Error::Internal("TOTP seed sealing failed".into()))?;
        let mut tx = self.store().begin().await?;
        mfa::put_pending(&mut tx, &user.id, &sealed, TOTP_KEK, self.now()).await?;
        tx.commit().await?;
        Ok(MfaSetup {
            secret,
            otpauth_uri: uri,
        })
    }

    /// Confirms enrolment with a current code; returns 8 recovery codes, shown once.
    pub async fn mfa_verify_setup(
        &self,
        p: &Principal,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<Vec<String>> {
        let user = self.me(p).await?;
        let row = mfa::get(self.store().pool(), &user.id)
            .await?
            .filter(|r| !r.enabled)
            .ok_or_else(|| Error::invalid("code", "No MFA setup is pending"))?;
        let seed = self.open_seed(&user, &row).await?;
        let step = totp::matching_step(&decode_seed(seed.expose_secret()), code, self.now() / 1000)
            .ok_or_else(invalid_code)?;
        let codes: Vec<String> = (0..8).map(|_| recovery_code()).collect();
        let mut hashes = Vec::new();
        for c in &codes {
            hashes.push(self.credential_hash(c).await?);
        }
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "auth.mfa_enabled",
                "auth",
                Some(user.id.clone()),
                json!({}),
            ),
        )
        .await?;
        mfa::consume_step(&mut tx, &user.id, step).await?;
        mfa::enable(&mut tx, &user.id, &hashes).await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Turns MFA off, given a current code, a recovery code or the password.
    pub async fn mfa_disable(
        &self,
        p: &Principal,
        code: Option<&str>,
        password: Option<Password>,
        ctx: &RequestContext,
    ) -> Result<()> {
        let user = self.me(p).await?;
        let row = mfa::get(self.store().pool(), &user.id)
            .await?
            .filter(|r| r.enabled)
            .ok_or_else(|| Error::Conflict("MFA is not enabled".into()))?;
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "auth.mfa_disabled",
                "auth",
                Some(user.id.clone()),
                json!({}),
            ),
        )
        .await?;
        let ok = match (code, password) {
            (Some(c), _) => self.check_second_factor(&mut tx, &user, &row, c).await?,
            (None, Some(pw)) => {
                let hash = users::password_hash(self.store().pool(), &user.id)
                    .await?
                    .unwrap_or_default();
                tokio::task::spawn_blocking(move || verify_password(pw.expose_secret(), &hash))
                    .await
                    .map_err(|_| Error::Internal("hashing task failed".into()))?
            }
            (None, None) => return Err(Error::invalid("code", "Send a code or the password")),
        };
        if !ok {
            return Err(invalid_code());
        }
        mfa::delete(&mut tx, &user.id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether login must stop at a second factor for this user.
    pub(crate) async fn mfa_required(&self, user_id: &str) -> Result<bool> {
        Ok(mfa::get(self.store().pool(), user_id)
            .await?
            .is_some_and(|r| r.enabled))
    }

    /// A challenge token for the second step of a login (valid only at `mfa/verify`).
    pub(crate) async fn mfa_challenge(&self, user: &User, method: &str) -> Result<String> {
        let mut c = self.user_claims(user, method);
        c.token_use = "mfa".into();
        c.exp = c.iat + MFA_TOKEN_TTL_S;
        self.sign(c).await
    }

    /// Completes a login: a valid challenge and a code (TOTP or recovery) give the tokens.
    /// At most five attempts per challenge.
    pub async fn mfa_verify(
        &self,
        mfa_token: &str,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<super::Tokens> {
        let bad = || Error::Unauthorized("Invalid MFA token or code");
        let claims = self
            .0
            .signer
            .verify(mfa_token, self.now() / 1000, "mfa")
            .map_err(|_| bad())?;
        let attempts =
            rate_limits::hit(self.store().pool(), &format!("mfa:{}", claims.jti), 0).await?;
        if attempts > MFA_MAX_ATTEMPTS
            || api_keys::is_revoked(self.store().pool(), &claims.jti).await?
        {
            return Err(bad());
        }
        let user_id = claims.sub.strip_prefix("user:").ok_or_else(bad)?;
        let user = users::by_id(self.store().pool(), user_id)
            .await?
            .ok_or_else(bad)?;
        let row = mfa::get(self.store().pool(), &user.id)
            .await?
            .filter(|r| r.enabled)
            .ok_or_else(bad)?;
        let p = user_principal(&user, None)?;
        let mut tx = self.store().begin().await?;
        if !self.check_second_factor(&mut tx, &user, &row, code).await? {
            drop(tx);
            self.record(
                ctx,
                AuditEvent::by(
                    &p,
                    "auth.failure",
                    "auth",
                    Some(user.id.clone()),
                    json!({"method": "mfa"}),
                )
                .outcome("failure"),
            )
            .await?;
            return Err(bad());
        }
        // The challenge is spent.
        api_keys::revoke_jti(&mut tx, &claims.jti, (claims.exp + 60) * 1000).await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                &p,
                "auth.success",
                "auth",
                Some(user.id.clone()),
                json!({"method": "mfa"}),
            ),
        )
        .await?;
        let refresh = self.new_refresh_token_in(&mut tx, &user.id, None).await?;
        let access_token = self
            .sign(self.user_claims(&user, claims.auth_method.as_deref().unwrap_or("password")))
            .await?;
        tx.commit().await?;
        Ok(super::Tokens {
            user_id: user.id,
            access_token: BearerSecret::new(access_token),
            expires_in: self.config().user_token_ttl_s,
            refresh_token: Some(BearerSecret::new(refresh)),
        })
    }
}

fn decode_seed(b32: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in b32.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => continue,
        } as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buf >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    out
}

/// `xxxxx-xxxxx` from an unambiguous alphabet.
fn recovery_code() -> String {
    const A: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let r = random_bytes::<10>();
    let s: String = r.iter().map(|b| A[*b as usize % A.len()] as char).collect();
    format!("{}-{}", &s[..5], &s[5..])
}

fn normalize_recovery(code: &str) -> String {
    code.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_base32_round_trips() {
        let seed = random_bytes::<20>();
        assert_eq!(decode_seed(&totp::base32(&seed)), seed.to_vec());
    }

    #[test]
    fn recovery_codes_have_the_documented_shape() {
        let c = recovery_code();
        assert_eq!(c.len(), 11);
        assert_eq!(&c[5..6], "-");
        assert_ne!(c, recovery_code());
    }
}
