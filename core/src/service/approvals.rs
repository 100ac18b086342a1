//! Approvals: a person in the loop for the risky step. A policy with a `require_approval`
//! condition lets a request through only once enough of its approvers have approved exactly
//! that request (bound by a hash of principal, vault, path, permission and, for an
//! execution, method, host, path and body hash). An agent may also ask for approval of an
//! action it declares itself. Every step (requested, vote, approved, rejected, expired,
//! cancelled, used) is an event in the org's audit chain.

use super::audit::AuditEvent;
use super::credentials::{new_bearer_secret, verify_password};
use super::{Core, Principal, RequestContext};
use crate::error::{Error, Result};
use crate::material::Password;
use crate::model::{Approval, ApprovalVote, Vault};
use crate::policy::{ApprovalRule, Grant, Permission};
use crate::store::approvals::{self as store, Visible};
use crate::store::{agents, mfa, org as org_store, policies, users, Tx};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Risk tier from which an approver confirms a decision with a password or TOTP code.
pub const STEP_UP_TIER: i64 = 2;

/// The most approvals one requester may have pending at a time: each one mails its approvers,
/// so a runaway agent must not flood them.
const MAX_PENDING_PER_REQUESTER: i64 = 50;

/// Refuses a new approval when the requester already has too many pending.
async fn check_pending_cap(tx: &mut Tx, p: &Principal) -> Result<()> {
    if store::pending_count_by(tx, p.org_id(), p.id()).await? >= MAX_PENDING_PER_REQUESTER {
        return Err(Error::Conflict(format!(
            "{MAX_PENDING_PER_REQUESTER} approvals of this requester are already pending; \
             wait for them to be decided or cancel some"
        )));
    }
    Ok(())
}

/// An action an agent asks a person to approve (`POST /v1/approvals/request`).
#[derive(Debug, Clone)]
pub struct DeclaredAction {
    /// What the agent wants to do (`policy_change`, `deploy`, …).
    pub action: String,
    /// The kind of thing it acts on.
    pub target_type: String,
    /// The thing it acts on.
    pub target_id: String,
    /// A JSON object describing the action, shown to the approvers.
    pub summary: Value,
    /// Why, in the agent's words.
    pub reason: Option<String>,
    /// 1 to 5 (stored as at most 3); 2 when not given.
    pub risk_tier: Option<i64>,
}

/// A decision on an approval.
pub struct ApprovalDecision {
    /// `true` to approve, `false` to reject.
    pub approve: bool,
    /// Why, in the approver's words.
    pub reason: Option<String>,
    /// The password or a current TOTP code, from `X-Auth-Confirm`.
    pub confirm: Option<Password>,
}

/// An approval with its votes, as the doors show it.
#[derive(Debug, Clone)]
pub struct ApprovalView {
    /// The approval.
    pub approval: Approval,
    /// Its votes, oldest first.
    pub votes: Vec<ApprovalVote>,
    /// Whether the caller may decide it now.
    pub can_decide: bool,
}

fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The hash an approval for `permission` on `path` in vault `vault_id` by `p` is bound to.
pub(crate) fn request_hash(
    p: &Principal,
    vault_id: &str,
    path: &str,
    permission: Permission,
    bound: Option<&Value>,
) -> String {
    let canonical = json!({
        "principal": format!("{}:{}", p.kind(), p.id()),
        "vault_id": vault_id,
        "path": path,
        "permission": permission.as_str(),
        "request": bound,
    });
    hex_sha256(canonical.to_string().as_bytes())
}

/// The hash a submission's payload is bound to, which approvers name in their votes.
pub fn payload_hash(policy_id: &str, action: &str, payload: &Value) -> String {
    hex_sha256(
        json!({"policy_id": policy_id, "action": action, "payload": payload})
            .to_string()
            .as_bytes(),
    )
}

/// The SHA-256 of a request body, as approvals of executions record it.
pub(crate) fn body_hash(body: &[u8]) -> String {
    hex_sha256(body)
}

fn approval_event(
    p: Option<&Principal>,
    org_id: &str,
    action: &'static str,
    a: &Approval,
    extra: Value,
) -> AuditEvent {
    let mut details = json!({
        "approval_id": a.id,
        "action": a.action,
        "target_type": a.target_type,
        "target_id": a.target_id,
        "risk_tier": a.risk_tier,
        "request_hash": a.request_hash,
    });
    if let (Some(d), Value::Object(e)) = (details.as_object_mut(), extra) {
        d.extend(e);
    }
    match p {
        Some(p) => AuditEvent::by(p, action, "approval", Some(a.id.clone()), details),
        None => AuditEvent {
            org_id: org_id.to_owned(),
            actor_type: "system",
            actor_id: None,
            action,
            resource_type: "approval",
            resource_id: Some(a.id.clone()),
            outcome: "success",
            details,
        },
    }
}

/// Refuses an approval that could never complete: fewer possible approvers than it needs.
fn check_quorum(approvers: &[String], min_approvals: i64) -> Result<()> {
    if (approvers.len() as i64) < min_approvals {
        return Err(Error::Forbidden(format!(
            "This request needs {min_approvals} approval(s), but only {} person(s) other than \
             the requester may approve it; an administrator must change the policy's approvers",
            approvers.len()
        )));
    }
    Ok(())
}

fn approval_required(a: &Approval) -> Error {
    Error::ApprovalRequired {
        approval_id: a.id.clone(),
        message: format!(
            "This request needs a person's approval (approval {}). It was sent to the \
             approvers; poll GET /v1/approvals/{}/status (MCP get_approval_status) and repeat \
             the same request once it is approved.",
            a.id, a.id
        ),
    }
}

impl ApprovalView {
    /// How many approvers have approved so far.
    pub fn current_approvals(&self) -> usize {
        self.votes
            .iter()
            .filter(|x| x.decision == "approve")
            .count()
    }
}

impl Core {
    /// The approval gate of a request that a `require_approval` policy allows: an approved
    /// grant for exactly this request lets it through (a single-use grant is spent here, in
    /// the transaction of its `approval.used` event); otherwise the pending approval for it is
    /// answered, or a new one is made and its approvers notified. Either way the refusal is
    /// 403 `approval_required` with the approval's id.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn gate_by_approval(
        &self,
        p: &Principal,
        v: &Vault,
        path: &str,
        permission: Permission,
        rule: &ApprovalRule,
        bound: Option<&Value>,
        ctx: &RequestContext,
    ) -> Result<()> {
        let hash = request_hash(p, &v.id, path, permission, bound);
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.expire_due_in(&mut tx, p.org_id(), ctx).await?;
        if let Some(a) = store::usable_for(&mut tx, p.org_id(), &hash, now).await? {
            if store::record_use(&mut tx, &a.id, now).await? {
                self.append_audit(
                    &mut tx,
                    ctx,
                    approval_event(
                        Some(p),
                        p.org_id(),
                        "approval.used",
                        &a,
                        json!({"use": a.use_count + 1}),
                    ),
                )
                .await?;
                tx.commit().await?;
                return Ok(());
            }
        }
        if let Some(a) = store::pending_for(&mut tx, p.org_id(), &hash).await? {
            self.append_audit(&mut tx, ctx, gated_denial(p, v, path, permission, &a))
                .await?;
            tx.commit().await?;
            return Err(approval_required(&a));
        }
        let approvers = self.approvers_for(p, v, rule).await?;
        if let Err(refused) = check_quorum(&approvers, rule.min_approvals) {
            self.append_audit(
                &mut tx,
                ctx,
                AuditEvent::by(
                    p,
                    "secret.denied",
                    "secret",
                    None,
                    json!({"vault_id": v.id, "path": path, "permission": permission.as_str(),
                           "reason": "no_approvers"}),
                )
                .outcome("denied"),
            )
            .await?;
            tx.commit().await?;
            return Err(refused);
        }
        let action = match permission {
            Permission::Read => "secret.read",
            Permission::Use => "secret.use",
            Permission::Write => "secret.write",
            Permission::Delete => "secret.delete",
            Permission::Rotate => "secret.rotate",
        };
        let agent_name = match p {
            Principal::Agent { agent_id, .. } => {
                agents::get(self.store().pool(), p.org_id(), agent_id)
                    .await?
                    .map(|a| a.name)
            }
            Principal::User { .. } => None,
        };
        let mut summary = json!({
            "vault_id": v.id,
            "vault_name": v.name,
            "path": path,
            "permission": permission.as_str(),
            "requester": requester_label(p, agent_name.as_deref()),
            "grant": match rule.grant {
                Grant::Once => json!("once"),
                Grant::For(s) => json!({"for_seconds": s}),
            },
        });
        if let Some(b) = bound {
            summary["request"] = b.clone();
        }
        let a = self.new_approval(
            p,
            action,
            "secret",
            format!("{}/{path}", v.id),
            Some(v.id.clone()),
            hash.clone(),
            summary,
            None,
            rule.risk_tier,
            approvers,
            rule.min_approvals,
            match rule.grant {
                Grant::Once => None,
                Grant::For(s) => Some(s),
            },
        );
        check_pending_cap(&mut tx, p).await?;
        let a = if store::insert_pending(&mut tx, &a).await? {
            self.append_audit(
                &mut tx,
                ctx,
                approval_event(
                    Some(p),
                    p.org_id(),
                    "approval.requested",
                    &a,
                    json!({"vault_id": v.id, "path": path, "permission": permission.as_str(),
                           "min_approvals": a.min_approvals, "approvers": a.approvers}),
                ),
            )
            .await?;
            self.append_audit(&mut tx, ctx, gated_denial(p, v, path, permission, &a))
                .await?;
            tx.commit().await?;
            self.notify_approvers(&a);
            a
        } else {
            // Another request made it first.
            let a = store::pending_for(&mut tx, p.org_id(), &hash)
                .await?
                .ok_or_else(|| Error::Conflict("The approval changed; try again".into()))?;
            self.append_audit(&mut tx, ctx, gated_denial(p, v, path, permission, &a))
                .await?;
            tx.commit().await?;
            a
        };
        Err(approval_required(&a))
    }

    #[allow(clippy::too_many_arguments)]
    fn new_approval(
        &self,
        p: &Principal,
        action: &str,
        target_type: &str,
        target_id: String,
        vault_id: Option<String>,
        request_hash: String,
        summary: Value,
        reason: Option<String>,
        risk_tier: i64,
        approvers: Vec<String>,
        min_approvals: i64,
        grant_seconds: Option<i64>,
    ) -> Approval {
        let now = self.now();
        let (user_id, agent_id) = match p {
            Principal::User { user_id, .. } => (user_id.clone(), None),
            Principal::Agent {
                agent_id,
                created_by,
                ..
            } => (created_by.clone(), Some(agent_id.clone())),
        };
        Approval {
            id: uuid::Uuid::new_v4().to_string(),
            org_id: p.org_id().to_owned(),
            user_id,
            agent_id,
            requester_type: p.kind().to_owned(),
            requester_id: p.id().to_owned(),
            action: action.to_owned(),
            target_type: target_type.to_owned(),
            target_id,
            vault_id,
            request_hash,
            summary,
            reason,
            risk_tier,
            approvers,
            min_approvals,
            grant_seconds,
            status: "pending".into(),
            decision_reason: None,
            decided_by: None,
            decided_at: None,
            grant_expires_at: None,
            used_at: None,
            use_count: 0,
            expires_at: now + self.config().approval_ttl_s.max(1) * 1000,
            created_at: now,
            updated_at: now,
        }
    }

    /// Who may decide a request on `v` under `rule`: the users it names that are members of
    /// the org, or else the vault's administrators (org owners and admins, and the vault's
    /// creating user). The requester is never among them.
    async fn approvers_for(
        &self,
        p: &Principal,
        v: &Vault,
        rule: &ApprovalRule,
    ) -> Result<Vec<String>> {
        let members = org_store::members(self.store().pool(), p.org_id()).await?;
        let chosen: Vec<String> = members
            .iter()
            .filter(|u| {
                if rule.approvers.is_empty() {
                    matches!(u.role.as_str(), "owner" | "admin")
                        || v.creator_user_id.as_deref() == Some(u.id.as_str())
                } else {
                    rule.approvers.iter().any(|a| a == &u.id)
                }
            })
            .filter(|u| u.id != p.id())
            .map(|u| u.id.clone())
            .collect();
        Ok(chosen)
    }

    /// Org owners and admins (but not the requester): who decides an agent's declared action.
    async fn org_admins(&self, p: &Principal) -> Result<Vec<String>> {
        Ok(org_store::members(self.store().pool(), p.org_id())
            .await?
            .into_iter()
            .filter(|u| matches!(u.role.as_str(), "owner" | "admin") && u.id != p.id())
            .map(|u| u.id)
            .collect())
    }

    /// Marks the org's pending approvals that ran out of time as expired, each with its
    /// `approval.expired` event, in `tx`.
    async fn expire_due_in(&self, tx: &mut Tx, org_id: &str, ctx: &RequestContext) -> Result<()> {
        for a in store::expire_due(tx, org_id, self.now()).await? {
            self.append_audit(
                tx,
                ctx,
                approval_event(None, org_id, "approval.expired", &a, json!({})),
            )
            .await?;
        }
        Ok(())
    }

    async fn expire_due(&self, org_id: &str, ctx: &RequestContext) -> Result<()> {
        // Reading pages poll: write only when something is due.
        if !store::any_due(self.store().pool(), org_id, self.now()).await? {
            return Ok(());
        }
        let mut tx = self.store().begin().await?;
        self.expire_due_in(&mut tx, org_id, ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// An agent asks its people to approve an action it declares (`policy_change`,
    /// `deploy`, …). The same pending request is answered again instead of made twice.
    pub async fn request_approval(
        &self,
        p: &Principal,
        d: DeclaredAction,
        ctx: &RequestContext,
    ) -> Result<Approval> {
        if !matches!(p, Principal::Agent { .. }) {
            return Err(Error::Forbidden(
                "Only agents request approvals here; people decide them".into(),
            ));
        }
        let field = |name: &'static str, v: &str, max: usize| {
            let v = v.trim();
            if v.is_empty() || v.chars().count() > max {
                Err(Error::invalid(
                    name,
                    format!("{name} must be 1 to {max} characters"),
                ))
            } else {
                Ok(v.to_owned())
            }
        };
        let action = field("action", &d.action, 100)?;
        if action.starts_with("secret.") {
            return Err(Error::invalid(
                "action",
                "secret.* actions are gated by policies; ask for the secret itself",
            ));
        }
        let target_type = field("target_type", &d.target_type, 100)?;
        let target_id = field("target_id", &d.target_id, 500)?;
        if !d.summary.is_object() || d.summary.to_string().len() > 16 * 1024 {
            return Err(Error::invalid(
                "summary",
                "summary must be a JSON object of at most 16 KiB",
            ));
        }
        let reason = match d.reason.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(r) if r.chars().count() > 2000 => {
                return Err(Error::invalid(
                    "reason",
                    "reason must be at most 2000 characters",
                ))
            }
            Some(r) => Some(r.to_owned()),
        };
        let risk_tier = match d.risk_tier {
            None => STEP_UP_TIER,
            Some(t) if (1..=5).contains(&t) => t.min(3),
            Some(_) => return Err(Error::invalid("risk_tier", "risk_tier must be 1 to 5")),
        };
        let hash = hex_sha256(
            json!({
                "principal": format!("{}:{}", p.kind(), p.id()),
                "action": action,
                "target_type": target_type,
                "target_id": target_id,
                "summary": d.summary,
            })
            .to_string()
            .as_bytes(),
        );
        let approvers = self.org_admins(p).await?;
        check_quorum(&approvers, 1)?;
        let a = self.new_approval(
            p,
            &action,
            &target_type,
            target_id,
            None,
            hash.clone(),
            d.summary,
            reason,
            risk_tier,
            approvers,
            1,
            None,
        );
        self.file_approval(p, a, json!({}), ctx).await
    }

    /// 1claw's M-of-N submission (`POST /v1/pending-approvals`): an action with its payload,
    /// under a policy of the caller's that requires approval. The approval takes its
    /// approvers, quorum and risk tier from that policy and is bound to the payload's hash,
    /// which each approver's vote must name.
    pub async fn submit_pending_approval(
        &self,
        p: &Principal,
        policy_id: &str,
        action: &str,
        payload: Value,
        ctx: &RequestContext,
    ) -> Result<Approval> {
        let pol = policies::by_id(self.store().pool(), policy_id)
            .await?
            .ok_or(Error::NotFound("Policy"))?;
        let v = self.vault_in_org(p, &pol.vault_id).await?;
        if pol.principal_type != p.kind() || pol.principal_id != p.id() {
            return Err(Error::Forbidden(
                "This policy is not one of the caller's".into(),
            ));
        }
        let conditions = serde_json::from_str::<Value>(&pol.conditions)
            .ok()
            .and_then(|c| crate::policy::Conditions::parse(&c).ok())
            .ok_or_else(|| Error::corrupt_rule("policies", &pol.id, "conditions"))?;
        let Some(rule) = conditions.require_approval else {
            return Err(Error::invalid(
                "policy_id",
                "This policy does not require approval",
            ));
        };
        let action = action.trim();
        if action.is_empty() || action.chars().count() > 100 {
            return Err(Error::invalid(
                "action",
                "action must be 1 to 100 characters",
            ));
        }
        if !payload.is_object() || payload.to_string().len() > 16 * 1024 {
            return Err(Error::invalid(
                "action_payload",
                "action_payload must be a JSON object of at most 16 KiB",
            ));
        }
        let hash = payload_hash(&pol.id, action, &payload);
        let approvers = self.approvers_for(p, &v, &rule).await?;
        check_quorum(&approvers, rule.min_approvals)?;
        let a = self.new_approval(
            p,
            action,
            "policy",
            pol.id.clone(),
            Some(v.id.clone()),
            hash.clone(),
            payload,
            None,
            rule.risk_tier,
            approvers,
            rule.min_approvals,
            None,
        );
        self.file_approval(p, a, json!({"policy_id": pol.id}), ctx)
            .await
    }

    /// Files a new pending approval that no gated request is waiting on (a declared action,
    /// an M-of-N submission), with its `approval.requested` event, and notifies its approvers.
    /// While the same request is pending, that approval is answered instead.
    async fn file_approval(
        &self,
        p: &Principal,
        a: Approval,
        extra: Value,
        ctx: &RequestContext,
    ) -> Result<Approval> {
        let mut tx = self.store().begin().await?;
        self.expire_due_in(&mut tx, p.org_id(), ctx).await?;
        if let Some(same) = store::pending_for(&mut tx, p.org_id(), &a.request_hash).await? {
            tx.commit().await?;
            return Ok(same);
        }
        check_pending_cap(&mut tx, p).await?;
        if !store::insert_pending(&mut tx, &a).await? {
            return Err(Error::Conflict("The approval changed; try again".into()));
        }
        let mut details = json!({"min_approvals": a.min_approvals, "approvers": a.approvers});
        if let (Some(d), Value::Object(e)) = (details.as_object_mut(), extra) {
            d.extend(e);
        }
        self.append_audit(
            &mut tx,
            ctx,
            approval_event(Some(p), p.org_id(), "approval.requested", &a, details),
        )
        .await?;
        tx.commit().await?;
        self.notify_approvers(&a);
        Ok(a)
    }

    /// Marks an approved submission as carried out, once, by its requester (1claw's
    /// `POST /v1/pending-approvals/{id}/execute`; the action itself is the requester's).
    pub async fn execute_pending_approval(
        &self,
        p: &Principal,
        id: &str,
        ctx: &RequestContext,
    ) -> Result<Approval> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.expire_due_in(&mut tx, p.org_id(), ctx).await?;
        let a = Self::visible_in(&mut tx, p, id).await?;
        if a.requester_id != p.id() {
            return Err(Error::Forbidden(
                "Only the requester carries out an approved action".into(),
            ));
        }
        if a.status != "approved" {
            return Err(Error::Conflict(format!("This approval is {}", a.status)));
        }
        if !store::record_use(&mut tx, &a.id, now).await? {
            return Err(Error::Conflict(
                "This approved action was already carried out".into(),
            ));
        }
        self.append_audit(
            &mut tx,
            ctx,
            approval_event(Some(p), p.org_id(), "approval.used", &a, json!({"use": 1})),
        )
        .await?;
        tx.commit().await?;
        store::get(self.store().pool(), p.org_id(), id)
            .await?
            .ok_or(Error::NotFound("Approval"))
    }

    /// The approval `id` of `p`'s org that `p` may see, read in `tx` (404 otherwise).
    async fn visible_in(tx: &mut Tx, p: &Principal, id: &str) -> Result<Approval> {
        store::get_in(tx, p.org_id(), id)
            .await?
            .filter(|a| Self::may_see(p, a))
            .ok_or(Error::NotFound("Approval"))
    }

    /// Whether `p` may see `a`: owners and admins see every approval of the org; others the
    /// ones they asked for or may decide.
    fn may_see(p: &Principal, a: &Approval) -> bool {
        match p {
            Principal::User { user_id, role, .. } => {
                role.is_org_admin()
                    || &a.requester_id == user_id
                    || a.approvers.iter().any(|x| x == user_id)
            }
            Principal::Agent { agent_id, .. } => &a.requester_id == agent_id,
        }
    }

    fn can_decide(&self, p: &Principal, a: &Approval) -> bool {
        match p {
            Principal::User { user_id, .. } => {
                a.status == "pending"
                    && a.expires_at > self.now()
                    && &a.requester_id != user_id
                    && a.approvers.iter().any(|x| x == user_id)
            }
            Principal::Agent { .. } => false,
        }
    }

    async fn view(&self, p: &Principal, a: Approval) -> Result<ApprovalView> {
        let votes = store::votes(self.store().pool(), &a.id).await?;
        let can_decide = self.can_decide(p, &a) && !votes.iter().any(|v| v.approver_id == p.id());
        Ok(ApprovalView {
            approval: a,
            votes,
            can_decide,
        })
    }

    /// The approvals `p` may see, pending first (expired ones marked so first).
    pub async fn list_approvals(
        &self,
        p: &Principal,
        status: Option<&str>,
        limit: i64,
        offset: i64,
        ctx: &RequestContext,
    ) -> Result<Vec<ApprovalView>> {
        if let Some(s) = status {
            if !matches!(s, "pending" | "approved" | "rejected" | "expired") {
                return Err(Error::invalid(
                    "status",
                    "status must be pending, approved, rejected or expired",
                ));
            }
        }
        self.expire_due(p.org_id(), ctx).await?;
        let visible = match p {
            Principal::User { role, .. } if role.is_org_admin() => Visible::All,
            _ => Visible::Involving(p.id()),
        };
        let rows = store::list(
            self.store().pool(),
            p.org_id(),
            visible,
            status,
            limit.clamp(1, 100),
            offset.max(0),
        )
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for a in rows.into_iter().filter(|a| Self::may_see(p, a)) {
            out.push(self.view(p, a).await?);
        }
        Ok(out)
    }

    /// How many things wait for `p` (the dashboard's badge): approvals `p` may still vote on,
    /// and agents' secret requests `p` may answer.
    pub async fn pending_approval_count(&self, p: &Principal) -> Result<usize> {
        let rows = store::list(
            self.store().pool(),
            p.org_id(),
            Visible::Involving(p.id()),
            Some("pending"),
            100,
            0,
        )
        .await?;
        let mut n = 0;
        for a in rows.iter().filter(|a| self.can_decide(p, a)) {
            let votes = store::votes(self.store().pool(), &a.id).await?;
            if !votes.iter().any(|v| v.approver_id == p.id()) {
                n += 1;
            }
        }
        if matches!(p, Principal::User { .. }) {
            n += self.list_secret_requests(p, Some("pending")).await?.len();
        }
        Ok(n)
    }

    /// One approval `p` may see (404 otherwise).
    pub async fn get_approval(
        &self,
        p: &Principal,
        id: &str,
        ctx: &RequestContext,
    ) -> Result<ApprovalView> {
        self.expire_due(p.org_id(), ctx).await?;
        let a = store::get(self.store().pool(), p.org_id(), id)
            .await?
            .filter(|a| Self::may_see(p, a))
            .ok_or(Error::NotFound("Approval"))?;
        self.view(p, a).await
    }

    /// Records `p`'s decision. Only a listed approver decides, never the requester, each at
    /// most once; from risk tier 2 the decision is confirmed with the password or a TOTP code.
    /// A rejection ends the approval; approvals end it approved once `min_approvals` are in.
    pub async fn decide_approval(
        &self,
        p: &Principal,
        id: &str,
        d: ApprovalDecision,
        ctx: &RequestContext,
    ) -> Result<ApprovalView> {
        let confirmed = self.confirm_decision(p, id, &d).await?;
        let mut tx = self.store().begin().await?;
        self.expire_due_in(&mut tx, p.org_id(), ctx).await?;
        let a = self.decide_in(&mut tx, p, id, d, confirmed, ctx).await?;
        tx.commit().await?;
        self.view(p, a).await
    }

    /// The step-up check of a decision on a high-risk approval, before the decision's
    /// transaction: how the approver confirmed (`None` below risk tier 2).
    async fn confirm_decision(
        &self,
        p: &Principal,
        id: &str,
        d: &ApprovalDecision,
    ) -> Result<Option<&'static str>> {
        let (user_id, _) = p.require_human()?;
        let a = store::get(self.store().pool(), p.org_id(), id)
            .await?
            .filter(|a| Self::may_see(p, a))
            .ok_or(Error::NotFound("Approval"))?;
        if a.risk_tier < STEP_UP_TIER || !self.can_decide(p, &a) {
            // Refusals other than the step-up are decided (and worded) in the transaction.
            return Ok(None);
        }
        Ok(Some(self.step_up(user_id, d.confirm.as_ref()).await?))
    }

    async fn decide_in(
        &self,
        tx: &mut Tx,
        p: &Principal,
        id: &str,
        d: ApprovalDecision,
        confirmed: Option<&'static str>,
        ctx: &RequestContext,
    ) -> Result<Approval> {
        let (user_id, _) = p.require_human()?;
        let now = self.now();
        let a = Self::visible_in(tx, p, id).await?;
        if a.requester_id == user_id {
            return Err(Error::Forbidden(
                "You asked for this approval; another approver must decide it".into(),
            ));
        }
        if !a.approvers.iter().any(|x| x == user_id) {
            return Err(Error::Forbidden(
                "You are not one of this approval's approvers".into(),
            ));
        }
        if !store::lock_pending(tx, &a.id, now).await? {
            return Err(Error::Conflict(format!("This approval is already {}", {
                let s = store::get_in(tx, p.org_id(), id)
                    .await?
                    .map(|a| a.status)
                    .unwrap_or_default();
                if s == "pending" {
                    "expired".to_owned()
                } else {
                    s
                }
            })));
        }
        let reason = d
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| r.chars().take(2000).collect::<String>());
        let credential_type = match confirmed {
            Some(c) => Some(c),
            None if a.risk_tier >= STEP_UP_TIER => {
                return Err(Error::StepUpRequired(
                    "This approval needs you to confirm it: send your password or a current \
                     TOTP code in the X-Auth-Confirm header"
                        .into(),
                ))
            }
            None => None,
        };
        let vote = ApprovalVote {
            approver_id: user_id.to_owned(),
            decision: if d.approve { "approve" } else { "reject" }.into(),
            reason: reason.clone(),
            credential_type: credential_type.map(str::to_owned),
            created_at: now,
        };
        if !store::insert_vote(tx, &a.id, &vote).await? {
            return Err(Error::Conflict(
                "You have already decided on this approval".into(),
            ));
        }
        let vote_details = json!({"decision": vote.decision, "credential_type": credential_type});
        if !d.approve {
            store::decide(
                tx,
                &a.id,
                "rejected",
                Some(user_id),
                reason.as_deref(),
                None,
                now,
            )
            .await?;
            self.append_audit(
                tx,
                ctx,
                approval_event(Some(p), p.org_id(), "approval.rejected", &a, vote_details),
            )
            .await?;
        } else {
            let approvals = store::approve_votes(tx, &a.id).await?;
            if approvals >= a.min_approvals {
                let window = a.grant_seconds.map(|s| now + s * 1000);
                store::decide(
                    tx,
                    &a.id,
                    "approved",
                    Some(user_id),
                    reason.as_deref(),
                    window,
                    now,
                )
                .await?;
                let mut details = vote_details;
                details["approvals"] = json!(approvals);
                details["grant_expires_at"] = json!(window);
                self.append_audit(
                    tx,
                    ctx,
                    approval_event(Some(p), p.org_id(), "approval.approved", &a, details),
                )
                .await?;
            } else {
                let mut details = vote_details;
                details["approvals"] = json!(approvals);
                details["min_approvals"] = json!(a.min_approvals);
                self.append_audit(
                    tx,
                    ctx,
                    approval_event(Some(p), p.org_id(), "approval.vote", &a, details),
                )
                .await?;
            }
        }
        store::get_in(tx, p.org_id(), id)
            .await?
            .ok_or(Error::NotFound("Approval"))
    }

    /// Checks the confirmation of a high-risk decision: a current TOTP code (for a user with
    /// TOTP) or the account password. Returns which it was.
    async fn step_up(&self, user_id: &str, confirm: Option<&Password>) -> Result<&'static str> {
        let Some(confirm) = confirm.filter(|c| !c.expose_secret().is_empty()) else {
            return Err(Error::StepUpRequired(
                "This approval needs you to confirm it: send your password or a current TOTP \
                 code in the X-Auth-Confirm header"
                    .into(),
            ));
        };
        let user = users::by_id(self.store().pool(), user_id)
            .await?
            .ok_or(Error::Unauthorized("Unknown user"))?;
        let bucket = format!("step-up:{user_id}");
        self.check_auth_throttle(&bucket).await?;
        let code = confirm.expose_secret().trim();
        if user.totp_enabled && code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            if let Some(row) = mfa::get(self.store().pool(), user_id)
                .await?
                .filter(|r| r.enabled)
            {
                let mut tx = self.store().begin().await?;
                if self.check_second_factor(&mut tx, &user, &row, code).await? {
                    tx.commit().await?;
                    return Ok("totp");
                }
            }
        }
        if user.has_password {
            let hash = users::password_hash(self.store().pool(), user_id)
                .await?
                .unwrap_or_default();
            let pw = confirm.expose_secret().to_owned();
            let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
                .await
                .map_err(|_| Error::Internal("hashing task failed".into()))?;
            if ok {
                return Ok("password");
            }
        } else if !user.totp_enabled {
            return Err(Error::StepUpRequired(
                "This approval needs a password or TOTP confirmation, and your account has \
                 neither: set up two-factor authentication on the Security page first"
                    .into(),
            ));
        }
        self.note_auth_failure(&bucket).await?;
        Err(Error::StepUpRequired(
            "The confirmation did not match your password or a current TOTP code".into(),
        ))
    }

    /// Ends a pending approval without a decision: its requester or one of its approvers
    /// cancels it. It reads as `rejected` with the reason "cancelled". An approval already
    /// decided is answered unchanged (the first answer wins).
    pub async fn cancel_approval(
        &self,
        p: &Principal,
        id: &str,
        reason: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<ApprovalView> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.expire_due_in(&mut tx, p.org_id(), ctx).await?;
        let a = Self::visible_in(&mut tx, p, id).await?;
        let allowed = a.requester_id == p.id()
            || a.approvers.iter().any(|x| x == p.id())
            || matches!(p, Principal::User { role, .. } if role.is_org_admin());
        if !allowed {
            return Err(Error::Forbidden(
                "Only the requester or an approver cancels an approval".into(),
            ));
        }
        if store::lock_pending(&mut tx, &a.id, now).await? {
            store::decide(
                &mut tx,
                &a.id,
                "rejected",
                None,
                Some("cancelled"),
                None,
                now,
            )
            .await?;
            let reason: Option<String> = reason
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| r.chars().take(2000).collect());
            self.append_audit(
                &mut tx,
                ctx,
                approval_event(
                    Some(p),
                    p.org_id(),
                    "approval.cancelled",
                    &a,
                    json!({ "reason": reason }),
                ),
            )
            .await?;
        }
        tx.commit().await?;
        let a = store::get(self.store().pool(), p.org_id(), id)
            .await?
            .ok_or(Error::NotFound("Approval"))?;
        self.view(p, a).await
    }

    /// Checks a one-click link from a notification without spending it: the approval it is
    /// for. Unknown, used or expired links are 404.
    pub async fn approval_link(&self, token: &str) -> Result<(String, String)> {
        let hash = self.credential_hash(token).await?;
        store::peek_link(self.store().pool(), &hash, self.now())
            .await?
            .ok_or(Error::NotFound("Approval link"))
    }

    /// The approval a one-click link opens, for the signed-in approver it was mailed to.
    pub async fn approval_for_link(
        &self,
        p: &Principal,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<ApprovalView> {
        let (id, user_id) = self.approval_link(token).await?;
        if user_id != p.id() {
            return Err(Error::Forbidden(
                "This link was sent to another approver; sign in as them".into(),
            ));
        }
        self.get_approval(p, &id, ctx).await
    }

    /// Decides through a one-click link, after the approver confirmed on the dashboard: the
    /// link is spent in the decision's transaction, so it works once.
    pub async fn quick_decide(
        &self,
        p: &Principal,
        token: &str,
        d: ApprovalDecision,
        ctx: &RequestContext,
    ) -> Result<ApprovalView> {
        let hash = self.credential_hash(token).await?;
        let now = self.now();
        let (id, user_id) = store::peek_link(self.store().pool(), &hash, now)
            .await?
            .ok_or(Error::NotFound("Approval link"))?;
        if user_id != p.id() {
            return Err(Error::Forbidden(
                "This link was sent to another approver; sign in as them".into(),
            ));
        }
        let confirmed = self.confirm_decision(p, &id, &d).await?;
        let mut tx = self.store().begin().await?;
        self.expire_due_in(&mut tx, p.org_id(), ctx).await?;
        if !store::take_link(&mut tx, &hash, now).await? {
            return Err(Error::NotFound("Approval link"));
        }
        let a = self.decide_in(&mut tx, p, &id, d, confirmed, ctx).await?;
        tx.commit().await?;
        self.view(p, a).await
    }

    /// Mails each approver what is asked, with one-click links to the dashboard's
    /// confirmation page; in the background, so the requester's answer does not wait.
    fn notify_approvers(&self, a: &Approval) {
        if self.config().mailer.is_none() {
            return;
        }
        let core = self.clone();
        let a = a.clone();
        tokio::spawn(async move {
            if let Err(e) = core.mail_approvers(&a).await {
                tracing::warn!(error = %e, approval = %a.id, "approval notification not sent");
            }
        });
    }

    async fn mail_approvers(&self, a: &Approval) -> Result<()> {
        let base = self.config().public_url.trim_end_matches('/').to_owned();
        let what = describe(a);
        for user_id in &a.approvers {
            let Some(user) = users::by_id(self.store().pool(), user_id).await? else {
                continue;
            };
            let token = new_bearer_secret("qd_");
            let hash = self.credential_hash(&token).await?;
            let mut tx = self.store().begin().await?;
            store::insert_link(&mut tx, &hash, &a.id, user_id, a.expires_at).await?;
            tx.commit().await?;
            let link = |decision: &str| {
                format!("{base}/v1/approvals/quick-decide?token={token}&decision={decision}")
            };
            let body = format!(
                "{what}\n\nRisk tier: {}. {} approval(s) needed. It expires at {}.\n\n\
                 Approve: {}\nReject: {}\n\nEach link opens the dashboard, which asks you to \
                 confirm; nothing is decided until you do. All pending approvals: {base}/approvals\n",
                a.risk_tier,
                a.min_approvals,
                crate::clock::rfc3339(a.expires_at),
                link("approved"),
                link("rejected"),
            );
            self.send_mail(&user.email, "Talon: an approval is waiting for you", &body)
                .await?;
        }
        Ok(())
    }
}

fn requester_label(p: &Principal, agent_name: Option<&str>) -> Value {
    match p {
        Principal::Agent { agent_id, .. } => {
            json!({"type": "agent", "id": agent_id, "name": agent_name})
        }
        Principal::User { user_id, email, .. } => {
            json!({"type": "user", "id": user_id, "email": email})
        }
    }
}

/// One sentence on what an approval asks for.
fn describe(a: &Approval) -> String {
    let who = a
        .summary
        .get("requester")
        .and_then(|r| r.get("name").or_else(|| r.get("email")))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{} {}", a.requester_type, a.requester_id));
    match a.target_type.as_str() {
        "secret" => format!(
            "{who} asks to {} {} in the vault {}.",
            a.summary["permission"].as_str().unwrap_or("access"),
            a.summary["path"].as_str().unwrap_or(&a.target_id),
            a.summary["vault_name"].as_str().unwrap_or("?"),
        ),
        _ => format!(
            "{who} asks for approval of {} on {} {}.{}",
            a.action,
            a.target_type,
            a.target_id,
            a.reason
                .as_deref()
                .map(|r| format!(" Reason: {r}"))
                .unwrap_or_default()
        ),
    }
}

fn gated_denial(
    p: &Principal,
    v: &Vault,
    path: &str,
    permission: Permission,
    a: &Approval,
) -> AuditEvent {
    AuditEvent::by(
        p,
        "secret.denied",
        "secret",
        None,
        json!({"vault_id": v.id, "path": path, "permission": permission.as_str(),
               "reason": "approval_required", "approval_id": a.id}),
    )
    .outcome("denied")
}
