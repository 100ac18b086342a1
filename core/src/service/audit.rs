//! The audit log: every secret read, write and denial, every key, policy and agent change.
//! Events carry ids and paths, never values.

use super::{Core, Principal, RequestContext};
use crate::audit_chain::{check_rows, head_input, hex, link, sign_head, Cursor, HeadMark};
use crate::clock::parse_rfc3339;
use crate::error::{Dependency, Error, Result};
use crate::keystore::MacKey;
use crate::model::AuditRecord;
use crate::store::audit::{self as audit_store, ChainHead, EventFilter, StoredHead};
use crate::store::Tx;
use serde_json::Value;
use subtle::ConstantTimeEq;
use talon_api::Scope;

/// An event to record.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// The org whose chain records the event.
    pub org_id: String,
    /// Who acted: `user`, `agent`, `system` or `anonymous`.
    pub actor_type: &'static str,
    /// The acting user's or agent's id; `None` for `system` and `anonymous` actors.
    pub actor_id: Option<String>,
    /// What happened, dotted: `secret.read`, `agent.register`, `auth.failure`, ….
    pub action: &'static str,
    /// The kind of thing acted on: `secret`, `vault`, `agent`, `auth`, ….
    pub resource_type: &'static str,
    /// The id of the thing acted on, when there is one.
    pub resource_id: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: &'static str,
    /// Extra facts as a JSON object (paths, versions, methods); never a secret value.
    pub details: Value,
}

impl AuditEvent {
    /// A successful action by `p`.
    pub fn by(
        p: &Principal,
        action: &'static str,
        resource_type: &'static str,
        resource_id: Option<String>,
        details: Value,
    ) -> Self {
        AuditEvent {
            org_id: p.org_id().to_owned(),
            actor_type: p.kind(),
            actor_id: Some(p.id().to_owned()),
            action,
            resource_type,
            resource_id,
            outcome: "success",
            details,
        }
    }

    /// The same event with another outcome (`failure`, `denied`).
    pub fn outcome(mut self, outcome: &'static str) -> Self {
        self.outcome = outcome;
        self
    }
}

/// Query parameters of `GET /v1/audit/events`, as received.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only events on this resource id, or secret events whose details name this path.
    pub resource_id: Option<String>,
    /// Only events by this actor id.
    pub actor_id: Option<String>,
    /// Only events by this kind of actor (`user`, `agent`, …).
    pub actor_type: Option<String>,
    /// Only this action; a trailing `*` matches every action with that prefix.
    pub action: Option<String>,
    /// Only events at or after this RFC 3339 time.
    pub from: Option<String>,
    /// Only events before this RFC 3339 time.
    pub to: Option<String>,
    /// Page size, 1 to 1000; 100 when absent.
    pub limit: Option<i64>,
    /// Events to skip, newest first; 0 when absent.
    pub offset: Option<i64>,
}

/// The row of `event` at `seq`, not yet linked. `ctx.via` (the door a call came through,
/// when it is not its route's own) is recorded in the details as `via`.
pub(crate) fn event_row(
    event: AuditEvent,
    ctx: &RequestContext,
    seq: i64,
    now: i64,
) -> AuditRecord {
    let mut details = event.details;
    if let (Some(via), Value::Object(map)) = (ctx.via, &mut details) {
        map.insert("via".into(), Value::String(via.to_owned()));
    }
    AuditRecord {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: event.org_id,
        seq,
        actor_type: event.actor_type.to_owned(),
        actor_id: event.actor_id,
        action: event.action.to_owned(),
        resource_type: event.resource_type.to_owned(),
        resource_id: event.resource_id,
        outcome: event.outcome.to_owned(),
        details: details.to_string(),
        ip_address: ctx.ip.clone(),
        user_agent: ctx.user_agent.clone(),
        created_at: now,
        prev_event_id: None,
        integrity_hash: String::new(),
    }
}

/// Whether an audited action may change what a read is allowed or what it returns, and so
/// raises the org's cache epoch. Only reads, denials and sign-ins are known not to; every
/// other action (and any added later) does.
fn changes_access(action: &str) -> bool {
    // Approvals never reach the read caches: a read that needs one is always decided from
    // the database.
    !action.starts_with("approval.")
        && !matches!(
            action,
            "secret.read"
                | "secret.gone"
                | "secret.denied"
                | "secret.use"
                | "secret.exfiltration_blocked"
                | "risk.honeytoken_triggered"
                | "binding.execute"
                | "binding.test"
                | "share.access"
                | "share.create"
                | "security.ip_denied"
                | "env_var.read"
                | "env_var.list"
                | "env_var.resolve"
                | "auth.success"
                | "auth.failure"
                | "org.invite"
                | "user.signup"
                | "secret_request.created"
                | "secret_request.declined"
        )
}

impl Core {
    /// A failed audit append is `Unavailable(Audit)`; when the database was unreachable, its
    /// circuit opens as well.
    fn audit_down(&self, e: Error) -> Error {
        tracing::error!(error = %e, "audit append failed");
        self.store().observe(e);
        Error::Unavailable(Dependency::Audit)
    }

    /// Starts a transaction whose first statement takes the org's next audit sequence number.
    /// That write serialises audited changes per org and makes the transaction a writer from
    /// the start; finish it with [`Core::write_audit`].
    pub(crate) async fn begin_audited(&self, org_id: &str) -> Result<(Tx, ChainHead)> {
        let mut tx = self.store().begin().await?;
        let head = audit_store::next_seq(&mut tx, org_id)
            .await
            .map_err(|e| self.audit_down(e))?;
        Ok((tx, head))
    }

    /// Appends an event to the org's chain inside `tx`. Any failure is `Unavailable(Audit)`, so
    /// the caller's action rolls back with it (fail closed).
    pub(crate) async fn append_audit(
        &self,
        tx: &mut Tx,
        ctx: &RequestContext,
        event: AuditEvent,
    ) -> Result<()> {
        let head = audit_store::next_seq(tx, &event.org_id)
            .await
            .map_err(|e| self.audit_down(e))?;
        self.write_audit(tx, head, ctx, event).await
    }

    /// Writes the event at the sequence number taken in `head`.
    pub(crate) async fn write_audit(
        &self,
        tx: &mut Tx,
        head: ChainHead,
        ctx: &RequestContext,
        event: AuditEvent,
    ) -> Result<()> {
        if changes_access(event.action) {
            crate::store::cache_epochs::bump(tx, self.store().backend(), &event.org_id)
                .await
                .map_err(|e| self.audit_down(e))?;
            self.0.read_cache.invalidate(&event.org_id);
        }
        let mut rows = [event_row(event, ctx, head.seq, self.now())];
        let (prev_id, prev_hash) = (head.prev_id, head.prev_hash);
        let ([row], head_mac) = self
            .keys(move |k| link(k, prev_id, prev_hash, &mut rows).map(|mac| (rows, mac)))
            .await
            .map_err(|e| self.audit_down(e))?
            .map_err(|e| self.audit_down(e.into()))?;
        let head_mac =
            head_mac.ok_or_else(|| self.audit_down(Error::Internal("no signed head".into())))?;
        audit_store::insert(tx, &row, &head_mac)
            .await
            .map_err(|e| self.audit_down(e))
    }

    /// Records an event in its own transaction (denials, failures).
    pub(crate) async fn record(&self, ctx: &RequestContext, event: AuditEvent) -> Result<()> {
        let mut tx = self.store().begin().await?;
        self.append_audit(&mut tx, ctx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Lists the org's events, newest first: humans see the org's events, agents their own.
    pub async fn audit_events(
        &self,
        p: &Principal,
        q: AuditQuery,
    ) -> Result<(Vec<AuditRecord>, i64, i64, i64)> {
        let (filter, limit, offset) = self.audit_filter(p, q)?;
        let (events, total) = audit_store::list(self.store().pool(), p.org_id(), &filter).await?;
        Ok((events, total, limit, offset))
    }

    /// Validates an export's filters (the same as [`Core::audit_events`]; `limit` and `offset`
    /// are ignored) before the first page is read.
    pub fn audit_export_filter(&self, p: &Principal, mut q: AuditQuery) -> Result<EventFilter> {
        q.limit = None;
        q.offset = None;
        Ok(self.audit_filter(p, q)?.0)
    }

    /// One page of an export: up to `page` events below `before_seq`, newest first.
    pub async fn audit_export_page(
        &self,
        p: &Principal,
        filter: &EventFilter,
        before_seq: Option<i64>,
        page: i64,
    ) -> Result<Vec<AuditRecord>> {
        audit_store::page_before(self.store().pool(), p.org_id(), filter, before_seq, page).await
    }

    fn audit_filter(&self, p: &Principal, q: AuditQuery) -> Result<(EventFilter, i64, i64)> {
        p.require_scope(Scope::AuditRead)?;
        let time = |field: &'static str, v: &Option<String>| -> Result<Option<i64>> {
            v.as_deref()
                .map(|s| {
                    parse_rfc3339(s).ok_or_else(|| {
                        Error::invalid(field, format!("{field} must be an RFC 3339 time"))
                    })
                })
                .transpose()
        };
        let limit = q.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(Error::invalid("limit", "limit must be between 1 and 1000"));
        }
        let offset = q.offset.unwrap_or(0);
        if offset < 0 {
            return Err(Error::invalid("offset", "offset must not be negative"));
        }
        let (action, action_prefix) = match q.action {
            Some(a) if a.ends_with('*') => (Some(a.trim_end_matches('*').to_owned()), true),
            other => (other, false),
        };
        let mut filter = EventFilter {
            resource_id: q.resource_id,
            actor_id: q.actor_id,
            actor_type: q.actor_type,
            action,
            action_prefix,
            from: time("from", &q.from)?,
            to: time("to", &q.to)?,
            limit,
            offset,
        };
        if let Principal::Agent { agent_id, .. } = p {
            filter.actor_type = Some("agent".into());
            filter.actor_id = Some(agent_id.clone());
        }
        Ok((filter, limit, offset))
    }
}

/// Events read per database page while verifying: the walk holds one page at a time, whatever
/// the chain's length.
const VERIFY_PAGE: i64 = 500;
/// Length of the window in which an org's verifications are counted.
const VERIFY_WINDOW_MS: i64 = 60_000;

/// Where a verification found the chain broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The event that does not verify; `None` when the break is a missing event whose id is
    /// not known (a truncated tail) or a row that does not decode.
    pub event_id: Option<String>,
    /// Its sequence number (for a missing tail, the first one missing); `None` when unknown.
    pub seq: Option<i64>,
    /// Why, in the response's words.
    pub reason: &'static str,
}

/// The org's signed chain head as a verification saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadReport {
    /// Sequence number of the event the head names.
    pub seq: i64,
    /// Id of that event.
    pub event_id: String,
    /// Whether the head's MAC verified under the keystore's audit key.
    pub mac_valid: bool,
}

/// Result of recomputing an org's audit chain.
#[derive(Debug, Clone, Default)]
pub struct ChainReport {
    /// Events whose hash and link verified.
    pub verified: usize,
    /// Events looked at (verified plus the first broken one, if any).
    pub checked: usize,
    /// Sequence number of the first event checked; `None` when none was.
    pub first_seq: Option<i64>,
    /// Sequence number of the last event that verified; `None` when none did.
    pub last_seq: Option<i64>,
    /// Whether the whole chain was checked, from the org's first event to its signed head, and
    /// verified. False for a range cut by `from`, `to` or `limit`, and for a broken chain.
    pub complete: bool,
    /// The first break, if any.
    pub first_break: Option<ChainBreak>,
    /// The signed head; `None` when the org has none.
    pub head: Option<HeadReport>,
}

impl ChainReport {
    fn broken(mut self, event_id: Option<String>, seq: Option<i64>, reason: &'static str) -> Self {
        self.first_break = Some(ChainBreak {
            event_id,
            seq,
            reason,
        });
        self.complete = false;
        self
    }
}

/// Marks an org's verification as running in this process; dropping it (the walk finished,
/// failed or the request was cancelled) frees the org's slot.
struct VerifySlot {
    core: Core,
    org_id: String,
}

impl Drop for VerifySlot {
    fn drop(&mut self) {
        if let Ok(mut running) = self.core.0.verifies_running.lock() {
            running.remove(&self.org_id);
        }
    }
}

/// Orgs whose chain is being verified in this process.
#[derive(Default)]
pub(crate) struct RunningVerifies(std::sync::Mutex<std::collections::HashSet<String>>);

impl std::ops::Deref for RunningVerifies {
    type Target = std::sync::Mutex<std::collections::HashSet<String>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Core {
    /// Walks the org's chain oldest to newest over `[from, to)` (at most `limit` events; the
    /// whole chain when all three are absent), a page of [`VERIFY_PAGE`] rows at a time,
    /// recomputing every hash and checking every link, the sequence's continuity and the
    /// org's signed head: its MAC, that the row at its sequence number is its event and, when
    /// the walk reaches the end of the chain, that the chain ends there. Edited, deleted,
    /// reordered or inserted rows, a deleted or truncated tail and a replaced head all break it.
    ///
    /// Org owners and admins only (403 otherwise). One verification per org at a time in this
    /// process (409 for a second one while the first runs) and at most
    /// `audit_verify_per_minute` per org per minute, counted in the database so every process
    /// sharing it enforces the same limit (429 with `Retry-After`). A keystore failure is 503
    /// `dependency: keystore`, never a verdict.
    pub async fn verify_audit_chain(
        &self,
        p: &Principal,
        from: Option<&str>,
        to: Option<&str>,
        limit: Option<i64>,
    ) -> Result<ChainReport> {
        let (_, role) = p.require_human()?;
        p.require_scope(Scope::AuditRead)?;
        if !role.is_org_admin() {
            return Err(Error::Forbidden(
                "Only org owners and admins can verify the audit chain".into(),
            ));
        }
        let time = |field: &'static str, v: Option<&str>| -> Result<Option<i64>> {
            v.map(|s| {
                parse_rfc3339(s).ok_or_else(|| {
                    Error::invalid(field, format!("{field} must be an RFC 3339 time"))
                })
            })
            .transpose()
        };
        let (from, to) = (time("from", from)?, time("to", to)?);
        if limit.is_some_and(|l| !(1..=10_000).contains(&l)) {
            return Err(Error::invalid("limit", "limit must be between 1 and 10000"));
        }
        let _slot = self.take_verify_slot(p.org_id())?;
        self.check_verify_rate(p.org_id()).await?;
        self.walk_chain(p.org_id(), from, to, limit).await
    }

    /// Claims the org's verification slot in this process, or refuses with 409 while another
    /// verification of the org runs. Across processes the per-org rate limit bounds how many
    /// can run at once.
    fn take_verify_slot(&self, org_id: &str) -> Result<VerifySlot> {
        let mut running = self
            .0
            .verifies_running
            .lock()
            .map_err(|_| Error::Internal("verify slots poisoned".into()))?;
        if !running.insert(org_id.to_owned()) {
            return Err(Error::Conflict(
                "A verification of this organization's audit chain is already running".into(),
            ));
        }
        Ok(VerifySlot {
            core: self.clone(),
            org_id: org_id.to_owned(),
        })
    }

    /// Counts one verification of the org in the current minute and refuses with 429 past
    /// `audit_verify_per_minute` (0 disables the limit).
    async fn check_verify_rate(&self, org_id: &str) -> Result<()> {
        let limit = self.config().audit_verify_per_minute;
        if limit == 0 {
            return Ok(());
        }
        let now = self.now();
        let start = now - now.rem_euclid(VERIFY_WINDOW_MS);
        let bucket = format!("audit_verify:{org_id}");
        if crate::store::rate_limits::hit(self.store().pool(), &bucket, start).await? > limit as i64
        {
            let left_ms = start + VERIFY_WINDOW_MS - now;
            return Err(Error::RateLimited {
                retry_after_s: (left_ms.saturating_add(999) / 1000).max(1) as u64,
            });
        }
        Ok(())
    }

    async fn walk_chain(
        &self,
        org_id: &str,
        from: Option<i64>,
        to: Option<i64>,
        limit: Option<i64>,
    ) -> Result<ChainReport> {
        let pool = self.store().pool();
        let mut report = ChainReport::default();

        // The signed head: its MAC first, so a forged head never vouches for a chain.
        let head = match audit_store::signed_head(pool, org_id).await? {
            StoredHead::Missing => None,
            StoredHead::Undecodable => {
                return Ok(report.broken(None, None, "the signed chain head does not decode"));
            }
            StoredHead::Present(h) => {
                let input = head_input(org_id, h.last_seq, &h.last_event_id, &h.last_hash);
                let mac = self.keys(move |k| k.mac(MacKey::Audit, &input)).await??;
                let mac_valid: bool = hex(&mac).as_bytes().ct_eq(h.mac.as_bytes()).into();
                report.head = Some(HeadReport {
                    seq: h.last_seq,
                    event_id: h.last_event_id.clone(),
                    mac_valid,
                });
                if !mac_valid {
                    return Ok(report.broken(
                        Some(h.last_event_id),
                        Some(h.last_seq),
                        "the signed chain head does not verify",
                    ));
                }
                Some(HeadMark {
                    seq: h.last_seq,
                    event_id: h.last_event_id,
                    hash: h.last_hash,
                })
            }
        };

        // Where the range starts, and the link into it from the event just before it.
        let start = match from {
            None => i64::MIN,
            Some(t) => audit_store::first_seq_since(pool, org_id, t)
                .await?
                .unwrap_or(i64::MAX),
        };
        let before = audit_store::last_before(pool, org_id, start).await?;
        if before.undecodable {
            return Ok(report.broken(None, None, "an event before the range does not decode"));
        }
        let from_genesis = before.rows.is_empty();
        let mut cursor = before
            .rows
            .first()
            .map_or_else(Cursor::genesis, Cursor::after);
        let mut tail_seq = before.rows.first().map(|e| e.seq);

        let mut next = start;
        let mut cut = false;
        loop {
            let page = audit_store::page_from(pool, org_id, next, VERIFY_PAGE).await?;
            let full = page.rows.len() as i64 == VERIFY_PAGE;
            let mut rows = page.rows;
            let in_range = rows
                .iter()
                .enumerate()
                .position(|(i, e)| {
                    to.is_some_and(|t| e.created_at >= t)
                        || limit.is_some_and(|l| (report.checked + i) as i64 >= l)
                })
                .unwrap_or(rows.len());
            if in_range < rows.len() {
                cut = true;
                rows.truncate(in_range);
            }
            let (rows, verdict, after) = {
                let head = head.clone();
                let mut c = cursor.clone();
                self.keys(move |k| {
                    check_rows(k, &mut c, head.as_ref(), &rows).map(|v| (rows, v, c))
                })
                .await??
            };
            cursor = after;
            if report.first_seq.is_none() {
                report.first_seq = rows.first().map(|e| e.seq);
            }
            if let Some((i, why)) = verdict {
                report.checked += i + 1;
                report.verified += i;
                if i > 0 {
                    report.last_seq = Some(rows[i - 1].seq);
                }
                let e = &rows[i];
                return Ok(report.broken(Some(e.id.clone()), Some(e.seq), why.reason()));
            }
            report.checked += rows.len();
            report.verified += rows.len();
            if let Some(last) = rows.last() {
                report.last_seq = Some(last.seq);
                tail_seq = Some(last.seq);
                next = last.seq.saturating_add(1);
            }
            if cut {
                return Ok(report);
            }
            if page.undecodable {
                let seq = Some(cursor.expected_seq);
                return Ok(report.broken(None, seq, "an event row does not decode"));
            }
            if !full {
                break;
            }
        }

        // The walk reached the end of the chain: it must end at the signed head.
        // (Every append moves the head in its own transaction; an org without one has either
        // never had an event or lost its head row.)
        match (&head, tail_seq) {
            (None, None) => {}
            (None, Some(seq)) => {
                return Ok(report.broken(None, Some(seq), "the chain has no signed head record"));
            }
            (Some(h), tail) if tail.is_none_or(|t| t < h.seq) => {
                let missing = tail.map_or(1, |t| t + 1);
                let id = (missing == h.seq).then(|| h.event_id.clone());
                return Ok(report.broken(
                    id,
                    Some(missing),
                    "the newest events are missing: the chain ends before its signed head",
                ));
            }
            _ => {}
        }
        report.complete = from_genesis;
        Ok(report)
    }

    /// Gives every org that has audit events but no signed head (events written before the
    /// head table existed) a head signed over its current newest event. Runs at start-up.
    ///
    /// Such a head vouches only for the chain as it is at that moment: a tail deleted or
    /// truncated before it was created goes undetected. Verification never creates a head
    /// itself (a chain without one is reported broken), so deleting a head row does not let
    /// a later verification accept a shortened chain without a server restart in between.
    pub async fn backfill_audit_heads(&self) -> Result<usize> {
        let pool = self.store().pool();
        let mut created = 0;
        for org_id in audit_store::orgs_without_signed_head(pool).await? {
            let tail = audit_store::last_before(pool, &org_id, i64::MAX).await?;
            let Some(e) = tail.rows.into_iter().next() else {
                continue;
            };
            let (e, mac) = self
                .keys(move |k| sign_head(k, &e).map(|mac| (e, mac)))
                .await??;
            audit_store::create_signed_head(pool, &e, &mac).await?;
            created += 1;
        }
        Ok(created)
    }
}

impl From<&AuditRecord> for talon_api::audit::AuditEventResponse {
    fn from(e: &AuditRecord) -> Self {
        let at = crate::clock::rfc3339(e.created_at);
        talon_api::audit::AuditEventResponse {
            id: e.id.clone(),
            org_id: e.org_id.clone(),
            seq: e.seq,
            actor_type: e.actor_type.clone(),
            actor_id: e.actor_id.clone(),
            action: e.action.clone(),
            resource_type: e.resource_type.clone(),
            resource_id: e.resource_id.clone(),
            outcome: e.outcome.clone(),
            details: serde_json::from_str(&e.details).unwrap_or_else(|_| serde_json::json!({})),
            ip_address: e.ip_address.clone(),
            user_agent: e.user_agent.clone(),
            created_at: at.clone(),
            timestamp: at,
            prev_event_id: e.prev_event_id.clone(),
            integrity_hash: e.integrity_hash.clone(),
        }
    }
}
