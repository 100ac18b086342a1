//! A small REST client of a Talon server, shared by `talon mcp` (stdio) and the CLI. Every
//! failure is a [`Failure`] carrying the HTTP status and the problem's detail, never a body with
//! a secret in it.

use reqwest::Method;
use serde_json::{json, Value};
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

/// A client bound to one server URL.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client announcing itself as the CLI.
    pub fn new(base: &str) -> Client {
        Client::with_user_agent(base, concat!("talon-cli/", env!("CARGO_PKG_VERSION")))
    }

    /// A client with its own `User-Agent` (recorded in the audit log of every call).
    pub fn with_user_agent(base: &str, user_agent: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .user_agent(user_agent)
                .build()
                .expect("HTTP client"),
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
        let mut req = self
            .http
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
        let status = res.status();
        let retry_after = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let request_id = res
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = res.text().await.unwrap_or_default();
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
