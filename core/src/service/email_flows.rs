//! Flows that go through the user's mailbox: password reset and email verification.

use super::audit::AuditEvent;
use super::credentials::{check_password_rules, hash_password, new_bearer_secret};
use super::principal::user_principal;
use super::{Core, RequestContext, Tokens};
use crate::error::{Error, Result};
use crate::material::BearerSecret;
use crate::material::Password;
use crate::store::users;
use serde_json::json;

const RESET_TTL_MS: i64 = 3_600_000;
const VERIFY_TTL_MS: i64 = 24 * 3_600_000;

impl Core {
    async fn mail_token(&self, user_id: &str, purpose: &str, ttl_ms: i64) -> Result<String> {
        let token = new_bearer_secret(if purpose == "reset" { "pr_" } else { "ev_" });
        let hash = self.credential_hash(&token).await?;
        let mut tx = self.store().begin().await?;
        users::insert_email_token(&mut tx, &hash, user_id, purpose, self.now() + ttl_ms).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Sends one plain-text mail through the configured mailer (SMTP, or the outbox file);
    /// nothing when no mailer is configured. Bodies never carry a secret value.
    pub(crate) async fn send_mail(&self, to: &str, subject: &str, body: &str) -> Result<()> {
        match &self.config().mailer {
            Some(m) => m.send(to, subject, body).await,
            None => Ok(()),
        }
    }

    /// Mails a reset link when the email belongs to a password account; answers the same either
    /// way (no account enumeration). Rate limited per IP and email.
    pub async fn forgot_password(&self, email: &str, ctx: &RequestContext) -> Result<()> {
        let email = email.trim().to_lowercase();
        let bucket = format!("forgot:{}:{email}", ctx.ip.as_deref().unwrap_or("-"));
        self.check_auth_throttle(&bucket).await?;
        self.note_auth_failure(&bucket).await?;
        let Some(user) = users::by_email(self.store().pool(), &email).await? else {
            return Ok(());
        };
        if !user.has_password {
            return Ok(());
        }
        let token = self.mail_token(&user.id, "reset", RESET_TTL_MS).await?;
        let link = format!("{}/reset-password?token={token}", self.config().public_url);
        self.send_mail(
            &user.email,
            "Reset your Talon password",
            &format!("Someone asked to reset the password of your Talon account.\n\nOpen this link within an hour to choose a new password:\n{link}\n\nIf it was not you, ignore this mail."),
        )
        .await
    }

    /// Sets a new password with a mailed token (1 h, single use); every session is revoked.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: Password,
        ctx: &RequestContext,
    ) -> Result<()> {
        check_password_rules(new_password.expose_secret()).map_err(|e| match e {
            Error::Invalid { reason, .. } => Error::invalid("new_password", reason),
            other => other,
        })?;
        let bad = || Error::invalid("token", "The reset link is invalid or has expired");
        if !token.starts_with("pr_") || token.len() > 128 {
            return Err(bad());
        }
        let hash = self.credential_hash(token).await?;
        let new_hash =
            tokio::task::spawn_blocking(move || hash_password(new_password.expose_secret()))
                .await
                .map_err(|_| Error::Internal("hashing task failed".into()))??;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let user_id = users::spend_email_token(&mut tx, &hash, "reset", now)
            .await?
            .ok_or_else(bad)?;
        let user = users::by_id(self.store().pool(), &user_id)
            .await?
            .ok_or_else(bad)?;
        crate::store::shares::claim_external(&mut tx, &user.email, &user.id, self.now()).await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                &user_principal(&user, None)?,
                "auth.password_changed",
                "auth",
                Some(user.id.clone()),
                json!({"via": "reset"}),
            ),
        )
        .await?;
        users::set_password(&mut tx, &user.id, &new_hash).await?;
        users::revoke_user_refresh_tokens(&mut tx, &user.id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Mails an email-verification link to a new user (when mail is configured).
    pub(crate) async fn send_verification(&self, user_id: &str, email: &str) -> Result<()> {
        if self.config().mailer.is_none() {
            return Ok(());
        }
        let token = self.mail_token(user_id, "verify", VERIFY_TTL_MS).await?;
        let link = format!("{}/verify-email?token={token}", self.config().public_url);
        self.send_mail(
            email,
            "Verify your Talon email",
            &format!("Welcome to Talon.\n\nConfirm your email address with this link:\n{link}\n"),
        )
        .await
    }

    /// Marks the email verified with a mailed token and logs the user in.
    pub async fn verify_email(&self, token: &str, ctx: &RequestContext) -> Result<Tokens> {
        let bad = || Error::invalid("token", "The verification link is invalid or has expired");
        if !token.starts_with("ev_") || token.len() > 128 {
            return Err(bad());
        }
        let hash = self.credential_hash(token).await?;
        let mut tx = self.store().begin().await?;
        let user_id = users::spend_email_token(&mut tx, &hash, "verify", self.now())
            .await?
            .ok_or_else(bad)?;
        users::set_email_verified(&mut tx, &user_id).await?;
        let user = users::by_id(self.store().pool(), &user_id)
            .await?
            .ok_or_else(bad)?;
        crate::store::shares::claim_external(&mut tx, &user.email, &user.id, self.now()).await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                &user_principal(&user, None)?,
                "user.update",
                "user",
                Some(user.id.clone()),
                json!({"email_verified": true}),
            ),
        )
        .await?;
        let refresh = self.new_refresh_token_in(&mut tx, &user.id, None).await?;
        let access_token = self.sign(self.user_claims(&user, "password")).await?;
        tx.commit().await?;
        Ok(Tokens {
            user_id: user.id,
            access_token: BearerSecret::new(access_token),
            expires_in: self.config().user_token_ttl_s,
            refresh_token: Some(BearerSecret::new(refresh)),
        })
    }
}
