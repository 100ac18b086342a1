//! The `talon` client commands run as a process against a real server.

use crate::common::{Db, TestServer, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

on_both_databases!(
    secret_set_get_list_and_exit_codes,
    env_run_injects_secrets_and_returns_the_command_status,
    env_push_and_pull_with_an_environment_use_the_vaults_env_vars,
    password_login_is_stored_privately_and_logout_forgets_it,
    device_login_completes_once_a_human_approves,
    device_codes_are_pending_then_redeemed_once_and_bound_to_the_hinted_account,
    api_key_login_env_push_and_revocation,
    share_audit_and_agent_token_commands,
    password_login_asks_for_the_second_factor
);

/// Runs `talon ARGS` with a private config dir, `stdin` piped in; no TALON_* from the caller.
pub(crate) fn talon(config: &TempDir, env: &[(&str, &str)], stdin: &str, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_talon"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("XDG_CONFIG_HOME", config.path())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn talon");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().expect("talon output")
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn secret_set_get_list_and_exit_codes(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let cfg = tempfile::tempdir().unwrap();
    let env = [
        ("TALON_URL", srv.base.as_str()),
        ("TALON_TOKEN", h.token.as_str()),
    ];

    let out = talon(
        &cfg,
        &env,
        "",
        &["vault", "create", "cli-vault", "--output", "plain"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let vault = stdout(&out).trim().to_owned();
    assert!(uuid_like(&vault), "{vault}");

    let out = talon(&cfg, &env, "", &["vault", "link", "cli-vault"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = talon(&cfg, &env, "", &["config", "get", "default-vault"]);
    assert_eq!(stdout(&out).trim(), vault);
    let out = talon(&cfg, &env, "", &["config", "set", "colour", "blue"]);
    assert_eq!(out.status.code(), Some(1), "unknown keys are usage errors");
    let out = talon(&cfg, &[], "", &["completions", "bash"]);
    assert!(
        out.status.success() && stdout(&out).contains("talon"),
        "{}",
        stderr(&out)
    );

    let out = talon(
        &cfg,
        &env,
        "s3cret value\n",
        &["secret", "set", "app/token"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("s3cret"));

    // Not a terminal: the bare value, exactly.
    let out = talon(&cfg, &env, "", &["secret", "get", "app/token"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "s3cret value");

    let out = talon(&cfg, &env, "", &["secret", "list", "--json"]);
    let doc: Value = serde_json::from_str(&stdout(&out)).expect("JSON list");
    assert_eq!(doc["secrets"][0]["path"], "app/token");
    assert!(!stdout(&out).contains("s3cret"));

    // A value on the command line is refused (usage error) and nothing is stored.
    let out = talon(
        &cfg,
        &env,
        "",
        &["secret", "set", "app/other", "inline-value"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error: refusing a value on the command line"));

    let out = talon(&cfg, &env, "", &["secret", "get", "app/missing"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    let out = talon(
        &cfg,
        &[("TALON_URL", srv.base.as_str())],
        "",
        &["vault", "list"],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "no credentials: {}",
        stderr(&out)
    );

    // An agent key (exchanged by the CLI) outside its policy: 403 → exit 3.
    let (_agent, key) = srv.create_agent(&h.token, "cli-agent").await;
    let agent_env = [
        ("TALON_URL", srv.base.as_str()),
        ("TALON_API_KEY", key.as_str()),
        ("TALON_VAULT_ID", vault.as_str()),
    ];
    let out = talon(&cfg, &agent_env, "", &["secret", "get", "app/token"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!stdout(&out).contains("s3cret"));
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

async fn env_run_injects_secrets_and_returns_the_command_status(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "env").await;
    srv.put_secret(&h.token, &vault, "api-keys/openai", "sk-test-123")
        .await;
    srv.put_secret(&h.token, &vault, "db/prod-url", "postgres://x")
        .await;
    let (s, v) = srv
        .put(
            &format!("/v1/vaults/{vault}/secrets/bundle"),
            &h.token,
            serde_json::json!({"value": "# app\nFEATURE=on\nMODE=a=b\n", "type": "env_bundle"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let cfg = tempfile::tempdir().unwrap();
    let env = [
        ("TALON_URL", srv.base.as_str()),
        ("TALON_TOKEN", h.token.as_str()),
        ("TALON_VAULT_ID", vault.as_str()),
    ];

    let out = talon(
        &cfg,
        &env,
        "",
        &[
            "env",
            "run",
            "--",
            "sh",
            "-c",
            "printf '%s|%s|%s|%s' \"$OPENAI\" \"$PROD_URL\" \"$FEATURE\" \"$MODE\"",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "sk-test-123|postgres://x|on|a=b");
    assert!(!stderr(&out).contains("sk-test-123"));

    let out = talon(&cfg, &env, "", &["env", "run", "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));

    // SIGTERM sent to talon reaches the command, and talon exits with the command's status.
    let child = Command::new(env!("CARGO_BIN_EXE_talon"))
        .args([
            "env",
            "run",
            "--",
            "sh",
            "-c",
            "trap 'kill $!; exit 42' TERM; echo ready; sleep 30 & wait",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("XDG_CONFIG_HOME", cfg.path())
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let mut child = child;
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(Command::new("kill")
        .args(["-s", "TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert_eq!(child.wait().unwrap().code(), Some(42));

    let dotenv = cfg.path().join("app.env");
    let out = talon(
        &cfg,
        &env,
        "",
        &[
            "env",
            "pull",
            "-o",
            dotenv.to_str().unwrap(),
            "--prefix",
            "api-keys",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&dotenv).unwrap(),
        "OPENAI=sk-test-123\n"
    );
    let mode = std::fs::metadata(&dotenv).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

async fn env_push_and_pull_with_an_environment_use_the_vaults_env_vars(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "env").await;
    // A variable shared by every environment: pushing to preview must not change production.
    let (s, v) = srv
        .post(
            &format!("/v1/vaults/{vault}/env-vars"),
            Some(&h.token),
            json!({"key": "SHARED", "value": "everywhere"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let cfg = tempfile::tempdir().unwrap();
    let env = [
        ("TALON_URL", srv.base.as_str()),
        ("TALON_TOKEN", h.token.as_str()),
        ("TALON_VAULT_ID", vault.as_str()),
    ];
    let file = cfg.path().join("preview.env");
    std::fs::write(
        &file,
        "API_URL=https://preview.example\nSHARED=preview-only\n",
    )
    .unwrap();
    let out = talon(
        &cfg,
        &env,
        "",
        &["env", "push", file.to_str().unwrap(), "-e", "preview"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("preview-only") && !stderr(&out).contains("preview-only"));
    // Pushing again updates in place (a new version, not a conflict).
    std::fs::write(&file, "API_URL=https://preview2.example\n").unwrap();
    let out = talon(
        &cfg,
        &env,
        "",
        &["env", "push", file.to_str().unwrap(), "-e", "preview"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, one) = srv
        .get(
            &format!("/v1/vaults/{vault}/env-vars/API_URL?environment=preview"),
            &h.token,
        )
        .await;
    assert_eq!(
        (one["value"].as_str(), one["version"].as_i64()),
        (Some("https://preview2.example"), Some(2))
    );

    let dotenv = cfg.path().join("pulled.env");
    let out = talon(
        &cfg,
        &env,
        "",
        &[
            "env",
            "pull",
            "-e",
            "preview",
            "-o",
            dotenv.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&dotenv).unwrap(),
        "API_URL=https://preview2.example\nSHARED=preview-only\n"
    );
    let out = talon(&cfg, &env, "", &["env", "pull", "-e", "production"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "SHARED=everywhere\n");
    // A branch's overrides apply on top of the environment's values.
    std::fs::write(&file, "API_URL=https://branch.example\n").unwrap();
    let out = talon(
        &cfg,
        &env,
        "",
        &[
            "env",
            "push",
            file.to_str().unwrap(),
            "-e",
            "preview",
            "--branch",
            "feature/x",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = talon(
        &cfg,
        &env,
        "",
        &["env", "pull", "-e", "preview", "--branch", "feature/x"],
    );
    assert_eq!(
        stdout(&out),
        "API_URL=https://branch.example\nSHARED=preview-only\n"
    );
}

async fn password_login_is_stored_privately_and_logout_forgets_it(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    srv.create_vault(&h.token, "mine").await;
    let cfg = tempfile::tempdir().unwrap();
    let env = [("TALON_URL", srv.base.as_str())];

    let out = talon(
        &cfg,
        &env,
        &format!("{PASSWORD}\n"),
        &["login", "--email", &h.email, "--password-stdin"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = cfg.path().join("talon");
    let creds = dir.join("credentials.json");
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!std::fs::read_to_string(&creds).unwrap().contains(PASSWORD));

    let out = talon(&cfg, &env, "", &["vault", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["vaults"][0]["name"], "mine");

    let out = talon(&cfg, &env, "", &["whoami", "--json"]);
    assert!(stdout(&out).contains(&h.email), "{}", stdout(&out));

    let out = talon(&cfg, &env, "", &["logout"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!creds.exists());
    let out = talon(&cfg, &env, "", &["vault", "list"]);
    assert_eq!(out.status.code(), Some(2));

    let out = talon(
        &cfg,
        &env,
        "wrong\n",
        &["login", "--email", &h.email, "--password-stdin"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn device_login_completes_once_a_human_approves(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let cfg = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_talon"))
        .args(["login", "--no-browser"])
        .env_clear()
        .env("XDG_CONFIG_HOME", cfg.path())
        .env("TALON_URL", &srv.base)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn talon login");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut printed = String::new();
    let code = loop {
        let line = lines.next().expect("login printed no code").unwrap();
        printed.push_str(&line);
        if let Some(code) = line.strip_prefix("and confirm the code ") {
            break code.trim().to_owned();
        }
    };
    assert!(
        printed.contains(&format!("/cli/verify?code={code}")),
        "{printed}"
    );

    let (s, info) = srv
        .call(
            reqwest::Method::GET,
            &format!("/v1/auth/device/code/{code}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (info["status"].as_str(), info["client_id"].as_str()),
        (Some("pending"), Some("talon-cli"))
    );

    let (s, v) = srv
        .post(
            "/v1/auth/device/approve",
            Some(&h.token),
            json!({"user_code": code}),
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{v}"
    );
    let out = child.wait_with_output().expect("login finishes");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&h.email));

    let out = talon(
        &cfg,
        &[("TALON_URL", srv.base.as_str())],
        "",
        &["whoami", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let me: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(me["user"]["email"], json!(h.email));

    // The code is spent: approving it again is refused.
    let (s, _) = srv
        .post(
            "/v1/auth/device/approve",
            Some(&h.token),
            json!({"user_code": code}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

async fn poll(srv: &TestServer, device_code: &str) -> Value {
    let (s, v) = srv
        .post(
            "/v1/auth/device/token",
            None,
            json!({"device_code": device_code, "grant_type": GRANT}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn device_codes_are_pending_then_redeemed_once_and_bound_to_the_hinted_account(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let other = srv.signup().await;

    let (s, d) = srv
        .post(
            "/v1/auth/device/code",
            None,
            json!({"client_id": "talon-cli", "email": h.email}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(
        (d["expires_in"].as_i64(), d["interval"].as_i64()),
        (Some(600), Some(5))
    );
    let code = d["user_code"].as_str().unwrap().to_owned();
    let device = d["device_code"].as_str().unwrap().to_owned();
    assert!(d["verification_uri"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/cli/verify?code={code}")));

    assert_eq!(poll(&srv, &device).await["error"], "authorization_pending");
    assert_eq!(
        poll(&srv, &device).await["error"],
        "slow_down",
        "polled faster than interval"
    );
    assert_eq!(poll(&srv, "dc_unknown").await["error"], "expired_token");
    let (s, _) = srv
        .post(
            "/v1/auth/device/token",
            None,
            json!({"device_code": device, "grant_type": "password"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Bound to the hinted email: another account cannot approve it.
    let (s, _) = srv
        .post(
            "/v1/auth/device/approve",
            Some(&other.token),
            json!({"user_code": code}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = srv
        .post(
            "/v1/auth/device/approve",
            Some(&h.token),
            json!({"user_code": code.to_lowercase()}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    let t = poll(&srv, &device).await;
    let token = t["access_token"].as_str().expect("token after approval");
    assert_eq!(
        (t["expires_in"].as_i64(), t["email"].as_str()),
        (Some(86_400), Some(h.email.as_str()))
    );
    let (s, me) = srv.get("/v1/auth/me", token).await;
    assert_eq!(
        (s, me["email"].as_str()),
        (StatusCode::OK, Some(h.email.as_str()))
    );
    assert_eq!(
        poll(&srv, &device).await["error"],
        "expired_token",
        "redeemed once"
    );

    // A denied code answers access_denied.
    let (_, d) = srv
        .post(
            "/v1/auth/device/code",
            None,
            json!({"client_id": "talon-cli"}),
        )
        .await;
    let (s, _) = srv
        .post(
            "/v1/auth/device/deny",
            Some(&other.token),
            json!({"user_code": d["user_code"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        poll(&srv, d["device_code"].as_str().unwrap()).await["error"],
        "access_denied"
    );
}

async fn api_key_login_env_push_and_revocation(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let admin_cfg = tempfile::tempdir().unwrap();
    let admin = [
        ("TALON_URL", srv.base.as_str()),
        ("TALON_TOKEN", h.token.as_str()),
    ];

    // Piped: only the key on stdout, the explanation on stderr.
    let out = talon(&admin_cfg, &admin, "", &["apikey", "create", "ci"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let key = stdout(&out).trim().to_owned();
    assert!(key.starts_with("1ck_") && !key.contains(' '), "{key}");
    assert!(stderr(&out).contains("shown once"));

    let cfg = tempfile::tempdir().unwrap();
    let env = [("TALON_URL", srv.base.as_str())];
    let out = talon(&cfg, &env, &format!("{key}\n"), &["login", "--api-key"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = talon(
        &cfg,
        &env,
        "",
        &["vault", "create", "from-key", "--output", "plain"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let vault = stdout(&out).trim().to_owned();

    let dotenv = cfg.path().join("in.env");
    std::fs::write(&dotenv, "# comment\nA=1\nB=two words\n").unwrap();
    let with_vault = [
        ("TALON_URL", srv.base.as_str()),
        ("TALON_VAULT_ID", vault.as_str()),
    ];
    let out = talon(
        &cfg,
        &with_vault,
        "",
        &["env", "push", dotenv.to_str().unwrap(), "--prefix", "cfg"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "Pushed 2 secret(s).");
    let out = talon(&cfg, &with_vault, "", &["secret", "get", "cfg/B"]);
    assert_eq!(stdout(&out), "two words", "{}", stderr(&out));

    // Revoking the key ends the stored login.
    let out = talon(&admin_cfg, &admin, "", &["apikey", "list", "--json"]);
    let keys: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let id = keys["keys"][0]["id"].as_str().unwrap().to_owned();
    let out = talon(&admin_cfg, &admin, "", &["apikey", "revoke", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = talon(&cfg, &env, "", &["vault", "list"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

async fn share_audit_and_agent_token_commands(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "sharing").await;
    srv.put_secret(&h.token, &vault, "app/shared", "link-value-77")
        .await;
    let cfg = tempfile::tempdir().unwrap();
    let env = [
        ("TALON_URL", srv.base.as_str()),
        ("TALON_TOKEN", h.token.as_str()),
        ("TALON_VAULT_ID", vault.as_str()),
    ];

    let out = talon(
        &cfg,
        &env,
        "",
        &[
            "share",
            "create",
            "--path",
            "app/shared",
            "--type",
            "anyone_with_link",
            "--expires-in",
            "1h",
            "--max-access-count",
            "1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let url = stdout(&out).trim().to_owned();
    let id = url.rsplit('/').next().unwrap().to_owned();
    assert!(url.ends_with(&format!("/v1/share/{id}")), "{url}");

    let anonymous = [("TALON_URL", srv.base.as_str())];
    let out = talon(&cfg, &anonymous, "", &["share", "open", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "link-value-77");
    let out = talon(&cfg, &anonymous, "", &["share", "open", &id]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "one view only: {}",
        stderr(&out)
    );

    let out = talon(&cfg, &env, "", &["share", "list", "--json"]);
    let shares: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(shares["shares"][0]["id"], json!(id));

    let out = talon(
        &cfg,
        &env,
        "",
        &["audit", "list", "--json", "--limit", "100"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let events: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(events["events"].as_array().is_some_and(|e| !e.is_empty()));
    assert!(!stdout(&out).contains("link-value-77"));
    let out = talon(&cfg, &env, "", &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let out = talon(
        &cfg,
        &[("TALON_URL", srv.base.as_str())],
        "",
        &["agent", "enroll", "helper", "--email", &h.email],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).trim().contains("/agents/enroll/"),
        "{}",
        stdout(&out)
    );

    // An agent's key becomes a JWT on stdout, and that token identifies the agent.
    let (agent, key) = srv.create_agent(&h.token, "cli-token").await;
    let out = talon(
        &cfg,
        &[
            ("TALON_URL", srv.base.as_str()),
            ("ONECLAW_AGENT_API_KEY", key.as_str()),
        ],
        "",
        &["agent", "token"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let jwt = stdout(&out).trim().to_owned();
    assert_eq!(jwt.split('.').count(), 3, "{jwt}");
    let out = talon(
        &cfg,
        &[
            ("TALON_URL", srv.base.as_str()),
            ("TALON_TOKEN", jwt.as_str()),
        ],
        "",
        &["whoami", "--json"],
    );
    let me: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (me["type"].as_str(), me["agent"]["id"].as_str()),
        (Some("agent"), Some(agent.as_str()))
    );
}

fn base32_decode(s: &str) -> Vec<u8> {
    let (mut out, mut buf, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => continue,
        } as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buf >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    out
}

fn totp_now(seed: &[u8]) -> String {
    use hmac::Mac;
    let step = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30;
    let mut mac = <hmac::Hmac<sha1::Sha1> as Mac>::new_from_slice(seed).unwrap();
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]);
    format!("{:06}", bin % 1_000_000)
}

async fn password_login_asks_for_the_second_factor(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let (_, setup) = srv
        .post("/v1/auth/mfa/setup", Some(&h.token), json!({}))
        .await;
    let seed = base32_decode(setup["secret"].as_str().unwrap());
    let (s, v) = srv
        .post(
            "/v1/auth/mfa/verify-setup",
            Some(&h.token),
            json!({"code": totp_now(&seed)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let recovery = v["recovery_codes"][0].as_str().unwrap().to_owned();
    let cfg = tempfile::tempdir().unwrap();
    let env = [("TALON_URL", srv.base.as_str())];

    let out = talon(
        &cfg,
        &env,
        &format!("{PASSWORD}\n000000\n"),
        &["login", "--email", &h.email, "--password-stdin"],
    );
    assert_eq!(out.status.code(), Some(2), "a wrong code: {}", stderr(&out));
    assert!(!cfg.path().join("talon/credentials.json").exists());

    let out = talon(
        &cfg,
        &env,
        &format!("{PASSWORD}\n{recovery}\n"),
        &["login", "--email", &h.email, "--password-stdin"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = talon(&cfg, &env, "", &["mfa", "status", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let st: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(st["enabled"], json!(true));
}
