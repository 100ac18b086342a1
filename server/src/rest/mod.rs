//! The `/v1` REST API: each resource owns its router and its file. Shapes follow API.md.

mod account;
mod agents;
mod approvals;
pub(crate) mod audit;
mod auth;
mod billing;
mod bindings;
mod broker;
mod device;
mod env_vars;
mod health;
mod honeytokens;
mod org;
mod pending_approvals;
mod policies;
mod secret_requests;
mod secrets;
mod security;
pub(crate) mod shares;
mod vault_keys;
mod vaults;
mod webhooks;

use crate::problem::{ApiResult, Problem};
use crate::AppState;
use axum::http::StatusCode;
use axum::routing::any;
use axum::Router;
use talon_core::clock::parse_rfc3339;

/// Every `/v1` route plus `/.well-known` (an unknown path under either is a 404 problem);
/// a browser's cross-site post to any of them is refused ([`crate::guard::cross_site_posts`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(auth::router())
        .merge(device::router())
        .merge(account::router())
        .merge(vaults::router())
        .merge(secrets::router())
        .merge(secret_requests::router())
        .merge(env_vars::router())
        .merge(agents::router())
        .merge(bindings::router())
        .merge(approvals::router())
        .merge(pending_approvals::router())
        .merge(policies::router())
        .merge(audit::router())
        .merge(org::router())
        .merge(security::router())
        .merge(shares::router())
        .merge(billing::router())
        .merge(vault_keys::router())
        .merge(webhooks::router())
        .merge(honeytokens::router())
        .merge(broker::router())
        .route(
            "/v1/{*rest}",
            any(|| async { Problem::new(StatusCode::NOT_FOUND, "No such route") }),
        )
        .route(
            "/.well-known/{*rest}",
            any(|| async { Problem::new(StatusCode::NOT_FOUND, "No such document") }),
        )
        .layer(axum::middleware::from_fn(crate::guard::cross_site_posts))
}

/// Parses an id from the path or body as the id newtype `I` (`talon_api::VaultId` and the
/// others; `uuid::Uuid` for ids without one), so one parser decides what an id is, and hands it
/// on in the lower-case canonical form the core and the database use. Anything else is a 400
/// problem naming `field` that does not echo the input.
pub(crate) fn uuid_param<I>(field: &'static str, s: &str) -> ApiResult<String>
where
    I: std::str::FromStr + std::fmt::Display,
{
    s.parse::<I>().map(|id| id.to_string()).map_err(|_| {
        Problem::from(talon_core::Error::invalid(
            field,
            format!("{field} must be a UUID"),
        ))
    })
}

/// Parses an optional RFC 3339 time field.
pub(crate) fn time_field(field: &'static str, v: &Option<String>) -> ApiResult<Option<i64>> {
    v.as_deref()
        .map(|s| {
            parse_rfc3339(s).ok_or_else(|| {
                Problem::from(talon_core::Error::invalid(
                    field,
                    format!("{field} must be an RFC 3339 time"),
                ))
            })
        })
        .transpose()
}

/// Deserialises a field that distinguishes absent (`None`) from explicit `null` (`Some(None)`);
/// use with `#[serde(default, deserialize_with = "nullable")]`.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}

/// Parses a nullable RFC 3339 patch field.
pub(crate) fn nullable_time(
    field: &'static str,
    v: Option<Option<String>>,
) -> ApiResult<Option<Option<i64>>> {
    match v {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(s)) => Ok(Some(time_field(field, &Some(s))?)),
    }
}
