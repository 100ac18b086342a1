//! Honeytokens: trap paths and their trigger counters. Never a value.

use super::{opt_i64, opt_str, Tx};
use crate::error::{Error, Result};
use crate::model::{Honeytoken, OnTrigger};
use sqlx::{AnyPool, Row};

const COLS: &str = "id, org_id, vault_id, secret_path, on_trigger, notes, created_by, created_at, \
    triggered_count, last_triggered_at";

/// What a read needs to know of a honeytoken at its path: which one it is and what a trigger
/// does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trap {
    /// The honeytoken's id.
    pub id: String,
    /// What a trigger does besides alerting.
    pub on_trigger: OnTrigger,
}

/// A stored `on_trigger` that does not parse fails the read that needs it (503) rather than
/// being read as `alert`, which would skip a deactivation.
fn on_trigger(row: &sqlx::any::AnyRow) -> Result<OnTrigger> {
    let s: String = row.try_get("on_trigger")?;
    OnTrigger::parse(&s).ok_or_else(|| {
        let id: String = row.try_get("id").unwrap_or_default();
        Error::corrupt_rule("honeytokens", &id, "on_trigger")
    })
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<Honeytoken> {
    Ok(Honeytoken {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        vault_id: row.try_get("vault_id")?,
        secret_path: row.try_get("secret_path")?,
        on_trigger: on_trigger(row)?,
        notes: opt_str(row, "notes")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        triggered_count: row.try_get("triggered_count")?,
        last_triggered_at: opt_i64(row, "last_triggered_at")?,
    })
}

/// Stores a new honeytoken.
pub async fn insert(tx: &mut Tx, h: &Honeytoken) -> Result<()> {
    sqlx::query(
        "INSERT INTO honeytokens (id, org_id, vault_id, secret_path, on_trigger, notes, created_by, \
         created_at, triggered_count) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,0)",
    )
    .bind(&h.id)
    .bind(&h.org_id)
    .bind(&h.vault_id)
    .bind(&h.secret_path)
    .bind(h.on_trigger.as_str())
    .bind(&h.notes)
    .bind(&h.created_by)
    .bind(h.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The org's honeytokens, oldest first.
pub async fn list(pool: &AnyPool, org_id: &str) -> Result<Vec<Honeytoken>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM honeytokens WHERE org_id = $1 ORDER BY created_at, id"
    ))
    .bind(org_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// How many honeytokens the org has, as `tx` sees it.
pub async fn count(tx: &mut Tx, org_id: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM honeytokens WHERE org_id = $1")
            .bind(org_id)
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// Whether a honeytoken already watches `path` in the vault, as `tx` sees it.
pub async fn exists_at(tx: &mut Tx, vault_id: &str, path: &str) -> Result<bool> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM honeytokens WHERE vault_id = $1 AND secret_path = $2",
    )
    .bind(vault_id)
    .bind(path)
    .fetch_one(&mut **tx)
    .await?
        > 0)
}

/// Deletes the org's honeytoken `id`; returns it as it was, or `None` when the org has none
/// with that id.
pub async fn delete(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<Honeytoken>> {
    let row = sqlx::query(&format!(
        "DELETE FROM honeytokens WHERE id = $1 AND org_id = $2 RETURNING {COLS}"
    ))
    .bind(id)
    .bind(org_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every trap of the org as `(vault_id, path, trap)`: what the read caches hold.
pub async fn traps(pool: &AnyPool, org_id: &str) -> Result<Vec<(String, String, Trap)>> {
    let rows = sqlx::query(
        "SELECT id, vault_id, secret_path, on_trigger FROM honeytokens WHERE org_id = $1",
    )
    .bind(org_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("vault_id")?,
                r.try_get("secret_path")?,
                Trap {
                    id: r.try_get("id")?,
                    on_trigger: on_trigger(r)?,
                },
            ))
        })
        .collect()
}

/// The trap at `path` in the vault, read from the database (no cache).
pub async fn trap_at(pool: &AnyPool, vault_id: &str, path: &str) -> Result<Option<Trap>> {
    let row = sqlx::query(
        "SELECT id, on_trigger FROM honeytokens WHERE vault_id = $1 AND secret_path = $2",
    )
    .bind(vault_id)
    .bind(path)
    .fetch_optional(pool)
    .await?;
    row.as_ref()
        .map(|r| {
            Ok(Trap {
                id: r.try_get("id")?,
                on_trigger: on_trigger(r)?,
            })
        })
        .transpose()
}

/// Counts one trigger of honeytoken `id` at `now`; false when it no longer exists.
pub async fn note_trigger(tx: &mut Tx, id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE honeytokens SET triggered_count = triggered_count + 1, last_triggered_at = $1 \
         WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() > 0)
}
