//! Where MCP tools send their calls: a Talon server over REST (stdio mode, as the agent), or the
//! core directly (HTTP mode inside `talon server`). Both answer in the REST API's JSON shapes
//! and fail with the same [`Failure`], so the tools are written once.

use crate::client::{AgentSession, Failure};
use crate::problem::Problem;
use crate::rest::{shares::share_view, views};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use talon_core::clock::parse_rfc3339;
use talon_core::material::SecretValue;
use talon_core::secret_path::SecretPath;
use talon_core::service::CreateShare;
use talon_core::{Core, CreatePolicy, Principal, PutSecret, RequestContext};

/// A new secret version as the tools receive it.
pub struct PutInput {
    pub value: SecretValue,
    pub secret_type: Option<String>,
    pub metadata: Option<Value>,
    pub expires_at: Option<String>,
    pub max_access_count: Option<i64>,
}

/// The target of one tool call.
pub enum Backend {
    Rest(Arc<AgentSession>),
    Core {
        core: Core,
        principal: Principal,
        ctx: RequestContext,
    },
}

fn failure(e: talon_core::Error) -> Failure {
    let p = Problem::from(e);
    Failure {
        status: p.status.as_u16(),
        kind: p.kind.to_owned(),
        detail: p.detail,
        retry_after: p.extra.get("retry_after").and_then(Value::as_u64),
        request_id: None,
    }
}

fn time(field: &'static str, v: &Option<String>) -> Result<Option<i64>, Failure> {
    v.as_deref()
        .map(|s| {
            parse_rfc3339(s)
                .ok_or_else(|| Failure::new(400, format!("{field} must be an RFC 3339 time")))
        })
        .transpose()
}

fn secret_path(path: &str) -> Result<SecretPath, Failure> {
    SecretPath::parse(path).map_err(failure)
}

impl Backend {
    /// Whether the caller is an agent (used for wording only).
    pub fn is_agent(&self) -> bool {
        match self {
            Backend::Rest(_) => true,
            Backend::Core { principal, .. } => matches!(principal, Principal::Agent { .. }),
        }
    }

    /// Latest-version metadata of the readable live secrets under `prefix`, sorted by path.
    pub async fn list_secrets(&self, vault: &str, prefix: &str) -> Result<Vec<Value>, Failure> {
        match self {
            Backend::Rest(s) => {
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
            Backend::Core {
                core,
                principal,
                ctx,
            } => {
                let rows = core
                    .list_secrets(principal, vault, prefix, ctx)
                    .await
                    .map_err(failure)?;
                Ok(rows.iter().map(views::secret_metadata).collect())
            }
        }
    }

    /// Reads the latest value (counted and audited as a read).
    pub async fn get_secret(&self, vault: &str, path: &str) -> Result<Value, Failure> {
        let sp = secret_path(path)?;
        match self {
            Backend::Rest(s) => {
                s.call(
                    Method::GET,
                    &format!("/v1/vaults/{vault}/secrets/{}", sp.as_str()),
                    &[],
                    None,
                )
                .await
            }
            Backend::Core {
                core,
                principal,
                ctx,
            } => {
                let read = core
                    .get_secret(principal, vault, &sp, ctx)
                    .await
                    .map_err(failure)?;
                let mut body = views::secret_metadata(&read.meta);
                body["value"] = Value::String(read.value.expose_secret().to_owned());
                Ok(body)
            }
        }
    }

    /// Writes a new version.
    pub async fn put_secret(
        &self,
        vault: &str,
        path: &str,
        input: PutInput,
    ) -> Result<Value, Failure> {
        let sp = secret_path(path)?;
        match self {
            Backend::Rest(s) => {
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
            Backend::Core {
                core,
                principal,
                ctx,
            } => {
                let expires_at = time("expires_at", &input.expires_at)?;
                let row = core
                    .put_secret(
                        principal,
                        vault,
                        &sp,
                        PutSecret {
                            value: input.value,
                            secret_type: input.secret_type,
                            metadata: input.metadata,
                            expires_at,
                            max_access_count: input.max_access_count,
                        },
                        ctx,
                    )
                    .await
                    .map_err(failure)?;
                Ok(views::secret_created(&row))
            }
        }
    }

    /// Soft-deletes every version at `path`.
    pub async fn delete_secret(&self, vault: &str, path: &str) -> Result<(), Failure> {
        let sp = secret_path(path)?;
        match self {
            Backend::Rest(s) => s
                .call(
                    Method::DELETE,
                    &format!("/v1/vaults/{vault}/secrets/{}", sp.as_str()),
                    &[],
                    None,
                )
                .await
                .map(drop),
            Backend::Core {
                core,
                principal,
                ctx,
            } => core
                .delete_secret(principal, vault, &sp, ctx)
                .await
                .map_err(failure),
        }
    }

    pub async fn create_vault(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<Value, Failure> {
        match self {
            Backend::Rest(s) => {
                let body = json!({ "name": name, "description": description });
                s.call(Method::POST, "/v1/vaults", &[], Some(&body)).await
            }
            Backend::Core {
                core,
                principal,
                ctx,
            } => core
                .create_vault(principal, name, description, ctx)
                .await
                .map(|v| views::vault(&v))
                .map_err(failure),
        }
    }

    pub async fn list_vaults(&self) -> Result<Vec<Value>, Failure> {
        match self {
            Backend::Rest(s) => {
                let v = s.call(Method::GET, "/v1/vaults", &[], None).await?;
                Ok(v["vaults"].as_array().cloned().unwrap_or_default())
            }
            Backend::Core {
                core, principal, ..
            } => core
                .list_vaults(principal)
                .await
                .map(|vs| vs.iter().map(views::vault).collect())
                .map_err(failure),
        }
    }

    /// Creates a policy on `vault`.
    pub async fn create_policy(&self, vault: &str, input: CreatePolicy) -> Result<Value, Failure> {
        match self {
            Backend::Rest(s) => {
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
            Backend::Core {
                core,
                principal,
                ctx,
            } => core
                .create_policy(principal, vault, input, ctx)
                .await
                .map(|p| views::policy(&p))
                .map_err(failure),
        }
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
        match self {
            Backend::Rest(s) => {
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
            Backend::Core {
                core,
                principal,
                ctx,
            } => {
                let expires_at = time("expires_at", &Some(expires_at.to_owned()))?.unwrap_or(0);
                let row = core
                    .create_share(
                        principal,
                        secret_id,
                        CreateShare {
                            recipient_type: recipient_type.to_owned(),
                            recipient_id: recipient_id.map(str::to_owned),
                            email: email.map(str::to_owned),
                            expires_at,
                            max_access_count: Some(max_access_count),
                            passphrase: None,
                            ip_allowlist: Vec::new(),
                        },
                        ctx,
                    )
                    .await
                    .map_err(failure)?;
                Ok(share_view(&row, &core.config().public_url))
            }
        }
    }
}
