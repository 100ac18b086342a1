//! The `talon` client commands (CLI.md): a REST client of a Talon server with 1claw's command
//! set. Secret values are printed only by `secret get`, `share open` and `env pull`, and never
//! taken from the command line.

mod admin;
mod env;
mod store;

use crate::client::{Client, Failure};
use crate::mcp::stdio::{env_any, DEFAULT_URL};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};
use std::io::{IsTerminal, Read, Write};
use store::Stored;

/// Flags every client command accepts.
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Talon server URL (default: ONECLAW_BASE_URL / TALON_URL, then the `api-url` setting).
    #[arg(long, global = true)]
    pub api_url: Option<String>,
    /// Vault for vault-scoped commands (default: ONECLAW_VAULT_ID / TALON_VAULT_ID, then
    /// `default-vault`).
    #[arg(long, global = true)]
    pub vault: Option<String>,
    /// Same as `--output json`.
    #[arg(long, global = true)]
    pub json: bool,
    /// `table`, `json` or `plain`.
    #[arg(long, global = true)]
    pub output: Option<String>,
    /// Request ids and HTTP statuses on stderr.
    #[arg(long, global = true)]
    pub verbose: bool,
    /// Skip confirmations.
    #[arg(long, global = true)]
    pub yes: bool,
    /// A bearer token to use instead of the stored login.
    #[arg(long, global = true, hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Sign in and store the credentials.
    Login(LoginArgs),
    /// Revoke the stored token and delete the stored credentials.
    Logout,
    /// Who the current credentials name.
    Whoami,
    /// CLI settings: api-url, output-format, default-vault.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Vaults.
    #[command(subcommand)]
    Vault(VaultCmd),
    /// Secrets of the selected vault.
    #[command(subcommand)]
    Secret(SecretCmd),
    /// Environment injection: `env run -- CMD`, `env pull`.
    #[command(subcommand)]
    Env(EnvCmd),
    /// Agents.
    #[command(subcommand)]
    Agent(AgentCmd),
    /// Access policies of the selected vault.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Secret sharing.
    #[command(subcommand)]
    Share(ShareCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Personal API keys (`1ck_`).
    #[command(subcommand)]
    Apikey(admin::ApikeyCmd),
    /// Organization members.
    #[command(subcommand)]
    Member(admin::MemberCmd),
    /// Organization IP allow/deny rules.
    #[command(subcommand)]
    IpRule(admin::IpRuleCmd),
    /// Two-factor authentication.
    #[command(subcommand)]
    Mfa(admin::MfaCmd),
    /// Print a shell completion script: `talon completions bash > /etc/bash_completion.d/talon`.
    Completions { shell: clap_complete::Shell },
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Log in with email and password (prompted, or `--password-stdin`).
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    pub email: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Read a `1ck_` personal API key from stdin and store it.
    #[arg(long)]
    pub api_key: bool,
    /// Device flow: only print the verification link, do not open a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Device flow: the account expected to approve.
    #[arg(long)]
    pub email_hint: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    List,
    Get { key: String },
    Set { key: String, value: String },
    Unset { key: String },
}

#[derive(Subcommand, Debug)]
pub enum VaultCmd {
    List,
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    Get {
        id: String,
    },
    /// Make a vault (id or unique name) the default vault.
    Link {
        id: String,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum SecretCmd {
    List {
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Print a secret's value (bare when stdout is not a terminal or with `--output plain`).
    Get {
        path: String,
        #[arg(long)]
        version: Option<i64>,
        /// `value` (default) or `json`.
        #[arg(long)]
        field: Option<String>,
    },
    /// Store a new version; the value comes from stdin or `--file`, never from an argument.
    Set {
        path: String,
        /// Refused: values on the command line land in shell history.
        value: Option<String>,
        #[arg(long = "type")]
        secret_type: Option<String>,
        #[arg(long)]
        metadata: Option<String>,
        #[arg(long)]
        expires_at: Option<String>,
        #[arg(long)]
        max_access_count: Option<i64>,
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    Delete {
        path: String,
    },
    /// Metadata of the latest version, never the value.
    Describe {
        path: String,
    },
    /// Server-side rotation to a fresh random value.
    Rotate {
        path: String,
        #[arg(long)]
        length: Option<i64>,
        #[arg(long)]
        charset: Option<String>,
        /// Read the new value back and print it.
        #[arg(long)]
        print: bool,
    },
    Versions {
        path: String,
    },
    DisableVersion {
        path: String,
        version: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum EnvCmd {
    /// Run CMD with the vault's secrets added to its environment; exits with CMD's status.
    Run {
        #[arg(long)]
        prefix: Option<String>,
        /// Keep variables already set in the environment.
        #[arg(long)]
        no_override: bool,
        #[arg(trailing_var_arg = true, required = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Store each `KEY=VALUE` line of FILE as a secret at `<prefix>/<KEY>`.
    Push {
        file: std::path::PathBuf,
        #[arg(long)]
        prefix: Option<String>,
        #[arg(long = "type")]
        secret_type: Option<String>,
    },
    /// Write the vault's secrets as a `.env` (mode 0600), or to stdout without `-o`.
    Pull {
        /// File to write (`-o`; the global `--output` is the format).
        #[arg(short = 'o', id = "out_file", value_name = "FILE")]
        out_file: Option<std::path::PathBuf>,
        #[arg(long)]
        prefix: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AgentCmd {
    List,
    /// Create an agent; prints its `ocv_` key once.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        vault_ids: Vec<String>,
        #[arg(long)]
        token_ttl: Option<i64>,
        #[arg(long)]
        expires_at: Option<String>,
    },
    Get {
        id: String,
    },
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        #[arg(long, value_delimiter = ',')]
        vault_ids: Option<Vec<String>>,
        #[arg(long)]
        token_ttl: Option<i64>,
        #[arg(long)]
        active: Option<bool>,
        #[arg(long)]
        expires_at: Option<String>,
    },
    Delete {
        id: String,
    },
    /// Prints a new key once.
    RotateKey {
        id: String,
    },
    /// Exchange ONECLAW_AGENT_API_KEY for a JWT and print it.
    Token,
    /// Ask to join an organization; prints the URL where a human approves.
    Enroll {
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        description: Option<String>,
    },
    Me,
}

#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    List,
    Create {
        #[arg(long)]
        principal_type: String,
        #[arg(long)]
        principal_id: String,
        #[arg(long)]
        pattern: String,
        #[arg(long, value_delimiter = ',', required = true)]
        permissions: Vec<String>,
        #[arg(long)]
        conditions: Option<String>,
        #[arg(long)]
        expires_at: Option<String>,
        #[arg(long)]
        effect: Option<String>,
    },
    Update {
        id: String,
        #[arg(long, value_delimiter = ',')]
        permissions: Option<Vec<String>>,
        #[arg(long)]
        conditions: Option<String>,
        #[arg(long)]
        expires_at: Option<String>,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ShareCmd {
    /// Share a secret (by id or `--path`); prints the share URL.
    Create {
        secret_id: Option<String>,
        #[arg(long)]
        path: Option<String>,
        #[arg(long = "type")]
        recipient_type: String,
        #[arg(long)]
        recipient: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        expires_at: Option<String>,
        /// Like `24h`, `30m`, `7d`.
        #[arg(long)]
        expires_in: Option<String>,
        #[arg(long)]
        max_access_count: Option<i64>,
    },
    List {
        #[arg(long)]
        inbound: bool,
    },
    /// Read a shared secret.
    Open {
        id: String,
        #[arg(long)]
        passphrase_stdin: bool,
    },
    Accept {
        id: String,
    },
    Decline {
        id: String,
    },
    Revoke {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    List {
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        actor_type: Option<String>,
        #[arg(long)]
        actor_id: Option<String>,
        #[arg(long)]
        resource_id: Option<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        limit: Option<String>,
        #[arg(long)]
        offset: Option<String>,
    },
    /// Exit 0 when the hash chain is intact, 7 otherwise.
    Verify {
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
    },
}

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
}

impl Session {
    fn new(g: GlobalArgs) -> Res<Session> {
        let stored = Stored::load();
        let url = g
            .api_url
            .clone()
            .or_else(|| env_any(&["ONECLAW_BASE_URL", "ONECLAW_API_URL", "TALON_URL"]))
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
        })
    }

    /// The bearer token, by CLI.md's precedence: `--token`, `TALON_TOKEN`, `TALON_API_KEY`
    /// (exchanged), then the stored login.
    async fn bearer(&mut self) -> Res<String> {
        if let Some(b) = &self.bearer {
            return Ok(b.clone());
        }
        let token = if let Some(t) = self
            .g
            .token
            .clone()
            .or_else(|| env_any(&["ONECLAW_TOKEN", "TALON_TOKEN"]))
        {
            t
        } else if let Some(key) = env_any(&["ONECLAW_API_KEY", "TALON_API_KEY"]) {
            self.exchange_key(&key, env_any(&["ONECLAW_AGENT_ID", "TALON_AGENT_ID"]))
                .await?
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
        let (path, mut body) = if key.starts_with("ocv_") {
            ("/v1/auth/agent-token", json!({ "api_key": key }))
        } else {
            ("/v1/auth/api-key-token", json!({ "api_key": key }))
        };
        if let Some(id) = agent_id {
            body["agent_id"] = json!(id);
        }
        let v = self
            .client
            .call(Method::POST, path, None, &[], Some(&body))
            .await
            .map_err(|f| failure_exit(f, self.g.verbose))?;
        v["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Exit(2, "the server issued no token for this key".into()))
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
        let v = self
            .client
            .call(
                Method::POST,
                "/v1/auth/refresh",
                None,
                &[],
                Some(&json!({ "refresh_token": refresh })),
            )
            .await
            .map_err(|f| failure_exit(f, self.g.verbose))?;
        self.store_tokens(&v)?;
        Ok(v["access_token"].as_str().unwrap_or_default().to_owned())
    }

    fn store_tokens(&mut self, v: &Value) -> Res {
        let access = v["access_token"].as_str().unwrap_or_default();
        let mut creds = json!({
            "access_token": access,
            "expires_at": (store::now_s() + v["expires_in"].as_i64().unwrap_or(900)).to_string(),
        });
        if let Some(r) = v["refresh_token"].as_str() {
            creds["refresh_token"] = json!(r);
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
        let mut attempt = 0;
        loop {
            let r = self
                .client
                .call(method.clone(), path, Some(&bearer), query, body)
                .await;
            match r {
                Err(f) if f.status == 429 && attempt < 3 => {
                    attempt += 1;
                    let wait = f.retry_after.unwrap_or(1).min(30);
                    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                }
                Err(f) => return Err(failure_exit(f, self.g.verbose)),
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

    /// The vault for vault-scoped commands.
    fn vault(&self) -> Res<String> {
        self.g
            .vault
            .clone()
            .or_else(|| env_any(&["ONECLAW_VAULT_ID", "TALON_VAULT_ID"]))
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
        let mut s = Session::new(g)?;
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
        ClientCommand::Login(a) => login(s, a).await?,
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
        ClientCommand::Config(c) => config(s, c)?,
        ClientCommand::Vault(c) => vault(s, c).await?,
        ClientCommand::Secret(c) => return secret(s, c).await,
        ClientCommand::Env(c) => return env::run(s, c).await,
        ClientCommand::Agent(c) => agent(s, c).await?,
        ClientCommand::Policy(c) => policy(s, c).await?,
        ClientCommand::Share(c) => share(s, c).await?,
        ClientCommand::Audit(c) => return audit(s, c).await,
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

async fn login(s: &mut Session, a: LoginArgs) -> Res {
    if a.api_key {
        let key = read_stdin()?.trim().to_owned();
        if !key.starts_with("1ck_") {
            return Err(Exit::usage("expected a 1ck_ personal API key on stdin"));
        }
        s.exchange_key(&key, None).await?;
        s.stored
            .save_credentials(json!({ "api_key": key }))
            .map_err(|e| Exit(6, format!("cannot store credentials: {e}")))?;
        println!("Logged in with an API key.");
        return Ok(());
    }
    let Some(mut email) = a.email else {
        return device_login(s, a.email_hint, a.no_browser).await;
    };
    if email.is_empty() {
        eprint!("Email: ");
        let _ = std::io::stderr().flush();
        std::io::stdin()
            .read_line(&mut email)
            .map_err(|e| Exit::usage(format!("cannot read email: {e}")))?;
        email = email.trim().to_owned();
    }
    let mut lines = std::io::stdin().lines();
    let mut next_line = |prompt: &str, hidden: bool| -> Res<String> {
        let interactive = !a.password_stdin && std::io::stdin().is_terminal();
        if interactive {
            eprint!("{prompt}: ");
            let _ = std::io::stderr().flush();
        }
        let _echo = (interactive && hidden).then(EchoOff::new);
        let line = lines
            .next()
            .transpose()
            .map_err(|e| Exit::usage(format!("cannot read stdin: {e}")))?
            .ok_or_else(|| Exit::usage(format!("{prompt} expected on stdin")))?;
        if interactive && hidden {
            eprintln!();
        }
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    };
    let password = talon_core::material::Password::new(next_line("Password", true)?);
    let v = s
        .client
        .call(
            Method::POST,
            "/v1/auth/token",
            None,
            &[],
            Some(&json!({"email": email, "password": password.expose_secret()})),
        )
        .await
        .map_err(|f| failure_exit(f, s.g.verbose))?;
    let v = if v["mfa_required"].as_bool() == Some(true) {
        let code = next_line("Authentication code (or a recovery code)", false)?;
        s.client
            .call(
                Method::POST,
                "/v1/auth/mfa/verify",
                None,
                &[],
                Some(&json!({"mfa_token": v["mfa_token"], "code": code.trim()})),
            )
            .await
            .map_err(|f| failure_exit(f, s.g.verbose))?
    } else {
        v
    };
    s.store_tokens(&v)?;
    println!("Logged in as {email}.");
    Ok(())
}

/// Terminal echo off (via `stty`) while alive; restored on drop.
struct EchoOff;

impl EchoOff {
    fn new() -> EchoOff {
        let _ = std::process::Command::new("stty")
            .arg("-echo")
            .stdin(std::process::Stdio::inherit())
            .status();
        EchoOff
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = std::process::Command::new("stty")
            .arg("echo")
            .stdin(std::process::Stdio::inherit())
            .status();
    }
}

/// Browser device flow: print the code and link, poll until approved, denied or expired.
async fn device_login(s: &mut Session, email_hint: Option<String>, no_browser: bool) -> Res {
    let post = |s: &Session, path: &'static str, body: Value| {
        let client = s.client.clone();
        async move {
            client
                .call(Method::POST, path, None, &[], Some(&body))
                .await
        }
    };
    let start = post(
        s,
        "/v1/auth/device/code",
        json!({"client_id": "talon-cli", "email": email_hint}),
    )
    .await
    .map_err(|f| failure_exit(f, s.g.verbose))?;
    let device_code = scalar(&start["device_code"]);
    let uri = scalar(&start["verification_uri_complete"]);
    eprintln!(
        "To log in, open {uri}\nand confirm the code {}",
        scalar(&start["user_code"])
    );
    if !no_browser && std::env::var_os("DISPLAY").is_some() {
        let _ = std::process::Command::new("xdg-open")
            .arg(&uri)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    let mut interval = start["interval"].as_u64().unwrap_or(5).max(1);
    let deadline = std::time::Instant::now()
        + std::time::Duration::from_secs(start["expires_in"].as_u64().unwrap_or(600));
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(interval)).await;
        if std::time::Instant::now() > deadline {
            return Err(Exit(2, "code expired, run talon login again".into()));
        }
        let v = post(
            s,
            "/v1/auth/device/token",
            json!({"device_code": device_code, "grant_type": "urn:ietf:params:oauth:grant-type:device_code"}),
        )
        .await
        .map_err(|f| failure_exit(f, s.g.verbose))?;
        match v["error"].as_str() {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += 5,
            Some("access_denied") => return Err(Exit(2, "login denied".into())),
            Some(_) => return Err(Exit(2, "code expired, run talon login again".into())),
            None => {
                s.store_tokens(&v)?;
                println!("Logged in as {}.", scalar(&v["email"]));
                return Ok(());
            }
        }
    }
}

const CONFIG_KEYS: [&str; 3] = ["api-url", "output-format", "default-vault"];

fn config(s: &mut Session, c: ConfigCmd) -> Res {
    let check = |k: &str| {
        if CONFIG_KEYS.contains(&k) {
            Ok(())
        } else {
            Err(Exit::usage(format!(
                "unknown key '{k}' (api-url, output-format, default-vault)"
            )))
        }
    };
    let save = |st: &Stored| {
        st.save_settings()
            .map_err(|e| Exit(6, format!("cannot write the config: {e}")))
    };
    match c {
        ConfigCmd::List => {
            for k in CONFIG_KEYS {
                println!("{k} = {}", s.stored.setting(k).unwrap_or_default());
            }
        }
        ConfigCmd::Get { key } => {
            check(&key)?;
            println!("{}", s.stored.setting(&key).unwrap_or_default());
        }
        ConfigCmd::Set { key, value } => {
            check(&key)?;
            s.stored.set_setting(&key, Some(value));
            save(&s.stored)?;
        }
        ConfigCmd::Unset { key } => {
            check(&key)?;
            s.stored.set_setting(&key, None);
            save(&s.stored)?;
        }
    }
    Ok(())
}

async fn vault(s: &mut Session, c: VaultCmd) -> Res {
    match c {
        VaultCmd::List => {
            let v = s.get("/v1/vaults").await?;
            s.show_list(
                &v,
                "vaults",
                &[
                    "id",
                    "name",
                    "secret_count",
                    "created_by_type",
                    "created_at",
                ],
            );
        }
        VaultCmd::Create { name, description } => {
            let v = s
                .call(
                    Method::POST,
                    "/v1/vaults",
                    &[],
                    Some(&json!({"name": name, "description": description})),
                )
                .await?;
            if s.format == Format::Plain {
                println!("{}", scalar(&v["id"]));
            } else {
                s.show(&v);
            }
        }
        VaultCmd::Get { id } => {
            let v = s.get(&format!("/v1/vaults/{id}")).await?;
            s.show(&v);
        }
        VaultCmd::Link { id } => {
            let id = if uuid::Uuid::parse_str(&id).is_ok() {
                s.get(&format!("/v1/vaults/{id}")).await?;
                id
            } else {
                let all = s.get("/v1/vaults").await?;
                let hits: Vec<&Value> = all["vaults"]
                    .as_array()
                    .map(|a| a.iter().filter(|v| v["name"] == json!(id)).collect())
                    .unwrap_or_default();
                match hits.as_slice() {
                    [one] => scalar(&one["id"]),
                    [] => return Err(Exit(4, format!("no vault named '{id}'"))),
                    _ => {
                        return Err(Exit::usage(format!(
                            "several vaults are named '{id}'; use the id"
                        )))
                    }
                }
            };
            s.stored.set_setting("default-vault", Some(id.clone()));
            s.stored
                .save_settings()
                .map_err(|e| Exit(6, format!("cannot write the config: {e}")))?;
            println!("Default vault: {id}");
        }
        VaultCmd::Delete { id } => {
            if !s.g.yes {
                let v = s.get(&format!("/v1/vaults/{id}")).await?;
                let name = scalar(&v["name"]);
                eprint!("Type the vault name ({name}) to delete it: ");
                let _ = std::io::stderr().flush();
                let mut typed = String::new();
                let _ = std::io::stdin().read_line(&mut typed);
                if typed.trim() != name {
                    return Err(Exit::usage("name did not match; nothing deleted"));
                }
            }
            s.call(Method::DELETE, &format!("/v1/vaults/{id}"), &[], None)
                .await?;
            println!("Vault {id} deleted.");
        }
    }
    Ok(())
}

async fn secret(s: &mut Session, c: SecretCmd) -> Res<i32> {
    let vault = s.vault()?;
    match c {
        SecretCmd::List { prefix } => {
            let prefix = prefix.unwrap_or_default();
            let v = s
                .call(
                    Method::GET,
                    &format!("/v1/vaults/{vault}/secrets"),
                    &[("prefix", prefix.as_str())],
                    None,
                )
                .await?;
            s.show_list(
                &v,
                "secrets",
                &["path", "type", "version", "expires_at", "access_count"],
            );
        }
        SecretCmd::Get {
            path,
            version,
            field,
        } => {
            let url = match version {
                Some(n) => format!("/v1/vaults/{vault}/secret-version/{path}/{n}"),
                None => format!("/v1/vaults/{vault}/secrets/{path}"),
            };
            let v = s.get(&url).await?;
            match field.as_deref() {
                Some("json") => {
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default())
                }
                Some("value") | None if s.format != Format::Json => {
                    let value = talon_core::material::SecretValue::new(scalar(&v["value"]));
                    let mut out = std::io::stdout();
                    let _ = out.write_all(value.expose_secret().as_bytes());
                    if out.is_terminal() {
                        let _ = out.write_all(b"\n");
                    }
                }
                Some("value") | None => {
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default())
                }
                Some(other) => {
                    return Err(Exit::usage(format!(
                        "unknown --field '{other}' (value or json)"
                    )))
                }
            }
        }
        SecretCmd::Set {
            path,
            value,
            secret_type,
            metadata,
            expires_at,
            max_access_count,
            file,
        } => {
            if value.is_some() {
                return Err(Exit::usage(
                    "refusing a value on the command line (it would land in shell history): pipe it on stdin or use --file",
                ));
            }
            let text = match file {
                Some(f) => std::fs::read_to_string(&f)
                    .map_err(|e| Exit::usage(format!("cannot read {}: {e}", f.display())))?,
                None => {
                    let t = read_stdin()?;
                    t.strip_suffix('\n').map(str::to_owned).unwrap_or(t)
                }
            };
            let secret = talon_core::material::SecretValue::new(text);
            let mut body = json!({ "value": secret.expose_secret() });
            if let Some(t) = secret_type {
                body["type"] = json!(t);
            }
            if let Some(m) = parse_json("--metadata", &metadata)? {
                body["metadata"] = m;
            }
            if let Some(e) = expires_at {
                body["expires_at"] = json!(e);
            }
            if let Some(n) = max_access_count {
                body["max_access_count"] = json!(n);
            }
            let v = s
                .call(
                    Method::PUT,
                    &format!("/v1/vaults/{vault}/secrets/{path}"),
                    &[],
                    Some(&body),
                )
                .await?;
            if s.format == Format::Json {
                s.show(&v);
            } else {
                println!(
                    "Stored {path} (version {}, type {}).",
                    v["version"],
                    scalar(&v["type"])
                );
            }
        }
        SecretCmd::Delete { path } => {
            s.call(
                Method::DELETE,
                &format!("/v1/vaults/{vault}/secrets/{path}"),
                &[],
                None,
            )
            .await?;
            println!("Deleted {path}.");
        }
        SecretCmd::Describe { path } => {
            let v = s
                .call(
                    Method::GET,
                    &format!("/v1/vaults/{vault}/secrets"),
                    &[("prefix", path.as_str())],
                    None,
                )
                .await?;
            let found = v["secrets"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["path"] == json!(path)).cloned())
                .ok_or_else(|| Exit(4, format!("no secret at '{path}'")))?;
            s.show(&found);
        }
        SecretCmd::Rotate {
            path,
            length,
            charset,
            print,
        } => {
            let v = s
                .call(
                    Method::POST,
                    &format!("/v1/vaults/{vault}/secret-rotate/{path}"),
                    &[],
                    Some(&json!({"length": length, "charset": charset})),
                )
                .await?;
            if print {
                let read = s.get(&format!("/v1/vaults/{vault}/secrets/{path}")).await?;
                println!("{}", scalar(&read["value"]));
            } else {
                println!("Rotated {path}: version {}.", v["version"]);
            }
        }
        SecretCmd::DisableVersion { path, version } => {
            s.call(
                Method::POST,
                &format!("/v1/vaults/{vault}/secret-version-disable/{path}/{version}"),
                &[],
                None,
            )
            .await?;
            println!("Disabled version {version} of {path}.");
        }
        SecretCmd::Versions { path } => {
            let v = s
                .get(&format!("/v1/vaults/{vault}/secret-versions/{path}"))
                .await?;
            s.show_list(
                &v,
                "versions",
                &[
                    "version",
                    "type",
                    "created_at",
                    "is_disabled",
                    "access_count",
                ],
            );
        }
    }
    Ok(0)
}

async fn agent(s: &mut Session, c: AgentCmd) -> Res {
    match c {
        AgentCmd::List => {
            let v = s.get("/v1/agents").await?;
            s.show_list(
                &v,
                "agents",
                &["id", "name", "is_active", "vault_ids", "created_at"],
            );
        }
        AgentCmd::Create {
            name,
            description,
            scopes,
            vault_ids,
            token_ttl,
            expires_at,
        } => {
            let mut body = json!({"name": name, "description": description});
            if !scopes.is_empty() {
                body["scopes"] = json!(scopes);
            }
            if !vault_ids.is_empty() {
                body["vault_ids"] = json!(vault_ids);
            }
            if let Some(t) = token_ttl {
                body["token_ttl_seconds"] = json!(t);
            }
            if let Some(e) = expires_at {
                body["expires_at"] = json!(e);
            }
            let v = s.call(Method::POST, "/v1/agents", &[], Some(&body)).await?;
            print_key(s, &v);
        }
        AgentCmd::Get { id } => {
            let v = s.get(&format!("/v1/agents/{id}")).await?;
            s.show(&v);
        }
        AgentCmd::Update {
            id,
            name,
            description,
            scopes,
            vault_ids,
            token_ttl,
            active,
            expires_at,
        } => {
            let mut body = serde_json::Map::new();
            for (k, v) in [
                ("name", name.map(|x| json!(x))),
                ("description", description.map(|x| json!(x))),
                ("scopes", scopes.map(|x| json!(x))),
                ("vault_ids", vault_ids.map(|x| json!(x))),
                ("token_ttl_seconds", token_ttl.map(|x| json!(x))),
                ("is_active", active.map(|x| json!(x))),
                ("expires_at", expires_at.map(|x| json!(x))),
            ] {
                if let Some(v) = v {
                    body.insert(k.into(), v);
                }
            }
            let v = s
                .call(
                    Method::PATCH,
                    &format!("/v1/agents/{id}"),
                    &[],
                    Some(&Value::Object(body)),
                )
                .await?;
            s.show(&v);
        }
        AgentCmd::Delete { id } => {
            s.call(Method::DELETE, &format!("/v1/agents/{id}"), &[], None)
                .await?;
            println!("Agent {id} deleted.");
        }
        AgentCmd::RotateKey { id } => {
            let v = s
                .call(
                    Method::POST,
                    &format!("/v1/agents/{id}/rotate-key"),
                    &[],
                    None,
                )
                .await?;
            print_key(s, &v);
        }
        AgentCmd::Token => {
            let key = env_any(&["ONECLAW_AGENT_API_KEY", "TALON_AGENT_API_KEY"])
                .or_else(|| env_any(&["ONECLAW_API_KEY"]).filter(|k| k.starts_with("ocv_")))
                .ok_or_else(|| Exit::usage("set ONECLAW_AGENT_API_KEY to the agent's ocv_ key"))?;
            let t = s
                .exchange_key(&key, env_any(&["ONECLAW_AGENT_ID", "TALON_AGENT_ID"]))
                .await?;
            println!("{t}");
        }
        AgentCmd::Enroll {
            name,
            email,
            description,
        } => {
            let v = s
                .client
                .call(
                    Method::POST,
                    "/v1/agents/enroll",
                    None,
                    &[],
                    Some(&json!({"name": name, "human_email": email, "description": description})),
                )
                .await
                .map_err(|f| failure_exit(f, s.g.verbose))?;
            if s.format == Format::Json {
                s.show(&v);
            } else {
                eprintln!("Ask {email} to approve this agent at:");
                println!("{}", scalar(&v["approval_url"]));
            }
        }
        AgentCmd::Me => {
            let v = s.get("/v1/agents/me").await?;
            s.show(&v);
        }
    }
    Ok(())
}

/// Prints a new agent key once.
fn print_key(s: &Session, v: &Value) {
    let what = format!(
        "Agent {} ({})",
        scalar(&v["agent"]["name"]),
        scalar(&v["agent"]["id"])
    );
    s.print_once(v, "api_key", &what);
}

async fn policy(s: &mut Session, c: PolicyCmd) -> Res {
    let vault = s.vault()?;
    match c {
        PolicyCmd::List => {
            let v = s.get(&format!("/v1/vaults/{vault}/policies")).await?;
            s.show_list(
                &v,
                "policies",
                &[
                    "id",
                    "principal_type",
                    "principal_id",
                    "secret_path_pattern",
                    "permissions",
                    "effect",
                ],
            );
        }
        PolicyCmd::Create {
            principal_type,
            principal_id,
            pattern,
            permissions,
            conditions,
            expires_at,
            effect,
        } => {
            let mut body = json!({
                "principal_type": principal_type, "principal_id": principal_id,
                "secret_path_pattern": pattern, "permissions": permissions,
                "expires_at": expires_at, "effect": effect,
            });
            if let Some(c) = parse_json("--conditions", &conditions)? {
                body["conditions"] = c;
            }
            let v = s
                .call(
                    Method::POST,
                    &format!("/v1/vaults/{vault}/policies"),
                    &[],
                    Some(&body),
                )
                .await?;
            s.show(&v);
        }
        PolicyCmd::Update {
            id,
            permissions,
            conditions,
            expires_at,
        } => {
            let mut body = json!({});
            if let Some(p) = permissions {
                body["permissions"] = json!(p);
            }
            if let Some(c) = parse_json("--conditions", &conditions)? {
                body["conditions"] = c;
            }
            if let Some(e) = expires_at {
                body["expires_at"] = json!(e);
            }
            let v = s
                .call(
                    Method::PUT,
                    &format!("/v1/vaults/{vault}/policies/{id}"),
                    &[],
                    Some(&body),
                )
                .await?;
            s.show(&v);
        }
        PolicyCmd::Delete { id } => {
            s.call(
                Method::DELETE,
                &format!("/v1/vaults/{vault}/policies/{id}"),
                &[],
                None,
            )
            .await?;
            println!("Policy {id} deleted.");
        }
    }
    Ok(())
}

/// `24h`, `30m`, `7d`, `90s` as seconds.
fn duration_s(s: &str) -> Option<i64> {
    let (n, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = n.parse().ok()?;
    Some(
        n * match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return None,
        },
    )
}

async fn share(s: &mut Session, c: ShareCmd) -> Res {
    match c {
        ShareCmd::Create {
            secret_id,
            path,
            recipient_type,
            recipient,
            email,
            expires_at,
            expires_in,
            max_access_count,
        } => {
            let secret_id = match (secret_id, path) {
                (Some(id), _) => id,
                (None, Some(p)) => {
                    let vault = s.vault()?;
                    let v = s
                        .get(&format!("/v1/vaults/{vault}/secrets?prefix={p}"))
                        .await?;
                    v["secrets"]
                        .as_array()
                        .and_then(|a| a.iter().find(|x| x["path"] == json!(p)).cloned())
                        .map(|x| scalar(&x["id"]))
                        .ok_or_else(|| Exit(4, format!("no secret at '{p}'")))?
                }
                (None, None) => return Err(Exit::usage("give a SECRET_ID or --path")),
            };
            let expires_at = match (expires_at, expires_in) {
                (Some(t), _) => t,
                (None, Some(d)) => {
                    let secs = duration_s(&d)
                        .ok_or_else(|| Exit::usage("--expires-in looks like 24h, 30m or 7d"))?;
                    talon_core::clock::rfc3339((store::now_s() + secs) * 1000)
                }
                (None, None) => return Err(Exit::usage("give --expires-at or --expires-in")),
            };
            let body = json!({
                "recipient_type": recipient_type, "recipient_id": recipient, "email": email,
                "expires_at": expires_at, "max_access_count": max_access_count,
            });
            let v = s
                .call(
                    Method::POST,
                    &format!("/v1/secrets/{secret_id}/share"),
                    &[],
                    Some(&body),
                )
                .await?;
            if s.format == Format::Json {
                s.show(&v);
            } else {
                println!("{}", scalar(&v["share_url"]));
            }
        }
        ShareCmd::List { inbound } => {
            let dir = if inbound { "inbound" } else { "outbound" };
            let v = s.get(&format!("/v1/shares/{dir}")).await?;
            s.show_list(
                &v,
                "shares",
                &[
                    "id",
                    "secret_path",
                    "recipient_type",
                    "status",
                    "access_count",
                    "expires_at",
                ],
            );
        }
        ShareCmd::Open {
            id,
            passphrase_stdin,
        } => {
            let body = if passphrase_stdin {
                json!({"passphrase": read_stdin()?.trim_end_matches(['\n', '\r'])})
            } else {
                json!({})
            };
            let bearer = s.bearer().await.ok();
            let v = s
                .client
                .call(
                    Method::GET,
                    &format!("/v1/share/{id}"),
                    bearer.as_deref(),
                    &[],
                    Some(&body),
                )
                .await
                .map_err(|f| failure_exit(f, s.g.verbose))?;
            if s.format == Format::Json {
                s.show(&v);
            } else {
                println!("{}", scalar(&v["value"]));
            }
        }
        ShareCmd::Accept { id } => {
            s.call(Method::POST, &format!("/v1/shares/{id}/accept"), &[], None)
                .await?;
            println!("Share {id} accepted.");
        }
        ShareCmd::Decline { id } => {
            s.call(Method::POST, &format!("/v1/shares/{id}/decline"), &[], None)
                .await?;
            println!("Share {id} declined.");
        }
        ShareCmd::Revoke { id } => {
            s.call(Method::DELETE, &format!("/v1/share/{id}"), &[], None)
                .await?;
            println!("Share {id} revoked.");
        }
    }
    Ok(())
}

async fn audit(s: &mut Session, c: AuditCmd) -> Res<i32> {
    match c {
        AuditCmd::List {
            action,
            actor_type,
            actor_id,
            resource_id,
            from,
            to,
            limit,
            offset,
        } => {
            let pairs = [
                ("action", action),
                ("actor_type", actor_type),
                ("actor_id", actor_id),
                ("resource_id", resource_id),
                ("from", from),
                ("to", to),
                ("limit", limit),
                ("offset", offset),
            ];
            let query: Vec<(&str, &str)> = pairs
                .iter()
                .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
                .collect();
            let v = s
                .call(Method::GET, "/v1/audit/events", &query, None)
                .await?;
            s.show_list(
                &v,
                "events",
                &[
                    "created_at",
                    "action",
                    "actor_type",
                    "actor_id",
                    "resource_id",
                    "outcome",
                ],
            );
            Ok(0)
        }
        AuditCmd::Verify { from, to } => {
            let pairs = [("from", from), ("to", to)];
            let query: Vec<(&str, &str)> = pairs
                .iter()
                .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
                .collect();
            let v = s
                .call(Method::GET, "/v1/audit/verify", &query, None)
                .await?;
            s.show(&v);
            Ok(if v["chain_valid"].as_bool() == Some(true) {
                0
            } else {
                7
            })
        }
    }
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
        assert_eq!(duration_s("24h"), Some(86_400));
        assert_eq!(duration_s("30m"), Some(1_800));
        assert_eq!(duration_s("7d"), Some(604_800));
        assert_eq!(duration_s("h"), None);
        assert_eq!(duration_s("5x"), None);
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
