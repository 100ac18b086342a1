//! Webhooks, their subscriptions (one row per subscribed action, so matching an audit event
//! is plain SQL) and the delivery queue. Deliveries are queued by [`enqueue_for_events`] in the
//! transaction that writes the audit events they describe, and claimed by workers through a
//! lease, so two processes sharing a database never make the same attempt.

use super::{opt_i64, opt_str, Backend, Tx};
use crate::envelope::Sealed;
use crate::error::Result;
use crate::model::{AuditRecord, Webhook, WebhookDelivery};
use sqlx::{AnyPool, Row};

/// A webhook as stored: the model plus its sealed signing secret.
pub struct WebhookRow {
    /// What the doors see.
    pub webhook: Webhook,
    /// The signing secret, sealed like a secret value.
    pub sealed: Sealed,
    /// Label of the KEK its DEK is wrapped under.
    pub kek_label: String,
}

/// The action never matched by subscriptions: a test event goes only to the webhook it tests.
pub(crate) const TEST_ACTION: &str = "webhook.test";

/// A fresh UUID computed by the database, for deliveries queued by `INSERT … SELECT`.
fn uuid_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "gen_random_uuid()::text",
        Backend::Sqlite => {
            "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || \
             substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || \
             substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))"
        }
    }
}

/// The subscription rows of an event list: `*` alone when it is there, else each action once.
fn subscriptions(events: &[String]) -> Vec<&str> {
    if events.iter().any(|e| e == "*") {
        return vec!["*"];
    }
    let mut out: Vec<&str> = Vec::new();
    for e in events {
        if !out.contains(&e.as_str()) {
            out.push(e);
        }
    }
    out
}

async fn put_subscriptions(tx: &mut Tx, w: &Webhook) -> Result<()> {
    sqlx::query("DELETE FROM webhook_subscriptions WHERE webhook_id = $1")
        .bind(&w.id)
        .execute(&mut **tx)
        .await?;
    for event in subscriptions(&w.events) {
        sqlx::query(
            "INSERT INTO webhook_subscriptions (webhook_id, org_id, event) VALUES ($1, $2, $3)",
        )
        .bind(&w.id)
        .bind(&w.org_id)
        .bind(event)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Stores a new webhook with its subscriptions.
pub async fn insert(tx: &mut Tx, row: &WebhookRow) -> Result<()> {
    let w = &row.webhook;
    sqlx::query(
        "INSERT INTO webhooks (id, org_id, url, events, description, is_active, secret_ciphertext, \
         secret_nonce, secret_wrapped_dek, kek_label, created_by, created_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
    )
    .bind(&w.id)
    .bind(&w.org_id)
    .bind(&w.url)
    .bind(super::to_json_list(&w.events))
    .bind(&w.description)
    .bind(i64::from(w.is_active))
    .bind(&row.sealed.ciphertext)
    .bind(&row.sealed.nonce)
    .bind(&row.sealed.wrapped_dek)
    .bind(&row.kek_label)
    .bind(&w.created_by)
    .bind(w.created_at)
    .bind(w.created_at)
    .execute(&mut **tx)
    .await?;
    put_subscriptions(tx, w).await
}

/// Replaces a webhook's url, events, description and active flag (and its subscriptions);
/// false when the org has no such webhook.
pub async fn update(tx: &mut Tx, w: &Webhook, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE webhooks SET url = $1, events = $2, description = $3, is_active = $4, \
         updated_at = $5 WHERE id = $6 AND org_id = $7",
    )
    .bind(&w.url)
    .bind(super::to_json_list(&w.events))
    .bind(&w.description)
    .bind(i64::from(w.is_active))
    .bind(now)
    .bind(&w.id)
    .bind(&w.org_id)
    .execute(&mut **tx)
    .await?;
    if r.rows_affected() != 1 {
        return Ok(false);
    }
    put_subscriptions(tx, w).await?;
    Ok(true)
}

/// Deletes a webhook of the org with its subscriptions and deliveries; false when there was
/// none.
pub async fn delete(tx: &mut Tx, org_id: &str, id: &str) -> Result<bool> {
    for sql in [
        "DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND org_id = $2",
        "DELETE FROM webhook_subscriptions WHERE webhook_id = $1 AND org_id = $2",
    ] {
        sqlx::query(sql)
            .bind(id)
            .bind(org_id)
            .execute(&mut **tx)
            .await?;
    }
    let r = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

const WEBHOOK_COLUMNS: &str = "id, org_id, url, events, description, is_active, \
    secret_ciphertext, secret_nonce, secret_wrapped_dek, kek_label, created_by, created_at";

fn webhook_from(r: &sqlx::any::AnyRow) -> Result<WebhookRow> {
    Ok(WebhookRow {
        webhook: Webhook {
            id: r.try_get("id")?,
            org_id: r.try_get("org_id")?,
            url: r.try_get("url")?,
            events: super::json_list(&r.try_get::<String, _>("events")?, "webhooks", "events")?,
            description: opt_str(r, "description")?,
            is_active: r.try_get::<i64, _>("is_active")? != 0,
            created_by: r.try_get("created_by")?,
            created_at: r.try_get("created_at")?,
            last_delivery: None,
        },
        sealed: Sealed {
            ciphertext: r.try_get("secret_ciphertext")?,
            nonce: r.try_get("secret_nonce")?,
            wrapped_dek: r.try_get("secret_wrapped_dek")?,
        },
        kek_label: r.try_get("kek_label")?,
    })
}

/// The org's webhooks, oldest first, each with its latest delivery.
pub async fn list(pool: &AnyPool, org_id: &str) -> Result<Vec<Webhook>> {
    let rows = sqlx::query(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE org_id = $1 ORDER BY created_at, id"
    ))
    .bind(org_id)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut w = webhook_from(r)?.webhook;
        w.last_delivery = deliveries(pool, org_id, &w.id, 1).await?.pop();
        out.push(w);
    }
    Ok(out)
}

/// One webhook of the org with its latest delivery.
pub async fn get(pool: &AnyPool, org_id: &str, id: &str) -> Result<Option<Webhook>> {
    let Some(row) = get_row(pool, org_id, id).await? else {
        return Ok(None);
    };
    let mut w = row.webhook;
    w.last_delivery = deliveries(pool, org_id, &w.id, 1).await?.pop();
    Ok(Some(w))
}

/// One webhook of the org as stored, with its sealed secret.
pub async fn get_row(pool: &AnyPool, org_id: &str, id: &str) -> Result<Option<WebhookRow>> {
    let row = sqlx::query(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND org_id = $2"
    ))
    .bind(id)
    .bind(org_id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(webhook_from).transpose()
}

/// The statement of [`enqueue_for_events`], built once per backend: one fixed shape, so every
/// pooled connection prepares it once.
fn enqueue_sql(backend: Backend) -> &'static str {
    static SQL: std::sync::OnceLock<[String; 2]> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        [Backend::Sqlite, Backend::Postgres].map(|b| {
            format!(
                "INSERT INTO webhook_deliveries (id, webhook_id, org_id, event_id, action, status, \
                 attempts, next_attempt_at, lease_until, created_at) \
                 SELECT {}, s.webhook_id, e.org_id, e.id, e.action, 'pending', 0, e.created_at, 0, \
                 e.created_at FROM audit_events e \
                 JOIN webhook_subscriptions s ON s.org_id = e.org_id \
                 AND (s.event = e.action OR s.event = '*') \
                 JOIN webhooks w ON w.id = s.webhook_id AND w.is_active = 1 \
                 WHERE e.org_id = $1 AND e.seq >= $2 AND e.seq <= $3 AND e.action <> '{TEST_ACTION}'",
                uuid_sql(b)
            )
        })
    });
    match backend {
        Backend::Sqlite => &all[0],
        Backend::Postgres => &all[1],
    }
}

/// Queues a delivery of each of the org's events with a sequence number in
/// `first_seq..=last_seq` (written earlier in `tx`) to each active webhook of the org
/// subscribed to its action or to `*`: one statement, whatever the number of events. The
/// deliveries commit or roll back with the events; a commit that queued any wakes the worker.
pub async fn enqueue_for_events(
    tx: &mut Tx,
    org_id: &str,
    first_seq: i64,
    last_seq: i64,
) -> Result<()> {
    let r = sqlx::query(enqueue_sql(tx.backend()))
        .bind(org_id)
        .bind(first_seq)
        .bind(last_seq)
        .execute(&mut **tx)
        .await?;
    if r.rows_affected() > 0 {
        tx.note_deliveries_enqueued();
    }
    Ok(())
}

/// Queues a delivery of the org's event at `seq` (written earlier in `tx`) to one webhook,
/// whatever it subscribes to: test events. Returns the queued delivery.
pub async fn enqueue_test(
    tx: &mut Tx,
    org_id: &str,
    webhook_id: &str,
    seq: i64,
) -> Result<WebhookDelivery> {
    let id = uuid::Uuid::new_v4().to_string();
    let row = sqlx::query(
        "INSERT INTO webhook_deliveries (id, webhook_id, org_id, event_id, action, status, \
         attempts, next_attempt_at, lease_until, created_at) \
         SELECT $1, $2, org_id, id, action, 'pending', 0, created_at, 0, created_at \
         FROM audit_events WHERE org_id = $3 AND seq = $4 \
         RETURNING event_id, action, created_at",
    )
    .bind(&id)
    .bind(webhook_id)
    .bind(org_id)
    .bind(seq)
    .fetch_one(&mut **tx)
    .await?;
    tx.note_deliveries_enqueued();
    let created_at: i64 = row.try_get("created_at")?;
    Ok(WebhookDelivery {
        id,
        webhook_id: webhook_id.to_owned(),
        event_id: row.try_get("event_id")?,
        action: row.try_get("action")?,
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: created_at,
        last_status_code: None,
        last_error: None,
        last_attempt_at: None,
        created_at,
    })
}

fn delivery_from(r: &sqlx::any::AnyRow) -> Result<WebhookDelivery> {
    Ok(WebhookDelivery {
        id: r.try_get("id")?,
        webhook_id: r.try_get("webhook_id")?,
        event_id: r.try_get("event_id")?,
        action: r.try_get("action")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_status_code: opt_i64(r, "last_status_code")?,
        last_error: opt_str(r, "last_error")?,
        last_attempt_at: opt_i64(r, "last_attempt_at")?,
        created_at: r.try_get("created_at")?,
    })
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, event_id, action, status, attempts, \
    next_attempt_at, last_status_code, last_error, last_attempt_at, created_at";

/// Up to `limit` deliveries of one webhook of the org, newest first.
pub async fn deliveries(
    pool: &AnyPool,
    org_id: &str,
    webhook_id: &str,
    limit: i64,
) -> Result<Vec<WebhookDelivery>> {
    let rows = sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 AND org_id = $2 \
         ORDER BY created_at DESC, id DESC LIMIT {}",
        limit.max(0)
    ))
    .bind(webhook_id)
    .bind(org_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(delivery_from).collect()
}

/// Whether any pending delivery is due at `now` and not leased: a read, so an idle poll
/// writes nothing.
pub async fn any_due(pool: &AnyPool, now: i64) -> Result<bool> {
    let row = sqlx::query(
        "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
         AND lease_until <= $1 LIMIT 1",
    )
    .bind(now)
    .fetch_optional(pool)
    .await?;
    Ok(row.is_some())
}

/// Leases up to `limit` pending deliveries whose next attempt is due at `now` and whose lease
/// (if any) has run out, to `owner` until `lease_until`; returns their ids. The conditions are
/// checked again on each row as it is updated, so of two workers racing for a row only one
/// gets it.
pub async fn claim_due(
    tx: &mut Tx,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<String>> {
    let sql = format!(
        "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2 \
         WHERE status = 'pending' AND next_attempt_at <= $3 AND lease_until <= $3 AND id IN \
         (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $3 \
         AND lease_until <= $3 ORDER BY next_attempt_at LIMIT {}) RETURNING id",
        limit.max(0)
    );
    let ids = sqlx::query_scalar::<_, String>(&sql)
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .fetch_all(&mut **tx)
        .await?;
    Ok(ids)
}

/// What a worker needs to make one attempt.
pub struct DeliveryJob {
    /// The delivery.
    pub delivery: WebhookDelivery,
    /// Its org.
    pub org_id: String,
    /// The webhook, with its sealed secret.
    pub webhook: WebhookRow,
    /// The audit event it describes.
    pub event: AuditRecord,
}

/// The delivery with its webhook and event; `None` when either is gone.
pub async fn job(pool: &AnyPool, id: &str) -> Result<Option<DeliveryJob>> {
    let Some(r) = sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS}, org_id FROM webhook_deliveries WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let delivery = delivery_from(&r)?;
    let org_id: String = r.try_get("org_id")?;
    let Some(webhook) = get_row(pool, &org_id, &delivery.webhook_id).await? else {
        return Ok(None);
    };
    let Some(e) = sqlx::query("SELECT * FROM audit_events WHERE id = $1 AND org_id = $2")
        .bind(&delivery.event_id)
        .bind(&org_id)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(DeliveryJob {
        delivery,
        org_id,
        webhook,
        event: super::audit::event_from(&e)?,
    }))
}

/// The result of one attempt, as recorded.
pub struct Attempt<'a> {
    /// `pending` (to be retried at `next_attempt_at`), `delivered` or `failed`.
    pub status: &'static str,
    /// When the next attempt is due, for `pending`.
    pub next_attempt_at: i64,
    /// The HTTP status answered, if any.
    pub status_code: Option<i64>,
    /// Why it failed, if it did; never a body or a secret.
    pub error: Option<&'a str>,
    /// When the attempt was made.
    pub at: i64,
}

/// Records an attempt of a delivery leased by `owner` and releases the lease; false when the
/// lease was lost meanwhile (nothing is recorded then).
pub async fn record_attempt(tx: &mut Tx, id: &str, owner: &str, a: &Attempt<'_>) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
         next_attempt_at = $2, last_status_code = $3, last_error = $4, last_attempt_at = $5, \
         lease_owner = NULL, lease_until = 0 WHERE id = $6 AND lease_owner = $7",
    )
    .bind(a.status)
    .bind(a.next_attempt_at)
    .bind(a.status_code)
    .bind(a.error)
    .bind(a.at)
    .bind(id)
    .bind(owner)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Ends a delivery that can no longer be attempted (its webhook was switched off).
pub async fn abandon(tx: &mut Tx, id: &str, owner: &str, reason: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = $1, last_attempt_at = $2, \
         lease_owner = NULL, lease_until = 0 WHERE id = $3 AND lease_owner = $4",
    )
    .bind(reason)
    .bind(now)
    .bind(id)
    .bind(owner)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
