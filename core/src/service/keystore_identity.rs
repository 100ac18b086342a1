//! Start-up check that the keystore is the one the database belongs to.

use crate::audit_chain::hex;
use crate::clock::now_ms;
use crate::keystore::{KeyStore, KeyStoreError};
use crate::store::{keystore_identity as stored, Store};
use std::fmt;
use std::sync::Arc;

pub use crate::store::keystore_identity::database_is_fresh;

/// Why the keystore does not match the database.
#[derive(Debug)]
pub enum IdentityMismatch {
    /// The JWT signing key differs from the one recorded at first start.
    JwtKey {
        /// Label of the token that was opened.
        token_label: String,
        /// Label recorded with the database.
        recorded_label: String,
    },
    /// A vault's KEK is not in the token.
    KekMissing {
        /// Label of the token that was opened.
        token_label: String,
        /// The missing KEK's label.
        kek_label: String,
    },
    /// The check itself could not run (database or keystore unreachable).
    Unchecked(String),
}

impl fmt::Display for IdentityMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityMismatch::JwtKey {
                token_label,
                recorded_label,
            } => write!(
                f,
                "the PKCS#11 token '{token_label}' is not the token this database was created with \
                 (recorded: token '{recorded_label}'; the JWT signing keys differ), so it cannot \
                 decrypt what is stored. Point TALON_PKCS11_MODULE, TALON_PKCS11_TOKEN_LABEL (and \
                 SOFTHSM2_CONF, if set) at the original token, or restore the token from a backup"
            ),
            IdentityMismatch::KekMissing {
                token_label,
                kek_label,
            } => write!(
                f,
                "the PKCS#11 token '{token_label}' does not hold the vault key '{kek_label}' that \
                 the database refers to, so it cannot decrypt what is stored. Point \
                 TALON_PKCS11_MODULE, TALON_PKCS11_TOKEN_LABEL (and SOFTHSM2_CONF, if set) at the \
                 original token, or restore the token from a backup"
            ),
            IdentityMismatch::Unchecked(why) => {
                write!(f, "cannot check the keystore against the database: {why}")
            }
        }
    }
}

/// Checks that `keys` is the keystore the database at `store` was created with: the JWT
/// public key against the recorded one, and the oldest vault's KEK against the token. With no
/// record yet (first start, or a database from before the record existed) the identity is
/// recorded once the KEK check passes. An `ephemeral` keystore (the insecure in-memory one)
/// has new keys on every start: its identity is re-recorded instead of compared.
pub async fn check_keystore_identity(
    store: &Store,
    keys: &Arc<dyn KeyStore>,
    token_label: &str,
    ephemeral: bool,
) -> Result<(), IdentityMismatch> {
    let unchecked = |e: &dyn fmt::Display| IdentityMismatch::Unchecked(e.to_string());
    let public = hex(&keys.jwt_public_key().map_err(|e| unchecked(&e))?);
    let recorded = stored::get(store).await.map_err(|e| unchecked(&e))?;
    if ephemeral {
        return stored::record(store, &public, token_label, now_ms())
            .await
            .map_err(|e| unchecked(&e));
    }
    if let Some(r) = &recorded {
        if r.jwt_public_key != public {
            return Err(IdentityMismatch::JwtKey {
                token_label: token_label.to_owned(),
                recorded_label: r.token_label.clone(),
            });
        }
    }
    if let Some((_vault, kek)) = stored::some_vault_kek(store)
        .await
        .map_err(|e| unchecked(&e))?
    {
        let keys = keys.clone();
        let label = kek.clone();
        let found = tokio::task::spawn_blocking(move || keys.kek_attributes(&label))
            .await
            .map_err(|e| unchecked(&e))?;
        match found {
            Ok(_) => {}
            Err(KeyStoreError::KeyNotFound(_)) => {
                return Err(IdentityMismatch::KekMissing {
                    token_label: token_label.to_owned(),
                    kek_label: kek,
                })
            }
            Err(e) => return Err(unchecked(&e)),
        }
    }
    if recorded.is_none() {
        stored::record(store, &public, token_label, now_ms())
            .await
            .map_err(|e| unchecked(&e))?;
    }
    Ok(())
}
