//! CLI device authorization (API.md 8.3): code pair, polling, and the human's decision.

use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use talon_core::clock::rfc3339;
use talon_core::service::DevicePoll;

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/device/code", post(code))
        .route("/v1/auth/device/code/{user_code}", get(info))
        .route("/v1/auth/device/token", post(token))
        .route("/v1/auth/device/approve", post(approve))
        .route("/v1/auth/device/deny", post(deny))
}

#[derive(Deserialize)]
struct CodeBody {
    client_id: String,
    #[serde(default)]
    email: Option<String>,
}

async fn code(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<CodeBody>,
) -> ApiResult<Json<Value>> {
    let d = s.core.device_code(&b.client_id, b.email, &ctx).await?;
    Ok(Json(json!({
        "device_code": d.device_code, "user_code": d.user_code,
        "verification_uri": d.verification_uri, "verification_uri_complete": d.verification_uri,
        "expires_in": d.expires_in, "interval": d.interval,
    })))
}

#[derive(Deserialize)]
struct TokenBody {
    device_code: String,
    grant_type: String,
}

async fn token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<TokenBody>,
) -> ApiResult<Json<Value>> {
    if b.grant_type != GRANT_TYPE {
        return Err(talon_core::Error::invalid(
            "grant_type",
            format!("grant_type must be {GRANT_TYPE}"),
        )
        .into());
    }
    let error = |e: &str| Ok(Json(json!({ "error": e })));
    match s.core.device_token(&b.device_code, &ctx).await? {
        DevicePoll::Pending => error("authorization_pending"),
        DevicePoll::SlowDown => error("slow_down"),
        DevicePoll::Denied => error("access_denied"),
        DevicePoll::Expired => error("expired_token"),
        DevicePoll::Approved(t) => Ok(Json(json!({
            "access_token": t.access_token.expose_secret(), "token_type": "Bearer", "expires_in": t.expires_in,
            "email": t.email, "user_id": t.user_id, "org_id": t.org_id,
        }))),
    }
}

async fn info(State(s): State<AppState>, Path(user_code): Path<String>) -> ApiResult<Json<Value>> {
    let d = s.core.device_info(&user_code).await?;
    Ok(Json(json!({
        "user_code": d.user_code, "client_id": d.client_id, "status": d.status,
        "expires_at": rfc3339(d.expires_at),
    })))
}

#[derive(Deserialize)]
struct DecisionBody {
    user_code: String,
}

async fn approve(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<DecisionBody>,
) -> ApiResult<Json<Value>> {
    s.core.decide_device(&p, &b.user_code, true, &ctx).await?;
    Ok(Json(json!({"status": "approved"})))
}

async fn deny(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<DecisionBody>,
) -> ApiResult<Json<Value>> {
    s.core.decide_device(&p, &b.user_code, false, &ctx).await?;
    Ok(Json(json!({"status": "denied"})))
}
