//! Approvals: a `require_approval` policy lets an agent's request through only after people
//! approve exactly that request; M-of-N, step-up, the requester's exclusion, rejection,
//! expiry, cancellation and one-click links; every step in the audit chain.

use crate::common::{Db, TestServer, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

on_both_databases!(
    a_gated_read_is_held_until_approved_then_goes_through_exactly_once,
    a_windowed_grant_lets_the_same_read_repeat_until_it_closes,
    m_of_n_needs_distinct_listed_approvers_and_never_the_requester,
    rejection_cancellation_and_expiry_end_an_approval,
    one_click_links_only_open_the_confirmation_and_decide_once,
    an_execution_approval_is_bound_to_its_method_path_and_body,
    an_agent_declares_an_action_and_polls_its_decision,
    a_gated_write_waits_for_approval_and_then_writes_once,
    pending_approvals_follow_the_m_of_n_submit_sign_execute_flow,
);

const VALUE: &str = "pg-prod-password-7f3e9a1c";

/// An owner, a vault with `prod/db`, an agent and its token.
struct World {
    srv: TestServer,
    owner: String,
    owner_id: String,
    vault: String,
    agent: String,
    agent_token: String,
}

async fn world_with(db: Db, env: &[(&str, &str)]) -> World {
    let srv = TestServer::start_with(db, env).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "production").await;
    srv.put_secret(&h.token, &vault, "prod/db", VALUE).await;
    srv.put_secret(&h.token, &vault, "prod/cache", "redis-pw")
        .await;
    let (agent, key) = srv.create_agent(&h.token, "deploy-bot").await;
    let agent_token = srv.agent_token(&key).await;
    World {
        srv,
        owner: h.token,
        owner_id: h.user_id,
        vault,
        agent,
        agent_token,
    }
}

/// Grants `principal` `perms` on `pattern`, gated by `rule`.
async fn gate(w: &World, principal: (&str, &str), pattern: &str, perms: &[&str], rule: Value) {
    let (s, v) = w
        .srv
        .post(
            &format!("/v1/vaults/{}/policies", w.vault),
            Some(&w.owner),
            json!({"secret_path_pattern": pattern, "principal_type": principal.0,
                   "principal_id": principal.1, "permissions": perms,
                   "conditions": {"require_approval": rule}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "gated policy: {v}");
}

async fn read(w: &World, token: &str, path: &str) -> (StatusCode, Value) {
    w.srv
        .get(&format!("/v1/vaults/{}/secrets/{path}", w.vault), token)
        .await
}

/// Reads and expects the approval gate; returns the approval's id.
async fn held(w: &World, token: &str, path: &str) -> String {
    let (s, v) = read(w, token, path).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["type"], "approval_required", "{v}");
    assert!(!v.to_string().contains(VALUE));
    let id = v["approval_id"].as_str().expect("approval_id").to_owned();
    assert_eq!(v["status_url"], format!("/v1/approvals/{id}/status"));
    id
}

async fn decide(
    srv: &TestServer,
    token: &str,
    id: &str,
    decision: &str,
    confirm: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = srv
        .http
        .post(srv.url(&format!("/v1/approvals/{id}/decide")))
        .bearer_auth(token)
        .json(&json!({"decision": decision, "reason": "checked"}));
    if let Some(c) = confirm {
        req = req.header("X-Auth-Confirm", c);
    }
    let res = req.send().await.unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

async fn status_of(srv: &TestServer, token: &str, id: &str) -> Value {
    let (s, v) = srv.get(&format!("/v1/approvals/{id}/status"), token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn actions(srv: &TestServer, token: &str, prefix: &str) -> Vec<Value> {
    let (s, v) = srv.get("/v1/audit/events?limit=500", token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap_or_default().starts_with(prefix))
        .cloned()
        .collect()
}

async fn chain_verifies(srv: &TestServer, token: &str) {
    let (s, v) = srv.get("/v1/audit/verify", token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["chain_valid"], true, "{v}");
}

async fn a_gated_read_is_held_until_approved_then_goes_through_exactly_once(db: Db) {
    let w = world_with(db, &[]).await;
    gate(&w, ("agent", &w.agent), "prod/**", &["read"], json!({})).await;

    let id = held(&w, &w.agent_token, "prod/db").await;
    // The same request while pending reuses the approval.
    assert_eq!(held(&w, &w.agent_token, "prod/db").await, id);
    // A different path is a different request.
    let other = held(&w, &w.agent_token, "prod/cache").await;
    assert_ne!(other, id);
    assert_eq!(
        status_of(&w.srv, &w.agent_token, &id).await["status"],
        "pending"
    );

    // The owner (a vault admin, the default approver) sees exactly what is asked.
    let (s, list) = w.srv.get("/v1/approvals?status=pending", &w.owner).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let a = list["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id.as_str())
        .expect("listed")
        .clone();
    assert_eq!(a["action"], "secret.read");
    assert_eq!(a["agent_id"], w.agent.as_str());
    assert_eq!(a["summary"]["path"], "prod/db");
    assert_eq!(a["summary"]["permission"], "read");
    assert_eq!(a["risk_tier"], 2);
    assert_eq!(a["can_decide"], true);
    assert_eq!(a["approvers"], json!([w.owner_id]));

    // Risk tier 2: a decision needs the password (or a TOTP code) as step-up.
    let (s, v) = decide(&w.srv, &w.owner, &id, "approve", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["type"], "step_up_required");
    let (s, v) = decide(&w.srv, &w.owner, &id, "approve", Some("not-my-password")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["type"], "step_up_required");
    // The agent cannot decide at all.
    let (s, _) = decide(&w.srv, &w.agent_token, &id, "approve", Some(PASSWORD)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        status_of(&w.srv, &w.agent_token, &id).await["status"],
        "pending"
    );

    let (s, v) = decide(&w.srv, &w.owner, &id, "approve", Some(PASSWORD)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "approved");
    assert_eq!(v["decided_by"], w.owner_id.as_str());
    assert_eq!(v["votes"][0]["credential_type"], "password");

    // Exactly that read goes through, once.
    let (s, v) = read(&w, &w.agent_token, "prod/db").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["value"], VALUE);
    let again = held(&w, &w.agent_token, "prod/db").await;
    assert_ne!(again, id, "a spent approval is not reused");
    // The other path's approval is still pending, so that read is still refused.
    assert_eq!(held(&w, &w.agent_token, "prod/cache").await, other);
    // A second agent with the same gated policy has its own approval.
    let (agent2, key2) = w.srv.create_agent(&w.owner, "second-bot").await;
    gate(&w, ("agent", &agent2), "prod/**", &["read"], json!({})).await;
    let token2 = w.srv.agent_token(&key2).await;
    let theirs = held(&w, &token2, "prod/db").await;
    assert_ne!(theirs, again);
    let used = status_of(&w.srv, &w.agent_token, &id).await;
    assert!(used["used_at"].is_string(), "{used}");

    // Every step is in the audit chain, never with the value.
    let events = actions(&w.srv, &w.owner, "approval.").await;
    for step in ["approval.requested", "approval.approved", "approval.used"] {
        assert!(
            events
                .iter()
                .any(|e| e["action"] == step && e["resource_id"] == id.as_str()),
            "{step} missing: {events:?}"
        );
    }
    assert!(!serde_json::to_string(&events).unwrap().contains(VALUE));
    chain_verifies(&w.srv, &w.owner).await;
}

async fn a_windowed_grant_lets_the_same_read_repeat_until_it_closes(db: Db) {
    let w = world_with(db, &[]).await;
    gate(
        &w,
        ("agent", &w.agent),
        "prod/db",
        &["read"],
        json!({"grant": {"for_seconds": 2}, "risk_tier": 1}),
    )
    .await;
    let id = held(&w, &w.agent_token, "prod/db").await;
    // Risk tier 1 needs no step-up.
    let (s, v) = decide(&w.srv, &w.owner, &id, "approve", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["grant"]["for_seconds"], 2);
    for _ in 0..3 {
        let (s, v) = read(&w, &w.agent_token, "prod/db").await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    assert_eq!(
        status_of(&w.srv, &w.agent_token, &id).await["status"],
        "approved"
    );
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let next = held(&w, &w.agent_token, "prod/db").await;
    assert_ne!(next, id);
    let (_, a) = w.srv.get(&format!("/v1/approvals/{id}"), &w.owner).await;
    assert_eq!(a["use_count"], 3, "{a}");
}

async fn m_of_n_needs_distinct_listed_approvers_and_never_the_requester(db: Db) {
    let w = world_with(db, &[]).await;
    let admin = w.srv.join(&w.owner, "admin").await;
    let member = w.srv.join(&w.owner, "member").await;
    gate(
        &w,
        ("agent", &w.agent),
        "prod/**",
        &["read"],
        json!({"approvers": [w.owner_id, admin.user_id], "min_approvals": 2, "risk_tier": 1}),
    )
    .await;
    let id = held(&w, &w.agent_token, "prod/db").await;

    // A member who is not an approver cannot decide (nor see it).
    let (s, v) = decide(&w.srv, &member.token, &id, "approve", None).await;
    assert!(
        s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
        "{s} {v}"
    );
    let (s, v) = decide(&w.srv, &w.owner, &id, "approve", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "pending");
    assert_eq!(v["current_approvals"], 1);
    assert_eq!(v["required_approvals"], 2);
    // One approver counts once.
    let (s, v) = decide(&w.srv, &w.owner, &id, "approve", None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    held(&w, &w.agent_token, "prod/db").await;
    let (s, v) = decide(&w.srv, &admin.token, &id, "approve", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "approved");
    let (s, _) = read(&w, &w.agent_token, "prod/db").await;
    assert_eq!(s, StatusCode::OK);
    let votes = actions(&w.srv, &w.owner, "approval.vote").await;
    assert!(votes.iter().any(|e| e["resource_id"] == id.as_str()));

    // A person whose own read is gated cannot approve it; another approver can.
    gate(
        &w,
        ("user", &member.user_id),
        "prod/cache",
        &["read"],
        json!({"approvers": [w.owner_id, member.user_id], "risk_tier": 1}),
    )
    .await;
    let mine = held(&w, &member.token, "prod/cache").await;
    let (_, a) = w
        .srv
        .get(&format!("/v1/approvals/{mine}"), &member.token)
        .await;
    assert_eq!(a["approvers"], json!([w.owner_id]), "{a}");
    let (s, v) = decide(&w.srv, &member.token, &mine, "approve", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, _) = decide(&w.srv, &w.owner, &mine, "approve", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = read(&w, &member.token, "prod/cache").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    chain_verifies(&w.srv, &w.owner).await;
}

async fn rejection_cancellation_and_expiry_end_an_approval(db: Db) {
    let w = world_with(db, &[("TALON_APPROVAL_TTL_SECONDS", "2")]).await;
    gate(
        &w,
        ("agent", &w.agent),
        "prod/**",
        &["read"],
        json!({"risk_tier": 1}),
    )
    .await;

    let rejected = held(&w, &w.agent_token, "prod/db").await;
    let (s, v) = decide(&w.srv, &w.owner, &rejected, "reject", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "rejected");
    assert_eq!(v["decision_reason"], "checked");
    let (s, v) = decide(&w.srv, &w.owner, &rejected, "approve", None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    // Cancelling a decided approval answers it unchanged: the first answer wins.
    let (s, v) = w
        .srv
        .post(
            &format!("/v1/approvals/{rejected}/cancel"),
            Some(&w.agent_token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["decision_reason"], "checked");
    let fresh = held(&w, &w.agent_token, "prod/db").await;
    assert_ne!(fresh, rejected);

    // The requesting agent cancels its own request.
    let (s, v) = w
        .srv
        .post(
            &format!("/v1/approvals/{fresh}/cancel"),
            Some(&w.agent_token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "rejected");
    assert_eq!(v["decision_reason"], "cancelled");

    // Unanswered, an approval expires, and then it cannot be decided.
    let late = held(&w, &w.agent_token, "prod/db").await;
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(
        status_of(&w.srv, &w.agent_token, &late).await["status"],
        "expired"
    );
    let (s, v) = decide(&w.srv, &w.owner, &late, "approve", None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, _) = read(&w, &w.agent_token, "prod/db").await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, v) = w.srv.get("/v1/approvals?status=bogus", &w.owner).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = w.srv.get("/v1/approvals?status=expired", &w.owner).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == late.as_str()));
    for step in [
        "approval.rejected",
        "approval.cancelled",
        "approval.expired",
    ] {
        assert!(
            !actions(&w.srv, &w.owner, step).await.is_empty(),
            "{step} missing"
        );
    }
    chain_verifies(&w.srv, &w.owner).await;
}

/// The `qd_` token of the newest approval mail to `to` in the outbox.
async fn mailed_token(srv: &TestServer, to: &str) -> String {
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(srv.data_path().join("outbox.jsonl")) {
            let found = text
                .lines()
                .rev()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|m| m["to"] == to && m["subject"].as_str().unwrap().contains("approval"));
            if let Some(m) = found {
                let body = m["body"].as_str().unwrap();
                let at = body.find("token=").expect("link") + "token=".len();
                return body[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no approval mail for {to}");
}

async fn one_click_links_only_open_the_confirmation_and_decide_once(db: Db) {
    let w = world_with(db, &[]).await;
    let (_, me) = w.srv.get("/v1/auth/me", &w.owner).await;
    let email = me["email"].as_str().unwrap().to_owned();
    gate(&w, ("agent", &w.agent), "prod/**", &["read"], json!({})).await;
    let id = held(&w, &w.agent_token, "prod/db").await;
    let token = mailed_token(&w.srv, &email).await;
    assert!(token.starts_with("qd_"), "{token}");

    // Opening the link only redirects to the dashboard's confirmation page.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = no_redirects
        .get(w.srv.url(&format!(
            "/v1/approvals/quick-decide?token={token}&decision=approved"
        )))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with("/approvals/confirm?token=qd_"), "{to}");
    assert_eq!(
        status_of(&w.srv, &w.agent_token, &id).await["status"],
        "pending"
    );
    let res = no_redirects
        .get(
            w.srv
                .url("/v1/approvals/quick-decide?token=qd_unknown&decision=approved"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // The confirmation page shows the approval to the approver it was mailed to.
    let (s, v) = w
        .srv
        .get(&format!("/v1/approvals/link?token={token}"), &w.owner)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["id"], id.as_str());

    let confirm = |t: &str, pw: Option<&str>| {
        let mut req = w
            .srv
            .http
            .post(w.srv.url("/v1/approvals/quick-decide"))
            .bearer_auth(&w.owner)
            .json(&json!({"token": t, "decision": "approve"}));
        if let Some(pw) = pw {
            req = req.header("X-Auth-Confirm", pw);
        }
        req.send()
    };
    let res = confirm(&token, None).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "step-up first");
    let res = confirm(&token, Some(PASSWORD)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "approved", "{v}");
    // The link works once.
    let res = confirm(&token, Some(PASSWORD)).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let (s, _) = w
        .srv
        .get(&format!("/v1/approvals/link?token={token}"), &w.owner)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = read(&w, &w.agent_token, "prod/db").await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

/// A loopback upstream that counts what it gets.
async fn upstream() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits)
}

async fn an_execution_approval_is_bound_to_its_method_path_and_body(db: Db) {
    let w = world_with(db, &[("TALON_ALLOW_PRIVATE_EGRESS", "true")]).await;
    let (base, hits) = upstream().await;
    gate(
        &w,
        ("agent", &w.agent),
        "prod/db",
        &["use"],
        json!({"risk_tier": 1}),
    )
    .await;
    let (s, b) = w
        .srv
        .post(
            &format!("/v1/agents/{}/bindings", w.agent),
            Some(&w.owner),
            json!({"name": "db-api", "binding_type": "http",
                   "config": {"base_url": base, "auth": {"type": "bearer"}},
                   "credential_source": {"type": "vault_ref", "vault_id": w.vault, "path": "prod/db"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let path = format!("/v1/agents/{}/execute", w.agent);
    let execute = |body: Value| {
        w.srv.call(
            Method::POST,
            &path,
            Some(&w.agent_token),
            Some(json!({"binding": "db-api", "intent_type": "http",
                        "params": {"method": "POST", "path": "/migrate", "body": body}})),
        )
    };
    let (s, v) = execute(json!({"step": 1})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["type"], "approval_required");
    let id = v["approval_id"].as_str().unwrap().to_owned();
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    let (_, a) = w.srv.get(&format!("/v1/approvals/{id}"), &w.owner).await;
    assert_eq!(a["action"], "secret.use");
    assert_eq!(a["summary"]["request"]["method"], "POST");
    assert_eq!(a["summary"]["request"]["path"], "/migrate");
    assert!(
        a["summary"]["request"]["body_sha256"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
    let (s, _) = decide(&w.srv, &w.owner, &id, "approve", None).await;
    assert_eq!(s, StatusCode::OK);

    // Another body is another request: still refused, and nothing sent.
    let (s, v) = execute(json!({"step": 2})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_ne!(v["approval_id"], id.as_str());
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Exactly the approved one goes through.
    let (s, v) = execute(json!({"step": 1})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    let (s, _) = execute(json!({"step": 1})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

async fn an_agent_declares_an_action_and_polls_its_decision(db: Db) {
    let w = world_with(db, &[]).await;
    let body = json!({"action": "policy_change", "target_type": "vault", "target_id": w.vault,
                      "summary": {"add": "write on prod/**"}, "reason": "deploy needs it",
                      "risk_tier": 1});
    let res = w
        .srv
        .send(
            Method::POST,
            "/v1/approvals/request",
            Some(&w.agent_token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let a: Value = res.json().await.unwrap();
    let id = a["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/approvals/{id}"));
    assert_eq!(a["status"], "pending");
    assert_eq!(a["action"], "policy_change");
    assert_eq!(a["reason"], "deploy needs it");
    // Asking again while pending answers the same approval.
    let (s, again) = w
        .srv
        .post("/v1/approvals/request", Some(&w.agent_token), body)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(again["id"], id.as_str());
    // People decide; they do not request here.
    let (s, _) = w
        .srv
        .post(
            "/v1/approvals/request",
            Some(&w.owner),
            json!({"action": "x", "target_type": "y", "target_id": "z", "summary": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for bad in [
        json!({"action": "", "target_type": "y", "target_id": "z", "summary": {}}),
        json!({"action": "x", "target_type": "y", "target_id": "z", "summary": [1]}),
        json!({"action": "x", "target_type": "y", "target_id": "z", "summary": {}, "risk_tier": 9}),
        json!({"action": "secret.read", "target_type": "y", "target_id": "z", "summary": {}}),
    ] {
        let (s, v) = w
            .srv
            .post("/v1/approvals/request", Some(&w.agent_token), bad)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    }
    let (s, _) = w.srv.get("/v1/approvals/not-a-uuid", &w.owner).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = w
        .srv
        .get(&format!("/v1/approvals/{}", uuid::Uuid::new_v4()), &w.owner)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, v) = decide(&w.srv, &w.owner, &id, "approve", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let st = status_of(&w.srv, &w.agent_token, &id).await;
    assert_eq!(st["status"], "approved");
    // A runaway agent cannot flood its approvers: at most 50 pending at a time.
    for n in 0..50 {
        let (s, v) = w
            .srv
            .post(
                "/v1/approvals/request",
                Some(&w.agent_token),
                json!({"action": "deploy", "target_type": "service", "target_id": format!("svc-{n}"),
                       "summary": {}, "risk_tier": 1}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{n}: {v}");
    }
    let (s, v) = w
        .srv
        .post(
            "/v1/approvals/request",
            Some(&w.agent_token),
            json!({"action": "deploy", "target_type": "service", "target_id": "one-more", "summary": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    // The agent sees its own approvals only.
    let (_, mine) = w.srv.get("/v1/approvals", &w.agent_token).await;
    assert!(mine["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["agent_id"] == w.agent.as_str()));
}

async fn a_gated_write_waits_for_approval_and_then_writes_once(db: Db) {
    let w = world_with(db, &[]).await;
    gate(
        &w,
        ("agent", &w.agent),
        "prod/**",
        &["write"],
        json!({"risk_tier": 1}),
    )
    .await;
    let at = format!("/v1/vaults/{}/secrets/prod/db", w.vault);
    let put = |value: &'static str| w.srv.put(&at, &w.agent_token, json!({"value": value}));
    let (s, v) = put("rotated-1").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["type"], "approval_required");
    let id = v["approval_id"].as_str().unwrap().to_owned();
    let (_, a) = w.srv.get(&format!("/v1/approvals/{id}"), &w.owner).await;
    assert_eq!(a["action"], "secret.write");
    let (s, _) = decide(&w.srv, &w.owner, &id, "approve", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = put("rotated-1").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["version"], 2);
    let (s, _) = put("rotated-2").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, latest) = read(&w, &w.owner, "prod/db").await;
    assert_eq!(latest["value"], "rotated-1");
}

async fn sign(srv: &TestServer, id: &str, token: &str, hash: &str) -> (StatusCode, Value) {
    srv.post(
        &format!("/v1/pending-approvals/{id}/approve"),
        Some(token),
        json!({"decision": "approve", "payload_hash": hash, "reason": "ok"}),
    )
    .await
}

async fn pending_approvals_follow_the_m_of_n_submit_sign_execute_flow(db: Db) {
    let w = world_with(db, &[]).await;
    let admin = w.srv.join(&w.owner, "admin").await;
    let (s, pol) = w
        .srv
        .post(
            &format!("/v1/vaults/{}/policies", w.vault),
            Some(&w.owner),
            json!({"secret_path_pattern": "ops/**", "principal_type": "agent",
                   "principal_id": w.agent, "permissions": ["write"],
                   "conditions": {"require_approval": {"approvers": [w.owner_id, admin.user_id],
                                                       "min_approvals": 2, "risk_tier": 1}}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{pol}");
    let policy_id = pol["id"].as_str().unwrap().to_owned();
    let body = json!({"policy_id": policy_id, "action": "rotate_database_password",
                      "action_payload": {"database": "billing", "window": "tonight"}});
    let (s, sub) = w
        .srv
        .post("/v1/pending-approvals", Some(&w.agent_token), body.clone())
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{sub}");
    assert_eq!(sub["required_approvals"], 2);
    assert_eq!(sub["current_approvals"], 0);
    assert_eq!(sub["status"], "pending");
    let id = sub["pending_approval_id"].as_str().unwrap().to_owned();

    let (s, got) = w
        .srv
        .get(&format!("/v1/pending-approvals/{id}"), &w.owner)
        .await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(got["policy_id"], policy_id.as_str());
    assert_eq!(got["action_payload"]["database"], "billing");
    let hash = got["payload_hash"].as_str().unwrap().to_owned();
    // A vote names the exact payload.
    let (s, v) = sign(&w.srv, &id, &w.owner, &"0".repeat(64)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, v) = sign(&w.srv, &id, &w.owner, &hash).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["current_approvals"], 1);
    assert_eq!(v["signatures"].as_array().unwrap().len(), 1);
    let exec = format!("/v1/pending-approvals/{id}/execute");
    let (s, _) = w.srv.post(&exec, Some(&w.agent_token), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "not approved yet");
    let (s, v) = sign(&w.srv, &id, &admin.token, &hash).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "approved");
    // Only the submitter executes, once.
    let (s, _) = w.srv.post(&exec, Some(&w.owner), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = w.srv.post(&exec, Some(&w.agent_token), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "executed");
    let (s, _) = w.srv.post(&exec, Some(&w.agent_token), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, list) = w.srv.get("/v1/pending-approvals", &w.owner).await;
    let row = list["pending_approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .expect("listed")
        .clone();
    assert_eq!(row["status"], "executed");
    assert!(row["executed_at"].is_string());

    // Only a policy of the caller's that requires approval.
    let (s, plain) = w
        .srv
        .post(
            &format!("/v1/vaults/{}/policies", w.vault),
            Some(&w.owner),
            json!({"secret_path_pattern": "misc/**", "principal_type": "agent",
                   "principal_id": w.agent, "permissions": ["read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = w
        .srv
        .post(
            "/v1/pending-approvals",
            Some(&w.agent_token),
            json!({"policy_id": plain["id"], "action": "x", "action_payload": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = w
        .srv
        .post("/v1/pending-approvals", Some(&admin.token), body)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    chain_verifies(&w.srv, &w.owner).await;
}
