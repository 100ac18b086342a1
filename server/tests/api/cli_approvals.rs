//! The CLI side of approvals and secret requests, with the real `talon` binary: listing and
//! deciding approvals (with the step-up confirmation from stdin or `TALON_CONFIRM`), `talon run`
//! waiting for an approval before it runs its command, and answering an agent's secret request
//! without the value ever showing in the CLI's output.

use crate::cli::{stderr, stdout, talon};
use crate::common::{Db, TestServer, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

on_both_databases!(
    approvals_list_then_approve_with_the_password_from_stdin_lets_the_gated_read_through,
    a_high_risk_decision_without_a_confirmation_fails_without_a_terminal,
    reject_and_cancel_end_an_approval_and_the_read_stays_refused,
    talon_run_waits_for_an_approval_then_runs_with_the_secret,
    talon_run_stops_when_the_approval_is_rejected_expires_or_times_out,
    secret_requests_are_listed_fulfilled_and_declined_from_the_cli,
);

const VALUE: &str = "pg-prod-password-7f3e9a1c";
const CACHE_VALUE: &str = "redis-pw-41d0c3";

/// An owner, the vault `production` with `prod/db` and `prod/cache`, an agent and its key.
struct World {
    srv: TestServer,
    owner: String,
    vault: String,
    agent: String,
    agent_key: String,
    agent_token: String,
    cfg: TempDir,
}

async fn world_with(db: Db, env: &[(&str, &str)]) -> World {
    let srv = TestServer::start_with(db, env).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "production").await;
    srv.put_secret(&h.token, &vault, "prod/db", VALUE).await;
    srv.put_secret(&h.token, &vault, "prod/cache", CACHE_VALUE)
        .await;
    let (agent, agent_key) = srv.create_agent(&h.token, "deploy-bot").await;
    let agent_token = srv.agent_token(&agent_key).await;
    World {
        srv,
        owner: h.token,
        vault,
        agent,
        agent_key,
        agent_token,
        cfg: tempfile::tempdir().unwrap(),
    }
}

impl World {
    /// The CLI's environment as the owner.
    fn as_owner(&self) -> Vec<(&str, &str)> {
        vec![
            ("TALON_URL", self.srv.base.as_str()),
            ("TALON_TOKEN", self.owner.as_str()),
            ("TALON_VAULT_ID", self.vault.as_str()),
        ]
    }

    /// The CLI's environment as the agent (its `ocv_` key, exchanged by the CLI).
    fn as_agent(&self) -> Vec<(&str, &str)> {
        vec![
            ("TALON_URL", self.srv.base.as_str()),
            ("TALON_API_KEY", self.agent_key.as_str()),
            ("TALON_VAULT_ID", self.vault.as_str()),
        ]
    }

    /// Lets the agent read `pattern`, each read held for approval under `rule`.
    async fn gate(&self, pattern: &str, rule: Value) {
        let (s, v) = self
            .srv
            .post(
                &format!("/v1/vaults/{}/policies", self.vault),
                Some(&self.owner),
                json!({"secret_path_pattern": pattern, "principal_type": "agent",
                       "principal_id": self.agent, "permissions": ["read"],
                       "conditions": {"require_approval": rule}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "gated policy: {v}");
    }

    async fn agent_read(&self, path: &str) -> (StatusCode, Value) {
        self.srv
            .get(
                &format!("/v1/vaults/{}/secrets/{path}", self.vault),
                &self.agent_token,
            )
            .await
    }

    /// The agent's read, expected to be held; the approval's id.
    async fn held(&self, path: &str) -> String {
        let (s, v) = self.agent_read(path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
        assert_eq!(v["type"], "approval_required", "{v}");
        v["approval_id"].as_str().expect("approval_id").to_owned()
    }

    async fn approval(&self, id: &str) -> Value {
        let (s, v) = self
            .srv
            .get(&format!("/v1/approvals/{id}"), &self.owner)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    /// The owner decides through the API (with the password as step-up).
    async fn decide(&self, id: &str, decision: &str) {
        let res = self
            .srv
            .http
            .post(self.srv.url(&format!("/v1/approvals/{id}/decide")))
            .bearer_auth(&self.owner)
            .header("X-Auth-Confirm", PASSWORD)
            .json(&json!({"decision": decision, "reason": "checked by the on-call"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{decision}");
    }
}

/// Nothing the CLI printed contains `secret`.
fn assert_never_printed(out: &std::process::Output, secret: &str) {
    assert!(
        !stdout(out).contains(secret) && !stderr(out).contains(secret),
        "printed a secret: {}{}",
        stdout(out),
        stderr(out)
    );
}

/// A `talon` process left running, its stderr read line by line as it comes.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

fn start_talon(cfg: &TempDir, env: &[(&str, &str)], args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_talon"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("XDG_CONFIG_HOME", cfg.path())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn talon");
    let (tx, lines) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running {
        child,
        lines,
        seen: Vec::new(),
    }
}

impl Running {
    /// The first stderr line containing `needle`, within 30 s.
    fn line_with(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {needle:?} on stderr; saw {:?}", self.seen),
            }
        }
    }

    /// Waits (at most 60 s) for the process to end: its status, stdout and whole stderr.
    fn finish(mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("talon did not exit; stderr so far {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status, out, self.seen.join("\n"))
    }
}

/// The approval id in a `Waiting for approval <id> (…)` line.
fn waiting_id(line: &str) -> String {
    line.split_whitespace()
        .nth(3)
        .expect("an approval id")
        .to_owned()
}

async fn approvals_list_then_approve_with_the_password_from_stdin_lets_the_gated_read_through(
    db: Db,
) {
    let w = world_with(db, &[]).await;
    w.gate("prod/**", json!({})).await;
    let id = w.held("prod/db").await;
    let owner = w.as_owner();

    // A readable table: what is asked, by whom, at what risk, and the progress.
    let out = talon(&w.cfg, &owner, "", &["approvals", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let row = stdout(&out)
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} not listed: {}", stdout(&out)))
        .to_owned();
    let cells: Vec<&str> = row.split('\t').collect();
    assert_eq!(
        cells[..6],
        [
            id.as_str(),
            "pending",
            "read prod/db in production",
            "deploy-bot",
            "2",
            "0/1"
        ],
        "{row}"
    );
    let out = talon(
        &w.cfg,
        &owner,
        "",
        &["approvals", "list", "--status", "pending", "--json"],
    );
    let doc: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(doc["approvals"][0]["id"], id.as_str(), "{doc}");
    assert_eq!(doc["approvals"][0]["step_up_required"], true);

    // A wrong password is refused (403 → exit 3) and decides nothing.
    let out = talon(
        &w.cfg,
        &owner,
        "not-my-password\n",
        &["approvals", "approve", &id, "--confirm-stdin"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    assert_never_printed(&out, "not-my-password");
    assert_eq!(w.approval(&id).await["status"], "pending");

    let out = talon(
        &w.cfg,
        &owner,
        &format!("{PASSWORD}\n"),
        &[
            "approvals",
            "approve",
            &id,
            "--confirm-stdin",
            "--reason",
            "release 4.2",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("Approved {id}: read prod/db in production.")
    );
    assert_never_printed(&out, PASSWORD);
    let a = w.approval(&id).await;
    assert_eq!(a["status"], "approved");
    assert_eq!(a["decision_reason"], "release 4.2");
    assert_eq!(a["votes"][0]["credential_type"], "password");

    // The agent's gated read now goes through.
    let (s, v) = w.agent_read("prod/db").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["value"], VALUE);

    // TALON_CONFIRM works as well, and `show` has the whole approval.
    let other = w.held("prod/cache").await;
    let mut with_env = owner.clone();
    with_env.push(("TALON_CONFIRM", PASSWORD));
    let out = talon(&w.cfg, &with_env, "", &["approvals", "approve", &other]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_never_printed(&out, PASSWORD);
    let out = talon(&w.cfg, &owner, "", &["approvals", "show", &other, "--json"]);
    let shown: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(shown["status"], "approved", "{shown}");
    let (s, v) = w.agent_read("prod/cache").await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

async fn a_high_risk_decision_without_a_confirmation_fails_without_a_terminal(db: Db) {
    let w = world_with(db, &[]).await;
    w.gate("prod/**", json!({"risk_tier": 2})).await;
    let id = w.held("prod/db").await;

    // No terminal, no --confirm-stdin, no TALON_CONFIRM: a usage error before anything is sent.
    let out = talon(&w.cfg, &w.as_owner(), "", &["approvals", "approve", &id]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("risk tier 2") && err.contains("--confirm-stdin"),
        "{err}"
    );
    assert_eq!(w.approval(&id).await["status"], "pending");
    assert_eq!(w.approval(&id).await["votes"], json!([]));

    // An empty line on stdin is no confirmation either.
    let out = talon(
        &w.cfg,
        &w.as_owner(),
        "\n",
        &["approvals", "reject", &id, "--confirm-stdin"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(w.approval(&id).await["status"], "pending");

    // The agent cannot decide at all, and is told so.
    let out = talon(
        &w.cfg,
        &w.as_agent(),
        &format!("{PASSWORD}\n"),
        &["approvals", "approve", &id, "--confirm-stdin"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(w.approval(&id).await["status"], "pending");

    // Not an id at all: a usage error.
    let out = talon(
        &w.cfg,
        &w.as_owner(),
        "",
        &["approvals", "show", "../vaults"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

async fn reject_and_cancel_end_an_approval_and_the_read_stays_refused(db: Db) {
    let w = world_with(db, &[]).await;
    // Risk tier 1 needs no step-up.
    w.gate("prod/**", json!({"risk_tier": 1})).await;
    let id = w.held("prod/db").await;
    let owner = w.as_owner();

    let out = talon(
        &w.cfg,
        &owner,
        "",
        &[
            "approvals",
            "reject",
            &id,
            "--reason",
            "not during the freeze",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("Rejected {id}: read prod/db in production.")
    );
    let a = w.approval(&id).await;
    assert_eq!(a["status"], "rejected");
    assert_eq!(a["decision_reason"], "not during the freeze");

    // Decided once: approving now changes nothing.
    let out = talon(&w.cfg, &owner, "", &["approvals", "approve", &id]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already rejected"),
        "{}",
        stderr(&out)
    );
    assert_eq!(w.approval(&id).await["status"], "rejected");

    // The read is still refused, with a fresh approval; listed after the pending ones.
    let fresh = w.held("prod/db").await;
    assert_ne!(fresh, id);
    let out = talon(&w.cfg, &owner, "", &["approvals", "list"]);
    let ids: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_owned())
        .collect();
    assert_eq!(ids, [fresh.clone(), id.clone()], "{}", stdout(&out));

    // The agent withdraws its own request from the CLI.
    let out = talon(&w.cfg, &w.as_agent(), "", &["approvals", "cancel", &fresh]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("Cancelled approval {fresh}: read prod/db in production.")
    );
    let a = w.approval(&fresh).await;
    assert_eq!(
        (a["status"].as_str(), a["decision_reason"].as_str()),
        (Some("rejected"), Some("cancelled"))
    );
    let (s, _) = w.agent_read("prod/db").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

async fn talon_run_waits_for_an_approval_then_runs_with_the_secret(db: Db) {
    let w = world_with(db, &[]).await;
    w.gate("prod/db", json!({})).await;
    let agent = w.as_agent();

    let mut run = start_talon(
        &w.cfg,
        &agent,
        &[
            "run",
            "--",
            "sh",
            "-c",
            &format!("test \"$DB\" = '{VALUE}' && echo got"),
        ],
    );
    let line = run.line_with("Waiting for approval");
    assert!(
        line.contains("a person must approve reading prod/db"),
        "{line}"
    );
    let id = waiting_id(&line);
    assert_eq!(w.approval(&id).await["status"], "pending");
    // Still waiting, and the command has not run.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(run.child.try_wait().unwrap().is_none(), "{:?}", run.seen);

    w.decide(&id, "approve").await;
    let (status, out, err) = run.finish();
    assert!(status.success(), "{err}");
    assert_eq!(out, "got\n");
    assert!(!err.contains(VALUE), "{err}");
    let used = w.approval(&id).await;
    assert_eq!(used["use_count"], 1, "{used}");

    // The broker's reads wait the same way (the single-use approval above is spent).
    let mut run = start_talon(
        &w.cfg,
        &agent,
        &[
            "run",
            "--broker",
            "--secret",
            "DB=prod/db@db.example.com",
            "--",
            "sh",
            "-c",
            "case \"$DB\" in talon-ph-*) echo placeholder;; esac",
        ],
    );
    let line = run.line_with("Waiting for approval");
    let second = waiting_id(&line);
    assert_ne!(second, id);
    w.decide(&second, "approve").await;
    let (status, out, err) = run.finish();
    assert!(status.success(), "{err}");
    assert_eq!(out, "placeholder\n");
    assert!(!err.contains(VALUE), "{err}");
}

async fn talon_run_stops_when_the_approval_is_rejected_expires_or_times_out(db: Db) {
    let w = world_with(db, &[("TALON_APPROVAL_TTL_SECONDS", "6")]).await;
    w.gate("prod/db", json!({"risk_tier": 1})).await;
    let agent = w.as_agent();
    let script = "echo ran";

    // Our own timeout: exit 6, the command never runs, the approval stays pending.
    let out = talon(
        &w.cfg,
        &agent,
        "",
        &[
            "env",
            "run",
            "--approval-timeout",
            "1",
            "--",
            "sh",
            "-c",
            script,
        ],
    );
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("gave up waiting"), "{}", stderr(&out));
    let waited = waiting_id(
        stderr(&out)
            .lines()
            .find(|l| l.starts_with("Waiting for approval"))
            .expect("a waiting line"),
    );
    assert_eq!(w.approval(&waited).await["status"], "pending");

    // Run again: the same pending approval is waited for; a rejection ends the run (exit 3).
    let mut env = agent.clone();
    env.push(("TALON_APPROVAL_TIMEOUT", "30s"));
    let mut run = start_talon(&w.cfg, &env, &["run", "--", "sh", "-c", script]);
    let id = waiting_id(&run.line_with("Waiting for approval"));
    assert_eq!(id, waited, "the pending approval is reused");
    w.decide(&id, "reject").await;
    let (status, out, err) = run.finish();
    assert_eq!(status.code(), Some(3), "{err}");
    assert_eq!(out, "");
    assert!(
        err.contains(&format!(
            "error: approval {id} was rejected (checked by the on-call)"
        )),
        "{err}"
    );

    // Unanswered until it expires (6 s here): exit 3 as well.
    let started = Instant::now();
    let out = talon(&w.cfg, &agent, "", &["run", "--", "sh", "-c", script]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("expired before anyone approved it"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    // `--approval-timeout 0` does not wait at all.
    let out = talon(
        &w.cfg,
        &agent,
        "",
        &["run", "--approval-timeout", "0", "--", "sh", "-c", script],
    );
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("Waiting for approval"));
    let out = talon(
        &w.cfg,
        &agent,
        "",
        &[
            "run",
            "--approval-timeout",
            "soon",
            "--",
            "sh",
            "-c",
            script,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

async fn secret_requests_are_listed_fulfilled_and_declined_from_the_cli(db: Db) {
    let w = world_with(db, &[]).await;
    let ask = |label: &'static str, purpose: &'static str, path: Option<&'static str>| {
        let srv = &w.srv;
        let token = w.agent_token.clone();
        async move {
            let (s, v) = srv
                .post(
                    "/v1/secret-requests",
                    Some(&token),
                    json!({"label": label, "purpose": purpose, "suggested_path": path}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
            v["id"].as_str().unwrap().to_owned()
        }
    };
    let stripe = ask(
        "Stripe test key",
        "to run the billing integration tests",
        Some("ci/stripe"),
    )
    .await;
    let github = ask("GitHub token", "to open release PRs", None).await;
    let owner = w.as_owner();
    let new_value = "sk_test_51HxQ-fulfilled-value";

    let out = talon(&w.cfg, &owner, "", &["secret-requests", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = stdout(&out);
    let row = listed
        .lines()
        .find(|l| l.starts_with(&stripe))
        .unwrap_or_else(|| panic!("not listed: {listed}"));
    let cells: Vec<&str> = row.split('\t').collect();
    assert_eq!(
        cells[1..6],
        [
            "pending",
            "Stripe test key",
            "to run the billing integration tests",
            "deploy-bot",
            "ci/stripe"
        ],
        "{row}"
    );
    assert!(listed.contains(&github), "{listed}");

    // A value on the command line is refused, and nothing is stored.
    let out = talon(
        &w.cfg,
        &owner,
        "",
        &["secret-requests", "fulfil", &stripe, new_value],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("refusing a value on the command line"));

    // The vault by name, the suggested path, the value on stdin; read granted to the agent.
    let mut by_name = owner.clone();
    by_name.retain(|(k, _)| *k != "TALON_VAULT_ID");
    let out = talon(
        &w.cfg,
        &by_name,
        &format!("{new_value}\n"),
        &[
            "secret-requests",
            "fulfil",
            &stripe,
            "--vault",
            "production",
            "--grant",
            "read",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_never_printed(&out, new_value);
    assert!(
        stdout(&out).starts_with(&format!(
            "Fulfilled secret request {stripe}: stored at ci/stripe in vault {}",
            w.vault
        )),
        "{}",
        stdout(&out)
    );

    // The agent learns where it went, never the value, and may read it there.
    let (s, v) = w
        .srv
        .get(&format!("/v1/secret-requests/{stripe}"), &w.agent_token)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "fulfilled");
    assert_eq!(v["vault_id"], w.vault.as_str());
    assert_eq!(v["path"], "ci/stripe");
    assert_eq!(v["granted"], "read");
    assert!(!v.to_string().contains(new_value));
    let (s, v) = w.agent_read("ci/stripe").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["value"], new_value, "stored without the trailing newline");

    // Listing, showing and fulfilling again never print it either.
    for args in [
        vec!["secret-requests", "list", "--json"],
        vec!["secret-requests", "list", "--status", "fulfilled"],
        vec!["secret-requests", "show", &stripe],
    ] {
        let out = talon(&w.cfg, &owner, "", &args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_never_printed(&out, new_value);
        assert!(stdout(&out).contains(&stripe), "{args:?}");
    }
    let out = talon(
        &w.cfg,
        &owner,
        "another-value\n",
        &["secret-requests", "fulfil", &stripe],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already fulfilled"),
        "{}",
        stderr(&out)
    );

    // No suggested path and no --path: a usage error.
    let out = talon(
        &w.cfg,
        &owner,
        "ghp_x\n",
        &["secret-requests", "fulfil", &github],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("--path"), "{}", stderr(&out));

    let out = talon(
        &w.cfg,
        &owner,
        "",
        &[
            "secret-requests",
            "decline",
            &github,
            "--reason",
            "use the deploy key instead",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, v) = w
        .srv
        .get(&format!("/v1/secret-requests/{github}"), &w.agent_token)
        .await;
    assert_eq!(v["status"], "declined", "{v}");
    assert_eq!(v["decline_reason"], "use the deploy key instead");
    assert_eq!(v["path"], Value::Null);
    let out = talon(
        &w.cfg,
        &owner,
        "",
        &["secret-requests", "list", "--status", "declined", "--json"],
    );
    let doc: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let ids: Vec<&str> = doc["secret_requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [github.as_str()]);
}
