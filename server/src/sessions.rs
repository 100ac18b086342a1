//! Dashboard sessions with `tower-sessions`, stored in Talon's own database through the
//! core (SQLite or PostgreSQL, the same store as everything else).

use async_trait::async_trait;
use talon_core::Core;
use tower_sessions::cookie::time::{Duration, OffsetDateTime};
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, SessionManagerLayer};

/// A session record lives this long after it was last written (at sign-in); records are not
/// rewritten on every request, so this is in effect the session's lifetime.
const SESSION_LIFETIME: Duration = Duration::hours(12);

/// Session records in the `dashboard_sessions` table.
#[derive(Clone)]
pub struct DbSessionStore(Core);

impl std::fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbSessionStore")
    }
}

fn backend(error: talon_core::Error) -> session_store::Error {
    session_store::Error::Backend(error.to_string())
}

/// The columns of a record: the signed-in user (for "sign out everywhere"), the data as
/// JSON, and the expiry in unix milliseconds.
fn columns(record: &Record) -> session_store::Result<(Option<String>, String, i64)> {
    let user_id = record
        .data
        .get(app::session::SESSION_USER_KEY)
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let data = serde_json::to_string(&record.data)
        .map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let expires = (record.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64;
    Ok((user_id, data, expires))
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let (user_id, data, expires) = columns(record)?;
            let id = record.id.to_string();
            if self
                .0
                .session_create(&id, user_id.as_deref(), &data, expires)
                .await
                .map_err(backend)?
            {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let (user_id, data, expires) = columns(record)?;
        self.0
            .session_save(&record.id.to_string(), user_id.as_deref(), &data, expires)
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some((data, expires)) = self
            .0
            .session_load(&id.to_string())
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let data =
            serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = OffsetDateTime::from_unix_timestamp_nanos(expires as i128 * 1_000_000)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.0
            .session_delete(&id.to_string())
            .await
            .map_err(backend)
    }
}

/// The session layer of the dashboard: cookie `talon_session`, `HttpOnly`, `SameSite=Lax`,
/// `Secure` when the public URL is HTTPS, ending 12 hours after sign-in. Also starts the
/// hourly removal of expired records.
pub fn layer(core: Core) -> SessionManagerLayer<DbSessionStore> {
    let secure = core.config().public_url.starts_with("https://");
    let sweeper = core.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            if let Err(error) = sweeper.sessions_expire().await {
                tracing::warn!(%error, "removing expired dashboard sessions failed");
            }
        }
    });
    SessionManagerLayer::new(DbSessionStore(core))
        .with_name(app::session::SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(SESSION_LIFETIME))
}
