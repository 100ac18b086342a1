//! A vault's access policies: the table of them and the form that grants one.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::parse_time;
use crate::session::SessionError;
use crate::ui::*;

/// A policy with its principal named for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyView {
    pub id: String,
    pub principal: String,
    pub pattern: String,
    pub permissions: String,
    pub effect: String,
    pub conditions: String,
    pub expires_at: Option<String>,
}

/// Someone a policy can name: an agent or a member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrincipalOption {
    /// `agent:<id>` or `user:<id>`.
    pub value: String,
    pub label: String,
}

/// Grants a principal permissions on a path pattern of the vault.
/// Each permission is a form field `permissions[<name>]` (a checkbox).
#[server(prefix = "/ui", endpoint = "policies/create")]
pub async fn create_policy(
    vault_id: String,
    grantee: String,
    pattern: String,
    permissions: Option<std::collections::BTreeMap<String, String>>,
    ip_allowlist: String,
    expires_at: String,
) -> Result<(), SessionError> {
    use crate::session::backend::*;
    let page = format!("/vaults/{vault_id}");
    form_action::<CreatePolicy, _, _>(&page, |core, p, ctx| async move {
        let (principal_type, principal_id) = grantee
            .split_once(':')
            .ok_or_else(|| SessionError::Rejected("Choose who the policy is for".to_owned()))?;
        let permissions: Vec<String> = permissions.unwrap_or_default().into_keys().collect();
        let ips: Vec<String> = form_list(&ip_allowlist);
        let conditions = (!ips.is_empty()).then(|| serde_json::json!({ "ip_allowlist": ips }));
        let input = talon_core::CreatePolicy {
            secret_path_pattern: pattern.trim().to_owned(),
            principal_type: principal_type.to_owned(),
            principal_id: principal_id.to_owned(),
            permissions,
            conditions,
            expires_at: parse_time("Expires", &expires_at)?,
            effect: None,
            priority: None,
        };
        core.create_policy(&p, &vault_id, input, &ctx)
            .await
            .map(|_| ())
            .map_err(rejected)
    })
    .await
}

/// Removes a policy.
#[server(prefix = "/ui", endpoint = "policies/delete")]
pub async fn delete_policy(vault_id: String, policy_id: String) -> Result<(), SessionError> {
    use crate::session::backend::*;
    let page = format!("/vaults/{vault_id}");
    form_action::<DeletePolicy, _, _>(&page, |core, p, ctx| async move {
        core.delete_policy(&p, &vault_id, &policy_id, &ctx)
            .await
            .map_err(rejected)
    })
    .await
}

#[component]
pub(super) fn PolicySection(
    vault_id: String,
    policies: Vec<PolicyView>,
    principals: Vec<PrincipalOption>,
    grant: ServerAction<CreatePolicy>,
    revoke: ServerAction<DeletePolicy>,
) -> impl IntoView {
    let table = if policies.is_empty() {
        view! {
            <EmptyState message="No policies yet: only owners and admins can read this vault. Grant an agent access below." />
        }
        .into_any()
    } else {
        let vault_id = vault_id.clone();
        view! {
            <div class="overflow-x-auto">
                <table class=TABLE>
                    <thead>
                        <tr>
                            <th class=TH scope="col">"Who"</th>
                            <th class=TH scope="col">"Pattern"</th>
                            <th class=TH scope="col">"Permissions"</th>
                            <th class=TH scope="col">"Conditions"</th>
                            <th class=TH scope="col">"Expires"</th>
                            <th class=TH scope="col">"Actions"</th>
                        </tr>
                    </thead>
                    <tbody class="divide-y divide-slate-100">
                        {policies
                            .into_iter()
                            .map(|p| {
                                let vault_id = vault_id.clone();
                                view! {
                                    <tr data-testid="policy-row">
                                        <td class=TD>{p.principal}</td>
                                        <td class=format!("{TD} font-mono")>{p.pattern}</td>
                                        <td class=TD>{p.permissions} " " {badge(p.effect)}</td>
                                        <td class=format!("{TD} font-mono text-xs")>{p.conditions}</td>
                                        <td class=TD>{p.expires_at.unwrap_or_else(|| "never".to_owned())}</td>
                                        <td class=TD>
                                            <Confirm label="Revoke">
                                                <ActionForm action=revoke>
                                                    <input type="hidden" name="vault_id" value=vault_id.clone() />
                                                    <input type="hidden" name="policy_id" value=p.id />
                                                    <button type="submit" class=BUTTON_DANGER>
                                                        "Confirm revoke"
                                                    </button>
                                                </ActionForm>
                                            </Confirm>
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
    };
    view! {
        <Card title="Access policies">
            {table}
            <h3 class="mt-6 mb-3 text-sm font-semibold text-slate-900">"Grant access"</h3>
            <ActionForm action=grant attr:class="grid gap-4 sm:grid-cols-2">
                <input type="hidden" name="vault_id" value=vault_id />
                <div>
                    <label for="field-principal" class=LABEL>
                        "Principal"
                    </label>
                    <select id="field-principal" name="grantee" required class=INPUT>
                        {principals
                            .into_iter()
                            .map(|o| view! { <option value=o.value>{o.label}</option> })
                            .collect_view()}
                    </select>
                </div>
                <Field
                    label="Path pattern"
                    name="pattern"
                    required=true
                    placeholder="api-keys/**"
                    hint="* matches one segment, ** any number."
                />
                <fieldset class="sm:col-span-2">
                    <legend class=LABEL>"Permissions"</legend>
                    <div class="mt-2 flex flex-wrap gap-4 text-sm">
                        {talon_api::Permission::ALL
                            .iter()
                            .map(|perm| perm.as_str())
                            .map(|perm| {
                                view! {
                                    <label class="flex items-center gap-2">
                                        <input
                                            type="checkbox"
                                            name=format!("permissions[{perm}]")
                                            value="on"
                                            checked=perm == "read"
                                            aria-describedby=(perm == "use")
                                                .then_some("permission-use-hint")
                                            class="size-4 rounded border-slate-300 text-indigo-600"
                                        />
                                        {perm}
                                    </label>
                                }
                            })
                            .collect_view()}
                    </div>
                    <p id="permission-use-hint" class="mt-2 text-xs text-slate-500">
                        "use: the agent can have the secret injected through a binding or talon run --broker, without ever reading it."
                    </p>
                </fieldset>
                <Field
                    label="IP allowlist"
                    name="ip_allowlist"
                    placeholder="10.0.0.0/8, 203.0.113.7"
                    hint="Optional condition: only these addresses or ranges."
                />
                <Field
                    label="Policy expires"
                    name="expires_at"
                    id="policy-expires"
                    kind="datetime-local"
                    hint="UTC; optional."
                />
                <div class="sm:col-span-2">
                    <button type="submit" class=BUTTON prop:disabled=grant.pending()>
                        "Grant access"
                    </button>
                </div>
            </ActionForm>
            <div class="mt-3 space-y-2">{action_error(grant)} {action_error(revoke)}</div>
        </Card>
    }
}
