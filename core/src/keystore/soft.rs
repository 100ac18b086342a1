//! In-memory keystore: for unit tests and `--insecure-dev-keystore` only. Keys live in process
//! memory and vanish on exit.

use super::{KekAttributes, KeyStore, KeyStoreError, MacKey};
use crate::material::{random_bytes, Dek};
use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;
use zeroize::Zeroizing;

/// Software keystore. Not for production: keys are ordinary process memory.
pub struct SoftKeyStore {
    keks: Mutex<HashMap<String, Zeroizing<[u8; 32]>>>,
    jwt: SigningKey,
    mac_credentials: Zeroizing<[u8; 32]>,
    mac_audit: Zeroizing<[u8; 32]>,
}

impl Default for SoftKeyStore {
    fn default() -> Self {
        Self::new()
    }
}

impl SoftKeyStore {
    /// A store with a fresh random JWT key and MAC keys and no KEKs; everything is lost on exit.
    pub fn new() -> Self {
        SoftKeyStore {
            keks: Mutex::new(HashMap::new()),
            jwt: SigningKey::from_bytes(&random_bytes::<32>()),
            mac_credentials: Zeroizing::new(random_bytes::<32>()),
            mac_audit: Zeroizing::new(random_bytes::<32>()),
        }
    }

    fn kek(&self, label: &str) -> Result<Zeroizing<[u8; 32]>, KeyStoreError> {
        self.keks
            .lock()
            .expect("kek map")
            .get(label)
            .cloned()
            .ok_or_else(|| KeyStoreError::KeyNotFound(label.to_owned()))
    }
}

impl KeyStore for SoftKeyStore {
    fn create_kek(&self, label: &str) -> Result<(), KeyStoreError> {
        self.keks
            .lock()
            .expect("kek map")
            .insert(label.to_owned(), Zeroizing::new(random_bytes::<32>()));
        Ok(())
    }

    fn destroy_kek(&self, label: &str) -> Result<(), KeyStoreError> {
        self.keks.lock().expect("kek map").remove(label);
        Ok(())
    }

    fn wrap_dek(&self, kek: &str, dek: &Dek, aad: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
        let key = self.kek(kek)?;
        let cipher = Aes256GcmSiv::new_from_slice(key.as_ref())
            .map_err(|_| KeyStoreError::Backend("bad key length".into()))?;
        let iv = random_bytes::<12>();
        let ct = cipher
            .encrypt(
                &Nonce::try_from(&iv[..]).expect("12-byte nonce"),
                Payload {
                    msg: dek.expose_secret(),
                    aad,
                },
            )
            .map_err(|_| KeyStoreError::Backend("wrap failed".into()))?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn unwrap_dek(&self, kek: &str, wrapped: &[u8], aad: &[u8]) -> Result<Dek, KeyStoreError> {
        let key = self.kek(kek)?;
        if wrapped.len() < 12 {
            return Err(KeyStoreError::UnwrapFailed);
        }
        let cipher = Aes256GcmSiv::new_from_slice(key.as_ref())
            .map_err(|_| KeyStoreError::Backend("bad key length".into()))?;
        let (iv, ct) = wrapped.split_at(12);
        let pt = cipher
            .decrypt(
                &Nonce::try_from(iv).map_err(|_| KeyStoreError::UnwrapFailed)?,
                Payload { msg: ct, aad },
            )
            .map_err(|_| KeyStoreError::UnwrapFailed)?;
        Dek::from_bytes(pt).ok_or(KeyStoreError::UnwrapFailed)
    }

    fn kek_attributes(&self, kek: &str) -> Result<KekAttributes, KeyStoreError> {
        self.kek(kek)?;
        Ok(KekAttributes {
            extractable: true,
            sensitive: false,
            token: false,
        })
    }

    fn sign(&self, msg: &[u8]) -> Result<[u8; 64], KeyStoreError> {
        Ok(self.jwt.sign(msg).to_bytes())
    }

    fn jwt_public_key(&self) -> Result<[u8; 32], KeyStoreError> {
        Ok(self.jwt.verifying_key().to_bytes())
    }

    fn mac(&self, key: MacKey, data: &[u8]) -> Result<[u8; 32], KeyStoreError> {
        let k = match key {
            MacKey::Credentials => &self.mac_credentials,
            MacKey::Audit => &self.mac_audit,
        };
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(k.as_ref())
            .map_err(|_| KeyStoreError::Backend("hmac key".into()))?;
        m.update(data);
        Ok(m.finalize().into_bytes().into())
    }

    fn ping(&self) -> Result<(), KeyStoreError> {
        Ok(())
    }

    fn describe(&self) -> String {
        "INSECURE in-memory development keystore".into()
    }
}
