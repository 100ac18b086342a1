//! Personal API keys, refresh, logout, profile and password change.

use crate::common::{Db, TestServer, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_databases!(
    personal_api_key_authenticates_directly_and_by_exchange,
    revoked_api_key_and_its_tokens_stop_at_once,
    api_key_scopes_narrow_the_users_rights,
    refresh_token_rotates_and_reuse_revokes_the_family,
    bearer_refresh_issues_a_new_access_token,
    logout_revokes_the_token_at_once,
    profile_reads_and_updates,
    password_change_requires_the_current_password_and_revokes_sessions,
);

async fn personal_api_key_authenticates_directly_and_by_exchange(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let (s, v) = srv
        .post("/v1/auth/api-keys", Some(&h.token), json!({"name": "ci"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let key = v["api_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("1ck_") && key.len() == 47);
    assert_eq!(v["key"]["key_prefix"], &key[..12]);
    assert_eq!(v["key"]["prefix"], &key[..12]);
    let (s, _) = srv.get("/v1/vaults", &key).await;
    assert_eq!(s, StatusCode::OK, "a 1ck_ key is a bearer credential");
    let (s, t) = srv
        .post("/v1/auth/api-key-token", None, json!({"api_key": key}))
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert!(t.get("user_id").is_none(), "TokenResponse only: {t}");
    let claims = crate::common::jwt_claims(t["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], format!("user:{}", h.user_id));
    let jwt = t["access_token"].as_str().unwrap();
    assert_eq!(srv.create_vault(jwt, "from-key").await.len(), 36);
    let (_, list) = srv.get("/v1/auth/api-keys", &h.token).await;
    assert_eq!(list["keys"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&key));
    assert_eq!(
        srv.post(
            "/v1/auth/api-key-token",
            None,
            json!({"api_key": "1ck_bogus"})
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
}

async fn revoked_api_key_and_its_tokens_stop_at_once(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let (_, v) = srv
        .post("/v1/auth/api-keys", Some(&h.token), json!({"name": "ci"}))
        .await;
    let key = v["api_key"].as_str().unwrap().to_owned();
    let id = v["key"]["id"].as_str().unwrap().to_owned();
    let (_, t) = srv
        .post("/v1/auth/api-key-token", None, json!({"api_key": key}))
        .await;
    let jwt = t["access_token"].as_str().unwrap().to_owned();
    let (s, _) = srv
        .call(
            Method::DELETE,
            &format!("/v1/auth/api-keys/{id}"),
            Some(&h.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        srv.get("/v1/vaults", &key).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        srv.get("/v1/vaults", &jwt).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, list) = srv.get("/v1/auth/api-keys", &h.token).await;
    assert_eq!(list["keys"][0]["is_active"], false);
    // Another user's key id is not found.
    let other = srv.signup().await;
    assert_eq!(
        srv.call(
            Method::DELETE,
            &format!("/v1/auth/api-keys/{id}"),
            Some(&other.token),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

async fn api_key_scopes_narrow_the_users_rights(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "v").await;
    srv.put_secret(&h.token, &vault, "a/b", "value-1").await;
    let (s, v) = srv
        .post(
            "/v1/auth/api-keys",
            Some(&h.token),
            json!({"name": "ro", "scopes": ["secrets:read", "vaults:read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let key = v["api_key"].as_str().unwrap();
    assert_eq!(
        srv.get(&format!("/v1/vaults/{vault}/secrets/a/b"), key)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        srv.put(
            &format!("/v1/vaults/{vault}/secrets/a/b"),
            key,
            json!({"value": "x"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        srv.post("/v1/vaults", Some(key), json!({"name": "no"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        srv.post("/v1/agents", Some(key), json!({"name": "no"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, _) = srv
        .post(
            "/v1/auth/api-keys",
            Some(&h.token),
            json!({"name": "bad", "scopes": ["root"]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = srv
        .post("/v1/auth/api-keys", Some(key), json!({"name": "wider"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a key cannot mint a wider key");
}

async fn refresh_token_rotates_and_reuse_revokes_the_family(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let (_, login) = srv
        .post(
            "/v1/auth/token",
            None,
            json!({"email": h.email, "password": PASSWORD}),
        )
        .await;
    let rt1 = login["refresh_token"].as_str().unwrap().to_owned();
    let (s, r) = srv
        .post("/v1/auth/refresh", None, json!({"refresh_token": rt1}))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let rt2 = r["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    assert_eq!(
        srv.get("/v1/vaults", r["access_token"].as_str().unwrap())
            .await
            .0,
        StatusCode::OK
    );
    // Replaying the spent token fails and burns the family: rt2 dies too.
    assert_eq!(
        srv.post("/v1/auth/refresh", None, json!({"refresh_token": rt1}))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        srv.post("/v1/auth/refresh", None, json!({"refresh_token": rt2}))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        srv.post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": "rt_garbage"})
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
}

async fn bearer_refresh_issues_a_new_access_token(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let (s, r) = srv
        .call(Method::POST, "/v1/auth/refresh", Some(&h.token), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let t = r["access_token"].as_str().unwrap();
    assert_ne!(t, h.token);
    assert_eq!(srv.get("/v1/vaults", t).await.0, StatusCode::OK);
    assert_eq!(
        srv.call(Method::POST, "/v1/auth/refresh", None, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

async fn logout_revokes_the_token_at_once(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let (_, login) = srv
        .post(
            "/v1/auth/token",
            None,
            json!({"email": h.email, "password": PASSWORD}),
        )
        .await;
    let token = login["access_token"].as_str().unwrap();
    assert_eq!(srv.get("/v1/vaults", token).await.0, StatusCode::OK);
    let (s, body) = srv
        .call(Method::DELETE, "/v1/auth/token", Some(token), None)
        .await;
    assert_eq!((s, body), (StatusCode::NO_CONTENT, serde_json::Value::Null));
    assert_eq!(
        srv.get("/v1/vaults", token).await.0,
        StatusCode::UNAUTHORIZED
    );
    let rt = login["refresh_token"].as_str().unwrap();
    assert_eq!(
        srv.post("/v1/auth/refresh", None, json!({"refresh_token": rt}))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // Other tokens of the user are unaffected.
    assert_eq!(srv.get("/v1/vaults", &h.token).await.0, StatusCode::OK);
}

async fn profile_reads_and_updates(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let (s, me) = srv.get("/v1/auth/me", &h.token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["email"], h.email.as_str());
    assert_eq!(me["role"], "owner");
    assert_eq!(me["org_id"], h.org_id.as_str());
    assert_eq!(me["billing_tier"], "enterprise");
    let (s, me) = srv
        .call(
            Method::PATCH,
            "/v1/auth/me",
            Some(&h.token),
            Some(json!({"display_name": "Ada", "marketing_emails": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            me["display_name"].as_str(),
            me["marketing_emails"].as_bool()
        ),
        (Some("Ada"), Some(true))
    );
    let (_, me) = srv
        .call(
            Method::PATCH,
            "/v1/auth/me",
            Some(&h.token),
            Some(json!({"display_name": null})),
        )
        .await;
    assert!(me["display_name"].is_null());
    assert_eq!(me["marketing_emails"], true, "absent fields stay");
    let (_, key) = srv.create_agent(&h.token, "bot").await;
    let agent = srv.agent_token(&key).await;
    assert_eq!(
        srv.get("/v1/auth/me", &agent).await.0,
        StatusCode::FORBIDDEN
    );
}

async fn password_change_requires_the_current_password_and_revokes_sessions(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let (_, login) = srv
        .post(
            "/v1/auth/token",
            None,
            json!({"email": h.email, "password": PASSWORD}),
        )
        .await;
    let new = "Battery-Staple-42?";
    let (s, v) = srv
        .post(
            "/v1/auth/change-password",
            Some(&h.token),
            json!({"current_password": "Wrong-Horse-9!!", "new_password": new}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = srv
        .post(
            "/v1/auth/change-password",
            Some(&h.token),
            json!({"current_password": PASSWORD, "new_password": "weak"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["fields"]["new_password"].is_string(), "{v}");
    let (s, _) = srv
        .post(
            "/v1/auth/change-password",
            Some(&h.token),
            json!({"current_password": PASSWORD, "new_password": new}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        srv.post(
            "/v1/auth/token",
            None,
            json!({"email": h.email, "password": PASSWORD})
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        srv.post(
            "/v1/auth/token",
            None,
            json!({"email": h.email, "password": new})
        )
        .await
        .0,
        StatusCode::OK
    );
    let rt = login["refresh_token"].as_str().unwrap();
    assert_eq!(
        srv.post("/v1/auth/refresh", None, json!({"refresh_token": rt}))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}
