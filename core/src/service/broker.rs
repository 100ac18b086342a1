//! The credential broker (`talon run --broker`): the CLI's local proxy holds secret values and
//! swaps them in for placeholders only on requests to the hosts each secret is allowed for. When
//! a placeholder is sent anywhere else the proxy refuses to forward it and reports the attempt
//! here, so it is audited as `secret.exfiltration_blocked`. No value ever reaches this service.

use super::audit::AuditEvent;
use super::{Core, Principal, RequestContext};
use crate::error::{Error, Result};
use crate::secret_path::SecretPath;
use serde_json::json;

/// Longest host name accepted (RFC 1035's limit on a name's text form).
const MAX_HOST: usize = 253;
/// Longest environment variable name accepted.
const MAX_ENV: usize = 128;

/// Input of `POST /v1/broker/blocked`: which secret a command tried to send where.
#[derive(Debug, Clone)]
pub struct BlockedSend {
    /// The vault the secret was read from (canonical UUID).
    pub vault_id: String,
    /// The secret's path in that vault.
    pub path: SecretPath,
    /// The host the request was addressed to.
    pub host: String,
    /// The environment variable that held the secret's placeholder.
    pub env: String,
}

/// A host as a request names it: a DNS name, an IPv4 address or a bracketed IPv6 address.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= MAX_HOST
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '[' | ']'))
}

/// An environment variable name: a letter or `_`, then letters, digits and `_`.
fn valid_env(e: &str) -> bool {
    e.len() <= MAX_ENV
        && e.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && e.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Core {
    /// Records that `p`'s broker refused to send the secret at `b.path` to `b.host`: one
    /// `secret.exfiltration_blocked` event (outcome `denied`) naming the vault, path, host and
    /// variable. The vault must be in `p`'s org (404 otherwise, 403 for an agent not bound to
    /// it); a host or variable name that is not one is a 400 that does not echo it.
    pub async fn record_blocked_send(
        &self,
        p: &Principal,
        b: BlockedSend,
        ctx: &RequestContext,
    ) -> Result<()> {
        if !valid_host(&b.host) {
            return Err(Error::invalid(
                "host",
                format!("host must be a host name of 1 to {MAX_HOST} characters"),
            ));
        }
        if !valid_env(&b.env) {
            return Err(Error::invalid(
                "env",
                format!(
                    "env must be a variable name (letters, digits and '_', not starting with a digit) of at most {MAX_ENV} characters"
                ),
            ));
        }
        let v = self.vault_in_org(p, &b.vault_id).await?;
        self.record(
            ctx,
            AuditEvent::by(
                p,
                "secret.exfiltration_blocked",
                "secret",
                None,
                json!({"vault_id": v.id, "path": b.path.as_str(), "host": b.host, "env": b.env}),
            )
            .outcome("denied"),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_names_or_addresses_of_at_most_253_characters() {
        for (host, ok) in [
            ("api.example.com", true),
            ("localhost", true),
            ("127.0.0.1", true),
            ("[::1]", true),
            ("", false),
            ("a b", false),
            ("evil.com/path", false),
            ("x@y", false),
        ] {
            assert_eq!(valid_host(host), ok, "{host}");
        }
        assert!(valid_host(&"a".repeat(253)));
        assert!(!valid_host(&"a".repeat(254)));
    }

    #[test]
    fn env_names_are_shell_variable_names() {
        for (env, ok) in [
            ("API_KEY", true),
            ("_x1", true),
            ("1X", false),
            ("", false),
            ("A-B", false),
            ("A=B", false),
        ] {
            assert_eq!(valid_env(env), ok, "{env}");
        }
    }
}
