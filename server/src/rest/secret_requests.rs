//! Secret requests (Talon's shape for 1claw's `request_secret` / `check_secret_request`): an
//! agent asks, a person fulfils with a value into a vault and path of their choosing (or
//! declines), and the agent learns the status, vault and path, never the value.

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
use talon_api::VaultId;
use talon_core::clock::rfc3339;
use talon_core::material::SecretValue;
use talon_core::model::SecretRequest;
use talon_core::policy::Permission;
use talon_core::secret_path::SecretPath;
use talon_core::service::FulfilSecretRequest;
use talon_core::Error;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/secret-requests", get(list).post(create))
        .route("/v1/secret-requests/{request_id}", get(read))
        .route("/v1/secret-requests/{request_id}/fulfil", post(fulfil))
        .route("/v1/secret-requests/{request_id}/decline", post(decline))
}

/// **SecretRequestResponse**: never a value (a request holds none).
pub(crate) fn view(q: &SecretRequest) -> Value {
    json!({
        "id": q.id,
        "agent_id": q.agent_id,
        "label": q.label,
        "purpose": q.purpose,
        "suggested_path": q.suggested_path,
        "status": q.status,
        "vault_id": q.vault_id,
        "path": q.path,
        "granted": q.granted,
        "decline_reason": q.decline_reason,
        "decided_by": q.decided_by,
        "decided_at": q.decided_at.map(rfc3339),
        "expires_at": rfc3339(q.expires_at),
        "created_at": rfc3339(q.created_at),
    })
}

fn request_param(id: &str) -> ApiResult<String> {
    uuid_param::<Uuid>("request_id", id)
}

#[derive(Deserialize)]
struct CreateBody {
    label: String,
    purpose: String,
    #[serde(default)]
    suggested_path: Option<String>,
}

async fn create(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let q = s
        .core
        .request_secret(&p, &b.label, &b.purpose, b.suggested_path.as_deref(), &ctx)
        .await?;
    Ok((StatusCode::CREATED, Json(view(&q))))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    status: Option<String>,
}

async fn list(
    State(s): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    let rows = s.core.list_secret_requests(&p, status).await?;
    Ok(Json(
        json!({"secret_requests": rows.iter().map(view).collect::<Vec<_>>()}),
    ))
}

async fn read(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let q = s.core.get_secret_request(&p, &request_param(&id)?).await?;
    Ok(Json(view(&q)))
}

#[derive(Deserialize)]
struct FulfilBody {
    vault_id: String,
    path: String,
    value: SecretValue,
    #[serde(default)]
    grant: Option<String>,
}

async fn fulfil(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<FulfilBody>,
) -> ApiResult<Json<Value>> {
    let grant = match b.grant.as_deref() {
        None | Some("none") | Some("") => None,
        Some("use") => Some(Permission::Use),
        Some("read") => Some(Permission::Read),
        Some(_) => {
            return Err(Problem::from(Error::invalid(
                "grant",
                "grant must be use, read or none",
            )))
        }
    };
    let input = FulfilSecretRequest {
        vault_id: uuid_param::<VaultId>("vault_id", &b.vault_id)?,
        path: SecretPath::parse(&b.path)?,
        value: b.value,
        grant,
    };
    let q = s
        .core
        .fulfil_secret_request(&p, &request_param(&id)?, input, &ctx)
        .await?;
    Ok(Json(view(&q)))
}

#[derive(Deserialize)]
struct DeclineBody {
    #[serde(default)]
    reason: Option<String>,
}

async fn decline(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<DeclineBody>,
) -> ApiResult<Json<Value>> {
    let q = s
        .core
        .decline_secret_request(&p, &request_param(&id)?, b.reason.as_deref(), &ctx)
        .await?;
    Ok(Json(view(&q)))
}
