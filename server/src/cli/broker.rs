//! `talon run`: without `--broker`, the same as `env run`. With `--broker`, the credential
//! broker: CMD gets a random placeholder (`talon-ph-<32 hex>`) in place of each requested
//! secret, and runs behind a local HTTP proxy that terminates its TLS with a CA made for this
//! run. The proxy swaps a placeholder for its value only on a request to one of that secret's
//! allowed hosts, sent on to the real host over TLS; a placeholder addressed anywhere else is
//! answered 502, never forwarded, and reported to the server (`secret.exfiltration_blocked`).
//! Values stay in this process's memory only; the CA's key is never written anywhere.

use super::{Exit, Res, RunArgs, Session};
use crate::client::Client;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use serde_json::json;
use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use talon_api::secrets::SecretResponse;
use talon_api::SecretValue;
use talon_core::material::random_bytes;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use zeroize::Zeroizing;

/// Every placeholder starts with this.
const PLACEHOLDER_PREFIX: &str = "talon-ph-";
/// Largest request body read to look for placeholders (`--inject-body`).
const MAX_INJECT_BODY: usize = 64 * 1024 * 1024;
/// Variables that point CMD at the proxy.
const PROXY_VARS: [&str; 4] = ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"];
/// Variables that would let CMD bypass the proxy; removed.
const NO_PROXY_VARS: [&str; 2] = ["NO_PROXY", "no_proxy"];
/// Variables that point CMD's TLS clients at the run's trust bundle.
const CA_VARS: [&str; 4] = [
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "CURL_CA_BUNDLE",
];
/// Where the system's trust bundle usually is, for when `SSL_CERT_FILE` is not set.
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Runs `talon run`.
pub(super) async fn run(s: &mut Session, a: RunArgs) -> Res<i32> {
    if !a.broker {
        return super::env::run_with_secrets(
            s,
            a.prefix.as_deref(),
            a.no_override,
            &a.wait,
            &a.command,
        )
        .await;
    }
    let (program, args) = a
        .command
        .split_first()
        .ok_or_else(|| Exit::usage("give a command after --"))?;
    if a.secrets.is_empty() {
        return Err(Exit::usage(
            "give at least one --secret ENV=path@host with --broker",
        ));
    }
    let vault = s.vault()?;
    let wait = super::approvals::wait_limit(s, &a.wait)?;
    let mut specs: Vec<(String, String, Vec<String>)> = Vec::new();
    for spec in &a.secrets {
        let (env, path, hosts) = parse_spec(spec)?;
        if specs.iter().any(|(e, _, _)| *e == env) {
            return Err(Exit::usage(format!("--secret names {env} twice")));
        }
        specs.push((env, path, hosts));
    }
    // Each path is read once (a read held for approval is waited for), however many
    // variables name it.
    let mut paths: Vec<String> = Vec::new();
    for (_, path, _) in &specs {
        if !paths.contains(path) {
            paths.push(path.clone());
        }
    }
    let mut reads: HashMap<String, SecretResponse> = HashMap::new();
    for (path, read) in super::approvals::read_all(s, &vault, &paths, wait).await? {
        reads.insert(path, read?);
    }
    let mut held: Vec<Held> = Vec::new();
    for (env, path, hosts) in specs {
        let value = match reads.get(&path) {
            Some(read) => SecretValue::new(read.value.expose_secret().to_owned()),
            None => return Err(Exit(6, format!("{path} was not read"))),
        };
        held.push(Held {
            env,
            path,
            hosts,
            placeholder: placeholder(),
            value,
        });
    }
    drop(reads);
    let reporter = Reporter {
        client: s.client.clone(),
        bearer: s.bearer().await?,
        vault,
    };

    // What this process trusted before CMD's trust is pointed at the run's bundle.
    let trusted = match crate::config::ssl_cert_file() {
        Some(path) => Some(read_bundle(&path)?),
        None => None,
    };
    let upstream = upstream_client(trusted.as_deref().map(Vec::as_slice))?;
    let ca = RunCa::new().map_err(|e| Exit(6, format!("cannot make the run's CA: {e}")))?;
    let inherited = match trusted {
        Some(t) => Some(t),
        None => SYSTEM_BUNDLES
            .iter()
            .find_map(|p| std::fs::read(p).ok().map(Zeroizing::new)),
    };
    let files = RunFiles::create(&ca.pem, inherited.as_deref().map(Vec::as_slice))
        .map_err(|e| Exit(6, format!("cannot write the run's CA certificate: {e}")))?;

    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| Exit(6, format!("cannot start the proxy: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Exit(6, format!("cannot start the proxy: {e}")))?;
    let broker = Arc::new(Broker {
        held,
        inject_body: a.inject_body,
        ca,
        upstream,
        reporter,
    });
    let proxy = tokio::spawn(serve(broker.clone(), listener));

    let proxy_url = format!("http://{addr}");
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args);
    for h in &broker.held {
        cmd.env(&h.env, &h.placeholder);
    }
    for k in PROXY_VARS {
        cmd.env(k, &proxy_url);
    }
    for k in NO_PROXY_VARS {
        cmd.env_remove(k);
    }
    for k in CA_VARS {
        cmd.env(k, files.bundle());
    }
    let spawned = cmd
        .spawn()
        .map_err(|e| Exit(127, format!("cannot run {program}: {e}")));
    let code = match spawned {
        Ok(child) => super::env::wait_for(child, program).await,
        Err(e) => Err(e),
    };
    proxy.abort();
    drop(files);
    code
}

/// One secret held for the run.
struct Held {
    /// The variable CMD sees the placeholder in.
    env: String,
    /// The secret's path in the vault.
    path: String,
    /// Hosts the value may be sent to, normalised by [`normal_host`].
    hosts: Vec<String>,
    /// What CMD sees instead of the value.
    placeholder: String,
    value: SecretValue,
}

impl Held {
    fn allows(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h == host)
    }
}

/// `talon-ph-` and 32 random hex digits.
fn placeholder() -> String {
    let hex: String = random_bytes::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{PLACEHOLDER_PREFIX}{hex}")
}

/// A host as compared against an allow-list: lower case, no trailing dot, no IPv6 brackets.
fn normal_host(h: &str) -> String {
    h.trim()
        .trim_end_matches('.')
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// Reads `--secret ENV=path@host1,host2`.
fn parse_spec(spec: &str) -> Res<(String, String, Vec<String>)> {
    let bad = |why: &str| Exit::usage(format!("--secret {spec}: {why} (ENV=path@host1,host2)"));
    let (env, rest) = spec.split_once('=').ok_or_else(|| bad("no '='"))?;
    let (path, hosts) = rest.rsplit_once('@').ok_or_else(|| bad("no '@'"))?;
    let env_ok = env
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !env_ok {
        return Err(bad("ENV must be a variable name"));
    }
    if path.is_empty() {
        return Err(bad("no secret path"));
    }
    let hosts: Vec<String> = hosts
        .split(',')
        .map(normal_host)
        .filter(|h| !h.is_empty())
        .collect();
    if hosts.is_empty() {
        return Err(bad("no host"));
    }
    Ok((env.to_owned(), path.to_owned(), hosts))
}

/// The certificates of a PEM bundle file.
fn read_bundle(path: &Path) -> Res<Zeroizing<Vec<u8>>> {
    std::fs::read(path).map(Zeroizing::new).map_err(|e| {
        Exit(
            6,
            format!("cannot read SSL_CERT_FILE {}: {e}", path.display()),
        )
    })
}

/// The client of the real hosts: the webpki roots plus `trusted` (the PEM bundle of the
/// broker's own `SSL_CERT_FILE`); no proxy, no redirects followed (CMD sees them).
fn upstream_client(trusted: Option<&[u8]>) -> Res<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(30));
    if let Some(pem) = trusted {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|_| Exit(6, "SSL_CERT_FILE holds no readable PEM certificates".into()))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build()
        .map_err(|e| Exit(6, format!("cannot build the HTTPS client: {e}")))
}

/// The CA of one run: its key lives only in this process; the leaf certificate of each host
/// CMD connects to is made on first use and kept for the run.
struct RunCa {
    cert: rcgen::Certificate,
    key: Zeroizing<KeyPair>,
    pem: String,
    leaves: Mutex<HashMap<String, Arc<ServerConfig>>>,
}

/// Validity of the run's certificates: from a day ago (clock skew) to 30 days ahead.
fn validity(p: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(30);
}

impl RunCa {
    fn new() -> Result<RunCa, rcgen::Error> {
        let key = Zeroizing::new(KeyPair::generate()?);
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.distinguished_name
            .push(DnType::CommonName, "Talon broker (this run only)");
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut p);
        let cert = p.self_signed(&key)?;
        Ok(RunCa {
            pem: cert.pem(),
            cert,
            key,
            leaves: Mutex::new(HashMap::new()),
        })
    }

    /// The TLS settings that present a certificate for `host` signed by the run's CA.
    fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, String> {
        let mut leaves = self.leaves.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = leaves.get(host) {
            return Ok(c.clone());
        }
        let key = Zeroizing::new(KeyPair::generate().map_err(|e| e.to_string())?);
        let mut p = CertificateParams::new(vec![host.to_owned()]).map_err(|e| e.to_string())?;
        p.distinguished_name.push(DnType::CommonName, host);
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.use_authority_key_identifier_extension = true;
        validity(&mut p);
        let cert = p
            .signed_by(&*key, &self.cert, &self.key)
            .map_err(|e| e.to_string())?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_no_client_auth()
                .with_single_cert(vec![cert.der().clone(), self.cert.der().clone()], der)
                .map_err(|e| e.to_string())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        leaves.insert(host.to_owned(), config.clone());
        Ok(config)
    }
}

/// The run's CA certificate and CMD's trust bundle (the CA, then what was trusted before), in
/// a private temporary directory that is removed when this is dropped.
struct RunFiles {
    dir: PathBuf,
}

impl RunFiles {
    fn create(ca_pem: &str, inherited: Option<&[u8]>) -> std::io::Result<RunFiles> {
        use std::os::unix::fs::DirBuilderExt;
        let hex: String = random_bytes::<8>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let dir = std::env::temp_dir().join(format!("talon-broker-{hex}"));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let files = RunFiles { dir };
        std::fs::write(files.dir.join("ca.pem"), ca_pem)?;
        let mut bundle = ca_pem.as_bytes().to_vec();
        if let Some(more) = inherited {
            bundle.push(b'\n');
            bundle.extend_from_slice(more);
        }
        std::fs::write(files.bundle(), bundle)?;
        Ok(files)
    }

    fn bundle(&self) -> PathBuf {
        self.dir.join("bundle.pem")
    }
}

impl Drop for RunFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reports refused sends to the server with the caller's credentials.
struct Reporter {
    client: Client,
    bearer: String,
    vault: String,
}

impl Reporter {
    /// `POST /v1/broker/blocked`; a failure is a warning on stderr, never a reason to send.
    async fn report(&self, h: &Held, host: &str) {
        let body = json!({"vault_id": self.vault, "path": h.path, "host": host, "env": h.env});
        if let Err(f) = self
            .client
            .call(
                Method::POST,
                "/v1/broker/blocked",
                Some(&self.bearer),
                &[],
                Some(&body),
            )
            .await
        {
            eprintln!(
                "talon broker: warning: the server did not record the refused send: {}",
                f.detail
            );
        }
    }
}

/// Where a request through the proxy goes.
#[derive(Clone)]
struct Target {
    /// Reached through `CONNECT` (TLS to CMD and to the host), or a plain `http://` request.
    tls: bool,
    /// Normalised by [`normal_host`].
    host: String,
    port: u16,
}

impl Target {
    fn url(&self, path_and_query: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}{path_and_query}", self.port)
    }

    /// The target of an absolute-form `http://` proxy request.
    fn of_absolute(uri: &Uri) -> Option<Target> {
        if uri.scheme_str() != Some("http") {
            return None;
        }
        let authority = uri.authority()?;
        Some(Target {
            tls: false,
            host: normal_host(authority.host()),
            port: authority.port_u16().unwrap_or(80),
        })
    }
}

/// A request body on its way upstream.
enum Outgoing {
    /// Passed on as it arrives.
    Stream(Incoming),
    /// Read whole to look for placeholders (`--inject-body`).
    Read(axum::body::Bytes),
}

struct Broker {
    held: Vec<Held>,
    inject_body: bool,
    ca: RunCa,
    upstream: reqwest::Client,
    reporter: Reporter,
}

/// A short `text/plain` answer from the proxy itself.
fn answer(status: StatusCode, text: String) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn hop_by_hop(name: &HeaderName) -> bool {
    talon_core::binding_config::is_hop_by_hop(name.as_str())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `bytes` with every placeholder of `used` replaced by its value.
fn substitute(bytes: &[u8], used: &[&Held]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(bytes.to_vec());
    for h in used {
        let from = h.placeholder.as_bytes();
        let to = h.value.expose_secret().as_bytes();
        let mut next = Zeroizing::new(Vec::with_capacity(out.len()));
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(from) {
                next.extend_from_slice(to);
                i += from.len();
            } else {
                next.push(out[i]);
                i += 1;
            }
        }
        out = next;
    }
    out
}

/// Accepts CMD's connections to the proxy until the run ends.
async fn serve(broker: Arc<Broker>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let b = broker.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let b = b.clone();
                async move { Ok::<_, Infallible>(b.proxy(req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await;
        });
    }
}

impl Broker {
    /// One request to the proxy: `CONNECT host:port`, or an absolute-form `http://` request.
    async fn proxy(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        if req.method() == Method::CONNECT {
            return self.connect(req);
        }
        match Target::of_absolute(req.uri()) {
            Some(t) => self.forward(t, req).await,
            None => answer(
                StatusCode::BAD_REQUEST,
                "talon broker: send proxy requests (CONNECT, or absolute http:// URLs)\n".into(),
            ),
        }
    }

    /// Answers `CONNECT` with 200, then speaks TLS to CMD as the host (with the run's CA) and
    /// reads the HTTP/1.1 requests inside.
    fn connect(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let Some(authority) = req.uri().authority().cloned() else {
            return answer(
                StatusCode::BAD_REQUEST,
                "talon broker: CONNECT needs host:port\n".into(),
            );
        };
        let target = Target {
            tls: true,
            host: normal_host(authority.host()),
            port: authority.port_u16().unwrap_or(443),
        };
        let config = match self.ca.server_config(&target.host) {
            Ok(c) => c,
            Err(e) => {
                return answer(
                    StatusCode::BAD_GATEWAY,
                    format!("talon broker: no certificate for {}: {e}\n", target.host),
                )
            }
        };
        tokio::spawn(async move {
            let Ok(upgraded) = hyper::upgrade::on(req).await else {
                return;
            };
            let tls = match TlsAcceptor::from(config)
                .accept(TokioIo::new(upgraded))
                .await
            {
                Ok(tls) => tls,
                Err(e) => {
                    eprintln!(
                        "talon broker: TLS with the command failed for {}: {e}",
                        target.host
                    );
                    return;
                }
            };
            let svc = service_fn(move |req| {
                let b = self.clone();
                let t = target.clone();
                async move { Ok::<_, Infallible>(b.forward(t, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        });
        Response::new(Body::empty())
    }

    /// Swaps the placeholders of `req` for their values and sends it to `t`, or refuses it
    /// when a placeholder is addressed to a host its secret is not allowed for.
    async fn forward(&self, t: Target, req: Request<Incoming>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let mut used: Vec<&Held> = self
            .held
            .iter()
            .filter(|h| {
                parts
                    .headers
                    .values()
                    .any(|v| contains(v.as_bytes(), h.placeholder.as_bytes()))
            })
            .collect();
        let body = if self.inject_body {
            let bytes = match axum::body::to_bytes(Body::new(body), MAX_INJECT_BODY).await {
                Ok(b) => b,
                Err(_) => {
                    return answer(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "talon broker: could not read the request body\n".into(),
                    )
                }
            };
            for h in &self.held {
                if !used.iter().any(|u| u.env == h.env)
                    && contains(&bytes, h.placeholder.as_bytes())
                {
                    used.push(h);
                }
            }
            Outgoing::Read(bytes)
        } else {
            Outgoing::Stream(body)
        };

        let refused: Vec<&Held> = used
            .iter()
            .copied()
            .filter(|h| !h.allows(&t.host))
            .collect();
        if !refused.is_empty() {
            let mut text = String::new();
            for h in refused {
                let line = format!(
                    "talon broker: refused to send secret {} to {}; allowed: {}",
                    h.env,
                    t.host,
                    h.hosts.join(", ")
                );
                eprintln!("{line}");
                text.push_str(&line);
                text.push('\n');
                self.reporter.report(h, &t.host).await;
            }
            return answer(StatusCode::BAD_GATEWAY, text);
        }
        if let (Some(h), false) = (used.first(), t.tls) {
            return answer(
                StatusCode::BAD_GATEWAY,
                format!(
                    "talon broker: refused to send secret {} to {} over plain http; use https\n",
                    h.env, t.host
                ),
            );
        }

        let mut headers = HeaderMap::new();
        for (name, value) in &parts.headers {
            let rewritten_length =
                name == header::CONTENT_LENGTH && matches!(body, Outgoing::Read(_));
            if hop_by_hop(name) || name == header::HOST || rewritten_length {
                continue;
            }
            if used.is_empty()
                || !used
                    .iter()
                    .any(|h| contains(value.as_bytes(), h.placeholder.as_bytes()))
            {
                headers.append(name.clone(), value.clone());
                continue;
            }
            let Ok(mut v) = HeaderValue::from_bytes(&substitute(value.as_bytes(), &used)) else {
                return answer(
                    StatusCode::BAD_GATEWAY,
                    format!("talon broker: a secret cannot go into the {name} header\n"),
                );
            };
            v.set_sensitive(true);
            headers.append(name.clone(), v);
        }
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let mut request = self
            .upstream
            .request(parts.method, t.url(path))
            .headers(headers);
        request = match body {
            Outgoing::Read(bytes) => {
                let sent = substitute(&bytes, &used);
                request.body(sent.to_vec())
            }
            Outgoing::Stream(b) if http_body::Body::is_end_stream(&b) => request,
            Outgoing::Stream(b) => {
                request.body(reqwest::Body::wrap_stream(Body::new(b).into_data_stream()))
            }
        };
        match request.send().await {
            Ok(r) => upstream_answer(r),
            Err(e) => answer(
                StatusCode::BAD_GATEWAY,
                format!(
                    "talon broker: {}:{} did not answer: {}\n",
                    t.host,
                    t.port,
                    e.without_url()
                ),
            ),
        }
    }
}

/// The real host's answer, streamed back to CMD.
fn upstream_answer(r: reqwest::Response) -> Response<Body> {
    let mut out = Response::new(Body::empty());
    *out.status_mut() = r.status();
    for (name, value) in r.headers() {
        if !hop_by_hop(name) {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    *out.body_mut() = Body::from_stream(r.bytes_stream());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(env: &str, hosts: &[&str], value: &str) -> Held {
        Held {
            env: env.into(),
            path: "p".into(),
            hosts: hosts.iter().map(|h| normal_host(h)).collect(),
            placeholder: placeholder(),
            value: SecretValue::new(value.into()),
        }
    }

    #[test]
    fn secret_specs_name_a_variable_a_path_and_hosts() {
        let Ok((env, path, hosts)) = parse_spec("API_KEY=api/openai@API.openai.com.,localhost")
        else {
            panic!("a valid spec is refused")
        };
        assert_eq!(env, "API_KEY");
        assert_eq!(path, "api/openai");
        assert_eq!(hosts, ["api.openai.com", "localhost"]);
        for bad in [
            "API_KEY",
            "API_KEY=path",
            "=p@h",
            "1X=p@h",
            "K=@h",
            "K=p@",
            "K=p@,",
        ] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn placeholders_are_32_random_hex_digits() {
        let (a, b) = (placeholder(), placeholder());
        assert_ne!(a, b);
        let hex = a.strip_prefix(PLACEHOLDER_PREFIX).unwrap();
        assert_eq!(hex.len(), 32);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn every_placeholder_is_swapped_for_its_own_value() {
        let (a, b) = (held("A", &["x"], "one"), held("B", &["x"], "two"));
        let text = format!(
            "{} and {} and {}",
            a.placeholder, b.placeholder, a.placeholder
        );
        let out = substitute(text.as_bytes(), &[&a, &b]);
        assert_eq!(out.as_slice(), b"one and two and one");
        assert_eq!(substitute(b"none here", &[&a]).as_slice(), b"none here");
    }

    #[test]
    fn hosts_are_compared_without_case_trailing_dot_or_brackets() {
        let h = held("A", &["Api.Example.com.", "[::1]"], "v");
        assert!(h.allows(&normal_host("api.example.COM")));
        assert!(h.allows(&normal_host("[::1]")));
        assert!(!h.allows(&normal_host("api.example.com.evil")));
        assert!(!h.allows(&normal_host("127.0.0.1")));
    }
}
