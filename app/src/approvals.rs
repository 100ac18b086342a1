//! Approvals (`/approvals`): the requests a `require_approval` policy holds (and the
//! actions agents declare) until people approve exactly them. Each shows who asked, for
//! what, why, its risk tier, its M-of-N progress, the grant and when it expires; an
//! approver approves or rejects it, confirming with a password or TOTP code from risk tier
//! 2. The list polls for new requests in the browser, as the sidebar's badge does.
//!
//! `/approvals/confirm?token=…&decision=approve|reject` is where a mailed one-click link
//! lands: it shows the approval the link opens and decides only once the approver confirms.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use talon_api::PasswordInput;

use crate::secret_requests::SecretRequestsSection;
use crate::session::SessionError;
use crate::ui::*;

/// How often the open list asks for changes.
const LIST_POLL: Duration = Duration::from_secs(3);
/// How often the sidebar's badge asks for the pending count.
const BADGE_POLL: Duration = Duration::from_secs(5);

/// The statuses the list filters by, in the order of its tabs.
const STATUSES: [&str; 4] = ["pending", "approved", "rejected", "expired"];

/// The HTTP request an approval of an execution is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundRequest {
    pub method: String,
    pub host: String,
    pub path: String,
    pub body_sha256: String,
}

/// An approval as the dashboard shows it: what was asked and how far it is, never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRow {
    pub id: String,
    /// The requesting agent's name (or the requesting user's email).
    pub requester: String,
    /// `agent` or `user`.
    pub requester_type: String,
    /// `secret.read`, `secret.use`, … for gated access; the declared action otherwise.
    pub action: String,
    /// Gated access: the vault's name, the path and the permission asked for.
    pub vault_name: String,
    pub path: String,
    pub permission: String,
    /// An execution: the method, host and path (and the body's hash) it is bound to.
    pub request: Option<BoundRequest>,
    /// A declared action: what it acts on, and the agent's description as JSON.
    pub target: String,
    pub details: String,
    /// Why, in the requester's words (empty when it gave none).
    pub reason: String,
    pub risk_tier: i64,
    /// Whether a decision needs the password or a TOTP code.
    pub step_up: bool,
    pub current_approvals: usize,
    pub required_approvals: i64,
    /// `once`, or `for N seconds`.
    pub grant: String,
    pub expires_at: String,
    pub created_at: String,
    /// `pending`, `approved`, `rejected` or `expired`.
    pub status: String,
    pub decision_reason: String,
    /// For an approved windowed grant, when it closes.
    pub grant_expires_at: String,
    /// Whether the caller may decide it now.
    pub can_decide: bool,
}

impl ApprovalRow {
    /// One line on what is asked: "deploy-bot asks to read prod/db in production".
    pub fn headline(&self) -> String {
        if self.permission.is_empty() {
            format!(
                "{} asks for approval of {} on {}",
                self.requester, self.action, self.target
            )
        } else {
            format!(
                "{} asks to {} {} in {}",
                self.requester, self.permission, self.path, self.vault_name
            )
        }
    }

    /// M-of-N progress: `current/required approvals`.
    pub fn progress(&self) -> String {
        format!(
            "{}/{} approvals",
            self.current_approvals, self.required_approvals
        )
    }
}

/// What a decision ended in, for the note after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionView {
    pub approval: ApprovalRow,
    /// Whether the caller approved (rather than rejected).
    pub approved: bool,
}

impl DecisionView {
    /// The sentence shown once the decision is recorded.
    pub fn message(&self) -> String {
        let a = &self.approval;
        match (self.approved, a.status.as_str()) {
            (true, "approved") => format!(
                "Approved: {} may now {} {}.",
                a.requester,
                if a.permission.is_empty() {
                    a.action.as_str()
                } else {
                    a.permission.as_str()
                },
                if a.path.is_empty() {
                    a.target.clone()
                } else {
                    format!("{} ({})", a.path, a.grant)
                }
            ),
            (true, _) => format!(
                "Your approval is recorded ({}); more approvers must approve.",
                a.progress()
            ),
            (false, _) => format!("Rejected: the request from {} stays refused.", a.requester),
        }
    }
}

/// Tells the sidebar's badge to ask for the pending count again (after a decision).
#[derive(Debug, Clone, Copy)]
pub struct PendingRefresh(pub RwSignal<u32>);

#[cfg(feature = "ssr")]
mod backend {
    use super::{ApprovalRow, BoundRequest, DecisionView};
    use crate::session::backend::refused;
    use crate::session::SessionError;
    use serde_json::Value;
    use talon_core::clock::rfc3339;
    use talon_core::service::{ApprovalDecision, ApprovalView, STEP_UP_TIER};
    use talon_core::{Core, Error, Principal};

    /// What the dashboard answers for a one-click link that no longer opens anything.
    const LINK_GONE: &str = "This link was already used, or it expired: nothing was decided \
                             now. The Approvals page lists what still waits for you.";

    fn text(v: &Value, key: &str) -> String {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// The row of `v`; `agent_name` names a requesting agent the summary does not.
    pub(super) fn row_of(v: &ApprovalView, agent_name: Option<&str>) -> ApprovalRow {
        let a = &v.approval;
        let s = &a.summary;
        let gated = a.target_type == "secret";
        let requester = s
            .get("requester")
            .and_then(|r| r.get("name").or_else(|| r.get("email")))
            .and_then(Value::as_str)
            .or(agent_name)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{} {}", a.requester_type, a.requester_id));
        let request = s
            .get("request")
            .filter(|r| r.is_object())
            .map(|r| BoundRequest {
                method: text(r, "method"),
                host: text(r, "host"),
                path: text(r, "path"),
                body_sha256: text(r, "body_sha256"),
            });
        ApprovalRow {
            id: a.id.clone(),
            requester,
            requester_type: a.requester_type.clone(),
            action: a.action.clone(),
            vault_name: if gated {
                text(s, "vault_name")
            } else {
                String::new()
            },
            path: if gated {
                text(s, "path")
            } else {
                String::new()
            },
            permission: if gated {
                text(s, "permission")
            } else {
                String::new()
            },
            request,
            target: format!("{} {}", a.target_type, a.target_id),
            details: match (gated, s.get("text").and_then(Value::as_str)) {
                (true, _) => String::new(),
                // A summary sent as text (1claw's SDKs) is kept as `{"text": …}`.
                (false, Some(text)) if s.as_object().is_some_and(|o| o.len() == 1) => {
                    text.to_owned()
                }
                (false, _) => s.to_string(),
            },
            reason: a.reason.clone().unwrap_or_default(),
            risk_tier: a.risk_tier,
            step_up: a.risk_tier >= STEP_UP_TIER,
            current_approvals: v.current_approvals(),
            required_approvals: a.min_approvals,
            grant: match a.grant_seconds {
                None => "once".to_owned(),
                Some(s) => format!("for {s} seconds"),
            },
            expires_at: rfc3339(a.expires_at),
            created_at: rfc3339(a.created_at),
            status: a.status.clone(),
            decision_reason: a.decision_reason.clone().unwrap_or_default(),
            grant_expires_at: a.grant_expires_at.map(rfc3339).unwrap_or_default(),
            can_decide: v.can_decide,
        }
    }

    /// The rows of `views`, naming requesting agents the summaries do not name (declared
    /// actions) from the org's agents when the caller may list them.
    pub(super) async fn rows_of(
        core: &Core,
        p: &Principal,
        views: &[ApprovalView],
    ) -> Vec<ApprovalRow> {
        let unnamed = views.iter().any(|v| {
            v.approval.requester_type == "agent"
                && v.approval.summary["requester"]["name"].as_str().is_none()
        });
        let agents = if unnamed {
            core.list_agents(p).await.unwrap_or_default()
        } else {
            Vec::new()
        };
        views
            .iter()
            .map(|v| {
                let name = agents
                    .iter()
                    .find(|a| a.id == v.approval.requester_id)
                    .map(|a| a.name.as_str());
                row_of(v, name)
            })
            .collect()
    }

    /// A decision typed into a form: `approve` or `reject`, and the step-up confirmation
    /// (empty for none).
    pub(super) fn decision(
        decision: &str,
        confirm: talon_api::PasswordInput,
    ) -> Result<ApprovalDecision, SessionError> {
        let approve = match decision {
            "approve" => true,
            "reject" => false,
            _ => {
                return Err(refused(Error::invalid(
                    "decision",
                    "decision must be approve or reject",
                )))
            }
        };
        let confirm = Some(confirm.into_password()).filter(|c| !c.expose_secret().is_empty());
        Ok(ApprovalDecision {
            approve,
            reason: None,
            confirm,
        })
    }

    /// The core's refusal of a decision; a missing confirmation is worded for the page
    /// (the core's sentence names the REST header).
    pub(super) fn decision_refused(error: Error, confirmed: bool) -> SessionError {
        let unconfirmed = !confirmed && matches!(error, Error::StepUpRequired(_));
        let refusal = refused(error);
        if unconfirmed {
            SessionError::Rejected("Confirm with your password or a TOTP code.".to_owned())
        } else {
            refusal
        }
    }

    /// The core's refusal of a one-click link; a used or expired link is said so plainly.
    pub(super) fn link_refused(error: Error) -> SessionError {
        let gone = matches!(error, Error::NotFound("Approval link"));
        let refusal = refused(error);
        if gone {
            SessionError::Rejected(LINK_GONE.to_owned())
        } else {
            refusal
        }
    }

    pub(super) fn decided(
        core_view: &ApprovalView,
        approved: bool,
        agent_name: Option<&str>,
    ) -> DecisionView {
        DecisionView {
            approval: row_of(core_view, agent_name),
            approved,
        }
    }
}

/// The approvals the signed-in user may see, pending first; `status` filters (empty: all).
#[server(prefix = "/ui", endpoint = "approvals/list")]
pub async fn approvals_list(status: String) -> Result<Vec<ApprovalRow>, SessionError> {
    use crate::session::backend::*;
    let (core, p, ctx) = caller().await?;
    let status = Some(status.trim()).filter(|s| !s.is_empty());
    let views = core
        .list_approvals(&p, status, 100, 0, &ctx)
        .await
        .map_err(refused)?;
    Ok(backend::rows_of(&core, &p, &views).await)
}

/// How many approvals wait for the signed-in user's decision (0 when signed out).
#[server(prefix = "/ui", endpoint = "approvals/pending-count")]
pub async fn pending_approvals() -> Result<usize, SessionError> {
    use crate::session::backend::*;
    let Ok(p) = principal().await else {
        return Ok(0);
    };
    core()?.pending_approval_count(&p).await.map_err(refused)
}

/// Approves or rejects (`decision`) an approval; `confirm` is the password or a TOTP code,
/// which risk tier 2 and up needs (empty below).
#[server(prefix = "/ui", endpoint = "approvals/decide")]
pub async fn decide_approval(
    approval_id: String,
    decision: String,
    confirm: PasswordInput,
) -> Result<DecisionView, SessionError> {
    use crate::session::backend::*;
    form_action::<DecideApproval, _, _>("/approvals", |core, p, ctx| async move {
        let d = backend::decision(&decision, confirm)?;
        let (approved, confirmed) = (d.approve, d.confirm.is_some());
        let v = core
            .decide_approval(&p, approval_id.trim(), d, &ctx)
            .await
            .map_err(|e| backend::decision_refused(e, confirmed))?;
        let rows = backend::rows_of(&core, &p, std::slice::from_ref(&v)).await;
        Ok(DecisionView {
            approval: rows
                .into_iter()
                .next()
                .unwrap_or_else(|| backend::row_of(&v, None)),
            approved,
        })
    })
    .await
}

/// The approval a mailed one-click link opens, for the approver it was sent to; the link
/// is not spent.
#[server(prefix = "/ui", endpoint = "approvals/link")]
pub async fn approval_by_link(token: String) -> Result<ApprovalRow, SessionError> {
    use crate::session::backend::*;
    let (core, p, ctx) = caller().await?;
    let v = core
        .approval_for_link(&p, token.trim(), &ctx)
        .await
        .map_err(backend::link_refused)?;
    let rows = backend::rows_of(&core, &p, std::slice::from_ref(&v)).await;
    Ok(rows
        .into_iter()
        .next()
        .unwrap_or_else(|| backend::row_of(&v, None)))
}

/// Decides through a mailed one-click link, once the approver confirmed on the page; the
/// link is spent with the decision, so it works once.
#[server(prefix = "/ui", endpoint = "approvals/confirm")]
pub async fn confirm_by_link(
    token: String,
    decision: String,
    confirm: PasswordInput,
) -> Result<DecisionView, SessionError> {
    use crate::session::backend::*;
    let page = format!(
        "/approvals/confirm?token={}&decision={}",
        crate::return_to::encode(token.trim()),
        crate::return_to::encode(&decision)
    );
    form_action::<ConfirmByLink, _, _>(&page, |core, p, ctx| async move {
        let d = backend::decision(&decision, confirm)?;
        let (approved, confirmed) = (d.approve, d.confirm.is_some());
        let v = core
            .quick_decide(&p, token.trim(), d, &ctx)
            .await
            .map_err(|e| {
                if matches!(e, talon_core::Error::NotFound("Approval link")) {
                    backend::link_refused(e)
                } else {
                    backend::decision_refused(e, confirmed)
                }
            })?;
        Ok(backend::decided(&v, approved, None))
    })
    .await
}

/// Runs `tick` every `every` while the calling component lives, in the browser only
/// (effects do not run on the server).
pub(crate) fn poll(every: Duration, tick: impl Fn() + Clone + 'static) {
    Effect::new(move |_| {
        let handle = set_interval_with_handle(tick.clone(), every).ok();
        on_cleanup(move || {
            if let Some(handle) = handle {
                handle.clear();
            }
        });
    });
}

/// The sidebar's count of approvals waiting for the signed-in user; nothing at 0. It asks
/// again every few seconds and after a decision on the Approvals page.
#[component]
pub fn PendingBadge() -> impl IntoView {
    let tick = RwSignal::new(0u32);
    let refresh = use_context::<PendingRefresh>();
    poll(BADGE_POLL, move || tick.update(|t| *t = t.wrapping_add(1)));
    let count = Resource::new(
        move || (tick.get(), refresh.map(|r| r.0.get())),
        |_| pending_approvals(),
    );
    view! {
        <Transition>
            {move || Suspend::new(async move {
                count
                    .await
                    .ok()
                    .filter(|n| *n > 0)
                    .map(|n| {
                        view! {
                            <span
                                data-testid="approvals-badge"
                                class="ml-auto rounded-full bg-indigo-500 px-2 py-0.5 text-xs font-semibold text-white"
                            >
                                {n}
                            </span>
                            <span class="sr-only">" waiting for you"</span>
                        }
                    })
            })}
        </Transition>
    }
}

/// `/approvals`: the list, with tabs by status.
#[component]
pub fn ApprovalsPage() -> impl IntoView {
    let query = use_query_map();
    let status = move || query.with(|q| q.get("status").unwrap_or_default());
    let initial = Resource::new(status, approvals_list);
    view! {
        <div class="mx-auto max-w-5xl">
            <PageHeader
                title="Approvals".to_owned()
                description="Requests that policies hold for a person, actions agents ask you to approve, and credentials agents ask for. Approve only exactly what you expect: an approval lets that one request through."
            />
            <StatusTabs current=Signal::derive(status) />
            <Suspense fallback=loading>
                {move || Suspend::new(async move {
                    match initial.await {
                        Err(error) => view! { <ErrorNote message=error.to_string() /> }.into_any(),
                        Ok(rows) => {
                            view! { <ApprovalList status=status() initial=rows /> }.into_any()
                        }
                    }
                })}
            </Suspense>
            <SecretRequestsSection tab=Signal::derive(status) />
        </div>
    }
    .into_any()
}

/// Links to the list by status (plain links, so the filter works without JavaScript).
#[component]
fn StatusTabs(current: Signal<String>) -> impl IntoView {
    let tab = move |value: &'static str, label: &'static str| {
        let href = if value.is_empty() {
            "/approvals".to_owned()
        } else {
            format!("/approvals?status={value}")
        };
        view! {
            <li>
                <a
                    href=href
                    aria-current=move || (current.get() == value).then_some("page")
                    class="inline-flex rounded-md px-3 py-1.5 text-sm font-medium text-slate-600 hover:bg-slate-100 hover:text-slate-900 aria-[current=page]:bg-indigo-50 aria-[current=page]:text-indigo-700 aria-[current=page]:ring-1 aria-[current=page]:ring-indigo-200"
                >
                    {label}
                </a>
            </li>
        }
    };
    view! {
        <nav aria-label="Filter by status" class="mb-4">
            <ul class="flex flex-wrap gap-2">
                {tab("", "All")} {tab(STATUSES[0], "Pending")} {tab(STATUSES[1], "Approved")}
                {tab(STATUSES[2], "Rejected")} {tab(STATUSES[3], "Expired")}
            </ul>
        </nav>
    }
}

/// The decision a step-up prompt is open for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Prompt {
    approval_id: String,
    approve: bool,
}

/// The approvals, kept fresh: every few seconds in the browser (and after a decision) the
/// list is asked for again, and only rows that changed are drawn again, so an open
/// step-up prompt survives a new request arriving.
#[component]
fn ApprovalList(status: String, initial: Vec<ApprovalRow>) -> impl IntoView {
    let rows = RwSignal::new(initial);
    let poll_error = RwSignal::new(None::<String>);
    let decide = ServerAction::<DecideApproval>::new();
    let prompt = RwSignal::new(None::<Prompt>);
    let badge = use_context::<PendingRefresh>();
    let refresh = move || {
        let status = status.clone();
        leptos::task::spawn_local(async move {
            match approvals_list(status).await {
                Ok(fresh) => {
                    poll_error.try_set(None);
                    if rows.try_with_untracked(|r| r != &fresh) == Some(true) {
                        rows.try_set(fresh);
                    }
                }
                Err(error) => {
                    poll_error.try_set(Some(error.to_string()));
                }
            }
        });
    };
    poll(LIST_POLL, refresh.clone());
    Effect::new(move |_| {
        if let Some(Ok(_)) = decide.value().get() {
            prompt.set(None);
            refresh();
            if let Some(badge) = badge {
                badge.0.update(|n| *n = n.wrapping_add(1));
            }
        }
    });
    let empty = move || rows.with(Vec::is_empty);
    view! {
        <div class="mb-4 space-y-2">
            {move || poll_error.get().map(|message| view! { <ErrorNote message /> })}
            // A refusal of a decision without a prompt (below risk tier 2); a prompt shows its own.
            {move || {
                prompt
                    .with(Option::is_none)
                    .then(|| decide.value().get().and_then(Result::err))
                    .flatten()
                    .map(|error| view! { <ErrorNote message=error.to_string() /> })
            }}
            {move || {
                decide
                    .value()
                    .get()
                    .and_then(Result::ok)
                    .map(|d| view! { <SuccessNote message=d.message() /> })
            }}
        </div>
        <Show when=empty>
            <EmptyState message="Nothing here. When a policy with require_approval holds an agent's request, it appears here at once, and the approvers get an email." />
        </Show>
        <ul class="space-y-4" aria-label="Approval requests">
            <For
                each=move || rows.get()
                key=|r| (r.id.clone(), r.status.clone(), r.current_approvals, r.can_decide)
                let:row
            >
                <ApprovalCard row decide prompt />
            </For>
        </ul>
    }
    .into_any()
}

/// One approval: what is asked, and its decision buttons when the caller may decide.
#[component]
fn ApprovalCard(
    row: ApprovalRow,
    decide: ServerAction<DecideApproval>,
    prompt: RwSignal<Option<Prompt>>,
) -> impl IntoView {
    let heading_id = format!("approval-{}", row.id);
    let buttons = row.can_decide.then(|| {
        let id = row.id.clone();
        if row.step_up {
            let open = move |approve: bool| {
                let id = id.clone();
                move |_| {
                    decide.value().set(None);
                    prompt.set(Some(Prompt {
                        approval_id: id.clone(),
                        approve,
                    }));
                }
            };
            let (approve_described_by, reject_described_by) =
                (heading_id.clone(), heading_id.clone());
            view! {
                <div class="flex flex-wrap gap-2">
                    <button
                        type="button"
                        class=BUTTON
                        aria-describedby=approve_described_by
                        on:click=open(true)
                    >
                        "Approve"
                    </button>
                    <button
                        type="button"
                        class=BUTTON_DANGER
                        aria-describedby=reject_described_by
                        on:click=open(false)
                    >
                        "Reject"
                    </button>
                </div>
            }
            .into_any()
        } else {
            let form = |decision: &'static str, label: &'static str, class: &'static str| {
                let (id, described_by) = (id.clone(), heading_id.clone());
                view! {
                    <ActionForm action=decide>
                        <input type="hidden" name="approval_id" value=id />
                        <input type="hidden" name="decision" value=decision />
                        <input type="hidden" name="confirm" value="" />
                        <button type="submit" class=class aria-describedby=described_by>
                            {label}
                        </button>
                    </ActionForm>
                }
            };
            view! {
                <div class="flex flex-wrap gap-2">
                    {form("approve", "Approve", BUTTON)} {form("reject", "Reject", BUTTON_DANGER)}
                </div>
            }
            .into_any()
        }
    });
    let id = row.id.clone();
    let (row_id, row_status) = (row.id.clone(), row.status.clone());
    let step_up = move || {
        prompt
            .get()
            .filter(|p| p.approval_id == id)
            .map(|p| view! { <StepUpPrompt prompt=p decide on_cancel=move || prompt.set(None) /> })
    };
    view! {
        <li
            data-testid="approval"
            data-id=row_id
            data-status=row_status
            class="rounded-xl bg-white p-5 shadow-sm ring-1 ring-slate-200"
        >
            <ApprovalDetails row heading_id />
            {buttons.map(|b| view! { <div class="mt-4">{b}</div> })}
            {step_up}
        </li>
    }
    .into_any()
}

/// The confirmation a high-risk decision needs: the password or a current TOTP code.
#[component]
fn StepUpPrompt(
    prompt: Prompt,
    decide: ServerAction<DecideApproval>,
    on_cancel: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    let input_id = format!("confirm-{}", prompt.approval_id);
    let (word, decision) = if prompt.approve {
        ("Approve", "approve")
    } else {
        ("Reject", "reject")
    };
    view! {
        <ActionForm
            action=decide
            attr:class="mt-4 space-y-3 rounded-lg bg-slate-50 p-4 ring-1 ring-slate-200"
            attr:aria-label=format!("{word} this request")
        >
            <p class="text-sm font-medium text-slate-800">
                {format!("{word} this request? This approval is high-risk: confirm who you are.")}
            </p>
            <input type="hidden" name="approval_id" value=prompt.approval_id.clone() />
            <input type="hidden" name="decision" value=decision />
            <StepUpField id=input_id focus=true />
            {action_error(decide)}
            <div class="flex gap-2">
                <button type="submit" class=BUTTON prop:disabled=decide.pending()>
                    "Confirm"
                </button>
                <button type="button" class=BUTTON_SECONDARY on:click=move |_| on_cancel()>
                    "Cancel"
                </button>
            </div>
        </ActionForm>
    }
}

/// The labelled password-type input of a step-up confirmation (form field `confirm`);
/// with `focus`, it takes the focus when it appears.
#[component]
fn StepUpField(#[prop(into)] id: String, #[prop(optional)] focus: bool) -> impl IntoView {
    let input = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let (true, Some(el)) = (focus, input.get()) {
            let _ = el.focus();
        }
    });
    view! {
        <div>
            <label for=id.clone() class=LABEL>
                "Confirm with your password or a TOTP code"
            </label>
            <input
                node_ref=input
                id=id
                name="confirm"
                type="password"
                autocomplete="current-password"
                required
                class=INPUT
            />
        </div>
    }
}

/// What an approval asks for, as a heading and a description list.
#[component]
fn ApprovalDetails(row: ApprovalRow, #[prop(into)] heading_id: String) -> impl IntoView {
    let item = |term: &'static str, value: AnyView| {
        view! {
            <div>
                <dt class="text-xs font-semibold uppercase tracking-wide text-slate-500">{term}</dt>
                <dd class="mt-1 text-sm text-slate-800">{value}</dd>
            </div>
        }
    };
    let mono =
        |text: String| view! { <span class="font-mono text-xs break-all">{text}</span> }.into_any();
    let status = row.status.clone();
    let status_view = if status == "rejected" && row.decision_reason == "cancelled" {
        view! { {badge(status)} <span class="ml-1 text-xs text-slate-500">"(cancelled)"</span> }
            .into_any()
    } else {
        badge(status).into_any()
    };
    let requester = format!(
        "{}{}",
        row.requester,
        if row.requester_type == "agent" {
            " (agent)"
        } else {
            ""
        }
    );
    let gated = !row.permission.is_empty();
    let grant = if row.grant_expires_at.is_empty() {
        row.grant.clone()
    } else {
        format!("{} (until {})", row.grant, row.grant_expires_at)
    };
    view! {
        <div class="flex flex-wrap items-start justify-between gap-2">
            <h2 id=heading_id class="text-base font-semibold text-slate-900">
                {row.headline()}
            </h2>
            <div data-testid="approval-status">{status_view}</div>
        </div>
        <dl class="mt-4 grid gap-4 sm:grid-cols-3">
            {item("Requested by", requester.into_any())}
            {item("Action", mono(row.action.clone()))}
            {if gated {
                view! {
                    {item("Vault", row.vault_name.clone().into_any())}
                    {item("Path", mono(row.path.clone()))}
                    {item("Permission", row.permission.clone().into_any())}
                }
                    .into_any()
            } else {
                view! {
                    {item("Target", mono(row.target.clone()))}
                    {item("Details", mono(row.details.clone()))}
                }
                    .into_any()
            }}
            {row
                .request
                .clone()
                .map(|r| {
                    item(
                        "Request",
                        view! {
                            <span class="font-mono text-xs break-all" data-testid="approval-request">
                                {format!("{} {}{}", r.method, r.host, r.path)}
                            </span>
                            <span class="block font-mono text-xs text-slate-500 break-all">
                                {format!("body sha256 {}", r.body_sha256)}
                            </span>
                        }
                            .into_any(),
                    )
                })}
            {item(
                "Reason",
                if row.reason.is_empty() {
                    view! { <span class="text-slate-500">"No reason given"</span> }.into_any()
                } else {
                    row.reason.clone().into_any()
                },
            )}
            {item(
                "Risk tier",
                view! {
                    <span data-testid="approval-risk">{row.risk_tier}</span>
                    {row
                        .step_up
                        .then(|| {
                            view! {
                                <span class="ml-1 text-xs text-slate-500">
                                    "(password or TOTP to decide)"
                                </span>
                            }
                        })}
                }
                    .into_any(),
            )}
            {item(
                "Progress",
                view! { <span data-testid="approval-progress">{row.progress()}</span> }.into_any(),
            )}
            {item("Grant", grant.into_any())}
            {item("Expires", row.expires_at.clone().into_any())}
            {item("Requested", row.created_at.clone().into_any())}
        </dl>
    }
    .into_any()
}

/// `/approvals/confirm?token=…&decision=approve|reject`, where a mailed one-click link
/// lands: the approval the link opens and the intended decision; nothing is decided
/// until the approver clicks Confirm (with a password or TOTP code from risk tier 2).
#[component]
pub fn ConfirmLinkPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.with(|q| q.get("token").unwrap_or_default());
    let decision = move || query.with(|q| q.get("decision").unwrap_or_default());
    let confirm = ServerAction::<ConfirmByLink>::new();
    let badge = use_context::<PendingRefresh>();
    let approval = Resource::new(token, approval_by_link);
    Effect::new(move |_| {
        if let (Some(Ok(_)), Some(badge)) = (confirm.value().get(), badge) {
            badge.0.update(|n| *n = n.wrapping_add(1));
        }
    });
    view! {
        <div class="mx-auto max-w-3xl">
            <PageHeader
                title="Confirm a decision".to_owned()
                description="You opened a link from an approval email. Check what is asked; nothing is decided until you confirm."
            />
            <Suspense fallback=loading>
                {move || Suspend::new(async move {
                    let decision = decision();
                    let approve = match decision.as_str() {
                        "approve" => true,
                        "reject" => false,
                        _ => {
                            return view! {
                                <ErrorNote message="This link does not say whether to approve or reject. Open the approval from the Approvals page." />
                            }
                                .into_any();
                        }
                    };
                    match approval.await {
                        Err(error) => {
                            view! {
                                <ErrorNote message=error.to_string() />
                                <p class="mt-4 text-sm">
                                    <a href="/approvals" class="text-indigo-700 hover:underline">
                                        "Go to Approvals"
                                    </a>
                                </p>
                            }
                                .into_any()
                        }
                        Ok(row) => {
                            view! { <ConfirmCard row approve token=token() decision confirm /> }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </div>
    }
    .into_any()
}

/// The approval a link opens, with the intended decision and its Confirm form.
#[component]
fn ConfirmCard(
    row: ApprovalRow,
    approve: bool,
    token: String,
    decision: String,
    confirm: ServerAction<ConfirmByLink>,
) -> impl IntoView {
    let heading_id = format!("approval-{}", row.id);
    let (word, tone) = if approve {
        ("approve", "bg-emerald-50 text-emerald-800 ring-emerald-200")
    } else {
        ("reject", "bg-red-50 text-red-800 ring-red-200")
    };
    let can_decide = row.can_decide;
    let step_up = row.step_up;
    let status = row.status.clone();
    let row_id = row.id.clone();
    let (labelled_by, details_heading) = (heading_id.clone(), heading_id.clone());
    let done = move || confirm.value().get().and_then(Result::ok);
    view! {
        <section
            aria-labelledby=labelled_by
            data-testid="approval"
            data-id=row_id
            class="rounded-xl bg-white p-5 shadow-sm ring-1 ring-slate-200"
        >
            // Once decided, the details show the approval as the decision left it.
            {move || {
                let row = done().map(|d| d.approval).unwrap_or_else(|| row.clone());
                view! { <ApprovalDetails row heading_id=details_heading.clone() /> }
            }}
            <div class="mt-5 border-t border-slate-200 pt-5">
                {move || match done() {
                    Some(d) => view! { <SuccessNote message=d.message() /> }.into_any(),
                    None if !can_decide => {
                        view! {
                            <p role="status" class="text-sm text-slate-700">
                                {format!(
                                    "This approval is {status} and no longer waits for your decision; nothing was decided now.",
                                )}
                            </p>
                        }
                            .into_any()
                    }
                    None => {
                        let (token, decision) = (token.clone(), decision.clone());
                        let described_by = heading_id.clone();
                        view! {
                            <p
                                data-testid="intended-decision"
                                class=format!("mb-4 rounded-md px-3 py-2 text-sm font-medium ring-1 {tone}")
                            >
                                {format!("You are about to {word} this request.")}
                            </p>
                            <ActionForm action=confirm attr:class="space-y-3">
                                <input type="hidden" name="token" value=token />
                                <input type="hidden" name="decision" value=decision />
                                {if step_up {
                                    view! { <StepUpField id="confirm-link" /> }.into_any()
                                } else {
                                    view! { <input type="hidden" name="confirm" value="" /> }
                                        .into_any()
                                }}
                                {action_error(confirm)}
                                <div class="flex gap-3">
                                    <button
                                        type="submit"
                                        class=if approve { BUTTON } else { BUTTON_DANGER }
                                        aria-describedby=described_by
                                        prop:disabled=confirm.pending()
                                    >
                                        "Confirm"
                                    </button>
                                    <a href="/approvals" class=BUTTON_SECONDARY>
                                        "Not now"
                                    </a>
                                </div>
                            </ActionForm>
                        }
                            .into_any()
                    }
                }}
            </div>
        </section>
    }
    .into_any()
}
