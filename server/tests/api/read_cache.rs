//! The read caches never serve what a change took away: each change is made against a warm
//! cache (read, change, read again) and takes effect on the very next read, in the process
//! that made it and, on PostgreSQL, in a second process serving the same database.

use crate::common::{Db, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_databases!(warm_reads_follow_every_change_at_once);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_reads_in_a_second_process_follow_changes_made_in_the_first() {
    let srv = TestServer::start(Db::Postgres).await;
    let other = srv.sibling();
    follows_changes(&srv, &other.base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_notification_connection_sends_the_next_read_to_the_database() {
    let srv = TestServer::start(Db::Postgres).await;
    let h = srv.signup().await;
    let v = srv.create_vault(&h.token, "cache").await;
    srv.put_secret(&h.token, &v, "app/key", "cached-value-1")
        .await;
    let (agent, key) = srv.create_agent(&h.token, "reader").await;
    srv.grant(&h.token, &v, &agent, "app/**", &["read"]).await;
    let t = srv.agent_token(&key).await;
    let path = format!("/v1/vaults/{v}/secrets/app/key");
    let pool = srv.db_pool().await;
    // The listener is up once reads are cached; warm the cache.
    wait_for_listener(&pool, true).await;
    for _ in 0..3 {
        assert_eq!(srv.get(&path, &t).await.0, StatusCode::OK);
    }
    // A change made behind Talon's back (no epoch raised, no notification) is not seen by a
    // warm cache...
    sqlx::query("DELETE FROM policies WHERE principal_id = $1")
        .bind(&agent)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(srv.get(&path, &t).await.0, StatusCode::OK);
    // ...until the notification connection drops: then every cache is emptied and the next
    // read goes to the database.
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'talon-cache-listener' AND datname = current_database()",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(killed, vec![true], "one listener backend");
    let mut status = StatusCode::OK;
    for _ in 0..50 {
        status = srv.get(&path, &t).await.0;
        if status == StatusCode::FORBIDDEN {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The listener comes back by itself.
    wait_for_listener(&pool, true).await;
}

async fn wait_for_listener(pool: &sqlx::AnyPool, up: bool) {
    for _ in 0..100 {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE application_name = 'talon-cache-listener' AND datname = current_database()",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if (n > 0) == up {
            // Give the listener a moment to switch the caches on after LISTEN.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the invalidation listener did not come up");
}

async fn warm_reads_follow_every_change_at_once(db: Db) {
    let srv = TestServer::start(db).await;
    let base = srv.base.clone();
    follows_changes(&srv, &base).await;
}

/// A GET with a bearer against `base` (this server, or a sibling on the same storage).
async fn get(srv: &TestServer, base: &str, path: &str, token: &str) -> (StatusCode, Value) {
    let r = srv
        .http
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// Reads twice (so the second is answered from a warm cache) and returns the last answer.
async fn warm(srv: &TestServer, base: &str, path: &str, token: &str) -> (StatusCode, Value) {
    get(srv, base, path, token).await;
    get(srv, base, path, token).await
}

async fn call(srv: &TestServer, method: Method, path: &str, token: &str, body: Option<Value>) {
    let (s, v) = srv.call(method, path, Some(token), body).await;
    assert!(s.is_success(), "{path}: {s} {v}");
}

async fn follows_changes(srv: &TestServer, base: &str) {
    let h = srv.signup().await;
    let v = srv.create_vault(&h.token, "cache").await;
    let (agent, key) = srv.create_agent(&h.token, "reader").await;
    srv.grant(&h.token, &v, &agent, "app/**", &["read"]).await;
    let t = srv.agent_token(&key).await;
    let secret = |p: &str| format!("/v1/vaults/{v}/secrets/{p}");

    // A new version: the new value.
    srv.put_secret(&h.token, &v, "app/key", "value-1").await;
    assert_eq!(
        warm(srv, base, &secret("app/key"), &t).await.1["value"],
        "value-1"
    );
    srv.put_secret(&h.token, &v, "app/key", "value-2").await;
    assert_eq!(
        get(srv, base, &secret("app/key"), &t).await.1["value"],
        "value-2"
    );

    // A disabled version: the previous one.
    assert_eq!(
        warm(srv, base, &secret("app/key"), &t).await.1["version"],
        2
    );
    call(
        srv,
        Method::POST,
        &format!("/v1/vaults/{v}/secret-version-disable/app/key/2"),
        &h.token,
        None,
    )
    .await;
    let (s, read) = get(srv, base, &secret("app/key"), &t).await;
    assert_eq!(
        (s, read["value"].as_str()),
        (StatusCode::OK, Some("value-1"))
    );

    // A deleted secret: 410.
    srv.put_secret(&h.token, &v, "app/gone", "soon-gone").await;
    assert_eq!(
        warm(srv, base, &secret("app/gone"), &t).await.0,
        StatusCode::OK
    );
    call(srv, Method::DELETE, &secret("app/gone"), &h.token, None).await;
    assert_eq!(
        get(srv, base, &secret("app/gone"), &t).await.0,
        StatusCode::GONE
    );

    // A deleted policy: 403.
    let (other, other_key) = srv.create_agent(&h.token, "narrowed").await;
    let (s, policy) = srv
        .post(
            &format!("/v1/vaults/{v}/policies"),
            Some(&h.token),
            json!({"secret_path_pattern": "app/**", "principal_type": "agent",
                   "principal_id": other, "permissions": ["read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{policy}");
    let other_t = srv.agent_token(&other_key).await;
    assert_eq!(
        warm(srv, base, &secret("app/key"), &other_t).await.0,
        StatusCode::OK
    );
    call(
        srv,
        Method::DELETE,
        &format!("/v1/vaults/{v}/policies/{}", policy["id"].as_str().unwrap()),
        &h.token,
        None,
    )
    .await;
    assert_eq!(
        get(srv, base, &secret("app/key"), &other_t).await.0,
        StatusCode::FORBIDDEN
    );

    // A revoked token: 401, while a fresh token of the same agent still reads.
    let doomed = srv.agent_token(&key).await;
    assert_eq!(
        warm(srv, base, &secret("app/key"), &doomed).await.0,
        StatusCode::OK
    );
    call(srv, Method::DELETE, "/v1/auth/token", &doomed, None).await;
    assert_eq!(
        get(srv, base, &secret("app/key"), &doomed).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(srv, base, &secret("app/key"), &t).await.0,
        StatusCode::OK
    );

    // A member removed from the org: 401.
    let member = srv.join(&h.token, "member").await;
    let (s, p) = srv
        .post(
            &format!("/v1/vaults/{v}/policies"),
            Some(&h.token),
            json!({"secret_path_pattern": "app/**", "principal_type": "user",
                   "principal_id": member.user_id, "permissions": ["read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(
        warm(srv, base, &secret("app/key"), &member.token).await.0,
        StatusCode::OK
    );
    call(
        srv,
        Method::DELETE,
        &format!("/v1/org/members/{}", member.user_id),
        &h.token,
        None,
    )
    .await;
    assert_eq!(
        get(srv, base, &secret("app/key"), &member.token).await.0,
        StatusCode::UNAUTHORIZED
    );

    // A new IP rule denying agents from here: 403.
    assert_eq!(
        warm(srv, base, &secret("app/key"), &t).await.0,
        StatusCode::OK
    );
    let (s, rule) = srv
        .post(
            "/v1/security/ip-rules",
            Some(&h.token),
            json!({"rule_type": "deny", "cidr": "127.0.0.1/32", "applies_to": "agents"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rule}");
    assert_eq!(
        get(srv, base, &secret("app/key"), &t).await.0,
        StatusCode::FORBIDDEN
    );
    call(
        srv,
        Method::DELETE,
        &format!("/v1/security/ip-rules/{}", rule["id"].as_str().unwrap()),
        &h.token,
        None,
    )
    .await;

    // A deactivated agent: 401.
    assert_eq!(
        warm(srv, base, &secret("app/key"), &t).await.0,
        StatusCode::OK
    );
    call(
        srv,
        Method::PATCH,
        &format!("/v1/agents/{agent}"),
        &h.token,
        Some(json!({"is_active": false})),
    )
    .await;
    assert_eq!(
        get(srv, base, &secret("app/key"), &t).await.0,
        StatusCode::UNAUTHORIZED
    );
}
