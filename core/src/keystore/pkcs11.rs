//! PKCS#11 keystore on `cryptoki`. KEKs are AES-256 secret keys generated inside the token,
//! sensitive and non-extractable, found by label. The JWT key is an Ed25519 pair generated in
//! the token and used through `CKM_EDDSA`; the MAC keys are generic secrets used through
//! `CKM_SHA256_HMAC`. Sessions are pooled so concurrent requests do not serialise on one.

use super::{KekAttributes, KeyStore, KeyStoreError, MacKey};
use crate::material::{random_bytes, Dek};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

const JWT_KEY_LABEL: &str = "talon-jwt-ed25519";
const MAC_CREDENTIALS_LABEL: &str = "talon-mac-credentials";
const MAC_AUDIT_LABEL: &str = "talon-mac-audit";
/// DER of the Ed25519 curve OID 1.3.101.112.
const ED25519_OID: [u8; 5] = [0x06, 0x03, 0x2B, 0x65, 0x70];
const MAX_IDLE_SESSIONS: usize = 16;

/// How to reach the token.
#[derive(Debug, Clone)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// Label of the token to use.
    pub token_label: String,
    /// User PIN.
    pub pin: String,
    /// When set and no token with `token_label` exists, a free slot is initialised with this SO
    /// PIN and the user PIN above (SoftHSM's embedded mode).
    pub init_so_pin: Option<String>,
}

fn backend(e: impl std::fmt::Display) -> KeyStoreError {
    KeyStoreError::Backend(e.to_string())
}

/// A keystore backed by a PKCS#11 token.
pub struct Pkcs11KeyStore {
    ctx: Pkcs11,
    slot: Slot,
    /// Idle sessions; all share the login of `_login_session`.
    pool: Mutex<Vec<Session>>,
    /// Holds the user login for the application; never returned to the pool.
    _login_session: Mutex<Session>,
    handles: Mutex<HashMap<String, ObjectHandle>>,
    jwt_public: [u8; 32],
    description: String,
}

impl Pkcs11KeyStore {
    /// Loads the module, finds (or initialises) the token by label, logs in and makes sure the
    /// service keys (JWT signing key, MAC keys) exist.
    pub fn open(config: &Pkcs11Config) -> Result<Self, KeyStoreError> {
        let ctx = Pkcs11::new(&config.module).map_err(|e| {
            KeyStoreError::Backend(format!(
                "cannot load PKCS#11 module {}: {e}",
                config.module.display()
            ))
        })?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(backend)?;
        let slot = match find_token(&ctx, &config.token_label)? {
            Some(slot) => slot,
            None => {
                let so_pin = config.init_so_pin.as_ref().ok_or_else(|| {
                    KeyStoreError::Backend(format!(
                        "no PKCS#11 token labelled '{}' in {}",
                        config.token_label,
                        config.module.display()
                    ))
                })?;
                init_token(&ctx, &config.token_label, so_pin, &config.pin)?
            }
        };
        let login_session = ctx.open_rw_session(slot).map_err(backend)?;
        match login_session.login(
            UserType::User,
            Some(&AuthPin::new(config.pin.clone().into())),
        ) {
            Ok(()) => {}
            Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::UserAlreadyLoggedIn,
                _,
            )) => {}
            Err(e) => return Err(KeyStoreError::Backend(format!("token login failed: {e}"))),
        }
        let mut store = Pkcs11KeyStore {
            ctx,
            slot,
            pool: Mutex::new(Vec::new()),
            _login_session: Mutex::new(login_session),
            handles: Mutex::new(HashMap::new()),
            jwt_public: [0; 32],
            description: format!(
                "PKCS#11 token '{}' via {}",
                config.token_label,
                config.module.display()
            ),
        };
        store.jwt_public = store.ensure_jwt_key()?;
        store.ensure_mac_key(MAC_CREDENTIALS_LABEL)?;
        store.ensure_mac_key(MAC_AUDIT_LABEL)?;
        Ok(store)
    }

    fn with_session<T>(
        &self,
        f: impl FnOnce(&Session) -> Result<T, KeyStoreError>,
    ) -> Result<T, KeyStoreError> {
        let session = self.pool.lock().expect("session pool").pop();
        let session = match session {
            Some(s) => s,
            None => self.ctx.open_rw_session(self.slot).map_err(backend)?,
        };
        let out = f(&session);
        let mut pool = self.pool.lock().expect("session pool");
        if pool.len() < MAX_IDLE_SESSIONS {
            pool.push(session);
        }
        out
    }

    /// Finds an object by class and label, caching the handle (handles of token objects are
    /// valid in every session of this application).
    fn find(&self, class: ObjectClass, label: &str) -> Result<ObjectHandle, KeyStoreError> {
        let cache_key = format!("{class}/{label}");
        if let Some(h) = self.handles.lock().expect("handles").get(&cache_key) {
            return Ok(*h);
        }
        let found = self.with_session(|s| {
            s.find_objects(&[
                Attribute::Class(class),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(backend)
        })?;
        let h = *found
            .first()
            .ok_or_else(|| KeyStoreError::KeyNotFound(label.to_owned()))?;
        self.handles.lock().expect("handles").insert(cache_key, h);
        Ok(h)
    }

    fn forget(&self, class: ObjectClass, label: &str) {
        self.handles
            .lock()
            .expect("handles")
            .remove(&format!("{class}/{label}"));
    }

    fn ensure_jwt_key(&self) -> Result<[u8; 32], KeyStoreError> {
        let public = match self.find(ObjectClass::PUBLIC_KEY, JWT_KEY_LABEL) {
            Ok(h) => h,
            Err(KeyStoreError::KeyNotFound(_)) => {
                let label = JWT_KEY_LABEL.as_bytes().to_vec();
                let (public, _private) = self.with_session(|s| {
                    s.generate_key_pair(
                        &Mechanism::EccEdwardsKeyPairGen,
                        &[
                            Attribute::Token(true),
                            Attribute::Verify(true),
                            Attribute::EcParams(ED25519_OID.to_vec()),
                            Attribute::Label(label.clone()),
                        ],
                        &[
                            Attribute::Token(true),
                            Attribute::Private(true),
                            Attribute::Sensitive(true),
                            Attribute::Extractable(false),
                            Attribute::Sign(true),
                            Attribute::Label(label.clone()),
                        ],
                    )
                    .map_err(backend)
                })?;
                public
            }
            Err(e) => return Err(e),
        };
        let attrs = self.with_session(|s| {
            s.get_attributes(public, &[AttributeType::EcPoint])
                .map_err(backend)
        })?;
        for a in attrs {
            if let Attribute::EcPoint(point) = a {
                // DER OCTET STRING 04 20 || key, or the raw 32 bytes.
                let raw = match point.len() {
                    34 if point[0] == 0x04 && point[1] == 0x20 => &point[2..],
                    32 => &point[..],
                    _ => return Err(backend("unexpected Ed25519 public key encoding")),
                };
                let mut out = [0u8; 32];
                out.copy_from_slice(raw);
                return Ok(out);
            }
        }
        Err(backend("Ed25519 public key has no EC point"))
    }

    fn ensure_mac_key(&self, label: &str) -> Result<(), KeyStoreError> {
        match self.find(ObjectClass::SECRET_KEY, label) {
            Ok(_) => Ok(()),
            Err(KeyStoreError::KeyNotFound(_)) => self.with_session(|s| {
                s.generate_key(
                    &Mechanism::GenericSecretKeyGen,
                    &[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::GENERIC_SECRET),
                        Attribute::ValueLen(32.into()),
                        Attribute::Token(true),
                        Attribute::Private(true),
                        Attribute::Sensitive(true),
                        Attribute::Extractable(false),
                        Attribute::Sign(true),
                        Attribute::Verify(true),
                        Attribute::Label(label.as_bytes().to_vec()),
                    ],
                )
                .map(|_| ())
                .map_err(backend)
            }),
            Err(e) => Err(e),
        }
    }
}

fn find_token(ctx: &Pkcs11, label: &str) -> Result<Option<Slot>, KeyStoreError> {
    for slot in ctx.get_slots_with_token().map_err(backend)? {
        let info = ctx.get_token_info(slot).map_err(backend)?;
        if info.token_initialized() && info.label().trim_end() == label {
            return Ok(Some(slot));
        }
    }
    Ok(None)
}

fn init_token(
    ctx: &Pkcs11,
    label: &str,
    so_pin: &str,
    user_pin: &str,
) -> Result<Slot, KeyStoreError> {
    let mut free = None;
    for slot in ctx.get_slots_with_token().map_err(backend)? {
        if !ctx
            .get_token_info(slot)
            .map_err(backend)?
            .token_initialized()
        {
            free = Some(slot);
            break;
        }
    }
    let slot = free.ok_or_else(|| backend("no free PKCS#11 slot to initialise a token in"))?;
    let so = AuthPin::new(so_pin.to_owned().into());
    ctx.init_token(slot, &so, label).map_err(backend)?;
    // SoftHSM moves a freshly initialised token to a new slot id: find it again by label.
    let slot = find_token(ctx, label)?.ok_or_else(|| backend("initialised token not found"))?;
    let session = ctx.open_rw_session(slot).map_err(backend)?;
    session.login(UserType::So, Some(&so)).map_err(backend)?;
    session
        .init_pin(&AuthPin::new(user_pin.to_owned().into()))
        .map_err(backend)?;
    session.logout().map_err(backend)?;
    Ok(slot)
}

impl KeyStore for Pkcs11KeyStore {
    fn create_kek(&self, label: &str) -> Result<(), KeyStoreError> {
        let handle = self.with_session(|s| {
            s.generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Wrap(true),
                    Attribute::Unwrap(true),
                    Attribute::Label(label.as_bytes().to_vec()),
                ],
            )
            .map_err(backend)
        })?;
        self.handles
            .lock()
            .expect("handles")
            .insert(format!("{}/{label}", ObjectClass::SECRET_KEY), handle);
        Ok(())
    }

    fn destroy_kek(&self, label: &str) -> Result<(), KeyStoreError> {
        let h = self.find(ObjectClass::SECRET_KEY, label)?;
        self.forget(ObjectClass::SECRET_KEY, label);
        self.with_session(|s| s.destroy_object(h).map_err(backend))
    }

    fn wrap_dek(&self, kek: &str, dek: &Dek, aad: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
        let key = self.find(ObjectClass::SECRET_KEY, kek)?;
        let mut iv = random_bytes::<12>();
        let ct = self.with_session(|s| {
            let params = GcmParams::new(&mut iv, aad, 128.into()).map_err(backend)?;
            s.encrypt(&Mechanism::AesGcm(params), key, dek.expose_secret())
                .map_err(backend)
        })?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn unwrap_dek(&self, kek: &str, wrapped: &[u8], aad: &[u8]) -> Result<Dek, KeyStoreError> {
        let key = self.find(ObjectClass::SECRET_KEY, kek)?;
        if wrapped.len() != 12 + 32 + 16 {
            return Err(KeyStoreError::UnwrapFailed);
        }
        let mut iv = [0u8; 12];
        iv.copy_from_slice(&wrapped[..12]);
        let pt = self.with_session(|s| {
            let params = GcmParams::new(&mut iv, aad, 128.into()).map_err(backend)?;
            // Any failure here is an authentication failure (SoftHSM reports a wrong AAD as a
            // general error).
            s.decrypt(&Mechanism::AesGcm(params), key, &wrapped[12..])
                .map_err(|_| KeyStoreError::UnwrapFailed)
        })?;
        Dek::from_bytes(pt).ok_or(KeyStoreError::UnwrapFailed)
    }

    fn kek_attributes(&self, kek: &str) -> Result<KekAttributes, KeyStoreError> {
        let key = self.find(ObjectClass::SECRET_KEY, kek)?;
        let attrs = self.with_session(|s| {
            s.get_attributes(
                key,
                &[
                    AttributeType::Extractable,
                    AttributeType::Sensitive,
                    AttributeType::Token,
                ],
            )
            .map_err(backend)
        })?;
        let mut out = KekAttributes {
            extractable: true,
            sensitive: false,
            token: false,
        };
        for a in attrs {
            match a {
                Attribute::Extractable(v) => out.extractable = v,
                Attribute::Sensitive(v) => out.sensitive = v,
                Attribute::Token(v) => out.token = v,
                _ => {}
            }
        }
        Ok(out)
    }

    fn sign(&self, msg: &[u8]) -> Result<[u8; 64], KeyStoreError> {
        let key = self.find(ObjectClass::PRIVATE_KEY, JWT_KEY_LABEL)?;
        let sig = self.with_session(|s| {
            s.sign(
                &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                key,
                msg,
            )
            .map_err(backend)
        })?;
        sig.try_into()
            .map_err(|_| backend("Ed25519 signature of unexpected length"))
    }

    fn jwt_public_key(&self) -> Result<[u8; 32], KeyStoreError> {
        Ok(self.jwt_public)
    }

    fn mac(&self, key: MacKey, data: &[u8]) -> Result<[u8; 32], KeyStoreError> {
        let label = match key {
            MacKey::Credentials => MAC_CREDENTIALS_LABEL,
            MacKey::Audit => MAC_AUDIT_LABEL,
        };
        let h = self.find(ObjectClass::SECRET_KEY, label)?;
        let out =
            self.with_session(|s| s.sign(&Mechanism::Sha256Hmac, h, data).map_err(backend))?;
        out.try_into()
            .map_err(|_| backend("HMAC of unexpected length"))
    }

    fn ping(&self) -> Result<(), KeyStoreError> {
        self.with_session(|s| s.generate_random_vec(8).map(|_| ()).map_err(backend))
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}
