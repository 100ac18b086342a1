//! Honeytokens (1claw's Risk Engine: **Honeytoken**, **CreateHoneytokenRequest**), with
//! Talon's `on_trigger`, and `value` and `type` to seed a canary secret.

use super::uuid_param;
use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use talon_api::honeytokens::{
    CreateHoneytokenRequest, HoneytokenCreatedResponse, HoneytokenDeletedResponse,
    HoneytokenListResponse,
};
use talon_api::VaultId;
use talon_core::service::CreateHoneytoken;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/risk/honeytokens", get(list).post(create))
        .route("/v1/risk/honeytokens/{honeytoken_id}", delete(remove))
}

async fn list(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<HoneytokenListResponse>> {
    let list = s.core.list_honeytokens(&p).await?;
    Ok(Json(HoneytokenListResponse {
        honeytokens: list.iter().map(Into::into).collect(),
    }))
}

async fn create(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<CreateHoneytokenRequest>,
) -> ApiResult<(StatusCode, Json<HoneytokenCreatedResponse>)> {
    let input = CreateHoneytoken {
        vault_id: uuid_param::<VaultId>("vault_id", &b.vault_id)?,
        secret_path: b.secret_path,
        notes: b.notes,
        on_trigger: b.on_trigger,
        value: b.value,
        secret_type: b.secret_type,
    };
    let h = s.core.create_honeytoken(&p, input, &ctx).await?;
    Ok((
        StatusCode::CREATED,
        Json(HoneytokenCreatedResponse {
            honeytoken: (&h).into(),
        }),
    ))
}

async fn remove(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<HoneytokenDeletedResponse>> {
    let id = uuid_param::<Uuid>("honeytoken_id", &id)?;
    s.core.delete_honeytoken(&p, &id, &ctx).await?;
    Ok(Json(HoneytokenDeletedResponse { deleted: true }))
}
