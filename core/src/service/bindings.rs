//! Bindings and brokered execution: an agent asks Talon to make an HTTP request to one of its
//! bindings' upstreams; Talon checks the binding, its guardrails and (for a `vault_ref`
//! credential) the agent's `use` permission, injects the credential, makes the request to the
//! checked address only, and hands back the answer with every form of the credential
//! redacted. The agent never receives the credential. Owners and admins manage bindings; an
//! agent may list its own.

use super::audit::AuditEvent;
use super::secrets::Reader;
use super::{Core, Principal, RequestContext};
use crate::binding_config::{
    self as cfg, check_path, credential_forms, credential_text, is_dropped_header,
    is_dropped_response_header, join_url, redact, render, AuthPlacement, Guardrails, HttpConfig,
};
use crate::envelope::{self, Binding as EnvelopeBinding};
use crate::error::{Error, Result};
use crate::material::SecretValue;
use crate::model::{Binding, CredentialSource, Execution};
use crate::policy::Permission;
use crate::secret_path::SecretPath;
use crate::store::bindings::{self as store, BindingRow};
use crate::store::{agents, rate_limits, secrets as secret_store, vaults};
use crate::webhook_target::{resolve_checked, Unreachable};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};
use talon_api::Scope;

/// KEK that wraps every inline binding credential's DEK.
pub(crate) const BINDING_KEK: &str = "talon-kek:binding:1";
const MAX_NAME: usize = 100;
const EXECUTIONS_LISTED: i64 = 50;
const MAX_EXECUTIONS_LISTED: i64 = 200;
const MAX_TEST_TIMEOUT_MS: u64 = 30_000;

/// What bindings may reach; loaded by the server.
#[derive(Debug, Clone, Copy, Default)]
pub struct BindingSettings {
    /// Upstreams on private, loopback and link-local addresses, and plain http to loopback
    /// (`TALON_ALLOW_PRIVATE_EGRESS`).
    pub allow_private: bool,
}

/// Where a new or replaced credential comes from.
#[derive(Debug)]
pub enum CredentialInput {
    /// A value stored sealed with the binding.
    Inline(SecretValue),
    /// A live pointer to a vault secret.
    VaultRef {
        /// The vault.
        vault_id: String,
        /// The secret's path.
        path: String,
    },
}

/// Input of `POST /v1/agents/{agent_id}/bindings`.
#[derive(Debug)]
pub struct CreateBinding {
    /// Unique per agent.
    pub name: String,
    /// `http` or `graphql`.
    pub binding_type: String,
    /// See [`crate::binding_config::parse_config`].
    pub config: Value,
    /// See [`crate::binding_config::parse_guardrails`]; absent: the defaults.
    pub guardrails: Option<Value>,
    /// The credential, if set now.
    pub credential: Option<CredentialInput>,
}

/// Input of `PATCH …/bindings/{binding_id}`; absent fields stay as they are.
#[derive(Debug, Default)]
pub struct PatchBinding {
    /// New configuration (whole).
    pub config: Option<Value>,
    /// New guardrails (whole).
    pub guardrails: Option<Value>,
    /// Switch executions on or off.
    pub is_active: Option<bool>,
    /// New credential.
    pub credential: Option<CredentialInput>,
}

/// Input of `POST /v1/agents/{agent_id}/execute`.
#[derive(Debug)]
pub struct ExecuteIntent {
    /// The binding's name or id.
    pub binding: String,
    /// `http` (or `http_request`); `graphql` (or `graphql_query`) for a graphql binding.
    pub intent_type: String,
    /// `vault` (the default); `tee` is not available here.
    pub execution_mode: Option<String>,
    /// `method`, `path`, `query`, `headers`, `body` (graphql: `query`, `variables`).
    pub params: Value,
}

/// The answer of an execution (**ExecuteResponse**).
#[derive(Debug, Clone)]
pub struct Executed {
    /// The recorded execution.
    pub execution: Execution,
    /// `{status, headers, body}` when the upstream answered.
    pub result: Option<Value>,
}

/// The answer of a connectivity test (**TestBindingResponse**).
#[derive(Debug, Clone)]
pub struct BindingTest {
    /// Whether the upstream answered over HTTP.
    pub success: bool,
    /// How long until it answered (or failed), milliseconds.
    pub latency_ms: i64,
    /// Why it failed.
    pub error: Option<String>,
}

fn require_admin(p: &Principal) -> Result<()> {
    let (_, role) = p.require_human()?;
    if !role.is_org_admin() {
        return Err(Error::Forbidden(
            "Only org owners and admins can manage bindings".into(),
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty()
        || n.chars().count() > MAX_NAME
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::invalid(
            "name",
            format!("name must be 1 to {MAX_NAME} letters, digits, '-', '_' or '.'"),
        ));
    }
    Ok(n.to_owned())
}

fn check_type(t: &str) -> Result<String> {
    match t {
        "http" | "graphql" => Ok(t.to_owned()),
        "postgres" | "mysql" | "redis" | "grpc" | "smtp" | "cloud_sdk" | "s3" | "custom" => {
            Err(Error::invalid(
                "binding_type",
                format!(
                    "binding_type {t} is not supported by this server (supported: http, graphql)"
                ),
            ))
        }
        _ => Err(Error::invalid(
            "binding_type",
            "binding_type must be http or graphql",
        )),
    }
}

fn envelope_binding<'a>(org_id: &'a str, binding_id: &'a str, version: i64) -> EnvelopeBinding<'a> {
    EnvelopeBinding {
        org_id,
        vault_id: "binding",
        secret_id: binding_id,
        path: "credential",
        version,
    }
}

/// What one execution asked, as far as it was understood.
struct Asked {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    json_body: bool,
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn pairs(v: Option<&Value>, key: &'static str) -> Result<Vec<(String, String)>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                scalar_text(v).map(|t| (k.clone(), t)).ok_or_else(|| {
                    Error::invalid("params", format!("params.{key}.{k} must be a string"))
                })
            })
            .collect(),
        Some(_) => Err(Error::invalid(
            "params",
            format!("params.{key} must be an object"),
        )),
    }
}

fn parse_params(binding_type: &str, params: &Value) -> Result<Asked> {
    let m = params
        .as_object()
        .ok_or_else(|| Error::invalid("params", "params must be an object"))?;
    let graphql = binding_type == "graphql";
    let method = match m.get("method") {
        None | Some(Value::Null) => if graphql { "POST" } else { "GET" }.to_owned(),
        Some(Value::String(s)) => s.to_ascii_uppercase(),
        Some(_) => return Err(Error::invalid("params", "params.method must be a string")),
    };
    let path = match m.get("path") {
        None | Some(Value::Null) => "/".to_owned(),
        Some(Value::String(s)) => check_path(s)?.to_owned(),
        Some(_) => return Err(Error::invalid("params", "params.path must be a string")),
    };
    // A graphql binding's string `query` is the document, not URL parameters.
    let graphql_document = graphql && m.get("query").is_some_and(Value::is_string);
    let query = if graphql_document {
        Vec::new()
    } else {
        pairs(m.get("query"), "query")?
    };
    let headers = pairs(m.get("headers"), "headers")?;
    for (k, v) in &headers {
        if v.chars().any(|c| c != '\t' && c.is_control()) || k.is_empty() {
            return Err(Error::invalid(
                "params",
                format!("params.headers.{k} must not contain control characters"),
            ));
        }
    }
    let (body, json_body) = if graphql_document && !m.contains_key("body") {
        let q = m.get("query").and_then(Value::as_str).ok_or_else(|| {
            Error::invalid("params", "params.query must be the GraphQL query text")
        })?;
        let doc =
            json!({"query": q, "variables": m.get("variables").cloned().unwrap_or(json!({}))});
        (doc.to_string().into_bytes(), true)
    } else {
        match m.get("body") {
            None | Some(Value::Null) => (Vec::new(), false),
            Some(Value::String(s)) => (s.clone().into_bytes(), graphql),
            Some(v) => (v.to_string().into_bytes(), true),
        }
    };
    Ok(Asked {
        method,
        path,
        query,
        headers,
        body,
        json_body,
    })
}

/// How an execution that reached the sending stage ended.
struct Sent {
    status: &'static str,
    http_status: Option<i64>,
    response_bytes: i64,
    redactions: i64,
    result: Option<Value>,
    error: Option<String>,
}

impl Sent {
    fn failed(why: impl Into<String>) -> Sent {
        Sent {
            status: "error",
            http_status: None,
            response_bytes: 0,
            redactions: 0,
            result: None,
            error: Some(why.into()),
        }
    }
}

impl Core {
    fn binding_settings(&self) -> BindingSettings {
        self.config().bindings
    }

    /// The agent `agent_id` of the caller's org; 404 when there is none.
    async fn binding_agent(&self, p: &Principal, agent_id: &str) -> Result<crate::model::Agent> {
        agents::get(self.store().pool(), p.org_id(), agent_id)
            .await?
            .ok_or(Error::NotFound("Agent"))
    }

    /// Who may see an agent's bindings: the agent itself, or a human of its org.
    async fn may_view_bindings(&self, p: &Principal, agent_id: &str) -> Result<()> {
        match p {
            Principal::Agent { agent_id: me, .. } if me == agent_id => Ok(()),
            Principal::Agent { .. } => Err(Error::Forbidden(
                "An agent can only see its own bindings".into(),
            )),
            Principal::User { .. } => {
                p.require_scope(Scope::AgentsRead)?;
                self.binding_agent(p, agent_id).await.map(drop)
            }
        }
    }

    /// The agent's bindings, oldest first.
    pub async fn list_bindings(&self, p: &Principal, agent_id: &str) -> Result<Vec<Binding>> {
        self.may_view_bindings(p, agent_id).await?;
        store::list(self.store().pool(), p.org_id(), agent_id).await
    }

    /// One of the agent's bindings, by id.
    pub async fn get_binding(&self, p: &Principal, agent_id: &str, id: &str) -> Result<Binding> {
        self.may_view_bindings(p, agent_id).await?;
        Ok(self.binding_row(p, agent_id, id).await?.binding)
    }

    async fn binding_row(&self, p: &Principal, agent_id: &str, id: &str) -> Result<BindingRow> {
        store::find(self.store().pool(), p.org_id(), agent_id, id)
            .await?
            .filter(|r| r.binding.id == id)
            .ok_or(Error::NotFound("Binding"))
    }

    /// A binding an owner or admin is about to change: the agent and the binding must both be
    /// the org's.
    async fn managed_binding(&self, p: &Principal, agent_id: &str, id: &str) -> Result<BindingRow> {
        require_admin(p)?;
        p.require_scope(Scope::AgentsWrite)?;
        self.binding_agent(p, agent_id).await?;
        self.binding_row(p, agent_id, id).await
    }

    /// Puts a new credential on `row` (sealed under a new credential version when inline).
    async fn replace_credential(
        &self,
        p: &Principal,
        row: &mut BindingRow,
        input: CredentialInput,
    ) -> Result<()> {
        let version = row.credential_version + 1;
        let (source, sealed) = self
            .credential_parts(p, &row.binding.id, version, input)
            .await?;
        row.binding.credential = source;
        row.sealed = sealed;
        row.credential_version = version;
        Ok(())
    }

    /// Checks a configuration and its destination (resolved now, and again at each
    /// execution); returns its normal form.
    async fn checked_config(&self, config: &Value) -> Result<Value> {
        let allow_private = self.binding_settings().allow_private;
        let (parsed, normal) = cfg::parse_config(config, allow_private)?;
        resolve_checked(&parsed.host, parsed.port, allow_private)
            .await
            .map_err(|u| Error::invalid("config", unreachable_sentence(u)))?;
        Ok(normal)
    }

    /// Checks a credential input and turns it into the stored source and sealed value.
    async fn credential_parts(
        &self,
        p: &Principal,
        binding_id: &str,
        version: i64,
        input: CredentialInput,
    ) -> Result<(CredentialSource, Option<(crate::envelope::Sealed, String)>)> {
        match input {
            CredentialInput::VaultRef { vault_id, path } => {
                let path = SecretPath::parse(&path).map_err(|_| {
                    Error::invalid(
                        "credential_source",
                        "credential_source.path is not a valid secret path",
                    )
                })?;
                vaults::get(self.store().pool(), p.org_id(), &vault_id)
                    .await?
                    .ok_or_else(|| {
                        Error::invalid(
                            "credential_source",
                            "credential_source.vault_id names no vault of this organization",
                        )
                    })?;
                Ok((
                    CredentialSource::VaultRef {
                        vault_id,
                        path: path.as_str().to_owned(),
                    },
                    None,
                ))
            }
            CredentialInput::Inline(value) => {
                let (org, id) = (p.org_id().to_owned(), binding_id.to_owned());
                let sealed = self
                    .keys(move |k| {
                        envelope::seal(
                            k,
                            BINDING_KEK,
                            &envelope_binding(&org, &id, version),
                            &value,
                        )
                    })
                    .await?
                    .map_err(|_| Error::Internal("binding credential sealing failed".into()))?;
                Ok((
                    CredentialSource::Inline,
                    Some((sealed, BINDING_KEK.to_owned())),
                ))
            }
        }
    }

    fn audit_binding(p: &Principal, action: &'static str, b: &Binding, extra: Value) -> AuditEvent {
        let mut details = json!({
            "agent_id": b.agent_id, "name": b.name, "binding_type": b.binding_type,
            "host": b.config.get("base_url").and_then(Value::as_str)
                .and_then(|u| reqwest::Url::parse(u).ok())
                .and_then(|u| u.host_str().map(str::to_owned)),
            "credential_source": b.credential.type_name(),
        });
        if let (Some(d), Value::Object(x)) = (details.as_object_mut(), extra) {
            d.extend(x);
        }
        AuditEvent::by(p, action, "binding", Some(b.id.clone()), details)
    }

    /// Creates a binding for an agent of the org (owners and admins; audited as
    /// `binding.create` in the same transaction). 409 when the agent has one of that name.
    pub async fn create_binding(
        &self,
        p: &Principal,
        agent_id: &str,
        input: CreateBinding,
        ctx: &RequestContext,
    ) -> Result<Binding> {
        require_admin(p)?;
        p.require_scope(Scope::AgentsWrite)?;
        let agent = self.binding_agent(p, agent_id).await?;
        let name = check_name(&input.name)?;
        let binding_type = check_type(&input.binding_type)?;
        let config = self.checked_config(&input.config).await?;
        let (_, guardrails) = cfg::parse_guardrails(input.guardrails.as_ref())?;
        let id = uuid::Uuid::new_v4().to_string();
        let (credential, sealed) = match input.credential {
            Some(c) => self.credential_parts(p, &id, 1, c).await?,
            None => (CredentialSource::None, None),
        };
        let now = self.now();
        let row = BindingRow {
            binding: Binding {
                id,
                org_id: p.org_id().to_owned(),
                agent_id: agent.id,
                name,
                binding_type,
                config,
                guardrails,
                is_active: true,
                credential,
                created_by: p.subject(),
                created_at: now,
                updated_at: now,
            },
            sealed,
            credential_version: 1,
        };
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            Self::audit_binding(p, "binding.create", &row.binding, json!({})),
        )
        .await?;
        if !store::insert(&mut tx, &row).await? {
            return Err(Error::Conflict(format!(
                "The agent already has a binding named {}",
                row.binding.name
            )));
        }
        tx.commit().await?;
        Ok(row.binding)
    }

    async fn save_binding(
        &self,
        p: &Principal,
        row: &BindingRow,
        action: &'static str,
        extra: Value,
        ctx: &RequestContext,
    ) -> Result<()> {
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            Self::audit_binding(p, action, &row.binding, extra),
        )
        .await?;
        if !store::update(&mut tx, row).await? {
            return Err(Error::NotFound("Binding"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Changes a binding's configuration, guardrails, active flag or credential (owners and
    /// admins; audited as `binding.update`). Deactivation stops executions at once.
    pub async fn update_binding(
        &self,
        p: &Principal,
        agent_id: &str,
        id: &str,
        patch: PatchBinding,
        ctx: &RequestContext,
    ) -> Result<Binding> {
        let mut row = self.managed_binding(p, agent_id, id).await?;
        let mut fields: Vec<&str> = Vec::new();
        if let Some(c) = patch.config {
            row.binding.config = self.checked_config(&c).await?;
            fields.push("config");
        }
        if let Some(g) = patch.guardrails {
            row.binding.guardrails = cfg::parse_guardrails(Some(&g))?.1;
            fields.push("guardrails");
        }
        if let Some(a) = patch.is_active {
            row.binding.is_active = a;
            fields.push("is_active");
        }
        if let Some(c) = patch.credential {
            self.replace_credential(p, &mut row, c).await?;
            fields.push("credential");
        }
        row.binding.updated_at = self.now();
        self.save_binding(
            p,
            &row,
            "binding.update",
            json!({"fields": fields, "is_active": row.binding.is_active}),
            ctx,
        )
        .await?;
        Ok(row.binding)
    }

    /// Replaces a binding's credential with an inline value, leaving its configuration and
    /// guardrails (owners and admins; audited as `binding.rotate_credential`, never the value).
    pub async fn rotate_binding_credential(
        &self,
        p: &Principal,
        agent_id: &str,
        id: &str,
        value: SecretValue,
        ctx: &RequestContext,
    ) -> Result<Binding> {
        let mut row = self.managed_binding(p, agent_id, id).await?;
        self.replace_credential(p, &mut row, CredentialInput::Inline(value))
            .await?;
        row.binding.updated_at = self.now();
        self.save_binding(p, &row, "binding.rotate_credential", json!({}), ctx)
            .await?;
        Ok(row.binding)
    }

    /// Deletes a binding (owners and admins; audited as `binding.delete`). Executions through
    /// it stop at once; its past executions stay listed.
    pub async fn delete_binding(
        &self,
        p: &Principal,
        agent_id: &str,
        id: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let row = self.managed_binding(p, agent_id, id).await?;
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            Self::audit_binding(p, "binding.delete", &row.binding, json!({})),
        )
        .await?;
        if !store::delete(&mut tx, p.org_id(), agent_id, id).await? {
            return Err(Error::NotFound("Binding"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// The agent's most recent executions, newest first: `limit` (1 to 200, default 50) after
    /// skipping `offset`.
    pub async fn list_executions(
        &self,
        p: &Principal,
        agent_id: &str,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<Vec<Execution>> {
        self.may_view_bindings(p, agent_id).await?;
        let limit = limit.unwrap_or(EXECUTIONS_LISTED);
        if !(1..=MAX_EXECUTIONS_LISTED).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("limit must be 1 to {MAX_EXECUTIONS_LISTED}"),
            ));
        }
        let offset = offset.unwrap_or(0);
        if offset < 0 {
            return Err(Error::invalid("offset", "offset must not be negative"));
        }
        store::executions(self.store().pool(), p.org_id(), agent_id, limit, offset).await
    }

    /// Checks that the binding's upstream answers over HTTP: one `GET` of its base URL to the
    /// checked address, without the credential (owners and admins; audited as `binding.test`).
    pub async fn test_binding(
        &self,
        p: &Principal,
        agent_id: &str,
        id: &str,
        timeout_ms: Option<u64>,
        ctx: &RequestContext,
    ) -> Result<BindingTest> {
        let row = self.managed_binding(p, agent_id, id).await?;
        let allow_private = self.binding_settings().allow_private;
        let (config, _) = cfg::parse_config(&row.binding.config, allow_private).map_err(|_| {
            Error::Forbidden(
                "The binding's destination is not allowed by this server's settings".into(),
            )
        })?;
        let timeout = timeout_ms
            .map(|t| Duration::from_millis(t.clamp(1, MAX_TEST_TIMEOUT_MS)))
            .unwrap_or(config.timeout);
        let started = Instant::now();
        let outcome = match self.client_for(&config, timeout).await {
            Ok(client) => match client.get(config.base_url.clone()).send().await {
                Ok(res) => Ok(res.status().as_u16()),
                Err(e) => Err(send_error(&e)),
            },
            Err(why) => Err(why),
        };
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (success, error, status) = match outcome {
            Ok(code) => (true, None, Some(code)),
            Err(why) => (false, Some(why), None),
        };
        self.record(
            ctx,
            Self::audit_binding(
                p,
                "binding.test",
                &row.binding,
                json!({"success": success, "status": status, "latency_ms": latency_ms}),
            )
            .outcome(if success { "success" } else { "failure" }),
        )
        .await?;
        Ok(BindingTest {
            success,
            latency_ms,
            error,
        })
    }

    /// A client that connects to the checked address of `config`'s host only and follows no
    /// redirect; the sentence when the host does not resolve or is refused.
    async fn client_for(
        &self,
        config: &HttpConfig,
        timeout: Duration,
    ) -> std::result::Result<reqwest::Client, String> {
        let allow_private = self.binding_settings().allow_private;
        let addr = resolve_checked(&config.host, config.port, allow_private)
            .await
            .map_err(|u| unreachable_sentence(u).to_owned())?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .no_proxy();
        if config.host.parse::<std::net::IpAddr>().is_err() {
            builder = builder.resolve(&config.host, addr);
        }
        builder
            .build()
            .map_err(|_| "The HTTP client is unavailable".to_owned())
    }

    /// Runs one execution for the calling agent (see the module documentation). Refusals by
    /// the guardrails are problems (403, 400, 429) after which nothing was sent; an upstream
    /// that cannot be reached or answers badly is `status: "error"`. Every attempt is
    /// recorded and audited as `binding.execute`, never with the credential.
    pub async fn execute(
        &self,
        p: &Principal,
        agent_id: &str,
        intent: ExecuteIntent,
        ctx: &RequestContext,
    ) -> Result<Executed> {
        match p {
            Principal::Agent { agent_id: me, .. } if me == agent_id => {}
            Principal::Agent { .. } => {
                return Err(Error::Forbidden(
                    "An agent can only execute through its own bindings".into(),
                ))
            }
            Principal::User { .. } => {
                return Err(Error::Forbidden(
                    "Executions are made by the agent itself; use the binding's test to check it"
                        .into(),
                ))
            }
        }
        match intent.execution_mode.as_deref() {
            None | Some("vault") => {}
            Some("tee") => {
                return Err(Error::invalid(
                    "execution_mode",
                    "execution_mode tee is not available on this server; use vault",
                ))
            }
            Some(_) => {
                return Err(Error::invalid(
                    "execution_mode",
                    "execution_mode must be vault",
                ))
            }
        }
        let row = store::find(
            self.store().pool(),
            p.org_id(),
            agent_id,
            intent.binding.trim(),
        )
        .await?
        .ok_or(Error::NotFound("Binding"))?;
        let b = &row.binding;
        let intent_ok = match b.binding_type.as_str() {
            "graphql" => matches!(
                intent.intent_type.as_str(),
                "graphql" | "graphql_query" | "http" | "http_request"
            ),
            _ => matches!(intent.intent_type.as_str(), "http" | "http_request"),
        };
        if !intent_ok {
            return Err(Error::invalid(
                "intent_type",
                format!(
                    "intent_type {} does not fit a {} binding (use http)",
                    intent.intent_type, b.binding_type
                ),
            ));
        }
        if !b.is_active {
            return Err(Error::Forbidden(format!(
                "The binding {} is deactivated",
                b.name
            )));
        }
        let allow_private = self.binding_settings().allow_private;
        let (config, _) = cfg::parse_config(&b.config, allow_private).map_err(|_| {
            Error::Forbidden(
                "The binding's destination is not allowed by this server's settings".into(),
            )
        })?;
        let (guardrails, _) = cfg::parse_guardrails(Some(&b.guardrails))
            .map_err(|_| Error::corrupt_rule("bindings", &b.id, "guardrails"))?;
        let asked = parse_params(&b.binding_type, &intent.params)?;
        let started = Instant::now();
        let mut record = Execution {
            id: uuid::Uuid::new_v4().to_string(),
            agent_id: agent_id.to_owned(),
            binding_id: b.id.clone(),
            binding_name: b.name.clone(),
            method: asked.method.clone(),
            host: config.host.clone(),
            path: asked.path.clone(),
            status: "denied".into(),
            http_status: None,
            request_bytes: i64::try_from(asked.body.len()).unwrap_or(i64::MAX),
            response_bytes: 0,
            duration_ms: 0,
            redactions: 0,
            error: None,
            created_at: self.now(),
        };
        if let Err(refusal) = self.guard(&guardrails, b, &asked).await {
            record.error = Some(refusal.to_string());
            self.record_execution(p, &record, ctx).await?;
            return Err(refusal);
        }
        // An approval of this execution is bound to exactly this method, host, path and body.
        let bound = serde_json::json!({
            "method": asked.method,
            "host": config.host,
            "path": asked.path,
            "body_sha256": super::approvals::body_hash(asked.body.as_ref()),
        });
        let credential = match self.binding_credential(p, &row, &bound, ctx).await {
            Ok(c) => c,
            Err(e) => {
                if matches!(
                    e,
                    Error::Forbidden(_)
                        | Error::UseOnly(_)
                        | Error::ApprovalRequired { .. }
                        | Error::Conflict(_)
                        | Error::Gone(_)
                        | Error::NotFound(_)
                ) {
                    record.error = Some(e.to_string());
                    self.record_execution(p, &record, ctx).await?;
                }
                return Err(e);
            }
        };
        let sent = self.send(&config, &guardrails, &asked, &credential).await;
        drop(credential);
        record.status = sent.status.to_owned();
        record.http_status = sent.http_status;
        record.response_bytes = sent.response_bytes;
        record.redactions = sent.redactions;
        record.error = sent.error.clone();
        record.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.record_execution(p, &record, ctx).await?;
        Ok(Executed {
            execution: record,
            result: sent.result,
        })
    }

    /// The guardrails' checks, in order: method, path, body size, rate.
    async fn guard(&self, g: &Guardrails, b: &Binding, asked: &Asked) -> Result<()> {
        if !g.method_allowed(&asked.method) {
            return Err(Error::Forbidden(format!(
                "The binding {} does not allow {} (allowed: {})",
                b.name,
                asked.method,
                g.allowed_methods.join(", ")
            )));
        }
        if !g.path_allowed(&asked.path) {
            return Err(Error::Forbidden(format!(
                "The binding {} does not allow the path {}",
                b.name, asked.path
            )));
        }
        if asked.body.len() as u64 > g.max_request_bytes {
            return Err(Error::invalid(
                "params",
                format!(
                    "The request body is {} bytes; the binding allows at most {}",
                    asked.body.len(),
                    g.max_request_bytes
                ),
            ));
        }
        if g.max_requests_per_minute > 0 {
            let now = self.now();
            let window = now - now.rem_euclid(60_000);
            let n =
                rate_limits::hit(self.store().pool(), &format!("binding:{}", b.id), window).await?;
            if n as u64 > g.max_requests_per_minute {
                let retry_after_s =
                    u64::try_from((window + 60_000 - now + 999) / 1000).unwrap_or(60);
                return Err(Error::RateLimited { retry_after_s });
            }
        }
        Ok(())
    }

    /// The binding's credential text: the inline value opened, or the referenced secret read
    /// through the agent's `use` permission (counted and audited as `secret.use`).
    async fn binding_credential(
        &self,
        p: &Principal,
        row: &BindingRow,
        bound: &serde_json::Value,
        ctx: &RequestContext,
    ) -> Result<SecretValue> {
        let b = &row.binding;
        let value = match &b.credential {
            CredentialSource::None => {
                return Err(Error::Conflict(format!(
                    "The binding {} has no credential; an owner or admin sets one with rotate-credential",
                    b.name
                )))
            }
            CredentialSource::Inline => {
                let (sealed, kek) = row
                    .sealed
                    .clone()
                    .ok_or_else(|| Error::corrupt_rule("bindings", &b.id, "inline credential"))?;
                let (org, id, version) = (b.org_id.clone(), b.id.clone(), row.credential_version);
                self.keys(move |k| envelope::open(k, &kek, &envelope_binding(&org, &id, version), &sealed))
                    .await?
                    .map_err(|_| Error::Internal("binding credential failed to open".into()))?
            }
            CredentialSource::VaultRef { vault_id, path } => {
                let v = self.vault_in_org(p, vault_id).await?;
                self.authorize_request(p, &v, path, Permission::Use, Some(bound), ctx)
                    .await?;
                let found = secret_store::latest_for_read(self.store().pool(), &v.id, path)
                    .await?
                    .ok_or_else(|| Error::Conflict(format!("The binding's credential secret {path} does not exist")))?;
                self.read_found(&Reader::for_use(p), &v, found, ctx).await?.value
            }
        };
        let text = credential_text(&serde_json::Value::String(value.expose_secret().to_owned()))
            .ok_or_else(|| {
                Error::Conflict(
                    "The binding's credential is empty or has control characters".into(),
                )
            })?;
        Ok(SecretValue::new(text))
    }

    async fn record_execution(
        &self,
        p: &Principal,
        e: &Execution,
        ctx: &RequestContext,
    ) -> Result<()> {
        let outcome = match e.status.as_str() {
            "success" => "success",
            "denied" => "denied",
            _ => "failure",
        };
        let event = AuditEvent::by(
            p,
            "binding.execute",
            "binding",
            Some(e.binding_id.clone()),
            json!({
                "execution_id": e.id, "binding": e.binding_name, "method": e.method,
                "host": e.host, "path": e.path, "status": e.http_status,
                "request_bytes": e.request_bytes, "response_bytes": e.response_bytes,
                "duration_ms": e.duration_ms, "redactions": e.redactions, "error": e.error,
            }),
        )
        .outcome(outcome);
        let mut tx = self.store().begin().await?;
        self.append_audit(&mut tx, ctx, event).await?;
        store::insert_execution(&mut tx, p.org_id(), e).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes the upstream request with the credential injected and reads the answer within
    /// the guardrails, redacting the credential from it. Never fails: problems become
    /// `status: "error"` with a sentence that holds neither the credential nor the URL's query.
    async fn send(
        &self,
        config: &HttpConfig,
        g: &Guardrails,
        asked: &Asked,
        credential: &SecretValue,
    ) -> Sent {
        let client = match self.client_for(config, config.timeout).await {
            Ok(c) => c,
            Err(why) => return Sent::failed(why),
        };
        let cred = credential.expose_secret();
        let mut url = join_url(&config.base_url, &asked.path);
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in &asked.query {
                q.append_pair(k, v);
            }
            if let AuthPlacement::Query { name, template } = &config.auth {
                q.append_pair(name, &render(template, cred));
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let Ok(method) = reqwest::Method::from_bytes(asked.method.as_bytes()) else {
            return Sent::failed("The method is not valid");
        };
        let mut req = client.request(method, url.clone());
        let auth_header = match &config.auth {
            AuthPlacement::Bearer { template } => {
                Some(("authorization".to_owned(), render(template, cred)))
            }
            AuthPlacement::Header { name, template } => {
                Some((name.to_ascii_lowercase(), render(template, cred)))
            }
            AuthPlacement::Basic { template } => Some((
                "authorization".to_owned(),
                format!("Basic {}", B64.encode(render(template, cred))),
            )),
            AuthPlacement::Query { .. } => None,
        };
        let injected = auth_header.as_ref().map(|(n, _)| n.clone());
        let mut has_content_type = false;
        for (k, v) in config.headers.iter().chain(asked.headers.iter()) {
            let lower = k.to_ascii_lowercase();
            if is_dropped_header(&lower) || injected.as_deref() == Some(lower.as_str()) {
                continue;
            }
            has_content_type |= lower == "content-type";
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some((n, v)) = auth_header {
            req = req.header(n, v);
        }
        if !asked.body.is_empty() {
            if asked.json_body && !has_content_type {
                req = req.header("content-type", "application/json");
            }
            req = req.body(asked.body.clone());
        }
        let mut res = match req.send().await {
            Ok(r) => r,
            Err(e) => return Sent::failed(send_error(&e)),
        };
        let code = res.status().as_u16();
        if res.status().is_redirection() {
            if let Some(loc) = res.headers().get("location").and_then(|l| l.to_str().ok()) {
                let same = url.join(loc).is_ok_and(|to| {
                    to.scheme() == url.scheme()
                        && to.host_str() == url.host_str()
                        && to.port_or_known_default() == url.port_or_known_default()
                });
                if !same {
                    return Sent::failed(
                        "The upstream redirected to another host; Talon does not follow redirects away from the binding's host",
                    );
                }
            }
        }
        let forms = credential_forms(cred);
        let mut redactions = 0usize;
        let mut headers = Map::new();
        for (name, value) in res.headers() {
            if is_dropped_response_header(name.as_str()) {
                continue;
            }
            let (clean, n) = redact(value.as_bytes(), &forms);
            redactions += n;
            let text = String::from_utf8_lossy(&clean).into_owned();
            match headers.get_mut(name.as_str()) {
                Some(Value::String(prev)) => {
                    prev.push_str(", ");
                    prev.push_str(&text);
                }
                _ => {
                    headers.insert(name.as_str().to_owned(), Value::String(text));
                }
            }
        }
        let mut body = Vec::new();
        loop {
            match res.chunk().await {
                Ok(Some(chunk)) => {
                    if (body.len() + chunk.len()) as u64 > g.max_response_bytes {
                        let mut s = Sent::failed(format!(
                            "The upstream's answer is larger than the binding's max_response_bytes ({})",
                            g.max_response_bytes
                        ));
                        s.http_status = Some(i64::from(code));
                        return s;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    let mut s = Sent::failed(send_error(&e));
                    s.http_status = Some(i64::from(code));
                    return s;
                }
            }
        }
        let (clean, n) = redact(&body, &forms);
        redactions += n;
        let response_bytes = i64::try_from(body.len()).unwrap_or(i64::MAX);
        let mut result = json!({"status": code, "headers": headers});
        match String::from_utf8(clean) {
            Ok(text) => result["body"] = Value::String(text),
            Err(e) => {
                result["body"] = Value::String(B64.encode(e.into_bytes()));
                result["body_encoding"] = json!("base64");
            }
        }
        Sent {
            status: "success",
            http_status: Some(i64::from(code)),
            response_bytes,
            redactions: i64::try_from(redactions).unwrap_or(i64::MAX),
            result: Some(result),
            error: None,
        }
    }
}

/// Why a binding's host cannot be reached; never the address.
fn unreachable_sentence(u: Unreachable) -> &'static str {
    match u {
        Unreachable::NoAddress => "The binding's host does not resolve",
        Unreachable::Refused => "The binding's host resolves to a private, loopback, link-local or metadata address, which this server does not reach (allowed only when it sets TALON_ALLOW_PRIVATE_EGRESS=true)",
    }
}

/// A sentence for a failed upstream exchange that never holds the URL (a query may carry the
/// credential).
fn send_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "The upstream did not answer in time".into()
    } else if e.is_connect() {
        "Could not connect to the upstream".into()
    } else if e.is_body() || e.is_decode() {
        "The upstream's answer could not be read".into()
    } else {
        "The request to the upstream failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_take_defaults_and_graphql_documents() {
        let a = parse_params("http", &json!({})).unwrap();
        assert_eq!((a.method.as_str(), a.path.as_str()), ("GET", "/"));
        let a = parse_params(
            "http",
            &json!({"method": "post", "path": "/v1/x", "body": {"a": 1}, "query": {"n": 2}}),
        )
        .unwrap();
        assert_eq!(a.method, "POST");
        assert!(a.json_body);
        assert_eq!(a.body, br#"{"a":1}"#);
        assert_eq!(a.query, vec![("n".to_owned(), "2".to_owned())]);
        let g = parse_params("graphql", &json!({"query": "{ me { id } }"})).unwrap();
        assert_eq!(g.method, "POST");
        assert!(g.query.is_empty());
        let doc: Value = serde_json::from_slice(&g.body).unwrap();
        assert_eq!(doc["query"], "{ me { id } }");
        for bad in [
            json!([]),
            json!({"path": "x"}),
            json!({"headers": {"a": ["b"]}}),
            json!({"method": 1}),
        ] {
            assert!(parse_params("http", &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_types_are_checked() {
        assert!(check_name("stripe-prod").is_ok());
        assert!(check_name("").is_err() && check_name("a b").is_err());
        assert!(check_type("http").is_ok() && check_type("graphql").is_ok());
        let e = check_type("postgres").unwrap_err().to_string();
        assert!(e.contains("not supported"), "{e}");
        assert!(check_type("nope").is_err());
    }
}
