//! Never a silent new token: Talon creates a token only on a first start (empty token
//! directory, empty database) or through `talon admin init-token`, and refuses to start on a
//! token that is missing, mislabelled or not the one the database was created with.

use crate::common::{Db, TestServer};
use reqwest::StatusCode;
use std::path::Path;

on_both_databases!(
    a_wrong_token_label_at_start_exits_with_a_message_and_creates_no_token,
    a_lost_token_directory_stops_start_up_instead_of_getting_a_new_token,
    a_reinitialised_token_with_the_same_label_stops_start_up,
    a_database_without_a_recorded_identity_is_checked_by_its_vault_keys,
);

/// Every file under the token directory, with its size, sorted.
fn token_files(srv: &TestServer) -> Vec<(String, u64)> {
    fn walk(dir: &Path, out: &mut Vec<(String, u64)>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push((
                    p.display().to_string(),
                    e.metadata().map(|m| m.len()).unwrap_or(0),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(&srv.hsm_dir().join("tokens"), &mut out);
    out.sort();
    out
}

fn clear_token_dir(srv: &TestServer) {
    let tokens = srv.hsm_dir().join("tokens");
    std::fs::remove_dir_all(&tokens).unwrap();
    std::fs::create_dir(&tokens).unwrap();
}

/// Starts a server with one vault and one secret in it, then stops it.
async fn stopped_server_with_a_secret(db: Db) -> (TestServer, String, String) {
    let mut srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "ops").await;
    srv.put_secret(&h.token, &vault, "db/password", "s3cret-value")
        .await;
    srv.stop();
    (srv, h.email, vault)
}

/// Starts `talon server` on the stopped server's data, expects exit 1 without listening, and
/// checks that stderr says each of `says`.
fn start_is_refused(srv: &TestServer, extra: &[(&str, &str)], says: &[&str]) {
    let out = srv.run_talon(&["server", "--addr", "127.0.0.1:0"], extra);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1, stderr: {stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("Talon listening on"),
        "the server must not start: {stderr}"
    );
    for s in says {
        assert!(stderr.contains(s), "stderr should say {s:?}: {stderr}");
    }
}

/// `talon admin init-token` on the server's data dir; returns whether it succeeded and what it
/// printed on stdout and stderr.
fn init_token(srv: &TestServer) -> (bool, String) {
    let out = srv.run_talon(&["admin", "init-token"], &[]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn a_wrong_token_label_at_start_exits_with_a_message_and_creates_no_token(db: Db) {
    let (mut srv, email, vault) = stopped_server_with_a_secret(db).await;
    let before = token_files(&srv);
    assert!(!before.is_empty(), "the first start created the token");

    start_is_refused(
        &srv,
        &[("TALON_PKCS11_TOKEN_LABEL", "talon-typo")],
        &[
            "no PKCS#11 token labelled 'talon-typo'",
            "TALON_PKCS11_TOKEN_LABEL",
            "talon admin init-token",
        ],
    );
    assert_eq!(token_files(&srv), before, "no token was created or changed");

    // With the right label the same data starts and still decrypts.
    srv.restart().await;
    let login = srv
        .post(
            "/v1/auth/token",
            None,
            serde_json::json!({"email": email, "password": crate::common::PASSWORD}),
        )
        .await;
    assert_eq!(login.0, StatusCode::OK, "{}", login.1);
    let token = login.1["access_token"].as_str().unwrap().to_owned();
    let (s, v) = srv
        .get(&format!("/v1/vaults/{vault}/secrets/db/password"), &token)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["value"], "s3cret-value");
}

async fn a_lost_token_directory_stops_start_up_instead_of_getting_a_new_token(db: Db) {
    let (srv, _email, _vault) = stopped_server_with_a_secret(db).await;
    clear_token_dir(&srv);

    start_is_refused(
        &srv,
        &[],
        &[
            "no PKCS#11 token labelled 'talon'",
            "already holds Talon data",
            "restore it from a backup",
        ],
    );
    assert!(token_files(&srv).is_empty(), "no token was created");
}

async fn a_reinitialised_token_with_the_same_label_stops_start_up(db: Db) {
    let (srv, _email, _vault) = stopped_server_with_a_secret(db).await;

    // init-token refuses while the token exists.
    let (ok, said) = init_token(&srv);
    assert!(!ok && said.contains("already exists"), "{said}");

    clear_token_dir(&srv);
    let (ok, said) = init_token(&srv);
    assert!(ok && said.contains("initialised"), "{said}");
    assert!(!token_files(&srv).is_empty(), "init-token created a token");

    start_is_refused(
        &srv,
        &[],
        &[
            "is not the token this database was created with",
            "restore the token from a backup",
        ],
    );
}

async fn a_database_without_a_recorded_identity_is_checked_by_its_vault_keys(db: Db) {
    let (srv, _email, _vault) = stopped_server_with_a_secret(db).await;
    // A database from before the identity was recorded.
    let pool = srv.db_pool().await;
    sqlx::query("DELETE FROM keystore_identity")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    clear_token_dir(&srv);
    let (ok, said) = init_token(&srv);
    assert!(ok, "{said}");

    start_is_refused(&srv, &[], &["does not hold the vault key"]);
}
