//! Credentials: password hashing and rules, email normalisation, bearer secrets and their keyed
//! hashes, and the signing of access tokens and refresh tokens. Used by every sign-in path
//! (password, Google, device, API keys, agents, shares).

use super::Core;
use crate::audit_chain::hex;
use crate::error::{Error, Result};
use crate::keystore::MacKey;
use crate::material::random_bytes;
use crate::store::users;
use crate::token::Claims;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;

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

    pub(crate) fn base_claims(&self, sub: String, org_id: &str, ttl_s: i64) -> Claims {
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

    pub(crate) async fn user_access_token(
        &self,
        user: &crate::model::User,
        method: &str,
    ) -> Result<String> {
        self.sign(self.user_claims(user, method)).await
    }

    pub(crate) async fn new_refresh_token(
        &self,
        tx: &mut crate::store::Tx,
        user_id: &str,
    ) -> Result<String> {
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
