//! Usage and billing: tiers and their limits (from configuration), the monthly request quota
//! counted in memory and flushed to the database in batches, resource limits checked inside
//! the creating transaction, and the org's Stripe subscription.
//!
//! Counting never adds a database write to a request: admitted billable requests bump an
//! in-memory counter and queue a usage event; one task commits the queued events and the
//! monthly counters in one transaction per batch, then reloads the database's total, so
//! several processes on one PostgreSQL converge on the same count.

use super::audit::AuditEvent;
use super::{Core, Principal, RequestContext};
use crate::error::{Error, Result};
use crate::store::billing::{self as store, Counted, OrgBilling, UsageEventRow};
use crate::store::Tx;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Limits of one tier; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub struct PlanLimits {
    /// Billable requests per calendar month.
    pub requests: Option<i64>,
    /// Vaults per org.
    pub vaults: Option<i64>,
    /// Secrets per org.
    pub secrets: Option<i64>,
    /// Agents per org.
    pub agents: Option<i64>,
}

impl PlanLimits {
    fn of(&self, what: Counted) -> Option<i64> {
        match what {
            Counted::Vaults => self.vaults,
            Counted::Secrets => self.secrets,
            Counted::Agents => self.agents,
            Counted::Members | Counted::Shares => None,
        }
    }
}

/// Every tier and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plans(BTreeMap<String, PlanLimits>);

/// A partial override of one tier: a present field replaces the built-in value (`null` makes
/// it unlimited), an absent one keeps it.
#[derive(Deserialize)]
struct PlanOverride {
    #[serde(default, deserialize_with = "present")]
    requests: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    vaults: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    secrets: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    agents: Option<Option<i64>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

impl Default for Plans {
    fn default() -> Self {
        let tier = |requests, vaults, secrets, agents| PlanLimits {
            requests: Some(requests),
            vaults: Some(vaults),
            secrets: Some(secrets),
            agents: Some(agents),
        };
        Plans(BTreeMap::from([
            ("free".into(), tier(1_000, 3, 50, 2)),
            ("pro".into(), tier(25_000, 25, 500, 10)),
            ("business".into(), tier(100_000, 100, 5_000, 50)),
            ("enterprise".into(), PlanLimits::default()),
        ]))
    }
}

impl Plans {
    /// The built-in tiers with `json` applied on top: an object of tier name to an object of
    /// `requests`, `vaults`, `secrets`, `agents` (integers ≥ 0, or `null` for unlimited). A new
    /// tier name adds a tier (unlimited where not given).
    pub fn with_overrides(json: &str) -> std::result::Result<Plans, String> {
        let over: BTreeMap<String, PlanOverride> = serde_json::from_str(json).map_err(|e| {
            format!("plan limits must be a JSON object like {{\"free\":{{\"requests\":1000,\"vaults\":3}}}}: {e}")
        })?;
        let mut plans = Plans::default();
        for (name, o) in over {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("plan name '{name}' must be letters, digits or '_'"));
            }
            let l = plans.0.entry(name.clone()).or_default();
            for (field, v, slot) in [
                ("requests", o.requests, &mut l.requests),
                ("vaults", o.vaults, &mut l.vaults),
                ("secrets", o.secrets, &mut l.secrets),
                ("agents", o.agents, &mut l.agents),
            ] {
                if let Some(v) = v {
                    if v.is_some_and(|n| n < 0) {
                        return Err(format!("{name}.{field} must not be negative"));
                    }
                    *slot = v;
                }
            }
        }
        Ok(plans)
    }

    /// The tier's limits; an unknown tier is unlimited (self-hosted orgs are never locked out
    /// by a tier name the configuration no longer lists).
    pub fn limits(&self, tier: &str) -> PlanLimits {
        self.0.get(tier).copied().unwrap_or_default()
    }

    /// Whether `tier` is a configured tier.
    pub fn contains(&self, tier: &str) -> bool {
        self.0.contains_key(tier)
    }

    /// The configured tier names, in alphabetical order.
    pub fn names(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// A billable operation (API.md 5.2) and its price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillableOp {
    /// Reading a secret's value, 0.001 USD.
    SecretRead,
    /// Writing or rotating a secret, 0.005 USD.
    SecretWrite,
    /// Creating a share, 0.002 USD.
    ShareCreate,
    /// Opening a share as a signed-in recipient, 0.001 USD.
    ShareAccess,
    /// Querying or exporting the audit log, 0.0005 USD.
    AuditQuery,
}

impl BillableOp {
    /// Price in micro-USD.
    pub fn price_micros(self) -> i64 {
        match self {
            BillableOp::SecretRead | BillableOp::ShareAccess => 1_000,
            BillableOp::SecretWrite => 5_000,
            BillableOp::ShareCreate => 2_000,
            BillableOp::AuditQuery => 500,
        }
    }
}

/// Formats micro-USD as a decimal string with four places (`"0.0005"`).
pub fn usd(micros: i64) -> String {
    format!("{}.{:04}", micros / 1_000_000, (micros % 1_000_000) / 100)
}

/// The org's request quota as the response headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaView {
    /// Billable requests this month, including the current one.
    pub used: i64,
    /// The tier's quota; `None` when unlimited.
    pub limit: Option<i64>,
}

impl QuotaView {
    /// Whole percent of the quota used, when limited.
    pub fn percent(&self) -> Option<i64> {
        self.limit
            .map(|l| if l == 0 { 100 } else { self.used * 100 / l })
    }
}

/// The calendar month (UTC) of unix milliseconds, as `YYYY-MM`.
pub fn month_of(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}", t.year(), u8::from(t.month()))
}

/// How many flush intervals a cached tier and month count are trusted before they are read
/// again: other processes sharing the database flush their own counts, so every process sees
/// the others' requests within this many intervals (10 s at the default 1 s).
const RELOAD_AFTER_FLUSHES: u32 = 10;

struct OrgUsage {
    month: String,
    tier: String,
    /// When the tier and count were read; `None` forces a reload.
    loaded: Option<Instant>,
    /// The database's count when last read.
    base: i64,
    base_cost: i64,
    /// Admitted here and not yet flushed.
    unflushed: i64,
    unflushed_cost: i64,
}

#[derive(Default)]
struct MeterState {
    orgs: HashMap<String, OrgUsage>,
    queued: Vec<UsageEventRow>,
}

/// The in-memory request meter and its flushing task.
#[derive(Default)]
pub(crate) struct Meter {
    state: std::sync::Mutex<MeterState>,
    flushing: tokio::sync::Mutex<()>,
    task: std::sync::OnceLock<()>,
}

/// Events queued beyond this are flushed at once rather than waiting for the interval.
const FLUSH_AT: usize = 512;

impl Core {
    fn meter(&self) -> &Meter {
        &self.0.meter
    }

    fn reload_after(&self) -> Duration {
        (self.config().usage_flush_interval * RELOAD_AFTER_FLUSHES).max(Duration::from_secs(1))
    }

    fn plans(&self) -> &Plans {
        &self.config().plans
    }

    /// Loads (or refreshes) the org's tier and month counter into the meter.
    async fn meter_load(&self, org_id: &str) -> Result<()> {
        let month = month_of(self.now());
        {
            let st = self.meter().state.lock().expect("meter");
            if let Some(o) = st.orgs.get(org_id) {
                let fresh = o.loaded.is_some_and(|t| t.elapsed() < self.reload_after());
                if o.month == month && fresh {
                    return Ok(());
                }
            }
        }
        // Not while a flush is between its commit and its bookkeeping: the database total
        // would already hold events that still count as unflushed here.
        let _no_flush = self.meter().flushing.lock().await;
        let org = store::org(self.store().pool(), org_id)
            .await?
            .ok_or(Error::NotFound("Organization"))?;
        let (base, base_cost) = store::month_usage(self.store().pool(), org_id, &month).await?;
        let mut st = self.meter().state.lock().expect("meter");
        let entry = st.orgs.entry(org_id.to_owned()).or_insert(OrgUsage {
            month: month.clone(),
            tier: org.tier.clone(),
            loaded: None,
            base,
            base_cost,
            unflushed: 0,
            unflushed_cost: 0,
        });
        if entry.month != month {
            entry.unflushed = 0;
            entry.unflushed_cost = 0;
        }
        entry.month = month;
        entry.tier = org.tier;
        entry.loaded = Some(Instant::now());
        entry.base = base;
        entry.base_cost = base_cost;
        Ok(())
    }

    /// Admits an authenticated request. For a billable one, refuses it with
    /// [`Error::QuotaExceeded`] once the month's quota is used up, and otherwise counts it in
    /// memory (no database write). Returns the quota for the response headers.
    pub async fn meter_admit(&self, p: &Principal, op: Option<BillableOp>) -> Result<QuotaView> {
        self.meter_load(p.org_id()).await?;
        let mut st = self.meter().state.lock().expect("meter");
        let o = st
            .orgs
            .get_mut(p.org_id())
            .ok_or(Error::Internal("meter entry missing".into()))?;
        let limit = self.plans().limits(&o.tier).requests;
        let used = o.base + o.unflushed;
        if let Some(op) = op {
            if let Some(l) = limit {
                if used >= l {
                    return Err(Error::QuotaExceeded {
                        used,
                        limit: l,
                        tier: o.tier.clone(),
                    });
                }
            }
            o.unflushed += 1;
            o.unflushed_cost += op.price_micros();
            return Ok(QuotaView {
                used: used + 1,
                limit,
            });
        }
        Ok(QuotaView { used, limit })
    }

    /// Queues the usage event of an admitted billable request; a task flushes the queue.
    pub fn meter_record(
        &self,
        p: &Principal,
        op: BillableOp,
        method: &str,
        endpoint: &str,
        status: u16,
    ) {
        let queued = {
            let mut st = self.meter().state.lock().expect("meter");
            st.queued.push(UsageEventRow {
                id: uuid::Uuid::new_v4().to_string(),
                org_id: p.org_id().to_owned(),
                principal_type: p.kind().to_owned(),
                principal_id: p.id().to_owned(),
                method: method.to_owned(),
                endpoint: endpoint.to_owned(),
                status_code: status as i64,
                price_micros: op.price_micros(),
                created_at: self.now(),
            });
            st.queued.len()
        };
        self.meter().task.get_or_init(|| {
            let core = self.clone();
            tokio::spawn(async move {
                let every = core.config().usage_flush_interval;
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                loop {
                    tick.tick().await;
                    if let Err(e) = core.flush_usage().await {
                        tracing::warn!(error = %e, "usage flush failed; retrying");
                    }
                }
            });
        });
        if queued >= FLUSH_AT {
            let core = self.clone();
            tokio::spawn(async move {
                if let Err(e) = core.flush_usage().await {
                    tracing::warn!(error = %e, "usage flush failed; retrying");
                }
            });
        }
    }

    /// Commits queued usage events and monthly counters in one transaction, then reloads the
    /// database's totals for the orgs it touched.
    pub async fn flush_usage(&self) -> Result<()> {
        let _one = self.meter().flushing.lock().await;
        let events = std::mem::take(&mut self.meter().state.lock().expect("meter").queued);
        if events.is_empty() {
            return Ok(());
        }
        let mut per: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
        for e in &events {
            let c = per
                .entry((e.org_id.clone(), month_of(e.created_at)))
                .or_default();
            c.0 += 1;
            c.1 += e.price_micros;
        }
        let written = async {
            let mut tx = self.store().begin().await?;
            store::insert_events(&mut tx, &events).await?;
            for ((org, month), (n, cost)) in &per {
                store::add_month_usage(&mut tx, org, month, *n, *cost).await?;
            }
            tx.commit().await?;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = written {
            let mut st = self.meter().state.lock().expect("meter");
            let later = std::mem::take(&mut st.queued);
            st.queued = events;
            st.queued.extend(later);
            return Err(e);
        }
        for ((org, month), (n, cost)) in per {
            let (base, base_cost) = store::month_usage(self.store().pool(), &org, &month).await?;
            let mut st = self.meter().state.lock().expect("meter");
            if let Some(o) = st.orgs.get_mut(&org) {
                if o.month == month {
                    o.base = base;
                    o.base_cost = base_cost;
                    o.unflushed = (o.unflushed - n).max(0);
                    o.unflushed_cost = (o.unflushed_cost - cost).max(0);
                }
            }
        }
        Ok(())
    }

    /// Refuses creating one more `what` when the org's tier limit is reached. Runs inside the
    /// creating transaction, so the count and the insert see the same state.
    pub(crate) async fn check_limit(&self, tx: &mut Tx, org_id: &str, what: Counted) -> Result<()> {
        let tier = store::tier(tx, org_id).await?;
        let Some(limit) = self.plans().limits(&tier).of(what) else {
            return Ok(());
        };
        let current = store::count_tx(tx, org_id, what).await?;
        if current >= limit {
            return Err(Error::LimitExceeded {
                resource: match what {
                    Counted::Vaults => "Vault",
                    Counted::Secrets => "Secret",
                    Counted::Agents => "Agent",
                    Counted::Members => "Member",
                    Counted::Shares => "Share",
                },
                current,
                limit,
                tier,
            });
        }
        Ok(())
    }

    async fn month_totals(&self, org_id: &str) -> Result<(String, i64, i64)> {
        self.meter_load(org_id).await?;
        let st = self.meter().state.lock().expect("meter");
        let o = st
            .orgs
            .get(org_id)
            .ok_or(Error::Internal("meter entry missing".into()))?;
        Ok((
            o.tier.clone(),
            o.base + o.unflushed,
            o.base_cost + o.unflushed_cost,
        ))
    }

    /// `GET /v1/billing/usage`: the tier, this month's requests and cost, limits and counts.
    /// Humans and agents (their org's usage; read-only).
    pub async fn billing_usage(&self, p: &Principal) -> Result<Value> {
        p.require_scope(talon_api::Scope::BillingRead)?;
        let org = p.org_id();
        let (tier, requests, cost) = self.month_totals(org).await?;
        let l = self.plans().limits(&tier);
        let pool = self.store().pool();
        Ok(json!({
            "billing_tier": tier,
            "free_tier_limit": l.requests,
            "current_month": {
                "total_requests": requests,
                "paid_requests": 0,
                "free_requests": requests,
                "total_cost_usd": usd(cost),
            },
            "limits": {"requests": l.requests, "vaults": l.vaults, "secrets": l.secrets, "agents": l.agents},
            "usage": {
                "vaults": store::count(pool, org, Counted::Vaults).await?,
                "secrets": store::count(pool, org, Counted::Secrets).await?,
                "agents": store::count(pool, org, Counted::Agents).await?,
                "members": store::count(pool, org, Counted::Members).await?,
            },
        }))
    }

    /// `GET /v1/billing/history`: the org's billable requests, newest first. Humans only.
    pub async fn billing_history(&self, p: &Principal, limit: Option<i64>) -> Result<Value> {
        p.require_scope(talon_api::Scope::BillingRead)?;
        p.require_human()?;
        let limit = limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(Error::invalid("limit", "limit must be between 1 and 500"));
        }
        self.flush_usage().await?;
        let rows = store::history(self.store().pool(), p.org_id(), limit).await?;
        Ok(json!({
            "events": rows.iter().map(|r| json!({
                "id": r.id, "principal_type": r.principal_type, "principal_id": r.principal_id,
                "method": r.method, "endpoint": r.endpoint, "status_code": r.status_code,
                "price_usd": usd(r.price_micros), "is_paid": false,
                "created_at": crate::clock::rfc3339(r.created_at),
            })).collect::<Vec<_>>(),
        }))
    }

    /// `GET /v1/billing/subscription`: tier, Stripe state and every limit with its use.
    pub async fn billing_subscription(&self, p: &Principal) -> Result<Value> {
        p.require_scope(talon_api::Scope::BillingRead)?;
        p.require_human()?;
        let org = p.org_id();
        let b = store::org(self.store().pool(), org)
            .await?
            .ok_or(Error::NotFound("Organization"))?;
        let (_, requests, _) = self.month_totals(org).await?;
        let l = self.plans().limits(&b.tier);
        let pool = self.store().pool();
        let used = |used: i64, limit: Option<i64>| json!({"used": used, "limit": limit});
        Ok(json!({
            "tier": b.tier,
            "interval": b.interval,
            "period_end": b.period_end.map(crate::clock::rfc3339),
            "status": b.status,
            "credit_balance_cents": 0,
            "credit_balance_usd": "0.00",
            "overage_method": "none",
            "usage": {
                "requests": used(requests, l.requests),
                "secrets": used(store::count(pool, org, Counted::Secrets).await?, l.secrets),
                "agents": used(store::count(pool, org, Counted::Agents).await?, l.agents),
                "vaults": used(store::count(pool, org, Counted::Vaults).await?, l.vaults),
                "team_members": used(store::count(pool, org, Counted::Members).await?, None),
                "shares": used(store::count(pool, org, Counted::Shares).await?, None),
            },
        }))
    }

    /// Sets the org's billing state and audits `billing.tier_changed` when the tier moves, in
    /// one transaction; the meter picks the new tier up at once.
    pub(crate) async fn apply_billing(
        &self,
        tx: &mut Tx,
        before: &OrgBilling,
        after: &OrgBilling,
        source: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        store::set_org(tx, after).await?;
        if before.tier != after.tier {
            self.append_audit(
                tx,
                ctx,
                AuditEvent {
                    org_id: after.org_id.clone(),
                    actor_type: "system",
                    actor_id: None,
                    action: "billing.tier_changed",
                    resource_type: "org",
                    resource_id: Some(after.org_id.clone()),
                    outcome: "success",
                    details: json!({"from": before.tier, "to": after.tier, "source": source, "status": after.status}),
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Sets an org's tier from the server host (`talon admin set-tier`); returns the tier it
    /// had. Audited as `billing.tier_changed` in the same transaction.
    pub async fn admin_set_tier(&self, org_id: &str, tier: &str) -> Result<String> {
        if !self.plans().contains(tier) {
            return Err(Error::invalid(
                "tier",
                format!(
                    "unknown tier '{tier}' (known: {})",
                    self.plans().names().join(", ")
                ),
            ));
        }
        let mut tx = self.store().begin().await?;
        let before = store::org_tx(&mut tx, org_id)
            .await?
            .ok_or(Error::NotFound("Organization"))?;
        let mut after = before.clone();
        after.tier = tier.to_owned();
        self.apply_billing(
            &mut tx,
            &before,
            &after,
            "admin",
            &RequestContext::default(),
        )
        .await?;
        tx.commit().await?;
        self.meter_forget_tier(org_id);
        Ok(before.tier)
    }

    /// Forgets the cached tier of an org (after a change), so the next request reloads it.
    pub(crate) fn meter_forget_tier(&self, org_id: &str) {
        let mut st = self.meter().state.lock().expect("meter");
        if let Some(o) = st.orgs.get_mut(org_id) {
            o.loaded = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_given_fields() {
        let p =
            Plans::with_overrides(r#"{"free":{"requests":5,"agents":null},"team":{"vaults":7}}"#)
                .unwrap();
        let free = p.limits("free");
        assert_eq!(free.requests, Some(5));
        assert_eq!(free.vaults, Some(3));
        assert_eq!(free.agents, None);
        assert_eq!(p.limits("team").vaults, Some(7));
        assert_eq!(p.limits("team").requests, None);
        assert_eq!(p.limits("enterprise"), PlanLimits::default());
    }

    #[test]
    fn bad_overrides_are_refused_with_a_hint() {
        for bad in [r#"[1]"#, r#"{"free":{"vaults":-1}}"#, r#"{"fr ee":{}}"#] {
            assert!(Plans::with_overrides(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn months_are_utc_calendar_months() {
        for (t, month) in [
            ("2026-12-31T23:59:59Z", "2026-12"),
            ("2027-01-01T00:00:00Z", "2027-01"),
            ("2027-01-01T00:30:00+01:00", "2026-12"),
        ] {
            assert_eq!(
                month_of(crate::clock::parse_rfc3339(t).unwrap()),
                month,
                "{t}"
            );
        }
    }

    #[test]
    fn prices_format_as_decimal_usd() {
        assert_eq!(usd(500), "0.0005");
        assert_eq!(usd(5_000 + 1_000), "0.0060");
        assert_eq!(usd(2_500_000), "2.5000");
    }
}
