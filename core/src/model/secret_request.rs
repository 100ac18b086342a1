//! A secret request: an agent asking its people for a credential.

/// A secret request row. It never holds a value.
#[derive(Debug, Clone)]
pub struct SecretRequest {
    /// The request's id.
    pub id: String,
    /// The org it belongs to.
    pub org_id: String,
    /// The asking agent.
    pub agent_id: String,
    /// What the agent calls the credential ("Stripe test key").
    pub label: String,
    /// Why the agent needs it.
    pub purpose: String,
    /// Where the agent suggests storing it.
    pub suggested_path: Option<String>,
    /// `pending`, `fulfilled`, `declined` or `expired`.
    pub status: String,
    /// Where the person stored the value.
    pub vault_id: Option<String>,
    /// The path the person stored the value at.
    pub path: Option<String>,
    /// What the person granted the agent on it: `use`, `read`, or `None`.
    pub granted: Option<String>,
    /// The policy made for that grant.
    pub policy_id: Option<String>,
    /// Why the person declined, if they said.
    pub decline_reason: Option<String>,
    /// The person who fulfilled or declined it.
    pub decided_by: Option<String>,
    /// When it was fulfilled or declined, unix milliseconds.
    pub decided_at: Option<i64>,
    /// When a pending request expires, unix milliseconds.
    pub expires_at: i64,
    /// When it was made, unix milliseconds.
    pub created_at: i64,
}
