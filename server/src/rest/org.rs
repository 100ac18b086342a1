//! Organization and team.

use super::uuid_param;
use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use talon_api::UserId;
use talon_core::clock::rfc3339;
use talon_core::model::User;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/org/members", get(members))
        .route("/v1/org/invite", post(invite))
        .route(
            "/v1/org/members/{user_id}",
            patch(change_role).delete(remove),
        )
}

fn member(u: &User) -> Value {
    let joined = rfc3339(u.created_at);
    json!({
        "id": u.id, "user_id": u.id, "email": u.email, "display_name": u.display_name,
        "role": u.role, "auth_method": u.auth_method, "created_at": joined, "joined_at": joined,
    })
}

async fn members(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let list = s.core.members(&p).await?;
    Ok(Json(
        json!({"members": list.iter().map(member).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
struct InviteBody {
    email: String,
    #[serde(default)]
    role: Option<String>,
}

async fn invite(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<InviteBody>,
) -> ApiResult<Json<Value>> {
    let inv = s.core.invite(&p, &b.email, b.role.as_deref(), &ctx).await?;
    Ok(Json(json!({
        "message": "Invitation created", "email": inv.email, "invite_id": inv.id,
        "role": inv.role, "expires_at": rfc3339(inv.expires_at),
    })))
}

#[derive(Deserialize)]
struct RoleBody {
    role: String,
}

async fn change_role(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RoleBody>,
) -> ApiResult<Json<Value>> {
    let u = s
        .core
        .change_role(&p, &uuid_param::<UserId>("user_id", &id)?, &b.role, &ctx)
        .await?;
    Ok(Json(member(&u)))
}

async fn remove(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.core
        .remove_member(&p, &uuid_param::<UserId>("user_id", &id)?, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
