//! Request guards that run before any handler: the per-IP rate limit, the refusal of
//! cross-site browser posts to `/v1`, and security headers.

use crate::problem::Problem;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A token bucket per client IP: `rate` tokens a second, up to `burst`. A rate of 0 disables it.
#[derive(Clone)]
pub struct IpRateLimit {
    rate: f64,
    burst: f64,
    buckets: Arc<Mutex<HashMap<IpAddr, (f64, Instant)>>>,
}

impl IpRateLimit {
    pub fn new(rate_per_s: u32) -> Self {
        IpRateLimit {
            rate: rate_per_s as f64,
            burst: rate_per_s as f64 * 2.0,
            buckets: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Takes one token; on refusal returns the seconds until one is available.
    fn take(&self, ip: IpAddr) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut map = self.buckets.lock().expect("rate limit map");
        if map.len() > 100_000 {
            map.retain(|_, (_, t)| now.duration_since(*t).as_secs() < 60);
        }
        let (tokens, last) = map.entry(ip).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// Answers 429 with `Retry-After` once a client IP exceeds its rate.
pub async fn rate_limit(
    State(limit): State<IpRateLimit>,
    req: Request<Body>,
    next: Next,
) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    if let Some(ip) = ip {
        if let Err(retry) = limit.take(ip) {
            let mut p = Problem::new(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
            p.kind = "rate_limited";
            p.extra.insert("retry_after".into(), json!(retry));
            return p.into_response();
        }
    }
    next.run(req).await
}

/// Refuses a state-changing `/v1` request (anything but GET, HEAD, OPTIONS) that a browser
/// says comes from another site: `Sec-Fetch-Site` other than `same-origin`/`none`, or an
/// `Origin` that does not name the host. Scripts and SDKs send neither header and pass, so
/// the API stays usable from anywhere, but another site's page cannot make a visitor's
/// browser sign up, sign in, ask for a password reset or answer a code step. 403 problem.
pub async fn cross_site_posts(req: Request<Body>, next: Next) -> Response {
    let safe = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    if safe || !is_cross_site_browser(req.headers()) {
        return next.run(req).await;
    }
    tracing::warn!(path = %req.uri().path(), "cross-site API request refused");
    Problem::new(
        StatusCode::FORBIDDEN,
        "Cross-site request refused: browsers may call this API only from its own origin.",
    )
    .into_response()
}

/// Whether a browser marked the request as sent from another site (see [`cross_site_posts`]).
pub fn is_cross_site_browser(headers: &axum::http::HeaderMap) -> bool {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if value("sec-fetch-site").is_some_and(|site| !matches!(site, "same-origin" | "none")) {
        return true;
    }
    let Some(origin) = value("origin") else {
        return false;
    };
    let host = value("host").unwrap_or_default();
    !origin.split_once("://").is_some_and(|(scheme, authority)| {
        matches!(scheme, "http" | "https") && authority.eq_ignore_ascii_case(host)
    })
}

/// Security headers on every response; API responses are also never cached and may not be
/// framed or run anything.
pub async fn security_headers(req: Request<Body>, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/v1/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Pages keep a same-origin referrer: no-JavaScript form posts return to the page they
    // came from through it.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static(if is_api { "no-referrer" } else { "same-origin" }),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=63072000; includeSubDomains"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if is_api {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
        h.entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    } else {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; \
                 style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; \
                 frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
            ),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses_with_retry_after() {
        let l = IpRateLimit::new(5);
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        for _ in 0..10 {
            assert!(l.take(ip).is_ok());
        }
        assert_eq!(l.take(ip), Err(1));
        assert!(
            l.take("203.0.113.2".parse().unwrap()).is_ok(),
            "buckets are per IP"
        );
    }

    #[test]
    fn cross_site_browser_requests_are_recognised() {
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[("host", "talon.example")], false),
            (
                &[
                    ("host", "talon.example"),
                    ("origin", "https://talon.example"),
                ],
                false,
            ),
            (
                &[
                    ("host", "talon.example"),
                    ("origin", "https://evil.example"),
                ],
                true,
            ),
            (&[("host", "talon.example"), ("origin", "null")], true),
            (
                &[("host", "talon.example"), ("sec-fetch-site", "cross-site")],
                true,
            ),
            (
                &[("host", "talon.example"), ("sec-fetch-site", "same-site")],
                true,
            ),
            (
                &[("host", "talon.example"), ("sec-fetch-site", "none")],
                false,
            ),
        ];
        for (pairs, expected) in cases {
            let mut headers = axum::http::HeaderMap::new();
            for (name, value) in *pairs {
                headers.insert(*name, HeaderValue::from_str(value).unwrap());
            }
            assert_eq!(is_cross_site_browser(&headers), *expected, "{pairs:?}");
        }
    }

    #[test]
    fn zero_rate_disables_the_limit() {
        let l = IpRateLimit::new(0);
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        assert!((0..1000).all(|_| l.take(ip).is_ok()));
    }
}
