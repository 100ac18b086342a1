//! Services: every door calls these with a [`Principal`] and a [`RequestContext`].

mod account;
mod agents;
mod approvals;
mod audit;
mod billing;
mod bindings;
mod broker;
mod credentials;
mod dashboard_sessions;
mod device;
mod email_flows;
mod enrollment;
mod env_vars;
mod gate;
mod google;
mod honeytokens;
mod identity;
mod ip_rules;
mod key_rotation;
pub mod keystore_identity;
mod mfa;
mod org;
mod policies;
mod principal;
mod read_cache;
mod read_commit;
mod secret_requests;
mod secrets;
mod sharing;
mod stripe;
mod throttle;
mod vaults;
mod versions;
mod webhooks;

pub use account::{ApiKeyCreated, ProfilePatch, Tokens};
pub use agents::{AgentCreated, CreateAgent, PatchAgent};
pub use approvals::{ApprovalDecision, ApprovalView, DeclaredAction, STEP_UP_TIER};
pub use audit::{AuditEvent, AuditQuery, ChainBreak, ChainReport, HeadReport};
pub use billing::{BillableOp, PlanLimits, Plans, QuotaView};
pub use bindings::{
    BindingSettings, BindingTest, CreateBinding, CredentialInput, ExecuteIntent, Executed,
    PatchBinding,
};
pub use broker::BlockedSend;
pub use device::{DeviceInfo, DevicePoll, DeviceStarted, DeviceToken};
pub use enrollment::{EnrollStarted, EnrollState};
pub use env_vars::{
    CreateEnvVar, CreateEnvironment, EnvVar, EnvVarSelector, EnvVarView, EnvironmentView,
    ResolvedEnv, UpdateEnvVar, BUILTIN_ENVIRONMENTS,
};
pub use gate::{bearer_token, Access, Admitted, Credential, Operation};
pub use google::OidcConfig;
pub use honeytokens::CreateHoneytoken;
pub use identity::{AgentToken, LoginOutcome, Signup, SignupOutcome};
pub use ip_rules::{ip_allowed, NewIpRule};
pub use key_rotation::{kek_version, KeyStatus};
pub use mfa::MfaSetup;
pub use org::Invite;
pub use policies::{CreatePolicy, UpdatePolicy};
pub use secret_requests::FulfilSecretRequest;
pub use secrets::{PutSecret, SecretRead};
pub use sharing::CreateShare;
pub use stripe::{StripeConfig, Subscribe};
pub use versions::{generate, Charset, RotateSecret};
pub use webhooks::{CreateWebhook, PatchWebhook, WebhookCreated, WebhookSettings};

use crate::clock::now_ms;
use crate::error::{Dependency, Error, Result};
use crate::keystore::KeyStore;
use crate::store::Store;
use crate::token::TokenSigner;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings the core needs; loaded and validated by the server.
#[derive(Clone)]
pub struct CoreConfig {
    /// Public base URL, used as the JWT issuer.
    pub public_url: String,
    /// Tier given to new orgs.
    pub default_tier: String,
    /// Lifetime of human access tokens, seconds.
    pub user_token_ttl_s: i64,
    /// Default lifetime of agent access tokens, seconds.
    pub agent_token_ttl_s: i64,
    /// Lifetime of refresh tokens, seconds.
    pub refresh_token_ttl_s: i64,
    /// Deadline for one keystore call.
    pub keystore_timeout: Duration,
    /// Google / OIDC sign-in; `None` disables it.
    pub oidc: Option<OidcConfig>,
    /// Outgoing mail; `None` sends nothing.
    pub mailer: Option<crate::mail::Mailer>,
    /// Authenticated requests per second allowed per principal; 0 disables.
    pub rate_limit_per_principal: u32,
    /// Audit chain verifications allowed per org per minute; 0 disables the limit.
    pub audit_verify_per_minute: u32,
    /// Tiers and their limits.
    pub plans: Plans,
    /// Stripe settings; without a secret key the Stripe endpoints answer 501.
    pub stripe: StripeConfig,
    /// How often counted requests are flushed to the database.
    pub usage_flush_interval: Duration,
    /// Secret versions re-wrapped per transaction after a KEK rotation.
    pub rewrap_batch: i64,
    /// Where webhooks may point and how their deliveries are retried.
    pub webhooks: WebhookSettings,
    /// What bindings' executions may reach.
    pub bindings: BindingSettings,
    /// How long an approval waits for its approvers before it expires, seconds.
    pub approval_ttl_s: i64,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            public_url: "http://127.0.0.1:8080".into(),
            default_tier: "enterprise".into(),
            user_token_ttl_s: 900,
            agent_token_ttl_s: 3600,
            refresh_token_ttl_s: 30 * 86_400,
            keystore_timeout: Duration::from_secs(5),
            oidc: None,
            mailer: None,
            rate_limit_per_principal: 0,
            audit_verify_per_minute: 5,
            plans: Plans::default(),
            stripe: StripeConfig {
                api_base: "https://api.stripe.com".into(),
                ..StripeConfig::default()
            },
            usage_flush_interval: Duration::from_secs(1),
            rewrap_batch: 100,
            webhooks: WebhookSettings::default(),
            bindings: BindingSettings::default(),
            approval_ttl_s: 900,
        }
    }
}

pub use talon_api::{PrincipalKind, Role, Scope};

/// Who is calling, established from a verified token.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A human member of an org.
    User {
        /// The user's id.
        user_id: String,
        /// The org the user belongs to.
        org_id: String,
        /// The user's email address.
        email: String,
        /// The user's role in the org.
        role: Role,
        /// Set when the caller authenticated with a personal API key (or a token made from
        /// one): the key's scopes, which narrow the user's rights. Empty or `*` = no narrowing.
        key_scopes: Option<Vec<String>>,
    },
    /// A registered agent, authenticated with a token exchanged for its `ocv_` key.
    Agent {
        /// The agent's id.
        agent_id: String,
        /// The org the agent belongs to.
        org_id: String,
        /// The human who created the agent.
        created_by: String,
        /// The agent's scopes; only explicit path-like ones limit access.
        scopes: Vec<String>,
        /// Whether `scopes` were given explicitly (and so cap the paths the agent can reach) rather
        /// than derived from policies.
        scopes_explicit: bool,
        /// Vault binding; empty means every vault of the org.
        vault_ids: Vec<String>,
    },
}

impl Principal {
    /// The org the caller belongs to.
    pub fn org_id(&self) -> &str {
        match self {
            Principal::User { org_id, .. } | Principal::Agent { org_id, .. } => org_id,
        }
    }
    /// Whether the caller is a human user or an agent.
    pub fn principal_kind(&self) -> PrincipalKind {
        match self {
            Principal::User { .. } => PrincipalKind::User,
            Principal::Agent { .. } => PrincipalKind::Agent,
        }
    }
    /// `user` or `agent` (the wire string of [`Principal::principal_kind`]).
    pub fn kind(&self) -> &'static str {
        self.principal_kind().as_str()
    }
    /// The user's or agent's id, without the kind prefix.
    pub fn id(&self) -> &str {
        match self {
            Principal::User { user_id, .. } => user_id,
            Principal::Agent { agent_id, .. } => agent_id,
        }
    }
    /// `user:<id>` or `agent:<id>`.
    pub fn subject(&self) -> String {
        format!("{}:{}", self.kind(), self.id())
    }
    /// Refuses a personal-API-key caller whose key scopes do not include `scope`.
    pub fn require_scope(&self, scope: Scope) -> Result<()> {
        let scope = scope.as_str();
        match self {
            Principal::User {
                key_scopes: Some(scopes),
                ..
            } if !scopes.is_empty() && !scopes.iter().any(|s| s == "*" || s == scope) => Err(
                Error::Forbidden(format!("This API key lacks the '{scope}' scope")),
            ),
            _ => Ok(()),
        }
    }

    /// Refuses agents on human-only routes.
    pub fn require_human(&self) -> Result<(&str, Role)> {
        match self {
            Principal::User { user_id, role, .. } => Ok((user_id, *role)),
            Principal::Agent { .. } => Err(Error::Forbidden(
                "This endpoint is for human users; agents cannot call it".into(),
            )),
        }
    }
}

/// Facts about the request that the audit log and conditions need.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The caller's address as the socket saw it.
    pub ip: Option<String>,
    /// The caller's `User-Agent`, at most 256 characters.
    pub user_agent: Option<String>,
    /// The door the call came through when it is not the one its route belongs to (`mcp`
    /// for MCP tools calling REST); recorded in audit events as `details.via`.
    pub via: Option<&'static str>,
}

impl RequestContext {
    /// The context of a request from `ip` with `user_agent` (cut to 256 characters): the one
    /// way every door builds it.
    pub fn new(ip: Option<std::net::IpAddr>, user_agent: Option<&str>) -> RequestContext {
        RequestContext {
            ip: ip.map(|a| a.to_string()),
            user_agent: user_agent.map(|s| s.chars().take(256).collect()),
            via: None,
        }
    }

    pub(crate) fn ip_addr(&self) -> Option<std::net::IpAddr> {
        self.ip.as_deref().and_then(|s| s.parse().ok())
    }
}

/// How long the health check waits for the database's `SELECT 1`.
pub const HEALTH_DATABASE_DEADLINE: Duration = Duration::from_millis(800);

/// Health of the dependencies.
#[derive(Debug, Clone)]
pub struct HealthReport {
    /// Whether the database answered a ping.
    pub database: bool,
    /// Whether the keystore answered a ping within the deadline.
    pub keystore: bool,
}

struct Inner {
    store: Store,
    keys: Arc<dyn KeyStore>,
    signer: TokenSigner,
    config: CoreConfig,
    dummy_password_hash: String,
    jwks: google::JwksCache,
    principal_windows: throttle::PrincipalWindows,
    verifies_running: audit::RunningVerifies,
    read_committer: read_commit::ReadCommitter,
    read_cache: read_cache::ReadCache,
    meter: billing::Meter,
}

/// The service layer. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Core(Arc<Inner>);

impl Core {
    /// Builds the core over a connected store and an opened keystore.
    pub fn new(store: Store, keys: Arc<dyn KeyStore>, config: CoreConfig) -> Result<Core> {
        let signer = TokenSigner::new(keys.jwt_public_key()?)?;
        for kek in [mfa::TOTP_KEK, webhooks::WEBHOOK_KEK, bindings::BINDING_KEK] {
            if keys.kek_attributes(kek).is_err() {
                keys.create_kek(kek)?;
            }
        }
        let dummy_password_hash = credentials::hash_password("talon-dummy-password-for-timing")?;
        // On PostgreSQL other processes change the data too: nothing is cached until the
        // notification listener is up (see `Core::listen_for_invalidations`).
        let read_cache =
            read_cache::ReadCache::new(store.backend() == crate::store::Backend::Sqlite);
        Ok(Core(Arc::new(Inner {
            store,
            keys,
            signer,
            config,
            dummy_password_hash,
            jwks: google::JwksCache::default(),
            principal_windows: throttle::PrincipalWindows::default(),
            verifies_running: audit::RunningVerifies::default(),
            read_committer: read_commit::ReadCommitter::default(),
            read_cache,
            meter: billing::Meter::default(),
        })))
    }

    /// The storage handle.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The settings the core was built with.
    pub fn config(&self) -> &CoreConfig {
        &self.0.config
    }

    /// The JWT signing key's id and raw Ed25519 public key.
    pub fn jwt_public_key(&self) -> (&str, [u8; 32]) {
        (self.0.signer.kid(), self.0.signer.public_key())
    }

    /// Runs a keystore call off the async runtime, with the configured deadline.
    pub(crate) async fn keys<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn KeyStore) -> T + Send + 'static,
    ) -> Result<T> {
        let keys = self.0.keys.clone();
        let task = tokio::task::spawn_blocking(move || f(keys.as_ref()));
        match tokio::time::timeout(self.0.config.keystore_timeout, task).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(Error::Internal("keystore task panicked".into())),
            Err(_) => Err(Error::Unavailable(Dependency::Keystore)),
        }
    }

    /// Checks the database and the keystore side by side. The database check answers at once
    /// while the store's circuit is open, and otherwise gives up after
    /// [`HEALTH_DATABASE_DEADLINE`].
    pub async fn health(&self) -> HealthReport {
        let (database, keystore) = tokio::join!(
            self.0.store.answers_within(HEALTH_DATABASE_DEADLINE),
            async {
                // A hung token counts as unavailable here, so health still answers in time.
                matches!(
                    tokio::time::timeout(HEALTH_DATABASE_DEADLINE, self.keystore_latency()).await,
                    Ok(Ok(_))
                )
            },
        );
        HealthReport { database, keystore }
    }

    /// Times one cheap keystore operation.
    pub async fn keystore_latency(&self) -> Result<Duration> {
        let start = Instant::now();
        self.keys(|k| k.ping()).await??;
        Ok(start.elapsed())
    }

    /// Reads a KEK's protection attributes from the keystore (for health and tests).
    pub async fn kek_attributes(&self, label: String) -> Result<crate::keystore::KekAttributes> {
        Ok(self.keys(move |k| k.kek_attributes(&label)).await??)
    }

    fn now(&self) -> i64 {
        now_ms()
    }
}
