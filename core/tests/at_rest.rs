//! What reaches the database: a keystore wrapper records every DEK the core wraps in a real
//! SoftHSM token, and the test searches the stored bytes for those DEKs and the values.

use std::sync::{Arc, Mutex};
use talon_core::keystore::{
    KekAttributes, KeyStore, KeyStoreError, MacKey, Pkcs11Config, Pkcs11KeyStore,
};
use talon_core::material::{Dek, Password, SecretValue};
use talon_core::secret_path::SecretPath;
use talon_core::store::Store;
use talon_core::{Core, CoreConfig, PutSecret, RequestContext, Signup};

/// Delegates to the token and keeps a copy of every DEK it is asked to wrap.
struct Recording {
    inner: Pkcs11KeyStore,
    deks: Mutex<Vec<[u8; 32]>>,
}

impl KeyStore for Recording {
    fn create_kek(&self, label: &str) -> Result<(), KeyStoreError> {
        self.inner.create_kek(label)
    }
    fn destroy_kek(&self, label: &str) -> Result<(), KeyStoreError> {
        self.inner.destroy_kek(label)
    }
    fn wrap_dek(&self, kek: &str, dek: &Dek, aad: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
        self.deks.lock().unwrap().push(*dek.expose_secret());
        self.inner.wrap_dek(kek, dek, aad)
    }
    fn unwrap_dek(&self, kek: &str, wrapped: &[u8], aad: &[u8]) -> Result<Dek, KeyStoreError> {
        self.inner.unwrap_dek(kek, wrapped, aad)
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
        self.inner.describe()
    }
}

fn softhsm(dir: &std::path::Path) -> Pkcs11KeyStore {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    std::env::set_var("SOFTHSM2_CONF", &conf);
    Pkcs11KeyStore::open(&Pkcs11Config {
        module: "/usr/lib/softhsm/libsofthsm2.so".into(),
        token_label: "talon-test".into(),
        pin: "1234".into(),
        init_so_pin: Some("5678".into()),
    })
    .expect("SoftHSM2 token (apt-get install softhsm2)")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn exercise(core: &Core) -> Vec<String> {
    let ctx = RequestContext::default();
    let out = core
        .signup(
            Signup {
                email: format!("rest{}@example.com", uuid_like()),
                password: Password::new("Correct-Horse-9!".into()),
                display_name: None,
            },
            &ctx,
        )
        .await
        .unwrap();
    let p = core
        .admit(
            talon_core::Credential::Bearer(out.access_token.expose_secret()),
            &ctx,
            talon_core::Operation::Other,
            talon_core::Access::Any,
        )
        .await
        .unwrap()
        .principal;
    let vault = core.create_vault(&p, "v", None, &ctx).await.unwrap();
    let attrs = core.kek_attributes(vault.kek_label.clone()).await.unwrap();
    assert!(
        !attrs.extractable && attrs.sensitive && attrs.token,
        "{attrs:?}"
    );
    let mut values = Vec::new();
    for i in 0..5 {
        let value = format!("at-rest-value-{i}-{}", uuid_like());
        let path = SecretPath::parse(&format!("k/{}", i % 2)).unwrap();
        core.put_secret(
            &p,
            &vault.id,
            &path,
            PutSecret {
                value: SecretValue::new(value.clone()),
                secret_type: None,
                metadata: None,
                expires_at: None,
                max_access_count: None,
            },
            &ctx,
        )
        .await
        .unwrap();
        let read = core.get_secret(&p, &vault.id, &path, &ctx).await.unwrap();
        assert_eq!(read.value.expose_secret(), value);
        values.push(value);
    }
    values
}

fn uuid_like() -> String {
    hex(&talon_core::material::random_bytes::<8>())
}

fn pg_dump(url: &str) -> Vec<u8> {
    let mut bins: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.flatten()
                .map(|e| e.path().join("bin/pg_dump"))
                .filter(|p| p.exists())
                .collect()
        })
        .unwrap_or_default();
    bins.sort();
    let bin = bins.pop().unwrap_or_else(|| "pg_dump".into());
    let out = std::process::Command::new(bin)
        .args(["--data-only", "--inserts"])
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn assert_absent(dump: &[u8], values: &[String], deks: &[[u8; 32]]) {
    assert!(!deks.is_empty());
    for v in values {
        assert!(!contains(dump, v.as_bytes()), "a plaintext value is stored");
    }
    for d in deks {
        assert!(!contains(dump, d), "a raw DEK is stored");
        assert!(!contains(dump, hex(d).as_bytes()), "a hex DEK is stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deks_and_plaintext_never_reach_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(Recording {
        inner: softhsm(&dir.path().join("hsm")),
        deks: Mutex::new(Vec::new()),
    });

    let db_file = dir.path().join("talon.db");
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", db_file.display()))
        .await
        .unwrap();
    let core = Core::new(store.clone(), keys.clone(), CoreConfig::default()).unwrap();
    let values = exercise(&core).await;
    store.pool().close().await;
    let mut dump = std::fs::read(&db_file).unwrap();
    dump.extend(std::fs::read(dir.path().join("talon.db-wal")).unwrap_or_default());
    assert_absent(&dump, &values, &keys.deks.lock().unwrap());

    let admin = std::env::var("TALON_TEST_POSTGRES_URL")
        .expect("TALON_TEST_POSTGRES_URL is not set: run ./scripts/talon-dev test");
    sqlx::any::install_default_drivers();
    let name = format!("talon_at_rest_{}", uuid_like());
    let admin_pool = sqlx::AnyPool::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin_pool)
        .await
        .unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    keys.deks.lock().unwrap().clear();
    let store = Store::connect(&url).await.unwrap();
    let core = Core::new(store.clone(), keys.clone(), CoreConfig::default()).unwrap();
    let values = exercise(&core).await;
    store.pool().close().await;
    assert_absent(&pg_dump(&url), &values, &keys.deks.lock().unwrap());
}
