//! Access tokens: compact JWS with `alg: EdDSA`, signed inside the keystore, verified with the
//! published public key. Only EdDSA with our `kid` is accepted.

use crate::error::Error;
use crate::keystore::KeyStore;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Leeway on `exp`, in seconds.
const LEEWAY_S: i64 = 30;

/// The claims Talon writes and reads. Optional fields are absent from tokens that lack them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// Issuer: the server's public base URL.
    pub iss: String,
    /// Subject: `user:<id>` or `agent:<id>`.
    pub sub: String,
    /// The org the subject belongs to (same value as `org_id`).
    pub org: String,
    /// The org the subject belongs to.
    pub org_id: String,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Unique token id, checked against the revocation list.
    pub jti: String,
    /// What the token is for: `access`, or `mfa` for a login waiting on its second factor.
    pub token_use: String,
    /// A human's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A human's org role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// How a human signed in: `password`, `google`, `api_key`, ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    /// An agent's scopes at issue time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Set when the agent's scopes were given explicitly rather than derived from policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_explicit: Option<bool>,
    /// Vaults an agent is bound to; empty means every vault of the org.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_ids: Option<Vec<String>>,
    /// Kept for client compatibility; always false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intents_api_enabled: Option<bool>,
    /// The personal API key the token was made from, re-checked on every use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<String>,
    /// The scopes of that personal API key, which narrow the user's rights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_scopes: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

/// Issues and verifies tokens with the keystore's Ed25519 key.
pub struct TokenSigner {
    public: VerifyingKey,
    kid: String,
    verified: Mutex<HashMap<[u8; 32], Arc<Claims>>>,
}

/// How many verified tokens [`TokenSigner::verify`] remembers.
const VERIFIED_CAPACITY: usize = 16_384;

impl TokenSigner {
    /// Builds the signer from the keystore's public key.
    pub fn new(public_key: [u8; 32]) -> Result<Self, Error> {
        let public = VerifyingKey::from_bytes(&public_key)
            .map_err(|_| Error::Internal("invalid JWT public key".into()))?;
        let digest = Sha256::digest(public_key);
        let kid = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(TokenSigner {
            public,
            kid,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// The key id published in JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public.to_bytes()
    }

    /// Signs the claims inside the keystore (blocking call).
    pub fn sign(&self, keys: &dyn KeyStore, claims: &Claims) -> Result<String, Error> {
        let header = Header {
            alg: "EdDSA".into(),
            typ: Some("JWT".into()),
            kid: Some(self.kid.clone()),
        };
        let enc = |v: &dyn erased::Json| B64URL.encode(v.to_json());
        let signing_input = format!("{}.{}", enc(&header), enc(claims));
        let sig = keys.sign(signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", B64URL.encode(sig)))
    }

    /// Verifies signature, algorithm, key id, expiry and `token_use`, returning the claims.
    ///
    /// A token that verified once is remembered by the SHA-256 of its text: the same bytes
    /// always verify the same way under this key, so a repeat skips the signature check and the
    /// decoding. Expiry and `token_use` are checked on every call. Whether the token was revoked
    /// and whether its subject may still act are not part of this check: the caller asks the
    /// database on every request.
    pub fn verify(&self, token: &str, now_s: i64, token_use: &str) -> Result<Claims, Error> {
        let bad = || Error::Unauthorized("Invalid or expired token");
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let known = self
            .verified
            .lock()
            .expect("verified tokens")
            .get(&digest)
            .cloned();
        let claims = match known {
            Some(c) => c,
            None => {
                let c = Arc::new(self.verify_signed(token)?);
                if c.exp + LEEWAY_S >= now_s {
                    self.remember(digest, c.clone(), now_s);
                }
                c
            }
        };
        if claims.exp + LEEWAY_S < now_s || claims.token_use != token_use {
            return Err(bad());
        }
        Ok((*claims).clone())
    }

    fn remember(&self, digest: [u8; 32], claims: Arc<Claims>, now_s: i64) {
        let mut verified = self.verified.lock().expect("verified tokens");
        if verified.len() >= VERIFIED_CAPACITY {
            verified.retain(|_, c| c.exp + LEEWAY_S >= now_s);
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
        }
        verified.insert(digest, claims);
    }

    /// The signature, header and claims decoding of [`TokenSigner::verify`].
    fn verify_signed(&self, token: &str) -> Result<Claims, Error> {
        let bad = || Error::Unauthorized("Invalid or expired token");
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let header: Header = B64URL
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(bad)?;
        if header.alg != "EdDSA" || header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(bad());
        }
        let sig_bytes: [u8; 64] = B64URL
            .decode(s)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        let signing_input = &token[..h.len() + 1 + p.len()];
        self.public
            .verify(signing_input.as_bytes(), &Signature::from_bytes(&sig_bytes))
            .map_err(|_| bad())?;
        B64URL
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(bad)
    }
}

mod erased {
    /// Serialises to JSON bytes; lets `sign` encode header and claims with one closure.
    pub trait Json {
        fn to_json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Vec<u8> {
            serde_json::to_vec(self).expect("claims serialise")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::SoftKeyStore;

    fn claims(exp: i64) -> Claims {
        Claims {
            iss: "http://t".into(),
            sub: "agent:1".into(),
            org: "o".into(),
            org_id: "o".into(),
            iat: 0,
            exp,
            jti: "j".into(),
            token_use: "access".into(),
            email: None,
            role: None,
            auth_method: None,
            scopes: Some(vec![]),
            scopes_explicit: None,
            vault_ids: Some(vec![]),
            intents_api_enabled: Some(false),
            api_key_id: None,
            key_scopes: None,
        }
    }

    /// `t` with its payload replaced by claims for another subject, signature kept.
    fn payload_swapped(t: &str) -> String {
        let parts: Vec<&str> = t.split('.').collect();
        let mut c = claims(1000);
        c.sub = "agent:2".into();
        let forged = B64URL.encode(serde_json::to_vec(&c).unwrap());
        format!("{}.{forged}.{}", parts[0], parts[2])
    }

    fn setup() -> (SoftKeyStore, TokenSigner) {
        let ks = SoftKeyStore::new();
        let signer = TokenSigner::new(ks.jwt_public_key().unwrap()).unwrap();
        (ks, signer)
    }

    #[test]
    fn signed_token_verifies() {
        let (ks, s) = setup();
        let t = s.sign(&ks, &claims(1000)).unwrap();
        assert_eq!(s.verify(&t, 900, "access").unwrap(), claims(1000));
    }

    #[test]
    fn expired_token_is_rejected_after_leeway() {
        let (ks, s) = setup();
        let t = s.sign(&ks, &claims(1000)).unwrap();
        assert!(s.verify(&t, 1020, "access").is_ok());
        assert!(s.verify(&t, 1031, "access").is_err());
    }

    #[test]
    fn alg_none_and_tampered_payload_are_rejected() {
        let (ks, s) = setup();
        let t = s.sign(&ks, &claims(1000)).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let none_header = B64URL.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(s
            .verify(&format!("{none_header}.{}.", parts[1]), 0, "access")
            .is_err());
        assert!(s.verify(&payload_swapped(&t), 0, "access").is_err());
        assert!(s.verify(&t, 0, "mfa").is_err());
    }

    #[test]
    fn a_remembered_token_is_still_refused_once_expired_or_for_another_use() {
        let (ks, s) = setup();
        let t = s.sign(&ks, &claims(1000)).unwrap();
        assert!(s.verify(&t, 900, "access").is_ok());
        assert_eq!(s.verified.lock().unwrap().len(), 1, "remembered");
        assert!(s.verify(&t, 950, "access").is_ok());
        assert!(s.verify(&t, 950, "mfa").is_err());
        assert!(s.verify(&t, 1031, "access").is_err());
    }

    #[test]
    fn a_forged_twin_of_a_remembered_token_is_refused() {
        let (ks, s) = setup();
        let t = s.sign(&ks, &claims(1000)).unwrap();
        assert!(s.verify(&t, 0, "access").is_ok());
        assert!(s.verify(&payload_swapped(&t), 0, "access").is_err());
        let parts: Vec<&str> = t.split('.').collect();
        let mut sig = parts[2].to_owned().into_bytes();
        sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
        let flipped = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            String::from_utf8(sig).unwrap()
        );
        assert!(s.verify(&flipped, 0, "access").is_err());
        assert!(s.verify(&t, 0, "access").is_ok());
    }

    #[test]
    fn remembered_tokens_stay_bounded_and_expired_ones_go_first() {
        let (_ks, s) = setup();
        let c = Arc::new(claims(100));
        for i in 0..VERIFIED_CAPACITY {
            let mut d = [0u8; 32];
            d[..8].copy_from_slice(&(i as u64).to_le_bytes());
            s.remember(d, c.clone(), 0);
        }
        assert_eq!(s.verified.lock().unwrap().len(), VERIFIED_CAPACITY);
        // Full: the expired entries are dropped to make room.
        s.remember([0xff; 32], Arc::new(claims(10_000)), 5_000);
        assert_eq!(s.verified.lock().unwrap().len(), 1);
    }

    #[test]
    fn token_from_another_key_is_rejected() {
        let (ks, s) = setup();
        let (other_ks, other) = setup();
        let t = other.sign(&other_ks, &claims(1000)).unwrap();
        assert!(s.verify(&t, 0, "access").is_err());
        let _ = ks;
    }
}
