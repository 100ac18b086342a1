//! The dashboard door: serves the Leptos app (`app::App`), its server
//! functions (under `/ui/`), the audit export download and the compiled assets
//! in the site root (`/pkg/*`, `/favicon.svg`).

use crate::problem::Problem;
use axum::extract::{Extension, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{file_and_error_handler_with_context, generate_route_list, LeptosRoutes};
use serde::Deserialize;
use talon_core::{Core, Credential, Dependency, Error, Operation};

/// Router for the dashboard pages, their server functions and static files.
///
/// Every page render and server-function call gets `core` in its Leptos
/// context. The router has a fallback (static files from
/// `leptos_options.site_root`, otherwise the app's 404 page), so the router it
/// is merged into must not have a fallback of its own.
pub fn router(core: Core, leptos_options: LeptosOptions) -> Router {
    let routes = generate_route_list(app::App);
    let context = {
        let core = core.clone();
        move || provide_context(core.clone())
    };
    let export = Router::new()
        .route("/audit/export.jsonl", get(export_audit))
        .with_state(core.clone());
    Router::new()
        .leptos_routes_with_context(&leptos_options, routes, context.clone(), {
            let leptos_options = leptos_options.clone();
            move || app::shell(leptos_options.clone())
        })
        .fallback(file_and_error_handler_with_context(context, app::shell))
        .with_state(leptos_options)
        .merge(export)
        .merge(crate::oauth::router(core.clone()))
        .layer(axum::middleware::from_fn_with_state(
            core.clone(),
            admit_session,
        ))
        .layer(axum::middleware::from_fn(same_origin_posts))
        .layer(axum::middleware::from_fn(not_cached))
        .layer(crate::sessions::layer(core.clone()))
        .layer(axum::middleware::from_fn_with_state(core, circuit))
}

/// The database circuit ([`crate::circuit`]) for the dashboard: while the database is marked
/// unavailable, everything but the compiled assets is answered 503 at once.
async fn circuit(State(core): State<Core>, request: Request, next: Next) -> Response {
    let exempt = is_asset(request.uri().path());
    crate::circuit::guard(core.store(), exempt, request, next).await
}

/// Which operation a dashboard request is, as the REST door's table names its routes: the
/// reveal is a secret read, saving and rotating are writes, and so on, so a dashboard user
/// is billed exactly as the same request over REST would be.
fn operation(path: &str) -> Operation {
    match path {
        "/ui/secrets/reveal" => Operation::SecretRead,
        "/ui/secrets/put" | "/ui/secrets/rotate" => Operation::SecretWrite,
        "/ui/sharing/create" => Operation::ShareCreate,
        "/ui/audit/page" | "/audit/export.jsonl" => Operation::AuditQuery,
        _ => Operation::Other,
    }
}

/// Dashboard pages and server-function answers (a revealed value, a share link, a new
/// agent key) are never stored by the browser or a proxy: every response but a compiled
/// asset carries `Cache-Control: no-store`.
async fn not_cached(request: Request, next: Next) -> Response {
    let asset = is_asset(request.uri().path());
    let mut response = next.run(request).await;
    if !asset {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
    }
    response
}

/// Compiled assets hold nothing of an org's; they are served without admission.
fn is_asset(path: &str) -> bool {
    path.starts_with("/pkg/") || path == "/favicon.svg" || path == "/favicon.ico"
}

/// The dashboard door's side of the gate: a request whose session signs a user in passes
/// the core's gate (org IP rules, per-principal rate limit, quota) before any page renders
/// or server function runs, and the signed-in user rides in the request's extensions
/// ([`app::session::SignedIn`]) to them. A session whose user is gone is ended; a request
/// without a signed-in session goes on signed out (the sign-in pages).
async fn admit_session(
    State(core): State<Core>,
    session: tower_sessions::Session,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if is_asset(&path) {
        return next.run(request).await;
    }
    let user_id: Option<String> = match session.get(app::session::SESSION_USER_KEY).await {
        Ok(user_id) => user_id,
        Err(error) => {
            tracing::error!(%error, "dashboard session could not be read");
            return Problem::from(Error::Unavailable(Dependency::Database)).into_response();
        }
    };
    let Some(user_id) = user_id else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let ctx = crate::extract::context(&parts);
    let mut request = Request::from_parts(parts, body);
    let method = request.method().clone();
    match core
        .admit(
            Credential::Session { user_id: &user_id },
            &ctx,
            operation(&path),
            talon_core::Access::Session,
        )
        .await
    {
        Ok(admitted) => {
            request
                .extensions_mut()
                .insert(app::session::SignedIn(admitted.principal.clone()));
            let response = next.run(request).await;
            core.settle(
                &admitted,
                method.as_str(),
                &path,
                response.status().as_u16(),
            );
            response
        }
        Err(Error::Unauthorized(_)) => {
            if let Err(error) = session.flush().await {
                tracing::error!(%error, "ended dashboard session could not be removed");
            }
            next.run(request).await
        }
        Err(refused) => Problem::from(refused).into_response(),
    }
}

/// CSRF protection for the cookie-authenticated dashboard: every state-changing
/// request (anything but GET, HEAD, OPTIONS) must come from the dashboard's own
/// origin, with or without a session cookie, so another site cannot sign a browser
/// in (login CSRF), sign it up, or start a password reset or a code step either.
/// Browsers send `Origin` on every such request and `Sec-Fetch-Site` on modern
/// ones; another site's form or script gets a 403 before any server function
/// runs. Top-level GET navigations (links, the Google sign-in redirects) pass.
async fn same_origin_posts(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe {
        return next.run(request).await;
    }
    if is_same_origin(request.headers()) {
        next.run(request).await
    } else {
        tracing::warn!(path = %request.uri().path(), "cross-origin dashboard request refused");
        (
            StatusCode::FORBIDDEN,
            "Cross-origin request refused: the dashboard accepts changes only from its own pages.",
        )
            .into_response()
    }
}

/// Whether the request's `Origin` names the host it was sent to (and
/// `Sec-Fetch-Site`, when present, does not say otherwise).
fn is_same_origin(headers: &HeaderMap) -> bool {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = value("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    let (Some(origin), Some(host)) = (value("origin"), value("host")) else {
        return false;
    };
    origin.split_once("://").is_some_and(|(scheme, authority)| {
        matches!(scheme, "http" | "https") && authority.eq_ignore_ascii_case(host)
    })
}

/// Filters of the export, as on the audit page.
#[derive(Debug, Default, Deserialize)]
struct ExportQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor_type: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// `GET /audit/export.jsonl`: the signed-in user's org's audit events that
/// match the filters, one JSON object per line, newest first, streamed page by
/// page (the same export as `GET /v1/audit/export`). Values are never in
/// events, so never in the export.
async fn export_audit(
    State(core): State<Core>,
    Query(q): Query<ExportQuery>,
    signed_in: Option<Extension<app::session::SignedIn>>,
) -> Response {
    let Some(Extension(app::session::SignedIn(principal))) = signed_in else {
        return (StatusCode::UNAUTHORIZED, "Sign in to export the audit log.").into_response();
    };
    let filter = app::audit::AuditFilter {
        action: q.action,
        actor_type: q.actor_type,
        from: q.from,
        to: q.to,
        offset: 0,
    };
    let mut response = match crate::rest::audit::export_response(
        core,
        principal,
        app::audit::audit_query(&filter, 0),
    )
    .await
    {
        Ok(response) => response,
        Err(problem) => return problem.into_response(),
    };
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_static("attachment; filename=\"audit.jsonl\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn same_origin_requires_an_origin_naming_the_host() {
        let cases: &[(&[(&str, &str)], bool)] = &[
            (
                &[
                    ("host", "127.0.0.1:8080"),
                    ("origin", "http://127.0.0.1:8080"),
                ],
                true,
            ),
            (
                &[
                    ("host", "talon.example"),
                    ("origin", "https://talon.example"),
                ],
                true,
            ),
            (
                &[
                    ("host", "127.0.0.1:8080"),
                    ("origin", "http://evil.example"),
                ],
                false,
            ),
            (&[("host", "127.0.0.1:8080"), ("origin", "null")], false),
            (&[("host", "127.0.0.1:8080")], false),
            (
                &[
                    ("host", "127.0.0.1:8080"),
                    ("origin", "http://127.0.0.1:8080"),
                    ("sec-fetch-site", "cross-site"),
                ],
                false,
            ),
            (
                &[
                    ("host", "127.0.0.1:8080"),
                    ("origin", "http://127.0.0.1:8080"),
                    ("sec-fetch-site", "same-origin"),
                ],
                true,
            ),
        ];
        for (pairs, expected) in cases {
            assert_eq!(is_same_origin(&headers(pairs)), *expected, "{pairs:?}");
        }
    }
}
