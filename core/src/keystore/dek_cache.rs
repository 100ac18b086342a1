//! A short-lived cache of unwrapped DEKs in front of a keystore. Reads of the same secret
//! version within the TTL skip the HSM unwrap. Entries are keyed by the SHA-256 of the KEK
//! label, the associated data and the wrapped bytes, so a cached key is only ever returned for
//! exactly the wrapped key it came from. Destroying a KEK drops its entries before the destroy
//! returns. Keys are zeroized when they leave the cache.

use super::{KekAttributes, KeyStore, KeyStoreError, MacKey};
use crate::material::Dek;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many unwrapped keys the cache holds at most.
const CAPACITY: usize = 1024;

struct Entry {
    kek: String,
    dek: Dek,
    until: Instant,
}

/// A [`KeyStore`] that remembers unwrapped DEKs for `ttl`; everything else goes straight to the
/// inner keystore.
pub struct DekCache {
    inner: Arc<dyn KeyStore>,
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl DekCache {
    /// Wraps `inner`; a zero `ttl` returns `inner` unchanged.
    pub fn wrap(inner: Arc<dyn KeyStore>, ttl: Duration) -> Arc<dyn KeyStore> {
        if ttl.is_zero() {
            return inner;
        }
        Arc::new(DekCache {
            inner,
            ttl,
            entries: Mutex::new(HashMap::new()),
        })
    }

    fn key(kek: &str, wrapped: &[u8], aad: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [kek.as_bytes(), aad, wrapped] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.finalize().into()
    }
}

impl KeyStore for DekCache {
    fn create_kek(&self, label: &str) -> Result<(), KeyStoreError> {
        self.inner.create_kek(label)
    }

    fn destroy_kek(&self, label: &str) -> Result<(), KeyStoreError> {
        self.entries
            .lock()
            .expect("dek cache")
            .retain(|_, e| e.kek != label);
        self.inner.destroy_kek(label)
    }

    fn wrap_dek(&self, kek: &str, dek: &Dek, aad: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
        self.inner.wrap_dek(kek, dek, aad)
    }

    fn unwrap_dek(&self, kek: &str, wrapped: &[u8], aad: &[u8]) -> Result<Dek, KeyStoreError> {
        let key = Self::key(kek, wrapped, aad);
        let now = Instant::now();
        if let Some(e) = self.entries.lock().expect("dek cache").get(&key) {
            if e.until > now {
                return Ok(e.dek.duplicate());
            }
        }
        let dek = self.inner.unwrap_dek(kek, wrapped, aad)?;
        let mut entries = self.entries.lock().expect("dek cache");
        if entries.len() >= CAPACITY {
            entries.retain(|_, e| e.until > now);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                kek: kek.to_owned(),
                dek: dek.duplicate(),
                until: now + self.ttl,
            },
        );
        Ok(dek)
    }

    fn kek_attributes(&self, kek: &str) -> Result<KekAttributes, KeyStoreError> {
        self.inner.kek_attributes(kek)
    }

    fn sign(&self, msg: &[u8]) -> Result<[u8; 64], KeyStoreError> {
        self.inner.sign(msg)
    }

    fn jwt_public_key(&self) -> Result<[u8; 32], KeyStoreError> {
        self.inner.jwt_public_key()
    }

    fn mac(&self, key: MacKey, data: &[u8]) -> Result<[u8; 32], KeyStoreError> {
        self.inner.mac(key, data)
    }

    fn ping(&self) -> Result<(), KeyStoreError> {
        self.inner.ping()
    }

    fn describe(&self) -> String {
        format!(
            "{} (unwrapped keys cached for {} ms)",
            self.inner.describe(),
            self.ttl.as_millis()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::SoftKeyStore;

    /// A software keystore with KEK `k`, and the cache in front of it. Destroying `k` in the
    /// inner store (behind the cache's back) shows which unwraps reach the keystore: those fail.
    fn setup(ttl: Duration) -> (Arc<SoftKeyStore>, Arc<dyn KeyStore>) {
        let inner = Arc::new(SoftKeyStore::new());
        inner.create_kek("k").unwrap();
        let cached = DekCache::wrap(inner.clone(), ttl);
        (inner, cached)
    }

    #[test]
    fn a_repeated_unwrap_within_the_ttl_skips_the_keystore() {
        let (inner, cached) = setup(Duration::from_secs(60));
        let dek = Dek::generate();
        let wrapped = cached.wrap_dek("k", &dek, b"aad").unwrap();
        cached.unwrap_dek("k", &wrapped, b"aad").unwrap();
        inner.destroy_kek("k").unwrap();
        let got = cached.unwrap_dek("k", &wrapped, b"aad").unwrap();
        assert_eq!(got.expose_secret(), dek.expose_secret());
    }

    #[test]
    fn other_associated_data_or_bytes_never_hit_a_cached_key() {
        let (inner, cached) = setup(Duration::from_secs(60));
        let wrapped = cached.wrap_dek("k", &Dek::generate(), b"aad").unwrap();
        cached.unwrap_dek("k", &wrapped, b"aad").unwrap();
        assert!(matches!(
            cached.unwrap_dek("k", &wrapped, b"other"),
            Err(KeyStoreError::UnwrapFailed)
        ));
        let mut tampered = wrapped.clone();
        tampered[20] ^= 1;
        assert!(cached.unwrap_dek("k", &tampered, b"aad").is_err());
        inner.destroy_kek("k").unwrap();
        assert!(cached.unwrap_dek("k", &wrapped, b"other").is_err());
    }

    #[test]
    fn a_destroyed_kek_takes_its_cached_keys_with_it() {
        let (_inner, cached) = setup(Duration::from_secs(60));
        let wrapped = cached.wrap_dek("k", &Dek::generate(), b"aad").unwrap();
        cached.unwrap_dek("k", &wrapped, b"aad").unwrap();
        cached.destroy_kek("k").unwrap();
        assert!(cached.unwrap_dek("k", &wrapped, b"aad").is_err());
    }

    #[test]
    fn an_expired_entry_goes_back_to_the_keystore_and_zero_ttl_disables_the_cache() {
        let (inner, cached) = setup(Duration::from_millis(20));
        let wrapped = cached.wrap_dek("k", &Dek::generate(), b"aad").unwrap();
        cached.unwrap_dek("k", &wrapped, b"aad").unwrap();
        inner.destroy_kek("k").unwrap();
        std::thread::sleep(Duration::from_millis(40));
        assert!(cached.unwrap_dek("k", &wrapped, b"aad").is_err());

        let (inner, plain) = setup(Duration::ZERO);
        let wrapped = plain.wrap_dek("k", &Dek::generate(), b"aad").unwrap();
        plain.unwrap_dek("k", &wrapped, b"aad").unwrap();
        inner.destroy_kek("k").unwrap();
        assert!(plain.unwrap_dek("k", &wrapped, b"aad").is_err());
    }
}
