//! Agents.

use super::{time_field, uuid_param, views};
use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use talon_core::CreateAgent;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/agents", get(list).post(create))
        .route("/v1/agents/me", get(me))
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    auth_method: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    vault_ids: Option<Vec<String>>,
    #[serde(default)]
    token_ttl_seconds: Option<i64>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    api_key_expires_at: Option<String>,
}

async fn create(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let vault_ids = b
        .vault_ids
        .map(|ids| ids.iter().map(|id| uuid_param("vault_ids", id)).collect::<ApiResult<Vec<_>>>())
        .transpose()?;
    let input = CreateAgent {
        name: b.name,
        description: b.description,
        auth_method: b.auth_method,
        scopes: b.scopes,
        vault_ids,
        token_ttl_seconds: b.token_ttl_seconds,
        expires_at: time_field("expires_at", &b.expires_at)?,
        api_key_expires_at: time_field("api_key_expires_at", &b.api_key_expires_at)?,
    };
    let out = s.core.create_agent(&p, input, &ctx).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"agent": views::agent(&out.agent), "api_key": out.api_key})),
    ))
}

async fn list(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let agents = s.core.list_agents(&p).await?;
    Ok(Json(json!({"agents": agents.iter().map(views::agent).collect::<Vec<_>>()})))
}

async fn me(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    Ok(Json(views::agent_self(&s.core.agent_self(&p).await?)))
}
