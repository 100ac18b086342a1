//! Approvals, their votes and their one-click links.

use super::{json_list, opt_i64, opt_str, to_json_list, Tx};
use crate::error::{Error, Result};
use crate::model::{Approval, ApprovalVote};
use sqlx::{AnyPool, Row};

const COLS: &str = "id, org_id, user_id, agent_id, requester_type, requester_id, action, \
    target_type, target_id, vault_id, request_hash, summary, reason, risk_tier, approvers, \
    min_approvals, grant_seconds, status, decision_reason, decided_by, decided_at, \
    grant_expires_at, used_at, use_count, expires_at, created_at, updated_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Approval> {
    let summary =
        match serde_json::from_str::<serde_json::Value>(&r.try_get::<String, _>("summary")?) {
            Ok(v) if v.is_object() => v,
            _ => return Err(Error::corrupt_rule("approvals", "summary", "JSON object")),
        };
    Ok(Approval {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        user_id: r.try_get("user_id")?,
        agent_id: opt_str(r, "agent_id")?,
        requester_type: r.try_get("requester_type")?,
        requester_id: r.try_get("requester_id")?,
        action: r.try_get("action")?,
        target_type: r.try_get("target_type")?,
        target_id: r.try_get("target_id")?,
        vault_id: opt_str(r, "vault_id")?,
        request_hash: r.try_get("request_hash")?,
        summary,
        reason: opt_str(r, "reason")?,
        risk_tier: r.try_get("risk_tier")?,
        approvers: json_list(
            &r.try_get::<String, _>("approvers")?,
            "approvals",
            "approvers",
        )?,
        min_approvals: r.try_get("min_approvals")?,
        grant_seconds: opt_i64(r, "grant_seconds")?,
        status: r.try_get("status")?,
        decision_reason: opt_str(r, "decision_reason")?,
        decided_by: opt_str(r, "decided_by")?,
        decided_at: opt_i64(r, "decided_at")?,
        grant_expires_at: opt_i64(r, "grant_expires_at")?,
        used_at: opt_i64(r, "used_at")?,
        use_count: r.try_get("use_count")?,
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Stores a new pending approval, unless one is already pending for the same request (then
/// `false`, and nothing is written).
pub async fn insert_pending(tx: &mut Tx, a: &Approval) -> Result<bool> {
    let r = sqlx::query(&format!(
        "INSERT INTO approvals ({COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,\
         $15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27) \
         ON CONFLICT (org_id, request_hash) WHERE status = 'pending' DO NOTHING"
    ))
    .bind(&a.id)
    .bind(&a.org_id)
    .bind(&a.user_id)
    .bind(&a.agent_id)
    .bind(&a.requester_type)
    .bind(&a.requester_id)
    .bind(&a.action)
    .bind(&a.target_type)
    .bind(&a.target_id)
    .bind(&a.vault_id)
    .bind(&a.request_hash)
    .bind(a.summary.to_string())
    .bind(&a.reason)
    .bind(a.risk_tier)
    .bind(to_json_list(&a.approvers))
    .bind(a.min_approvals)
    .bind(a.grant_seconds)
    .bind(&a.status)
    .bind(&a.decision_reason)
    .bind(&a.decided_by)
    .bind(a.decided_at)
    .bind(a.grant_expires_at)
    .bind(a.used_at)
    .bind(a.use_count)
    .bind(a.expires_at)
    .bind(a.created_at)
    .bind(a.updated_at)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// One approval of the org.
pub async fn get(pool: &AnyPool, org_id: &str, id: &str) -> Result<Option<Approval>> {
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM approvals WHERE id = $1 AND org_id = $2"
    ))
    .bind(id)
    .bind(org_id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// [`get`] inside a transaction.
pub async fn get_in(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<Approval>> {
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM approvals WHERE id = $1 AND org_id = $2"
    ))
    .bind(id)
    .bind(org_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The approval still pending for this exact request, if any.
pub async fn pending_for(tx: &mut Tx, org_id: &str, hash: &str) -> Result<Option<Approval>> {
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM approvals WHERE org_id = $1 AND request_hash = $2 \
         AND status = 'pending'"
    ))
    .bind(org_id)
    .bind(hash)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The newest approval that still lets this exact request through at `now`: approved and
/// unused (single use), or approved with its window open.
pub async fn usable_for(
    tx: &mut Tx,
    org_id: &str,
    hash: &str,
    now: i64,
) -> Result<Option<Approval>> {
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM approvals WHERE org_id = $1 AND request_hash = $2 \
         AND status = 'approved' AND ((grant_seconds IS NULL AND used_at IS NULL) \
         OR (grant_seconds IS NOT NULL AND grant_expires_at > $3)) \
         ORDER BY decided_at DESC, id LIMIT 1"
    ))
    .bind(org_id)
    .bind(hash)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// How many approvals the requester has pending.
pub async fn pending_count_by(tx: &mut Tx, org_id: &str, requester_id: &str) -> Result<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM approvals WHERE org_id = $1 AND requester_id = $2 \
         AND status = 'pending'",
    )
    .bind(org_id)
    .bind(requester_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("n")?)
}

/// Records one use of an approved request; `false` when the grant was spent (a single use
/// already taken, or a window closed) by the time this transaction got to it.
pub async fn record_use(tx: &mut Tx, id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE approvals SET used_at = $2, use_count = use_count + 1, updated_at = $2 \
         WHERE id = $1 AND status = 'approved' AND ((grant_seconds IS NULL AND used_at IS NULL) \
         OR (grant_seconds IS NOT NULL AND grant_expires_at > $2))",
    )
    .bind(id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Whether any of the org's pending approvals has run out of time.
pub async fn any_due(pool: &AnyPool, org_id: &str, now: i64) -> Result<bool> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM approvals WHERE org_id = $1 AND status = 'pending' \
         AND expires_at <= $2",
    )
    .bind(org_id)
    .bind(now)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

/// Marks the org's pending approvals whose time ran out as `expired`; returns them.
pub async fn expire_due(tx: &mut Tx, org_id: &str, now: i64) -> Result<Vec<Approval>> {
    let rows = sqlx::query(&format!(
        "UPDATE approvals SET status = 'expired', updated_at = $2 WHERE org_id = $1 \
         AND status = 'pending' AND expires_at <= $2 RETURNING {COLS}"
    ))
    .bind(org_id)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Takes the row lock of a pending, unexpired approval before a decision (so concurrent
/// votes are counted one after the other); `false` when it is no longer pending.
pub async fn lock_pending(tx: &mut Tx, id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE approvals SET updated_at = $2 WHERE id = $1 AND status = 'pending' \
         AND expires_at > $2",
    )
    .bind(id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Ends a pending approval: `approved` (with the grant's window, if any), `rejected` or
/// `expired`.
pub async fn decide(
    tx: &mut Tx,
    id: &str,
    status: &str,
    decided_by: Option<&str>,
    reason: Option<&str>,
    grant_expires_at: Option<i64>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE approvals SET status = $2, decided_by = $3, decision_reason = $4, \
         decided_at = $5, grant_expires_at = $6, updated_at = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(decided_by)
    .bind(reason)
    .bind(now)
    .bind(grant_expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds a vote; `false` when this approver has already voted.
pub async fn insert_vote(tx: &mut Tx, approval_id: &str, v: &ApprovalVote) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO approval_votes (approval_id, approver_id, decision, reason, \
         credential_type, created_at) VALUES ($1,$2,$3,$4,$5,$6) \
         ON CONFLICT (approval_id, approver_id) DO NOTHING",
    )
    .bind(approval_id)
    .bind(&v.approver_id)
    .bind(&v.decision)
    .bind(&v.reason)
    .bind(&v.credential_type)
    .bind(v.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The number of `approve` votes.
pub async fn approve_votes(tx: &mut Tx, approval_id: &str) -> Result<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM approval_votes WHERE approval_id = $1 AND decision = 'approve'",
    )
    .bind(approval_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("n")?)
}

/// The votes on an approval, oldest first.
pub async fn votes(pool: &AnyPool, approval_id: &str) -> Result<Vec<ApprovalVote>> {
    let rows = sqlx::query(
        "SELECT approver_id, decision, reason, credential_type, created_at FROM approval_votes \
         WHERE approval_id = $1 ORDER BY created_at, approver_id",
    )
    .bind(approval_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ApprovalVote {
                approver_id: r.try_get("approver_id")?,
                decision: r.try_get("decision")?,
                reason: opt_str(r, "reason")?,
                credential_type: opt_str(r, "credential_type")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Who may see which approvals in a listing.
pub enum Visible<'a> {
    /// Every approval of the org (owners and admins).
    All,
    /// Those this principal requested or may decide.
    Involving(&'a str),
}

/// The org's approvals, pending first, then newest first.
pub async fn list(
    pool: &AnyPool,
    org_id: &str,
    visible: Visible<'_>,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Approval>> {
    let (who, needle) = match visible {
        Visible::All => ("", String::new()),
        Visible::Involving(id) => (
            " AND (requester_id = $5 OR approvers LIKE $6)",
            format!("%\"{id}\"%"),
        ),
    };
    let sql = format!(
        "SELECT {COLS} FROM approvals WHERE org_id = $1 AND ($2 = '' OR status = $2){who} \
         ORDER BY CASE WHEN status = 'pending' THEN 0 ELSE 1 END, created_at DESC, id \
         LIMIT $3 OFFSET $4"
    );
    let mut q = sqlx::query(&sql)
        .bind(org_id)
        .bind(status.unwrap_or(""))
        .bind(limit)
        .bind(offset);
    if let Visible::Involving(id) = visible {
        q = q.bind(id).bind(needle);
    }
    let rows = q.fetch_all(pool).await?;
    rows.iter().map(from_row).collect()
}

/// Stores a one-click link's hash.
pub async fn insert_link(
    tx: &mut Tx,
    token_hash: &str,
    approval_id: &str,
    user_id: &str,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO approval_links (token_hash, approval_id, user_id, expires_at) \
         VALUES ($1,$2,$3,$4)",
    )
    .bind(token_hash)
    .bind(approval_id)
    .bind(user_id)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The approval and approver of an unused, unexpired link: `(approval_id, user_id)`.
pub async fn peek_link(
    pool: &AnyPool,
    token_hash: &str,
    now: i64,
) -> Result<Option<(String, String)>> {
    let row = sqlx::query(
        "SELECT approval_id, user_id FROM approval_links WHERE token_hash = $1 \
         AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    row.map(|r| Ok((r.try_get("approval_id")?, r.try_get("user_id")?)))
        .transpose()
}

/// Spends a link; `false` when it was already used or has expired.
pub async fn take_link(tx: &mut Tx, token_hash: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE approval_links SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
         AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}
