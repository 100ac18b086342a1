//! Billing and usage (API.md 8.15), and the metering step of the request pipeline (5.2, 5.3):
//! billable routes count against the monthly quota (402 once it is used up) and every
//! authenticated response carries the quota headers.

use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::{ApiResult, Problem};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use talon_core::service::{BillableOp, QuotaView, Subscribe};
use talon_core::{Core, Error, Principal};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/billing/usage", get(usage))
        .route("/v1/billing/history", get(history))
        .route("/v1/billing/subscription", get(subscription))
        .route("/v1/billing/subscribe", post(subscribe))
        .route("/v1/billing/portal", post(portal))
        .route("/v1/billing/webhooks", post(webhook))
}

/// Which billable operation a route is (API.md 5.2); `None` for free routes.
fn billable(method: &Method, route: &str) -> Option<BillableOp> {
    match (method.as_str(), route) {
        ("GET", "/v1/vaults/{vault_id}/secrets/{*path}")
        | ("GET", "/v1/vaults/{vault_id}/secret-version/{*path}") => Some(BillableOp::SecretRead),
        ("PUT", "/v1/vaults/{vault_id}/secrets/{*path}")
        | ("POST", "/v1/vaults/{vault_id}/secret-rotate/{*path}") => Some(BillableOp::SecretWrite),
        ("POST", "/v1/secrets/{secret_id}/share") => Some(BillableOp::ShareCreate),
        // Counted when the caller is authenticated (targeted shares); anonymous link opens
        // belong to no org the request could be charged to.
        ("GET", "/v1/share/{share_id}") => Some(BillableOp::ShareAccess),
        ("GET", "/v1/audit/events") | ("GET", "/v1/audit/export") => Some(BillableOp::AuditQuery),
        _ => None,
    }
}

/// The route template as usage history shows it: `{vault_id}` and `{*path}` become
/// `:vault_id` and `:path`.
fn templated(route: &str) -> String {
    route
        .split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!(":{}", name.trim_start_matches('*')),
                None => seg.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

#[derive(Default)]
struct SlotState {
    op: Option<BillableOp>,
    principal: Option<Principal>,
    admitted: bool,
    view: Option<QuotaView>,
}

/// Carries the route's billing class to the authentication extractor and the outcome back to
/// the metering middleware.
#[derive(Clone, Default)]
pub struct MeterSlot(Arc<Mutex<SlotState>>);

impl MeterSlot {
    /// Meters an authenticated request: 402 once the quota is used up on a billable route.
    pub async fn admit(&self, core: &Core, p: &Principal) -> Result<(), Problem> {
        let op = self.0.lock().expect("slot").op;
        let result = core.meter_admit(p, op).await;
        let mut st = self.0.lock().expect("slot");
        st.principal = Some(p.clone());
        match result {
            Ok(view) => {
                st.view = Some(view);
                st.admitted = op.is_some();
                Ok(())
            }
            Err(e) => {
                if let Error::QuotaExceeded { used, limit, .. } = &e {
                    st.view = Some(QuotaView {
                        used: *used,
                        limit: Some(*limit),
                    });
                }
                Err(e.into())
            }
        }
    }
}

fn set_quota_headers(h: &mut HeaderMap, v: QuotaView) {
    h.insert("x-ratelimit-requests-used", HeaderValue::from(v.used));
    if let (Some(limit), Some(pct)) = (v.limit, v.percent()) {
        h.insert("x-ratelimit-requests-limit", HeaderValue::from(limit));
        h.insert("x-ratelimit-requests-percent", HeaderValue::from(pct));
        if pct > 80 {
            h.insert(
                "x-quota-warning",
                HeaderValue::from_static("approaching_limit"),
            );
        }
    }
    h.insert("x-credit-balance-cents", HeaderValue::from_static("0"));
    h.insert("x-overage-method", HeaderValue::from_static("none"));
}

/// Route layer: classifies the route, lets the handler's authentication admit the request,
/// then queues the usage event (in memory) and sets the quota headers.
pub async fn meter(State(s): State<AppState>, mut req: Request<Body>, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let method = req.method().clone();
    let slot = MeterSlot::default();
    slot.0.lock().expect("slot").op = billable(&method, &route);
    req.extensions_mut().insert(slot.clone());
    let mut res = next.run(req).await;
    let st = std::mem::take(&mut *slot.0.lock().expect("slot"));
    if let (true, Some(op), Some(p)) = (st.admitted, st.op, &st.principal) {
        s.core.meter_record(
            p,
            op,
            method.as_str(),
            &templated(&route),
            res.status().as_u16(),
        );
    }
    if let Some(view) = st.view {
        set_quota_headers(res.headers_mut(), view);
    }
    res
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_template_their_parameters() {
        assert_eq!(
            templated("/v1/vaults/{vault_id}/secrets/{*path}"),
            "/v1/vaults/:vault_id/secrets/:path"
        );
        assert_eq!(templated("/v1/audit/events"), "/v1/audit/events");
    }

    #[test]
    fn only_api_md_billable_operations_are_billable() {
        let secret = "/v1/vaults/{vault_id}/secrets/{*path}";
        assert_eq!(billable(&Method::GET, secret), Some(BillableOp::SecretRead));
        assert_eq!(
            billable(&Method::PUT, secret),
            Some(BillableOp::SecretWrite)
        );
        assert_eq!(billable(&Method::DELETE, secret), None);
        assert_eq!(billable(&Method::GET, "/v1/vaults"), None);
        assert_eq!(
            billable(&Method::GET, "/v1/vaults/{vault_id}/secrets"),
            None
        );
    }
}
