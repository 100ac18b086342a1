//! The only place with SQL: one handle over sqlx's `Any` pool, SQLite or PostgreSQL, with
//! repository functions per aggregate. Flags are stored as 0/1 integers, times as unix
//! milliseconds, ids as text (see the migrations).

pub(crate) mod agents;
pub(crate) mod api_keys;
pub(crate) mod approvals;
pub(crate) mod audit;
pub(crate) mod billing;
pub(crate) mod bindings;
pub(crate) mod cache_epochs;
pub(crate) mod dashboard_sessions;
pub(crate) mod device_codes;
pub(crate) mod enrollments;
pub(crate) mod env_vars;
pub(crate) mod honeytokens;
pub(crate) mod ip_rules;
pub(crate) mod key_rotation;
pub(crate) mod keystore_identity;
pub(crate) mod mfa;
pub(crate) mod org;
pub(crate) mod policies;
pub(crate) mod rate_limits;
pub(crate) mod secret_requests;
pub(crate) mod secrets;
pub(crate) mod shares;
pub(crate) mod users;
pub(crate) mod vaults;
pub(crate) mod webhooks;

use crate::error::{Dependency, Error, Result};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, Executor, Row};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};

static MIGRATE_SQLITE: Migrator = sqlx::migrate!("../migrations/sqlite");
static MIGRATE_PG: Migrator = sqlx::migrate!("../migrations/postgres");

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, one writer at a time (the store's writer lock).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A transaction; every multi-row change runs in one. It derefs to the connection, so
/// queries run on `&mut **tx`. On SQLite it also holds the process's writer lock, so writers
/// queue in order instead of polling SQLite's busy handler.
pub struct Tx {
    tx: sqlx::Transaction<'static, Any>,
    _writer: Option<OwnedMutexGuard<()>>,
    backend: Backend,
    deliveries: Arc<Notify>,
    enqueued: bool,
}

impl Tx {
    /// Commits; dropping a `Tx` without committing rolls it back. A transaction that queued
    /// webhook deliveries wakes this process's delivery worker once it has committed.
    pub async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.commit().await?;
        if self.enqueued {
            self.deliveries.notify_one();
        }
        Ok(())
    }

    /// Which database the transaction runs on.
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// Notes that the transaction queued webhook deliveries (see [`Tx::commit`]).
    pub(crate) fn note_deliveries_enqueued(&mut self) {
        self.enqueued = true;
    }
}

impl Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

/// How the store talks to its database when it is slow or gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// The longest a statement waits for a pooled connection before the database counts as
    /// unavailable (503).
    pub acquire_timeout: Duration,
    /// While the database is marked down, how often the background probe tries `SELECT 1`.
    pub probe_interval: Duration,
    /// The deadline of one probe.
    pub probe_timeout: Duration,
}

impl StoreOptions {
    /// The built-in settings: 2 s to acquire, a 500 ms probe every 500 ms.
    pub const BUILT_IN: StoreOptions = StoreOptions {
        acquire_timeout: Duration::from_secs(2),
        probe_interval: Duration::from_millis(500),
        probe_timeout: Duration::from_millis(500),
    };
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions::BUILT_IN
    }
}

/// The database circuit, shared by every clone of a [`Store`]. Closed while the database
/// answers; opened when a request observes it unavailable. While open, the store refuses at
/// once ([`Store::check`]) and one background task probes the database until it answers.
struct Circuit {
    down: AtomicBool,
    opts: StoreOptions,
}

/// The storage handle. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    writer: Arc<Mutex<()>>,
    circuit: Arc<Circuit>,
    deliveries: Arc<Notify>,
}

impl Store {
    /// Connects with the built-in [`StoreOptions`], applies per-connection settings and runs
    /// the backend's migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        Store::connect_with(url, StoreOptions::default()).await
    }

    /// [`Store::connect`] with explicit options.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::invalid(
                "database_url",
                "database URL must start with sqlite: or postgres:",
            ));
        };
        let opts = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            });
        let pool = opts.connect(url).await.map_err(|e| {
            tracing::error!(error = %e, "cannot connect to the database");
            Error::Unavailable(Dependency::Database)
        })?;
        let migrator = match backend {
            Backend::Sqlite => &MIGRATE_SQLITE,
            Backend::Postgres => &MIGRATE_PG,
        };
        migrator.run(&pool).await.map_err(|e| {
            tracing::error!(error = %e, "migration failed");
            Error::Internal("migration failed".into())
        })?;
        Ok(Store {
            pool,
            backend,
            writer: Arc::new(Mutex::new(())),
            circuit: Arc::new(Circuit {
                down: AtomicBool::new(false),
                opts: options,
            }),
            deliveries: Arc::new(Notify::new()),
        })
    }

    /// Notified after a transaction of this process that queued webhook deliveries commits.
    pub(crate) fn deliveries_enqueued(&self) -> &Notify {
        &self.deliveries
    }

    /// Which database the store is connected to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for statements outside a transaction. The doors refuse requests
    /// while the circuit is open ([`Store::is_down`]) before any statement runs.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Whether the database is marked unavailable (the circuit is open).
    pub fn is_down(&self) -> bool {
        self.circuit.down.load(Ordering::Acquire)
    }

    /// Refuses at once while the database is marked unavailable; costs no round trip.
    pub fn check(&self) -> Result<()> {
        if self.is_down() {
            Err(Error::Unavailable(Dependency::Database))
        } else {
            Ok(())
        }
    }

    /// Passes `e` on, first opening the circuit when it says the database is unavailable.
    pub fn observe(&self, e: Error) -> Error {
        if matches!(e, Error::Unavailable(Dependency::Database)) {
            self.note_unavailable();
        }
        e
    }

    /// Marks the database unavailable: from now on [`Store::check`] and [`Store::begin`]
    /// refuse at once, and one background task probes the database until it answers, then
    /// closes the circuit. Outside a Tokio runtime nothing could probe, so nothing is marked.
    pub fn note_unavailable(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.circuit.down.swap(true, Ordering::AcqRel) {
            return; // already open: its probe is running
        }
        tracing::warn!("database unavailable: answering 503 until it responds again");
        let pool = self.pool.clone();
        let circuit = self.circuit.clone();
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(circuit.opts.probe_interval).await;
                let probe = sqlx::query("SELECT 1").execute(&pool);
                match tokio::time::timeout(circuit.opts.probe_timeout, probe).await {
                    Ok(Ok(_)) => break,
                    Ok(Err(e)) => tracing::debug!(error = %e, "database probe failed"),
                    Err(_) => tracing::debug!("database probe timed out"),
                }
            }
            circuit.down.store(false, Ordering::Release);
            tracing::warn!("database answers again: circuit closed");
        });
    }

    /// Starts a transaction (after taking the writer lock on SQLite). Refuses at once while
    /// the database is marked unavailable.
    pub async fn begin(&self) -> Result<Tx> {
        self.check()?;
        let writer = match self.backend {
            Backend::Sqlite => Some(self.writer.clone().lock_owned().await),
            Backend::Postgres => None,
        };
        let tx = self
            .pool
            .begin()
            .await
            .map_err(|e| self.observe(e.into()))?;
        Ok(Tx {
            tx,
            _writer: writer,
            backend: self.backend,
            deliveries: self.deliveries.clone(),
            enqueued: false,
        })
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<()> {
        self.check()?;
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| self.observe(e.into()))?;
        Ok(())
    }

    /// Whether the database answers within `deadline`: false at once while the circuit is
    /// open, and false when the round trip takes longer (a slow answer does not open the
    /// circuit; an unavailable one does).
    pub async fn answers_within(&self, deadline: Duration) -> bool {
        matches!(
            tokio::time::timeout(deadline, self.ping()).await,
            Ok(Ok(()))
        )
    }
}

/// Reads an optional text column.
pub(crate) fn opt_str(row: &AnyRow, col: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

/// Reads an optional integer column.
pub(crate) fn opt_i64(row: &AnyRow, col: &str) -> Result<Option<i64>> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

/// Parses a JSON list of strings stored as text.
/// Decodes a JSON list of strings stored in `table.column`. Text that does not decode is an
/// error (503), never an empty list: these lists narrow access (scopes, vault bindings,
/// allowlists), so reading a damaged one as empty would widen it.
pub(crate) fn json_list(s: &str, table: &'static str, column: &'static str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(|_| Error::corrupt_rule(table, column, "JSON list"))
}

/// Serialises a list of strings as JSON text.
pub(crate) fn to_json_list(v: &[String]) -> String {
    serde_json::to_string(v).expect("string list serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const FAST: StoreOptions = StoreOptions {
        acquire_timeout: Duration::from_millis(300),
        probe_interval: Duration::from_millis(50),
        probe_timeout: Duration::from_millis(200),
    };

    /// A store over a pool that connects on first use, so it can point at nothing.
    fn lazy(url: &str, opts: StoreOptions) -> Store {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(opts.acquire_timeout)
            .connect_lazy(url)
            .expect("pool");
        Store {
            pool,
            backend: Backend::Postgres,
            writer: Arc::new(Mutex::new(())),
            circuit: Arc::new(Circuit {
                down: AtomicBool::new(false),
                opts,
            }),
            deliveries: Arc::new(Notify::new()),
        }
    }

    #[tokio::test]
    async fn an_open_circuit_refuses_at_once_and_closes_when_the_database_answers() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect_with(&url, FAST).await.unwrap();
        let clone = store.clone();
        assert!(store.check().is_ok());
        store.note_unavailable();
        // Shared by clones, and refused without a round trip.
        assert!(clone.is_down());
        let start = Instant::now();
        assert!(matches!(
            clone.begin().await.err(),
            Some(Error::Unavailable(Dependency::Database))
        ));
        assert!(matches!(
            clone.ping().await,
            Err(Error::Unavailable(Dependency::Database))
        ));
        assert!(!clone.answers_within(Duration::from_secs(5)).await);
        assert!(start.elapsed() < Duration::from_millis(50));
        // The probe reaches the database and closes the circuit.
        let deadline = Instant::now() + Duration::from_secs(5);
        while store.is_down() {
            assert!(Instant::now() < deadline, "circuit never closed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(store.begin().await.is_ok());
        assert!(store.answers_within(Duration::from_secs(1)).await);
    }

    #[tokio::test]
    async fn an_unreachable_database_opens_the_circuit_and_keeps_it_open() {
        // Nothing listens on port 1: connections are refused.
        let store = lazy("postgres://talon@127.0.0.1:1/talon", FAST);
        let start = Instant::now();
        assert!(matches!(
            store.ping().await,
            Err(Error::Unavailable(Dependency::Database))
        ));
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(store.is_down());
        // Several probes fail meanwhile; the circuit stays open and refuses at once.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(store.is_down());
        let start = Instant::now();
        assert!(store.begin().await.is_err());
        assert!(store.check().is_err());
        assert!(start.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn connection_failures_are_unavailable_and_statement_failures_are_not() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            io,
            sqlx::Error::Protocol("unexpected end of stream".into()),
        ] {
            assert!(matches!(
                Error::from(e),
                Error::Unavailable(Dependency::Database)
            ));
        }
        assert!(matches!(
            Error::from(sqlx::Error::RowNotFound),
            Error::Internal(_)
        ));
    }
}
