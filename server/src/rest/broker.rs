//! Talon: the credential broker's report of a refused send (`talon run --broker`).

use super::uuid_param;
use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use talon_api::VaultId;
use talon_core::secret_path::SecretPath;
use talon_core::service::BlockedSend;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/broker/blocked", post(blocked))
}

#[derive(Deserialize)]
struct BlockedBody {
    vault_id: String,
    path: String,
    host: String,
    env: String,
}

/// Talon: audits a placeholder the broker refused to send to a host not allowed for its
/// secret (`secret.exfiltration_blocked`); 204.
async fn blocked(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<BlockedBody>,
) -> ApiResult<StatusCode> {
    let send = BlockedSend {
        vault_id: uuid_param::<VaultId>("vault_id", &b.vault_id)?,
        path: SecretPath::parse(&b.path)?,
        host: b.host,
        env: b.env,
    };
    s.core.record_blocked_send(&p, send, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
