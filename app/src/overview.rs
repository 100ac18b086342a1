//! The Dashboard (`/`: counts, recent activity, plan) and Billing
//! (`/billing`: plan and usage against its limits).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audit::{EventTable, EventView};
use crate::session::SessionError;
use crate::ui::*;

/// One metered thing: how many there are and the plan's limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meter {
    pub label: String,
    pub used: i64,
    /// `None` = unlimited.
    pub limit: Option<i64>,
}

/// The org's plan and usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub tier: String,
    /// `active` on a self-hosted install; Stripe's status otherwise.
    pub status: String,
    pub period_end: Option<String>,
    /// Whether Stripe is configured (the portal button shows).
    pub stripe: bool,
    pub meters: Vec<Meter>,
}

/// What the dashboard's home shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverviewData {
    pub usage: Usage,
    pub active_shares: i64,
    pub recent: Vec<EventView>,
}

#[cfg(feature = "ssr")]
async fn usage_of(
    core: &talon_core::Core,
    p: &talon_core::Principal,
) -> Result<Usage, SessionError> {
    use crate::session::backend::rejected;
    let sub = core.billing_subscription(p).await.map_err(rejected)?;
    let meter = |label: &str, key: &str| Meter {
        label: label.to_owned(),
        used: sub["usage"][key]["used"].as_i64().unwrap_or(0),
        limit: sub["usage"][key]["limit"].as_i64(),
    };
    Ok(Usage {
        tier: sub["tier"].as_str().unwrap_or_default().to_owned(),
        status: sub["status"].as_str().unwrap_or_default().to_owned(),
        period_end: sub["period_end"].as_str().map(str::to_owned),
        stripe: core.config().stripe.secret_key.is_some(),
        meters: vec![
            meter("Vaults", "vaults"),
            meter("Secrets", "secrets"),
            meter("Agents", "agents"),
            meter("Members", "team_members"),
            meter("Requests this month", "requests"),
        ],
    })
}

/// Opens the Stripe customer portal (owners and admins, when Stripe is configured).
#[server(prefix = "/ui", endpoint = "billing/portal")]
pub async fn billing_portal() -> Result<(), SessionError> {
    use crate::session::backend::*;
    let result = async {
        let (core, p, _) = caller().await?;
        let url = core.billing_portal(&p).await.map_err(rejected)?;
        leptos_axum::redirect(&url);
        Ok(())
    }
    .await;
    if let Err(error) = &result {
        return_form_error_to::<BillingPortal>("/billing", error);
    }
    result
}

/// Counts, the plan and the latest events.
#[server(prefix = "/ui", endpoint = "overview")]
pub async fn overview() -> Result<OverviewData, SessionError> {
    use crate::session::backend::*;
    let (core, p, _) = caller().await?;
    let usage = usage_of(&core, &p).await?;
    let now = talon_core::clock::now_ms();
    let active_shares = core
        .outbound_shares(&p)
        .await
        .map_err(rejected)?
        .iter()
        .filter(|s| s.derived_status(now) == "active" || s.derived_status(now) == "accepted")
        .count() as i64;
    let recent = match core
        .audit_events(
            &p,
            talon_core::service::AuditQuery {
                limit: Some(8),
                ..Default::default()
            },
        )
        .await
    {
        Ok((rows, ..)) => rows.iter().map(crate::audit::event_view).collect(),
        // Members without audit rights still get the rest of the page.
        Err(talon_core::Error::Forbidden(_)) => Vec::new(),
        Err(other) => return Err(rejected(other)),
    };
    Ok(OverviewData {
        usage,
        active_shares,
        recent,
    })
}

/// The plan and usage for `/billing`.
#[server(prefix = "/ui", endpoint = "billing")]
pub async fn billing() -> Result<Usage, SessionError> {
    use crate::session::backend::*;
    let (core, p, _) = caller().await?;
    usage_of(&core, &p).await
}

/// `/`.
#[component]
pub fn DashboardPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| overview());
    view! {
        <div class="mx-auto max-w-6xl">
            <PageHeader
                title="Dashboard".to_owned()
                description="Your vaults, agents and what happened lately."
            />
            <Suspense fallback=loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Err(error) => view! { <ErrorNote message=error.to_string() /> }.into_any(),
                        Ok(o) => {
                            let first_steps = o.usage.meters.first().is_some_and(|m| m.used == 0);
                            view! {
                                <dl class="mb-6 grid grid-cols-2 gap-4 lg:grid-cols-5">
                                    {o
                                        .usage
                                        .meters
                                        .iter()
                                        .take(4)
                                        .map(|m| stat(m.label.clone(), m.used))
                                        .collect_view()}
                                    {stat("Active shares".to_owned(), o.active_shares)}
                                </dl>
                                {first_steps
                                    .then(|| {
                                        view! {
                                            <Card title="Get started">
                                                <ol class="list-decimal space-y-1 pl-5 text-sm text-slate-700">
                                                    <li>
                                                        <a href="/vaults" class="text-indigo-700 hover:underline">
                                                            "Create a vault"
                                                        </a>
                                                        " and add a secret to it."
                                                    </li>
                                                    <li>
                                                        <a href="/agents" class="text-indigo-700 hover:underline">
                                                            "Register an agent"
                                                        </a>
                                                        " and copy its key into your MCP client."
                                                    </li>
                                                    <li>
                                                        "Grant the agent a policy on the vault's page."
                                                    </li>
                                                </ol>
                                            </Card>
                                        }
                                    })}
                                <Card title="Plan">
                                    <p class="text-sm text-slate-700">
                                        "You are on the " <strong>{o.usage.tier.clone()}</strong>
                                        " plan. " <a href="/billing" class="text-indigo-700 hover:underline">
                                            "See usage"
                                        </a>
                                    </p>
                                </Card>
                                <Card title="Recent activity">
                                    <EventTable events=o.recent />
                                    <p class="mt-3 text-sm">
                                        <a href="/audit" class="text-indigo-700 hover:underline">
                                            "Open the audit log"
                                        </a>
                                    </p>
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

fn stat(label: String, value: i64) -> impl IntoView {
    view! {
        <div class="rounded-xl bg-white p-4 shadow-sm ring-1 ring-slate-200">
            <dt class="text-sm text-slate-500">{label}</dt>
            <dd class="mt-1 text-2xl font-semibold text-slate-900">{value}</dd>
        </div>
    }
}

/// `/billing`.
#[component]
pub fn BillingPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| billing());
    let portal = ServerAction::<BillingPortal>::new();
    view! {
        <div class="mx-auto max-w-5xl">
            <PageHeader
                title="Billing".to_owned()
                description="Your plan and what you use of it."
            />
            <Suspense fallback=loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Err(error) => view! { <ErrorNote message=error.to_string() /> }.into_any(),
                        Ok(u) => {
                            view! {
                                <Card title="Plan">
                                    <p class="text-sm text-slate-700" data-testid="plan">
                                        "Current plan: " <strong>{u.tier.clone()}</strong> " · "
                                        {badge(u.status.clone())}
                                        {u.period_end.clone().map(|end| format!(" · renews {end}"))}
                                    </p>
                                    {if u.stripe {
                                        view! {
                                            <ActionForm action=portal attr:class="mt-4">
                                                <button type="submit" class=BUTTON>
                                                    "Manage billing in Stripe"
                                                </button>
                                            </ActionForm>
                                            <div class="mt-3">{action_error(portal)}</div>
                                        }
                                            .into_any()
                                    } else {
                                        view! {
                                            <p class="mt-2 text-sm text-slate-500">
                                                "Stripe is not configured on this server: plans are set by the operator (talon admin set-tier)."
                                            </p>
                                        }
                                            .into_any()
                                    }}
                                </Card>
                                <Card title="Usage">
                                    <ul class="space-y-4">
                                        {u.meters.into_iter().map(meter_bar).collect_view()}
                                    </ul>
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

fn meter_bar(m: Meter) -> impl IntoView {
    let (text, percent) = match m.limit {
        Some(limit) if limit > 0 => (
            format!("{} of {limit}", m.used),
            (m.used * 100 / limit).clamp(0, 100),
        ),
        _ => (format!("{} (unlimited)", m.used), 0),
    };
    view! {
        <li data-testid="meter">
            <div class="flex justify-between text-sm">
                <span class="font-medium text-slate-800">{m.label.clone()}</span>
                <span class="text-slate-600">{text}</span>
            </div>
            <div
                class="mt-1 h-2 rounded-full bg-slate-100"
                role="progressbar"
                aria-label=m.label
                aria-valuenow=m.used
                aria-valuemin="0"
                aria-valuemax=m.limit.map(|l| l.to_string())
            >
                <div
                    class="h-2 rounded-full bg-indigo-500"
                    style=format!("width: {percent}%")
                ></div>
            </div>
        </li>
    }
}
