//! Bindings and brokered execution: the agent's request goes to a real local upstream with the
//! credential injected by Talon; the agent's answer, the audit log and the storage never hold
//! the credential; guardrails, destination rules, use-only secrets, deactivation and deletion
//! refuse before anything is sent.

use crate::common::mcp_client::{call_tool, http_client_config, stdio_client, tool_text};
use crate::common::{contains, Db, TestServer};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method as AxMethod, StatusCode as AxStatus, Uri};
use axum::response::{IntoResponse, Response};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

on_both_databases!(
    execute_injects_a_bearer_credential_and_redacts_it_from_the_answer,
    guardrails_refuse_before_anything_is_sent,
    vault_refs_follow_new_versions_and_deactivation_or_deletion_stops_execution,
    use_only_secrets_are_used_through_bindings_and_never_read,
    bindings_are_managed_by_admins_and_never_return_their_credential,
    mcp_execute_http_uses_bindings_over_stdio_and_http,
);

/// Loopback upstreams over plain http, as the local upstreams in these tests need.
const EGRESS: [(&str, &str); 1] = [("TALON_ALLOW_PRIVATE_EGRESS", "true")];

/// One request an upstream got.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    uri: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// `/echo` answers with what it received (the credential included, as a careless or hostile
/// API might); `/away` redirects to another host; `/big` answers 64 KiB; anything else `ok`.
async fn upstream(
    State(log): State<Log>,
    method: AxMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    log.lock().unwrap().push(Seen {
        method: method.to_string(),
        uri: uri.to_string(),
        headers: headers.clone(),
        body: body.to_vec(),
    });
    let auth = headers
        .get("authorization")
        .or_else(|| headers.get("x-api-key"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    match uri.path() {
        "/echo" | "/v1/echo" => (
            [("x-echo-auth", auth.clone())],
            axum::Json(json!({"you_sent": auth, "uri": uri.to_string()})),
        )
            .into_response(),
        "/away" => (
            AxStatus::FOUND,
            [("location", "http://10.0.0.1/steal")],
            "moved",
        )
            .into_response(),
        "/big" => "x".repeat(64 * 1024).into_response(),
        _ => "ok".into_response(),
    }
}

struct Upstream {
    base: String,
    log: Log,
}

impl Upstream {
    async fn start() -> Upstream {
        let log = Log::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(upstream)
            .with_state(log.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Upstream {
            base: format!("http://{addr}"),
            log,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

/// An owner, a vault with the credential at `api/stripe`, and an agent with `perms` on
/// `api/**` and a token.
struct World {
    owner: String,
    vault: String,
    secret_id: String,
    agent: String,
    key: String,
    agent_token: String,
}

const VALUE: &str = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";

async fn world(srv: &TestServer, perms: &[&str]) -> World {
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "payments").await;
    let secret = srv.put_secret(&h.token, &vault, "api/stripe", VALUE).await;
    let (agent, key) = srv.create_agent(&h.token, "billing-bot").await;
    srv.grant(&h.token, &vault, &agent, "api/**", perms).await;
    let agent_token = srv.agent_token(&key).await;
    World {
        owner: h.token,
        vault,
        secret_id: secret["id"].as_str().unwrap().to_owned(),
        agent,
        key,
        agent_token,
    }
}

async fn create_binding(srv: &TestServer, w: &World, body: Value) -> (StatusCode, Value) {
    srv.post(
        &format!("/v1/agents/{}/bindings", w.agent),
        Some(&w.owner),
        body,
    )
    .await
}

/// A vault_ref bearer binding named `stripe` to `base`.
async fn stripe_binding(srv: &TestServer, w: &World, base: &str, guardrails: Value) -> Value {
    let (s, b) = create_binding(
        srv,
        w,
        json!({
            "name": "stripe", "binding_type": "http",
            "config": {"base_url": base, "auth": {"type": "bearer"}},
            "guardrails": guardrails,
            "credential_source": {"type": "vault_ref", "vault_id": w.vault, "path": "api/stripe"},
        }),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "create binding: {b}");
    b
}

async fn execute(srv: &TestServer, w: &World, params: Value) -> (StatusCode, Value) {
    srv.post(
        &format!("/v1/agents/{}/execute", w.agent),
        Some(&w.agent_token),
        json!({"binding": "stripe", "intent_type": "http", "params": params}),
    )
    .await
}

async fn audit(srv: &TestServer, token: &str, action: &str) -> Vec<Value> {
    let (s, v) = srv
        .get(
            &format!("/v1/audit/events?action={action}&limit=100"),
            token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "audit: {v}");
    v["events"].as_array().cloned().unwrap_or_default()
}

async fn execute_injects_a_bearer_credential_and_redacts_it_from_the_answer(db: Db) {
    let srv = TestServer::start_with(db, &EGRESS).await;
    let up = Upstream::start().await;
    let w = world(&srv, &["use"]).await;
    let b = stripe_binding(&srv, &w, &up.base, json!({})).await;
    assert_eq!(b["credential_set"], true);
    assert_eq!(b["credential_source_type"], "vault_ref");

    let (s, r) = execute(
        &srv,
        &w,
        json!({"method": "GET", "path": "/echo", "query": {"limit": 3},
               "headers": {"Authorization": "Bearer stolen", "X-Trace": "t-1"}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "success", "{r}");
    assert_eq!(r["execution_surface"], "vault");
    assert_eq!(r["result"]["status"], 200);

    // The upstream got the credential Talon injected, not the caller's header.
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("authorization"), format!("Bearer {VALUE}"));
    assert_eq!(seen[0].header("x-trace"), "t-1");
    assert_eq!(seen[0].uri, "/echo?limit=3");

    assert_eq!(seen[0].method, "GET");

    // A JSON body is sent as JSON.
    let (_, r2) = execute(
        &srv,
        &w,
        json!({"method": "POST", "path": "/charges", "body": {"amount": 5}}),
    )
    .await;
    assert_eq!(r2["result"]["body"], "ok", "{r2}");
    let post = &up.seen()[1];
    assert_eq!(post.method, "POST");
    assert_eq!(post.body, br#"{"amount":5}"#);
    assert_eq!(post.header("content-type"), "application/json");

    // The echoed credential (body and header) comes back redacted.
    let text = r.to_string();
    assert!(!text.contains(VALUE), "{text}");
    assert!(text.contains("[REDACTED]"), "{text}");
    assert!(r["redactions_applied"].as_i64().unwrap() >= 2, "{r}");
    let body: Value = serde_json::from_str(r["result"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["you_sent"], "Bearer [REDACTED]");
    assert_eq!(r["result"]["headers"]["x-echo-auth"], "Bearer [REDACTED]");

    // Audited (the execution and the credential's use), never with the value.
    let events = audit(&srv, &w.owner, "binding.execute").await;
    assert_eq!(events.len(), 2, "{events:?}");
    let d = &events[1]["details"];
    assert_eq!(d["method"], "GET");
    assert_eq!(d["path"], "/echo");
    assert_eq!(d["status"], 200);
    assert_eq!(d["host"], "127.0.0.1");
    assert_eq!(audit(&srv, &w.owner, "secret.use").await.len(), 2);
    let all = audit(&srv, &w.owner, "*").await;
    assert!(!Value::Array(all).to_string().contains(VALUE));

    // Listed as the agent's execution; the agent sees its bindings without the credential.
    let (s, list) = srv
        .get(
            &format!("/v1/agents/{}/executions", w.agent),
            &w.agent_token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let ex = &list["executions"][1];
    assert_eq!(ex["status"], "success");
    assert_eq!(ex["http_status"], 200);
    assert_eq!(ex["id"], r["execution_id"]);
    let (s, mine) = srv
        .get(&format!("/v1/agents/{}/bindings", w.agent), &w.agent_token)
        .await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    assert_eq!(mine["bindings"][0]["name"], "stripe");
    assert!(!mine.to_string().contains(VALUE));

    // An execution is billable.
    let (s, usage) = srv.get("/v1/billing/history?limit=50", &w.owner).await;
    assert_eq!(s, StatusCode::OK, "{usage}");
    assert!(usage.to_string().contains("execute"), "{usage}");

    // An upstream that cannot be reached is an error in the answer, not a Talon failure.
    let (s, b2) = create_binding(
        &srv,
        &w,
        json!({"name": "down", "binding_type": "http",
               "config": {"base_url": "http://127.0.0.1:9", "timeout_ms": 2000},
               "credential": {"token": "t0ps3cret-value"}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b2}");
    let (s, r) = srv
        .post(
            &format!("/v1/agents/{}/execute", w.agent),
            Some(&w.agent_token),
            json!({"binding": "down", "intent_type": "http", "params": {"path": "/"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "error", "{r}");
    assert!(r["error"].as_str().unwrap().contains("connect"), "{r}");
}

async fn guardrails_refuse_before_anything_is_sent(db: Db) {
    let srv = TestServer::start_with(db, &EGRESS).await;
    let up = Upstream::start().await;
    let w = world(&srv, &["use"]).await;
    stripe_binding(
        &srv,
        &w,
        &up.base,
        json!({"allowed_methods": ["GET", "POST"], "allowed_paths": ["/v1/*"],
               "max_request_bytes": 16, "max_response_bytes": 1024,
               "max_requests_per_minute": 3}),
    )
    .await;
    let problem = |s: StatusCode, v: &Value, want: StatusCode| {
        assert_eq!(s, want, "{v}");
        assert!(v["detail"].is_string(), "{v}");
    };
    let (s, v) = execute(&srv, &w, json!({"method": "DELETE", "path": "/v1/x"})).await;
    problem(s, &v, StatusCode::FORBIDDEN);
    let (s, v) = execute(&srv, &w, json!({"method": "GET", "path": "/admin/users"})).await;
    problem(s, &v, StatusCode::FORBIDDEN);
    let (s, v) = execute(&srv, &w, json!({"method": "GET", "path": "/v1/../admin"})).await;
    problem(s, &v, StatusCode::BAD_REQUEST);
    let (s, v) = execute(
        &srv,
        &w,
        json!({"method": "POST", "path": "/v1/x", "body": "x".repeat(100)}),
    )
    .await;
    problem(s, &v, StatusCode::BAD_REQUEST);
    assert!(up.seen().is_empty(), "nothing may reach the upstream");

    // The per-minute limit: three pass, the fourth is 429 with Retry-After.
    for _ in 0..3 {
        let (s, v) = execute(&srv, &w, json!({"path": "/v1/echo"})).await;
        assert_eq!(
            (s, v["status"].as_str()),
            (StatusCode::OK, Some("success")),
            "{v}"
        );
    }
    let res = srv
        .send(
            Method::POST,
            &format!("/v1/agents/{}/execute", w.agent),
            Some(&w.agent_token),
            Some(
                json!({"binding": "stripe", "intent_type": "http", "params": {"path": "/v1/echo"}}),
            ),
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(up.seen().len(), 3);

    // Refusals are recorded as denied executions.
    let (_, list) = srv
        .get(&format!("/v1/agents/{}/executions", w.agent), &w.owner)
        .await;
    let statuses: Vec<&str> = list["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "denied").count(),
        4,
        "{statuses:?}"
    );

    // Destinations: a redirect to another host is not followed; an oversize answer is an error.
    let (s, _) = srv
        .call(
            Method::PATCH,
            &format!(
                "/v1/agents/{}/bindings/{}",
                w.agent,
                binding_id(&srv, &w).await
            ),
            Some(&w.owner),
            Some(json!({"guardrails": {"allowed_paths": ["/**"], "max_response_bytes": 1024}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = execute(&srv, &w, json!({"path": "/away"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "error", "{v}");
    assert!(v["error"].as_str().unwrap().contains("redirect"), "{v}");
    let (_, v) = execute(&srv, &w, json!({"path": "/big"})).await;
    assert_eq!(v["status"], "error", "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("max_response_bytes"),
        "{v}"
    );

    // Without the egress flag, private, loopback and metadata destinations are refused.
    let strict = TestServer::start(db).await;
    let w = world(&strict, &["use"]).await;
    for base in [
        "https://169.254.169.254/latest",
        "https://10.0.0.1",
        "https://[::1]:8443",
        "https://localhost",
        &up.base,
    ] {
        let (s, v) = create_binding(
            &strict,
            &w,
            json!({"name": "x", "binding_type": "http", "config": {"base_url": base}}),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{base}: {v}");
    }
}

async fn binding_id(srv: &TestServer, w: &World) -> String {
    let (_, list) = srv
        .get(&format!("/v1/agents/{}/bindings", w.agent), &w.owner)
        .await;
    list["bindings"][0]["id"].as_str().unwrap().to_owned()
}

async fn vault_refs_follow_new_versions_and_deactivation_or_deletion_stops_execution(db: Db) {
    let srv = TestServer::start_with(db, &EGRESS).await;
    let up = Upstream::start().await;
    let w = world(&srv, &["use"]).await;
    let b = stripe_binding(&srv, &w, &up.base, json!({})).await;
    let id = b["id"].as_str().unwrap();
    let path = format!("/v1/agents/{}/bindings/{id}", w.agent);

    execute(&srv, &w, json!({"path": "/"})).await;
    srv.put_secret(&w.owner, &w.vault, "api/stripe", "sk_live_rotated_value_2")
        .await;
    let (_, r) = execute(&srv, &w, json!({"path": "/"})).await;
    assert_eq!(r["status"], "success", "{r}");
    let seen = up.seen();
    assert_eq!(seen[0].header("authorization"), format!("Bearer {VALUE}"));
    assert_eq!(
        seen[1].header("authorization"),
        "Bearer sk_live_rotated_value_2"
    );

    // Deactivated binding: refused at once.
    let (s, _) = srv
        .call(
            Method::PATCH,
            &path,
            Some(&w.owner),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = execute(&srv, &w, json!({"path": "/"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    srv.call(
        Method::PATCH,
        &path,
        Some(&w.owner),
        Some(json!({"is_active": true})),
    )
    .await;
    let (s, _) = execute(&srv, &w, json!({"path": "/"})).await;
    assert_eq!(s, StatusCode::OK);

    // A policy removed: the credential is no longer used.
    let (_, pols) = srv
        .get(&format!("/v1/vaults/{}/policies", w.vault), &w.owner)
        .await;
    let pid = pols["policies"][0]["id"].as_str().unwrap().to_owned();
    let (s, _) = srv
        .call(
            Method::DELETE,
            &format!("/v1/vaults/{}/policies/{pid}", w.vault),
            Some(&w.owner),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = execute(&srv, &w, json!({"path": "/"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    srv.grant(&w.owner, &w.vault, &w.agent, "api/**", &["use"])
        .await;

    // Deleted binding: 404.
    let (s, _) = srv.call(Method::DELETE, &path, Some(&w.owner), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = execute(&srv, &w, json!({"path": "/"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Deactivated agent: its token no longer passes the gate.
    stripe_binding(&srv, &w, &up.base, json!({})).await;
    let (s, _) = srv
        .call(
            Method::PATCH,
            &format!("/v1/agents/{}", w.agent),
            Some(&w.owner),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let before = up.seen().len();
    let (s, _) = execute(&srv, &w, json!({"path": "/"})).await;
    assert!(
        s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN,
        "{s}"
    );
    assert_eq!(up.seen().len(), before);
}

async fn use_only_secrets_are_used_through_bindings_and_never_read(db: Db) {
    let srv = TestServer::start_with(db, &EGRESS).await;
    let up = Upstream::start().await;
    let w = world(&srv, &["use"]).await;
    stripe_binding(&srv, &w, &up.base, json!({})).await;
    let (s, r) = execute(&srv, &w, json!({"path": "/"})).await;
    assert_eq!(
        (s, r["status"].as_str()),
        (StatusCode::OK, Some("success")),
        "{r}"
    );

    // `use` without `read`: a direct read and a share are refused as use-only.
    let (s, v) = srv
        .get(
            &format!("/v1/vaults/{}/secrets/api/stripe", w.vault),
            &w.agent_token,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["type"], "use_only", "{v}");
    assert!(v["detail"].as_str().unwrap().contains("execute"), "{v}");
    let (s, v) = srv
        .post(
            &format!("/v1/secrets/{}/share", w.secret_id),
            Some(&w.agent_token),
            json!({"recipient_type": "anyone_with_link", "expires_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["type"], "use_only", "{v}");

    // A secret marked use_only refuses a read policy too, and is still used through a binding.
    let (s, v) = srv
        .put(
            &format!("/v1/vaults/{}/secrets/api/marked", w.vault),
            &w.owner,
            json!({"value": "marked-value-123", "metadata": {"use_only": true}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    srv.grant(&w.owner, &w.vault, &w.agent, "api/marked", &["read"])
        .await;
    let (s, v) = srv
        .get(
            &format!("/v1/vaults/{}/secrets/api/marked", w.vault),
            &w.agent_token,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["type"], "use_only", "{v}");
    // The owner still reads it.
    let (s, v) = srv
        .get(
            &format!("/v1/vaults/{}/secrets/api/marked", w.vault),
            &w.owner,
        )
        .await;
    assert_eq!(
        (s, v["value"].as_str()),
        (StatusCode::OK, Some("marked-value-123"))
    );
    let (s, b) = create_binding(
        &srv,
        &w,
        json!({"name": "marked", "binding_type": "http",
               "config": {"base_url": up.base, "auth": {"type": "header", "name": "X-Api-Key"}},
               "credential_source": {"type": "vault_ref", "vault_id": w.vault, "path": "api/marked"}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, r) = srv
        .post(
            &format!("/v1/agents/{}/execute", w.agent),
            Some(&w.agent_token),
            json!({"binding": "marked", "intent_type": "http", "params": {"path": "/echo"}}),
        )
        .await;
    assert_eq!(
        (s, r["status"].as_str()),
        (StatusCode::OK, Some("success")),
        "{r}"
    );
    assert_eq!(
        up.seen().last().unwrap().header("x-api-key"),
        "marked-value-123"
    );
    assert!(!r.to_string().contains("marked-value-123"), "{r}");

    // Denials say why in the audit log.
    let denied = audit(&srv, &w.owner, "secret.denied").await;
    assert!(
        denied
            .iter()
            .filter(|e| e["details"]["reason"] == "use_only")
            .count()
            >= 3,
        "{denied:?}"
    );
}

async fn bindings_are_managed_by_admins_and_never_return_their_credential(db: Db) {
    let srv = TestServer::start_with(db, &EGRESS).await;
    let up = Upstream::start().await;
    let w = world(&srv, &["use"]).await;
    const INLINE: &str = "inline-credential-Zx81qPm";
    let (s, b) = create_binding(
        &srv,
        &w,
        json!({"name": "search", "binding_type": "http",
               "config": {"base_url": up.base, "auth": {"type": "query", "name": "key"},
                          "headers": {"Accept": "application/json"}},
               "credential_source": {"type": "inline", "value": {"api_key": INLINE}}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["credential_set"], true);
    assert_eq!(b["credential_source_type"], "inline");
    assert_eq!(b["config"]["auth"]["type"], "query");
    assert_eq!(b["guardrails"]["max_requests_per_minute"], 60);
    assert!(!b.to_string().contains(INLINE));
    let id = b["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/agents/{}/bindings/{id}", w.agent);
    let (s, got) = srv.get(&path, &w.owner).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!got.to_string().contains(INLINE));

    // The query credential reaches the upstream; the answer is redacted.
    let (_, r) = srv
        .post(
            &format!("/v1/agents/{}/execute", w.agent),
            Some(&w.agent_token),
            json!({"binding": id, "intent_type": "http", "params": {"path": "/echo", "query": {"q": "rust"}}}),
        )
        .await;
    assert_eq!(r["status"], "success", "{r}");
    let seen = up.seen();
    assert_eq!(seen[0].uri, format!("/echo?q=rust&key={INLINE}"));
    assert_eq!(seen[0].header("accept"), "application/json");
    assert!(!r.to_string().contains(INLINE), "{r}");

    // Rotating the credential changes what is sent; it is never echoed.
    let (s, v) = srv
        .post(
            &format!("{path}/rotate-credential"),
            Some(&w.owner),
            json!({"credential": "rotated-inline-Qw77"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(!v.to_string().contains("rotated-inline-Qw77"));
    srv.post(
        &format!("/v1/agents/{}/execute", w.agent),
        Some(&w.agent_token),
        json!({"binding": "search", "intent_type": "http", "params": {"path": "/"}}),
    )
    .await;
    assert_eq!(up.seen()[1].uri, "/?key=rotated-inline-Qw77");

    // Test: the upstream answers.
    let (s, t) = srv
        .post(&format!("{path}/test"), Some(&w.owner), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["success"], true, "{t}");
    assert!(t["latency_ms"].is_i64());

    // Members, agents and other agents' callers cannot manage bindings.
    let member = srv.join(&w.owner, "member").await;
    let (s, _) = create_binding(
        &srv,
        &World {
            owner: member.token.clone(),
            vault: w.vault.clone(),
            secret_id: w.secret_id.clone(),
            agent: w.agent.clone(),
            key: String::new(),
            agent_token: String::new(),
        },
        json!({"name": "m", "binding_type": "http", "config": {"base_url": up.base}}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = srv
        .post(
            &format!("/v1/agents/{}/bindings", w.agent),
            Some(&w.agent_token),
            json!({"name": "self", "binding_type": "http", "config": {"base_url": up.base}}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = srv
        .post(
            &format!("/v1/agents/{}/execute", w.agent),
            Some(&w.owner),
            json!({"binding": "search", "intent_type": "http", "params": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");

    // Shapes: unsupported types, duplicate names, bad configs.
    for (body, want) in [
        (
            json!({"name": "pg", "binding_type": "postgres", "config": {"base_url": up.base}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "search", "binding_type": "http", "config": {"base_url": up.base}}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"name": "z", "binding_type": "http", "config": {}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "z", "binding_type": "http", "config": {"base_url": up.base, "auth": {"type": "header"}}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "z", "binding_type": "http", "config": {"base_url": up.base}, "guardrails": {"allowed_methods": ["BREW"]}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "z", "binding_type": "http", "config": {"base_url": up.base}, "credential_source": {"type": "vault_ref"}}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (s, v) = create_binding(&srv, &w, body.clone()).await;
        assert_eq!(s, want, "{body}: {v}");
        assert_eq!(v["status"], want.as_u16(), "{v}");
    }
    let (s, v) = srv
        .post(
            &format!("/v1/agents/{}/execute", w.agent),
            Some(&w.agent_token),
            json!({"binding": "search", "intent_type": "smtp", "params": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // Nothing of the credential is stored in plaintext.
    let storage = srv.dump_storage().await;
    assert!(!contains(&storage, INLINE.as_bytes()));
    assert!(!contains(&storage, b"rotated-inline-Qw77"));
}

async fn mcp_execute_http_uses_bindings_over_stdio_and_http(db: Db) {
    let srv = TestServer::start_with(db, &EGRESS).await;
    let up = Upstream::start().await;
    let w = world(&srv, &["use"]).await;
    stripe_binding(&srv, &w, &up.base, json!({"allowed_paths": ["/echo"]})).await;

    let stdio = stdio_client(&srv, &w.vault, &w.key).await;
    let info = stdio.peer_info().expect("server info");
    assert!(
        info.instructions
            .as_deref()
            .unwrap_or_default()
            .contains("execute_http"),
        "{info:?}"
    );
    let transport = rmcp::transport::StreamableHttpClientTransport::from_config(
        http_client_config(&srv.base, &w.agent_token, &w.vault),
    );
    let http = rmcp::ServiceExt::serve((), transport)
        .await
        .expect("connect /mcp");
    for client in [&stdio, &http] {
        let listed = tool_text(&call_tool(client, "list_bindings", json!({})).await);
        assert!(
            listed.contains("stripe") && listed.contains("/echo"),
            "{listed}"
        );
        assert!(!listed.contains(VALUE));

        let r = call_tool(
            client,
            "execute_http",
            json!({"binding": "stripe", "method": "GET", "path": "/echo"}),
        )
        .await;
        let out = tool_text(&r);
        assert_ne!(r.is_error, Some(true), "{out}");
        assert!(out.contains("[REDACTED]") && !out.contains(VALUE), "{out}");
        assert_eq!(
            up.seen().last().unwrap().header("authorization"),
            format!("Bearer {VALUE}")
        );

        // Outside the guardrails: an error result, nothing sent.
        let before = up.seen().len();
        let r = call_tool(
            client,
            "execute_http",
            json!({"binding": "stripe", "path": "/admin"}),
        )
        .await;
        assert_eq!(r.is_error, Some(true), "{}", tool_text(&r));
        assert_eq!(up.seen().len(), before);

        // get_secret on a use-only path says what to use instead.
        let r = call_tool(client, "get_secret", json!({"path": "api/stripe"})).await;
        let out = tool_text(&r);
        assert_eq!(r.is_error, Some(true), "{out}");
        assert!(
            out.contains("Use-only") && out.contains("execute_http"),
            "{out}"
        );
        assert!(!out.contains(VALUE));
    }
    let events = audit(&srv, &w.owner, "binding.execute").await;
    assert!(events.len() >= 4, "{events:?}");
    assert!(
        events.iter().any(|e| e["details"]["via"] == "mcp"),
        "{events:?}"
    );
}
