//! Audit Log (`/audit`): the org's events with filters and pagination, the
//! hash chain's verification status, and an export as JSON lines.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::session::SessionError;
use crate::ui::*;

/// Events per page.
pub const PAGE_SIZE: i64 = 25;

/// The filters of the page, as in its query string.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub action: String,
    pub actor_type: String,
    pub from: String,
    pub to: String,
    pub offset: i64,
}

/// One event as the table shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    pub id: String,
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub outcome: String,
    pub ip: String,
}

/// A page of events and the chain's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPageData {
    pub events: Vec<EventView>,
    pub total: i64,
    pub chain: String,
    pub chain_ok: bool,
}

#[cfg(feature = "ssr")]
pub(crate) fn event_view(e: &talon_core::model::AuditRecord) -> EventView {
    EventView {
        id: e.id.clone(),
        seq: e.seq,
        at: talon_core::clock::rfc3339(e.created_at),
        actor: match &e.actor_id {
            Some(id) => format!("{} {id}", e.actor_type),
            None => e.actor_type.clone(),
        },
        action: e.action.clone(),
        resource: match &e.resource_id {
            Some(id) => format!("{} {id}", e.resource_type),
            None => e.resource_type.clone(),
        },
        outcome: e.outcome.clone(),
        ip: e.ip_address.clone().unwrap_or_default(),
    }
}

/// Turns the page's filters into the core's query.
#[cfg(feature = "ssr")]
pub fn audit_query(f: &AuditFilter, limit: i64) -> talon_core::service::AuditQuery {
    let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let time = |s: &str| {
        crate::vaults::parse_time("time", s)
            .ok()
            .flatten()
            .map(talon_core::clock::rfc3339)
    };
    talon_core::service::AuditQuery {
        resource_id: None,
        actor_id: None,
        actor_type: some(&f.actor_type),
        action: some(&f.action),
        from: time(&f.from),
        to: time(&f.to),
        limit: Some(limit),
        offset: Some(f.offset.max(0)),
    }
}

/// A page of events matching the filter, and the chain's verification.
#[server(prefix = "/ui", endpoint = "audit/page")]
pub async fn audit_page(filter: AuditFilter) -> Result<AuditPageData, SessionError> {
    use crate::session::backend::*;
    let (core, p, _) = caller().await?;
    let (rows, total, _, _) = core
        .audit_events(&p, audit_query(&filter, PAGE_SIZE))
        .await
        .map_err(rejected)?;
    let report = core
        .verify_audit_chain(&p, None, None, None)
        .await
        .map_err(rejected)?;
    let (chain, chain_ok) = match &report.first_break {
        None => (
            format!(
                "Chain verified: {} events, no broken link.",
                report.verified
            ),
            true,
        ),
        Some((id, seq, reason)) => (
            format!("Chain broken at event #{seq} ({id}): {reason}."),
            false,
        ),
    };
    Ok(AuditPageData {
        events: rows.iter().map(event_view).collect(),
        total,
        chain,
        chain_ok,
    })
}

/// `/audit`.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        query.with(|q| AuditFilter {
            action: q.get("action").unwrap_or_default(),
            actor_type: q.get("actor_type").unwrap_or_default(),
            from: q.get("from").unwrap_or_default(),
            to: q.get("to").unwrap_or_default(),
            offset: q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0),
        })
    };
    let data = Resource::new(filter, audit_page);
    view! {
        <div class="mx-auto max-w-6xl">
            <PageHeader
                title="Audit Log".to_owned()
                description="Every access to a secret, key, policy, agent or member, chained by hash so that an edit is detected."
            />
            <Card title="Filters">
                <form method="get" action="/audit" class="grid gap-4 sm:grid-cols-5 sm:items-end">
                    <Field
                        label="Action"
                        name="action"
                        placeholder="secret.read"
                        value=filter().action
                    />
                    <div>
                        <label for="field-actor_type" class=LABEL>
                            "Actor"
                        </label>
                        <select id="field-actor_type" name="actor_type" class=INPUT>
                            {["", "user", "agent", "anonymous"]
                                .into_iter()
                                .map(|t| {
                                    view! {
                                        <option value=t selected=filter().actor_type == t>
                                            {if t.is_empty() { "Anyone" } else { t }}
                                        </option>
                                    }
                                })
                                .collect_view()}
                        </select>
                    </div>
                    <Field label="From" name="from" kind="datetime-local" value=filter().from />
                    <Field label="To" name="to" kind="datetime-local" value=filter().to />
                    <div class="flex gap-2">
                        <button type="submit" class=BUTTON>
                            "Apply filters"
                        </button>
                        <a
                            class=BUTTON_SECONDARY
                            href=move || {
                                let f = filter();
                                format!(
                                    "/audit/export.jsonl?action={}&actor_type={}&from={}&to={}",
                                    f.action,
                                    f.actor_type,
                                    f.from,
                                    f.to,
                                )
                            }
                            download="audit.jsonl"
                        >
                            "Export JSON lines"
                        </a>
                    </div>
                </form>
            </Card>
            <Suspense fallback=loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Err(error) => view! { <ErrorNote message=error.to_string() /> }.into_any(),
                        Ok(d) => {
                            let f = filter();
                            view! {
                                <div class="mb-4" data-testid="chain-status">
                                    {if d.chain_ok {
                                        view! { <SuccessNote message=d.chain.clone() /> }.into_any()
                                    } else {
                                        view! { <ErrorNote message=d.chain.clone() /> }.into_any()
                                    }}
                                </div>
                                <Card title="Events">
                                    <EventTable events=d.events />
                                    <Pager filter=f total=d.total />
                                </Card>
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

#[component]
fn Pager(filter: AuditFilter, total: i64) -> impl IntoView {
    let link = move |offset: i64| {
        format!(
            "/audit?action={}&actor_type={}&from={}&to={}&offset={offset}",
            filter.action, filter.actor_type, filter.from, filter.to
        )
    };
    let first = filter.offset + 1;
    let last = (filter.offset + PAGE_SIZE).min(total);
    view! {
        <nav aria-label="Pagination" class="mt-4 flex items-center justify-between text-sm">
            <p class="text-slate-600">
                {if total == 0 { "No events".to_owned() } else { format!("{first}–{last} of {total}") }}
            </p>
            <div class="flex gap-2">
                {(filter.offset > 0)
                    .then(|| {
                        view! {
                            <a class=BUTTON_SECONDARY href=link((filter.offset - PAGE_SIZE).max(0))>
                                "Newer"
                            </a>
                        }
                    })}
                {(last < total)
                    .then(|| {
                        view! {
                            <a class=BUTTON_SECONDARY href=link(filter.offset + PAGE_SIZE)>
                                "Older"
                            </a>
                        }
                    })}
            </div>
        </nav>
    }
    .into_any()
}

/// The events table, shared with the dashboard's recent activity.
#[component]
pub fn EventTable(events: Vec<EventView>) -> impl IntoView {
    if events.is_empty() {
        return view! { <EmptyState message="No events match. Activity appears here as it happens." /> }
            .into_any();
    }
    view! {
        <div class="overflow-x-auto">
            <table class=TABLE>
                <thead>
                    <tr>
                        <th class=TH scope="col">"#"</th>
                        <th class=TH scope="col">"Time"</th>
                        <th class=TH scope="col">"Actor"</th>
                        <th class=TH scope="col">"Action"</th>
                        <th class=TH scope="col">"Resource"</th>
                        <th class=TH scope="col">"Outcome"</th>
                        <th class=TH scope="col">"IP"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {events
                        .into_iter()
                        .map(|e| {
                            view! {
                                <tr data-testid="event-row">
                                    <td class=TD>{e.seq}</td>
                                    <td class=format!("{TD} whitespace-nowrap text-xs")>{e.at}</td>
                                    <td class=format!("{TD} text-xs")>{e.actor}</td>
                                    <td class=format!("{TD} font-mono text-xs")>{e.action}</td>
                                    <td class=format!("{TD} text-xs")>{e.resource}</td>
                                    <td class=TD>{badge(e.outcome)}</td>
                                    <td class=format!("{TD} text-xs")>{e.ip}</td>
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
