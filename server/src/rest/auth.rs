//! Human signup and login, agent key exchange.

use crate::extract::{ApiJson, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use talon_api::auth::{
    AgentTokenRequest, AgentTokenResponse, LoginRequest, SignupRequest, SignupResponse,
    TokenResponse,
};
use talon_api::BearerSecret;
use talon_core::Signup;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/signup", post(signup))
        .route("/v1/auth/token", post(login).delete(super::account::logout))
        .route("/v1/auth/agent-token", post(agent_token))
        .route("/v1/auth/google", post(google))
}

async fn signup(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<SignupRequest>,
) -> ApiResult<Json<SignupResponse>> {
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
    Ok(Json(SignupResponse {
        message: "Account created".to_owned(),
        email: out.email,
        user_id: out.user_id,
        org_id: out.org_id,
        access_token: out.access_token,
        token_type: "Bearer".to_owned(),
        expires_in: out.expires_in,
        refresh_token: out.refresh_token,
    }))
}

async fn login(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
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
) -> ApiResult<Json<TokenResponse>> {
    Ok(login_response(
        s.core.google_login(&b.id_token, &ctx).await?,
    ))
}

/// A **TokenResponse**, or the MFA challenge (**LoginResponse**).
fn login_response(out: talon_core::LoginOutcome) -> Json<TokenResponse> {
    let challenge = out.mfa_token.is_some();
    Json(TokenResponse {
        access_token: if challenge {
            BearerSecret::new(String::new())
        } else {
            out.access_token
        },
        token_type: "Bearer".to_owned(),
        expires_in: out.expires_in,
        refresh_token: (!challenge).then_some(out.refresh_token),
        mfa_required: challenge.then_some(true),
        mfa_token: out.mfa_token,
    })
}

async fn agent_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<AgentTokenRequest>,
) -> ApiResult<Json<AgentTokenResponse>> {
    let out = s
        .core
        .agent_token(b.api_key.expose_secret(), b.agent_id.as_deref(), &ctx)
        .await?;
    Ok(Json(AgentTokenResponse {
        access_token: out.access_token,
        token_type: "Bearer".to_owned(),
        expires_in: out.expires_in,
        agent_id: b.agent_id.is_none().then_some(out.agent_id),
    }))
}
