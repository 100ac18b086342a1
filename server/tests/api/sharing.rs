//! Sharing secrets: links with passphrase, expiry and view limits; targeted shares; revocation.

use crate::common::{Db, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_databases!(
    link_share_with_passphrase_and_view_limit,
    targeted_share_needs_the_recipient_and_acceptance,
    share_and_audit_aliases_answer_like_their_originals,
);

const IN_AN_HOUR: &str = "2999-01-01T00:00:00Z";

async fn open(srv: &TestServer, id: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    srv.call(Method::GET, &format!("/v1/share/{id}"), token, Some(body))
        .await
}

async fn link_share_with_passphrase_and_view_limit(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let v = srv.create_vault(&h.token, "v").await;
    let secret = srv
        .put_secret(&h.token, &v, "share/me", "shared-value-42")
        .await;
    let sid = secret["id"].as_str().unwrap();
    let (s, share) = srv
        .post(&format!("/v1/secrets/{sid}/share"), Some(&h.token), json!({"recipient_type": "anyone_with_link", "expires_at": IN_AN_HOUR, "max_access_count": 2, "passphrase": "open sesame"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{share}");
    assert_eq!(
        (
            share["status"].as_str(),
            share["passphrase_protected"].as_bool()
        ),
        (Some("active"), Some(true))
    );
    let id = share["id"].as_str().unwrap().to_owned();
    assert!(share["share_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/v1/share/{id}")));
    // Wrong or missing passphrase: 403, not counted.
    assert_eq!(
        open(&srv, &id, None, json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        open(&srv, &id, None, json!({"passphrase": "guess"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, got) = open(&srv, &id, None, json!({"passphrase": "open sesame"})).await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(
        (
            got["value"].as_str(),
            got["path"].as_str(),
            got["access_count"].as_i64()
        ),
        (Some("shared-value-42"), Some("share/me"), Some(1))
    );
    // The passphrase also works as a header; the second view reaches the limit, the third is gone.
    let res = srv
        .http
        .get(srv.url(&format!("/v1/share/{id}")))
        .header("x-share-passphrase", "open sesame")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        open(&srv, &id, None, json!({"passphrase": "open sesame"}))
            .await
            .0,
        StatusCode::GONE
    );
    // Expired at creation, and revoked shares.
    let (_, past) = srv
        .post(
            &format!("/v1/secrets/{sid}/share"),
            Some(&h.token),
            json!({"recipient_type": "anyone_with_link", "expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        open(&srv, past["id"].as_str().unwrap(), None, json!({}))
            .await
            .0,
        StatusCode::GONE
    );
    let (_, open_link) = srv
        .post(
            &format!("/v1/secrets/{sid}/share"),
            Some(&h.token),
            json!({"recipient_type": "anyone_with_link", "expires_at": IN_AN_HOUR}),
        )
        .await;
    let link = open_link["id"].as_str().unwrap();
    assert_eq!(open(&srv, link, None, json!({})).await.0, StatusCode::OK);
    assert_eq!(
        srv.call(
            Method::DELETE,
            &format!("/v1/share/{link}"),
            Some(&h.token),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        open(&srv, link, None, json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    // Audit: accesses recorded, never the value or the passphrase.
    let (_, ev) = srv.get("/v1/audit/events?action=share.*", &h.token).await;
    let actions: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"share.create")
            && actions.contains(&"share.access")
            && actions.contains(&"share.revoke"),
        "{actions:?}"
    );
    assert!(ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "share.access" && e["actor_type"] == "anonymous"));
    let text = ev.to_string();
    assert!(!text.contains("shared-value-42") && !text.contains("open sesame"));
    let (_, out) = srv.get("/v1/shares/outbound", &h.token).await;
    let statuses: Vec<&str> = out["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"revoked")
            && statuses.contains(&"exhausted")
            && statuses.contains(&"expired"),
        "{statuses:?}"
    );
    assert!(
        !srv.dump_storage()
            .await
            .windows(11)
            .any(|w| w == b"open sesame"),
        "passphrases are stored hashed"
    );
    // Bad input.
    assert_eq!(
        srv.post(
            &format!("/v1/secrets/{sid}/share"),
            Some(&h.token),
            json!({"recipient_type": "user", "expires_at": IN_AN_HOUR})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        srv.post(
            &format!("/v1/secrets/{sid}/share"),
            Some(&h.token),
            json!({"recipient_type": "creator", "expires_at": IN_AN_HOUR})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(srv.post(&format!("/v1/secrets/{sid}/share"), Some(&h.token), json!({"recipient_type": "anyone_with_link", "expires_at": IN_AN_HOUR, "ip_allowlist": ["nope"]})).await.0, StatusCode::BAD_REQUEST);
}

async fn targeted_share_needs_the_recipient_and_acceptance(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let v = srv.create_vault(&h.token, "v").await;
    let secret = srv
        .put_secret(&h.token, &v, "for/agent", "agent-eyes-only")
        .await;
    let sid = secret["id"].as_str().unwrap();
    let (agent, key) = srv.create_agent(&h.token, "recipient").await;
    let (_, other_key) = srv.create_agent(&h.token, "bystander").await;
    let token = srv.agent_token(&key).await;
    let other = srv.agent_token(&other_key).await;
    let (s, share) = srv
        .post(
            &format!("/v1/secrets/{sid}/share"),
            Some(&h.token),
            json!({"recipient_type": "agent", "recipient_id": agent, "expires_at": IN_AN_HOUR}),
        )
        .await;
    assert_eq!(
        (s, share["status"].as_str()),
        (StatusCode::CREATED, Some("pending")),
        "{share}"
    );
    let id = share["id"].as_str().unwrap().to_owned();
    assert_eq!(
        open(&srv, &id, None, json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        open(&srv, &id, Some(&token), json!({})).await.0,
        StatusCode::FORBIDDEN,
        "not accepted yet"
    );
    let (_, inbound) = srv.get("/v1/shares/inbound", &token).await;
    assert_eq!(inbound["shares"][0]["id"], id.as_str());
    assert_eq!(
        srv.post(&format!("/v1/shares/{id}/accept"), Some(&other), json!({}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        srv.post(&format!("/v1/shares/{id}/accept"), Some(&token), json!({}))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (s, got) = open(&srv, &id, Some(&token), json!({})).await;
    assert_eq!(
        (s, got["value"].as_str()),
        (StatusCode::OK, Some("agent-eyes-only"))
    );
    assert_eq!(
        open(&srv, &id, Some(&other), json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    // The share serves the latest version.
    srv.put_secret(&h.token, &v, "for/agent", "rotated-value")
        .await;
    assert_eq!(
        open(&srv, &id, Some(&token), json!({})).await.1["value"],
        "rotated-value"
    );
    // An agent shares back to its creator; the creator accepts and reads.
    srv.grant(&h.token, &v, &agent, "for/*", &["read"]).await;
    let (s, back) = srv
        .post(
            &format!("/v1/secrets/{sid}/share"),
            Some(&token),
            json!({"recipient_type": "creator", "expires_at": IN_AN_HOUR}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{back}");
    let back_id = back["id"].as_str().unwrap();
    assert_eq!(back["recipient_id"], h.user_id.as_str());
    assert_eq!(
        srv.post(
            &format!("/v1/shares/{back_id}/accept"),
            Some(&h.token),
            json!({})
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        open(&srv, back_id, Some(&h.token), json!({})).await.0,
        StatusCode::OK
    );
    assert_eq!(srv.post(&format!("/v1/secrets/{sid}/share"), Some(&token), json!({"recipient_type": "external_email", "email": "x@example.com", "expires_at": IN_AN_HOUR})).await.0, StatusCode::FORBIDDEN);
    // Declined shares are gone for good; an agent without read cannot share.
    let (_, again) = srv
        .post(
            &format!("/v1/secrets/{sid}/share"),
            Some(&h.token),
            json!({"recipient_type": "agent", "recipient_id": agent, "expires_at": IN_AN_HOUR}),
        )
        .await;
    let again = again["id"].as_str().unwrap();
    assert_eq!(
        srv.post(
            &format!("/v1/shares/{again}/decline"),
            Some(&token),
            json!({})
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        open(&srv, again, Some(&token), json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        srv.post(
            &format!("/v1/secrets/{sid}/share"),
            Some(&other),
            json!({"recipient_type": "anyone_with_link", "expires_at": IN_AN_HOUR})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
}

/// `POST /v1/shares` (secret in the body), `GET /v1/shares?direction=`, `DELETE
/// /v1/shares/{id}` and `GET /v1/audit` answer like the routes they alias.
async fn share_and_audit_aliases_answer_like_their_originals(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let friend = srv.join(&h.token, "member").await;
    let v = srv.create_vault(&h.token, "v").await;
    let secret = srv.put_secret(&h.token, &v, "a/b", "aliased").await;
    let sid = secret["id"].as_str().unwrap();
    let body =
        json!({"recipient_type": "user", "recipient_id": friend.user_id, "expires_at": IN_AN_HOUR});

    // Create: the same shape either way.
    let (s, original) = srv
        .post(
            &format!("/v1/secrets/{sid}/share"),
            Some(&h.token),
            body.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{original}");
    let mut with_id = body.clone();
    with_id["secret_id"] = json!(sid);
    let (s, alias) = srv.post("/v1/shares", Some(&h.token), with_id).await;
    assert_eq!(s, StatusCode::CREATED, "{alias}");
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&alias), keys(&original));
    assert_eq!(
        (
            &alias["secret_id"],
            &alias["recipient_id"],
            &alias["status"]
        ),
        (
            &original["secret_id"],
            &original["recipient_id"],
            &original["status"]
        )
    );
    let (s, bad) = srv.post("/v1/shares", Some(&h.token), body.clone()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "secret_id is required: {bad}");

    // Lists: the same body either way.
    for (direction, token) in [("outbound", &h.token), ("inbound", &friend.token)] {
        let (s, original) = srv.get(&format!("/v1/shares/{direction}"), token).await;
        assert_eq!(s, StatusCode::OK, "{original}");
        assert_eq!(
            original["shares"].as_array().unwrap().len(),
            2,
            "{original}"
        );
        let (s, alias) = srv
            .get(&format!("/v1/shares?direction={direction}"), token)
            .await;
        assert_eq!((s, &alias), (StatusCode::OK, &original));
    }
    let (s, _) = srv.get("/v1/shares?direction=sideways", &h.token).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Revoke: 204 on either path, and 404 once it is gone.
    for (path, id) in [("share", &original["id"]), ("shares", &alias["id"])] {
        let id = id.as_str().unwrap();
        let url = format!("/v1/{path}/{id}");
        let (s, _) = srv.call(Method::DELETE, &url, Some(&h.token), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "DELETE {url}");
    }
    let (_, out) = srv.get("/v1/shares?direction=outbound", &h.token).await;
    assert!(
        out["shares"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["status"] == "revoked"),
        "{out}"
    );
    let id = alias["id"].as_str().unwrap();
    let (a, _) = srv
        .call(
            Method::DELETE,
            &format!("/v1/shares/{id}"),
            Some(&friend.token),
            None,
        )
        .await;
    let (b, _) = srv
        .call(
            Method::DELETE,
            &format!("/v1/share/{id}"),
            Some(&friend.token),
            None,
        )
        .await;
    assert_eq!(a, b, "a stranger's revoke answers the same on both paths");

    // Audit: the alias lists the same events, with the same filters.
    for query in ["", "?action=share.create", "?limit=1&offset=1"] {
        let (s, original) = srv.get(&format!("/v1/audit/events{query}"), &h.token).await;
        assert_eq!(s, StatusCode::OK, "{original}");
        let (s, alias) = srv.get(&format!("/v1/audit{query}"), &h.token).await;
        assert_eq!(s, StatusCode::OK, "{alias}");
        let ids = |v: &Value| {
            v["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&alias), ids(&original), "{query}");
        assert!(!ids(&alias).is_empty(), "{query}");
    }
}
