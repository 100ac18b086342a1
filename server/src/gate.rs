//! The REST door's side of the gate: which [`Operation`] each `/v1` route is and which
//! [`Access`] it needs, and the route layer that carries both to the extractor that admits
//! the caller ([`crate::extract::Auth`])
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
use talon_core::service::Scope;
use talon_core::{Access, Admitted, Core, Credential, Error, Operation, RequestContext};

/// Which operation a route is (API.md 5.2 names the billable ones).
pub fn operation(method: &Method, route: &str) -> Operation {
    match (method.as_str(), route) {
        ("GET", "/v1/vaults/{vault_id}/secrets/{*path}")
        | ("GET", "/v1/vaults/{vault_id}/secret-version/{*path}")
        | ("GET", "/v1/vaults/{vault_id}/env-vars")
        | ("GET", "/v1/vaults/{vault_id}/env-vars/resolve")
        | ("GET", "/v1/vaults/{vault_id}/env-vars/{key}") => Operation::SecretRead,
        ("PUT", "/v1/vaults/{vault_id}/secrets/{*path}")
        | ("POST", "/v1/vaults/{vault_id}/secret-rotate/{*path}")
        | ("POST", "/v1/vaults/{vault_id}/env-vars")
        | ("PATCH", "/v1/vaults/{vault_id}/env-vars/{key}") => Operation::SecretWrite,
        ("POST", "/v1/secrets/{secret_id}/share") | ("POST", "/v1/shares") => {
            Operation::ShareCreate
        }
        // Counted when the caller is authenticated (targeted shares); anonymous link opens
        // belong to no org the request could be charged to.
        ("GET", "/v1/share/{share_id}") => Operation::ShareAccess,
        ("GET", "/v1/audit/events") | ("GET", "/v1/audit") | ("GET", "/v1/audit/export") => {
            Operation::AuditQuery
        }
        ("POST", "/v1/agents/{agent_id}/execute") => Operation::Execute,
        _ => Operation::Other,
    }
}

/// What each signed-in `/v1` route needs of the caller's credential: the ceiling on a
/// personal API key. `None` for a route not listed, which the gate refuses (a new route
/// must declare its access here; a unit test checks that every route does).
pub fn access(method: &Method, route: &str) -> Option<Access> {
    use Access::{Any, FullAccess, Session};
    let scope = Access::Scope;
    Some(match (method.as_str(), route) {
        // Who am I, and signing out: any credential.
        ("GET", "/v1/auth/me")
        | ("GET", "/v1/auth/mfa/status")
        | ("DELETE", "/v1/auth/token")
        | ("POST", "/v1/auth/refresh")
        | ("GET", "/v1/agents/me")
        | ("GET", "/v1/share/{share_id}")
        | ("POST", "/v1/broker/blocked") => Any,
        // The account itself: never a scoped key.
        ("PATCH", "/v1/auth/me")
        | ("POST", "/v1/auth/change-password")
        | ("POST", "/v1/auth/mfa/setup")
        | ("POST", "/v1/auth/mfa/verify-setup")
        | ("DELETE", "/v1/auth/mfa")
        | ("GET", "/v1/auth/api-keys")
        | ("DELETE", "/v1/auth/api-keys/{key_id}")
        | ("POST", "/v1/billing/subscribe")
        | ("POST", "/v1/billing/portal")
        | ("POST", "/v1/org/invite")
        | ("PATCH", "/v1/org/members/{user_id}")
        | ("DELETE", "/v1/org/members/{user_id}") => FullAccess,
        // A new key: no wider than the key that creates it (checked by the core).
        ("POST", "/v1/auth/api-keys") => Any,
        // Approving a device login hands out a full session: only a session may.
        ("POST", "/v1/auth/device/approve") | ("POST", "/v1/auth/device/deny") => Session,
        ("GET", "/v1/vaults")
        | ("GET", "/v1/vaults/{vault_id}")
        | ("GET", "/v1/vaults/{vault_id}/key")
        | ("GET", "/v1/vaults/{vault_id}/policies") => scope(Scope::VaultsRead),
        ("POST", "/v1/vaults")
        | ("DELETE", "/v1/vaults/{vault_id}")
        | ("POST", "/v1/vaults/{vault_id}/rotate-key")
        | ("POST", "/v1/vaults/{vault_id}/environments")
        | ("DELETE", "/v1/vaults/{vault_id}/environments/{slug}") => scope(Scope::VaultsWrite),
        ("POST", "/v1/vaults/{vault_id}/policies")
        | ("PUT", "/v1/vaults/{vault_id}/policies/{policy_id}")
        | ("DELETE", "/v1/vaults/{vault_id}/policies/{policy_id}") => scope(Scope::PoliciesWrite),
        ("GET", "/v1/vaults/{vault_id}/secrets")
        | ("GET", "/v1/vaults/{vault_id}/secret-details")
        | ("GET", "/v1/vaults/{vault_id}/secrets/{*path}")
        | ("GET", "/v1/vaults/{vault_id}/secret-versions/{*path}")
        | ("GET", "/v1/vaults/{vault_id}/secret-version/{*path}")
        | ("GET", "/v1/vaults/{vault_id}/env-vars")
        | ("GET", "/v1/vaults/{vault_id}/env-vars/resolve")
        | ("GET", "/v1/vaults/{vault_id}/env-vars/{key}")
        | ("GET", "/v1/vaults/{vault_id}/environments") => scope(Scope::SecretsRead),
        ("PUT", "/v1/vaults/{vault_id}/secrets/{*path}")
        | ("DELETE", "/v1/vaults/{vault_id}/secrets/{*path}")
        | ("POST", "/v1/vaults/{vault_id}/secret-version-disable/{*path}")
        | ("POST", "/v1/vaults/{vault_id}/secret-rotate/{*path}")
        | ("POST", "/v1/vaults/{vault_id}/env-vars")
        | ("PATCH", "/v1/vaults/{vault_id}/env-vars/{key}")
        | ("DELETE", "/v1/vaults/{vault_id}/env-vars/{key}") => scope(Scope::SecretsWrite),
        ("GET", "/v1/agents")
        | ("GET", "/v1/agents/{agent_id}")
        | ("GET", "/v1/agents/{agent_id}/bindings")
        | ("GET", "/v1/agents/{agent_id}/bindings/{binding_id}")
        | ("GET", "/v1/agents/{agent_id}/executions") => scope(Scope::AgentsRead),
        // Only the agent itself executes (checked by the core).
        ("POST", "/v1/agents/{agent_id}/execute") => Any,
        ("POST", "/v1/agents")
        | ("PATCH", "/v1/agents/{agent_id}")
        | ("DELETE", "/v1/agents/{agent_id}")
        | ("POST", "/v1/agents/{agent_id}/rotate-key")
        | ("POST", "/v1/agents/{agent_id}/bindings")
        | ("PATCH", "/v1/agents/{agent_id}/bindings/{binding_id}")
        | ("DELETE", "/v1/agents/{agent_id}/bindings/{binding_id}")
        | ("POST", "/v1/agents/{agent_id}/bindings/{binding_id}/test")
        | ("POST", "/v1/agents/{agent_id}/bindings/{binding_id}/rotate-credential")
        | ("POST", "/v1/agents/enroll/{pairing_id}/approve")
        | ("POST", "/v1/agents/enroll/{pairing_id}/deny") => scope(Scope::AgentsWrite),
        ("POST", "/v1/secrets/{secret_id}/share")
        | ("POST", "/v1/shares")
        | ("DELETE", "/v1/share/{share_id}")
        | ("DELETE", "/v1/shares/{share_id}")
        | ("GET", "/v1/shares")
        | ("GET", "/v1/shares/outbound")
        | ("GET", "/v1/shares/inbound")
        | ("POST", "/v1/shares/{share_id}/accept")
        | ("POST", "/v1/shares/{share_id}/decline") => scope(Scope::SharesWrite),
        // Verify also needs an owner or admin and is limited per org; the core checks both.
        ("GET", "/v1/audit/events")
        | ("GET", "/v1/audit")
        | ("GET", "/v1/audit/export")
        | ("GET", "/v1/audit/verify") => scope(Scope::AuditRead),
        ("GET", "/v1/billing/usage")
        | ("GET", "/v1/billing/history")
        | ("GET", "/v1/billing/subscription") => scope(Scope::BillingRead),
        ("GET", "/v1/org/members") | ("GET", "/v1/security/ip-rules") => scope(Scope::OrgRead),
        ("POST", "/v1/security/ip-rules") | ("DELETE", "/v1/security/ip-rules/{rule_id}") => {
            scope(Scope::OrgWrite)
        }
        // Agents request and poll, people decide; the core checks who may see and decide each.
        ("GET", "/v1/approvals")
        | ("GET", "/v1/approvals/pending-count")
        | ("GET", "/v1/approvals/link")
        | ("GET", "/v1/approvals/{approval_id}")
        | ("GET", "/v1/approvals/{approval_id}/status")
        | ("POST", "/v1/approvals/request")
        | ("POST", "/v1/approvals/{approval_id}/cancel")
        | ("GET", "/v1/pending-approvals")
        | ("POST", "/v1/pending-approvals")
        | ("GET", "/v1/pending-approvals/{id}")
        | ("POST", "/v1/pending-approvals/{id}/execute")
        | ("POST", "/v1/pending-approvals/{id}/cancel") => Any,
        // Agents ask and poll; people list, fulfil and decline (checked by the core).
        ("GET", "/v1/secret-requests")
        | ("POST", "/v1/secret-requests")
        | ("GET", "/v1/secret-requests/{request_id}")
        | ("POST", "/v1/secret-requests/{request_id}/decline") => Any,
        ("POST", "/v1/secret-requests/{request_id}/fulfil") => scope(Scope::SecretsWrite),
        // A decision hands out access: never a scoped key.
        ("POST", "/v1/approvals/{approval_id}/decide")
        | ("POST", "/v1/approvals/quick-decide")
        | ("POST", "/v1/pending-approvals/{id}/approve") => FullAccess,
        ("GET", "/v1/webhooks")
        | ("GET", "/v1/webhooks/{webhook_id}")
        | ("GET", "/v1/webhooks/{webhook_id}/deliveries") => scope(Scope::OrgRead),
        ("POST", "/v1/webhooks")
        | ("PATCH", "/v1/webhooks/{webhook_id}")
        | ("DELETE", "/v1/webhooks/{webhook_id}")
        | ("POST", "/v1/webhooks/{webhook_id}/test") => scope(Scope::OrgWrite),
        // Owners and admins only (checked by the core); seeding a canary also needs
        // secrets:write.
        ("GET", "/v1/risk/honeytokens") => scope(Scope::OrgRead),
        ("POST", "/v1/risk/honeytokens") | ("DELETE", "/v1/risk/honeytokens/{honeytoken_id}") => {
            scope(Scope::OrgWrite)
        }
        _ => return None,
    })
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
    access: Option<Access>,
    admitted: Option<Admitted>,
    quota: Option<QuotaView>,
}

/// Carries the route's operation to the admitting extractor and the admission back to the
/// route layer. One per request.
#[derive(Clone)]
pub struct GateSlot(Arc<Mutex<SlotState>>);

impl GateSlot {
    fn new(op: Operation, access: Option<Access>) -> GateSlot {
        GateSlot(Arc::new(Mutex::new(SlotState {
            op,
            access,
            admitted: None,
            quota: None,
        })))
    }

    /// Passes the request through the core's gate with the route's operation and access. A
    /// route that declares no access is refused; a refusal for the quota still reports the
    /// quota in the response headers.
    pub async fn admit(
        &self,
        core: &Core,
        credential: Credential<'_>,
        ctx: &RequestContext,
    ) -> Result<Admitted, Problem> {
        let (op, access) = {
            let st = self.0.lock().expect("gate slot");
            (st.op, st.access)
        };
        let access = access.ok_or_else(|| {
            tracing::error!("a signed-in route declares no access");
            Problem::from(Error::Internal("route access not declared".into()))
        })?;
        let result = core.admit(credential, ctx, op, access).await;
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

/// Route layer: refuses at once while the database circuit is open ([`crate::circuit`]),
/// names the route's operation for the admitting extractor, then settles the admission with
/// the response's status and sets the quota headers (and opens the circuit when the answer
/// says the database is unavailable).
pub async fn layer(State(s): State<AppState>, mut req: Request<Body>, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let method = req.method().clone();
    // While the database is marked unavailable, a route that needs it is answered 503 at once.
    let store = s.core.store();
    if store.is_down() && !crate::circuit::needs_no_database(&route) {
        return crate::circuit::refusal();
    }
    let slot = GateSlot::new(operation(&method, &route), access(&method, &route));
    req.extensions_mut().insert(slot.clone());
    let mut res = next.run(req).await;
    crate::circuit::observe(store, &res);
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

    /// Routes that sign no one in (or only read an optional caller for wording): they never
    /// reach the gate, so they declare no access.
    const PUBLIC: &[(&str, &str)] = &[
        ("POST", "/v1/auth/signup"),
        ("POST", "/v1/auth/token"),
        ("POST", "/v1/auth/agent-token"),
        ("POST", "/v1/auth/google"),
        ("POST", "/v1/auth/api-key-token"),
        ("POST", "/v1/auth/forgot-password"),
        ("POST", "/v1/auth/reset-password"),
        ("POST", "/v1/auth/verify-email"),
        ("POST", "/v1/auth/mfa/verify"),
        ("POST", "/v1/auth/device/code"),
        ("GET", "/v1/auth/device/code/{user_code}"),
        ("POST", "/v1/auth/device/token"),
        ("POST", "/v1/agents/enroll"),
        ("GET", "/v1/agents/enroll/{pairing_id}/status"),
        ("POST", "/v1/billing/webhooks"),
        ("GET", "/v1/health"),
        ("GET", "/v1/health/hsm"),
        ("GET", "/v1/auth/jwt-public-key"),
        ("GET", "/v1/approvals/quick-decide"),
    ];

    /// Every `(method, path)` the REST routers register, read from their source.
    fn registered_routes() -> Vec<(String, String)> {
        let sources = [
            include_str!("rest/account.rs"),
            include_str!("rest/agents.rs"),
            include_str!("rest/approvals.rs"),
            include_str!("rest/audit.rs"),
            include_str!("rest/auth.rs"),
            include_str!("rest/billing.rs"),
            include_str!("rest/bindings.rs"),
            include_str!("rest/broker.rs"),
            include_str!("rest/device.rs"),
            include_str!("rest/env_vars.rs"),
            include_str!("rest/health.rs"),
            include_str!("rest/honeytokens.rs"),
            include_str!("rest/org.rs"),
            include_str!("rest/pending_approvals.rs"),
            include_str!("rest/policies.rs"),
            include_str!("rest/secret_requests.rs"),
            include_str!("rest/secrets.rs"),
            include_str!("rest/security.rs"),
            include_str!("rest/shares.rs"),
            include_str!("rest/vault_keys.rs"),
            include_str!("rest/vaults.rs"),
            include_str!("rest/webhooks.rs"),
        ];
        let route =
            regex::Regex::new(r#"\.route\(\s*"(/v1/[^"]*)",([^;]*?)\)\s*(\.route|$|\n\s*\})"#)
                .expect("route pattern");
        let method = regex::Regex::new(r"\b(get|post|put|patch|delete)\(").expect("method");
        let mut out = Vec::new();
        for src in sources {
            let mut at = 0;
            while let Some(m) = route.captures_at(src, at) {
                let whole = m.get(0).expect("match");
                at = whole.start() + 1;
                let path = &m[1];
                if path == "/v1/{*rest}" {
                    continue;
                }
                for verb in method.captures_iter(&m[2]) {
                    out.push((verb[1].to_uppercase(), path.to_owned()));
                }
            }
        }
        out
    }

    #[test]
    fn every_signed_in_route_declares_its_access() {
        let routes = registered_routes();
        assert!(
            routes.len() > 60,
            "the route scan found only {}",
            routes.len()
        );
        for (verb, path) in &routes {
            let public = PUBLIC.iter().any(|(m, p)| m == verb && p == path);
            let method = Method::from_bytes(verb.as_bytes()).expect("method");
            let declared = access(&method, path).is_some();
            assert!(
                public ^ declared,
                "{verb} {path}: {}",
                if public {
                    "is public but declares an access"
                } else {
                    "declares no access (add it to gate::access)"
                }
            );
        }
    }

    #[test]
    fn account_routes_are_never_open_to_a_scoped_key() {
        for (verb, path) in [
            ("POST", "/v1/auth/device/approve"),
            ("POST", "/v1/auth/mfa/setup"),
            ("POST", "/v1/auth/mfa/verify-setup"),
            ("DELETE", "/v1/auth/mfa"),
            ("POST", "/v1/auth/change-password"),
            ("PATCH", "/v1/auth/me"),
            ("POST", "/v1/org/invite"),
            ("DELETE", "/v1/org/members/{user_id}"),
        ] {
            let method = Method::from_bytes(verb.as_bytes()).expect("method");
            let a = access(&method, path).expect("declared");
            assert!(
                matches!(a, Access::FullAccess | Access::Session),
                "{verb} {path}: {a:?}"
            );
        }
        assert_eq!(
            access(&Method::POST, "/v1/auth/device/approve"),
            Some(Access::Session)
        );
    }

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
        assert_eq!(
            operation(&Method::POST, "/v1/agents/{agent_id}/execute"),
            Operation::Execute
        );
        assert!(Operation::Execute.billable().is_some());
    }
}
