//! Vaults (`/vaults`) and one vault's page (`/vaults/{id}`): its secrets,
//! their versions, and the policies that grant access to them.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
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

/// A secret's latest version (metadata only, never the value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretView {
    pub id: String,
    pub path: String,
    pub secret_type: String,
    pub version: i64,
    pub expires_at: Option<String>,
    pub access: String,
    pub disabled: bool,
    pub created_at: String,
}

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

/// Everything a vault's page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultPageData {
    pub vault: VaultView,
    pub secrets: Vec<SecretView>,
    pub policies: Vec<PolicyView>,
    pub principals: Vec<PrincipalOption>,
}

#[cfg(feature = "ssr")]
mod convert {
    use super::*;
    use talon_core::clock::rfc3339;

    pub fn vault(v: &talon_core::store::vaults::VaultRow) -> VaultView {
        VaultView {
            id: v.id.clone(),
            name: v.name.clone(),
            description: v.description.clone(),
            secret_count: v.secret_count,
            created_at: rfc3339(v.created_at),
        }
    }

    pub fn secret(s: &talon_core::store::secrets::VersionRow) -> SecretView {
        SecretView {
            id: s.secret_id.clone(),
            path: s.path.clone(),
            secret_type: s.secret_type.clone(),
            version: s.version,
            expires_at: s.expires_at.map(rfc3339),
            access: match s.max_access_count {
                Some(max) => format!("{} / {max}", s.access_count),
                None => s.access_count.to_string(),
            },
            disabled: s.is_disabled,
            created_at: rfc3339(s.created_at),
        }
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

#[cfg(feature = "ssr")]
fn secret_path(raw: &str) -> Result<talon_core::secret_path::SecretPath, SessionError> {
    talon_core::secret_path::SecretPath::parse(raw.trim())
        .map_err(crate::session::backend::rejected)
}

/// The vaults the signed-in user can see.
#[server(prefix = "/ui", endpoint = "vaults/list")]
pub async fn list_vaults() -> Result<Vec<VaultView>, SessionError> {
    let (core, p, _) = crate::session::backend::caller().await?;
    let rows = core
        .list_vaults(&p)
        .await
        .map_err(crate::session::backend::rejected)?;
    Ok(rows.iter().map(convert::vault).collect())
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
        Ok(convert::vault(&row))
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
        vault: convert::vault(&vault),
        secrets: secrets.iter().map(convert::secret).collect(),
        policies,
        principals,
    })
}

/// Stores a new secret or a new version of an existing path.
#[server(prefix = "/ui", endpoint = "secrets/put")]
pub async fn put_secret(
    vault_id: String,
    path: String,
    secret_type: String,
    value: talon_api::SecretValueInput,
    metadata: String,
    expires_at: String,
    max_access_count: String,
) -> Result<SecretView, SessionError> {
    use crate::session::backend::*;
    let page = format!("/vaults/{vault_id}");
    form_action::<PutSecret, _, _>(&page, |core, p, ctx| async move {
        let path = secret_path(&path)?;
        let metadata = match metadata.trim() {
            "" => None,
            raw => Some(serde_json::from_str::<serde_json::Value>(raw).map_err(|_| {
                SessionError::Rejected("Metadata must be a JSON object".to_owned())
            })?),
        };
        let input = talon_core::PutSecret {
            value: value.into_secret_value(),
            secret_type: Some(secret_type).filter(|t| !t.is_empty()),
            metadata,
            expires_at: parse_time("Expires", &expires_at)?,
            max_access_count: parse_count("Maximum reads", &max_access_count)?,
        };
        let row = core
            .put_secret(&p, &vault_id, &path, input, &ctx)
            .await
            .map_err(rejected)?;
        Ok(convert::secret(&row))
    })
    .await
}

/// Decrypts and returns a secret's value: only on an explicit click, and
/// audited by the core like any other read.
#[server(prefix = "/ui", endpoint = "secrets/reveal")]
pub async fn reveal_secret(vault_id: String, path: String) -> Result<String, SessionError> {
    use crate::session::backend::*;
    let (core, p, ctx) = caller().await?;
    let path = secret_path(&path)?;
    let read = core
        .get_secret(&p, &vault_id, &path, &ctx)
        .await
        .map_err(rejected)?;
    Ok(read.value.expose_secret().to_owned())
}

/// A version of a secret, for the versions list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionView {
    pub version: i64,
    pub secret_type: String,
    pub disabled: bool,
    pub created_at: String,
}

/// Every version of a secret, newest first.
#[server(prefix = "/ui", endpoint = "secrets/versions")]
pub async fn secret_versions(
    vault_id: String,
    path: String,
) -> Result<Vec<VersionView>, SessionError> {
    use crate::session::backend::*;
    let (core, p, ctx) = caller().await?;
    let path = secret_path(&path)?;
    let rows = core
        .list_versions(&p, &vault_id, &path, &ctx)
        .await
        .map_err(rejected)?;
    Ok(rows
        .iter()
        .map(|r| VersionView {
            version: r.version,
            secret_type: r.secret_type.clone(),
            disabled: r.is_disabled,
            created_at: talon_core::clock::rfc3339(r.created_at),
        })
        .collect())
}

/// Generates a new random value for a secret on the server (a new version).
#[server(prefix = "/ui", endpoint = "secrets/rotate")]
pub async fn rotate_secret(
    vault_id: String,
    path: String,
    length: String,
) -> Result<SecretView, SessionError> {
    use crate::session::backend::*;
    let page = format!("/vaults/{vault_id}");
    form_action::<RotateSecret, _, _>(&page, |core, p, ctx| async move {
        let path = secret_path(&path)?;
        let input = talon_core::service::RotateSecret {
            length: parse_count("Length", &length)?,
            charset: None,
            secret_type: None,
        };
        let row = core
            .rotate_secret(&p, &vault_id, &path, input, &ctx)
            .await
            .map_err(rejected)?;
        Ok(convert::secret(&row))
    })
    .await
}

/// Deletes a secret (soft delete: its versions stay for the audit trail).
#[server(prefix = "/ui", endpoint = "secrets/delete")]
pub async fn delete_secret(vault_id: String, path: String) -> Result<(), SessionError> {
    use crate::session::backend::*;
    let page = format!("/vaults/{vault_id}");
    form_action::<DeleteSecret, _, _>(&page, |core, p, ctx| async move {
        let path = secret_path(&path)?;
        core.delete_secret(&p, &vault_id, &path, &ctx)
            .await
            .map_err(rejected)
    })
    .await
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
        let ips: Vec<String> = ip_allowlist
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
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
}

/// `/vaults/{id}`: a vault's secrets and policies.
#[component]
pub fn VaultPage() -> impl IntoView {
    let params = use_params_map();
    let vault_id = move || params.with(|p| p.get("id").unwrap_or_default());
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
                {move || Suspend::new(async move {
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
                            let (id_form, id_table, id_policies, id_delete) = (
                                id.clone(),
                                id.clone(),
                                id.clone(),
                                id,
                            );
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
                                <SecretForm vault_id=id_form action=put />
                                <Card title="Secrets">
                                    <div class="mb-3 space-y-2">
                                        {action_error(rotate)} {action_error(remove)}
                                    </div>
                                    <SecretTable
                                        vault_id=id_table
                                        secrets=d.secrets
                                        rotate
                                        remove
                                    />
                                </Card>
                                <PolicySection
                                    vault_id=id_policies
                                    policies=d.policies
                                    principals=d.principals
                                    grant
                                    revoke
                                />
                                <Card title="Danger zone">
                                    <p class="mb-3 text-sm text-slate-600">
                                        "Deleting the vault deletes every secret and policy in it."
                                    </p>
                                    <Confirm label="Delete vault">
                                        <ActionForm action=delete_vault>
                                            <input type="hidden" name="vault_id" value=id_delete />
                                            <button type="submit" class=BUTTON_DANGER>
                                                "Confirm: delete this vault"
                                            </button>
                                        </ActionForm>
                                    </Confirm>
                                    {action_error(delete_vault)}
                                </Card>
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </div>
    }
}

#[component]
fn SecretForm(vault_id: String, action: ServerAction<PutSecret>) -> impl IntoView {
    view! {
        <Card title="Add a secret">
            <ActionForm action attr:class="grid gap-4 sm:grid-cols-2">
                <input type="hidden" name="vault_id" value=vault_id />
                <Field
                    label="Path"
                    name="path"
                    required=true
                    placeholder="api-keys/stripe"
                    hint="Writing an existing path adds a new version."
                />
                <div>
                    <label for="field-secret_type" class=LABEL>
                        "Type"
                    </label>
                    <select id="field-secret_type" name="secret_type" class=INPUT>
                        {talon_api::SecretType::ALL
                            .iter()
                            .map(|t| view! { <option value=t.as_str()>{t.as_str()}</option> })
                            .collect_view()}
                    </select>
                </div>
                <div class="sm:col-span-2">
                    <label for="field-value" class=LABEL>
                        "Value"
                    </label>
                    <textarea
                        id="field-value"
                        name="value"
                        required
                        rows="2"
                        autocomplete="off"
                        spellcheck="false"
                        class=format!("{INPUT} font-mono")
                    ></textarea>
                </div>
                <div class="sm:col-span-2">
                    <label for="field-metadata" class=LABEL>
                        "Metadata (JSON)"
                    </label>
                    <textarea
                        id="field-metadata"
                        name="metadata"
                        rows="1"
                        placeholder="{\"owner\": \"payments\"}"
                        class=format!("{INPUT} font-mono")
                    ></textarea>
                </div>
                <Field label="Expires" name="expires_at" kind="datetime-local" hint="UTC; optional." />
                <Field
                    label="Maximum reads"
                    name="max_access_count"
                    kind="number"
                    hint="Optional; reads past it answer 410 Gone."
                />
                <div class="sm:col-span-2 flex items-center gap-3">
                    <button type="submit" class=BUTTON prop:disabled=action.pending()>
                        "Save secret"
                    </button>
                    {move || {
                        action
                            .value()
                            .get()
                            .and_then(Result::ok)
                            .map(|s| {
                                view! {
                                    <SuccessNote message=format!(
                                        "Saved {} (version {})",
                                        s.path,
                                        s.version,
                                    ) />
                                }
                            })
                    }}
                </div>
            </ActionForm>
            <div class="mt-3">{action_error(action)}</div>
        </Card>
    }
}

#[component]
fn SecretTable(
    vault_id: String,
    secrets: Vec<SecretView>,
    rotate: ServerAction<RotateSecret>,
    remove: ServerAction<DeleteSecret>,
) -> impl IntoView {
    if secrets.is_empty() {
        return view! {
            <EmptyState message="No secrets in this vault yet. Add one with the form above." />
        }
        .into_any();
    }
    view! {
        <div class="overflow-x-auto">
            <table class=TABLE>
                <thead>
                    <tr>
                        <th class=TH scope="col">"Path"</th>
                        <th class=TH scope="col">"Type"</th>
                        <th class=TH scope="col">"Version"</th>
                        <th class=TH scope="col">"Expires"</th>
                        <th class=TH scope="col">"Reads"</th>
                        <th class=TH scope="col">"Value"</th>
                        <th class=TH scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {secrets
                        .into_iter()
                        .map(|s| view! { <SecretRow vault_id=vault_id.clone() secret=s rotate remove /> })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn SecretRow(
    vault_id: String,
    secret: SecretView,
    rotate: ServerAction<RotateSecret>,
    remove: ServerAction<DeleteSecret>,
) -> impl IntoView {
    let SecretView {
        path,
        secret_type,
        version,
        expires_at,
        access,
        ..
    } = secret;
    let rotate_label = format!("Rotate {path}");
    let delete_label = format!("Confirm delete {path}");
    let (vault_reveal, vault_versions, vault_rotate, vault_delete) = (
        vault_id.clone(),
        vault_id.clone(),
        vault_id.clone(),
        vault_id,
    );
    let (path_reveal, path_versions, path_rotate, path_delete, path_cell) = (
        path.clone(),
        path.clone(),
        path.clone(),
        path.clone(),
        path.clone(),
    );
    view! {
        <tr data-testid="secret-row" data-path=path>
            <td class=format!("{TD} font-mono")>{path_cell}</td>
            <td class=TD>{secret_type}</td>
            <td class=TD>{version}</td>
            <td class=TD>{expires_at.unwrap_or_else(|| "never".to_owned())}</td>
            <td class=TD>{access}</td>
            <td class=TD>
                <Reveal vault_id=vault_reveal path=path_reveal />
            </td>
            <td class=format!("{TD} space-y-2")>
                <Versions vault_id=vault_versions path=path_versions />
                <ActionForm action=rotate attr:class="flex items-center gap-1">
                    <input type="hidden" name="vault_id" value=vault_rotate />
                    <input type="hidden" name="path" value=path_rotate />
                    <input type="hidden" name="length" value="32" />
                    <button type="submit" class=BUTTON_SECONDARY aria-label=rotate_label>
                        "Rotate"
                    </button>
                </ActionForm>
                <Confirm label="Delete">
                    <ActionForm action=remove>
                        <input type="hidden" name="vault_id" value=vault_delete />
                        <input type="hidden" name="path" value=path_delete />
                        <button type="submit" class=BUTTON_DANGER aria-label=delete_label>
                            "Confirm delete"
                        </button>
                    </ActionForm>
                </Confirm>
            </td>
        </tr>
    }
}

/// The "Reveal" button of one secret: fetches the value only when clicked.
#[component]
fn Reveal(vault_id: String, path: String) -> impl IntoView {
    let reveal = ServerAction::<RevealSecret>::new();
    let label = format!("Reveal {path}");
    view! {
        {move || match reveal.value().get() {
            Some(Ok(value)) => {
                view! {
                    <code
                        data-testid="secret-value"
                        class="block max-w-xs overflow-x-auto whitespace-pre rounded bg-slate-100 px-2 py-1 font-mono text-xs"
                    >
                        {value}
                    </code>
                }
                    .into_any()
            }
            Some(Err(error)) => view! { <ErrorNote message=error.to_string() /> }.into_any(),
            None => {
                let (vault_id, path) = (vault_id.clone(), path.clone());
                view! {
                    <button
                        type="button"
                        class=BUTTON_SECONDARY
                        aria-label=label.clone()
                        on:click=move |_| {
                            reveal
                                .dispatch(RevealSecret {
                                    vault_id: vault_id.clone(),
                                    path: path.clone(),
                                });
                        }
                    >
                        "Reveal"
                    </button>
                }
                    .into_any()
            }
        }}
    }
}

/// The "Versions" button of one secret and the list it opens.
#[component]
fn Versions(vault_id: String, path: String) -> impl IntoView {
    let load = ServerAction::<SecretVersions>::new();
    let label = format!("Versions of {path}");
    view! {
        <button
            type="button"
            class=BUTTON_SECONDARY
            aria-label=label
            on:click=move |_| {
                load.dispatch(SecretVersions {
                    vault_id: vault_id.clone(),
                    path: path.clone(),
                });
            }
        >
            "Versions"
        </button>
        {move || {
            load.value()
                .get()
                .map(|result| match result {
                    Ok(versions) => {
                        view! {
                            <ul class="mt-1 space-y-0.5 text-xs text-slate-600" data-testid="versions">
                                {versions
                                    .into_iter()
                                    .map(|v| {
                                        view! {
                                            <li>
                                                {format!(
                                                    "v{} · {} · {}{}",
                                                    v.version,
                                                    v.secret_type,
                                                    v.created_at,
                                                    if v.disabled { " · disabled" } else { "" },
                                                )}
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorNote message=error.to_string() /> }.into_any(),
                })
        }}
    }
}

#[component]
fn PolicySection(
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
                                            class="size-4 rounded border-slate-300 text-indigo-600"
                                        />
                                        {perm}
                                    </label>
                                }
                            })
                            .collect_view()}
                    </div>
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
