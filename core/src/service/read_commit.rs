//! Group commit for secret reads (and agent sign-ins, whose audit event and last-active time
//! commit the same way). Every value read must count against its version's
//! `max_access_count` and have its audit event committed before the value leaves (fail
//! closed). Doing that in one transaction per read costs a commit per read; instead, reads
//! queue here and one task commits whatever has queued in a single transaction: one sequence
//! reservation, one multi-row insert and one head update per org, and the HMAC chain computed
//! in one keystore call. Each read still learns its own outcome, and nobody gets a value
//! unless the batch that holds its event committed.

use super::audit::{event_row, AuditEvent};
use super::{Core, RequestContext};
use crate::audit_chain::link;
use crate::error::{Dependency, Error, Result};
use crate::model::AuditRecord;
use crate::store::audit as audit_store;
use crate::store::secrets as secret_store;
use crate::store::shares as share_store;
use std::collections::BTreeMap;
use tokio::sync::{mpsc, oneshot};

const MAX_BATCH: usize = 128;

/// One read waiting to be committed.
pub(crate) struct ReadJob {
    /// The version whose access is counted; `None` for an event with no read to count.
    pub count: Option<(String, i64)>,
    /// An agent whose `last_active_at` becomes the commit's time (a sign-in).
    pub touch_agent: Option<String>,
    /// Set for a read through a share, whose own count must also have room.
    pub share_id: Option<String>,
    pub event: AuditEvent,
    pub ctx: RequestContext,
    /// The org's cache epoch the read was decided under, when it was answered from the read
    /// caches; the commit refuses it if the epoch has moved since.
    pub epoch: Option<i64>,
    pub done: oneshot::Sender<Result<Committed>>,
}

/// What became of a queued read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Committed {
    /// Counted and audited.
    Read(Counts),
    /// The version or the share had no reads left; nothing was written.
    UsedUp,
    /// Decided from caches that a change has since made stale; nothing was written, and the
    /// read must be decided again from the database.
    Stale,
}

/// Access counts after a committed read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counts {
    pub version: i64,
    pub share: Option<i64>,
}

/// The queue in front of the committing task (started on first use).
#[derive(Default)]
pub(crate) struct ReadCommitter(std::sync::OnceLock<mpsc::Sender<ReadJob>>);

impl Core {
    /// Counts the read (and the share's access, for a read through a share) and commits its
    /// audit event, unless the version or share is used up, or the read was decided under a
    /// cache `epoch` that has moved.
    pub(crate) async fn commit_read(
        &self,
        secret_id: String,
        version: i64,
        share_id: Option<String>,
        event: AuditEvent,
        epoch: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<Committed> {
        self.enqueue(ReadJob {
            count: Some((secret_id, version)),
            touch_agent: None,
            share_id,
            event,
            ctx: ctx.clone(),
            epoch,
            done: oneshot::channel().0,
        })
        .await
    }

    /// Commits an agent sign-in's audit event and its last-active time with the next batch of
    /// reads, instead of in a transaction (and a commit) of its own.
    pub(crate) async fn commit_sign_in(
        &self,
        agent_id: String,
        event: AuditEvent,
        ctx: &RequestContext,
    ) -> Result<()> {
        match self
            .enqueue(ReadJob {
                count: None,
                touch_agent: Some(agent_id),
                share_id: None,
                event,
                ctx: ctx.clone(),
                epoch: None,
                done: oneshot::channel().0,
            })
            .await?
        {
            Committed::Read(_) => Ok(()),
            Committed::UsedUp | Committed::Stale => {
                Err(Error::Internal("a sign-in had nothing to count".into()))
            }
        }
    }

    /// Queues `job` for the committing task (started on first use) and waits for its outcome.
    async fn enqueue(&self, mut job: ReadJob) -> Result<Committed> {
        let sender = self.0.read_committer.0.get_or_init(|| {
            let (tx, rx) = mpsc::channel(4096);
            tokio::spawn(self.clone().run_read_committer(rx));
            tx
        });
        let (done, wait) = oneshot::channel();
        job.done = done;
        sender
            .send(job)
            .await
            .map_err(|_| Error::Unavailable(Dependency::Audit))?;
        wait.await
            .map_err(|_| Error::Unavailable(Dependency::Audit))?
    }

    async fn run_read_committer(self, mut rx: mpsc::Receiver<ReadJob>) {
        while let Some(first) = rx.recv().await {
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            match self.commit_batch(&jobs).await {
                Ok(counts) => {
                    for (job, count) in jobs.into_iter().zip(counts) {
                        let _ = job.done.send(Ok(count));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, reads = jobs.len(), "read batch failed to commit");
                    // A token that stopped answering is named as the cause; anything else
                    // failed the audit commit.
                    let dep = match &e {
                        Error::Unavailable(Dependency::Keystore) => Dependency::Keystore,
                        _ => Dependency::Audit,
                    };
                    self.store().observe(e);
                    for job in jobs {
                        let _ = job.done.send(Err(Error::Unavailable(dep)));
                    }
                }
            }
        }
    }

    async fn commit_batch(&self, jobs: &[ReadJob]) -> Result<Vec<Committed>> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        // The epochs of the orgs whose reads were answered from caches, as this transaction
        // sees them: a read decided under an older one is not committed.
        let mut epochs: BTreeMap<&str, i64> = BTreeMap::new();
        for j in jobs.iter().filter(|j| j.epoch.is_some()) {
            let org = j.event.org_id.as_str();
            if !epochs.contains_key(org) {
                let seen = crate::store::cache_epochs::current_in(&mut tx, org).await?;
                epochs.insert(org, seen);
            }
        }
        let mut counts = Vec::with_capacity(jobs.len());
        for j in jobs {
            if let Some(e) = j.epoch {
                if epochs.get(j.event.org_id.as_str()) != Some(&e) {
                    self.0.read_cache.invalidate(&j.event.org_id);
                    counts.push(Committed::Stale);
                    continue;
                }
            }
            let share = match &j.share_id {
                Some(id) => match share_store::count_access(&mut tx, id).await? {
                    Some(n) => Some(n),
                    None => {
                        counts.push(Committed::UsedUp);
                        continue;
                    }
                },
                None => None,
            };
            let version = match &j.count {
                Some((secret_id, version)) => {
                    match secret_store::count_access(&mut tx, secret_id, *version).await? {
                        Some(n) => n,
                        None => {
                            counts.push(Committed::UsedUp);
                            continue;
                        }
                    }
                }
                None => 0,
            };
            if let Some(agent) = &j.touch_agent {
                crate::store::agents::touch(&mut tx, agent, now).await?;
            }
            counts.push(Committed::Read(Counts { version, share }));
        }
        let mut by_org: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, j) in jobs.iter().enumerate() {
            if matches!(counts[i], Committed::Read(_)) {
                by_org.entry(j.event.org_id.as_str()).or_default().push(i);
            }
        }
        for (org, idxs) in by_org {
            let head = audit_store::take_seqs(&mut tx, org, idxs.len() as i64).await?;
            let mut rows: Vec<AuditRecord> = Vec::with_capacity(idxs.len());
            for (k, &i) in idxs.iter().enumerate() {
                let (e, ctx) = (&jobs[i].event, &jobs[i].ctx);
                rows.push(event_row(e.clone(), ctx, head.seq + k as i64, now));
            }
            let (prev_id, prev_hash) = (head.prev_id, head.prev_hash);
            let (rows, head_mac) = self
                .keys(move |k| link(k, prev_id, prev_hash, &mut rows).map(|mac| (rows, mac)))
                .await??;
            let head_mac = head_mac.ok_or_else(|| Error::Internal("empty audit batch".into()))?;
            audit_store::insert_many(&mut tx, &rows, &head_mac).await?;
        }
        tx.commit().await?;
        Ok(counts)
    }
}
