//! The REST contract as the MCP tools use it: every tool call is a `/v1` request with the
//! caller's own bearer, over the network (`talon mcp`, standalone HTTP) or through the
//! server's router in-process (`/mcp` inside `talon server`). One implementation, so a tool
//! passes the same gate (sign-in, IP rules, rate limit, quota), the same checks and the same
//! audit as the REST call it makes.

use crate::client::{AgentSession, Failure};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use talon_core::material::SecretValue;
use talon_core::secret_path::SecretPath;
use talon_core::CreatePolicy;

/// A new secret version as the tools receive it.
pub struct PutInput {
    pub value: SecretValue,
    pub secret_type: Option<String>,
    pub metadata: Option<Value>,
    pub expires_at: Option<String>,
    pub max_access_count: Option<i64>,
}

/// The caller of one tool call, as a client of the REST contract.
pub struct Api {
    session: Arc<AgentSession>,
    agent: bool,
}

fn secret_path(path: &str) -> Result<SecretPath, Failure> {
    SecretPath::parse(path).map_err(|e| Failure::new(400, e.to_string()))
}

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
    pub async fn list_secrets(&self, vault: &str, prefix: &str) -> Result<Vec<Value>, Failure> {
        let s = &self.session;
        let v = s
            .call(
                Method::GET,
                &format!("/v1/vaults/{vault}/secrets"),
                &[("prefix", prefix)],
                None,
            )
            .await?;
        Ok(v["secrets"].as_array().cloned().unwrap_or_default())
    }

    /// Reads the latest value (counted and audited as a read).
    pub async fn get_secret(&self, vault: &str, path: &str) -> Result<Value, Failure> {
        let sp = secret_path(path)?;
        let s = &self.session;
        s.call(
            Method::GET,
            &format!("/v1/vaults/{vault}/secrets/{}", sp.as_str()),
            &[],
            None,
        )
        .await
    }

    /// Writes a new version.
    pub async fn put_secret(
        &self,
        vault: &str,
        path: &str,
        input: PutInput,
    ) -> Result<Value, Failure> {
        let sp = secret_path(path)?;
        let s = &self.session;
        let mut body = json!({ "value": input.value.expose_secret() });
        if let Some(t) = &input.secret_type {
            body["type"] = json!(t);
        }
        if let Some(m) = &input.metadata {
            body["metadata"] = m.clone();
        }
        if let Some(e) = &input.expires_at {
            body["expires_at"] = json!(e);
        }
        if let Some(n) = input.max_access_count {
            body["max_access_count"] = json!(n);
        }
        s.call(
            Method::PUT,
            &format!("/v1/vaults/{vault}/secrets/{}", sp.as_str()),
            &[],
            Some(&body),
        )
        .await
    }

    /// Soft-deletes every version at `path`.
    pub async fn delete_secret(&self, vault: &str, path: &str) -> Result<(), Failure> {
        let sp = secret_path(path)?;
        let s = &self.session;
        s.call(
            Method::DELETE,
            &format!("/v1/vaults/{vault}/secrets/{}", sp.as_str()),
            &[],
            None,
        )
        .await
        .map(drop)
    }

    pub async fn create_vault(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<Value, Failure> {
        let s = &self.session;
        let body = json!({ "name": name, "description": description });
        s.call(Method::POST, "/v1/vaults", &[], Some(&body)).await
    }

    pub async fn list_vaults(&self) -> Result<Vec<Value>, Failure> {
        let s = &self.session;
        let v = s.call(Method::GET, "/v1/vaults", &[], None).await?;
        Ok(v["vaults"].as_array().cloned().unwrap_or_default())
    }

    /// Creates a policy on `vault`.
    pub async fn create_policy(&self, vault: &str, input: CreatePolicy) -> Result<Value, Failure> {
        let s = &self.session;
        let body = json!({
            "secret_path_pattern": input.secret_path_pattern,
            "principal_type": input.principal_type,
            "principal_id": input.principal_id,
            "permissions": input.permissions,
        });
        s.call(
            Method::POST,
            &format!("/v1/vaults/{vault}/policies"),
            &[],
            Some(&body),
        )
        .await
    }

    /// Shares a secret by id.
    pub async fn create_share(
        &self,
        secret_id: &str,
        recipient_type: &str,
        recipient_id: Option<&str>,
        email: Option<&str>,
        expires_at: &str,
        max_access_count: i64,
    ) -> Result<Value, Failure> {
        let s = &self.session;
        let body = json!({
            "recipient_type": recipient_type, "recipient_id": recipient_id,
            "email": email, "expires_at": expires_at, "max_access_count": max_access_count,
        });
        s.call(
            Method::POST,
            &format!("/v1/secrets/{secret_id}/share"),
            &[],
            Some(&body),
        )
        .await
    }
}
