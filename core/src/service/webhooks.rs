//! Webhooks: org owners and admins register HTTPS endpoints that are sent the org's audit
//! events, signed with a per-webhook secret (sealed with its own KEK, shown once at creation).
//! Deliveries are queued in the transaction of the event they describe (see
//! `store::webhooks::enqueue_for_events`) and made by a background worker after it commits:
//! up to [`WebhookSettings::max_attempts`] attempts with exponential backoff, each resolving
//! and checking the destination again and connecting only to the checked address. An
//! outbound failure never reaches the request that caused the event.

use super::audit::AuditEvent;
use super::{Core, Principal, RequestContext};
use crate::clock::rfc3339;
use crate::envelope::{self, Binding};
use crate::error::{Error, Result};
use crate::material::{random_bytes, SecretValue};
use crate::model::{Webhook, WebhookDelivery};
use crate::store::webhooks::{self as store, Attempt, WebhookRow, TEST_ACTION};
use crate::webhook_target::{self, TargetRules};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use talon_api::Scope;
use tokio::sync::Semaphore;

/// KEK that wraps every webhook signing secret's DEK.
pub(crate) const WEBHOOK_KEK: &str = "talon-kek:webhook:1";
const MAX_EVENTS: usize = 100;
const MAX_EVENT_LEN: usize = 64;
const MAX_DESCRIPTION: usize = 500;
const MIN_SECRET: usize = 16;
const MAX_SECRET: usize = 256;
/// Deliveries in flight at once in one process.
const MAX_IN_FLIGHT: usize = 16;
/// How long a claimed delivery stays leased to its worker: longer than an attempt can take.
const LEASE_MS: i64 = 60_000;
/// Deliveries listed by [`Core::webhook_deliveries`].
const DELIVERIES_LISTED: i64 = 50;

/// How webhooks are delivered; loaded and validated by the server.
#[derive(Debug, Clone, Copy)]
pub struct WebhookSettings {
    /// Which destinations are allowed.
    pub target: TargetRules,
    /// Wait after the first failed attempt; doubled after each further one.
    pub retry_base: Duration,
    /// Attempts per delivery, the first included.
    pub max_attempts: i64,
    /// Deadline of one attempt (connect, send and answer).
    pub attempt_timeout: Duration,
    /// How often the queue is polled when nothing wakes the worker.
    pub poll_interval: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            target: TargetRules::default(),
            retry_base: Duration::from_millis(2000),
            max_attempts: 5,
            attempt_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_millis(500),
        }
    }
}

impl WebhookSettings {
    /// The wait before the attempt after `failed` failed attempts: `retry_base * 2^(failed-1)`.
    pub fn backoff(&self, failed: i64) -> Duration {
        let shift = failed.clamp(1, 20) - 1;
        self.retry_base.saturating_mul(1u32 << shift)
    }
}

/// Input of `POST /v1/webhooks`.
#[derive(Debug)]
pub struct CreateWebhook {
    /// Destination URL.
    pub url: String,
    /// Audit actions to deliver, or `*`.
    pub events: Vec<String>,
    /// Optional note.
    pub description: Option<String>,
    /// Signing secret chosen by the caller; generated when absent.
    pub secret: Option<SecretValue>,
}

/// Input of `PATCH /v1/webhooks/{id}`; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct PatchWebhook {
    /// New destination URL.
    pub url: Option<String>,
    /// New event list.
    pub events: Option<Vec<String>>,
    /// Switch deliveries on or off.
    pub is_active: Option<bool>,
    /// New note; `Some(None)` clears it.
    pub description: Option<Option<String>>,
}

/// A created webhook and its signing secret, returned once.
#[derive(Debug)]
pub struct WebhookCreated {
    /// The webhook.
    pub webhook: Webhook,
    /// The signing secret.
    pub secret: SecretValue,
}

fn require_admin(p: &Principal) -> Result<()> {
    let (_, role) = p.require_human()?;
    if !role.is_org_admin() {
        return Err(Error::Forbidden(
            "Only org owners and admins can manage webhooks".into(),
        ));
    }
    Ok(())
}

/// Whether `e` is an audit action name (`noun.verb`, lower case, digits and underscores).
fn is_action_name(e: &str) -> bool {
    let Some((noun, verb)) = e.split_once('.') else {
        return false;
    };
    let part = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    e.len() <= MAX_EVENT_LEN && part(noun) && part(verb)
}

/// Checks an event list: non-empty, each an action name or `*`; duplicates dropped.
fn check_events(events: Vec<String>) -> Result<Vec<String>> {
    if events.is_empty() {
        return Err(Error::invalid(
            "events",
            "events must list at least one audit action or *",
        ));
    }
    if events.len() > MAX_EVENTS {
        return Err(Error::invalid(
            "events",
            format!("events may list at most {MAX_EVENTS} actions"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for e in events {
        let e = e.trim().to_owned();
        if e != "*" && !is_action_name(&e) {
            return Err(Error::invalid(
                "events",
                "each event must be an audit action name such as secret.read, or *",
            ));
        }
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

fn check_description(d: Option<String>) -> Result<Option<String>> {
    match d {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => Err(Error::invalid(
            "description",
            format!("description must be at most {MAX_DESCRIPTION} characters"),
        )),
        other => Ok(other),
    }
}

/// The host of a checked URL, for audit details (a URL's path and query may carry a token).
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

fn secret_binding<'a>(org_id: &'a str, webhook_id: &'a str) -> Binding<'a> {
    Binding {
        org_id,
        vault_id: "webhook",
        secret_id: webhook_id,
        path: "signing-secret",
        version: 1,
    }
}

impl Core {
    fn webhook_settings(&self) -> &WebhookSettings {
        &self.config().webhooks
    }

    /// The org's webhooks, oldest first, each with its latest delivery. Owners and admins.
    pub async fn list_webhooks(&self, p: &Principal) -> Result<Vec<Webhook>> {
        require_admin(p)?;
        p.require_scope(Scope::OrgRead)?;
        store::list(self.store().pool(), p.org_id()).await
    }

    /// One of the org's webhooks; 404 when the org has none with that id.
    pub async fn get_webhook(&self, p: &Principal, id: &str) -> Result<Webhook> {
        require_admin(p)?;
        p.require_scope(Scope::OrgRead)?;
        store::get(self.store().pool(), p.org_id(), id)
            .await?
            .ok_or(Error::NotFound("Webhook"))
    }

    /// Registers a webhook (audited as `webhook.create` in the same transaction). The URL
    /// must pass the destination rules; the secret is sealed before it is stored and is
    /// returned only here.
    pub async fn create_webhook(
        &self,
        p: &Principal,
        input: CreateWebhook,
        ctx: &RequestContext,
    ) -> Result<WebhookCreated> {
        require_admin(p)?;
        p.require_scope(Scope::OrgWrite)?;
        let rules = self.webhook_settings().target;
        let target = webhook_target::check(&input.url, rules).await?;
        let events = check_events(input.events)?;
        let description = check_description(input.description)?;
        let secret = match input.secret {
            Some(s) => {
                let n = s.expose_secret().chars().count();
                if !(MIN_SECRET..=MAX_SECRET).contains(&n) {
                    return Err(Error::invalid(
                        "secret",
                        format!("secret must be {MIN_SECRET} to {MAX_SECRET} characters"),
                    ));
                }
                s
            }
            None => SecretValue::new(format!(
                "whsec_{}",
                crate::audit_chain::hex(&random_bytes::<32>())
            )),
        };
        let webhook = Webhook {
            id: uuid::Uuid::new_v4().to_string(),
            org_id: p.org_id().to_owned(),
            url: target.url.to_string(),
            events,
            description,
            is_active: true,
            created_by: p.id().to_owned(),
            created_at: self.now(),
            last_delivery: None,
        };
        let (org, id) = (webhook.org_id.clone(), webhook.id.clone());
        let value = SecretValue::new(secret.expose_secret().to_owned());
        let sealed = self
            .keys(move |k| envelope::seal(k, WEBHOOK_KEK, &secret_binding(&org, &id), &value))
            .await?
            .map_err(|_| Error::Internal("webhook secret sealing failed".into()))?;
        let row = WebhookRow {
            webhook,
            sealed,
            kek_label: WEBHOOK_KEK.to_owned(),
        };
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "webhook.create",
                "webhook",
                Some(row.webhook.id.clone()),
                json!({"host": target.host, "events": row.webhook.events}),
            ),
        )
        .await?;
        store::insert(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(WebhookCreated {
            webhook: row.webhook,
            secret,
        })
    }

    /// Changes a webhook's URL, events, active flag or description (audited as
    /// `webhook.update` in the same transaction); a new URL must pass the destination rules.
    pub async fn update_webhook(
        &self,
        p: &Principal,
        id: &str,
        patch: PatchWebhook,
        ctx: &RequestContext,
    ) -> Result<Webhook> {
        require_admin(p)?;
        p.require_scope(Scope::OrgWrite)?;
        let mut w = store::get(self.store().pool(), p.org_id(), id)
            .await?
            .ok_or(Error::NotFound("Webhook"))?;
        let mut fields: Vec<&str> = Vec::new();
        if let Some(url) = patch.url {
            let target = webhook_target::check(&url, self.webhook_settings().target).await?;
            w.url = target.url.to_string();
            fields.push("url");
        }
        if let Some(events) = patch.events {
            w.events = check_events(events)?;
            fields.push("events");
        }
        if let Some(d) = patch.description {
            w.description = check_description(d)?;
            fields.push("description");
        }
        if let Some(a) = patch.is_active {
            w.is_active = a;
            fields.push("is_active");
        }
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "webhook.update",
                "webhook",
                Some(w.id.clone()),
                json!({
                    "fields": fields, "host": host_of(&w.url), "events": w.events,
                    "is_active": w.is_active,
                }),
            ),
        )
        .await?;
        if !store::update(&mut tx, &w, self.now()).await? {
            return Err(Error::NotFound("Webhook"));
        }
        tx.commit().await?;
        Ok(w)
    }

    /// Deletes a webhook with its queued deliveries (audited as `webhook.delete` in the same
    /// transaction); 404 when the org has none with that id.
    pub async fn delete_webhook(
        &self,
        p: &Principal,
        id: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        require_admin(p)?;
        p.require_scope(Scope::OrgWrite)?;
        let mut tx = self.store().begin().await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "webhook.delete",
                "webhook",
                Some(id.to_owned()),
                json!({}),
            ),
        )
        .await?;
        if !store::delete(&mut tx, p.org_id(), id).await? {
            return Err(Error::NotFound("Webhook"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Queues a `webhook.test` event for this webhook only (the event is audited, and the
    /// delivery queued in the same transaction); returns the queued delivery. 409 when the
    /// webhook is switched off.
    pub async fn test_webhook(
        &self,
        p: &Principal,
        id: &str,
        ctx: &RequestContext,
    ) -> Result<WebhookDelivery> {
        require_admin(p)?;
        p.require_scope(Scope::OrgWrite)?;
        let w = store::get(self.store().pool(), p.org_id(), id)
            .await?
            .ok_or(Error::NotFound("Webhook"))?;
        if !w.is_active {
            return Err(Error::Conflict(
                "The webhook is not active; activate it before sending a test event".into(),
            ));
        }
        let (mut tx, head) = self.begin_audited(p.org_id()).await?;
        let seq = head.seq;
        self.write_audit(
            &mut tx,
            head,
            ctx,
            AuditEvent::by(
                p,
                TEST_ACTION,
                "webhook",
                Some(w.id.clone()),
                json!({"test": true}),
            ),
        )
        .await?;
        let delivery = store::enqueue_test(&mut tx, p.org_id(), &w.id, seq).await?;
        tx.commit().await?;
        Ok(delivery)
    }

    /// The webhook's most recent deliveries, newest first; 404 when the org has no such
    /// webhook.
    pub async fn webhook_deliveries(
        &self,
        p: &Principal,
        id: &str,
    ) -> Result<Vec<WebhookDelivery>> {
        let w = self.get_webhook(p, id).await?;
        store::deliveries(self.store().pool(), p.org_id(), &w.id, DELIVERIES_LISTED).await
    }

    /// Starts this process's delivery worker: it claims due deliveries (woken at once after a
    /// commit of this process queued some, and polling otherwise, so deliveries queued by
    /// other processes or before a restart go out too) and attempts them.
    pub fn start_webhook_deliveries(&self) {
        let core = self.clone();
        tokio::spawn(async move { core.run_deliveries().await });
    }

    async fn run_deliveries(self) {
        let owner = uuid::Uuid::new_v4().to_string();
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let poll = self.webhook_settings().poll_interval;
        loop {
            let free = slots.available_permits() as i64;
            let claimed = if free > 0 && !self.store().is_down() {
                match self.claim_deliveries(&owner, free).await {
                    Ok(ids) => ids,
                    Err(e) => {
                        tracing::warn!(error = %e, "webhook deliveries could not be claimed");
                        Vec::new()
                    }
                }
            } else {
                Vec::new()
            };
            let full = claimed.len() as i64 == free && free > 0;
            for id in claimed {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (core, owner) = (self.clone(), owner.clone());
                tokio::spawn(async move {
                    core.attempt_delivery(&owner, &id).await;
                    drop(permit);
                });
            }
            if full {
                continue;
            }
            tokio::select! {
                _ = self.store().deliveries_enqueued().notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    async fn claim_deliveries(&self, owner: &str, limit: i64) -> Result<Vec<String>> {
        let now = self.now();
        if !store::any_due(self.store().pool(), now).await? {
            return Ok(Vec::new());
        }
        let mut tx = self.store().begin().await?;
        let ids = store::claim_due(&mut tx, owner, now, now + LEASE_MS, limit).await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Makes one attempt of a claimed delivery and records how it went.
    async fn attempt_delivery(&self, owner: &str, id: &str) {
        if let Err(e) = self.try_attempt(owner, id).await {
            // The lease runs out and the attempt is made again later.
            tracing::warn!(delivery = %id, error = %e, "webhook delivery attempt not recorded");
        }
    }

    async fn try_attempt(&self, owner: &str, id: &str) -> Result<()> {
        let Some(job) = store::job(self.store().pool(), id).await? else {
            return Ok(()); // its webhook or event is gone
        };
        if !job.webhook.webhook.is_active {
            let mut tx = self.store().begin().await?;
            store::abandon(&mut tx, id, owner, "webhook is not active", self.now()).await?;
            tx.commit().await?;
            return Ok(());
        }
        let (org, wid) = (job.org_id.clone(), job.webhook.webhook.id.clone());
        let (sealed, kek) = (job.webhook.sealed.clone(), job.webhook.kek_label.clone());
        let secret = self
            .keys(move |k| envelope::open(k, &kek, &secret_binding(&org, &wid), &sealed))
            .await?
            .map_err(|_| Error::Internal("webhook secret failed to open".into()))?;
        let body = serde_json::to_vec(&json!({
            "id": job.delivery.id,
            "event": job.event.action,
            "created_at": rfc3339(job.event.created_at),
            "org_id": job.org_id,
            "data": talon_api::audit::AuditEventResponse::from(&job.event),
        }))
        .map_err(|_| Error::Internal("webhook payload did not serialise".into()))?;
        let t = self.now() / 1000;
        let signature =
            crate::webhook_signature::header(secret.expose_secret().as_bytes(), t, &body);
        drop(secret);
        let result = self
            .post_delivery(&job.webhook.webhook.url, &job.delivery, body, signature)
            .await;
        let settings = self.webhook_settings();
        let now = self.now();
        let failed = job.delivery.attempts + 1;
        let attempt = match &result {
            Ok(code) => Attempt {
                status: "delivered",
                next_attempt_at: now,
                status_code: Some(*code),
                error: None,
                at: now,
            },
            Err((code, why)) => Attempt {
                status: if failed >= settings.max_attempts {
                    "failed"
                } else {
                    "pending"
                },
                next_attempt_at: now + settings.backoff(failed).as_millis() as i64,
                status_code: *code,
                error: Some(why.as_str()),
                at: now,
            },
        };
        let mut tx = self.store().begin().await?;
        store::record_attempt(&mut tx, id, owner, &attempt).await?;
        tx.commit().await?;
        tracing::debug!(delivery = %id, status = attempt.status, "webhook delivery attempted");
        Ok(())
    }

    /// Posts one delivery: checks the URL and every address its host resolves to again, then
    /// connects to the checked address only, without following redirects. `Ok(status)` for a
    /// 2xx answer; otherwise the status (if any) and a short reason without body or secret.
    async fn post_delivery(
        &self,
        url: &str,
        d: &WebhookDelivery,
        body: Vec<u8>,
        signature: String,
    ) -> std::result::Result<i64, (Option<i64>, String)> {
        let settings = *self.webhook_settings();
        let target = webhook_target::parse(url, settings.target)
            .map_err(|e| (None, format!("destination refused: {e}")))?;
        let addr = webhook_target::resolve(&target, settings.target)
            .await
            .map_err(|e| (None, format!("destination refused: {e}")))?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.attempt_timeout)
            .connect_timeout(settings.attempt_timeout)
            .no_proxy();
        if target.host.parse::<std::net::IpAddr>().is_err() {
            builder = builder.resolve(&target.host, addr);
        }
        let client = builder
            .build()
            .map_err(|_| (None, "HTTP client unavailable".to_owned()))?;
        let res = client
            .post(target.url)
            .header("Content-Type", "application/json")
            .header("User-Agent", "Talon-Webhooks/1")
            .header("X-Talon-Event", &d.action)
            .header("X-Talon-Delivery", &d.id)
            .header("X-Talon-Signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let why = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                };
                (None, why.to_owned())
            })?;
        let code = i64::from(res.status().as_u16());
        if res.status().is_success() {
            Ok(code)
        } else {
            Err((Some(code), format!("HTTP {code}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lists_take_action_names_or_star() {
        let ok = |v: &[&str]| check_events(v.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            ok(&["secret.read", "secret.read", "*"]).unwrap(),
            vec!["secret.read", "*"]
        );
        assert_eq!(
            ok(&["security.ip_rule_create"]).unwrap(),
            vec!["security.ip_rule_create"]
        );
        for bad in [
            &[][..],
            &["secret"][..],
            &["secret.*"][..],
            &["Secret.Read"][..],
            &["secret.read", ""][..],
            &["a.b.c"][..],
            &[".read"][..],
        ] {
            assert!(
                matches!(
                    ok(bad),
                    Err(Error::Invalid {
                        field: Some("events"),
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn backoff_doubles_from_the_base() {
        let s = WebhookSettings {
            retry_base: Duration::from_millis(100),
            ..WebhookSettings::default()
        };
        let waits: Vec<u128> = (1..=4).map(|n| s.backoff(n).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 400, 800]);
    }
}
