//! The dashboard's server functions over HTTP, as the browser calls them: sessions in the
//! database, the same-origin check, and the same core behind them as behind `/v1`.

use crate::common::{Browser, Db, TestServer};
use reqwest::StatusCode;
use serde_json::Value;

on_both_databases!(
    a_dashboard_session_is_a_database_record_that_names_only_the_user,
    dashboard_and_rest_are_two_doors_onto_one_core,
    sign_out_everywhere_ends_every_session_of_the_user,
    cross_origin_dashboard_calls_are_refused
);

async fn a_dashboard_session_is_a_database_record_that_names_only_the_user(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let mut browser = Browser::new(&srv);
    browser.sign_in(&h.email).await;
    let (s, user) = browser.post("session", &[]).await;
    assert_eq!(
        (s, user["email"].as_str()),
        (StatusCode::OK, Some(h.email.as_str()))
    );

    let pool = srv.db_pool().await;
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT user_id, data FROM dashboard_sessions")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, h.user_id);
    let data: Value = serde_json::from_str(&rows[0].1).unwrap();
    assert_eq!(data, serde_json::json!({ "user_id": h.user_id }));
    let cookie_value = browser.cookie.clone().unwrap();
    assert!(
        !rows[0]
            .1
            .contains(cookie_value.trim_start_matches("talon_session=")),
        "the record does not hold the cookie"
    );

    // A session id that is not in the database signs nobody in.
    let mut forged = Browser::new(&srv);
    forged.cookie = Some("talon_session=AAAAAAAAAAAAAAAAAAAAAA".into());
    let (s, user) = forged.post("session", &[]).await;
    assert_eq!((s, user), (StatusCode::OK, Value::Null));
}

async fn dashboard_and_rest_are_two_doors_onto_one_core(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let mut browser = Browser::new(&srv);
    browser.sign_in(&h.email).await;

    let (s, vault) = browser
        .post(
            "vaults/create",
            &[("name", "from-dashboard"), ("description", "")],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{vault}");
    let vault_id = vault["id"].as_str().unwrap().to_owned();
    let (s, secret) = browser
        .post(
            "secrets/put",
            &[
                ("vault_id", &vault_id),
                ("path", "api/token"),
                ("secret_type", "api_key"),
                ("value", "dashboard-written-value"),
                ("metadata", ""),
                ("expires_at", ""),
                ("max_access_count", ""),
            ],
        )
        .await;
    assert_eq!(
        (s, secret["version"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{secret}"
    );

    // The REST door sees what the dashboard door wrote, and the other way round.
    let (s, read) = srv
        .get(
            &format!("/v1/vaults/{vault_id}/secrets/api/token"),
            &h.token,
        )
        .await;
    assert_eq!(
        (s, read["value"].as_str()),
        (StatusCode::OK, Some("dashboard-written-value"))
    );
    srv.put_secret(&h.token, &vault_id, "api/token", "rest-written-value")
        .await;
    let (s, value) = browser
        .post(
            "secrets/reveal",
            &[("vault_id", &vault_id), ("path", "api/token")],
        )
        .await;
    assert_eq!(
        (s, value.as_str()),
        (StatusCode::OK, Some("rest-written-value"))
    );

    // Both reads are in the audit log, with the dashboard's as a user read like any other.
    let (_, events) = srv
        .get("/v1/audit/events?action=secret.read", &h.token)
        .await;
    assert_eq!(events["events"].as_array().unwrap().len(), 2, "{events}");
    assert!(!events.to_string().contains("written-value"));

    // A bad input is the core's own message, not a crash.
    let (s, error) = browser
        .post(
            "secrets/put",
            &[
                ("vault_id", &vault_id),
                ("path", "../escape"),
                ("secret_type", "generic"),
                ("value", "x"),
                ("metadata", ""),
                ("expires_at", ""),
                ("max_access_count", ""),
            ],
        )
        .await;
    assert!(!s.is_success(), "{s} {error}");
    assert!(!error.to_string().contains("panicked"), "{error}");
}

async fn sign_out_everywhere_ends_every_session_of_the_user(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let (mut laptop, mut phone) = (Browser::new(&srv), Browser::new(&srv));
    laptop.sign_in(&h.email).await;
    phone.sign_in(&h.email).await;
    assert_ne!(
        laptop.cookie, phone.cookie,
        "each sign-in is its own session"
    );

    let (s, _) = laptop.post("logout-everywhere", &[]).await;
    assert!(s.is_success() || s.is_redirection(), "{s}");
    for browser in [&mut laptop, &mut phone] {
        let (s, user) = browser.post("session", &[]).await;
        assert_eq!((s, user), (StatusCode::OK, Value::Null));
    }
    let pool = srv.db_pool().await;
    let (left,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM dashboard_sessions WHERE user_id = $1")
            .bind(&h.user_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(left, 0);
    let (_, events) = srv
        .get("/v1/audit/events?action=auth.logout_everywhere", &h.token)
        .await;
    assert_eq!(
        events["events"][0]["details"]["sessions_ended"], 2,
        "{events}"
    );
}

async fn cross_origin_dashboard_calls_are_refused(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let mut browser = Browser::new(&srv);
    browser.sign_in(&h.email).await;
    let (s, _) = browser
        .post_from(
            "http://evil.example",
            "vaults/create",
            &[("name", "forged"), ("description", "")],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, list) = srv.get("/v1/vaults", &h.token).await;
    assert_eq!(list["vaults"].as_array().unwrap().len(), 0, "{list}");
}
