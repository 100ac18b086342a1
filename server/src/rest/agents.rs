//! Agents.

use super::{nullable, nullable_time, time_field, uuid_param};
use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::State;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use talon_api::agents::{
    AgentCreatedResponse, AgentListResponse, AgentResponse, AgentSelfResponse, CreateAgentRequest,
};
use talon_api::{AgentId, VaultId};
use talon_core::{CreateAgent, PatchAgent};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/agents", get(list).post(create))
        .route("/v1/agents/me", get(me))
        .route("/v1/agents/enroll", post(enroll))
        .route("/v1/agents/enroll/{pairing_id}/status", get(enroll_status))
        .route(
            "/v1/agents/enroll/{pairing_id}/approve",
            post(enroll_approve),
        )
        .route("/v1/agents/enroll/{pairing_id}/deny", post(enroll_deny))
        .route(
            "/v1/agents/{agent_id}",
            get(one).patch(update).delete(remove),
        )
        .route("/v1/agents/{agent_id}/rotate-key", post(rotate_key))
}

async fn create(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<CreateAgentRequest>,
) -> ApiResult<(StatusCode, Json<AgentCreatedResponse>)> {
    let vault_ids = vault_id_list(b.vault_ids)?;
    let input = CreateAgent {
        name: b.name,
        description: b.description,
        auth_method: b.auth_method,
        scopes: b.scopes,
        vault_ids,
        token_ttl_seconds: b.token_ttl_seconds,
        expires_at: time_field("expires_at", &b.expires_at)?,
        api_key_expires_at: time_field("api_key_expires_at", &b.api_key_expires_at)?,
        environment: b.environment,
    };
    let out = s.core.create_agent(&p, input, &ctx).await?;
    Ok((StatusCode::CREATED, Json(out.into())))
}

/// Parses an optional list of vault ids, each a UUID.
fn vault_id_list(ids: Option<Vec<String>>) -> ApiResult<Option<Vec<String>>> {
    ids.map(|ids| {
        ids.iter()
            .map(|id| uuid_param::<VaultId>("vault_ids", id))
            .collect()
    })
    .transpose()
}

async fn list(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<AgentListResponse>> {
    let agents = s.core.list_agents(&p).await?;
    Ok(Json(AgentListResponse {
        agents: agents.iter().map(Into::into).collect(),
    }))
}

async fn me(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<AgentSelfResponse>> {
    Ok(Json((&s.core.agent_self(&p).await?).into()))
}

async fn one(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<AgentResponse>> {
    let a = s
        .core
        .get_agent(&p, &uuid_param::<AgentId>("agent_id", &id)?)
        .await?;
    Ok(Json((&a).into()))
}

#[derive(Deserialize)]
struct PatchBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    vault_ids: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    token_ttl_seconds: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    expires_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    api_key_expires_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    environment: Option<Option<String>>,
}

async fn update(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PatchBody>,
) -> ApiResult<Json<AgentResponse>> {
    let vault_ids = vault_id_list(b.vault_ids)?;
    let patch = PatchAgent {
        name: b.name,
        description: b.description,
        scopes: b.scopes,
        is_active: b.is_active,
        vault_ids,
        token_ttl_seconds: b.token_ttl_seconds,
        expires_at: nullable_time("expires_at", b.expires_at)?,
        api_key_expires_at: nullable_time("api_key_expires_at", b.api_key_expires_at)?,
        environment: b.environment,
    };
    let a = s
        .core
        .update_agent(&p, &uuid_param::<AgentId>("agent_id", &id)?, patch, &ctx)
        .await?;
    Ok(Json((&a).into()))
}

async fn remove(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.core
        .delete_agent(&p, &uuid_param::<AgentId>("agent_id", &id)?, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate_key(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<AgentCreatedResponse>> {
    let out = s
        .core
        .rotate_agent_key(&p, &uuid_param::<AgentId>("agent_id", &id)?, &ctx)
        .await?;
    Ok(Json(out.into()))
}

#[derive(Deserialize)]
struct EnrollBody {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    human_email: Option<String>,
}

/// Public: the same answer whether or not the email is known; nothing exists until approval.
async fn enroll(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<EnrollBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let out = s
        .core
        .enroll(&b.name, b.description, b.human_email, &ctx)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "agent_id": "00000000-0000-0000-0000-000000000000",
            "message": "Enrollment requested. A human must approve it at approval_url.",
            "approval_url": out.approval_url, "pairing_id": out.pairing_id, "poll_token": out.poll_token.expose_secret(),
        })),
    ))
}

fn enroll_view(st: talon_core::service::EnrollState) -> Json<Value> {
    let mut v = json!({"status": st.status, "agent_id": st.agent_id});
    if let Some(k) = st.api_key {
        v["api_key"] = json!(k.expose_secret());
    }
    Json(v)
}

#[derive(Deserialize)]
struct PollQuery {
    poll: String,
}

async fn enroll_status(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<PollQuery>,
) -> ApiResult<Json<Value>> {
    let st = s
        .core
        .enrollment_status(&uuid_param::<Uuid>("pairing_id", &id)?, &q.poll)
        .await?;
    Ok(enroll_view(st))
}

async fn enroll_approve(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(enroll_view(
        s.core
            .decide_enrollment(&p, &uuid_param::<Uuid>("pairing_id", &id)?, true, &ctx)
            .await?,
    ))
}

async fn enroll_deny(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(enroll_view(
        s.core
            .decide_enrollment(&p, &uuid_param::<Uuid>("pairing_id", &id)?, false, &ctx)
            .await?,
    ))
}
