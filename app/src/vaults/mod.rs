//! Vaults (`/vaults`) and one vault's page (`/vaults/{id}`): its secrets,
//! their versions, its environment variables (`?tab=env`), and the policies
//! that grant access to them.
//!
//! This module holds the vault list, the vault page that frames the rest, and
//! the form parsers other areas share; [`secrets`], [`versions`] and
//! [`policies`] hold the parts of the page named after them.

mod env_vars;
mod policies;
mod secrets;
mod versions;

pub use env_vars::*;
pub use policies::*;
pub use secrets::*;
pub use versions::*;

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

use crate::session::SessionError;
use crate::ui::*;

/// A vault as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub secret_count: i64,
    pub created_at: String,
}

/// Everything a vault's page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultPageData {
    pub vault: VaultView,
    pub secrets: Vec<SecretView>,
    pub policies: Vec<PolicyView>,
    pub principals: Vec<PrincipalOption>,
}

#[cfg(feature = "ssr")]
fn vault_view(v: &talon_core::model::Vault) -> VaultView {
    use talon_core::clock::rfc3339;
    VaultView {
        id: v.id.clone(),
        name: v.name.clone(),
        description: v.description.clone(),
        secret_count: v.secret_count,
        created_at: rfc3339(v.created_at),
    }
}

/// Parses a `datetime-local` value (taken as UTC) or an RFC 3339 time.
#[cfg(feature = "ssr")]
pub(crate) fn parse_time(field: &'static str, raw: &str) -> Result<Option<i64>, SessionError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let candidates = [raw.to_owned(), format!("{raw}Z"), format!("{raw}:00Z")];
    candidates
        .iter()
        .find_map(|c| talon_core::clock::parse_rfc3339(c))
        .map(Some)
        .ok_or_else(|| SessionError::Rejected(format!("{field}: not a date and time")))
}

/// Parses an optional whole number typed into a form.
#[cfg(feature = "ssr")]
pub(crate) fn parse_count(field: &'static str, raw: &str) -> Result<Option<i64>, SessionError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i64>()
        .map(Some)
        .map_err(|_| SessionError::Rejected(format!("{field}: not a whole number")))
}

/// The vaults the signed-in user can see.
#[server(prefix = "/ui", endpoint = "vaults/list")]
pub async fn list_vaults() -> Result<Vec<VaultView>, SessionError> {
    let (core, p, _) = crate::session::backend::caller().await?;
    let rows = core
        .list_vaults(&p)
        .await
        .map_err(crate::session::backend::rejected)?;
    Ok(rows.iter().map(vault_view).collect())
}

/// Creates a vault (its KEK is generated inside the HSM).
#[server(prefix = "/ui", endpoint = "vaults/create")]
pub async fn create_vault(name: String, description: String) -> Result<VaultView, SessionError> {
    use crate::session::backend::*;
    form_action::<CreateVault, _, _>("/vaults", |core, p, ctx| async move {
        let description = Some(description.trim()).filter(|d| !d.is_empty());
        let row = core
            .create_vault(&p, name.trim(), description, &ctx)
            .await
            .map_err(rejected)?;
        Ok(vault_view(&row))
    })
    .await
}

/// Deletes a vault and everything in it.
#[server(prefix = "/ui", endpoint = "vaults/delete")]
pub async fn delete_vault(vault_id: String) -> Result<(), SessionError> {
    use crate::session::backend::*;
    let result = async {
        let (core, p, ctx) = caller().await?;
        core.delete_vault(&p, &vault_id, &ctx)
            .await
            .map_err(rejected)
    }
    .await;
    if result.is_ok() {
        leptos_axum::redirect("/vaults");
    }
    finish::<DeleteVault, _>("/vaults", result)
}

/// A vault with its secrets, policies and the principals a policy can name.
#[server(prefix = "/ui", endpoint = "vaults/page")]
pub async fn vault_page(vault_id: String) -> Result<VaultPageData, SessionError> {
    use crate::session::backend::*;
    use talon_core::clock::rfc3339;
    let (core, p, ctx) = caller().await?;
    let vault = core.get_vault(&p, &vault_id).await.map_err(rejected)?;
    let secrets = core
        .list_secrets(&p, &vault_id, "", &ctx)
        .await
        .map_err(rejected)?;
    let agents = core.list_agents(&p).await.unwrap_or_default();
    let members = core.members(&p).await.unwrap_or_default();
    let mut principals: Vec<PrincipalOption> = agents
        .iter()
        .map(|a| PrincipalOption {
            value: format!("agent:{}", a.id),
            label: format!("Agent · {}", a.name),
        })
        .collect();
    principals.extend(members.iter().map(|m| PrincipalOption {
        value: format!("user:{}", m.id),
        label: format!("Member · {}", m.email),
    }));
    let name_of = |kind: &str, id: &str| {
        principals
            .iter()
            .find(|o| o.value == format!("{kind}:{id}"))
            .map(|o| o.label.clone())
            .unwrap_or_else(|| format!("{kind} {id}"))
    };
    let policies = core
        .list_policies(&p, &vault_id)
        .await
        .map(|rows| {
            rows.iter()
                .map(|r| PolicyView {
                    id: r.id.clone(),
                    principal: name_of(&r.principal_type, &r.principal_id),
                    pattern: r.secret_path_pattern.clone(),
                    permissions: r.permissions.join(", "),
                    effect: r.effect.clone(),
                    conditions: if r.conditions == "{}" || r.conditions.is_empty() {
                        String::new()
                    } else {
                        r.conditions.clone()
                    },
                    expires_at: r.expires_at.map(rfc3339),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(VaultPageData {
        vault: vault_view(&vault),
        secrets: secrets.iter().map(secret_view).collect(),
        policies,
        principals,
    })
}

/// `/vaults`: the list of vaults and a form to create one.
#[component]
pub fn VaultsPage() -> impl IntoView {
    let create = ServerAction::<CreateVault>::new();
    let vaults = Resource::new(move || create.version().get(), |_| list_vaults());
    view! {
        <div class="mx-auto max-w-5xl">
            <PageHeader
                title="Vaults".to_owned()
                description="Each vault has its own key in the HSM. Secrets live in vaults; policies say who may read them."
            />
            <Card title="Create a vault">
                <ActionForm action=create attr:class="grid gap-4 sm:grid-cols-3 sm:items-end">
                    <Field label="Vault name" name="name" required=true placeholder="production" />
                    <Field label="Description" name="description" placeholder="Optional" />
                    <div>
                        <button type="submit" class=BUTTON prop:disabled=create.pending()>
                            "Create vault"
                        </button>
                    </div>
                </ActionForm>
                <div class="mt-3">{action_error(create)}</div>
            </Card>
            <Card title="Your vaults">
                <Suspense fallback=loading>
                    {move || Suspend::new(async move {
                        match vaults.await {
                            Ok(list) if list.is_empty() => {
                                view! {
                                    <EmptyState message="No vaults yet. Create one above, then add secrets to it." />
                                }
                                    .into_any()
                            }
                            Ok(list) => view! { <VaultTable vaults=list /> }.into_any(),
                            Err(error) => view! { <ErrorNote message=error.to_string() /> }.into_any(),
                        }
                    })}
                </Suspense>
            </Card>
        </div>
    }
    .into_any()
}

#[component]
fn VaultTable(vaults: Vec<VaultView>) -> impl IntoView {
    view! {
        <div class="overflow-x-auto">
            <table class=TABLE>
                <thead>
                    <tr>
                        <th class=TH scope="col">"Name"</th>
                        <th class=TH scope="col">"Description"</th>
                        <th class=TH scope="col">"Secrets"</th>
                        <th class=TH scope="col">"Created"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {vaults
                        .into_iter()
                        .map(|v| {
                            view! {
                                <tr>
                                    <td class=TD>
                                        <a
                                            href=format!("/vaults/{}", v.id)
                                            class="font-medium text-indigo-700 hover:underline"
                                        >
                                            {v.name}
                                        </a>
                                    </td>
                                    <td class=TD>{v.description}</td>
                                    <td class=TD>{v.secret_count}</td>
                                    <td class=TD>{v.created_at}</td>
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

/// `/vaults/{id}`: a vault's secrets and policies.
#[component]
pub fn VaultPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let vault_id = move || params.with(|p| p.get("id").unwrap_or_default());
    let env_tab = move || query.with(|q| q.get("tab").as_deref() == Some("env"));
    let put = ServerAction::<PutSecret>::new();
    let rotate = ServerAction::<RotateSecret>::new();
    let remove = ServerAction::<DeleteSecret>::new();
    let grant = ServerAction::<CreatePolicy>::new();
    let revoke = ServerAction::<DeletePolicy>::new();
    let delete_vault = ServerAction::<DeleteVault>::new();
    let data = Resource::new(
        move || {
            (
                vault_id(),
                put.version().get()
                    + rotate.version().get()
                    + remove.version().get()
                    + grant.version().get()
                    + revoke.version().get(),
            )
        },
        |(id, _)| vault_page(id),
    );
    view! {
        <div class="mx-auto max-w-6xl">
            <Suspense fallback=loading>
                {move || {
                let env_tab = env_tab();
                Suspend::new(async move {
                    match data.await {
                        Err(error) => {
                            view! {
                                <PageHeader title="Vault".to_owned() />
                                <ErrorNote message=error.to_string() />
                            }
                                .into_any()
                        }
                        Ok(d) => {
                            let id = d.vault.id.clone();
                            let (id_form, id_table, id_policies, id_delete, id_tabs) = (
                                id.clone(),
                                id.clone(),
                                id.clone(),
                                id.clone(),
                                id,
                            );
                            let tab_body = if env_tab {
                                view! { <EnvVarsSection vault_id=id_form /> }.into_any()
                            } else {
                                view! {
                                    <SecretForm vault_id=id_form action=put />
                                    <SecretSection
                                        vault_id=id_table
                                        secrets=d.secrets
                                        rotate
                                        remove
                                    />
                                }
                                    .into_any()
                            };
                            view! {
                                <p class="mb-2 text-sm">
                                    <a href="/vaults" class="text-indigo-700 hover:underline">
                                        "← All vaults"
                                    </a>
                                </p>
                                <PageHeader
                                    title=d.vault.name.clone()
                                    description=d.vault.description.clone()
                                />
                                <VaultTabs vault_id=id_tabs env=env_tab />
                                {tab_body}
                                <PolicySection
                                    vault_id=id_policies
                                    policies=d.policies
                                    principals=d.principals
                                    grant
                                    revoke
                                />
                                <DangerZone vault_id=id_delete action=delete_vault />
                            }
                                .into_any()
                        }
                    }
                })
                }}
            </Suspense>
        </div>
    }
    .into_any()
}

/// The tabs of a vault's page: its secrets, or its environment variables.
#[component]
fn VaultTabs(vault_id: String, env: bool) -> impl IntoView {
    let tab = |active: bool| {
        if active {
            "border-b-2 border-indigo-600 px-3 py-2 text-sm font-semibold text-indigo-700"
        } else {
            "border-b-2 border-transparent px-3 py-2 text-sm font-medium text-slate-600 hover:text-slate-900"
        }
    };
    view! {
        <nav aria-label="Vault sections" class="mb-4 flex gap-2 border-b border-slate-200">
            <a
                href=format!("/vaults/{vault_id}")
                class=tab(!env)
                aria-current=(!env).then_some("page")
            >
                "Secrets"
            </a>
            <a
                href=format!("/vaults/{vault_id}?tab=env")
                class=tab(env)
                aria-current=env.then_some("page")
            >
                "Environment variables"
            </a>
        </nav>
    }
}

/// The card at the foot of a vault's page that deletes the vault.
#[component]
fn DangerZone(vault_id: String, action: ServerAction<DeleteVault>) -> impl IntoView {
    view! {
        <Card title="Danger zone">
            <p class="mb-3 text-sm text-slate-600">
                "Deleting the vault deletes every secret and policy in it."
            </p>
            <Confirm label="Delete vault">
                <ActionForm action>
                    <input type="hidden" name="vault_id" value=vault_id />
                    <button type="submit" class=BUTTON_DANGER>
                        "Confirm: delete this vault"
                    </button>
                </ActionForm>
            </Confirm>
            {action_error(action)}
        </Card>
    }
}
