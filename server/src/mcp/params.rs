//! The tools' argument types: their JSON schemas are what `tools/list` announces.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize, JsonSchema)]
pub struct ListSecretsParams {
    /// Only paths starting with this prefix.
    #[serde(default)]
    pub prefix: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct ResolveEnvParams {
    /// Target environment (production, preview, development, or custom). Omit to use the
    /// agent's tagged environment.
    #[serde(default)]
    pub environment: Option<String>,
    /// Optional git branch whose overrides apply.
    #[serde(default)]
    pub git_branch: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct PathParams {
    /// Secret path, e.g. `api-keys/openai`.
    pub path: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct PutSecretParams {
    /// Secret path, e.g. `api-keys/openai`.
    pub path: String,
    /// The secret value.
    pub value: String,
    /// api_key, password, private_key, certificate, file, note, ssh_key, env_bundle or generic.
    #[serde(default, rename = "type")]
    pub secret_type: Option<String>,
    /// Free-form JSON metadata.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// RFC 3339 expiry time.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Reads allowed before the secret is gone.
    #[serde(default)]
    pub max_access_count: Option<i64>,
}

#[derive(Deserialize, JsonSchema)]
pub struct RotateParams {
    pub path: String,
    /// The new value.
    pub value: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct CreateVaultParams {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct NoParams {}

#[derive(Deserialize, JsonSchema)]
pub struct InspectParams {
    /// Text to inspect.
    pub content: String,
    /// `output` (default: text you received) or `input` (text you are about to send; also
    /// checks for values read earlier in this session).
    #[serde(default)]
    pub context: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct GrantParams {
    pub vault_id: String,
    /// `user` or `agent`.
    pub principal_type: String,
    pub principal_id: String,
    /// Any of read, write, delete; default read.
    #[serde(default)]
    pub permissions: Option<Vec<String>>,
    /// Glob over secret paths; default `**`.
    #[serde(default)]
    pub secret_path_pattern: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct ShareParams {
    pub secret_id: String,
    /// creator, user, agent or anyone_with_link.
    pub recipient_type: String,
    /// Required for user and agent recipients.
    #[serde(default)]
    pub recipient_id: Option<String>,
    /// RFC 3339 expiry of the share.
    pub expires_at: String,
    /// Reads allowed through the share; default 5.
    #[serde(default)]
    pub max_access_count: Option<i64>,
    /// Email recipient (external_email share; human sessions only).
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct ExecuteHttpParams {
    /// The binding's name (see list_bindings) or id.
    pub binding: String,
    /// HTTP method, e.g. GET or POST (default GET; POST for a graphql binding).
    #[serde(default)]
    pub method: Option<String>,
    /// Path under the binding's base URL, starting with `/`.
    #[serde(default)]
    pub path: Option<String>,
    /// Query parameters.
    #[serde(default)]
    pub query: Option<Value>,
    /// Extra request headers (Authorization is always set by Talon).
    #[serde(default)]
    pub headers: Option<Value>,
    /// Request body: a string, or JSON sent as `application/json`.
    #[serde(default)]
    pub body: Option<Value>,
}

#[derive(Deserialize, JsonSchema)]
pub struct RequestApprovalParams {
    /// What you want to do, e.g. `policy_change` or `deploy`.
    pub action: String,
    /// The kind of thing it acts on, e.g. `vault`.
    pub target_type: String,
    /// The thing it acts on, e.g. a vault id.
    pub target_id: String,
    /// A JSON object describing exactly what you will do, shown to the approvers.
    pub summary: Value,
    /// Why you need it.
    #[serde(default)]
    pub reason: Option<String>,
    /// 1 (low) to 3 (high); from 2 the approver confirms with a password. Default 2.
    #[serde(default)]
    pub risk_tier: Option<i64>,
}

#[derive(Deserialize, JsonSchema)]
pub struct ApprovalIdParams {
    /// The approval's id (from an approval_required error or request_approval).
    pub approval_id: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct ListApprovalsParams {
    /// pending, approved, rejected or expired; all when omitted.
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct RequestSecretParams {
    /// What the credential is, e.g. "Stripe test API key".
    pub label: String,
    /// Why you need it.
    pub purpose: String,
    /// Where you suggest storing it, e.g. `api-keys/stripe`.
    #[serde(default)]
    pub suggested_path: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct SecretRequestIdParams {
    /// The request's id (from request_secret).
    pub request_id: String,
}
