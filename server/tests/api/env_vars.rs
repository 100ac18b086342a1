//! Environment variables and environments of a vault (API.md §8.17): sealed values,
//! versions, branch overrides, policies on `env/<environment>/<KEY>`, and values kept out of
//! storage and the audit log.

use crate::common::{contains, Db, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_databases!(
    env_vars_push_resolve_override_patch_and_delete,
    an_agent_bound_to_production_reads_it_and_is_refused_preview,
    environments_are_built_in_custom_copied_and_deleted,
    bad_env_var_input_is_refused_with_a_problem
);

async fn create(srv: &TestServer, token: &str, vault: &str, body: Value) -> Value {
    let (s, v) = srv
        .post(&format!("/v1/vaults/{vault}/env-vars"), Some(token), body)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

async fn delete(srv: &TestServer, token: &str, path: &str) -> StatusCode {
    srv.call(Method::DELETE, path, Some(token), None).await.0
}

async fn resolve(srv: &TestServer, token: &str, vault: &str, query: &str) -> (StatusCode, Value) {
    srv.get(
        &format!("/v1/vaults/{vault}/env-vars/resolve?{query}"),
        token,
    )
    .await
}

async fn env_vars_push_resolve_override_patch_and_delete(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let v = srv.create_vault(&h.token, "app").await;
    let db_url = create(
        &srv,
        &h.token,
        &v,
        json!({"key": "DATABASE_URL", "value": "postgres://db-value-4411"}),
    )
    .await;
    assert_eq!(
        db_url["environments"],
        json!(["development", "preview", "production"])
    );
    assert_eq!(db_url["version"], 1);
    assert!(db_url["value"].is_null(), "a write never echoes the value");
    create(
        &srv,
        &h.token,
        &v,
        json!({"key": "API_KEY", "value": "prod-key-5512", "environments": ["production"]}),
    )
    .await;
    create(
        &srv,
        &h.token,
        &v,
        json!({"key": "API_KEY", "value": "preview-key-6613", "environments": ["preview"], "sensitive": true}),
    )
    .await;
    create(
        &srv,
        &h.token,
        &v,
        json!({"key": "API_KEY", "value": "branch-key-7714", "environments": ["preview"], "git_branch": "feature/x"}),
    )
    .await;
    // The same key, environment and branch twice is a conflict.
    let (s, dup) = srv
        .post(
            &format!("/v1/vaults/{v}/env-vars"),
            Some(&h.token),
            json!({"key": "API_KEY", "value": "again", "environments": ["production"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{dup}");

    let (s, prod) = resolve(&srv, &h.token, &v, "environment=production").await;
    assert_eq!(s, StatusCode::OK, "{prod}");
    assert_eq!(
        prod["vars"],
        json!({"API_KEY": "prod-key-5512", "DATABASE_URL": "postgres://db-value-4411"})
    );
    assert_eq!(
        prod["variables"], prod["vars"],
        "1claw's CLI reads `variables`"
    );
    assert_eq!(
        prod["sources"],
        json!({"API_KEY": "vault", "DATABASE_URL": "vault"})
    );
    assert_eq!(prod["environment"], "production");

    let (_, preview) = resolve(&srv, &h.token, &v, "environment=preview").await;
    assert_eq!(preview["vars"]["API_KEY"], "preview-key-6613");
    let (_, branch) = resolve(
        &srv,
        &h.token,
        &v,
        "environment=preview&git_branch=feature/x",
    )
    .await;
    assert_eq!(branch["vars"]["API_KEY"], "branch-key-7714");
    assert_eq!(branch["sources"]["API_KEY"], "branch_override");
    assert_eq!(branch["sources"]["DATABASE_URL"], "vault");
    assert_eq!(branch["git_branch"], "feature/x");

    // A list shows values except sensitive ones.
    let (s, list) = srv
        .get(
            &format!("/v1/vaults/{v}/env-vars?environment=preview"),
            &h.token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let rows = list["env_vars"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{list}");
    let sensitive = rows
        .iter()
        .find(|r| r["sensitive"] == true)
        .expect("the sensitive one");
    assert!(sensitive["value"].is_null());
    assert!(rows
        .iter()
        .any(|r| r["value"] == "postgres://db-value-4411"));

    // PATCH with a value makes a new version.
    let (s, patched) = srv
        .call(
            Method::PATCH,
            &format!("/v1/vaults/{v}/env-vars/API_KEY?environment=production"),
            Some(&h.token),
            Some(json!({"value": "prod-key-8815", "comment": "rotated"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{patched}");
    assert_eq!(
        (patched["version"].as_i64(), patched["comment"].as_str()),
        (Some(2), Some("rotated"))
    );
    let (s, one) = srv
        .get(
            &format!("/v1/vaults/{v}/env-vars/API_KEY?environment=production"),
            &h.token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(
        (one["value"].as_str(), one["version"].as_i64()),
        (Some("prod-key-8815"), Some(2))
    );
    // Without an environment the key is ambiguous here.
    let (s, which) = srv
        .get(&format!("/v1/vaults/{v}/env-vars/API_KEY"), &h.token)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{which}");

    // Deleting from one environment keeps the others; deleting the last removes the variable.
    let s = delete(
        &srv,
        &h.token,
        &format!("/v1/vaults/{v}/env-vars/DATABASE_URL?environment=development"),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, dev) = resolve(&srv, &h.token, &v, "environment=development").await;
    assert!(dev["vars"].get("DATABASE_URL").is_none(), "{dev}");
    let (_, prod) = resolve(&srv, &h.token, &v, "environment=production").await;
    assert_eq!(prod["vars"]["DATABASE_URL"], "postgres://db-value-4411");
    let s = delete(
        &srv,
        &h.token,
        &format!("/v1/vaults/{v}/env-vars/API_KEY?environment=production"),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, prod) = resolve(&srv, &h.token, &v, "environment=production").await;
    assert_eq!(
        prod["vars"],
        json!({"DATABASE_URL": "postgres://db-value-4411"})
    );
    assert_eq!(
        srv.get(
            &format!("/v1/vaults/{v}/env-vars/API_KEY?environment=production"),
            &h.token
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );

    // Env vars are not secrets of the vault's secret list.
    let (_, secrets) = srv.get(&format!("/v1/vaults/{v}/secrets"), &h.token).await;
    assert_eq!(secrets["secrets"], json!([]), "{secrets}");

    // Reads are audited by key and version; no value is in the log or in storage.
    let (_, events) = srv.get("/v1/audit/events?limit=200", &h.token).await;
    let actions: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "env_var.create",
        "env_var.update",
        "env_var.delete",
        "env_var.read",
        "env_var.resolve",
        "env_var.list",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    let log = events.to_string();
    let dump = srv.dump_storage().await;
    for value in [
        "postgres://db-value-4411",
        "prod-key-5512",
        "preview-key-6613",
        "branch-key-7714",
        "prod-key-8815",
    ] {
        assert!(!log.contains(value), "{value} is in the audit log");
        assert!(!contains(&dump, value.as_bytes()), "{value} is in storage");
    }
}

async fn an_agent_bound_to_production_reads_it_and_is_refused_preview(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let v = srv.create_vault(&h.token, "app").await;
    create(
        &srv,
        &h.token,
        &v,
        json!({"key": "TOKEN", "value": "prod-token-1", "environments": ["production"]}),
    )
    .await;
    create(
        &srv,
        &h.token,
        &v,
        json!({"key": "TOKEN", "value": "preview-token-2", "environments": ["preview"]}),
    )
    .await;
    let (agent, key) = srv.create_agent(&h.token, "deployer").await;
    srv.grant(&h.token, &v, &agent, "env/production/**", &["read"])
        .await;
    // Tagged with production, the agent's resolve needs no environment.
    let (s, tagged) = srv
        .call(
            Method::PATCH,
            &format!("/v1/agents/{agent}"),
            Some(&h.token),
            Some(json!({"environment": "production"})),
        )
        .await;
    assert_eq!(
        (s, tagged["environment"].as_str()),
        (StatusCode::OK, Some("production")),
        "{tagged}"
    );
    let t = srv.agent_token(&key).await;

    let (s, mine) = resolve(&srv, &t, &v, "").await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    assert_eq!(
        (mine["environment"].as_str(), &mine["vars"]),
        (Some("production"), &json!({"TOKEN": "prod-token-1"}))
    );
    let (s, one) = srv
        .get(
            &format!("/v1/vaults/{v}/env-vars/TOKEN?environment=production"),
            &t,
        )
        .await;
    assert_eq!(
        (s, one["value"].as_str()),
        (StatusCode::OK, Some("prod-token-1"))
    );

    let (s, refused) = resolve(&srv, &t, &v, "environment=preview").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{refused}");
    assert!(!refused.to_string().contains("preview-token-2"));
    let (s, _) = srv
        .get(
            &format!("/v1/vaults/{v}/env-vars/TOKEN?environment=preview"),
            &t,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Its list holds only what it may read.
    let (_, list) = srv.get(&format!("/v1/vaults/{v}/env-vars"), &t).await;
    let values: Vec<&str> = list["env_vars"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["value"].as_str())
        .collect();
    assert_eq!(values, vec!["prod-token-1"], "{list}");
    // Read access is not write access.
    let (s, _) = srv
        .call(
            Method::PATCH,
            &format!("/v1/vaults/{v}/env-vars/TOKEN?environment=production"),
            Some(&t),
            Some(json!({"value": "stolen"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Untagged, an agent must name the environment.
    let (s, untagged) = srv
        .call(
            Method::PATCH,
            &format!("/v1/agents/{agent}"),
            Some(&h.token),
            Some(json!({"environment": null})),
        )
        .await;
    assert_eq!(
        (s, &untagged["environment"]),
        (StatusCode::OK, &Value::Null)
    );
    let (s, _) = resolve(&srv, &t, &v, "").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

async fn environments_are_built_in_custom_copied_and_deleted(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let v = srv.create_vault(&h.token, "app").await;
    let (s, list) = srv
        .get(&format!("/v1/vaults/{v}/environments"), &h.token)
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let slugs: Vec<&str> = list["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, vec!["production", "preview", "development"]);
    assert!(list["environments"][0]["is_builtin"] == true);

    create(
        &srv,
        &h.token,
        &v,
        json!({"key": "REGION", "value": "eu-west-1", "environments": ["production"]}),
    )
    .await;
    // An unknown environment is refused.
    let (s, bad) = srv
        .post(
            &format!("/v1/vaults/{v}/env-vars"),
            Some(&h.token),
            json!({"key": "X", "value": "y", "environments": ["staging"]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");

    let (s, staging) = srv
        .post(
            &format!("/v1/vaults/{v}/environments"),
            Some(&h.token),
            json!({"slug": "staging", "description": "pre-prod", "copy_from": "production"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{staging}");
    assert_eq!(
        (
            staging["is_builtin"].as_bool(),
            staging["copied_from"].as_str()
        ),
        (Some(false), Some("production"))
    );
    let (_, st) = resolve(&srv, &h.token, &v, "environment=staging").await;
    assert_eq!(st["vars"], json!({"REGION": "eu-west-1"}));
    let (s, _) = srv
        .post(
            &format!("/v1/vaults/{v}/environments"),
            Some(&h.token),
            json!({"slug": "staging"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    for bad in ["Staging", "", "a_b"] {
        let (s, p) = srv
            .post(
                &format!("/v1/vaults/{v}/environments"),
                Some(&h.token),
                json!({"slug": bad}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {p}");
    }

    // A new KEK re-wraps env-var values like secrets: they still resolve.
    let (s, rotated) = srv
        .call(
            Method::POST,
            &format!("/v1/vaults/{v}/rotate-key"),
            Some(&h.token),
            None,
        )
        .await;
    assert!(s.is_success(), "{rotated}");
    let (_, st) = resolve(&srv, &h.token, &v, "environment=production").await;
    assert_eq!(st["vars"], json!({"REGION": "eu-west-1"}));

    let s = delete(
        &srv,
        &h.token,
        &format!("/v1/vaults/{v}/environments/production"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "built-ins stay");
    let s = delete(
        &srv,
        &h.token,
        &format!("/v1/vaults/{v}/environments/staging"),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let s = delete(
        &srv,
        &h.token,
        &format!("/v1/vaults/{v}/environments/staging"),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = srv
        .get(&format!("/v1/vaults/{v}/environments"), &h.token)
        .await;
    assert_eq!(list["environments"].as_array().unwrap().len(), 3);
    // The variable still applies where it did before the copy.
    let (_, one) = srv
        .get(&format!("/v1/vaults/{v}/env-vars/REGION"), &h.token)
        .await;
    assert_eq!(one["environments"], json!(["production"]), "{one}");

    // Only vault administrators manage environments.
    let member = srv.join(&h.token, "member").await;
    let (s, _) = srv
        .post(
            &format!("/v1/vaults/{v}/environments"),
            Some(&member.token),
            json!({"slug": "qa"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

async fn bad_env_var_input_is_refused_with_a_problem(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let v = srv.create_vault(&h.token, "app").await;
    for (body, field) in [
        (json!({"key": "lower", "value": "x"}), "key"),
        (json!({"key": "9LIVES", "value": "x"}), "key"),
        (
            json!({"key": "OK", "value": "x", "environments": []}),
            "environments",
        ),
        (
            json!({"key": "OK", "value": "x", "environments": ["Prod"]}),
            "environments",
        ),
    ] {
        let (s, p) = srv
            .post(&format!("/v1/vaults/{v}/env-vars"), Some(&h.token), body)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
        assert!(p["fields"].get(field).is_some(), "{field}: {p}");
    }
    let (s, p) = srv
        .post(
            &format!("/v1/vaults/{v}/env-vars"),
            Some(&h.token),
            json!({"key": "NO_VALUE"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
    let (s, _) = srv
        .get(&format!("/v1/vaults/{v}/env-vars/MISSING"), &h.token)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, p) = resolve(&srv, &h.token, &v, "").await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "a human names the environment: {p}"
    );
    let (s, _) = srv.get("/v1/vaults/not-a-uuid/env-vars", &h.token).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
