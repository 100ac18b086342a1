//! Findings of an attack run, each kept fixed: cross-site posts that sign a browser in (or
//! up, or start a reset), sign-in throttles that lock out neighbours or let spraying through,
//! HTML where a problem is due, a signed-out server function answering 500, and cacheable
//! values.

use crate::common::{uuid_simple, Browser, Db, TestServer, PASSWORD};
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, ORIGIN, RETRY_AFTER, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::IpAddr;

on_both_databases!(
    fifteen_bad_agent_keys_from_one_ip_do_not_block_a_good_key,
    password_spraying_from_one_ip_is_throttled_across_accounts
);

/// An HTTP client connecting from the loopback address `ip`, not following redirects.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A key with the `ocv_` shape whose first 12 characters are `prefix` and whose rest is random.
fn guess_with_prefix(prefix: &str) -> String {
    format!("{prefix}{}", uuid_simple())
}

/// Posts `{"api_key": key}` to the agent key exchange from `http`'s address.
async fn exchange(srv: &TestServer, http: &reqwest::Client, key: &str) -> reqwest::Response {
    http.post(srv.url("/v1/auth/agent-token"))
        .json(&json!({ "api_key": key }))
        .send()
        .await
        .unwrap()
}

/// Asserts a 429 that says when to retry, in the header and in the problem.
async fn assert_retry_later(res: reqwest::Response) {
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["type"], "rate_limited", "{body}");
    assert_eq!(body["retry_after"], retry, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("{retry} seconds")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_login_post_is_refused() {
    let srv = TestServer::start(Db::Sqlite).await;
    let h = srv.signup().await;
    // A fresh browser (no session cookie yet) on another site's page posting the sign-in form.
    let mut victim = Browser::new(&srv);
    let (s, _) = victim
        .post_from(
            "https://evil.example",
            "login",
            &[("email", h.email.as_str()), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(victim.cookie.is_none(), "no session was started");
    // The same with the browser's own word for it, even under a matching Origin.
    let res = srv
        .http
        .post(srv.url("/ui/login"))
        .header(ORIGIN, &srv.base)
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", h.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get(SET_COOKIE).is_none());
    // The code step and the API's sign-in are refused the same way.
    let (s, _) = victim
        .post_from("https://evil.example", "login-code", &[("code", "123456")])
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let res = srv
        .http
        .post(srv.url("/v1/auth/token"))
        .header(ORIGIN, "https://evil.example")
        .json(&json!({"email": h.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(res.headers()[CONTENT_TYPE], "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], 403, "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_signup_or_reset_post_is_refused() {
    let srv = TestServer::start(Db::Sqlite).await;
    let h = srv.signup().await;
    let email = format!("u{}@example.com", &uuid_simple()[..12]);
    let cross_site = |path: &str, body: Value| {
        srv.http
            .post(srv.url(path))
            .header("sec-fetch-site", "cross-site")
            .header(ORIGIN, "https://evil.example")
            .json(&body)
            .send()
    };
    let res = cross_site(
        "/v1/auth/signup",
        json!({"email": email, "password": PASSWORD}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = cross_site("/v1/auth/forgot-password", json!({"email": h.email}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = cross_site(
        "/v1/auth/reset-password",
        json!({"token": "x", "new_password": PASSWORD}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // No account was made: the same signup from a script (no browser headers) succeeds.
    let (s, v) = srv
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_origin_login_post_still_signs_in() {
    let srv = TestServer::start(Db::Sqlite).await;
    let h = srv.signup().await;
    // A top-level navigation from another site to the sign-in page stays allowed.
    let res = srv
        .http
        .get(srv.url("/login"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The dashboard's own form signs in.
    let mut browser = Browser::new(&srv);
    let res = client_from("127.0.0.1")
        .post(srv.url("/ui/login"))
        .header(ORIGIN, &srv.base)
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", h.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert!(res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("talon_session=")));
    browser.sign_in(&h.email).await;
    assert_eq!(browser.get_page("/").await, StatusCode::OK);
    // A script (no browser headers) and the API's own origin still sign in over REST.
    let (s, v) = srv
        .post(
            "/v1/auth/token",
            None,
            json!({"email": h.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let res = srv
        .http
        .post(srv.url("/v1/auth/token"))
        .header(ORIGIN, &srv.base)
        .json(&json!({"email": h.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn fifteen_bad_agent_keys_from_one_ip_do_not_block_a_good_key(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let (_, good) = srv.create_agent(&h.token, "good").await;
    let http = client_from("127.0.0.1");
    // One broken agent behind the same address keeps sending a wrong key.
    let broken = guess_with_prefix("ocv_broken00");
    let mut statuses = Vec::new();
    for _ in 0..15 {
        statuses.push(exchange(&srv, &http, &broken).await.status());
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
    // And fifteen other random keys, each under its own prefix.
    for _ in 0..15 {
        let key = guess_with_prefix(&format!("ocv_{}", &uuid_simple()[..8]));
        assert_eq!(
            exchange(&srv, &http, &key).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // The right key from the same address still gets its token.
    let res = exchange(&srv, &http, &good).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert!(body["access_token"].as_str().is_some(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_guesses_at_one_agent_key_prefix_lock_that_prefix() {
    let srv = TestServer::start(Db::Sqlite).await;
    let h = srv.signup().await;
    let (_, target) = srv.create_agent(&h.token, "target").await;
    let (_, neighbour) = srv.create_agent(&h.token, "neighbour").await;
    let http = client_from("127.0.0.1");
    for _ in 0..10 {
        let guess = guess_with_prefix(&target[..12]);
        assert_eq!(
            exchange(&srv, &http, &guess).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // The guessed prefix is locked from this address, even for the right key...
    assert_retry_later(exchange(&srv, &http, &target).await).await;
    // ...while another agent's key from the same address is unaffected,
    assert_eq!(
        exchange(&srv, &http, &neighbour).await.status(),
        StatusCode::OK
    );
    // and the right key from another address still works (its prefix has failures to spare).
    assert_eq!(
        exchange(&srv, &client_from("127.0.0.2"), &target)
            .await
            .status(),
        StatusCode::OK
    );
}

async fn password_spraying_from_one_ip_is_throttled_across_accounts(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let http = client_from("127.0.0.1");
    let login = |email: String, password: &'static str| {
        http.post(srv.url("/v1/auth/token"))
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    let mut statuses = Vec::new();
    let mut throttled = None;
    for i in 0..30 {
        let res = login(format!("sprayed{i}@example.com"), "Spring-2026!!")
            .await
            .unwrap();
        statuses.push(res.status());
        if res.status() == StatusCode::TOO_MANY_REQUESTS && throttled.is_none() {
            throttled = Some(res);
        }
    }
    assert!(
        statuses[..20]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert!(
        statuses[20..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert_retry_later(throttled.expect("spraying was throttled")).await;
    // The address is throttled for every account while the window lasts, the right password
    // included; another address signs in.
    assert_eq!(
        login(h.email.clone(), PASSWORD).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let res = client_from("127.0.0.2")
        .post(srv.url("/v1/auth/token"))
        .json(&json!({"email": h.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_well_known_paths_answer_problem_json() {
    let srv = TestServer::start(Db::Sqlite).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/.well-known/nope/deeper",
    ] {
        let res = srv.http.get(srv.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            res.headers()[CONTENT_TYPE],
            "application/problem+json",
            "{path}"
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"], 404, "{path}: {body}");
    }
    let res = srv
        .http
        .get(srv.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert!(body["keys"].is_array(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_out_server_function_answers_401() {
    let srv = TestServer::start(Db::Sqlite).await;
    let mut browser = Browser::new(&srv);
    for (endpoint, form) in [
        (
            "secrets/reveal",
            vec![
                ("vault_id", "00000000-0000-0000-0000-000000000000"),
                ("path", "db/password"),
            ],
        ),
        ("vaults/create", vec![("name", "v"), ("description", "")]),
    ] {
        let (s, body) = browser.post(endpoint, &form).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{endpoint}: {body}");
        assert!(body.to_string().contains("SignedOut"), "{endpoint}: {body}");
    }
    // Asking who is signed in is not an error: it answers "nobody".
    let (s, body) = browser.post("session", &[]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body, Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_value_responses_are_not_cached() {
    let srv = TestServer::start(Db::Sqlite).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "app").await;
    srv.put_secret(&h.token, &vault, "db/password", "hunter2-value")
        .await;
    let mut browser = Browser::new(&srv);
    browser.sign_in(&h.email).await;
    let res = srv
        .http
        .post(srv.url("/ui/secrets/reveal"))
        .header(ORIGIN, &srv.base)
        .header(COOKIE, browser.cookie.clone().unwrap())
        .form(&[("vault_id", vault.as_str()), ("path", "db/password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, "hunter2-value");
    // Pages and every other server function too; compiled assets may be cached.
    let res = srv
        .http
        .get(srv.url("/"))
        .header(COOKIE, browser.cookie.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
    let res = srv
        .http
        .post(srv.url("/ui/session"))
        .header(ORIGIN, &srv.base)
        .header(COOKIE, browser.cookie.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
    let res = srv.http.get(srv.url("/favicon.svg")).send().await.unwrap();
    assert_ne!(
        res.headers()
            .get(CACHE_CONTROL)
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
}
