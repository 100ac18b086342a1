//! Agents: registration (the `ocv_` key is returned once and stored only as a keyed hash) and
//! listing.

use super::audit::AuditEvent;
use super::credentials::new_bearer_secret;
use super::{Core, Principal, RequestContext};
use crate::error::{Error, Result};
use crate::material::BearerSecret;
use crate::model::Agent;
use crate::store::{agents, vaults};
use serde_json::json;
use talon_api::Scope;

/// Input of `POST /v1/agents`.
#[derive(Debug, Clone, Default)]
pub struct CreateAgent {
    /// Display name, 1 to 255 characters.
    pub name: String,
    /// Free text; empty when absent.
    pub description: Option<String>,
    /// How the agent authenticates; only `api_key` is accepted.
    pub auth_method: Option<String>,
    /// Scopes; non-empty ones are explicit and limit the paths the agent can reach.
    pub scopes: Option<Vec<String>>,
    /// Vaults the agent is bound to; empty or absent means every vault of the org.
    pub vault_ids: Option<Vec<String>>,
    /// Lifetime of its access tokens, 60 to 86400 seconds; absent uses the server default.
    pub token_ttl_seconds: Option<i64>,
    /// When the agent expires (its key and live tokens stop working), unix milliseconds.
    pub expires_at: Option<i64>,
    /// When its API key stops working, unix milliseconds.
    pub api_key_expires_at: Option<i64>,
    /// The environment the agent is tagged with (`production`, `preview`, `development` or a
    /// custom slug); resolving env vars without an environment uses it.
    pub environment: Option<String>,
}

/// A registered agent and its key, shown once.
#[derive(Debug)]
pub struct AgentCreated {
    /// The stored agent record.
    pub agent: Agent,
    /// The `ocv_` key, shown only now; only its keyed hash is stored.
    pub api_key: BearerSecret,
}

impl Core {
    /// Validates the input and builds the agent row and its new key (shown once) with the key's
    /// stored hash. Nothing is written.
    pub(crate) async fn prepare_agent(
        &self,
        p: &Principal,
        input: CreateAgent,
    ) -> Result<(Agent, String, String)> {
        p.require_scope(Scope::AgentsWrite)?;
        let (user_id, _) = p.require_human()?;
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(Error::invalid("name", "name must be 1 to 255 characters"));
        }
        if let Some(m) = input.auth_method.as_deref() {
            if m != "api_key" {
                return Err(Error::invalid(
                    "auth_method",
                    "auth_method must be 'api_key'",
                ));
            }
        }
        if let Some(ttl) = input.token_ttl_seconds {
            if !(60..=86_400).contains(&ttl) {
                return Err(Error::invalid(
                    "token_ttl_seconds",
                    "token_ttl_seconds must be between 60 and 86400",
                ));
            }
        }
        let vault_ids = input.vault_ids.unwrap_or_default();
        for id in &vault_ids {
            if vaults::get(self.store().pool(), p.org_id(), id)
                .await?
                .is_none()
            {
                return Err(Error::invalid(
                    "vault_ids",
                    format!("Vault {id} is not a vault of this organization"),
                ));
            }
        }
        if let Some(env) = input.environment.as_deref() {
            super::env_vars::check_slug("environment", env)?;
        }
        let scopes_explicit = input.scopes.as_ref().is_some_and(|s| !s.is_empty());
        let api_key = new_bearer_secret("ocv_");
        let hash = self.credential_hash(&api_key).await?;
        let agent = Agent {
            id: uuid::Uuid::new_v4().to_string(),
            org_id: p.org_id().to_owned(),
            name: name.to_owned(),
            description: input.description.unwrap_or_default(),
            scopes: input.scopes.unwrap_or_default(),
            scopes_explicit,
            vault_ids,
            is_active: true,
            token_ttl_seconds: input.token_ttl_seconds,
            expires_at: input.expires_at,
            api_key_prefix: api_key[..12].to_owned(),
            api_key_expires_at: input.api_key_expires_at,
            created_by: user_id.to_owned(),
            created_at: self.now(),
            last_active_at: None,
            environment: input.environment,
        };
        Ok((agent, api_key, hash))
    }

    /// Registers an agent in the caller's org with zero access. Humans only.
    pub async fn create_agent(
        &self,
        p: &Principal,
        input: CreateAgent,
        ctx: &RequestContext,
    ) -> Result<AgentCreated> {
        let (agent, api_key, hash) = self.prepare_agent(p, input).await?;
        let mut tx = self.store().begin().await?;
        self.insert_agent(&mut tx, p, ctx, &agent, &hash).await?;
        tx.commit().await?;
        Ok(AgentCreated {
            agent,
            api_key: BearerSecret::new(api_key),
        })
    }

    /// Records a prepared agent and its `agent.register` event inside `tx`.
    pub(crate) async fn insert_agent(
        &self,
        tx: &mut crate::store::Tx,
        p: &Principal,
        ctx: &RequestContext,
        agent: &Agent,
        key_hash: &str,
    ) -> Result<()> {
        self.check_limit(tx, &agent.org_id, crate::store::billing::Counted::Agents)
            .await?;
        self.append_audit(
            tx,
            ctx,
            AuditEvent::by(
                p,
                "agent.register",
                "agent",
                Some(agent.id.clone()),
                json!({"name": agent.name}),
            ),
        )
        .await?;
        agents::insert(tx, agent, key_hash).await
    }

    /// The org's agents (active and inactive). Humans only.
    pub async fn list_agents(&self, p: &Principal) -> Result<Vec<Agent>> {
        p.require_scope(Scope::AgentsRead)?;
        p.require_human()?;
        agents::list(self.store().pool(), p.org_id()).await
    }

    /// The calling agent's own record.
    pub async fn agent_self(&self, p: &Principal) -> Result<Agent> {
        match p {
            Principal::Agent {
                agent_id, org_id, ..
            } => agents::get(self.store().pool(), org_id, agent_id)
                .await?
                .ok_or(Error::NotFound("Agent")),
            Principal::User { .. } => Err(Error::Forbidden(
                "This endpoint is for agents; humans use /v1/auth/me".into(),
            )),
        }
    }
}

/// A change to an agent: absent fields stay; `Some(None)` clears a nullable field.
#[derive(Debug, Clone, Default)]
pub struct PatchAgent {
    /// New display name, 1 to 255 characters.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New scopes; an empty list makes them non-explicit again.
    pub scopes: Option<Vec<String>>,
    /// Activates or deactivates the agent.
    pub is_active: Option<bool>,
    /// New vault binding; empty means every vault of the org.
    pub vault_ids: Option<Vec<String>>,
    /// New access token lifetime, 60 to 86400 seconds; `Some(None)` restores the server default.
    pub token_ttl_seconds: Option<Option<i64>>,
    /// New expiry of the agent, unix milliseconds; `Some(None)` removes it.
    pub expires_at: Option<Option<i64>>,
    /// New expiry of its API key, unix milliseconds; `Some(None)` removes it.
    pub api_key_expires_at: Option<Option<i64>>,
    /// New environment tag; `Some(None)` removes it.
    pub environment: Option<Option<String>>,
}

impl Core {
    /// An agent the caller may manage: its creator, or an org owner/admin. Other humans of the
    /// org may read it; other orgs get 404.
    async fn managed_agent(&self, p: &Principal, agent_id: &str, manage: bool) -> Result<Agent> {
        let (user_id, role) = p.require_human()?;
        let agent = agents::get(self.store().pool(), p.org_id(), agent_id)
            .await?
            .ok_or(Error::NotFound("Agent"))?;
        if manage && !(role.is_org_admin() || agent.created_by == user_id) {
            return Err(Error::Forbidden(
                "Only the agent's creator or an org owner or admin can change it".into(),
            ));
        }
        Ok(agent)
    }

    /// One agent of the org (never its key).
    pub async fn get_agent(&self, p: &Principal, agent_id: &str) -> Result<Agent> {
        p.require_scope(Scope::AgentsRead)?;
        self.managed_agent(p, agent_id, false).await
    }

    /// Applies a patch. Deactivation takes effect on the agent's next request, even with a
    /// live token.
    pub async fn update_agent(
        &self,
        p: &Principal,
        agent_id: &str,
        patch: PatchAgent,
        ctx: &RequestContext,
    ) -> Result<Agent> {
        p.require_scope(Scope::AgentsWrite)?;
        let mut a = self.managed_agent(p, agent_id, true).await?;
        let was_active = a.is_active;
        if let Some(name) = patch.name {
            let name = name.trim().to_owned();
            if name.is_empty() || name.chars().count() > 255 {
                return Err(Error::invalid("name", "name must be 1 to 255 characters"));
            }
            a.name = name;
        }
        if let Some(d) = patch.description {
            a.description = d;
        }
        if let Some(s) = patch.scopes {
            a.scopes_explicit = !s.is_empty();
            a.scopes = s;
        }
        if let Some(active) = patch.is_active {
            a.is_active = active;
        }
        if let Some(env) = patch.environment {
            if let Some(e) = env.as_deref() {
                super::env_vars::check_slug("environment", e)?;
            }
            a.environment = env;
        }
        if let Some(ids) = patch.vault_ids {
            for id in &ids {
                if vaults::get(self.store().pool(), p.org_id(), id)
                    .await?
                    .is_none()
                {
                    return Err(Error::invalid(
                        "vault_ids",
                        format!("Vault {id} is not a vault of this organization"),
                    ));
                }
            }
            a.vault_ids = ids;
        }
        if let Some(ttl) = patch.token_ttl_seconds {
            if ttl.is_some_and(|t| !(60..=86_400).contains(&t)) {
                return Err(Error::invalid(
                    "token_ttl_seconds",
                    "token_ttl_seconds must be between 60 and 86400",
                ));
            }
            a.token_ttl_seconds = ttl;
        }
        if let Some(e) = patch.expires_at {
            a.expires_at = e;
        }
        if let Some(e) = patch.api_key_expires_at {
            a.api_key_expires_at = e;
        }
        let action = match (was_active, a.is_active) {
            (true, false) => "agent.deactivate",
            (false, true) => "agent.activate",
            _ => "agent.update",
        };
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                action,
                "agent",
                Some(a.id.clone()),
                json!({"name": a.name}),
            ),
        )
        .await?;
        agents::update(&mut tx, &a).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// Deactivates the org's agent `agent_id` inside `tx` as [`Core::update_agent`] does with
    /// `is_active: false`: the row, and an `agent.deactivate` event (which, like every change
    /// to an agent, raises the org's cache epoch and empties this process's read caches), so
    /// the agent's next request is refused with 401 even with a live token. `event` gives the
    /// actor and any details; its action, resource and the agent's `name` are filled in here.
    /// Returns false, writing nothing, when the agent was not active.
    pub(crate) async fn deactivate_agent_in(
        &self,
        tx: &mut crate::store::Tx,
        ctx: &RequestContext,
        agent_id: &str,
        mut event: AuditEvent,
    ) -> Result<bool> {
        let Some(name) = agents::deactivate(tx, &event.org_id, agent_id).await? else {
            return Ok(false);
        };
        event.action = "agent.deactivate";
        event.resource_type = "agent";
        event.resource_id = Some(agent_id.to_owned());
        if let serde_json::Value::Object(details) = &mut event.details {
            details.insert("name".into(), json!(name));
        }
        self.append_audit(tx, ctx, event).await?;
        Ok(true)
    }

    /// Removes an agent; its key and tokens stop working, its policies go, its audit stays.
    pub async fn delete_agent(
        &self,
        p: &Principal,
        agent_id: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        p.require_scope(Scope::AgentsWrite)?;
        let a = self.managed_agent(p, agent_id, true).await?;
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "agent.delete",
                "agent",
                Some(a.id.clone()),
                json!({"name": a.name}),
            ),
        )
        .await?;
        agents::remove(&mut tx, &a.id, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Issues a new key; the old one fails from the commit on. Tokens already issued stay
    /// valid until they expire.
    pub async fn rotate_agent_key(
        &self,
        p: &Principal,
        agent_id: &str,
        ctx: &RequestContext,
    ) -> Result<AgentCreated> {
        p.require_scope(Scope::AgentsWrite)?;
        let mut a = self.managed_agent(p, agent_id, true).await?;
        let api_key = new_bearer_secret("ocv_");
        let hash = self.credential_hash(&api_key).await?;
        a.api_key_prefix = api_key[..12].to_owned();
        a.api_key_expires_at = None;
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "agent.rotate_key",
                "agent",
                Some(a.id.clone()),
                json!({}),
            ),
        )
        .await?;
        agents::set_key(&mut tx, &a.id, &hash, &a.api_key_prefix).await?;
        tx.commit().await?;
        Ok(AgentCreated {
            agent: a,
            api_key: BearerSecret::new(api_key),
        })
    }
}

impl From<&Agent> for talon_api::agents::AgentResponse {
    fn from(a: &Agent) -> Self {
        use crate::clock::rfc3339;
        talon_api::agents::AgentResponse {
            id: a.id.clone(),
            name: a.name.clone(),
            description: a.description.clone(),
            auth_method: "api_key".to_owned(),
            scopes: a.scopes.clone(),
            is_active: a.is_active,
            vault_ids: a.vault_ids.clone(),
            token_ttl_seconds: a.token_ttl_seconds,
            expires_at: a.expires_at.map(rfc3339),
            api_key_expires_at: a.api_key_expires_at.map(rfc3339),
            created_at: rfc3339(a.created_at),
            last_active_at: a.last_active_at.map(rfc3339),
            intents_api_enabled: false,
            shroud_enabled: false,
            environment: a.environment.clone(),
        }
    }
}

impl From<&Agent> for talon_api::agents::AgentSelfResponse {
    fn from(a: &Agent) -> Self {
        use crate::clock::rfc3339;
        talon_api::agents::AgentSelfResponse {
            id: a.id.clone(),
            name: a.name.clone(),
            description: a.description.clone(),
            org_id: a.org_id.clone(),
            scopes: a.scopes.clone(),
            vault_ids: a.vault_ids.clone(),
            is_active: a.is_active,
            token_ttl_seconds: a.token_ttl_seconds,
            created_by: a.created_by.clone(),
            created_at: rfc3339(a.created_at),
            expires_at: a.expires_at.map(rfc3339),
            last_active_at: a.last_active_at.map(rfc3339),
            intents_api_enabled: false,
        }
    }
}

impl From<AgentCreated> for talon_api::agents::AgentCreatedResponse {
    fn from(out: AgentCreated) -> Self {
        talon_api::agents::AgentCreatedResponse {
            agent: (&out.agent).into(),
            api_key: out.api_key,
        }
    }
}
