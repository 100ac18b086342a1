//! The audit log: every secret read, write and denial, every key, policy and agent change.
//! Events carry ids and paths, never values.

use super::{Core, Principal, RequestContext};
use crate::audit_chain::{genesis, hex, link, link_input};
use crate::clock::parse_rfc3339;
use crate::error::{Dependency, Error, Result};
use crate::keystore::MacKey;
use crate::model::AuditRecord;
use crate::store::audit::{self as audit_store, ChainHead, EventFilter};
use crate::store::Tx;
use serde_json::Value;
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

fn audit_down(e: Error) -> Error {
    tracing::error!(error = %e, "audit append failed");
    Error::Unavailable(Dependency::Audit)
}

impl Core {
    /// Starts a transaction whose first statement takes the org's next audit sequence number.
    /// That write serialises audited changes per org and makes the transaction a writer from
    /// the start; finish it with [`Core::write_audit`].
    pub(crate) async fn begin_audited(&self, org_id: &str) -> Result<(Tx, ChainHead)> {
        let mut tx = self.store().begin().await?;
        let head = audit_store::next_seq(&mut tx, org_id)
            .await
            .map_err(audit_down)?;
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
            .map_err(audit_down)?;
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
        let mut rows = [event_row(event, ctx, head.seq, self.now())];
        let (prev_id, prev_hash) = (head.prev_id, head.prev_hash);
        let [row] = self
            .keys(move |k| link(k, prev_id, prev_hash, &mut rows).map(|()| rows))
            .await
            .map_err(audit_down)?
            .map_err(|e| audit_down(e.into()))?;
        audit_store::insert(tx, &row).await.map_err(audit_down)
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

/// Result of recomputing an org's audit chain.
#[derive(Debug, Clone)]
pub struct ChainReport {
    /// Events whose hash and link verified.
    pub verified: usize,
    /// Events looked at (verified plus the first broken one, if any).
    pub checked: usize,
    /// The first event that does not verify, and why.
    pub first_break: Option<(String, i64, &'static str)>,
}

impl Core {
    /// Walks the org's chain oldest to newest over `[from, to)` (at most `limit` events),
    /// recomputing every hash and checking every link and the sequence. Edited, deleted,
    /// reordered or inserted rows all break it. Humans only.
    pub async fn verify_audit_chain(
        &self,
        p: &Principal,
        from: Option<&str>,
        to: Option<&str>,
        limit: Option<i64>,
    ) -> Result<ChainReport> {
        p.require_human()?;
        p.require_scope(Scope::AuditRead)?;
        let time = |field: &'static str, v: Option<&str>| -> Result<Option<i64>> {
            v.map(|s| {
                parse_rfc3339(s).ok_or_else(|| {
                    Error::invalid(field, format!("{field} must be an RFC 3339 time"))
                })
            })
            .transpose()
        };
        let (from, to) = (time("from", from)?, time("to", to)?);
        let limit = limit.unwrap_or(1000);
        if !(1..=10_000).contains(&limit) {
            return Err(Error::invalid("limit", "limit must be between 1 and 10000"));
        }
        let all = audit_store::all_ascending(self.store().pool(), p.org_id()).await?;
        let start = all
            .iter()
            .position(|e| from.is_none_or(|f| e.created_at >= f))
            .unwrap_or(all.len());
        // The link into the range comes from the event just before it.
        let (mut prev_id, mut prev_hash, mut expected_seq) =
            match start.checked_sub(1).map(|i| &all[i]) {
                Some(e) => (Some(e.id.clone()), e.integrity_hash.clone(), e.seq + 1),
                None => (None, genesis(), 1),
            };
        let range = all[start..]
            .iter()
            .take_while(|e| to.is_none_or(|t| e.created_at < t))
            .take(limit as usize);
        let mut checked = 0;
        for e in range {
            checked += 1;
            let why = if e.seq != expected_seq {
                Some("sequence gap or reorder")
            } else if e.prev_event_id != prev_id {
                Some("link to the previous event does not match")
            } else {
                let input = link_input(&prev_hash, e);
                let mac = self.keys(move |k| k.mac(MacKey::Audit, &input)).await??;
                (hex(&mac) != e.integrity_hash).then_some("integrity hash does not match the event")
            };
            if let Some(why) = why {
                return Ok(ChainReport {
                    verified: checked - 1,
                    checked,
                    first_break: Some((e.id.clone(), e.seq, why)),
                });
            }
            prev_hash = e.integrity_hash.clone();
            prev_id = Some(e.id.clone());
            expected_seq = e.seq + 1;
        }
        Ok(ChainReport {
            verified: checked,
            checked,
            first_break: None,
        })
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
