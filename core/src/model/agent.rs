//! An agent: a non-human principal with its own key, scopes and vaults.

/// An agent row.
#[derive(Debug, Clone)]
pub struct Agent {
    /// The agent's id.
    pub id: String,
    /// The org the agent belongs to.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Scopes the agent was registered with.
    pub scopes: Vec<String>,
    /// Whether `scopes` were given explicitly and so cap the paths the agent can reach.
    pub scopes_explicit: bool,
    /// Vaults the agent is bound to; empty means every vault of the org.
    pub vault_ids: Vec<String>,
    /// Whether the agent may sign in; deactivation stops even live tokens.
    pub is_active: bool,
    /// Lifetime of its access tokens, seconds; `None` uses the server default.
    pub token_ttl_seconds: Option<i64>,
    /// When the agent expires (its key and live tokens stop working), unix milliseconds.
    pub expires_at: Option<i64>,
    /// The first characters of its `ocv_` key, to recognise it by.
    pub api_key_prefix: String,
    /// When its API key stops working, unix milliseconds.
    pub api_key_expires_at: Option<i64>,
    /// Id of the user who created it.
    pub created_by: String,
    /// When it was registered, unix milliseconds.
    pub created_at: i64,
    /// When it last exchanged its key for a token, unix milliseconds.
    pub last_active_at: Option<i64>,
    /// The environment it is tagged with; resolving env vars without one uses it.
    pub environment: Option<String>,
}
