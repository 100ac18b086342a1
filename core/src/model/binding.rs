//! A binding: an agent's named upstream and where the credential Talon injects for it comes
//! from; and the record of one execution through it.

use serde_json::Value;

/// Where a binding's credential comes from. The value itself is never part of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// No credential yet: executions are refused until one is set.
    None,
    /// A value sealed with the binding (`inline`).
    Inline,
    /// A live pointer to a vault secret, read at each execution (`vault_ref`).
    VaultRef {
        /// The vault holding the secret.
        vault_id: String,
        /// The secret's path in that vault.
        path: String,
    },
}

impl CredentialSource {
    /// The wire name (`inline`, `vault_ref`), `None` when no credential is set.
    pub fn type_name(&self) -> Option<&'static str> {
        match self {
            CredentialSource::None => None,
            CredentialSource::Inline => Some("inline"),
            CredentialSource::VaultRef { .. } => Some("vault_ref"),
        }
    }
}

/// One binding as the doors see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The binding's id.
    pub id: String,
    /// The org it belongs to.
    pub org_id: String,
    /// The agent that executes through it.
    pub agent_id: String,
    /// Its name, unique per agent; executions name it or its id.
    pub name: String,
    /// `http` or `graphql`.
    pub binding_type: String,
    /// The validated configuration (base URL, where the credential goes, headers, timeout).
    pub config: Value,
    /// The validated guardrails (methods, path globs, size and rate limits).
    pub guardrails: Value,
    /// Whether executions are accepted.
    pub is_active: bool,
    /// Where the credential comes from.
    pub credential: CredentialSource,
    /// Who created it, `user:<id>`.
    pub created_by: String,
    /// When it was created, unix milliseconds.
    pub created_at: i64,
    /// When it last changed, unix milliseconds.
    pub updated_at: i64,
}

/// One execution attempt through a binding: what was asked, where it went and how it ended.
/// Never the credential, the request body or the response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// The execution's id (`execution_id` of the answer).
    pub id: String,
    /// The agent that asked.
    pub agent_id: String,
    /// The binding used.
    pub binding_id: String,
    /// The binding's name at the time.
    pub binding_name: String,
    /// The HTTP method.
    pub method: String,
    /// The upstream host.
    pub host: String,
    /// The request path, without the query.
    pub path: String,
    /// `success` (the upstream answered), `error` (it could not be reached or its answer was
    /// refused) or `denied` (a guardrail or policy refused it; nothing was sent).
    pub status: String,
    /// The upstream's HTTP status, when it answered.
    pub http_status: Option<i64>,
    /// Bytes of the request body sent.
    pub request_bytes: i64,
    /// Bytes of the response body received.
    pub response_bytes: i64,
    /// How long it took, milliseconds.
    pub duration_ms: i64,
    /// Occurrences of the credential replaced in the answer.
    pub redactions: i64,
    /// Why it failed or was refused.
    pub error: Option<String>,
    /// When it happened, unix milliseconds.
    pub created_at: i64,
}
