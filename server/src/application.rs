//! Starting Talon: the keystore, the database, the core and the HTTP surface, for
//! `talon server`, `talon admin` and `talon mcp`. [`Application::build`] gives the bound
//! address before anything is served.

use crate::config::{self, AdminArgs, AdminCommand, ClientEnv, McpArgs, ServerArgs};
use crate::{gate, guard, listener, mcp, problem, rest, web, AppState};
use axum::Router;
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use talon_core::keystore::{
    DekCache, KeyStore, KeyStoreError, Pkcs11Config, Pkcs11KeyStore, SoftKeyStore,
};
use talon_core::mail::Mailer;
use talon_core::service::keystore_identity::{check_keystore_identity, database_is_fresh};
use talon_core::service::{OidcConfig, Plans, StripeConfig};
use talon_core::store::Store;
use talon_core::{Core, CoreConfig};

/// A built server: listener bound, core started, router assembled.
pub struct Application {
    addr: SocketAddr,
    public_url: String,
    description: String,
    core: Core,
    router: Router,
    listener: tokio::net::TcpListener,
    limits: listener::Limits,
}

/// `talon mcp`: stdio MCP server as an agent. A missing setting exits 1 naming the variable.
pub fn run_mcp(args: McpArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let env = ClientEnv::read();
    match args.transport.as_str() {
        "stdio" if env.local_only => runtime.block_on(mcp::stdio::run_local()),
        "stdio" => {
            let config = mcp::stdio::StdioConfig::from_env(&env)?;
            runtime.block_on(mcp::stdio::run(config))
        }
        "http" | "httpStream" => runtime.block_on(mcp::http::run_standalone(&env, args.host, args.port)),
        other => Err(format!(
            "unknown MCP transport '{other}': use stdio or httpStream (MCP_TRANSPORT or --transport)"
        )),
    }
}

/// Reads a PIN file, creating it with a random PIN (mode 0600) when absent.
fn pin_file(path: &Path) -> Result<String, String> {
    if let Ok(pin) = fs::read_to_string(path) {
        return Ok(pin.trim().to_owned());
    }
    let pin: String = uuid::Uuid::new_v4().simple().to_string();
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(pin.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(pin)
}

/// The keystore settings, prepared before any other thread runs (SoftHSM reads its
/// configuration from the environment when it is initialised).
pub struct KeystorePlan {
    insecure: bool,
    embedded: bool,
    tokens_dir: std::path::PathBuf,
    config: Pkcs11Config,
    so_pin: Option<String>,
}

/// Prepares the keystore: in embedded mode (a SoftHSM module and no `SOFTHSM2_CONF`) the token
/// store lives in `<data-dir>/hsm`, with its configuration and PIN files written there.
pub fn prepare_keystore(args: &ServerArgs) -> Result<KeystorePlan, String> {
    let hsm_dir = args.data_dir.join("hsm");
    let tokens_dir = hsm_dir.join("tokens");
    let config = |pin: String| Pkcs11Config {
        module: args.pkcs11_module.clone(),
        token_label: args.pkcs11_token_label.clone(),
        pin,
        init_so_pin: None,
    };
    if args.insecure_dev_keystore {
        return Ok(KeystorePlan {
            insecure: true,
            embedded: false,
            tokens_dir,
            config: config(String::new()),
            so_pin: None,
        });
    }
    let is_softhsm = args.pkcs11_module.to_string_lossy().contains("softhsm");
    let embedded = is_softhsm && !config::softhsm_conf_set();
    if embedded {
        fs::create_dir_all(&tokens_dir)
            .map_err(|e| format!("cannot create {}: {e}", tokens_dir.display()))?;
        fs::set_permissions(&hsm_dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot restrict {}: {e}", hsm_dir.display()))?;
        let conf = hsm_dir.join("softhsm2.conf");
        fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                tokens_dir.canonicalize().unwrap_or(tokens_dir.clone()).display()
            ),
        )
        .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
        // Read by the SoftHSM module when it is initialised; no other thread runs yet.
        config::set_softhsm_conf(&conf);
    }
    if embedded || args.pkcs11_pin.is_none() {
        fs::create_dir_all(&hsm_dir)
            .map_err(|e| format!("cannot create {}: {e}", hsm_dir.display()))?;
    }
    let pin = match &args.pkcs11_pin {
        Some(p) => p.clone(),
        None => pin_file(&hsm_dir.join("pin"))?,
    };
    let so_pin = match &args.pkcs11_so_pin {
        Some(p) => Some(p.clone()),
        None if embedded => Some(pin_file(&hsm_dir.join("so-pin"))?),
        None => None,
    };
    Ok(KeystorePlan {
        insecure: false,
        embedded,
        tokens_dir,
        config: config(pin),
        so_pin,
    })
}

impl KeystorePlan {
    /// Whether the keystore's keys live only in this process (the insecure development mode).
    pub fn is_ephemeral(&self) -> bool {
        self.insecure
    }

    /// Whether the embedded token directory holds anything.
    fn token_files_present(&self) -> bool {
        fs::read_dir(&self.tokens_dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    }

    /// Opens the keystore. A token is initialised only on a first start: embedded mode, an
    /// empty token directory and a database with nothing in it yet (`database_fresh`).
    /// Otherwise a missing token stops start-up with a message saying why and what to do.
    pub fn open(&self, database_fresh: bool) -> Result<Arc<dyn KeyStore>, String> {
        if self.insecure {
            eprintln!("WARNING: --insecure-dev-keystore: keys live in process memory and are lost on exit. Never use this for real secrets.");
            return Ok(Arc::new(SoftKeyStore::new()));
        }
        let first_start = self.embedded && database_fresh && !self.token_files_present();
        let config = Pkcs11Config {
            init_so_pin: if first_start {
                self.so_pin.clone()
            } else {
                None
            },
            ..self.config.clone()
        };
        match Pkcs11KeyStore::open(&config) {
            Ok(store) => Ok(Arc::new(store)),
            Err(KeyStoreError::TokenNotFound(label)) => Err(self.no_token_message(&label, database_fresh)),
            Err(e) => Err(format!(
                "{e}\n  Is SoftHSM2 installed (apt-get install softhsm2)? Set TALON_PKCS11_MODULE to your PKCS#11 module and TALON_PKCS11_PIN to the token's user PIN."
            )),
        }
    }

    fn no_token_message(&self, label: &str, database_fresh: bool) -> String {
        let module = self.config.module.display();
        let why = if !database_fresh {
            "The database already holds Talon data, so a new, empty token could not decrypt it."
                .to_owned()
        } else if self.embedded {
            format!(
                "The token directory {} already holds a token, and Talon only creates one in an empty directory.",
                self.tokens_dir.display()
            )
        } else {
            "Talon creates a token by itself only in its embedded SoftHSM directory.".to_owned()
        };
        let where_ = if self.embedded {
            format!(
                " and that {} is the original token directory (restore it from a backup if it was lost)",
                self.tokens_dir.display()
            )
        } else {
            String::new()
        };
        format!(
            "no PKCS#11 token labelled '{label}' in {module}. {why}\n  Check TALON_PKCS11_TOKEN_LABEL{where_}. To create a token deliberately, run `talon admin init-token` with the same settings."
        )
    }

    /// `talon admin init-token`: initialises a token with the configured label and PINs and
    /// creates its service keys; refuses when one with that label exists.
    pub fn init_token(&self) -> Result<String, String> {
        if self.insecure {
            return Err("init-token needs a PKCS#11 token, not --insecure-dev-keystore".into());
        }
        let so_pin = self.so_pin.as_deref().ok_or(
            "init-token needs the security-officer PIN: set TALON_PKCS11_SO_PIN (or --pkcs11-so-pin)",
        )?;
        let store = Pkcs11KeyStore::init_token(&self.config, so_pin)
            .map_err(|e| format!("init-token: {e}"))?;
        Ok(store.describe())
    }
}

/// The tiers: built in, with TALON_PLAN_LIMITS applied; the default tier must be one of them.
fn plans(args: &ServerArgs) -> Result<Plans, String> {
    let plans = match &args.plan_limits {
        None => Plans::default(),
        Some(v) => {
            let json = match v.strip_prefix('@') {
                Some(file) => fs::read_to_string(file)
                    .map_err(|e| format!("TALON_PLAN_LIMITS: cannot read {file}: {e}"))?,
                None => v.clone(),
            };
            Plans::with_overrides(&json).map_err(|e| format!("TALON_PLAN_LIMITS: {e}"))?
        }
    };
    if !plans.contains(&args.default_tier) {
        return Err(format!(
            "TALON_DEFAULT_TIER '{}' is not a known tier (known: {}); add it to TALON_PLAN_LIMITS or pick one of those",
            args.default_tier,
            plans.names().join(", ")
        ));
    }
    Ok(plans)
}

/// `talon admin …`: opens the same database and keystore as the server (so audit events join
/// the org's chain) and runs one command.
pub fn run_admin(args: AdminArgs) -> Result<(), String> {
    let server = args.server;
    let plan = prepare_keystore(&server)?;
    if let AdminCommand::InitToken = args.command {
        let desc = plan.init_token()?;
        println!("initialised {desc}");
        return Ok(());
    }
    let plans = plans(&server)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let database_url = server.database_url();
        let keys = open_planned(&plan, &database_url).await?;
        let store = Store::connect_with(&database_url, server.store_options()?)
            .await
            .map_err(|e| format!("database: {e}. Check TALON_DATABASE_URL."))?;
        check_keystore_identity(
            &store,
            &keys,
            &server.pkcs11_token_label,
            plan.is_ephemeral(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let core = Core::new(
            store,
            keys,
            CoreConfig {
                default_tier: server.default_tier.clone(),
                plans,
                ..CoreConfig::default()
            },
        )
        .map_err(|e| format!("cannot start the core: {e}"))?;
        match args.command {
            AdminCommand::SetTier { org, tier } => {
                let before = core
                    .admin_set_tier(&org, &tier)
                    .await
                    .map_err(|e| format!("set-tier: {e}"))?;
                println!("org {org}: tier {before} -> {tier}");
            }
            AdminCommand::InitToken => unreachable!("handled before the runtime starts"),
        }
        Ok(())
    })
}

/// Opens the planned keystore, initialising a token only when the database at `url` is still
/// empty (see [`KeystorePlan::open`]).
async fn open_planned(plan: &KeystorePlan, url: &str) -> Result<Arc<dyn KeyStore>, String> {
    let fresh = database_is_fresh(url)
        .await
        .map_err(|e| format!("database: {e}. Check TALON_DATABASE_URL."))?;
    plan.open(fresh)
}

pub fn run_server(args: ServerArgs) -> Result<(), String> {
    fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("cannot create data dir {}: {e}", args.data_dir.display()))?;
    config::default_leptos_env();
    let plan = prepare_keystore(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let keys = open_planned(&plan, &args.database_url()).await?;
        let ephemeral = plan.is_ephemeral();
        Application::build(args, keys, ephemeral)
            .await?
            .serve(shutdown_signal())
            .await
    })
}

impl Application {
    /// Connects the database, starts the core on `keys`, binds the listener and builds the
    /// router; nothing is served until [`Application::serve`]. `keys` is opened before the
    /// runtime starts (see [`prepare_keystore`]); it must be the keystore the database was
    /// created with, unless it is `ephemeral` (the insecure in-memory one).
    pub async fn build(
        args: ServerArgs,
        keys: Arc<dyn KeyStore>,
        ephemeral: bool,
    ) -> Result<Application, String> {
        let database_url = args.database_url();
        let limits = args.listener_limits()?;
        let store = Store::connect_with(&database_url, args.store_options()?)
            .await
            .map_err(|e| format!("database: {e}. Check TALON_DATABASE_URL."))?;
        check_keystore_identity(&store, &keys, &args.pkcs11_token_label, ephemeral)
            .await
            .map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|e| {
                format!(
                    "cannot listen on {}: {e}. Set --addr or TALON_ADDR.",
                    args.addr
                )
            })?;
        let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
        let public_url = args
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_owned();
        let keystore_desc = keys.describe();
        let mailer = match &args.smtp_url {
            Some(url) => Mailer::smtp(url, &args.smtp_from).map_err(|e| format!("mail: {e}"))?,
            None => {
                let outbox = args.data_dir.join("outbox.jsonl");
                eprintln!(
                    "No TALON_SMTP_URL set: outgoing mail is written to {}",
                    outbox.display()
                );
                Mailer::Outbox(outbox)
            }
        };
        let plans = plans(&args)?;
        let webhooks = args.webhook_settings()?;
        if args.kek_rewrap_batch < 1 {
            return Err("TALON_KEK_REWRAP_BATCH must be at least 1".into());
        }
        let stripe = StripeConfig {
            secret_key: args.stripe_secret_key.clone().filter(|k| !k.is_empty()),
            webhook_secret: args.stripe_webhook_secret.clone().filter(|k| !k.is_empty()),
            api_base: args.stripe_api_base.clone(),
            prices: [
                ("pro:monthly", &args.stripe_price_pro_monthly),
                ("pro:yearly", &args.stripe_price_pro_yearly),
                ("business:monthly", &args.stripe_price_business_monthly),
                ("business:yearly", &args.stripe_price_business_yearly),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.to_owned(), v)))
            .collect(),
        };
        let keys = DekCache::wrap(
            keys,
            std::time::Duration::from_millis(args.dek_cache_ttl_ms),
        );
        let core = Core::new(
            store.clone(),
            keys,
            CoreConfig {
                public_url: public_url.clone(),
                default_tier: args.default_tier.clone(),
                oidc: args.google_client_id.clone().map(|client_id| OidcConfig {
                    client_id,
                    issuers: match &args.oidc_issuer {
                        Some(i) => vec![i.clone()],
                        None => vec![
                            "https://accounts.google.com".into(),
                            "accounts.google.com".into(),
                        ],
                    },
                    jwks_url: args.oidc_jwks_url.clone(),
                    auth_url: args.oidc_auth_url.clone(),
                    token_url: args.oidc_token_url.clone(),
                    client_secret: args.google_client_secret.clone(),
                }),
                mailer: Some(mailer),
                rate_limit_per_principal: args.rate_limit_per_principal,
                audit_verify_per_minute: args.audit_verify_per_minute,
                plans,
                stripe,
                usage_flush_interval: std::time::Duration::from_millis(args.usage_flush_ms.max(10)),
                rewrap_batch: args.kek_rewrap_batch,
                webhooks,
                bindings: talon_core::service::BindingSettings {
                    allow_private: args.allow_private_egress,
                },
                approval_ttl_s: args.approval_ttl_seconds.clamp(1, 30 * 86_400),
                ..CoreConfig::default()
            },
        )
        .map_err(|e| format!("cannot start the core: {e}"))?;
        core.resume_key_rotations()
            .await
            .map_err(|e| format!("cannot resume KEK re-wraps: {e}"))?;
        core.backfill_audit_heads()
            .await
            .map_err(|e| format!("cannot sign the audit chain heads: {e}"))?;
        core.listen_for_invalidations(&database_url);
        core.start_webhook_deliveries();

        let mut leptos_options = leptos::config::get_configuration(None)
            .map_err(|e| format!("dashboard configuration: {e}"))?
            .leptos_options;
        leptos_options.site_addr = addr;
        let mcp_door = mcp::http::DoorSettings {
            hosts: mcp::http::allowed_hosts(&public_url, &args.mcp_allowed_hosts),
            exfil: args.mcp_exfil_protection,
        };
        let app = build_router(
            core.clone(),
            leptos_options,
            args.rate_limit_per_ip,
            mcp_door,
        );
        Ok(Application {
            addr,
            public_url,
            description: format!("database: {:?}, keystore: {keystore_desc}", store.backend()),
            core,
            router: app,
            listener,
            limits,
        })
    }

    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves (see [`listener::serve`]) until `shutdown` resolves and in-flight requests have
    /// finished, then flushes the counted requests.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let Application {
            addr,
            public_url,
            description,
            core,
            router,
            listener,
            limits,
        } = self;
        if let Some(files) = listener::raise_open_files_limit() {
            let wanted = limits.max_connections as u64 + 64;
            if files < wanted {
                eprintln!("WARNING: the open-files limit ({files}) is below TALON_MAX_CONNECTIONS plus room for the database and keystore ({wanted}); raise it (ulimit -n) or lower TALON_MAX_CONNECTIONS.");
            }
        }
        println!("Talon listening on http://{addr}");
        println!("  {description}");
        println!("  First steps: open {public_url}/login in a browser, or sign up with");
        println!("  curl -X POST {public_url}/v1/auth/signup -H 'Content-Type: application/json' -d '{{\"email\":\"you@example.com\",\"password\":\"…\"}}'");
        listener::serve(listener, router, limits, shutdown).await;
        if let Err(e) = core.flush_usage().await {
            eprintln!("talon: counted requests not flushed at shutdown: {e}");
        }
        Ok(())
    }
}

/// The whole HTTP surface: `/v1` and `/.well-known` with problem responses, then the dashboard.
pub fn build_router(
    core: Core,
    leptos_options: leptos::config::LeptosOptions,
    rate_limit_per_ip: u32,
    mcp_door: mcp::http::DoorSettings,
) -> Router {
    let state = AppState { core: core.clone() };
    // The `/v1` routes with their gate layer: what REST clients reach over the socket and
    // what the MCP door's tools call in-process.
    let v1 = rest::router()
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gate::layer,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .layer(axum::middleware::from_fn(problem::request_id_and_problems))
        .with_state(state);
    let api = v1.clone().layer(axum::middleware::from_fn_with_state(
        guard::IpRateLimit::new(rate_limit_per_ip),
        guard::rate_limit,
    ));
    let mcp = mcp::http::router(core.clone(), v1, mcp_door)
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .layer(axum::middleware::from_fn_with_state(
            guard::IpRateLimit::new(rate_limit_per_ip),
            guard::rate_limit,
        ));
    api.merge(mcp)
        .merge(web::router(core, leptos_options))
        .layer(axum::middleware::from_fn(guard::security_headers))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
