//! Audit events: an append-only hash chain per org. Appends bump the org's sequence row first,
//! which serialises appends per org and makes the surrounding transaction a writer from its first
//! statement (no lock upgrades on SQLite).

use super::{opt_str, Tx};
use crate::error::Result;
use crate::model::AuditRecord;
use sqlx::{AnyPool, Row};

/// The org's chain head after taking the next sequence number.
pub struct ChainHead {
    /// The sequence number taken (the first of them, for a batch).
    pub seq: i64,
    /// The id of the event at the head before it; `None` for an empty chain.
    pub prev_id: Option<String>,
    /// The integrity hash of that head event; `None` for an empty chain.
    pub prev_hash: Option<String>,
}

/// Takes the next sequence number of the org's chain and returns the previous head.
pub async fn next_seq(tx: &mut Tx, org_id: &str) -> Result<ChainHead> {
    let row = sqlx::query(
        "UPDATE orgs SET audit_seq = audit_seq + 1 WHERE id = $1 \
         RETURNING audit_seq, audit_head_id, audit_head_hash",
    )
    .bind(org_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(ChainHead {
        seq: row.try_get("audit_seq")?,
        prev_id: opt_str(&row, "audit_head_id")?,
        prev_hash: opt_str(&row, "audit_head_hash")?,
    })
}

/// Inserts the event, moves the org's head (and its signed head, MAC `head_mac`) to it and
/// queues its webhook deliveries.
pub async fn insert(tx: &mut Tx, e: &AuditRecord, head_mac: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (id, org_id, seq, actor_type, actor_id, action, resource_type, \
         resource_id, outcome, details, ip_address, user_agent, created_at, prev_event_id, \
         integrity_hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)",
    )
    .bind(&e.id)
    .bind(&e.org_id)
    .bind(e.seq)
    .bind(&e.actor_type)
    .bind(&e.actor_id)
    .bind(&e.action)
    .bind(&e.resource_type)
    .bind(&e.resource_id)
    .bind(&e.outcome)
    .bind(&e.details)
    .bind(&e.ip_address)
    .bind(&e.user_agent)
    .bind(e.created_at)
    .bind(&e.prev_event_id)
    .bind(&e.integrity_hash)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE orgs SET audit_head_id = $1, audit_head_hash = $2 WHERE id = $3")
        .bind(&e.id)
        .bind(&e.integrity_hash)
        .bind(&e.org_id)
        .execute(&mut **tx)
        .await?;
    move_signed_head(tx, e, head_mac).await?;
    super::webhooks::enqueue_for_events(tx, &e.org_id, e.seq, e.seq).await
}

/// Points the org's signed head at `e` (creating it for the org's first event).
async fn move_signed_head(tx: &mut Tx, e: &AuditRecord, mac: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_heads (org_id, last_seq, last_event_id, last_hash, mac) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id) DO UPDATE SET \
         last_seq = excluded.last_seq, last_event_id = excluded.last_event_id, \
         last_hash = excluded.last_hash, mac = excluded.mac",
    )
    .bind(&e.org_id)
    .bind(e.seq)
    .bind(&e.id)
    .bind(&e.integrity_hash)
    .bind(mac)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) fn event_from(row: &sqlx::any::AnyRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        seq: row.try_get("seq")?,
        actor_type: row.try_get("actor_type")?,
        actor_id: opt_str(row, "actor_id")?,
        action: row.try_get("action")?,
        resource_type: row.try_get("resource_type")?,
        resource_id: opt_str(row, "resource_id")?,
        outcome: row.try_get("outcome")?,
        details: row.try_get("details")?,
        ip_address: opt_str(row, "ip_address")?,
        user_agent: opt_str(row, "user_agent")?,
        created_at: row.try_get("created_at")?,
        prev_event_id: opt_str(row, "prev_event_id")?,
        integrity_hash: row.try_get("integrity_hash")?,
    })
}

/// Filters for [`list`]; every field optional.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Events on this resource id, or secret events whose details name this path.
    pub resource_id: Option<String>,
    /// Events by this actor id.
    pub actor_id: Option<String>,
    /// Events by this kind of actor.
    pub actor_type: Option<String>,
    /// Exact action, or a prefix when `action_prefix` is set.
    pub action: Option<String>,
    /// Treat `action` as a prefix rather than an exact action.
    pub action_prefix: bool,
    /// Events created at or after this time, unix milliseconds.
    pub from: Option<i64>,
    /// Events created before this time, unix milliseconds.
    pub to: Option<i64>,
    /// Page size for [`list`].
    pub limit: i64,
    /// Events to skip for [`list`].
    pub offset: i64,
}

/// The WHERE clause of a filter and its bind values.
fn filter_sql(org_id: &str, f: &EventFilter) -> (String, Vec<BindVal>) {
    let mut clauses = vec!["org_id = $1".to_string()];
    let mut binds: Vec<BindVal> = vec![BindVal::S(org_id.to_owned())];
    let mut param = |v: BindVal| {
        binds.push(v);
        format!("${}", binds.len())
    };
    if let Some(r) = &f.resource_id {
        // Secret events also record the path in `details`; a resource filter matches either.
        let id = param(BindVal::S(r.clone()));
        let path = param(BindVal::S(format!(
            "%\"path\":{}%",
            serde_json::Value::from(r.as_str())
        )));
        clauses.push(format!("(resource_id = {id} OR details LIKE {path})"));
    }
    if let Some(a) = &f.actor_id {
        clauses.push(format!("actor_id = {}", param(BindVal::S(a.clone()))));
    }
    if let Some(a) = &f.actor_type {
        clauses.push(format!("actor_type = {}", param(BindVal::S(a.clone()))));
    }
    if let Some(a) = &f.action {
        if f.action_prefix {
            let len = param(BindVal::I(a.len() as i64));
            let prefix = param(BindVal::S(a.clone()));
            clauses.push(format!(
                "substr(action, 1, CAST({len} AS INTEGER)) = {prefix}"
            ));
        } else {
            clauses.push(format!("action = {}", param(BindVal::S(a.clone()))));
        }
    }
    if let Some(t) = f.from {
        clauses.push(format!("created_at >= {}", param(BindVal::I(t))));
    }
    if let Some(t) = f.to {
        clauses.push(format!("created_at < {}", param(BindVal::I(t))));
    }
    (clauses.join(" AND "), binds)
}

/// Events of the org matching the filter, newest first, and the total matching count.
pub async fn list(
    pool: &AnyPool,
    org_id: &str,
    f: &EventFilter,
) -> Result<(Vec<AuditRecord>, i64)> {
    let (where_sql, binds) = filter_sql(org_id, f);
    let count_sql = format!("SELECT COUNT(*) FROM audit_events WHERE {where_sql}");
    let mut count_q = sqlx::query_scalar::<_, i64>(&count_sql);
    for b in &binds {
        count_q = match b {
            BindVal::S(s) => count_q.bind(s.clone()),
            BindVal::I(i) => count_q.bind(*i),
        };
    }
    let total = count_q.fetch_one(pool).await?;
    let list_sql = format!(
        "SELECT * FROM audit_events WHERE {where_sql} ORDER BY seq DESC LIMIT {} OFFSET {}",
        f.limit.max(0),
        f.offset.max(0)
    );
    let mut q = sqlx::query(&list_sql);
    for b in &binds {
        q = match b {
            BindVal::S(s) => q.bind(s.clone()),
            BindVal::I(i) => q.bind(*i),
        };
    }
    let rows = q.fetch_all(pool).await?;
    let events = rows.iter().map(event_from).collect::<Result<Vec<_>>>()?;
    Ok((events, total))
}

/// Up to `limit` events of the org matching the filter (its limit and offset ignored) with a
/// sequence number below `before_seq`, newest first: keyset pages for streaming exports.
pub async fn page_before(
    pool: &AnyPool,
    org_id: &str,
    f: &EventFilter,
    before_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRecord>> {
    let (mut where_sql, mut binds) = filter_sql(org_id, f);
    if let Some(seq) = before_seq {
        binds.push(BindVal::I(seq));
        where_sql.push_str(&format!(" AND seq < ${}", binds.len()));
    }
    let sql = format!(
        "SELECT * FROM audit_events WHERE {where_sql} ORDER BY seq DESC LIMIT {}",
        limit.max(0)
    );
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = match b {
            BindVal::S(s) => q.bind(s.clone()),
            BindVal::I(i) => q.bind(*i),
        };
    }
    let rows = q.fetch_all(pool).await?;
    rows.iter().map(event_from).collect()
}

enum BindVal {
    S(String),
    I(i64),
}

/// Rows of the chain read for verification: those that decoded, in order, and whether the read
/// stopped early at a row that does not decode (a tampered column type or a NULL), which
/// verification reports as a break rather than an error.
pub struct ChainPage {
    /// The rows that decoded, in the order asked for.
    pub rows: Vec<AuditRecord>,
    /// The read stopped at a row that does not decode.
    pub undecodable: bool,
}

fn chain_page(rows: &[sqlx::any::AnyRow]) -> ChainPage {
    let mut page = ChainPage {
        rows: Vec::with_capacity(rows.len()),
        undecodable: false,
    };
    for row in rows {
        match event_from(row) {
            Ok(e) => page.rows.push(e),
            Err(_) => {
                page.undecodable = true;
                break;
            }
        }
    }
    page
}

/// Up to `limit` events of the org with a sequence number at or above `from_seq`, oldest first:
/// keyset pages for verification, so memory stays one page whatever the chain's length.
pub async fn page_from(
    pool: &AnyPool,
    org_id: &str,
    from_seq: i64,
    limit: i64,
) -> Result<ChainPage> {
    let sql = format!(
        "SELECT * FROM audit_events WHERE org_id = $1 AND seq >= $2 ORDER BY seq LIMIT {}",
        limit.max(0)
    );
    let rows = sqlx::query(&sql)
        .bind(org_id)
        .bind(from_seq)
        .fetch_all(pool)
        .await?;
    Ok(chain_page(&rows))
}

/// The org's event with the highest sequence number below `before_seq` (none or one row).
pub async fn last_before(pool: &AnyPool, org_id: &str, before_seq: i64) -> Result<ChainPage> {
    let rows = sqlx::query(
        "SELECT * FROM audit_events WHERE org_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT 1",
    )
    .bind(org_id)
    .bind(before_seq)
    .fetch_all(pool)
    .await?;
    Ok(chain_page(&rows))
}

/// The lowest sequence number of the org's events created at or after `at` (unix ms).
pub async fn first_seq_since(pool: &AnyPool, org_id: &str, at: i64) -> Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT MIN(seq) AS seq FROM audit_events WHERE org_id = $1 AND created_at >= $2",
    )
    .bind(org_id)
    .bind(at)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get::<Option<i64>, _>("seq")?)
}

/// An org's signed chain head as stored.
#[derive(Debug, Clone)]
pub struct SignedHead {
    /// Sequence number of the newest event.
    pub last_seq: i64,
    /// Id of the newest event.
    pub last_event_id: String,
    /// Integrity hash of the newest event.
    pub last_hash: String,
    /// Hex audit-key MAC over the three (see `audit_chain::head_input`).
    pub mac: String,
}

/// What the store holds as an org's signed head.
pub enum StoredHead {
    /// No head row: an org without events, or one whose head row was deleted.
    Missing,
    /// A head row whose columns do not decode.
    Undecodable,
    /// The head row.
    Present(SignedHead),
}

/// The org's signed chain head.
pub async fn signed_head(pool: &AnyPool, org_id: &str) -> Result<StoredHead> {
    let row = sqlx::query(
        "SELECT last_seq, last_event_id, last_hash, mac FROM audit_heads WHERE org_id = $1",
    )
    .bind(org_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(StoredHead::Missing);
    };
    let decoded = (|| -> std::result::Result<SignedHead, sqlx::Error> {
        Ok(SignedHead {
            last_seq: row.try_get("last_seq")?,
            last_event_id: row.try_get("last_event_id")?,
            last_hash: row.try_get("last_hash")?,
            mac: row.try_get("mac")?,
        })
    })();
    Ok(decoded.map_or(StoredHead::Undecodable, StoredHead::Present))
}

/// Orgs that have audit events but no signed head yet (their events predate the head table).
pub async fn orgs_without_signed_head(pool: &AnyPool) -> Result<Vec<String>> {
    let ids = sqlx::query_scalar::<_, String>(
        "SELECT id FROM orgs WHERE audit_seq > 0 \
         AND NOT EXISTS (SELECT 1 FROM audit_heads WHERE audit_heads.org_id = orgs.id)",
    )
    .fetch_all(pool)
    .await?;
    Ok(ids)
}

/// Creates the org's signed head pointing at `e` unless the org has one already (an append that
/// got there first wins, since it is at least as new).
pub async fn create_signed_head(pool: &AnyPool, e: &AuditRecord, mac: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_heads (org_id, last_seq, last_event_id, last_hash, mac) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id) DO NOTHING",
    )
    .bind(&e.org_id)
    .bind(e.seq)
    .bind(&e.id)
    .bind(&e.integrity_hash)
    .bind(mac)
    .execute(pool)
    .await?;
    Ok(())
}

/// Takes `n` consecutive sequence numbers of the org's chain; returns the first one and the
/// head before them.
pub async fn take_seqs(tx: &mut Tx, org_id: &str, n: i64) -> Result<ChainHead> {
    let row = sqlx::query(
        "UPDATE orgs SET audit_seq = audit_seq + $1 WHERE id = $2 \
         RETURNING audit_seq, audit_head_id, audit_head_hash",
    )
    .bind(n)
    .bind(org_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(ChainHead {
        seq: row.try_get::<i64, _>("audit_seq")? - n + 1,
        prev_id: opt_str(&row, "audit_head_id")?,
        prev_hash: opt_str(&row, "audit_head_hash")?,
    })
}

/// Statement shapes of [`insert_many`]: a batch is written as chunks of these sizes, largest
/// first, so every pooled connection prepares at most this many insert statements and then
/// reuses them from its statement cache (a statement per batch size would be parsed again for
/// nearly every batch). Kept small: SQLite takes about 3 million instructions to prepare a
/// 32-row insert.
const INSERT_CHUNKS: [usize; 4] = [8, 4, 2, 1];

/// Inserts several events of one org (in fixed-size multi-row statements) and moves the org's
/// head (and its signed head, MAC `head_mac`) to the last; queues their webhook deliveries in
/// one statement.
pub async fn insert_many(tx: &mut Tx, events: &[AuditRecord], head_mac: &str) -> Result<()> {
    let Some(last) = events.last() else {
        return Ok(());
    };
    let mut rest = events;
    while !rest.is_empty() {
        let n = INSERT_CHUNKS
            .into_iter()
            .find(|&c| c <= rest.len())
            .unwrap_or(1);
        let (chunk, tail) = rest.split_at(n);
        insert_rows(tx, chunk).await?;
        rest = tail;
    }
    sqlx::query("UPDATE orgs SET audit_head_id = $1, audit_head_hash = $2 WHERE id = $3")
        .bind(&last.id)
        .bind(&last.integrity_hash)
        .bind(&last.org_id)
        .execute(&mut **tx)
        .await?;
    move_signed_head(tx, last, head_mac).await?;
    super::webhooks::enqueue_for_events(tx, &last.org_id, events[0].seq, last.seq).await
}

/// The text of the multi-row `INSERT` of `n` events, built once per shape.
fn insert_sql(n: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<(usize, String)>> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        INSERT_CHUNKS
            .iter()
            .map(|&n| {
                let rows: Vec<String> = (0..n)
                    .map(|i| {
                        let params: Vec<String> =
                            (1..=15).map(|k| format!("${}", i * 15 + k)).collect();
                        format!("({})", params.join(","))
                    })
                    .collect();
                (
                    n,
                    format!(
                        "INSERT INTO audit_events (id, org_id, seq, actor_type, actor_id, action, \
                         resource_type, resource_id, outcome, details, ip_address, user_agent, \
                         created_at, prev_event_id, integrity_hash) VALUES {}",
                        rows.join(",")
                    ),
                )
            })
            .collect()
    });
    all.iter()
        .find(|(k, _)| *k == n)
        .map(|(_, sql)| sql.as_str())
        .expect("insert chunks come in the sizes of INSERT_CHUNKS")
}

/// One multi-row `INSERT` of `events`; their number is one of [`INSERT_CHUNKS`].
async fn insert_rows(tx: &mut Tx, events: &[AuditRecord]) -> Result<()> {
    let mut q = sqlx::query(insert_sql(events.len()));
    for e in events {
        q = q
            .bind(&e.id)
            .bind(&e.org_id)
            .bind(e.seq)
            .bind(&e.actor_type)
            .bind(&e.actor_id)
            .bind(&e.action)
            .bind(&e.resource_type)
            .bind(&e.resource_id)
            .bind(&e.outcome)
            .bind(&e.details)
            .bind(&e.ip_address)
            .bind(&e.user_agent)
            .bind(e.created_at)
            .bind(&e.prev_event_id)
            .bind(&e.integrity_hash);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}
