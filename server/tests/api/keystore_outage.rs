//! A keystore outage answers 503 `dependency: keystore`, never 500, and heals without a
//! restart: the token directory is taken away from a running server and put back.

use crate::common::{Db, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn assert_keystore_unavailable(what: &str, status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    assert_eq!(body["dependency"], "keystore", "{what}: {body}");
}

/// Retries `f` until it returns true or 10 s have passed.
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not recover within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_token_directory_answers_503_and_the_token_is_reopened_when_it_returns() {
    let srv = TestServer::start(Db::Sqlite).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "ops").await;
    srv.put_secret(&h.token, &vault, "db/password", "s3cret-value")
        .await;
    let (agent_id, key) = srv.create_agent(&h.token, "reader").await;
    srv.grant(&h.token, &vault, &agent_id, "db/**", &["read"])
        .await;
    let agent = srv.agent_token(&key).await;
    let read = format!("/v1/vaults/{vault}/secrets/db/password");
    let (s, v) = srv.get(&read, &agent).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let pid = srv.pid();

    let tokens = srv.hsm_dir().join("tokens");
    let away = srv.hsm_dir().join("tokens.away");
    std::fs::rename(&tokens, &away).unwrap();

    let (s, v) = srv.get(&read, &agent).await;
    assert_keystore_unavailable("secret read", s, &v);
    let (s, v) = srv.get(&read, &h.token).await;
    assert_keystore_unavailable("secret read by the owner", s, &v);
    let (s, v) = srv
        .post("/v1/vaults", Some(&h.token), json!({"name": "during"}))
        .await;
    assert_keystore_unavailable("vault creation", s, &v);
    let (s, v) = srv
        .put(
            &format!("/v1/vaults/{vault}/secrets/db/other"),
            &h.token,
            json!({"value": "x", "type": "password"}),
        )
        .await;
    assert_keystore_unavailable("secret write", s, &v);
    let (s, v) = srv.call(Method::GET, "/v1/health/hsm", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["status"], "unavailable");
    let (s, v) = srv.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(s, StatusCode::OK, "the database is fine: {v}");
    assert_eq!(v["status"], "degraded", "{v}");
    assert_eq!(v["checks"]["keystore"], "unavailable", "{v}");

    std::fs::rename(&away, &tokens).unwrap();

    eventually("the hsm health check", || async {
        let (s, v) = srv.call(Method::GET, "/v1/health/hsm", None, None).await;
        s == StatusCode::OK && v["status"] == "ok"
    })
    .await;
    eventually("the secret read", || async {
        srv.get(&read, &agent).await.0 == StatusCode::OK
    })
    .await;
    let (s, v) = srv.get(&read, &agent).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["value"], "s3cret-value");
    let (s, v) = srv
        .post("/v1/vaults", Some(&h.token), json!({"name": "after"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "vault creation after recovery: {v}");
    let (s, v) = srv.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "healthy", "{v}");
    // A fresh agent token is signed by the token again.
    let again = srv.agent_token(&key).await;
    assert_eq!(srv.get(&read, &again).await.0, StatusCode::OK);
    assert_eq!(srv.pid(), pid, "recovered without a restart");
}
