//! Billing and usage (API.md 8.15). Metering itself is the gate's (`crate::gate`).

use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::{ApiResult, Problem};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use talon_core::service::Subscribe;
use talon_core::Error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/billing/usage", get(usage))
        .route("/v1/billing/history", get(history))
        .route("/v1/billing/subscription", get(subscription))
        .route("/v1/billing/subscribe", post(subscribe))
        .route("/v1/billing/portal", post(portal))
        .route("/v1/billing/webhooks", post(webhook))
}

async fn usage(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    Ok(Json(s.core.billing_usage(&p).await?))
}

#[derive(Deserialize)]
struct HistoryQuery {
    limit: Option<String>,
}

async fn history(
    State(s): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q
        .limit
        .map(|l| {
            l.parse::<i64>()
                .map_err(|_| Problem::from(Error::invalid("limit", "limit must be an integer")))
        })
        .transpose()?;
    Ok(Json(s.core.billing_history(&p, limit).await?))
}

async fn subscription(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    Ok(Json(s.core.billing_subscription(&p).await?))
}

#[derive(Deserialize)]
struct SubscribeBody {
    #[serde(default)]
    tier: Option<String>,
    #[serde(default)]
    price_id: Option<String>,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    trial: Option<bool>,
}

async fn subscribe(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(b): ApiJson<SubscribeBody>,
) -> ApiResult<Json<Value>> {
    let url = s
        .core
        .billing_subscribe(
            &p,
            Subscribe {
                tier: b.tier,
                price_id: b.price_id,
                interval: b.interval,
                trial: b.trial.unwrap_or(false),
            },
        )
        .await?;
    Ok(Json(json!({"checkout_url": url})))
}

async fn portal(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let url = s.core.billing_portal(&p).await?;
    Ok(Json(json!({"portal_url": url})))
}

/// Public: authenticated by the `Stripe-Signature` header over the raw body.
async fn webhook(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let sig = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    s.core.billing_webhook(sig, &body, &ctx).await?;
    Ok(Json(json!({"received": true})))
}
