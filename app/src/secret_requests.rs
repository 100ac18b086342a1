//! Secret requests on the Approvals page: an agent asks for a credential it lacks; a person
//! types the value (a masked input, sent once to the server and sealed there) into a vault
//! and path they choose, and may grant the agent `use` or `read` on exactly that path, or
//! declines. The page never receives a value: a request holds none, and the agent learns
//! only where it went.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use talon_api::SecretValueInput;

use crate::agent_detail::VaultOption;
use crate::approvals::poll;
use crate::session::SessionError;
use crate::ui::*;

/// How often the open section asks for new requests.
const POLL: Duration = Duration::from_secs(3);

/// A secret request as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRequestRow {
    pub id: String,
    /// The asking agent's name.
    pub agent: String,
    /// What the agent calls the credential.
    pub label: String,
    /// Why it needs it.
    pub purpose: String,
    /// Where it suggests storing it (empty for no suggestion).
    pub suggested_path: String,
    /// `pending`, `fulfilled`, `declined` or `expired`.
    pub status: String,
    /// Where the value went, once fulfilled.
    pub vault_name: String,
    pub path: String,
    /// What the agent was granted on it (`use`, `read`, or empty).
    pub granted: String,
    pub decline_reason: String,
    pub expires_at: String,
    pub created_at: String,
}

/// The section's data: the requests and the vaults a value can go to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretRequestsData {
    pub requests: Vec<SecretRequestRow>,
    pub vaults: Vec<VaultOption>,
}

/// The request statuses that sit with an approvals tab: fulfilled with approved, declined
/// with rejected. `None`: the section is not shown under that tab.
pub fn status_for_tab(tab: &str) -> Option<&'static str> {
    match tab {
        "" => Some(""),
        "pending" => Some("pending"),
        "approved" => Some("fulfilled"),
        "rejected" => Some("declined"),
        "expired" => Some("expired"),
        _ => None,
    }
}

#[cfg(feature = "ssr")]
async fn load(
    core: &talon_core::Core,
    p: &talon_core::Principal,
    status: &str,
) -> Result<SecretRequestsData, SessionError> {
    use crate::session::backend::refused;
    use talon_core::clock::rfc3339;
    let status = Some(status.trim()).filter(|s| !s.is_empty());
    let requests = core
        .list_secret_requests(p, status)
        .await
        .map_err(refused)?;
    let vaults: Vec<VaultOption> = core
        .list_vaults(p)
        .await
        .map_err(refused)?
        .into_iter()
        .map(|v| VaultOption {
            id: v.id,
            name: v.name,
        })
        .collect();
    let agents = if requests.is_empty() {
        Vec::new()
    } else {
        core.list_agents(p).await.unwrap_or_default()
    };
    let requests = requests
        .into_iter()
        .map(|q| {
            let agent = agents
                .iter()
                .find(|a| a.id == q.agent_id)
                .map_or_else(|| format!("agent {}", q.agent_id), |a| a.name.clone());
            let vault_name = q
                .vault_id
                .as_deref()
                .map(|id| {
                    vaults
                        .iter()
                        .find(|v| v.id == id)
                        .map_or_else(|| id.to_owned(), |v| v.name.clone())
                })
                .unwrap_or_default();
            SecretRequestRow {
                id: q.id,
                agent,
                label: q.label,
                purpose: q.purpose,
                suggested_path: q.suggested_path.unwrap_or_default(),
                status: q.status,
                vault_name,
                path: q.path.unwrap_or_default(),
                granted: q.granted.unwrap_or_default(),
                decline_reason: q.decline_reason.unwrap_or_default(),
                expires_at: rfc3339(q.expires_at),
                created_at: rfc3339(q.created_at),
            }
        })
        .collect();
    Ok(SecretRequestsData { requests, vaults })
}

/// The secret requests the signed-in user may answer or see (pending first), filtered by
/// `status` (empty: all), with the vaults a value can be stored in.
#[server(prefix = "/ui", endpoint = "secret-requests/list")]
pub async fn secret_requests_list(status: String) -> Result<SecretRequestsData, SessionError> {
    use crate::session::backend::*;
    let (core, p, _) = caller().await?;
    load(&core, &p, &status).await
}

/// Stores the typed `value` at `path` of `vault_id` for the request and, with `grant`
/// `use` or `read`, lets the requesting agent have it that way (`none`: store only).
/// Answers where it went, never the value.
#[server(prefix = "/ui", endpoint = "secret-requests/fulfil")]
pub async fn fulfil_secret_request(
    request_id: String,
    vault_id: String,
    path: String,
    value: SecretValueInput,
    grant: String,
) -> Result<String, SessionError> {
    use crate::session::backend::*;
    form_action::<FulfilSecretRequest, _, _>("/approvals", |core, p, ctx| async move {
        use talon_core::policy::Permission;
        let grant = match grant.as_str() {
            "" | "none" => None,
            "use" => Some(Permission::Use),
            "read" => Some(Permission::Read),
            _ => {
                return Err(refused(talon_core::Error::invalid(
                    "grant",
                    "grant must be use, read or none",
                )))
            }
        };
        let path = talon_core::secret_path::SecretPath::parse(path.trim()).map_err(refused)?;
        let q = core
            .fulfil_secret_request(
                &p,
                request_id.trim(),
                talon_core::service::FulfilSecretRequest {
                    vault_id,
                    path,
                    value: value.into_secret_value(),
                    grant,
                },
                &ctx,
            )
            .await
            .map_err(refused)?;
        let at = q.path.unwrap_or_default();
        Ok(match q.granted.as_deref() {
            Some("read") => format!("Stored at {at}; the agent may read it."),
            Some("use") => {
                format!("Stored at {at}; the agent may have it injected (use) but not read it.")
            }
            _ => format!("Stored at {at}; the agent was granted nothing on it."),
        })
    })
    .await
}

/// Declines the request, with an optional reason the agent sees.
#[server(prefix = "/ui", endpoint = "secret-requests/decline")]
pub async fn decline_secret_request(
    request_id: String,
    reason: String,
) -> Result<String, SessionError> {
    use crate::session::backend::*;
    form_action::<DeclineSecretRequest, _, _>("/approvals", |core, p, ctx| async move {
        let reason = Some(reason.trim()).filter(|r| !r.is_empty());
        let q = core
            .decline_secret_request(&p, request_id.trim(), reason, &ctx)
            .await
            .map_err(refused)?;
        Ok(format!("Declined the request for {}.", q.label))
    })
    .await
}

/// The Approvals page's "Secret requests" section, for the tab `tab`.
#[component]
pub fn SecretRequestsSection(#[prop(into)] tab: Signal<String>) -> impl IntoView {
    let status = move || status_for_tab(&tab.get());
    let initial = Resource::new(status, |status| async move {
        match status {
            Some(s) => secret_requests_list(s.to_owned()).await.map(Some),
            None => Ok(None),
        }
    });
    view! {
        <Suspense fallback=loading>
            {move || Suspend::new(async move {
                match (initial.await, status()) {
                    (Err(error), _) => view! { <ErrorNote message=error.to_string() /> }.into_any(),
                    (Ok(Some(data)), Some(status)) => {
                        view! { <RequestList status=status.to_owned() initial=data /> }.into_any()
                    }
                    _ => ().into_any(),
                }
            })}
        </Suspense>
    }
}

/// The requests, asked for again every few seconds (and after an answer) in the browser;
/// only rows that changed are drawn again, so a value being typed survives a new request.
#[component]
fn RequestList(status: String, initial: SecretRequestsData) -> impl IntoView {
    let SecretRequestsData { requests, vaults } = initial;
    let rows = RwSignal::new(requests);
    let poll_error = RwSignal::new(None::<String>);
    let fulfil = ServerAction::<FulfilSecretRequest>::new();
    let decline = ServerAction::<DeclineSecretRequest>::new();
    let refresh = move || {
        let status = status.clone();
        leptos::task::spawn_local(async move {
            match secret_requests_list(status).await {
                Ok(fresh) => {
                    poll_error.try_set(None);
                    if rows.try_with_untracked(|r| r != &fresh.requests) == Some(true) {
                        rows.try_set(fresh.requests);
                    }
                }
                Err(error) => {
                    poll_error.try_set(Some(error.to_string()));
                }
            }
        });
    };
    poll(POLL, refresh.clone());
    // The outcome of the latest answer, fulfil or decline, as a note above the list.
    let note = RwSignal::new(None::<Result<String, String>>);
    let answered = move |outcome: Option<Result<String, SessionError>>| {
        if let Some(outcome) = outcome {
            if outcome.is_ok() {
                refresh();
            }
            note.set(Some(outcome.map_err(|e| e.to_string())));
        }
    };
    let after_fulfil = answered.clone();
    Effect::new(move |_| after_fulfil(fulfil.value().get()));
    Effect::new(move |_| answered(decline.value().get()));
    let vaults = StoredValue::new(vaults);
    let empty = move || rows.with(Vec::is_empty);
    view! {
        <section aria-labelledby="secret-requests-heading" class="mt-10">
            <h2 id="secret-requests-heading" class="text-lg font-semibold text-slate-900">
                "Secret requests"
            </h2>
            <p class="mt-1 mb-4 text-sm text-slate-600">
                "Credentials agents ask for. The value you type is stored encrypted where you choose; the agent never sees it unless you grant read."
            </p>
            <div class="mb-4 space-y-2">
                {move || poll_error.get().map(|message| view! { <ErrorNote message /> })}
                {move || {
                    note.get()
                        .map(|outcome| match outcome {
                            Ok(message) => view! { <SuccessNote message /> }.into_any(),
                            Err(message) => view! { <ErrorNote message /> }.into_any(),
                        })
                }}
            </div>
            <Show when=empty>
                <EmptyState message="No secret requests. When an agent asks for a credential (request_secret), it appears here." />
            </Show>
            <ul class="space-y-4" aria-label="Secret requests">
                <For
                    each=move || rows.get()
                    key=|r| (r.id.clone(), r.status.clone())
                    let:row
                >
                    <RequestCard row vaults=vaults.get_value() fulfil decline />
                </For>
            </ul>
        </section>
    }
    .into_any()
}

/// One request: what is asked, and, while pending, the form that fills it in or declines it.
#[component]
fn RequestCard(
    row: SecretRequestRow,
    vaults: Vec<VaultOption>,
    fulfil: ServerAction<FulfilSecretRequest>,
    decline: ServerAction<DeclineSecretRequest>,
) -> impl IntoView {
    let id = row.id.clone();
    let heading_id = format!("secret-request-{id}");
    let field = |name: &str| format!("{name}-{id}");
    let pending = row.status == "pending";
    let item = |term: &'static str, value: String| {
        view! {
            <div>
                <dt class="text-xs font-semibold uppercase tracking-wide text-slate-500">{term}</dt>
                <dd class="mt-1 text-sm text-slate-800 break-words">{value}</dd>
            </div>
        }
    };
    let answer = pending.then(|| {
        let (vault_id, path_id, value_id, grant_id, reason_id) = (
            field("request-vault"),
            field("request-path"),
            field("request-value"),
            field("request-grant"),
            field("request-decline-reason"),
        );
        let (fulfil_id, decline_id) = (id.clone(), id.clone());
        let (fulfil_described_by, decline_described_by) = (heading_id.clone(), heading_id.clone());
        let suggested_path = row.suggested_path.clone();
        view! {
            <ActionForm action=fulfil attr:class="mt-4 grid gap-4 rounded-lg bg-slate-50 p-4 ring-1 ring-slate-200 sm:grid-cols-2">
                <input type="hidden" name="request_id" value=fulfil_id />
                <SelectField label="Vault" name="vault_id" id=vault_id>
                    {vaults
                        .into_iter()
                        .map(|v| view! { <option value=v.id>{v.name}</option> })
                        .collect_view()}
                </SelectField>
                <Field
                    label="Path"
                    name="path"
                    id=path_id
                    required=true
                    value=suggested_path
                    placeholder="api-keys/stripe"
                />
                <Field
                    label="Value"
                    name="value"
                    id=value_id
                    kind="password"
                    required=true
                    hint="Masked; stored encrypted and never shown here again."
                />
                <SelectField label="Grant the agent" name="grant" id=grant_id>
                    <option value="use">"use: inject it without revealing it"</option>
                    <option value="read">"read: the agent may read the value"</option>
                    <option value="none">"nothing: store only"</option>
                </SelectField>
                <div class="sm:col-span-2">
                    <button
                        type="submit"
                        class=BUTTON
                        aria-describedby=fulfil_described_by
                        prop:disabled=fulfil.pending()
                    >
                        "Store and fulfil"
                    </button>
                </div>
            </ActionForm>
            <ActionForm action=decline attr:class="mt-3 flex flex-wrap items-end gap-2">
                <input type="hidden" name="request_id" value=decline_id />
                <div class="min-w-64 flex-1">
                    <Field
                        label="Reason for declining (optional, the agent sees it)"
                        name="reason"
                        id=reason_id
                    />
                </div>
                <button type="submit" class=BUTTON_DANGER aria-describedby=decline_described_by>
                    "Decline"
                </button>
            </ActionForm>
        }
    });
    let outcome = match row.status.as_str() {
        "fulfilled" => format!(
            "Stored at {} / {}{}",
            row.vault_name,
            row.path,
            if row.granted.is_empty() {
                String::new()
            } else {
                format!("; granted {}", row.granted)
            }
        ),
        "declined" if !row.decline_reason.is_empty() => {
            format!("Declined: {}", row.decline_reason)
        }
        _ => String::new(),
    };
    view! {
        <li
            data-testid="secret-request"
            data-id=row.id.clone()
            data-status=row.status.clone()
            class="rounded-xl bg-white p-5 shadow-sm ring-1 ring-slate-200"
        >
            <div class="flex flex-wrap items-start justify-between gap-2">
                <h3 id=heading_id.clone() class="text-base font-semibold text-slate-900">
                    {format!("{} asks for {}", row.agent, row.label)}
                </h3>
                <div data-testid="secret-request-status">{badge(row.status.clone())}</div>
            </div>
            <dl class="mt-4 grid gap-4 sm:grid-cols-3">
                {item("Why", row.purpose.clone())}
                {item(
                    "Suggested path",
                    if row.suggested_path.is_empty() {
                        "none".to_owned()
                    } else {
                        row.suggested_path.clone()
                    },
                )}
                {item("Expires", row.expires_at.clone())}
                {item("Requested", row.created_at.clone())}
            </dl>
            {(!outcome.is_empty())
                .then(|| {
                    view! {
                        <p class="mt-3 text-sm text-slate-700" data-testid="secret-request-outcome">
                            {outcome}
                        </p>
                    }
                })}
            {answer}
        </li>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::status_for_tab;

    #[test]
    fn each_approvals_tab_shows_the_matching_request_status() {
        let cases = [
            ("", Some("")),
            ("pending", Some("pending")),
            ("approved", Some("fulfilled")),
            ("rejected", Some("declined")),
            ("expired", Some("expired")),
            ("bogus", None),
        ];
        for (tab, expected) in cases {
            assert_eq!(status_for_tab(tab), expected, "tab {tab:?}");
        }
    }
}
