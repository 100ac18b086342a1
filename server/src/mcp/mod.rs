//! The MCP door (MCP.md): 1claw's tool names, inputs and result texts over stdio (`talon mcp`)
//! and streamable HTTP (`/mcp` inside `talon server`, or standalone). Every tool is a client of
//! the REST contract ([`api::Api`]): over the network, or in-process through the server's own
//! router, so MCP calls pass the same gate as REST calls.
//!
//! Failures are tool results with `isError: true` and one sentence; values are never logged.

pub mod api;
pub mod http;
pub mod inspect;
mod params;
pub mod stdio;
mod tools;
mod wording;

use crate::client::{AgentCredential, AgentSession, Client, Failure};
use crate::config::ExfilMode;
use api::Api;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ContentBlock, ErrorCode, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{tool_handler, ErrorData, RoleServer, ServerHandler};
use serde_json::{json, Value};
use std::sync::Arc;
use talon_api::secrets::SecretDetailsResponse;
use talon_api::SecretValue;
use wording::{argument_problem, explain, fail, redact_with};

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
    /// `ONECLAW_MCP_EXFIL_PROTECTION`.
    exfil: ExfilMode,
}

/// Values shorter than this are not redacted (too likely to match ordinary text).
const MIN_REDACTED_LEN: usize = 4;

const INSTRUCTIONS: &str = "Talon holds secrets for you. Prefer bindings: to call an API that needs a credential, use list_bindings and then execute_http, which makes the request with the credential injected by Talon, so you never see it. Fetch a secret with get_secret only when no binding fits, right before you use it; never repeat, summarize, log or store a secret value in your replies or files. A use-only secret cannot be read, only used through a binding. To check whether a secret exists, use describe_secret or list_secrets: they never spend an access. When a call answers that approval is required, poll get_approval_status with its approval_id and repeat the same call once approved. If you lack a credential, ask for it with request_secret instead of asking for it in the conversation.";

impl Mcp {
    /// stdio mode: a REST client acting as the agent on one vault.
    pub fn over_rest(session: Arc<AgentSession>, vault_id: String) -> Mcp {
        Mcp {
            door: Door::Rest { session, vault_id },
            seen: Arc::default(),
            exfil: ExfilMode::default(),
        }
    }

    /// HTTP mode inside `talon server`, calling `router` (the server's `/v1` routes).
    pub fn in_process(router: axum::Router) -> Mcp {
        Mcp {
            door: Door::InProcess(router),
            seen: Arc::default(),
            exfil: ExfilMode::default(),
        }
    }

    /// Standalone HTTP mode: a REST client per request.
    pub fn over_remote(client: Client) -> Mcp {
        Mcp {
            door: Door::Remote(client),
            seen: Arc::default(),
            exfil: ExfilMode::default(),
        }
    }

    /// Local-only mode: no server, only `inspect_content`.
    pub fn local_only() -> Mcp {
        Mcp {
            door: Door::Local,
            seen: Arc::default(),
            exfil: ExfilMode::default(),
        }
    }

    /// With `mode` as the exfiltration check of `share_secret`, `grant_access`,
    /// `create_vault` and `execute_http`.
    pub fn with_exfil(mut self, mode: ExfilMode) -> Mcp {
        self.exfil = mode;
        self
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
    fn remember(&self, path: &str, value: &SecretValue) {
        let value = value.expose_secret();
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
    async fn describe(
        b: &Api,
        vault: &str,
        path: &str,
    ) -> Result<Option<SecretDetailsResponse>, Failure> {
        let list = b.secret_details(vault, path).await?;
        Ok(list.into_iter().find(|s| s.version.path == path))
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
            "share_secret" | "grant_access" | "create_vault" | "execute_http"
        ) {
            let args = request
                .arguments
                .as_ref()
                .map(|a| Value::Object(a.clone()).to_string())
                .unwrap_or_default();
            let mode = self.exfil;
            if let Some(path) = (mode != ExfilMode::Off)
                .then(|| self.leaked_in(&args))
                .flatten()
            {
                if mode == ExfilMode::Block {
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
                if !matches!(
                    name.as_str(),
                    "get_secret" | "get_env_bundle" | "resolve_env"
                ) =>
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
            .map(|s| {
                let v = &s.version;
                json!({"path": v.path, "type": v.secret_type, "version": v.version, "expires_at": v.expires_at})
            })
            .collect();
        let mut contents = ResourceContents::text(Value::Array(items).to_string(), SECRETS_URI);
        if let ResourceContents::TextResourceContents { mime_type, .. } = &mut contents {
            *mime_type = Some("application/json".into());
        }
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}
