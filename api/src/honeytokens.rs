//! Honeytokens: the bodies of `/v1/risk/honeytokens…` (1claw's Risk Engine), with Talon's
//! `on_trigger`, `value` and `type`.

use crate::material::{expose_value_opt, SecretValue};
use serde::{Deserialize, Serialize};

/// 1claw's **Honeytoken**, plus Talon's `on_trigger`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoneytokenResponse {
    /// The honeytoken's id.
    pub id: String,
    /// The vault whose path it watches.
    pub vault_id: String,
    /// The org it belongs to.
    pub org_id: String,
    /// The watched secret path.
    pub secret_path: String,
    /// Id of the user who created it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// Free text for the org's admins; `null` when none.
    pub notes: Option<String>,
    /// How many times it has been triggered.
    pub triggered_count: i64,
    /// RFC 3339 of the latest trigger; `null` before the first.
    pub last_triggered_at: Option<String>,
    /// Talon: `alert` or `deactivate`.
    pub on_trigger: String,
}

/// `GET /v1/risk/honeytokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoneytokenListResponse {
    /// The org's honeytokens, oldest first.
    pub honeytokens: Vec<HoneytokenResponse>,
}

/// `POST /v1/risk/honeytokens` (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoneytokenCreatedResponse {
    /// The new honeytoken.
    pub honeytoken: HoneytokenResponse,
}

/// `POST /v1/risk/honeytokens`: 1claw's **CreateHoneytokenRequest**, plus Talon's
/// `on_trigger`, and `value` and `type` to seed a canary secret at the path.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreateHoneytokenRequest {
    /// The vault whose path becomes a trap.
    pub vault_id: String,
    /// The secret path to watch.
    pub secret_path: String,
    /// Free text for the org's admins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Talon: `alert` (the default) or `deactivate` (the agent that touches it is
    /// deactivated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_trigger: Option<String>,
    /// Talon: a canary value written at the path like any secret's; the path must be free.
    #[serde(
        default,
        serialize_with = "expose_value_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<SecretValue>,
    /// Talon: the canary's secret type (`generic` when absent).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
}

/// `DELETE /v1/risk/honeytokens/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoneytokenDeletedResponse {
    /// Always `true`.
    pub deleted: bool,
}
