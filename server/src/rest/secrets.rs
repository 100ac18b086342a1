//! Secrets: `{path}` is the rest of the URL, percent-decoded and validated before anything else.

use super::{time_field, uuid_param};
use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use talon_api::secrets::{
    PutSecretRequest, RotateSecretRequest, SecretDetailsListResponse, SecretListResponse,
    SecretResponse, SecretVersionListResponse, SecretVersionResponse,
};
use talon_api::VaultId;
use talon_core::secret_path::SecretPath;
use talon_core::service::RotateSecret;
use talon_core::PutSecret;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/vaults/{vault_id}/secrets", get(list))
        .route("/v1/vaults/{vault_id}/secret-details", get(details))
        .route(
            "/v1/vaults/{vault_id}/secrets/{*path}",
            get(read).put(write).delete(remove),
        )
        .route(
            "/v1/vaults/{vault_id}/secret-versions/{*path}",
            get(versions),
        )
        .route(
            "/v1/vaults/{vault_id}/secret-version/{*path}",
            get(read_version),
        )
        .route(
            "/v1/vaults/{vault_id}/secret-version-disable/{*path}",
            post(disable_version),
        )
        .route("/v1/vaults/{vault_id}/secret-rotate/{*path}", post(rotate))
}

fn params(vault_id: &str, path: &str) -> ApiResult<(String, SecretPath)> {
    Ok((
        uuid_param::<VaultId>("vault_id", vault_id)?,
        SecretPath::parse(path)?,
    ))
}

async fn write(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((vault_id, path)): Path<(String, String)>,
    ApiJson(b): ApiJson<PutSecretRequest>,
) -> ApiResult<(StatusCode, Json<SecretVersionResponse>)> {
    let (vault_id, path) = params(&vault_id, &path)?;
    let input = PutSecret {
        value: b.value,
        secret_type: b.secret_type,
        metadata: b.metadata,
        expires_at: time_field("expires_at", &b.expires_at)?,
        max_access_count: b.max_access_count,
    };
    let row = s.core.put_secret(&p, &vault_id, &path, input, &ctx).await?;
    Ok((StatusCode::CREATED, Json((&row).into())))
}

async fn read(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((vault_id, path)): Path<(String, String)>,
) -> ApiResult<Json<SecretResponse>> {
    let (vault_id, path) = params(&vault_id, &path)?;
    let read = s.core.get_secret(&p, &vault_id, &path, &ctx).await?;
    Ok(Json(read.into()))
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
) -> ApiResult<Json<SecretListResponse>> {
    let vault_id = uuid_param::<VaultId>("vault_id", &vault_id)?;
    let rows = s
        .core
        .list_secrets(&p, &vault_id, q.prefix.as_deref().unwrap_or(""), &ctx)
        .await?;
    Ok(Json(SecretListResponse {
        secrets: rows.iter().map(Into::into).collect(),
    }))
}

/// Talon only: the list with what 1claw's **SecretMetadataResponse** leaves out (vault, read
/// limit, counters, writer), for Talon's CLI and MCP server. Same filter and audit as the list.
async fn details(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(vault_id): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<SecretDetailsListResponse>> {
    let vault_id = uuid_param::<VaultId>("vault_id", &vault_id)?;
    let rows = s
        .core
        .list_secrets(&p, &vault_id, q.prefix.as_deref().unwrap_or(""), &ctx)
        .await?;
    Ok(Json(SecretDetailsListResponse {
        secrets: rows.iter().map(Into::into).collect(),
    }))
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

/// Splits `<path>/<version>`: the last segment is the integer version.
fn versioned_params(vault_id: &str, rest: &str) -> ApiResult<(String, SecretPath, i64)> {
    let (path, version) = rest.rsplit_once('/').ok_or_else(|| {
        talon_core::Error::invalid("version", "URL must end with /<path>/<version>")
    })?;
    let version = version
        .parse::<i64>()
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| {
            talon_core::Error::invalid("version", "version must be a positive integer")
        })?;
    let (vault_id, path) = params(vault_id, path)?;
    Ok((vault_id, path, version))
}

async fn versions(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((vault_id, path)): Path<(String, String)>,
) -> ApiResult<Json<SecretVersionListResponse>> {
    let (vault_id, path) = params(&vault_id, &path)?;
    let rows = s.core.list_versions(&p, &vault_id, &path, &ctx).await?;
    Ok(Json(SecretVersionListResponse {
        versions: rows.iter().map(Into::into).collect(),
    }))
}

async fn read_version(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((vault_id, rest)): Path<(String, String)>,
) -> ApiResult<Json<SecretResponse>> {
    let (vault_id, path, version) = versioned_params(&vault_id, &rest)?;
    let read = s
        .core
        .get_version(&p, &vault_id, &path, version, &ctx)
        .await?;
    Ok(Json(read.into()))
}

async fn disable_version(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((vault_id, rest)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (vault_id, path, version) = versioned_params(&vault_id, &rest)?;
    s.core
        .disable_version(&p, &vault_id, &path, version, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((vault_id, path)): Path<(String, String)>,
    ApiJson(b): ApiJson<RotateSecretRequest>,
) -> ApiResult<(StatusCode, Json<SecretVersionResponse>)> {
    let (vault_id, path) = params(&vault_id, &path)?;
    let row = s
        .core
        .rotate_secret(
            &p,
            &vault_id,
            &path,
            RotateSecret {
                length: b.length,
                charset: b.charset,
                secret_type: b.secret_type,
            },
            &ctx,
        )
        .await?;
    Ok((StatusCode::CREATED, Json((&row).into())))
}
