//! Audit Log (`/audit`): the org's events with filters and pagination, a
//! verification of the whole hash chain on request (org owners and admins;
//! rate limited, so it is not run on every page load), and an export as JSON
//! lines.

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

/// A page of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPageData {
    pub events: Vec<EventView>,
    pub total: i64,
}

/// The verdict of a chain verification as the page shows it: `verified` only
/// when the whole chain was checked, up to its signed head, and held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainView {
    pub verified: bool,
    pub partial: bool,
    pub message: String,
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

/// A page of events matching the filter.
#[server(prefix = "/ui", endpoint = "audit/page")]
pub async fn audit_page(filter: AuditFilter) -> Result<AuditPageData, SessionError> {
    use crate::session::backend::*;
    let (core, p, _) = caller().await?;
    let (rows, total, _, _) = core
        .audit_events(&p, audit_query(&filter, PAGE_SIZE))
        .await
        .map_err(rejected)?;
    Ok(AuditPageData {
        events: rows.iter().map(event_view).collect(),
        total,
    })
}

/// Verifies the org's whole chain (the same check as `GET /v1/audit/verify`
/// without a range): admins only, rate limited, one at a time per org.
#[server(prefix = "/ui", endpoint = "audit/verify")]
pub async fn verify_chain() -> Result<ChainView, SessionError> {
    use crate::session::backend::*;
    let (core, p, _) = caller().await?;
    let r = core
        .verify_audit_chain(&p, None, None, None)
        .await
        .map_err(rejected)?;
    Ok(chain_view(&r))
}

#[cfg(feature = "ssr")]
fn chain_view(r: &talon_core::service::ChainReport) -> ChainView {
    let seq = |s: Option<i64>| s.map_or("-".to_owned(), |s| format!("#{s}"));
    let range = format!(
        "{} events, {} to {}",
        r.checked,
        seq(r.first_seq),
        seq(r.last_seq)
    );
    match &r.first_break {
        Some(b) => ChainView {
            verified: false,
            partial: false,
            message: format!(
                "Chain broken at event {}{}: {}. Checked {range} before the break.",
                seq(b.seq),
                b.event_id
                    .as_deref()
                    .map(|id| format!(" ({id})"))
                    .unwrap_or_default(),
                b.reason
            ),
        },
        None if !r.complete => ChainView {
            verified: false,
            partial: true,
            message: format!(
                "Partial check: {range} verified; the rest of the chain was not checked."
            ),
        },
        None => ChainView {
            verified: true,
            partial: false,
            message: format!("Chain verified: all {range}, up to the signed head, no broken link."),
        },
    }
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
    let verify = ServerAction::<VerifyChain>::new();
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
            <Card title="Chain integrity">
                <ActionForm action=verify attr:class="flex flex-wrap items-center gap-3">
                    <button type="submit" class=BUTTON>
                        "Verify the whole chain"
                    </button>
                    <p class="text-sm text-slate-600">
                        "Recomputes every event's hash up to the signed head. Owners and admins; a few times a minute."
                    </p>
                </ActionForm>
                <div class="mt-3" data-testid="chain-status">
                    {move || {
                        verify
                            .value()
                            .get()
                            .map(|result| match result {
                                Ok(v) if v.verified => {
                                    view! { <SuccessNote message=v.message /> }.into_any()
                                }
                                Ok(v) => view! { <ErrorNote message=v.message /> }.into_any(),
                                Err(error) => {
                                    view! { <ErrorNote message=error.to_string() /> }.into_any()
                                }
                            })
                    }}
                </div>
            </Card>
            <Suspense fallback=loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Err(error) => view! { <ErrorNote message=error.to_string() /> }.into_any(),
                        Ok(d) => {
                            let f = filter();
                            view! {
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
