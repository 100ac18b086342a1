//! `talon run --broker`: the local proxy that swaps placeholders for secret values only on
//! requests to the hosts each secret is allowed for, and `POST /v1/broker/blocked`, which audits
//! the sends it refuses.

use crate::common::{Db, TestServer};
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::TokioIo;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use tempfile::TempDir;

on_both_databases!(
    a_reported_blocked_send_is_audited_without_a_value,
    blocked_send_reports_are_checked_before_they_are_audited,
    an_allowed_host_receives_the_real_value_in_place_of_the_placeholder,
    a_placeholder_sent_to_a_host_not_allowed_is_refused_and_audited,
    request_bodies_are_swapped_only_with_inject_body,
    the_command_sees_placeholders_and_the_proxy_never_the_value,
    run_without_broker_injects_like_env_run,
);

const VALUE: &str = "sk-real-value-4f1c9e";

/// The `secret.exfiltration_blocked` events the human sees.
async fn blocked_events(srv: &TestServer, token: &str) -> Vec<Value> {
    let (s, v) = srv
        .get("/v1/audit/events?action=secret.exfiltration_blocked", token)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["events"].as_array().cloned().unwrap_or_default()
}

async fn a_reported_blocked_send_is_audited_without_a_value(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "broker").await;
    srv.put_secret(&h.token, &vault, "api/key", "sk-live-do-not-leak")
        .await;
    let (agent, key) = srv.create_agent(&h.token, "broker-agent").await;
    let agent_token = srv.agent_token(&key).await;

    for token in [&h.token, &agent_token] {
        let (s, v) = srv
            .post(
                "/v1/broker/blocked",
                Some(token),
                json!({"vault_id": vault, "path": "api/key", "host": "evil.example", "env": "API_KEY"}),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    }

    let events = blocked_events(&srv, &h.token).await;
    assert_eq!(events.len(), 2, "{events:?}");
    for e in &events {
        assert_eq!(e["outcome"], "denied");
        assert_eq!(e["resource_type"], "secret");
        assert_eq!(e["details"]["vault_id"], vault.as_str());
        assert_eq!(e["details"]["path"], "api/key");
        assert_eq!(e["details"]["host"], "evil.example");
        assert_eq!(e["details"]["env"], "API_KEY");
    }
    assert!(events.iter().any(|e| e["actor_id"] == agent.as_str()));
    assert!(events.iter().any(|e| e["actor_id"] == h.user_id.as_str()));
    let (_, all) = srv.get("/v1/audit/events?limit=1000", &h.token).await;
    assert!(!all.to_string().contains("sk-live-do-not-leak"));
}

async fn blocked_send_reports_are_checked_before_they_are_audited(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "broker").await;
    let other = srv.signup().await;
    let foreign = srv.create_vault(&other.token, "theirs").await;
    let report = |vault: &str, path: &str, host: &str, env: &str| json!({"vault_id": vault, "path": path, "host": host, "env": env});

    for (body, want) in [
        (
            report(&foreign, "api/key", "evil.example", "K"),
            StatusCode::NOT_FOUND,
        ),
        (
            report("not-a-uuid", "api/key", "evil.example", "K"),
            StatusCode::BAD_REQUEST,
        ),
        (
            report(&vault, "../etc", "evil.example", "K"),
            StatusCode::BAD_REQUEST,
        ),
        (
            report(&vault, "api/key", &"h".repeat(254), "K"),
            StatusCode::BAD_REQUEST,
        ),
        (
            report(&vault, "api/key", "evil.example/x y", "K"),
            StatusCode::BAD_REQUEST,
        ),
        (
            report(&vault, "api/key", "evil.example", "1=2"),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"vault_id": vault}), StatusCode::BAD_REQUEST),
    ] {
        let (s, v) = srv
            .post("/v1/broker/blocked", Some(&h.token), body.clone())
            .await;
        assert_eq!(s, want, "{body}: {v}");
    }
    let (s, _) = srv
        .post(
            "/v1/broker/blocked",
            None,
            report(&vault, "api/key", "evil.example", "K"),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    assert!(blocked_events(&srv, &h.token).await.is_empty());
    assert!(blocked_events(&srv, &other.token).await.is_empty());
}

/// What a test upstream received: each request's headers and body.
type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A local HTTPS host with a certificate for `localhost` and `127.0.0.1` from a test CA; it
/// answers every request with `hello from NAME` and remembers what it was sent.
struct Upstream {
    port: u16,
    seen: Seen,
}

/// The test CA (its certificate in `ca_file`) and the upstreams' TLS settings.
struct TestPki {
    _dir: TempDir,
    ca_file: PathBuf,
    tls: Arc<rustls::ServerConfig>,
}

fn test_pki() -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "broker test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("test-ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf_cert.der().clone()], key)
    .unwrap();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    TestPki {
        _dir: dir,
        ca_file,
        tls: Arc::new(tls),
    }
}

async fn upstream(pki: &TestPki, name: &'static str) -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.tls.clone());
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, record) = (acceptor.clone(), record.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(move |req: Request<Incoming>| {
                    let record = record.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = axum::body::to_bytes(Body::new(body), 1 << 20)
                            .await
                            .unwrap_or_default();
                        record.lock().unwrap().push((parts.headers, body.to_vec()));
                        Ok::<_, Infallible>(Response::new(Body::from(format!("hello from {name}"))))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Upstream { port, seen }
}

impl Upstream {
    fn requests(&self) -> Vec<(HeaderMap, Vec<u8>)> {
        self.seen.lock().unwrap().clone()
    }
}

/// A server, a human with a vault holding `api/key` = [`VALUE`], and the CLI's environment.
struct World {
    srv: TestServer,
    token: String,
    vault: String,
    cfg: TempDir,
    pki: TestPki,
}

async fn world(db: Db) -> World {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "broker").await;
    srv.put_secret(&h.token, &vault, "api/key", VALUE).await;
    World {
        srv,
        token: h.token,
        vault,
        cfg: tempfile::tempdir().unwrap(),
        pki: test_pki(),
    }
}

impl World {
    /// Runs `talon ARGS` with `SSL_CERT_FILE` naming the test CA and `NO_PROXY` set (which the
    /// broker must clear for CMD); off the runtime, so the upstreams keep answering.
    async fn talon(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_talon"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("XDG_CONFIG_HOME", self.cfg.path())
            .env("TALON_URL", &self.srv.base)
            .env("TALON_TOKEN", &self.token)
            .env("TALON_VAULT_ID", &self.vault)
            .env("SSL_CERT_FILE", &self.pki.ca_file)
            .env("NO_PROXY", "localhost,127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        tokio::task::spawn_blocking(move || cmd.output().expect("run talon"))
            .await
            .unwrap()
    }

    /// `talon run --broker --secret API_KEY=api/key@localhost [extra] -- sh -c SCRIPT`.
    async fn brokered(&self, extra: &[&str], script: &str) -> Output {
        let mut args = vec!["run", "--broker", "--secret", "API_KEY=api/key@localhost"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "sh", "-c", script]);
        self.talon(&args).await
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn an_allowed_host_receives_the_real_value_in_place_of_the_placeholder(db: Db) {
    let w = world(db).await;
    let up = upstream(&w.pki, "a").await;

    let out = w
        .brokered(
            &[],
            &format!(
                "curl -sS -H \"Authorization: Bearer $API_KEY\" https://localhost:{}/v1/ping",
                up.port
            ),
        )
        .await;

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello from a");
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        header(&seen[0].0, "authorization"),
        Some(format!("Bearer {VALUE}").as_str())
    );
    assert!(!stdout(&out).contains(VALUE) && !stderr(&out).contains(VALUE));

    // CMD's exit status is talon's.
    let out = w.brokered(&[], "exit 7").await;
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
}

async fn a_placeholder_sent_to_a_host_not_allowed_is_refused_and_audited(db: Db) {
    let w = world(db).await;
    let allowed = upstream(&w.pki, "a").await;
    let other = upstream(&w.pki, "b").await;

    let out = w
        .brokered(
            &[],
            &format!(
                "curl -sS -w '|%{{http_code}}' -H \"Authorization: Bearer $API_KEY\" https://127.0.0.1:{}/steal",
                other.port
            ),
        )
        .await;

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "talon broker: refused to send secret API_KEY to 127.0.0.1; allowed: localhost\n|502"
    );
    assert!(other.requests().is_empty(), "the other host got a request");
    assert!(allowed.requests().is_empty());
    let (s, events) = w
        .srv
        .get(
            "/v1/audit/events?action=secret.exfiltration_blocked",
            &w.token,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let events = events["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["outcome"], "denied");
    assert_eq!(events[0]["details"]["host"], "127.0.0.1");
    assert_eq!(events[0]["details"]["env"], "API_KEY");
    assert_eq!(events[0]["details"]["path"], "api/key");
    assert_eq!(events[0]["details"]["vault_id"], w.vault.as_str());
    let (_, all) = w.srv.get("/v1/audit/events?limit=1000", &w.token).await;
    assert!(!all.to_string().contains(VALUE));

    // Without a placeholder the same host is reached, untouched, through the proxy.
    let out = w
        .brokered(
            &[],
            &format!(
                "curl -sS -H 'X-Probe: plain' https://127.0.0.1:{}/open",
                other.port
            ),
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello from b");
    let seen = other.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(header(&seen[0].0, "x-probe"), Some("plain"));
}

async fn request_bodies_are_swapped_only_with_inject_body(db: Db) {
    let w = world(db).await;
    let up = upstream(&w.pki, "a").await;
    let other = upstream(&w.pki, "b").await;
    let post = |port: u16, host: &str| {
        format!(
            "curl -sS -w '|%{{http_code}}' --data \"token=$API_KEY\" https://{host}:{port}/form"
        )
    };

    let out = w.brokered(&[], &post(up.port, "localhost")).await;
    assert_eq!(stdout(&out), "hello from a|200", "{}", stderr(&out));
    let out = w
        .brokered(&["--inject-body"], &post(up.port, "localhost"))
        .await;
    assert_eq!(stdout(&out), "hello from a|200", "{}", stderr(&out));
    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    let first = String::from_utf8_lossy(&seen[0].1).into_owned();
    assert!(first.starts_with("token=talon-ph-"), "{first}");
    assert_eq!(seen[1].1, format!("token={VALUE}").as_bytes());
    assert_eq!(
        header(&seen[1].0, "content-length"),
        Some(format!("token={VALUE}").len().to_string().as_str())
    );

    let out = w
        .brokered(&["--inject-body"], &post(other.port, "127.0.0.1"))
        .await;
    assert!(stdout(&out).ends_with("|502"), "{}", stdout(&out));
    assert!(other.requests().is_empty());
}

async fn the_command_sees_placeholders_and_the_proxy_never_the_value(db: Db) {
    let w = world(db).await;

    let out = w.brokered(&[], "env").await;

    assert!(out.status.success(), "{}", stderr(&out));
    let env = stdout(&out);
    assert!(!env.contains(VALUE), "the value is in CMD's environment");
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    let placeholder = var("API_KEY").expect("API_KEY is set");
    let hex = placeholder
        .strip_prefix("talon-ph-")
        .expect("a placeholder");
    assert!(hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()));
    let proxy = var("HTTPS_PROXY").expect("HTTPS_PROXY is set");
    assert!(proxy.starts_with("http://127.0.0.1:"), "{proxy}");
    for name in ["HTTP_PROXY", "https_proxy", "http_proxy"] {
        assert_eq!(var(name).as_deref(), Some(proxy.as_str()), "{name}");
    }
    assert_eq!(var("NO_PROXY"), None);
    assert_eq!(var("no_proxy"), None);
    let bundle = var("SSL_CERT_FILE").expect("SSL_CERT_FILE is set");
    for name in [
        "REQUESTS_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        "CURL_CA_BUNDLE",
    ] {
        assert_eq!(var(name).as_deref(), Some(bundle.as_str()), "{name}");
    }
    assert!(
        !std::path::Path::new(&bundle).exists(),
        "the trust bundle outlived the run"
    );

    // The bundle holds the run's CA and, after it, what talon trusted before.
    let out = w.brokered(&[], "cat \"$SSL_CERT_FILE\"").await;
    let pem = stdout(&out);
    let test_ca = std::fs::read_to_string(&w.pki.ca_file).unwrap();
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2, "{pem}");
    assert!(pem.contains(test_ca.trim()));
    assert!(!pem.contains("PRIVATE KEY"));

    // Placeholders differ from run to run.
    let again = stdout(&w.brokered(&[], "printf %s \"$API_KEY\"").await);
    assert!(again.starts_with("talon-ph-") && again != placeholder);
}

async fn run_without_broker_injects_like_env_run(db: Db) {
    let w = world(db).await;

    let out = w
        .talon(&["run", "--", "sh", "-c", "printf %s \"$KEY\""])
        .await;

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), VALUE);
    let out = w
        .talon(&[
            "run",
            "--prefix",
            "none/",
            "--",
            "sh",
            "-c",
            "printf %s \"$KEY\"",
        ])
        .await;
    assert_eq!(stdout(&out), "", "{}", stderr(&out));
    let out = w
        .talon(&["run", "--secret", "K=api/key@localhost", "--", "true"])
        .await;
    assert_eq!(out.status.code(), Some(2), "--secret needs --broker");
}
