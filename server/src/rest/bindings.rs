//! Bindings and brokered execution (1claw's "Execution Intents": **BindingResponse**,
//! **ExecuteResponse**), plus Talon's execution history.

use super::uuid_param;
use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::{ApiResult, Problem};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use talon_api::AgentId;
use talon_core::binding_config::credential_text;
use talon_core::clock::rfc3339;
use talon_core::material::SecretValue;
use talon_core::model::{Binding, CredentialSource, Execution};
use talon_core::service::{CreateBinding, CredentialInput, ExecuteIntent, PatchBinding};
use talon_core::Error;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/agents/{agent_id}/bindings", get(list).post(create))
        .route(
            "/v1/agents/{agent_id}/bindings/{binding_id}",
            get(read).patch(update).delete(remove),
        )
        .route(
            "/v1/agents/{agent_id}/bindings/{binding_id}/test",
            post(test),
        )
        .route(
            "/v1/agents/{agent_id}/bindings/{binding_id}/rotate-credential",
            post(rotate_credential),
        )
        .route("/v1/agents/{agent_id}/execute", post(execute))
        .route("/v1/agents/{agent_id}/executions", get(executions))
}

/// **BindingResponse**: never the credential, only whether one is set and where it lives.
fn view(b: &Binding) -> Value {
    let (vault_id, path) = match &b.credential {
        CredentialSource::VaultRef { vault_id, path } => (Some(vault_id), Some(path)),
        _ => (None, None),
    };
    json!({
        "id": b.id,
        "agent_id": b.agent_id,
        "binding_type": b.binding_type,
        "name": b.name,
        "config": b.config,
        "guardrails": b.guardrails,
        "is_active": b.is_active,
        "credential_set": b.credential != CredentialSource::None,
        "credential_source_type": b.credential.type_name(),
        "credential_vault_id": vault_id,
        "credential_path": path,
        "created_at": rfc3339(b.created_at),
        "updated_at": rfc3339(b.updated_at),
    })
}

/// Talon's **ExecutionEventResponse**: one execution, never a body or the credential.
fn execution_view(e: &Execution) -> Value {
    json!({
        "id": e.id,
        "agent_id": e.agent_id,
        "binding_id": e.binding_id,
        "binding_name": e.binding_name,
        "method": e.method,
        "host": e.host,
        "path": e.path,
        "status": e.status,
        "http_status": e.http_status,
        "request_bytes": e.request_bytes,
        "response_bytes": e.response_bytes,
        "duration_ms": e.duration_ms,
        "redactions_applied": e.redactions,
        "error": e.error,
        "created_at": rfc3339(e.created_at),
    })
}

fn agent_param(id: &str) -> ApiResult<String> {
    uuid_param::<AgentId>("agent_id", id)
}

fn binding_param(id: &str) -> ApiResult<String> {
    uuid_param::<Uuid>("binding_id", id)
}

/// **CredentialSource**.
#[derive(Deserialize)]
struct SourceBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    vault_id: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

/// An inline credential value (a string, or an object naming it) as the core takes it.
fn inline_value(field: &'static str, v: &Value) -> ApiResult<SecretValue> {
    credential_text(v).map(SecretValue::new).ok_or_else(|| {
        Problem::from(Error::invalid(
            field,
            format!("{field} must be a non-empty string, or an object with one of value, token, api_key, key, secret, password (or username and password)"),
        ))
    })
}

/// The credential of a create or update body: `credential_source`, else the legacy
/// `credential` object.
fn credential_input(
    source: Option<SourceBody>,
    legacy: Option<Value>,
) -> ApiResult<Option<CredentialInput>> {
    if let Some(s) = source {
        return match s.kind.as_str() {
            "inline" => {
                let v = s.value.ok_or_else(|| {
                    Problem::from(Error::invalid(
                        "credential_source",
                        "credential_source.value is required for an inline credential",
                    ))
                })?;
                Ok(Some(CredentialInput::Inline(inline_value(
                    "credential_source",
                    &v,
                )?)))
            }
            "vault_ref" => {
                let (Some(vault_id), Some(path)) = (s.vault_id, s.path) else {
                    return Err(Problem::from(Error::invalid(
                        "credential_source",
                        "credential_source.vault_id and credential_source.path are required for a vault_ref credential",
                    )));
                };
                Ok(Some(CredentialInput::VaultRef {
                    vault_id: uuid_param::<talon_api::VaultId>("credential_source", &vault_id)?,
                    path,
                }))
            }
            _ => Err(Problem::from(Error::invalid(
                "credential_source",
                "credential_source.type must be inline or vault_ref",
            ))),
        };
    }
    legacy
        .map(|v| inline_value("credential", &v).map(CredentialInput::Inline))
        .transpose()
}

async fn list(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(agent_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let list = s.core.list_bindings(&p, &agent_param(&agent_id)?).await?;
    Ok(Json(
        json!({"bindings": list.iter().map(view).collect::<Vec<_>>()}),
    ))
}

async fn read(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((agent_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let b = s
        .core
        .get_binding(&p, &agent_param(&agent_id)?, &binding_param(&id)?)
        .await?;
    Ok(Json(view(&b)))
}

/// **CreateBindingRequest**.
#[derive(Deserialize)]
struct CreateBody {
    name: String,
    binding_type: String,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    guardrails: Option<Value>,
    #[serde(default)]
    credential: Option<Value>,
    #[serde(default)]
    credential_source: Option<SourceBody>,
}

async fn create(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(agent_id): Path<String>,
    ApiJson(b): ApiJson<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let agent_id = agent_param(&agent_id)?;
    let input = CreateBinding {
        name: b.name,
        binding_type: b.binding_type,
        config: b.config.unwrap_or_else(|| json!({})),
        guardrails: b.guardrails,
        credential: credential_input(b.credential_source, b.credential)?,
    };
    let created = s.core.create_binding(&p, &agent_id, input, &ctx).await?;
    Ok((StatusCode::CREATED, Json(view(&created))))
}

/// **UpdateBindingRequest**.
#[derive(Deserialize)]
struct PatchBody {
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    guardrails: Option<Value>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    credential: Option<Value>,
    #[serde(default)]
    credential_source: Option<SourceBody>,
}

async fn update(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((agent_id, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<PatchBody>,
) -> ApiResult<Json<Value>> {
    let patch = PatchBinding {
        config: b.config,
        guardrails: b.guardrails,
        is_active: b.is_active,
        credential: credential_input(b.credential_source, b.credential)?,
    };
    let updated = s
        .core
        .update_binding(
            &p,
            &agent_param(&agent_id)?,
            &binding_param(&id)?,
            patch,
            &ctx,
        )
        .await?;
    Ok(Json(view(&updated)))
}

async fn remove(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((agent_id, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.core
        .delete_binding(&p, &agent_param(&agent_id)?, &binding_param(&id)?, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct TestBody {
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// **TestBindingResponse**.
async fn test(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((agent_id, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<TestBody>,
) -> ApiResult<Json<Value>> {
    let t = s
        .core
        .test_binding(
            &p,
            &agent_param(&agent_id)?,
            &binding_param(&id)?,
            b.timeout_ms,
            &ctx,
        )
        .await?;
    Ok(Json(
        json!({"success": t.success, "latency_ms": t.latency_ms, "error": t.error}),
    ))
}

#[derive(Deserialize)]
struct RotateBody {
    credential: Value,
}

async fn rotate_credential(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((agent_id, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<RotateBody>,
) -> ApiResult<Json<Value>> {
    let value = inline_value("credential", &b.credential)?;
    let updated = s
        .core
        .rotate_binding_credential(
            &p,
            &agent_param(&agent_id)?,
            &binding_param(&id)?,
            value,
            &ctx,
        )
        .await?;
    Ok(Json(view(&updated)))
}

/// **ExecuteRequest**.
#[derive(Deserialize)]
struct ExecuteBody {
    binding: String,
    intent_type: String,
    #[serde(default)]
    execution_mode: Option<String>,
    #[serde(default)]
    params: Option<Value>,
}

/// **ExecuteResponse**: the upstream's answer with the credential redacted.
async fn execute(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(agent_id): Path<String>,
    ApiJson(b): ApiJson<ExecuteBody>,
) -> ApiResult<Json<Value>> {
    let intent = ExecuteIntent {
        binding: b.binding,
        intent_type: b.intent_type,
        execution_mode: b.execution_mode,
        params: b.params.unwrap_or_else(|| json!({})),
    };
    let done = s
        .core
        .execute(&p, &agent_param(&agent_id)?, intent, &ctx)
        .await?;
    let e = &done.execution;
    Ok(Json(json!({
        "execution_id": e.id,
        "status": e.status,
        "result": done.result,
        "error": e.error,
        "duration_ms": e.duration_ms,
        "redactions_applied": e.redactions,
        "execution_surface": "vault",
    })))
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    offset: Option<i64>,
}

/// The agent's executions, newest first (`limit`, `offset`).
async fn executions(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(agent_id): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
    let list = s
        .core
        .list_executions(&p, &agent_param(&agent_id)?, page.limit, page.offset)
        .await?;
    Ok(Json(
        json!({"executions": list.iter().map(execution_view).collect::<Vec<_>>()}),
    ))
}
