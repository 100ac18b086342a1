//! Honeytokens: owners and admins mark secret paths as traps. An agent's read, listing, use
//! through a binding, or a share access answers exactly as usual but raises
//! `risk.honeytoken_triggered` (audit event, webhook delivery, mail to the owners and admins),
//! and with `on_trigger: deactivate` the agent's next call is refused.

use crate::common::{contains, Db, Human, TestServer};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

on_both_databases!(
    honeytokens_are_created_listed_and_deleted_with_clear_validation,
    only_owners_and_admins_manage_honeytokens,
    an_agent_reading_a_honeytoken_gets_the_value_and_raises_the_alarm,
    an_agent_listing_that_shows_a_honeytoken_triggers_it_and_an_admin_listing_does_not,
    using_a_honeytoken_through_a_binding_triggers_it,
    opening_a_share_of_a_honeytoken_triggers_it,
    a_deactivating_honeytoken_locks_the_agent_out_on_its_next_call,
    reading_ordinary_secrets_triggers_nothing,
    a_honeytoken_takes_effect_on_the_next_read_and_stops_when_deleted,
    a_failing_mail_server_does_not_fail_the_read,
);

/// Local webhook receivers and binding upstreams over plain http.
const LOCAL: [(&str, &str); 3] = [
    ("TALON_ALLOW_PRIVATE_WEBHOOKS", "true"),
    ("TALON_ALLOW_HTTP_WEBHOOKS", "true"),
    ("TALON_ALLOW_PRIVATE_EGRESS", "true"),
];

const CANARY: &str = "AKIA-canary-7f3e9b2d41c8";
const REAL: &str = "postgres://app:s3cret-real-value@db/app";
const TRAP: &str = "app/legacy/aws-root";
const UA: &str = "exfil-bot/1.0 (honeytoken test)";
const TRIGGERED: &str = "risk.honeytoken_triggered";
const SUBJECT: &str = "Talon: a honeytoken was triggered";

/// An owner, a vault holding a real secret at `app/db`, and an agent with `perms` on
/// `app/**` and a token.
struct World {
    owner: Human,
    vault: String,
    agent: String,
    key: String,
    agent_token: String,
}

async fn world(srv: &TestServer, perms: &[&str]) -> World {
    let owner = srv.signup().await;
    let vault = srv.create_vault(&owner.token, "production").await;
    srv.put_secret(&owner.token, &vault, "app/db", REAL).await;
    let (agent, key) = srv.create_agent(&owner.token, "deploy-bot").await;
    srv.grant(&owner.token, &vault, &agent, "app/**", perms)
        .await;
    let agent_token = srv.agent_token(&key).await;
    World {
        owner,
        vault,
        agent,
        key,
        agent_token,
    }
}

async fn create(srv: &TestServer, token: &str, body: Value) -> (StatusCode, Value) {
    srv.post("/v1/risk/honeytokens", Some(token), body).await
}

/// Registers a canary at `TRAP` seeded with `CANARY`; returns the honeytoken.
async fn canary(srv: &TestServer, w: &World, on_trigger: &str) -> Value {
    let (s, v) = create(
        srv,
        &w.owner.token,
        json!({"vault_id": w.vault, "secret_path": TRAP, "value": CANARY, "type": "api_key",
               "on_trigger": on_trigger, "notes": "old root key, never used"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "create honeytoken: {v}");
    v["honeytoken"].clone()
}

async fn honeytokens(srv: &TestServer, token: &str) -> Vec<Value> {
    let (s, v) = srv.get("/v1/risk/honeytokens", token).await;
    assert_eq!(s, StatusCode::OK, "list honeytokens: {v}");
    v["honeytokens"].as_array().unwrap().clone()
}

async fn events(srv: &TestServer, token: &str, action: &str) -> Vec<Value> {
    let (s, v) = srv
        .get(
            &format!("/v1/audit/events?action={action}&limit=1000"),
            token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "audit: {v}");
    v["events"].as_array().unwrap().clone()
}

/// A request as an agent's tooling sends it, with its own `User-Agent`.
async fn as_agent(srv: &TestServer, method: Method, path: &str, token: &str) -> reqwest::Response {
    srv.http
        .request(method, srv.url(path))
        .bearer_auth(token)
        .header("user-agent", UA)
        .send()
        .await
        .expect("request")
}

async fn read_as_agent(
    srv: &TestServer,
    w: &World,
    path: &str,
) -> (StatusCode, BTreeSet<String>, Value) {
    let res = as_agent(
        srv,
        Method::GET,
        &format!("/v1/vaults/{}/secrets/{path}", w.vault),
        &w.agent_token,
    )
    .await;
    let status = res.status();
    let headers = res
        .headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .collect();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

/// The mails in the outbox with the honeytoken subject.
fn trigger_mails(srv: &TestServer) -> Vec<Value> {
    std::fs::read_to_string(srv.data_path().join("outbox.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["subject"] == SUBJECT)
        .collect()
}

/// Waits up to five seconds for `n` honeytoken mails.
async fn wait_for_mails(srv: &TestServer, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mails = trigger_mails(srv);
        if mails.len() >= n {
            return mails;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} honeytoken mails, got {}",
            mails.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Asserts the one trigger event recorded so far and returns it.
async fn one_trigger(srv: &TestServer, w: &World, access: &str) -> Value {
    let t = events(srv, &w.owner.token, TRIGGERED).await;
    assert_eq!(t.len(), 1, "{t:?}");
    let e = t[0].clone();
    assert_eq!(e["details"]["access"], access, "{e}");
    assert_eq!(e["details"]["path"], TRAP, "{e}");
    assert_eq!(e["details"]["vault_id"], w.vault.as_str(), "{e}");
    assert_eq!(e["resource_type"], "honeytoken", "{e}");
    assert_eq!(e["ip_address"], "127.0.0.1", "{e}");
    e
}

/// Each delivery a receiver got: its headers and body.
type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A local webhook receiver that records every delivery.
struct Receiver {
    url: String,
    seen: Seen,
}

async fn record(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> &'static str {
    seen.lock().unwrap().push((headers, body.to_vec()));
    "ok"
}

impl Receiver {
    async fn start() -> Receiver {
        let seen = Seen::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(record)
            .with_state(seen.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{addr}/hook"),
            seen,
        }
    }

    /// Waits up to five seconds for a delivery of `action`; returns its body.
    async fn wait_for(&self, action: &str) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let hit = self.seen.lock().unwrap().iter().find_map(|(h, b)| {
                (h.get("x-talon-event").and_then(|v| v.to_str().ok()) == Some(action))
                    .then(|| b.clone())
            });
            if let Some(body) = hit {
                return body;
            }
            assert!(Instant::now() < deadline, "no {action} delivery within 5 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn honeytokens_are_created_listed_and_deleted_with_clear_validation(db: Db) {
    let srv = TestServer::start(db).await;
    let w = world(&srv, &["read"]).await;
    let o = &w.owner.token;

    // A secret that exists becomes a honeytoken as it is.
    let (s, v) = create(
        &srv,
        o,
        json!({"vault_id": w.vault, "secret_path": "app/db", "notes": "decoy"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let h = &v["honeytoken"];
    assert_eq!(h["vault_id"], w.vault.as_str());
    assert_eq!(h["org_id"], w.owner.org_id.as_str());
    assert_eq!(h["secret_path"], "app/db");
    assert_eq!(h["created_by"], w.owner.user_id.as_str());
    assert_eq!(h["notes"], "decoy");
    assert_eq!(h["triggered_count"], 0);
    assert_eq!(h["last_triggered_at"], Value::Null);
    assert_eq!(h["on_trigger"], "alert");
    assert!(h["created_at"].as_str().unwrap().ends_with('Z'), "{h}");
    let id = h["id"].as_str().unwrap().to_owned();

    // A seeded canary is written like any secret: listed with its type and version 1.
    let seeded = canary(&srv, &w, "deactivate").await;
    assert_eq!(seeded["on_trigger"], "deactivate");
    assert_eq!(seeded["notes"], "old root key, never used");
    let (_, list) = srv
        .get(
            &format!("/v1/vaults/{}/secrets?prefix=app/legacy", w.vault),
            o,
        )
        .await;
    let listed = &list["secrets"][0];
    assert_eq!(
        (&listed["path"], &listed["type"], &listed["version"]),
        (&json!(TRAP), &json!("api_key"), &json!(1)),
        "{list}"
    );
    let all = honeytokens(&srv, o).await;
    assert_eq!(
        all.iter()
            .map(|h| h["secret_path"].clone())
            .collect::<Vec<_>>(),
        vec![json!("app/db"), json!(TRAP)]
    );

    // Validation: each refusal is a 400 problem naming its field.
    for (body, field) in [
        (
            json!({"vault_id": "nope", "secret_path": "x/y"}),
            "vault_id",
        ),
        (
            json!({"vault_id": "00000000-0000-4000-8000-000000000000", "secret_path": "x/y", "value": "v"}),
            "vault_id",
        ),
        (
            json!({"vault_id": w.vault, "secret_path": "../etc/passwd", "value": "v"}),
            "secret_path",
        ),
        (
            json!({"vault_id": w.vault, "secret_path": "app/ghost"}),
            "secret_path",
        ),
        (
            json!({"vault_id": w.vault, "secret_path": "a/b", "value": "v", "on_trigger": "explode"}),
            "on_trigger",
        ),
        (
            json!({"vault_id": w.vault, "secret_path": "a/b", "value": "v", "notes": "n".repeat(1001)}),
            "notes",
        ),
        (
            json!({"vault_id": w.vault, "secret_path": "a/b", "value": ""}),
            "value",
        ),
        (
            json!({"vault_id": w.vault, "secret_path": "a/b", "value": "v", "type": "gold"}),
            "type",
        ),
    ] {
        let (s, v) = create(&srv, o, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["status"], 400, "{v}");
        assert!(v["fields"][field].is_string(), "{body}: {v}");
    }
    let (s, v) = create(&srv, o, json!({"secret_path": "a/b"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // A path already watched, or a canary over a real secret: 409, nothing overwritten.
    let (s, v) = create(
        &srv,
        o,
        json!({"vault_id": w.vault, "secret_path": "app/db"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    srv.call(
        Method::DELETE,
        &format!("/v1/risk/honeytokens/{id}"),
        Some(o),
        None,
    )
    .await;
    let (s, v) = create(
        &srv,
        o,
        json!({"vault_id": w.vault, "secret_path": "app/db", "value": "overwrite"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (_, real) = srv
        .get(&format!("/v1/vaults/{}/secrets/app/db", w.vault), o)
        .await;
    assert_eq!(real["value"], REAL);
    assert_eq!(real["version"], 1);

    // Deleting removes the registration, not the secret; a second delete is 404.
    let seeded_id = seeded["id"].as_str().unwrap();
    let (s, v) = srv
        .call(
            Method::DELETE,
            &format!("/v1/risk/honeytokens/{seeded_id}"),
            Some(o),
            None,
        )
        .await;
    assert_eq!((s, &v), (StatusCode::OK, &json!({"deleted": true})));
    let (s, _) = srv
        .call(
            Method::DELETE,
            &format!("/v1/risk/honeytokens/{seeded_id}"),
            Some(o),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = srv
        .call(
            Method::DELETE,
            "/v1/risk/honeytokens/not-a-uuid",
            Some(o),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(honeytokens(&srv, o).await.is_empty());
    let (_, list) = srv
        .get(
            &format!("/v1/vaults/{}/secrets?prefix=app/legacy", w.vault),
            o,
        )
        .await;
    assert_eq!(list["secrets"][0]["path"], TRAP);

    // Audited, never with a value.
    assert_eq!(events(&srv, o, "honeytoken.create").await.len(), 2);
    let deleted = events(&srv, o, "honeytoken.delete").await;
    assert_eq!(deleted.len(), 2);
    assert_eq!(deleted[0]["details"]["path"], TRAP);
    let everything = Value::Array(events(&srv, o, "*").await).to_string();
    assert!(!everything.contains(CANARY) && !everything.contains(REAL));
}

async fn only_owners_and_admins_manage_honeytokens(db: Db) {
    let srv = TestServer::start(db).await;
    let w = world(&srv, &["read"]).await;
    let admin = srv.join(&w.owner.token, "admin").await;
    let member = srv.join(&w.owner.token, "member").await;
    let h = canary(&srv, &w, "alert").await;
    let id = h["id"].as_str().unwrap();
    for token in [&member.token, &w.agent_token] {
        for (method, path, body) in [
            (Method::GET, "/v1/risk/honeytokens".to_owned(), None),
            (
                Method::POST,
                "/v1/risk/honeytokens".to_owned(),
                Some(json!({"vault_id": w.vault, "secret_path": "app/db"})),
            ),
            (Method::DELETE, format!("/v1/risk/honeytokens/{id}"), None),
        ] {
            let (s, v) = srv.call(method.clone(), &path, Some(token), body).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {v}");
        }
    }
    // An admin manages them like the owner.
    assert_eq!(honeytokens(&srv, &admin.token).await.len(), 1);
    let (s, v) = create(
        &srv,
        &admin.token,
        json!({"vault_id": w.vault, "secret_path": "app/db"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, _) = srv
        .call(
            Method::DELETE,
            &format!("/v1/risk/honeytokens/{id}"),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // Another org sees none of them and cannot delete them.
    let stranger = srv.signup().await;
    assert!(honeytokens(&srv, &stranger.token).await.is_empty());
    let other = v["honeytoken"]["id"].as_str().unwrap();
    let (s, _) = srv
        .call(
            Method::DELETE,
            &format!("/v1/risk/honeytokens/{other}"),
            Some(&stranger.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = create(
        &srv,
        &stranger.token,
        json!({"vault_id": w.vault, "secret_path": "app/db"}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(honeytokens(&srv, &w.owner.token).await.len(), 1);
}

async fn an_agent_reading_a_honeytoken_gets_the_value_and_raises_the_alarm(db: Db) {
    let srv = TestServer::start_with(db, &LOCAL).await;
    let w = world(&srv, &["read"]).await;
    let admin = srv.join(&w.owner.token, "admin").await;
    let member = srv.join(&w.owner.token, "member").await;
    let rx = Receiver::start().await;
    let (s, v) = srv
        .post(
            "/v1/webhooks",
            Some(&w.owner.token),
            json!({"url": rx.url, "events": [TRIGGERED]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let h = canary(&srv, &w, "alert").await;

    // The trap answers like the real secret next to it: status, headers, body shape.
    let (s, real_headers, real) = read_as_agent(&srv, &w, "app/db").await;
    assert_eq!(s, StatusCode::OK, "{real}");
    let (s, trap_headers, got) = read_as_agent(&srv, &w, TRAP).await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(got["value"], CANARY);
    assert_eq!(got["path"], TRAP);
    assert_eq!(got["type"], "api_key");
    assert_eq!(trap_headers, real_headers);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&got), keys(&real));

    // The audit event names the agent, its address and user agent; never the value.
    let e = one_trigger(&srv, &w, "read").await;
    assert_eq!(e["details"]["principal_type"], "agent");
    assert_eq!(e["details"]["principal_id"], w.agent.as_str());
    assert_eq!(e["details"]["honeytoken_id"], h["id"]);
    assert_eq!(e["details"]["on_trigger"], "alert");
    assert_eq!(e["user_agent"], UA);
    assert_eq!(e["resource_id"], h["id"]);
    // The read itself is audited as any read is.
    let reads = events(&srv, &w.owner.token, "secret.read").await;
    assert!(reads
        .iter()
        .any(|r| r["details"]["path"] == TRAP && r["actor_id"] == w.agent.as_str()));

    // The webhook subscribed to the action receives it, without the value.
    let body = rx.wait_for(TRIGGERED).await;
    assert!(
        !contains(&body, CANARY.as_bytes()),
        "value in webhook payload"
    );
    let delivered: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(delivered["event"], TRIGGERED);
    assert_eq!(delivered["data"]["id"], e["id"]);
    assert_eq!(
        delivered["data"]["details"]["principal_id"],
        w.agent.as_str()
    );
    assert_eq!(delivered["data"]["user_agent"], UA);

    // The owner and the admin are mailed, the member is not; the mail never holds the value.
    let mails = wait_for_mails(&srv, 2).await;
    let to: BTreeSet<&str> = mails.iter().map(|m| m["to"].as_str().unwrap()).collect();
    assert_eq!(
        to,
        BTreeSet::from([w.owner.email.as_str(), admin.email.as_str()])
    );
    assert!(!to.contains(member.email.as_str()));
    let text = mails[0]["body"].as_str().unwrap();
    for needle in [
        TRAP,
        w.agent.as_str(),
        "deploy-bot",
        UA,
        "127.0.0.1",
        "read",
    ] {
        assert!(text.contains(needle), "mail lacks {needle}: {text}");
    }
    assert!(!text.contains(CANARY), "{text}");

    // Counted on the honeytoken; the agent is not told and, on `alert`, keeps working.
    let listed = &honeytokens(&srv, &w.owner.token).await[0];
    assert_eq!(listed["triggered_count"], 1);
    assert!(listed["last_triggered_at"].as_str().is_some(), "{listed}");
    let (s, own) = srv.get("/v1/audit/events?limit=1000", &w.agent_token).await;
    assert_eq!(s, StatusCode::OK, "{own}");
    let actions: Vec<&str> = own["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["secret.read", "secret.read", "auth.success"],
        "the agent's own events show nothing unusual"
    );
    let (s, _, _) = read_as_agent(&srv, &w, "app/db").await;
    assert_eq!(s, StatusCode::OK);
}

async fn an_agent_listing_that_shows_a_honeytoken_triggers_it_and_an_admin_listing_does_not(
    db: Db,
) {
    let srv = TestServer::start(db).await;
    let w = world(&srv, &["read"]).await;
    canary(&srv, &w, "alert").await;
    let list = |token: String, prefix: &'static str| {
        let srv = &srv;
        let vault = w.vault.clone();
        async move {
            let res = as_agent(
                srv,
                Method::GET,
                &format!("/v1/vaults/{vault}/secrets?prefix={prefix}"),
                &token,
            )
            .await;
            assert_eq!(res.status(), StatusCode::OK);
            let v: Value = res.json().await.unwrap();
            v["secrets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["path"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    // The owner browsing the vault raises nothing.
    assert_eq!(
        list(w.owner.token.clone(), "app/").await,
        vec!["app/db", TRAP]
    );
    // An agent listing a prefix the trap is not under raises nothing either.
    assert_eq!(list(w.agent_token.clone(), "app/db").await, vec!["app/db"]);
    assert!(events(&srv, &w.owner.token, TRIGGERED).await.is_empty());
    // An agent listing that shows it: the listing is unchanged, and the trap is sprung.
    assert_eq!(
        list(w.agent_token.clone(), "app/").await,
        vec!["app/db", TRAP]
    );
    let e = one_trigger(&srv, &w, "list").await;
    assert_eq!(e["details"]["principal_id"], w.agent.as_str());
    assert_eq!(e["user_agent"], UA);
    assert_eq!(
        honeytokens(&srv, &w.owner.token).await[0]["triggered_count"],
        1
    );
    wait_for_mails(&srv, 1).await;
}

/// A plain upstream that records the `Authorization` header of each request.
async fn upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(
            |State(log): State<Arc<Mutex<Vec<String>>>>, headers: HeaderMap| async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                log.lock().unwrap().push(auth);
                "ok"
            },
        )
        .with_state(log.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), log)
}

async fn using_a_honeytoken_through_a_binding_triggers_it(db: Db) {
    let srv = TestServer::start_with(db, &LOCAL).await;
    let w = world(&srv, &["use"]).await;
    canary(&srv, &w, "alert").await;
    let (base, log) = upstream().await;
    let (s, b) = srv
        .post(
            &format!("/v1/agents/{}/bindings", w.agent),
            Some(&w.owner.token),
            json!({
                "name": "aws", "binding_type": "http",
                "config": {"base_url": base, "auth": {"type": "bearer"}},
                "credential_source": {"type": "vault_ref", "vault_id": w.vault, "path": TRAP},
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert!(events(&srv, &w.owner.token, TRIGGERED).await.is_empty());

    let res = srv
        .http
        .post(srv.url(&format!("/v1/agents/{}/execute", w.agent)))
        .bearer_auth(&w.agent_token)
        .header("user-agent", UA)
        .json(&json!({"binding": "aws", "intent_type": "http",
                      "params": {"method": "GET", "path": "/whoami"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["status"], "success", "{r}");
    assert_eq!(r["result"]["body"], "ok", "{r}");
    assert_eq!(*log.lock().unwrap(), vec![format!("Bearer {CANARY}")]);

    let e = one_trigger(&srv, &w, "use").await;
    assert_eq!(e["details"]["principal_id"], w.agent.as_str());
    assert_eq!(e["user_agent"], UA);
    assert_eq!(events(&srv, &w.owner.token, "secret.use").await.len(), 1);
    wait_for_mails(&srv, 1).await;
}

async fn opening_a_share_of_a_honeytoken_triggers_it(db: Db) {
    let srv = TestServer::start(db).await;
    let w = world(&srv, &["read"]).await;
    let secret = srv.put_secret(&w.owner.token, &w.vault, TRAP, CANARY).await;
    let (s, v) = create(
        &srv,
        &w.owner.token,
        json!({"vault_id": w.vault, "secret_path": TRAP}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let sid = secret["id"].as_str().unwrap();
    let (s, share) = srv
        .post(
            &format!("/v1/secrets/{sid}/share"),
            Some(&w.owner.token),
            json!({"recipient_type": "anyone_with_link", "expires_at": "2999-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{share}");
    assert!(events(&srv, &w.owner.token, TRIGGERED).await.is_empty());

    // Whoever holds the link opens it: the value, as from any share.
    let res = srv
        .http
        .get(srv.url(&format!("/v1/share/{}", share["id"].as_str().unwrap())))
        .header("user-agent", UA)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let got: Value = res.json().await.unwrap();
    assert_eq!(
        (got["value"].as_str(), got["access_count"].as_i64()),
        (Some(CANARY), Some(1))
    );

    let e = one_trigger(&srv, &w, "share").await;
    assert_eq!(e["details"]["principal_type"], "anonymous");
    assert_eq!(e["details"]["principal_id"], Value::Null);
    assert_eq!(e["user_agent"], UA);
    assert_eq!(events(&srv, &w.owner.token, "share.access").await.len(), 1);
    let mails = wait_for_mails(&srv, 1).await;
    assert!(mails[0]["body"].as_str().unwrap().contains("share"));
}

async fn a_deactivating_honeytoken_locks_the_agent_out_on_its_next_call(db: Db) {
    let srv = TestServer::start(db).await;
    let w = world(&srv, &["read"]).await;
    canary(&srv, &w, "deactivate").await;
    // Warm the read caches first, as a busy agent would.
    assert_eq!(read_as_agent(&srv, &w, "app/db").await.0, StatusCode::OK);

    let (s, _, got) = read_as_agent(&srv, &w, TRAP).await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(got["value"], CANARY);

    // The very next call, with the same live token, is refused; so is a new token.
    let (s, _, v) = read_as_agent(&srv, &w, "app/db").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let (s, _) = srv
        .post("/v1/auth/agent-token", None, json!({"api_key": w.key}))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (_, agent) = srv
        .get(&format!("/v1/agents/{}", w.agent), &w.owner.token)
        .await;
    assert_eq!(agent["is_active"], false, "{agent}");

    let e = one_trigger(&srv, &w, "read").await;
    assert_eq!(e["details"]["on_trigger"], "deactivate");
    let d = events(&srv, &w.owner.token, "agent.deactivate").await;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["resource_id"], w.agent.as_str());
    assert_eq!(d[0]["details"]["reason"], "honeytoken");
    assert_eq!(d[0]["details"]["name"], "deploy-bot");
    let mails = wait_for_mails(&srv, 1).await;
    assert!(mails[0]["body"].as_str().unwrap().contains("deactivated"));
}

async fn reading_ordinary_secrets_triggers_nothing(db: Db) {
    let srv = TestServer::start(db).await;
    let w = world(&srv, &["read"]).await;
    canary(&srv, &w, "deactivate").await;
    // Reads (the second from the caches), versions and listings of other paths.
    for _ in 0..3 {
        let (s, _, v) = read_as_agent(&srv, &w, "app/db").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["value"], REAL);
    }
    let res = as_agent(
        &srv,
        Method::GET,
        &format!("/v1/vaults/{}/secret-version/app/db/1", w.vault),
        &w.agent_token,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = as_agent(
        &srv,
        Method::GET,
        &format!("/v1/vaults/{}/secrets?prefix=app/db", w.vault),
        &w.agent_token,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    // The owner reads the real secret too.
    let (s, _) = srv
        .get(
            &format!("/v1/vaults/{}/secrets/app/db", w.vault),
            &w.owner.token,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(events(&srv, &w.owner.token, TRIGGERED).await.is_empty());
    assert_eq!(
        honeytokens(&srv, &w.owner.token).await[0]["triggered_count"],
        0
    );

    // The trap itself does trigger, once, in the same world.
    assert_eq!(read_as_agent(&srv, &w, TRAP).await.0, StatusCode::OK);
    one_trigger(&srv, &w, "read").await;
    assert_eq!(wait_for_mails(&srv, 1).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        trigger_mails(&srv).len(),
        1,
        "one trigger, one mail per recipient"
    );
}

async fn a_honeytoken_takes_effect_on_the_next_read_and_stops_when_deleted(db: Db) {
    let srv = TestServer::start(db).await;
    let w = world(&srv, &["read"]).await;
    // Reads already answered from the caches...
    for _ in 0..2 {
        assert_eq!(read_as_agent(&srv, &w, "app/db").await.0, StatusCode::OK);
    }
    // ...do not hide a honeytoken registered now.
    let (s, v) = create(
        &srv,
        &w.owner.token,
        json!({"vault_id": w.vault, "secret_path": "app/db"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, _, got) = read_as_agent(&srv, &w, "app/db").await;
    assert_eq!((s, got["value"].as_str()), (StatusCode::OK, Some(REAL)));
    let t = events(&srv, &w.owner.token, TRIGGERED).await;
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0]["details"]["path"], "app/db");

    // Once deleted, reads are ordinary again.
    let id = v["honeytoken"]["id"].as_str().unwrap();
    let (s, _) = srv
        .call(
            Method::DELETE,
            &format!("/v1/risk/honeytokens/{id}"),
            Some(&w.owner.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for _ in 0..2 {
        assert_eq!(read_as_agent(&srv, &w, "app/db").await.0, StatusCode::OK);
    }
    assert_eq!(events(&srv, &w.owner.token, TRIGGERED).await.len(), 1);
}

async fn a_failing_mail_server_does_not_fail_the_read(db: Db) {
    // Nothing listens on port 1: every mail fails to send.
    let srv = TestServer::start_with(
        db,
        &[
            ("TALON_SMTP_URL", "smtp://127.0.0.1:1"),
            ("TALON_SMTP_FROM", "talon@example.com"),
        ],
    )
    .await;
    let w = world(&srv, &["read"]).await;
    canary(&srv, &w, "alert").await;
    let (s, _, got) = read_as_agent(&srv, &w, TRAP).await;
    assert_eq!((s, got["value"].as_str()), (StatusCode::OK, Some(CANARY)));
    one_trigger(&srv, &w, "read").await;
    assert_eq!(
        honeytokens(&srv, &w.owner.token).await[0]["triggered_count"],
        1
    );
}
