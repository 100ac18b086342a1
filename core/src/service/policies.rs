//! Policies: grants of read/write/delete/rotate on path globs of one vault to one principal.

use super::audit::AuditEvent;
use super::{Core, Principal, RequestContext};
use crate::error::{Error, Result};
use crate::model::Policy;
use crate::policy::{self, Conditions};
use crate::secret_path::PathPattern;
use crate::store::{agents, policies, users};
use serde_json::{json, Value};
use talon_api::{PrincipalKind, Scope};

/// Input of `POST /v1/vaults/{id}/policies`.
#[derive(Debug, Clone)]
pub struct CreatePolicy {
    /// The secret paths covered, as a glob (`*` within a segment, `**` across segments).
    pub secret_path_pattern: String,
    /// `user` or `agent`.
    pub principal_type: String,
    /// The id of the user or agent granted; it must belong to the vault's org.
    pub principal_id: String,
    /// Permission names: `read`, `write`, `delete`, `rotate`.
    pub permissions: Vec<String>,
    /// IP allowlist and time window that must hold; absent means none.
    pub conditions: Option<Value>,
    /// When the policy stops applying, unix milliseconds; absent never expires.
    pub expires_at: Option<i64>,
    /// `allow` (the default) or `deny`.
    pub effect: Option<String>,
    /// Priority, 0 or more (default 0); stored only, since a matching deny always wins.
    pub priority: Option<i64>,
}

/// A change to a policy; pattern and principal cannot change.
#[derive(Debug, Clone, Default)]
pub struct UpdatePolicy {
    /// New permission names.
    pub permissions: Option<Vec<String>>,
    /// New conditions object.
    pub conditions: Option<Value>,
    /// New expiry, unix milliseconds; `Some(None)` removes it.
    pub expires_at: Option<Option<i64>>,
    /// New effect, `allow` or `deny`.
    pub effect: Option<String>,
    /// New priority, 0 or more.
    pub priority: Option<i64>,
}

/// Validates a permission list: non-empty, known names, duplicates dropped.
fn permissions(names: &[String]) -> Result<Vec<String>> {
    if names.is_empty() {
        return Err(Error::invalid(
            "permissions",
            "permissions must not be empty",
        ));
    }
    let mut perms: Vec<String> = Vec::new();
    for name in names {
        let perm = policy::parse_permission(name)?;
        if !perms.iter().any(|p| p == perm.as_str()) {
            perms.push(perm.as_str().to_owned());
        }
    }
    Ok(perms)
}

/// Validates a conditions object; returns it as stored (`{}` when absent).
fn conditions(c: Option<&Value>) -> Result<Value> {
    Conditions::parse(c.unwrap_or(&Value::Null))?;
    Ok(match c {
        None | Some(Value::Null) => json!({}),
        Some(c) => c.clone(),
    })
}

fn priority(p: i64) -> Result<i64> {
    if p < 0 {
        return Err(Error::invalid("priority", "priority must be at least 0"));
    }
    Ok(p)
}

impl Core {
    /// Creates a policy on a vault the caller administers. The principal must be in the org.
    pub async fn create_policy(
        &self,
        p: &Principal,
        vault_id: &str,
        input: CreatePolicy,
        ctx: &RequestContext,
    ) -> Result<Policy> {
        p.require_scope(Scope::PoliciesWrite)?;
        let v = self.require_vault_admin(p, vault_id).await?;
        let pattern = PathPattern::parse(&input.secret_path_pattern)?;
        let perms = permissions(&input.permissions)?;
        let conditions_json = conditions(input.conditions.as_ref())?;
        let effect = policy::parse_effect(input.effect.as_deref().unwrap_or("allow"))?;
        let priority = priority(input.priority.unwrap_or(0))?;
        let principal_id = input.principal_id.trim().to_lowercase();
        let in_org = match PrincipalKind::parse(&input.principal_type) {
            Ok(PrincipalKind::Agent) => agents::get(self.store().pool(), &v.org_id, &principal_id)
                .await?
                .is_some(),
            Ok(PrincipalKind::User) => {
                users::is_member(self.store().pool(), &principal_id, &v.org_id).await?
            }
            Err(_) => {
                return Err(Error::invalid(
                    "principal_type",
                    "principal_type must be 'user' or 'agent'",
                ))
            }
        };
        if !in_org {
            return Err(Error::invalid(
                "principal_id",
                "The principal is not a member of this organization",
            ));
        }
        let now = self.now();
        let row = Policy {
            id: uuid::Uuid::new_v4().to_string(),
            vault_id: v.id.clone(),
            secret_path_pattern: pattern.as_str().to_owned(),
            principal_type: input.principal_type,
            principal_id,
            permissions: perms,
            conditions: conditions_json.to_string(),
            expires_at: input.expires_at,
            effect: effect.as_str().to_owned(),
            priority,
            created_by: p.id().to_owned(),
            created_by_type: p.kind().to_owned(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "policy.create",
                "policy",
                Some(row.id.clone()),
                json!({"vault_id": v.id, "pattern": row.secret_path_pattern,
                       "principal_type": row.principal_type, "principal_id": row.principal_id,
                       "permissions": row.permissions}),
            ),
        )
        .await?;
        policies::insert(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Every policy of the vault, including expired ones, oldest first.
    pub async fn list_policies(&self, p: &Principal, vault_id: &str) -> Result<Vec<Policy>> {
        p.require_scope(Scope::VaultsRead)?;
        let v = self.require_vault_admin(p, vault_id).await?;
        policies::for_vault(self.store().pool(), &v.id).await
    }
}

impl Core {
    /// Updates a policy; applies from the next request.
    pub async fn update_policy(
        &self,
        p: &Principal,
        vault_id: &str,
        policy_id: &str,
        input: UpdatePolicy,
        ctx: &RequestContext,
    ) -> Result<Policy> {
        p.require_scope(Scope::PoliciesWrite)?;
        let v = self.require_vault_admin(p, vault_id).await?;
        let mut row = policies::get(self.store().pool(), &v.id, policy_id)
            .await?
            .ok_or(Error::NotFound("Policy"))?;
        if let Some(perms) = &input.permissions {
            row.permissions = permissions(perms)?;
        }
        if let Some(c) = &input.conditions {
            row.conditions = conditions(Some(c))?.to_string();
        }
        if let Some(e) = input.expires_at {
            row.expires_at = e;
        }
        if let Some(e) = &input.effect {
            row.effect = policy::parse_effect(e)?.as_str().to_owned();
        }
        if let Some(pr) = input.priority {
            row.priority = priority(pr)?;
        }
        row.updated_at = self.now();
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "policy.update",
                "policy",
                Some(row.id.clone()),
                json!({"vault_id": v.id, "permissions": row.permissions}),
            ),
        )
        .await?;
        policies::update(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Deletes a policy; the access it granted disappears on the next request.
    pub async fn delete_policy(
        &self,
        p: &Principal,
        vault_id: &str,
        policy_id: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        p.require_scope(Scope::PoliciesWrite)?;
        let v = self.require_vault_admin(p, vault_id).await?;
        let row = policies::get(self.store().pool(), &v.id, policy_id)
            .await?
            .ok_or(Error::NotFound("Policy"))?;
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "policy.delete",
                "policy",
                Some(row.id.clone()),
                json!({"vault_id": v.id}),
            ),
        )
        .await?;
        policies::delete(&mut tx, &row.id).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl From<&Policy> for talon_api::policies::PolicyResponse {
    fn from(p: &Policy) -> Self {
        use crate::clock::rfc3339;
        talon_api::policies::PolicyResponse {
            id: p.id.clone(),
            vault_id: p.vault_id.clone(),
            secret_path_pattern: p.secret_path_pattern.clone(),
            principal_type: p.principal_type.clone(),
            principal_id: p.principal_id.clone(),
            permissions: p.permissions.clone(),
            conditions: serde_json::from_str(&p.conditions).unwrap_or_else(|_| json!({})),
            expires_at: p.expires_at.map(rfc3339),
            effect: p.effect.clone(),
            priority: p.priority,
            created_by: p.created_by.clone(),
            created_by_type: p.created_by_type.clone(),
            created_at: rfc3339(p.created_at),
        }
    }
}
