//! Secrets: `{path}` is the rest of the URL, percent-decoded and validated before anything else.

use super::{time_field, uuid_param, views};
use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use talon_core::material::SecretValue;
use talon_core::secret_path::SecretPath;
use talon_core::PutSecret;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/vaults/{vault_id}/secrets", get(list))
        .route(
            "/v1/vaults/{vault_id}/secrets/{*path}",
            get(read).put(write).delete(remove),
        )
}

fn params(vault_id: &str, path: &str) -> ApiResult<(String, SecretPath)> {
    Ok((uuid_param("vault_id", vault_id)?, SecretPath::parse(path)?))
}

#[derive(Deserialize)]
struct PutBody {
    value: String,
    #[serde(default, rename = "type")]
    secret_type: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    max_access_count: Option<i64>,
}

async fn write(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((vault_id, path)): Path<(String, String)>,
    ApiJson(b): ApiJson<PutBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let value = SecretValue::new(b.value);
    let (vault_id, path) = params(&vault_id, &path)?;
    let input = PutSecret {
        value,
        secret_type: b.secret_type,
        metadata: b.metadata,
        expires_at: time_field("expires_at", &b.expires_at)?,
        max_access_count: b.max_access_count,
    };
    let row = s.core.put_secret(&p, &vault_id, &path, input, &ctx).await?;
    Ok((StatusCode::CREATED, Json(views::secret_created(&row))))
}

async fn read(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((vault_id, path)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (vault_id, path) = params(&vault_id, &path)?;
    let read = s.core.get_secret(&p, &vault_id, &path, &ctx).await?;
    let mut body = views::secret_metadata(&read.meta);
    body["value"] = Value::String(read.value.expose_secret().to_owned());
    Ok(Json(body))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    prefix: Option<String>,
}

async fn list(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(vault_id): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let vault_id = uuid_param("vault_id", &vault_id)?;
    let rows = s
        .core
        .list_secrets(&p, &vault_id, q.prefix.as_deref().unwrap_or(""), &ctx)
        .await?;
    Ok(Json(
        json!({"secrets": rows.iter().map(views::secret_metadata).collect::<Vec<_>>()}),
    ))
}

async fn remove(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((vault_id, path)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (vault_id, path) = params(&vault_id, &path)?;
    s.core.delete_secret(&p, &vault_id, &path, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
