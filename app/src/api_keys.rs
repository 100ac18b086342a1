//! API Keys (`/api-keys`): personal `1ck_` keys for scripts and the CLI,
//! with scopes that narrow what the key may do; shown once, revocable.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use talon_api::Scope;

use crate::session::SessionError;
use crate::ui::*;

/// A key as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub active: bool,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// A new key, shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewApiKey {
    pub name: String,
    pub api_key: String,
}

/// The user's keys.
#[server(prefix = "/ui", endpoint = "api-keys/list")]
pub async fn list_api_keys() -> Result<Vec<ApiKeyView>, SessionError> {
    use crate::session::backend::*;
    use talon_core::clock::rfc3339;
    let (core, p, _) = caller().await?;
    let rows = core.list_api_keys(&p).await.map_err(rejected)?;
    Ok(rows
        .into_iter()
        .map(|k| ApiKeyView {
            id: k.id,
            name: k.name,
            prefix: k.key_prefix,
            scopes: if k.scopes.is_empty() {
                "*".to_owned()
            } else {
                k.scopes.join(", ")
            },
            active: k.is_active,
            created_at: rfc3339(k.created_at),
            expires_at: k.expires_at.map(rfc3339),
            last_used_at: k.last_used_at.map(rfc3339),
        })
        .collect())
}

/// Creates a key. Each scope is a form field named after it (a checkbox).
#[server(prefix = "/ui", endpoint = "api-keys/create")]
pub async fn create_api_key(
    name: String,
    expires_at: String,
    scopes: Option<std::collections::BTreeMap<String, String>>,
) -> Result<NewApiKey, SessionError> {
    use crate::session::backend::*;
    form_action::<CreateApiKey, _, _>("/api-keys", |core, p, ctx| async move {
        let scopes: Vec<String> = scopes
            .unwrap_or_default()
            .into_keys()
            .filter(|s| Scope::parse(s).is_ok())
            .collect();
        let expires = crate::vaults::parse_time("Expires", &expires_at)?;
        let created = core
            .create_api_key(&p, name.trim(), scopes, expires, &ctx)
            .await
            .map_err(rejected)?;
        Ok(NewApiKey {
            name: created.key.name,
            api_key: created.api_key.expose_secret().to_owned(),
        })
    })
    .await
}

/// Revokes a key at once.
#[server(prefix = "/ui", endpoint = "api-keys/revoke")]
pub async fn revoke_api_key(key_id: String) -> Result<(), SessionError> {
    use crate::session::backend::*;
    form_action::<RevokeApiKey, _, _>("/api-keys", |core, p, ctx| async move {
        core.revoke_api_key(&p, &key_id, &ctx)
            .await
            .map_err(rejected)
    })
    .await
}

/// `/api-keys`.
#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new(
        move || create.version().get() + revoke.version().get(),
        |_| list_api_keys(),
    );
    view! {
        <div class="mx-auto max-w-5xl">
            <PageHeader
                title="API Keys".to_owned()
                description="Personal keys act as you, within the scopes you choose. Exchange one for a token at POST /v1/auth/api-key-token."
            />
            {move || {
                create
                    .value()
                    .get()
                    .and_then(Result::ok)
                    .map(|key| {
                        view! {
                            <div class="mb-6">
                                <ShowOnce title=format!("API key {}", key.name) value=key.api_key />
                            </div>
                        }
                    })
            }}
            <Card title="Create a key">
                <ActionForm action=create attr:class="grid gap-4 sm:grid-cols-2">
                    <Field label="Key name" name="name" required=true placeholder="ci-deploy" />
                    <Field label="Expires" name="expires_at" kind="datetime-local" hint="UTC; optional." />
                    <fieldset class="sm:col-span-2">
                        <legend class=LABEL>"Scopes (none = everything you may do)"</legend>
                        <div class="mt-2 grid grid-cols-2 gap-2 text-sm sm:grid-cols-4">
                            {Scope::ALL
                                .iter()
                                .map(|scope| scope.as_str())
                                .map(|scope| {
                                    view! {
                                        <label class="flex items-center gap-2 font-mono text-xs">
                                            <input
                                                type="checkbox"
                                                name=format!("scopes[{scope}]")
                                                value="on"
                                                class="size-4 rounded border-slate-300 text-indigo-600"
                                            />
                                            {scope}
                                        </label>
                                    }
                                })
                                .collect_view()}
                        </div>
                    </fieldset>
                    <div class="sm:col-span-2">
                        <button type="submit" class=BUTTON prop:disabled=create.pending()>
                            "Create key"
                        </button>
                    </div>
                </ActionForm>
                <div class="mt-3">{action_error(create)}</div>
            </Card>
            <Card title="Your keys">
                <div class="mb-3">{action_error(revoke)}</div>
                <Suspense fallback=loading>
                    {move || Suspend::new(async move {
                        match keys.await {
                            Ok(list) if list.is_empty() => {
                                view! {
                                    <EmptyState message="No API keys yet. Create one above for a script or the CLI." />
                                }
                                    .into_any()
                            }
                            Ok(list) => view! { <KeyTable keys=list revoke /> }.into_any(),
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
fn KeyTable(keys: Vec<ApiKeyView>, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    view! {
        <div class="overflow-x-auto">
            <table class=TABLE>
                <thead>
                    <tr>
                        <th class=TH scope="col">"Name"</th>
                        <th class=TH scope="col">"Key"</th>
                        <th class=TH scope="col">"Scopes"</th>
                        <th class=TH scope="col">"Status"</th>
                        <th class=TH scope="col">"Last used"</th>
                        <th class=TH scope="col">"Expires"</th>
                        <th class=TH scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {keys
                        .into_iter()
                        .map(|k| {
                            view! {
                                <tr data-testid="api-key-row">
                                    <td class=TD>{k.name.clone()}</td>
                                    <td class=format!("{TD} font-mono text-xs")>{k.prefix} "…"</td>
                                    <td class=format!("{TD} font-mono text-xs")>{k.scopes}</td>
                                    <td class=TD>
                                        {badge(if k.active { "active" } else { "revoked" }.to_owned())}
                                    </td>
                                    <td class=TD>{k.last_used_at.unwrap_or_else(|| "never".to_owned())}</td>
                                    <td class=TD>{k.expires_at.unwrap_or_else(|| "never".to_owned())}</td>
                                    <td class=TD>
                                        {k
                                            .active
                                            .then(|| {
                                                view! {
                                                    <Confirm label="Revoke">
                                                        <ActionForm action=revoke>
                                                            <input type="hidden" name="key_id" value=k.id.clone() />
                                                            <button type="submit" class=BUTTON_DANGER>
                                                                "Confirm revoke"
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
