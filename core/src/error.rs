//! The domain error: every case a caller can act on, mapped to an HTTP problem by the doors.

use std::fmt;

/// A domain error. `Display` is safe to show to a client: it never contains a secret value,
/// key, token, password or hash.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input failed validation. `field` names the offending field when there is one.
    #[error("{reason}")]
    Invalid {
        /// The request field that failed, as the client named it.
        field: Option<&'static str>,
        /// What is wrong with the input, shown to the client.
        reason: String,
    },
    /// Missing, malformed, expired or revoked credentials.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// The caller may have the secret used for it (a binding, the local broker) but not read:
    /// the sentence names the tools to use instead.
    #[error("{0}")]
    UseOnly(String),
    /// A policy lets the request through only once people approve it; the approval (new, or
    /// the one already pending for the same request) is named.
    #[error("{message}")]
    ApprovalRequired {
        /// The approval to wait for.
        approval_id: String,
        /// The sentence shown to the caller.
        message: String,
    },
    /// The action needs the caller to confirm who they are again (a password or a TOTP code
    /// in `X-Auth-Confirm`), and the confirmation was missing or did not match.
    #[error("{0}")]
    StepUpRequired(String),
    /// The resource does not exist or belongs to another org.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The resource existed but is no longer available (expired, used up, deleted, disabled).
    #[error("{0}")]
    Gone(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// A tier limit was reached.
    #[error(
        "{resource} limit reached ({current}/{limit} on {tier} tier). Upgrade your plan for more."
    )]
    LimitExceeded {
        /// What is counted: `Vault`, `Secret`, `Agent`, ….
        resource: &'static str,
        /// How many the org already has.
        current: i64,
        /// The most the tier allows.
        limit: i64,
        /// The org's tier.
        tier: String,
    },
    /// The org's monthly request quota is used up (billable routes only).
    #[error("Monthly request quota reached ({used}/{limit} on {tier} tier). Upgrade your plan or wait for next month.")]
    QuotaExceeded {
        /// Billable requests counted this month.
        used: i64,
        /// The tier's monthly request quota.
        limit: i64,
        /// The org's tier.
        tier: String,
    },
    /// Stripe billing is not configured on this server.
    #[error("{0}")]
    BillingNotConfigured(String),
    /// An org IP rule refused the caller's address.
    #[error("Requests from this IP address are not allowed for this organization")]
    IpDenied,
    /// Too many attempts; retry after the given number of seconds.
    #[error("Too many attempts; try again in {retry_after_s} seconds")]
    RateLimited {
        /// Seconds until the next attempt may succeed (the `Retry-After` value).
        retry_after_s: u64,
    },
    /// A dependency (database, keystore, audit store) failed or timed out.
    #[error("{0} is unavailable")]
    Unavailable(Dependency),
    /// A bug or an unexpected state. The cause is logged, never shown.
    #[error("Internal error")]
    Internal(String),
}

/// The dependencies whose failure is reported as 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    /// The SQL database behind the store.
    Database,
    /// The keystore holding the KEKs, the JWT signing key and the MAC keys.
    Keystore,
    /// The audit log, which every recorded action must reach.
    Audit,
    /// The payment provider (Stripe).
    Billing,
    /// The SMTP server outgoing mail goes through.
    Mail,
    /// A stored authorization row (policy, IP rule, role) that no longer parses: the request
    /// is refused rather than decided without it.
    AccessRules,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dependency::Database => "The database",
            Dependency::Keystore => "The keystore",
            Dependency::Audit => "The audit store",
            Dependency::Billing => "The payment provider",
            Dependency::Mail => "The mail server",
            Dependency::AccessRules => "The stored access rules",
        })
    }
}

impl Error {
    /// The HTTP status every door answers this error with: the one mapping from domain
    /// errors to statuses (the REST problem, the dashboard's server functions).
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Invalid { .. } => 400,
            Error::Unauthorized(_) => 401,
            Error::Forbidden(_)
            | Error::UseOnly(_)
            | Error::ApprovalRequired { .. }
            | Error::StepUpRequired(_)
            | Error::LimitExceeded { .. }
            | Error::IpDenied => 403,
            Error::QuotaExceeded { .. } => 402,
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::Gone(_) => 410,
            Error::RateLimited { .. } => 429,
            Error::Internal(_) => 500,
            Error::BillingNotConfigured(_) => 501,
            Error::Unavailable(_) => 503,
        }
    }

    /// The refusal of a direct read of a use-only secret at `path`.
    pub fn use_only(path: &str) -> Self {
        Error::UseOnly(format!(
            "The secret at {path} is use-only for agents: it cannot be read, only used. Call it \
             through a binding (POST /v1/agents/{{agent_id}}/execute, MCP execute_http) or \
             `talon run --broker` instead."
        ))
    }

    /// A validation error on a named field.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: Some(field),
            reason: reason.into(),
        }
    }

    /// The generic answer for any failed credential check.
    pub fn invalid_credentials() -> Self {
        Error::Unauthorized("Invalid credentials")
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if database_unreachable(&e) {
            tracing::error!(error = %e, "database unavailable");
            return Error::Unavailable(Dependency::Database);
        }
        tracing::error!(error = %e, "database error");
        Error::Internal("database error".into())
    }
}

/// Whether `e` says the database cannot be reached (as opposed to refusing one statement): no
/// connection within the acquire timeout, a connection cut, refused or failing its TLS or
/// protocol exchange, or a PostgreSQL server shutting down, starting up or out of connections
/// (SQLSTATE class 08, 57P01-57P03, 53300).
pub(crate) fn database_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

impl From<crate::keystore::KeyStoreError> for Error {
    fn from(e: crate::keystore::KeyStoreError) -> Self {
        tracing::error!(error = %e, "keystore error");
        Error::Unavailable(Dependency::Keystore)
    }
}

impl Error {
    /// A stored authorization row that does not parse: logged with its id, answered 503 so the
    /// request fails closed instead of being decided without the row.
    pub(crate) fn corrupt_rule(table: &'static str, id: &str, what: &str) -> Self {
        tracing::error!(table, row = %id, what, "stored access rule does not parse; refusing");
        Error::Unavailable(Dependency::AccessRules)
    }
}

/// Result alias for the domain.
pub type Result<T, E = Error> = std::result::Result<T, E>;
