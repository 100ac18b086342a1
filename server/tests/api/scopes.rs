//! Scopes are a ceiling at the gate: a personal API key reaches only the routes its scopes
//! name, a scoped key never reaches the account (MFA, password, email, members, keys), and no
//! API key at all approves a device login.

use crate::common::{Db, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_databases!(
    a_scoped_key_cannot_approve_a_device_login_for_an_attacker,
    scoped_keys_reach_only_the_routes_their_scopes_allow
);

async fn key(srv: &TestServer, token: &str, scopes: &[&str]) -> String {
    let (s, v) = srv
        .post(
            "/v1/auth/api-keys",
            Some(token),
            json!({"name": format!("k-{}", scopes.join("-")), "scopes": scopes}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["api_key"].as_str().expect("key").to_owned()
}

/// Whether an answer is the gate's refusal of the key (403 naming the key), as opposed to
/// whatever the route itself answers to a caller it admitted.
fn refused_for_the_key(s: StatusCode, v: &Value) -> bool {
    s == StatusCode::FORBIDDEN && v["detail"].as_str().unwrap_or("").contains("API key")
}

async fn a_scoped_key_cannot_approve_a_device_login_for_an_attacker(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let read_only = key(&srv, &h.token, &["vaults:read"]).await;
    let star = key(&srv, &h.token, &["*"]).await;
    // The attacker starts a device login and holds the owner's read-only key.
    let (s, start) = srv
        .post(
            "/v1/auth/device/code",
            None,
            json!({"client_id": "talon-cli"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{start}");
    let code = start["user_code"].as_str().unwrap().to_owned();
    let device = start["device_code"].as_str().unwrap().to_owned();
    for k in [&read_only, &star] {
        let (s, v) = srv
            .post(
                "/v1/auth/device/approve",
                Some(k),
                json!({"user_code": code}),
            )
            .await;
        assert!(refused_for_the_key(s, &v), "{s} {v}");
    }
    let poll = json!({"device_code": device, "grant_type": "urn:ietf:params:oauth:grant-type:device_code"});
    let (s, v) = srv.post("/v1/auth/device/token", None, poll.clone()).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::OK, Some("authorization_pending")),
        "no token may come out of a key's approval: {v}"
    );
    // The owner's own signed-in session may approve it.
    let (s, v) = srv
        .post(
            "/v1/auth/device/approve",
            Some(&h.token),
            json!({"user_code": code}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

/// What each route needs, as the gate's table says: a scope, an unscoped credential
/// (`Full`), or a signed-in session (`Session`).
#[derive(Clone, Copy, Debug)]
enum Needs {
    Scope(&'static str),
    Full,
    Session,
}

async fn scoped_keys_reach_only_the_routes_their_scopes_allow(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "scopes").await;
    srv.put_secret(&h.token, &vault, "app/key", "scoped-value-77")
        .await;
    let other = "00000000-0000-4000-8000-000000000000";
    let routes: Vec<(Method, String, Needs)> = vec![
        (
            Method::GET,
            "/v1/vaults".into(),
            Needs::Scope("vaults:read"),
        ),
        (
            Method::POST,
            "/v1/vaults".into(),
            Needs::Scope("vaults:write"),
        ),
        (
            Method::DELETE,
            format!("/v1/vaults/{other}"),
            Needs::Scope("vaults:write"),
        ),
        (
            Method::GET,
            format!("/v1/vaults/{vault}/secrets"),
            Needs::Scope("secrets:read"),
        ),
        (
            Method::GET,
            format!("/v1/vaults/{vault}/secrets/app/key"),
            Needs::Scope("secrets:read"),
        ),
        (
            Method::PUT,
            format!("/v1/vaults/{vault}/secrets/app/key"),
            Needs::Scope("secrets:write"),
        ),
        (
            Method::POST,
            format!("/v1/vaults/{vault}/policies"),
            Needs::Scope("policies:write"),
        ),
        (
            Method::GET,
            "/v1/agents".into(),
            Needs::Scope("agents:read"),
        ),
        (
            Method::POST,
            "/v1/agents".into(),
            Needs::Scope("agents:write"),
        ),
        (
            Method::GET,
            "/v1/audit/events".into(),
            Needs::Scope("audit:read"),
        ),
        (
            Method::GET,
            "/v1/audit/verify".into(),
            Needs::Scope("audit:read"),
        ),
        (
            Method::GET,
            "/v1/billing/usage".into(),
            Needs::Scope("billing:read"),
        ),
        (
            Method::GET,
            "/v1/org/members".into(),
            Needs::Scope("org:read"),
        ),
        (
            Method::POST,
            "/v1/security/ip-rules".into(),
            Needs::Scope("org:write"),
        ),
        (
            Method::GET,
            "/v1/shares/outbound".into(),
            Needs::Scope("shares:write"),
        ),
        (Method::POST, "/v1/auth/mfa/setup".into(), Needs::Full),
        (
            Method::POST,
            "/v1/auth/mfa/verify-setup".into(),
            Needs::Full,
        ),
        (Method::DELETE, "/v1/auth/mfa".into(), Needs::Full),
        (Method::POST, "/v1/auth/change-password".into(), Needs::Full),
        (Method::PATCH, "/v1/auth/me".into(), Needs::Full),
        (Method::GET, "/v1/auth/api-keys".into(), Needs::Full),
        (
            Method::DELETE,
            format!("/v1/auth/api-keys/{other}"),
            Needs::Full,
        ),
        (Method::POST, "/v1/org/invite".into(), Needs::Full),
        (
            Method::PATCH,
            format!("/v1/org/members/{other}"),
            Needs::Full,
        ),
        (
            Method::DELETE,
            format!("/v1/org/members/{other}"),
            Needs::Full,
        ),
        (Method::POST, "/v1/billing/portal".into(), Needs::Full),
        (
            Method::POST,
            "/v1/auth/device/approve".into(),
            Needs::Session,
        ),
        (Method::POST, "/v1/auth/device/deny".into(), Needs::Session),
    ];
    let keys: Vec<(Vec<&str>, String)> = {
        let mut out = Vec::new();
        for scopes in [
            vec!["vaults:read"],
            vec!["secrets:read", "audit:read"],
            vec!["org:write", "agents:write"],
            vec!["*"],
        ] {
            let k = key(&srv, &h.token, &scopes).await;
            out.push((scopes, k));
        }
        out
    };
    for (scopes, k) in &keys {
        let star = scopes.contains(&"*");
        for (method, path, needs) in &routes {
            let allowed = match needs {
                Needs::Scope(s) => star || scopes.contains(s),
                Needs::Full => star,
                Needs::Session => false,
            };
            let (s, v) = srv
                .call(method.clone(), path, Some(k), Some(json!({})))
                .await;
            assert_eq!(
                !refused_for_the_key(s, &v),
                allowed,
                "key {scopes:?} on {method} {path} ({needs:?}): {s} {v}"
            );
        }
    }
    // The owner's session passes every ceiling (whatever the route then answers).
    for (method, path, _) in &routes {
        let (s, v) = srv
            .call(method.clone(), path, Some(&h.token), Some(json!({})))
            .await;
        assert!(!refused_for_the_key(s, &v), "{method} {path}: {s} {v}");
    }
}
