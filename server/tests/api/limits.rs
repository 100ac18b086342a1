//! Rate limits and security headers; agreement between two processes on one PostgreSQL.

use crate::common::{Db, TestServer, PASSWORD};
use reqwest::StatusCode;
use serde_json::json;

on_both_databases!(
    brute_force_password_guessing_is_rate_limited,
    every_response_carries_security_headers
);

async fn brute_force_password_guessing_is_rate_limited(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let res = srv
            .http
            .post(srv.url("/v1/auth/token"))
            .json(&json!({"email": h.email, "password": "Wrong-Horse-9!!"}))
            .send()
            .await
            .unwrap();
        let status = res.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=900).contains(&retry), "{retry}");
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["type"], "rate_limited");
        }
        statuses.push(status);
    }
    assert!(
        statuses[..10]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert!(
        statuses[10..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // The right password is refused too while the window lasts: guessing cannot continue.
    let (s, _) = srv
        .post(
            "/v1/auth/token",
            None,
            json!({"email": h.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // Agent key guessing is limited the same way, per key prefix.
    let mut last = StatusCode::OK;
    for i in 0..12 {
        last = srv
            .post(
                "/v1/auth/agent-token",
                None,
                json!({"api_key": format!("ocv_guess000{i:032}")}),
            )
            .await
            .0;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

async fn every_response_carries_security_headers(db: Db) {
    let srv = TestServer::start(db).await;
    for path in ["/v1/health", "/v1/vaults", "/v1/nope", "/login"] {
        let res = srv.http.get(srv.url(path)).send().await.unwrap();
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let referrer = if path.starts_with("/v1") {
            "no-referrer"
        } else {
            "same-origin"
        };
        assert_eq!(h["referrer-policy"], referrer, "{path}");
        assert!(h.contains_key("content-security-policy"), "{path}");
        if path.starts_with("/v1") {
            assert_eq!(h["cache-control"], "no-store", "{path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_agree_on_revocation_and_rate_limits() {
    let srv = TestServer::start(Db::Postgres).await;
    let other = srv.sibling();
    let h = srv.signup().await;
    // A token revoked on one process is refused by the other.
    let (_, login) = srv
        .post(
            "/v1/auth/token",
            None,
            json!({"email": h.email, "password": PASSWORD}),
        )
        .await;
    let token = login["access_token"].as_str().unwrap().to_owned();
    let get_other = |t: String| {
        let http = srv.http.clone();
        let url = other.url("/v1/vaults");
        async move { http.get(url).bearer_auth(t).send().await.unwrap().status() }
    };
    assert_eq!(get_other(token.clone()).await, StatusCode::OK);
    let res = srv
        .http
        .delete(srv.url("/v1/auth/token"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(get_other(token).await, StatusCode::UNAUTHORIZED);
    // Failures on either process count against one limit.
    let mut statuses = Vec::new();
    for i in 0..12 {
        let base = if i % 2 == 0 {
            srv.url("/v1/auth/token")
        } else {
            other.url("/v1/auth/token")
        };
        let s = srv
            .http
            .post(base)
            .json(&json!({"email": h.email, "password": "Wrong-Horse-9!!"}))
            .send()
            .await
            .unwrap()
            .status();
        statuses.push(s);
    }
    assert!(
        statuses[..10]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert!(
        statuses[10..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

on_both_databases!(org_ip_rules_refuse_requests_from_other_addresses);

async fn org_ip_rules_refuse_requests_from_other_addresses(db: Db) {
    use reqwest::Method;
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let (_, key) = srv.create_agent(&h.token, "bot").await;
    let agent = srv.agent_token(&key).await;
    // Tests reach the server from 127.0.0.1.
    let (s, v) = srv.post("/v1/security/ip-rules", Some(&h.token), json!({"rule_type": "block", "cidr": "127.0.0.1", "applies_to": "agents", "description": "no local agents"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        (
            v["rule_type"].as_str(),
            v["cidr"].as_str(),
            v["label"].as_str()
        ),
        (Some("deny"), Some("127.0.0.1/32"), Some("no local agents"))
    );
    let rule = v["id"].as_str().unwrap().to_owned();
    let (s, v) = srv.get("/v1/vaults", &agent).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["type"], "ip_denied");
    assert_eq!(
        srv.get("/v1/vaults", &h.token).await.0,
        StatusCode::OK,
        "the rule applies to agents only"
    );
    // An allow list that does not contain the caller refuses everyone it applies to.
    let (s, _) = srv
        .post(
            "/v1/security/ip-rules",
            Some(&h.token),
            json!({"rule_type": "allow", "cidr": "203.0.113.0/24", "applies_to": "users"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = srv.get("/v1/vaults", &h.token).await;
    assert_eq!(
        (s, v["type"].as_str()),
        (StatusCode::FORBIDDEN, Some("ip_denied"))
    );
    // Bad input.
    let other = srv.signup().await;
    assert_eq!(
        srv.post(
            "/v1/security/ip-rules",
            Some(&other.token),
            json!({"rule_type": "allow", "cidr": "10.0.0.0/33"})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        srv.post(
            "/v1/security/ip-rules",
            Some(&other.token),
            json!({"rule_type": "maybe", "cidr": "10.0.0.0/8"})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        srv.call(
            Method::DELETE,
            &format!("/v1/security/ip-rules/{rule}"),
            Some(&other.token),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = srv.get("/v1/security/ip-rules", &other.token).await;
    assert_eq!(list["rules"], json!([]));
}

on_both_databases!(one_principal_over_its_rate_is_throttled_across_processes);

async fn one_principal_over_its_rate_is_throttled_across_processes(db: Db) {
    let srv = TestServer::start_with(db, &[("TALON_RATE_LIMIT_PER_PRINCIPAL", "5")]).await;
    // On PostgreSQL a second process shares the count; on SQLite one process owns the file.
    let other = (db == Db::Postgres).then(|| srv.sibling());
    let busy = srv.signup().await;
    let quiet = srv.signup().await;
    let mut throttled = 0;
    for i in 0..20 {
        let url = match (&other, i % 2) {
            (Some(o), 1) => o.url("/v1/vaults"),
            _ => srv.url("/v1/vaults"),
        };
        let res = srv
            .http
            .get(url)
            .bearer_auth(&busy.token)
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(res.headers()["retry-after"], "1");
            throttled += 1;
        } else {
            assert_eq!(res.status(), StatusCode::OK);
        }
    }
    assert!(
        throttled >= 10,
        "only {throttled} of 20 requests throttled at 5 per second"
    );
    assert_eq!(
        srv.get("/v1/vaults", &quiet.token).await.0,
        StatusCode::OK,
        "limits are per principal"
    );
}
