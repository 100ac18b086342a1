//! Org roles and team management; org isolation across resource types.

use crate::common::{Db, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_databases!(
    invited_email_joins_the_org_with_its_role,
    roles_limit_who_manages_the_team,
    removed_member_is_refused_at_once,
    members_see_only_their_own_and_granted_vaults,
    two_orgs_never_see_each_others_resources,
);

async fn invited_email_joins_the_org_with_its_role(db: Db) {
    let srv = TestServer::start(db).await;
    let owner = srv.signup().await;
    let m = srv.join(&owner.token, "admin").await;
    let (id, token, org) = (m.user_id, m.token, m.org_id);
    assert_eq!(org, owner.org_id);
    let (_, me) = srv.get("/v1/auth/me", &token).await;
    assert_eq!(me["role"], "admin");
    let (s, v) = srv.get("/v1/org/members", &owner.token).await;
    assert_eq!(s, StatusCode::OK);
    let m: Vec<(&str, &str)> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user_id"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        m,
        vec![(owner.user_id.as_str(), "owner"), (id.as_str(), "admin")]
    );
    // Inviting an existing member or a bad role fails.
    let (s, _) = srv
        .post(
            "/v1/org/invite",
            Some(&owner.token),
            json!({"email": owner.email}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = srv
        .post(
            "/v1/org/invite",
            Some(&owner.token),
            json!({"email": "x@example.com", "role": "god"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

async fn roles_limit_who_manages_the_team(db: Db) {
    let srv = TestServer::start(db).await;
    let owner = srv.signup().await;
    let admin_m = srv.join(&owner.token, "admin").await;
    let (admin_id, admin) = (admin_m.user_id, admin_m.token);
    let member_m = srv.join(&owner.token, "member").await;
    let (member_id, member) = (member_m.user_id, member_m.token);
    assert_eq!(
        srv.post(
            "/v1/org/invite",
            Some(&member),
            json!({"email": "y@example.com"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        srv.post(
            "/v1/org/invite",
            Some(&admin),
            json!({"email": "y@example.com", "role": "owner"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let patch = |who: &str, token: &str, role: &str| {
        let (path, token, body) = (
            format!("/v1/org/members/{who}"),
            token.to_owned(),
            json!({"role": role}),
        );
        let srv = &srv;
        async move {
            srv.call(Method::PATCH, &path, Some(&token), Some(body))
                .await
        }
    };
    assert_eq!(
        patch(&owner.user_id, &admin, "member").await.0,
        StatusCode::FORBIDDEN,
        "admins cannot touch owners"
    );
    assert_eq!(
        patch(&member_id, &admin, "owner").await.0,
        StatusCode::FORBIDDEN,
        "only owners grant owner"
    );
    assert_eq!(
        patch(&member_id, &member, "admin").await.0,
        StatusCode::FORBIDDEN
    );
    let (s, v) = patch(&member_id, &admin, "admin").await;
    assert_eq!((s, v["role"].as_str()), (StatusCode::OK, Some("admin")));
    let (s, _) = patch(&owner.user_id, &owner.token, "member").await;
    assert_eq!(s, StatusCode::CONFLICT, "the last owner cannot be demoted");
    assert_eq!(
        patch(&admin_id, &owner.token, "owner").await.0,
        StatusCode::OK
    );
    assert_eq!(
        patch(&owner.user_id, &owner.token, "member").await.0,
        StatusCode::OK,
        "no longer the last owner"
    );
}

async fn removed_member_is_refused_at_once(db: Db) {
    let srv = TestServer::start(db).await;
    let owner = srv.signup().await;
    let member_m = srv.join(&owner.token, "member").await;
    let (member_id, member) = (member_m.user_id, member_m.token);
    let (_, key) = srv
        .post("/v1/auth/api-keys", Some(&member), json!({"name": "k"}))
        .await;
    let key = key["api_key"].as_str().unwrap().to_owned();
    assert_eq!(srv.get("/v1/vaults", &member).await.0, StatusCode::OK);
    let (s, _) = srv
        .call(
            Method::DELETE,
            &format!("/v1/org/members/{member_id}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        srv.get("/v1/vaults", &member).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        srv.get("/v1/vaults", &key).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, _) = srv
        .call(
            Method::DELETE,
            &format!("/v1/org/members/{}", owner.user_id),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "the last owner cannot be removed");
}

async fn members_see_only_their_own_and_granted_vaults(db: Db) {
    let srv = TestServer::start(db).await;
    let owner = srv.signup().await;
    let member_m = srv.join(&owner.token, "member").await;
    let (member_id, member) = (member_m.user_id, member_m.token);
    let owners = srv.create_vault(&owner.token, "owner-vault").await;
    srv.put_secret(&owner.token, &owners, "a/b", "owner-secret")
        .await;
    let mine = srv.create_vault(&member, "member-vault").await;
    srv.put_secret(&member, &mine, "x/y", "member-secret").await;
    let ids = |v: Value| -> Vec<String> {
        v["vaults"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(srv.get("/v1/vaults", &member).await.1),
        vec![mine.clone()]
    );
    assert_eq!(
        srv.get(&format!("/v1/vaults/{owners}/secrets/a/b"), &member)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // The owner administers every vault of the org.
    assert_eq!(ids(srv.get("/v1/vaults", &owner.token).await.1).len(), 2);
    assert_eq!(
        srv.get(&format!("/v1/vaults/{mine}/secrets/x/y"), &owner.token)
            .await
            .0,
        StatusCode::OK
    );
    // A user policy grants the member read.
    let (s, v) = srv
        .post(&format!("/v1/vaults/{owners}/policies"), Some(&owner.token), json!({"secret_path_pattern": "a/*", "principal_type": "user", "principal_id": member_id, "permissions": ["read"]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(ids(srv.get("/v1/vaults", &member).await.1).len(), 2);
    assert_eq!(
        srv.get(&format!("/v1/vaults/{owners}/secrets/a/b"), &member)
            .await
            .1["value"],
        "owner-secret"
    );
    assert_eq!(
        srv.get(&format!("/v1/vaults/{owners}/policies"), &member)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
}

async fn two_orgs_never_see_each_others_resources(db: Db) {
    let srv = TestServer::start(db).await;
    let a = srv.signup().await;
    let b = srv.signup().await;
    let vault = srv.create_vault(&a.token, "a").await;
    srv.put_secret(&a.token, &vault, "k", "a-secret").await;
    let (agent, _) = srv.create_agent(&a.token, "a-bot").await;
    srv.grant(&a.token, &vault, &agent, "**", &["read"]).await;
    let (_, pol) = srv
        .get(&format!("/v1/vaults/{vault}/policies"), &a.token)
        .await;
    let policy = pol["policies"][0]["id"].as_str().unwrap().to_owned();
    let (_, key) = srv
        .post("/v1/auth/api-keys", Some(&a.token), json!({"name": "k"}))
        .await;
    let key_id = key["key"]["id"].as_str().unwrap().to_owned();
    let probes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/vaults/{vault}"), None),
        (Method::DELETE, format!("/v1/vaults/{vault}"), None),
        (Method::GET, format!("/v1/vaults/{vault}/secrets"), None),
        (Method::GET, format!("/v1/vaults/{vault}/secrets/k"), None),
        (
            Method::PUT,
            format!("/v1/vaults/{vault}/secrets/k"),
            Some(json!({"value": "x"})),
        ),
        (
            Method::DELETE,
            format!("/v1/vaults/{vault}/secrets/k"),
            None,
        ),
        (Method::GET, format!("/v1/vaults/{vault}/policies"), None),
        (
            Method::PUT,
            format!("/v1/vaults/{vault}/policies/{policy}"),
            Some(json!({"permissions": ["write"]})),
        ),
        (
            Method::DELETE,
            format!("/v1/vaults/{vault}/policies/{policy}"),
            None,
        ),
        (Method::GET, format!("/v1/agents/{agent}"), None),
        (
            Method::PATCH,
            format!("/v1/agents/{agent}"),
            Some(json!({"is_active": false})),
        ),
        (Method::DELETE, format!("/v1/agents/{agent}"), None),
        (
            Method::POST,
            format!("/v1/agents/{agent}/rotate-key"),
            Some(json!({})),
        ),
        (Method::DELETE, format!("/v1/auth/api-keys/{key_id}"), None),
        (
            Method::PATCH,
            format!("/v1/org/members/{}", a.user_id),
            Some(json!({"role": "member"})),
        ),
        (
            Method::DELETE,
            format!("/v1/org/members/{}", a.user_id),
            None,
        ),
    ];
    for (m, path, body) in probes {
        let (s, v) = srv.call(m.clone(), &path, Some(&b.token), body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {path}: {v}");
    }
    for (path, field) in [
        ("/v1/vaults", "vaults"),
        ("/v1/agents", "agents"),
        ("/v1/org/members", "members"),
        ("/v1/audit/events", "events"),
    ] {
        let (_, v) = srv.get(path, &b.token).await;
        let text = v[field].to_string();
        assert!(
            !text.contains(&vault) && !text.contains(&agent) && !text.contains(&a.user_id),
            "{path} leaks: {text}"
        );
    }
    // Nothing was changed by the probes.
    assert_eq!(
        srv.get(&format!("/v1/vaults/{vault}/secrets/k"), &a.token)
            .await
            .1["value"],
        "a-secret"
    );
}
