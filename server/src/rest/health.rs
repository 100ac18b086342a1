//! Health and key publication: `/v1/health`, `/v1/health/hsm`, JWKS, the JWT public key.

use crate::problem::OwnBody;
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/health/hsm", get(hsm))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/v1/auth/jwt-public-key", get(public_key))
}

/// Answers within a second: the database check is immediate while its circuit is open and
/// bounded otherwise ([`talon_core::service::HEALTH_DATABASE_DEADLINE`]). The audit log lives
/// in the database, so it is down with it.
async fn health(State(s): State<AppState>) -> impl IntoResponse {
    let h = s.core.health().await;
    let check = |ok: bool| if ok { "ok" } else { "unavailable" };
    let database = if h.database { "ok" } else { "down" };
    let body = json!({
        "status": if !h.database { "unhealthy" } else if h.keystore { "healthy" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "checks": {"database": database, "keystore": check(h.keystore), "audit": database},
    });
    let status = if h.database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // The 503 carries the report itself, not a generic problem document.
    (status, Extension(OwnBody), Json(body))
}

async fn hsm(State(s): State<AppState>) -> impl IntoResponse {
    match s.core.keystore_latency().await {
        Ok(d) => {
            let ms = d.as_secs_f64() * 1000.0;
            let status = if ms < 500.0 { "ok" } else { "degraded" };
            (
                StatusCode::OK,
                Extension(OwnBody),
                Json(json!({"status": status, "latency_ms": ms})),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Extension(OwnBody),
            Json(json!({"status": "unavailable"})),
        ),
    }
}

async fn jwks(State(s): State<AppState>) -> impl IntoResponse {
    let (kid, key) = s.core.jwt_public_key();
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(key),
            "kid": kid, "alg": "EdDSA", "use": "sig",
        }]})),
    )
}

/// Exactly 1claw's schema (`alg`, `public_key_base64`); the key id is in the JWKS.
async fn public_key(State(s): State<AppState>) -> impl IntoResponse {
    let (_, key) = s.core.jwt_public_key();
    Json(json!({"alg": "EdDSA", "public_key_base64": STANDARD.encode(key)}))
}
