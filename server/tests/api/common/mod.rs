//! Test harness: runs the real `talon` binary on a random port with a real SoftHSM token in a
//! temp data dir, on a fresh SQLite file or a fresh PostgreSQL database.

mod browser;
pub mod mcp_client;
pub mod pg_cluster;

pub use browser::Browser;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

pub const PASSWORD: &str = "Correct-Horse-9!";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Runs one async test body on SQLite and on PostgreSQL, as `name::sqlite` and `name::postgres`.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Db::Postgres).await
            }
        }
    )*};
}

/// A running server and everything needed to restart it or inspect its storage.
pub struct TestServer {
    pub base: String,
    pub db: Db,
    pub database_url: String,
    pub data_dir: TempDir,
    child: Option<Child>,
    pub http: Client,
    env: Vec<(String, String)>,
}

fn postgres_admin_url() -> String {
    std::env::var("TALON_TEST_POSTGRES_URL").expect(
        "TALON_TEST_POSTGRES_URL is not set: run the suite with ./scripts/talon-dev test, \
         which starts a throwaway PostgreSQL cluster",
    )
}

async fn fresh_postgres_database() -> String {
    let admin = postgres_admin_url();
    let name = format!("talon_test_{}", uuid_simple());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&admin)
        .await
        .expect("connect to test PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create test database");
    pool.close().await;
    let (prefix, _) = admin.rsplit_once('/').expect("database URL has a path");
    format!("{prefix}/{name}")
}

pub fn uuid_simple() -> String {
    let mut b = [0u8; 16];
    getrandom(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn getrandom(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .expect("urandom");
}

impl TestServer {
    pub async fn start(db: Db) -> TestServer {
        Self::start_with(db, &[]).await
    }

    /// Starts with extra environment variables for the server process.
    pub async fn start_with(db: Db, env: &[(&str, &str)]) -> TestServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let database_url = match db {
            Db::Sqlite => format!(
                "sqlite://{}?mode=rwc",
                data_dir.path().join("talon.db").display()
            ),
            Db::Postgres => fresh_postgres_database().await,
        };
        Self::start_in(data_dir, db, database_url, env)
    }

    /// Starts on a given PostgreSQL database URL (a test's own cluster) with extra environment.
    pub async fn start_on_url(database_url: &str, env: &[(&str, &str)]) -> TestServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(data_dir, Db::Postgres, database_url.to_owned(), env)
    }

    fn start_in(
        data_dir: TempDir,
        db: Db,
        database_url: String,
        env: &[(&str, &str)],
    ) -> TestServer {
        let mut s = TestServer {
            base: String::new(),
            db,
            database_url,
            data_dir,
            child: None,
            http: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let (child, base) = self.launch();
        self.base = base;
        self.child = Some(child);
    }

    /// A second server process on the same data dir (same HSM token) and database.
    pub fn sibling(&self) -> Sibling {
        let (child, base) = self.launch();
        Sibling { child, base }
    }

    fn launch(&self) -> (Child, String) {
        // `TALON_TEST_LOG_FILE` in the test's env sends the server's log there instead of the
        // test's stderr, for tests that inspect what the server logged.
        let stderr = match self.env.iter().find(|(k, _)| k == "TALON_TEST_LOG_FILE") {
            Some((_, path)) => Stdio::from(std::fs::File::create(path).expect("log file")),
            None => Stdio::inherit(),
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_talon"))
            .args(["server", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(self.data_dir.path())
            .env("TALON_DATABASE_URL", &self.database_url)
            .env_remove("SOFTHSM2_CONF")
            .env_remove("TALON_PKCS11_PIN")
            .env("TALON_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn talon");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("talon exited before listening")
                .expect("read stdout");
            if let Some(url) = line.strip_prefix("Talon listening on ") {
                break url.trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        (child, base)
    }

    /// Runs `talon ARGS` once on this server's data dir and database, with the
    /// server's environment plus `extra`, and returns what it printed; fails the test if it has
    /// not exited within 60 s.
    pub fn run_talon(&self, args: &[&str], extra: &[(&str, &str)]) -> std::process::Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_talon"))
            .args(args)
            .env("TALON_DATA_DIR", self.data_dir.path())
            .env("TALON_DATABASE_URL", &self.database_url)
            .env_remove("SOFTHSM2_CONF")
            .env_remove("TALON_PKCS11_PIN")
            .env("TALON_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn talon");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while child.try_wait().expect("wait for talon").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("talon {args:?} did not exit within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().expect("talon output")
    }

    /// Stops the process (SIGKILL) and starts it again on the same data dir and database.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn data_path(&self) -> &Path {
        self.data_dir.path()
    }

    pub fn hsm_dir(&self) -> PathBuf {
        self.data_dir.path().join("hsm")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request; returns status and JSON body (Null for an empty body).
    /// Sends one request with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let res = self.send(method, path, token, body).await;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }
    pub async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    /// Signs up a new human and returns their access token.
    pub async fn signup(&self) -> Human {
        let email = format!("u{}@example.com", &uuid_simple()[..12]);
        let (s, v) = self
            .post(
                "/v1/auth/signup",
                None,
                json!({"email": email, "password": PASSWORD, "display_name": "Test"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "signup: {v}");
        Human {
            email,
            token: v["access_token"].as_str().unwrap().to_owned(),
            user_id: v["user_id"].as_str().unwrap().to_owned(),
            org_id: v["org_id"].as_str().unwrap().to_owned(),
        }
    }

    /// Invites a fresh email with `role` into the org of `owner` (a token) and signs it up.
    pub async fn join(&self, owner: &str, role: &str) -> Human {
        let email = format!("m{}@example.com", &uuid_simple()[..10]);
        let (s, v) = self
            .post(
                "/v1/org/invite",
                Some(owner),
                json!({"email": email, "role": role}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "invite: {v}");
        let (s, v) = self
            .post(
                "/v1/auth/signup",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "invited signup: {v}");
        Human {
            email,
            token: v["access_token"].as_str().unwrap().to_owned(),
            user_id: v["user_id"].as_str().unwrap().to_owned(),
            org_id: v["org_id"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn create_vault(&self, token: &str, name: &str) -> String {
        let (s, v) = self
            .post("/v1/vaults", Some(token), json!({"name": name}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "create vault: {v}");
        v["id"].as_str().unwrap().to_owned()
    }

    pub async fn put_secret(&self, token: &str, vault: &str, path: &str, value: &str) -> Value {
        let (s, v) = self
            .put(
                &format!("/v1/vaults/{vault}/secrets/{path}"),
                token,
                json!({"value": value}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "put secret: {v}");
        v
    }

    /// Registers an agent; returns `(agent_id, ocv_ key)`.
    pub async fn create_agent(&self, token: &str, name: &str) -> (String, String) {
        let (s, v) = self
            .post("/v1/agents", Some(token), json!({"name": name}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "create agent: {v}");
        (
            v["agent"]["id"].as_str().unwrap().to_owned(),
            v["api_key"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn grant(
        &self,
        token: &str,
        vault: &str,
        agent: &str,
        pattern: &str,
        perms: &[&str],
    ) {
        let (s, v) = self
            .post(
                &format!("/v1/vaults/{vault}/policies"),
                Some(token),
                json!({"secret_path_pattern": pattern, "principal_type": "agent", "principal_id": agent, "permissions": perms}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "grant: {v}");
    }

    pub async fn agent_token(&self, key: &str) -> String {
        let (s, v) = self
            .post("/v1/auth/agent-token", None, json!({"api_key": key}))
            .await;
        assert_eq!(s, StatusCode::OK, "agent token: {v}");
        v["access_token"].as_str().unwrap().to_owned()
    }

    /// Every byte the database holds: the SQLite file with its WAL, or a `pg_dump` of the
    /// database.
    pub async fn dump_storage(&self) -> Vec<u8> {
        match self.db {
            Db::Sqlite => {
                let mut out = Vec::new();
                for name in ["talon.db", "talon.db-wal", "talon.db-shm"] {
                    if let Ok(b) = std::fs::read(self.data_path().join(name)) {
                        out.extend(b);
                    }
                }
                assert!(!out.is_empty(), "no SQLite file found");
                out
            }
            Db::Postgres => {
                let bin = pg_bin("pg_dump");
                let out = Command::new(bin)
                    .args(["--data-only", "--inserts", "--no-owner"])
                    .arg(&self.database_url)
                    .output()
                    .expect("run pg_dump");
                assert!(
                    out.status.success(),
                    "pg_dump failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                out.stdout
            }
        }
    }

    /// The server process's id (for reading its memory use from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is running").id()
    }

    /// A direct connection to the server's database, for tampering tests.
    pub async fn db_pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&self.database_url)
            .await
            .expect("connect to the server's database")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Another process serving the same storage; killed on drop.
pub struct Sibling {
    child: Child,
    pub base: String,
}

impl Sibling {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Sibling {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Path of a PostgreSQL client binary (Debian keeps them per version).
pub fn pg_bin(name: &str) -> PathBuf {
    if let Ok(dirs) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = dirs
            .flatten()
            .map(|d| d.path().join("bin").join(name))
            .filter(|p| p.exists())
            .collect();
        versions.sort();
        if let Some(p) = versions.pop() {
            return p;
        }
    }
    PathBuf::from(name)
}

/// A signed-up human.
pub struct Human {
    pub email: String,
    pub token: String,
    pub user_id: String,
    pub org_id: String,
}

/// True when `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The payload of a JWT, unverified (the tests read claims the server wrote).
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

impl TestServer {
    /// Talon's `secret-details` entry of `path` (counters, read limit, vault, writer): what
    /// 1claw's secret shapes leave out. Never a read.
    pub async fn secret_details(&self, token: &str, vault: &str, path: &str) -> Value {
        let (s, v) = self
            .call(
                Method::GET,
                &format!("/v1/vaults/{vault}/secret-details?prefix={path}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "secret-details: {v}");
        v["secrets"]
            .as_array()
            .and_then(|l| l.iter().find(|e| e["path"] == path))
            .cloned()
            .unwrap_or_else(|| panic!("no details for {path}: {v}"))
    }
}
