//! Vaults: the bodies of `/v1/vaults` (API.md §8.2).

use serde::{Deserialize, Serialize};

/// `POST /v1/vaults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateVaultRequest {
    /// Display name, unique in the org.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A vault, as every `/v1/vaults` route returns it: only fields of 1claw's **VaultResponse**.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultResponse {
    /// The vault's id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text (empty when none was given).
    #[serde(default)]
    pub description: String,
    /// Id of the user or agent that created it.
    #[serde(default)]
    pub created_by: String,
    /// `user` or `agent`.
    #[serde(default)]
    pub created_by_type: String,
    /// RFC 3339.
    pub created_at: String,
    /// Customer-managed keys: never on in Talon (the HSM holds the keys).
    #[serde(default)]
    pub cmek_enabled: bool,
}

/// `GET /v1/vaults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultListResponse {
    /// The vaults the caller can see.
    pub vaults: Vec<VaultResponse>,
}
