//! Limits on failed authentication attempts, counted in the database so that every server
//! process sharing it enforces the same limit.

use super::Core;
use crate::error::{Error, Result};
use crate::store::rate_limits;

/// Failed attempts allowed per window and identity before answering 429.
pub const AUTH_FAILURES_PER_WINDOW: i64 = 10;
/// Window length for failed attempts.
pub const AUTH_WINDOW_MS: i64 = 15 * 60 * 1000;

impl Core {
    fn auth_window(&self) -> (i64, u64) {
        let now = self.now();
        let start = now - now.rem_euclid(AUTH_WINDOW_MS);
        let retry = ((start + AUTH_WINDOW_MS - now) / 1000).max(1) as u64;
        (start, retry)
    }

    /// Refuses with 429 when the bucket has used up its failures in this window.
    pub(crate) async fn check_auth_throttle(&self, bucket: &str) -> Result<()> {
        let (start, retry_after_s) = self.auth_window();
        if rate_limits::count(self.store().pool(), bucket, start).await? >= AUTH_FAILURES_PER_WINDOW
        {
            return Err(Error::RateLimited { retry_after_s });
        }
        Ok(())
    }

    /// Counts one failure against the bucket.
    pub(crate) async fn note_auth_failure(&self, bucket: &str) -> Result<()> {
        let (start, _) = self.auth_window();
        rate_limits::hit(self.store().pool(), bucket, start).await?;
        Ok(())
    }
}

/// Requests counted per principal per one-second window: in the database on PostgreSQL (so
/// every process sharing it enforces one limit), in memory on SQLite (one process per file).
#[derive(Default)]
pub(crate) struct PrincipalWindows(std::sync::Mutex<std::collections::HashMap<String, (i64, i64)>>);

impl Core {
    /// Refuses with 429 once the principal has made `rate_limit_per_principal` requests in the
    /// current second. A limit of 0 disables the check.
    pub async fn check_principal_rate(&self, p: &super::Principal) -> Result<()> {
        let limit = self.config().rate_limit_per_principal;
        if limit == 0 {
            return Ok(());
        }
        let window = self.now() / 1000;
        let subject = p.subject();
        let count = match self.store().backend() {
            crate::store::Backend::Postgres => {
                rate_limits::hit(self.store().pool(), &format!("rps:{subject}"), window).await?
            }
            crate::store::Backend::Sqlite => {
                let mut map = self.0.principal_windows.0.lock().expect("rate windows");
                if map.len() > 100_000 {
                    map.retain(|_, (w, _)| *w == window);
                }
                let entry = map.entry(subject).or_insert((window, 0));
                if entry.0 != window {
                    *entry = (window, 0);
                }
                entry.1 += 1;
                entry.1
            }
        };
        if count > limit as i64 {
            return Err(Error::RateLimited { retry_after_s: 1 });
        }
        Ok(())
    }
}
