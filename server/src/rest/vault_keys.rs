//! Vault key rotation: `POST /v1/vaults/{vault_id}/rotate-key` and the key's status.

use super::uuid_param;
use crate::extract::{Auth, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use talon_api::VaultId;
use talon_core::clock::rfc3339;
use talon_core::service::KeyStatus;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/vaults/{vault_id}/rotate-key", post(rotate))
        .route("/v1/vaults/{vault_id}/key", get(status))
}

fn view(k: &KeyStatus) -> Value {
    json!({
        "vault_id": k.vault_id,
        "kek_version": k.kek_version,
        "retired_keys": k.retired.iter().map(|(version, left, destroyed)| json!({
            "kek_version": version,
            "versions_pending_rewrap": left,
            "destroyed": destroyed.is_some(),
            "destroyed_at": destroyed.map(rfc3339),
        })).collect::<Vec<_>>(),
    })
}

/// Owners and admins: new versions use the new KEK at once; older DEKs are re-wrapped by a
/// background job (202), after which the old KEK is destroyed.
async fn rotate(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let k = s
        .core
        .rotate_vault_key(&p, &uuid_param::<VaultId>("vault_id", &id)?, &ctx)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(view(&k))))
}

async fn status(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let k = s
        .core
        .vault_key_status(&p, &uuid_param::<VaultId>("vault_id", &id)?)
        .await?;
    Ok(Json(view(&k)))
}
