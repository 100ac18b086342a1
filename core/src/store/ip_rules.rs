//! Org IP rules.

use super::{opt_str, Tx};
use crate::error::Result;
use crate::model::IpRule;
use sqlx::{AnyPool, Row};

/// The org's rules, oldest first.
pub async fn list(pool: &AnyPool, org_id: &str) -> Result<Vec<IpRule>> {
    let rows = sqlx::query(
        "SELECT id, org_id, rule_type, cidr, label, applies_to, created_by, created_at FROM ip_rules \
         WHERE org_id = $1 ORDER BY created_at, id",
    )
    .bind(org_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(IpRule {
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
pub async fn insert(tx: &mut Tx, r: &IpRule) -> Result<()> {
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
