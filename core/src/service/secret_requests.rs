//! Secret requests: an agent asks its people for a credential it lacks (1claw's
//! `request_secret`). A person fills the value into a vault and path they choose, where it is
//! sealed like any secret version, and may grant the agent `use` or `read` on exactly that
//! path. The agent only ever learns the status, the vault and the path.

use super::audit::AuditEvent;
use super::{Core, Principal, RequestContext};
use crate::error::{Error, Result};
use crate::material::SecretValue;
use crate::model::{Policy, SecretRequest};
use crate::policy::Permission;
use crate::secret_path::SecretPath;
use crate::store::secret_requests as store;
use crate::store::{agents, org as org_store, policies};
use serde_json::json;

/// How long a request waits for a person.
const REQUEST_TTL_MS: i64 = 24 * 3_600_000;

/// The most pending requests one agent may have at a time.
const MAX_PENDING_PER_AGENT: usize = 20;

/// A person's answer to a request: the value and where it goes.
pub struct FulfilSecretRequest {
    /// The vault to store the value in.
    pub vault_id: String,
    /// The path to store it at.
    pub path: SecretPath,
    /// The value, sealed on arrival and never kept anywhere else.
    pub value: SecretValue,
    /// What the requesting agent may then do with it: `use`, `read`, or nothing.
    pub grant: Option<Permission>,
}

fn text(field: &'static str, v: &str, max: usize) -> Result<String> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("{field} must be 1 to {max} printable characters"),
        ));
    }
    Ok(v.to_owned())
}

impl Core {
    /// Whether `p` may see the request: its agent, org owners and admins, and the agent's
    /// creator.
    async fn may_see_request(&self, p: &Principal, q: &SecretRequest) -> Result<bool> {
        Ok(match p {
            Principal::Agent { agent_id, .. } => &q.agent_id == agent_id,
            Principal::User { user_id, role, .. } => {
                role.is_org_admin()
                    || agents::get(self.store().pool(), &q.org_id, &q.agent_id)
                        .await?
                        .is_some_and(|a| &a.created_by == user_id)
            }
        })
    }

    async fn expire_requests(&self, org_id: &str) -> Result<()> {
        if !store::any_due(self.store().pool(), org_id, self.now()).await? {
            return Ok(());
        }
        let mut tx = self.store().begin().await?;
        store::expire_due(&mut tx, org_id, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// An agent asks for a credential. Its people are told (mail, webhooks through the
    /// `secret_request.created` event, the dashboard).
    pub async fn request_secret(
        &self,
        p: &Principal,
        label: &str,
        purpose: &str,
        suggested_path: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<SecretRequest> {
        let Principal::Agent { agent_id, .. } = p else {
            return Err(Error::Forbidden(
                "Only agents request secrets; people store them directly".into(),
            ));
        };
        let label = text("label", label, 200)?;
        let purpose = text("purpose", purpose, 2000)?;
        let suggested_path = match suggested_path.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(
                SecretPath::parse(s)
                    .map_err(|_| {
                        Error::invalid(
                            "suggested_path",
                            "suggested_path is not a valid secret path",
                        )
                    })?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        self.expire_requests(p.org_id()).await?;
        let pending = store::list(
            self.store().pool(),
            p.org_id(),
            Some(agent_id),
            Some("pending"),
            MAX_PENDING_PER_AGENT as i64 + 1,
        )
        .await?;
        if pending.len() >= MAX_PENDING_PER_AGENT {
            return Err(Error::Conflict(format!(
                "This agent already has {MAX_PENDING_PER_AGENT} pending secret requests"
            )));
        }
        let now = self.now();
        let q = SecretRequest {
            id: uuid::Uuid::new_v4().to_string(),
            org_id: p.org_id().to_owned(),
            agent_id: agent_id.clone(),
            label,
            purpose,
            suggested_path,
            status: "pending".into(),
            vault_id: None,
            path: None,
            granted: None,
            policy_id: None,
            decline_reason: None,
            decided_by: None,
            decided_at: None,
            expires_at: now + REQUEST_TTL_MS,
            created_at: now,
        };
        let mut tx = self.store().begin().await?;
        store::insert(&mut tx, &q).await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "secret_request.created",
                "secret_request",
                Some(q.id.clone()),
                json!({"label": q.label, "suggested_path": q.suggested_path}),
            ),
        )
        .await?;
        tx.commit().await?;
        self.notify_secret_request(&q);
        Ok(q)
    }

    /// One request `p` may see (404 otherwise).
    pub async fn get_secret_request(&self, p: &Principal, id: &str) -> Result<SecretRequest> {
        self.expire_requests(p.org_id()).await?;
        let q = store::get(self.store().pool(), p.org_id(), id)
            .await?
            .ok_or(Error::NotFound("Secret request"))?;
        if !self.may_see_request(p, &q).await? {
            return Err(Error::NotFound("Secret request"));
        }
        Ok(q)
    }

    /// The requests `p` may see, pending first.
    pub async fn list_secret_requests(
        &self,
        p: &Principal,
        status: Option<&str>,
    ) -> Result<Vec<SecretRequest>> {
        if let Some(s) = status {
            if !matches!(s, "pending" | "fulfilled" | "declined" | "expired") {
                return Err(Error::invalid(
                    "status",
                    "status must be pending, fulfilled, declined or expired",
                ));
            }
        }
        self.expire_requests(p.org_id()).await?;
        let agent = match p {
            Principal::Agent { agent_id, .. } => Some(agent_id.as_str()),
            Principal::User { .. } => None,
        };
        let rows = store::list(self.store().pool(), p.org_id(), agent, status, 200).await?;
        let mut out = Vec::with_capacity(rows.len());
        for q in rows {
            if self.may_see_request(p, &q).await? {
                out.push(q);
            }
        }
        Ok(out)
    }

    async fn pending_request_for(&self, p: &Principal, id: &str) -> Result<SecretRequest> {
        p.require_human()?;
        let q = self.get_secret_request(p, id).await?;
        if q.status != "pending" {
            return Err(Error::Conflict(format!(
                "This secret request is already {}",
                q.status
            )));
        }
        Ok(q)
    }

    /// A person answers a request with the value. The version, the grant's policy (when the
    /// person chose one), the request's new state and their audit events commit together.
    pub async fn fulfil_secret_request(
        &self,
        p: &Principal,
        id: &str,
        f: FulfilSecretRequest,
        ctx: &RequestContext,
    ) -> Result<SecretRequest> {
        let q = self.pending_request_for(p, id).await?;
        let len = f.value.expose_secret().len();
        if len == 0 || len > 256 * 1024 {
            return Err(Error::invalid("value", "value must be 1 byte to 256 KiB"));
        }
        if let Some(g) = f.grant {
            if !matches!(g, Permission::Use | Permission::Read) {
                return Err(Error::invalid("grant", "grant must be use, read or none"));
            }
        }
        let v = self.vault_in_org(p, &f.vault_id).await?;
        self.authorize_path(p, &v, f.path.as_str(), Permission::Write, ctx)
            .await?;
        if f.grant.is_some() {
            // Granting makes a policy: only the vault's administrators may.
            self.require_vault_admin(p, &v.id).await?;
        }
        let now = self.now();
        let policy = f.grant.map(|g| Policy {
            id: uuid::Uuid::new_v4().to_string(),
            vault_id: v.id.clone(),
            secret_path_pattern: f.path.as_str().to_owned(),
            principal_type: "agent".into(),
            principal_id: q.agent_id.clone(),
            permissions: vec![g.as_str().to_owned()],
            conditions: "{}".into(),
            expires_at: None,
            effect: "allow".into(),
            priority: 0,
            created_by: p.id().to_owned(),
            created_by_type: p.kind().to_owned(),
            created_at: now,
            updated_at: now,
        });
        let (mut tx, head) = self.begin_audited(&v.org_id).await?;
        let row = self
            .write_version_in(
                &mut tx,
                p,
                &v,
                &f.path,
                f.value,
                "generic".into(),
                "{}".into(),
                None,
                None,
            )
            .await?;
        self.write_audit(
            &mut tx,
            head,
            ctx,
            AuditEvent::by(
                p,
                "secret.write",
                "secret",
                Some(row.secret_id.clone()),
                json!({"vault_id": v.id, "path": row.path, "version": row.version,
                       "secret_request_id": q.id}),
            ),
        )
        .await?;
        if let Some(pol) = &policy {
            policies::insert(&mut tx, pol).await?;
            self.append_audit(
                &mut tx,
                ctx,
                AuditEvent::by(
                    p,
                    "policy.create",
                    "policy",
                    Some(pol.id.clone()),
                    json!({"vault_id": v.id, "pattern": pol.secret_path_pattern,
                           "principal_type": "agent", "principal_id": pol.principal_id,
                           "permissions": pol.permissions, "secret_request_id": q.id}),
                ),
            )
            .await?;
        }
        let granted = f.grant.map(|g| g.as_str());
        if !store::finish(
            &mut tx,
            &q.id,
            "fulfilled",
            Some(&v.id),
            Some(f.path.as_str()),
            granted,
            policy.as_ref().map(|p| p.id.as_str()),
            None,
            p.id(),
            now,
        )
        .await?
        {
            return Err(Error::Conflict(
                "This secret request was answered or expired meanwhile".into(),
            ));
        }
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "secret_request.fulfilled",
                "secret_request",
                Some(q.id.clone()),
                json!({"agent_id": q.agent_id, "vault_id": v.id, "path": f.path.as_str(),
                       "granted": granted}),
            ),
        )
        .await?;
        tx.commit().await?;
        self.get_secret_request(p, id).await
    }

    /// A person declines a request.
    pub async fn decline_secret_request(
        &self,
        p: &Principal,
        id: &str,
        reason: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<SecretRequest> {
        let q = self.pending_request_for(p, id).await?;
        let reason = match reason.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => Some(text("reason", r, 2000)?),
            None => None,
        };
        let mut tx = self.store().begin().await?;
        if !store::finish(
            &mut tx,
            &q.id,
            "declined",
            None,
            None,
            None,
            None,
            reason.as_deref(),
            p.id(),
            self.now(),
        )
        .await?
        {
            return Err(Error::Conflict(
                "This secret request was answered or expired meanwhile".into(),
            ));
        }
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "secret_request.declined",
                "secret_request",
                Some(q.id.clone()),
                json!({"agent_id": q.agent_id}),
            ),
        )
        .await?;
        tx.commit().await?;
        self.get_secret_request(p, id).await
    }

    /// Mails the org's owners and admins and the agent's creator about a new request, in the
    /// background.
    fn notify_secret_request(&self, q: &SecretRequest) {
        if self.config().mailer.is_none() {
            return;
        }
        let core = self.clone();
        let q = q.clone();
        tokio::spawn(async move {
            if let Err(e) = core.mail_secret_request(&q).await {
                tracing::warn!(error = %e, request = %q.id, "secret request notification not sent");
            }
        });
    }

    async fn mail_secret_request(&self, q: &SecretRequest) -> Result<()> {
        let agent = agents::get(self.store().pool(), &q.org_id, &q.agent_id).await?;
        let (name, creator) = agent
            .map(|a| (a.name, Some(a.created_by)))
            .unwrap_or_else(|| (q.agent_id.clone(), None));
        let base = self.config().public_url.trim_end_matches('/').to_owned();
        let body = format!(
            "The agent {name} asks for a credential: {}.\n\nWhy: {}\n{}\nFill it in (or decline) \
             on the dashboard: {base}/approvals\n\nThe agent never sees the value you enter; it \
             learns only where it was stored.\n",
            q.label,
            q.purpose,
            q.suggested_path
                .as_deref()
                .map(|p| format!("Suggested path: {p}\n"))
                .unwrap_or_default(),
        );
        for u in org_store::members(self.store().pool(), &q.org_id).await? {
            if matches!(u.role.as_str(), "owner" | "admin") || creator.as_deref() == Some(&u.id) {
                self.send_mail(&u.email, "Talon: an agent asks for a credential", &body)
                    .await?;
            }
        }
        Ok(())
    }
}
