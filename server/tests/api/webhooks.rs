//! Webhooks (API.md §8.16): CRUD for owners and admins, destination rules, and deliveries to
//! real local receivers: signed, filtered by event, retried with backoff, durable across a
//! restart.

use crate::common::{contains, Db, TestServer};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::routing::post;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Local destinations over plain http, as the receivers in these tests need.
const LOCAL: [(&str, &str); 2] = [
    ("TALON_ALLOW_PRIVATE_WEBHOOKS", "true"),
    ("TALON_ALLOW_HTTP_WEBHOOKS", "true"),
];

/// One request a receiver got.
#[derive(Clone)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
    answered: u16,
}

impl Received {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("delivery body is JSON")
    }
}

#[derive(Clone, Default)]
struct ReceiverState {
    seen: Arc<Mutex<Vec<Received>>>,
    /// Statuses for the next requests, in order; then `default`.
    plan: Arc<Mutex<VecDeque<u16>>>,
    default: Arc<AtomicU16>,
}

/// A real HTTP server on 127.0.0.1 that records every request.
struct Receiver {
    url: String,
    state: ReceiverState,
}

async fn record(State(st): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> AxStatus {
    let code = st
        .plan
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| st.default.load(Ordering::SeqCst));
    st.seen.lock().unwrap().push(Received {
        headers,
        body: body.to_vec(),
        answered: code,
    });
    AxStatus::from_u16(code).unwrap()
}

impl Receiver {
    /// Answers `plan` to the first requests, then `default`.
    async fn start(plan: &[u16], default: u16) -> Receiver {
        let state = ReceiverState::default();
        state.plan.lock().unwrap().extend(plan.iter().copied());
        state.default.store(default, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hook", post(record))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    fn seen(&self) -> Vec<Received> {
        self.state.seen.lock().unwrap().clone()
    }

    fn with_event(&self, action: &str) -> Vec<Received> {
        self.seen()
            .into_iter()
            .filter(|r| r.header("x-talon-event") == action)
            .collect()
    }

    /// Waits up to `within` for a request carrying `action` that was answered `status`.
    async fn wait_for(&self, action: &str, status: u16, within: Duration) -> Received {
        let deadline = Instant::now() + within;
        loop {
            if let Some(r) = self
                .with_event(action)
                .into_iter()
                .find(|r| r.answered == status)
            {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "no {action} delivery answered {status} within {within:?}; got {} requests",
                self.seen().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn answer_from_now_on(&self, status: u16) {
        self.state.default.store(status, Ordering::SeqCst);
    }
}

async fn create_webhook(srv: &TestServer, token: &str, url: &str, events: &[&str]) -> Value {
    let (s, v) = srv
        .post(
            "/v1/webhooks",
            Some(token),
            json!({"url": url, "events": events}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "create webhook: {v}");
    v
}

async fn deliveries(srv: &TestServer, token: &str, webhook: &str) -> Vec<Value> {
    let (s, v) = srv
        .get(&format!("/v1/webhooks/{webhook}/deliveries"), token)
        .await;
    assert_eq!(s, StatusCode::OK, "deliveries: {v}");
    v["deliveries"].as_array().unwrap().clone()
}

fn hmac_hex(secret: &str, msg: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(msg);
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn a_secret_read_reaches_the_receiver_signed_and_without_the_value(db: Db) {
    let srv = TestServer::start_with(db, &LOCAL).await;
    let owner = srv.signup().await;
    let rx = Receiver::start(&[], 200).await;
    let hook = create_webhook(&srv, &owner.token, &rx.url, &["secret.read"]).await;
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let vault = srv.create_vault(&owner.token, "hooks").await;
    let value = format!("sk-webhook-canary-{}", crate::common::uuid_simple());
    srv.put_secret(&owner.token, &vault, "api/stripe", &value)
        .await;
    let (agent, key) = srv.create_agent(&owner.token, "reader").await;
    srv.grant(&owner.token, &vault, &agent, "api/**", &["read"])
        .await;
    let agent_token = srv.agent_token(&key).await;

    let read_at = Instant::now();
    let (s, v) = srv
        .get(
            &format!("/v1/vaults/{vault}/secrets/api/stripe"),
            &agent_token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let got = rx
        .wait_for("secret.read", 200, Duration::from_secs(2))
        .await;
    assert!(read_at.elapsed() < Duration::from_secs(2));

    assert_eq!(got.header("content-type"), "application/json");
    let delivery_id = got.header("x-talon-delivery");
    assert!(!delivery_id.is_empty());
    let sig = got.header("x-talon-signature");
    let (t, v1) = sig
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap_or_else(|| panic!("signature header shape: {sig}"));
    let t: i64 = t.parse().expect("unix seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - t).abs() < 60, "timestamp {t} is not now ({now})");
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(&got.body);
    assert_eq!(v1, hmac_hex(&secret, &signed), "signature does not verify");
    assert_ne!(v1, hmac_hex("another-secret-entirely", &signed));

    let body = got.json();
    assert_eq!(body["id"], delivery_id);
    assert_eq!(body["event"], "secret.read");
    assert_eq!(body["org_id"], owner.org_id);
    assert!(body["created_at"].as_str().is_some());
    let data = &body["data"];
    assert_eq!(data["action"], "secret.read");
    assert_eq!(data["actor_type"], "agent");
    assert_eq!(data["actor_id"], agent);
    assert_eq!(data["details"]["path"], "api/stripe");
    // The event as GET /v1/audit/events returns it.
    let (_, events) = srv
        .get("/v1/audit/events?action=secret.read", &owner.token)
        .await;
    let listed = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == data["id"])
        .expect("the delivered event is in the audit log")
        .clone();
    assert_eq!(data, &listed);
    assert!(!contains(&got.body, value.as_bytes()), "value in payload");
    assert!(!contains(&got.body, secret.as_bytes()), "secret in payload");
    // Only the subscribed action went out (no secret.write, vault.create, …).
    assert!(rx
        .seen()
        .iter()
        .all(|r| r.header("x-talon-event") == "secret.read"));
}

async fn a_receiver_failing_twice_gets_exactly_three_attempts(db: Db) {
    let mut env = LOCAL.to_vec();
    env.push(("TALON_WEBHOOK_RETRY_BASE_MS", "100"));
    let srv = TestServer::start_with(db, &env).await;
    let owner = srv.signup().await;
    let rx = Receiver::start(&[500, 500], 200).await;
    let hook = create_webhook(&srv, &owner.token, &rx.url, &["vault.create"]).await;
    let id = hook["id"].as_str().unwrap();
    srv.create_vault(&owner.token, "retried").await;

    rx.wait_for("vault.create", 200, Duration::from_secs(10))
        .await;
    // Long enough for any further (wrong) attempt to have been made.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = rx.seen();
    assert_eq!(
        seen.iter().map(|r| r.answered).collect::<Vec<_>>(),
        vec![500, 500, 200]
    );
    let ids: Vec<String> = seen.iter().map(|r| r.header("x-talon-delivery")).collect();
    assert!(ids.iter().all(|i| i == &ids[0]), "one delivery retried");
    let list = deliveries(&srv, &owner.token, id).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["status"], "delivered");
    assert_eq!(list[0]["attempts"], 3);
    assert_eq!(list[0]["last_status_code"], 200);
    assert_eq!(list[0]["event"], "vault.create");
    let (_, w) = srv.get(&format!("/v1/webhooks/{id}"), &owner.token).await;
    assert_eq!(w["last_delivery"]["status"], "delivered");
}

async fn a_receiver_that_never_succeeds_fails_after_five_attempts(db: Db) {
    let mut env = LOCAL.to_vec();
    env.push(("TALON_WEBHOOK_RETRY_BASE_MS", "50"));
    let srv = TestServer::start_with(db, &env).await;
    let owner = srv.signup().await;
    let rx = Receiver::start(&[], 503).await;
    let hook = create_webhook(&srv, &owner.token, &rx.url, &["vault.create"]).await;
    let id = hook["id"].as_str().unwrap();
    srv.create_vault(&owner.token, "doomed").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let last = loop {
        let list = deliveries(&srv, &owner.token, id).await;
        if list.first().is_some_and(|d| d["status"] == "failed") {
            break list[0].clone();
        }
        assert!(Instant::now() < deadline, "never failed: {list:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(last["attempts"], 5);
    assert_eq!(last["last_status_code"], 503);
    assert_eq!(last["last_error"], "HTTP 503");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(rx.seen().len(), 5);
}

async fn a_pending_delivery_survives_a_restart(db: Db) {
    let mut env = LOCAL.to_vec();
    env.push(("TALON_WEBHOOK_RETRY_BASE_MS", "1000"));
    let mut srv = TestServer::start_with(db, &env).await;
    let owner = srv.signup().await;
    let rx = Receiver::start(&[], 500).await;
    let hook = create_webhook(&srv, &owner.token, &rx.url, &["vault.create"]).await;
    let id = hook["id"].as_str().unwrap().to_owned();
    srv.create_vault(&owner.token, "durable").await;
    // The first attempt has failed and been recorded: the delivery waits for its retry.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = deliveries(&srv, &owner.token, &id).await;
        if list
            .first()
            .is_some_and(|d| d["attempts"] == 1 && d["status"] == "pending")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed first attempt: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    srv.stop();
    rx.answer_from_now_on(200);
    srv.restart().await;

    let got = rx
        .wait_for("vault.create", 200, Duration::from_secs(15))
        .await;
    assert_eq!(got.json()["data"]["action"], "vault.create");
    let list = deliveries(&srv, &owner.token, &id).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "delivered");
    assert_eq!(list[0]["attempts"], 2);
}

async fn internal_and_plain_http_destinations_are_refused_without_the_flags(db: Db) {
    let srv = TestServer::start(db).await;
    let owner = srv.signup().await;
    for url in [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://100.64.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[fd00:ec2::254]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
    ] {
        let (s, v) = srv
            .post(
                "/v1/webhooks",
                Some(&owner.token),
                json!({"url": url, "events": ["*"]}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{url}: {v}");
        let why = v["fields"]["url"].as_str().unwrap_or_default();
        assert!(why.contains("TALON_ALLOW_PRIVATE_WEBHOOKS"), "{url}: {v}");
    }
    let (s, v) = srv
        .post(
            "/v1/webhooks",
            Some(&owner.token),
            json!({"url": "http://8.8.8.8/hook", "events": ["*"]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["fields"]["url"]
        .as_str()
        .unwrap()
        .contains("TALON_ALLOW_HTTP_WEBHOOKS"));
    // A public https destination is accepted; moving it inside is not.
    let hook = create_webhook(&srv, &owner.token, "https://8.8.8.8/hook", &["*"]).await;
    let (s, v) = srv
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{}", hook["id"].as_str().unwrap()),
            Some(&owner.token),
            Some(json!({"url": "https://169.254.169.254/"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["fields"]["url"].is_string(), "{v}");
    let (_, w) = srv
        .get(
            &format!("/v1/webhooks/{}", hook["id"].as_str().unwrap()),
            &owner.token,
        )
        .await;
    assert_eq!(w["url"], "https://8.8.8.8/hook");
}

async fn deliveries_check_the_destination_again(db: Db) {
    // Plain http allowed, private destinations not: a webhook whose destination has moved to
    // a loopback address since it was checked (as a rebinding name would) gets nothing.
    let srv = TestServer::start_with(db, &[("TALON_ALLOW_HTTP_WEBHOOKS", "true")]).await;
    let owner = srv.signup().await;
    let rx = Receiver::start(&[], 200).await;
    let hook = create_webhook(&srv, &owner.token, "http://8.8.8.8/hook", &["vault.create"]).await;
    let id = hook["id"].as_str().unwrap();
    let pool = srv.db_pool().await;
    sqlx::query("UPDATE webhooks SET url = $1 WHERE id = $2")
        .bind(&rx.url)
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    srv.create_vault(&owner.token, "rebound").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        let list = deliveries(&srv, &owner.token, id).await;
        if list
            .first()
            .is_some_and(|d| d["attempts"].as_i64() >= Some(1))
        {
            break list[0].clone();
        }
        assert!(Instant::now() < deadline, "never attempted: {list:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        first["last_error"]
            .as_str()
            .unwrap()
            .starts_with("destination refused"),
        "{first}"
    );
    assert!(first["last_status_code"].is_null());
    assert!(rx.seen().is_empty(), "the refused destination was reached");
}

async fn only_owners_and_admins_manage_webhooks(db: Db) {
    let srv = TestServer::start_with(db, &LOCAL).await;
    let owner = srv.signup().await;
    let admin = srv.join(&owner.token, "admin").await;
    let member = srv.join(&owner.token, "member").await;
    let hook = create_webhook(&srv, &admin.token, "http://127.0.0.1:9/hook", &["*"]).await;
    let id = hook["id"].as_str().unwrap();
    let (_, key) = srv.create_agent(&owner.token, "bot").await;
    let agent = srv.agent_token(&key).await;
    for token in [&member.token, &agent] {
        for (method, path, body) in [
            (Method::GET, "/v1/webhooks".to_owned(), None),
            (
                Method::POST,
                "/v1/webhooks".to_owned(),
                Some(json!({"url": "http://127.0.0.1:9/x", "events": ["*"]})),
            ),
            (Method::GET, format!("/v1/webhooks/{id}"), None),
            (
                Method::PATCH,
                format!("/v1/webhooks/{id}"),
                Some(json!({"is_active": false})),
            ),
            (Method::DELETE, format!("/v1/webhooks/{id}"), None),
            (
                Method::POST,
                format!("/v1/webhooks/{id}/test"),
                Some(json!({})),
            ),
            (Method::GET, format!("/v1/webhooks/{id}/deliveries"), None),
        ] {
            let (s, v) = srv.call(method.clone(), &path, Some(token), body).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {v}");
            assert!(v["detail"].is_string() || v["title"].is_string(), "{v}");
        }
    }
    let (s, v) = srv.get("/v1/webhooks", &owner.token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["webhooks"].as_array().unwrap().len(), 1);
    // Another org sees none of them.
    let stranger = srv.signup().await;
    let (_, v) = srv.get("/v1/webhooks", &stranger.token).await;
    assert_eq!(v["webhooks"], json!([]));
    let (s, _) = srv
        .get(&format!("/v1/webhooks/{id}"), &stranger.token)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn webhook_crud_round_trip_never_shows_the_secret_again(db: Db) {
    let srv = TestServer::start_with(db, &LOCAL).await;
    let owner = srv.signup().await;
    let chosen = format!("my-own-signing-secret-{}", crate::common::uuid_simple());
    let (s, created) = srv
        .post(
            "/v1/webhooks",
            Some(&owner.token),
            json!({"url": "http://127.0.0.1:9/a", "events": ["secret.read", "secret.write"],
                   "description": "pager", "secret": chosen}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let mut keys: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "created_at",
            "description",
            "events",
            "id",
            "is_active",
            "secret",
            "url"
        ]
    );
    assert_eq!(created["secret"], chosen);
    assert_eq!(created["is_active"], true);
    assert_eq!(created["events"], json!(["secret.read", "secret.write"]));
    assert_eq!(created["description"], "pager");
    let id = created["id"].as_str().unwrap().to_owned();

    let other = create_webhook(&srv, &owner.token, "http://127.0.0.1:9/b", &["*"]).await;
    let generated = other["secret"].as_str().unwrap().to_owned();
    assert!(generated.len() >= 32, "{generated}");
    assert_ne!(generated, chosen);

    let (s, list) = srv.get("/v1/webhooks", &owner.token).await;
    assert_eq!(s, StatusCode::OK);
    let hooks = list["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 2);
    let (s, one) = srv.get(&format!("/v1/webhooks/{id}"), &owner.token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["url"], "http://127.0.0.1:9/a");
    assert_eq!(one["is_active"], true);
    assert_eq!(one["description"], "pager");
    assert!(one["created_at"].is_string());
    for shown in [list.to_string(), one.to_string()] {
        assert!(!shown.contains(&chosen) && !shown.contains(&generated));
        assert!(!shown.contains("\"secret\""), "{shown}");
    }
    // Sealed at rest: neither secret is anywhere in the database.
    let storage = srv.dump_storage().await;
    assert!(!contains(&storage, chosen.as_bytes()));
    assert!(!contains(&storage, generated.as_bytes()));

    let path = format!("/v1/webhooks/{id}");
    let (s, patched) = srv
        .call(
            Method::PATCH,
            &path,
            Some(&owner.token),
            Some(
                json!({"events": ["vault.create"], "is_active": false, "description": "quiet",
                        "url": "http://127.0.0.1:9/c"}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{patched}");
    assert_eq!(patched["events"], json!(["vault.create"]));
    assert_eq!(patched["is_active"], false);
    assert_eq!(patched["description"], "quiet");
    assert_eq!(patched["url"], "http://127.0.0.1:9/c");
    assert!(patched.get("secret").is_none());
    let (_, again) = srv.get(&path, &owner.token).await;
    assert_eq!(again["events"], json!(["vault.create"]));
    assert_eq!(again["is_active"], false);

    for (body, field) in [
        (json!({"events": []}), "events"),
        (json!({"events": ["not an action"]}), "events"),
        (json!({"url": "not a url"}), "url"),
        (json!({"url": "ftp://127.0.0.1/x"}), "url"),
        (json!({"description": "x".repeat(501)}), "description"),
    ] {
        let (s, v) = srv
            .call(Method::PATCH, &path, Some(&owner.token), Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(v["fields"][field].is_string(), "{body}: {v}");
    }
    for (body, field) in [
        (json!({"url": "http://127.0.0.1:9/x"}), None),
        (
            json!({"url": "http://127.0.0.1:9/x", "events": []}),
            Some("events"),
        ),
        (
            json!({"url": "http://127.0.0.1:9/x", "events": ["secret.*"]}),
            Some("events"),
        ),
        (json!({"events": ["*"]}), None),
        (
            json!({"url": "http://127.0.0.1:9/x", "events": ["*"], "secret": "short"}),
            Some("secret"),
        ),
        (json!({"url": 5, "events": ["*"]}), None),
    ] {
        let (s, v) = srv
            .post("/v1/webhooks", Some(&owner.token), body.clone())
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        if let Some(f) = field {
            assert!(v["fields"][f].is_string(), "{body}: {v}");
        }
    }
    let (s, _) = srv.get("/v1/webhooks/not-a-uuid", &owner.token).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, _) = srv
        .call(Method::DELETE, &path, Some(&owner.token), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = srv.get(&path, &owner.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, _) = srv
        .call(Method::DELETE, &path, Some(&owner.token), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = srv
        .call(
            Method::PATCH,
            &path,
            Some(&owner.token),
            Some(json!({"is_active": true})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Every change is in the audit log, without the URL's path or any secret.
    let (_, audit) = srv
        .get("/v1/audit/events?action=webhook.*&limit=100", &owner.token)
        .await;
    let events = audit["events"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "webhook.create").count(),
        2,
        "{actions:?}"
    );
    assert!(actions.contains(&"webhook.update"));
    assert!(actions.contains(&"webhook.delete"));
    assert!(events
        .iter()
        .filter(|e| e["resource_id"] == id.as_str())
        .all(|e| e["resource_type"] == "webhook"));
    let text = audit.to_string();
    assert!(!text.contains(&chosen) && !text.contains(&generated));
}

async fn unsubscribed_actions_are_not_delivered(db: Db) {
    let srv = TestServer::start_with(db, &LOCAL).await;
    let owner = srv.signup().await;
    let only_vaults = Receiver::start(&[], 200).await;
    let everything = Receiver::start(&[], 200).await;
    let paused = Receiver::start(&[], 200).await;
    create_webhook(&srv, &owner.token, &only_vaults.url, &["vault.create"]).await;
    create_webhook(&srv, &owner.token, &everything.url, &["*"]).await;
    let off = create_webhook(&srv, &owner.token, &paused.url, &["*"]).await;
    let (s, _) = srv
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{}", off["id"].as_str().unwrap()),
            Some(&owner.token),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let vault = srv.create_vault(&owner.token, "filtered").await;
    srv.put_secret(&owner.token, &vault, "db/password", "hunter22-value")
        .await;
    // A second org's events go to none of these webhooks.
    let stranger = srv.signup().await;
    srv.create_vault(&stranger.token, "elsewhere").await;

    everything
        .wait_for("secret.write", 200, Duration::from_secs(5))
        .await;
    only_vaults
        .wait_for("vault.create", 200, Duration::from_secs(5))
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let to_vaults = only_vaults.seen();
    assert_eq!(to_vaults.len(), 1, "only the subscribed action");
    assert_eq!(to_vaults[0].json()["org_id"], owner.org_id);
    let all: Vec<String> = everything
        .seen()
        .iter()
        .map(|r| r.header("x-talon-event"))
        .collect();
    assert!(all.contains(&"vault.create".to_owned()), "{all:?}");
    assert!(all.contains(&"secret.write".to_owned()), "{all:?}");
    assert!(everything
        .seen()
        .iter()
        .all(|r| r.json()["org_id"] == owner.org_id.as_str()));
    assert!(
        paused.seen().is_empty(),
        "an inactive webhook got deliveries"
    );
}

async fn a_test_event_goes_to_that_webhook_only(db: Db) {
    let srv = TestServer::start_with(db, &LOCAL).await;
    let owner = srv.signup().await;
    let tested = Receiver::start(&[], 204).await;
    let bystander = Receiver::start(&[], 200).await;
    let hook = create_webhook(&srv, &owner.token, &tested.url, &["vault.create"]).await;
    create_webhook(&srv, &owner.token, &bystander.url, &["*"]).await;
    let id = hook["id"].as_str().unwrap();
    let (s, queued) = srv
        .post(
            &format!("/v1/webhooks/{id}/test"),
            Some(&owner.token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["event"], "webhook.test");
    assert_eq!(queued["status"], "pending");
    let got = tested
        .wait_for("webhook.test", 204, Duration::from_secs(2))
        .await;
    assert_eq!(
        got.header("x-talon-delivery"),
        queued["id"].as_str().unwrap()
    );
    assert_eq!(got.json()["data"]["resource_id"], id);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let list = deliveries(&srv, &owner.token, id).await;
        if list.first().is_some_and(|d| d["status"] == "delivered") {
            assert_eq!(list[0]["last_status_code"], 204);
            break;
        }
        assert!(Instant::now() < deadline, "{list:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(bystander.with_event("webhook.test").is_empty());
    let (_, audit) = srv
        .get("/v1/audit/events?action=webhook.test", &owner.token)
        .await;
    assert_eq!(audit["events"].as_array().unwrap().len(), 1, "{audit}");
}

on_both_databases!(
    a_secret_read_reaches_the_receiver_signed_and_without_the_value,
    a_receiver_failing_twice_gets_exactly_three_attempts,
    a_receiver_that_never_succeeds_fails_after_five_attempts,
    a_pending_delivery_survives_a_restart,
    internal_and_plain_http_destinations_are_refused_without_the_flags,
    deliveries_check_the_destination_again,
    only_owners_and_admins_manage_webhooks,
    webhook_crud_round_trip_never_shows_the_secret_again,
    unsubscribed_actions_are_not_delivered,
    a_test_event_goes_to_that_webhook_only,
);
