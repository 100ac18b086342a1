//! Agents: the bodies of `/v1/agents…` (API.md §8.6).

use crate::material::{expose_bearer, BearerSecret};
use serde::{Deserialize, Serialize};

/// `POST /v1/agents`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateAgentRequest {
    /// Display name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Only `api_key` is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    /// Scope names; the default set when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Vaults the agent is limited to; all of the org's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_ids: Option<Vec<String>>,
    /// Lifetime of the agent's access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ttl_seconds: Option<i64>,
    /// RFC 3339: the agent stops working then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// RFC 3339: the key stops working then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_expires_at: Option<String>,
    /// The environment the agent is tagged with (env-var resolve uses it by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// An agent as the owner's routes return it: only fields of 1claw's **AgentResponse**. Who
/// created it and the key's prefix are for the dashboard, which reads the core directly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentResponse {
    /// The agent's id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Always `api_key`.
    pub auth_method: String,
    /// Scope names.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Whether the agent may sign in.
    pub is_active: bool,
    /// Vaults the agent is limited to (empty: all of the org's).
    #[serde(default)]
    pub vault_ids: Vec<String>,
    /// Lifetime of its access tokens, or null for the server default.
    #[serde(default)]
    pub token_ttl_seconds: Option<i64>,
    /// RFC 3339; absent when the agent does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// RFC 3339, or null.
    #[serde(default)]
    pub api_key_expires_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; absent until the agent first signs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_active_at: Option<String>,
    /// Not served: always false.
    pub intents_api_enabled: bool,
    /// Not served: always false.
    pub shroud_enabled: bool,
    /// The environment the agent is tagged with, or null.
    #[serde(default)]
    pub environment: Option<String>,
}

/// `GET /v1/agents/me`: the calling agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSelfResponse {
    /// The agent's id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The owning org.
    pub org_id: String,
    /// Scope names.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Vaults the agent is limited to.
    #[serde(default)]
    pub vault_ids: Vec<String>,
    /// Whether the agent may sign in.
    pub is_active: bool,
    /// Lifetime of its access tokens, or null.
    #[serde(default)]
    pub token_ttl_seconds: Option<i64>,
    /// Id of the creating user.
    #[serde(default)]
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, or null.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// RFC 3339, or null.
    #[serde(default)]
    pub last_active_at: Option<String>,
    /// Not served: always false.
    #[serde(default)]
    pub intents_api_enabled: bool,
}

/// `POST /v1/agents` and `POST /v1/agents/{id}/rotate-key`: the agent and its new key,
/// shown once.
#[derive(Debug, Serialize, Deserialize)]
pub struct AgentCreatedResponse {
    /// The agent.
    pub agent: AgentResponse,
    /// The `ocv_` key.
    #[serde(serialize_with = "expose_bearer")]
    pub api_key: BearerSecret,
}

/// `GET /v1/agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentListResponse {
    /// The org's agents.
    pub agents: Vec<AgentResponse>,
}
