//! `POST /v1/broker/blocked`: the credential broker's report of a send it refused, audited as
//! `secret.exfiltration_blocked`.

use crate::common::{Db, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_databases!(
    a_reported_blocked_send_is_audited_without_a_value,
    blocked_send_reports_are_checked_before_they_are_audited,
);

/// The `secret.exfiltration_blocked` events the human sees.
async fn blocked_events(srv: &TestServer, token: &str) -> Vec<Value> {
    let (s, v) = srv
        .get("/v1/audit/events?action=secret.exfiltration_blocked", token)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["events"].as_array().cloned().unwrap_or_default()
}

async fn a_reported_blocked_send_is_audited_without_a_value(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "broker").await;
    srv.put_secret(&h.token, &vault, "api/key", "sk-live-do-not-leak")
        .await;
    let (agent, key) = srv.create_agent(&h.token, "broker-agent").await;
    let agent_token = srv.agent_token(&key).await;

    for token in [&h.token, &agent_token] {
        let (s, v) = srv
            .post(
                "/v1/broker/blocked",
                Some(token),
                json!({"vault_id": vault, "path": "api/key", "host": "evil.example", "env": "API_KEY"}),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    }

    let events = blocked_events(&srv, &h.token).await;
    assert_eq!(events.len(), 2, "{events:?}");
    for e in &events {
        assert_eq!(e["outcome"], "denied");
        assert_eq!(e["resource_type"], "secret");
        assert_eq!(e["details"]["vault_id"], vault.as_str());
        assert_eq!(e["details"]["path"], "api/key");
        assert_eq!(e["details"]["host"], "evil.example");
        assert_eq!(e["details"]["env"], "API_KEY");
    }
    assert!(events.iter().any(|e| e["actor_id"] == agent.as_str()));
    assert!(events.iter().any(|e| e["actor_id"] == h.user_id.as_str()));
    let (_, all) = srv.get("/v1/audit/events?limit=1000", &h.token).await;
    assert!(!all.to_string().contains("sk-live-do-not-leak"));
}

async fn blocked_send_reports_are_checked_before_they_are_audited(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "broker").await;
    let other = srv.signup().await;
    let foreign = srv.create_vault(&other.token, "theirs").await;
    let report = |vault: &str, path: &str, host: &str, env: &str| json!({"vault_id": vault, "path": path, "host": host, "env": env});

    for (body, want) in [
        (
            report(&foreign, "api/key", "evil.example", "K"),
            StatusCode::NOT_FOUND,
        ),
        (
            report("not-a-uuid", "api/key", "evil.example", "K"),
            StatusCode::BAD_REQUEST,
        ),
        (
            report(&vault, "../etc", "evil.example", "K"),
            StatusCode::BAD_REQUEST,
        ),
        (
            report(&vault, "api/key", &"h".repeat(254), "K"),
            StatusCode::BAD_REQUEST,
        ),
        (
            report(&vault, "api/key", "evil.example/x y", "K"),
            StatusCode::BAD_REQUEST,
        ),
        (
            report(&vault, "api/key", "evil.example", "1=2"),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"vault_id": vault}), StatusCode::BAD_REQUEST),
    ] {
        let (s, v) = srv
            .post("/v1/broker/blocked", Some(&h.token), body.clone())
            .await;
        assert_eq!(s, want, "{body}: {v}");
    }
    let (s, _) = srv
        .post(
            "/v1/broker/blocked",
            None,
            report(&vault, "api/key", "evil.example", "K"),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    assert!(blocked_events(&srv, &h.token).await.is_empty());
    assert!(blocked_events(&srv, &other.token).await.is_empty());
}
