//! Envelope encryption of secret values: a fresh DEK per version, the value sealed with
//! AES-256-GCM-SIV, the DEK wrapped by the vault KEK inside the keystore. Both layers bind the
//! same associated data, so a ciphertext moved to another vault, secret, path or version fails
//! to open instead of yielding another secret's plaintext.

use crate::keystore::{KeyStore, KeyStoreError};
use crate::material::{random_bytes, Dek, SecretValue};
use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use zeroize::Zeroizing;

/// Identifier of the format written by [`seal`], stored with every version.
pub const ALGORITHM: &str = "talon-v1:aes-256-gcm-siv+hsm-aes-gcm";

/// Where a ciphertext lives; serialised into the associated data.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The owning org.
    pub org_id: &'a str,
    /// The vault holding the secret.
    pub vault_id: &'a str,
    /// The secret's id.
    pub secret_id: &'a str,
    /// The secret's path.
    pub path: &'a str,
    /// The version number being sealed.
    pub version: i64,
}

impl Binding<'_> {
    /// Length-prefixed fields so that no two bindings produce the same bytes.
    pub fn associated_data(&self) -> Vec<u8> {
        let mut out = b"talon/v1".to_vec();
        for field in [self.org_id, self.vault_id, self.secret_id, self.path] {
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(&self.version.to_be_bytes());
        out
    }
}

/// What is stored for a sealed value. None of it is secret on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The value encrypted under the DEK.
    pub ciphertext: Vec<u8>,
    /// The 12-byte AES-GCM-SIV nonce used for `ciphertext`.
    pub nonce: Vec<u8>,
    /// The DEK, wrapped by the vault KEK inside the keystore.
    pub wrapped_dek: Vec<u8>,
}

/// A sealing or opening failure.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The keystore failed to wrap or unwrap the DEK.
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
    /// The ciphertext does not authenticate under its binding.
    #[error("ciphertext failed authentication")]
    Tampered,
}

/// Encrypts `value` under a fresh DEK wrapped by `kek`. The DEK is zeroized before returning.
pub fn seal(
    keys: &dyn KeyStore,
    kek: &str,
    binding: &Binding<'_>,
    value: &SecretValue,
) -> Result<Sealed, EnvelopeError> {
    let aad = binding.associated_data();
    let dek = Dek::generate();
    let cipher = Aes256GcmSiv::new_from_slice(dek.expose_secret()).expect("32-byte key");
    let nonce = random_bytes::<12>();
    let ciphertext = cipher
        .encrypt(
            &Nonce::try_from(&nonce[..]).expect("12-byte nonce"),
            Payload {
                msg: value.expose_secret().as_bytes(),
                aad: &aad,
            },
        )
        .map_err(|_| EnvelopeError::Tampered)?;
    let wrapped_dek = keys.wrap_dek(kek, &dek, &aad)?;
    Ok(Sealed {
        ciphertext,
        nonce: nonce.to_vec(),
        wrapped_dek,
    })
}

/// Decrypts a sealed value. Fails with `Tampered` on any mismatch; never returns another
/// binding's plaintext.
pub fn open(
    keys: &dyn KeyStore,
    kek: &str,
    binding: &Binding<'_>,
    sealed: &Sealed,
) -> Result<SecretValue, EnvelopeError> {
    let aad = binding.associated_data();
    let dek = match keys.unwrap_dek(kek, &sealed.wrapped_dek, &aad) {
        Ok(d) => d,
        Err(KeyStoreError::UnwrapFailed) => return Err(EnvelopeError::Tampered),
        Err(e) => return Err(e.into()),
    };
    if sealed.nonce.len() != 12 {
        return Err(EnvelopeError::Tampered);
    }
    let cipher = Aes256GcmSiv::new_from_slice(dek.expose_secret()).expect("32-byte key");
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                &Nonce::try_from(&sealed.nonce[..]).map_err(|_| EnvelopeError::Tampered)?,
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| EnvelopeError::Tampered)?,
    );
    let text = std::str::from_utf8(&plain).map_err(|_| EnvelopeError::Tampered)?;
    Ok(SecretValue::new(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::SoftKeyStore;

    fn binding(path: &str, version: i64) -> Binding<'_> {
        Binding {
            org_id: "org",
            vault_id: "vault",
            secret_id: "secret",
            path,
            version,
        }
    }

    fn store() -> SoftKeyStore {
        let ks = SoftKeyStore::new();
        ks.create_kek("kek").unwrap();
        ks
    }

    #[test]
    fn sealed_value_opens_under_its_binding() {
        let ks = store();
        let b = binding("api/key", 1);
        let sealed = seal(&ks, "kek", &b, &SecretValue::new("sk-123".into())).unwrap();
        assert!(!sealed
            .ciphertext
            .windows(6)
            .any(|w| w == b"sk-123".as_slice()));
        assert_eq!(
            open(&ks, "kek", &b, &sealed).unwrap().expose_secret(),
            "sk-123"
        );
    }

    #[test]
    fn ciphertext_moved_to_another_path_or_version_fails() {
        let ks = store();
        let sealed = seal(&ks, "kek", &binding("a", 1), &SecretValue::new("v".into())).unwrap();
        assert!(matches!(
            open(&ks, "kek", &binding("b", 1), &sealed),
            Err(EnvelopeError::Tampered)
        ));
        assert!(matches!(
            open(&ks, "kek", &binding("a", 2), &sealed),
            Err(EnvelopeError::Tampered)
        ));
    }

    #[test]
    fn flipped_ciphertext_byte_fails() {
        let ks = store();
        let b = binding("a", 1);
        let mut sealed = seal(&ks, "kek", &b, &SecretValue::new("value".into())).unwrap();
        sealed.ciphertext[0] ^= 1;
        assert!(matches!(
            open(&ks, "kek", &b, &sealed),
            Err(EnvelopeError::Tampered)
        ));
    }

    #[test]
    fn associated_data_is_unambiguous() {
        let a = Binding {
            org_id: "ab",
            vault_id: "c",
            secret_id: "s",
            path: "p",
            version: 1,
        };
        let b = Binding {
            org_id: "a",
            vault_id: "bc",
            ..a
        };
        assert_ne!(a.associated_data(), b.associated_data());
    }
}
