//! Sign-in with Google (or any OIDC provider): an ID token verified against the provider's
//! JWKS for signature, issuer, audience and expiry; the email must be verified.

use super::audit::AuditEvent;
use super::identity::LoginOutcome;
use super::principal::user_principal;
use super::{Core, RequestContext, Role};
use crate::error::{Dependency, Error, Result};
use crate::store::{org, users};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Where ID tokens come from and who they must be for.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// Expected `aud` (the OAuth client id).
    pub client_id: String,
    /// Accepted `iss` values.
    pub issuers: Vec<String>,
    /// The provider's JWKS URL.
    pub jwks_url: String,
    /// The provider's authorization endpoint (the dashboard's redirect sign-in).
    pub auth_url: String,
    /// The provider's token endpoint (code exchange with PKCE).
    pub token_url: String,
    /// The OAuth client secret, when the provider issues one.
    pub client_secret: Option<String>,
}

/// Cached JWKS with its fetch time.
#[derive(Default)]
pub(crate) struct JwksCache(Mutex<Option<(Instant, JwkSet)>>);

const JWKS_TTL: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
struct IdClaims {
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    #[serde(default)]
    name: Option<String>,
}

impl Core {
    async fn jwks(&self, cfg: &OidcConfig, refresh: bool) -> Result<JwkSet> {
        let mut cache = self.0.jwks.0.lock().await;
        if let Some((at, set)) = cache.as_ref() {
            if !refresh && at.elapsed() < JWKS_TTL {
                return Ok(set.clone());
            }
        }
        let fetched = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|_| Error::Unavailable(Dependency::Keystore))?
            .get(&cfg.jwks_url)
            .send()
            .await
            .and_then(|r| r.error_for_status());
        let set: JwkSet = match fetched {
            Ok(r) => r.json().await.map_err(|e| {
                tracing::error!(error = %e, "identity provider JWKS is not valid JSON");
                Error::Unauthorized("Identity provider keys are unavailable")
            })?,
            Err(e) => {
                tracing::error!(error = %e, "cannot fetch the identity provider JWKS");
                return Err(Error::Unauthorized(
                    "Identity provider keys are unavailable",
                ));
            }
        };
        *cache = Some((Instant::now(), set.clone()));
        Ok(set)
    }

    /// Verifies an ID token and logs the user in, creating user and org on first sign-in.
    /// A password account with the same email is a 409 (no silent linking). MFA applies.
    pub async fn google_login(&self, id_token: &str, ctx: &RequestContext) -> Result<LoginOutcome> {
        let cfg = self.config().oidc.clone().ok_or(Error::Unauthorized(
            "Google sign-in is not configured on this server",
        ))?;
        let bad = || Error::Unauthorized("Invalid ID token");
        let header = decode_header(id_token).map_err(|_| bad())?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(bad());
        }
        let kid = header.kid.clone().ok_or_else(bad)?;
        let mut jwks = self.jwks(&cfg, false).await?;
        if jwks.find(&kid).is_none() {
            jwks = self.jwks(&cfg, true).await?;
        }
        let jwk = jwks.find(&kid).ok_or_else(bad)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| bad())?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[cfg.client_id.as_str()]);
        validation.set_issuer(&cfg.issuers);
        validation.leeway = 30;
        let claims = decode::<IdClaims>(id_token, &key, &validation)
            .map_err(|_| bad())?
            .claims;
        let verified = matches!(claims.email_verified, Some(serde_json::Value::Bool(true)))
            || matches!(
                claims.email_verified.as_ref().and_then(|v| v.as_str()),
                Some("true")
            );
        let email = claims
            .email
            .filter(|_| verified)
            .ok_or(Error::Unauthorized(
                "The identity provider has not verified this email",
            ))?;
        let email = super::credentials::normalize_email(&email)?;

        let user = match users::by_email(self.store().pool(), &email).await? {
            Some(u) if u.auth_method == "google" => u,
            Some(_) => {
                return Err(Error::Conflict(
                    "This email belongs to a password account; sign in with the password".into(),
                ))
            }
            None => self.create_google_user(&email, claims.name, ctx).await?,
        };
        self.finish_login(user, "google", ctx).await
    }

    async fn create_google_user(
        &self,
        email: &str,
        name: Option<String>,
        ctx: &RequestContext,
    ) -> Result<crate::model::User> {
        let now = self.now();
        let mut user = crate::model::User {
            id: uuid::Uuid::new_v4().to_string(),
            org_id: uuid::Uuid::new_v4().to_string(),
            email: email.to_owned(),
            display_name: name.clone(),
            has_password: false,
            role: Role::Owner.as_str().into(),
            auth_method: "google".into(),
            email_verified: true,
            marketing_emails: false,
            created_at: now,
            billing_tier: self.config().default_tier.clone(),
            totp_enabled: false,
        };
        let mut tx = self.store().begin().await?;
        match org::claim_invite(&mut tx, email, now).await? {
            Some((org_id, role)) => {
                user.org_id = org_id;
                user.role = role;
            }
            None => {
                users::insert_org(
                    &mut tx,
                    &user.org_id,
                    name.as_deref().unwrap_or(email),
                    &user.billing_tier,
                    now,
                )
                .await?
            }
        }
        if !users::insert_user(&mut tx, &user, None).await? {
            return Err(Error::Conflict(
                "An account with this email already exists".into(),
            ));
        }
        crate::store::shares::claim_external(&mut tx, email, &user.id, now).await?;
        let p = user_principal(&user, None)?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                &p,
                "user.signup",
                "user",
                Some(user.id.clone()),
                json!({"method": "google"}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }
}
