//! Sharing a secret: a link anyone holding it may open, or a grant to one user, agent, the
//! calling agent's creator, or an email that claims it on signup. Passphrases are argon2id
//! hashes; every access counts against the share and the version in one commit, and is audited.

use super::audit::AuditEvent;
use super::credentials::{hash_password, normalize_email, verify_password};
use super::secrets::Reader;
use super::{Core, Principal, RequestContext, SecretRead};
use crate::error::{Error, Result};
use crate::material::Password;
use crate::model::Share;
use crate::policy::{Cidr, Permission};
use crate::store::shares as share_store;
use crate::store::{agents, secrets as secret_store, users};
use serde_json::json;
use talon_api::Scope;

/// Input of `POST /v1/secrets/{id}/share`.
#[derive(Debug)]
pub struct CreateShare {
    /// `user`, `agent`, `external_email`, `anyone_with_link`, or `creator` (an agent sharing with
    /// the human who created it).
    pub recipient_type: String,
    /// The recipient user or agent; required for `user` and `agent` shares.
    pub recipient_id: Option<String>,
    /// The recipient address of an `external_email` share.
    pub email: Option<String>,
    /// When the share stops opening, unix milliseconds.
    pub expires_at: i64,
    /// How many times the share may be opened, at least 1; absent means no limit.
    pub max_access_count: Option<i64>,
    /// Optional passphrase the opener must give; stored as an argon2id hash.
    pub passphrase: Option<Password>,
    /// IPs or CIDRs the share may be opened from; empty means any address.
    pub ip_allowlist: Vec<String>,
}

const SHARES_PER_MINUTE: i64 = 10;

impl Core {
    /// Creates a share of a secret the caller may read.
    pub async fn create_share(
        &self,
        p: &Principal,
        secret_id: &str,
        input: CreateShare,
        ctx: &RequestContext,
    ) -> Result<Share> {
        p.require_scope(Scope::SharesWrite)?;
        let (vault_id, path) =
            share_store::secret_in_org(self.store().pool(), p.org_id(), secret_id)
                .await?
                .ok_or(Error::NotFound("Secret"))?;
        let v = self.vault_in_org(p, &vault_id).await?;
        self.authorize_path(p, &v, &path, Permission::Read, ctx)
            .await?;
        if matches!(p, Principal::Agent { .. }) {
            let versions = secret_store::versions(self.store().pool(), secret_id).await?;
            if versions.last().is_some_and(super::secrets::is_use_only) {
                self.record(
                    ctx,
                    AuditEvent::by(
                        p,
                        "secret.denied",
                        "secret",
                        Some(secret_id.to_owned()),
                        json!({"vault_id": v.id, "path": path, "permission": "read", "reason": "use_only"}),
                    )
                    .outcome("denied"),
                )
                .await?;
                return Err(Error::use_only(&path));
            }
        }
        if input.max_access_count.is_some_and(|n| n < 1) {
            return Err(Error::invalid(
                "max_access_count",
                "max_access_count must be at least 1",
            ));
        }
        for c in &input.ip_allowlist {
            Cidr::parse(c).ok_or_else(|| {
                Error::invalid("ip_allowlist", format!("'{c}' is not a valid IP or CIDR"))
            })?;
        }
        let (recipient_id, recipient_email, status) = match input.recipient_type.as_str() {
            "anyone_with_link" => (None, None, "active"),
            "user" => {
                let id = input.recipient_id.ok_or_else(|| {
                    Error::invalid("recipient_id", "recipient_id is required for a user share")
                })?;
                if !users::is_member(self.store().pool(), &id, p.org_id()).await? {
                    return Err(Error::invalid(
                        "recipient_id",
                        "The user is not a member of this organization",
                    ));
                }
                (Some(id), None, "pending")
            }
            "agent" => {
                let id = input.recipient_id.ok_or_else(|| {
                    Error::invalid(
                        "recipient_id",
                        "recipient_id is required for an agent share",
                    )
                })?;
                if agents::get(self.store().pool(), p.org_id(), &id)
                    .await?
                    .is_none()
                {
                    return Err(Error::invalid(
                        "recipient_id",
                        "The agent is not in this organization",
                    ));
                }
                (Some(id), None, "pending")
            }
            "creator" => match p {
                Principal::Agent { created_by, .. } => (Some(created_by.clone()), None, "pending"),
                Principal::User { .. } => {
                    return Err(Error::invalid(
                        "recipient_type",
                        "Only an agent can share with its creator",
                    ))
                }
            },
            "external_email" => {
                if matches!(p, Principal::Agent { .. }) {
                    return Err(Error::Forbidden(
                        "Agents cannot share with an email address".into(),
                    ));
                }
                let email = normalize_email(input.email.as_deref().unwrap_or(""))?;
                (None, Some(email), "pending")
            }
            _ => return Err(Error::invalid(
                "recipient_type",
                "recipient_type must be user, agent, external_email, anyone_with_link or creator",
            )),
        };
        let window = self.now() / 60_000;
        if crate::store::rate_limits::hit(
            self.store().pool(),
            &format!("share:{}", p.org_id()),
            window,
        )
        .await?
            > SHARES_PER_MINUTE
        {
            return Err(Error::RateLimited { retry_after_s: 60 });
        }
        let passphrase_hash = match input.passphrase {
            Some(pw) if !pw.expose_secret().is_empty() => Some(
                tokio::task::spawn_blocking(move || hash_password(pw.expose_secret()))
                    .await
                    .map_err(|_| Error::Internal("hashing task failed".into()))??,
            ),
            _ => None,
        };
        let row = Share {
            id: uuid::Uuid::new_v4().to_string(),
            org_id: p.org_id().to_owned(),
            secret_id: secret_id.to_owned(),
            vault_id: v.id.clone(),
            secret_path: path,
            recipient_type: input.recipient_type,
            recipient_id,
            recipient_email,
            created_by: p.id().to_owned(),
            created_by_type: p.kind().to_owned(),
            passphrase_protected: passphrase_hash.is_some(),
            ip_allowlist: input.ip_allowlist,
            expires_at: input.expires_at,
            max_access_count: input.max_access_count,
            access_count: 0,
            status: status.into(),
            created_at: self.now(),
        };
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "share.create",
                "share",
                Some(row.id.clone()),
                json!({"secret_id": row.secret_id, "recipient_type": row.recipient_type}),
            ),
        )
        .await?;
        share_store::insert(&mut tx, &row, passphrase_hash.as_deref()).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Whether `p` is the share's recipient.
    async fn is_recipient(&self, p: &Principal, s: &Share) -> Result<bool> {
        Ok(match (s.recipient_type.as_str(), p) {
            ("user" | "creator", Principal::User { user_id, .. }) => {
                s.recipient_id.as_deref() == Some(user_id.as_str())
            }
            ("agent", Principal::Agent { agent_id, .. }) => {
                s.recipient_id.as_deref() == Some(agent_id.as_str())
            }
            // Once claimed, the share belongs to the user who claimed it, whatever their
            // email later becomes.
            ("external_email", Principal::User { user_id, email, .. }) => match &s.recipient_id {
                Some(claimed_by) => claimed_by == user_id,
                None => s.recipient_email.as_deref() == Some(email.as_str()),
            },
            _ => false,
        })
    }

    /// Reads a shared secret: link shares by anyone holding the id, targeted shares by their
    /// recipient after accepting. Passphrase and IP allowlist are checked first; a wrong
    /// passphrase counts as a failed attempt, not as an access.
    pub async fn access_share(
        &self,
        share_id: &str,
        caller: Option<&Principal>,
        passphrase: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<(Share, SecretRead)> {
        let (s, passphrase_hash) = share_store::get(self.store().pool(), share_id)
            .await?
            .filter(|(s, _)| s.status != "revoked" && s.status != "declined")
            .ok_or(Error::NotFound("Share"))?;
        if s.expires_at <= self.now() {
            return Err(Error::Gone("This share has expired".into()));
        }
        if s.max_access_count.is_some_and(|m| s.access_count >= m) {
            return Err(Error::Gone("This share has been used up".into()));
        }
        if !s.ip_allowlist.is_empty() {
            let ip = ctx.ip_addr();
            if !s
                .ip_allowlist
                .iter()
                .filter_map(|c| Cidr::parse(c))
                .any(|c| ip.is_some_and(|ip| c.contains(ip)))
            {
                return Err(Error::IpDenied);
            }
        }
        if let Some(hash) = passphrase_hash {
            let bucket = format!("share-pass:{}:{}", s.id, ctx.ip.as_deref().unwrap_or("-"));
            self.check_auth_throttle(&bucket).await?;
            let given = Password::new(passphrase.unwrap_or("").to_owned());
            let ok =
                tokio::task::spawn_blocking(move || verify_password(given.expose_secret(), &hash))
                    .await
                    .map_err(|_| Error::Internal("hashing task failed".into()))?;
            if !ok {
                self.note_auth_failure(&bucket).await?;
                return Err(Error::Forbidden("Wrong or missing passphrase".into()));
            }
        }
        let template = match (s.recipient_type.as_str(), caller) {
            ("anyone_with_link", Some(p)) => {
                AuditEvent::by(p, "share.access", "share", None, json!({}))
            }
            ("anyone_with_link", None) => AuditEvent {
                org_id: s.org_id.clone(),
                actor_type: "anonymous",
                actor_id: None,
                action: "share.access",
                resource_type: "share",
                resource_id: None,
                outcome: "success",
                details: json!({}),
            },
            (_, None) => {
                return Err(Error::Unauthorized(
                    "This share is for a specific recipient; send your token",
                ))
            }
            (_, Some(p)) => {
                if !self.is_recipient(p, &s).await? {
                    return Err(Error::Forbidden(
                        "This share is addressed to someone else".into(),
                    ));
                }
                if s.status != "accepted" {
                    return Err(Error::Forbidden(
                        "Accept the share before reading it".into(),
                    ));
                }
                AuditEvent::by(p, "share.access", "share", None, json!({}))
            }
        };
        // The share serves the latest readable version of its secret.
        let versions = secret_store::versions(self.store().pool(), &s.secret_id).await?;
        let latest = versions
            .iter()
            .rev()
            .find(|v| !v.is_disabled)
            .or(versions.last())
            .ok_or(Error::NotFound("Secret"))?;
        let found =
            secret_store::version_for_read(self.store().pool(), &s.secret_id, latest.version)
                .await?
                .ok_or(Error::NotFound("Secret"))?;
        let v = crate::store::vaults::get(self.store().pool(), &s.org_id, &s.vault_id)
            .await?
            .ok_or(Error::Gone("The shared secret's vault was deleted".into()))?;
        let reader = Reader {
            template,
            share_id: Some(s.id.clone()),
            agent: matches!(caller, Some(Principal::Agent { .. })),
            used: false,
        };
        let read = self.read_found(&reader, &v, found, ctx).await?;
        Ok((s, read))
    }

    /// Shares the caller created, newest first.
    pub async fn outbound_shares(&self, p: &Principal) -> Result<Vec<Share>> {
        share_store::outbound(self.store().pool(), p.id()).await
    }

    /// Shares addressed to the caller, newest first.
    pub async fn inbound_shares(&self, p: &Principal) -> Result<Vec<Share>> {
        let email = match p {
            Principal::User { email, .. } => Some(email.as_str()),
            Principal::Agent { .. } => None,
        };
        share_store::inbound(self.store().pool(), p.id(), email).await
    }

    /// Accepts or declines a targeted share addressed to the caller.
    pub async fn answer_share(
        &self,
        p: &Principal,
        share_id: &str,
        accept: bool,
        ctx: &RequestContext,
    ) -> Result<()> {
        let s = share_store::get(self.store().pool(), share_id)
            .await?
            .map(|(s, _)| s)
            .filter(|s| s.status != "revoked")
            .ok_or(Error::NotFound("Share"))?;
        if !self.is_recipient(p, &s).await? {
            return Err(Error::Forbidden(
                "This share is addressed to someone else".into(),
            ));
        }
        if accept && s.expires_at <= self.now() {
            return Err(Error::Gone("This share has expired".into()));
        }
        let (status, action) = if accept {
            ("accepted", "share.accept")
        } else {
            ("declined", "share.decline")
        };
        let mut tx = self.store().begin().await?;
        let mut event = AuditEvent::by(p, action, "share", Some(s.id.clone()), json!({}));
        event.org_id = s.org_id.clone();
        self.append_audit(&mut tx, ctx, event).await?;
        share_store::set_status(&mut tx, &s.id, status).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes a share the caller created.
    pub async fn revoke_share(
        &self,
        p: &Principal,
        share_id: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let s = share_store::get(self.store().pool(), share_id)
            .await?
            .map(|(s, _)| s)
            .filter(|s| s.org_id == p.org_id())
            .ok_or(Error::NotFound("Share"))?;
        if s.created_by != p.id() {
            return Err(Error::Forbidden(
                "Only the share's creator can revoke it".into(),
            ));
        }
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(p, "share.revoke", "share", Some(s.id.clone()), json!({})),
        )
        .await?;
        share_store::set_status(&mut tx, &s.id, "revoked").await?;
        tx.commit().await?;
        Ok(())
    }
}
