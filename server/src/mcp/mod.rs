//! The MCP door (MCP.md): 1claw's tool names, inputs and result texts over stdio (`talon mcp`)
//! and streamable HTTP (`/mcp` inside `talon server`, or standalone). Every tool is a client of
//! the REST contract ([`api::Api`]): over the network, or in-process through the server's own
//! router, so MCP calls pass the same gate as REST calls.
//!
//! Failures are tool results with `isError: true` and one sentence; values are never logged.

pub mod api;
pub mod http;
pub mod inspect;
pub mod stdio;

use crate::client::{AgentCredential, AgentSession, Client, Failure};
use api::{Api, PutInput};
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode,
    Implementation, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_handler, tool_router, ErrorData, RoleServer, ServerHandler};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use talon_core::material::SecretValue;
use talon_core::CreatePolicy;

/// The caller of one `/mcp` HTTP request inside `talon server`, admitted by [`http`]'s guard
/// and handed to the tools through the request's extensions: its tool calls go through the
/// router with the same bearer, address and user agent.
#[derive(Clone)]
pub struct McpCaller {
    pub bearer: String,
    pub vault_id: String,
    pub peer: Option<std::net::SocketAddr>,
    pub user_agent: String,
    pub agent: bool,
}

impl std::fmt::Debug for McpCaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpCaller")
            .field("vault_id", &self.vault_id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum Door {
    /// stdio: every call goes to the server as the agent; the vault comes from the environment.
    Rest {
        session: Arc<AgentSession>,
        vault_id: String,
    },
    /// HTTP inside `talon server`: caller and vault come with each request; calls go through
    /// the server's `/v1` router in-process.
    InProcess(axum::Router),
    /// Standalone HTTP (`talon mcp --transport http`): each request's bearer and vault are
    /// passed on to a Talon server over REST, which checks them.
    Remote(Client),
    /// `ONECLAW_LOCAL_ONLY`: no server, no credentials; only `inspect_content`.
    Local,
}

const LOCAL_ONLY: &str =
    "Talon MCP runs in local-only mode (ONECLAW_LOCAL_ONLY): only inspect_content is available.";

/// The bearer and vault of one standalone `/mcp` request, passed on to the server unverified.
#[derive(Clone)]
pub struct RemoteCaller {
    pub bearer: String,
    pub vault_id: String,
}

/// The MCP server: one per stdio process or per HTTP session.
#[derive(Clone)]
pub struct Mcp {
    door: Door,
    /// Values read in this session (zeroized when the session ends), redacted from the output
    /// of every other tool (MCP.md section 7).
    seen: Arc<std::sync::Mutex<Vec<(String, SecretValue)>>>,
}

/// Values shorter than this are not redacted (too likely to match ordinary text).
const MIN_REDACTED_LEN: usize = 4;

const INSTRUCTIONS: &str = "Talon holds secrets for you. Fetch a secret with get_secret right before you use it; never repeat, summarize, log or store a secret value in your replies or files. To check whether a secret exists, use describe_secret or list_secrets: they never spend an access.";

fn ok(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

fn fail(text: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// One sentence for a failed call (MCP.md section 6). `path` is the secret path the call was
/// about, `permission` the permission it needed.
fn explain(f: &Failure, path: Option<&str>, permission: &str, agent: bool) -> String {
    let detail = f.detail.trim_end_matches('.');
    match f.status {
        404 => match path {
            Some(p) if !detail.starts_with("Vault") => {
                format!("No secret found at path '{p}'.")
            }
            _ => format!("Not found: {detail}."),
        },
        410 => match path {
            Some(p) => format!(
                "Secret at path '{p}' is expired or has exceeded its maximum access count."
            ),
            None => format!("Gone: {detail}."),
        },
        403 if f.kind == "ip_denied" => {
            "Access denied: this IP address is not allowed by the organization's IP rules."
                .to_owned()
        }
        403 if f.kind == "resource_limit_exceeded" => {
            format!("Resource limit reached: {detail}. Ask your human to upgrade the plan.")
        }
        403 => match path {
            Some(p) => format!(
                "Access denied: this {} has no policy granting {permission} on '{p}' in this vault.",
                if agent { "agent" } else { "caller" }
            ),
            None => format!("Access denied: {detail}."),
        },
        402 => "Quota exhausted. Ask your human to upgrade the plan.".to_owned(),
        401 => format!(
            "Authentication failed: {detail}. Check ONECLAW_AGENT_API_KEY (or the Bearer token)."
        ),
        429 => format!("Rate limited; retry in {} s.", f.retry_after.unwrap_or(1)),
        0 => format!(
            "Talon is unavailable ({detail}); reference {}.",
            f.request_id.as_deref().unwrap_or("none")
        ),
        s if s >= 500 => format!(
            "Talon is unavailable ({s} {detail}); reference {}.",
            f.request_id.as_deref().unwrap_or("none")
        ),
        _ => format!("Invalid request: {detail}."),
    }
}

/// What is wrong with a tool's arguments, from serde's message, without any input value
/// (serde quotes values in "invalid type" messages).
fn argument_problem(message: &str) -> String {
    let field = message
        .split('`')
        .nth(1)
        .filter(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    match field {
        Some(f) if message.contains("missing field") => format!("missing field `{f}`"),
        Some(f) if message.contains("unknown field") => format!("unknown field `{f}`"),
        _ => "an argument has the wrong type (see the tool's input schema)".to_owned(),
    }
}

/// `ONECLAW_MCP_EXFIL_PROTECTION`: `block`, `warn` (default) or `off`.
fn exfil_mode() -> String {
    std::env::var("ONECLAW_MCP_EXFIL_PROTECTION")
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_else(|_| "warn".into())
}

/// Replaces each known value (longest first) by `[REDACTED:<path>]`.
fn redact_with(known: &[(&str, &str)], text: &str) -> String {
    let mut order: Vec<&(&str, &str)> = known.iter().collect();
    order.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    let mut out = text.to_owned();
    for (path, value) in order {
        if out.contains(value) {
            out = out.replace(value, &format!("[REDACTED:{path}]"));
        }
    }
    out
}

fn str_field<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

/// An env bundle (the grammar of [`talon_api::env_bundle`]) as the JSON object
/// `get_env_bundle` returns.
pub fn parse_env_bundle(text: &str) -> Map<String, Value> {
    talon_api::env_bundle::parse(text)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v.expose_secret().to_owned())))
        .collect()
}

#[derive(Deserialize, JsonSchema)]
pub struct ListSecretsParams {
    /// Only paths starting with this prefix.
    #[serde(default)]
    pub prefix: Option<String>,
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

impl Mcp {
    /// stdio mode: a REST client acting as the agent on one vault.
    pub fn over_rest(session: Arc<AgentSession>, vault_id: String) -> Mcp {
        Mcp {
            door: Door::Rest { session, vault_id },
            seen: Arc::default(),
        }
    }

    /// HTTP mode inside `talon server`, calling `router` (the server's `/v1` routes).
    pub fn in_process(router: axum::Router) -> Mcp {
        Mcp {
            door: Door::InProcess(router),
            seen: Arc::default(),
        }
    }

    /// Standalone HTTP mode: a REST client per request.
    pub fn over_remote(client: Client) -> Mcp {
        Mcp {
            door: Door::Remote(client),
            seen: Arc::default(),
        }
    }

    /// Local-only mode: no server, only `inspect_content`.
    pub fn local_only() -> Mcp {
        Mcp {
            door: Door::Local,
            seen: Arc::default(),
        }
    }

    /// The backend and session vault of one call.
    fn target(&self, rc: &RequestContext<RoleServer>) -> Result<(Api, String), String> {
        match &self.door {
            Door::Rest { session, vault_id } => {
                Ok((Api::new(session.clone(), true), vault_id.clone()))
            }
            Door::Local => Err(LOCAL_ONLY.to_owned()),
            Door::Remote(client) => {
                let caller = rc
                    .extensions
                    .get::<axum::http::request::Parts>()
                    .and_then(|p| p.extensions.get::<RemoteCaller>())
                    .ok_or_else(|| {
                        "Authentication failed: no credentials on this request. Check the Bearer token.".to_owned()
                    })?;
                let session = AgentSession::new(
                    client.clone(),
                    AgentCredential::Token(caller.bearer.clone()),
                );
                Ok((Api::new(Arc::new(session), true), caller.vault_id.clone()))
            }
            Door::InProcess(router) => {
                let caller = rc
                    .extensions
                    .get::<axum::http::request::Parts>()
                    .and_then(|p| p.extensions.get::<McpCaller>())
                    .ok_or_else(|| {
                        "Authentication failed: no credentials on this request. Check the Bearer token.".to_owned()
                    })?;
                let client =
                    Client::in_process(router.clone(), caller.peer, caller.user_agent.clone());
                let session =
                    AgentSession::new(client, AgentCredential::Token(caller.bearer.clone()));
                Ok((
                    Api::new(Arc::new(session), caller.agent),
                    caller.vault_id.clone(),
                ))
            }
        }
    }

    /// Remembers a value read at `path` for redaction.
    fn remember(&self, path: &str, value: &str) {
        if value.len() >= MIN_REDACTED_LEN {
            self.seen
                .lock()
                .expect("seen values")
                .push((path.to_owned(), SecretValue::new(value.to_owned())));
        }
    }

    /// The path of a value read earlier in the session that occurs in `text`.
    fn leaked_in(&self, text: &str) -> Option<String> {
        let seen = self.seen.lock().expect("seen values");
        seen.iter()
            .find(|(_, v)| text.contains(v.expose_secret()))
            .map(|(p, _)| p.clone())
    }

    /// Replaces every value read earlier in the session by `[REDACTED:<path>]`.
    fn redact(&self, text: &str) -> String {
        let seen = self.seen.lock().expect("seen values");
        let known: Vec<(&str, &str)> = seen
            .iter()
            .map(|(p, v)| (p.as_str(), v.expose_secret()))
            .collect();
        redact_with(&known, text)
    }

    /// Latest metadata of the secret at exactly `path`, without reading its value.
    async fn describe(b: &Api, vault: &str, path: &str) -> Result<Option<Value>, Failure> {
        let list = b.list_secrets(vault, path).await?;
        Ok(list.into_iter().find(|s| str_field(s, "path") == path))
    }
}

macro_rules! target {
    ($self:ident, $rc:ident) => {
        match $self.target(&$rc) {
            Ok(t) => t,
            Err(msg) => return fail(msg),
        }
    };
}

#[tool_router]
impl Mcp {
    #[tool(
        description = "List the secrets of the vault (paths, types, versions; never values). Use it or describe_secret to check that a secret exists.",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn list_secrets(
        &self,
        Parameters(p): Parameters<ListSecretsParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, vault) = target!(self, rc);
        let prefix = p.prefix.unwrap_or_default();
        match b.list_secrets(&vault, &prefix).await {
            Ok(list) if list.is_empty() => ok("No secrets found in this vault."),
            Ok(list) => {
                let mut out = format!("Found {} secret(s):", list.len());
                for s in &list {
                    out.push_str(&format!(
                        "\n- {}  (type: {}, version: {}, expires: {})",
                        str_field(s, "path"),
                        str_field(s, "type"),
                        s["version"],
                        s["expires_at"].as_str().unwrap_or("never")
                    ));
                }
                ok(out)
            }
            Err(f) => fail(explain(&f, None, "read", b.is_agent())),
        }
    }

    #[tool(
        description = "Read a secret's value. Call it right before you use the value; never repeat, summarize or store the value. Each call counts as an access.",
        annotations(read_only_hint = true)
    )]
    async fn get_secret(
        &self,
        Parameters(p): Parameters<PathParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, vault) = target!(self, rc);
        if p.path.is_empty() {
            return fail("path must not be empty.");
        }
        match b.get_secret(&vault, &p.path).await {
            Ok(v) => {
                tracing::info!(tool = "get_secret", vault = %vault, path = %p.path, version = %v["version"], "secret accessed");
                self.remember(&p.path, str_field(&v, "value"));
                let out = json!({"path": v["path"], "type": v["type"], "version": v["version"], "value": v["value"]});
                ok(out.to_string())
            }
            Err(f) => fail(explain(&f, Some(&p.path), "read", b.is_agent())),
        }
    }

    #[tool(
        description = "Store a secret (a new version at the path). The value is never echoed back."
    )]
    async fn put_secret(
        &self,
        Parameters(p): Parameters<PutSecretParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, vault) = target!(self, rc);
        if p.value.is_empty() {
            return fail("value must not be empty.");
        }
        if p.max_access_count.is_some_and(|n| n < 1) {
            return fail("max_access_count must be greater than 0.");
        }
        let input = PutInput {
            value: SecretValue::new(p.value),
            secret_type: Some(p.secret_type.unwrap_or_else(|| "api_key".into())),
            metadata: p.metadata,
            expires_at: p.expires_at,
            max_access_count: p.max_access_count,
        };
        match b.put_secret(&vault, &p.path, input).await {
            Ok(v) => {
                tracing::info!(tool = "put_secret", vault = %vault, path = %p.path, version = %v["version"], "secret stored");
                ok(format!(
                    "Secret stored at '{}' (version {}, type: {}).",
                    p.path,
                    v["version"],
                    str_field(&v, "type")
                ))
            }
            Err(f) => fail(explain(&f, Some(&p.path), "write", b.is_agent())),
        }
    }

    #[tool(
        description = "Show a secret's metadata (type, version, expiry, access counts) without reading or spending its value.",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn describe_secret(
        &self,
        Parameters(p): Parameters<PathParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, vault) = target!(self, rc);
        match Self::describe(&b, &vault, &p.path).await {
            Ok(Some(s)) => {
                // `id` (not in 1claw's list) is what share_secret needs.
                let out = json!({
                    "id": s["id"], "path": s["path"], "type": s["type"], "version": s["version"],
                    "metadata": s["metadata"], "created_at": s["created_at"],
                    "expires_at": s["expires_at"], "access_count": s["access_count"],
                    "max_access_count": s["max_access_count"], "is_disabled": s["is_disabled"],
                });
                ok(serde_json::to_string_pretty(&out).unwrap_or_default())
            }
            Ok(None) => fail(format!("No secret found at path '{}'.", p.path)),
            Err(f) => fail(explain(&f, Some(&p.path), "read", b.is_agent())),
        }
    }

    #[tool(
        description = "Soft-delete the secret at a path (all versions).",
        annotations(destructive_hint = true)
    )]
    async fn delete_secret(
        &self,
        Parameters(p): Parameters<PathParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, vault) = target!(self, rc);
        match b.delete_secret(&vault, &p.path).await {
            Ok(()) => ok(format!("Secret at '{}' has been soft-deleted.", p.path)),
            Err(f) => fail(explain(&f, Some(&p.path), "delete", b.is_agent())),
        }
    }

    #[tool(
        description = "Store a new value for an existing secret (a new version), keeping its type and metadata."
    )]
    async fn rotate_and_store(
        &self,
        Parameters(p): Parameters<RotateParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, vault) = target!(self, rc);
        if p.value.is_empty() {
            return fail("value must not be empty.");
        }
        let current = match Self::describe(&b, &vault, &p.path).await {
            Ok(c) => c,
            Err(f) => return fail(explain(&f, Some(&p.path), "read", b.is_agent())),
        };
        let (secret_type, metadata) = match current {
            Some(c) => (
                str_field(&c, "type").to_owned(),
                Some(c["metadata"].clone()).filter(|m| m.is_object()),
            ),
            None => ("api_key".to_owned(), None),
        };
        let input = PutInput {
            value: SecretValue::new(p.value),
            secret_type: Some(secret_type),
            metadata,
            expires_at: None,
            max_access_count: None,
        };
        match b.put_secret(&vault, &p.path, input).await {
            Ok(v) => ok(format!(
                "Rotated secret at '{}'. New version: {}.",
                p.path, v["version"]
            )),
            Err(f) => fail(explain(&f, Some(&p.path), "write", b.is_agent())),
        }
    }

    #[tool(
        description = "Read an env_bundle secret (KEY=VALUE lines) as a JSON object. Counts as an access.",
        annotations(read_only_hint = true)
    )]
    async fn get_env_bundle(
        &self,
        Parameters(p): Parameters<PathParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, vault) = target!(self, rc);
        match b.get_secret(&vault, &p.path).await {
            Ok(v) => {
                let t = str_field(&v, "type");
                if t != "env_bundle" {
                    return fail(format!(
                        "Secret at '{}' is type '{t}', not 'env_bundle'.",
                        p.path
                    ));
                }
                tracing::info!(tool = "get_env_bundle", vault = %vault, path = %p.path, "secret accessed");
                let value = SecretValue::new(str_field(&v, "value").to_owned());
                let map = parse_env_bundle(value.expose_secret());
                self.remember(&p.path, value.expose_secret());
                for v in map.values() {
                    self.remember(&p.path, v.as_str().unwrap_or_default());
                }
                ok(serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_default())
            }
            Err(f) => fail(explain(&f, Some(&p.path), "read", b.is_agent())),
        }
    }

    #[tool(
        description = "Create a new vault administered by you (the session vault does not change)."
    )]
    async fn create_vault(
        &self,
        Parameters(p): Parameters<CreateVaultParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, _) = target!(self, rc);
        if p.name.is_empty() || p.name.len() > 255 {
            return fail("name must be 1 to 255 characters.");
        }
        match b.create_vault(&p.name, p.description.as_deref()).await {
            Ok(v) => ok(format!(
                "Vault created successfully.\n  ID: {}\n  Name: {}\n  Owner: {}:{}\nYou (and the human who created you) can see it; pass its ID to put_secret's vault by using it as the session vault, or grant others access with grant_access.",
                str_field(&v, "id"),
                str_field(&v, "name"),
                str_field(&v, "created_by_type"),
                str_field(&v, "created_by")
            )),
            Err(f) => fail(explain(&f, None, "write", b.is_agent())),
        }
    }

    #[tool(
        description = "List the vaults you can see.",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn list_vaults(
        &self,
        Parameters(_p): Parameters<NoParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, _) = target!(self, rc);
        match b.list_vaults().await {
            Ok(list) if list.is_empty() => ok("No vaults found. Create one with create_vault."),
            Ok(list) => {
                let mut out = format!("Found {} vault(s):", list.len());
                for v in &list {
                    out.push_str(&format!(
                        "\n- {}  (id: {}, created by: {}, {})",
                        str_field(v, "name"),
                        str_field(v, "id"),
                        str_field(v, "created_by_type"),
                        str_field(v, "created_at")
                    ));
                }
                ok(out)
            }
            Err(f) => fail(explain(&f, None, "read", b.is_agent())),
        }
    }

    #[tool(
        description = "Grant a user or agent access to secrets in a vault you administer (creates a policy)."
    )]
    async fn grant_access(
        &self,
        Parameters(p): Parameters<GrantParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, _) = target!(self, rc);
        if !matches!(p.principal_type.as_str(), "user" | "agent") {
            return fail("principal_type must be 'user' or 'agent'.");
        }
        let permissions = p.permissions.unwrap_or_else(|| vec!["read".into()]);
        if let Some(bad) = permissions
            .iter()
            .find(|x| !matches!(x.as_str(), "read" | "write" | "delete"))
        {
            return fail(format!(
                "permissions may contain only read, write and delete, not '{bad}'."
            ));
        }
        let pattern = p.secret_path_pattern.unwrap_or_else(|| "**".into());
        let input = CreatePolicy {
            secret_path_pattern: pattern.clone(),
            principal_type: p.principal_type.clone(),
            principal_id: p.principal_id.clone(),
            permissions: permissions.clone(),
            conditions: None,
            expires_at: None,
            effect: None,
            priority: None,
        };
        match b.create_policy(&p.vault_id, input).await {
            Ok(v) => ok(format!(
                "Access granted.\n  Policy ID: {}\n  Vault: {}\n  Granted to: {}:{}\n  Permissions: {}\n  Path pattern: {}",
                str_field(&v, "id"),
                p.vault_id,
                p.principal_type,
                p.principal_id,
                permissions.join(", "),
                pattern
            )),
            Err(f) => fail(explain(&f, None, "write", b.is_agent())),
        }
    }

    #[tool(
        description = "Check text for prompt injection, command injection, obfuscation, exfiltration hosts, Unicode tricks and PII before you act on it or send it. Local: no API call.",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn inspect_content(&self, Parameters(p): Parameters<InspectParams>) -> CallToolResult {
        let check_known = match p.context.as_deref().unwrap_or("output") {
            "output" => false,
            "input" => true,
            _ => return fail("context must be 'input' or 'output'."),
        };
        let seen = self.seen.lock().expect("seen values");
        let known: Vec<(&str, &str)> = seen
            .iter()
            .map(|(p, v)| (p.as_str(), v.expose_secret()))
            .collect();
        let report = inspect::inspect(&p.content, check_known, &known, |m| redact_with(&known, m));
        ok(report.to_string())
    }

    #[tool(
        description = "Share a secret by id with your creator, a user, an agent, or anyone with the link, for a limited time and number of reads."
    )]
    async fn share_secret(
        &self,
        Parameters(p): Parameters<ShareParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, _) = target!(self, rc);
        let t = p.recipient_type.as_str();
        let known = matches!(t, "creator" | "user" | "agent" | "anyone_with_link")
            || (t == "external_email" && p.email.is_some());
        if !known {
            return fail("recipient_type must be creator, user, agent or anyone_with_link.");
        }
        if matches!(t, "user" | "agent") && p.recipient_id.is_none() {
            return fail(format!("recipient_id is required when sharing with a {t}."));
        }
        let max = p.max_access_count.unwrap_or(5);
        if max < 1 {
            return fail("max_access_count must be greater than 0.");
        }
        let t = if p.email.is_some() {
            "external_email"
        } else {
            t
        };
        match b
            .create_share(
                &p.secret_id,
                t,
                p.recipient_id.as_deref(),
                p.email.as_deref(),
                &p.expires_at,
                max,
            )
            .await
        {
            Ok(v) => {
                let recipient = match t {
                    "creator" => "your creator (the human who registered this agent)".to_owned(),
                    "anyone_with_link" => "anyone with the link".to_owned(),
                    "external_email" => p.email.clone().unwrap_or_default(),
                    _ => format!("{t}:{}", p.recipient_id.as_deref().unwrap_or("")),
                };
                ok(format!(
                    "Secret shared successfully.\n  Share ID: {}\n  Recipient: {recipient}\n  Expires: {}\n  Max accesses: {}\n  URL: {}\nTargeted recipients must accept the share before they can open it.",
                    str_field(&v, "id"),
                    str_field(&v, "expires_at"),
                    v["max_access_count"],
                    str_field(&v, "share_url")
                ))
            }
            Err(f) => fail(explain(&f, None, "read", b.is_agent())),
        }
    }
}

const SECRETS_URI: &str = "vault://secrets";

/// How rmcp starts its message for arguments that do not deserialize.
const DESERIALIZE_PREFIX: &str = "failed to deserialize parameters:";

#[tool_handler]
impl ServerHandler for Mcp {
    // MCP.md lists the `logging` capability; rmcp marks it deprecated (SEP-2577) but still sends it.
    #[allow(deprecated)]
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new("talon", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    /// Every tool, or only `inspect_content` in local-only mode.
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut tools = Self::tool_router().list_all();
        if matches!(self.door, Door::Local) {
            tools.retain(|t| t.name == "inspect_content");
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    /// Tool calls through the router; arguments that do not fit a tool's schema come back as a
    /// tool error naming the field (never the value), as MCP.md section 6 asks.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        if matches!(
            name.as_str(),
            "share_secret" | "grant_access" | "create_vault"
        ) {
            let args = request
                .arguments
                .as_ref()
                .map(|a| Value::Object(a.clone()).to_string())
                .unwrap_or_default();
            let mode = exfil_mode();
            if let Some(path) = (mode != "off").then(|| self.leaked_in(&args)).flatten() {
                if mode == "block" {
                    return Ok(fail(format!(
                        "Refused: the arguments of {name} contain the value of '{path}', read earlier in this session."
                    ))
                    .into());
                }
                tracing::warn!(tool = %name, path = %path, "a secret value read in this session appears in a tool's arguments");
            }
        }
        let router = Self::tool_router();
        let known = router.get(&name).is_some();
        let tcc = ToolCallContext::new(self, request, context);
        let invalid = |message: &str| -> CallToolResponse {
            fail(format!(
                "Invalid arguments for {name}: {}.",
                argument_problem(message)
            ))
            .into()
        };
        match router.call(tcc).await {
            Err(e) if known && e.code == ErrorCode::INVALID_PARAMS => Ok(invalid(&e.message)),
            // rmcp itself answers bad arguments with a tool error quoting serde's message,
            // which can quote the offending value.
            Ok(CallToolResponse::Complete(r))
                if r.is_error == Some(true)
                    && r.content.iter().any(|c| {
                        c.as_text()
                            .is_some_and(|t| t.text.starts_with(DESERIALIZE_PREFIX))
                    }) =>
            {
                let message: String = r
                    .content
                    .iter()
                    .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                    .collect();
                Ok(invalid(&message))
            }
            Ok(CallToolResponse::Complete(mut r))
                if !matches!(name.as_str(), "get_secret" | "get_env_bundle") =>
            {
                for c in r.content.iter_mut() {
                    if let ContentBlock::Text(t) = c {
                        t.text = self.redact(&t.text);
                    }
                }
                Ok(CallToolResponse::Complete(r))
            }
            other => other,
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![Resource::new(
            SECRETS_URI,
            "Vault secrets",
        )
        .with_description("Paths, types, versions and expiry of the session vault's readable secrets; never values.")
        .with_mime_type("application/json")]))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(Vec::new()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if request.uri != SECRETS_URI {
            return Err(ErrorData::resource_not_found(
                format!(
                    "No resource '{}'; the only one is {SECRETS_URI}.",
                    request.uri
                ),
                None,
            ));
        }
        let (b, vault) = self
            .target(&context)
            .map_err(|m| ErrorData::invalid_request(m, None))?;
        let list = b.list_secrets(&vault, "").await.map_err(|f| {
            ErrorData::invalid_request(explain(&f, None, "read", b.is_agent()), None)
        })?;
        let items: Vec<Value> = list
            .iter()
            .map(|s| json!({"path": s["path"], "type": s["type"], "version": s["version"], "expires_at": s["expires_at"]}))
            .collect();
        let mut contents = ResourceContents::text(Value::Array(items).to_string(), SECRETS_URI);
        if let ResourceContents::TextResourceContents { mime_type, .. } = &mut contents {
            *mime_type = Some("application/json".into());
        }
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_problems_never_quote_values() {
        assert_eq!(
            argument_problem("failed to deserialize parameters: missing field `path`"),
            "missing field `path`"
        );
        let leaked = argument_problem(
            "failed to deserialize parameters: invalid type: integer `424242`, expected a string",
        );
        assert!(!leaked.contains("424242"), "{leaked}");
    }

    #[test]
    fn denial_names_the_permission_and_path() {
        let f = Failure::new(403, "Forbidden");
        assert_eq!(
            explain(&f, Some("db/pw"), "read", true),
            "Access denied: this agent has no policy granting read on 'db/pw' in this vault."
        );
        let gone = Failure::new(410, "Secret expired");
        assert!(explain(&gone, Some("x"), "read", true).contains("expired or has exceeded"));
    }
}
