//! The gate: the one entrance every request passes, whatever its door (REST, `/mcp`, the
//! dashboard, and any door added later). A door says who the caller claims to be (a
//! [`Credential`]), which [`Operation`] the request is and what [`Access`] it needs; the gate
//! signs the caller in, holds a personal API key to its scopes (the ceiling of every route),
//! applies the org's IP rules, the per-principal rate limit, and the monthly quota of
//! billable operations, in that order (API.md section 3). Nothing else authenticates.

use super::billing::{BillableOp, QuotaView};
use super::principal::user_principal;
use super::{Core, Principal, RequestContext, Scope};
use crate::error::{Error, Result};
use crate::store::{agents, api_keys, users};

/// How a caller proves who they are at a door.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    /// `Authorization: Bearer <credential>`: a user or agent access token, or a `1ck_`
    /// personal API key. `ocv_` agent keys are refused: they are exchanged for a token first.
    Bearer(&'a str),
    /// A dashboard session: the user id its record holds. The user is read as stored now,
    /// so a removal or a role change takes effect at the next request.
    Session {
        /// The signed-in user.
        user_id: &'a str,
    },
}

impl std::fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Bearer(_) => f.write_str("Bearer([redacted])"),
            Credential::Session { .. } => f.write_str("Session"),
        }
    }
}

/// The token of an `Authorization` header value: `Bearer <token>` (either case of the
/// scheme), trimmed, non-empty. The one place a bearer header is parsed.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// What a request asks for, as far as the gate is concerned. Doors map their routes (or
/// server functions, or tools) to an operation; the gate decides what follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Reading a secret's value (a version read included).
    SecretRead,
    /// Writing or rotating a secret.
    SecretWrite,
    /// Creating a share.
    ShareCreate,
    /// Opening a share as a signed-in recipient.
    ShareAccess,
    /// Querying or exporting the audit log.
    AuditQuery,
    /// A request made for an agent through one of its bindings (priced as a read).
    Execute,
    /// Any other signed-in request: admitted and rate limited, not billed.
    Other,
}

impl Operation {
    /// The billable class of the operation (API.md 5.2), `None` for free operations.
    pub fn billable(self) -> Option<BillableOp> {
        match self {
            Operation::SecretRead | Operation::Execute => Some(BillableOp::SecretRead),
            Operation::SecretWrite => Some(BillableOp::SecretWrite),
            Operation::ShareCreate => Some(BillableOp::ShareCreate),
            Operation::ShareAccess => Some(BillableOp::ShareAccess),
            Operation::AuditQuery => Some(BillableOp::AuditQuery),
            Operation::Other => None,
        }
    }
}

/// What a request needs of the caller's credential beyond being signed in: the ceiling a
/// personal API key's scopes put on it. Every route of every door declares one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any signed-in caller.
    Any,
    /// A caller signed in with a personal API key (or a token exchanged for one) must hold
    /// this scope, or `*`; other callers pass (an agent's scopes are checked per path).
    Scope(Scope),
    /// A human with full rights: a password or Google sign-in, a dashboard session, or a key
    /// whose scopes are `*`. Scoped keys and agents are refused (account and member changes).
    FullAccess,
    /// A human signed in by password, Google or the dashboard: no API key at all, not even a
    /// `*` one (approving a device login, which hands out a full session).
    Session,
}

impl Access {
    /// Refuses `p` when its credential does not reach this ceiling (403).
    pub fn check(self, p: &Principal) -> Result<()> {
        let key_scopes = match p {
            Principal::User { key_scopes, .. } => key_scopes.as_deref(),
            Principal::Agent { .. } => {
                return match self {
                    Access::Any | Access::Scope(_) => Ok(()),
                    Access::FullAccess | Access::Session => Err(Error::Forbidden(
                        "This endpoint is for human users; agents cannot call it".into(),
                    )),
                }
            }
        };
        let unscoped = |scopes: &[String]| scopes.is_empty() || scopes.iter().any(|s| s == "*");
        match (self, key_scopes) {
            (Access::Any, _) | (_, None) => Ok(()),
            (Access::Scope(scope), Some(scopes)) => {
                if unscoped(scopes) || scopes.iter().any(|s| s == scope.as_str()) {
                    Ok(())
                } else {
                    Err(Error::Forbidden(format!(
                        "This API key lacks the '{}' scope",
                        scope.as_str()
                    )))
                }
            }
            (Access::FullAccess, Some(scopes)) if unscoped(scopes) => Ok(()),
            (Access::FullAccess, Some(_)) => Err(Error::Forbidden(
                "A scoped API key cannot do this; sign in, or use a key with the '*' scope".into(),
            )),
            (Access::Session, Some(_)) => Err(Error::Forbidden(
                "An API key cannot do this; sign in with your password or the dashboard".into(),
            )),
        }
    }
}

/// A request the gate let in: who is calling, and the org's quota for the response
/// headers. A billable admission has been counted; [`Core::settle`] records its usage
/// event once the outcome is known.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The signed-in caller.
    pub principal: Principal,
    /// The org's monthly quota, this request included.
    pub quota: QuotaView,
    billed: Option<BillableOp>,
}

impl Core {
    /// The one entrance: signs the caller in from `credential`, then refuses the request
    /// when the credential does not reach `access` (403), when an org IP rule does not admit
    /// `ctx`'s address (403 `ip_denied`, audited), when
    /// the caller is over the per-principal rate limit (429), or when `op` is billable and
    /// the org's monthly quota is used up (402). A stored rule that cannot be read refuses
    /// the request (503), it never skips the check.
    pub async fn admit(
        &self,
        credential: Credential<'_>,
        ctx: &RequestContext,
        op: Operation,
        access: Access,
    ) -> Result<Admitted> {
        let (principal, ip_rules) = match credential {
            Credential::Bearer(token) => self.verify_bearer(token).await?,
            Credential::Session { user_id } => (self.session_user(user_id).await?, None),
        };
        access.check(&principal)?;
        if ip_rules != Some(0) {
            self.check_ip_rules(&principal, ctx).await?;
        }
        self.check_principal_rate(&principal).await?;
        let billed = op.billable();
        let quota = self.meter_admit(&principal, billed).await?;
        Ok(Admitted {
            principal,
            quota,
            billed,
        })
    }

    /// Records the usage event of an admitted billable request (`endpoint` as usage history
    /// shows it, e.g. `/v1/vaults/:vault_id/secrets/:path`); nothing for a free one. Counting
    /// happened at admission; this only queues the event, in memory.
    pub fn settle(&self, admitted: &Admitted, method: &str, endpoint: &str, status: u16) {
        if let Some(op) = admitted.billed {
            self.meter_record(&admitted.principal, op, method, endpoint, status);
        }
    }

    /// The org's quota as it stands, for response headers on requests that made other
    /// admitted requests (an MCP message whose tools called REST).
    pub async fn quota_now(&self, p: &Principal) -> Result<QuotaView> {
        self.meter_admit(p, None).await
    }

    /// The human a dashboard session signs in, as stored now.
    async fn session_user(&self, user_id: &str) -> Result<Principal> {
        let user = users::by_id(self.store().pool(), user_id)
            .await?
            .ok_or(Error::Unauthorized("Your session has ended"))?;
        user_principal(&user, None)
    }

    /// Verifies a bearer credential and checks that its subject may still act: a user must
    /// still be a member of the org (and a personal key or a token made from one still be
    /// active); an agent must exist, be active and unexpired. Also returns the org's IP rule
    /// count when it came with the same query (agents, the hot path), so the gate can skip
    /// reading rules an org does not have.
    async fn verify_bearer(&self, bearer: &str) -> Result<(Principal, Option<i64>)> {
        if bearer.starts_with("ocv_") {
            return Err(Error::Unauthorized(
                "Agent API keys are not bearer tokens; exchange them at /v1/auth/agent-token",
            ));
        }
        if bearer.starts_with("1ck_") {
            let (key, user) = self.personal_key(bearer).await?;
            return Ok((user_principal(&user, Some(key.scopes))?, None));
        }
        let now = self.now();
        let claims = self.0.signer.verify(bearer, now / 1000, "access")?;
        let invalid = || Error::Unauthorized("Invalid or expired token");
        let (kind, id) = claims.sub.split_once(':').ok_or_else(invalid)?;
        match kind {
            "user" => {
                if api_keys::is_revoked(self.store().pool(), &claims.jti).await? {
                    return Err(invalid());
                }
                let user = users::by_id(self.store().pool(), id)
                    .await?
                    .filter(|u| u.org_id == claims.org_id)
                    .ok_or_else(invalid)?;
                if let Some(key_id) = &claims.api_key_id {
                    let key = api_keys::get(self.store().pool(), key_id).await?;
                    if !key.is_some_and(|k| k.is_active && k.user_id == user.id) {
                        return Err(invalid());
                    }
                }
                Ok((user_principal(&user, claims.key_scopes)?, None))
            }
            "agent" => {
                let (created_by, revoked, ip_rules) =
                    agents::token_check(self.store().pool(), id, &claims.org_id, &claims.jti, now)
                        .await?
                        .ok_or_else(invalid)?;
                if revoked {
                    return Err(invalid());
                }
                Ok((
                    Principal::Agent {
                        agent_id: id.to_owned(),
                        org_id: claims.org_id,
                        created_by,
                        scopes: claims.scopes.unwrap_or_default(),
                        scopes_explicit: claims.scopes_explicit.unwrap_or(false),
                        vault_ids: claims.vault_ids.unwrap_or_default(),
                    },
                    Some(ip_rules),
                ))
            }
            _ => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use talon_api::Role;

    fn user(key_scopes: Option<&[&str]>) -> Principal {
        Principal::User {
            user_id: "u".into(),
            org_id: "o".into(),
            email: "u@example.com".into(),
            role: Role::Owner,
            key_scopes: key_scopes.map(|s| s.iter().map(|x| (*x).to_owned()).collect()),
        }
    }

    #[test]
    fn a_scoped_key_reaches_only_the_routes_of_its_scopes() {
        let read_only = user(Some(&["vaults:read"]));
        assert!(Access::Scope(Scope::VaultsRead).check(&read_only).is_ok());
        assert!(Access::Scope(Scope::SecretsRead).check(&read_only).is_err());
        assert!(Access::FullAccess.check(&read_only).is_err());
        assert!(Access::Session.check(&read_only).is_err());
        assert!(Access::Any.check(&read_only).is_ok());
    }

    #[test]
    fn a_star_key_has_full_access_but_is_not_a_session() {
        for key in [user(Some(&["*"])), user(Some(&[]))] {
            assert!(Access::Scope(Scope::OrgWrite).check(&key).is_ok());
            assert!(Access::FullAccess.check(&key).is_ok());
            assert!(Access::Session.check(&key).is_err());
        }
    }

    #[test]
    fn a_signed_in_human_passes_every_ceiling_and_an_agent_none_of_the_human_ones() {
        let session = user(None);
        for a in [
            Access::Any,
            Access::Scope(Scope::OrgWrite),
            Access::FullAccess,
            Access::Session,
        ] {
            assert!(a.check(&session).is_ok(), "{a:?}");
        }
        let agent = Principal::Agent {
            agent_id: "a".into(),
            org_id: "o".into(),
            created_by: "u".into(),
            scopes: vec![],
            scopes_explicit: false,
            vault_ids: vec![],
        };
        assert!(Access::Scope(Scope::SecretsRead).check(&agent).is_ok());
        assert!(Access::FullAccess.check(&agent).is_err());
        assert!(Access::Session.check(&agent).is_err());
    }
}
