//! A vault's environment variables: one table with a row per key (and branch) and a column
//! per environment; values are fetched only when a cell's "Reveal" is clicked.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::session::SessionError;
use crate::ui::*;

/// One variable as a cell of the table shows it (never its value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvCell {
    pub version: i64,
    pub sensitive: bool,
    /// How many environments share this value.
    pub shared_with: usize,
}

/// One key (for one branch) across the vault's environments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvRow {
    pub key: String,
    /// Empty for the vault-wide value.
    pub branch: String,
    /// One entry per environment of [`EnvTable::environments`].
    pub cells: Vec<Option<EnvCell>>,
}

/// The environment-variables table of a vault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvTable {
    pub environments: Vec<String>,
    pub rows: Vec<EnvRow>,
}

#[cfg(feature = "ssr")]
fn opt(s: String) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The vault's environments and variables (metadata only).
#[server(prefix = "/ui", endpoint = "env-vars/table")]
pub async fn env_var_table(vault_id: String) -> Result<EnvTable, SessionError> {
    use crate::session::backend::*;
    let (core, p, ctx) = caller().await?;
    let environments: Vec<String> = core
        .list_environments(&p, &vault_id)
        .await
        .map_err(rejected)?
        .into_iter()
        .map(|e| e.slug)
        .collect();
    let vars = core
        .list_env_vars(&p, &vault_id, None, false, &ctx)
        .await
        .map_err(rejected)?;
    let mut rows: Vec<EnvRow> = Vec::new();
    for view in vars {
        let v = view.var;
        let at = match rows
            .iter()
            .position(|r| r.key == v.key && r.branch == v.git_branch)
        {
            Some(i) => i,
            None => {
                rows.push(EnvRow {
                    key: v.key.clone(),
                    branch: v.git_branch.clone(),
                    cells: vec![None; environments.len()],
                });
                rows.len() - 1
            }
        };
        for (i, env) in environments.iter().enumerate() {
            if v.environments.contains(env) {
                rows[at].cells[i] = Some(EnvCell {
                    version: v.version,
                    sensitive: v.sensitive,
                    shared_with: v.environments.len(),
                });
            }
        }
    }
    Ok(EnvTable { environments, rows })
}

/// Adds a variable to the environments listed (comma-separated).
#[server(prefix = "/ui", endpoint = "env-vars/add")]
pub async fn add_env_var(
    vault_id: String,
    key: String,
    value: talon_api::SecretValueInput,
    environments: String,
    git_branch: String,
    sensitive: Option<String>,
) -> Result<String, SessionError> {
    use crate::session::backend::*;
    let page = format!("/vaults/{vault_id}?tab=env");
    form_action::<AddEnvVar, _, _>(&page, |core, p, ctx| async move {
        let environments: Vec<String> = form_list(&environments);
        let input = talon_core::service::CreateEnvVar {
            key: key.trim().to_owned(),
            value: value.into_secret_value(),
            environments: Some(environments),
            git_branch: opt(git_branch),
            sensitive: Some(sensitive.is_some()),
            comment: None,
        };
        let var = core
            .create_env_var(&p, &vault_id, input, &ctx)
            .await
            .map_err(rejected)?;
        Ok(var.key)
    })
    .await
}

/// Sets a new value (a new version) of the variable a cell shows.
#[server(prefix = "/ui", endpoint = "env-vars/edit")]
pub async fn edit_env_var(
    vault_id: String,
    key: String,
    environment: String,
    git_branch: String,
    value: talon_api::SecretValueInput,
) -> Result<i64, SessionError> {
    use crate::session::backend::*;
    let page = format!("/vaults/{vault_id}?tab=env");
    form_action::<EditEnvVar, _, _>(&page, |core, p, ctx| async move {
        let sel = talon_core::service::EnvVarSelector {
            environment: Some(environment),
            git_branch: opt(git_branch),
        };
        let patch = talon_core::service::UpdateEnvVar {
            value: Some(value.into_secret_value()),
            ..Default::default()
        };
        let var = core
            .update_env_var(&p, &vault_id, &key, &sel, patch, &ctx)
            .await
            .map_err(rejected)?;
        Ok(var.version)
    })
    .await
}

/// Removes the variable from one environment (the variable goes when it was its last).
#[server(prefix = "/ui", endpoint = "env-vars/delete")]
pub async fn delete_env_var(
    vault_id: String,
    key: String,
    environment: String,
    git_branch: String,
) -> Result<(), SessionError> {
    use crate::session::backend::*;
    let page = format!("/vaults/{vault_id}?tab=env");
    form_action::<DeleteEnvVar, _, _>(&page, |core, p, ctx| async move {
        let sel = talon_core::service::EnvVarSelector {
            environment: Some(environment),
            git_branch: opt(git_branch),
        };
        core.delete_env_var(&p, &vault_id, &key, &sel, &ctx)
            .await
            .map_err(rejected)
    })
    .await
}

/// Decrypts one cell's value: only on an explicit click, audited like any read.
#[server(prefix = "/ui", endpoint = "env-vars/reveal")]
pub async fn reveal_env_var(
    vault_id: String,
    key: String,
    environment: String,
    git_branch: String,
) -> Result<String, SessionError> {
    use crate::session::backend::*;
    let (core, p, ctx) = caller().await?;
    let sel = talon_core::service::EnvVarSelector {
        environment: Some(environment),
        git_branch: opt(git_branch),
    };
    let view = core
        .get_env_var(&p, &vault_id, &key, &sel, &ctx)
        .await
        .map_err(rejected)?;
    Ok(view
        .value
        .map(|v| v.expose_secret().to_owned())
        .unwrap_or_default())
}

/// The "Environment variables" tab of a vault's page.
#[component]
pub fn EnvVarsSection(vault_id: String) -> impl IntoView {
    let add = ServerAction::<AddEnvVar>::new();
    let edit = ServerAction::<EditEnvVar>::new();
    let remove = ServerAction::<DeleteEnvVar>::new();
    let id = vault_id.clone();
    let table = Resource::new(
        move || add.version().get() + edit.version().get() + remove.version().get(),
        move |_| env_var_table(id.clone()),
    );
    let form_vault = vault_id.clone();
    view! {
        <Card title="Add an environment variable">
            <ActionForm action=add attr:class="grid gap-4 sm:grid-cols-2">
                <input type="hidden" name="vault_id" value=form_vault />
                <Field label="Key" name="key" required=true placeholder="DATABASE_URL" id="env-key" />
                <Field
                    label="Environments"
                    name="environments"
                    value="production, preview, development"
                    hint="Comma-separated; one value shared by all of them."
                    id="env-environments"
                />
                <div class="sm:col-span-2">
                    <label for="env-value" class=LABEL>
                        "Variable value"
                    </label>
                    <textarea
                        id="env-value"
                        name="value"
                        required
                        rows="1"
                        autocomplete="off"
                        spellcheck="false"
                        class=format!("{INPUT} font-mono")
                    ></textarea>
                </div>
                <Field
                    label="Git branch"
                    name="git_branch"
                    placeholder="Optional: override for one branch"
                    id="env-branch"
                />
                <div class="flex items-center gap-2 pt-6">
                    <input id="env-sensitive" type="checkbox" name="sensitive" value="on" />
                    <label for="env-sensitive" class=LABEL>
                        "Sensitive (left out of lists)"
                    </label>
                </div>
                <div class="sm:col-span-2 flex items-center gap-3">
                    <button type="submit" class=BUTTON prop:disabled=add.pending()>
                        "Save variable"
                    </button>
                    {move || {
                        add.value()
                            .get()
                            .and_then(Result::ok)
                            .map(|key| view! { <SuccessNote message=format!("Saved {key}") /> })
                    }}
                </div>
            </ActionForm>
            <div class="mt-3">{action_error(add)}</div>
        </Card>
        <Card title="Environment variables">
            <div class="mb-3 space-y-2">{action_error(edit)} {action_error(remove)}</div>
            <Suspense fallback=loading>
                {move || {
                    let vault_id = vault_id.clone();
                    Suspend::new(async move {
                        match table.await {
                            Ok(t) if t.rows.is_empty() => {
                                view! {
                                    <EmptyState message="No environment variables in this vault yet." />
                                }
                                    .into_any()
                            }
                            Ok(t) => view! { <EnvGrid vault_id table=t edit remove /> }.into_any(),
                            Err(error) => view! { <ErrorNote message=error.to_string() /> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </Card>
    }
}

#[component]
fn EnvGrid(
    vault_id: String,
    table: EnvTable,
    edit: ServerAction<EditEnvVar>,
    remove: ServerAction<DeleteEnvVar>,
) -> impl IntoView {
    let EnvTable { environments, rows } = table;
    let heads = environments.clone();
    view! {
        <div class="overflow-x-auto">
            <table class=TABLE data-testid="env-vars">
                <thead>
                    <tr>
                        <th class=TH scope="col">"Key"</th>
                        {heads
                            .into_iter()
                            .map(|e| view! { <th class=TH scope="col">{e}</th> })
                            .collect_view()}
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {rows
                        .into_iter()
                        .map(|row| {
                            let label = if row.branch.is_empty() {
                                row.key.clone()
                            } else {
                                format!("{} ({})", row.key, row.branch)
                            };
                            let cells = environments
                                .iter()
                                .zip(row.cells)
                                .map(|(env, cell)| {
                                    view! {
                                        <EnvCellView
                                            vault_id=vault_id.clone()
                                            key=row.key.clone()
                                            branch=row.branch.clone()
                                            environment=env.clone()
                                            cell
                                            edit
                                            remove
                                        />
                                    }
                                })
                                .collect_view();
                            view! {
                                <tr data-testid="env-row" data-key=row.key.clone()>
                                    <th scope="row" class=format!("{TD} font-mono font-medium")>
                                        {label}
                                    </th>
                                    {cells}
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn EnvCellView(
    vault_id: String,
    key: String,
    branch: String,
    environment: String,
    cell: Option<EnvCell>,
    edit: ServerAction<EditEnvVar>,
    remove: ServerAction<DeleteEnvVar>,
) -> impl IntoView {
    let Some(cell) = cell else {
        return view! {
            <td class=format!("{TD} text-slate-400") data-environment=environment>
                "—"
            </td>
        }
        .into_any();
    };
    let reveal = ServerAction::<RevealEnvVar>::new();
    let what = format!("{key} in {environment}");
    let shared = if cell.shared_with > 1 {
        format!(" · shared by {}", cell.shared_with)
    } else {
        String::new()
    };
    let meta = format!(
        "v{}{}{}",
        cell.version,
        if cell.sensitive { " · sensitive" } else { "" },
        shared
    );
    let (v1, k1, b1, e1) = (
        vault_id.clone(),
        key.clone(),
        branch.clone(),
        environment.clone(),
    );
    let (v2, k2, b2, e2) = (
        vault_id.clone(),
        key.clone(),
        branch.clone(),
        environment.clone(),
    );
    let reveal_label = format!("Reveal {what}");
    let edit_label = format!("Save {what}");
    let delete_label = format!("Confirm delete {what}");
    let value_id = format!("env-edit-{key}-{environment}-{branch}");
    let env_attr = environment.clone();
    view! {
        <td class=format!("{TD} space-y-1") data-environment=env_attr>
            <p class="text-xs text-slate-500">{meta}</p>
            {move || match reveal.value().get() {
                Some(Ok(value)) => {
                    view! {
                        <code
                            data-testid="env-value"
                            class="block max-w-xs overflow-x-auto whitespace-pre rounded bg-slate-100 px-2 py-1 font-mono text-xs"
                        >
                            {value}
                        </code>
                    }
                        .into_any()
                }
                Some(Err(error)) => view! { <ErrorNote message=error.to_string() /> }.into_any(),
                None => {
                    let (vault_id, key, environment, branch) = (
                        vault_id.clone(),
                        key.clone(),
                        environment.clone(),
                        branch.clone(),
                    );
                    view! {
                        <button
                            type="button"
                            class=BUTTON_SECONDARY
                            aria-label=reveal_label.clone()
                            on:click=move |_| {
                                reveal
                                    .dispatch(RevealEnvVar {
                                        vault_id: vault_id.clone(),
                                        key: key.clone(),
                                        environment: environment.clone(),
                                        git_branch: branch.clone(),
                                    });
                            }
                        >
                            "Reveal"
                        </button>
                    }
                        .into_any()
                }
            }}
            <details>
                <summary class="cursor-pointer text-sm text-indigo-700">"Edit"</summary>
                <ActionForm action=edit attr:class="mt-1 flex items-end gap-1">
                    <input type="hidden" name="vault_id" value=v1 />
                    <input type="hidden" name="key" value=k1 />
                    <input type="hidden" name="environment" value=e1 />
                    <input type="hidden" name="git_branch" value=b1 />
                    <label for=value_id.clone() class="sr-only">
                        {format!("New value of {what}")}
                    </label>
                    <input
                        id=value_id
                        name="value"
                        required
                        autocomplete="off"
                        class=format!("{INPUT} font-mono")
                    />
                    <button type="submit" class=BUTTON_SECONDARY aria-label=edit_label>
                        "Save"
                    </button>
                </ActionForm>
            </details>
            <Confirm label="Delete">
                <ActionForm action=remove>
                    <input type="hidden" name="vault_id" value=v2 />
                    <input type="hidden" name="key" value=k2 />
                    <input type="hidden" name="environment" value=e2 />
                    <input type="hidden" name="git_branch" value=b2 />
                    <button type="submit" class=BUTTON_DANGER aria-label=delete_label>
                        "Confirm delete"
                    </button>
                </ActionForm>
            </Confirm>
        </td>
    }
    .into_any()
}
