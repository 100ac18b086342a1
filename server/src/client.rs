//! A small REST client of a Talon server, shared by the MCP door and the CLI. Every
//! failure is a [`Failure`] carrying the HTTP status and the problem's detail, never a body with
//! a secret in it.

use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// A failed call: the problem document's fields, or status 0 when the server was unreachable.
#[derive(Debug, Clone)]
pub struct Failure {
    /// HTTP status; 0 when no response arrived.
    pub status: u16,
    /// The problem `type` (`about:blank`, `resource_limit_exceeded`, `rate_limited`, ...).
    pub kind: String,
    /// The problem `detail`, safe to show.
    pub detail: String,
    pub retry_after: Option<u64>,
    pub request_id: Option<String>,
}

impl Failure {
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        Failure {
            status,
            kind: "about:blank".into(),
            detail: detail.into(),
            retry_after: None,
            request_id: None,
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
    text: String,
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
        let answer = match &self.transport {
            Transport::Http(http) => {
                self.send_http(http, method, path, bearer, query, body)
                    .await?
            }
            Transport::InProcess {
                router,
                peer,
                user_agent,
            } => {
                send_in_process(router, *peer, user_agent, method, path, bearer, query, body)
                    .await?
            }
        };
        let Answer {
            status,
            retry_after,
            request_id,
            text,
        } = answer;
        let v: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        if status.is_success() {
            return Ok(v);
        }
        Err(Failure {
            status: status.as_u16(),
            kind: v["type"].as_str().unwrap_or("about:blank").to_owned(),
            detail: v["detail"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_owned()),
            retry_after: retry_after.or_else(|| v["retry_after"].as_u64()),
            request_id: request_id.or_else(|| v["request_id"].as_str().map(str::to_owned)),
        })
    }

    async fn send_http(
        &self,
        http: &reqwest::Client,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Answer, Failure> {
        let mut req = http
            .request(method, format!("{}{path}", self.base))
            .query(query);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
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
            text: res.text().await.unwrap_or_default(),
        })
    }
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
    query: &[(&str, &str)],
    body: Option<&Value>,
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
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            axum::body::Body::from(serde_json::to_vec(b).expect("JSON serialises"))
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
        text: String::from_utf8_lossy(&bytes).into_owned(),
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
        let mut body = json!({ "api_key": api_key });
        if let Some(id) = agent_id {
            body["agent_id"] = json!(id);
        }
        let v = self
            .client
            .call(Method::POST, "/v1/auth/agent-token", None, &[], Some(&body))
            .await?;
        let token = v["access_token"]
            .as_str()
            .ok_or_else(|| Failure::new(502, "the server sent no access_token"))?
            .to_owned();
        let ttl = v["expires_in"].as_u64().unwrap_or(3600);
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
}
