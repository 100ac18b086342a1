//! Webhooks (API.md §8.16), plus Talon's test event and delivery history.

use super::{nullable, uuid_param};
use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use talon_api::{expose_value, SecretValue};
use talon_core::clock::rfc3339;
use talon_core::model::{Webhook, WebhookDelivery};
use talon_core::service::{CreateWebhook, PatchWebhook, WebhookCreated};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks", get(list).post(create))
        .route(
            "/v1/webhooks/{webhook_id}",
            get(read).patch(update).delete(remove),
        )
        .route("/v1/webhooks/{webhook_id}/test", post(test))
        .route("/v1/webhooks/{webhook_id}/deliveries", get(deliveries))
}

fn delivery_view(d: &WebhookDelivery) -> Value {
    json!({
        "id": d.id,
        "webhook_id": d.webhook_id,
        "event_id": d.event_id,
        "event": d.action,
        "status": d.status,
        "attempts": d.attempts,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "last_attempt_at": d.last_attempt_at.map(rfc3339),
        "next_attempt_at": (d.status == "pending").then(|| rfc3339(d.next_attempt_at)),
        "created_at": rfc3339(d.created_at),
    })
}

/// **Webhook**, with Talon's `last_delivery` (the latest delivery, or `null`).
fn view(w: &Webhook) -> Value {
    json!({
        "id": w.id,
        "url": w.url,
        "events": w.events,
        "is_active": w.is_active,
        "description": w.description,
        "created_at": rfc3339(w.created_at),
        "last_delivery": w.last_delivery.as_ref().map(delivery_view),
    })
}

fn id_param(id: &str) -> ApiResult<String> {
    uuid_param::<Uuid>("webhook_id", id)
}

async fn list(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let hooks = s.core.list_webhooks(&p).await?;
    Ok(Json(
        json!({"webhooks": hooks.iter().map(view).collect::<Vec<_>>()}),
    ))
}

async fn read(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let w = s.core.get_webhook(&p, &id_param(&id)?).await?;
    Ok(Json(view(&w)))
}

#[derive(Deserialize)]
struct CreateBody {
    url: String,
    events: Vec<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    secret: Option<SecretValue>,
}

/// **WebhookCreated**: the webhook and, this once, its signing secret.
#[derive(Serialize)]
struct Created<'a> {
    id: &'a str,
    url: &'a str,
    events: &'a [String],
    #[serde(serialize_with = "expose_value")]
    secret: SecretValue,
    is_active: bool,
    description: &'a Option<String>,
    created_at: String,
}

async fn create(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let created = s
        .core
        .create_webhook(
            &p,
            CreateWebhook {
                url: b.url,
                events: b.events,
                description: b.description,
                secret: b.secret,
            },
            &ctx,
        )
        .await?;
    let WebhookCreated { webhook: w, secret } = created;
    let body = Created {
        id: &w.id,
        url: &w.url,
        events: &w.events,
        secret,
        is_active: w.is_active,
        description: &w.description,
        created_at: rfc3339(w.created_at),
    };
    let body = serde_json::to_value(&body).map_err(|_| {
        crate::problem::Problem::from(talon_core::Error::Internal(
            "webhook response did not serialise".into(),
        ))
    })?;
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize)]
struct PatchBody {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
}

async fn update(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PatchBody>,
) -> ApiResult<Json<Value>> {
    let patch = PatchWebhook {
        url: b.url,
        events: b.events,
        is_active: b.is_active,
        description: b.description,
    };
    let w = s
        .core
        .update_webhook(&p, &id_param(&id)?, patch, &ctx)
        .await?;
    Ok(Json(view(&w)))
}

async fn remove(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.core.delete_webhook(&p, &id_param(&id)?, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Talon: queues a `webhook.test` event for this webhook only; 202 with the queued delivery.
async fn test(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let d = s.core.test_webhook(&p, &id_param(&id)?, &ctx).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery_view(&d))))
}

/// Talon: the webhook's most recent deliveries, newest first.
async fn deliveries(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let list = s.core.webhook_deliveries(&p, &id_param(&id)?).await?;
    Ok(Json(
        json!({"deliveries": list.iter().map(delivery_view).collect::<Vec<_>>()}),
    ))
}
