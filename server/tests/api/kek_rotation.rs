//! Vault KEK rotation: new writes use the new KEK at once, a background job re-wraps every old
//! DEK in batches, then the old KEK is destroyed in the HSM; every version stays readable.

use crate::common::{Db, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

on_both_databases!(
    rotated_vault_key_rewraps_every_version_and_destroys_the_old_key,
    only_owners_and_admins_rotate_a_vault_key,
    interrupted_rewrap_resumes_after_a_restart,
);

/// Labels of the secret keys on the server's SoftHSM token, listed by `pkcs11-tool`.
fn token_key_labels(srv: &TestServer) -> Vec<String> {
    let hsm = srv.hsm_dir();
    let pin = std::fs::read_to_string(hsm.join("pin")).unwrap();
    let out = Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", hsm.join("softhsm2.conf"))
        .args([
            "--module",
            "/usr/lib/softhsm/libsofthsm2.so",
            "--token-label",
            "talon",
            "--login",
            "--pin",
            pin.trim(),
            "--list-objects",
            "--type",
            "secrkey",
        ])
        .output()
        .expect("run pkcs11-tool");
    assert!(
        out.status.success(),
        "pkcs11-tool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("label:"))
        .map(|l| l.trim().to_owned())
        .collect()
}

async fn wait_until_destroyed(srv: &TestServer, token: &str, vault: &str) -> Value {
    for _ in 0..300 {
        let (s, k) = srv.get(&format!("/v1/vaults/{vault}/key"), token).await;
        assert_eq!(s, StatusCode::OK, "{k}");
        if k["retired_keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["destroyed"] == true)
        {
            return k;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the re-wrap job did not finish");
}

async fn rotated_vault_key_rewraps_every_version_and_destroys_the_old_key(db: Db) {
    // Batches of 2: six old versions take three re-wrap transactions.
    let srv = TestServer::start_with(db, &[("TALON_KEK_REWRAP_BATCH", "2")]).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "v").await;
    let other = srv.create_vault(&h.token, "untouched").await;
    let mut expected: Vec<(String, i64, String)> = Vec::new();
    for path in ["db/password", "api/openai", "api/stripe"] {
        for version in 1..=2 {
            let value = format!("{path}-value-{version}");
            srv.put_secret(&h.token, &vault, path, &value).await;
            expected.push((path.to_owned(), version, value));
        }
    }
    srv.put_secret(&h.token, &other, "k", "other-value").await;
    let labels = token_key_labels(&srv);
    assert!(
        labels.contains(&format!("talon-kek:{vault}:1")),
        "{labels:?}"
    );

    let (s, k) = srv
        .post(
            &format!("/v1/vaults/{vault}/rotate-key"),
            Some(&h.token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{k}");
    assert_eq!(k["kek_version"], 2);
    assert_eq!(k["retired_keys"][0]["kek_version"], 1);
    // A write right after the rotation uses the new KEK.
    srv.put_secret(&h.token, &vault, "db/password", "db/password-value-3")
        .await;
    expected.push(("db/password".into(), 3, "db/password-value-3".into()));

    let k = wait_until_destroyed(&srv, &h.token, &vault).await;
    assert_eq!(k["kek_version"], 2);
    assert_eq!(k["retired_keys"][0]["versions_pending_rewrap"], 0);
    assert!(k["retired_keys"][0]["destroyed_at"].is_string());

    // Every version is still readable, now through the new KEK.
    for (path, version, value) in &expected {
        let (s, v) = srv
            .get(
                &format!("/v1/vaults/{vault}/secret-version/{path}/{version}"),
                &h.token,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{path} v{version}: {v}");
        assert_eq!(v["value"], value.as_str());
    }
    assert_eq!(
        srv.get(&format!("/v1/vaults/{other}/secrets/k"), &h.token)
            .await
            .1["value"],
        "other-value"
    );

    // The database holds no version under the old KEK, and the token no longer has it.
    let pool = srv.db_pool().await;
    let old_label = format!("talon-kek:{vault}:1");
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM secret_versions WHERE kek_label = $1")
        .bind(&old_label)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    pool.close().await;
    let labels = token_key_labels(&srv);
    assert!(!labels.contains(&old_label), "{labels:?}");
    assert!(
        labels.contains(&format!("talon-kek:{vault}:2")),
        "{labels:?}"
    );
    assert!(
        labels.contains(&format!("talon-kek:{other}:1")),
        "{labels:?}"
    );

    // Each step is audited: the rotation, every batch, the destruction.
    let (_, ev) = srv
        .get(
            &format!("/v1/audit/events?resource_id={vault}&action=vault.*"),
            &h.token,
        )
        .await;
    let actions: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "vault.key_rewrapped")
            .count(),
        3,
        "{actions:?}"
    );
    assert_eq!(actions[0], "vault.key_destroyed", "{actions:?}");
    assert!(actions.contains(&"vault.key_rotated"), "{actions:?}");
    let (_, chain) = srv.get("/v1/audit/verify", &h.token).await;
    assert_eq!(chain["chain_valid"], true, "{chain}");

    // A second rotation works the same way; deleting the vault destroys its current KEK.
    let (s, _) = srv
        .post(
            &format!("/v1/vaults/{vault}/rotate-key"),
            Some(&h.token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let k = wait_until_destroyed(&srv, &h.token, &vault).await;
    assert_eq!(k["kek_version"], 3);
    assert_eq!(
        srv.get(
            &format!("/v1/vaults/{vault}/secret-version/api/openai/1"),
            &h.token
        )
        .await
        .1["value"],
        "api/openai-value-1"
    );
    let (s, _) = srv
        .call(
            Method::DELETE,
            &format!("/v1/vaults/{vault}"),
            Some(&h.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let labels = token_key_labels(&srv);
    assert!(
        !labels
            .iter()
            .any(|l| l.starts_with(&format!("talon-kek:{vault}:"))),
        "{labels:?}"
    );
}

async fn only_owners_and_admins_rotate_a_vault_key(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "v").await;
    let (agent, key) = srv.create_agent(&h.token, "bot").await;
    srv.grant(&h.token, &vault, &agent, "**", &["read", "write"])
        .await;
    let at = srv.agent_token(&key).await;
    let (s, v) = srv
        .post(
            &format!("/v1/vaults/{vault}/rotate-key"),
            Some(&at),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    // Another org's vault does not exist for this caller.
    let stranger = srv.signup().await;
    let (s, _) = srv
        .post(
            &format!("/v1/vaults/{vault}/rotate-key"),
            Some(&stranger.token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, k) = srv.get(&format!("/v1/vaults/{vault}/key"), &h.token).await;
    assert_eq!(k["kek_version"], 1);
    assert_eq!(k["retired_keys"], json!([]));
}

async fn interrupted_rewrap_resumes_after_a_restart(db: Db) {
    let mut srv = TestServer::start_with(db, &[("TALON_KEK_REWRAP_BATCH", "1")]).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "v").await;
    for i in 0..12 {
        srv.put_secret(&h.token, &vault, &format!("k{i}"), &format!("value-{i}"))
            .await;
    }
    let (s, _) = srv
        .post(
            &format!("/v1/vaults/{vault}/rotate-key"),
            Some(&h.token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    // Killed before the job could finish: the old KEK is still recorded as pending.
    srv.stop();
    let old_label = format!("talon-kek:{vault}:1");
    let pool = srv.db_pool().await;
    let destroyed: Option<i64> =
        sqlx::query_scalar("SELECT destroyed_at FROM retired_keks WHERE kek_label = $1")
            .bind(&old_label)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(destroyed, None);
    pool.close().await;
    assert!(token_key_labels(&srv).contains(&old_label));
    // The restarted server resumes the re-wrap and destroys the old KEK.
    srv.restart().await;
    let k = wait_until_destroyed(&srv, &h.token, &vault).await;
    assert_eq!(k["retired_keys"][0]["versions_pending_rewrap"], 0);
    assert!(!token_key_labels(&srv).contains(&old_label));
    for i in 0..12 {
        let (s, v) = srv
            .get(&format!("/v1/vaults/{vault}/secrets/k{i}"), &h.token)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["value"], format!("value-{i}"));
    }
}
