//! API integration tests: the real `talon` binary, a real SoftHSM token, SQLite and PostgreSQL.

use crate::common::{self, contains, Db, TestServer, PASSWORD};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;

/// A human with a vault holding `api-keys/openai`, and an agent granted read on `api-keys/**`.
struct World {
    srv: TestServer,
    human: String,
    vault: String,
    agent_id: String,
    agent: String,
}

const VALUE: &str = "sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c";

async fn world(db: Db) -> World {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "production").await;
    srv.put_secret(&h.token, &vault, "api-keys/openai", VALUE)
        .await;
    let (agent_id, key) = srv.create_agent(&h.token, "deploy-bot").await;
    assert!(key.starts_with("ocv_"));
    srv.grant(&h.token, &vault, &agent_id, "api-keys/**", &["read"])
        .await;
    let agent = srv.agent_token(&key).await;
    World {
        srv,
        human: h.token,
        vault,
        agent_id,
        agent,
    }
}

on_both_databases!(
    agent_reads_a_secret_it_was_granted,
    agent_outside_its_glob_is_denied,
    agent_is_denied_on_another_vault,
    agent_with_read_cannot_write,
    storage_dump_holds_no_plaintext_value,
    flipped_ciphertext_byte_fails_to_decrypt,
    ciphertext_copied_to_another_path_fails_to_decrypt,
    vault_kek_is_non_extractable_and_sensitive_in_the_token,
    secrets_stay_readable_after_a_restart,
    wrong_password_and_tampered_tokens_are_unauthorized,
    audit_records_reads_writes_and_denials_without_values,
    bad_input_gets_problem_details_never_500,
    listing_secrets_returns_metadata_only,
    agent_key_exchange_names_the_agent_and_rejects_wrong_keys,
    jwks_publishes_the_key_that_verifies_tokens,
    org_cannot_see_another_orgs_vault,
);

async fn agent_reads_a_secret_it_was_granted(db: Db) {
    let w = world(db).await;
    let (s, v) = w
        .srv
        .get(
            &format!("/v1/vaults/{}/secrets/api-keys/openai", w.vault),
            &w.agent,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["value"], VALUE);
    assert_eq!(v["path"], "api-keys/openai");
    assert_eq!(v["version"], 1);
    assert_eq!(v["type"], "generic");
    assert!(v.get("access_count").is_none(), "SecretResponse only: {v}");
    let details = w
        .srv
        .secret_details(&w.human, &w.vault, "api-keys/openai")
        .await;
    assert_eq!(details["access_count"], 1, "{details}");
    let (s, me) = w.srv.get("/v1/agents/me", &w.agent).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["id"], w.agent_id.as_str());
    // A second version is what the agent reads next.
    w.srv
        .put_secret(&w.human, &w.vault, "api-keys/openai", "sk-rotated")
        .await;
    let (_, v) = w
        .srv
        .get(
            &format!("/v1/vaults/{}/secrets/api-keys/openai", w.vault),
            &w.agent,
        )
        .await;
    assert_eq!(v["value"], "sk-rotated");
    assert_eq!(v["version"], 2);
}

async fn agent_outside_its_glob_is_denied(db: Db) {
    let w = world(db).await;
    w.srv
        .put_secret(&w.human, &w.vault, "db/password", "hunter2-hunter2")
        .await;
    for path in ["db/password", "api-keysX/openai", "never/written"] {
        let (s, v) = w
            .srv
            .get(&format!("/v1/vaults/{}/secrets/{path}", w.vault), &w.agent)
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {v}");
        assert_eq!(v["status"], 403);
        assert!(!v.to_string().contains("hunter2"));
    }
}

async fn agent_is_denied_on_another_vault(db: Db) {
    let w = world(db).await;
    let other = w.srv.create_vault(&w.human, "staging").await;
    w.srv
        .put_secret(&w.human, &other, "api-keys/openai", "sk-staging")
        .await;
    let (s, v) = w
        .srv
        .get(
            &format!("/v1/vaults/{other}/secrets/api-keys/openai"),
            &w.agent,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, _) = w.srv.get(&format!("/v1/vaults/{other}"), &w.agent).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, list) = w.srv.get("/v1/vaults", &w.agent).await;
    let ids: Vec<&str> = list["vaults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![w.vault.as_str()]);
}

async fn agent_with_read_cannot_write(db: Db) {
    let w = world(db).await;
    let (s, v) = w
        .srv
        .put(
            &format!("/v1/vaults/{}/secrets/api-keys/openai", w.vault),
            &w.agent,
            json!({"value": "evil"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, _) = w
        .srv
        .call(
            Method::DELETE,
            &format!("/v1/vaults/{}/secrets/api-keys/openai", w.vault),
            Some(&w.agent),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, v) = w
        .srv
        .get(
            &format!("/v1/vaults/{}/secrets/api-keys/openai", w.vault),
            &w.agent,
        )
        .await;
    assert_eq!(v["value"], VALUE, "the value is unchanged");
}

async fn storage_dump_holds_no_plaintext_value(db: Db) {
    let w = world(db).await;
    let marker = "PLAINTEXT-MARKER-7d1e0b9c";
    w.srv
        .put_secret(&w.human, &w.vault, "api-keys/marker", marker)
        .await;
    let (s, _) = w
        .srv
        .get(
            &format!("/v1/vaults/{}/secrets/api-keys/marker", w.vault),
            &w.agent,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let dump = w.srv.dump_storage().await;
    assert!(
        contains(&dump, b"api-keys/marker"),
        "the dump covers the secrets table"
    );
    for needle in [
        marker.as_bytes().to_vec(),
        VALUE.as_bytes().to_vec(),
        hex(marker.as_bytes()).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(marker)
            .into_bytes(),
    ] {
        assert!(!contains(&dump, &needle), "plaintext found in storage");
    }
    // Agent keys are stored only as keyed hashes.
    let key = w.srv.create_agent(&w.human, "second").await.1;
    let dump = w.srv.dump_storage().await;
    assert!(!contains(&dump, key.as_bytes()));
    assert!(!contains(&dump, &key.as_bytes()[12..]));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn flipped_ciphertext_byte_fails_to_decrypt(db: Db) {
    let w = world(db).await;
    let pool = w.srv.db_pool().await;
    let row = sqlx::query("SELECT v.secret_id, v.ciphertext FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.path = $1")
        .bind("api-keys/openai")
        .fetch_one(&pool)
        .await
        .unwrap();
    let id: String = row.get("secret_id");
    let mut ct: Vec<u8> = row.get("ciphertext");
    ct[3] ^= 0x01;
    sqlx::query("UPDATE secret_versions SET ciphertext = $1 WHERE secret_id = $2")
        .bind(ct)
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    let (s, v) = w
        .srv
        .get(
            &format!("/v1/vaults/{}/secrets/api-keys/openai", w.vault),
            &w.agent,
        )
        .await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    assert!(v.get("value").is_none());
    assert!(v["detail"]
        .as_str()
        .unwrap()
        .starts_with("Internal error, reference "));
}

async fn ciphertext_copied_to_another_path_fails_to_decrypt(db: Db) {
    let w = world(db).await;
    w.srv
        .put_secret(&w.human, &w.vault, "api-keys/other", "sk-other-value")
        .await;
    let pool = w.srv.db_pool().await;
    let src = sqlx::query("SELECT v.ciphertext, v.nonce, v.wrapped_dek FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.path = $1")
        .bind("api-keys/openai")
        .fetch_one(&pool)
        .await
        .unwrap();
    let dst: String = sqlx::query_scalar("SELECT id FROM secrets WHERE path = $1")
        .bind("api-keys/other")
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE secret_versions SET ciphertext = $1, nonce = $2, wrapped_dek = $3 WHERE secret_id = $4")
        .bind(src.get::<Vec<u8>, _>("ciphertext"))
        .bind(src.get::<Vec<u8>, _>("nonce"))
        .bind(src.get::<Vec<u8>, _>("wrapped_dek"))
        .bind(&dst)
        .execute(&pool)
        .await
        .unwrap();
    let (s, v) = w
        .srv
        .get(
            &format!("/v1/vaults/{}/secrets/api-keys/other", w.vault),
            &w.agent,
        )
        .await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    assert!(!v.to_string().contains(VALUE));
    // The original row is untouched and still opens.
    let (s, v) = w
        .srv
        .get(
            &format!("/v1/vaults/{}/secrets/api-keys/openai", w.vault),
            &w.agent,
        )
        .await;
    assert_eq!((s, v["value"].as_str()), (StatusCode::OK, Some(VALUE)));
}

async fn vault_kek_is_non_extractable_and_sensitive_in_the_token(db: Db) {
    let w = world(db).await;
    let pin = std::fs::read_to_string(w.srv.hsm_dir().join("pin")).unwrap();
    let out = std::process::Command::new("pkcs11-tool")
        .args([
            "--module",
            "/usr/lib/softhsm/libsofthsm2.so",
            "--token-label",
            "talon",
            "--login",
            "--pin",
        ])
        .arg(pin.trim())
        .args(["--list-objects", "--type", "secrkey"])
        .env("SOFTHSM2_CONF", w.srv.hsm_dir().join("softhsm2.conf"))
        .output()
        .expect("pkcs11-tool (package opensc) must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    let label = format!("talon-kek:{}:1", w.vault);
    let block = listing
        .split("Secret Key Object")
        .find(|b| b.contains(&label))
        .unwrap_or_else(|| panic!("KEK {label} not in token:\n{listing}"));
    assert!(block.contains("AES length 32"), "{block}");
    assert!(block.contains("never extractable"), "{block}");
    assert!(block.contains("sensitive"), "{block}");
    // Deleting the vault destroys its KEK.
    let (s, _) = w
        .srv
        .call(
            Method::DELETE,
            &format!("/v1/vaults/{}", w.vault),
            Some(&w.human),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let out = std::process::Command::new("pkcs11-tool")
        .args([
            "--module",
            "/usr/lib/softhsm/libsofthsm2.so",
            "--token-label",
            "talon",
            "--login",
            "--pin",
        ])
        .arg(pin.trim())
        .args(["--list-objects", "--type", "secrkey"])
        .env("SOFTHSM2_CONF", w.srv.hsm_dir().join("softhsm2.conf"))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&label));
}

async fn secrets_stay_readable_after_a_restart(db: Db) {
    let mut w = world(db).await;
    let key = w.srv.create_agent(&w.human, "persistent").await;
    w.srv
        .grant(&w.human, &w.vault, &key.0, "**", &["read"])
        .await;
    w.srv.restart().await;
    // Tokens issued before the restart still verify: the signing key lives in the token.
    let (s, v) = w
        .srv
        .get(
            &format!("/v1/vaults/{}/secrets/api-keys/openai", w.vault),
            &w.agent,
        )
        .await;
    assert_eq!(
        (s, v["value"].as_str()),
        (StatusCode::OK, Some(VALUE)),
        "{v}"
    );
    let fresh = w.srv.agent_token(&key.1).await;
    let (s, v) = w
        .srv
        .get(
            &format!("/v1/vaults/{}/secrets/api-keys/openai", w.vault),
            &fresh,
        )
        .await;
    assert_eq!((s, v["value"].as_str()), (StatusCode::OK, Some(VALUE)));
}

async fn wrong_password_and_tampered_tokens_are_unauthorized(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let (s, v) = srv
        .post(
            "/v1/auth/token",
            None,
            json!({"email": h.email, "password": "Wrong-Horse-9!!"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["detail"], "Invalid credentials");
    let (s, v2) = srv
        .post(
            "/v1/auth/token",
            None,
            json!({"email": "nobody@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        v2["detail"], v["detail"],
        "unknown email and wrong password look the same"
    );
    let (s, ok) = srv
        .post(
            "/v1/auth/token",
            None,
            json!({"email": h.email.to_uppercase(), "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{ok}");
    assert_eq!(ok["token_type"], "Bearer");

    let parts: Vec<&str> = h.token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
    claims["role"] = json!("owner");
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 3600);
    let forged_payload = B64URL.encode(claims.to_string());
    let none_header = B64URL.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let mut flipped_sig = parts[2].to_owned().into_bytes();
    flipped_sig[5] = if flipped_sig[5] == b'A' { b'B' } else { b'A' };
    // HS256 "signed" with the published public key (the classic algorithm-confusion attack).
    let (_, jwks) = srv
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    let public = B64URL
        .decode(jwks["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    let hs_header = B64URL.encode(format!(
        r#"{{"alg":"HS256","typ":"JWT","kid":{}}}"#,
        jwks["keys"][0]["kid"]
    ));
    let hs_input = format!("{hs_header}.{forged_payload}");
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&public).unwrap();
    hmac::Mac::update(&mut mac, hs_input.as_bytes());
    let hs_token = format!(
        "{hs_input}.{}",
        B64URL.encode(hmac::Mac::finalize(mac).into_bytes())
    );
    for bad in [
        hs_token,
        format!("{}.{}.{}", parts[0], forged_payload, parts[2]),
        format!("{none_header}.{}.", parts[1]),
        format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            String::from_utf8(flipped_sig).unwrap()
        ),
        "not-a-jwt".to_owned(),
    ] {
        let (s, v) = srv.get("/v1/vaults", &bad).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{bad}: {v}");
    }
    let (s, _) = srv.call(Method::GET, "/v1/vaults", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = srv.get("/v1/vaults", &h.token).await;
    assert_eq!(s, StatusCode::OK);
}

async fn audit_records_reads_writes_and_denials_without_values(db: Db) {
    let w = world(db).await;
    let read = format!("/v1/vaults/{}/secrets/api-keys/openai", w.vault);
    assert_eq!(w.srv.get(&read, &w.agent).await.0, StatusCode::OK);
    assert_eq!(
        w.srv
            .get(&format!("/v1/vaults/{}/secrets/db/x", w.vault), &w.agent)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, v) = w.srv.get("/v1/audit/events?limit=1000", &w.human).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let events = v["events"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in [
        "secret.write",
        "secret.read",
        "secret.denied",
        "vault.create",
        "agent.register",
        "policy.create",
        "auth.success",
        "user.signup",
    ] {
        assert!(actions.contains(&want), "missing {want} in {actions:?}");
    }
    let read_ev = events
        .iter()
        .find(|e| e["action"] == "secret.read")
        .unwrap();
    assert_eq!(read_ev["actor_type"], "agent");
    assert_eq!(read_ev["actor_id"], w.agent_id.as_str());
    assert_eq!(read_ev["details"]["path"], "api-keys/openai");
    assert_eq!(read_ev["outcome"], "success");
    let denied = events
        .iter()
        .find(|e| e["action"] == "secret.denied")
        .unwrap();
    assert_eq!(denied["outcome"], "denied");
    assert_eq!(denied["details"]["permission"], "read");
    assert!(!v.to_string().contains(VALUE), "no value in the audit log");
    // Newest first with a strictly increasing sequence and a linked chain.
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|p| p[0] == p[1] + 1), "{seqs:?}");
    for pair in events.windows(2) {
        assert_eq!(pair[0]["prev_event_id"], pair[1]["id"]);
        assert_eq!(pair[0]["integrity_hash"].as_str().unwrap().len(), 64);
    }
    assert_eq!(v["total"].as_i64().unwrap() as usize, events.len());
    // Filters and the agent's own view.
    let (_, only) = w
        .srv
        .get("/v1/audit/events?action=secret.*", &w.human)
        .await;
    assert!(only["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["action"].as_str().unwrap().starts_with("secret.")));
    let (_, mine) = w.srv.get("/v1/audit/events", &w.agent).await;
    assert!(mine["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor_id"] == w.agent_id.as_str()));
    let (_, page) = w
        .srv
        .get("/v1/audit/events?limit=2&offset=1", &w.human)
        .await;
    assert_eq!(page["count"], 2);
    assert_eq!(page["events"][0]["seq"], seqs[1]);
    assert_eq!(
        w.srv.get("/v1/audit/events?limit=0", &w.human).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        w.srv
            .get("/v1/audit/events?from=yesterday", &w.human)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
}

async fn bad_input_gets_problem_details_never_500(db: Db) {
    let w = world(db).await;
    let srv = &w.srv;
    let vault = &w.vault;
    let cases: Vec<(Method, String, Option<Value>, StatusCode)> = vec![
        (
            Method::PUT,
            format!("/v1/vaults/{vault}/secrets/a%2F..%2Fb"),
            Some(json!({"value": "x"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            format!("/v1/vaults/{vault}/secrets/a%20b"),
            Some(json!({"value": "x"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            format!("/v1/vaults/{vault}/secrets/ok/path"),
            Some(json!({"value": 5})),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            format!("/v1/vaults/{vault}/secrets/ok/path"),
            Some(json!({"value": ""})),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            format!("/v1/vaults/{vault}/secrets/ok/path"),
            Some(json!({"value": "x", "type": "bogus"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            format!("/v1/vaults/{vault}/secrets/ok/path"),
            Some(json!({"value": "x", "expires_at": "tomorrow"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            format!("/v1/vaults/{vault}/secrets/ok/path"),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/v1/vaults/not-a-uuid".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            format!("/v1/vaults/{}", uuid_v4()),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            format!("/v1/vaults/{vault}/secrets/never/written"),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/v1/vaults".into(),
            Some(json!({"name": ""})),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            format!("/v1/vaults/{vault}/policies"),
            Some(
                json!({"secret_path_pattern": "a**", "principal_type": "agent", "principal_id": w.agent_id, "permissions": ["read"]}),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            format!("/v1/vaults/{vault}/policies"),
            Some(
                json!({"secret_path_pattern": "**", "principal_type": "agent", "principal_id": w.agent_id, "permissions": []}),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            format!("/v1/vaults/{vault}/policies"),
            Some(
                json!({"secret_path_pattern": "**", "principal_type": "agent", "principal_id": w.agent_id, "permissions": ["admin"]}),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            format!("/v1/vaults/{vault}/policies"),
            Some(
                json!({"secret_path_pattern": "**", "principal_type": "agent", "principal_id": uuid_v4(), "permissions": ["read"]}),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            format!("/v1/vaults/{vault}/policies"),
            Some(
                json!({"secret_path_pattern": "**", "principal_type": "agent", "principal_id": w.agent_id, "permissions": ["read"], "conditions": {"geo": "eu"}}),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/v1/agents".into(),
            Some(json!({"name": "x", "token_ttl_seconds": 5})),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/v1/agents".into(),
            Some(json!({"name": "x", "auth_method": "mtls"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            "/v1/vaults".into(),
            None,
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            Method::GET,
            "/v1/wallets".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, path, body, want) in cases {
        let (s, v) = srv
            .call(method.clone(), &path, Some(&w.human), body.clone())
            .await;
        assert_eq!(s, want, "{method} {path} {body:?}: {v}");
        assert_eq!(v["status"], want.as_u16(), "{path}: problem body {v}");
        assert!(
            v["title"].is_string() && v["detail"].is_string() && v["request_id"].is_string(),
            "{v}"
        );
    }
    // Malformed JSON is a 400 problem, not axum's 422.
    let res = srv
        .http
        .post(srv.url("/v1/vaults"))
        .bearer_auth(&w.human)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    // Agents cannot call human-only routes.
    let (s, _) = srv
        .post("/v1/agents", Some(&w.agent), json!({"name": "child"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A client request id is echoed.
    let res = srv
        .http
        .get(srv.url("/v1/health"))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-123");
}

fn uuid_v4() -> String {
    let s = common::uuid_simple();
    format!(
        "{}-{}-4{}-8{}-{}",
        &s[..8],
        &s[8..12],
        &s[13..16],
        &s[17..20],
        &s[20..32]
    )
}

async fn listing_secrets_returns_metadata_only(db: Db) {
    let w = world(db).await;
    w.srv
        .put_secret(&w.human, &w.vault, "db/password", "hunter2-hunter2")
        .await;
    let (s, v) = w
        .srv
        .get(&format!("/v1/vaults/{}/secrets", w.vault), &w.human)
        .await;
    assert_eq!(s, StatusCode::OK);
    let paths: Vec<&str> = v["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["api-keys/openai", "db/password"]);
    assert!(!v.to_string().contains(VALUE) && !v.to_string().contains("hunter2"));
    assert!(v["secrets"][0].get("value").is_none());
    // The agent sees only what it may read; prefix filters.
    let (_, v) = w
        .srv
        .get(&format!("/v1/vaults/{}/secrets", w.vault), &w.agent)
        .await;
    let paths: Vec<&str> = v["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["api-keys/openai"]);
    let (_, v) = w
        .srv
        .get(
            &format!("/v1/vaults/{}/secrets?prefix=db/", w.vault),
            &w.human,
        )
        .await;
    assert_eq!(v["secrets"].as_array().unwrap().len(), 1);
    // Deleted secrets leave the list and read as gone.
    let (s, _) = w
        .srv
        .call(
            Method::DELETE,
            &format!("/v1/vaults/{}/secrets/db/password", w.vault),
            Some(&w.human),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, v) = w
        .srv
        .get(&format!("/v1/vaults/{}/secrets", w.vault), &w.human)
        .await;
    assert_eq!(v["secrets"].as_array().unwrap().len(), 1);
    assert_eq!(
        w.srv
            .get(
                &format!("/v1/vaults/{}/secrets/db/password", w.vault),
                &w.human
            )
            .await
            .0,
        StatusCode::GONE
    );
}

async fn agent_key_exchange_names_the_agent_and_rejects_wrong_keys(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let (id, key) = srv.create_agent(&h.token, "bot").await;
    let (s, v) = srv
        .post("/v1/auth/agent-token", None, json!({"api_key": key}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["agent_id"], id.as_str());
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    for field in ["vault_ids", "scopes", "org_id"] {
        assert!(v.get(field).is_none(), "TokenResponse + agent_id only: {v}");
    }
    let token = v["access_token"].as_str().unwrap();
    let claims: Value =
        serde_json::from_slice(&B64URL.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["sub"], format!("agent:{id}"));
    assert_eq!(claims["vault_ids"], json!([]));
    assert_eq!(claims["org_id"], h.org_id.as_str());
    assert!(claims["exp"].is_i64());
    let header: Value =
        serde_json::from_slice(&B64URL.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    let (s, named) = srv
        .post(
            "/v1/auth/agent-token",
            None,
            json!({"api_key": key, "agent_id": id}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        named.get("agent_id").is_none(),
        "the caller named it: {named}"
    );
    for body in [
        json!({"api_key": format!("{}x", &key[..key.len() - 1])}),
        json!({"api_key": "ocv_nothing"}),
        json!({"api_key": key, "agent_id": uuid_v4()}),
        json!({"api_key": h.token}),
    ] {
        let (s, v) = srv.post("/v1/auth/agent-token", None, body).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    }
    // An ocv_ key is not itself a bearer token.
    assert_eq!(
        srv.get("/v1/vaults", &key).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, agents) = srv.get("/v1/agents", &h.token).await;
    assert_eq!(agents["agents"][0]["id"], id.as_str());
    assert!(agents["agents"][0].get("api_key_prefix").is_none());
    assert!(!agents.to_string().contains(&key));
}

async fn jwks_publishes_the_key_that_verifies_tokens(db: Db) {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let res = srv
        .http
        .get(srv.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "public, max-age=300");
    let jwks: Value = res.json().await.unwrap();
    let jwk = &jwks["keys"][0];
    assert_eq!(
        (
            jwk["kty"].as_str(),
            jwk["crv"].as_str(),
            jwk["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    let x: [u8; 32] = B64URL
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let parts: Vec<&str> = h.token.split('.').collect();
    let header: Value = serde_json::from_slice(&B64URL.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["kid"], jwk["kid"]);
    let sig: [u8; 64] = B64URL.decode(parts[2]).unwrap().try_into().unwrap();
    VerifyingKey::from_bytes(&x)
        .unwrap()
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &Signature::from_bytes(&sig),
        )
        .expect("the published key verifies a token signed in the HSM");
    let (s, pk) = srv
        .call(Method::GET, "/v1/auth/jwt-public-key", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(pk["public_key_base64"].as_str().unwrap())
            .unwrap(),
        x
    );
    let (s, hsm) = srv.call(Method::GET, "/v1/health/hsm", None, None).await;
    assert_eq!((s, hsm["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, health) = srv.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(
        (s, health["status"].as_str()),
        (StatusCode::OK, Some("healthy"))
    );
}

async fn org_cannot_see_another_orgs_vault(db: Db) {
    let w = world(db).await;
    let stranger = w.srv.signup().await;
    for path in [
        format!("/v1/vaults/{}", w.vault),
        format!("/v1/vaults/{}/secrets/api-keys/openai", w.vault),
        format!("/v1/vaults/{}/policies", w.vault),
    ] {
        let (s, v) = w.srv.get(&path, &stranger.token).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {v}");
    }
    let (_, v) = w.srv.get("/v1/vaults", &stranger.token).await;
    assert_eq!(v["vaults"], json!([]));
    let (_, v) = w.srv.get("/v1/audit/events", &stranger.token).await;
    assert!(!v.to_string().contains(&w.vault));
    // Another org's agent cannot be granted on this vault.
    let (foreign_agent, _) = w.srv.create_agent(&stranger.token, "foreign").await;
    let (s, _) = w
        .srv
        .post(&format!("/v1/vaults/{}/policies", w.vault), Some(&w.human), json!({"secret_path_pattern": "**", "principal_type": "agent", "principal_id": foreign_agent, "permissions": ["read"]}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

on_both_databases!(audit_chain_verifies_and_names_the_first_tampered_event);

async fn audit_chain_verifies_and_names_the_first_tampered_event(db: Db) {
    let w = world(db).await;
    w.srv
        .get(
            &format!("/v1/vaults/{}/secrets/api-keys/openai", w.vault),
            &w.agent,
        )
        .await;
    let (s, ok) = w.srv.get("/v1/audit/verify", &w.human).await;
    assert_eq!(s, StatusCode::OK, "{ok}");
    assert_eq!(ok["chain_valid"], true);
    assert!(ok["events_verified"].as_i64().unwrap() >= 6);
    assert!(ok["broken_at_event_id"].is_null());
    assert_eq!(ok["scheme"]["algorithm"], "HMAC-SHA256");
    // Rewrite one event's details in the database, as an intruder would.
    let pool = w.srv.db_pool().await;
    let (id, seq): (String, i64) = {
        let row = sqlx::query("SELECT id, seq FROM audit_events WHERE action = 'secret.read'")
            .fetch_one(&pool)
            .await
            .unwrap();
        (row.get("id"), row.get("seq"))
    };
    sqlx::query("UPDATE audit_events SET details = $1 WHERE id = $2")
        .bind(r#"{"path":"somewhere/else"}"#)
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    let (_, broken) = w.srv.get("/v1/audit/verify", &w.human).await;
    assert_eq!(broken["chain_valid"], false);
    assert_eq!(broken["broken_at_event_id"], id.as_str());
    assert_eq!(broken["broken_at_seq"], seq);
    assert_eq!(broken["events_verified"].as_i64().unwrap(), seq - 1);
    // Deleting an event breaks the chain too.
    sqlx::query("DELETE FROM audit_events WHERE seq = 2")
        .execute(&pool)
        .await
        .unwrap();
    let (_, gap) = w.srv.get("/v1/audit/verify", &w.human).await;
    assert_eq!(gap["broken_at_seq"], 3);
    // The walk stops at the limit: the first event alone still verifies.
    let (_, tail) = w.srv.get("/v1/audit/verify?limit=1", &w.human).await;
    assert_eq!(tail["events_checked"], 1);
    assert_eq!(
        w.srv.get("/v1/audit/verify?limit=0", &w.human).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        w.srv.get("/v1/audit/verify", &w.agent).await.0,
        StatusCode::FORBIDDEN
    );
}

on_both_databases!(expired_token_is_refused_even_with_a_valid_signature);

/// Signs `input` with Talon's JWT key through pkcs11-tool, as a second process on the token.
fn sign_in_token(srv: &TestServer, input: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in"), input).unwrap();
    let pin = std::fs::read_to_string(srv.hsm_dir().join("pin")).unwrap();
    let out = std::process::Command::new("pkcs11-tool")
        .args([
            "--module",
            "/usr/lib/softhsm/libsofthsm2.so",
            "--token-label",
            "talon",
            "--login",
            "--pin",
        ])
        .arg(pin.trim())
        .args([
            "--sign",
            "--mechanism",
            "EDDSA",
            "--label",
            "talon-jwt-ed25519",
            "--input-file",
        ])
        .arg(dir.path().join("in"))
        .arg("--output-file")
        .arg(dir.path().join("sig"))
        .env("SOFTHSM2_CONF", srv.hsm_dir().join("softhsm2.conf"))
        .output()
        .expect("pkcs11-tool (package opensc)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    B64URL.encode(std::fs::read(dir.path().join("sig")).unwrap())
}

async fn expired_token_is_refused_even_with_a_valid_signature(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let parts: Vec<&str> = h.token.split('.').collect();
    let claims: Value = serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
    let now = claims["iat"].as_i64().unwrap();
    let token_with = |exp: i64, jti: &str| {
        let mut c = claims.clone();
        c["exp"] = json!(exp);
        c["jti"] = json!(jti);
        let input = format!("{}.{}", parts[0], B64URL.encode(c.to_string()));
        format!("{input}.{}", sign_in_token(&srv, &input))
    };
    // The same signing path yields a token the server accepts while it is current...
    assert_eq!(
        srv.get("/v1/vaults", &token_with(now + 600, "fresh-1"))
            .await
            .0,
        StatusCode::OK
    );
    // ...and refuses once `exp` is past, beyond the 30 s leeway.
    let (s, v) = srv
        .get("/v1/vaults", &token_with(now - 120, "stale-1"))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
}

on_both_databases!(read_fails_closed_when_the_audit_store_refuses_writes);

async fn read_fails_closed_when_the_audit_store_refuses_writes(db: Db) {
    let w = world(db).await;
    let pool = w.srv.db_pool().await;
    // Make the audit table refuse inserts, as a full or read-only audit store would.
    match db {
        Db::Sqlite => {
            sqlx::query("CREATE TRIGGER audit_down BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit store down'); END")
                .execute(&pool)
                .await
                .unwrap();
        }
        Db::Postgres => {
            sqlx::query("CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit store down'; END $$")
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query("CREATE TRIGGER audit_down BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_down()")
                .execute(&pool)
                .await
                .unwrap();
        }
    }
    let (s, v) = w
        .srv
        .get(
            &format!("/v1/vaults/{}/secrets/api-keys/openai", w.vault),
            &w.agent,
        )
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["type"], "unavailable");
    assert!(
        !v.to_string().contains(VALUE),
        "no value leaves without its audit record"
    );
    // Nothing was counted either: the read rolled back as a whole.
    let count: i64 = sqlx::query_scalar("SELECT access_count FROM secret_versions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
    sqlx::query("DROP TRIGGER audit_down ON audit_events")
        .execute(&pool)
        .await
        .ok();
    sqlx::query("DROP TRIGGER audit_down")
        .execute(&pool)
        .await
        .ok();
    let (s, v) = w
        .srv
        .get(
            &format!("/v1/vaults/{}/secrets/api-keys/openai", w.vault),
            &w.agent,
        )
        .await;
    assert_eq!(
        (s, v["value"].as_str()),
        (StatusCode::OK, Some(VALUE)),
        "reads resume once the audit store does"
    );
}
