//! A vault's secrets: the form that stores one, the table of them, and each
//! row's reveal, rotate and delete.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::Versions;
#[cfg(feature = "ssr")]
use super::{parse_count, parse_time};
use crate::session::SessionError;
use crate::ui::*;

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

/// A stored version as the secrets table shows it.
#[cfg(feature = "ssr")]
pub(super) fn secret_view(s: &talon_core::model::SecretVersion) -> SecretView {
    use talon_core::clock::rfc3339;
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

#[cfg(feature = "ssr")]
pub(super) fn secret_path(raw: &str) -> Result<talon_core::secret_path::SecretPath, SessionError> {
    talon_core::secret_path::SecretPath::parse(raw.trim())
        .map_err(crate::session::backend::rejected)
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
        Ok(secret_view(&row))
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
        Ok(secret_view(&row))
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

#[component]
pub(super) fn SecretForm(vault_id: String, action: ServerAction<PutSecret>) -> impl IntoView {
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

/// The "Secrets" card of a vault's page: the rotate and delete errors above
/// the table of secrets.
#[component]
pub(super) fn SecretSection(
    vault_id: String,
    secrets: Vec<SecretView>,
    rotate: ServerAction<RotateSecret>,
    remove: ServerAction<DeleteSecret>,
) -> impl IntoView {
    view! {
        <Card title="Secrets">
            <div class="mb-3 space-y-2">{action_error(rotate)} {action_error(remove)}</div>
            <SecretTable vault_id secrets rotate remove />
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
    .into_any()
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
    .into_any()
}
