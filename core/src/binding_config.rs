//! What a binding's `config` and `guardrails` may say, checked when a binding is created or
//! changed and read again at each execution; the request an execution makes from them; and
//! the redaction of the credential from the upstream's answer. Pure apart from nothing: no
//! I/O here.

use crate::error::{Error, Result};
use crate::secret_path::{glob_match, PathPattern};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The marker a template puts where the credential goes.
pub const CREDENTIAL_MARKER: &str = "{{credential}}";
/// What replaces each occurrence of the credential in an upstream answer.
pub const REDACTED: &str = "[REDACTED]";
const MAX_URL_LEN: usize = 2048;
const MAX_HEADERS: usize = 32;
const MAX_HEADER_VALUE: usize = 4096;
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
const MAX_TIMEOUT_MS: u64 = 60_000;
const DEFAULT_BYTES: u64 = 1 << 20;
const MAX_BYTES: u64 = 10 << 20;
const DEFAULT_PER_MINUTE: u64 = 60;
const MAX_PER_MINUTE: u64 = 100_000;
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Headers of one connection (RFC 9110 7.6.1 and the proxy ones), never passed on.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` (lower case) is a hop-by-hop header.
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.contains(&name)
}

/// Headers a caller can never set on an upstream request: hop-by-hop headers, the ones the
/// HTTP client computes, and anything carrying credentials or the caller's identity (Talon
/// injects the binding's credential).
pub fn is_dropped_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    is_hop_by_hop(&n)
        || matches!(
            n.as_str(),
            "host"
                | "content-length"
                | "authorization"
                | "cookie"
                | "forwarded"
                | "x-forwarded-for"
                | "x-forwarded-host"
                | "x-real-ip"
        )
}

/// Headers of the upstream's answer that are not passed back: hop-by-hop ones, and cookies
/// that could carry a session made with the credential.
pub fn is_dropped_response_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    is_hop_by_hop(&n) || n == "set-cookie"
}

/// Where the credential goes in each request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthPlacement {
    /// `Authorization: <template>` (default template `Bearer {{credential}}`).
    Bearer {
        /// The header value, with [`CREDENTIAL_MARKER`] where the credential goes.
        template: String,
    },
    /// A named header (`X-Api-Key`), default template `{{credential}}`.
    Header {
        /// The header's name.
        name: String,
        /// Its value, with [`CREDENTIAL_MARKER`] where the credential goes.
        template: String,
    },
    /// `Authorization: Basic base64(<template>)`; the credential is `user:password`.
    Basic {
        /// The text encoded, with [`CREDENTIAL_MARKER`] where the credential goes.
        template: String,
    },
    /// A query parameter, default template `{{credential}}`.
    Query {
        /// The parameter's name.
        name: String,
        /// Its value, with [`CREDENTIAL_MARKER`] where the credential goes.
        template: String,
    },
}

/// A binding's checked configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Where requests go; the execution's path is appended to its path.
    pub base_url: reqwest::Url,
    /// Its host (without IPv6 brackets).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Where the credential goes.
    pub auth: AuthPlacement,
    /// Headers sent with every request (before the caller's).
    pub headers: Vec<(String, String)>,
    /// Deadline of one execution (connect, send and answer).
    pub timeout: Duration,
}

/// A binding's checked guardrails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardrails {
    /// Methods an execution may use, upper case.
    pub allowed_methods: Vec<String>,
    /// Path globs (policy glob rules, without the leading `/`) an execution's path must match.
    pub allowed_paths: Vec<String>,
    /// Largest request body sent.
    pub max_request_bytes: u64,
    /// Largest response body accepted.
    pub max_response_bytes: u64,
    /// Executions per minute through the binding; 0 means no limit.
    pub max_requests_per_minute: u64,
}

fn bad(field: &'static str, why: impl Into<String>) -> Error {
    Error::invalid(field, why)
}

fn object<'a>(v: &'a Value, field: &'static str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| bad(field, format!("{field} must be an object")))
}

fn opt_str<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<&'a str>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(field, format!("{field}.{key} must be a string"))),
    }
}

fn opt_u64(m: &Map<String, Value>, key: &str, field: &'static str) -> Result<Option<u64>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            bad(
                field,
                format!("{field}.{key} must be a non-negative integer"),
            )
        }),
    }
}

/// Whether a header name is a token (RFC 9110) of reasonable length.
fn is_header_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 128
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether a header value has no control characters (so no header can be smuggled).
fn is_header_value(v: &str) -> bool {
    v.len() <= MAX_HEADER_VALUE && v.chars().all(|c| c == '\t' || !c.is_control())
}

fn template(m: &Map<String, Value>, default: &str) -> Result<String> {
    let t = opt_str(m, "template", "config")?.unwrap_or(default);
    if !t.contains(CREDENTIAL_MARKER) {
        return Err(bad(
            "config",
            format!("config.auth.template must contain {CREDENTIAL_MARKER}"),
        ));
    }
    if !is_header_value(t) {
        return Err(bad(
            "config",
            "config.auth.template must not contain control characters",
        ));
    }
    Ok(t.to_owned())
}

/// Checks a binding's `base_url`: https, or plain http only to a loopback address and only
/// when `allow_private` (`TALON_ALLOW_PRIVATE_EGRESS`); no credentials, query or fragment.
pub fn parse_base_url(url: &str, allow_private: bool) -> Result<(reqwest::Url, String, u16)> {
    let field = "config";
    let url = url.trim();
    if url.is_empty() || url.len() > MAX_URL_LEN {
        return Err(bad(
            field,
            "config.base_url must be an absolute https URL of at most 2048 characters",
        ));
    }
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| bad(field, "config.base_url must be an absolute https URL"))?;
    let host = match parsed.host_str() {
        Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']').to_owned(),
        _ => return Err(bad(field, "config.base_url must name a host")),
    };
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private && is_loopback_host(&host) => {}
        "http" => {
            return Err(bad(
                field,
                "config.base_url must use https (plain http is allowed only to a loopback address when the server sets TALON_ALLOW_PRIVATE_EGRESS=true)",
            ))
        }
        _ => return Err(bad(field, "config.base_url must use https")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(field, "config.base_url must not carry credentials"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad(
            field,
            "config.base_url must not have a query or a fragment",
        ));
    }
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| bad(field, "config.base_url must name a port"))?;
    Ok((parsed, host, port))
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks a binding's `config` object; returns it parsed and in its normal form (every
/// default filled in), which is what is stored and shown.
pub fn parse_config(v: &Value, allow_private: bool) -> Result<(HttpConfig, Value)> {
    let m = object(v, "config")?;
    for k in m.keys() {
        if !matches!(k.as_str(), "base_url" | "auth" | "headers" | "timeout_ms") {
            return Err(bad(
                "config",
                format!("config.{k} is not a known setting (base_url, auth, headers, timeout_ms)"),
            ));
        }
    }
    let base = opt_str(m, "base_url", "config")?
        .ok_or_else(|| bad("config", "config.base_url is required"))?;
    let (base_url, host, port) = parse_base_url(base, allow_private)?;
    let auth_obj = match m.get("auth") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(a)) => a.clone(),
        Some(_) => return Err(bad("config", "config.auth must be an object")),
    };
    let kind = opt_str(&auth_obj, "type", "config")?.unwrap_or("bearer");
    let name = opt_str(&auth_obj, "name", "config")?;
    let need_name = |what: &str| -> Result<String> {
        let n =
            name.ok_or_else(|| bad("config", format!("config.auth.name is required for {what}")))?;
        if what == "header" && !is_header_name(n) {
            return Err(bad("config", "config.auth.name must be a header name"));
        }
        if what == "header" && is_dropped_header(n) && !n.eq_ignore_ascii_case("authorization") {
            return Err(bad("config", format!("config.auth.name cannot be {n}")));
        }
        if n.is_empty() || n.len() > 128 {
            return Err(bad(
                "config",
                "config.auth.name must be 1 to 128 characters",
            ));
        }
        Ok(n.to_owned())
    };
    let auth = match kind {
        "bearer" => AuthPlacement::Bearer {
            template: template(&auth_obj, "Bearer {{credential}}")?,
        },
        "header" => AuthPlacement::Header {
            name: need_name("header")?,
            template: template(&auth_obj, CREDENTIAL_MARKER)?,
        },
        "basic" => AuthPlacement::Basic {
            template: template(&auth_obj, CREDENTIAL_MARKER)?,
        },
        "query" => AuthPlacement::Query {
            name: need_name("query")?,
            template: template(&auth_obj, CREDENTIAL_MARKER)?,
        },
        _ => {
            return Err(bad(
                "config",
                "config.auth.type must be bearer, header, basic or query",
            ))
        }
    };
    let mut headers = Vec::new();
    match m.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            if h.len() > MAX_HEADERS {
                return Err(bad(
                    "config",
                    format!("config.headers may hold at most {MAX_HEADERS} headers"),
                ));
            }
            for (k, v) in h {
                let v = v
                    .as_str()
                    .ok_or_else(|| bad("config", format!("config.headers.{k} must be a string")))?;
                if !is_header_name(k) || is_dropped_header(k) {
                    return Err(bad("config", format!("config.headers cannot set {k}")));
                }
                if !is_header_value(v) {
                    return Err(bad(
                        "config",
                        format!("config.headers.{k} must not contain control characters"),
                    ));
                }
                headers.push((k.clone(), v.to_owned()));
            }
        }
        Some(_) => return Err(bad("config", "config.headers must be an object of strings")),
    }
    let timeout_ms = opt_u64(m, "timeout_ms", "config")?.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(bad(
            "config",
            format!("config.timeout_ms must be 1 to {MAX_TIMEOUT_MS}"),
        ));
    }
    let mut auth_json = json!({"type": kind});
    match &auth {
        AuthPlacement::Bearer { template } | AuthPlacement::Basic { template } => {
            auth_json["template"] = json!(template);
        }
        AuthPlacement::Header { name, template } | AuthPlacement::Query { name, template } => {
            auth_json["name"] = json!(name);
            auth_json["template"] = json!(template);
        }
    }
    let header_map: Map<String, Value> =
        headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let normal = json!({
        "base_url": base_url.as_str(),
        "auth": auth_json,
        "headers": header_map,
        "timeout_ms": timeout_ms,
    });
    Ok((
        HttpConfig {
            base_url,
            host,
            port,
            auth,
            headers,
            timeout: Duration::from_millis(timeout_ms),
        },
        normal,
    ))
}

/// Checks a binding's `guardrails` object (absent: the defaults); returns it parsed and in its
/// normal form.
pub fn parse_guardrails(v: Option<&Value>) -> Result<(Guardrails, Value)> {
    let empty = Map::new();
    let m = match v {
        None | Some(Value::Null) => &empty,
        Some(v) => object(v, "guardrails")?,
    };
    for k in m.keys() {
        if !matches!(
            k.as_str(),
            "allowed_methods"
                | "allowed_paths"
                | "max_request_bytes"
                | "max_response_bytes"
                | "max_requests_per_minute"
        ) {
            return Err(bad("guardrails", format!("guardrails.{k} is not a known setting (allowed_methods, allowed_paths, max_request_bytes, max_response_bytes, max_requests_per_minute)")));
        }
    }
    let list = |key: &str| -> Result<Option<Vec<String>>> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str().map(str::to_owned).ok_or_else(|| {
                        bad(
                            "guardrails",
                            format!("guardrails.{key} must be a list of strings"),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => Err(bad(
                "guardrails",
                format!("guardrails.{key} must be a list of strings"),
            )),
        }
    };
    let mut methods = Vec::new();
    for mth in list("allowed_methods")?.unwrap_or_else(|| {
        ["GET", "POST", "PUT", "PATCH", "DELETE"]
            .map(String::from)
            .to_vec()
    }) {
        let up = mth.to_ascii_uppercase();
        if !METHODS.contains(&up.as_str()) {
            return Err(bad(
                "guardrails",
                format!(
                    "guardrails.allowed_methods: {mth} is not one of {}",
                    METHODS.join(", ")
                ),
            ));
        }
        if !methods.contains(&up) {
            methods.push(up);
        }
    }
    let mut paths = Vec::new();
    for p in list("allowed_paths")?.unwrap_or_else(|| vec!["**".to_owned()]) {
        let p = p.trim_start_matches('/').to_owned();
        let p = if p.is_empty() { "**".to_owned() } else { p };
        PathPattern::parse(&p)
            .map_err(|e| bad("guardrails", format!("guardrails.allowed_paths: {e}")))?;
        paths.push(p);
    }
    let bytes = |key: &str| -> Result<u64> {
        let n = opt_u64(m, key, "guardrails")?.unwrap_or(DEFAULT_BYTES);
        if n > MAX_BYTES {
            return Err(bad(
                "guardrails",
                format!("guardrails.{key} must be at most {MAX_BYTES}"),
            ));
        }
        Ok(n)
    };
    let g = Guardrails {
        allowed_methods: methods,
        allowed_paths: paths,
        max_request_bytes: bytes("max_request_bytes")?,
        max_response_bytes: bytes("max_response_bytes")?,
        max_requests_per_minute: {
            let n =
                opt_u64(m, "max_requests_per_minute", "guardrails")?.unwrap_or(DEFAULT_PER_MINUTE);
            if n > MAX_PER_MINUTE {
                return Err(bad(
                    "guardrails",
                    format!("guardrails.max_requests_per_minute must be at most {MAX_PER_MINUTE}"),
                ));
            }
            n
        },
    };
    let normal = json!({
        "allowed_methods": g.allowed_methods,
        "allowed_paths": g.allowed_paths.iter().map(|p| format!("/{p}")).collect::<Vec<_>>(),
        "max_request_bytes": g.max_request_bytes,
        "max_response_bytes": g.max_response_bytes,
        "max_requests_per_minute": g.max_requests_per_minute,
    });
    Ok((g, normal))
}

/// Checks an execution's path: absolute (`/…`), no scheme or authority, no `.`/`..`
/// segments, backslashes, fragments or control characters. Returns it without its query.
pub fn check_path(path: &str) -> Result<&str> {
    let field = "params";
    if !path.starts_with('/') || path.starts_with("//") || path.len() > MAX_URL_LEN {
        return Err(bad(
            field,
            "params.path must start with a single '/' (at most 2048 characters)",
        ));
    }
    if path.contains('\\') || path.contains('#') || path.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err(bad(
            field,
            "params.path must not contain spaces, backslashes, '#' or control characters",
        ));
    }
    let bare = path.split('?').next().unwrap_or(path);
    if bare.split('/').any(|s| {
        let d = s.to_ascii_lowercase();
        d == "." || d == ".." || d == "%2e" || d == "%2e%2e" || d == ".%2e" || d == "%2e."
    }) {
        return Err(bad(
            field,
            "params.path must not contain '.' or '..' segments",
        ));
    }
    if path.contains('?') {
        return Err(bad(
            field,
            "params.path must not carry a query; use params.query",
        ));
    }
    Ok(bare)
}

impl Guardrails {
    /// Whether `method` is allowed (403 otherwise).
    pub fn method_allowed(&self, method: &str) -> bool {
        self.allowed_methods.iter().any(|m| m == method)
    }

    /// Whether the checked `path` matches one of the globs (403 otherwise).
    pub fn path_allowed(&self, path: &str) -> bool {
        let p = path.trim_start_matches('/');
        self.allowed_paths.iter().any(|g| glob_match(g, p))
    }
}

/// Joins the base URL's path and an execution's checked path.
pub fn join_url(base: &reqwest::Url, path: &str) -> reqwest::Url {
    let mut u = base.clone();
    let prefix = base.path().trim_end_matches('/');
    u.set_path(&format!("{prefix}{path}"));
    u
}

/// The text a template makes with the credential in it.
pub fn render(template: &str, credential: &str) -> String {
    template.replace(CREDENTIAL_MARKER, credential)
}

/// The forms in which a credential may come back in an upstream answer: as it is, base64
/// (standard and URL-safe, padded or not) and URL-encoded. Forms shorter than 4 bytes are left
/// out (they would redact ordinary text); the longest come first.
pub fn credential_forms(credential: &str) -> Vec<Vec<u8>> {
    let raw = credential.as_bytes();
    let mut forms: Vec<Vec<u8>> = vec![
        raw.to_vec(),
        STANDARD.encode(raw).into_bytes(),
        STANDARD_NO_PAD.encode(raw).into_bytes(),
        URL_SAFE.encode(raw).into_bytes(),
        URL_SAFE_NO_PAD.encode(raw).into_bytes(),
        percent_encoding::utf8_percent_encode(credential, URI_COMPONENT)
            .to_string()
            .into_bytes(),
        form_urlencoded::byte_serialize(raw)
            .collect::<String>()
            .into_bytes(),
    ];
    forms.retain(|f| f.len() >= 4);
    forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    forms.dedup();
    forms
}

/// Characters `encodeURIComponent` leaves alone: ASCII letters, digits and `-_.!~*'()`.
const URI_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Replaces every occurrence of any of `forms` in `data` with [`REDACTED`], scanning left to
/// right and trying the longest form first at each position. Returns the count.
pub fn redact(data: &[u8], forms: &[Vec<u8>]) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(data.len());
    let mut count = 0;
    let mut i = 0;
    'scan: while i < data.len() {
        for f in forms {
            if data[i..].starts_with(f) {
                out.extend_from_slice(REDACTED.as_bytes());
                count += 1;
                i += f.len();
                continue 'scan;
            }
        }
        out.push(data[i]);
        i += 1;
    }
    (out, count)
}

/// The credential text a stored or posted credential value stands for: a string as it is; an
/// object's `username` and `password` as `user:password`; else its `value`, `token`,
/// `api_key`, `key`, `secret` or `password` field, or its only string field. `None` when there
/// is no usable text.
pub fn credential_text(v: &Value) -> Option<String> {
    let text = match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => {
            let s = |k: &str| m.get(k).and_then(Value::as_str);
            if let (Some(u), Some(p)) = (s("username"), s("password")) {
                Some(format!("{u}:{p}"))
            } else if let Some(t) = ["value", "token", "api_key", "key", "secret", "password"]
                .iter()
                .find_map(|k| s(k))
            {
                Some(t.to_owned())
            } else {
                let strings: Vec<&str> = m.values().filter_map(Value::as_str).collect();
                (strings.len() == 1).then(|| strings[0].to_owned())
            }
        }
        _ => None,
    }?;
    (!text.is_empty() && text.len() <= 16 * 1024 && is_header_value(&text)).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(v: Value) -> Result<HttpConfig> {
        parse_config(&v, false).map(|(c, _)| c)
    }

    #[test]
    fn config_needs_https_and_fills_defaults() {
        let (c, normal) =
            parse_config(&json!({"base_url": "https://api.example.com/v2"}), false).unwrap();
        assert_eq!(c.host, "api.example.com");
        assert_eq!(c.port, 443);
        assert_eq!(
            c.auth,
            AuthPlacement::Bearer {
                template: "Bearer {{credential}}".into()
            }
        );
        assert_eq!(c.timeout, Duration::from_millis(DEFAULT_TIMEOUT_MS));
        assert_eq!(normal["auth"]["type"], "bearer");
        assert_eq!(normal["timeout_ms"], DEFAULT_TIMEOUT_MS);
        for bad in [
            json!({}),
            json!({"base_url": "http://api.example.com"}),
            json!({"base_url": "ftp://api.example.com"}),
            json!({"base_url": "https://u:p@api.example.com"}),
            json!({"base_url": "https://api.example.com/?a=1"}),
            json!({"base_url": "https://api.example.com", "auth": {"type": "header"}}),
            json!({"base_url": "https://api.example.com", "auth": {"type": "magic"}}),
            json!({"base_url": "https://api.example.com", "auth": {"template": "Bearer x"}}),
            json!({"base_url": "https://api.example.com", "headers": {"Host": "evil"}}),
            json!({"base_url": "https://api.example.com", "headers": {"X-A": "a\r\nB: c"}}),
            json!({"base_url": "https://api.example.com", "timeout_ms": 0}),
            json!({"base_url": "https://api.example.com", "surprise": 1}),
        ] {
            assert!(cfg(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_http_only_to_loopback_with_the_flag() {
        assert!(parse_config(&json!({"base_url": "http://127.0.0.1:9/"}), true).is_ok());
        assert!(parse_config(&json!({"base_url": "http://localhost:9/"}), true).is_ok());
        assert!(parse_config(&json!({"base_url": "http://[::1]:9/"}), true).is_ok());
        assert!(parse_config(&json!({"base_url": "http://127.0.0.1:9/"}), false).is_err());
        assert!(parse_config(&json!({"base_url": "http://10.0.0.1/"}), true).is_err());
    }

    #[test]
    fn auth_placements_parse() {
        let c = cfg(
            json!({"base_url": "https://x.test", "auth": {"type": "header", "name": "X-Api-Key"}}),
        )
        .unwrap();
        assert_eq!(
            c.auth,
            AuthPlacement::Header {
                name: "X-Api-Key".into(),
                template: CREDENTIAL_MARKER.into()
            }
        );
        let c =
            cfg(json!({"base_url": "https://x.test", "auth": {"type": "query", "name": "key"}}))
                .unwrap();
        assert!(matches!(c.auth, AuthPlacement::Query { .. }));
        let c = cfg(json!({"base_url": "https://x.test", "auth": {"type": "bearer", "template": "Token {{credential}}"}})).unwrap();
        assert_eq!(
            c.auth,
            AuthPlacement::Bearer {
                template: "Token {{credential}}".into()
            }
        );
    }

    #[test]
    fn guardrails_default_and_check() {
        let (g, normal) = parse_guardrails(None).unwrap();
        assert!(g.method_allowed("GET") && !g.method_allowed("HEAD"));
        assert!(g.path_allowed("/anything/at/all") && g.path_allowed("/"));
        assert_eq!(normal["max_requests_per_minute"], DEFAULT_PER_MINUTE);
        let (g, _) = parse_guardrails(Some(&json!({
            "allowed_methods": ["get"], "allowed_paths": ["/v1/charges/*", "/status"]
        })))
        .unwrap();
        assert_eq!(g.allowed_methods, vec!["GET"]);
        assert!(g.path_allowed("/v1/charges/ch_1"));
        assert!(g.path_allowed("/status"));
        assert!(!g.path_allowed("/v1/charges/ch_1/refund"));
        assert!(!g.path_allowed("/v1/customers"));
        for bad in [
            json!({"allowed_methods": ["BREW"]}),
            json!({"allowed_paths": ["a//b"]}),
            json!({"max_request_bytes": -1}),
            json!({"max_response_bytes": 1_000_000_000u64}),
            json!({"other": 1}),
            json!([]),
        ] {
            assert!(parse_guardrails(Some(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn execution_paths_are_checked() {
        assert_eq!(check_path("/v1/a").unwrap(), "/v1/a");
        for bad in [
            "",
            "v1",
            "//evil.test/x",
            "/a/../b",
            "/a/%2e%2e/b",
            "/a\\b",
            "/a#b",
            "/a b",
            "/a?b=1",
            "/a/./b",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        let base = reqwest::Url::parse("https://x.test/api/").unwrap();
        assert_eq!(join_url(&base, "/v1/a").as_str(), "https://x.test/api/v1/a");
        let base = reqwest::Url::parse("https://x.test").unwrap();
        assert_eq!(join_url(&base, "/v1/a").as_str(), "https://x.test/v1/a");
    }

    #[test]
    fn every_form_of_the_credential_is_redacted() {
        let cred = "sk_live_a+b/c=d";
        let forms = credential_forms(cred);
        let b64 = STANDARD.encode(cred);
        let url = percent_encoding::utf8_percent_encode(cred, URI_COMPONENT).to_string();
        let text = format!("raw={cred} b64={b64} url={url} again {cred}");
        let (out, n) = redact(text.as_bytes(), &forms);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(n, 4, "{out}");
        assert!(!out.contains("sk_live"), "{out}");
        assert!(!out.contains(&b64), "{out}");
        assert_eq!(out.matches(REDACTED).count(), 4);
        let (same, n) = redact(b"nothing here", &forms);
        assert_eq!((same.as_slice(), n), (&b"nothing here"[..], 0));
    }

    #[test]
    fn credential_values_name_their_text() {
        assert_eq!(credential_text(&json!("tok")).as_deref(), Some("tok"));
        assert_eq!(
            credential_text(&json!({"token": "t"})).as_deref(),
            Some("t")
        );
        assert_eq!(
            credential_text(&json!({"username": "u", "password": "p"})).as_deref(),
            Some("u:p")
        );
        assert_eq!(
            credential_text(&json!({"whatever": "w"})).as_deref(),
            Some("w")
        );
        assert_eq!(credential_text(&json!({"a": "1", "b": "2"})), None);
        assert_eq!(credential_text(&json!("")), None);
        assert_eq!(credential_text(&json!("a\nb")), None);
        assert_eq!(credential_text(&json!(5)), None);
    }
}
