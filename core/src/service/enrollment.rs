//! Agent self-enrollment: an agent asks to join, a signed-in human approves or denies, and the
//! agent collects its key once by polling. Nothing is created before approval.

use super::agents::CreateAgent;
use super::audit::AuditEvent;
use super::credentials::new_bearer_secret;
use super::mfa::TOTP_KEK;
use super::{Core, Principal, RequestContext};
use crate::envelope::{self, Binding};
use crate::error::{Error, Result};
use crate::material::BearerSecret;
use crate::material::SecretValue;
use crate::store::{enrollments, enrollments::EnrollmentRow};
use serde_json::json;

const ENROLL_TTL_MS: i64 = 24 * 3_600_000;

/// What the enrolling agent receives.
#[derive(Debug)]
pub struct EnrollStarted {
    /// The request's id, shown to the approver and used when polling.
    pub pairing_id: String,
    /// The `ep_` secret the agent polls with; only its keyed hash is stored.
    pub poll_token: BearerSecret,
    /// The dashboard page where a human approves or denies the request.
    pub approval_url: String,
}

/// State of a request as the agent (poll) or the approver sees it.
#[derive(Debug)]
pub struct EnrollState {
    /// `pending`, `approved`, `denied` or `expired`.
    pub status: String,
    /// The agent created on approval.
    pub agent_id: Option<String>,
    /// Present once: in the approver's answer and in the agent's first approved poll.
    pub api_key: Option<SecretValue>,
}

fn binding(id: &str) -> Binding<'_> {
    Binding {
        org_id: "enrollment",
        vault_id: "enrollment",
        secret_id: id,
        path: "api_key",
        version: 1,
    }
}

impl Core {
    /// Records an enrollment request; same answer whether or not the email is known. Rate
    /// limited per IP and per email.
    pub async fn enroll(
        &self,
        name: &str,
        description: Option<String>,
        human_email: Option<String>,
        ctx: &RequestContext,
    ) -> Result<EnrollStarted> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(Error::invalid("name", "name must be 1 to 255 characters"));
        }
        let email = human_email
            .map(|e| super::credentials::normalize_email(&e))
            .transpose()?;
        let ip_bucket = format!("enroll:{}", ctx.ip.as_deref().unwrap_or("-"));
        self.check_auth_throttle(&ip_bucket).await?;
        self.note_auth_failure(&ip_bucket).await?;
        let poll_token = new_bearer_secret("ep_");
        let row = EnrollmentRow {
            id: uuid::Uuid::new_v4().to_string(),
            poll_hash: self.credential_hash(&poll_token).await?,
            name: name.to_owned(),
            description: description.unwrap_or_default(),
            human_email: email.clone(),
            status: "pending".into(),
            agent_id: None,
            expires_at: self.now() + ENROLL_TTL_MS,
        };
        let mut tx = self.store().begin().await?;
        enrollments::insert(&mut tx, &row, self.now()).await?;
        tx.commit().await?;
        let approval_url = format!("{}/agents/enroll/{}", self.config().public_url, row.id);
        if let (Some(email), Some(mailer)) = (email, &self.config().mailer) {
            let body = format!("An agent named \"{name}\" asks to join your Talon organization.\n\nApprove or deny it here:\n{approval_url}\n");
            if let Err(e) = mailer
                .send(&email, "An agent asks to join Talon", &body)
                .await
            {
                tracing::warn!(error = %e, "enrollment mail not sent");
            }
        }
        Ok(EnrollStarted {
            pairing_id: row.id,
            poll_token: BearerSecret::new(poll_token),
            approval_url,
        })
    }

    fn live(&self, e: &EnrollmentRow) -> String {
        if e.status == "pending" && e.expires_at <= self.now() {
            "expired".into()
        } else {
            e.status.clone()
        }
    }

    /// The agent's poll: the key is delivered in the first approved answer only.
    pub async fn enrollment_status(
        &self,
        pairing_id: &str,
        poll_token: &str,
    ) -> Result<EnrollState> {
        let e = enrollments::get(self.store().pool(), pairing_id)
            .await?
            .ok_or(Error::NotFound("Enrollment"))?;
        let hash = self.credential_hash(poll_token).await?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            hash.as_bytes(),
            e.poll_hash.as_bytes(),
        )) {
            return Err(Error::NotFound("Enrollment"));
        }
        let status = self.live(&e);
        let mut api_key = None;
        if status == "approved" {
            let mut tx = self.store().begin().await?;
            if let Some(sealed) = enrollments::take_key(&mut tx, &e.id).await? {
                let id = e.id.clone();
                api_key = Some(
                    self.keys(move |k| envelope::open(k, TOTP_KEK, &binding(&id), &sealed))
                        .await?
                        .map_err(|_| Error::Internal("enrollment key failed to open".into()))?,
                );
            }
            tx.commit().await?;
        }
        Ok(EnrollState {
            status,
            agent_id: e.agent_id,
            api_key,
        })
    }

    /// Approves (creating the agent in the approver's org, with zero access) or denies.
    pub async fn decide_enrollment(
        &self,
        p: &Principal,
        pairing_id: &str,
        approve: bool,
        ctx: &RequestContext,
    ) -> Result<EnrollState> {
        p.require_human()?;
        let e = enrollments::get(self.store().pool(), pairing_id)
            .await?
            .ok_or(Error::NotFound("Enrollment"))?;
        match self.live(&e).as_str() {
            "pending" => {}
            "expired" => return Err(Error::Gone("This enrollment request has expired".into())),
            _ => {
                return Err(Error::Conflict(
                    "This enrollment request was already decided".into(),
                ))
            }
        }
        if !approve {
            let mut tx = self.store().begin().await?;
            self.append_audit(
                &mut tx,
                ctx,
                AuditEvent::by(
                    p,
                    "agent.enroll_denied",
                    "agent",
                    None,
                    json!({"pairing_id": e.id}),
                ),
            )
            .await?;
            if !enrollments::decide(&mut tx, &e.id, "denied", None, None, None).await? {
                return Err(Error::Conflict(
                    "This enrollment request was already decided".into(),
                ));
            }
            tx.commit().await?;
            return Ok(EnrollState {
                status: "denied".into(),
                agent_id: None,
                api_key: None,
            });
        }
        let (agent, api_key, hash) = self
            .prepare_agent(
                p,
                CreateAgent {
                    name: e.name.clone(),
                    description: Some(e.description.clone()),
                    ..CreateAgent::default()
                },
            )
            .await?;
        let key = SecretValue::new(api_key.clone());
        let id = e.id.clone();
        let sealed = self
            .keys(move |k| envelope::seal(k, TOTP_KEK, &binding(&id), &key))
            .await?
            .map_err(|_| Error::Internal("enrollment key sealing failed".into()))?;
        // The agent, the decision and both audit events commit together or not at all.
        let mut tx = self.store().begin().await?;
        self.insert_agent(&mut tx, p, ctx, &agent, &hash).await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "agent.enroll_approved",
                "agent",
                Some(agent.id.clone()),
                json!({"pairing_id": e.id}),
            ),
        )
        .await?;
        if !enrollments::decide(
            &mut tx,
            &e.id,
            "approved",
            Some(p.org_id()),
            Some(&agent.id),
            Some(&sealed),
        )
        .await?
        {
            return Err(Error::Conflict(
                "This enrollment request was already decided".into(),
            ));
        }
        tx.commit().await?;
        Ok(EnrollState {
            status: "approved".into(),
            agent_id: Some(agent.id),
            api_key: Some(SecretValue::new(api_key)),
        })
    }
}
