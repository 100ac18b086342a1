//! Vaults.

use super::{uuid_param, views};
use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use talon_api::VaultId;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/vaults", get(list).post(create))
        .route("/v1/vaults/{vault_id}", get(one).delete(remove))
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

async fn create(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let v = s
        .core
        .create_vault(&p, &b.name, b.description.as_deref(), &ctx)
        .await?;
    Ok((StatusCode::CREATED, Json(views::vault(&v))))
}

async fn list(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let vaults = s.core.list_vaults(&p).await?;
    Ok(Json(
        json!({"vaults": vaults.iter().map(views::vault).collect::<Vec<_>>()}),
    ))
}

async fn one(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = s
        .core
        .get_vault(&p, &uuid_param::<VaultId>("vault_id", &id)?)
        .await?;
    Ok(Json(views::vault(&v)))
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
