//! Vaults, and the access rules every vault route shares: org scoping, agent vault binding,
//! the scope ceiling, policies and the vault-administrator bypass.

use super::audit::AuditEvent;
use super::{Core, Principal, RequestContext};
use crate::error::{Error, Result};
use crate::model::Vault;
use crate::policy::{self, Conditions, Decision, Effect, Permission, Rule};
use crate::secret_path::{glob_match, PathPattern};
use crate::store::billing::Counted;
use crate::store::{policies, vaults};
use serde_json::{json, Value};
use talon_api::Scope;

/// Whether `p` administers `v`: its creating user, its creating agent and that agent's creator,
/// and every org owner or admin.
pub(crate) fn is_vault_admin(p: &Principal, v: &Vault) -> bool {
    match p {
        Principal::User { user_id, role, .. } => {
            role.is_org_admin()
                || (v.created_by_type == "user" && &v.created_by == user_id)
                || v.creator_user_id.as_deref() == Some(user_id.as_str())
        }
        Principal::Agent { agent_id, .. } => {
            v.created_by_type == "agent" && &v.created_by == agent_id
        }
    }
}

/// Explicit, path-like scopes limit an agent to the paths they match; labels such as
/// `vaults:read` and a lone `*` do not.
pub(crate) fn within_scope_ceiling(p: &Principal, path: &str) -> bool {
    match p {
        Principal::Agent {
            scopes,
            scopes_explicit: true,
            ..
        } => {
            let ceilings: Vec<&String> = scopes.iter().filter(|s| !s.contains(':')).collect();
            ceilings.is_empty()
                || ceilings
                    .iter()
                    .any(|s| s.as_str() == "*" || glob_match(s, path))
        }
        _ => true,
    }
}

/// Builds evaluator rules from stored policies. A row that no longer parses fails the whole
/// decision (503, logged with the row id): skipping it could drop a deny and turn it into an
/// allow.
pub(crate) fn rules_from(rows: &[crate::model::Policy]) -> Result<Vec<Rule>> {
    rows.iter()
        .map(|r| {
            let bad = |what: &str| Error::corrupt_rule("policies", &r.id, what);
            Ok(Rule {
                pattern: PathPattern::parse(&r.secret_path_pattern)
                    .map_err(|_| bad("secret_path_pattern"))?,
                permissions: r
                    .permissions
                    .iter()
                    .map(|p| Permission::parse(p))
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad("permissions"))?,
                effect: Effect::parse(&r.effect).map_err(|_| bad("effect"))?,
                expires_at_ms: r.expires_at,
                conditions: serde_json::from_str(&r.conditions)
                    .ok()
                    .and_then(|v| Conditions::parse(&v).ok())
                    .ok_or_else(|| bad("conditions"))?,
            })
        })
        .collect()
}

impl Core {
    /// The vault, if it belongs to the caller's org (404 otherwise) and the caller's vault
    /// binding allows it (403).
    pub(crate) async fn vault_in_org(&self, p: &Principal, vault_id: &str) -> Result<Vault> {
        let v = vaults::get(self.store().pool(), p.org_id(), vault_id)
            .await?
            .ok_or(Error::NotFound("Vault"))?;
        if let Principal::Agent { vault_ids, .. } = p {
            if !vault_ids.is_empty() && !vault_ids.iter().any(|id| id == &v.id) {
                return Err(Error::Forbidden(
                    "This agent is not bound to this vault".into(),
                ));
            }
        }
        Ok(v)
    }

    /// The rules that apply to `p` on `v`.
    pub(crate) async fn rules_for(&self, p: &Principal, v: &Vault) -> Result<Vec<Rule>> {
        let rows = policies::for_principal(self.store().pool(), &v.id, p.kind(), p.id()).await?;
        rules_from(&rows)
    }

    /// Decides `permission` on `path` (scope ceiling, then policies, then the admin bypass).
    /// A denial is audited as `secret.denied` and answered 403; a request that a policy lets
    /// through only with a person's approval goes to [`Core::authorize_request`]'s approval
    /// gate.
    pub(crate) async fn authorize_path(
        &self,
        p: &Principal,
        v: &Vault,
        path: &str,
        permission: Permission,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.authorize_request(p, v, path, permission, None, ctx)
            .await
    }

    /// [`Core::authorize_path`] for a request described beyond its path and permission by
    /// `bound` (an execution's method, host, path and body hash), which an approval is then
    /// bound to as well.
    pub(crate) async fn authorize_request(
        &self,
        p: &Principal,
        v: &Vault,
        path: &str,
        permission: Permission,
        bound: Option<&Value>,
        ctx: &RequestContext,
    ) -> Result<()> {
        let mut use_only = false;
        let mut gated = None;
        let allowed = within_scope_ceiling(p, path) && {
            let rules = self.rules_for(p, v).await?;
            match self.path_decision(p, v, &rules, path, permission, ctx) {
                Decision::Allow => true,
                Decision::NeedsApproval(i) => {
                    gated = rules[i].conditions.require_approval.clone();
                    false
                }
                Decision::Deny => {
                    // An agent refused a read that it may still have used for it is told so.
                    use_only = permission == Permission::Read
                        && matches!(p, Principal::Agent { .. })
                        && self.path_decision(p, v, &rules, path, Permission::Use, ctx)
                            != Decision::Deny;
                    false
                }
            }
        };
        if allowed {
            return Ok(());
        }
        if let Some(rule) = gated {
            return self
                .gate_by_approval(p, v, path, permission, &rule, bound, ctx)
                .await;
        }
        let mut details =
            json!({"vault_id": v.id, "path": path, "permission": permission.as_str()});
        if use_only {
            details["reason"] = json!("use_only");
        }
        self.record(
            ctx,
            AuditEvent::by(p, "secret.denied", "secret", None, details).outcome("denied"),
        )
        .await?;
        if use_only {
            return Err(Error::use_only(path));
        }
        Err(Error::Forbidden(format!(
            "No policy grants {} on {path}",
            permission.as_str()
        )))
    }

    /// Whether `p` may see the vault at all: an administrator, or a holder of at least one
    /// unexpired allow policy on it.
    pub(crate) async fn can_see(&self, p: &Principal, v: &Vault) -> Result<bool> {
        if is_vault_admin(p, v) {
            return Ok(true);
        }
        Ok(self.sees_vault(p, v, &self.rules_for(p, v).await?))
    }

    /// [`Core::can_see`] with `p`'s rules on `v` already loaded.
    pub(crate) fn sees_vault(&self, p: &Principal, v: &Vault, rules: &[Rule]) -> bool {
        let now = self.now();
        is_vault_admin(p, v)
            || rules
                .iter()
                .any(|r| r.effect == Effect::Allow && r.expires_at_ms.is_none_or(|e| e > now))
    }

    /// Whether `rules` (with the scope ceiling and the administrator bypass) let `p`
    /// `permission` `path`. Nothing is audited: [`Core::authorize_path`] audits its denials.
    pub(crate) fn path_allowed(
        &self,
        p: &Principal,
        v: &Vault,
        rules: &[Rule],
        path: &str,
        permission: Permission,
        ctx: &RequestContext,
    ) -> bool {
        self.path_decision(p, v, rules, path, permission, ctx) == Decision::Allow
    }

    /// The policy decision on `permission` `path` for `p` (the scope ceiling, the rules and
    /// the administrator bypass); the index in a [`Decision::NeedsApproval`] is into `rules`.
    pub(crate) fn path_decision(
        &self,
        p: &Principal,
        v: &Vault,
        rules: &[Rule],
        path: &str,
        permission: Permission,
        ctx: &RequestContext,
    ) -> Decision {
        if !within_scope_ceiling(p, path) {
            return Decision::Deny;
        }
        policy::evaluate(
            rules,
            is_vault_admin(p, v),
            &policy::Request {
                path,
                permission,
                now_ms: self.now(),
                ip: ctx.ip_addr(),
            },
        )
    }

    /// Creates a vault and its KEK. The KEK is generated first; if recording the vault fails,
    /// the KEK is destroyed again, so no vault exists without its key and no key outlives a
    /// failed creation.
    pub async fn create_vault(
        &self,
        p: &Principal,
        name: &str,
        description: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<Vault> {
        p.require_scope(Scope::VaultsWrite)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(Error::invalid("name", "name must be 1 to 255 characters"));
        }
        let description = description.unwrap_or("").to_owned();
        if description.chars().count() > 2000 {
            return Err(Error::invalid(
                "description",
                "description must be at most 2000 characters",
            ));
        }
        if let Principal::Agent { vault_ids, .. } = p {
            if !vault_ids.is_empty() {
                return Err(Error::Forbidden(
                    "An agent bound to specific vaults cannot create vaults".into(),
                ));
            }
        }
        {
            // Refuse over the tier limit before any HSM work; checked again in the insert's
            // transaction below.
            let mut tx = self.store().begin().await?;
            self.check_limit(&mut tx, p.org_id(), Counted::Vaults)
                .await?;
        }
        let id = uuid::Uuid::new_v4().to_string();
        let kek_label = format!("talon-kek:{id}:1");
        let label = kek_label.clone();
        self.keys(move |k| k.create_kek(&label)).await??;
        let row = Vault {
            id: id.clone(),
            org_id: p.org_id().to_owned(),
            name: name.to_owned(),
            description,
            created_by: p.id().to_owned(),
            created_by_type: p.kind().to_owned(),
            creator_user_id: match p {
                Principal::User { user_id, .. } => Some(user_id.clone()),
                Principal::Agent { created_by, .. } => Some(created_by.clone()),
            },
            kek_label: kek_label.clone(),
            created_at: self.now(),
            secret_count: 0,
        };
        let stored = async {
            let mut tx = self.store().begin().await?;
            self.check_limit(&mut tx, p.org_id(), Counted::Vaults)
                .await?;
            self.append_audit(
                &mut tx,
                ctx,
                AuditEvent::by(
                    p,
                    "vault.create",
                    "vault",
                    Some(id.clone()),
                    json!({"name": row.name}),
                ),
            )
            .await?;
            vaults::insert(&mut tx, &row).await?;
            tx.commit().await?;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = stored {
            let label = kek_label;
            if let Ok(Err(destroy)) = self.keys(move |k| k.destroy_kek(&label)).await {
                tracing::error!(error = %destroy, vault = %id, "could not destroy KEK of failed vault");
            }
            return Err(e);
        }
        Ok(row)
    }

    /// Vaults the caller administers or holds an allow policy on, oldest first.
    pub async fn list_vaults(&self, p: &Principal) -> Result<Vec<Vault>> {
        p.require_scope(Scope::VaultsRead)?;
        let all = vaults::list(self.store().pool(), p.org_id()).await?;
        let granted =
            policies::granted_vaults(self.store().pool(), p.kind(), p.id(), self.now()).await?;
        Ok(all
            .into_iter()
            .filter(|v| match p {
                Principal::Agent { vault_ids, .. } if !vault_ids.is_empty() => {
                    vault_ids.contains(&v.id)
                }
                _ => true,
            })
            .filter(|v| is_vault_admin(p, v) || granted.contains(&v.id))
            .collect())
    }

    /// One vault: 404 outside the org, 403 without any access.
    pub async fn get_vault(&self, p: &Principal, vault_id: &str) -> Result<Vault> {
        p.require_scope(Scope::VaultsRead)?;
        let v = self.vault_in_org(p, vault_id).await?;
        if !self.can_see(p, &v).await? {
            return Err(Error::Forbidden("You have no access to this vault".into()));
        }
        Ok(v)
    }

    /// Deletes a vault with its secrets and policies, then destroys its KEK (crypto-shredding).
    /// The audit trail stays.
    pub async fn delete_vault(
        &self,
        p: &Principal,
        vault_id: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        p.require_scope(Scope::VaultsWrite)?;
        let v = self.vault_in_org(p, vault_id).await?;
        if !is_vault_admin(p, &v) {
            return Err(Error::Forbidden(
                "Only a vault administrator can delete a vault".into(),
            ));
        }
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "vault.delete",
                "vault",
                Some(v.id.clone()),
                json!({"name": v.name}),
            ),
        )
        .await?;
        let retired = crate::store::key_rotation::take_for_vault(&mut tx, &v.id).await?;
        vaults::delete(&mut tx, &v.id).await?;
        tx.commit().await?;
        for label in std::iter::once(v.kek_label.clone()).chain(retired) {
            if let Ok(Err(e)) = self.keys(move |k| k.destroy_kek(&label)).await {
                tracing::error!(error = %e, vault = %v.id, "KEK destruction failed after vault deletion");
            }
        }
        Ok(())
    }

    /// Policies of a vault; vault administrators only.
    pub(crate) async fn require_vault_admin(&self, p: &Principal, vault_id: &str) -> Result<Vault> {
        let v = self.vault_in_org(p, vault_id).await?;
        if !is_vault_admin(p, &v) {
            return Err(Error::Forbidden(
                "Only a vault administrator can manage this vault's policies".into(),
            ));
        }
        Ok(v)
    }
}

impl From<&Vault> for talon_api::vaults::VaultResponse {
    fn from(v: &Vault) -> Self {
        talon_api::vaults::VaultResponse {
            id: v.id.clone(),
            name: v.name.clone(),
            description: v.description.clone(),
            created_by: v.created_by.clone(),
            created_by_type: v.created_by_type.clone(),
            created_at: crate::clock::rfc3339(v.created_at),
            cmek_enabled: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Role;

    fn vault(created_by: &str, kind: &str, creator_user: Option<&str>) -> Vault {
        Vault {
            id: "v".into(),
            org_id: "o".into(),
            name: "n".into(),
            description: String::new(),
            created_by: created_by.into(),
            created_by_type: kind.into(),
            creator_user_id: creator_user.map(Into::into),
            kek_label: "k".into(),
            created_at: 0,
            secret_count: 0,
        }
    }

    fn user(id: &str, role: Role) -> Principal {
        Principal::User {
            user_id: id.into(),
            org_id: "o".into(),
            email: "e".into(),
            role,
            key_scopes: None,
        }
    }

    fn agent(id: &str, scopes: &[&str], explicit: bool) -> Principal {
        Principal::Agent {
            agent_id: id.into(),
            org_id: "o".into(),
            created_by: "u1".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            scopes_explicit: explicit,
            vault_ids: vec![],
        }
    }

    #[test]
    fn vault_administrators_are_creator_org_admins_and_agent_creator() {
        let by_user = vault("u1", "user", Some("u1"));
        assert!(is_vault_admin(&user("u1", Role::Member), &by_user));
        assert!(is_vault_admin(&user("u2", Role::Admin), &by_user));
        assert!(is_vault_admin(&user("u2", Role::Owner), &by_user));
        assert!(!is_vault_admin(&user("u2", Role::Member), &by_user));
        assert!(!is_vault_admin(&agent("a1", &[], false), &by_user));
        let by_agent = vault("a1", "agent", Some("u1"));
        assert!(is_vault_admin(&agent("a1", &[], false), &by_agent));
        assert!(!is_vault_admin(&agent("a2", &[], false), &by_agent));
        assert!(is_vault_admin(&user("u1", Role::Member), &by_agent));
    }

    #[test]
    fn only_explicit_path_scopes_are_a_ceiling() {
        assert!(within_scope_ceiling(
            &agent("a", &["api-keys/**"], false),
            "db/x"
        ));
        assert!(!within_scope_ceiling(
            &agent("a", &["api-keys/**"], true),
            "db/x"
        ));
        assert!(within_scope_ceiling(
            &agent("a", &["api-keys/**"], true),
            "api-keys/x"
        ));
        assert!(within_scope_ceiling(
            &agent("a", &["vaults:read"], true),
            "db/x"
        ));
        assert!(within_scope_ceiling(&agent("a", &["*"], true), "db/x"));
        assert!(within_scope_ceiling(&agent("a", &[], true), "db/x"));
    }
}
