//! The dashboard's areas: one entry in the sidebar and one page each.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::icons::Icon;

/// A dashboard area, in sidebar order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Overview (`/`).
    Dashboard,
    /// Vaults and their secrets.
    Vaults,
    /// Agents and their access policies.
    Agents,
    /// Shared secrets.
    Sharing,
    /// The organisation's audit log.
    AuditLog,
    /// Password, two-factor authentication and sessions.
    Security,
    /// Personal API keys.
    ApiKeys,
    /// Plan and usage.
    Billing,
    /// Members and invitations.
    Team,
}

impl Area {
    /// Every area, in the order the sidebar lists them.
    pub const ALL: [Area; 9] = [
        Area::Dashboard,
        Area::Vaults,
        Area::Agents,
        Area::Sharing,
        Area::AuditLog,
        Area::Security,
        Area::ApiKeys,
        Area::Billing,
        Area::Team,
    ];

    /// The name shown in the sidebar, as the page heading and in the title.
    pub fn label(self) -> &'static str {
        match self {
            Area::Dashboard => "Dashboard",
            Area::Vaults => "Vaults",
            Area::Agents => "Agents",
            Area::Sharing => "Sharing",
            Area::AuditLog => "Audit Log",
            Area::Security => "Security",
            Area::ApiKeys => "API Keys",
            Area::Billing => "Billing",
            Area::Team => "Team",
        }
    }

    /// The area's path in the dashboard.
    pub fn href(self) -> &'static str {
        match self {
            Area::Dashboard => "/",
            Area::Vaults => "/vaults",
            Area::Agents => "/agents",
            Area::Sharing => "/sharing",
            Area::AuditLog => "/audit",
            Area::Security => "/security",
            Area::ApiKeys => "/api-keys",
            Area::Billing => "/billing",
            Area::Team => "/team",
        }
    }

    /// One sentence on what the area will hold.
    pub fn summary(self) -> &'static str {
        match self {
            Area::Dashboard => "An overview of your vaults, agents and recent activity is coming here soon.",
            Area::Vaults => "Vaults and the secrets inside them are coming here soon.",
            Area::Agents => "Agents and the policies that grant them access to secrets are coming here soon.",
            Area::Sharing => "Sharing secrets with people inside and outside your organisation is coming here soon.",
            Area::AuditLog => "The tamper-evident record of who did what is coming here soon.",
            Area::Security => "Your password, two-factor authentication and sessions are coming here soon.",
            Area::ApiKeys => "Personal API keys for scripts and the CLI are coming here soon.",
            Area::Billing => "Your plan, usage and invoices are coming here soon.",
            Area::Team => "Members, roles and invitations are coming here soon.",
        }
    }

    pub(crate) fn icon(self) -> Icon {
        match self {
            Area::Dashboard => Icon::Dashboard,
            Area::Vaults => Icon::Vault,
            Area::Agents => Icon::Agent,
            Area::Sharing => Icon::Share,
            Area::AuditLog => Icon::AuditLog,
            Area::Security => Icon::Shield,
            Area::ApiKeys => Icon::Key,
            Area::Billing => Icon::CreditCard,
            Area::Team => Icon::Team,
        }
    }
}

/// An area's page: for now its heading and an empty state saying it is coming.
#[component]
pub fn AreaPage(area: Area) -> impl IntoView {
    view! {
        <Title text=area.label() />
        <div class="mx-auto max-w-5xl">
            <h1 class="text-2xl font-semibold tracking-tight text-slate-900">{area.label()}</h1>
            <section
                aria-label="Coming soon"
                class="mt-8 flex flex-col items-center rounded-xl border border-dashed border-slate-300 bg-white px-6 py-16 text-center"
            >
                <span class="flex size-12 items-center justify-center rounded-full bg-indigo-50 text-indigo-600">
                    {area.icon().view("size-6")}
                </span>
                <p class="mt-4 max-w-md text-sm text-slate-600">{area.summary()}</p>
            </section>
        </div>
    }
}
