//! A human's own account: personal API keys, refresh, logout, profile, password change.

use super::audit::AuditEvent;
use super::credentials::{check_password_rules, hash_password, new_bearer_secret, verify_password};
use super::principal::user_principal;
use super::{Core, Principal, RequestContext};
use crate::error::{Error, Result};
use crate::material::BearerSecret;
use crate::material::Password;
use crate::model::{ApiKey, User};
use crate::store::{api_keys, users};
use serde_json::json;
use talon_api::Scope;

/// A freshly created key, shown once.
#[derive(Debug)]
pub struct ApiKeyCreated {
    /// The stored key record (id, name, scopes, prefix, expiry); never the key itself.
    pub key: ApiKey,
    /// The `1ck_` key, shown to the user only now.
    pub api_key: BearerSecret,
}

/// A new access token (and a new refresh token when one was presented).
#[derive(Debug)]
pub struct Tokens {
    /// The user the tokens were issued to.
    pub user_id: String,
    /// A signed access token.
    pub access_token: BearerSecret,
    /// Lifetime of the access token, seconds.
    pub expires_in: i64,
    /// The replacement refresh token, when the flow issues one.
    pub refresh_token: Option<BearerSecret>,
}

/// A profile change; absent fields stay.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    /// New display name; `Some(None)` clears it.
    pub display_name: Option<Option<String>>,
    /// New choice about receiving marketing emails.
    pub marketing_emails: Option<bool>,
}

impl Core {
    /// Resolves a `1ck_` key to its active, unexpired record and its still-member user.
    pub(crate) async fn personal_key(&self, key: &str) -> Result<(ApiKey, User)> {
        let invalid = || Error::Unauthorized("Invalid or revoked API key");
        if key.len() > 128 {
            return Err(invalid());
        }
        let hash = self.credential_hash(key).await?;
        let row = api_keys::by_hash(self.store().pool(), &hash)
            .await?
            .ok_or_else(invalid)?;
        let now = self.now();
        if !row.is_active || row.expires_at.is_some_and(|e| e <= now) {
            return Err(invalid());
        }
        let user = users::by_id(self.store().pool(), &row.user_id)
            .await?
            .filter(|u| u.org_id == row.org_id)
            .ok_or_else(invalid)?;
        api_keys::touch(self.store().pool(), &row.id, now).await?;
        Ok((row, user))
    }

    /// Creates a personal API key for the calling human.
    pub async fn create_api_key(
        &self,
        p: &Principal,
        name: &str,
        scopes: Vec<String>,
        expires_at: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<ApiKeyCreated> {
        let (user_id, _) = p.require_human()?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Error::invalid("name", "name must be 1 to 100 characters"));
        }
        for s in &scopes {
            if s != "*" && Scope::parse(s).is_err() {
                return Err(Error::invalid("scopes", format!("Unknown scope '{s}'")));
            }
        }
        // A key cannot widen the rights of the key that creates it.
        if let Principal::User {
            key_scopes: Some(own),
            ..
        } = p
        {
            if !own.is_empty() && !own.iter().any(|s| s == "*") {
                let wanted_all = scopes.is_empty() || scopes.iter().any(|s| s == "*");
                if wanted_all || scopes.iter().any(|s| !own.contains(s)) {
                    return Err(Error::Forbidden(
                        "A key cannot create a key with wider scopes".into(),
                    ));
                }
            }
        }
        let api_key = new_bearer_secret("1ck_");
        let hash = self.credential_hash(&api_key).await?;
        let row = ApiKey {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user_id.to_owned(),
            org_id: p.org_id().to_owned(),
            name: name.to_owned(),
            key_prefix: api_key[..12].to_owned(),
            scopes,
            is_active: true,
            created_at: self.now(),
            expires_at,
            last_used_at: None,
        };
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "api_key.create",
                "api_key",
                Some(row.id.clone()),
                json!({"name": row.name}),
            ),
        )
        .await?;
        api_keys::insert(&mut tx, &row, &hash).await?;
        tx.commit().await?;
        Ok(ApiKeyCreated {
            key: row,
            api_key: BearerSecret::new(api_key),
        })
    }

    /// The caller's own keys, revoked ones included.
    pub async fn list_api_keys(&self, p: &Principal) -> Result<Vec<ApiKey>> {
        let (user_id, _) = p.require_human()?;
        api_keys::list_for_user(self.store().pool(), user_id).await
    }

    /// Revokes one of the caller's keys; it and tokens made from it stop working at once.
    pub async fn revoke_api_key(
        &self,
        p: &Principal,
        key_id: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let (user_id, _) = p.require_human()?;
        let key = api_keys::get(self.store().pool(), key_id)
            .await?
            .filter(|k| k.user_id == user_id)
            .ok_or(Error::NotFound("API key"))?;
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "api_key.revoke",
                "api_key",
                Some(key.id.clone()),
                json!({"name": key.name}),
            ),
        )
        .await?;
        api_keys::deactivate(&mut tx, &key.id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Exchanges a `1ck_` key for an access token carrying the key's id and scopes.
    pub async fn api_key_token(&self, key: &str, ctx: &RequestContext) -> Result<Tokens> {
        if !key.starts_with("1ck_") {
            return Err(Error::Unauthorized("Invalid or revoked API key"));
        }
        let (row, user) = self.personal_key(key).await?;
        let p = user_principal(&user, Some(row.scopes.clone()))?;
        let mut c = self.user_claims(&user, "api_key");
        c.api_key_id = Some(row.id.clone());
        c.key_scopes = Some(row.scopes.clone());
        let access_token = self.sign(c).await?;
        self.record(
            ctx,
            AuditEvent::by(
                &p,
                "auth.success",
                "auth",
                Some(user.id.clone()),
                json!({"method": "api_key"}),
            ),
        )
        .await?;
        Ok(Tokens {
            user_id: user.id,
            access_token: BearerSecret::new(access_token),
            expires_in: self.config().user_token_ttl_s,
            refresh_token: None,
        })
    }

    /// Rotates a refresh token: the presented one is spent and a new pair is issued. Presenting
    /// an already spent token revokes its whole family.
    pub async fn refresh(&self, refresh_token: &str, ctx: &RequestContext) -> Result<Tokens> {
        let invalid = || Error::Unauthorized("Invalid or expired refresh token");
        if !refresh_token.starts_with("rt_") || refresh_token.len() > 128 {
            return Err(invalid());
        }
        let hash = self.credential_hash(refresh_token).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        // Spend the token first (a write), so two concurrent refreshes cannot both succeed.
        let spent = users::spend_refresh_token(&mut tx, &hash, now).await?;
        let Some((user_id, family)) = spent else {
            if let Some(family) = users::refresh_family(&mut tx, &hash).await? {
                users::revoke_refresh_family(&mut tx, &family, now).await?;
                tx.commit().await?;
            }
            return Err(invalid());
        };
        let user = users::by_id(self.store().pool(), &user_id)
            .await?
            .ok_or_else(invalid)?;
        let p = user_principal(&user, None)?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                &p,
                "auth.success",
                "auth",
                Some(user.id.clone()),
                json!({"method": "refresh"}),
            ),
        )
        .await?;
        let new_refresh = self
            .new_refresh_token_in(&mut tx, &user.id, Some(&family))
            .await?;
        let access_token = self.sign(self.user_claims(&user, "refresh")).await?;
        tx.commit().await?;
        Ok(Tokens {
            user_id: user.id,
            access_token: BearerSecret::new(access_token),
            expires_in: self.config().user_token_ttl_s,
            refresh_token: Some(BearerSecret::new(new_refresh)),
        })
    }

    /// A new access token for a human already holding a valid one (the SDK's body-less
    /// refresh). The old token keeps its own expiry.
    pub async fn reissue(&self, p: &Principal) -> Result<Tokens> {
        let (user_id, _) = p.require_human()?;
        if matches!(
            p,
            Principal::User {
                key_scopes: Some(_),
                ..
            }
        ) {
            return Err(Error::invalid(
                "refresh_token",
                "API-key sessions are refreshed by exchanging the key again",
            ));
        }
        let user = users::by_id(self.store().pool(), user_id)
            .await?
            .ok_or(Error::Unauthorized("Invalid or expired token"))?;
        let access_token = self.sign(self.user_claims(&user, "refresh")).await?;
        Ok(Tokens {
            user_id: user.id,
            access_token: BearerSecret::new(access_token),
            expires_in: self.config().user_token_ttl_s,
            refresh_token: None,
        })
    }

    /// Revokes the presented access token until its expiry (on every process sharing the
    /// database) and, for humans, their refresh tokens.
    pub async fn logout(&self, p: &Principal, bearer: &str, ctx: &RequestContext) -> Result<()> {
        let claims = self
            .0
            .signer
            .verify(bearer, self.now() / 1000, "access")
            .ok();
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(p, "auth.logout", "auth", Some(p.id().to_owned()), json!({})),
        )
        .await?;
        if let Some(c) = claims {
            api_keys::revoke_jti(&mut tx, &c.jti, (c.exp + 60) * 1000).await?;
        }
        if let Principal::User { user_id, .. } = p {
            users::revoke_user_refresh_tokens(&mut tx, user_id, self.now()).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The caller's profile.
    pub async fn me(&self, p: &Principal) -> Result<User> {
        let (user_id, _) = p.require_human()?;
        users::by_id(self.store().pool(), user_id)
            .await?
            .ok_or(Error::NotFound("User"))
    }

    /// Updates display name and email preferences.
    pub async fn update_me(
        &self,
        p: &Principal,
        patch: ProfilePatch,
        ctx: &RequestContext,
    ) -> Result<User> {
        let mut user = self.me(p).await?;
        if let Some(d) = patch.display_name {
            let d = d.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
            if d.as_ref().is_some_and(|s| s.chars().count() > 255) {
                return Err(Error::invalid(
                    "display_name",
                    "display_name must be at most 255 characters",
                ));
            }
            user.display_name = d;
        }
        if let Some(m) = patch.marketing_emails {
            user.marketing_emails = m;
        }
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(p, "user.update", "user", Some(user.id.clone()), json!({})),
        )
        .await?;
        users::update_profile(&mut tx, &user).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Changes the password after checking the current one; every refresh token is revoked.
    pub async fn change_password(
        &self,
        p: &Principal,
        current: Password,
        new: Password,
        ctx: &RequestContext,
    ) -> Result<()> {
        let user = self.me(p).await?;
        check_password_rules(new.expose_secret()).map_err(|e| match e {
            Error::Invalid { reason, .. } => Error::invalid("new_password", reason),
            other => other,
        })?;
        let hash = users::password_hash(self.store().pool(), &user.id)
            .await?
            .unwrap_or_default();
        let ok =
            tokio::task::spawn_blocking(move || verify_password(current.expose_secret(), &hash))
                .await
                .map_err(|_| Error::Internal("hashing task failed".into()))?;
        if !ok {
            return Err(Error::invalid(
                "current_password",
                "Current password is incorrect",
            ));
        }
        let new_hash = tokio::task::spawn_blocking(move || hash_password(new.expose_secret()))
            .await
            .map_err(|_| Error::Internal("hashing task failed".into()))??;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "auth.password_changed",
                "auth",
                Some(user.id.clone()),
                json!({}),
            ),
        )
        .await?;
        users::set_password(&mut tx, &user.id, &new_hash).await?;
        users::revoke_user_refresh_tokens(&mut tx, &user.id, now).await?;
        tx.commit().await?;
        Ok(())
    }
}
