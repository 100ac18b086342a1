//! One gate for every door: org IP rules, the per-principal rate limit and the monthly quota
//! apply to REST, to `/mcp` (inside the server and through `talon mcp`) and to the dashboard
//! alike; stored authorization rows that do not parse refuse the request instead of being
//! skipped.

use crate::common::mcp_client::{
    call_tool as call, http_client_config, stdio_client as stdio_mcp, tool_text as text, McpClient,
};
use crate::common::{Browser, Db, Human, TestServer};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr};

on_both_databases!(
    an_org_ip_deny_rule_refuses_the_caller_at_every_door,
    mcp_reads_and_dashboard_reveals_count_against_the_quota_like_rest_reads,
    the_per_principal_rate_limit_applies_to_mcp_and_the_dashboard,
    a_corrupted_policy_row_refuses_the_read_instead_of_being_skipped,
    mcp_calls_are_audited_as_made_over_mcp
);

const VALUE: &str = "gate-secret-value-31c9e2";

/// A human, a vault with `app/key`, and an agent allowed to read `app/**`. Returns
/// `(human, vault, agent id, agent key)`.
async fn setup(srv: &TestServer) -> (Human, String, String, String) {
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "gate").await;
    srv.put_secret(&h.token, &vault, "app/key", VALUE).await;
    let (agent, key) = srv.create_agent(&h.token, "gate-agent").await;
    srv.grant(&h.token, &vault, &agent, "app/**", &["read"])
        .await;
    (h, vault, agent, key)
}

async fn http_mcp(srv: &TestServer, bearer: &str, vault: &str) -> McpClient {
    let config = http_client_config(&srv.base, bearer, vault);
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("initialize over HTTP")
}

/// A raw MCP `initialize` POST, for status and headers.
async fn mcp_initialize(
    http: &reqwest::Client,
    srv: &TestServer,
    bearer: &str,
    vault: &str,
) -> reqwest::Response {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}});
    http.post(srv.url("/mcp"))
        .bearer_auth(bearer)
        .header("x-vault-id", vault)
        .header(ACCEPT, "application/json, text/event-stream")
        .header(CONTENT_TYPE, "application/json")
        .body(init.to_string())
        .send()
        .await
        .expect("POST /mcp")
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

async fn ip_denials(srv: &TestServer, human: &str) -> Vec<Value> {
    let (s, v) = srv
        .get(
            "/v1/audit/events?action=security.ip_denied&limit=100",
            human,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["events"].as_array().cloned().unwrap_or_default()
}

async fn an_org_ip_deny_rule_refuses_the_caller_at_every_door(db: Db) {
    let srv = TestServer::start_with(db, &[("TALON_RATE_LIMIT_PER_IP", "0")]).await;
    let (h, vault, agent, key) = setup(&srv).await;
    let agent_token = srv.agent_token(&key).await;
    let secret = format!("/v1/vaults/{vault}/secrets/app/key");
    assert_eq!(srv.get(&secret, &agent_token).await.0, StatusCode::OK);

    // Agents are denied from 127.0.0.1; the human (same address) is not.
    let (s, v) = srv
        .post(
            "/v1/security/ip-rules",
            Some(&h.token),
            json!({"rule_type": "deny", "cidr": "127.0.0.1/32", "applies_to": "agents"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // REST.
    let (s, v) = srv.get(&secret, &agent_token).await;
    assert_eq!(
        (s, v["type"].as_str()),
        (StatusCode::FORBIDDEN, Some("ip_denied"))
    );

    // `/mcp` inside the server refuses the request before MCP sees it.
    let res = mcp_initialize(&srv.http, &srv, &agent_token, &vault).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["type"], json!("ip_denied"));

    // `talon mcp` over stdio: the tool's REST call is refused, and the tool says why.
    let stdio = stdio_mcp(&srv, &vault, &key).await;
    let r = call(&stdio, "get_secret", json!({"path": "app/key"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(!text(&r).contains(VALUE));
    assert!(text(&r).contains("IP"), "{}", text(&r));
    stdio.cancel().await.unwrap();

    let agent_denials = ip_denials(&srv, &h.token).await;
    let by_agent = agent_denials
        .iter()
        .filter(|e| e["actor_id"] == json!(agent))
        .count();
    assert!(
        by_agent >= 3,
        "REST, /mcp and stdio denials audited: {agent_denials:?}"
    );

    // Humans from 127.0.0.2 are denied: on the dashboard's server functions and pages.
    let (s, v) = srv
        .post(
            "/v1/security/ip-rules",
            Some(&h.token),
            json!({"rule_type": "deny", "cidr": "127.0.0.2/32", "applies_to": "users"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let mut denied = Browser::from(&srv, loopback(2));
    denied.sign_in(&h.email).await;
    let (s, v) = denied.post("session", &[]).await;
    assert_eq!(
        (s, v["type"].as_str()),
        (StatusCode::FORBIDDEN, Some("ip_denied"))
    );
    let (s, _) = denied
        .post(
            "secrets/reveal",
            &[("vault_id", &vault), ("path", "app/key")],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(denied.get_page("/vaults").await, StatusCode::FORBIDDEN);
    // The same human from an address the rules admit is served.
    let mut allowed = Browser::from(&srv, loopback(1));
    allowed.sign_in(&h.email).await;
    let (s, v) = allowed.post("session", &[]).await;
    assert_eq!(
        (s, v["email"].as_str()),
        (StatusCode::OK, Some(h.email.as_str()))
    );
    assert_eq!(allowed.get_page("/vaults").await, StatusCode::OK);

    let by_human = ip_denials(&srv, &h.token)
        .await
        .iter()
        .filter(|e| e["actor_id"] == json!(h.user_id) && e["ip_address"] == json!("127.0.0.2"))
        .count();
    assert!(by_human >= 3, "dashboard function and page denials audited");
}

/// The `X-RateLimit-Requests-Used` header of a response.
fn used(res: &reqwest::Response) -> i64 {
    res.headers()
        .get("x-ratelimit-requests-used")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("quota header")
}

async fn mcp_reads_and_dashboard_reveals_count_against_the_quota_like_rest_reads(db: Db) {
    let srv = TestServer::start_with(
        db,
        &[
            ("TALON_RATE_LIMIT_PER_IP", "0"),
            ("TALON_DEFAULT_TIER", "tiny"),
            ("TALON_PLAN_LIMITS", r#"{"tiny":{"requests":5}}"#),
        ],
    )
    .await;
    let (h, vault, _agent, _key) = setup(&srv).await;
    let secret = format!("/v1/vaults/{vault}/secrets/app/key");

    // 1 was the write in `setup`; 2: a REST read.
    let res = srv
        .http
        .get(srv.url(&secret))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap();
    assert_eq!((res.status(), used(&res)), (StatusCode::OK, 2));

    // 3: an MCP read inside the server; the `/mcp` response reports the quota.
    let mcp = http_mcp(&srv, &h.token, &vault).await;
    let r = call(&mcp, "get_secret", json!({"path": "app/key"})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let res = mcp_initialize(&srv.http, &srv, &h.token, &vault).await;
    assert_eq!((res.status(), used(&res)), (StatusCode::OK, 3));

    // 4: a dashboard reveal.
    let mut browser = Browser::from(&srv, loopback(1));
    browser.sign_in(&h.email).await;
    let (s, v) = browser
        .post(
            "secrets/reveal",
            &[("vault_id", &vault), ("path", "app/key")],
        )
        .await;
    assert_eq!((s, v.as_str()), (StatusCode::OK, Some(VALUE)));

    // 5: a REST read, the last one the quota allows.
    let res = srv
        .http
        .get(srv.url(&secret))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap();
    assert_eq!((res.status(), used(&res)), (StatusCode::OK, 5));

    // The quota is used up at every door.
    let (s, v) = srv.get(&secret, &h.token).await;
    assert_eq!(
        (s, v["type"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("quota_exceeded"))
    );
    let r = call(&mcp, "get_secret", json!({"path": "app/key"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("Quota"), "{}", text(&r));
    let (s, _) = browser
        .post(
            "secrets/reveal",
            &[("vault_id", &vault), ("path", "app/key")],
        )
        .await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED);
    mcp.cancel().await.unwrap();
}

async fn the_per_principal_rate_limit_applies_to_mcp_and_the_dashboard(db: Db) {
    let srv = TestServer::start_with(
        db,
        &[
            ("TALON_RATE_LIMIT_PER_IP", "0"),
            ("TALON_RATE_LIMIT_PER_PRINCIPAL", "3"),
        ],
    )
    .await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "rate").await;

    // Ten requests in well under two one-second windows: at most six are admitted.
    let mut mcp_statuses = Vec::new();
    for _ in 0..10 {
        mcp_statuses.push(
            mcp_initialize(&srv.http, &srv, &h.token, &vault)
                .await
                .status(),
        );
    }
    assert!(
        mcp_statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "/mcp is rate limited per principal: {mcp_statuses:?}"
    );

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut browser = Browser::from(&srv, loopback(1));
    browser.sign_in(&h.email).await;
    let mut ui_statuses = Vec::new();
    for _ in 0..10 {
        ui_statuses.push(browser.post("session", &[]).await.0);
    }
    assert!(
        ui_statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "the dashboard is rate limited per principal: {ui_statuses:?}"
    );
}

/// What every change made through Talon does in its transaction: raise the cache epoch.
async fn raise_cache_epochs(pool: &sqlx::AnyPool) {
    sqlx::query("UPDATE cache_epochs SET gen = gen + 1")
        .execute(pool)
        .await
        .unwrap();
}

async fn a_corrupted_policy_row_refuses_the_read_instead_of_being_skipped(db: Db) {
    let srv = TestServer::start(db).await;
    let (h, vault, agent, key) = setup(&srv).await;
    let token = srv.agent_token(&key).await;
    let secret = format!("/v1/vaults/{vault}/secrets/app/key");
    assert_eq!(srv.get(&secret, &token).await.0, StatusCode::OK);
    let pool = srv.db_pool().await;

    // A damaged allow: the read fails closed with 503, it does not fall back to anything. (An
    // edit made behind Talon's back raises the cache epoch, as every change through it does;
    // otherwise the policy parsed before the damage would still be served from the cache.)
    sqlx::query("UPDATE policies SET conditions = '{not json' WHERE principal_id = $1")
        .bind(&agent)
        .execute(&pool)
        .await
        .unwrap();
    raise_cache_epochs(&pool).await;
    let (s, v) = srv.get(&secret, &token).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["dependency"], json!("access_rules"));
    assert!(!v.to_string().contains(VALUE));
    sqlx::query("UPDATE policies SET conditions = '{}' WHERE principal_id = $1")
        .bind(&agent)
        .execute(&pool)
        .await
        .unwrap();
    raise_cache_epochs(&pool).await;
    assert_eq!(srv.get(&secret, &token).await.0, StatusCode::OK);

    // A damaged deny must not turn the denial into an allow.
    let (s, v) = srv
        .post(
            &format!("/v1/vaults/{vault}/policies"),
            Some(&h.token),
            json!({"secret_path_pattern": "app/key", "principal_type": "agent",
                   "principal_id": agent, "permissions": ["read"], "effect": "deny"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let deny_id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(srv.get(&secret, &token).await.0, StatusCode::FORBIDDEN);
    sqlx::query("UPDATE policies SET effect = 'block-ish' WHERE id = $1")
        .bind(&deny_id)
        .execute(&pool)
        .await
        .unwrap();
    let (s, v) = srv.get(&secret, &token).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    sqlx::query("UPDATE policies SET permissions = 'read' WHERE id = $1")
        .bind(&deny_id)
        .execute(&pool)
        .await
        .unwrap();
    let (s, v) = srv.get(&secret, &token).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
}

async fn mcp_calls_are_audited_as_made_over_mcp(db: Db) {
    let srv = TestServer::start_with(db, &[("TALON_RATE_LIMIT_PER_IP", "0")]).await;
    let (h, vault, agent, key) = setup(&srv).await;
    let token = srv.agent_token(&key).await;
    assert_eq!(
        srv.get(&format!("/v1/vaults/{vault}/secrets/app/key"), &token)
            .await
            .0,
        StatusCode::OK
    );
    let http = http_mcp(&srv, &token, &vault).await;
    let r = call(&http, "get_secret", json!({"path": "app/key"})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    http.cancel().await.unwrap();
    let stdio = stdio_mcp(&srv, &vault, &key).await;
    let r = call(&stdio, "get_secret", json!({"path": "app/key"})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    stdio.cancel().await.unwrap();

    let (s, v) = srv
        .get(
            &format!("/v1/audit/events?action=secret.read&actor_id={agent}&limit=10"),
            &h.token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{v}");
    // Newest first: stdio, then HTTP, then the plain REST read.
    let via: Vec<Value> = events.iter().map(|e| e["details"]["via"].clone()).collect();
    assert_eq!(via, vec![json!("mcp"), json!("mcp"), Value::Null], "{v}");
    assert!(events[1]["user_agent"]
        .as_str()
        .unwrap()
        .starts_with("mcp; "));
    assert_eq!(events[1]["ip_address"], json!("127.0.0.1"));
}
