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
    /// Extra `Host` names accepted by `/mcp` (comma-separated; `*` accepts any). Loopback names
    /// and the public URL's host are always accepted.
    #[arg(long, env = "TALON_MCP_ALLOWED_HOSTS", value_delimiter = ',')]
    pub mcp_allowed_hosts: Vec<String>,
    /// Overrides of the tier limits, as JSON (`{"free":{"requests":1000,"vaults":3,"secrets":50,
    /// "agents":2}}`; `null` = unlimited; omitted fields keep the built-in value) or `@<file>`
    /// holding that JSON.
    #[arg(long, env = "TALON_PLAN_LIMITS")]
    pub plan_limits: Option<String>,
    /// Milliseconds between flushes of counted requests to the database.
    #[arg(long, env = "TALON_USAGE_FLUSH_MS", default_value_t = 1000)]
    pub usage_flush_ms: u64,
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
    /// Keep keys in process memory instead of a PKCS#11 token. INSECURE: for development only.
    #[arg(long, env = "TALON_INSECURE_DEV_KEYSTORE")]
    pub insecure_dev_keystore: bool,
}
