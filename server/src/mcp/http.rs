//! `POST/GET/DELETE /mcp` inside `talon server`: MCP streamable HTTP calling the core directly.
//!
//! Every HTTP request is authenticated (`Authorization: Bearer` with any token REST accepts,
//! and `X-Vault-ID`) before rmcp sees it; the caller rides in the request's extensions to the
//! tools. A session is bound to the principal and vault that opened it: a later request with
//! another principal or vault is 403.

use super::{Mcp, McpCaller};
use crate::extract::Ctx;
use crate::problem::Problem;
use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::{header, Method, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use talon_core::Core;

const SESSION_HEADER: &str = "mcp-session-id";

#[derive(Clone)]
struct Guard {
    core: Core,
    /// Session id → `(subject, vault)` that opened it.
    sessions: Arc<Mutex<HashMap<String, (String, String)>>>,
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

/// The `/mcp` routes. `hosts` as from [`allowed_hosts`]; a `*` entry disables the host check.
pub fn router(core: Core, hosts: Vec<String>) -> Router {
    let config = if hosts.iter().any(|h| h == "*") {
        StreamableHttpServerConfig::default().disable_allowed_hosts()
    } else {
        StreamableHttpServerConfig::default().with_allowed_hosts(hosts)
    };
    let factory_core = core.clone();
    let service = StreamableHttpService::new(
        move || Ok(Mcp::over_core(factory_core.clone())),
        LocalSessionManager::default().into(),
        config,
    );
    let guard = Guard {
        core,
        sessions: Arc::new(Mutex::new(HashMap::new())),
    };
    Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(guard, authenticate))
}

fn unauthorized(detail: &str) -> Response {
    Problem::new(StatusCode::UNAUTHORIZED, detail).into_response()
}

async fn authenticate(State(g): State<Guard>, req: Request<Body>, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let Some(auth) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return unauthorized("Missing Authorization header (Bearer <agent-token>)");
    };
    let Some(token) = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
    else {
        return unauthorized("Authorization must be 'Bearer <token>'");
    };
    let Some(vault) = parts
        .headers
        .get("x-vault-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return unauthorized("Missing X-Vault-ID header");
    };
    let Ok(vault_id) = uuid::Uuid::parse_str(vault).map(|u| u.to_string()) else {
        return Problem::bad_request("X-Vault-ID must be a vault UUID").into_response();
    };
    let mut ctx = match Ctx::from_request_parts(&mut parts, &()).await {
        Ok(Ctx(c)) => c,
        Err(p) => return p.into_response(),
    };
    ctx.user_agent = Some(format!(
        "mcp; {}",
        ctx.user_agent.as_deref().unwrap_or("unknown client")
    ));
    let principal = match g.core.authorize_request(&token, &ctx).await {
        Ok(p) => p,
        Err(e) => return Problem::from(e).into_response(),
    };
    let owner = (principal.subject(), vault_id.clone());
    let session = parts
        .headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(sid) = &session {
        let bound = g.sessions.lock().expect("mcp sessions").get(sid).cloned();
        if bound.is_some_and(|b| b != owner) {
            return Problem::new(
                StatusCode::FORBIDDEN,
                "This MCP session belongs to another principal or vault",
            )
            .into_response();
        }
    }
    let is_delete = parts.method == Method::DELETE;
    parts.extensions.insert(McpCaller {
        principal,
        vault_id,
        ctx,
    });
    let res = next.run(Request::from_parts(parts, body)).await;
    let mut sessions = g.sessions.lock().expect("mcp sessions");
    match (&session, res.headers().get(SESSION_HEADER)) {
        (Some(sid), _) if is_delete && res.status().is_success() => {
            sessions.remove(sid);
        }
        (None, Some(new)) => {
            if let Ok(new) = new.to_str() {
                sessions.insert(new.to_owned(), owner);
            }
        }
        _ => {}
    }
    res
}
