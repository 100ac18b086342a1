//! Honeytokens: secret paths an org's owners and admins mark as traps. Touching one (a read,
//! a use through a binding, a share access, or an agent's listing that shows it) answers
//! exactly as it would for any other secret, so whoever touched it cannot tell, but it is
//! recorded first: a `risk.honeytoken_triggered` event (which webhooks subscribed to it are
//! sent, queued in the event's own transaction), the honeytoken's counters, and with
//! `on_trigger: deactivate` the deactivation of the agent that touched it, all in one
//! transaction; then a mail to the org's owners and admins, sent in the background.
//!
//! Reads find out whether a path is a trap from the org's honeytokens held in the read
//! caches under the org's cache epoch (see `read_cache`), so a read of any other path costs
//! one in-memory lookup and no query. Creating or deleting a honeytoken raises the epoch in
//! its own transaction.

use super::audit::AuditEvent;
use super::secrets::{check_secret_type, check_value, Reader};
use super::{Core, Principal, RequestContext};
use crate::clock::rfc3339;
use crate::error::{Error, Result};
use crate::material::SecretValue;
use crate::model::{Honeytoken, OnTrigger, Vault};
use crate::secret_path::SecretPath;
use crate::store::honeytokens::{self as store, Trap};
use crate::store::secrets as secret_store;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use talon_api::{Role, Scope};

/// The audit action of a trigger, which webhooks may subscribe to.
pub(crate) const TRIGGERED: &str = "risk.honeytoken_triggered";
const MAX_NOTES: usize = 1000;
const MAX_PER_ORG: i64 = 1000;

/// Input of `POST /v1/risk/honeytokens`.
#[derive(Debug)]
pub struct CreateHoneytoken {
    /// The vault whose path becomes a trap.
    pub vault_id: String,
    /// The path to watch, as written (validated like any secret path).
    pub secret_path: String,
    /// Free text for the org's admins, at most 1000 characters.
    pub notes: Option<String>,
    /// `alert` (the default) or `deactivate`.
    pub on_trigger: Option<String>,
    /// A canary value to write at the path, sealed like any secret's. Without it, a live
    /// secret must already exist there; with it, none may.
    pub value: Option<SecretValue>,
    /// The canary's secret type (`generic` when absent), so it reads like the real thing.
    pub secret_type: Option<String>,
}

/// How a honeytoken was touched (`details.access` of the trigger event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Touch {
    /// Its value was read.
    Read,
    /// Its value was used for the caller (a binding's execution).
    Use,
    /// Its value was opened through a share.
    Share,
    /// An agent's listing showed it.
    List,
}

impl Touch {
    fn as_str(self) -> &'static str {
        match self {
            Touch::Read => "read",
            Touch::Use => "use",
            Touch::Share => "share",
            Touch::List => "list",
        }
    }

    /// How `reader` touches the value it reads.
    pub(crate) fn of(reader: &Reader) -> Touch {
        match (&reader.share_id, reader.used) {
            (Some(_), _) => Touch::Share,
            (None, true) => Touch::Use,
            (None, false) => Touch::Read,
        }
    }
}

/// An org's honeytokens by vault and path, as the read caches hold them.
#[derive(Debug, Default)]
pub(crate) struct Traps(HashMap<String, HashMap<String, Trap>>);

impl Traps {
    /// The trap at `path` of `vault`: one lookup per level, no allocation.
    pub(crate) fn get(&self, vault: &str, path: &str) -> Option<&Trap> {
        self.0.get(vault).and_then(|paths| paths.get(path))
    }
}

impl FromIterator<(String, String, Trap)> for Traps {
    fn from_iter<I: IntoIterator<Item = (String, String, Trap)>>(rows: I) -> Self {
        let mut map: HashMap<String, HashMap<String, Trap>> = HashMap::new();
        for (vault, path, trap) in rows {
            map.entry(vault).or_default().insert(path, trap);
        }
        Traps(map)
    }
}

/// Only owners and admins manage honeytokens; returns the caller's user id.
fn require_admin(p: &Principal) -> Result<&str> {
    let (user_id, role) = p.require_human()?;
    if !role.is_org_admin() {
        return Err(Error::Forbidden(
            "Only org owners and admins can manage honeytokens".into(),
        ));
    }
    Ok(user_id)
}

fn check_notes(notes: Option<String>) -> Result<Option<String>> {
    match notes {
        Some(n) if n.chars().count() > MAX_NOTES => Err(Error::invalid(
            "notes",
            format!("notes must be at most {MAX_NOTES} characters"),
        )),
        other => Ok(other),
    }
}

impl Core {
    /// The org's honeytokens, oldest first, with their trigger counters. Owners and admins.
    pub async fn list_honeytokens(&self, p: &Principal) -> Result<Vec<Honeytoken>> {
        require_admin(p)?;
        p.require_scope(Scope::OrgRead)?;
        store::list(self.store().pool(), p.org_id()).await
    }

    /// Marks a secret path of one of the org's vaults as a honeytoken, audited as
    /// `honeytoken.create`. With a `value`, a canary secret is written at the path like any
    /// secret (audited as `secret.write`) in the same transaction; the path must then be free.
    /// Without one, a live secret must already be there. Owners and admins only.
    pub async fn create_honeytoken(
        &self,
        p: &Principal,
        input: CreateHoneytoken,
        ctx: &RequestContext,
    ) -> Result<Honeytoken> {
        let user_id = require_admin(p)?.to_owned();
        p.require_scope(Scope::OrgWrite)?;
        let path = SecretPath::parse(&input.secret_path).map_err(|e| match e {
            Error::Invalid { reason, .. } => Error::invalid("secret_path", reason),
            other => other,
        })?;
        let on_trigger = match input.on_trigger.as_deref() {
            None => OnTrigger::Alert,
            Some(s) => OnTrigger::parse(s).ok_or_else(|| {
                Error::invalid("on_trigger", "on_trigger must be 'alert' or 'deactivate'")
            })?,
        };
        let notes = check_notes(input.notes)?;
        let seed = match input.value {
            Some(value) => {
                p.require_scope(Scope::SecretsWrite)?;
                check_value(&value)?;
                Some((value, check_secret_type(input.secret_type)?))
            }
            None if input.secret_type.is_some() => {
                return Err(Error::invalid(
                    "type",
                    "type applies only to a canary written with value",
                ))
            }
            None => None,
        };
        let v = crate::store::vaults::get(self.store().pool(), p.org_id(), &input.vault_id)
            .await?
            .ok_or_else(|| {
                Error::invalid("vault_id", "vault_id is not a vault of this organization")
            })?;

        let (mut tx, head) = self.begin_audited(&v.org_id).await?;
        if store::count(&mut tx, &v.org_id).await? >= MAX_PER_ORG {
            return Err(Error::Conflict(format!(
                "An organization can have at most {MAX_PER_ORG} honeytokens"
            )));
        }
        if store::exists_at(&mut tx, &v.id, path.as_str()).await? {
            return Err(Error::Conflict(format!(
                "A honeytoken already watches {path} in this vault"
            )));
        }
        let live = secret_store::live_secret(&mut tx, &v.id, path.as_str()).await?;
        match (&seed, live) {
            (Some(_), Some(_)) => {
                return Err(Error::Conflict(format!(
                    "A secret already exists at {path}; register it without a value, or seed the \
                     canary at a free path"
                )))
            }
            (None, None) => {
                return Err(Error::invalid(
                    "secret_path",
                    format!(
                        "No secret exists at {path} in this vault; write one first, or give a \
                         value to seed a canary"
                    ),
                ))
            }
            _ => {}
        }
        let h = Honeytoken {
            id: uuid::Uuid::new_v4().to_string(),
            org_id: v.org_id.clone(),
            vault_id: v.id.clone(),
            secret_path: path.as_str().to_owned(),
            on_trigger,
            notes,
            created_by: user_id,
            created_at: self.now(),
            triggered_count: 0,
            last_triggered_at: None,
        };
        store::insert(&mut tx, &h).await?;
        // Like every change that alters what a read does, this raises the org's cache epoch.
        self.write_audit(
            &mut tx,
            head,
            ctx,
            AuditEvent::by(
                p,
                "honeytoken.create",
                "honeytoken",
                Some(h.id.clone()),
                json!({"vault_id": h.vault_id, "path": h.secret_path,
                       "on_trigger": h.on_trigger.as_str(), "seeded": seed.is_some()}),
            ),
        )
        .await?;
        if let Some((value, secret_type)) = seed {
            let row = self
                .write_version_in(
                    &mut tx,
                    p,
                    &v,
                    &path,
                    value,
                    secret_type,
                    "{}".into(),
                    None,
                    None,
                )
                .await?;
            self.append_audit(
                &mut tx,
                ctx,
                AuditEvent::by(
                    p,
                    "secret.write",
                    "secret",
                    Some(row.secret_id.clone()),
                    json!({"vault_id": v.id, "path": row.path, "version": row.version}),
                ),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(h)
    }

    /// Removes a honeytoken (audited as `honeytoken.delete`, which raises the org's cache
    /// epoch); the secret at its path stays. 404 when the org has none with that id.
    pub async fn delete_honeytoken(
        &self,
        p: &Principal,
        id: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        require_admin(p)?;
        p.require_scope(Scope::OrgWrite)?;
        let (mut tx, head) = self.begin_audited(p.org_id()).await?;
        let h = store::delete(&mut tx, p.org_id(), id)
            .await?
            .ok_or(Error::NotFound("Honeytoken"))?;
        self.write_audit(
            &mut tx,
            head,
            ctx,
            AuditEvent::by(
                p,
                "honeytoken.delete",
                "honeytoken",
                Some(h.id.clone()),
                json!({"vault_id": h.vault_id, "path": h.secret_path}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The org's cache epoch as the read caches hold it, read from the database (and the
    /// caches started at it) when they hold none.
    async fn cached_epoch(&self, org: &str) -> Result<i64> {
        let cache = &self.0.read_cache;
        match cache.epoch(org) {
            Some(e) => Ok(e),
            None => {
                let e = crate::store::cache_epochs::current(self.store().pool(), org).await?;
                cache.begin(org, e);
                Ok(e)
            }
        }
    }

    /// Loads the org's honeytokens from the database and keeps them in the read caches under
    /// `epoch` (read before the load, so a change after it is caught by the epoch).
    pub(crate) async fn load_traps(&self, org: &str, epoch: i64) -> Result<Arc<Traps>> {
        let traps: Arc<Traps> = Arc::new(
            store::traps(self.store().pool(), org)
                .await?
                .into_iter()
                .collect(),
        );
        self.0.read_cache.put_honeytokens(org, epoch, traps.clone());
        Ok(traps)
    }

    /// The trap at `path` of `vault`, if there is one, and the cache epoch the answer holds
    /// under. A read that finds none must commit under that epoch, so that a honeytoken
    /// created meanwhile (elsewhere) makes the commit stale instead of being missed. With the
    /// read caches off, the database is asked and the epoch is `None`.
    pub(crate) async fn trap_for_read(
        &self,
        org: &str,
        vault: &str,
        path: &str,
    ) -> Result<(Option<Trap>, Option<i64>)> {
        let cache = &self.0.read_cache;
        if !cache.enabled() {
            let trap = store::trap_at(self.store().pool(), vault, path).await?;
            return Ok((trap, None));
        }
        let epoch = match cache.epoch_and_trap(org, vault, path) {
            Some((epoch, Some(hit))) => return Ok((hit, Some(epoch))),
            Some((epoch, None)) => epoch,
            None => self.cached_epoch(org).await?,
        };
        let traps = self.load_traps(org, epoch).await?;
        Ok((traps.get(vault, path).cloned(), Some(epoch)))
    }

    /// The trap at `path` of `vault`, read from the database: for a read whose cached answer
    /// turned out stale.
    pub(crate) async fn trap_in_database(&self, vault: &str, path: &str) -> Result<Option<Trap>> {
        store::trap_at(self.store().pool(), vault, path).await
    }

    /// The org's honeytokens for a listing: from the read caches (no query once loaded), or
    /// from the database while the caches are off. A honeytoken created in another process
    /// a moment ago may be missed until its invalidation arrives.
    pub(crate) async fn traps_for_listing(&self, org: &str) -> Result<Arc<Traps>> {
        let cache = &self.0.read_cache;
        if !cache.enabled() {
            return Ok(Arc::new(
                store::traps(self.store().pool(), org)
                    .await?
                    .into_iter()
                    .collect(),
            ));
        }
        let epoch = self.cached_epoch(org).await?;
        match cache.honeytokens(org, epoch) {
            Some(t) => Ok(t),
            None => self.load_traps(org, epoch).await,
        }
    }

    /// Records that `reader` touched the honeytoken `trap` at `path` of `v`: see
    /// [`Core::spring_traps`].
    pub(crate) async fn spring_for_reader(
        &self,
        reader: &Reader,
        v: &Vault,
        trap: Trap,
        path: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let actor_id = reader.template.actor_id.as_deref();
        self.spring_traps(
            v,
            &[(trap, path)],
            reader.template.actor_type,
            actor_id,
            Touch::of(reader),
            ctx,
        )
        .await
    }

    /// Records that the actor (`actor_type`/`actor_id`: an agent, a user, or an anonymous
    /// link holder) touched the honeytokens `hits` (trap and path) of `v`, in one transaction:
    /// each one's counters and a `risk.honeytoken_triggered` event, with the request's IP and
    /// user agent, and, when one of them says `deactivate` and the actor is an agent, the
    /// agent's deactivation. Returns only once that has committed, so the caller hands out
    /// nothing unrecorded; then mails the org's owners and admins in the background (a mail
    /// failure is logged, never returned). Honeytokens deleted meanwhile are skipped.
    ///
    /// The events are the system's, naming the actor in `details.principal_type` and
    /// `details.principal_id`: an agent sees its own audit events, and must not find the
    /// alarm among them.
    pub(crate) async fn spring_traps(
        &self,
        v: &Vault,
        hits: &[(Trap, &str)],
        actor_type: &'static str,
        actor_id: Option<&str>,
        touch: Touch,
        ctx: &RequestContext,
    ) -> Result<()> {
        let now = self.now();
        let (mut tx, head) = self.begin_audited(&v.org_id).await?;
        let mut sprung: Vec<&(Trap, &str)> = Vec::with_capacity(hits.len());
        for hit in hits {
            if store::note_trigger(&mut tx, &hit.0.id, now).await? {
                sprung.push(hit);
            }
        }
        if sprung.is_empty() {
            return Ok(());
        }
        let system = |action, resource_type, resource_id, details| AuditEvent {
            org_id: v.org_id.clone(),
            actor_type: "system",
            actor_id: None,
            action,
            resource_type,
            resource_id,
            outcome: "success",
            details,
        };
        let mut head = Some(head);
        for (trap, path) in &sprung {
            let event = system(
                TRIGGERED,
                "honeytoken",
                Some(trap.id.clone()),
                json!({
                    "honeytoken_id": trap.id, "vault_id": v.id, "path": path,
                    "access": touch.as_str(), "principal_type": actor_type,
                    "principal_id": actor_id, "on_trigger": trap.on_trigger.as_str(),
                }),
            );
            match head.take() {
                Some(h) => self.write_audit(&mut tx, h, ctx, event).await?,
                None => self.append_audit(&mut tx, ctx, event).await?,
            }
        }
        let deactivating = sprung
            .iter()
            .find(|(t, _)| t.on_trigger == OnTrigger::Deactivate);
        let mut deactivated = false;
        if let (Some((trap, _)), "agent", Some(agent_id)) = (deactivating, actor_type, actor_id) {
            deactivated = self
                .deactivate_agent_in(
                    &mut tx,
                    ctx,
                    agent_id,
                    system(
                        "agent.deactivate",
                        "agent",
                        None,
                        json!({"reason": "honeytoken", "honeytoken_id": trap.id}),
                    ),
                )
                .await?;
        }
        tx.commit().await?;

        let alert = TriggerMail {
            vault: v.clone(),
            paths: sprung.iter().map(|(_, p)| (*p).to_owned()).collect(),
            honeytokens: sprung.iter().map(|(t, _)| t.id.clone()).collect(),
            touch,
            actor_type,
            actor_id: actor_id.map(str::to_owned),
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            at: now,
            deactivated,
        };
        let core = self.clone();
        tokio::spawn(async move {
            if let Err(e) = core.mail_trigger(&alert).await {
                tracing::warn!(error = %e, org = %alert.vault.org_id, "honeytoken mail failed");
            }
        });
        Ok(())
    }

    /// Mails the trigger to each owner and admin of the org. Ids, paths, names and the
    /// request's address and user agent; never a value.
    async fn mail_trigger(&self, m: &TriggerMail) -> Result<()> {
        if self.config().mailer.is_none() {
            return Ok(());
        }
        let pool = self.store().pool();
        let org = &m.vault.org_id;
        let who = match (m.actor_type, &m.actor_id) {
            ("agent", Some(id)) => match crate::store::agents::get(pool, org, id).await? {
                Some(a) => format!("agent {} ({id})", a.name),
                None => format!("agent {id}"),
            },
            (kind, Some(id)) => format!("{kind} {id}"),
            (kind, None) => kind.to_owned(),
        };
        let taken = if m.deactivated {
            "The agent was deactivated: its key and tokens no longer work."
        } else {
            "None (alert only)."
        };
        let body = format!(
            "A honeytoken in your Talon organization was touched.\n\n\
             Vault: {} ({})\nPath: {}\nHoneytoken: {}\nAccess: {}\nBy: {who}\n\
             From IP: {}\nUser agent: {}\nAt: {}\nAction taken: {taken}\n\n\
             The audit log has the event (risk.honeytoken_triggered): {}/audit\n",
            m.vault.name,
            m.vault.id,
            m.paths.join(", "),
            m.honeytokens.join(", "),
            m.touch.as_str(),
            m.ip.as_deref().unwrap_or("unknown"),
            m.user_agent.as_deref().unwrap_or("unknown"),
            rfc3339(m.at),
            self.config().public_url,
        );
        let admins = crate::store::org::members(pool, org)
            .await?
            .into_iter()
            .filter(|u| Role::parse(&u.role).is_ok_and(Role::is_org_admin));
        for u in admins {
            if let Err(e) = self
                .send_mail(&u.email, "Talon: a honeytoken was triggered", &body)
                .await
            {
                tracing::warn!(error = %e, user = %u.id, "honeytoken mail not sent");
            }
        }
        Ok(())
    }
}

/// What the trigger mail says.
struct TriggerMail {
    vault: Vault,
    paths: Vec<String>,
    honeytokens: Vec<String>,
    touch: Touch,
    actor_type: &'static str,
    actor_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    at: i64,
    deactivated: bool,
}

impl From<&Honeytoken> for talon_api::honeytokens::HoneytokenResponse {
    fn from(h: &Honeytoken) -> Self {
        talon_api::honeytokens::HoneytokenResponse {
            id: h.id.clone(),
            vault_id: h.vault_id.clone(),
            org_id: h.org_id.clone(),
            secret_path: h.secret_path.clone(),
            created_by: h.created_by.clone(),
            created_at: rfc3339(h.created_at),
            notes: h.notes.clone(),
            triggered_count: h.triggered_count,
            last_triggered_at: h.last_triggered_at.map(rfc3339),
            on_trigger: h.on_trigger.as_str().to_owned(),
        }
    }
}
