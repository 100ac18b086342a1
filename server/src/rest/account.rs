//! The caller's own account: personal API keys, refresh, logout, profile, password.

use super::{nullable, time_field, uuid_param};
use crate::extract::{ApiJson, Auth, Ctx, MaybeAuth};
use crate::problem::{ApiResult, Problem};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use talon_api::auth::TokenResponse;
use talon_api::ApiKeyId;
use talon_core::clock::rfc3339;
use talon_core::material::{BearerSecret, Password};
use talon_core::model::{ApiKey, User};
use talon_core::service::{ProfilePatch, Tokens};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/api-keys", get(list_keys).post(create_key))
        .route("/v1/auth/api-keys/{key_id}", delete(revoke_key))
        .route("/v1/auth/api-key-token", post(api_key_token))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/me", get(me).patch(update_me))
        .route("/v1/auth/change-password", post(change_password))
        .route("/v1/auth/forgot-password", post(forgot_password))
        .route("/v1/auth/reset-password", post(reset_password))
        .route("/v1/auth/verify-email", post(verify_email))
        .route("/v1/auth/mfa/status", get(mfa_status))
        .route("/v1/auth/mfa/setup", post(mfa_setup))
        .route("/v1/auth/mfa/verify-setup", post(mfa_verify_setup))
        .route("/v1/auth/mfa/verify", post(mfa_verify))
        .route("/v1/auth/mfa", delete(mfa_disable))
}

fn key_view(k: &ApiKey) -> Value {
    json!({
        "id": k.id, "name": k.name, "key_prefix": k.key_prefix, "prefix": k.key_prefix,
        "scopes": k.scopes, "is_active": k.is_active, "created_at": rfc3339(k.created_at),
        "expires_at": k.expires_at.map(rfc3339), "last_used_at": k.last_used_at.map(rfc3339),
    })
}

pub fn profile(u: &User) -> Value {
    json!({
        "id": u.id, "email": u.email, "display_name": u.display_name, "org_id": u.org_id,
        "role": u.role, "auth_method": u.auth_method, "email_verified": u.email_verified,
        "marketing_emails": u.marketing_emails, "totp_enabled": u.totp_enabled,
        "billing_tier": u.billing_tier, "created_at": rfc3339(u.created_at),
    })
}

fn tokens(t: Tokens) -> Json<TokenResponse> {
    Json(TokenResponse {
        access_token: t.access_token,
        token_type: "Bearer".to_owned(),
        expires_in: t.expires_in,
        refresh_token: t.refresh_token,
        mfa_required: None,
        mfa_token: None,
    })
}

#[derive(Deserialize)]
struct CreateKey {
    name: String,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    expires_at: Option<String>,
}

async fn create_key(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let expires_at = time_field("expires_at", &b.expires_at)?;
    let out = s
        .core
        .create_api_key(&p, &b.name, b.scopes.unwrap_or_default(), expires_at, &ctx)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"key": key_view(&out.key), "api_key": out.api_key.expose_secret()})),
    ))
}

async fn list_keys(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let keys = s.core.list_api_keys(&p).await?;
    Ok(Json(
        json!({"keys": keys.iter().map(key_view).collect::<Vec<_>>()}),
    ))
}

async fn revoke_key(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.core
        .revoke_api_key(&p, &uuid_param::<ApiKeyId>("key_id", &id)?, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct KeyBody {
    api_key: BearerSecret,
}

async fn api_key_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<KeyBody>,
) -> ApiResult<Json<TokenResponse>> {
    Ok(tokens(
        s.core
            .api_key_token(b.api_key.expose_secret(), &ctx)
            .await?,
    ))
}

#[derive(Deserialize)]
struct RefreshBody {
    #[serde(default)]
    refresh_token: Option<BearerSecret>,
}

/// Body `{refresh_token}` rotates the refresh token; no body with a valid human Bearer issues a
/// new access token (what the Python SDK sends).
async fn refresh(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    MaybeAuth(caller): MaybeAuth,
    ApiJson(b): ApiJson<RefreshBody>,
) -> ApiResult<Json<TokenResponse>> {
    if let Some(rt) = b.refresh_token {
        return Ok(tokens(s.core.refresh(rt.expose_secret(), &ctx).await?));
    }
    let p = caller.ok_or_else(|| {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "Send a refresh_token or a valid Bearer access token",
        )
    })?;
    if matches!(p, talon_core::Principal::Agent { .. }) {
        return Err(Problem::bad_request(
            "Agents refresh by exchanging their key again",
        ));
    }
    Ok(tokens(s.core.reissue(&p).await?))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    talon_core::bearer_token(headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

/// `DELETE /v1/auth/token`: revokes the presented token at once.
pub async fn logout(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let token = bearer(&headers).unwrap_or_default();
    s.core.logout(&p, token, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    Ok(Json(profile(&s.core.me(&p).await?)))
}

#[derive(Deserialize)]
struct PatchMe {
    #[serde(default, deserialize_with = "nullable")]
    display_name: Option<Option<String>>,
    #[serde(default)]
    marketing_emails: Option<bool>,
}

async fn update_me(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<PatchMe>,
) -> ApiResult<Json<Value>> {
    let u = s
        .core
        .update_me(
            &p,
            ProfilePatch {
                display_name: b.display_name,
                marketing_emails: b.marketing_emails,
            },
            &ctx,
        )
        .await?;
    Ok(Json(profile(&u)))
}

#[derive(Deserialize)]
struct ChangePassword {
    current_password: Password,
    new_password: Password,
}

async fn change_password(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<ChangePassword>,
) -> ApiResult<StatusCode> {
    s.core
        .change_password(&p, b.current_password, b.new_password, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn mfa_status(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let (enabled, remaining) = s.core.mfa_status(&p).await?;
    Ok(Json(
        json!({"enabled": enabled, "recovery_codes_remaining": remaining}),
    ))
}

async fn mfa_setup(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let setup = s.core.mfa_setup(&p).await?;
    Ok(Json(json!({
        "otpauth_uri": setup.otpauth_uri.expose_secret(),
        "secret": setup.secret.expose_secret(),
    })))
}

#[derive(Deserialize)]
struct CodeBody {
    code: String,
}

async fn mfa_verify_setup(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<CodeBody>,
) -> ApiResult<Json<Value>> {
    let codes = s.core.mfa_verify_setup(&p, &b.code, &ctx).await?;
    Ok(Json(json!({"recovery_codes": codes})))
}

#[derive(Deserialize)]
struct MfaVerifyBody {
    mfa_token: BearerSecret,
    code: String,
}

async fn mfa_verify(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<MfaVerifyBody>,
) -> ApiResult<Json<TokenResponse>> {
    let t = s
        .core
        .mfa_verify(b.mfa_token.expose_secret(), &b.code, &ctx)
        .await
        .map_err(|e| {
            let mut p = Problem::from(e);
            if p.status == StatusCode::UNAUTHORIZED {
                p.kind = "mfa_invalid";
            }
            p
        })?;
    Ok(tokens(t))
}

#[derive(Deserialize)]
struct DisableBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    password: Option<Password>,
}

async fn mfa_disable(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<DisableBody>,
) -> ApiResult<StatusCode> {
    s.core
        .mfa_disable(&p, b.code.as_deref(), b.password, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ForgotBody {
    email: String,
}

async fn forgot_password(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<ForgotBody>,
) -> ApiResult<Json<Value>> {
    s.core.forgot_password(&b.email, &ctx).await?;
    Ok(Json(json!({
        "message": "If an account exists for this email, a reset link has been sent.",
        "status": "email_sent",
    })))
}

#[derive(Deserialize)]
struct ResetBody {
    token: BearerSecret,
    new_password: Password,
}

async fn reset_password(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<ResetBody>,
) -> ApiResult<Json<Value>> {
    s.core
        .reset_password(b.token.expose_secret(), b.new_password, &ctx)
        .await?;
    Ok(Json(
        json!({"message": "Password updated. Sign in with the new password."}),
    ))
}

#[derive(Deserialize)]
struct VerifyBody {
    token: BearerSecret,
}

async fn verify_email(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<VerifyBody>,
) -> ApiResult<Json<TokenResponse>> {
    Ok(tokens(
        s.core.verify_email(b.token.expose_secret(), &ctx).await?,
    ))
}
