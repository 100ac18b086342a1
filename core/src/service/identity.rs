//! Identity: human signup and password login, agent key exchange, and turning a bearer token
//! back into a [`Principal`] on every request.

use super::audit::AuditEvent;
use super::principal::{agent_principal, user_principal};
use super::{Core, RequestContext, Role};
use crate::audit_chain::hex;
use crate::error::{Error, Result};
use crate::keystore::MacKey;
use crate::material::BearerSecret;
use crate::material::{random_bytes, Password};
use crate::store::{agents, org, policies, users};
use crate::token::Claims;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde_json::json;

/// Input of `POST /v1/auth/signup`.
#[derive(Debug)]
pub struct Signup {
    /// The sign-in email; trimmed and lowercased before use.
    pub email: String,
    /// The chosen password: at least 12 characters with a lowercase and an uppercase letter, a
    /// digit and a symbol.
    pub password: Password,
    /// Optional name to show; also names the new org.
    pub display_name: Option<String>,
}

/// Result of a signup: the new user, logged in.
#[derive(Debug)]
pub struct SignupOutcome {
    /// The new user's id.
    pub user_id: String,
    /// The user's org: a new one, or the org that invited this email.
    pub org_id: String,
    /// The normalised email address.
    pub email: String,
    /// A signed access token.
    pub access_token: BearerSecret,
    /// Lifetime of the access token, seconds.
    pub expires_in: i64,
    /// A `rt_` refresh token for the new session.
    pub refresh_token: BearerSecret,
}

/// Result of a password login. With MFA on, `mfa_token` is set, `access_token` and
/// `refresh_token` are empty and `expires_in` is the challenge's lifetime.
#[derive(Debug)]
pub struct LoginOutcome {
    /// The user's id.
    pub user_id: String,
    /// The user's org.
    pub org_id: String,
    /// The user's email address.
    pub email: String,
    /// A signed access token; empty while MFA is pending.
    pub access_token: BearerSecret,
    /// Lifetime of the access token, or of the MFA challenge, seconds.
    pub expires_in: i64,
    /// A `rt_` refresh token; empty while MFA is pending.
    pub refresh_token: BearerSecret,
    /// A challenge token to present with the second factor at `mfa/verify`.
    pub mfa_token: Option<BearerSecret>,
}

/// Result of an agent key exchange.
#[derive(Debug)]
pub struct AgentToken {
    /// A signed access token for the agent.
    pub access_token: BearerSecret,
    /// Lifetime of the access token, seconds.
    pub expires_in: i64,
    /// The agent's id.
    pub agent_id: String,
    /// The agent's org.
    pub org_id: String,
    /// Vaults the agent is bound to; empty means every vault of the org.
    pub vault_ids: Vec<String>,
    /// The scopes written into the token: the explicit ones, or the path patterns of its policies.
    pub scopes: Vec<String>,
}

/// Hashes a password with argon2id and a random salt.
pub(crate) fn hash_password(pw: &str) -> Result<String> {
    Argon2::default()
        .hash_password(pw.as_bytes(), &SaltString::generate(&mut OsRng))
        .map(|h| h.to_string())
        .map_err(|_| Error::Internal("password hashing failed".into()))
}

pub(crate) fn verify_password(pw: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| Argon2::default().verify_password(pw.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// Length ≥ 12 with a lowercase letter, an uppercase letter, a digit and another character.
pub(crate) fn check_password_rules(pw: &str) -> Result<()> {
    let field = "password";
    if pw.chars().count() < 12 {
        return Err(Error::invalid(
            field,
            "Password must be at least 12 characters",
        ));
    }
    if pw.chars().count() > 1024 {
        return Err(Error::invalid(
            field,
            "Password must be at most 1024 characters",
        ));
    }
    let checks: [(&dyn Fn(char) -> bool, &str); 4] = [
        (&|c| c.is_lowercase(), "a lowercase letter"),
        (&|c| c.is_uppercase(), "an uppercase letter"),
        (&|c| c.is_ascii_digit(), "a digit"),
        (
            &|c| !c.is_alphanumeric(),
            "a character that is not a letter or digit",
        ),
    ];
    for (test, what) in checks {
        if !pw.chars().any(test) {
            return Err(Error::invalid(
                field,
                format!("Password must contain {what}"),
            ));
        }
    }
    Ok(())
}

/// Trims and lowercases an email and checks its shape.
pub(crate) fn normalize_email(email: &str) -> Result<String> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.chars().any(char::is_whitespace)
                && !domain.contains('@')
        });
    if ok {
        Ok(e)
    } else {
        Err(Error::invalid("email", "A valid email address is required"))
    }
}

/// A bearer secret with a prefix: `<prefix>` + base64url(32 random bytes).
pub(crate) fn new_bearer_secret(prefix: &str) -> String {
    format!("{prefix}{}", B64URL.encode(random_bytes::<32>()))
}

impl Core {
    /// The keyed hash under which a bearer secret (API key, refresh token) is stored.
    pub(crate) async fn credential_hash(&self, secret: &str) -> Result<String> {
        let data = secret.as_bytes().to_vec();
        let mac = self
            .keys(move |k| k.mac(MacKey::Credentials, &data))
            .await??;
        Ok(hex(&mac))
    }

    pub(crate) async fn sign(&self, claims: Claims) -> Result<String> {
        let core = self.clone();
        self.keys(move |k| core.0.signer.sign(k, &claims)).await?
    }

    fn base_claims(&self, sub: String, org_id: &str, ttl_s: i64) -> Claims {
        let now_s = self.now() / 1000;
        Claims {
            iss: self.config().public_url.clone(),
            sub,
            org: org_id.to_owned(),
            org_id: org_id.to_owned(),
            iat: now_s,
            exp: now_s + ttl_s,
            jti: uuid::Uuid::new_v4().to_string(),
            token_use: "access".into(),
            email: None,
            role: None,
            auth_method: None,
            scopes: None,
            scopes_explicit: None,
            vault_ids: None,
            intents_api_enabled: None,
            api_key_id: None,
            key_scopes: None,
        }
    }

    /// Claims of a human access token.
    pub(crate) fn user_claims(&self, user: &crate::model::User, method: &str) -> Claims {
        let mut c = self.base_claims(
            format!("user:{}", user.id),
            &user.org_id,
            self.config().user_token_ttl_s,
        );
        c.email = Some(user.email.clone());
        c.role = Some(user.role.clone());
        c.auth_method = Some(method.to_owned());
        c
    }

    async fn user_access_token(&self, user: &crate::model::User, method: &str) -> Result<String> {
        self.sign(self.user_claims(user, method)).await
    }

    async fn new_refresh_token(&self, tx: &mut crate::store::Tx, user_id: &str) -> Result<String> {
        self.new_refresh_token_in(tx, user_id, None).await
    }

    /// Issues a refresh token in `family` (a new family when `None`).
    pub(crate) async fn new_refresh_token_in(
        &self,
        tx: &mut crate::store::Tx,
        user_id: &str,
        family: Option<&str>,
    ) -> Result<String> {
        let token = new_bearer_secret("rt_");
        let hash = self.credential_hash(&token).await?;
        let now = self.now();
        let family = family
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let expires = now + self.config().refresh_token_ttl_s * 1000;
        users::insert_refresh_token(tx, &hash, user_id, &family, expires, now).await?;
        Ok(token)
    }

    /// Creates a user in a new org as its owner and logs them in. 409 when the email is taken.
    pub async fn signup(&self, input: Signup, ctx: &RequestContext) -> Result<SignupOutcome> {
        let email = normalize_email(&input.email)?;
        check_password_rules(input.password.expose_secret())?;
        let display_name = input
            .display_name
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty());
        if display_name
            .as_ref()
            .is_some_and(|d| d.chars().count() > 255)
        {
            return Err(Error::invalid(
                "display_name",
                "display_name must be at most 255 characters",
            ));
        }
        let password = input.password;
        let hash = tokio::task::spawn_blocking(move || hash_password(password.expose_secret()))
            .await
            .map_err(|_| Error::Internal("hashing task failed".into()))??;
        let now = self.now();
        let user = crate::model::User {
            id: uuid::Uuid::new_v4().to_string(),
            org_id: uuid::Uuid::new_v4().to_string(),
            email: email.clone(),
            display_name: display_name.clone(),
            has_password: true,
            role: Role::Owner.as_str().into(),
            auth_method: "password".into(),
            email_verified: false,
            marketing_emails: false,
            created_at: now,
            billing_tier: self.config().default_tier.clone(),
            totp_enabled: false,
        };
        let org_name = display_name.unwrap_or_else(|| email.clone());
        let mut user = user;
        let mut tx = self.store().begin().await?;
        // An invited email joins the inviting org with the invited role; anyone else gets a
        // new org as its owner.
        match org::claim_invite(&mut tx, &email, now).await? {
            Some((org_id, role)) => {
                user.org_id = org_id;
                user.role = role;
            }
            None => {
                users::insert_org(&mut tx, &user.org_id, &org_name, &user.billing_tier, now).await?
            }
        }
        if !users::insert_user(&mut tx, &user, Some(&hash)).await? {
            return Err(Error::Conflict(
                "An account with this email already exists".into(),
            ));
        }
        crate::store::shares::claim_external(&mut tx, &email, &user.id, now).await?;
        let principal = user_principal(&user, None)?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                &principal,
                "user.signup",
                "user",
                Some(user.id.clone()),
                json!({}),
            ),
        )
        .await?;
        let refresh_token = self.new_refresh_token(&mut tx, &user.id).await?;
        let access_token = self.user_access_token(&user, "password").await?;
        tx.commit().await?;
        if let Err(e) = self.send_verification(&user.id, &email).await {
            tracing::warn!(error = %e, user = %user.id, "verification mail not sent");
        }
        Ok(SignupOutcome {
            user_id: user.id,
            org_id: user.org_id,
            email,
            access_token: BearerSecret::new(access_token),
            expires_in: self.config().user_token_ttl_s,
            refresh_token: BearerSecret::new(refresh_token),
        })
    }

    /// Email + password login. Unknown email and wrong password take the same time and give the
    /// same answer.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<LoginOutcome> {
        let email = email.trim().to_lowercase();
        let bucket = format!("login:{}:{email}", ctx.ip.as_deref().unwrap_or("-"));
        self.check_auth_throttle(&bucket).await?;
        let found = users::by_email_with_password(self.store().pool(), &email).await?;
        let (user, hash) = match found {
            Some((u, h)) => (Some(u), h),
            None => (None, None),
        };
        let has_hash = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.0.dummy_password_hash.clone());
        let password = Password::new(password.to_owned());
        let ok =
            tokio::task::spawn_blocking(move || verify_password(password.expose_secret(), &hash))
                .await
                .map_err(|_| Error::Internal("hashing task failed".into()))?;
        let user = match user {
            Some(u) if ok && has_hash => u,
            Some(u) => {
                self.note_auth_failure(&bucket).await?;
                let p = user_principal(&u, None)?;
                self.record(
                    ctx,
                    AuditEvent::by(
                        &p,
                        "auth.failure",
                        "auth",
                        Some(u.id.clone()),
                        json!({"method": "password"}),
                    )
                    .outcome("failure"),
                )
                .await?;
                return Err(Error::invalid_credentials());
            }
            None => {
                self.note_auth_failure(&bucket).await?;
                return Err(Error::invalid_credentials());
            }
        };
        self.finish_login(user, "password", ctx).await
    }

    /// The last step of every human login (password, Google): the MFA challenge when TOTP is
    /// on, else the tokens, with `auth.success` recorded in the same transaction.
    pub(crate) async fn finish_login(
        &self,
        user: crate::model::User,
        method: &'static str,
        ctx: &RequestContext,
    ) -> Result<LoginOutcome> {
        if self.mfa_required(&user.id).await? {
            return Ok(LoginOutcome {
                mfa_token: Some(BearerSecret::new(self.mfa_challenge(&user, method).await?)),
                user_id: user.id,
                org_id: user.org_id,
                email: user.email,
                access_token: BearerSecret::new(String::new()),
                expires_in: 300,
                refresh_token: BearerSecret::new(String::new()),
            });
        }
        let principal = user_principal(&user, None)?;
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                &principal,
                "auth.success",
                "auth",
                Some(user.id.clone()),
                json!({"method": method}),
            ),
        )
        .await?;
        // External-email shares sent to an existing account are claimed at its next login.
        crate::store::shares::claim_external(&mut tx, &user.email, &user.id, self.now()).await?;
        let refresh_token = self.new_refresh_token(&mut tx, &user.id).await?;
        let access_token = self.user_access_token(&user, method).await?;
        tx.commit().await?;
        Ok(LoginOutcome {
            user_id: user.id,
            org_id: user.org_id,
            email: user.email,
            access_token: BearerSecret::new(access_token),
            expires_in: self.config().user_token_ttl_s,
            refresh_token: BearerSecret::new(refresh_token),
            mfa_token: None,
        })
    }

    /// Exchanges an `ocv_` agent key for a short-lived access token. Every failure is the same
    /// 401.
    pub async fn agent_token(
        &self,
        api_key: &str,
        agent_id: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<AgentToken> {
        let denied = || Error::Unauthorized("Invalid agent credentials");
        let bucket = format!("agent-token:{}", ctx.ip.as_deref().unwrap_or("-"));
        self.check_auth_throttle(&bucket).await?;
        if !api_key.starts_with("ocv_") || api_key.len() > 128 {
            self.note_auth_failure(&bucket).await?;
            return Err(denied());
        }
        let hash = self.credential_hash(api_key).await?;
        let Some(agent) = agents::by_key_hash(self.store().pool(), &hash).await? else {
            self.note_auth_failure(&bucket).await?;
            return Err(denied());
        };
        let now = self.now();
        let principal = agent_principal(&agent);
        let usable = agent.is_active
            && agent.expires_at.is_none_or(|e| e > now)
            && agent.api_key_expires_at.is_none_or(|e| e > now)
            && agent_id.is_none_or(|id| id.eq_ignore_ascii_case(&agent.id));
        if !usable {
            self.note_auth_failure(&bucket).await?;
            self.record(
                ctx,
                AuditEvent::by(
                    &principal,
                    "auth.failure",
                    "auth",
                    Some(agent.id.clone()),
                    json!({"method": "agent_key"}),
                )
                .outcome("failure"),
            )
            .await?;
            return Err(denied());
        }
        let scopes = if agent.scopes_explicit {
            agent.scopes.clone()
        } else {
            policies::agent_patterns(self.store().pool(), &agent.id, now).await?
        };
        let ttl = agent
            .token_ttl_seconds
            .unwrap_or(self.config().agent_token_ttl_s);
        let mut c = self.base_claims(format!("agent:{}", agent.id), &agent.org_id, ttl);
        c.scopes = Some(scopes.clone());
        c.scopes_explicit = agent.scopes_explicit.then_some(true);
        c.vault_ids = Some(agent.vault_ids.clone());
        c.intents_api_enabled = Some(false);
        let access_token = self.sign(c).await?;
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                &principal,
                "auth.success",
                "auth",
                Some(agent.id.clone()),
                json!({"method": "agent_key"}),
            ),
        )
        .await?;
        agents::touch(&mut tx, &agent.id, now).await?;
        tx.commit().await?;
        Ok(AgentToken {
            access_token: BearerSecret::new(access_token),
            expires_in: ttl,
            agent_id: agent.id,
            org_id: agent.org_id,
            vault_ids: agent.vault_ids,
            scopes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules_name_what_failed() {
        assert!(check_password_rules("Correct-Horse-9!").is_ok());
        for (pw, want) in [
            ("Short-1!", "at least 12"),
            ("alllowercase-123", "uppercase"),
            ("ALLUPPERCASE-123", "lowercase"),
            ("NoDigitsHere-abc", "digit"),
            ("NoSymbols1234abc", "not a letter or digit"),
        ] {
            let err = check_password_rules(pw).unwrap_err().to_string();
            assert!(err.contains(want), "{pw}: {err}");
        }
    }

    #[test]
    fn emails_are_trimmed_lowercased_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_hashes_verify_only_the_right_password() {
        let h = hash_password("Correct-Horse-9!").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("Correct-Horse-9!", &h));
        assert!(!verify_password("Correct-Horse-9?", &h));
    }

    #[test]
    fn bearer_secrets_have_prefix_and_256_bits() {
        let k = new_bearer_secret("ocv_");
        assert!(k.starts_with("ocv_"));
        assert_eq!(k.len(), 4 + 43);
        assert_ne!(k, new_bearer_secret("ocv_"));
    }
}
