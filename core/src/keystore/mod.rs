//! The only place that touches key material: a PKCS#11 token in production, an in-memory
//! software store for unit tests and the explicitly insecure development mode.

mod dek_cache;
mod pkcs11;
mod soft;

pub use dek_cache::DekCache;
pub use pkcs11::{Pkcs11Config, Pkcs11KeyStore};
pub use soft::SoftKeyStore;

use crate::material::Dek;

/// A keystore failure. The message names the operation, never key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// The token or its library failed; the message names the operation.
    #[error("keystore: {0}")]
    Backend(String),
    /// No token with this label is present in the module's slots.
    #[error("keystore: no PKCS#11 token labelled '{0}'")]
    TokenNotFound(String),
    /// No key with this label exists.
    #[error("keystore: key {0} not found")]
    KeyNotFound(String),
    /// Authenticated decryption failed: wrong key, wrong associated data or tampered bytes.
    #[error("keystore: unwrap failed")]
    UnwrapFailed,
}

/// Attributes of a KEK as the token reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KekAttributes {
    /// Whether the key may leave the token (`CKA_EXTRACTABLE`); false for a KEK.
    pub extractable: bool,
    /// Whether the key's value is protected from being read (`CKA_SENSITIVE`); true for a KEK.
    pub sensitive: bool,
    /// Whether the key is a persistent token object rather than a session object (`CKA_TOKEN`).
    pub token: bool,
}

/// Keys the keystore uses for keyed hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacKey {
    /// Hashes API keys, refresh tokens and other bearer secrets for lookup.
    Credentials,
    /// Computes the audit chain's integrity hashes.
    Audit,
}

/// Key operations. Every method is blocking (a PKCS#11 call); async callers run them in
/// `spawn_blocking`. KEKs are addressed by label, never by slot or handle.
pub trait KeyStore: Send + Sync + 'static {
    /// Generates a non-extractable, sensitive AES-256 KEK labelled `label`.
    fn create_kek(&self, label: &str) -> Result<(), KeyStoreError>;
    /// Destroys the KEK (crypto-shredding everything wrapped under it).
    fn destroy_kek(&self, label: &str) -> Result<(), KeyStoreError>;
    /// Encrypts `dek` under the KEK with `aad` bound; output carries its own IV.
    fn wrap_dek(&self, kek: &str, dek: &Dek, aad: &[u8]) -> Result<Vec<u8>, KeyStoreError>;
    /// Reverses [`KeyStore::wrap_dek`]; any mismatch of key, AAD or bytes is `UnwrapFailed`.
    fn unwrap_dek(&self, kek: &str, wrapped: &[u8], aad: &[u8]) -> Result<Dek, KeyStoreError>;
    /// Reads the KEK's protection attributes back from the token.
    fn kek_attributes(&self, kek: &str) -> Result<KekAttributes, KeyStoreError>;
    /// Signs `msg` with the Ed25519 JWT key.
    fn sign(&self, msg: &[u8]) -> Result<[u8; 64], KeyStoreError>;
    /// The raw 32-byte Ed25519 public key of the JWT key.
    fn jwt_public_key(&self) -> Result<[u8; 32], KeyStoreError>;
    /// HMAC-SHA256 under one of the service MAC keys.
    fn mac(&self, key: MacKey, data: &[u8]) -> Result<[u8; 32], KeyStoreError>;
    /// A cheap round trip to the token, for health checks.
    fn ping(&self) -> Result<(), KeyStoreError>;
    /// A short description for start-up messages.
    fn describe(&self) -> String;
}
