//! Agent lifecycle and policy changes take effect on the next request.

use crate::common::{Db, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_databases!(
    deactivated_agent_is_refused_even_with_a_live_token,
    deleted_agent_disappears_and_its_token_stops_working,
    rotated_key_kills_the_old_key_at_once,
    policy_changes_apply_to_the_next_request,
    explicit_path_scopes_cap_an_agent,
    agent_bound_to_a_vault_is_refused_elsewhere,
);

struct Setup {
    srv: TestServer,
    human: String,
    vault: String,
    agent_id: String,
    key: String,
}

async fn setup(db: Db) -> Setup {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "v").await;
    srv.put_secret(&h.token, &vault, "app/token", "t0k3n-value")
        .await;
    let (agent_id, key) = srv.create_agent(&h.token, "bot").await;
    srv.grant(&h.token, &vault, &agent_id, "app/*", &["read"])
        .await;
    Setup {
        srv,
        human: h.token,
        vault,
        agent_id,
        key,
    }
}

impl Setup {
    async fn read(&self, token: &str) -> StatusCode {
        self.srv
            .get(
                &format!("/v1/vaults/{}/secrets/app/token", self.vault),
                token,
            )
            .await
            .0
    }
}

async fn deactivated_agent_is_refused_even_with_a_live_token(db: Db) {
    let s = setup(db).await;
    let token = s.srv.agent_token(&s.key).await;
    assert_eq!(s.read(&token).await, StatusCode::OK);
    let (st, v) = s
        .srv
        .call(
            Method::PATCH,
            &format!("/v1/agents/{}", s.agent_id),
            Some(&s.human),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["is_active"], false);
    assert_eq!(s.read(&token).await, StatusCode::UNAUTHORIZED);
    let (st, _) = s
        .srv
        .post("/v1/auth/agent-token", None, json!({"api_key": s.key}))
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (_, list) = s.srv.get("/v1/agents", &s.human).await;
    assert_eq!(
        list["agents"][0]["is_active"], false,
        "a deactivated agent stays listed"
    );
    s.srv
        .call(
            Method::PATCH,
            &format!("/v1/agents/{}", s.agent_id),
            Some(&s.human),
            Some(json!({"is_active": true})),
        )
        .await;
    assert_eq!(s.read(&token).await, StatusCode::OK);
    let (_, events) = s.srv.get("/v1/audit/events?action=agent.*", &s.human).await;
    let actions: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"agent.deactivate") && actions.contains(&"agent.activate"),
        "{actions:?}"
    );
}

async fn deleted_agent_disappears_and_its_token_stops_working(db: Db) {
    let s = setup(db).await;
    let token = s.srv.agent_token(&s.key).await;
    let (st, _) = s
        .srv
        .call(
            Method::DELETE,
            &format!("/v1/agents/{}", s.agent_id),
            Some(&s.human),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(s.read(&token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.srv
            .get(&format!("/v1/agents/{}", s.agent_id), &s.human)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = s.srv.get("/v1/agents", &s.human).await;
    assert_eq!(list["agents"], json!([]));
    let (_, policies) = s
        .srv
        .get(&format!("/v1/vaults/{}/policies", s.vault), &s.human)
        .await;
    assert_eq!(policies["policies"], json!([]), "its policies are deleted");
    assert_eq!(
        s.srv
            .post("/v1/auth/agent-token", None, json!({"api_key": s.key}))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

async fn rotated_key_kills_the_old_key_at_once(db: Db) {
    let s = setup(db).await;
    let (st, v) = s
        .srv
        .post(
            &format!("/v1/agents/{}/rotate-key", s.agent_id),
            Some(&s.human),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let new_key = v["api_key"].as_str().unwrap();
    assert!(new_key.starts_with("ocv_") && new_key != s.key);
    assert!(
        v["agent"].get("api_key_prefix").is_none(),
        "AgentResponse only: {v}"
    );
    assert_eq!(
        s.srv
            .post("/v1/auth/agent-token", None, json!({"api_key": s.key}))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let token = s.srv.agent_token(new_key).await;
    assert_eq!(s.read(&token).await, StatusCode::OK);
}

async fn policy_changes_apply_to_the_next_request(db: Db) {
    let s = setup(db).await;
    let token = s.srv.agent_token(&s.key).await;
    let (_, list) = s
        .srv
        .get(&format!("/v1/vaults/{}/policies", s.vault), &s.human)
        .await;
    let policy = list["policies"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/vaults/{}/policies/{policy}", s.vault);
    // Read → write only: the read is refused, a write is allowed.
    let (st, v) = s
        .srv
        .call(
            Method::PUT,
            &path,
            Some(&s.human),
            Some(json!({"permissions": ["write"], "secret_path_pattern": "ignored/**"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["permissions"], json!(["write"]));
    assert_eq!(v["secret_path_pattern"], "app/*", "pattern cannot change");
    assert_eq!(s.read(&token).await, StatusCode::FORBIDDEN);
    let (st, _) = s
        .srv
        .put(
            &format!("/v1/vaults/{}/secrets/app/token", s.vault),
            &token,
            json!({"value": "from-agent"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    // An expired policy grants nothing.
    s.srv
        .call(
            Method::PUT,
            &path,
            Some(&s.human),
            Some(json!({"permissions": ["read"], "expires_at": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(s.read(&token).await, StatusCode::FORBIDDEN);
    s.srv
        .call(
            Method::PUT,
            &path,
            Some(&s.human),
            Some(json!({"expires_at": null})),
        )
        .await;
    assert_eq!(s.read(&token).await, StatusCode::OK);
    // A deny policy overrides the allow.
    let (st, _) = s
        .srv
        .post(&format!("/v1/vaults/{}/policies", s.vault), Some(&s.human), json!({"secret_path_pattern": "app/token", "principal_type": "agent", "principal_id": s.agent_id, "permissions": ["read"], "effect": "deny"}))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(s.read(&token).await, StatusCode::FORBIDDEN);
    // Deleting policies removes access.
    let (_, list) = s
        .srv
        .get(&format!("/v1/vaults/{}/policies", s.vault), &s.human)
        .await;
    for p in list["policies"].as_array().unwrap() {
        let (st, _) = s
            .srv
            .call(
                Method::DELETE,
                &format!(
                    "/v1/vaults/{}/policies/{}",
                    s.vault,
                    p["id"].as_str().unwrap()
                ),
                Some(&s.human),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
    }
    assert_eq!(s.read(&token).await, StatusCode::FORBIDDEN);
    // The agent cannot manage the vault's policies.
    assert_eq!(
        s.srv
            .get(&format!("/v1/vaults/{}/policies", s.vault), &token)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
}

async fn explicit_path_scopes_cap_an_agent(db: Db) {
    let s = setup(db).await;
    s.srv
        .put_secret(&s.human, &s.vault, "app/other", "other-value")
        .await;
    s.srv
        .call(
            Method::PATCH,
            &format!("/v1/agents/{}", s.agent_id),
            Some(&s.human),
            Some(json!({"scopes": ["app/token"]})),
        )
        .await;
    let token = s.srv.agent_token(&s.key).await;
    assert_eq!(s.read(&token).await, StatusCode::OK);
    let (st, _) = s
        .srv
        .get(&format!("/v1/vaults/{}/secrets/app/other", s.vault), &token)
        .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "the policy allows app/* but the scope caps at app/token"
    );
    // Label-like scopes are not a ceiling.
    s.srv
        .call(
            Method::PATCH,
            &format!("/v1/agents/{}", s.agent_id),
            Some(&s.human),
            Some(json!({"scopes": ["vaults:read"]})),
        )
        .await;
    let token = s.srv.agent_token(&s.key).await;
    assert_eq!(
        s.srv
            .get(&format!("/v1/vaults/{}/secrets/app/other", s.vault), &token)
            .await
            .0,
        StatusCode::OK
    );
}

async fn agent_bound_to_a_vault_is_refused_elsewhere(db: Db) {
    let s = setup(db).await;
    let other = s.srv.create_vault(&s.human, "other").await;
    s.srv
        .put_secret(&s.human, &other, "app/token", "other-vault")
        .await;
    s.srv
        .grant(&s.human, &other, &s.agent_id, "**", &["read"])
        .await;
    let (st, v) = s
        .srv
        .call(
            Method::PATCH,
            &format!("/v1/agents/{}", s.agent_id),
            Some(&s.human),
            Some(json!({"vault_ids": [s.vault]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let token = s.srv.agent_token(&s.key).await;
    assert_eq!(s.read(&token).await, StatusCode::OK);
    assert_eq!(
        s.srv
            .get(&format!("/v1/vaults/{other}/secrets/app/token"), &token)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.srv
            .post("/v1/vaults", Some(&token), json!({"name": "mine"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
}

on_both_databases!(enrolled_agent_gets_its_key_once_after_approval);

async fn enrolled_agent_gets_its_key_once_after_approval(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let (s, v) = srv
        .post(
            "/v1/agents/enroll",
            None,
            json!({"name": "self-made", "human_email": h.email, "description": "asks to join"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s2, v2) = srv
        .post(
            "/v1/agents/enroll",
            None,
            json!({"name": "other", "human_email": "nobody@example.com"}),
        )
        .await;
    assert_eq!(s2, StatusCode::CREATED);
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&v),
        keys(&v2),
        "same shape whether or not the email is known"
    );
    let pairing = v["pairing_id"].as_str().unwrap().to_owned();
    let poll = v["poll_token"].as_str().unwrap().to_owned();
    let status = format!("/v1/agents/enroll/{pairing}/status?poll={poll}");
    let (_, st) = srv.call(Method::GET, &status, None, None).await;
    assert_eq!(st["status"], "pending");
    assert!(st.get("api_key").is_none());
    let (_, agents) = srv.get("/v1/agents", &h.token).await;
    assert_eq!(
        agents["agents"],
        json!([]),
        "nothing exists before approval"
    );
    assert_eq!(
        srv.call(
            Method::GET,
            &format!("/v1/agents/enroll/{pairing}/status?poll=ep_wrong"),
            None,
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );

    let (s, approved) = srv
        .post(
            &format!("/v1/agents/enroll/{pairing}/approve"),
            Some(&h.token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{approved}");
    let key = approved["api_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ocv_"));
    let (_, first) = srv.call(Method::GET, &status, None, None).await;
    assert_eq!(
        (first["status"].as_str(), first["api_key"].as_str()),
        (Some("approved"), Some(key.as_str()))
    );
    let (_, second) = srv.call(Method::GET, &status, None, None).await;
    assert!(second.get("api_key").is_none(), "the key is delivered once");
    let token = srv.agent_token(&key).await;
    let (_, me) = srv.get("/v1/agents/me", &token).await;
    assert_eq!(me["id"], approved["agent_id"]);
    assert_eq!(me["created_by"], h.user_id.as_str());
    assert_eq!(
        srv.post(
            &format!("/v1/agents/enroll/{pairing}/deny"),
            Some(&h.token),
            json!({})
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    // A denied request never yields a key.
    let other = v2["pairing_id"].as_str().unwrap();
    let (_, d) = srv
        .post(
            &format!("/v1/agents/enroll/{other}/deny"),
            Some(&h.token),
            json!({}),
        )
        .await;
    assert_eq!(d["status"], "denied");
    let (_, st) = srv
        .call(
            Method::GET,
            &format!(
                "/v1/agents/enroll/{other}/status?poll={}",
                v2["poll_token"].as_str().unwrap()
            ),
            None,
            None,
        )
        .await;
    assert_eq!(st["status"], "denied");
    assert!(
        !srv.dump_storage()
            .await
            .windows(key.len())
            .any(|w| w == key.as_bytes()),
        "the key is never stored in plaintext"
    );
}

on_both_databases!(policy_conditions_limit_time_and_address);

async fn policy_conditions_limit_time_and_address(db: Db) {
    let s = setup(db).await;
    let token = s.srv.agent_token(&s.key).await;
    let (_, list) = s
        .srv
        .get(&format!("/v1/vaults/{}/policies", s.vault), &s.human)
        .await;
    let path = format!(
        "/v1/vaults/{}/policies/{}",
        s.vault,
        list["policies"][0]["id"].as_str().unwrap()
    );
    let hour = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600)
        % 24;
    let window = |from: u64| json!({"after": format!("{:02}:00", from % 24), "before": format!("{:02}:00", (from + 1) % 24), "timezone": "UTC"});
    let set = |conditions: serde_json::Value| {
        let (srv, path, human) = (&s.srv, path.clone(), s.human.clone());
        async move {
            srv.call(
                Method::PUT,
                &path,
                Some(&human),
                Some(json!({"conditions": conditions})),
            )
            .await
        }
    };
    assert_eq!(
        set(json!({"time_window": window(hour)})).await.0,
        StatusCode::OK
    );
    assert_eq!(s.read(&token).await, StatusCode::OK, "inside the window");
    assert_eq!(
        set(json!({"time_window": window(hour + 2)})).await.0,
        StatusCode::OK
    );
    assert_eq!(
        s.read(&token).await,
        StatusCode::FORBIDDEN,
        "outside the window"
    );
    assert_eq!(
        set(json!({"ip_allowlist": ["127.0.0.0/8"]})).await.0,
        StatusCode::OK
    );
    assert_eq!(
        s.read(&token).await,
        StatusCode::OK,
        "from an allowed address"
    );
    assert_eq!(
        set(json!({"ip_allowlist": ["203.0.113.0/24"]})).await.0,
        StatusCode::OK
    );
    assert_eq!(
        s.read(&token).await,
        StatusCode::FORBIDDEN,
        "from another address"
    );
    assert_eq!(set(json!({"time_window": {"after": "08:00", "before": "20:00", "timezone": "Mars/Olympus"}})).await.0, StatusCode::BAD_REQUEST);
}
