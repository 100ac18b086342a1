//! Extractors: JSON bodies that fail as 400 problems, the caller's principal, request context.

use crate::problem::Problem;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use talon_core::{Principal, RequestContext};

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

/// The authenticated caller.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Problem::new(StatusCode::UNAUTHORIZED, "Missing Authorization header")
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "Authorization must be 'Bearer <token>'",
                )
            })?;
        let token = token.to_owned();
        let Ctx(ctx) = Ctx::from_request_parts(parts, state).await?;
        let p = state.core.authorize_request(&token, &ctx).await?;
        if let Some(slot) = parts.extensions.get::<crate::rest::MeterSlot>().cloned() {
            slot.admit(&state.core, &p).await?;
        }
        Ok(Auth(p))
    }
}

/// Client IP (the socket peer) and user agent.
pub struct Ctx(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect());
        Ok(Ctx(RequestContext { ip, user_agent }))
    }
}
