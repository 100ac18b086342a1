//! RFC 7807 problem responses: the one place where domain errors become HTTP.

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use talon_core::{Dependency, Error};

/// A problem to send: status, `type`, detail and extension members.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub kind: &'static str,
    pub detail: String,
    pub extra: Map<String, Value>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Problem {
            status,
            kind: "about:blank",
            detail: detail.into(),
            extra: Map::new(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, detail)
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        let detail = e.to_string();
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match e {
            Error::Invalid { field, reason } => {
                let mut p = Problem::new(status, reason.clone());
                if let Some(f) = field {
                    p.extra.insert("fields".into(), json!({ f: reason }));
                }
                p
            }
            Error::Unauthorized(_) => Problem::new(status, detail),
            Error::Forbidden(_) => Problem::new(status, detail),
            Error::UseOnly(_) => {
                let mut p = Problem::new(status, detail);
                p.kind = "use_only";
                p
            }
            Error::ApprovalRequired {
                ref approval_id, ..
            } => {
                let mut p = Problem::new(status, detail.clone());
                p.kind = "approval_required";
                p.extra.insert("approval_id".into(), json!(approval_id));
                // The name 1claw's SDKs read it under.
                p.extra
                    .insert("approval_request_id".into(), json!(approval_id));
                p.extra.insert(
                    "status_url".into(),
                    json!(format!("/v1/approvals/{approval_id}/status")),
                );
                p
            }
            Error::StepUpRequired(_) => {
                let mut p = Problem::new(status, detail);
                p.kind = "step_up_required";
                p
            }
            Error::NotFound(_) => Problem::new(status, detail),
            Error::Gone(_) => Problem::new(status, detail),
            Error::Conflict(_) => Problem::new(status, detail),
            Error::LimitExceeded {
                current,
                limit,
                ref tier,
                ..
            } => {
                let mut p = Problem::new(status, detail.clone());
                p.kind = "resource_limit_exceeded";
                p.extra.insert("limit".into(), json!(limit));
                p.extra.insert("current".into(), json!(current));
                p.extra.insert("tier".into(), json!(tier));
                p
            }
            Error::QuotaExceeded {
                used,
                limit,
                ref tier,
            } => {
                let mut p = Problem::new(status, detail.clone());
                p.kind = "quota_exceeded";
                p.extra.insert("limit".into(), json!(limit));
                p.extra.insert("current".into(), json!(used));
                p.extra.insert("tier".into(), json!(tier));
                p
            }
            Error::BillingNotConfigured(_) => {
                let mut p = Problem::new(status, detail);
                p.kind = "billing_not_configured";
                p
            }
            Error::IpDenied => {
                let mut p = Problem::new(status, detail);
                p.kind = "ip_denied";
                p
            }
            Error::RateLimited { retry_after_s } => {
                let mut p = Problem::new(status, detail);
                p.kind = "rate_limited";
                p.extra.insert("retry_after".into(), json!(retry_after_s));
                p
            }
            Error::Unavailable(dep) => {
                let mut p = Problem::new(status, detail);
                p.kind = "unavailable";
                p.extra.insert(
                    "dependency".into(),
                    json!(match dep {
                        Dependency::Database => "database",
                        Dependency::Keystore => "keystore",
                        Dependency::Audit => "audit",
                        Dependency::Billing => "billing",
                        Dependency::Mail => "mail",
                        Dependency::AccessRules => "access_rules",
                    }),
                );
                p
            }
            // The cause was logged where it happened; the client gets only a reference, which
            // the request-id middleware fills in.
            Error::Internal(_) => Problem::new(status, "Internal error"),
        }
    }
}

/// Response extension for an error status whose body is a document of its own (the health
/// report), which [`request_id_and_problems`] leaves as it is instead of making it a problem.
#[derive(Debug, Clone, Copy)]
pub struct OwnBody;

/// Response extension marking the problem for an unavailable database, which the doors'
/// circuit layer ([`crate::circuit`]) watches for.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseUnavailable;

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let database_down = self.status == StatusCode::SERVICE_UNAVAILABLE
            && self.extra.get("dependency").and_then(Value::as_str) == Some("database");
        let title = self.status.canonical_reason().unwrap_or("Error");
        let mut body = Map::new();
        body.insert("type".into(), json!(self.kind));
        body.insert("title".into(), json!(title));
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("detail".into(), json!(self.detail));
        let retry_after = self.extra.get("retry_after").and_then(Value::as_u64);
        body.extend(self.extra);
        let mut res = (self.status, Value::Object(body).to_string()).into_response();
        if let Some(secs) = retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if database_down {
            res.extensions_mut().insert(DatabaseUnavailable);
        }
        res
    }
}

/// The JSON text of a problem document with the standard members and `request_id`, for answers
/// written outside the router (by the listener).
pub fn document(status: StatusCode, detail: &str, request_id: &str) -> String {
    json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
        "request_id": request_id,
    })
    .to_string()
}

/// Result type of REST handlers.
pub type ApiResult<T> = Result<T, Problem>;

const MAX_REQUEST_ID: usize = 64;

fn safe_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty()
        && s.len() <= MAX_REQUEST_ID
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    .then(|| s.to_owned())
}

/// Assigns the request id, opens the tracing span, and makes every error response of the API a
/// problem document carrying `request_id` (including the framework's own 404/405/413).
pub async fn request_id_and_problems(req: Request<Body>, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(safe_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let res = {
        let _enter = span.enter();
        tracing::debug!("request received");
        drop(_enter);
        tracing::Instrument::instrument(next.run(req), span.clone()).await
    };
    let status = res.status();
    let own_body = res.extensions().get::<OwnBody>().is_some();
    let mut res = if (status.is_client_error() || status.is_server_error()) && !own_body {
        with_request_id(res, &id).await
    } else {
        res
    };
    if status.is_server_error() {
        span.in_scope(|| tracing::warn!(status = status.as_u16(), "request failed"));
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

async fn with_request_id(res: Response, id: &str) -> Response {
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let mut headers = res.headers().clone();
    headers.remove(header::CONTENT_TYPE);
    headers.remove(header::CONTENT_LENGTH);
    let mut body: Map<String, Value> = if is_problem {
        let bytes = axum::body::to_bytes(res.into_body(), 64 * 1024)
            .await
            .unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or_default()
    } else {
        let detail = match status {
            StatusCode::NOT_FOUND => "No such route".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED => "Method not allowed on this route".to_owned(),
            StatusCode::PAYLOAD_TOO_LARGE => "Request body too large".to_owned(),
            s => s.canonical_reason().unwrap_or("Error").to_owned(),
        };
        let mut m = Map::new();
        m.insert("type".into(), json!("about:blank"));
        m.insert(
            "title".into(),
            json!(status.canonical_reason().unwrap_or("Error")),
        );
        m.insert("status".into(), json!(status.as_u16()));
        m.insert("detail".into(), json!(detail));
        m
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        body.insert(
            "detail".into(),
            json!(format!("Internal error, reference {id}")),
        );
    }
    body.insert("request_id".into(), json!(id));
    let mut out = (status, Value::Object(body).to_string()).into_response();
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    // Keep what the inner layers set (Retry-After, quota headers).
    out.headers_mut().extend(headers);
    out
}
