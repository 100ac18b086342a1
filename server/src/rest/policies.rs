//! Policies on a vault.

use super::{nullable, nullable_time, time_field, uuid_param};
use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use talon_api::policies::{CreatePolicyRequest, PolicyListResponse, PolicyResponse};
use talon_api::{PolicyId, VaultId};
use talon_core::{CreatePolicy, UpdatePolicy};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/vaults/{vault_id}/policies", get(list).post(create))
        .route(
            "/v1/vaults/{vault_id}/policies/{policy_id}",
            put(update).delete(remove),
        )
}

async fn create(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(vault_id): Path<String>,
    ApiJson(b): ApiJson<CreatePolicyRequest>,
) -> ApiResult<(StatusCode, Json<PolicyResponse>)> {
    let vault_id = uuid_param::<VaultId>("vault_id", &vault_id)?;
    let input = CreatePolicy {
        secret_path_pattern: b.secret_path_pattern,
        principal_type: b.principal_type,
        principal_id: uuid_param::<Uuid>("principal_id", &b.principal_id)?,
        permissions: b.permissions,
        conditions: b.conditions,
        expires_at: time_field("expires_at", &b.expires_at)?,
        effect: b.effect,
        priority: b.priority,
    };
    let row = s.core.create_policy(&p, &vault_id, input, &ctx).await?;
    Ok((StatusCode::CREATED, Json((&row).into())))
}

async fn list(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(vault_id): Path<String>,
) -> ApiResult<Json<PolicyListResponse>> {
    let rows = s
        .core
        .list_policies(&p, &uuid_param::<VaultId>("vault_id", &vault_id)?)
        .await?;
    Ok(Json(PolicyListResponse {
        policies: rows.iter().map(Into::into).collect(),
    }))
}

#[derive(Deserialize)]
struct UpdateBody {
    #[serde(default)]
    permissions: Option<Vec<String>>,
    #[serde(default)]
    conditions: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    expires_at: Option<Option<String>>,
    #[serde(default)]
    effect: Option<String>,
    #[serde(default)]
    priority: Option<i64>,
}

async fn update(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((vault_id, policy_id)): Path<(String, String)>,
    ApiJson(b): ApiJson<UpdateBody>,
) -> ApiResult<Json<PolicyResponse>> {
    let input = UpdatePolicy {
        permissions: b.permissions,
        conditions: b.conditions,
        expires_at: nullable_time("expires_at", b.expires_at)?,
        effect: b.effect,
        priority: b.priority,
    };
    let row = s
        .core
        .update_policy(
            &p,
            &uuid_param::<VaultId>("vault_id", &vault_id)?,
            &uuid_param::<PolicyId>("policy_id", &policy_id)?,
            input,
            &ctx,
        )
        .await?;
    Ok(Json((&row).into()))
}

async fn remove(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((vault_id, policy_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.core
        .delete_policy(
            &p,
            &uuid_param::<VaultId>("vault_id", &vault_id)?,
            &uuid_param::<PolicyId>("policy_id", &policy_id)?,
            &ctx,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
