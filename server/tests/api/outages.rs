//! Database outages answer fast: with PostgreSQL gone, requests get the database's 503 problem
//! within the acquire timeout and at once after that, `/v1/health` reports the outage within a
//! second, and the same server process serves again once the database is back. Each test runs
//! its own PostgreSQL cluster, so stopping it touches no other test.

use crate::common::pg_cluster::PgCluster;
use crate::common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// One request: status, content type, JSON body and how long the answer took.
async fn timed(
    srv: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, String, Value, Duration) {
    let start = Instant::now();
    let res = srv.send(method, path, token, body).await;
    let status = res.status();
    let ctype = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = res.text().await.unwrap_or_default();
    let elapsed = start.elapsed();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, ctype, v, elapsed)
}

/// Asserts the 503 problem document of an unavailable database.
fn assert_database_problem(what: &str, status: StatusCode, ctype: &str, v: &Value) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {v}");
    assert!(
        ctype.starts_with("application/problem+json"),
        "{what}: content type {ctype}"
    );
    assert_eq!(v["status"], 503, "{what}: {v}");
    assert_eq!(v["type"], "unavailable", "{what}: {v}");
    assert_eq!(v["dependency"], "database", "{what}: {v}");
    assert!(v["request_id"].is_string(), "{what}: {v}");
}

/// Whether the process is alive (not exited, not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            !matches!(state.and_then(|r| r.chars().next()), Some('Z' | 'X'))
        })
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_answer_503_within_3s_while_postgres_is_down_and_recover_without_restart() {
    let mut pg = PgCluster::start();
    let srv = TestServer::start_on_url(&pg.url(), &[("TALON_RATE_LIMIT_PER_IP", "0")]).await;
    let pid = srv.pid();
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "outage").await;
    srv.put_secret(&h.token, &vault, "db/password", "s3cret")
        .await;
    let read = format!("/v1/vaults/{vault}/secrets/db/password");
    let (s, v) = srv.get(&read, &h.token).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    pg.stop();

    // The first request waits at most for the acquire timeout (2 s by default).
    let (s, ctype, v, first) = timed(&srv, Method::GET, &read, Some(&h.token), None).await;
    assert_database_problem("first read", s, &ctype, &v);
    assert!(first < Duration::from_secs(3), "first read took {first:?}");
    let (s, ctype, v, write) = timed(
        &srv,
        Method::PUT,
        &read,
        Some(&h.token),
        Some(json!({"value": "new"})),
    )
    .await;
    assert_database_problem("write", s, &ctype, &v);
    assert!(write < Duration::from_secs(3), "write took {write:?}");

    // The circuit is open now: later requests are refused at once.
    let mut later = Vec::new();
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"value": "new"}))),
        (Method::GET, None),
        (Method::POST, Some(json!({"name": "other"}))),
    ] {
        let path = if method == Method::POST {
            "/v1/vaults".to_owned()
        } else {
            read.clone()
        };
        let (s, ctype, v, took) = timed(&srv, method.clone(), &path, Some(&h.token), body).await;
        assert_database_problem(&format!("later {method} {path}"), s, &ctype, &v);
        assert!(
            took < Duration::from_millis(500),
            "{method} {path} took {took:?}"
        );
        later.push(took);
    }
    // Signing in needs the database too: refused the same way, not decided without it.
    let (s, ctype, v, _) = timed(
        &srv,
        Method::POST,
        "/v1/auth/token",
        None,
        Some(json!({"email": h.email, "password": crate::common::PASSWORD})),
    )
    .await;
    assert_database_problem("sign-in", s, &ctype, &v);

    let (s, _, v, health) = timed(&srv, Method::GET, "/v1/health", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["status"], "unhealthy", "{v}");
    assert_eq!(v["checks"]["database"], "down", "{v}");
    assert_eq!(v["checks"]["audit"], "down", "{v}");
    assert!(v["version"].is_string(), "{v}");
    assert!(health < Duration::from_secs(1), "health took {health:?}");

    pg.start_again();
    let back = Instant::now();
    let recovery = loop {
        let (s, _, v, _) = timed(&srv, Method::GET, &read, Some(&h.token), None).await;
        if s == StatusCode::OK {
            assert_eq!(v["value"], "s3cret", "{v}");
            break back.elapsed();
        }
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "no recovery within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    srv.put_secret(&h.token, &vault, "db/password", "rotated")
        .await;
    let (s, v) = srv.get(&read, &h.token).await;
    assert_eq!((s, v["value"].as_str()), (StatusCode::OK, Some("rotated")));
    let (s, _, v, _) = timed(&srv, Method::GET, "/v1/health", None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "healthy", "{v}");
    assert_eq!(v["checks"]["database"], "ok", "{v}");
    assert_eq!(v["checks"]["audit"], "ok", "{v}");
    assert_eq!(srv.pid(), pid);
    assert!(alive(pid), "the server process exited");
    eprintln!(
        "outage timings: first 503 {first:?}, write {write:?}, later {later:?}, health {health:?}, recovered {recovery:?} after the database came back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_within_a_second_during_an_outage() {
    let mut pg = PgCluster::start();
    // An acquire timeout far above the health deadline: health must not wait for it, and the
    // setting is honoured by requests.
    let srv = TestServer::start_on_url(
        &pg.url(),
        &[
            ("TALON_RATE_LIMIT_PER_IP", "0"),
            ("TALON_DB_ACQUIRE_TIMEOUT_MS", "5000"),
        ],
    )
    .await;
    let h = srv.signup().await;
    let (s, _, v, _) = timed(&srv, Method::GET, "/v1/health", None, None).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("healthy")),
        "{v}"
    );

    pg.stop();

    // No request has opened the circuit yet: health's own deadline bounds it.
    let mut before = Vec::new();
    for _ in 0..3 {
        let (s, _, v, took) = timed(&srv, Method::GET, "/v1/health", None, None).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
        assert_eq!(v["status"], "unhealthy", "{v}");
        assert_eq!(v["checks"]["database"], "down", "{v}");
        assert_eq!(v["checks"]["audit"], "down", "{v}");
        assert!(took < Duration::from_secs(1), "health took {took:?}");
        before.push(took);
    }

    // A request waits for the configured acquire timeout, then opens the circuit.
    let (s, ctype, v, first) = timed(&srv, Method::GET, "/v1/vaults", Some(&h.token), None).await;
    assert_database_problem("first request", s, &ctype, &v);
    assert!(
        first >= Duration::from_secs(4) && first < Duration::from_secs(7),
        "first request took {first:?} with TALON_DB_ACQUIRE_TIMEOUT_MS=5000"
    );
    let (s, _, v, open) = timed(&srv, Method::GET, "/v1/health", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["checks"]["database"], "down", "{v}");
    assert!(open < Duration::from_millis(200), "health took {open:?}");

    pg.start_again();
    let back = Instant::now();
    loop {
        let (s, _, v, took) = timed(&srv, Method::GET, "/v1/health", None, None).await;
        assert!(took < Duration::from_secs(1), "health took {took:?}");
        if s == StatusCode::OK {
            assert_eq!(v["status"], "healthy", "{v}");
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "not healthy within 10 s: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "health timings: before the circuit opened {before:?}, first request {first:?}, with the circuit open {open:?}, healthy {:?} after the database came back",
        back.elapsed()
    );
}
