//! Secrets: the bodies of `/v1/vaults/{vault_id}/secrets…` (API.md §8.3, §8.4).

use crate::material::{expose_value, SecretValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `PUT /v1/vaults/{vault_id}/secrets/{path}`: a new version.
#[derive(Debug, Serialize, Deserialize)]
pub struct PutSecretRequest {
    /// The plaintext, sealed by the server before anything is stored.
    #[serde(serialize_with = "expose_value")]
    pub value: SecretValue,
    /// A secret type name (`api_key`, `env_bundle`, …); the server's default when absent.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    /// A JSON object of free metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// RFC 3339 expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Reads allowed before the secret disables itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_access_count: Option<i64>,
}

/// `POST /v1/vaults/{vault_id}/secret-rotate/{path}`: a generated new version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RotateSecretRequest {
    /// Length of the generated value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<i64>,
    /// `alphanumeric`, `hex`, `base64`, … (API.md §8.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charset: Option<String>,
    /// A new type name for the version.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
}

/// A stored version as a write (put or rotate) returns it: the fields 1claw's
/// **SecretCreatedResponse** and **SecretMetadataResponse** share, and nothing else (1claw's Go
/// SDK refuses unknown fields). The vault, the read limit and the counters are in
/// [`SecretDetailsResponse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretVersionResponse {
    /// The secret's id (the same for every version of a path).
    pub id: String,
    /// The secret's path.
    pub path: String,
    /// Type name.
    #[serde(rename = "type")]
    pub secret_type: String,
    /// Version number, from 1.
    pub version: i64,
    /// The metadata object (`{}` when none).
    #[serde(default)]
    pub metadata: Value,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; absent when the version does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// A version's metadata as lists and version queries return it: 1claw's
/// **SecretMetadataResponse**, no value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretMetadataResponse {
    /// What the write returned.
    #[serde(flatten)]
    pub version: SecretVersionResponse,
    /// Whether this version was disabled.
    #[serde(default)]
    pub is_disabled: bool,
}

/// A read: 1claw's **SecretResponse**, the version and the plaintext.
#[derive(Debug, Serialize, Deserialize)]
pub struct SecretResponse {
    /// The version read.
    #[serde(flatten)]
    pub version: SecretVersionResponse,
    /// Who wrote it: `user:<uuid>` or `agent:<uuid>`.
    #[serde(default)]
    pub created_by: String,
    /// The plaintext.
    #[serde(serialize_with = "expose_value")]
    pub value: SecretValue,
}

/// Talon only (`GET /v1/vaults/{vault_id}/secret-details`): a latest version's metadata with
/// what 1claw's shapes leave out, the vault, the read limit and the counters. Never a value,
/// never an access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretDetailsResponse {
    /// What the write returned.
    #[serde(flatten)]
    pub version: SecretVersionResponse,
    /// The vault.
    pub vault_id: String,
    /// Reads allowed, or null.
    #[serde(default)]
    pub max_access_count: Option<i64>,
    /// Reads so far.
    #[serde(default)]
    pub access_count: i64,
    /// Whether this version was disabled.
    #[serde(default)]
    pub is_disabled: bool,
    /// Who wrote it: `user:<uuid>` or `agent:<uuid>`.
    #[serde(default)]
    pub created_by: String,
}

/// `GET /v1/vaults/{vault_id}/secret-details` (Talon only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretDetailsListResponse {
    /// Details of each readable live secret's latest version, sorted by path.
    pub secrets: Vec<SecretDetailsResponse>,
}

/// `GET /v1/vaults/{vault_id}/secrets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretListResponse {
    /// Latest-version metadata of each readable live secret, sorted by path.
    pub secrets: Vec<SecretMetadataResponse>,
}

/// `GET /v1/vaults/{vault_id}/secret-versions/{path}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretVersionListResponse {
    /// Every version of the path.
    pub versions: Vec<SecretMetadataResponse>,
}
