//! One agent's page (`/agents/{id}`): what the agent is and may reach, its
//! bindings (the upstreams Talon calls on its behalf, injecting a credential the
//! agent never sees) with test, activate, rotate-credential and delete, a form
//! for a new binding, and the agent's latest executions.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use crate::agents::AgentView;
use crate::session::SessionError;
use crate::ui::*;

/// A binding as the page lists it: where it goes and where its credential
/// comes from, never the credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BindingView {
    pub id: String,
    pub name: String,
    pub binding_type: String,
    pub base_url: String,
    /// Where the credential goes in each request (`Authorization: Bearer`, `header X-Api-Key`, …).
    pub placement: String,
    /// `vault: <vault name>/<path>`, `inline`, or `none`.
    pub credential: String,
    pub active: bool,
    pub allowed_methods: String,
    pub allowed_paths: String,
    pub max_requests_per_minute: String,
}

/// One execution through a binding, as the history table shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionView {
    pub at: String,
    pub binding: String,
    pub method: String,
    pub host: String,
    pub path: String,
    pub status: String,
    pub http_status: String,
    pub duration_ms: i64,
    pub redactions: i64,
    pub error: String,
}

/// A vault a binding's credential can point to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultOption {
    pub id: String,
    pub name: String,
}

/// Everything the agent's page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentPageData {
    pub agent: AgentView,
    pub bindings: Vec<BindingView>,
    pub executions: Vec<ExecutionView>,
    pub vaults: Vec<VaultOption>,
    /// Whether the caller (an owner or admin) manages bindings.
    pub can_manage: bool,
}

/// How a binding's connectivity test went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BindingTestView {
    pub name: String,
    pub success: bool,
    pub latency_ms: i64,
    pub error: String,
}

/// Where a binding's normalised `config.auth` puts the credential, for people.
#[cfg(feature = "ssr")]
fn placement(config: &serde_json::Value) -> String {
    let auth = &config["auth"];
    let name = auth["name"].as_str().unwrap_or_default();
    match auth["type"].as_str().unwrap_or_default() {
        "bearer" => "Authorization: Bearer".to_owned(),
        "basic" => "Authorization: Basic".to_owned(),
        "header" => format!("header {name}"),
        "query" => format!("query parameter {name}"),
        other => other.to_owned(),
    }
}

/// A guardrail list (`allowed_methods`, `allowed_paths`) joined for the table.
#[cfg(feature = "ssr")]
fn joined(v: &serde_json::Value) -> String {
    v.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(serde_json::Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

#[cfg(feature = "ssr")]
fn binding_view(b: &talon_core::model::Binding, vaults: &[VaultOption]) -> BindingView {
    use talon_core::model::CredentialSource;
    let credential = match &b.credential {
        CredentialSource::None => "none".to_owned(),
        CredentialSource::Inline => "inline".to_owned(),
        CredentialSource::VaultRef { vault_id, path } => {
            let vault = vaults
                .iter()
                .find(|v| &v.id == vault_id)
                .map_or(vault_id.as_str(), |v| v.name.as_str());
            format!("vault: {vault}/{path}")
        }
    };
    let per_minute = match b.guardrails["max_requests_per_minute"].as_u64() {
        Some(0) => "no limit".to_owned(),
        Some(n) => format!("{n} per minute"),
        None => String::new(),
    };
    BindingView {
        id: b.id.clone(),
        name: b.name.clone(),
        binding_type: b.binding_type.clone(),
        base_url: b.config["base_url"].as_str().unwrap_or_default().to_owned(),
        placement: placement(&b.config),
        credential,
        active: b.is_active,
        allowed_methods: joined(&b.guardrails["allowed_methods"]),
        allowed_paths: joined(&b.guardrails["allowed_paths"]),
        max_requests_per_minute: per_minute,
    }
}

#[cfg(feature = "ssr")]
fn execution_view(e: &talon_core::model::Execution) -> ExecutionView {
    ExecutionView {
        at: talon_core::clock::rfc3339(e.created_at),
        binding: e.binding_name.clone(),
        method: e.method.clone(),
        host: e.host.clone(),
        path: e.path.clone(),
        status: e.status.clone(),
        http_status: e.http_status.map(|s| s.to_string()).unwrap_or_default(),
        duration_ms: e.duration_ms,
        redactions: e.redactions,
        error: e.error.clone().unwrap_or_default(),
    }
}

/// An inline credential typed into a form, checked as the REST door checks one
/// (non-empty, no control characters).
#[cfg(feature = "ssr")]
fn inline_credential(
    input: talon_api::SecretValueInput,
) -> Result<talon_core::material::SecretValue, SessionError> {
    let typed = input.into_secret_value();
    talon_core::binding_config::credential_text(&serde_json::Value::String(
        typed.expose_secret().to_owned(),
    ))
    .map(talon_core::material::SecretValue::new)
    .ok_or_else(|| {
        SessionError::Rejected(
            "Credential: type a non-empty value without control characters".to_owned(),
        )
    })
}

/// The agent, its bindings, its latest executions and the vaults a binding can
/// point to.
#[server(prefix = "/ui", endpoint = "agents/page")]
pub async fn agent_page(agent_id: String) -> Result<AgentPageData, SessionError> {
    use crate::session::backend::*;
    let (core, p, _) = caller().await?;
    let agent = core.get_agent(&p, &agent_id).await.map_err(rejected)?;
    let vaults: Vec<VaultOption> = core
        .list_vaults(&p)
        .await
        .map_err(rejected)?
        .into_iter()
        .map(|v| VaultOption {
            id: v.id,
            name: v.name,
        })
        .collect();
    let bindings = core
        .list_bindings(&p, &agent.id)
        .await
        .map_err(rejected)?
        .iter()
        .map(|b| binding_view(b, &vaults))
        .collect();
    let executions = core
        .list_executions(&p, &agent.id, Some(20), None)
        .await
        .map_err(rejected)?
        .iter()
        .map(execution_view)
        .collect();
    let mut view = crate::agents::view_of(&agent);
    if !agent.vault_ids.is_empty() {
        view.vaults = agent
            .vault_ids
            .iter()
            .map(|id| {
                vaults
                    .iter()
                    .find(|v| &v.id == id)
                    .map_or(id.clone(), |v| v.name.clone())
            })
            .collect::<Vec<_>>()
            .join(", ");
    }
    let can_manage = matches!(&p, talon_core::Principal::User { role, .. } if role.is_org_admin());
    Ok(AgentPageData {
        agent: view,
        bindings,
        executions,
        vaults,
        can_manage,
    })
}

/// The fields of the new-binding form. `credential_source` is `vault_ref` (the
/// secret `secret_path` of `vault_id`), `inline` (`inline_value`, stored sealed)
/// or `none`; `allowed_methods` and `allowed_paths` are comma-separated, empty
/// for the defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BindingForm {
    pub name: String,
    pub binding_type: String,
    pub base_url: String,
    pub auth_type: String,
    pub auth_name: String,
    pub credential_source: String,
    pub vault_id: String,
    pub secret_path: String,
    pub inline_value: talon_api::SecretValueInput,
    pub allowed_methods: String,
    pub allowed_paths: String,
    pub max_requests_per_minute: String,
}

#[cfg(feature = "ssr")]
impl BindingForm {
    /// The core's input: the configuration and guardrails objects the core checks
    /// (`talon_core::binding_config`), and the credential.
    fn into_input(self) -> Result<talon_core::service::CreateBinding, SessionError> {
        use serde_json::{json, Map, Value};
        use talon_core::service::CredentialInput;
        let mut auth = json!({ "type": self.auth_type });
        if matches!(self.auth_type.as_str(), "header" | "query") {
            auth["name"] = json!(self.auth_name.trim());
        }
        let config = json!({ "base_url": self.base_url.trim(), "auth": auth });
        let mut guardrails = Map::new();
        let methods = form_list(&self.allowed_methods);
        if !methods.is_empty() {
            guardrails.insert("allowed_methods".to_owned(), json!(methods));
        }
        let paths = form_list(&self.allowed_paths);
        if !paths.is_empty() {
            guardrails.insert("allowed_paths".to_owned(), json!(paths));
        }
        let per_minute = &self.max_requests_per_minute;
        if let Some(n) = crate::vaults::parse_count("Max requests per minute", per_minute)? {
            guardrails.insert("max_requests_per_minute".to_owned(), json!(n));
        }
        let credential = match self.credential_source.as_str() {
            "vault_ref" => Some(CredentialInput::VaultRef {
                vault_id: self.vault_id,
                path: self.secret_path.trim().to_owned(),
            }),
            "inline" => Some(CredentialInput::Inline(inline_credential(
                self.inline_value,
            )?)),
            _ => None,
        };
        Ok(talon_core::service::CreateBinding {
            name: self.name.trim().to_owned(),
            binding_type: self.binding_type,
            config,
            guardrails: (!guardrails.is_empty()).then_some(Value::Object(guardrails)),
            credential,
        })
    }
}

/// Creates a binding for the agent (owners and admins).
#[server(prefix = "/ui", endpoint = "bindings/create")]
pub async fn add_binding(
    agent_id: String,
    #[server(flatten)] binding: BindingForm,
) -> Result<(), SessionError> {
    use crate::session::backend::*;
    let page = format!("/agents/{agent_id}");
    form_action::<AddBinding, _, _>(&page, |core, p, ctx| async move {
        let input = binding.into_input()?;
        core.create_binding(&p, &agent_id, input, &ctx)
            .await
            .map(|_| ())
            .map_err(rejected)
    })
    .await
}

/// Activates or deactivates a binding (a deactivated binding refuses executions at once).
#[server(prefix = "/ui", endpoint = "bindings/active")]
pub async fn set_binding_active(
    agent_id: String,
    binding_id: String,
    active: String,
) -> Result<(), SessionError> {
    use crate::session::backend::*;
    let page = format!("/agents/{agent_id}");
    form_action::<SetBindingActive, _, _>(&page, |core, p, ctx| async move {
        let patch = talon_core::service::PatchBinding {
            is_active: Some(active == "true"),
            ..Default::default()
        };
        core.update_binding(&p, &agent_id, &binding_id, patch, &ctx)
            .await
            .map(|_| ())
            .map_err(rejected)
    })
    .await
}

/// Checks that a binding's upstream answers (one `GET` of its base URL, without the credential).
#[server(prefix = "/ui", endpoint = "bindings/test")]
pub async fn test_binding(
    agent_id: String,
    binding_id: String,
) -> Result<BindingTestView, SessionError> {
    use crate::session::backend::*;
    let page = format!("/agents/{agent_id}");
    form_action::<TestBinding, _, _>(&page, |core, p, ctx| async move {
        let binding = core
            .get_binding(&p, &agent_id, &binding_id)
            .await
            .map_err(rejected)?;
        let tested = core
            .test_binding(&p, &agent_id, &binding_id, None, &ctx)
            .await
            .map_err(rejected)?;
        Ok(BindingTestView {
            name: binding.name,
            success: tested.success,
            latency_ms: tested.latency_ms,
            error: tested.error.unwrap_or_default(),
        })
    })
    .await
}

/// Replaces a binding's credential with an inline value (stored sealed, never shown again).
#[server(prefix = "/ui", endpoint = "bindings/rotate")]
pub async fn rotate_binding_credential(
    agent_id: String,
    binding_id: String,
    credential: talon_api::SecretValueInput,
) -> Result<(), SessionError> {
    use crate::session::backend::*;
    let page = format!("/agents/{agent_id}");
    form_action::<RotateBindingCredential, _, _>(&page, |core, p, ctx| async move {
        let value = inline_credential(credential)?;
        core.rotate_binding_credential(&p, &agent_id, &binding_id, value, &ctx)
            .await
            .map(|_| ())
            .map_err(rejected)
    })
    .await
}

/// Deletes a binding; its past executions stay listed.
#[server(prefix = "/ui", endpoint = "bindings/delete")]
pub async fn delete_binding(agent_id: String, binding_id: String) -> Result<(), SessionError> {
    use crate::session::backend::*;
    let page = format!("/agents/{agent_id}");
    form_action::<DeleteBinding, _, _>(&page, |core, p, ctx| async move {
        core.delete_binding(&p, &agent_id, &binding_id, &ctx)
            .await
            .map_err(rejected)
    })
    .await
}

/// The actions a binding row submits.
#[derive(Clone, Copy)]
struct BindingActions {
    toggle: ServerAction<SetBindingActive>,
    test: ServerAction<TestBinding>,
    rotate: ServerAction<RotateBindingCredential>,
    remove: ServerAction<DeleteBinding>,
}

/// `/agents/{id}`.
#[component]
pub fn AgentPage() -> impl IntoView {
    let params = use_params_map();
    let agent_id = move || params.with(|p| p.get("id").unwrap_or_default());
    let add = ServerAction::<AddBinding>::new();
    let actions = BindingActions {
        toggle: ServerAction::<SetBindingActive>::new(),
        test: ServerAction::<TestBinding>::new(),
        rotate: ServerAction::<RotateBindingCredential>::new(),
        remove: ServerAction::<DeleteBinding>::new(),
    };
    let data = Resource::new(
        move || {
            (
                agent_id(),
                add.version().get()
                    + actions.toggle.version().get()
                    + actions.rotate.version().get()
                    + actions.remove.version().get(),
            )
        },
        |(id, _)| agent_page(id),
    );
    view! {
        <div class="mx-auto max-w-6xl">
            <p class="mb-2 text-sm">
                <a href="/agents" class="text-indigo-700 hover:underline">
                    "← All agents"
                </a>
            </p>
            <Suspense fallback=loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Err(error) => {
                            view! {
                                <PageHeader title="Agent".to_owned() />
                                <ErrorNote message=error.to_string() />
                            }
                                .into_any()
                        }
                        Ok(d) => {
                            let agent_id = d.agent.id.clone();
                            view! {
                                <PageHeader
                                    title=d.agent.name.clone()
                                    description=d.agent.description.clone()
                                />
                                <AgentSummary agent=d.agent />
                                <Bindings
                                    agent_id=agent_id.clone()
                                    bindings=d.bindings
                                    can_manage=d.can_manage
                                    actions
                                />
                                {d
                                    .can_manage
                                    .then(|| {
                                        view! {
                                            <NewBindingForm agent_id vaults=d.vaults action=add />
                                        }
                                    })}
                                <Executions executions=d.executions />
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </div>
    }
    .into_any()
}

/// What the agent is: status, key, scopes, vaults, dates.
#[component]
fn AgentSummary(agent: AgentView) -> impl IntoView {
    let status = if agent.active { "active" } else { "inactive" };
    let item = |term: &'static str, value: AnyView| {
        view! {
            <div>
                <dt class="text-xs font-semibold uppercase tracking-wide text-slate-500">{term}</dt>
                <dd class="mt-1 text-sm text-slate-800">{value}</dd>
            </div>
        }
    };
    view! {
        <Card title="Agent">
            <dl class="grid gap-4 sm:grid-cols-3" data-testid="agent-summary">
                {item("Status", badge(status.to_owned()).into_any())}
                {item(
                    "Key",
                    view! { <span class="font-mono text-xs">{agent.key_prefix} "…"</span> }.into_any(),
                )}
                {item(
                    "Scopes",
                    view! { <span class="font-mono text-xs">{agent.scopes}</span> }.into_any(),
                )}
                {item("Vaults", agent.vaults.into_any())}
                {item("Created", agent.created_at.into_any())}
                {item(
                    "Last active",
                    agent.last_active_at.unwrap_or_else(|| "never".to_owned()).into_any(),
                )}
                {item(
                    "Id",
                    view! { <span class="font-mono text-xs">{agent.id}</span> }.into_any(),
                )}
            </dl>
        </Card>
    }
}

/// The agent's bindings with each row's actions, and the latest test's outcome.
#[component]
fn Bindings(
    agent_id: String,
    bindings: Vec<BindingView>,
    can_manage: bool,
    actions: BindingActions,
) -> impl IntoView {
    let test = actions.test;
    let table = if bindings.is_empty() {
        view! {
            <EmptyState message="No bindings yet: add one below so the agent can call an API through Talon without holding its credential." />
        }
        .into_any()
    } else {
        view! {
            <div class="overflow-x-auto">
                <table class=TABLE>
                    <thead>
                        <tr>
                            <th class=TH scope="col">"Name"</th>
                            <th class=TH scope="col">"Upstream"</th>
                            <th class=TH scope="col">"Credential"</th>
                            <th class=TH scope="col">"Guardrails"</th>
                            <th class=TH scope="col">"State"</th>
                            {can_manage.then(|| view! { <th class=TH scope="col">"Actions"</th> })}
                        </tr>
                    </thead>
                    <tbody class="divide-y divide-slate-100">
                        {bindings
                            .into_iter()
                            .map(|b| {
                                view! {
                                    <BindingRow agent_id=agent_id.clone() binding=b can_manage actions />
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
        <Card title="Bindings">
            <p class="mb-3 text-sm text-slate-600">
                "Talon makes the agent's requests to these upstreams itself, injecting the credential and removing it from the answer: the agent never sees it."
            </p>
            <div class="mb-3 space-y-2" data-testid="binding-test-result">
                {move || {
                    test.value()
                        .get()
                        .and_then(Result::ok)
                        .map(|t| {
                            if t.success {
                                view! {
                                    <SuccessNote message=format!(
                                        "Test of {}: the upstream answered in {} ms.",
                                        t.name,
                                        t.latency_ms,
                                    ) />
                                }
                                    .into_any()
                            } else {
                                view! {
                                    <ErrorNote message=format!(
                                        "Test of {} failed after {} ms: {}",
                                        t.name,
                                        t.latency_ms,
                                        t.error,
                                    ) />
                                }
                                    .into_any()
                            }
                        })
                }}
                {action_error(test)} {action_error(actions.toggle)} {action_error(actions.rotate)}
                {action_error(actions.remove)}
            </div>
            {table}
        </Card>
    }
    .into_any()
}

#[component]
fn BindingRow(
    agent_id: String,
    binding: BindingView,
    can_manage: bool,
    actions: BindingActions,
) -> impl IntoView {
    let b = binding;
    let state = if b.active { "active" } else { "inactive" };
    let buttons = can_manage.then(|| {
        let this_binding = b.id.clone();
        let ids = move || {
            let (agent_id, binding_id) = (agent_id.clone(), this_binding.clone());
            move || {
                view! {
                    <input type="hidden" name="agent_id" value=agent_id.clone() />
                    <input type="hidden" name="binding_id" value=binding_id.clone() />
                }
            }
        };
        let (ids_test, ids_toggle, ids_remove, ids_rotate) = (ids(), ids(), ids(), ids());
        let test_label = format!("Test {}", b.name);
        let toggle_word = if b.active { "Deactivate" } else { "Activate" };
        let toggle_label = format!("{toggle_word} {}", b.name);
        let next_active = if b.active { "false" } else { "true" };
        let rotate_label = format!("New credential for {}", b.name);
        let rotate_id = format!("rotate-{}", b.id);
        view! {
            <td class=format!("{TD} space-y-2")>
                <div class="flex flex-wrap items-start gap-2">
                    <ActionForm action=actions.test>
                        {ids_test()}
                        <button type="submit" class=BUTTON_SECONDARY aria-label=test_label>
                            "Test"
                        </button>
                    </ActionForm>
                    <ActionForm action=actions.toggle>
                        {ids_toggle()}
                        <input type="hidden" name="active" value=next_active />
                        <button type="submit" class=BUTTON_SECONDARY aria-label=toggle_label>
                            {toggle_word}
                        </button>
                    </ActionForm>
                    <Confirm label="Delete">
                        <ActionForm action=actions.remove>
                            {ids_remove()}
                            <button type="submit" class=BUTTON_DANGER>
                                "Confirm delete"
                            </button>
                        </ActionForm>
                    </Confirm>
                </div>
                <details>
                    <summary class="cursor-pointer text-sm font-medium text-indigo-700 hover:underline">
                        "Rotate credential"
                    </summary>
                    <ActionForm action=actions.rotate attr:class="mt-2 flex items-end gap-2">
                        {ids_rotate()}
                        <Field
                            label=rotate_label
                            name="credential"
                            id=rotate_id
                            kind="password"
                            required=true
                            hint="Stored encrypted as an inline value; never shown again."
                        />
                        <button type="submit" class=BUTTON_SECONDARY>
                            "Save credential"
                        </button>
                    </ActionForm>
                </details>
            </td>
        }
    });
    view! {
        <tr data-testid="binding-row" data-name=b.name.clone()>
            <td class=TD>
                <p class="font-medium text-slate-900">{b.name.clone()}</p>
                <p class="text-xs text-slate-500">{b.binding_type.clone()}</p>
            </td>
            <td class=format!("{TD} text-xs")>
                <p class="font-mono break-all">{b.base_url.clone()}</p>
                <p class="text-slate-500">{b.placement.clone()}</p>
            </td>
            <td class=format!("{TD} font-mono text-xs") data-testid="binding-credential">
                {b.credential.clone()}
            </td>
            <td class=format!("{TD} text-xs")>
                <p class="font-mono">{b.allowed_methods.clone()}</p>
                <p class="font-mono">{b.allowed_paths.clone()}</p>
                <p class="text-slate-500">{b.max_requests_per_minute.clone()}</p>
            </td>
            <td class=TD data-testid="binding-state">{badge(state.to_owned())}</td>
            {buttons}
        </tr>
    }
    .into_any()
}

/// The form that adds a binding. The credential fields shown follow the chosen source.
#[component]
fn NewBindingForm(
    agent_id: String,
    vaults: Vec<VaultOption>,
    action: ServerAction<AddBinding>,
) -> impl IntoView {
    let source = RwSignal::new("vault_ref".to_owned());
    view! {
        <Card title="New binding">
            <ActionForm action attr:class="grid gap-4 sm:grid-cols-2">
                <input type="hidden" name="agent_id" value=agent_id />
                <Field
                    label="Binding name"
                    name="name"
                    id="binding-name"
                    required=true
                    placeholder="stripe"
                />
                <SelectField label="Type" name="binding_type" id="binding-type">
                    <option value="http">"http"</option>
                    <option value="graphql">"graphql"</option>
                </SelectField>
                <Field
                    label="Base URL"
                    name="base_url"
                    id="binding-base-url"
                    required=true
                    placeholder="https://api.stripe.com"
                    hint="https; the execution's path is appended to it."
                />
                <SelectField label="Credential goes in" name="auth_type" id="binding-auth-type">
                    <option value="bearer">"Authorization: Bearer header"</option>
                    <option value="header">"A named header"</option>
                    <option value="basic">"Authorization: Basic (user:password)"</option>
                    <option value="query">"A query parameter"</option>
                </SelectField>
                <Field
                    label="Header or parameter name"
                    name="auth_name"
                    id="binding-auth-name"
                    placeholder="X-Api-Key"
                    hint="Only for a named header or a query parameter."
                />
                <div>
                    <label for="binding-credential-source" class=LABEL>
                        "Credential source"
                    </label>
                    <select
                        id="binding-credential-source"
                        name="credential_source"
                        class=INPUT
                        on:change=move |ev| source.set(event_target_value(&ev))
                    >
                        <option value="vault_ref">"A vault secret (read at each request)"</option>
                        <option value="inline">"An inline value (stored with the binding)"</option>
                        <option value="none">"None for now"</option>
                    </select>
                </div>
                <div class="sm:col-span-2" class:hidden=move || source.get() != "vault_ref">
                    <div class="grid gap-4 sm:grid-cols-2">
                    <SelectField label="Vault" name="vault_id" id="binding-vault">
                        {vaults
                            .into_iter()
                            .map(|v| view! { <option value=v.id>{v.name}</option> })
                            .collect_view()}
                    </SelectField>
                    <Field
                        label="Secret path"
                        name="secret_path"
                        id="binding-secret-path"
                        placeholder="api-keys/stripe"
                        hint="The agent needs the use (or read) permission on it."
                    />
                    </div>
                </div>
                <div class:hidden=move || source.get() != "inline">
                    <Field
                        label="Inline value"
                        name="inline_value"
                        id="binding-inline-value"
                        kind="password"
                        hint="Stored encrypted with the binding; never shown again."
                    />
                </div>
                <Field
                    label="Allowed methods"
                    name="allowed_methods"
                    id="binding-methods"
                    placeholder="GET, POST"
                    hint="Optional, comma-separated; default GET, POST, PUT, PATCH, DELETE."
                />
                <Field
                    label="Allowed paths"
                    name="allowed_paths"
                    id="binding-paths"
                    placeholder="/v1/charges/**"
                    hint="Optional path globs, comma-separated; default any path."
                />
                <Field
                    label="Max requests per minute"
                    name="max_requests_per_minute"
                    id="binding-rate"
                    kind="number"
                    placeholder="60"
                    hint="Optional; 0 means no limit."
                />
                <div class="sm:col-span-2">
                    <button type="submit" class=BUTTON prop:disabled=action.pending()>
                        "Create binding"
                    </button>
                </div>
            </ActionForm>
            <div class="mt-3">{action_error(action)}</div>
        </Card>
    }
    .into_any()
}

/// The agent's latest executions, newest first.
#[component]
fn Executions(executions: Vec<ExecutionView>) -> impl IntoView {
    view! {
        <Card title="Last executions">
            {if executions.is_empty() {
                view! {
                    <EmptyState message="No executions yet: they appear here once the agent calls POST /v1/agents/{id}/execute or the execute_http tool." />
                }
                    .into_any()
            } else {
                view! {
                    <div class="overflow-x-auto">
                        <table class=TABLE>
                            <thead>
                                <tr>
                                    <th class=TH scope="col">"Time"</th>
                                    <th class=TH scope="col">"Binding"</th>
                                    <th class=TH scope="col">"Method"</th>
                                    <th class=TH scope="col">"Host"</th>
                                    <th class=TH scope="col">"Path"</th>
                                    <th class=TH scope="col">"Status"</th>
                                    <th class=TH scope="col">"HTTP"</th>
                                    <th class=TH scope="col">"Duration"</th>
                                    <th class=TH scope="col">"Redactions"</th>
                                </tr>
                            </thead>
                            <tbody class="divide-y divide-slate-100">
                                {executions
                                    .into_iter()
                                    .map(|e| {
                                        view! {
                                            <tr data-testid="execution-row">
                                                <td class=format!("{TD} text-xs")>{e.at}</td>
                                                <td class=TD>{e.binding}</td>
                                                <td class=format!("{TD} font-mono")>{e.method}</td>
                                                <td class=format!("{TD} font-mono text-xs")>{e.host}</td>
                                                <td class=format!("{TD} font-mono text-xs break-all")>{e.path}</td>
                                                <td class=TD>
                                                    {badge(e.status)}
                                                    <span class="block text-xs text-slate-500">{e.error}</span>
                                                </td>
                                                <td class=TD data-testid="execution-http-status">{e.http_status}</td>
                                                <td class=TD>{format!("{} ms", e.duration_ms)}</td>
                                                <td class=TD>{e.redactions}</td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
                    .into_any()
            }}
        </Card>
    }
    .into_any()
}
