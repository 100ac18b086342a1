//! Audit events.

use crate::extract::Auth;
use crate::problem::{ApiResult, Problem};
use crate::AppState;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use talon_api::audit::AuditEventResponse;
use talon_core::service::AuditQuery;

/// `GET /v1/audit` is an alias of `GET /v1/audit/events` that 1claw's clients also use.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/audit/events", get(events))
        .route("/v1/audit", get(events))
        .route("/v1/audit/verify", get(verify))
        .route("/v1/audit/export", get(export))
}

/// Events per database page of an export.
const EXPORT_PAGE: i64 = 500;

/// The events matching the same filters as `/v1/audit/events`, every one of them (no limit or
/// offset), newest first, as JSON lines (`application/x-ndjson`), streamed a page at a time.
async fn export(
    State(s): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<EventsQuery>,
) -> ApiResult<axum::response::Response> {
    let query = AuditQuery {
        resource_id: q.resource_id,
        actor_id: q.actor_id,
        actor_type: q.actor_type,
        action: q.action,
        from: q.from,
        to: q.to,
        limit: None,
        offset: None,
    };
    export_response(s.core, p, query).await
}

/// The JSON-lines export of the events `query` selects, for the REST route and the
/// dashboard's download alike.
pub(crate) async fn export_response(
    core: talon_core::Core,
    p: talon_core::Principal,
    query: AuditQuery,
) -> ApiResult<axum::response::Response> {
    let filter = core.audit_export_filter(&p, query)?;
    // The first page is read before answering, so a failing database is a proper 503.
    let first = core
        .audit_export_page(&p, &filter, None, EXPORT_PAGE)
        .await?;
    // State: the page to send next; `None` once the stream has ended (or failed).
    let state = (core, p, filter, Some(first));
    let stream = futures_util::stream::unfold(state, |(core, p, filter, page)| async move {
        let page = page.filter(|rows| !rows.is_empty())?;
        let mut chunk = Vec::new();
        for e in &page {
            serde_json::to_writer(&mut chunk, &AuditEventResponse::from(e)).ok()?;
            chunk.push(b'\n');
        }
        let next = if (page.len() as i64) < EXPORT_PAGE {
            Ok(Vec::new())
        } else {
            let last = page.last().map(|e| e.seq);
            core.audit_export_page(&p, &filter, last, EXPORT_PAGE).await
        };
        match next {
            Ok(rows) => Some((
                Ok::<_, std::io::Error>(chunk),
                (core, p, filter, Some(rows)),
            )),
            Err(e) => {
                // Headers are gone already: cut the body short so the client sees an error.
                tracing::error!(error = %e, "audit export stopped");
                Some((
                    Err(std::io::Error::other("audit export interrupted")),
                    (core, p, filter, None),
                ))
            }
        }
    });
    let mut res = axum::response::Response::new(axum::body::Body::from_stream(stream));
    res.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(res)
}

#[derive(Deserialize)]
struct EventsQuery {
    resource_id: Option<String>,
    actor_id: Option<String>,
    actor_type: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

fn int(field: &'static str, v: Option<String>) -> ApiResult<Option<i64>> {
    v.map(|s| {
        s.parse::<i64>().map_err(|_| {
            Problem::from(talon_core::Error::invalid(
                field,
                format!("{field} must be an integer"),
            ))
        })
    })
    .transpose()
}

async fn events(
    State(s): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Json<Value>> {
    let query = AuditQuery {
        resource_id: q.resource_id,
        actor_id: q.actor_id,
        actor_type: q.actor_type,
        action: q.action,
        from: q.from,
        to: q.to,
        limit: int("limit", q.limit)?,
        offset: int("offset", q.offset)?,
    };
    let (events, total, limit, offset) = s.core.audit_events(&p, query).await?;
    Ok(Json(json!({
        "events": events.iter().map(AuditEventResponse::from).collect::<Vec<_>>(),
        "count": events.len(), "total": total, "limit": limit, "offset": offset,
    })))
}

#[derive(Deserialize)]
struct VerifyQuery {
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
}

/// Recomputes the org's hash chain (the whole chain unless `from`, `to` or `limit` narrow it)
/// and names the first broken link. `complete` is true only when every event from the org's
/// first to its signed head was checked and verified; a narrowed range reads as partial.
async fn verify(
    State(s): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<VerifyQuery>,
) -> ApiResult<Json<Value>> {
    let limit = int("limit", q.limit)?;
    let r = s
        .core
        .verify_audit_chain(&p, q.from.as_deref(), q.to.as_deref(), limit)
        .await?;
    let broken = r.first_break.as_ref();
    Ok(Json(json!({
        "chain_valid": broken.is_none(),
        "events_verified": r.verified,
        "events_checked": r.checked,
        "first_seq": r.first_seq,
        "last_seq": r.last_seq,
        "complete": r.complete,
        "partial": broken.is_none() && !r.complete,
        "head": r.head.as_ref().map(|h| json!({
            "seq": h.seq, "event_id": h.event_id, "mac_valid": h.mac_valid,
        })),
        "broken_at_event_id": broken.and_then(|b| b.event_id.clone()),
        "broken_at_seq": broken.and_then(|b| b.seq),
        "broken_reason": broken.map(|b| b.reason),
        "scheme": {
            "algorithm": "HMAC-SHA256",
            "chain_structure": "per-org sequence; integrity_hash = HMAC(key in the HSM, prev_integrity_hash | canonical JSON of the event); a signed head (HMAC of the newest event's seq, id and hash) moves with every append",
            "hash_field": "integrity_hash",
            "link_field": "prev_event_id",
            "documentation": "API.md section 10",
        },
    })))
}
