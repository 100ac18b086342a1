//! Outgoing mail: SMTP through `lettre`, or, with no SMTP configured, an outbox file in the data
//! dir (one JSON object per line) so a self-hosted install still shows what would be sent.

use crate::error::{Dependency, Error, Result};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Where mail goes.
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP relay, e.g. `smtp://mail.example.com:25` (plain SMTP; put a local relay in front
    /// for TLS).
    Smtp {
        /// The SMTP transport to the relay.
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// The sender address on every mail.
        from: Mailbox,
    },
    /// Appends each mail to this file.
    Outbox(PathBuf),
}

impl Mailer {
    /// An SMTP mailer from a URL and a sender address.
    pub fn smtp(url: &str, from: &str) -> Result<Mailer> {
        let bad = || Error::invalid("smtp_url", "TALON_SMTP_URL must look like smtp://host:port");
        let rest = url.strip_prefix("smtp://").ok_or_else(bad)?;
        let (host, port) = match rest.trim_end_matches('/').rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
            None => (rest.trim_end_matches('/'), 25),
        };
        if host.is_empty() {
            return Err(bad());
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let from = from
            .parse()
            .map_err(|_| Error::invalid("smtp_from", "TALON_SMTP_FROM must be an email address"))?;
        Ok(Mailer::Smtp { transport, from })
    }

    /// Sends one plain-text mail. Bodies may carry single-use tokens but never secret values.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<()> {
        match self {
            Mailer::Smtp { transport, from } => {
                let to: Mailbox = to
                    .parse()
                    .map_err(|_| Error::invalid("email", "invalid recipient"))?;
                let msg = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(subject)
                    .body(body.to_owned())
                    .map_err(|_| Error::Internal("mail build failed".into()))?;
                transport.send(msg).await.map(|_| ()).map_err(|e| {
                    tracing::error!(error = %e, "SMTP send failed");
                    Error::Unavailable(Dependency::Mail)
                })
            }
            Mailer::Outbox(path) => {
                let line =
                    serde_json::json!({"to": to, "subject": subject, "body": body}).to_string();
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|_| Error::Internal("outbox not writable".into()))?;
                writeln!(f, "{line}").map_err(|_| Error::Internal("outbox not writable".into()))
            }
        }
    }
}
