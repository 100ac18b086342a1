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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

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

/// How long after a failed reconnect to the token the next attempt may run. Requests in
/// between fail at once (503) instead of queueing behind the library.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

/// The logged-in state of one library initialisation: the slot, the login session and the
/// idle sessions that share it, and cached object handles. Replaced as a whole when the token
/// is re-opened.
struct Live {
    slot: Slot,
    /// Idle sessions; all share the login of `_login_session`.
    pool: Mutex<Vec<Session>>,
    /// Holds the user login for the application; never returned to the pool.
    _login_session: Mutex<Session>,
    handles: Mutex<HashMap<String, ObjectHandle>>,
}

/// A keystore backed by a PKCS#11 token. When the token stops answering (removed, its files
/// gone, the library's state lost), operations fail with [`KeyStoreError::Backend`] and the
/// keystore re-initialises the library, finds the token by label again (never initialising
/// one) and logs in again, at most once per [`RECONNECT_INTERVAL`]; it refuses a token whose
/// JWT key differs from the one it opened with.
pub struct Pkcs11KeyStore {
    ctx: Pkcs11,
    token_label: String,
    pin: String,
    /// `None` while the token is unreachable.
    live: RwLock<Option<Live>>,
    /// Bumped on every successful (re)connect.
    generation: AtomicU64,
    /// When the last reconnect was attempted; also serialises reconnects.
    last_reconnect: Mutex<Option<Instant>>,
    jwt_public: [u8; 32],
    description: String,
}

impl Pkcs11KeyStore {
    /// Loads the module, finds the token by label (initialising it only when the config
    /// carries an SO PIN for that), logs in and makes sure the service keys (JWT signing key,
    /// MAC keys) exist.
    pub fn open(config: &Pkcs11Config) -> Result<Self, KeyStoreError> {
        let ctx = load_module(config)?;
        let slot = match find_token(&ctx, &config.token_label)? {
            Some(slot) => slot,
            None => match config.init_so_pin.as_ref() {
                Some(so_pin) => init_token(&ctx, &config.token_label, so_pin, &config.pin)?,
                None => return Err(KeyStoreError::TokenNotFound(config.token_label.clone())),
            },
        };
        let live = login(&ctx, slot, &config.pin)?;
        let mut store = Pkcs11KeyStore {
            ctx,
            token_label: config.token_label.clone(),
            pin: config.pin.clone(),
            live: RwLock::new(Some(live)),
            generation: AtomicU64::new(1),
            last_reconnect: Mutex::new(None),
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

    /// Initialises a token labelled `config.token_label` with `so_pin` and the user PIN, and
    /// creates the service keys in it. Refuses when a token with that label exists.
    pub fn init_token(config: &Pkcs11Config, so_pin: &str) -> Result<Self, KeyStoreError> {
        {
            let ctx = load_module(config)?;
            if find_token(&ctx, &config.token_label)?.is_some() {
                let _ = ctx.finalize();
                return Err(KeyStoreError::Backend(format!(
                    "a token labelled '{}' already exists; it was left as it is",
                    config.token_label
                )));
            }
            let _ = ctx.finalize();
        }
        Self::open(&Pkcs11Config {
            init_so_pin: Some(so_pin.to_owned()),
            ..config.clone()
        })
    }

    /// Runs `f` on the live token state; on a backend failure re-opens the token (when due)
    /// and runs `f` once more.
    fn run<T>(&self, f: impl Fn(&Live) -> Result<T, KeyStoreError>) -> Result<T, KeyStoreError> {
        let seen = self.generation.load(Ordering::Acquire);
        match self.on_live(&f) {
            Err(KeyStoreError::Backend(e)) => {
                if self.reconnect(seen) {
                    self.on_live(&f)
                } else {
                    Err(KeyStoreError::Backend(e))
                }
            }
            other => other,
        }
    }

    fn on_live<T>(
        &self,
        f: &impl Fn(&Live) -> Result<T, KeyStoreError>,
    ) -> Result<T, KeyStoreError> {
        let live = self.live.read().expect("token state");
        match live.as_ref() {
            Some(l) => f(l),
            None => Err(backend("the token is unavailable")),
        }
    }

    /// Re-opens the token unless another thread did since generation `seen`; returns whether
    /// a live state worth retrying on is in place.
    fn reconnect(&self, seen: u64) -> bool {
        let mut last = self.last_reconnect.lock().expect("reconnect");
        if self.generation.load(Ordering::Acquire) != seen {
            return self.live.read().expect("token state").is_some();
        }
        if last.is_some_and(|t| t.elapsed() < RECONNECT_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        let mut live = self.live.write().expect("token state");
        // Close every session of the old initialisation before finalising it.
        *live = None;
        let _ = self.ctx.clone().finalize();
        match self.connect() {
            Ok(l) => {
                *live = Some(l);
                self.generation.fetch_add(1, Ordering::AcqRel);
                tracing::warn!(token = %self.token_label, "PKCS#11 token re-opened");
                true
            }
            Err(e) => {
                tracing::error!(token = %self.token_label, error = %e, "PKCS#11 token still unavailable");
                false
            }
        }
    }

    fn connect(&self) -> Result<Live, KeyStoreError> {
        self.ctx
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(backend)?;
        let slot = find_token(&self.ctx, &self.token_label)?
            .ok_or_else(|| KeyStoreError::TokenNotFound(self.token_label.clone()))?;
        let live = login(&self.ctx, slot, &self.pin)?;
        // The same token, not another one that took its label.
        if self.jwt_public != [0; 32] {
            let h = live.find(&self.ctx, ObjectClass::PUBLIC_KEY, JWT_KEY_LABEL)?;
            if live.ec_point(&self.ctx, h)? != self.jwt_public {
                return Err(backend(
                    "the token's JWT key differs from the one Talon started with",
                ));
            }
        }
        Ok(live)
    }

    fn with_session<T>(
        &self,
        f: impl Fn(&Session) -> Result<T, KeyStoreError>,
    ) -> Result<T, KeyStoreError> {
        self.run(|l| l.with_session(&self.ctx, &f))
    }

    fn ensure_jwt_key(&self) -> Result<[u8; 32], KeyStoreError> {
        let public =
            match self.run(|l| l.lookup(&self.ctx, ObjectClass::PUBLIC_KEY, JWT_KEY_LABEL))? {
                Some(h) => h,
                None => {
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
            };
        self.run(|l| l.ec_point(&self.ctx, public))
    }

    fn ensure_mac_key(&self, label: &str) -> Result<(), KeyStoreError> {
        match self.run(|l| l.lookup(&self.ctx, ObjectClass::SECRET_KEY, label))? {
            Some(_) => Ok(()),
            None => self.with_session(|s| {
                s.generate_key(
                    &Mechanism::GenericSecretKeyGen,
                    &secret_key_template(
                        KeyType::GENERIC_SECRET,
                        label,
                        &[Attribute::Sign(true), Attribute::Verify(true)],
                    ),
                )
                .map(|_| ())
                .map_err(backend)
            }),
        }
    }
}

impl Live {
    fn with_session<T>(
        &self,
        ctx: &Pkcs11,
        f: impl FnOnce(&Session) -> Result<T, KeyStoreError>,
    ) -> Result<T, KeyStoreError> {
        let session = self.pool.lock().expect("session pool").pop();
        let session = match session {
            Some(s) => s,
            None => ctx.open_rw_session(self.slot).map_err(backend)?,
        };
        let out = f(&session);
        // A session that failed at the library level is not reused.
        if !matches!(out, Err(KeyStoreError::Backend(_))) {
            let mut pool = self.pool.lock().expect("session pool");
            if pool.len() < MAX_IDLE_SESSIONS {
                pool.push(session);
            }
        }
        out
    }

    /// Finds an object by class and label, caching the handle (handles of token objects are
    /// valid in every session of this initialisation).
    fn lookup(
        &self,
        ctx: &Pkcs11,
        class: ObjectClass,
        label: &str,
    ) -> Result<Option<ObjectHandle>, KeyStoreError> {
        let cache_key = format!("{class}/{label}");
        if let Some(h) = self.handles.lock().expect("handles").get(&cache_key) {
            return Ok(Some(*h));
        }
        let found = self.with_session(ctx, |s| {
            s.find_objects(&[
                Attribute::Class(class),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(backend)
        })?;
        let Some(&h) = found.first() else {
            return Ok(None);
        };
        self.handles.lock().expect("handles").insert(cache_key, h);
        Ok(Some(h))
    }

    /// [`Live::lookup`] for a key that must exist. A missing key is `KeyNotFound` only while
    /// the token still answers for its own keys; otherwise the token is unavailable.
    fn find(
        &self,
        ctx: &Pkcs11,
        class: ObjectClass,
        label: &str,
    ) -> Result<ObjectHandle, KeyStoreError> {
        match self.lookup(ctx, class, label)? {
            Some(h) => Ok(h),
            None => {
                self.probe(ctx)?;
                Err(KeyStoreError::KeyNotFound(label.to_owned()))
            }
        }
    }

    fn forget(&self, class: ObjectClass, label: &str) {
        self.handles
            .lock()
            .expect("handles")
            .remove(&format!("{class}/{label}"));
    }

    /// The raw Ed25519 public key of the object `public`.
    fn ec_point(&self, ctx: &Pkcs11, public: ObjectHandle) -> Result<[u8; 32], KeyStoreError> {
        let attrs = self.with_session(ctx, |s| {
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

    /// A real round trip to the token's objects: looks the JWT public key up afresh (not
    /// from the handle cache) and reads it back.
    fn probe(&self, ctx: &Pkcs11) -> Result<[u8; 32], KeyStoreError> {
        let found = self.with_session(ctx, |s| {
            s.find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Label(JWT_KEY_LABEL.as_bytes().to_vec()),
            ])
            .map_err(backend)
        })?;
        let h = *found
            .first()
            .ok_or_else(|| backend("the token no longer holds its JWT key"))?;
        self.ec_point(ctx, h)
    }
}

/// The template of a 256-bit secret key kept in the token: private, sensitive and
/// non-extractable, allowed the operations in `usage`.
fn secret_key_template(key_type: KeyType, label: &str, usage: &[Attribute]) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(key_type),
        Attribute::ValueLen(32.into()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
    ];
    t.extend_from_slice(usage);
    t.push(Attribute::Label(label.as_bytes().to_vec()));
    t
}

/// Loads and initialises the PKCS#11 module of `config`.
fn load_module(config: &Pkcs11Config) -> Result<Pkcs11, KeyStoreError> {
    let ctx = Pkcs11::new(&config.module).map_err(|e| {
        KeyStoreError::Backend(format!(
            "cannot load PKCS#11 module {}: {e}",
            config.module.display()
        ))
    })?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(backend)?;
    Ok(ctx)
}

fn login(ctx: &Pkcs11, slot: Slot, pin: &str) -> Result<Live, KeyStoreError> {
    let login_session = ctx.open_rw_session(slot).map_err(backend)?;
    match login_session.login(UserType::User, Some(&AuthPin::new(pin.to_owned().into()))) {
        Ok(()) => {}
        Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => return Err(KeyStoreError::Backend(format!("token login failed: {e}"))),
    }
    Ok(Live {
        slot,
        pool: Mutex::new(Vec::new()),
        _login_session: Mutex::new(login_session),
        handles: Mutex::new(HashMap::new()),
    })
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
        self.run(|l| {
            let handle = l.with_session(&self.ctx, |s| {
                s.generate_key(
                    &Mechanism::AesKeyGen,
                    &secret_key_template(
                        KeyType::AES,
                        label,
                        &[
                            Attribute::Encrypt(true),
                            Attribute::Decrypt(true),
                            Attribute::Wrap(true),
                            Attribute::Unwrap(true),
                        ],
                    ),
                )
                .map_err(backend)
            })?;
            l.handles
                .lock()
                .expect("handles")
                .insert(format!("{}/{label}", ObjectClass::SECRET_KEY), handle);
            Ok(())
        })
    }

    fn destroy_kek(&self, label: &str) -> Result<(), KeyStoreError> {
        self.run(|l| {
            let h = l.find(&self.ctx, ObjectClass::SECRET_KEY, label)?;
            l.forget(ObjectClass::SECRET_KEY, label);
            l.with_session(&self.ctx, |s| s.destroy_object(h).map_err(backend))
        })
    }

    fn wrap_dek(&self, kek: &str, dek: &Dek, aad: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
        self.run(|l| {
            let key = l.find(&self.ctx, ObjectClass::SECRET_KEY, kek)?;
            let mut iv = random_bytes::<12>();
            let ct = l.with_session(&self.ctx, |s| {
                let params = GcmParams::new(&mut iv, aad, 128.into()).map_err(backend)?;
                s.encrypt(&Mechanism::AesGcm(params), key, dek.expose_secret())
                    .map_err(backend)
            })?;
            let mut out = iv.to_vec();
            out.extend_from_slice(&ct);
            Ok(out)
        })
    }

    fn unwrap_dek(&self, kek: &str, wrapped: &[u8], aad: &[u8]) -> Result<Dek, KeyStoreError> {
        if wrapped.len() != 12 + 32 + 16 {
            return Err(KeyStoreError::UnwrapFailed);
        }
        self.run(|l| {
            let key = l.find(&self.ctx, ObjectClass::SECRET_KEY, kek)?;
            let mut iv = [0u8; 12];
            iv.copy_from_slice(&wrapped[..12]);
            let pt = l.with_session(&self.ctx, |s| {
                let params = GcmParams::new(&mut iv, aad, 128.into()).map_err(backend)?;
                s.decrypt(&Mechanism::AesGcm(params), key, &wrapped[12..])
                    .map_err(|_| KeyStoreError::UnwrapFailed)
            });
            match pt {
                Ok(pt) => Dek::from_bytes(pt).ok_or(KeyStoreError::UnwrapFailed),
                // SoftHSM reports a wrong AAD as a general error, the same code as a token
                // that lost its files: a failure counts as tampering only while the token
                // still answers for its own keys.
                Err(KeyStoreError::UnwrapFailed) => match l.probe(&self.ctx) {
                    Ok(public) if public == self.jwt_public => Err(KeyStoreError::UnwrapFailed),
                    Ok(_) => Err(backend("the token's JWT key changed")),
                    Err(_) => {
                        l.forget(ObjectClass::SECRET_KEY, kek);
                        Err(backend("the token stopped answering during an unwrap"))
                    }
                },
                Err(e) => Err(e),
            }
        })
    }

    fn kek_attributes(&self, kek: &str) -> Result<KekAttributes, KeyStoreError> {
        let attrs = self.run(|l| {
            let key = l.find(&self.ctx, ObjectClass::SECRET_KEY, kek)?;
            l.with_session(&self.ctx, |s| {
                s.get_attributes(
                    key,
                    &[
                        AttributeType::Extractable,
                        AttributeType::Sensitive,
                        AttributeType::Token,
                    ],
                )
                .map_err(backend)
            })
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
        let sig = self.run(|l| {
            let key = l.find(&self.ctx, ObjectClass::PRIVATE_KEY, JWT_KEY_LABEL)?;
            l.with_session(&self.ctx, |s| {
                s.sign(
                    &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                    key,
                    msg,
                )
                .map_err(backend)
            })
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
        let out = self.run(|l| {
            let h = l.find(&self.ctx, ObjectClass::SECRET_KEY, label)?;
            l.with_session(&self.ctx, |s| {
                s.sign(&Mechanism::Sha256Hmac, h, data).map_err(backend)
            })
        })?;
        out.try_into()
            .map_err(|_| backend("HMAC of unexpected length"))
    }

    fn ping(&self) -> Result<(), KeyStoreError> {
        let public = self.run(|l| l.probe(&self.ctx))?;
        if public != self.jwt_public {
            return Err(backend("the token's JWT key changed"));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}
