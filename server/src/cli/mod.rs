//! The `talon` client commands (CLI.md): a REST client of a Talon server with 1claw's command
//! set. Secret values are printed only by `secret get`, `share open` and `env pull`, and never
//! taken from the command line.

mod admin;
mod agent;
mod approvals;
pub mod args;
mod audit;
mod broker;
mod env;
mod login;
mod policy;
mod prompt;
mod secret;
mod secret_requests;
mod settings;
mod share;
mod store;
mod vault;

use crate::client::{Client, Failure};
use crate::config::ClientEnv;
use crate::mcp::stdio::DEFAULT_URL;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use talon_api::auth::{AgentTokenRequest, TokenResponse};
use talon_api::secrets::{SecretListResponse, SecretMetadataResponse};
use talon_api::BearerSecret;

/// No request body.
const NO_BODY: Option<&()> = None;
use std::io::{IsTerminal, Read, Write};
use store::Stored;

use args::*;

/// A command's failure: the exit code (CLI.md section 5) and one line for stderr.
pub struct Exit(pub i32, pub String);

impl Exit {
    fn usage(msg: impl Into<String>) -> Exit {
        Exit(1, msg.into())
    }
}

/// Exit code of a failed HTTP call.
fn exit_code(f: &Failure) -> i32 {
    match f.status {
        401 => 2,
        403 => 3,
        404 => 4,
        410 => 5,
        0 | 402 | 429 => 6,
        s if s >= 500 => 6,
        _ => 1,
    }
}

fn failure_exit(f: Failure, verbose: bool) -> Exit {
    let mut msg = f.detail.clone();
    if verbose {
        if let Some(id) = &f.request_id {
            msg.push_str(&format!(" (request {id}, status {})", f.status));
        }
    }
    Exit(exit_code(&f), msg)
}

type Res<T = ()> = Result<T, Exit>;

/// Output format.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Table,
    Json,
    Plain,
}

/// The state of one client invocation.
pub struct Session {
    g: GlobalArgs,
    stored: Stored,
    client: Client,
    format: Format,
    bearer: Option<String>,
    env: ClientEnv,
}

impl Session {
    fn new(g: GlobalArgs, env: ClientEnv) -> Res<Session> {
        let stored = Stored::load(env.config_dir.clone());
        let url = g
            .api_url
            .clone()
            .or_else(|| env.base_url.clone())
            .or_else(|| stored.setting("api-url"))
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let format = match g
            .output
            .clone()
            .or_else(|| g.json.then(|| "json".to_owned()))
            .or_else(|| stored.setting("output-format"))
            .as_deref()
        {
            Some("json") => Format::Json,
            Some("plain") => Format::Plain,
            Some("table") => Format::Table,
            Some(other) => {
                return Err(Exit::usage(format!(
                    "unknown output format '{other}' (table, json or plain)"
                )))
            }
            None if std::io::stdout().is_terminal() => Format::Table,
            None => Format::Plain,
        };
        Ok(Session {
            client: Client::new(&url),
            g,
            stored,
            format,
            bearer: None,
            env,
        })
    }

    /// The bearer token, by CLI.md's precedence: `--token`, `TALON_TOKEN`, `TALON_API_KEY`
    /// (exchanged), then the stored login.
    async fn bearer(&mut self) -> Res<String> {
        if let Some(b) = &self.bearer {
            return Ok(b.clone());
        }
        let token = if let Some(t) = self.g.token.clone().or_else(|| self.env.token.clone()) {
            t
        } else if let Some(key) = self.env.api_key.clone() {
            self.exchange_key(&key, self.env.agent_id.clone()).await?
        } else if let Some(key) = self.stored.credential("api_key") {
            self.exchange_key(&key, None).await?
        } else if let Some(t) = self.stored.credential("access_token") {
            self.fresh_stored_token(t).await?
        } else {
            return Err(Exit(
                2,
                "not logged in: run `talon login`, or set TALON_TOKEN or TALON_API_KEY".into(),
            ));
        };
        self.bearer = Some(token.clone());
        Ok(token)
    }

    /// Exchanges a `1ck_` (personal) or `ocv_` (agent) key for a JWT.
    async fn exchange_key(&self, key: &str, agent_id: Option<String>) -> Res<String> {
        let path = if key.starts_with("ocv_") {
            "/v1/auth/agent-token"
        } else {
            "/v1/auth/api-key-token"
        };
        let body = AgentTokenRequest {
            api_key: BearerSecret::new(key.to_owned()),
            agent_id,
        };
        let answer: TokenResponse = self
            .client
            .fetch(Method::POST, path, None, &[], Some(&body))
            .await
            .map_err(|f| failure_exit(f, self.g.verbose))?;
        Ok(answer.access_token.expose_secret().to_owned())
    }

    /// The stored access token, refreshed with the stored refresh token when it has expired.
    async fn fresh_stored_token(&mut self, token: String) -> Res<String> {
        let expires_at = self
            .stored
            .credential("expires_at")
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(i64::MAX);
        if store::now_s() + 30 < expires_at {
            return Ok(token);
        }
        let Some(refresh) = self.stored.credential("refresh_token") else {
            return Err(Exit(
                2,
                "the stored login has expired: run `talon login`".into(),
            ));
        };
        let tokens: TokenResponse = self
            .client
            .fetch(
                Method::POST,
                "/v1/auth/refresh",
                None,
                &[],
                Some(&json!({ "refresh_token": refresh })),
            )
            .await
            .map_err(|f| failure_exit(f, self.g.verbose))?;
        self.store_tokens(&tokens)?;
        Ok(tokens.access_token.expose_secret().to_owned())
    }

    /// Keeps a sign-in's tokens in the credentials file for later commands.
    fn store_tokens(&mut self, tokens: &TokenResponse) -> Res {
        let mut creds = json!({
            "access_token": tokens.access_token.expose_secret(),
            "expires_at": (store::now_s() + tokens.expires_in).to_string(),
        });
        if let Some(r) = &tokens.refresh_token {
            creds["refresh_token"] = json!(r.expose_secret());
        }
        self.stored
            .save_credentials(creds)
            .map_err(|e| Exit(6, format!("cannot store credentials: {e}")))
    }

    /// One authenticated call; 429 is retried up to 3 times honouring `Retry-After`.
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Res<Value> {
        let bearer = self.bearer().await?;
        let client = self.client.clone();
        self.retrying(&method, path, || {
            client.call(method.clone(), path, Some(&bearer), query, body)
        })
        .await
    }

    /// Sends with `send` until it answers other than 429 (at most 3 retries, honouring
    /// `Retry-After` up to 30 s); a failure becomes the command's exit.
    async fn retrying<T, F, Fut>(&self, method: &Method, path: &str, send: F) -> Res<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        self.retrying_raw(method, path, send)
            .await
            .map_err(|f| failure_exit(f, self.g.verbose))
    }

    /// [`Session::retrying`], answering the last [`Failure`] itself (for callers that act on
    /// its kind, like a read held for approval).
    async fn retrying_raw<T, F, Fut>(
        &self,
        method: &Method,
        path: &str,
        mut send: F,
    ) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let mut attempt = 0;
        loop {
            match send().await {
                Err(f) if f.status == 429 && attempt < 3 => {
                    attempt += 1;
                    let wait = f.retry_after.unwrap_or(1).min(30);
                    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                }
                Err(f) => return Err(f),
                Ok(v) => {
                    if self.g.verbose {
                        eprintln!("{method} {path}: ok");
                    }
                    return Ok(v);
                }
            }
        }
    }

    async fn get(&mut self, path: &str) -> Res<Value> {
        self.call(Method::GET, path, &[], None).await
    }

    /// The latest value at `path` of `vault` (a counted, audited read).
    async fn read_secret(
        &mut self,
        vault: &str,
        path: &str,
    ) -> Res<talon_api::secrets::SecretResponse> {
        self.fetch(
            Method::GET,
            &format!("/v1/vaults/{vault}/secrets/{path}"),
            &[],
            None::<&()>,
        )
        .await
    }

    /// [`Session::read_secret`], answering a refused read as its [`Failure`] (so that a read
    /// held for approval can be waited for); only a missing credential is an [`Exit`].
    async fn try_read_secret(
        &mut self,
        vault: &str,
        path: &str,
    ) -> Res<Result<talon_api::secrets::SecretResponse, Failure>> {
        let bearer = self.bearer().await?;
        let client = self.client.clone();
        let url = format!("/v1/vaults/{vault}/secrets/{path}");
        Ok(self
            .retrying_raw(&Method::GET, &url, || {
                client.fetch(Method::GET, &url, Some(&bearer), &[], NO_BODY)
            })
            .await)
    }

    /// One authenticated JSON call answering the [`Failure`] itself (429 retried as in
    /// [`Session::call`]).
    async fn try_call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Res<Result<Value, Failure>> {
        let bearer = self.bearer().await?;
        let client = self.client.clone();
        Ok(self
            .retrying_raw(&method, path, || {
                client.call(method.clone(), path, Some(&bearer), &[], body)
            })
            .await)
    }

    /// [`Session::fetch`] with extra headers (a decision's step-up `X-Auth-Confirm`), answering
    /// the [`Failure`] itself.
    async fn try_fetch_with_headers<T, B>(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&B>,
    ) -> Res<Result<T, Failure>>
    where
        T: DeserializeOwned,
        B: Serialize + ?Sized,
    {
        let bearer = self.bearer().await?;
        let client = self.client.clone();
        Ok(self
            .retrying_raw(&method, path, || {
                client.fetch_with_headers(method.clone(), path, Some(&bearer), headers, body)
            })
            .await)
    }

    /// One authenticated call with a typed body, decoded as the contract type `T`; 429 is
    /// retried as in [`Session::call`].
    async fn fetch<T, B>(
        &mut self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Res<T>
    where
        T: DeserializeOwned,
        B: Serialize + ?Sized,
    {
        let bearer = self.bearer().await?;
        let client = self.client.clone();
        self.retrying(&method, path, || {
            client.fetch(method.clone(), path, Some(&bearer), query, body)
        })
        .await
    }

    /// The latest-version metadata of every readable secret under `prefix` of `vault`.
    async fn list_secrets(
        &mut self,
        vault: &str,
        prefix: &str,
    ) -> Res<Vec<SecretMetadataResponse>> {
        let list: SecretListResponse = self
            .fetch(
                Method::GET,
                &format!("/v1/vaults/{vault}/secrets"),
                &[("prefix", prefix)],
                NO_BODY,
            )
            .await?;
        Ok(list.secrets)
    }

    /// The vault for vault-scoped commands.
    fn vault(&self) -> Res<String> {
        self.g
            .vault
            .clone()
            .or_else(|| self.env.vault_id.clone())
            .or_else(|| self.stored.setting("default-vault"))
            .ok_or_else(|| {
                Exit::usage(
                    "no vault selected: pass --vault ID, set TALON_VAULT_ID, or run `talon vault link ID`",
                )
            })
    }

    /// Prints a REST object: JSON for scripts, `key: value` lines for people.
    fn show(&self, v: &Value) {
        match self.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
            _ => {
                if let Some(obj) = v.as_object() {
                    for (k, x) in obj {
                        println!("{k}: {}", scalar(x));
                    }
                } else {
                    println!("{}", scalar(v));
                }
            }
        }
    }

    /// Prints a one-time key: the key alone on stdout, `what` on stderr when stdout is not a
    /// terminal (so `KEY=$(talon … create)` captures only the key); JSON prints the document.
    fn print_once(&self, v: &Value, field: &str, what: &str) {
        if self.format == Format::Json {
            self.show(v);
            return;
        }
        let key = scalar(&v[field]);
        let details = format!("{what}. The key is shown once:");
        if std::io::stdout().is_terminal() {
            println!("{details}\n{key}");
        } else {
            eprintln!("{details}");
            println!("{key}");
        }
    }

    /// Prints a list: the JSON document as returned, or one row per item with `columns`.
    fn show_list(&self, doc: &Value, key: &str, columns: &[&str]) {
        if self.format == Format::Json {
            println!("{}", serde_json::to_string_pretty(doc).unwrap_or_default());
            return;
        }
        let items = doc[key].as_array().cloned().unwrap_or_default();
        let rows: Vec<Vec<String>> = items
            .iter()
            .map(|i| columns.iter().map(|c| scalar(&i[*c])).collect())
            .collect();
        if self.format == Format::Table {
            let widths: Vec<usize> = columns
                .iter()
                .enumerate()
                .map(|(n, c)| {
                    rows.iter()
                        .map(|r| r[n].chars().count())
                        .chain([c.len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |cells: Vec<String>| {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
            };
            println!(
                "{}",
                line(columns.iter().map(|c| c.to_uppercase()).collect())
            );
            for r in rows {
                println!("{}", line(r));
            }
        } else {
            for r in rows {
                println!("{}", r.join("\t"));
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(scalar).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn read_stdin() -> Res<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| Exit::usage(format!("cannot read stdin: {e}")))?;
    Ok(s)
}

fn parse_json(field: &str, s: &Option<String>) -> Res<Option<Value>> {
    s.as_deref()
        .map(|t| serde_json::from_str(t).map_err(|_| Exit::usage(format!("{field} must be JSON"))))
        .transpose()
}

/// Runs one client command; returns the process exit code.
pub fn run(g: GlobalArgs, command: ClientCommand) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return 6;
        }
    };
    let result = rt.block_on(async move {
        let mut s = Session::new(g, ClientEnv::read())?;
        dispatch(&mut s, command).await
    });
    match result {
        Ok(code) => code,
        Err(Exit(code, msg)) => {
            eprintln!("error: {msg}");
            code
        }
    }
}

async fn dispatch(s: &mut Session, command: ClientCommand) -> Res<i32> {
    match command {
        ClientCommand::Login(a) => login::run(s, a).await?,
        ClientCommand::Logout => {
            if let Ok(b) = s.bearer().await {
                if let Err(f) = s
                    .client
                    .call(Method::DELETE, "/v1/auth/token", Some(&b), &[], None)
                    .await
                {
                    eprintln!("warning: the server did not revoke the token: {}", f.detail);
                }
            }
            s.stored
                .clear_credentials()
                .map_err(|e| Exit(6, format!("cannot delete credentials: {e}")))?;
            println!("Logged out.");
        }
        ClientCommand::Whoami => {
            let bearer = s.bearer().await?;
            let is_agent = s
                .client
                .call(Method::GET, "/v1/agents/me", Some(&bearer), &[], None)
                .await;
            let mut v = match is_agent {
                Ok(a) => json!({"type": "agent", "agent": a}),
                Err(_) => json!({"type": "user", "user": s.get("/v1/auth/me").await?}),
            };
            v["server"] = json!(s.client.base());
            v["default_vault"] = json!(s.vault().ok());
            s.show(&v);
        }
        ClientCommand::Config(c) => settings::run(s, c)?,
        ClientCommand::Vault(c) => vault::run(s, c).await?,
        ClientCommand::Secret(c) => return secret::run(s, c).await,
        ClientCommand::Env(c) => return env::run(s, c).await,
        ClientCommand::Run(a) => return broker::run(s, a).await,
        ClientCommand::Agent(c) => agent::run(s, c).await?,
        ClientCommand::Policy(c) => policy::run(s, c).await?,
        ClientCommand::Approvals(c) => approvals::run(s, c).await?,
        ClientCommand::SecretRequests(c) => secret_requests::run(s, c).await?,
        ClientCommand::Share(c) => share::run(s, c).await?,
        ClientCommand::Audit(c) => return audit::run(s, c).await,
        ClientCommand::Apikey(c) => admin::apikey(s, c).await?,
        ClientCommand::Member(c) => admin::member(s, c).await?,
        ClientCommand::IpRule(c) => admin::ip_rule(s, c).await?,
        ClientCommand::Mfa(c) => admin::mfa(s, c).await?,
        ClientCommand::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut crate::config::Cli::command(),
                "talon",
                &mut std::io::stdout(),
            );
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_definition_is_consistent() {
        use clap::CommandFactory;
        crate::config::Cli::command().debug_assert();
    }

    #[test]
    fn durations_read_like_24h() {
        assert_eq!(share::duration_s("24h"), Some(86_400));
        assert_eq!(share::duration_s("30m"), Some(1_800));
        assert_eq!(share::duration_s("7d"), Some(604_800));
        assert_eq!(share::duration_s("h"), None);
        assert_eq!(share::duration_s("5x"), None);
    }

    #[test]
    fn http_statuses_map_to_documented_exit_codes() {
        for (status, code) in [
            (401, 2),
            (403, 3),
            (404, 4),
            (410, 5),
            (0, 6),
            (503, 6),
            (429, 6),
            (400, 1),
        ] {
            assert_eq!(exit_code(&Failure::new(status, "x")), code, "{status}");
        }
    }
}
