//! `POST/GET/DELETE /mcp` inside `talon server`: MCP streamable HTTP whose tools call the
//! server's `/v1` router in-process.
//!
//! Every HTTP request is admitted by the gate (`Authorization: Bearer` with any token REST
//! accepts, and `X-Vault-ID`) before rmcp sees it, and its response carries the org's quota
//! headers; the caller rides in the request's extensions to the tools, whose REST calls pass
//! the gate again (so each read is counted, metered and audited as a REST read). A session is
//! bound to the principal and vault that opened it: a later request with another principal or
//! vault is 403.

use super::{Mcp, McpCaller, RemoteCaller};
use crate::client::Client;
use crate::config::ExfilMode;
use crate::extract::{bearer, context};
use crate::problem::Problem;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{Method, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use talon_core::{Core, Credential, Operation};

const SESSION_HEADER: &str = "mcp-session-id";

/// Session id → the `(principal or bearer, vault)` that opened it, and when.
type Sessions = Arc<Mutex<HashMap<String, Owner>>>;

#[derive(Clone)]
struct Owner {
    who: (String, String),
    since: std::time::Instant,
}

/// Bindings older than this are forgotten once the map is large (the session manager drops
/// idle sessions long before).
const BINDING_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
const BINDINGS_BEFORE_PRUNING: usize = 10_000;

#[derive(Clone)]
struct Guard {
    core: Core,
    sessions: Sessions,
}

/// Host names `/mcp` accepts in the `Host` header (DNS-rebinding protection): loopback, the
/// public URL's host, and `extra` (from `TALON_MCP_ALLOWED_HOSTS`; `*` accepts any host).
pub fn allowed_hosts(public_url: &str, extra: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if let Some(authority) = public_url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
    {
        hosts.push(authority.to_owned());
        if let Some((h, _)) = authority.rsplit_once(':') {
            hosts.push(h.trim_matches(['[', ']']).to_owned());
        }
    }
    hosts.extend(
        extra
            .iter()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty()),
    );
    hosts
}

/// How an HTTP MCP door is set up.
pub struct DoorSettings {
    /// Accepted `Host` values, as from [`allowed_hosts`]; a `*` entry disables the check.
    pub hosts: Vec<String>,
    /// What to do with a value read earlier in the session found in outgoing arguments.
    pub exfil: ExfilMode,
}

impl DoorSettings {
    fn transport(&self) -> StreamableHttpServerConfig {
        if self.hosts.iter().any(|h| h == "*") {
            StreamableHttpServerConfig::default().disable_allowed_hosts()
        } else {
            StreamableHttpServerConfig::default().with_allowed_hosts(self.hosts.clone())
        }
    }
}

/// The `/mcp` routes, whose tools call `api` (the server's `/v1` routes, with their gate
/// layer) in-process.
pub fn router(core: Core, api: Router, door: DoorSettings) -> Router {
    let config = door.transport();
    let exfil = door.exfil;
    let service = StreamableHttpService::new(
        move || Ok(Mcp::in_process(api.clone()).with_exfil(exfil)),
        LocalSessionManager::default().into(),
        config,
    );
    let guard = Guard {
        core: core.clone(),
        sessions: Sessions::default(),
    };
    Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(guard, authenticate))
        .layer(axum::middleware::from_fn_with_state(
            core,
            crate::circuit::layer,
        ))
}

fn unauthorized(detail: &str) -> Response {
    Problem::new(StatusCode::UNAUTHORIZED, detail).into_response()
}

/// The bearer token and vault id of a request, or the problem response to send.
#[allow(clippy::result_large_err)]
fn credentials(parts: &axum::http::request::Parts) -> Result<(String, String), Response> {
    let token = match bearer(parts) {
        Ok(Some(t)) => t.to_owned(),
        Ok(None) => {
            return Err(unauthorized(
                "Missing Authorization header (Bearer <agent-token>)",
            ))
        }
        Err(p) => return Err(p.into_response()),
    };
    let Some(vault) = parts
        .headers
        .get("x-vault-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return Err(unauthorized("Missing X-Vault-ID header"));
    };
    let Ok(vault_id) = uuid::Uuid::parse_str(vault).map(|u| u.to_string()) else {
        return Err(Problem::bad_request("X-Vault-ID must be a vault UUID").into_response());
    };
    Ok((token, vault_id))
}

/// Refuses a request naming a session that another principal or vault opened; after the
/// response, records a new session's owner or forgets a deleted one.
async fn bound_to_owner(
    sessions: &Mutex<HashMap<String, Owner>>,
    owner: (String, String),
    req: Request<Body>,
    next: Next,
) -> Response {
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(sid) = &session {
        let bound = sessions.lock().expect("mcp sessions").get(sid).cloned();
        if bound.is_some_and(|b| b.who != owner) {
            return Problem::new(
                StatusCode::FORBIDDEN,
                "This MCP session belongs to another principal or vault",
            )
            .into_response();
        }
    }
    let is_delete = req.method() == Method::DELETE;
    let res = next.run(req).await;
    let mut sessions = sessions.lock().expect("mcp sessions");
    match (&session, res.headers().get(SESSION_HEADER)) {
        (Some(sid), _) if is_delete && res.status().is_success() => {
            sessions.remove(sid);
        }
        (None, Some(new)) => {
            if let Ok(new) = new.to_str() {
                if sessions.len() >= BINDINGS_BEFORE_PRUNING {
                    sessions.retain(|_, o| o.since.elapsed() < BINDING_MAX_AGE);
                }
                sessions.insert(
                    new.to_owned(),
                    Owner {
                        who: owner,
                        since: std::time::Instant::now(),
                    },
                );
            }
        }
        _ => {}
    }
    res
}

async fn authenticate(State(g): State<Guard>, req: Request<Body>, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let (token, vault_id) = match credentials(&parts) {
        Ok(c) => c,
        Err(res) => return res,
    };
    let ctx = context(&parts);
    let admitted = match g
        .core
        .admit(
            Credential::Bearer(&token),
            &ctx,
            Operation::Other,
            talon_core::Access::Any,
        )
        .await
    {
        Ok(a) => a,
        Err(e) => return Problem::from(e).into_response(),
    };
    let principal = admitted.principal;
    let owner = (principal.subject(), vault_id.clone());
    parts.extensions.insert(McpCaller {
        bearer: token,
        vault_id,
        peer: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| *a),
        user_agent: format!(
            "mcp; {}",
            ctx.user_agent.as_deref().unwrap_or("unknown client")
        ),
        agent: matches!(principal, talon_core::Principal::Agent { .. }),
    });
    let mut res = bound_to_owner(&g.sessions, owner, Request::from_parts(parts, body), next).await;
    // The tools' own REST calls counted what they read; report the quota as it now stands.
    if let Ok(view) = g.core.quota_now(&principal).await {
        crate::gate::set_quota_headers(res.headers_mut(), view);
    }
    res
}

/// Standalone mode: `/mcp` passing each request's bearer and vault on to the Talon server at
/// `client`'s URL (which checks them on every call), and `/health`.
pub fn standalone_router(client: Client, door: DoorSettings) -> Router {
    let config = door.transport();
    let exfil = door.exfil;
    let service = StreamableHttpService::new(
        move || Ok(Mcp::over_remote(client.clone()).with_exfil(exfil)),
        LocalSessionManager::default().into(),
        config,
    );
    let sessions: Sessions = Arc::default();
    Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(
            sessions,
            authenticate_remote,
        ))
        .route(
            "/health",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
}

async fn authenticate_remote(
    State(sessions): State<Sessions>,
    req: Request<Body>,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let (bearer, vault_id) = match credentials(&parts) {
        Ok(c) => c,
        Err(res) => return res,
    };
    let owner = (bearer.clone(), vault_id.clone());
    parts.extensions.insert(RemoteCaller { bearer, vault_id });
    bound_to_owner(&sessions, owner, Request::from_parts(parts, body), next).await
}

/// Serves the standalone streamable HTTP MCP server on `port` until interrupted.
pub async fn run_standalone(
    env: &crate::config::ClientEnv,
    host: std::net::IpAddr,
    port: u16,
) -> Result<(), String> {
    let base_url = env
        .base_url
        .clone()
        .unwrap_or_else(|| super::stdio::DEFAULT_URL.to_owned());
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|e| format!("cannot listen on port {port}: {e}. Set PORT or --port."))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let door = DoorSettings {
        hosts: allowed_hosts(&format!("http://{addr}"), &env.mcp_allowed_hosts),
        exfil: env.exfil,
    };
    println!("Talon MCP listening on http://{addr}/mcp (server {base_url})");
    axum::serve(
        listener,
        standalone_router(
            Client::with_user_agent(&base_url, super::stdio::MCP_USER_AGENT),
            door,
        ),
    )
    .await
    .map_err(|e| format!("MCP server error: {e}"))
}
