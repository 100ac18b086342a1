//! Talon's dashboard: the Leptos application rendered by the server (`ssr`)
//! and hydrated in the browser (`hydrate`, see the `frontend` crate).
//!
//! Pages call the core only through the server functions in [`session`] (and,
//! later, one module per dashboard area); no rule lives here that the REST or
//! MCP doors would need.

pub mod area;
pub mod dashboard;
mod icons;
pub mod login;
pub mod session;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

use crate::area::{Area, AreaPage};
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
                    <Route path=path!("") view=|| view! { <AreaPage area=Area::Dashboard /> } />
                    <Route path=path!("vaults") view=|| view! { <AreaPage area=Area::Vaults /> } />
                    <Route path=path!("agents") view=|| view! { <AreaPage area=Area::Agents /> } />
                    <Route path=path!("sharing") view=|| view! { <AreaPage area=Area::Sharing /> } />
                    <Route path=path!("audit") view=|| view! { <AreaPage area=Area::AuditLog /> } />
                    <Route
                        path=path!("security")
                        view=|| view! { <AreaPage area=Area::Security /> }
                    />
                    <Route
                        path=path!("api-keys")
                        view=|| view! { <AreaPage area=Area::ApiKeys /> }
                    />
                    <Route path=path!("billing") view=|| view! { <AreaPage area=Area::Billing /> } />
                    <Route path=path!("team") view=|| view! { <AreaPage area=Area::Team /> } />
                </leptos_router::components::ParentRoute>
            </Routes>
        </Router>
    }
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
