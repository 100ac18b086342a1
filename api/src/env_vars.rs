//! Environment variables and environments of a vault (API.md §8.17).

use crate::material::{expose_value, expose_value_map, expose_value_opt, SecretValue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /v1/vaults/{vault_id}/env-vars`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreateEnvVarRequest {
    /// `[A-Z_][A-Z0-9_]*`, at most 128 characters.
    pub key: String,
    /// The value, sealed by the server before anything is stored.
    #[serde(serialize_with = "expose_value")]
    pub value: SecretValue,
    /// Where it applies; `production`, `preview` and `development` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<String>>,
    /// The branch it overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_branch: Option<String>,
    /// Whether lists leave the value out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<bool>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `PATCH /v1/vaults/{vault_id}/env-vars/{key}`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct UpdateEnvVarRequest {
    /// A new value (a new version).
    #[serde(
        default,
        serialize_with = "expose_value_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<SecretValue>,
    /// A new set of environments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<String>>,
    /// New sensitivity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<bool>,
    /// New comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// 1claw's **EnvVar**.
#[derive(Debug, Serialize, Deserialize)]
pub struct EnvVarResponse {
    /// The variable's id.
    pub id: String,
    /// Its key.
    pub key: String,
    /// The environments it applies to, sorted.
    pub environments: Vec<String>,
    /// The branch it overrides, or null.
    #[serde(default)]
    pub git_branch: Option<String>,
    /// Whether lists leave the value out.
    pub sensitive: bool,
    /// Free text, or null.
    #[serde(default)]
    pub comment: Option<String>,
    /// The value; null for a sensitive variable in a list, and in a write's answer.
    #[serde(default, serialize_with = "expose_value_opt")]
    pub value: Option<SecretValue>,
    /// The value's version, from 1.
    pub version: i64,
    /// Who created it, or null.
    #[serde(default)]
    pub created_by: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// `GET /v1/vaults/{vault_id}/env-vars`.
#[derive(Debug, Serialize, Deserialize)]
pub struct EnvVarListResponse {
    /// The variables the caller may read.
    pub env_vars: Vec<EnvVarResponse>,
}

/// `GET /v1/vaults/{vault_id}/env-vars/resolve`: 1claw's **ResolveEnvVarsResponse**, with the
/// same map also as `variables` (what 1claw's CLI reads).
#[derive(Debug, Serialize, Deserialize)]
pub struct ResolveEnvVarsResponse {
    /// `KEY → value`.
    #[serde(serialize_with = "expose_value_map")]
    pub vars: BTreeMap<String, SecretValue>,
    /// The same map, under the name 1claw's CLI reads.
    #[serde(default, serialize_with = "expose_value_map")]
    pub variables: BTreeMap<String, SecretValue>,
    /// `KEY → "vault" | "branch_override"`.
    pub sources: BTreeMap<String, String>,
    /// The environment resolved.
    pub environment: String,
    /// The branch, or null.
    #[serde(default)]
    pub git_branch: Option<String>,
    /// RFC 3339.
    pub resolved_at: String,
}

/// `POST /v1/vaults/{vault_id}/environments`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateEnvironmentRequest {
    /// `[a-z0-9-]{1,32}`.
    pub slug: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An environment whose variables also apply to the new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_from: Option<String>,
}

/// 1claw's **VaultEnvironment**.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultEnvironmentResponse {
    /// Its id.
    pub id: String,
    /// The slug.
    pub slug: String,
    /// Free text, or null.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether it is one of the three every vault has.
    pub is_builtin: bool,
    /// The environment it was copied from, or null.
    #[serde(default)]
    pub copied_from: Option<String>,
    /// Always false: a copy's variables are the source's own, one value applying to both.
    pub is_detached: bool,
    /// RFC 3339.
    pub created_at: String,
}

/// `GET /v1/vaults/{vault_id}/environments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultEnvironmentListResponse {
    /// The built-ins first, then custom ones by slug.
    pub environments: Vec<VaultEnvironmentResponse>,
}
