//! The database circuit at the doors ([`talon_core::store::Store::note_unavailable`]): while the
//! store marks the database unavailable, every request that needs it is answered at once with
//! the 503 problem for the database, instead of waiting for a pooled connection; and any
//! answer that says the database is unavailable opens the circuit.
//!
//! Fail closed: a route is refused while the circuit is open unless it is listed here as
//! needing no database (health and the published keys).

use crate::problem::{DatabaseUnavailable, Problem};
use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use talon_core::store::Store;
use talon_core::{Core, Dependency, Error};

/// Paths answered without the database: the health check (which reports the outage itself)
/// and the public signing keys.
pub fn needs_no_database(path: &str) -> bool {
    matches!(
        path,
        "/v1/health" | "/v1/health/hsm" | "/.well-known/jwks.json" | "/v1/auth/jwt-public-key"
    )
}

/// The answer while the circuit is open: the 503 problem of a database-unavailable error.
pub fn refusal() -> Response {
    Problem::from(Error::Unavailable(Dependency::Database)).into_response()
}

/// Opens the circuit when `res` is the database-unavailable problem.
pub fn observe(store: &Store, res: &Response) {
    if res.extensions().get::<DatabaseUnavailable>().is_some() {
        store.note_unavailable();
    }
}

/// Layer for a door: refuses at once while the circuit is open (`exempt` paths excepted) and
/// opens it on a database-unavailable answer.
pub async fn guard(store: &Store, exempt: bool, req: Request<Body>, next: Next) -> Response {
    if !exempt && store.is_down() {
        return refusal();
    }
    let res = next.run(req).await;
    observe(store, &res);
    res
}

/// [`guard`] as a middleware with the core as state, for the MCP door.
pub async fn layer(State(core): State<Core>, req: Request<Body>, next: Next) -> Response {
    let exempt = needs_no_database(req.uri().path());
    guard(core.store(), exempt, req, next).await
}
