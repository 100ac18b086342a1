//! The org and its team: members, roles, invitations.

use super::audit::AuditEvent;
use super::credentials::normalize_email;
use super::{Core, Principal, RequestContext, Role};
use crate::error::{Error, Result};
use crate::model::User;
use crate::store::{org, users};
use serde_json::json;
use talon_api::Scope;

const INVITE_TTL_MS: i64 = 7 * 86_400_000;

/// A pending invitation.
#[derive(Debug, Clone)]
pub struct Invite {
    /// The invitation's id.
    pub id: String,
    /// The invited address; signing up with it joins the org.
    pub email: String,
    /// The role given on joining: `owner`, `admin` or `member`.
    pub role: String,
    /// When the invitation lapses (seven days after it was made), unix milliseconds.
    pub expires_at: i64,
}

impl Core {
    fn org_admin(p: &Principal) -> Result<(&str, Role)> {
        let (user_id, role) = p.require_human()?;
        if !role.is_org_admin() {
            return Err(Error::Forbidden(
                "Only org owners and admins can manage the team".into(),
            ));
        }
        Ok((user_id, role))
    }

    /// The org's members. Humans only.
    pub async fn members(&self, p: &Principal) -> Result<Vec<User>> {
        p.require_human()?;
        p.require_scope(Scope::OrgRead)?;
        org::members(self.store().pool(), p.org_id()).await
    }

    /// Invites an email to the org; the invitee joins on signup with that email.
    pub async fn invite(
        &self,
        p: &Principal,
        email: &str,
        role: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<Invite> {
        let (user_id, my_role) = Self::org_admin(p)?;
        p.require_scope(Scope::OrgWrite)?;
        let email = normalize_email(email)?;
        let role = Role::parse(role.unwrap_or("member"))
            .map_err(|_| Error::invalid("role", "role must be owner, admin or member"))?;
        if role == Role::Owner && my_role != Role::Owner {
            return Err(Error::Forbidden("Only an owner can invite an owner".into()));
        }
        if let Some(existing) = users::by_email(self.store().pool(), &email).await? {
            return Err(Error::Conflict(if existing.org_id == p.org_id() {
                "This person is already a member".into()
            } else {
                "This email belongs to another organization".into()
            }));
        }
        let now = self.now();
        let invite = Invite {
            id: uuid::Uuid::new_v4().to_string(),
            email,
            role: role.as_str().into(),
            expires_at: now + INVITE_TTL_MS,
        };
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "org.invite",
                "org",
                Some(invite.id.clone()),
                json!({"role": invite.role}),
            ),
        )
        .await?;
        org::insert_invite(
            &mut tx,
            &invite.id,
            p.org_id(),
            &invite.email,
            &invite.role,
            user_id,
            now,
            invite.expires_at,
        )
        .await?;
        tx.commit().await?;
        Ok(invite)
    }

    async fn member_for_change(&self, p: &Principal, member_id: &str) -> Result<(Role, User)> {
        let (_, my_role) = Self::org_admin(p)?;
        p.require_scope(Scope::OrgWrite)?;
        let member = users::by_id(self.store().pool(), member_id)
            .await?
            .filter(|u| u.org_id == p.org_id())
            .ok_or(Error::NotFound("Member"))?;
        if member.role == "owner" && my_role != Role::Owner {
            return Err(Error::Forbidden(
                "Admins cannot change or remove owners".into(),
            ));
        }
        Ok((my_role, member))
    }

    /// Changes a member's role. Only owners grant `owner`; the last owner cannot be demoted.
    pub async fn change_role(
        &self,
        p: &Principal,
        member_id: &str,
        role: &str,
        ctx: &RequestContext,
    ) -> Result<User> {
        let (my_role, mut member) = self.member_for_change(p, member_id).await?;
        let role = Role::parse(role)
            .map_err(|_| Error::invalid("role", "role must be owner, admin or member"))?;
        if role == Role::Owner && my_role != Role::Owner {
            return Err(Error::Forbidden(
                "Only an owner can grant the owner role".into(),
            ));
        }
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "org.member_role_changed",
                "org",
                Some(member.id.clone()),
                json!({"from": member.role, "to": role.as_str()}),
            ),
        )
        .await?;
        if member.role == "owner"
            && role != Role::Owner
            && org::count_owners(&mut tx, p.org_id()).await? <= 1
        {
            return Err(Error::Conflict("The last owner cannot be demoted".into()));
        }
        org::set_role(&mut tx, &member.id, role.as_str()).await?;
        tx.commit().await?;
        member.role = role.as_str().into();
        Ok(member)
    }

    /// Removes a member: their tokens and keys stop working; vaults they created stay.
    pub async fn remove_member(
        &self,
        p: &Principal,
        member_id: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let (_, member) = self.member_for_change(p, member_id).await?;
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "org.member_removed",
                "org",
                Some(member.id.clone()),
                json!({}),
            ),
        )
        .await?;
        if member.role == "owner" && org::count_owners(&mut tx, p.org_id()).await? <= 1 {
            return Err(Error::Conflict("The last owner cannot be removed".into()));
        }
        org::remove_member(&mut tx, &member.id).await?;
        tx.commit().await?;
        Ok(())
    }
}
