//! Talon's dashboard: the Leptos application rendered by the server (`ssr`)
//! and hydrated in the browser (`hydrate`, see the `frontend` crate).
//!
//! Pages call the core only through server functions: [`session`] for signing
//! in and out, one module per dashboard area for the rest. Each server function
//! is a thin door onto `talon_core::Core`, the same service layer the REST and
//! MCP doors call; no rule lives here that they would need.

pub mod agent_detail;
pub mod agents;
pub mod api_keys;
pub mod approvals;
pub mod area;
pub mod audit;
pub mod dashboard;
pub mod device;
mod icons;
pub mod login;
pub mod overview;
pub mod return_to;
pub mod secret_requests;
pub mod security;
pub mod session;
pub mod sharing;
pub mod team;
pub mod ui;
pub mod vaults;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

use crate::dashboard::DashboardLayout;
use crate::login::LoginPage;

/// The HTML document around [`App`]: what the server sends for every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en" class="h-full bg-slate-50">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body class="h-full text-slate-900 antialiased">
                <App />
            </body>
        </html>
    }
}

/// The dashboard's routes: `/login`, and the signed-in areas under
/// [`DashboardLayout`], which redirects signed-out visitors to `/login`.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    // Marks the document once the browser has taken over, so tests (and
    // styles) can tell the server-rendered page from the live one.
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        if let Some(root) = document().document_element() {
            _ = root.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Stylesheet id="leptos" href="/pkg/talon.css" />
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <Title formatter=|page: String| format!("{page} · Talon") />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async />
                <leptos_router::components::ParentRoute
                    path=path!("")
                    view=DashboardLayout
                    ssr=SsrMode::Async
                >
                    <Route path=path!("") view=overview::DashboardPage />
                    <Route path=path!("vaults") view=vaults::VaultsPage />
                    <Route path=path!("vaults/:id") view=vaults::VaultPage />
                    <Route path=path!("agents") view=agents::AgentsPage />
                    <Route path=path!("agents/:id") view=agent_detail::AgentPage />
                    <Route path=path!("sharing") view=sharing::SharingPage />
                    <Route path=path!("audit") view=audit::AuditPage />
                    <Route path=path!("security") view=security::SecurityPage />
                    <Route path=path!("api-keys") view=api_keys::ApiKeysPage />
                    <Route path=path!("billing") view=overview::BillingPage />
                    <Route path=path!("team") view=team::TeamPage />
                    <Route path=path!("approvals") view=approvals::ApprovalsPage />
                    <Route path=path!("approvals/confirm") view=approvals::ConfirmLinkPage />
                    <Route path=path!("cli/verify") view=device::DeviceVerifyPage />
                </leptos_router::components::ParentRoute>
            </Routes>
        </Router>
    }
    .into_any()
}

/// Shown for any path the dashboard does not know (status 404).
#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <main class="flex min-h-full flex-col items-center justify-center px-6 py-24 text-center">
            <p class="text-sm font-semibold text-indigo-600">"404"</p>
            <h1 class="mt-2 text-3xl font-semibold tracking-tight">"Page not found"</h1>
            <p class="mt-4 text-slate-600">"There is nothing at this address."</p>
            <a
                href="/"
                class="mt-8 rounded-md bg-indigo-600 px-4 py-2 text-sm font-semibold text-white shadow-sm hover:bg-indigo-500"
            >
                "Back to the dashboard"
            </a>
        </main>
    }
}
