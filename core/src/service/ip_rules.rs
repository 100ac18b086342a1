//! Org IP rules: managed by owners and admins, evaluated on every authenticated request.

use super::audit::AuditEvent;
use super::{Core, Principal, RequestContext};
use crate::error::{Error, Result};
use crate::model::IpRule;
use crate::policy::Cidr;
use crate::store::ip_rules;
use serde_json::json;
use std::net::IpAddr;
use talon_api::Scope;

/// Input of `POST /v1/security/ip-rules`.
#[derive(Debug, Clone)]
pub struct NewIpRule {
    /// `allow` or `deny` (`block` is read as `deny`).
    pub rule_type: String,
    /// An IPv4 or IPv6 address or network; stored normalised.
    pub cidr: String,
    /// Optional note naming the rule.
    pub label: Option<String>,
    /// `all` (the default), `users` or `agents`.
    pub applies_to: Option<String>,
}

/// Whether `ip` may act for a principal of class `class` (`users` or `agents`) under `rules`:
/// a matching deny refuses; else when allow rules exist one must match. Pure.
pub fn ip_allowed(rules: &[IpRule], class: &str, ip: Option<IpAddr>) -> bool {
    let applicable: Vec<&IpRule> = rules
        .iter()
        .filter(|r| r.applies_to == "all" || r.applies_to == class)
        .collect();
    if applicable.is_empty() {
        return true;
    }
    let matches =
        |r: &&&IpRule| ip.is_some_and(|ip| Cidr::parse(&r.cidr).is_some_and(|c| c.contains(ip)));
    if applicable
        .iter()
        .filter(|r| r.rule_type == "deny")
        .any(|r| matches(&r))
    {
        return false;
    }
    let allows: Vec<&&IpRule> = applicable
        .iter()
        .filter(|r| r.rule_type == "allow")
        .collect();
    allows.is_empty() || allows.iter().any(matches)
}

fn class(p: &Principal) -> &'static str {
    match p {
        Principal::User { .. } => "users",
        Principal::Agent { .. } => "agents",
    }
}

impl Core {
    fn require_org_admin(p: &Principal) -> Result<()> {
        let (_, role) = p.require_human()?;
        if !role.is_org_admin() {
            return Err(Error::Forbidden(
                "Only org owners and admins can manage IP rules".into(),
            ));
        }
        Ok(())
    }

    /// Refuses the request when the org's IP rules do not admit the caller's IP (audited).
    pub async fn check_ip_rules(&self, p: &Principal, ctx: &RequestContext) -> Result<()> {
        let rules = ip_rules::list(self.store().pool(), p.org_id()).await?;
        // A stored rule that does not parse refuses the request: a dropped deny would admit
        // the very addresses it was written to keep out.
        for r in &rules {
            if Cidr::parse(&r.cidr).is_none() {
                return Err(Error::corrupt_rule("ip_rules", &r.id, "cidr"));
            }
            if !matches!(r.rule_type.as_str(), "allow" | "deny")
                || !matches!(r.applies_to.as_str(), "all" | "users" | "agents")
            {
                return Err(Error::corrupt_rule(
                    "ip_rules",
                    &r.id,
                    "rule_type or applies_to",
                ));
            }
        }
        if ip_allowed(&rules, class(p), ctx.ip_addr()) {
            return Ok(());
        }
        self.record(
            ctx,
            AuditEvent::by(p, "security.ip_denied", "ip_rule", None, json!({})).outcome("denied"),
        )
        .await?;
        Err(Error::IpDenied)
    }

    /// The org's IP rules, oldest first. Org owners and admins only.
    pub async fn list_ip_rules(&self, p: &Principal) -> Result<Vec<IpRule>> {
        Self::require_org_admin(p)?;
        ip_rules::list(self.store().pool(), p.org_id()).await
    }

    /// Adds an IP rule to the caller's org (audited). Org owners and admins only.
    pub async fn create_ip_rule(
        &self,
        p: &Principal,
        input: NewIpRule,
        ctx: &RequestContext,
    ) -> Result<IpRule> {
        Self::require_org_admin(p)?;
        p.require_scope(Scope::OrgWrite)?;
        let rule_type = match input.rule_type.as_str() {
            "allow" => "allow",
            "deny" | "block" => "deny",
            _ => {
                return Err(Error::invalid(
                    "rule_type",
                    "rule_type must be allow or deny",
                ))
            }
        };
        let cidr = Cidr::parse(input.cidr.trim()).ok_or_else(|| {
            Error::invalid("cidr", "cidr must be an IPv4 or IPv6 address or network")
        })?;
        let applies_to = input.applies_to.unwrap_or_else(|| "all".into());
        if !matches!(applies_to.as_str(), "all" | "users" | "agents") {
            return Err(Error::invalid(
                "applies_to",
                "applies_to must be all, users or agents",
            ));
        }
        let row = IpRule {
            id: uuid::Uuid::new_v4().to_string(),
            org_id: p.org_id().to_owned(),
            rule_type: rule_type.into(),
            cidr: cidr.to_string(),
            label: input.label,
            applies_to,
            created_by: p.id().to_owned(),
            created_at: self.now(),
        };
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "security.ip_rule_create",
                "ip_rule",
                Some(row.id.clone()),
                json!({"rule_type": row.rule_type, "cidr": row.cidr}),
            ),
        )
        .await?;
        ip_rules::insert(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Deletes one of the org's IP rules (audited); 404 when it is not there. Org owners and admins
    /// only.
    pub async fn delete_ip_rule(
        &self,
        p: &Principal,
        id: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        Self::require_org_admin(p)?;
        p.require_scope(Scope::OrgWrite)?;
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "security.ip_rule_delete",
                "ip_rule",
                Some(id.to_owned()),
                json!({}),
            ),
        )
        .await?;
        if !ip_rules::delete(&mut tx, p.org_id(), id).await? {
            return Err(Error::NotFound("IP rule"));
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(t: &str, cidr: &str, applies: &str) -> IpRule {
        IpRule {
            id: String::new(),
            org_id: String::new(),
            rule_type: t.into(),
            cidr: cidr.into(),
            label: None,
            applies_to: applies.into(),
            created_by: String::new(),
            created_at: 0,
        }
    }

    #[test]
    fn ip_rules_follow_deny_then_allow() {
        let ip = |s: &str| Some(s.parse().unwrap());
        let cases = vec![
            (vec![], "users", "10.0.0.1", true),
            (
                vec![rule("deny", "10.0.0.0/8", "all")],
                "users",
                "10.0.0.1",
                false,
            ),
            (
                vec![rule("deny", "10.0.0.0/8", "all")],
                "users",
                "192.0.2.1",
                true,
            ),
            (
                vec![rule("allow", "192.0.2.0/24", "all")],
                "agents",
                "10.0.0.1",
                false,
            ),
            (
                vec![rule("allow", "192.0.2.0/24", "all")],
                "agents",
                "192.0.2.9",
                true,
            ),
            (
                vec![rule("allow", "192.0.2.0/24", "agents")],
                "users",
                "10.0.0.1",
                true,
            ),
            (
                vec![
                    rule("allow", "0.0.0.0/0", "all"),
                    rule("deny", "10.0.0.1", "all"),
                ],
                "users",
                "10.0.0.1",
                false,
            ),
        ];
        for (rules, class, addr, want) in cases {
            assert_eq!(ip_allowed(&rules, class, ip(addr)), want, "{class} {addr}");
        }
        assert!(!ip_allowed(
            &[rule("allow", "0.0.0.0/0", "all")],
            "users",
            None
        ));
    }
}
