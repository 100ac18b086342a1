//! Sharing: create, open (public for links), list, accept/decline, revoke.

use super::{time_field, uuid_param};
use crate::extract::{ApiJson, Auth, Ctx, MaybeAuth};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use talon_api::shares::{CreateShareRequest, ShareResponse};
use talon_api::{SecretId, ShareId};
use talon_core::clock::rfc3339;
use talon_core::material::Password;
use talon_core::model::Share;
use talon_core::service::CreateShare;
use uuid::Uuid;

/// `POST /v1/shares`, `GET /v1/shares?direction=` and `DELETE /v1/shares/{share_id}` are
/// aliases 1claw's clients also use.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/secrets/{secret_id}/share", post(create))
        .route("/v1/share/{share_id}", get(open).delete(revoke))
        .route("/v1/shares/outbound", get(outbound))
        .route("/v1/shares/inbound", get(inbound))
        .route("/v1/shares", post(create_with_id).get(by_direction))
        .route("/v1/shares/{share_id}", delete(revoke))
        .route("/v1/shares/{share_id}/accept", post(accept))
        .route("/v1/shares/{share_id}/decline", post(decline))
}

pub(crate) fn share_view(s: &Share, base: &str) -> ShareResponse {
    ShareResponse {
        id: s.id.clone(),
        share_url: format!("{base}/v1/share/{}", s.id),
        secret_id: s.secret_id.clone(),
        recipient_type: s.recipient_type.clone(),
        recipient_id: s.recipient_id.clone(),
        recipient_email: s.recipient_email.clone(),
        expires_at: rfc3339(s.expires_at),
        max_access_count: s.max_access_count,
        access_count: s.access_count,
        passphrase_protected: s.passphrase_protected,
        status: s.status.clone(),
        created_at: rfc3339(s.created_at),
    }
}

fn list_item(s: &Share, now: i64) -> Value {
    let expired = s.expires_at <= now;
    let status = s.derived_status(now);
    json!({
        "id": s.id, "secret_id": s.secret_id, "vault_id": s.vault_id, "secret_path": s.secret_path,
        "recipient_type": s.recipient_type, "recipient_id": s.recipient_id,
        "recipient_email": s.recipient_email, "created_by": s.created_by,
        "created_by_type": s.created_by_type, "access_count": s.access_count,
        "max_access_count": s.max_access_count, "expires_at": rfc3339(s.expires_at),
        "created_at": rfc3339(s.created_at), "is_expired": expired,
        "is_accepted": s.status == "accepted", "status": status,
    })
}

async fn create(
    state: State<AppState>,
    auth: Auth,
    ctx: Ctx,
    Path(secret_id): Path<String>,
    ApiJson(b): ApiJson<CreateShareRequest>,
) -> ApiResult<(StatusCode, Json<ShareResponse>)> {
    share_secret(state, auth, ctx, secret_id, b).await
}

/// `POST /v1/shares`: the create above with the secret named in the body.
#[derive(Deserialize)]
struct CreateWithId {
    secret_id: String,
    #[serde(flatten)]
    share: CreateShareRequest,
}

async fn create_with_id(
    state: State<AppState>,
    auth: Auth,
    ctx: Ctx,
    ApiJson(b): ApiJson<CreateWithId>,
) -> ApiResult<(StatusCode, Json<ShareResponse>)> {
    share_secret(state, auth, ctx, b.secret_id, b.share).await
}

async fn share_secret(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    secret_id: String,
    b: CreateShareRequest,
) -> ApiResult<(StatusCode, Json<ShareResponse>)> {
    let expires_at = time_field("expires_at", &Some(b.expires_at))?.unwrap_or_default();
    let recipient_id = b
        .recipient_id
        .map(|id| uuid_param::<Uuid>("recipient_id", &id))
        .transpose()?;
    let input = CreateShare {
        recipient_type: b.recipient_type,
        recipient_id,
        email: b.email,
        expires_at,
        max_access_count: b.max_access_count,
        passphrase: b.passphrase,
        ip_allowlist: b.ip_allowlist.unwrap_or_default(),
    };
    let row = s
        .core
        .create_share(
            &p,
            &uuid_param::<SecretId>("secret_id", &secret_id)?,
            input,
            &ctx,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(share_view(&row, &s.core.config().public_url)),
    ))
}

#[derive(Deserialize, Default)]
struct OpenBody {
    #[serde(default)]
    passphrase: Option<Password>,
}

/// Public for link shares; a valid Bearer, when sent, identifies a targeted share's recipient.
/// The passphrase comes in the JSON body or `X-Share-Passphrase`, never in the URL.
async fn open(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    MaybeAuth(caller): MaybeAuth,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<OpenBody>,
) -> ApiResult<Json<Value>> {
    let passphrase = b.passphrase.or_else(|| {
        headers
            .get("x-share-passphrase")
            .and_then(|v| v.to_str().ok())
            .map(|v| Password::new(v.to_owned()))
    });
    let (share, read) = s
        .core
        .access_share(
            &uuid_param::<ShareId>("share_id", &id)?,
            caller.as_ref(),
            passphrase.as_ref().map(|p| p.expose_secret()),
            &ctx,
        )
        .await?;
    Ok(Json(json!({
        "id": share.id, "secret_id": share.secret_id, "path": read.meta.path,
        "type": read.meta.secret_type, "value": read.value.expose_secret(),
        "version": read.meta.version, "access_count": read.share_access_count.unwrap_or(share.access_count + 1),
        "max_access_count": share.max_access_count, "expires_at": rfc3339(share.expires_at),
    })))
}

async fn revoke(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.core
        .revoke_share(&p, &uuid_param::<ShareId>("share_id", &id)?, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn outbound(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let now = talon_core::clock::now_ms();
    let list = s.core.outbound_shares(&p).await?;
    Ok(Json(
        json!({"shares": list.iter().map(|x| list_item(x, now)).collect::<Vec<_>>()}),
    ))
}

async fn inbound(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let now = talon_core::clock::now_ms();
    let list = s.core.inbound_shares(&p).await?;
    Ok(Json(
        json!({"shares": list.iter().map(|x| list_item(x, now)).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
struct DirectionQuery {
    #[serde(default)]
    direction: Option<String>,
}

/// `GET /v1/shares?direction=inbound|outbound`: the two lists above.
async fn by_direction(
    state: State<AppState>,
    auth: Auth,
    Query(q): Query<DirectionQuery>,
) -> ApiResult<Json<Value>> {
    match q.direction.as_deref() {
        Some("inbound") => inbound(state, auth).await,
        Some("outbound") => outbound(state, auth).await,
        _ => Err(talon_core::Error::invalid(
            "direction",
            "direction must be 'inbound' or 'outbound'",
        )
        .into()),
    }
}

async fn accept(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.core
        .answer_share(&p, &uuid_param::<ShareId>("share_id", &id)?, true, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn decline(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.core
        .answer_share(&p, &uuid_param::<ShareId>("share_id", &id)?, false, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
