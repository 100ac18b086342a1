//! Org IP rules.

use super::{opt_str, Tx};
use crate::error::Result;
use sqlx::{AnyPool, Row};

/// One rule.
#[derive(Debug, Clone)]
pub struct IpRuleRow {
    /// The rule's id.
    pub id: String,
    /// The org it applies to.
    pub org_id: String,
    /// `allow` or `deny`.
    pub rule_type: String,
    /// The network, normalised as `addr/prefix`.
    pub cidr: String,
    /// Optional note naming the rule.
    pub label: Option<String>,
    /// `all`, `users` or `agents`.
    pub applies_to: String,
    /// Id of the user who created it.
    pub created_by: String,
    /// When it was created, unix milliseconds.
    pub created_at: i64,
}

/// The org's rules, oldest first.
pub async fn list(pool: &AnyPool, org_id: &str) -> Result<Vec<IpRuleRow>> {
    let rows = sqlx::query(
        "SELECT id, org_id, rule_type, cidr, label, applies_to, created_by, created_at FROM ip_rules \
         WHERE org_id = $1 ORDER BY created_at, id",
    )
    .bind(org_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(IpRuleRow {
                id: r.try_get("id")?,
                org_id: r.try_get("org_id")?,
                rule_type: r.try_get("rule_type")?,
                cidr: r.try_get("cidr")?,
                label: opt_str(r, "label")?,
                applies_to: r.try_get("applies_to")?,
                created_by: r.try_get("created_by")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Stores a new rule.
pub async fn insert(tx: &mut Tx, r: &IpRuleRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO ip_rules (id, org_id, rule_type, cidr, label, applies_to, created_by, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
    )
    .bind(&r.id)
    .bind(&r.org_id)
    .bind(&r.rule_type)
    .bind(&r.cidr)
    .bind(&r.label)
    .bind(&r.applies_to)
    .bind(&r.created_by)
    .bind(r.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes a rule of the org; false when there was none.
pub async fn delete(tx: &mut Tx, org_id: &str, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM ip_rules WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() == 1)
}
