//! Team (`/team`): the org's members and roles, invitations.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use talon_api::Role;

use crate::session::SessionError;
use crate::ui::*;

/// A member as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub mfa: bool,
    pub joined: String,
}

/// What the page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamData {
    pub members: Vec<MemberView>,
    pub me: String,
    pub can_manage: bool,
}

/// A new invitation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteView {
    pub email: String,
    pub role: String,
    pub expires_at: String,
}

/// The org's members.
#[server(prefix = "/ui", endpoint = "team/page")]
pub async fn team_page() -> Result<TeamData, SessionError> {
    use crate::session::backend::*;
    let (core, p, _) = caller().await?;
    let members = core.members(&p).await.map_err(rejected)?;
    let can_manage = matches!(&p, talon_core::Principal::User { role, .. } if role.is_org_admin());
    Ok(TeamData {
        members: members
            .into_iter()
            .map(|m| MemberView {
                id: m.id,
                email: m.email,
                name: m.display_name.unwrap_or_default(),
                role: m.role,
                mfa: m.totp_enabled,
                joined: talon_core::clock::rfc3339(m.created_at),
            })
            .collect(),
        me: p.id().to_owned(),
        can_manage,
    })
}

/// Invites someone by email (they get a mail with a link to join).
#[server(prefix = "/ui", endpoint = "team/invite")]
pub async fn invite_member(email: String, role: String) -> Result<InviteView, SessionError> {
    use crate::session::backend::*;
    form_action::<InviteMember, _, _>("/team", |core, p, ctx| async move {
        let invite = core
            .invite(&p, email.trim(), Some(role.as_str()), &ctx)
            .await
            .map_err(rejected)?;
        Ok(InviteView {
            email: invite.email,
            role: invite.role,
            expires_at: talon_core::clock::rfc3339(invite.expires_at),
        })
    })
    .await
}

/// Changes a member's role.
#[server(prefix = "/ui", endpoint = "team/role")]
pub async fn change_role(member_id: String, role: String) -> Result<(), SessionError> {
    use crate::session::backend::*;
    form_action::<ChangeRole, _, _>("/team", |core, p, ctx| async move {
        core.change_role(&p, &member_id, &role, &ctx)
            .await
            .map(|_| ())
            .map_err(rejected)
    })
    .await
}

/// Removes a member from the org.
#[server(prefix = "/ui", endpoint = "team/remove")]
pub async fn remove_member(member_id: String) -> Result<(), SessionError> {
    use crate::session::backend::*;
    form_action::<RemoveMember, _, _>("/team", |core, p, ctx| async move {
        core.remove_member(&p, &member_id, &ctx)
            .await
            .map_err(rejected)
    })
    .await
}

/// `/team`.
#[component]
pub fn TeamPage() -> impl IntoView {
    let invite = ServerAction::<InviteMember>::new();
    let role = ServerAction::<ChangeRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let data = Resource::new(
        move || invite.version().get() + role.version().get() + remove.version().get(),
        |_| team_page(),
    );
    view! {
        <div class="mx-auto max-w-5xl">
            <PageHeader
                title="Team".to_owned()
                description="Owners and admins manage vaults, agents and members; members see what policies grant them."
            />
            <Card title="Invite a member">
                <ActionForm action=invite attr:class="grid gap-4 sm:grid-cols-3 sm:items-end">
                    <Field
                        label="Email address"
                        name="email"
                        kind="email"
                        required=true
                        placeholder="colleague@example.com"
                    />
                    <div>
                        <label for="field-role" class=LABEL>
                            "Role"
                        </label>
                        <select id="field-role" name="role" class=INPUT>
                            <option value="member">"member"</option>
                            <option value="admin">"admin"</option>
                        </select>
                    </div>
                    <div>
                        <button type="submit" class=BUTTON prop:disabled=invite.pending()>
                            "Send invitation"
                        </button>
                    </div>
                </ActionForm>
                <div class="mt-3">
                    {action_error(invite)}
                    {move || {
                        invite
                            .value()
                            .get()
                            .and_then(Result::ok)
                            .map(|i| {
                                view! {
                                    <SuccessNote message=format!(
                                        "Invitation sent to {} as {} (valid until {}).",
                                        i.email,
                                        i.role,
                                        i.expires_at,
                                    ) />
                                }
                            })
                    }}
                </div>
            </Card>
            <Card title="Members">
                <div class="mb-3 space-y-2">{action_error(role)} {action_error(remove)}</div>
                <Suspense fallback=loading>
                    {move || Suspend::new(async move {
                        match data.await {
                            Err(error) => view! { <ErrorNote message=error.to_string() /> }.into_any(),
                            Ok(d) => view! { <MemberTable data=d role remove /> }.into_any(),
                        }
                    })}
                </Suspense>
            </Card>
        </div>
    }
    .into_any()
}

#[component]
fn MemberTable(
    data: TeamData,
    role: ServerAction<ChangeRole>,
    remove: ServerAction<RemoveMember>,
) -> impl IntoView {
    let TeamData {
        members,
        me,
        can_manage,
    } = data;
    view! {
        <div class="overflow-x-auto">
            <table class=TABLE>
                <thead>
                    <tr>
                        <th class=TH scope="col">"Member"</th>
                        <th class=TH scope="col">"Role"</th>
                        <th class=TH scope="col">"2FA"</th>
                        <th class=TH scope="col">"Joined"</th>
                        <th class=TH scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {members
                        .into_iter()
                        .map(|m| {
                            let manage = can_manage && m.id != me && m.role != Role::Owner.as_str();
                            let next = if m.role == Role::Admin.as_str() {
                                Role::Member
                            } else {
                                Role::Admin
                            }
                            .as_str();
                            let (id_role, id_remove) = (m.id.clone(), m.id.clone());
                            view! {
                                <tr data-testid="member-row">
                                    <td class=TD>
                                        <p class="font-medium text-slate-900">{m.email.clone()}</p>
                                        <p class="text-xs text-slate-500">{m.name.clone()}</p>
                                    </td>
                                    <td class=TD>{badge(m.role.clone())}</td>
                                    <td class=TD>{if m.mfa { "on" } else { "off" }}</td>
                                    <td class=format!("{TD} text-xs")>{m.joined.clone()}</td>
                                    <td class=format!("{TD} flex flex-wrap gap-2")>
                                        {manage
                                            .then(move || {
                                                view! {
                                                    <ActionForm action=role>
                                                        <input type="hidden" name="member_id" value=id_role />
                                                        <input type="hidden" name="role" value=next />
                                                        <button type="submit" class=BUTTON_SECONDARY>
                                                            {format!("Make {next}")}
                                                        </button>
                                                    </ActionForm>
                                                    <Confirm label="Remove">
                                                        <ActionForm action=remove>
                                                            <input type="hidden" name="member_id" value=id_remove />
                                                            <button type="submit" class=BUTTON_DANGER>
                                                                "Confirm remove"
                                                            </button>
                                                        </ActionForm>
                                                    </Confirm>
                                                }
                                            })}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
