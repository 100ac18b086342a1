//! Usage and billing: tier limits from configuration, the monthly request quota counted in
//! memory and flushed in batches, quota headers, usage shapes, and Stripe (signed webhooks, and
//! Checkout/portal against a local stand-in for Stripe's API).

use crate::common::{self, Db, TestServer};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::{Arc, Mutex};

on_both_databases!(
    creations_beyond_the_tier_limits_are_resource_limit_problems,
    quota_is_counted_in_memory_flushed_in_batches_and_enforced_with_402,
    default_enterprise_tier_is_unlimited,
    stripe_endpoints_without_settings_are_not_configured,
    signed_webhooks_change_the_tier_and_bad_signatures_are_refused,
    subscribe_and_portal_send_stripe_form_requests,
    admin_set_tier_changes_the_tier_from_the_host,
    quota_is_shared_by_two_processes_on_one_database,
    agents_read_their_orgs_usage_and_nothing_else_of_billing,
);

fn limits_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TALON_DEFAULT_TIER", "free"),
        (
            "TALON_PLAN_LIMITS",
            r#"{"free":{"secrets":3,"requests":8}}"#,
        ),
    ]
}

async fn creations_beyond_the_tier_limits_are_resource_limit_problems(db: Db) {
    let srv = TestServer::start_with(db, &limits_env()).await;
    let h = srv.signup().await;
    // Vaults: 3 on free (built-in).
    let mut vaults = Vec::new();
    for i in 0..3 {
        vaults.push(srv.create_vault(&h.token, &format!("v{i}")).await);
    }
    let (s, v) = srv
        .post(
            "/v1/vaults",
            Some(&h.token),
            json!({"name": "one too many"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["type"], "resource_limit_exceeded");
    assert_eq!(v["title"], "Forbidden");
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.contains("Vault limit reached (3/3 on free tier)"),
        "{detail}"
    );
    assert_eq!(
        (v["limit"].clone(), v["current"].clone()),
        (json!(3), json!(3))
    );
    assert_eq!(v["tier"], "free");
    // Deleting a vault frees its slot.
    let (s, _) = srv
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/vaults/{}", vaults.pop().unwrap()),
            Some(&h.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    vaults.push(srv.create_vault(&h.token, "again").await);

    // Secrets: 3 by override, counted as live paths across the org's vaults.
    srv.put_secret(&h.token, &vaults[0], "a", "1").await;
    srv.put_secret(&h.token, &vaults[1], "b", "1").await;
    srv.put_secret(&h.token, &vaults[1], "c", "1").await;
    let (s, v) = srv
        .put(
            &format!("/v1/vaults/{}/secrets/d", vaults[0]),
            &h.token,
            json!({"value": "1"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["type"], "resource_limit_exceeded");
    assert!(v["detail"]
        .as_str()
        .unwrap()
        .contains("Secret limit reached (3/3 on free tier)"));
    // A new version of an existing path never hits the limit.
    srv.put_secret(&h.token, &vaults[0], "a", "2").await;
    // Deleting a path frees its slot.
    let (s, _) = srv
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/vaults/{}/secrets/c", vaults[1]),
            Some(&h.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    srv.put_secret(&h.token, &vaults[0], "d", "1").await;

    // Agents: 2 on free.
    srv.create_agent(&h.token, "a1").await;
    srv.create_agent(&h.token, "a2").await;
    let (s, v) = srv
        .post("/v1/agents", Some(&h.token), json!({"name": "a3"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["type"], "resource_limit_exceeded");
    assert!(v["detail"]
        .as_str()
        .unwrap()
        .contains("Agent limit reached (2/2 on free tier)"));

    // Usage reports the limits and counts.
    let (s, u) = srv.get("/v1/billing/usage", &h.token).await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["billing_tier"], "free");
    assert_eq!(u["free_tier_limit"], 8);
    assert_eq!(
        u["limits"],
        json!({"requests": 8, "vaults": 3, "secrets": 3, "agents": 2})
    );
    assert_eq!(
        u["usage"],
        json!({"vaults": 3, "secrets": 3, "agents": 2, "members": 1})
    );
}

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn usage_events_in_db(srv: &TestServer) -> i64 {
    let pool = srv.db_pool().await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

async fn quota_is_counted_in_memory_flushed_in_batches_and_enforced_with_402(db: Db) {
    let mut env = limits_env();
    // A long interval: nothing reaches the database until history asks for a flush.
    env.push(("TALON_USAGE_FLUSH_MS", "600000"));
    let mut srv = TestServer::start_with(db, &env).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "v").await;
    srv.put_secret(&h.token, &vault, "api/key", "s3cr3t-value")
        .await; // 1 billable write
    let read = format!("/v1/vaults/{vault}/secrets/api/key");
    for i in 2..=6 {
        let res = srv
            .http
            .get(srv.url(&read))
            .bearer_auth(&h.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            header(&res, "x-ratelimit-requests-used").unwrap(),
            i.to_string()
        );
        assert_eq!(header(&res, "x-ratelimit-requests-limit").unwrap(), "8");
        assert_eq!(
            header(&res, "x-ratelimit-requests-percent").unwrap(),
            (i * 100 / 8).to_string()
        );
        assert_eq!(header(&res, "x-credit-balance-cents").unwrap(), "0");
        assert_eq!(header(&res, "x-overage-method").unwrap(), "none");
        assert_eq!(header(&res, "x-quota-warning"), None, "{i} of 8");
    }
    // Counting added no database write per request.
    assert_eq!(usage_events_in_db(&srv).await, 0);
    // Free routes are not counted but carry the headers.
    let res = srv
        .http
        .get(srv.url("/v1/vaults"))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&res, "x-ratelimit-requests-used").unwrap(), "6");
    // 7 and 8 pass with a warning (above 80 %); the 9th billable request is refused.
    for used in [7, 8] {
        let res = srv
            .http
            .get(srv.url(&read))
            .bearer_auth(&h.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            header(&res, "x-quota-warning").unwrap(),
            "approaching_limit"
        );
        assert_eq!(
            header(&res, "x-ratelimit-requests-used").unwrap(),
            used.to_string()
        );
    }
    let res = srv
        .http
        .get(srv.url(&read))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(header(&res, "x-ratelimit-requests-limit").unwrap(), "8");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["type"], "quota_exceeded");
    assert!(body["request_id"].is_string());
    assert!(!body.to_string().contains("s3cr3t-value"));
    // Writes are billable too; free routes still work.
    let (s, _) = srv.put(&read, &h.token, json!({"value": "x"})).await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(srv.get("/v1/vaults", &h.token).await.0, StatusCode::OK);

    // Usage is exact before any flush: 1 write + 7 reads.
    let (_, u) = srv.get("/v1/billing/usage", &h.token).await;
    assert_eq!(
        u["current_month"],
        json!({"total_requests": 8, "paid_requests": 0, "free_requests": 8, "total_cost_usd": "0.0120"})
    );
    let (_, sub) = srv.get("/v1/billing/subscription", &h.token).await;
    assert_eq!(sub["tier"], "free");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["interval"], Value::Null);
    assert_eq!(sub["credit_balance_usd"], "0.00");
    assert_eq!(sub["overage_method"], "none");
    assert_eq!(sub["usage"]["requests"], json!({"used": 8, "limit": 8}));
    assert_eq!(sub["usage"]["vaults"], json!({"used": 1, "limit": 3}));
    assert_eq!(
        sub["usage"]["team_members"],
        json!({"used": 1, "limit": null})
    );

    // History flushes the batch and lists the billable requests, newest first.
    let (s, hist) = srv.get("/v1/billing/history?limit=500", &h.token).await;
    assert_eq!(s, StatusCode::OK, "{hist}");
    let events = hist["events"].as_array().unwrap();
    assert_eq!(events.len(), 8, "{hist}");
    assert_eq!(usage_events_in_db(&srv).await, 8);
    let newest = &events[0];
    assert_eq!(newest["method"], "GET");
    assert_eq!(newest["endpoint"], "/v1/vaults/:vault_id/secrets/:path");
    assert_eq!(newest["status_code"], 200);
    assert_eq!(newest["price_usd"], "0.0010");
    assert_eq!(newest["is_paid"], false);
    assert_eq!(newest["principal_type"], "user");
    assert_eq!(newest["principal_id"], h.user_id.as_str());
    let oldest = &events[7];
    assert_eq!(oldest["method"], "PUT");
    assert_eq!(oldest["price_usd"], "0.0050");
    assert_eq!(
        srv.get("/v1/billing/history?limit=501", &h.token).await.0,
        StatusCode::BAD_REQUEST
    );

    // The count survives a restart (it was flushed), so the quota still holds.
    srv.restart().await;
    let (s, tok) = srv
        .post(
            "/v1/auth/token",
            None,
            json!({"email": h.email, "password": common::PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let token = tok["access_token"].as_str().unwrap();
    assert_eq!(srv.get(&read, token).await.0, StatusCode::PAYMENT_REQUIRED);
    // Agents read their org's usage, and nothing else of billing.
    let (_, key) = srv.create_agent(token, "bot").await;
    let at = srv.agent_token(&key).await;
    let (s, usage) = srv.get("/v1/billing/usage", &at).await;
    assert_eq!(s, StatusCode::OK, "{usage}");
    assert_eq!(usage["billing_tier"], "free");
    assert_eq!(
        srv.get("/v1/billing/history", &at).await.0,
        StatusCode::FORBIDDEN
    );
}

async fn default_enterprise_tier_is_unlimited(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "v").await;
    srv.put_secret(&h.token, &vault, "k", "v").await;
    for _ in 0..3 {
        srv.create_vault(&h.token, "more").await;
    }
    let res = srv
        .http
        .get(srv.url(&format!("/v1/vaults/{vault}/secrets/k")))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "x-ratelimit-requests-used").unwrap(), "2");
    assert_eq!(header(&res, "x-ratelimit-requests-limit"), None);
    assert_eq!(header(&res, "x-ratelimit-requests-percent"), None);
    let (_, u) = srv.get("/v1/billing/usage", &h.token).await;
    assert_eq!(u["billing_tier"], "enterprise");
    assert_eq!(u["free_tier_limit"], Value::Null);
    assert_eq!(
        u["limits"],
        json!({"requests": null, "vaults": null, "secrets": null, "agents": null})
    );
    // Public routes carry no quota headers.
    let res = srv.http.get(srv.url("/v1/health")).send().await.unwrap();
    assert_eq!(header(&res, "x-ratelimit-requests-used"), None);
}

async fn stripe_endpoints_without_settings_are_not_configured(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    for path in ["/v1/billing/subscribe", "/v1/billing/portal"] {
        let (s, v) = srv.post(path, Some(&h.token), json!({"tier": "pro"})).await;
        assert_eq!(s, StatusCode::NOT_IMPLEMENTED, "{path}: {v}");
        assert_eq!(v["type"], "billing_not_configured");
    }
    let (s, v) = srv
        .post("/v1/billing/webhooks", None, json!({"id": "evt_1"}))
        .await;
    assert_eq!(s, StatusCode::NOT_IMPLEMENTED, "{v}");
    assert_eq!(v["type"], "billing_not_configured");
}

const WHSEC: &str = "whsec_test_secret";

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn stripe_signature(secret: &str, t: i64, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{payload}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

async fn send_webhook(srv: &TestServer, payload: &str, signature: &str) -> (StatusCode, Value) {
    let res = srv
        .http
        .post(srv.url("/v1/billing/webhooks"))
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(payload.to_owned())
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

fn stripe_env(extra: &[(&'static str, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("TALON_DEFAULT_TIER".into(), "free".into()),
        ("TALON_STRIPE_WEBHOOK_SECRET".into(), WHSEC.into()),
        (
            "TALON_STRIPE_PRICE_PRO_MONTHLY".into(),
            "price_pro_m".into(),
        ),
        (
            "TALON_STRIPE_PRICE_BUSINESS_YEARLY".into(),
            "price_biz_y".into(),
        ),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    env
}

async fn start_env(db: Db, env: &[(String, String)]) -> TestServer {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::start_with(db, &pairs).await
}

async fn tier_of(srv: &TestServer, token: &str) -> Value {
    srv.get("/v1/billing/subscription", token).await.1
}

async fn signed_webhooks_change_the_tier_and_bad_signatures_are_refused(db: Db) {
    let srv = start_env(db, &stripe_env(&[])).await;
    let h = srv.signup().await;
    let period_end = now_s() + 30 * 86_400;
    let updated = json!({
        "id": "evt_sub_1", "type": "customer.subscription.updated",
        "data": {"object": {
            "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
            "metadata": {"org_id": h.org_id},
            "current_period_end": period_end,
            "items": {"data": [{"price": {"id": "price_pro_m", "recurring": {"interval": "month"}}}]}
        }}
    })
    .to_string();

    // A wrong secret, an edited body, a stale timestamp and no header are all 400.
    let t = now_s();
    for (sig, body) in [
        (
            stripe_signature("whsec_other", t, &updated),
            updated.clone(),
        ),
        (
            stripe_signature(WHSEC, t, &updated),
            updated.replace("price_pro_m", "price_biz_y"),
        ),
        (stripe_signature(WHSEC, t - 301, &updated), updated.clone()),
        (format!("t={t}"), updated.clone()),
    ] {
        let (s, v) = send_webhook(&srv, &body, &sig).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{sig}: {v}");
    }
    let res = srv
        .http
        .post(srv.url("/v1/billing/webhooks"))
        .body(updated.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(tier_of(&srv, &h.token).await["tier"], "free");

    // A valid signature moves the org to pro with Stripe's interval and period end.
    let (s, v) = send_webhook(&srv, &updated, &stripe_signature(WHSEC, now_s(), &updated)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"received": true}));
    let sub = tier_of(&srv, &h.token).await;
    assert_eq!(sub["tier"], "pro");
    assert_eq!(sub["interval"], "monthly");
    assert_eq!(sub["status"], "active");
    assert!(sub["period_end"].as_str().unwrap().ends_with('Z'));
    assert_eq!(sub["usage"]["vaults"]["limit"], 25);
    let (_, events) = srv
        .get("/v1/audit/events?action=billing.tier_changed", &h.token)
        .await;
    assert_eq!(events["total"], 1, "{events}");
    let e = &events["events"][0];
    assert_eq!(e["actor_type"], "system");
    assert_eq!(e["details"]["from"], "free");
    assert_eq!(e["details"]["to"], "pro");
    // The new tier's limits apply at once: a fourth vault is allowed on pro.
    for i in 0..4 {
        srv.create_vault(&h.token, &format!("v{i}")).await;
    }

    // A replayed event id is acknowledged and not applied twice.
    let (s, _) = send_webhook(&srv, &updated, &stripe_signature(WHSEC, now_s(), &updated)).await;
    assert_eq!(s, StatusCode::OK);
    let (_, events) = srv
        .get("/v1/audit/events?action=billing.tier_changed", &h.token)
        .await;
    assert_eq!(events["total"], 1);

    // A failed invoice (found by its customer id) marks the subscription past due.
    let failed = json!({
        "id": "evt_inv_1", "type": "invoice.payment_failed",
        "data": {"object": {"id": "in_1", "object": "invoice", "customer": "cus_1"}}
    })
    .to_string();
    let (s, _) = send_webhook(&srv, &failed, &stripe_signature(WHSEC, now_s(), &failed)).await;
    assert_eq!(s, StatusCode::OK);
    let sub = tier_of(&srv, &h.token).await;
    assert_eq!(
        (sub["tier"].clone(), sub["status"].clone()),
        (json!("pro"), json!("past_due"))
    );

    // Deleting the subscription (found by its customer id) returns the org to the default tier.
    let deleted = json!({
        "id": "evt_sub_2", "type": "customer.subscription.deleted",
        "data": {"object": {"id": "sub_1", "customer": "cus_1", "status": "canceled", "metadata": {}}}
    })
    .to_string();
    let (s, _) = send_webhook(&srv, &deleted, &stripe_signature(WHSEC, now_s(), &deleted)).await;
    assert_eq!(s, StatusCode::OK);
    let sub = tier_of(&srv, &h.token).await;
    assert_eq!(sub["tier"], "free");
    assert_eq!(sub["status"], "canceled");
    let (s, v) = srv
        .post("/v1/vaults", Some(&h.token), json!({"name": "over"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["type"], "resource_limit_exceeded");
}

/// What the stand-in Stripe API saw: path, Authorization header and form body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

async fn fake_stripe() -> (String, Seen) {
    use axum::extract::State;
    use axum::http::{HeaderMap, Uri};
    let seen: Seen = Arc::default();
    async fn record(
        State(seen): State<Seen>,
        uri: Uri,
        headers: HeaderMap,
        body: String,
    ) -> axum::Json<Value> {
        let auth = headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let path = uri.path().to_owned();
        seen.lock().unwrap().push((path.clone(), auth, body));
        axum::Json(if path == "/v1/checkout/sessions" {
            json!({"id": "cs_test_1", "object": "checkout.session", "url": "https://checkout.stripe.test/c/cs_test_1"})
        } else {
            json!({"id": "bps_1", "object": "billing_portal.session", "url": "https://billing.stripe.test/p/bps_1"})
        })
    }
    let app = axum::Router::new()
        .route("/v1/checkout/sessions", axum::routing::post(record))
        .route("/v1/billing_portal/sessions", axum::routing::post(record))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn form(body: &str) -> Vec<(String, String)> {
    fn dec(s: &str) -> String {
        let s = s.replace('+', " ");
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (dec(k), dec(v)))
        .collect()
}

fn field<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

async fn subscribe_and_portal_send_stripe_form_requests(db: Db) {
    let (base, seen) = fake_stripe().await;
    let srv = start_env(
        db,
        &stripe_env(&[
            ("TALON_STRIPE_SECRET_KEY", "sk_test_talon".into()),
            ("TALON_STRIPE_API_BASE", base),
        ]),
    )
    .await;
    let h = srv.signup().await;
    // A member of the org reads usage but may not change the subscription.
    let joined = srv.join(&h.token, "member").await;
    assert_eq!(joined.org_id, h.org_id);
    let member = joined.token;
    assert_eq!(
        srv.get("/v1/billing/usage", &member).await.0,
        StatusCode::OK
    );
    for path in ["/v1/billing/subscribe", "/v1/billing/portal"] {
        let (s, v) = srv.post(path, Some(&member), json!({"tier": "pro"})).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {v}");
    }
    // The Python SDK's shape (price_id) and the OpenAPI shape (tier + interval).
    let (s, v) = srv
        .post(
            "/v1/billing/subscribe",
            Some(&h.token),
            json!({"price_id": "price_pro_m", "interval": "monthly"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["checkout_url"],
        "https://checkout.stripe.test/c/cs_test_1"
    );
    let (s, v) = srv
        .post(
            "/v1/billing/subscribe",
            Some(&h.token),
            json!({"tier": "business", "interval": "yearly", "trial": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        let (path, auth, body) = &seen[0];
        assert_eq!(path, "/v1/checkout/sessions");
        assert_eq!(auth, "Bearer sk_test_talon");
        let f = form(body);
        assert_eq!(field(&f, "mode"), Some("subscription"));
        assert_eq!(field(&f, "line_items[0][price]"), Some("price_pro_m"));
        assert_eq!(field(&f, "line_items[0][quantity]"), Some("1"));
        assert_eq!(field(&f, "client_reference_id"), Some(h.org_id.as_str()));
        assert_eq!(field(&f, "metadata[tier]"), Some("pro"));
        assert_eq!(field(&f, "customer_email"), Some(h.email.as_str()));
        assert!(field(&f, "success_url").unwrap().starts_with("http"));
        let f = form(&seen[1].2);
        assert_eq!(field(&f, "line_items[0][price]"), Some("price_biz_y"));
        assert_eq!(
            field(&f, "subscription_data[trial_period_days]"),
            Some("14")
        );
    }
    // Unknown prices and tiers are refused before Stripe is called.
    for body in [
        json!({"price_id": "price_nope"}),
        json!({"tier": "enterprise"}),
        json!({}),
    ] {
        let (s, v) = srv
            .post("/v1/billing/subscribe", Some(&h.token), body.clone())
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
    }
    assert_eq!(seen.lock().unwrap().len(), 2);

    // No Stripe customer yet: the portal is a conflict.
    let (s, _) = srv
        .post("/v1/billing/portal", Some(&h.token), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Checkout completes: the org gets the tier and its Stripe customer.
    let completed = json!({
        "id": "evt_cs_1", "type": "checkout.session.completed",
        "data": {"object": {
            "id": "cs_test_1", "object": "checkout.session", "client_reference_id": h.org_id,
            "customer": "cus_talon_1", "subscription": "sub_talon_1",
            "metadata": {"org_id": h.org_id, "tier": "pro"}
        }}
    })
    .to_string();
    let (s, v) = send_webhook(
        &srv,
        &completed,
        &stripe_signature(WHSEC, now_s(), &completed),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(tier_of(&srv, &h.token).await["tier"], "pro");
    let (s, v) = srv
        .post("/v1/billing/portal", Some(&h.token), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["portal_url"], "https://billing.stripe.test/p/bps_1");
    {
        let log = seen.lock().unwrap();
        let (path, auth, body) = log.last().unwrap();
        assert_eq!(path, "/v1/billing_portal/sessions");
        assert_eq!(auth, "Bearer sk_test_talon");
        assert_eq!(field(&form(body), "customer"), Some("cus_talon_1"));
    }
    // A later checkout reuses the customer instead of the email.
    let (s, _) = srv
        .post(
            "/v1/billing/subscribe",
            Some(&h.token),
            json!({"tier": "pro"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let log = seen.lock().unwrap();
    let f = form(&log.last().unwrap().2);
    assert_eq!(field(&f, "customer"), Some("cus_talon_1"));
    assert_eq!(field(&f, "customer_email"), None);
}

async fn admin_set_tier_changes_the_tier_from_the_host(db: Db) {
    let srv = TestServer::start_with(db, &[("TALON_DEFAULT_TIER", "free")]).await;
    let h = srv.signup().await;
    let admin = |tier: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_talon"))
            .args(["admin", "--data-dir"])
            .arg(srv.data_path())
            .args(["set-tier", "--org", &h.org_id, tier])
            .env("TALON_DATABASE_URL", &srv.database_url)
            .env("TALON_DEFAULT_TIER", "free")
            .env_remove("SOFTHSM2_CONF")
            .env_remove("TALON_PKCS11_PIN")
            .env("TALON_LOG", "warn")
            .output()
            .expect("run talon admin")
    };
    let out = admin("platinum");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown tier"));
    let out = admin("business");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("free -> business"));
    // The running server sees it at once: limits are read in the creating transaction.
    let sub = tier_of(&srv, &h.token).await;
    assert_eq!(sub["tier"], "business");
    for i in 0..4 {
        srv.create_vault(&h.token, &format!("v{i}")).await;
    }
    let (_, events) = srv
        .get("/v1/audit/events?action=billing.tier_changed", &h.token)
        .await;
    assert_eq!(events["events"][0]["details"]["source"], "admin");
    let (_, chain) = srv.get("/v1/audit/verify", &h.token).await;
    assert_eq!(chain["chain_valid"], true, "{chain}");
}

async fn quota_is_shared_by_two_processes_on_one_database(db: Db) {
    let srv = TestServer::start_with(
        db,
        &[
            ("TALON_DEFAULT_TIER", "free"),
            ("TALON_PLAN_LIMITS", r#"{"free":{"requests":6}}"#),
            ("TALON_USAGE_FLUSH_MS", "100"),
        ],
    )
    .await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "v").await;
    srv.put_secret(&h.token, &vault, "k", "v").await;
    let read = format!("/v1/vaults/{vault}/secrets/k");
    let status_at = |base: String| {
        let http = srv.http.clone();
        let token = h.token.clone();
        let read = read.clone();
        async move {
            http.get(format!("{base}{read}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Process A counts 3 (the write and two reads) and flushes them.
    for _ in 0..2 {
        assert_eq!(status_at(srv.base.clone()).await, StatusCode::OK);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // Process B starts from the database's count: 3 more reads fit, the next does not.
    let b = srv.sibling();
    for _ in 0..3 {
        assert_eq!(status_at(b.base.clone()).await, StatusCode::OK);
    }
    assert_eq!(
        status_at(b.base.clone()).await,
        StatusCode::PAYMENT_REQUIRED
    );
    // A learns B's count from the database within ten flush intervals.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    assert_eq!(
        status_at(srv.base.clone()).await,
        StatusCode::PAYMENT_REQUIRED
    );
    let (_, u) = srv.get("/v1/billing/usage", &h.token).await;
    assert_eq!(u["current_month"]["total_requests"], 6, "{u}");
}

/// `GET /v1/billing/usage` answers an agent with its org's usage (the same body a human of the
/// org gets); history, subscription, subscribe and portal stay human-only.
async fn agents_read_their_orgs_usage_and_nothing_else_of_billing(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let other = srv.signup().await;
    srv.create_vault(&h.token, "v").await;
    srv.create_vault(&other.token, "v1").await;
    srv.create_vault(&other.token, "v2").await;
    let (_, key) = srv.create_agent(&h.token, "bot").await;
    let agent = srv.agent_token(&key).await;

    let (s, mine) = srv.get("/v1/billing/usage", &agent).await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    let (_, human) = srv.get("/v1/billing/usage", &h.token).await;
    assert_eq!(
        mine["usage"], human["usage"],
        "the agent's org, not another"
    );
    assert_eq!(
        mine["usage"]["vaults"],
        json!(1),
        "the other org's vaults are not counted: {mine}"
    );
    assert_eq!(mine["billing_tier"], human["billing_tier"]);

    for (method, path) in [
        (reqwest::Method::GET, "/v1/billing/history"),
        (reqwest::Method::GET, "/v1/billing/subscription"),
        (reqwest::Method::POST, "/v1/billing/subscribe"),
        (reqwest::Method::POST, "/v1/billing/portal"),
    ] {
        let (s, v) = srv
            .call(
                method.clone(),
                path,
                Some(&agent),
                Some(json!({"tier": "pro"})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {v}");
    }
}
