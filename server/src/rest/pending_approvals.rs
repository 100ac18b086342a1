//! 1claw's M-of-N approvals (`/v1/pending-approvals*`: **SubmitPendingApprovalRequest**,
//! **PendingApprovalResponse**, **ApprovePendingApprovalRequest**) over the same approvals: a
//! submission names a policy of the caller's that requires approval, each vote names the
//! payload's hash, and `execute` records the approved action's one use.

use super::approvals::confirmation;
use super::uuid_param;
use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::{ApiResult, Problem};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use talon_core::clock::rfc3339;
use talon_core::service::{ApprovalDecision, ApprovalView};
use talon_core::Error;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/pending-approvals", get(list).post(submit))
        .route("/v1/pending-approvals/{id}", get(read))
        .route("/v1/pending-approvals/{id}/approve", post(approve))
        .route("/v1/pending-approvals/{id}/execute", post(execute))
        .route("/v1/pending-approvals/{id}/cancel", post(cancel))
}

fn status(v: &ApprovalView) -> &str {
    let a = &v.approval;
    if a.status == "approved" && a.used_at.is_some() {
        "executed"
    } else if a.decision_reason.as_deref() == Some("cancelled") && a.status == "rejected" {
        "cancelled"
    } else {
        &a.status
    }
}

/// **PendingApprovalResponse**.
fn view(v: &ApprovalView) -> Value {
    let a = &v.approval;
    json!({
        "id": a.id,
        "org_id": a.org_id,
        "policy_id": a.target_id,
        "action": a.action,
        "action_payload": a.summary,
        "payload_hash": a.request_hash,
        "submitted_by": a.requester_id,
        "submitted_by_type": a.requester_type,
        "status": status(v),
        "required_approvals": a.min_approvals,
        "current_approvals": v.current_approvals(),
        "expires_at": rfc3339(a.expires_at),
        "executed_at": a.used_at.map(rfc3339),
        "created_at": rfc3339(a.created_at),
        "updated_at": rfc3339(a.updated_at),
        "signatures": v.votes.iter().map(|x| json!({
            "approver_id": x.approver_id,
            "approver_type": "user",
            "decision": x.decision,
            "reason": x.reason,
            "credential_type": x.credential_type,
            "created_at": rfc3339(x.created_at),
        })).collect::<Vec<_>>(),
    })
}

fn id_param(id: &str) -> ApiResult<String> {
    uuid_param::<Uuid>("id", id)
}

#[derive(Deserialize)]
struct SubmitBody {
    policy_id: String,
    action: String,
    action_payload: Value,
}

async fn submit(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<SubmitBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let policy_id = uuid_param::<Uuid>("policy_id", &b.policy_id)?;
    let a = s
        .core
        .submit_pending_approval(&p, &policy_id, &b.action, b.action_payload, &ctx)
        .await?;
    let v = s.core.get_approval(&p, &a.id, &ctx).await?;
    let current = v.current_approvals();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "pending_approval_id": a.id,
            "required_approvals": a.min_approvals,
            "current_approvals": current,
            "expires_at": rfc3339(a.expires_at),
            "status": status(&v),
            "message": format!(
                "Waiting for {} approval(s); poll GET /v1/pending-approvals/{}",
                a.min_approvals, a.id
            ),
        })),
    ))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    offset: Option<i64>,
}

async fn list(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let agent = q
        .agent_id
        .as_deref()
        .map(|a| uuid_param::<Uuid>("agent_id", a))
        .transpose()?;
    let rows = s
        .core
        .list_approvals(
            &p,
            q.status.as_deref().filter(|s| !s.is_empty()),
            q.limit.unwrap_or(50).min(100),
            q.offset.unwrap_or(0),
            &ctx,
        )
        .await?;
    let rows: Vec<Value> = rows
        .iter()
        .filter(|v| v.approval.target_type == "policy")
        .filter(|v| agent.is_none() || v.approval.agent_id == agent)
        .map(view)
        .collect();
    Ok(Json(
        json!({"total": rows.len(), "pending_approvals": rows}),
    ))
}

async fn read(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = s.core.get_approval(&p, &id_param(&id)?, &ctx).await?;
    Ok(Json(view(&v)))
}

/// **ApprovePendingApprovalRequest**.
#[derive(Deserialize)]
struct ApproveBody {
    decision: String,
    payload_hash: String,
    #[serde(default)]
    reason: Option<String>,
}

async fn approve(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ApproveBody>,
) -> ApiResult<Json<Value>> {
    let id = id_param(&id)?;
    let approve = match b.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => {
            return Err(Problem::from(Error::invalid(
                "decision",
                "decision must be approve or reject",
            )))
        }
    };
    let current = s.core.get_approval(&p, &id, &ctx).await?;
    if current.approval.request_hash != b.payload_hash.trim().to_lowercase() {
        return Err(Problem::from(Error::Conflict(
            "payload_hash does not match the submitted payload".into(),
        )));
    }
    let d = ApprovalDecision {
        approve,
        reason: b.reason,
        confirm: confirmation(&headers)?,
    };
    let v = s.core.decide_approval(&p, &id, d, &ctx).await?;
    Ok(Json(view(&v)))
}

async fn execute(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let a = s
        .core
        .execute_pending_approval(&p, &id_param(&id)?, &ctx)
        .await?;
    Ok(Json(json!({
        "pending_approval_id": a.id,
        "status": "executed",
        "executed_at": a.used_at.map(rfc3339),
        "result": {"action": a.action, "action_payload": a.summary},
    })))
}

async fn cancel(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = s
        .core
        .cancel_approval(&p, &id_param(&id)?, None, &ctx)
        .await?;
    Ok(Json(view(&v)))
}
