//! A small REST client of a Talon server, shared by the MCP door and the CLI. Every
//! failure is a [`Failure`] carrying the HTTP status and the problem's detail, never a body with
//! a secret in it.

use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use talon_api::auth::{AgentTokenRequest, AgentTokenResponse};
use talon_api::BearerSecret;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

/// A failed call: the problem document's fields, or status 0 when the server was unreachable.
#[derive(Debug, Clone)]
pub struct Failure {
    /// HTTP status; 0 when no response arrived.
    pub status: u16,
    /// The problem `type` (`about:blank`, `resource_limit_exceeded`, `rate_limited`, ...).
    pub kind: String,
    /// The problem `detail`, safe to show.
    pub detail: String,
    /// Seconds to wait before retrying (`Retry-After`), for rate limits.
    pub retry_after: Option<u64>,
    /// The server's `X-Request-Id`, to quote when reporting.
    pub request_id: Option<String>,
    /// The approval to wait for, when the request needs a person's approval.
    pub approval_id: Option<String>,
}

/// What a [`Failure`] means to a caller, read from the problem `type`; a problem of type
/// `about:blank` means what its status means (RFC 7807 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// No answer arrived (connection refused, timeout).
    Unreachable,
    /// `ip_denied`: the organization's IP rules refuse the caller's address.
    IpDenied,
    /// `resource_limit_exceeded`: the plan's limit on vaults, agents, … is reached.
    ResourceLimit,
    /// `quota_exceeded`: the month's request quota is spent.
    QuotaExceeded,
    /// `rate_limited`: too many requests; retry after `retry_after`.
    RateLimited,
    /// `unavailable` or any 5xx: a dependency (database, keystore, audit, …) is down.
    Unavailable,
    /// 401: no valid credential.
    Unauthenticated,
    /// `use_only`: the secret may be used through a binding or the broker, not read.
    UseOnly,
    /// `approval_required`: a person must approve this exact request first.
    ApprovalRequired,
    /// 403: the credential may not do this.
    Forbidden,
    /// 404.
    NotFound,
    /// 410: expired or used up.
    Gone,
    /// Any other 4xx: the request itself is wrong.
    Invalid,
}

impl Failure {
    /// The problem's meaning, from its `type` first and its status second.
    pub fn problem(&self) -> Problem {
        match self.kind.as_str() {
            "ip_denied" => return Problem::IpDenied,
            "resource_limit_exceeded" => return Problem::ResourceLimit,
            "quota_exceeded" => return Problem::QuotaExceeded,
            "rate_limited" => return Problem::RateLimited,
            "unavailable" => return Problem::Unavailable,
            "use_only" => return Problem::UseOnly,
            "approval_required" => return Problem::ApprovalRequired,
            _ => {}
        }
        match self.status {
            0 => Problem::Unreachable,
            401 => Problem::Unauthenticated,
            402 => Problem::QuotaExceeded,
            403 => Problem::Forbidden,
            404 => Problem::NotFound,
            410 => Problem::Gone,
            429 => Problem::RateLimited,
            s if s >= 500 => Problem::Unavailable,
            _ => Problem::Invalid,
        }
    }

    /// A failure made on this side (status 0 when nothing was sent).
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        Failure {
            status,
            kind: "about:blank".into(),
            detail: detail.into(),
            retry_after: None,
            request_id: None,
            approval_id: None,
        }
    }
}

/// A client of the REST contract: over the network to one server URL, or in-process through
/// the server's own router.
#[derive(Clone)]
pub struct Client {
    base: String,
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    Http(reqwest::Client),
    /// The server's `/v1` router called without a socket (the MCP door inside
    /// `talon server`). Each request carries the original caller's address and user agent,
    /// so the gate and the audit log see the real caller, and is marked as made over MCP.
    InProcess {
        router: axum::Router,
        peer: Option<SocketAddr>,
        user_agent: String,
    },
}

/// What came back: status, `Retry-After`, `X-Request-Id` and the body text.
struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    request_id: Option<String>,
    text: Zeroizing<String>,
}

/// `text` as the contract type `T`. A body that does not decode is a 502 naming the type
/// only: serde's message may quote part of the body, which can be a secret.
pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, Failure> {
    let text = if text.trim().is_empty() { "null" } else { text };
    serde_json::from_str(text).map_err(|_| {
        let name = std::any::type_name::<T>();
        let short = name.rsplit("::").next().unwrap_or(name);
        Failure::new(502, format!("the server's answer is not a valid {short}"))
    })
}

/// The largest response body read from the in-process router.
const MAX_IN_PROCESS_BODY: usize = 16 * 1024 * 1024;

impl Client {
    /// A client announcing itself as the CLI.
    pub fn new(base: &str) -> Client {
        Client::with_user_agent(base, concat!("talon-cli/", env!("CARGO_PKG_VERSION")))
    }

    /// A client with its own `User-Agent` (recorded in the audit log of every call).
    pub fn with_user_agent(base: &str, user_agent: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            transport: Transport::Http(
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .user_agent(user_agent)
                    .build()
                    .expect("HTTP client"),
            ),
        }
    }

    /// A client of `router` (the server's own `/v1` routes) acting for the caller at `peer`
    /// with `user_agent`; its requests are marked as made over MCP.
    pub fn in_process(
        router: axum::Router,
        peer: Option<SocketAddr>,
        user_agent: String,
    ) -> Client {
        Client {
            base: String::new(),
            transport: Transport::InProcess {
                router,
                peer,
                user_agent,
            },
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request; 2xx answers their JSON body (`Null` when empty), anything else a
    /// [`Failure`] built from the problem document.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let text = self
            .exchange(method, path, bearer, &[], query, body)
            .await?;
        Ok(if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        })
    }

    /// Sends one request with a typed body and decodes a 2xx answer as `T`, the response type
    /// of the contract; anything else is a [`Failure`]. The answer's text is zeroized once
    /// decoded, since it may hold a secret value.
    pub async fn fetch<T, B>(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<T, Failure>
    where
        T: DeserializeOwned,
        B: Serialize + ?Sized,
    {
        let text = self
            .exchange(method, path, bearer, &[], query, body)
            .await?;
        decode(&text)
    }

    /// [`Client::fetch`] with extra request headers (such as a decision's `X-Auth-Confirm`).
    /// Their values are marked sensitive and never appear in a [`Failure`]; a value that
    /// cannot be a header (not printable ASCII) fails before anything is sent.
    pub async fn fetch_with_headers<T, B>(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<T, Failure>
    where
        T: DeserializeOwned,
        B: Serialize + ?Sized,
    {
        let text = self
            .exchange(method, path, bearer, headers, &[], body)
            .await?;
        decode(&text)
    }

    /// One round trip; the body text of a 2xx answer, or the [`Failure`].
    async fn exchange<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<Zeroizing<String>, Failure> {
        let headers = extra_headers(headers)?;
        let body = match body {
            Some(b) => Some(Zeroizing::new(serde_json::to_vec(b).map_err(|_| {
                Failure::new(400, "the request body could not be encoded")
            })?)),
            None => None,
        };
        let answer = match &self.transport {
            Transport::Http(http) => {
                self.send_http(http, method, path, bearer, headers, query, body)
                    .await?
            }
            Transport::InProcess {
                router,
                peer,
                user_agent,
            } => {
                send_in_process(
                    router, *peer, user_agent, method, path, bearer, headers, query, body,
                )
                .await?
            }
        };
        let Answer {
            status,
            retry_after,
            request_id,
            text,
        } = answer;
        if status.is_success() {
            return Ok(text);
        }
        let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Err(Failure {
            status: status.as_u16(),
            kind: problem["type"].as_str().unwrap_or("about:blank").to_owned(),
            detail: problem["detail"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_owned()),
            retry_after: retry_after.or_else(|| problem["retry_after"].as_u64()),
            request_id: request_id.or_else(|| problem["request_id"].as_str().map(str::to_owned)),
            approval_id: problem["approval_id"].as_str().map(str::to_owned),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_http(
        &self,
        http: &reqwest::Client,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        headers: HeaderMap,
        query: &[(&str, &str)],
        body: Option<Zeroizing<Vec<u8>>>,
    ) -> Result<Answer, Failure> {
        let mut req = http
            .request(method, format!("{}{path}", self.base))
            .headers(headers)
            .query(query);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header(header::CONTENT_TYPE, "application/json")
                .body(b.to_vec());
        }
        let res = req.send().await.map_err(|e| {
            let why = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            };
            Failure::new(0, format!("{why}: {}", self.base))
        })?;
        let (retry_after, request_id) = answer_headers(res.headers());
        Ok(Answer {
            status: res.status(),
            retry_after,
            request_id,
            text: Zeroizing::new(res.text().await.unwrap_or_default()),
        })
    }
}

/// `headers` as a header map with every value marked sensitive; a name or value that cannot
/// be sent is a 400 naming the header only, never its value.
fn extra_headers(headers: &[(&str, &str)]) -> Result<HeaderMap, Failure> {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        let bad = || Failure::new(400, format!("{name} must be printable ASCII text"));
        let key = header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        let mut v = header::HeaderValue::from_str(value).map_err(|_| bad())?;
        v.set_sensitive(true);
        out.insert(key, v);
    }
    Ok(out)
}

fn answer_headers(h: &HeaderMap) -> (Option<u64>, Option<String>) {
    let retry_after = h
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let request_id = h
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (retry_after, request_id)
}

#[allow(clippy::too_many_arguments)]
async fn send_in_process(
    router: &axum::Router,
    peer: Option<SocketAddr>,
    user_agent: &str,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    headers: HeaderMap,
    query: &[(&str, &str)],
    body: Option<Zeroizing<Vec<u8>>>,
) -> Result<Answer, Failure> {
    use tower::ServiceExt;
    let mut uri = path.to_owned();
    if !query.is_empty() {
        let q = serde_urlencoded::to_string(query)
            .map_err(|_| Failure::new(400, "the query could not be encoded"))?;
        uri.push('?');
        uri.push_str(&q);
    }
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(&uri)
        .header(header::USER_AGENT, user_agent);
    if let Some(t) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(h) = req.headers_mut() {
        h.extend(headers);
    }
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            axum::body::Body::from(b.to_vec())
        }
        None => axum::body::Body::empty(),
    };
    let mut req = req
        .body(body)
        .map_err(|_| Failure::new(400, "the request could not be built"))?;
    if let Some(peer) = peer {
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
    }
    req.extensions_mut().insert(crate::extract::ViaMcp);
    let res = match router.clone().oneshot(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    };
    let (retry_after, request_id) = answer_headers(res.headers());
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), MAX_IN_PROCESS_BODY)
        .await
        .map_err(|_| Failure::new(502, "the response could not be read"))?;
    Ok(Answer {
        status,
        retry_after,
        request_id,
        text: Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()),
    })
}

/// How an agent proves itself: an `ocv_` key exchanged for a JWT, or a fixed JWT.
pub enum AgentCredential {
    Key {
        api_key: String,
        agent_id: Option<String>,
    },
    Token(String),
}

impl std::fmt::Debug for AgentCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Re-exchange the key this long before the token expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// An agent's session with a server: the key is exchanged at `POST /v1/auth/agent-token` on
/// first use and again 60 s before the token expires; a rejected exchange is retried on the
/// next call.
pub struct AgentSession {
    pub client: Client,
    credential: AgentCredential,
    token: Mutex<Option<(String, Instant)>>,
}

impl AgentSession {
    pub fn new(client: Client, credential: AgentCredential) -> AgentSession {
        AgentSession {
            client,
            credential,
            token: Mutex::new(None),
        }
    }

    /// A bearer token valid for at least a minute (or the static token).
    pub async fn bearer(&self) -> Result<String, Failure> {
        let (api_key, agent_id) = match &self.credential {
            AgentCredential::Token(t) => return Ok(t.clone()),
            AgentCredential::Key { api_key, agent_id } => (api_key, agent_id),
        };
        let mut cached = self.token.lock().await;
        if let Some((t, until)) = cached.as_ref() {
            if Instant::now() + REFRESH_MARGIN < *until {
                return Ok(t.clone());
            }
        }
        let body = AgentTokenRequest {
            api_key: BearerSecret::new(api_key.clone()),
            agent_id: agent_id.clone(),
        };
        let answer: AgentTokenResponse = self
            .client
            .fetch(Method::POST, "/v1/auth/agent-token", None, &[], Some(&body))
            .await?;
        let token = answer.access_token.expose_secret().to_owned();
        let ttl = u64::try_from(answer.expires_in).unwrap_or(0);
        *cached = Some((token.clone(), Instant::now() + Duration::from_secs(ttl)));
        Ok(token)
    }

    /// One authenticated call as the agent.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let bearer = self.bearer().await?;
        self.client
            .call(method, path, Some(&bearer), query, body)
            .await
    }

    /// One authenticated call as the agent, with a typed body and a typed answer.
    pub async fn fetch<T, B>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<T, Failure>
    where
        T: DeserializeOwned,
        B: Serialize + ?Sized,
    {
        let bearer = self.bearer().await?;
        self.client
            .fetch(method, path, Some(&bearer), query, body)
            .await
    }
}
