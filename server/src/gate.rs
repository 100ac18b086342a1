//! The REST door's side of the gate: which [`Operation`] each `/v1` route is, and the route
//! layer that carries it to the extractor that admits the caller ([`crate::extract::Auth`])
//! and, once the handler has answered, settles the admission (usage event, quota headers).
//! The rules themselves live in the core's gate ([`talon_core::Core::admit`]).

use crate::problem::Problem;
use crate::AppState;
use axum::body::Body;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::{Arc, Mutex};
use talon_core::service::QuotaView;
use talon_core::{Admitted, Core, Credential, Error, Operation, RequestContext};

/// Which operation a route is (API.md 5.2 names the billable ones).
pub fn operation(method: &Method, route: &str) -> Operation {
    match (method.as_str(), route) {
        ("GET", "/v1/vaults/{vault_id}/secrets/{*path}")
        | ("GET", "/v1/vaults/{vault_id}/secret-version/{*path}") => Operation::SecretRead,
        ("PUT", "/v1/vaults/{vault_id}/secrets/{*path}")
        | ("POST", "/v1/vaults/{vault_id}/secret-rotate/{*path}") => Operation::SecretWrite,
        ("POST", "/v1/secrets/{secret_id}/share") => Operation::ShareCreate,
        // Counted when the caller is authenticated (targeted shares); anonymous link opens
        // belong to no org the request could be charged to.
        ("GET", "/v1/share/{share_id}") => Operation::ShareAccess,
        ("GET", "/v1/audit/events") | ("GET", "/v1/audit/export") => Operation::AuditQuery,
        _ => Operation::Other,
    }
}

/// The route template as usage history shows it: `{vault_id}` and `{*path}` become
/// `:vault_id` and `:path`.
pub fn templated(route: &str) -> String {
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

struct SlotState {
    op: Operation,
    admitted: Option<Admitted>,
    quota: Option<QuotaView>,
}

/// Carries the route's operation to the admitting extractor and the admission back to the
/// route layer. One per request.
#[derive(Clone)]
pub struct GateSlot(Arc<Mutex<SlotState>>);

impl GateSlot {
    fn new(op: Operation) -> GateSlot {
        GateSlot(Arc::new(Mutex::new(SlotState {
            op,
            admitted: None,
            quota: None,
        })))
    }

    /// Passes the request through the core's gate with the route's operation. A refusal for
    /// the quota still reports the quota in the response headers.
    pub async fn admit(
        &self,
        core: &Core,
        credential: Credential<'_>,
        ctx: &RequestContext,
    ) -> Result<Admitted, Problem> {
        let op = self.0.lock().expect("gate slot").op;
        let result = core.admit(credential, ctx, op).await;
        let mut st = self.0.lock().expect("gate slot");
        match result {
            Ok(a) => {
                st.quota = Some(a.quota);
                st.admitted = Some(a.clone());
                Ok(a)
            }
            Err(e) => {
                if let Error::QuotaExceeded { used, limit, .. } = &e {
                    st.quota = Some(QuotaView {
                        used: *used,
                        limit: Some(*limit),
                    });
                }
                Err(e.into())
            }
        }
    }
}

/// Admits through the slot the route layer put on every `/v1` request. A handler reached
/// without it would not know its operation (nor be billed for it), so that is refused.
pub async fn admit(
    core: &Core,
    slot: Option<&GateSlot>,
    credential: Credential<'_>,
    ctx: &RequestContext,
) -> Result<Admitted, Problem> {
    let slot = slot.ok_or_else(|| {
        tracing::error!("an authenticated route is missing the gate layer");
        Problem::from(Error::Internal("gate layer missing".into()))
    })?;
    slot.admit(core, credential, ctx).await
}

/// Sets the quota headers of API.md 5.3.
pub fn set_quota_headers(h: &mut HeaderMap, v: QuotaView) {
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

/// Route layer: names the route's operation for the admitting extractor, then settles the
/// admission with the response's status and sets the quota headers.
pub async fn layer(State(s): State<AppState>, mut req: Request<Body>, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let method = req.method().clone();
    let slot = GateSlot::new(operation(&method, &route));
    req.extensions_mut().insert(slot.clone());
    let mut res = next.run(req).await;
    let (admitted, quota) = {
        let mut st = slot.0.lock().expect("gate slot");
        (st.admitted.take(), st.quota.take())
    };
    if let Some(a) = &admitted {
        s.core.settle(
            a,
            method.as_str(),
            &templated(&route),
            res.status().as_u16(),
        );
    }
    if let Some(view) = quota {
        set_quota_headers(res.headers_mut(), view);
    }
    res
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
        assert_eq!(operation(&Method::GET, secret), Operation::SecretRead);
        assert_eq!(operation(&Method::PUT, secret), Operation::SecretWrite);
        assert_eq!(operation(&Method::DELETE, secret), Operation::Other);
        assert_eq!(operation(&Method::GET, "/v1/vaults"), Operation::Other);
        assert_eq!(
            operation(&Method::GET, "/v1/vaults/{vault_id}/secrets"),
            Operation::Other
        );
        assert_eq!(Operation::Other.billable(), None);
    }
}
