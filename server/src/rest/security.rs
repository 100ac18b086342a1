//! Org IP rules.

use super::uuid_param;
use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::ApiResult;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use talon_core::clock::rfc3339;
use talon_core::model::IpRule;
use talon_core::service::NewIpRule;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/security/ip-rules", get(list).post(create))
        .route("/v1/security/ip-rules/{rule_id}", delete(remove))
}

fn view(r: &IpRule) -> Value {
    json!({
        "id": r.id, "org_id": r.org_id, "rule_type": r.rule_type, "cidr": r.cidr,
        "label": r.label, "applies_to": r.applies_to, "created_by": r.created_by,
        "created_at": rfc3339(r.created_at),
    })
}

async fn list(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let rules = s.core.list_ip_rules(&p).await?;
    Ok(Json(
        json!({"rules": rules.iter().map(view).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
struct CreateBody {
    #[serde(alias = "type")]
    rule_type: String,
    cidr: String,
    #[serde(default, alias = "description")]
    label: Option<String>,
    #[serde(default)]
    applies_to: Option<String>,
}

async fn create(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let row = s
        .core
        .create_ip_rule(
            &p,
            NewIpRule {
                rule_type: b.rule_type,
                cidr: b.cidr,
                label: b.label,
                applies_to: b.applies_to,
            },
            &ctx,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view(&row))))
}

async fn remove(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.core
        .delete_ip_rule(&p, &uuid_param::<Uuid>("rule_id", &id)?, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
