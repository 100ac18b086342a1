//! Billing: the org's tier and subscription, monthly request counters, usage events, resource
//! counts for tier limits, and processed Stripe event ids.

use super::{opt_i64, opt_str, Tx};
use crate::error::Result;
use sqlx::{AnyPool, Row};

/// The org's billing state.
#[derive(Debug, Clone)]
pub struct OrgBilling {
    /// The org.
    pub org_id: String,
    /// The tier whose limits apply, e.g. `free`, `pro`.
    pub tier: String,
    /// Subscription status as Stripe reports it: `active`, `trialing`, `past_due`, `canceled`, ….
    pub status: String,
    /// Billing interval of the subscription (`monthly`, `yearly`), when there is one.
    pub interval: Option<String>,
    /// End of the paid period, unix milliseconds.
    pub period_end: Option<i64>,
    /// The org's Stripe customer, once it has one.
    pub stripe_customer_id: Option<String>,
    /// The org's current Stripe subscription.
    pub stripe_subscription_id: Option<String>,
}

const ORG_COLS: &str = "id, billing_tier, billing_status, billing_interval, billing_period_end, \
    stripe_customer_id, stripe_subscription_id";

fn org_from_row(r: &sqlx::any::AnyRow) -> Result<OrgBilling> {
    Ok(OrgBilling {
        org_id: r.try_get("id")?,
        tier: r.try_get("billing_tier")?,
        status: r.try_get("billing_status")?,
        interval: opt_str(r, "billing_interval")?,
        period_end: opt_i64(r, "billing_period_end")?,
        stripe_customer_id: opt_str(r, "stripe_customer_id")?,
        stripe_subscription_id: opt_str(r, "stripe_subscription_id")?,
    })
}

/// The org's billing state; `None` for an unknown org.
pub async fn org(pool: &AnyPool, org_id: &str) -> Result<Option<OrgBilling>> {
    let row = sqlx::query(&format!("SELECT {ORG_COLS} FROM orgs WHERE id = $1"))
        .bind(org_id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(org_from_row).transpose()
}

/// The org's tier, read inside a transaction (limit checks).
pub async fn tier(tx: &mut Tx, org_id: &str) -> Result<String> {
    Ok(
        sqlx::query_scalar("SELECT billing_tier FROM orgs WHERE id = $1")
            .bind(org_id)
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// The org whose Stripe customer is `customer_id`, if any.
pub async fn org_by_customer(tx: &mut Tx, customer_id: &str) -> Result<Option<OrgBilling>> {
    let row = sqlx::query(&format!(
        "SELECT {ORG_COLS} FROM orgs WHERE stripe_customer_id = $1"
    ))
    .bind(customer_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(org_from_row).transpose()
}

/// The org with this id, read inside a transaction.
pub async fn org_tx(tx: &mut Tx, org_id: &str) -> Result<Option<OrgBilling>> {
    let row = sqlx::query(&format!("SELECT {ORG_COLS} FROM orgs WHERE id = $1"))
        .bind(org_id)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(org_from_row).transpose()
}

/// Writes the org's whole billing state.
pub async fn set_org(tx: &mut Tx, b: &OrgBilling) -> Result<()> {
    sqlx::query(
        "UPDATE orgs SET billing_tier = $1, billing_status = $2, billing_interval = $3, \
         billing_period_end = $4, stripe_customer_id = $5, stripe_subscription_id = $6 WHERE id = $7",
    )
    .bind(&b.tier)
    .bind(&b.status)
    .bind(&b.interval)
    .bind(b.period_end)
    .bind(&b.stripe_customer_id)
    .bind(&b.stripe_subscription_id)
    .bind(&b.org_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a Stripe event id; `false` when it was already processed.
pub async fn mark_stripe_event(tx: &mut Tx, id: &str, kind: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO stripe_events (id, event_type, received_at) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(kind)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Requests and cost (micro-USD) counted for the org in `month` (`YYYY-MM`).
pub async fn month_usage(pool: &AnyPool, org_id: &str, month: &str) -> Result<(i64, i64)> {
    let row = sqlx::query(
        "SELECT requests, cost_micros FROM usage_months WHERE org_id = $1 AND month = $2",
    )
    .bind(org_id)
    .bind(month)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(r) => Ok((r.try_get("requests")?, r.try_get("cost_micros")?)),
        None => Ok((0, 0)),
    }
}

/// One billable request.
#[derive(Debug, Clone)]
pub struct UsageEventRow {
    /// The event's id.
    pub id: String,
    /// The org billed.
    pub org_id: String,
    /// `user` or `agent`.
    pub principal_type: String,
    /// The caller's id.
    pub principal_id: String,
    /// The HTTP method (or the door's equivalent).
    pub method: String,
    /// The route or operation billed.
    pub endpoint: String,
    /// The status the request answered with.
    pub status_code: i64,
    /// What the request cost, micro-USD.
    pub price_micros: i64,
    /// When the request was made, unix milliseconds.
    pub created_at: i64,
}

/// Inserts a batch of usage events (one multi-row statement per chunk).
pub async fn insert_events(tx: &mut Tx, events: &[UsageEventRow]) -> Result<()> {
    for chunk in events.chunks(100) {
        let mut sql = String::from(
            "INSERT INTO usage_events (id, org_id, principal_type, principal_id, method, \
             endpoint, status_code, price_micros, created_at) VALUES ",
        );
        for i in 0..chunk.len() {
            let b = i * 9;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${},${},${},${},${},${},${},${},${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9
            ));
        }
        let mut q = sqlx::query(&sql);
        for e in chunk {
            q = q
                .bind(&e.id)
                .bind(&e.org_id)
                .bind(&e.principal_type)
                .bind(&e.principal_id)
                .bind(&e.method)
                .bind(&e.endpoint)
                .bind(e.status_code)
                .bind(e.price_micros)
                .bind(e.created_at);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Adds `requests` and `cost_micros` to the org's counter for `month`.
pub async fn add_month_usage(
    tx: &mut Tx,
    org_id: &str,
    month: &str,
    requests: i64,
    cost_micros: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO usage_months (org_id, month, requests, cost_micros) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (org_id, month) DO UPDATE SET \
           requests = usage_months.requests + excluded.requests, \
           cost_micros = usage_months.cost_micros + excluded.cost_micros",
    )
    .bind(org_id)
    .bind(month)
    .bind(requests)
    .bind(cost_micros)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The org's most recent usage events, newest first.
pub async fn history(pool: &AnyPool, org_id: &str, limit: i64) -> Result<Vec<UsageEventRow>> {
    let rows = sqlx::query(
        "SELECT id, org_id, principal_type, principal_id, method, endpoint, status_code, \
         price_micros, created_at FROM usage_events WHERE org_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(org_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(UsageEventRow {
                id: r.try_get("id")?,
                org_id: r.try_get("org_id")?,
                principal_type: r.try_get("principal_type")?,
                principal_id: r.try_get("principal_id")?,
                method: r.try_get("method")?,
                endpoint: r.try_get("endpoint")?,
                status_code: r.try_get("status_code")?,
                price_micros: r.try_get("price_micros")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// The resources a tier limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// The org's vaults.
    Vaults,
    /// Live (not deleted) secrets across the org's vaults.
    Secrets,
    /// The org's agents that are not deleted.
    Agents,
    /// The org's human members.
    Members,
    /// The org's shares that are not revoked.
    Shares,
}

fn count_sql(what: Counted) -> &'static str {
    match what {
        Counted::Vaults => "SELECT COUNT(*) FROM vaults WHERE org_id = $1",
        Counted::Secrets => {
            "SELECT COUNT(*) FROM secrets s JOIN vaults v ON v.id = s.vault_id \
             WHERE v.org_id = $1 AND s.deleted_at IS NULL"
        }
        Counted::Agents => "SELECT COUNT(*) FROM agents WHERE org_id = $1 AND deleted_at IS NULL",
        Counted::Members => "SELECT COUNT(*) FROM users WHERE org_id = $1",
        Counted::Shares => "SELECT COUNT(*) FROM shares WHERE org_id = $1 AND status <> 'revoked'",
    }
}

/// Live resources of a kind in the org, inside a transaction (limit checks).
pub async fn count_tx(tx: &mut Tx, org_id: &str, what: Counted) -> Result<i64> {
    Ok(sqlx::query_scalar(count_sql(what))
        .bind(org_id)
        .fetch_one(&mut **tx)
        .await?)
}

/// Live resources of a kind in the org.
pub async fn count(pool: &AnyPool, org_id: &str, what: Counted) -> Result<i64> {
    Ok(sqlx::query_scalar(count_sql(what))
        .bind(org_id)
        .fetch_one(pool)
        .await?)
}
