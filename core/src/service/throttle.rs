//! Limits on failed authentication attempts, counted in the database so that every server
//! process sharing it enforces the same limit.

use super::Core;
use crate::error::{Error, Result};
use crate::store::rate_limits;

/// Failed attempts allowed per window and identity before answering 429 (share passwords,
/// one-time codes and the other single-bucket limits).
pub const AUTH_FAILURES_PER_WINDOW: i64 = 10;
/// Window length for failed attempts.
pub const AUTH_WINDOW_MS: i64 = 15 * 60 * 1000;

/// Failed agent key exchanges allowed per window for one key prefix from one IP.
pub const AGENT_KEY_FAILURES_PER_IP_AND_PREFIX: i64 = 10;
/// Failed agent key exchanges allowed per window for one key prefix from all IPs.
pub const AGENT_KEY_FAILURES_PER_PREFIX: i64 = 50;
/// Failed agent key exchanges allowed per window from one IP, across prefixes: high, so
/// that many agents behind one address are not locked out by one broken one.
pub const AGENT_KEY_FAILURES_PER_IP: i64 = 200;
/// Failed password logins allowed per window for one account from one IP.
pub const LOGIN_FAILURES_PER_IP_AND_ACCOUNT: i64 = 10;
/// Failed password logins allowed per window for one account from all IPs.
pub const LOGIN_FAILURES_PER_ACCOUNT: i64 = 50;
/// Failed password logins allowed per window from one IP across accounts (password spraying).
pub const LOGIN_FAILURES_PER_IP: i64 = 20;

/// One counter of failed attempts and the number of failures it allows per window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bucket {
    pub(crate) name: String,
    pub(crate) limit: i64,
}

impl Bucket {
    fn new(name: String, limit: i64) -> Self {
        Bucket { name, limit }
    }
}

/// The public part of an `ocv_` agent key that names it (its first 12 characters, shown as
/// `api_key_prefix` in listings), or `None` for anything not shaped like an agent key.
pub(crate) fn agent_key_prefix(api_key: &str) -> Option<&str> {
    const PREFIX_LEN: usize = 12;
    let prefix = api_key.get(..PREFIX_LEN)?;
    let well_formed = prefix.starts_with("ocv_")
        && prefix[4..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then_some(prefix)
}

/// The buckets an agent key exchange from `ip` is counted in: the IP's ceiling, and for a
/// key shaped like an agent key its prefix from this IP and from everywhere. A correct key
/// is refused only when one of these is used up, never because of other keys' failures
/// below the IP ceiling.
pub(crate) fn agent_key_buckets(ip: &str, api_key: &str) -> Vec<Bucket> {
    let mut buckets = vec![Bucket::new(
        format!("agent-token:ip:{ip}"),
        AGENT_KEY_FAILURES_PER_IP,
    )];
    if let Some(prefix) = agent_key_prefix(api_key) {
        buckets.push(Bucket::new(
            format!("agent-token:ip-prefix:{ip}:{prefix}"),
            AGENT_KEY_FAILURES_PER_IP_AND_PREFIX,
        ));
        buckets.push(Bucket::new(
            format!("agent-token:prefix:{prefix}"),
            AGENT_KEY_FAILURES_PER_PREFIX,
        ));
    }
    buckets
}

/// The buckets a password login for `email` (normalised) from `ip` is counted in: the
/// account from this IP, the account from everywhere, and the IP across accounts.
pub(crate) fn login_buckets(ip: &str, email: &str) -> Vec<Bucket> {
    vec![
        Bucket::new(
            format!("login:{ip}:{email}"),
            LOGIN_FAILURES_PER_IP_AND_ACCOUNT,
        ),
        Bucket::new(format!("login-account:{email}"), LOGIN_FAILURES_PER_ACCOUNT),
        Bucket::new(format!("login-ip:{ip}"), LOGIN_FAILURES_PER_IP),
    ]
}

impl Core {
    fn auth_window(&self) -> (i64, u64) {
        let now = self.now();
        let start = now - now.rem_euclid(AUTH_WINDOW_MS);
        let retry = ((start + AUTH_WINDOW_MS - now) / 1000).max(1) as u64;
        (start, retry)
    }

    /// Refuses with 429 when the bucket has used up its failures in this window.
    pub(crate) async fn check_auth_throttle(&self, bucket: &str) -> Result<()> {
        self.check_auth_buckets(&[Bucket::new(bucket.to_owned(), AUTH_FAILURES_PER_WINDOW)])
            .await
    }

    /// Counts one failure against the bucket.
    pub(crate) async fn note_auth_failure(&self, bucket: &str) -> Result<()> {
        let (start, _) = self.auth_window();
        rate_limits::hit(self.store().pool(), bucket, start).await?;
        Ok(())
    }

    /// Refuses with 429 (retry when the window ends) when any of the buckets has used up its
    /// failures in this window.
    pub(crate) async fn check_auth_buckets(&self, buckets: &[Bucket]) -> Result<()> {
        let (start, retry_after_s) = self.auth_window();
        for bucket in buckets {
            if rate_limits::count(self.store().pool(), &bucket.name, start).await? >= bucket.limit {
                return Err(Error::RateLimited { retry_after_s });
            }
        }
        Ok(())
    }

    /// Counts one failure against every one of the buckets.
    pub(crate) async fn note_auth_failures(&self, buckets: &[Bucket]) -> Result<()> {
        let (start, _) = self.auth_window();
        for bucket in buckets {
            rate_limits::hit(self.store().pool(), &bucket.name, start).await?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_key_prefix_is_the_public_part_of_a_well_formed_key() {
        let cases: &[(&str, Option<&str>)] = &[
            ("ocv_AbCd-_12rest-of-the-secret-key", Some("ocv_AbCd-_12")),
            ("ocv_AbCd-_12", Some("ocv_AbCd-_12")),
            ("ocv_short", None),
            ("1ck_AbCdEf12rest", None),
            ("ocv_AbC:ef12rest", None),
            ("ocv_AbCdéf12rest", None),
            ("", None),
        ];
        for (key, expected) in cases {
            assert_eq!(agent_key_prefix(key), *expected, "{key}");
        }
    }

    #[test]
    fn agent_key_buckets_separate_prefixes_behind_one_ip() {
        let a = agent_key_buckets("10.0.0.1", "ocv_AAAAAAAAsecret");
        let b = agent_key_buckets("10.0.0.1", "ocv_BBBBBBBBsecret");
        assert_eq!(a[0], b[0], "one ceiling per IP");
        assert_eq!(a[0].limit, AGENT_KEY_FAILURES_PER_IP);
        assert!(a[1..].iter().all(|bucket| !b.contains(bucket)));
        assert_eq!(agent_key_buckets("10.0.0.1", "garbage").len(), 1);
    }

    #[test]
    fn login_buckets_count_the_ip_across_accounts() {
        let a = login_buckets("10.0.0.1", "a@example.com");
        let b = login_buckets("10.0.0.1", "b@example.com");
        let shared: Vec<_> = a.iter().filter(|bucket| b.contains(bucket)).collect();
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].limit, LOGIN_FAILURES_PER_IP);
    }
}
