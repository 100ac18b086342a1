//! Extractors: JSON bodies that fail as 400 problems, the caller's principal, request context.

use crate::gate::{self, GateSlot};
use crate::problem::Problem;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use talon_core::{bearer_token, Credential, Principal, RequestContext};

const MAX_BODY: usize = 1024 * 1024;

/// A JSON body. No body or an empty body reads as `{}`; malformed JSON and wrong types are 400;
/// the content type is not checked (clients send `application/json` on every request).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
            } else {
                Problem::bad_request("Could not read the request body")
            }
        })?;
        if bytes.len() > MAX_BODY {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large",
            ));
        }
        let slice: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(slice).map(ApiJson).map_err(|e| {
            // serde's message names the field and the expected type, never the input value
            // for strings; keep only its classification to be safe.
            let what = match e.classify() {
                serde_json::error::Category::Data => {
                    let msg = e.to_string();
                    let field = msg
                        .split('`')
                        .nth(1)
                        .filter(|f| f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                        .map(|f| format!(" (field `{f}`)"))
                        .unwrap_or_default();
                    format!("Request body has a missing field or a wrong type{field}")
                }
                _ => "Request body is not valid JSON".to_owned(),
            };
            Problem::bad_request(what)
        })
    }
}

/// The authenticated caller, admitted by the gate with the route's operation.
pub struct Auth(pub Principal);

/// The `Authorization` header's bearer: `None` without the header, 401 when it is not
/// `Bearer <token>`.
pub fn bearer(parts: &Parts) -> Result<Option<&str>, Problem> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(bearer_token)
        .map(Some)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "Authorization must be 'Bearer <token>'",
            )
        })
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?
            .ok_or_else(|| Problem::new(StatusCode::UNAUTHORIZED, "Missing Authorization header"))?
            .to_owned();
        let ctx = context(parts);
        let slot = parts.extensions.get::<GateSlot>();
        let admitted = gate::admit(&state.core, slot, Credential::Bearer(&token), &ctx).await?;
        Ok(Auth(admitted.principal))
    }
}

/// A caller who may be anonymous: `None` without a bearer or with one that does not sign
/// in (a link share opened with a stale token); a signed-in caller is admitted by the gate
/// like [`Auth`], and its other refusals (IP rules, rate limit, quota) stand.
pub struct MaybeAuth(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybeAuth {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(Some(token)) = bearer(parts) else {
            return Ok(MaybeAuth(None));
        };
        let token = token.to_owned();
        let ctx = context(parts);
        let slot = parts.extensions.get::<GateSlot>();
        match gate::admit(&state.core, slot, Credential::Bearer(&token), &ctx).await {
            Ok(a) => Ok(MaybeAuth(Some(a.principal))),
            Err(p) if p.status == StatusCode::UNAUTHORIZED => Ok(MaybeAuth(None)),
            Err(p) => Err(p),
        }
    }
}

/// The product token of the user agent `talon mcp` sends (`talon-mcp/<version>`): calls that
/// carry it are recorded as made over MCP.
pub const MCP_USER_AGENT_NAME: &str = "talon-mcp/";

/// Marks a request the MCP door sends through the router in-process, so the audit log
/// records the call as made over MCP.
#[derive(Clone, Copy)]
pub struct ViaMcp;

/// The request's context: the socket peer's address, the user agent (at most 256
/// characters), and `mcp` when the call came through the MCP door (in-process, or from
/// `talon mcp` whose user agent says so).
pub fn context(parts: &Parts) -> RequestContext {
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let via_mcp = parts.extensions.get::<ViaMcp>().is_some()
        || user_agent.is_some_and(|ua| ua.starts_with(MCP_USER_AGENT_NAME));
    let mut ctx = RequestContext::new(ip, user_agent);
    if via_mcp {
        ctx.via = Some("mcp");
    }
    ctx
}

/// Client IP (the socket peer), user agent and door.
pub struct Ctx(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Ctx(context(parts)))
    }
}
