//! Password reset and email verification through a real SMTP server (Python aiosmtpd), and the
//! outbox file when no SMTP server is configured.

use crate::common::{Db, TestServer, PASSWORD};
use reqwest::StatusCode;
use serde_json::json;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

on_both_databases!(
    password_reset_goes_through_real_smtp,
    outbox_file_receives_mail_without_smtp
);

/// aiosmtpd on a free loopback port, storing mail in a Maildir.
struct Smtp {
    child: Child,
    port: u16,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn smtp_server(maildir: &Path) -> Smtp {
    let port = free_port();
    let mut child = Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(maildir)
        .stdout(Stdio::null())
        .spawn()
        .expect("python3 -m aiosmtpd (pip install aiosmtpd)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Smtp { child, port };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("aiosmtpd did not start");
}

/// Every mail body in the Maildir, as text.
fn mails(maildir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = std::fs::read_dir(maildir.join(sub)) {
            for e in entries.flatten() {
                out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    out
}

/// The `token=` value of the first link in `text` that points at `page`.
fn token_in(text: &str, page: &str) -> Option<String> {
    let unfolded = text
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let start = unfolded.find(&format!("{page}?token="))? + page.len() + 7;
    Some(
        unfolded[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect(),
    )
}

async fn wait_for_mail(maildir: &Path, page: &str, to: &str) -> String {
    for _ in 0..100 {
        if let Some(t) = mails(maildir)
            .iter()
            .filter(|m| m.contains(to))
            .find_map(|m| token_in(m, page))
        {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {page} mail for {to}");
}

async fn password_reset_goes_through_real_smtp(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let smtp = smtp_server(&maildir).await;
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let srv = TestServer::start_with(
        db,
        &[
            ("TALON_SMTP_URL", &url),
            ("TALON_SMTP_FROM", "talon@example.com"),
        ],
    )
    .await;
    let h = srv.signup().await;

    // Signup mails a verification link.
    let verify = wait_for_mail(&maildir, "/verify-email", &h.email).await;
    assert!(verify.starts_with("ev_"));
    let (s, v) = srv
        .post("/v1/auth/verify-email", None, json!({"token": verify}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, me) = srv
        .get("/v1/auth/me", v["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me["email_verified"], true);
    assert_eq!(
        srv.post("/v1/auth/verify-email", None, json!({"token": verify}))
            .await
            .0,
        StatusCode::BAD_REQUEST,
        "single use"
    );

    // Unknown emails get the same answer and no mail.
    let (s, unknown) = srv
        .post(
            "/v1/auth/forgot-password",
            None,
            json!({"email": "nobody@example.com"}),
        )
        .await;
    let (s2, known) = srv
        .post("/v1/auth/forgot-password", None, json!({"email": h.email}))
        .await;
    assert_eq!((s, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(unknown, known, "no account enumeration");
    assert_eq!(known["status"], "email_sent");
    let reset = wait_for_mail(&maildir, "/reset-password", &h.email).await;
    assert!(!mails(&maildir)
        .iter()
        .any(|m| m.contains("nobody@example.com")));

    let new = "Battery-Staple-42?";
    assert_eq!(
        srv.post(
            "/v1/auth/reset-password",
            None,
            json!({"token": reset, "new_password": "weak"})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    let (s, v) = srv
        .post(
            "/v1/auth/reset-password",
            None,
            json!({"token": reset, "new_password": new}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        srv.post(
            "/v1/auth/reset-password",
            None,
            json!({"token": reset, "new_password": "Another-Pass-77!"})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST,
        "single use"
    );
    assert_eq!(
        srv.post(
            "/v1/auth/token",
            None,
            json!({"email": h.email, "password": PASSWORD})
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        srv.post(
            "/v1/auth/token",
            None,
            json!({"email": h.email, "password": new})
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        srv.post(
            "/v1/auth/reset-password",
            None,
            json!({"token": "pr_forged", "new_password": new})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
}

async fn outbox_file_receives_mail_without_smtp(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    srv.post("/v1/auth/forgot-password", None, json!({"email": h.email}))
        .await;
    let outbox =
        std::fs::read_to_string(srv.data_path().join("outbox.jsonl")).expect("outbox file");
    let line = outbox
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|m| m["subject"] == "Reset your Talon password")
        .unwrap();
    assert_eq!(line["to"], h.email.as_str());
    let token = token_in(line["body"].as_str().unwrap(), "/reset-password").unwrap();
    let (s, _) = srv
        .post(
            "/v1/auth/reset-password",
            None,
            json!({"token": token, "new_password": "Battery-Staple-42?"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}
