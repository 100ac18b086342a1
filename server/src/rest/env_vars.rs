//! Environment variables and environments of a vault (API.md §8.17).

use super::uuid_param;
use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use talon_api::env_vars::{
    CreateEnvVarRequest, CreateEnvironmentRequest, EnvVarListResponse, EnvVarResponse,
    ResolveEnvVarsResponse, UpdateEnvVarRequest, VaultEnvironmentListResponse,
    VaultEnvironmentResponse,
};
use talon_api::VaultId;
use talon_core::service::{CreateEnvVar, CreateEnvironment, EnvVarSelector, UpdateEnvVar};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/vaults/{vault_id}/env-vars", get(list).post(create))
        .route("/v1/vaults/{vault_id}/env-vars/resolve", get(resolve))
        .route(
            "/v1/vaults/{vault_id}/env-vars/{key}",
            get(one).patch(update).delete(remove),
        )
        .route(
            "/v1/vaults/{vault_id}/environments",
            get(environments).post(create_environment),
        )
        .route(
            "/v1/vaults/{vault_id}/environments/{slug}",
            delete(delete_environment),
        )
}

/// `?environment=&git_branch=`; empty values count as absent.
#[derive(Deserialize, Default)]
struct Selector {
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    git_branch: Option<String>,
}

impl Selector {
    fn into_core(self) -> EnvVarSelector {
        EnvVarSelector {
            environment: self.environment.filter(|s| !s.is_empty()),
            git_branch: self.git_branch.filter(|s| !s.is_empty()),
        }
    }
}

fn vault(id: &str) -> ApiResult<String> {
    uuid_param::<VaultId>("vault_id", id)
}

async fn list(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(vault_id): Path<String>,
    Query(q): Query<Selector>,
) -> ApiResult<Json<EnvVarListResponse>> {
    let q = q.into_core();
    let rows = s
        .core
        .list_env_vars(&p, &vault(&vault_id)?, q.environment.as_deref(), true, &ctx)
        .await?;
    Ok(Json(EnvVarListResponse {
        env_vars: rows.into_iter().map(Into::into).collect(),
    }))
}

async fn create(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(vault_id): Path<String>,
    ApiJson(b): ApiJson<CreateEnvVarRequest>,
) -> ApiResult<(StatusCode, Json<EnvVarResponse>)> {
    let input = CreateEnvVar {
        key: b.key,
        value: b.value,
        environments: b.environments,
        git_branch: b.git_branch.filter(|s| !s.is_empty()),
        sensitive: b.sensitive,
        comment: b.comment,
    };
    let var = s
        .core
        .create_env_var(&p, &vault(&vault_id)?, input, &ctx)
        .await?;
    Ok((StatusCode::CREATED, Json(var.into())))
}

async fn resolve(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(vault_id): Path<String>,
    Query(q): Query<Selector>,
) -> ApiResult<Json<ResolveEnvVarsResponse>> {
    let q = q.into_core();
    let out = s
        .core
        .resolve_env(
            &p,
            &vault(&vault_id)?,
            q.environment.as_deref(),
            q.git_branch.as_deref(),
            &ctx,
        )
        .await?;
    Ok(Json(out.into()))
}

async fn one(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((vault_id, key)): Path<(String, String)>,
    Query(q): Query<Selector>,
) -> ApiResult<Json<EnvVarResponse>> {
    let view = s
        .core
        .get_env_var(&p, &vault(&vault_id)?, &key, &q.into_core(), &ctx)
        .await?;
    Ok(Json(view.into()))
}

async fn update(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((vault_id, key)): Path<(String, String)>,
    Query(q): Query<Selector>,
    ApiJson(b): ApiJson<UpdateEnvVarRequest>,
) -> ApiResult<Json<EnvVarResponse>> {
    let patch = UpdateEnvVar {
        value: b.value,
        environments: b.environments,
        sensitive: b.sensitive,
        comment: b.comment,
    };
    let var = s
        .core
        .update_env_var(&p, &vault(&vault_id)?, &key, &q.into_core(), patch, &ctx)
        .await?;
    Ok(Json(var.into()))
}

async fn remove(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((vault_id, key)): Path<(String, String)>,
    Query(q): Query<Selector>,
) -> ApiResult<StatusCode> {
    s.core
        .delete_env_var(&p, &vault(&vault_id)?, &key, &q.into_core(), &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn environments(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(vault_id): Path<String>,
) -> ApiResult<Json<VaultEnvironmentListResponse>> {
    let list = s.core.list_environments(&p, &vault(&vault_id)?).await?;
    Ok(Json(VaultEnvironmentListResponse {
        environments: list.into_iter().map(Into::into).collect(),
    }))
}

async fn create_environment(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(vault_id): Path<String>,
    ApiJson(b): ApiJson<CreateEnvironmentRequest>,
) -> ApiResult<(StatusCode, Json<VaultEnvironmentResponse>)> {
    let input = CreateEnvironment {
        slug: b.slug,
        description: b.description,
        copy_from: b.copy_from.filter(|s| !s.is_empty()),
    };
    let env = s
        .core
        .create_environment(&p, &vault(&vault_id)?, input, &ctx)
        .await?;
    Ok((StatusCode::CREATED, Json(env.into())))
}

async fn delete_environment(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path((vault_id, slug)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.core
        .delete_environment(&p, &vault(&vault_id)?, &slug, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
