//! `env run` and `env pull` (CLI.md section 4): every readable secret of the vault becomes a
//! variable named after its last path segment; `env_bundle` secrets expand into their lines.

use super::{approvals, ApprovalWaitArgs, EnvCmd, Exit, Res, Session, NO_BODY};
use reqwest::Method;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;
use talon_api::env_bundle;
use talon_api::env_vars::{
    CreateEnvVarRequest, EnvVarListResponse, EnvVarResponse, ResolveEnvVarsResponse,
    UpdateEnvVarRequest,
};
use talon_api::secrets::{PutSecretRequest, SecretResponse, SecretVersionResponse};
use talon_api::SecretValue;

/// `api-keys/openai` → `OPENAI`; `db/prod-url` → `PROD_URL`.
pub fn var_name(path: &str) -> String {
    path.rsplit('/')
        .next()
        .unwrap_or(path)
        .chars()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Reads every readable secret under `prefix` into `NAME → value`; skipped ones are named on
/// stderr, values never printed. A read held for a person's approval is waited for (at most
/// `wait`, else until the approval expires) and then made.
async fn collect(
    s: &mut Session,
    prefix: &str,
    wait: Option<Duration>,
) -> Res<BTreeMap<String, SecretValue>> {
    let vault = s.vault()?;
    let mut paths: Vec<String> = s
        .list_secrets(&vault, prefix)
        .await?
        .into_iter()
        .map(|x| x.version.path)
        .collect();
    paths.sort();
    let mut out: BTreeMap<String, SecretValue> = BTreeMap::new();
    let mut from: BTreeMap<String, String> = BTreeMap::new();
    for (path, read) in approvals::read_all(s, &vault, &paths, wait).await? {
        let read: SecretResponse = match read {
            Ok(v) => v,
            Err(Exit(code, msg)) if (3..=5).contains(&code) => {
                eprintln!("warning: skipped {path}: {msg}");
                continue;
            }
            Err(e) => return Err(e),
        };
        let pairs: Vec<(String, SecretValue)> = if read.version.secret_type == "env_bundle" {
            env_bundle::parse(read.value.expose_secret())
        } else {
            vec![(var_name(&path), read.value)]
        };
        for (name, v) in pairs {
            if let Some(prev) = from.insert(name.clone(), path.clone()) {
                eprintln!("warning: {name} from {prev} is overridden by {path}");
            }
            out.insert(name, v);
        }
    }
    Ok(out)
}

/// The resolved environment variables of `environment` (with `git_branch`'s overrides).
async fn resolve(
    s: &mut Session,
    environment: &str,
    git_branch: Option<&str>,
) -> Res<BTreeMap<String, SecretValue>> {
    let vault = s.vault()?;
    let mut query = vec![("environment", environment)];
    if let Some(b) = git_branch {
        query.push(("git_branch", b));
    }
    let out: ResolveEnvVarsResponse = s
        .fetch(
            Method::GET,
            &format!("/v1/vaults/{vault}/env-vars/resolve"),
            &query,
            NO_BODY,
        )
        .await?;
    Ok(out.vars)
}

/// `env push -e`: each line becomes the environment's variable. A key already set there is
/// updated in place when it applies to that environment only; one shared with other
/// environments keeps their value and gets a variable of its own here.
async fn push_env_vars(
    s: &mut Session,
    text: &SecretValue,
    environment: &str,
    git_branch: Option<&str>,
) -> Res<i32> {
    let vault = s.vault()?;
    let existing: EnvVarListResponse = s
        .fetch(
            Method::GET,
            &format!("/v1/vaults/{vault}/env-vars"),
            &[("environment", environment)],
            NO_BODY,
        )
        .await?;
    let branch = git_branch.unwrap_or("");
    let pairs: BTreeMap<String, SecretValue> = env_bundle::parse(text.expose_secret())
        .into_iter()
        .collect();
    let count = pairs.len();
    let mut query = vec![("environment", environment)];
    if let Some(b) = git_branch {
        query.push(("git_branch", b));
    }
    for (key, value) in pairs {
        let here = existing
            .env_vars
            .iter()
            .find(|v| v.key == key && v.git_branch.as_deref().unwrap_or("") == branch);
        let path = format!("/v1/vaults/{vault}/env-vars/{key}");
        match here {
            Some(v) if v.environments.len() == 1 => {
                let body = UpdateEnvVarRequest {
                    value: Some(value),
                    ..UpdateEnvVarRequest::default()
                };
                let _: EnvVarResponse = s.fetch(Method::PATCH, &path, &query, Some(&body)).await?;
                eprintln!("updated {key}");
                continue;
            }
            Some(_) => {
                s.call(Method::DELETE, &path, &query, None).await?;
            }
            None => {}
        }
        let body = CreateEnvVarRequest {
            key: key.clone(),
            value,
            environments: Some(vec![environment.to_owned()]),
            git_branch: git_branch.map(str::to_owned),
            sensitive: None,
            comment: None,
        };
        let _: EnvVarResponse = s
            .fetch(
                Method::POST,
                &format!("/v1/vaults/{vault}/env-vars"),
                &[],
                Some(&body),
            )
            .await?;
        eprintln!("stored {key}");
    }
    println!("Pushed {count} variable(s) to {environment}.");
    Ok(0)
}

/// Quotes a `.env` value when it holds whitespace, `#`, quotes or newlines.
fn dotenv_value(v: &str) -> String {
    if v.chars()
        .any(|c| c.is_whitespace() || matches!(c, '#' | '"' | '\'' | '\\'))
    {
        let escaped = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .replace('\r', "\\r");
        format!("\"{escaped}\"")
    } else {
        v.to_owned()
    }
}

/// `env run` (and `talon run` without `--broker`): runs `command` with every readable secret
/// under `prefix` in its environment (`no_override` keeps variables already set) and answers
/// its exit status. Reads held for approval are waited for first, as `wait` says.
pub(super) async fn run_with_secrets(
    s: &mut Session,
    prefix: Option<&str>,
    no_override: bool,
    wait: &ApprovalWaitArgs,
    command: &[String],
) -> Res<i32> {
    let wait = approvals::wait_limit(s, wait)?;
    let vars = collect(s, prefix.unwrap_or(""), wait).await?;
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Exit::usage("give a command after --"))?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args);
    for (k, v) in &vars {
        if no_override && crate::config::is_set(k) {
            continue;
        }
        cmd.env(k, v.expose_secret());
    }
    let child = cmd
        .spawn()
        .map_err(|e| Exit(127, format!("cannot run {program}: {e}")))?;
    drop(vars);
    wait_for(child, program).await
}

/// Waits for `child` (started as `program`) and answers its exit status, or 128 + the signal
/// that ended it. The child shares our process group, so a terminal's Ctrl-C reaches it
/// directly (we only keep running to report its status); SIGTERM and SIGHUP sent to us alone
/// are passed on.
pub(super) async fn wait_for(mut child: tokio::process::Child, program: &str) -> Res<i32> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Exit(6, format!("cannot watch signals: {e}")))?;
    let mut hup =
        signal(SignalKind::hangup()).map_err(|e| Exit(6, format!("cannot watch signals: {e}")))?;
    let pid = child.id().map(|p| p.to_string());
    let forward = |sig: &str| {
        if let Some(pid) = &pid {
            let _ = std::process::Command::new("kill")
                .args(["-s", sig, pid])
                .status();
        }
    };
    let status = loop {
        tokio::select! {
            st = child.wait() => break st.map_err(|e| Exit(6, format!("waiting for {program}: {e}")))?,
            _ = tokio::signal::ctrl_c() => continue,
            _ = term.recv() => forward("TERM"),
            _ = hup.recv() => forward("HUP"),
        }
    };
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

pub async fn run(s: &mut Session, c: EnvCmd) -> Res<i32> {
    match c {
        EnvCmd::Run {
            prefix,
            no_override,
            wait,
            command,
        } => run_with_secrets(s, prefix.as_deref(), no_override, &wait, &command).await,
        EnvCmd::Push {
            file,
            prefix,
            secret_type,
            environment,
            git_branch,
        } => {
            let text = SecretValue::new(
                std::fs::read_to_string(&file)
                    .map_err(|e| Exit::usage(format!("cannot read {}: {e}", file.display())))?,
            );
            if let Some(env) = environment {
                return push_env_vars(s, &text, &env, git_branch.as_deref()).await;
            }
            let vault = s.vault()?;
            // Pushed in key order, one `PUT` per line.
            let pairs: BTreeMap<String, SecretValue> = env_bundle::parse(text.expose_secret())
                .into_iter()
                .collect();
            let count = pairs.len();
            for (key, value) in pairs {
                let path = match prefix.as_deref().map(|p| p.trim_matches('/')) {
                    Some(p) if !p.is_empty() => format!("{p}/{key}"),
                    _ => key.clone(),
                };
                let body = PutSecretRequest {
                    value,
                    secret_type: secret_type.clone(),
                    metadata: None,
                    expires_at: None,
                    max_access_count: None,
                };
                let _: SecretVersionResponse = s
                    .fetch(
                        Method::PUT,
                        &format!("/v1/vaults/{vault}/secrets/{path}"),
                        &[],
                        Some(&body),
                    )
                    .await?;
                eprintln!("stored {path}");
            }
            println!("Pushed {count} secret(s).");
            Ok(0)
        }
        EnvCmd::Pull {
            out_file,
            prefix,
            environment,
            git_branch,
            wait,
        } => {
            let wait = approvals::wait_limit(s, &wait)?;
            let vars = match environment {
                Some(env) => resolve(s, &env, git_branch.as_deref()).await?,
                None => collect(s, prefix.as_deref().unwrap_or(""), wait).await?,
            };
            let mut text = String::new();
            for (k, v) in &vars {
                text.push_str(&format!("{k}={}\n", dotenv_value(v.expose_secret())));
            }
            let text = SecretValue::new(text);
            match out_file {
                Some(path) => {
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o600)
                        .open(&path)
                        .map_err(|e| Exit(1, format!("cannot write {}: {e}", path.display())))?;
                    f.write_all(text.expose_secret().as_bytes())
                        .map_err(|e| Exit(1, format!("cannot write {}: {e}", path.display())))?;
                    eprintln!("Wrote {} variable(s) to {}", vars.len(), path.display());
                }
                None => {
                    let _ = std::io::stdout().write_all(text.expose_secret().as_bytes());
                }
            }
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_come_from_the_last_segment() {
        for (path, want) in [
            ("api-keys/openai", "OPENAI"),
            ("db/prod-url", "PROD_URL"),
            ("TOKEN", "TOKEN"),
            ("a/b.c_d9", "B_C_D9"),
        ] {
            assert_eq!(var_name(path), want);
        }
    }

    #[test]
    fn dotenv_values_are_quoted_only_when_needed() {
        assert_eq!(dotenv_value("plain"), "plain");
        assert_eq!(dotenv_value("two words"), "\"two words\"");
        assert_eq!(dotenv_value("a\"b\nc"), "\"a\\\"b\\nc\"");
    }
}
