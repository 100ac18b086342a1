//! 1claw's Go SDK decodes these models with `DisallowUnknownFields`: every response whose
//! schema is one of them must carry only that schema's properties. Each response is checked
//! against 1claw's OpenAPI (`spec/openapi-core.json`, the upstream document cut to Talon's
//! scope) with `additionalProperties: false` forced onto those models, by a small checker that
//! follows `$ref`, `properties`, `required`, `items`, `type`, `enum`, `nullable`, `anyOf`,
//! `oneOf`, `allOf` and the `uuid` and `date-time` formats. A null passes only where the
//! schema says `nullable`.

use crate::common::{Db, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::OnceLock;

on_both_databases!(
    every_response_of_a_strict_model_carries_only_schema_fields,
    agent_token_names_the_agent_only_when_the_request_did_not,
);

/// The models 1claw's Go SDK decodes strictly.
const STRICT: &[&str] = &[
    "TokenResponse",
    "VaultResponse",
    "SecretMetadataResponse",
    "SecretCreatedResponse",
    "SecretResponse",
    "AgentResponse",
    "PolicyResponse",
];

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        serde_json::from_str(include_str!("spec/openapi-core.json")).expect("openapi-core.json")
    })
}

fn component(name: &str) -> &'static Value {
    spec()["components"]["schemas"]
        .get(name)
        .unwrap_or_else(|| panic!("no schema {name}"))
}

/// The 200 schema of an operation in the document (for inline schemas).
fn operation_schema(path: &str, method: &str, status: &str) -> &'static Value {
    &spec()["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
}

/// Checks `v` against `schema`; `strict` forces `additionalProperties: false` on this object.
fn check(schema: &Value, v: &Value, strict: bool, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or_default();
        check(component(name), v, STRICT.contains(&name), at, errors);
        return;
    }
    for (key, all) in [("anyOf", false), ("oneOf", false), ("allOf", true)] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let passing = branches
                .iter()
                .filter(|b| {
                    let mut e = Vec::new();
                    check(b, v, strict, at, &mut e);
                    e.is_empty()
                })
                .count();
            let ok = if all {
                passing == branches.len()
            } else {
                passing > 0
            };
            if !ok {
                errors.push(format!("{at}: does not match {key} of {schema}"));
            }
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if v.is_null() {
        let nullable =
            schema.get("nullable") == Some(&Value::Bool(true)) || types.contains(&"null");
        if !types.is_empty() && !nullable {
            errors.push(format!("{at}: null where the schema does not allow it"));
        }
        return;
    }
    let kind = match v {
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => unreachable!(),
    };
    let type_ok = types.is_empty()
        || types.contains(&kind)
        || (kind == "integer" && types.contains(&"number"));
    if !type_ok {
        errors.push(format!("{at}: {kind}, schema wants {types:?}"));
        return;
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(v) {
            errors.push(format!("{at}: {v} not in {options:?}"));
        }
    }
    if let (Some(format), Some(s)) = (schema.get("format").and_then(Value::as_str), v.as_str()) {
        let ok = match format {
            "uuid" => uuid::Uuid::parse_str(s).is_ok() && s == s.to_lowercase(),
            "date-time" => {
                s.len() >= 20
                    && s.as_bytes()[10] == b'T'
                    && (s.ends_with('Z') || s[19..].contains(['+', '-']))
            }
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: {s:?} is not a {format}"));
        }
    }
    match v {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !map.contains_key(req) {
                    errors.push(format!("{at}: required property {req:?} is missing"));
                }
            }
            for (k, item) in map {
                let here = format!("{at}.{k}");
                match props.and_then(|p| p.get(k)) {
                    Some(s) => check(s, item, false, &here, errors),
                    None if strict => errors.push(format!("{here}: not a property of the schema")),
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            errors.push(format!("{here}: additional property refused"))
                        }
                        Some(s @ Value::Object(_)) => check(s, item, false, &here, errors),
                        _ => {}
                    },
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(s, item, false, &format!("{at}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

/// Asserts that `v` is valid against `schema` (a `$ref` or an inline schema, forced strict).
fn assert_shape(what: &str, schema: &Value, v: &Value) {
    let mut errors = Vec::new();
    check(schema, v, true, "$", &mut errors);
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{v:#}");
}

fn model(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// Calls and asserts the status; returns the body.
async fn ok(
    srv: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    status: StatusCode,
) -> Value {
    let (s, v) = srv.call(method.clone(), path, token, body).await;
    assert_eq!(s, status, "{method} {path}: {v}");
    v
}

/// The items of a list response are validated through the list schema's `items` `$ref`.
fn assert_list(what: &str, list_model: &str, key: &str, v: &Value, at_least: usize) {
    assert!(
        v[key].as_array().is_some_and(|a| a.len() >= at_least),
        "{what}: {key} holds at least {at_least}: {v}"
    );
    assert_shape(what, &model(list_model), v);
}

async fn every_response_of_a_strict_model_carries_only_schema_fields(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let t = Some(h.token.as_str());

    // The three token exchanges and the public key.
    let login = ok(
        &srv,
        Method::POST,
        "/v1/auth/token",
        None,
        Some(json!({"email": h.email, "password": crate::common::PASSWORD})),
        StatusCode::OK,
    )
    .await;
    assert_shape("login", &model("TokenResponse"), &login);
    assert_shape(
        "login",
        operation_schema("/v1/auth/token", "post", "200"),
        &login,
    );
    let refreshed = ok(
        &srv,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": login["refresh_token"]})),
        StatusCode::OK,
    )
    .await;
    assert_shape("refresh", &model("TokenResponse"), &refreshed);
    let key = ok(
        &srv,
        Method::POST,
        "/v1/auth/api-keys",
        t,
        Some(json!({"name": "k"})),
        StatusCode::CREATED,
    )
    .await;
    let exchanged = ok(
        &srv,
        Method::POST,
        "/v1/auth/api-key-token",
        None,
        Some(json!({"api_key": key["api_key"]})),
        StatusCode::OK,
    )
    .await;
    assert_shape("api-key-token", &model("TokenResponse"), &exchanged);
    let (s, public) = srv
        .call(Method::GET, "/v1/auth/jwt-public-key", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_shape(
        "jwt-public-key",
        operation_schema("/v1/auth/jwt-public-key", "get", "200"),
        &public,
    );

    // Vaults: create, get, list.
    let vault = ok(
        &srv,
        Method::POST,
        "/v1/vaults",
        t,
        Some(json!({"name": "shapes", "description": "d"})),
        StatusCode::CREATED,
    )
    .await;
    assert_shape("vault create", &model("VaultResponse"), &vault);
    let vid = vault["id"].as_str().unwrap().to_owned();
    ok(
        &srv,
        Method::POST,
        "/v1/vaults",
        t,
        Some(json!({"name": "bare"})),
        StatusCode::CREATED,
    )
    .await;
    let got = ok(
        &srv,
        Method::GET,
        &format!("/v1/vaults/{vid}"),
        t,
        None,
        StatusCode::OK,
    )
    .await;
    assert_shape("vault get", &model("VaultResponse"), &got);

    // Secrets: put (plain, and with every optional field), get, metadata list, versions,
    // version read, rotate.
    let plain = ok(
        &srv,
        Method::PUT,
        &format!("/v1/vaults/{vid}/secrets/app/plain"),
        t,
        Some(json!({"value": "v1"})),
        StatusCode::CREATED,
    )
    .await;
    let full = ok(&srv, Method::PUT, &format!("/v1/vaults/{vid}/secrets/app/full"), t, Some(json!({"value": "v2", "type": "api_key", "metadata": {"team": "x"}, "expires_at": "2099-01-01T00:00:00Z", "max_access_count": 50})), StatusCode::CREATED).await;
    for (what, v) in [("put", &plain), ("put with limits", &full)] {
        assert_shape(
            what,
            operation_schema("/v1/vaults/{vault_id}/secrets/{path}", "put", "201"),
            v,
        );
        assert_shape(what, &model("SecretMetadataResponse"), v);
    }
    ok(
        &srv,
        Method::PUT,
        &format!("/v1/vaults/{vid}/secrets/app/full"),
        t,
        Some(json!({"value": "v2b"})),
        StatusCode::CREATED,
    )
    .await;
    for path in ["app/plain", "app/full"] {
        let read = ok(
            &srv,
            Method::GET,
            &format!("/v1/vaults/{vid}/secrets/{path}"),
            t,
            None,
            StatusCode::OK,
        )
        .await;
        assert_shape("secret get", &model("SecretResponse"), &read);
        let read = ok(
            &srv,
            Method::GET,
            &format!("/v1/vaults/{vid}/secret-version/{path}/1"),
            t,
            None,
            StatusCode::OK,
        )
        .await;
        assert_shape("secret version get", &model("SecretResponse"), &read);
        let versions = ok(
            &srv,
            Method::GET,
            &format!("/v1/vaults/{vid}/secret-versions/{path}"),
            t,
            None,
            StatusCode::OK,
        )
        .await;
        assert_list(
            "versions",
            "SecretVersionListResponse",
            "versions",
            &versions,
            1,
        );
    }
    let list = ok(
        &srv,
        Method::GET,
        &format!("/v1/vaults/{vid}/secrets"),
        t,
        None,
        StatusCode::OK,
    )
    .await;
    assert_list("secret list", "SecretListResponse", "secrets", &list, 2);
    let rotated = ok(
        &srv,
        Method::POST,
        &format!("/v1/vaults/{vid}/secret-rotate/app/plain"),
        t,
        Some(json!({})),
        StatusCode::CREATED,
    )
    .await;
    assert_shape(
        "rotate",
        operation_schema("/v1/vaults/{vault_id}/secret-rotate/{path}", "post", "201"),
        &rotated,
    );

    // Agents: create (plain and with every optional field), get, list, patch, rotate-key.
    let created = ok(
        &srv,
        Method::POST,
        "/v1/agents",
        t,
        Some(json!({"name": "a1"})),
        StatusCode::CREATED,
    )
    .await;
    assert_shape("agent create", &model("AgentCreatedResponse"), &created);
    let full = ok(&srv, Method::POST, "/v1/agents", t, Some(json!({"name": "a2", "description": "d", "scopes": ["vaults:read"], "vault_ids": [vid], "token_ttl_seconds": 600, "expires_at": "2099-01-01T00:00:00Z", "api_key_expires_at": "2099-01-01T00:00:00Z"})), StatusCode::CREATED).await;
    assert_shape(
        "agent create with options",
        &model("AgentCreatedResponse"),
        &full,
    );
    let aid = created["agent"]["id"].as_str().unwrap().to_owned();
    srv.agent_token(created["api_key"].as_str().unwrap()).await; // sets last_active_at
    let got = ok(
        &srv,
        Method::GET,
        &format!("/v1/agents/{aid}"),
        t,
        None,
        StatusCode::OK,
    )
    .await;
    assert!(got["last_active_at"].is_string(), "{got}");
    assert_shape("agent get", &model("AgentResponse"), &got);
    let list = ok(&srv, Method::GET, "/v1/agents", t, None, StatusCode::OK).await;
    assert_list("agent list", "AgentListResponse", "agents", &list, 2);
    let patched = ok(
        &srv,
        Method::PATCH,
        &format!("/v1/agents/{aid}"),
        t,
        Some(json!({"name": "renamed", "is_active": false, "token_ttl_seconds": null})),
        StatusCode::OK,
    )
    .await;
    assert_shape("agent patch", &model("AgentResponse"), &patched);
    let rotated = ok(
        &srv,
        Method::POST,
        &format!("/v1/agents/{aid}/rotate-key"),
        t,
        None,
        StatusCode::OK,
    )
    .await;
    assert_shape("agent rotate-key", &model("AgentCreatedResponse"), &rotated);

    // Policies: create (plain and with every optional field), list, update.
    let policy = ok(&srv, Method::POST, &format!("/v1/vaults/{vid}/policies"), t, Some(json!({"secret_path_pattern": "app/*", "principal_type": "agent", "principal_id": aid, "permissions": ["read"]})), StatusCode::CREATED).await;
    assert_shape("policy create", &model("PolicyResponse"), &policy);
    let fuller = ok(&srv, Method::POST, &format!("/v1/vaults/{vid}/policies"), t, Some(json!({"secret_path_pattern": "db/**", "principal_type": "user", "principal_id": h.user_id, "permissions": ["read", "write"], "conditions": {"ip_allowlist": ["10.0.0.0/8"]}, "expires_at": "2099-01-01T00:00:00Z", "effect": "deny", "priority": 3})), StatusCode::CREATED).await;
    assert_shape(
        "policy create with options",
        &model("PolicyResponse"),
        &fuller,
    );
    let pid = policy["id"].as_str().unwrap();
    let updated = ok(
        &srv,
        Method::PUT,
        &format!("/v1/vaults/{vid}/policies/{pid}"),
        t,
        Some(json!({"permissions": ["read", "write"], "priority": 2})),
        StatusCode::OK,
    )
    .await;
    assert_shape("policy update", &model("PolicyResponse"), &updated);
    let list = ok(
        &srv,
        Method::GET,
        &format!("/v1/vaults/{vid}/policies"),
        t,
        None,
        StatusCode::OK,
    )
    .await;
    assert_list("policy list", "PolicyListResponse", "policies", &list, 2);

    // The vault list last, with secrets in it.
    let list = ok(&srv, Method::GET, "/v1/vaults", t, None, StatusCode::OK).await;
    assert_list("vault list", "VaultListResponse", "vaults", &list, 2);

    // The checker itself refuses what these models must not carry.
    let mut errors = Vec::new();
    let mut extra = got.clone();
    extra["org_id"] = json!(h.org_id);
    check(&model("AgentResponse"), &extra, true, "$", &mut errors);
    let mut null_time = plain.clone();
    null_time["expires_at"] = Value::Null;
    check(
        &model("SecretMetadataResponse"),
        &null_time,
        true,
        "$",
        &mut errors,
    );
    assert_eq!(errors.len(), 2, "{errors:#?}");
}

async fn agent_token_names_the_agent_only_when_the_request_did_not(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let (aid, key) = srv.create_agent(&h.token, "bot").await;

    // Without agent_id: the schema plus `agent_id`, which 1claw's Python SDK learns it from.
    let v = ok(
        &srv,
        Method::POST,
        "/v1/auth/agent-token",
        None,
        Some(json!({"api_key": key})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["agent_id"], aid.as_str(), "{v}");
    let mut token_and_agent = component("TokenResponse").clone();
    token_and_agent["properties"]["agent_id"] = json!({"type": "string", "format": "uuid"});
    assert_shape("agent-token without agent_id", &token_and_agent, &v);

    // With agent_id: exactly the schema.
    let v = ok(
        &srv,
        Method::POST,
        "/v1/auth/agent-token",
        None,
        Some(json!({"api_key": key, "agent_id": aid})),
        StatusCode::OK,
    )
    .await;
    assert!(v.get("agent_id").is_none(), "{v}");
    assert_shape("agent-token with agent_id", &model("TokenResponse"), &v);

    // The org, scopes and vault binding are claims of the token.
    let claims = crate::common::jwt_claims(v["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], format!("agent:{aid}"));
    assert_eq!(claims["org_id"], h.org_id.as_str());
    assert!(
        claims["vault_ids"].is_array() && claims["scopes"].is_array(),
        "{claims}"
    );
}
