//! The only place with SQL: one handle over sqlx's `Any` pool, SQLite or PostgreSQL, with
//! repository functions per aggregate. Flags are stored as 0/1 integers, times as unix
//! milliseconds, ids as text (see the migrations).

pub(crate) mod agents;
pub(crate) mod api_keys;
pub(crate) mod audit;
pub(crate) mod billing;
pub(crate) mod dashboard_sessions;
pub(crate) mod device_codes;
pub(crate) mod enrollments;
pub(crate) mod ip_rules;
pub(crate) mod key_rotation;
pub(crate) mod keystore_identity;
pub(crate) mod mfa;
pub(crate) mod org;
pub(crate) mod policies;
pub(crate) mod rate_limits;
pub(crate) mod secrets;
pub(crate) mod shares;
pub(crate) mod users;
pub(crate) mod vaults;

use crate::error::{Dependency, Error, Result};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, Executor, Row};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

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
}

impl Tx {
    /// Commits; dropping a `Tx` without committing rolls it back.
    pub async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.commit().await
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

/// The storage handle. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    writer: Arc<Mutex<()>>,
}

impl Store {
    /// Connects, applies per-connection settings and runs the backend's migrations.
    pub async fn connect(url: &str) -> Result<Store> {
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
            .acquire_timeout(Duration::from_secs(10))
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
        })
    }

    /// Which database the store is connected to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for statements outside a transaction.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a transaction (after taking the writer lock on SQLite).
    pub async fn begin(&self) -> Result<Tx> {
        let writer = match self.backend {
            Backend::Sqlite => Some(self.writer.clone().lock_owned().await),
            Backend::Postgres => None,
        };
        Ok(Tx {
            tx: self.pool.begin().await?,
            _writer: writer,
        })
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
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
