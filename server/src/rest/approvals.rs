//! Approvals (1claw's **ApprovalResponse**, **DecideApprovalRequest**): list, get, poll,
//! decide (with `X-Auth-Confirm` step-up from risk tier 2), cancel, an agent's own request,
//! and the one-click links of notifications, which only ever open the dashboard's
//! confirmation page.

use super::uuid_param;
use crate::extract::{ApiJson, Auth, Ctx};
use crate::problem::{ApiResult, Problem};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use talon_core::clock::rfc3339;
use talon_core::material::Password;
use talon_core::service::{ApprovalDecision, ApprovalView, DeclaredAction};
use talon_core::Error;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/approvals", get(list))
        .route("/v1/approvals/request", post(request))
        .route(
            "/v1/approvals/quick-decide",
            get(quick_link).post(quick_decide),
        )
        .route("/v1/approvals/link", get(link))
        .route("/v1/approvals/pending-count", get(pending_count))
        .route("/v1/approvals/{approval_id}", get(read))
        .route("/v1/approvals/{approval_id}/status", get(status))
        .route("/v1/approvals/{approval_id}/decide", post(decide))
        .route("/v1/approvals/{approval_id}/cancel", post(cancel))
}

/// **ApprovalResponse**, plus Talon's M-of-N, grant and vote fields.
pub(crate) fn view(v: &ApprovalView) -> Value {
    let a = &v.approval;
    let approvals = v.current_approvals();
    json!({
        "id": a.id,
        "org_id": a.org_id,
        "user_id": a.user_id,
        "agent_id": a.agent_id,
        "action": a.action,
        "target_type": a.target_type,
        "target_id": a.target_id,
        "risk_tier": a.risk_tier,
        "status": a.status,
        "summary": a.summary,
        "reason": a.reason,
        "decision_reason": a.decision_reason,
        "decided_by": a.decided_by,
        "decided_at": a.decided_at.map(rfc3339),
        "expires_at": rfc3339(a.expires_at),
        "created_at": rfc3339(a.created_at),
        "requester_type": a.requester_type,
        "requester_id": a.requester_id,
        "approvers": a.approvers,
        "required_approvals": a.min_approvals,
        "current_approvals": approvals,
        "grant": match a.grant_seconds {
            None => json!("once"),
            Some(s) => json!({"for_seconds": s}),
        },
        "grant_expires_at": a.grant_expires_at.map(rfc3339),
        "used_at": a.used_at.map(rfc3339),
        "use_count": a.use_count,
        "step_up_required": a.risk_tier >= talon_core::service::STEP_UP_TIER,
        "can_decide": v.can_decide,
        "votes": v.votes.iter().map(|x| json!({
            "approver_id": x.approver_id,
            "decision": x.decision,
            "reason": x.reason,
            "credential_type": x.credential_type,
            "created_at": rfc3339(x.created_at),
        })).collect::<Vec<_>>(),
    })
}

fn approval_param(id: &str) -> ApiResult<String> {
    uuid_param::<Uuid>("approval_id", id)
}

/// The step-up confirmation of a decision: `X-Auth-Confirm` (a password or a TOTP code).
pub(crate) fn confirmation(headers: &HeaderMap) -> ApiResult<Option<Password>> {
    match headers.get("x-auth-confirm") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(Password::new(s.to_owned())))
            .map_err(|_| {
                Problem::from(Error::invalid(
                    "X-Auth-Confirm",
                    "X-Auth-Confirm must be printable text",
                ))
            }),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    status: Option<String>,
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
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    let rows = s
        .core
        .list_approvals(
            &p,
            status,
            q.limit.unwrap_or(50),
            q.offset.unwrap_or(0),
            &ctx,
        )
        .await?;
    Ok(Json(
        json!({"approvals": rows.iter().map(view).collect::<Vec<_>>()}),
    ))
}

async fn pending_count(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let n = s.core.pending_approval_count(&p).await?;
    Ok(Json(json!({"pending": n})))
}

async fn read(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = s.core.get_approval(&p, &approval_param(&id)?, &ctx).await?;
    Ok(Json(view(&v)))
}

/// A small answer for polling.
async fn status(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = s.core.get_approval(&p, &approval_param(&id)?, &ctx).await?;
    let a = &v.approval;
    Ok(Json(json!({
        "id": a.id,
        "status": a.status,
        "required_approvals": a.min_approvals,
        "current_approvals": v.current_approvals(),
        "expires_at": rfc3339(a.expires_at),
        "grant_expires_at": a.grant_expires_at.map(rfc3339),
        "used_at": a.used_at.map(rfc3339),
        "decision_reason": a.decision_reason,
    })))
}

/// The body of `POST /v1/approvals/request`.
#[derive(Deserialize)]
struct RequestBody {
    action: String,
    target_type: String,
    target_id: String,
    summary: Value,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    risk_tier: Option<i64>,
}

async fn request(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<RequestBody>,
) -> ApiResult<Response> {
    // 1claw's SDKs send the summary as text; it is kept as an object either way.
    let summary = match b.summary {
        Value::String(text) => json!({ "text": text }),
        other => other,
    };
    let a = s
        .core
        .request_approval(
            &p,
            DeclaredAction {
                action: b.action,
                target_type: b.target_type,
                target_id: b.target_id,
                summary,
                reason: b.reason,
                risk_tier: b.risk_tier,
            },
            &ctx,
        )
        .await?;
    let v = s.core.get_approval(&p, &a.id, &ctx).await?;
    let location = format!("/v1/approvals/{}", a.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(view(&v)),
    )
        .into_response())
}

/// **DecideApprovalRequest**.
#[derive(Deserialize)]
struct DecideBody {
    decision: String,
    #[serde(default)]
    reason: Option<String>,
}

fn approve_flag(decision: &str) -> ApiResult<bool> {
    match decision {
        "approve" | "approved" => Ok(true),
        "reject" | "rejected" => Ok(false),
        _ => Err(Problem::from(Error::invalid(
            "decision",
            "decision must be approve or reject",
        ))),
    }
}

async fn decide(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<DecideBody>,
) -> ApiResult<Json<Value>> {
    let d = ApprovalDecision {
        approve: approve_flag(&b.decision)?,
        reason: b.reason,
        confirm: confirmation(&headers)?,
    };
    let v = s
        .core
        .decide_approval(&p, &approval_param(&id)?, d, &ctx)
        .await?;
    Ok(Json(view(&v)))
}

#[derive(Deserialize)]
struct CancelBody {
    #[serde(default)]
    reason: Option<String>,
}

async fn cancel(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    // The body is optional: none, or `{"reason": "…"}`.
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<CancelBody>(&body)
            .map_err(|_| {
                Problem::from(Error::invalid(
                    "reason",
                    "The body must be empty or a JSON object with an optional reason",
                ))
            })?
            .reason
    };
    let v = s
        .core
        .cancel_approval(&p, &approval_param(&id)?, reason.as_deref(), &ctx)
        .await?;
    Ok(Json(view(&v)))
}

#[derive(Deserialize)]
struct LinkQuery {
    token: String,
    #[serde(default)]
    decision: Option<String>,
}

/// The link in a notification: never decides, only sends the browser to the dashboard's
/// confirmation page (once the link is known to be valid).
async fn quick_link(State(s): State<AppState>, Query(q): Query<LinkQuery>) -> ApiResult<Response> {
    let decision = match q.decision.as_deref() {
        Some("approved") | Some("approve") => "approve",
        Some("rejected") | Some("reject") => "reject",
        _ => {
            return Err(Problem::from(Error::invalid(
                "decision",
                "decision must be approved or rejected",
            )))
        }
    };
    if q.token.len() > 200 || !q.token.starts_with("qd_") {
        return Err(Problem::from(Error::NotFound("Approval link")));
    }
    s.core.approval_link(&q.token).await?;
    let to = format!(
        "/approvals/confirm?token={}&decision={decision}",
        urlencoding(&q.token)
    );
    Ok(Redirect::to(&to).into_response())
}

fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What a one-click link is for, to the signed-in approver it was sent to.
async fn link(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Query(q): Query<LinkQuery>,
) -> ApiResult<Json<Value>> {
    let v = s.core.approval_for_link(&p, &q.token, &ctx).await?;
    Ok(Json(view(&v)))
}

#[derive(Deserialize)]
struct QuickBody {
    token: String,
    decision: String,
    #[serde(default)]
    reason: Option<String>,
}

/// The dashboard's confirmation of a one-click link: spends the link and decides.
async fn quick_decide(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    ApiJson(b): ApiJson<QuickBody>,
) -> ApiResult<Json<Value>> {
    let d = ApprovalDecision {
        approve: approve_flag(&b.decision)?,
        reason: b.reason,
        confirm: confirmation(&headers)?,
    };
    let v = s.core.quick_decide(&p, &b.token, d, &ctx).await?;
    Ok(Json(view(&v)))
}
