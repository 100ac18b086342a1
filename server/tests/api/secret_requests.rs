//! Secret requests and the human-in-the-loop tools: an agent asks for a credential, a person
//! fulfils it into a vault path (granting use or read) or declines, and the agent learns only
//! where it went; approvals and requests reach people by mail and webhooks; the MCP tools ask,
//! poll and wait.

use crate::common::mcp_client::{call_tool, stdio_client, tool_text};
use crate::common::{contains, Db, TestServer, PASSWORD};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

on_both_databases!(
    an_agent_asks_a_person_fulfils_and_the_agent_learns_only_where_it_went,
    a_declined_request_tells_the_agent_why_and_only_people_answer,
    approvals_and_secret_requests_reach_people_by_mail_and_webhook,
    mcp_tools_ask_for_approval_and_secrets_and_never_show_the_value,
);

const VALUE: &str = "sk_test_51H-fulfilled-9d2c7e";

struct World {
    srv: TestServer,
    owner: String,
    vault: String,
    agent: String,
    key: String,
    agent_token: String,
}

async fn world(db: Db, env: &[(&str, &str)]) -> World {
    let srv = TestServer::start_with(db, env).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "agents").await;
    let (agent, key) = srv.create_agent(&h.token, "billing-bot").await;
    let agent_token = srv.agent_token(&key).await;
    World {
        srv,
        owner: h.token,
        vault,
        agent,
        key,
        agent_token,
    }
}

async fn ask(w: &World, label: &str) -> Value {
    let (s, q) = w
        .srv
        .post(
            "/v1/secret-requests",
            Some(&w.agent_token),
            json!({"label": label, "purpose": "charge test cards", "suggested_path": "api-keys/stripe"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{q}");
    q
}

async fn an_agent_asks_a_person_fulfils_and_the_agent_learns_only_where_it_went(db: Db) {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("server.log");
    let w = world(
        db,
        &[
            ("TALON_TEST_LOG_FILE", log.to_str().unwrap()),
            ("TALON_LOG", "debug"),
        ],
    )
    .await;
    let q = ask(&w, "Stripe test key").await;
    let id = q["id"].as_str().unwrap().to_owned();
    assert_eq!(q["status"], "pending");
    assert_eq!(q["suggested_path"], "api-keys/stripe");

    let (s, list) = w
        .srv
        .get("/v1/secret-requests?status=pending", &w.owner)
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["secret_requests"][0]["id"], id.as_str());
    assert_eq!(list["secret_requests"][0]["agent_id"], w.agent.as_str());

    // The agent cannot answer its own request.
    let fulfil =
        json!({"vault_id": w.vault, "path": "api-keys/stripe", "value": VALUE, "grant": "use"});
    let (s, _) = w
        .srv
        .post(
            &format!("/v1/secret-requests/{id}/fulfil"),
            Some(&w.agent_token),
            fulfil.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = w
        .srv
        .post(
            &format!("/v1/secret-requests/{id}/fulfil"),
            Some(&w.owner),
            json!({"vault_id": w.vault, "path": "api-keys/stripe", "value": VALUE, "grant": "everything"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, done) = w
        .srv
        .post(
            &format!("/v1/secret-requests/{id}/fulfil"),
            Some(&w.owner),
            fulfil.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "fulfilled");
    assert!(!done.to_string().contains(VALUE));
    let (s, _) = w
        .srv
        .post(
            &format!("/v1/secret-requests/{id}/fulfil"),
            Some(&w.owner),
            fulfil,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // The agent learns the vault, the path and its grant; never the value.
    let (s, seen) = w
        .srv
        .get(&format!("/v1/secret-requests/{id}"), &w.agent_token)
        .await;
    assert_eq!(s, StatusCode::OK, "{seen}");
    assert_eq!(seen["status"], "fulfilled");
    assert_eq!(seen["vault_id"], w.vault.as_str());
    assert_eq!(seen["path"], "api-keys/stripe");
    assert_eq!(seen["granted"], "use");
    assert!(!seen.to_string().contains(VALUE));
    // The grant is `use`: the agent may use the secret but not read it.
    let (s, v) = w
        .srv
        .get(
            &format!("/v1/vaults/{}/secrets/api-keys/stripe", w.vault),
            &w.agent_token,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["type"], "use_only");
    // The owner reads exactly what they entered.
    let (s, v) = w
        .srv
        .get(
            &format!("/v1/vaults/{}/secrets/api-keys/stripe", w.vault),
            &w.owner,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["value"], VALUE);

    // Audited without the value, and the value is nowhere in plaintext at rest.
    let (_, events) = w.srv.get("/v1/audit/events?limit=200", &w.owner).await;
    let text = events.to_string();
    assert!(text.contains("secret_request.created"));
    assert!(text.contains("secret_request.fulfilled"));
    assert!(!text.contains(VALUE));
    assert!(!contains(&w.srv.dump_storage().await, VALUE.as_bytes()));
    let logged = std::fs::read(&log).expect("server log");
    assert!(!logged.is_empty());
    assert!(
        !contains(&logged, VALUE.as_bytes()),
        "value in the server log"
    );

    // Another agent does not see the request.
    let (_, other_key) = w.srv.create_agent(&w.owner, "other-bot").await;
    let other = w.srv.agent_token(&other_key).await;
    let (s, _) = w
        .srv
        .get(&format!("/v1/secret-requests/{id}"), &other)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, theirs) = w.srv.get("/v1/secret-requests", &other).await;
    assert_eq!(theirs["secret_requests"], json!([]));
}

async fn a_declined_request_tells_the_agent_why_and_only_people_answer(db: Db) {
    let w = world(db, &[]).await;
    let id = ask(&w, "Production DB password").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = w
        .srv
        .post(
            &format!("/v1/secret-requests/{id}/decline"),
            Some(&w.agent_token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v) = w
        .srv
        .post(
            &format!("/v1/secret-requests/{id}/decline"),
            Some(&w.owner),
            json!({"reason": "use the staging database"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, seen) = w
        .srv
        .get(&format!("/v1/secret-requests/{id}"), &w.agent_token)
        .await;
    assert_eq!(seen["status"], "declined");
    assert_eq!(seen["decline_reason"], "use the staging database");
    assert!(seen["path"].is_null());

    // People do not file requests; bad input is a 400 naming the field.
    let (s, _) = w
        .srv
        .post(
            "/v1/secret-requests",
            Some(&w.owner),
            json!({"label": "x", "purpose": "y"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for bad in [
        json!({"label": "", "purpose": "y"}),
        json!({"label": "x", "purpose": ""}),
        json!({"label": "x", "purpose": "y", "suggested_path": "../etc"}),
    ] {
        let (s, v) = w
            .srv
            .post("/v1/secret-requests", Some(&w.agent_token), bad)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    }
    let (s, _) = w
        .srv
        .get("/v1/secret-requests?status=bogus", &w.owner)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

async fn record(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> &'static str {
    seen.lock().unwrap().push((headers, body.to_vec()));
    "ok"
}

async fn wait_for_delivery(seen: &Seen, action: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let hit = seen.lock().unwrap().iter().find_map(|(h, b)| {
            (h.get("x-talon-event").and_then(|v| v.to_str().ok()) == Some(action))
                .then(|| b.clone())
        });
        if let Some(body) = hit {
            return serde_json::from_slice(&body).unwrap();
        }
        assert!(Instant::now() < deadline, "no {action} delivery within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn outbox_subjects(srv: &TestServer, to: &str) -> Vec<String> {
    let text = std::fs::read_to_string(srv.data_path().join("outbox.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["to"] == to)
        .map(|m| m["subject"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn approvals_and_secret_requests_reach_people_by_mail_and_webhook(db: Db) {
    let w = world(
        db,
        &[
            ("TALON_ALLOW_PRIVATE_WEBHOOKS", "true"),
            ("TALON_ALLOW_HTTP_WEBHOOKS", "true"),
        ],
    )
    .await;
    let seen = Seen::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(record)
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (s, v) = w
        .srv
        .post(
            "/v1/webhooks",
            Some(&w.owner),
            json!({"url": format!("http://{addr}/hook"),
                   "events": ["approval.requested", "approval.approved", "secret_request.created"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    w.srv.put_secret(&w.owner, &w.vault, "prod/db", VALUE).await;
    let (s, v) = w
        .srv
        .post(
            &format!("/v1/vaults/{}/policies", w.vault),
            Some(&w.owner),
            json!({"secret_path_pattern": "prod/**", "principal_type": "agent",
                   "principal_id": w.agent, "permissions": ["read"],
                   "conditions": {"require_approval": {"risk_tier": 1}}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = w
        .srv
        .get(
            &format!("/v1/vaults/{}/secrets/prod/db", w.vault),
            &w.agent_token,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let id = v["approval_id"].as_str().unwrap().to_owned();
    let requested = wait_for_delivery(&seen, "approval.requested").await;
    assert_eq!(requested["event"], "approval.requested");
    assert!(requested.to_string().contains(&id), "{requested}");
    let (s, _) = w
        .srv
        .post(
            &format!("/v1/approvals/{id}/decide"),
            Some(&w.owner),
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    wait_for_delivery(&seen, "approval.approved").await;
    ask(&w, "Stripe key").await;
    wait_for_delivery(&seen, "secret_request.created").await;
    for (_, body) in seen.lock().unwrap().iter() {
        assert!(
            !contains(body, VALUE.as_bytes()),
            "value in a webhook payload"
        );
    }

    // The owner was mailed about both.
    let (_, me) = w.srv.get("/v1/auth/me", &w.owner).await;
    let email = me["email"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let subjects = outbox_subjects(&w.srv, &email).await;
        if subjects.iter().any(|s| s.contains("approval"))
            && subjects.iter().any(|s| s.contains("credential"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "mails missing: {subjects:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn mcp_tools_ask_for_approval_and_secrets_and_never_show_the_value(db: Db) {
    let w = world(db, &[]).await;
    w.srv.put_secret(&w.owner, &w.vault, "prod/db", VALUE).await;
    let (s, v) = w
        .srv
        .post(
            &format!("/v1/vaults/{}/policies", w.vault),
            Some(&w.owner),
            json!({"secret_path_pattern": "prod/**", "principal_type": "agent",
                   "principal_id": w.agent, "permissions": ["read"],
                   "conditions": {"require_approval": {}}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let client = stdio_client(&w.srv, &w.vault, &w.key).await;

    // A gated read says so in one sentence, with the approval to wait for.
    let r = call_tool(&client, "get_secret", json!({"path": "prod/db"})).await;
    assert_eq!(r.is_error, Some(true));
    let said = tool_text(&r);
    assert!(said.starts_with("Approval required"), "{said}");
    assert!(said.contains("get_approval_status"), "{said}");
    let (_, list) = w.srv.get("/v1/approvals?status=pending", &w.owner).await;
    let id = list["approvals"][0]["id"].as_str().unwrap().to_owned();
    assert!(said.contains(&id), "{said}");
    let r = call_tool(&client, "get_approval_status", json!({"approval_id": id})).await;
    assert!(tool_text(&r).contains("pending"), "{}", tool_text(&r));
    let r = call_tool(&client, "list_approvals", json!({})).await;
    assert!(tool_text(&r).contains(&id), "{}", tool_text(&r));
    let res = w
        .srv
        .http
        .post(w.srv.url(&format!("/v1/approvals/{id}/decide")))
        .bearer_auth(&w.owner)
        .header("X-Auth-Confirm", PASSWORD)
        .json(&json!({"decision": "approve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let r = call_tool(&client, "get_approval_status", json!({"approval_id": id})).await;
    assert!(tool_text(&r).contains("approved"), "{}", tool_text(&r));
    let r = call_tool(&client, "get_secret", json!({"path": "prod/db"})).await;
    assert_ne!(r.is_error, Some(true), "{}", tool_text(&r));
    assert!(tool_text(&r).contains(VALUE));

    // A declared action, then cancelled.
    let r = call_tool(
        &client,
        "request_approval",
        json!({"action": "deploy", "target_type": "service", "target_id": "billing",
               "summary": {"version": "1.4.2"}, "reason": "release"}),
    )
    .await;
    let said = tool_text(&r);
    assert!(said.starts_with("Approval requested"), "{said}");
    let declared = said
        .split("approval_id ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    let r = call_tool(&client, "cancel_approval", json!({"approval_id": declared})).await;
    assert_ne!(r.is_error, Some(true), "{}", tool_text(&r));

    // A credential asked for through MCP and filled in by a person: the agent learns where.
    let r = call_tool(
        &client,
        "request_secret",
        json!({"label": "Stripe key", "purpose": "charge test cards", "suggested_path": "api-keys/stripe"}),
    )
    .await;
    let said = tool_text(&r);
    let request = said
        .split("request_id ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .to_owned();
    let r = call_tool(
        &client,
        "check_secret_request",
        json!({"request_id": request}),
    )
    .await;
    assert!(tool_text(&r).starts_with("Pending"), "{}", tool_text(&r));
    let secret = format!("{VALUE}-stripe");
    let (s, v) = w
        .srv
        .post(
            &format!("/v1/secret-requests/{request}/fulfil"),
            Some(&w.owner),
            json!({"vault_id": w.vault, "path": "api-keys/stripe", "value": secret, "grant": "use"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let r = call_tool(
        &client,
        "check_secret_request",
        json!({"request_id": request}),
    )
    .await;
    let said = tool_text(&r);
    assert!(said.starts_with("Fulfilled"), "{said}");
    assert!(
        said.contains("api-keys/stripe") && said.contains("execute_http"),
        "{said}"
    );
    assert!(!said.contains(&secret));
}
