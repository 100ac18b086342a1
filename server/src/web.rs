//! The dashboard door: serves the Leptos app (`app::App`), its server
//! functions (under `/ui/`) and the compiled assets in the site root (`/pkg/*`,
//! `/favicon.svg`).

use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{file_and_error_handler_with_context, generate_route_list, LeptosRoutes};

/// Router for the dashboard pages, their server functions and static files.
///
/// Every page render and server-function call gets `core` in its Leptos
/// context. The router has a fallback (static files from
/// `leptos_options.site_root`, otherwise the app's 404 page), so the router it
/// is merged into must not have a fallback of its own.
pub fn router(core: talon_core::Core, leptos_options: LeptosOptions) -> Router {
    let routes = generate_route_list(app::App);
    let context = move || provide_context(core.clone());
    Router::new()
        .leptos_routes_with_context(&leptos_options, routes, context.clone(), {
            let leptos_options = leptos_options.clone();
            move || app::shell(leptos_options.clone())
        })
        .fallback(file_and_error_handler_with_context(context, app::shell))
        .with_state(leptos_options)
}
