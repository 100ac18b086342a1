//! Agents: registration (the `ocv_` key is returned once and stored only as a keyed hash) and
//! listing.

use super::audit::AuditEvent;
use super::identity::new_bearer_secret;
use super::{Core, Principal, RequestContext};
use crate::error::{Error, Result};
use crate::store::{agents, agents::AgentRow, vaults};
use serde_json::json;

/// Input of `POST /v1/agents`.
#[derive(Debug, Clone, Default)]
pub struct CreateAgent {
    pub name: String,
    pub description: Option<String>,
    pub auth_method: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub vault_ids: Option<Vec<String>>,
    pub token_ttl_seconds: Option<i64>,
    pub expires_at: Option<i64>,
    pub api_key_expires_at: Option<i64>,
}

/// A registered agent and its key, shown once.
#[derive(Debug)]
pub struct AgentCreated {
    pub agent: AgentRow,
    pub api_key: String,
}

impl Core {
    /// Registers an agent in the caller's org with zero access. Humans only.
    pub async fn create_agent(&self, p: &Principal, input: CreateAgent, ctx: &RequestContext) -> Result<AgentCreated> {
        let (user_id, _) = p.require_human()?;
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(Error::invalid("name", "name must be 1 to 255 characters"));
        }
        if let Some(m) = input.auth_method.as_deref() {
            if m != "api_key" {
                return Err(Error::invalid("auth_method", "auth_method must be 'api_key'"));
            }
        }
        if let Some(ttl) = input.token_ttl_seconds {
            if !(60..=86_400).contains(&ttl) {
                return Err(Error::invalid("token_ttl_seconds", "token_ttl_seconds must be between 60 and 86400"));
            }
        }
        let vault_ids = input.vault_ids.unwrap_or_default();
        for id in &vault_ids {
            if vaults::get(self.store().pool(), p.org_id(), id).await?.is_none() {
                return Err(Error::invalid("vault_ids", format!("Vault {id} is not a vault of this organization")));
            }
        }
        let scopes_explicit = input.scopes.as_ref().is_some_and(|s| !s.is_empty());
        let api_key = new_bearer_secret("ocv_");
        let hash = self.credential_hash(&api_key).await?;
        let agent = AgentRow {
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
        };
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(p, "agent.register", "agent", Some(agent.id.clone()), json!({"name": agent.name})),
        )
        .await?;
        agents::insert(&mut tx, &agent, &hash).await?;
        tx.commit().await?;
        Ok(AgentCreated { agent, api_key })
    }

    /// The org's agents (active and inactive). Humans only.
    pub async fn list_agents(&self, p: &Principal) -> Result<Vec<AgentRow>> {
        p.require_human()?;
        agents::list(self.store().pool(), p.org_id()).await
    }

    /// The calling agent's own record.
    pub async fn agent_self(&self, p: &Principal) -> Result<AgentRow> {
        match p {
            Principal::Agent { agent_id, org_id, .. } => agents::get(self.store().pool(), org_id, agent_id)
                .await?
                .ok_or(Error::NotFound("Agent")),
            Principal::User { .. } => Err(Error::Forbidden(
                "This endpoint is for agents; humans use /v1/auth/me".into(),
            )),
        }
    }
}
