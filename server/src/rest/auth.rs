//! Human signup and login, agent key exchange.

use crate::extract::{ApiJson, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use talon_core::material::{BearerSecret, Password};
use talon_core::Signup;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/signup", post(signup))
        .route("/v1/auth/token", post(login).delete(super::account::logout))
        .route("/v1/auth/agent-token", post(agent_token))
        .route("/v1/auth/google", post(google))
}

#[derive(Deserialize)]
struct SignupBody {
    email: String,
    password: Password,
    #[serde(default)]
    display_name: Option<String>,
}

async fn signup(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<SignupBody>,
) -> ApiResult<Json<Value>> {
    let out = s
        .core
        .signup(
            Signup {
                email: b.email,
                password: b.password,
                display_name: b.display_name,
            },
            &ctx,
        )
        .await?;
    Ok(Json(json!({
        "message": "Account created",
        "email": out.email, "user_id": out.user_id, "org_id": out.org_id,
        "access_token": out.access_token, "token_type": "Bearer", "expires_in": out.expires_in,
        "refresh_token": out.refresh_token,
    })))
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: Password,
}

async fn login(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<LoginBody>,
) -> ApiResult<Json<Value>> {
    let out = s
        .core
        .login(&b.email, b.password.expose_secret(), &ctx)
        .await?;
    Ok(login_response(out))
}

#[derive(Deserialize)]
struct GoogleBody {
    id_token: String,
}

async fn google(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<GoogleBody>,
) -> ApiResult<Json<Value>> {
    Ok(login_response(
        s.core.google_login(&b.id_token, &ctx).await?,
    ))
}

/// A **TokenResponse** with `user_id`, or the MFA challenge.
fn login_response(out: talon_core::LoginOutcome) -> Json<Value> {
    if let Some(mfa_token) = out.mfa_token {
        return Json(json!({
            "mfa_required": true, "mfa_token": mfa_token, "access_token": "",
            "token_type": "Bearer", "expires_in": out.expires_in, "user_id": out.user_id,
        }));
    }
    Json(json!({
        "access_token": out.access_token, "token_type": "Bearer", "expires_in": out.expires_in,
        "refresh_token": out.refresh_token, "user_id": out.user_id,
    }))
}

#[derive(Deserialize)]
struct AgentTokenBody {
    api_key: BearerSecret,
    #[serde(default)]
    agent_id: Option<String>,
}

async fn agent_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<AgentTokenBody>,
) -> ApiResult<Json<Value>> {
    let out = s
        .core
        .agent_token(b.api_key.expose_secret(), b.agent_id.as_deref(), &ctx)
        .await?;
    Ok(Json(json!({
        "access_token": out.access_token, "token_type": "Bearer", "expires_in": out.expires_in,
        "agent_id": out.agent_id, "org_id": out.org_id, "vault_ids": out.vault_ids,
        "scopes": out.scopes,
    })))
}
