//! Access policies: the bodies of `/v1/vaults/{vault_id}/policies…` (API.md §8.7).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A policy as every policy route returns it: only fields of 1claw's **PolicyResponse**.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyResponse {
    /// The policy's id.
    pub id: String,
    /// The vault it governs.
    pub vault_id: String,
    /// Glob over secret paths.
    pub secret_path_pattern: String,
    /// `user` or `agent`.
    pub principal_type: String,
    /// The principal's id.
    pub principal_id: String,
    /// Permission names.
    pub permissions: Vec<String>,
    /// The conditions object (`{}` when none).
    #[serde(default)]
    pub conditions: Value,
    /// RFC 3339; absent when the grant does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// `allow` or `deny`.
    #[serde(default)]
    pub effect: String,
    /// Higher wins among equals.
    #[serde(default)]
    pub priority: i64,
    /// Id of the creator.
    #[serde(default)]
    pub created_by: String,
    /// `user` or `agent`.
    #[serde(default)]
    pub created_by_type: String,
    /// RFC 3339.
    pub created_at: String,
}

/// `GET /v1/vaults/{vault_id}/policies`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyListResponse {
    /// The vault's policies.
    pub policies: Vec<PolicyResponse>,
}

/// `POST /v1/vaults/{vault_id}/policies`: a grant (or deny) on a path pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatePolicyRequest {
    /// Glob over secret paths (`**`, `api-keys/*`, …).
    pub secret_path_pattern: String,
    /// `user` or `agent`.
    pub principal_type: String,
    /// The user's or agent's id.
    pub principal_id: String,
    /// Any of `read`, `write`, `delete`.
    pub permissions: Vec<String>,
    /// Conditions (IP ranges, time windows) as a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Value>,
    /// RFC 3339 expiry of the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// `allow` (default) or `deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    /// Higher wins among matching policies of the same effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
}
