//! The REST contract as the MCP tools use it: every tool call is a `/v1` request with the
//! caller's own bearer, over the network (`talon mcp`, standalone HTTP) or through the
//! server's router in-process (`/mcp` inside `talon server`). One implementation, so a tool
//! passes the same gate (sign-in, IP rules, rate limit, quota), the same checks and the same
//! audit as the REST call it makes. Answers are decoded into the contract's own types
//! ([`talon_api`]).

use crate::client::{AgentSession, Failure};
use reqwest::Method;
use std::sync::Arc;
use talon_api::env_vars::ResolveEnvVarsResponse;
use talon_api::policies::{CreatePolicyRequest, PolicyResponse};
use talon_api::secrets::{
    PutSecretRequest, SecretDetailsListResponse, SecretDetailsResponse, SecretListResponse,
    SecretMetadataResponse, SecretResponse, SecretVersionResponse,
};
use talon_api::shares::{CreateShareRequest, ShareResponse};
use talon_api::vaults::{CreateVaultRequest, VaultListResponse, VaultResponse};
use talon_core::secret_path::SecretPath;

/// The caller of one tool call, as a client of the REST contract.
pub struct Api {
    session: Arc<AgentSession>,
    agent: bool,
}

fn secret_path(path: &str) -> Result<SecretPath, Failure> {
    SecretPath::parse(path).map_err(|e| Failure::new(400, e.to_string()))
}

/// No request body.
const NO_BODY: Option<&()> = None;

impl Api {
    /// Calls made through `session`; `agent` says whether the caller is an agent (wording).
    pub fn new(session: Arc<AgentSession>, agent: bool) -> Api {
        Api { session, agent }
    }

    /// Whether the caller is an agent (used for wording only).
    pub fn is_agent(&self) -> bool {
        self.agent
    }

    /// Latest-version metadata of the readable live secrets under `prefix`, sorted by path.
    pub async fn list_secrets(
        &self,
        vault: &str,
        prefix: &str,
    ) -> Result<Vec<SecretMetadataResponse>, Failure> {
        let list: SecretListResponse = self
            .session
            .fetch(
                Method::GET,
                &format!("/v1/vaults/{vault}/secrets"),
                &[("prefix", prefix)],
                NO_BODY,
            )
            .await?;
        Ok(list.secrets)
    }

    /// Like [`Api::list_secrets`], with the vault, read limit and counters (Talon's
    /// `secret-details`, which 1claw's **SecretMetadataResponse** leaves out).
    pub async fn secret_details(
        &self,
        vault: &str,
        prefix: &str,
    ) -> Result<Vec<SecretDetailsResponse>, Failure> {
        let list: SecretDetailsListResponse = self
            .session
            .fetch(
                Method::GET,
                &format!("/v1/vaults/{vault}/secret-details"),
                &[("prefix", prefix)],
                NO_BODY,
            )
            .await?;
        Ok(list.secrets)
    }

    /// Reads the latest value (counted and audited as a read).
    pub async fn get_secret(&self, vault: &str, path: &str) -> Result<SecretResponse, Failure> {
        let sp = secret_path(path)?;
        self.session
            .fetch(
                Method::GET,
                &format!("/v1/vaults/{vault}/secrets/{}", sp.as_str()),
                &[],
                NO_BODY,
            )
            .await
    }

    /// The environment's resolved variables (the agent's tagged environment when `None`).
    pub async fn resolve_env(
        &self,
        vault: &str,
        environment: Option<&str>,
        git_branch: Option<&str>,
    ) -> Result<ResolveEnvVarsResponse, Failure> {
        let mut query = Vec::new();
        if let Some(e) = environment {
            query.push(("environment", e));
        }
        if let Some(b) = git_branch {
            query.push(("git_branch", b));
        }
        self.session
            .fetch(
                Method::GET,
                &format!("/v1/vaults/{vault}/env-vars/resolve"),
                &query,
                NO_BODY,
            )
            .await
    }

    /// Writes a new version.
    pub async fn put_secret(
        &self,
        vault: &str,
        path: &str,
        input: &PutSecretRequest,
    ) -> Result<SecretVersionResponse, Failure> {
        let sp = secret_path(path)?;
        self.session
            .fetch(
                Method::PUT,
                &format!("/v1/vaults/{vault}/secrets/{}", sp.as_str()),
                &[],
                Some(input),
            )
            .await
    }

    /// Soft-deletes every version at `path`.
    pub async fn delete_secret(&self, vault: &str, path: &str) -> Result<(), Failure> {
        let sp = secret_path(path)?;
        self.session
            .call(
                Method::DELETE,
                &format!("/v1/vaults/{vault}/secrets/{}", sp.as_str()),
                &[],
                None,
            )
            .await
            .map(drop)
    }

    /// Creates a vault administered by the caller.
    pub async fn create_vault(&self, input: &CreateVaultRequest) -> Result<VaultResponse, Failure> {
        self.session
            .fetch(Method::POST, "/v1/vaults", &[], Some(input))
            .await
    }

    /// The vaults the caller can see.
    pub async fn list_vaults(&self) -> Result<Vec<VaultResponse>, Failure> {
        let list: VaultListResponse = self
            .session
            .fetch(Method::GET, "/v1/vaults", &[], NO_BODY)
            .await?;
        Ok(list.vaults)
    }

    /// Creates a policy on `vault`.
    pub async fn create_policy(
        &self,
        vault: &str,
        input: &CreatePolicyRequest,
    ) -> Result<PolicyResponse, Failure> {
        self.session
            .fetch(
                Method::POST,
                &format!("/v1/vaults/{vault}/policies"),
                &[],
                Some(input),
            )
            .await
    }

    /// The calling agent's id (`GET /v1/agents/me`).
    pub async fn agent_id(&self) -> Result<String, Failure> {
        let me: talon_api::agents::AgentSelfResponse = self
            .session
            .fetch(Method::GET, "/v1/agents/me", &[], NO_BODY)
            .await?;
        Ok(me.id)
    }

    /// The calling agent's bindings (never their credentials).
    pub async fn list_bindings(&self) -> Result<serde_json::Value, Failure> {
        let id = self.agent_id().await?;
        self.session
            .fetch(
                Method::GET,
                &format!("/v1/agents/{id}/bindings"),
                &[],
                NO_BODY,
            )
            .await
    }

    /// Has Talon make an HTTP request through one of the calling agent's bindings, with the
    /// binding's credential injected server-side (**ExecuteResponse**).
    pub async fn execute(&self, input: &serde_json::Value) -> Result<serde_json::Value, Failure> {
        let id = self.agent_id().await?;
        self.session
            .fetch(
                Method::POST,
                &format!("/v1/agents/{id}/execute"),
                &[],
                Some(input),
            )
            .await
    }

    /// Shares a secret by id.
    pub async fn create_share(
        &self,
        secret_id: &str,
        input: &CreateShareRequest,
    ) -> Result<ShareResponse, Failure> {
        self.session
            .fetch(
                Method::POST,
                &format!("/v1/secrets/{secret_id}/share"),
                &[],
                Some(input),
            )
            .await
    }

    /// Asks the caller's people to approve an action it declares (`POST /v1/approvals/request`).
    pub async fn request_approval(
        &self,
        input: &serde_json::Value,
    ) -> Result<serde_json::Value, Failure> {
        self.session
            .fetch(Method::POST, "/v1/approvals/request", &[], Some(input))
            .await
    }

    /// An approval's state, for polling.
    pub async fn approval_status(&self, id: &str) -> Result<serde_json::Value, Failure> {
        self.session
            .fetch(
                Method::GET,
                &format!("/v1/approvals/{}/status", path_segment(id)),
                &[],
                NO_BODY,
            )
            .await
    }

    /// The approvals the caller may see, pending first.
    pub async fn list_approvals(&self, status: Option<&str>) -> Result<serde_json::Value, Failure> {
        let query: Vec<(&str, &str)> = status.map(|s| vec![("status", s)]).unwrap_or_default();
        self.session
            .fetch(Method::GET, "/v1/approvals", &query, NO_BODY)
            .await
    }

    /// Cancels one of the caller's pending approvals.
    pub async fn cancel_approval(&self, id: &str) -> Result<serde_json::Value, Failure> {
        self.session
            .fetch(
                Method::POST,
                &format!("/v1/approvals/{}/cancel", path_segment(id)),
                &[],
                Some(&serde_json::json!({})),
            )
            .await
    }

    /// Asks the caller's people for a credential (`POST /v1/secret-requests`).
    pub async fn request_secret(
        &self,
        input: &serde_json::Value,
    ) -> Result<serde_json::Value, Failure> {
        self.session
            .fetch(Method::POST, "/v1/secret-requests", &[], Some(input))
            .await
    }

    /// A secret request's state: never a value.
    pub async fn secret_request(&self, id: &str) -> Result<serde_json::Value, Failure> {
        self.session
            .fetch(
                Method::GET,
                &format!("/v1/secret-requests/{}", path_segment(id)),
                &[],
                NO_BODY,
            )
            .await
    }
}

/// An id as one path segment: anything but a plain id is refused by the server as a 400, so
/// only characters that cannot change the path pass through.
fn path_segment(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}
