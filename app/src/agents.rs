//! Agents (`/agents`): register an agent and show its `ocv_` key once, with an
//! MCP configuration ready to paste; activate, deactivate, rotate the key,
//! delete. Each agent's name links to its page ([`crate::agent_detail`]).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::session::SessionError;
use crate::ui::*;

/// An agent as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub scopes: String,
    pub vaults: String,
    pub active: bool,
    pub key_prefix: String,
    pub created_at: String,
    pub last_active_at: Option<String>,
}

/// A freshly issued key, shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedKey {
    pub agent_id: String,
    pub agent_name: String,
    pub api_key: String,
    pub base_url: String,
}

#[cfg(feature = "ssr")]
pub(crate) fn view_of(a: &talon_core::model::Agent) -> AgentView {
    use talon_core::clock::rfc3339;
    AgentView {
        id: a.id.clone(),
        name: a.name.clone(),
        description: a.description.clone(),
        scopes: if a.scopes.is_empty() {
            "*".to_owned()
        } else {
            a.scopes.join(", ")
        },
        vaults: if a.vault_ids.is_empty() {
            "all vaults".to_owned()
        } else {
            a.vault_ids.join(", ")
        },
        active: a.is_active,
        key_prefix: a.api_key_prefix.clone(),
        created_at: rfc3339(a.created_at),
        last_active_at: a.last_active_at.map(rfc3339),
    }
}

#[cfg(feature = "ssr")]
fn issued(core: &talon_core::Core, created: talon_core::AgentCreated) -> IssuedKey {
    IssuedKey {
        agent_id: created.agent.id.clone(),
        agent_name: created.agent.name.clone(),
        api_key: created.api_key.expose_secret().to_owned(),
        base_url: core.config().public_url.clone(),
    }
}

/// The org's agents.
#[server(prefix = "/ui", endpoint = "agents/list")]
pub async fn list_agents() -> Result<Vec<AgentView>, SessionError> {
    use crate::session::backend::*;
    let (core, p, _) = caller().await?;
    let rows = core.list_agents(&p).await.map_err(rejected)?;
    Ok(rows.iter().map(view_of).collect())
}

/// Registers an agent; the answer carries its API key, which is never shown again.
#[server(prefix = "/ui", endpoint = "agents/create")]
pub async fn register_agent(
    name: String,
    description: String,
    scopes: String,
    vault_id: String,
) -> Result<IssuedKey, SessionError> {
    use crate::session::backend::*;
    form_action::<RegisterAgent, _, _>("/agents", |core, p, ctx| async move {
        let scopes: Vec<String> = form_list(&scopes);
        let input = talon_core::CreateAgent {
            name: name.trim().to_owned(),
            description: Some(description.trim().to_owned()).filter(|d| !d.is_empty()),
            auth_method: None,
            scopes: (!scopes.is_empty()).then_some(scopes),
            vault_ids: (!vault_id.is_empty()).then(|| vec![vault_id.clone()]),
            token_ttl_seconds: None,
            expires_at: None,
            api_key_expires_at: None,
            environment: None,
        };
        let created = core.create_agent(&p, input, &ctx).await.map_err(rejected)?;
        Ok(issued(&core, created))
    })
    .await
}

/// Activates or deactivates an agent (a deactivated agent's tokens stop working).
#[server(prefix = "/ui", endpoint = "agents/active")]
pub async fn set_agent_active(agent_id: String, active: String) -> Result<(), SessionError> {
    use crate::session::backend::*;
    form_action::<SetAgentActive, _, _>("/agents", |core, p, ctx| async move {
        let patch = talon_core::PatchAgent {
            is_active: Some(active == "true"),
            ..Default::default()
        };
        core.update_agent(&p, &agent_id, patch, &ctx)
            .await
            .map(|_| ())
            .map_err(rejected)
    })
    .await
}

/// Issues a new key for an agent; the old one stops working at once.
#[server(prefix = "/ui", endpoint = "agents/rotate")]
pub async fn rotate_agent_key(agent_id: String) -> Result<IssuedKey, SessionError> {
    use crate::session::backend::*;
    form_action::<RotateAgentKey, _, _>("/agents", |core, p, ctx| async move {
        let created = core
            .rotate_agent_key(&p, &agent_id, &ctx)
            .await
            .map_err(rejected)?;
        Ok(issued(&core, created))
    })
    .await
}

/// Deletes an agent and its policies.
#[server(prefix = "/ui", endpoint = "agents/delete")]
pub async fn delete_agent(agent_id: String) -> Result<(), SessionError> {
    use crate::session::backend::*;
    form_action::<DeleteAgent, _, _>("/agents", |core, p, ctx| async move {
        core.delete_agent(&p, &agent_id, &ctx)
            .await
            .map_err(rejected)
    })
    .await
}

/// The MCP client configuration (Claude Desktop, Cursor) for an agent key.
pub fn mcp_config(key: &IssuedKey) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "mcpServers": {
            "talon": {
                "command": "talon",
                "args": ["mcp"],
                "env": {
                    "ONECLAW_BASE_URL": key.base_url,
                    "ONECLAW_AGENT_ID": key.agent_id,
                    "ONECLAW_AGENT_API_KEY": key.api_key,
                }
            }
        }
    }))
    .unwrap_or_default()
}

/// `/agents`.
#[component]
pub fn AgentsPage() -> impl IntoView {
    let register = ServerAction::<RegisterAgent>::new();
    let toggle = ServerAction::<SetAgentActive>::new();
    let rotate = ServerAction::<RotateAgentKey>::new();
    let remove = ServerAction::<DeleteAgent>::new();
    let agents = Resource::new(
        move || {
            register.version().get()
                + toggle.version().get()
                + rotate.version().get()
                + remove.version().get()
        },
        |_| list_agents(),
    );
    let vaults = Resource::new(|| (), |_| crate::vaults::list_vaults());
    // The key of the latest registration or rotation, shown until the next one.
    let fresh = RwSignal::new(None::<IssuedKey>);
    Effect::new(move |_| {
        if let Some(Ok(key)) = register.value().get() {
            fresh.set(Some(key));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(key)) = rotate.value().get() {
            fresh.set(Some(key));
        }
    });
    let fresh_key = move || fresh.get();
    view! {
        <div class="mx-auto max-w-6xl">
            <PageHeader
                title="Agents".to_owned()
                description="An agent exchanges its ocv_ key for a short-lived token and reads only what its policies allow."
            />
            {move || fresh_key().map(|key| view! { <FreshKey key /> })}
            <Card title="Register an agent">
                <ActionForm action=register attr:class="grid gap-4 sm:grid-cols-2">
                    <Field label="Agent name" name="name" required=true placeholder="deploy-bot" />
                    <Field label="Description" name="description" placeholder="Optional" />
                    <Field
                        label="Scopes"
                        name="scopes"
                        placeholder="api-keys/**"
                        hint="Optional path patterns that cap what policies can grant."
                    />
                    <div>
                        <label for="field-vault_id" class=LABEL>
                            "Vault"
                        </label>
                        <select id="field-vault_id" name="vault_id" class=INPUT>
                            <option value="">"All vaults"</option>
                            <Suspense>
                                {move || Suspend::new(async move {
                                    vaults
                                        .await
                                        .unwrap_or_default()
                                        .into_iter()
                                        .map(|v| view! { <option value=v.id>{v.name}</option> })
                                        .collect_view()
                                })}
                            </Suspense>
                        </select>
                    </div>
                    <div class="sm:col-span-2">
                        <button type="submit" class=BUTTON prop:disabled=register.pending()>
                            "Register agent"
                        </button>
                    </div>
                </ActionForm>
                <div class="mt-3">{action_error(register)}</div>
            </Card>
            <Card title="Your agents">
                <div class="mb-3 space-y-2">
                    {action_error(toggle)} {action_error(rotate)} {action_error(remove)}
                </div>
                <Suspense fallback=loading>
                    {move || Suspend::new(async move {
                        match agents.await {
                            Ok(list) if list.is_empty() => {
                                view! {
                                    <EmptyState message="No agents yet. Register one above, then grant it a policy on a vault." />
                                }
                                    .into_any()
                            }
                            Ok(list) => view! { <AgentTable agents=list toggle rotate remove /> }.into_any(),
                            Err(error) => view! { <ErrorNote message=error.to_string() /> }.into_any(),
                        }
                    })}
                </Suspense>
            </Card>
        </div>
    }
    .into_any()
}

/// The key of the latest registration or rotation, with the MCP
/// configuration that uses it.
#[component]
fn FreshKey(key: IssuedKey) -> impl IntoView {
    let config = mcp_config(&key);
    view! {
        <div class="mb-6 space-y-3">
            <ShowOnce title=format!("API key for {}", key.agent_name) value=key.api_key.clone() />
            <div class="rounded-lg bg-white p-4 ring-1 ring-slate-200">
                <p class="text-sm font-semibold text-slate-900">
                    "MCP configuration (Claude Desktop, Cursor)"
                </p>
                <pre
                    data-testid="mcp-config"
                    class="mt-2 overflow-x-auto rounded bg-slate-900 p-3 font-mono text-xs text-slate-100"
                >
                    {config}
                </pre>
            </div>
        </div>
    }
    .into_any()
}

#[component]
fn AgentTable(
    agents: Vec<AgentView>,
    toggle: ServerAction<SetAgentActive>,
    rotate: ServerAction<RotateAgentKey>,
    remove: ServerAction<DeleteAgent>,
) -> impl IntoView {
    view! {
        <div class="overflow-x-auto">
            <table class=TABLE>
                <thead>
                    <tr>
                        <th class=TH scope="col">"Name"</th>
                        <th class=TH scope="col">"Status"</th>
                        <th class=TH scope="col">"Key"</th>
                        <th class=TH scope="col">"Scopes"</th>
                        <th class=TH scope="col">"Vaults"</th>
                        <th class=TH scope="col">"Last active"</th>
                        <th class=TH scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {agents
                        .into_iter()
                        .map(|a| {
                            let status = if a.active { "active" } else { "inactive" };
                            let toggle_label = format!(
                                "{} {}",
                                if a.active { "Deactivate" } else { "Activate" },
                                a.name,
                            );
                            let rotate_label = format!("Rotate key of {}", a.name);
                            let (id_toggle, id_rotate, id_delete) = (a.id.clone(), a.id.clone(), a.id.clone());
                            view! {
                                <tr data-testid="agent-row" data-name=a.name.clone()>
                                    <td class=TD>
                                        <a
                                            href=format!("/agents/{}", a.id)
                                            class="font-medium text-indigo-700 hover:underline"
                                        >
                                            {a.name.clone()}
                                        </a>
                                        <p class="font-mono text-xs text-slate-500">{a.id.clone()}</p>
                                    </td>
                                    <td class=TD>{badge(status.to_owned())}</td>
                                    <td class=format!("{TD} font-mono text-xs")>{a.key_prefix.clone()} "…"</td>
                                    <td class=format!("{TD} font-mono text-xs")>{a.scopes.clone()}</td>
                                    <td class=format!("{TD} text-xs")>{a.vaults.clone()}</td>
                                    <td class=TD>{a.last_active_at.clone().unwrap_or_else(|| "never".to_owned())}</td>
                                    <td class=format!("{TD} flex flex-wrap items-start gap-2")>
                                        <ActionForm action=toggle>
                                            <input type="hidden" name="agent_id" value=id_toggle />
                                            <input
                                                type="hidden"
                                                name="active"
                                                value=if a.active { "false" } else { "true" }
                                            />
                                            <button
                                                type="submit"
                                                class=BUTTON_SECONDARY
                                                aria-label=toggle_label
                                            >
                                                {if a.active { "Deactivate" } else { "Activate" }}
                                            </button>
                                        </ActionForm>
                                        <ActionForm action=rotate>
                                            <input type="hidden" name="agent_id" value=id_rotate />
                                            <button
                                                type="submit"
                                                class=BUTTON_SECONDARY
                                                aria-label=rotate_label
                                            >
                                                "Rotate key"
                                            </button>
                                        </ActionForm>
                                        <Confirm label="Delete">
                                            <ActionForm action=remove>
                                                <input type="hidden" name="agent_id" value=id_delete />
                                                <button type="submit" class=BUTTON_DANGER>
                                                    "Confirm delete"
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
}
