//! Versions, disabling, server-side rotation, and read limits (expiry, access count).

use crate::common::{Db, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_databases!(
    versions_are_listed_read_and_disabled,
    rotation_generates_a_fresh_value,
    expiry_and_access_count_make_reads_gone
);

async fn versions_are_listed_read_and_disabled(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let v = srv.create_vault(&h.token, "v").await;
    for value in ["one-1", "two-2", "three-3"] {
        srv.put_secret(&h.token, &v, "app/key", value).await;
    }
    let (s, list) = srv
        .get(&format!("/v1/vaults/{v}/secret-versions/app/key"), &h.token)
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let versions: Vec<i64> = list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, vec![1, 2, 3]);
    assert!(!list.to_string().contains("two-2"));
    let (s, two) = srv
        .get(
            &format!("/v1/vaults/{v}/secret-version/app/key/2"),
            &h.token,
        )
        .await;
    assert_eq!(
        (s, two["value"].as_str(), two["version"].as_i64()),
        (StatusCode::OK, Some("two-2"), Some(2))
    );
    // Disabling the latest makes GET fall back to the newest enabled version.
    let (s, _) = srv
        .call(
            Method::POST,
            &format!("/v1/vaults/{v}/secret-version-disable/app/key/3"),
            Some(&h.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = srv
        .call(
            Method::POST,
            &format!("/v1/vaults/{v}/secret-version-disable/app/key/3"),
            Some(&h.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "idempotent");
    assert_eq!(
        srv.get(
            &format!("/v1/vaults/{v}/secret-version/app/key/3"),
            &h.token
        )
        .await
        .0,
        StatusCode::GONE
    );
    let (_, latest) = srv
        .get(&format!("/v1/vaults/{v}/secrets/app/key"), &h.token)
        .await;
    assert_eq!(latest["value"], "two-2");
    let (_, list) = srv
        .get(&format!("/v1/vaults/{v}/secret-versions/app/key"), &h.token)
        .await;
    assert_eq!(list["versions"][2]["is_disabled"], true);
    assert_eq!(
        srv.get(
            &format!("/v1/vaults/{v}/secret-version/app/key/9"),
            &h.token
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        srv.get(
            &format!("/v1/vaults/{v}/secret-version/app/key/x"),
            &h.token
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        srv.get(&format!("/v1/vaults/{v}/secret-versions/never"), &h.token)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // A deleted secret's versions are gone.
    srv.call(
        Method::DELETE,
        &format!("/v1/vaults/{v}/secrets/app/key"),
        Some(&h.token),
        None,
    )
    .await;
    assert_eq!(
        srv.get(&format!("/v1/vaults/{v}/secret-versions/app/key"), &h.token)
            .await
            .0,
        StatusCode::GONE
    );
}

async fn rotation_generates_a_fresh_value(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let v = srv.create_vault(&h.token, "v").await;
    let (s, _) = srv.put(&format!("/v1/vaults/{v}/secrets/db/pw"), &h.token, json!({"value": "old-value", "type": "password", "metadata": {"owner": "dba"}, "max_access_count": 3})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, r) = srv
        .post(
            &format!("/v1/vaults/{v}/secret-rotate/db/pw"),
            Some(&h.token),
            json!({"length": 48, "charset": "hex"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert!(
        r.get("value").is_none(),
        "the generated value is not returned"
    );
    assert_eq!(
        (r["version"].as_i64(), r["type"].as_str()),
        (Some(2), Some("password"))
    );
    assert_eq!(r["metadata"]["owner"], "dba");
    assert!(
        srv.secret_details(&h.token, &v, "db/pw").await["max_access_count"].is_null(),
        "limits are not copied"
    );
    let (_, read) = srv
        .get(&format!("/v1/vaults/{v}/secrets/db/pw"), &h.token)
        .await;
    let value = read["value"].as_str().unwrap();
    assert_eq!(value.len(), 48);
    assert!(value.chars().all(|c| c.is_ascii_hexdigit()));
    let (s, _) = srv
        .call(
            Method::POST,
            &format!("/v1/vaults/{v}/secret-rotate/db/pw"),
            Some(&h.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "no body is allowed");
    assert_eq!(
        srv.post(
            &format!("/v1/vaults/{v}/secret-rotate/db/pw"),
            Some(&h.token),
            json!({"length": 4})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        srv.post(
            &format!("/v1/vaults/{v}/secret-rotate/db/pw"),
            Some(&h.token),
            json!({"charset": "emoji"})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        srv.post(
            &format!("/v1/vaults/{v}/secret-rotate/none"),
            Some(&h.token),
            json!({})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    // An agent with only `rotate` may rotate but not read.
    let (agent, key) = srv.create_agent(&h.token, "rotator").await;
    srv.grant(&h.token, &v, &agent, "db/*", &["rotate"]).await;
    let t = srv.agent_token(&key).await;
    assert_eq!(
        srv.post(
            &format!("/v1/vaults/{v}/secret-rotate/db/pw"),
            Some(&t),
            json!({})
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        srv.get(&format!("/v1/vaults/{v}/secrets/db/pw"), &t)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (_, ev) = srv
        .get("/v1/audit/events?action=secret.rotate", &h.token)
        .await;
    assert_eq!(ev["events"].as_array().unwrap().len(), 3);
}

async fn expiry_and_access_count_make_reads_gone(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let v = srv.create_vault(&h.token, "v").await;
    srv.put(
        &format!("/v1/vaults/{v}/secrets/once"),
        &h.token,
        json!({"value": "burn-after-reading", "max_access_count": 2}),
    )
    .await;
    let (s, _) = srv
        .get(&format!("/v1/vaults/{v}/secrets/once"), &h.token)
        .await;
    assert_eq!(
        (
            s,
            srv.secret_details(&h.token, &v, "once").await["access_count"].as_i64()
        ),
        (StatusCode::OK, Some(1))
    );
    let (s, _) = srv
        .get(&format!("/v1/vaults/{v}/secrets/once"), &h.token)
        .await;
    assert_eq!(
        (
            s,
            srv.secret_details(&h.token, &v, "once").await["access_count"].as_i64()
        ),
        (StatusCode::OK, Some(2)),
        "the read that reaches the limit succeeds"
    );
    let (s, gone) = srv
        .get(&format!("/v1/vaults/{v}/secrets/once"), &h.token)
        .await;
    assert_eq!(s, StatusCode::GONE, "{gone}");
    assert!(!gone.to_string().contains("burn-after-reading"));
    srv.put(
        &format!("/v1/vaults/{v}/secrets/old"),
        &h.token,
        json!({"value": "stale", "expires_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(
        srv.get(&format!("/v1/vaults/{v}/secrets/old"), &h.token)
            .await
            .0,
        StatusCode::GONE
    );
    // Listing shows them, so clients can see why.
    let (_, list) = srv.get(&format!("/v1/vaults/{v}/secrets"), &h.token).await;
    assert_eq!(list["secrets"].as_array().unwrap().len(), 2);
    let (_, ev) = srv
        .get("/v1/audit/events?action=secret.gone", &h.token)
        .await;
    assert_eq!(ev["events"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_use_secret_is_read_once_across_two_processes_on_postgres() {
    let srv = TestServer::start(Db::Postgres).await;
    let other = srv.sibling();
    let h = srv.signup().await;
    let v = srv.create_vault(&h.token, "v").await;
    for round in 0..5 {
        let path = format!("once/{round}");
        let (s, _) = srv
            .put(
                &format!("/v1/vaults/{v}/secrets/{path}"),
                &h.token,
                json!({"value": format!("single-use-{round}"), "max_access_count": 1}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let a = srv
            .http
            .get(srv.url(&format!("/v1/vaults/{v}/secrets/{path}")))
            .bearer_auth(&h.token)
            .send();
        let b = srv
            .http
            .get(other.url(&format!("/v1/vaults/{v}/secrets/{path}")))
            .bearer_auth(&h.token)
            .send();
        let (a, b) = tokio::join!(a, b);
        let mut statuses = [a.unwrap().status(), b.unwrap().status()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::GONE],
            "round {round}"
        );
    }
}
