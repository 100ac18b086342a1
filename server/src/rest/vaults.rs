//! Vaults.

use super::uuid_param;
use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use talon_api::vaults::{CreateVaultRequest, VaultListResponse, VaultResponse};
use talon_api::VaultId;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/vaults", get(list).post(create))
        .route("/v1/vaults/{vault_id}", get(one).delete(remove))
}

async fn create(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<CreateVaultRequest>,
) -> ApiResult<(StatusCode, Json<VaultResponse>)> {
    let v = s
        .core
        .create_vault(&p, &b.name, b.description.as_deref(), &ctx)
        .await?;
    Ok((StatusCode::CREATED, Json((&v).into())))
}

async fn list(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<VaultListResponse>> {
    let vaults = s.core.list_vaults(&p).await?;
    Ok(Json(VaultListResponse {
        vaults: vaults.iter().map(Into::into).collect(),
    }))
}

async fn one(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<VaultResponse>> {
    let v = s
        .core
        .get_vault(&p, &uuid_param::<VaultId>("vault_id", &id)?)
        .await?;
    Ok(Json((&v).into()))
}

async fn remove(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.core
        .delete_vault(&p, &uuid_param::<VaultId>("vault_id", &id)?, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
