//! Stripe: Checkout and the customer portal for owners and admins, and the signed webhook that
//! moves an org between tiers. Without a secret key the endpoints answer
//! `billing_not_configured`; the API base is configurable so a test can stand in for Stripe.

use super::{Core, Principal, RequestContext};
use crate::error::{Dependency, Error, Result};
use crate::store::billing as store;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::Duration;

/// Stripe settings. Every field is optional except the API base.
#[derive(Clone, Default)]
pub struct StripeConfig {
    /// `sk_…`; enables subscribe and portal.
    pub secret_key: Option<String>,
    /// `whsec_…`; enables the webhook.
    pub webhook_secret: Option<String>,
    /// `https://api.stripe.com` in production.
    pub api_base: String,
    /// Price ids by `"<tier>:<interval>"` (`pro:monthly`, `business:yearly`, ...).
    pub prices: BTreeMap<String, String>,
}

impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("api_base", &self.api_base)
            .field("prices", &self.prices)
            .finish()
    }
}

/// Seconds a webhook signature stays acceptable (Stripe's default tolerance).
pub const WEBHOOK_TOLERANCE_S: i64 = 300;

/// Input of `POST /v1/billing/subscribe`: a tier or a price id.
#[derive(Debug, Clone, Default)]
pub struct Subscribe {
    /// `pro` or `business`; used with `interval` when no price id is given.
    pub tier: Option<String>,
    /// A Stripe price id this server sells; takes precedence over `tier`.
    pub price_id: Option<String>,
    /// `monthly` (the default) or `yearly`.
    pub interval: Option<String>,
    /// Starts the subscription with a 14-day trial.
    pub trial: bool,
}

fn not_configured(what: &str) -> Error {
    Error::BillingNotConfigured(format!(
        "Stripe billing is not configured on this server ({what})"
    ))
}

fn form_encode(pairs: &[(String, String)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks a `Stripe-Signature` header (`t=<unix>,v1=<hex>[,v1=…]`) over the raw payload:
/// HMAC-SHA256 of `"<t>.<payload>"` under the endpoint secret, compared in constant time, with
/// the timestamp no further than [`WEBHOOK_TOLERANCE_S`] from `now_s`.
pub fn verify_signature(secret: &str, header: &str, payload: &[u8], now_s: i64) -> Result<()> {
    let bad = |why: &str| Error::invalid("Stripe-Signature", why.to_owned());
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.extend(unhex(v)),
            _ => {}
        }
    }
    let t = t.ok_or_else(|| bad("Stripe-Signature has no timestamp"))?;
    if sigs.is_empty() {
        return Err(bad("Stripe-Signature has no v1 signature"));
    }
    if (now_s - t).abs() > WEBHOOK_TOLERANCE_S {
        return Err(bad("Stripe-Signature timestamp is outside the tolerance"));
    }
    let ok = sigs.iter().any(|sig| {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        mac.verify_slice(sig).is_ok()
    });
    if !ok {
        return Err(bad("Stripe-Signature does not match the payload"));
    }
    Ok(())
}

fn interval_of(v: &Value) -> Option<String> {
    match v.as_str()? {
        "month" => Some("monthly".into()),
        "year" => Some("yearly".into()),
        _ => None,
    }
}

impl Core {
    fn stripe(&self) -> &StripeConfig {
        &self.config().stripe
    }

    fn stripe_key(&self) -> Result<String> {
        self.stripe()
            .secret_key
            .clone()
            .ok_or_else(|| not_configured("TALON_STRIPE_SECRET_KEY is not set"))
    }

    fn require_billing_admin(p: &Principal) -> Result<()> {
        let (_, role) = p.require_human()?;
        if !role.is_org_admin() {
            return Err(Error::Forbidden(
                "Only owners and admins manage the subscription".into(),
            ));
        }
        Ok(())
    }

    async fn stripe_post(&self, path: &str, form: &[(String, String)]) -> Result<Value> {
        let key = self.stripe_key()?;
        let url = format!("{}{path}", self.stripe().api_base.trim_end_matches('/'));
        let res = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|_| Error::Unavailable(Dependency::Billing))?
            .post(url)
            .bearer_auth(key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(form))
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e.without_url(), path, "Stripe unreachable");
                Error::Unavailable(Dependency::Billing)
            })?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            tracing::warn!(status = status.as_u16(), path, "Stripe refused a request");
            return Err(Error::Unavailable(Dependency::Billing));
        }
        Ok(body)
    }

    /// Starts a Stripe Checkout session for the org; returns its URL. Owners and admins.
    pub async fn billing_subscribe(&self, p: &Principal, input: Subscribe) -> Result<String> {
        Self::require_billing_admin(p)?;
        self.stripe_key()?;
        let prices = &self.stripe().prices;
        let (tier, price) = match (&input.price_id, &input.tier) {
            (Some(price), _) => {
                let key = prices
                    .iter()
                    .find(|(_, v)| *v == price)
                    .map(|(k, _)| k.clone())
                    .ok_or_else(|| {
                        Error::invalid("price_id", "price_id is not a price this server sells")
                    })?;
                let tier = key.split(':').next().unwrap_or_default().to_owned();
                (tier, price.clone())
            }
            (None, Some(tier)) => {
                if tier != "pro" && tier != "business" {
                    return Err(Error::invalid("tier", "tier must be pro or business"));
                }
                let interval = input.interval.as_deref().unwrap_or("monthly");
                if interval != "monthly" && interval != "yearly" {
                    return Err(Error::invalid(
                        "interval",
                        "interval must be monthly or yearly",
                    ));
                }
                let price = prices
                    .get(&format!("{tier}:{interval}"))
                    .cloned()
                    .ok_or_else(|| {
                        not_configured(&format!("no Stripe price for {tier} {interval}"))
                    })?;
                (tier.clone(), price)
            }
            (None, None) => return Err(Error::invalid("tier", "tier or price_id is required")),
        };
        let org = store::org(self.store().pool(), p.org_id())
            .await?
            .ok_or(Error::NotFound("Organization"))?;
        let public = self.config().public_url.trim_end_matches('/');
        let mut form: Vec<(String, String)> = vec![
            ("mode".into(), "subscription".into()),
            ("line_items[0][price]".into(), price),
            ("line_items[0][quantity]".into(), "1".into()),
            ("client_reference_id".into(), org.org_id.clone()),
            (
                "success_url".into(),
                format!("{public}/billing?checkout=success"),
            ),
            (
                "cancel_url".into(),
                format!("{public}/billing?checkout=cancel"),
            ),
            ("metadata[org_id]".into(), org.org_id.clone()),
            ("metadata[tier]".into(), tier.clone()),
            (
                "subscription_data[metadata][org_id]".into(),
                org.org_id.clone(),
            ),
            ("subscription_data[metadata][tier]".into(), tier),
        ];
        match (&org.stripe_customer_id, p) {
            (Some(c), _) => form.push(("customer".into(), c.clone())),
            (None, Principal::User { email, .. }) => {
                form.push(("customer_email".into(), email.clone()))
            }
            (None, _) => {}
        }
        if input.trial {
            form.push(("subscription_data[trial_period_days]".into(), "14".into()));
        }
        let session = self.stripe_post("/v1/checkout/sessions", &form).await?;
        session["url"]
            .as_str()
            .map(str::to_owned)
            .ok_or(Error::Unavailable(Dependency::Billing))
    }

    /// Opens a Stripe customer-portal session; 409 before the org has a Stripe customer.
    pub async fn billing_portal(&self, p: &Principal) -> Result<String> {
        Self::require_billing_admin(p)?;
        self.stripe_key()?;
        let org = store::org(self.store().pool(), p.org_id())
            .await?
            .ok_or(Error::NotFound("Organization"))?;
        let customer = org.stripe_customer_id.ok_or_else(|| {
            Error::Conflict("This organization has no Stripe customer yet; subscribe first".into())
        })?;
        let public = self.config().public_url.trim_end_matches('/');
        let session = self
            .stripe_post(
                "/v1/billing_portal/sessions",
                &[
                    ("customer".into(), customer),
                    ("return_url".into(), format!("{public}/billing")),
                ],
            )
            .await?;
        session["url"]
            .as_str()
            .map(str::to_owned)
            .ok_or(Error::Unavailable(Dependency::Billing))
    }

    /// Verifies and applies a Stripe webhook: each event id once; checkout completion and
    /// subscription changes set the org's tier and status (audited `billing.tier_changed`),
    /// a deleted subscription returns the org to the default tier, a failed invoice marks it
    /// `past_due`. Events for unknown orgs and other types are acknowledged and ignored.
    pub async fn billing_webhook(
        &self,
        signature: Option<&str>,
        payload: &[u8],
        ctx: &RequestContext,
    ) -> Result<()> {
        let secret = self
            .stripe()
            .webhook_secret
            .clone()
            .ok_or_else(|| not_configured("TALON_STRIPE_WEBHOOK_SECRET is not set"))?;
        let header = signature
            .ok_or_else(|| Error::invalid("Stripe-Signature", "Stripe-Signature is missing"))?;
        verify_signature(&secret, header, payload, self.now() / 1000)?;
        let event: Value = serde_json::from_slice(payload)
            .map_err(|_| Error::invalid("body", "webhook body is not a Stripe event"))?;
        let (Some(id), Some(kind)) = (event["id"].as_str(), event["type"].as_str()) else {
            return Err(Error::invalid("body", "webhook body is not a Stripe event"));
        };
        let obj = &event["data"]["object"];
        let mut tx = self.store().begin().await?;
        if !store::mark_stripe_event(&mut tx, id, kind, self.now()).await? {
            return Ok(());
        }
        let customer = obj["customer"].as_str().map(str::to_owned);
        let by_meta = obj["metadata"]["org_id"]
            .as_str()
            .or(obj["client_reference_id"].as_str())
            .map(str::to_owned);
        let org = match by_meta {
            Some(org_id) => store::org_tx(&mut tx, &org_id).await?,
            None => match &customer {
                Some(c) => store::org_by_customer(&mut tx, c).await?,
                None => None,
            },
        };
        let Some(before) = org else {
            tracing::info!(event = id, kind, "Stripe event for no known org; ignored");
            tx.commit().await?;
            return Ok(());
        };
        let known = |t: &str| self.config().plans.contains(t);
        let mut after = before.clone();
        match kind {
            "checkout.session.completed" => {
                if let Some(t) = obj["metadata"]["tier"].as_str().filter(|t| known(t)) {
                    after.tier = t.to_owned();
                }
                after.status = "active".into();
                after.stripe_customer_id = customer.or(after.stripe_customer_id);
                if let Some(s) = obj["subscription"].as_str() {
                    after.stripe_subscription_id = Some(s.to_owned());
                }
            }
            "customer.subscription.created" | "customer.subscription.updated" => {
                let item = &obj["items"]["data"][0];
                let by_price = item["price"]["id"].as_str().and_then(|price| {
                    self.stripe()
                        .prices
                        .iter()
                        .find(|(_, v)| *v == price)
                        .and_then(|(k, _)| k.split(':').next().map(str::to_owned))
                });
                let tier = by_price.or_else(|| obj["metadata"]["tier"].as_str().map(str::to_owned));
                let status = obj["status"].as_str().unwrap_or("active").to_owned();
                if matches!(
                    status.as_str(),
                    "canceled" | "unpaid" | "incomplete_expired"
                ) {
                    after.tier = self.config().default_tier.clone();
                } else if let Some(t) = tier.filter(|t| known(t)) {
                    after.tier = t;
                }
                after.status = status;
                after.interval = interval_of(&item["price"]["recurring"]["interval"]);
                after.period_end = obj["current_period_end"]
                    .as_i64()
                    .or(item["current_period_end"].as_i64())
                    .map(|s| s * 1000);
                after.stripe_customer_id = customer.or(after.stripe_customer_id);
                after.stripe_subscription_id = obj["id"].as_str().map(str::to_owned);
            }
            "customer.subscription.deleted" => {
                after.tier = self.config().default_tier.clone();
                after.status = "canceled".into();
                after.interval = None;
                after.period_end = None;
                after.stripe_subscription_id = None;
            }
            "invoice.payment_failed" => after.status = "past_due".into(),
            _ => {
                tx.commit().await?;
                return Ok(());
            }
        }
        self.apply_billing(&mut tx, &before, &after, kind, ctx)
            .await?;
        tx.commit().await?;
        self.meter_forget_tier(&after.org_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("t={t},v1={hex}")
    }

    #[test]
    fn signature_table() {
        let body = br#"{"id":"evt_1"}"#;
        let now = 1_800_000_000;
        let good = sign("whsec_a", now, body);
        let cases: &[(&str, String, &[u8], i64, bool)] = &[
            ("valid", good.clone(), body, now, true),
            ("within tolerance", good.clone(), body, now + 299, true),
            ("stale", good.clone(), body, now + 301, false),
            ("other secret", sign("whsec_b", now, body), body, now, false),
            (
                "edited body",
                good.clone(),
                br#"{"id":"evt_2"}"#,
                now,
                false,
            ),
            ("no v1", format!("t={now}"), body, now, false),
            (
                "no t",
                good.split(',').nth(1).unwrap().to_owned(),
                body,
                now,
                false,
            ),
            (
                "second v1 matches",
                format!("{good},v1=00ff"),
                body,
                now,
                true,
            ),
        ];
        for (name, header, payload, at, ok) in cases {
            assert_eq!(
                verify_signature("whsec_a", header, payload, *at).is_ok(),
                *ok,
                "{name}"
            );
        }
    }

    #[test]
    fn form_encoding_escapes_brackets_and_spaces() {
        assert_eq!(
            form_encode(&[("line_items[0][price]".into(), "price 1&x".into())]),
            "line_items%5B0%5D%5Bprice%5D=price+1%26x"
        );
    }
}
