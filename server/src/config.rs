//! Command line and environment: one typed struct per subcommand, validated at start-up with
//! messages that say how to fix the problem.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "talon",
    version,
    about = "Talon: an HSM-backed secrets manager for humans and AI agents"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: crate::cli::args::GlobalArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the Talon server (REST /v1, /mcp and the dashboard).
    Server(ServerArgs),
    /// Run the MCP server on stdin/stdout as an agent (configured by ONECLAW_* / TALON_* env vars).
    Mcp(McpArgs),
    /// Administration on the server host, with the server's own settings.
    Admin(AdminArgs),
    #[command(flatten)]
    Client(crate::cli::args::ClientCommand),
}

#[derive(Args, Debug, Clone)]
pub struct McpArgs {
    /// Transport: `stdio` (the MCP client spawns `talon mcp`), or `http` / `httpStream` for a
    /// standalone streamable HTTP server passing each request's Bearer and X-Vault-ID on to the
    /// Talon server at ONECLAW_BASE_URL. (`talon server` itself serves `/mcp` too.)
    #[arg(long, env = "MCP_TRANSPORT", default_value = "stdio")]
    pub transport: String,
    /// Port of the standalone HTTP server (0 picks a free port).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Address the standalone HTTP server binds.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
}

#[derive(Args, Debug, Clone)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub command: AdminCommand,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Subcommand, Debug, Clone)]
pub enum AdminCommand {
    /// Set an org's billing tier (audited as `billing.tier_changed`).
    SetTier {
        /// The org's id.
        #[arg(long)]
        org: String,
        /// A tier known to the configuration (`free`, `pro`, `business`, `enterprise`, or one
        /// added by TALON_PLAN_LIMITS).
        tier: String,
    },
    /// Initialise a new PKCS#11 token with the configured label and PINs (for the embedded
    /// SoftHSM: in `<data-dir>/hsm/tokens`) and create its service keys. Refuses when a token
    /// with that label exists. Talon never does this by itself except on a first start.
    InitToken,
}

#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "TALON_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Directory for the embedded database, the SoftHSM token and the PIN files.
    #[arg(long, env = "TALON_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://…` or `postgres://…`. Defaults to `talon.db` in the data dir.
    #[arg(long, env = "TALON_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Milliseconds a request waits for a database connection before it is answered 503 (the
    /// database is then marked unavailable, and requests are answered 503 at once until a
    /// background probe reaches it again).
    #[arg(long, env = "TALON_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 2000)]
    pub db_acquire_timeout_ms: u64,
    /// PKCS#11 module to load.
    #[arg(
        long,
        env = "TALON_PKCS11_MODULE",
        default_value = "/usr/lib/softhsm/libsofthsm2.so"
    )]
    pub pkcs11_module: PathBuf,
    /// Label of the PKCS#11 token holding Talon's keys.
    #[arg(long, env = "TALON_PKCS11_TOKEN_LABEL", default_value = "talon")]
    pub pkcs11_token_label: String,
    /// User PIN of the token. Without it, Talon uses (and on first start creates) a random PIN
    /// in `<data-dir>/hsm/pin`.
    #[arg(long, env = "TALON_PKCS11_PIN", hide_env_values = true)]
    pub pkcs11_pin: Option<String>,
    /// Security-officer PIN, used only to initialise a new token. Defaults to a random PIN in
    /// `<data-dir>/hsm/so-pin` in embedded mode.
    #[arg(long, env = "TALON_PKCS11_SO_PIN", hide_env_values = true)]
    pub pkcs11_so_pin: Option<String>,
    /// Public URL of this server (JWT issuer, links). Defaults to `http://<addr>`.
    #[arg(long, env = "TALON_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Billing tier of new orgs.
    #[arg(long, env = "TALON_DEFAULT_TIER", default_value = "enterprise")]
    pub default_tier: String,
    /// OAuth client id for Google sign-in (the expected `aud` of ID tokens); unset disables it.
    #[arg(long, env = "TALON_GOOGLE_CLIENT_ID")]
    pub google_client_id: Option<String>,
    /// Expected ID-token issuer. Defaults to Google's; set it for any other OIDC provider.
    #[arg(long, env = "TALON_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// JWKS URL of the identity provider. Defaults to Google's.
    #[arg(
        long,
        env = "TALON_OIDC_JWKS_URL",
        default_value = "https://www.googleapis.com/oauth2/v3/certs"
    )]
    pub oidc_jwks_url: String,
    /// OAuth client secret for the dashboard's "Sign in with Google" (authorization code + PKCE).
    #[arg(long, env = "TALON_GOOGLE_CLIENT_SECRET", hide_env_values = true)]
    pub google_client_secret: Option<String>,
    /// Authorization endpoint of the identity provider. Defaults to Google's.
    #[arg(
        long,
        env = "TALON_OIDC_AUTH_URL",
        default_value = "https://accounts.google.com/o/oauth2/v2/auth"
    )]
    pub oidc_auth_url: String,
    /// Token endpoint of the identity provider. Defaults to Google's.
    #[arg(
        long,
        env = "TALON_OIDC_TOKEN_URL",
        default_value = "https://oauth2.googleapis.com/token"
    )]
    pub oidc_token_url: String,
    /// SMTP relay for outgoing mail, `smtp://host:port`. Without it, mail is appended to
    /// `<data-dir>/outbox.jsonl`.
    #[arg(long, env = "TALON_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// Sender address of outgoing mail.
    #[arg(
        long,
        env = "TALON_SMTP_FROM",
        default_value = "Talon <talon@localhost>"
    )]
    pub smtp_from: String,
    /// Requests per second allowed per client IP on the API (burst twice that); 0 disables.
    #[arg(long, env = "TALON_RATE_LIMIT_PER_IP", default_value_t = 100)]
    pub rate_limit_per_ip: u32,
    /// Authenticated requests per second allowed per user or agent, counted across every process
    /// sharing a PostgreSQL database; 0 disables.
    #[arg(long, env = "TALON_RATE_LIMIT_PER_PRINCIPAL", default_value_t = 1000)]
    pub rate_limit_per_principal: u32,
    /// Audit chain verifications (`GET /v1/audit/verify`, the dashboard's check) allowed per org
    /// per minute, counted across every process sharing the database; 0 disables the limit.
    #[arg(long, env = "TALON_AUDIT_VERIFY_PER_MINUTE", default_value_t = 5)]
    pub audit_verify_per_minute: u32,
    /// Extra `Host` names accepted by `/mcp` (comma-separated; `*` accepts any). Loopback names
    /// and the public URL's host are always accepted.
    #[arg(long, env = "TALON_MCP_ALLOWED_HOSTS", value_delimiter = ',')]
    pub mcp_allowed_hosts: Vec<String>,
    /// What `/mcp` does when a value read earlier in the session appears in the arguments of
    /// `share_secret`, `grant_access` or `create_vault`: `block`, `warn` or `off`.
    #[arg(long, env = "ONECLAW_MCP_EXFIL_PROTECTION", default_value = "warn", value_parser = parse_exfil)]
    pub mcp_exfil_protection: ExfilMode,
    /// Overrides of the tier limits, as JSON (`{"free":{"requests":1000,"vaults":3,"secrets":50,
    /// "agents":2}}`; `null` = unlimited; omitted fields keep the built-in value) or `@<file>`
    /// holding that JSON.
    #[arg(long, env = "TALON_PLAN_LIMITS")]
    pub plan_limits: Option<String>,
    /// Milliseconds between flushes of counted requests to the database.
    #[arg(long, env = "TALON_USAGE_FLUSH_MS", default_value_t = 1000)]
    pub usage_flush_ms: u64,
    /// Milliseconds an unwrapped data key stays in memory for further reads of the same secret
    /// version, sparing the HSM an unwrap per read. `0` unwraps in the HSM on every read.
    #[arg(long, env = "TALON_DEK_CACHE_TTL_MS", default_value_t = 10_000)]
    pub dek_cache_ttl_ms: u64,
    /// Stripe secret key (`sk_…`); enables subscribe and the customer portal.
    #[arg(long, env = "TALON_STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,
    /// Stripe webhook signing secret (`whsec_…`); enables `POST /v1/billing/webhooks`.
    #[arg(long, env = "TALON_STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,
    /// Stripe API base URL.
    #[arg(
        long,
        env = "TALON_STRIPE_API_BASE",
        default_value = "https://api.stripe.com"
    )]
    pub stripe_api_base: String,
    /// Stripe price id of the pro tier, monthly.
    #[arg(long, env = "TALON_STRIPE_PRICE_PRO_MONTHLY")]
    pub stripe_price_pro_monthly: Option<String>,
    /// Stripe price id of the pro tier, yearly.
    #[arg(long, env = "TALON_STRIPE_PRICE_PRO_YEARLY")]
    pub stripe_price_pro_yearly: Option<String>,
    /// Stripe price id of the business tier, monthly.
    #[arg(long, env = "TALON_STRIPE_PRICE_BUSINESS_MONTHLY")]
    pub stripe_price_business_monthly: Option<String>,
    /// Stripe price id of the business tier, yearly.
    #[arg(long, env = "TALON_STRIPE_PRICE_BUSINESS_YEARLY")]
    pub stripe_price_business_yearly: Option<String>,
    /// Secret versions re-wrapped per transaction after a vault KEK rotation.
    #[arg(long, env = "TALON_KEK_REWRAP_BATCH", default_value_t = 100)]
    pub kek_rewrap_batch: i64,
    /// Allow webhooks to plain `http://` URLs (otherwise only https).
    #[arg(long, env = "TALON_ALLOW_HTTP_WEBHOOKS")]
    pub allow_http_webhooks: bool,
    /// Allow webhooks to destinations on private, loopback, link-local, unique-local, CGNAT,
    /// multicast or cloud-metadata addresses (otherwise refused at creation and at delivery).
    #[arg(long, env = "TALON_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,
    /// Let bindings reach upstreams on private, loopback, link-local, unique-local, CGNAT or
    /// cloud-metadata addresses, and plain `http://` to loopback (otherwise https to public
    /// addresses only).
    #[arg(long, env = "TALON_ALLOW_PRIVATE_EGRESS")]
    pub allow_private_egress: bool,
    /// Seconds an approval waits for its approvers before it expires.
    #[arg(long, env = "TALON_APPROVAL_TTL_SECONDS", default_value_t = 900)]
    pub approval_ttl_seconds: i64,
    /// Milliseconds before the second attempt of a failed webhook delivery; doubled after each
    /// further failure (5 attempts in all).
    #[arg(long, env = "TALON_WEBHOOK_RETRY_BASE_MS", default_value_t = 2000)]
    pub webhook_retry_base_ms: u64,
    /// Keep keys in process memory instead of a PKCS#11 token. INSECURE: for development only.
    #[arg(long, env = "TALON_INSECURE_DEV_KEYSTORE")]
    pub insecure_dev_keystore: bool,
    /// Seconds a client has to send a complete request head (from the first byte of the head;
    /// for a new connection, from the moment it opened); then it gets 408 and is closed.
    #[arg(long, env = "TALON_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a request body has to arrive in full after its head; then the request is
    /// answered 408 and the connection closed.
    #[arg(long, env = "TALON_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Seconds a kept-alive connection may stay without a new request before it is closed.
    #[arg(long, env = "TALON_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// Open connections allowed in all; a connection above it gets 503 and is closed.
    #[arg(long, env = "TALON_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Open connections allowed from one client IP; a connection above it gets 503 and is
    /// closed.
    #[arg(long, env = "TALON_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,
}

impl ServerArgs {
    /// The database URL: `TALON_DATABASE_URL`, or `talon.db` in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("talon.db").display()
            ),
        }
    }

    /// How the store reaches the database, or a message naming the setting to fix.
    pub fn store_options(&self) -> Result<talon_core::store::StoreOptions, String> {
        if self.db_acquire_timeout_ms == 0 {
            return Err("TALON_DB_ACQUIRE_TIMEOUT_MS must be at least 1 (milliseconds)".into());
        }
        Ok(talon_core::store::StoreOptions {
            acquire_timeout: std::time::Duration::from_millis(self.db_acquire_timeout_ms),
            ..talon_core::store::StoreOptions::BUILT_IN
        })
    }

    /// How webhooks are delivered, or a message naming the setting to fix.
    pub fn webhook_settings(&self) -> Result<talon_core::service::WebhookSettings, String> {
        if self.webhook_retry_base_ms == 0 {
            return Err("TALON_WEBHOOK_RETRY_BASE_MS must be at least 1 (milliseconds)".into());
        }
        Ok(talon_core::service::WebhookSettings {
            target: talon_core::webhook_target::TargetRules {
                allow_http: self.allow_http_webhooks,
                allow_private: self.allow_private_webhooks,
            },
            retry_base: std::time::Duration::from_millis(self.webhook_retry_base_ms),
            ..talon_core::service::WebhookSettings::default()
        })
    }

    /// The listener's limits, or a message naming the setting to fix.
    pub fn listener_limits(&self) -> Result<crate::listener::Limits, String> {
        let secs = |name: &str, v: u64| {
            if v == 0 {
                Err(format!("{name} must be at least 1 (seconds)"))
            } else {
                Ok(std::time::Duration::from_secs(v))
            }
        };
        let count = |name: &str, v: usize| {
            if v == 0 {
                Err(format!("{name} must be at least 1"))
            } else {
                Ok(v)
            }
        };
        Ok(crate::listener::Limits {
            header_timeout: secs("TALON_HEADER_TIMEOUT_SECS", self.header_timeout_secs)?,
            body_timeout: secs("TALON_BODY_TIMEOUT_SECS", self.body_timeout_secs)?,
            idle_timeout: secs("TALON_IDLE_TIMEOUT_SECS", self.idle_timeout_secs)?,
            max_connections: count("TALON_MAX_CONNECTIONS", self.max_connections)?,
            max_connections_per_ip: count(
                "TALON_MAX_CONNECTIONS_PER_IP",
                self.max_connections_per_ip,
            )?,
        })
    }
}

/// Logs to stderr, filtered by `TALON_LOG` (default `info`). rmcp logs whole JSON-RPC messages
/// (tool arguments and results, i.e. secret values) at debug and below, so it is capped at
/// info whatever `TALON_LOG` asks for.
pub fn init_logging() {
    let rmcp_cap = "rmcp=info".parse().expect("static directive");
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TALON_LOG")
                .unwrap_or_else(|_| "info".into())
                .add_directive(rmcp_cap),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// The first non-empty variable among `names`, trimmed.
fn env_any(names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
}

fn parse_exfil(text: &str) -> Result<ExfilMode, String> {
    Ok(ExfilMode::parse(text))
}

/// `ONECLAW_MCP_EXFIL_PROTECTION`: what the MCP door does when a value read earlier in the
/// session appears in the arguments of a tool that sends data elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExfilMode {
    /// Refuse the call.
    Block,
    /// Log a warning and go on (the default).
    #[default]
    Warn,
    /// Do not look.
    Off,
}

impl ExfilMode {
    /// `block`, `warn` or `off` (any case); anything else is `warn`.
    pub fn parse(text: &str) -> ExfilMode {
        match text.trim().to_ascii_lowercase().as_str() {
            "block" => ExfilMode::Block,
            "off" => ExfilMode::Off,
            _ => ExfilMode::Warn,
        }
    }
}

/// The environment of the client side (`talon` client commands, `talon mcp`), read once: 1claw's
/// `ONECLAW_*` names (MCP.md, CLI.md) first, then Talon's `TALON_*` ones. Credentials here are
/// never printed: the type has no `Debug`.
#[derive(Clone, Default)]
pub struct ClientEnv {
    /// `ONECLAW_BASE_URL`, `ONECLAW_API_URL` or `TALON_URL`.
    pub base_url: Option<String>,
    /// `ONECLAW_VAULT_ID` or `TALON_VAULT_ID`.
    pub vault_id: Option<String>,
    /// An `ocv_` agent key: `ONECLAW_AGENT_API_KEY`, `TALON_AGENT_API_KEY`, or an
    /// `ONECLAW_API_KEY` that starts with `ocv_`.
    pub agent_api_key: Option<String>,
    /// `ONECLAW_API_KEY` or `TALON_API_KEY` (a `1ck_` personal key or an `ocv_` agent key).
    pub api_key: Option<String>,
    /// `ONECLAW_AGENT_ID` or `TALON_AGENT_ID`.
    pub agent_id: Option<String>,
    /// A fixed agent JWT: `ONECLAW_AGENT_TOKEN` or `TALON_AGENT_TOKEN`.
    pub agent_token: Option<String>,
    /// A fixed bearer: `ONECLAW_TOKEN` or `TALON_TOKEN`.
    pub token: Option<String>,
    /// `ONECLAW_LOCAL_ONLY` is `true`, `1` or `yes`.
    pub local_only: bool,
    /// `ONECLAW_MCP_EXFIL_PROTECTION`.
    pub exfil: ExfilMode,
    /// `TALON_MCP_ALLOWED_HOSTS`: extra `Host` values the standalone MCP server accepts.
    pub mcp_allowed_hosts: Vec<String>,
    /// The CLI's configuration directory: `$XDG_CONFIG_HOME/talon`, else `~/.config/talon`.
    pub config_dir: PathBuf,
    /// Whether a graphical session is there to open a browser in (`DISPLAY`).
    pub display: bool,
    /// `TALON_CONFIRM`: the password or TOTP code that confirms a high-risk approval decision
    /// (`talon approvals approve|reject`) when no terminal can ask for it.
    pub confirm: Option<String>,
    /// `TALON_APPROVAL_TIMEOUT`: how long a read held for approval is waited for (`10m`, …).
    pub approval_timeout: Option<String>,
}

impl ClientEnv {
    /// Reads the process environment.
    pub fn read() -> ClientEnv {
        let api_key = env_any(&["ONECLAW_API_KEY", "TALON_API_KEY"]);
        let config_dir = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(x) => PathBuf::from(x).join("talon"),
            None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into()))
                .join(".config")
                .join("talon"),
        };
        ClientEnv {
            base_url: env_any(&["ONECLAW_BASE_URL", "ONECLAW_API_URL", "TALON_URL"]),
            vault_id: env_any(&["ONECLAW_VAULT_ID", "TALON_VAULT_ID"]),
            agent_api_key: env_any(&["ONECLAW_AGENT_API_KEY", "TALON_AGENT_API_KEY"])
                .or_else(|| env_any(&["ONECLAW_API_KEY"]).filter(|k| k.starts_with("ocv_"))),
            api_key,
            agent_id: env_any(&["ONECLAW_AGENT_ID", "TALON_AGENT_ID"]),
            agent_token: env_any(&["ONECLAW_AGENT_TOKEN", "TALON_AGENT_TOKEN"]),
            token: env_any(&["ONECLAW_TOKEN", "TALON_TOKEN"]),
            local_only: env_any(&["ONECLAW_LOCAL_ONLY"])
                .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes")),
            exfil: env_any(&["ONECLAW_MCP_EXFIL_PROTECTION"])
                .map(|v| ExfilMode::parse(&v))
                .unwrap_or_default(),
            mcp_allowed_hosts: env_any(&["TALON_MCP_ALLOWED_HOSTS"])
                .map(|v| v.split(',').map(|h| h.trim().to_owned()).collect())
                .unwrap_or_default(),
            config_dir,
            display: std::env::var_os("DISPLAY").is_some(),
            confirm: std::env::var("TALON_CONFIRM")
                .ok()
                .filter(|v| !v.is_empty()),
            approval_timeout: env_any(&["TALON_APPROVAL_TIMEOUT"]),
        }
    }
}

/// Whether `SOFTHSM2_CONF` points SoftHSM at a configuration of the operator's own (otherwise
/// Talon runs an embedded token store in the data directory).
pub fn softhsm_conf_set() -> bool {
    std::env::var_os("SOFTHSM2_CONF").is_some()
}

/// Points SoftHSM at `conf`; called once, before any other thread runs.
pub fn set_softhsm_conf(conf: &std::path::Path) {
    std::env::set_var("SOFTHSM2_CONF", conf);
}

/// Defaults Leptos' site settings (which it reads from the environment) for a source checkout;
/// called once, before any other thread runs.
pub fn default_leptos_env() {
    for (k, v) in [
        ("LEPTOS_OUTPUT_NAME", "talon"),
        ("LEPTOS_SITE_ROOT", "target/site"),
        ("LEPTOS_SITE_PKG_DIR", "pkg"),
    ] {
        if std::env::var_os(k).is_none() {
            std::env::set_var(k, v);
        }
    }
}

/// Whether the variable `name` is set in this process's environment (which a child started by
/// `talon env run` inherits).
pub fn is_set(name: &str) -> bool {
    std::env::var_os(name).is_some()
}

/// The certificate bundle named by `SSL_CERT_FILE`, as this process was started with it
/// (`talon run --broker` trusts it upstream and points its command elsewhere).
pub fn ssl_cert_file() -> Option<PathBuf> {
    std::env::var_os("SSL_CERT_FILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}
