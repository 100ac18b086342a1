//! Sign-in: human signup and password login, and the agent key exchange. The helpers they
//! share with the other sign-in paths live in `credentials`; turning a bearer back into a
//! principal is the gate's (`gate`, `principal`).

use super::audit::AuditEvent;
use super::credentials::{check_password_rules, hash_password, normalize_email, verify_password};
use super::principal::{agent_principal, user_principal};
use super::throttle::{agent_key_buckets, login_buckets};
use super::{Core, RequestContext, Role};
use crate::error::{Error, Result};
use crate::material::BearerSecret;
use crate::material::Password;
use crate::store::{agents, org, policies, users};
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

impl Core {
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
    /// same answer. Failures are counted per account from this IP, per account and per IP
    /// across accounts; once one of them is used up, the login is 429 until the window ends.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<LoginOutcome> {
        let email = email.trim().to_lowercase();
        let buckets = login_buckets(ctx.ip.as_deref().unwrap_or("-"), &email);
        self.check_auth_buckets(&buckets).await?;
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
                self.note_auth_failures(&buckets).await?;
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
                self.note_auth_failures(&buckets).await?;
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
    /// 401. Failures are counted per key prefix from this IP, per key prefix, and per IP (a
    /// much higher ceiling), so one agent's bad keys do not lock out the others behind the
    /// same address; 429 once one of its buckets is used up.
    pub async fn agent_token(
        &self,
        api_key: &str,
        agent_id: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<AgentToken> {
        let denied = || Error::Unauthorized("Invalid agent credentials");
        let buckets = agent_key_buckets(ctx.ip.as_deref().unwrap_or("-"), api_key);
        self.check_auth_buckets(&buckets).await?;
        if !api_key.starts_with("ocv_") || api_key.len() > 128 {
            self.note_auth_failures(&buckets).await?;
            return Err(denied());
        }
        let hash = self.credential_hash(api_key).await?;
        let Some(agent) = agents::by_key_hash(self.store().pool(), &hash).await? else {
            self.note_auth_failures(&buckets).await?;
            return Err(denied());
        };
        let now = self.now();
        let principal = agent_principal(&agent);
        let usable = agent.is_active
            && agent.expires_at.is_none_or(|e| e > now)
            && agent.api_key_expires_at.is_none_or(|e| e > now)
            && agent_id.is_none_or(|id| id.eq_ignore_ascii_case(&agent.id));
        if !usable {
            self.note_auth_failures(&buckets).await?;
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
        // The event and the last-active time commit with the next group of reads; the token
        // is handed out only once they have.
        self.commit_sign_in(
            agent.id.clone(),
            AuditEvent::by(
                &principal,
                "auth.success",
                "auth",
                Some(agent.id.clone()),
                json!({"method": "agent_key"}),
            ),
            ctx,
        )
        .await?;
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
