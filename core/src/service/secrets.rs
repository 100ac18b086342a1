//! Secrets: write a new version, read the latest value, list metadata, soft-delete.
//! Check order for a value read: vault (404) → binding, scope, policy (403, before the path is
//! looked up so a denial reveals nothing) → path (404) → state (410) → decrypt → count → audit.

use super::audit::AuditEvent;
use super::honeytokens::Touch;
use super::read_commit::Committed;
use super::vaults::{is_vault_admin, rules_from, within_scope_ceiling};
use super::{Core, Principal, RequestContext};
use crate::envelope::{self, Binding, EnvelopeError, ALGORITHM};
use crate::error::{Error, Result};
use crate::material::SecretValue;
use crate::model::SecretVersion;
use crate::model::Vault;
use crate::policy::{self, Decision, Permission};
use crate::secret_path::SecretPath;
use crate::store::policies;
use crate::store::secrets::{self as secret_store, SealedVersion};
use serde_json::{json, Value};
use talon_api::{Scope, SecretType};

const MAX_VALUE_BYTES: usize = 256 * 1024;
const MAX_METADATA_BYTES: usize = 16 * 1024;

/// Input of `PUT …/secrets/{path}`.
#[derive(Debug)]
pub struct PutSecret {
    /// The plaintext to seal, at most 256 KiB.
    pub value: SecretValue,
    /// The kind of material (`generic` when absent; see `SecretType`).
    pub secret_type: Option<String>,
    /// Free JSON object stored in the clear with the version, at most 16 KiB.
    pub metadata: Option<Value>,
    /// When the version stops being readable, unix milliseconds.
    pub expires_at: Option<i64>,
    /// How many reads the version allows, at least 1; absent means no limit.
    pub max_access_count: Option<i64>,
}

/// A value read: the version's metadata (with this read counted) and the plaintext.
#[derive(Debug)]
pub struct SecretRead {
    /// The version read, with `access_count` including this read.
    pub meta: SecretVersion,
    /// The decrypted value.
    pub value: SecretValue,
    /// The share's access count after this read, for a read through a share.
    pub share_access_count: Option<i64>,
}

/// Whether the version's metadata marks the secret use-only (`"use_only": true`): agents
/// may have it used for them, never read it, whatever their policies say.
pub(crate) fn is_use_only(meta: &SecretVersion) -> bool {
    meta.metadata.contains("use_only")
        && serde_json::from_str::<serde_json::Value>(&meta.metadata)
            .is_ok_and(|m| m.get("use_only") == Some(&serde_json::Value::Bool(true)))
}

/// The secret type of a write (`generic` when absent), or a 400 naming `type`.
pub(crate) fn check_secret_type(secret_type: Option<String>) -> Result<String> {
    let secret_type = secret_type.unwrap_or_else(|| "generic".into());
    if SecretType::parse(&secret_type).is_err() {
        return Err(Error::invalid(
            "type",
            format!(
                "Unknown secret type '{secret_type}' (expected one of {})",
                SecretType::joined(", ")
            ),
        ));
    }
    Ok(secret_type)
}

/// Refuses (400 naming `value`) a value that is empty or over 256 KiB.
pub(crate) fn check_value(value: &SecretValue) -> Result<()> {
    let value_len = value.expose_secret().len();
    if value_len == 0 || value_len > MAX_VALUE_BYTES {
        return Err(Error::invalid("value", "value must be 1 byte to 256 KiB"));
    }
    Ok(())
}

/// Who reads a value and how: directly (`secret.read` / `secret.gone`) or through a share
/// (`share.access`, possibly by an anonymous link holder).
pub(crate) struct Reader {
    /// Actor and org of the events; action, resource and details are filled per read.
    pub template: AuditEvent,
    pub share_id: Option<String>,
    /// Whether the reader is an agent, which a use-only secret refuses.
    pub agent: bool,
    /// Whether the value is used for the reader (a binding's execution, audited as
    /// `secret.use`) rather than handed to it.
    pub used: bool,
}

impl Reader {
    pub(crate) fn direct(p: &Principal) -> Self {
        Reader {
            template: AuditEvent::by(p, "secret.read", "secret", None, json!({})),
            share_id: None,
            agent: matches!(p, Principal::Agent { .. }),
            used: false,
        }
    }

    /// A read whose value is injected into a request made for `p`, never returned to it.
    pub(crate) fn for_use(p: &Principal) -> Self {
        Reader {
            used: true,
            ..Reader::direct(p)
        }
    }

    fn event(&self, meta: &SecretVersion, outcome: &'static str) -> AuditEvent {
        let mut e = self.template.clone();
        let details =
            json!({"vault_id": meta.vault_id, "path": meta.path, "version": meta.version});
        match &self.share_id {
            Some(share) => {
                e.action = "share.access";
                e.resource_type = "share";
                e.resource_id = Some(share.clone());
                e.details = json!({"secret_id": meta.secret_id, "vault_id": meta.vault_id, "path": meta.path, "version": meta.version});
            }
            None => {
                e.action = match (outcome, self.used) {
                    ("success", false) => "secret.read",
                    ("success", true) => "secret.use",
                    _ => "secret.gone",
                };
                e.resource_type = "secret";
                e.resource_id = Some(meta.secret_id.clone());
                e.details = details;
            }
        }
        e.outcome(outcome)
    }
}

impl Core {
    /// Writes a new version at `path` (version 1 of a new secret when none is live).
    pub async fn put_secret(
        &self,
        p: &Principal,
        vault_id: &str,
        path: &SecretPath,
        input: PutSecret,
        ctx: &RequestContext,
    ) -> Result<SecretVersion> {
        p.require_scope(Scope::SecretsWrite)?;
        let v = self.vault_in_org(p, vault_id).await?;
        let secret_type = check_secret_type(input.secret_type)?;
        check_value(&input.value)?;
        let metadata = match input.metadata {
            None | Some(Value::Null) => json!({}),
            Some(m @ Value::Object(_)) => m,
            Some(_) => return Err(Error::invalid("metadata", "metadata must be an object")),
        };
        let metadata = metadata.to_string();
        if metadata.len() > MAX_METADATA_BYTES {
            return Err(Error::invalid(
                "metadata",
                "metadata must be at most 16 KiB",
            ));
        }
        if input.max_access_count.is_some_and(|n| n < 1) {
            return Err(Error::invalid(
                "max_access_count",
                "max_access_count must be at least 1",
            ));
        }
        self.authorize_path(p, &v, path.as_str(), Permission::Write, ctx)
            .await?;
        self.write_version(
            p,
            &v,
            path,
            input.value,
            secret_type,
            metadata,
            input.expires_at,
            input.max_access_count,
            "secret.write",
            ctx,
        )
        .await
    }

    /// Seals and stores a new version at `path` (version 1 of a new secret when none is live)
    /// with its audit event, in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn write_version(
        &self,
        p: &Principal,
        v: &Vault,
        path: &SecretPath,
        value: SecretValue,
        secret_type: String,
        metadata: String,
        expires_at: Option<i64>,
        max_access_count: Option<i64>,
        action: &'static str,
        ctx: &RequestContext,
    ) -> Result<SecretVersion> {
        let (mut tx, head) = self.begin_audited(&v.org_id).await?;
        let row = self
            .write_version_in(
                &mut tx,
                p,
                v,
                path,
                value,
                secret_type,
                metadata,
                expires_at,
                max_access_count,
            )
            .await?;
        self.write_audit(
            &mut tx,
            head,
            ctx,
            AuditEvent::by(
                p,
                action,
                "secret",
                Some(row.secret_id.clone()),
                json!({"vault_id": v.id, "path": row.path, "version": row.version}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Seals and stores a new version at `path` inside `tx`, which [`Core::begin_audited`]
    /// opened; the caller writes the audit event and commits.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn write_version_in(
        &self,
        tx: &mut crate::store::Tx,
        p: &Principal,
        v: &Vault,
        path: &SecretPath,
        value: SecretValue,
        secret_type: String,
        metadata: String,
        expires_at: Option<i64>,
        max_access_count: Option<i64>,
    ) -> Result<SecretVersion> {
        let now = self.now();
        // Read after the org's audit sequence is taken, like a KEK rotation's switch: this
        // write either commits before the switch (and gets re-wrapped) or sees the new KEK.
        let kek_label = crate::store::key_rotation::current_label(tx, &v.id)
            .await?
            .ok_or(Error::NotFound("Vault"))?;
        let (secret_id, version) = match secret_store::live_secret(tx, &v.id, path.as_str()).await?
        {
            Some((id, latest)) => (id, latest + 1),
            None => {
                self.check_limit(tx, &v.org_id, crate::store::billing::Counted::Secrets)
                    .await?;
                let id = uuid::Uuid::new_v4().to_string();
                secret_store::insert_secret(tx, &id, &v.id, path.as_str(), now).await?;
                (id, 1)
            }
        };
        let row = SecretVersion {
            secret_id: secret_id.clone(),
            vault_id: v.id.clone(),
            path: path.as_str().to_owned(),
            deleted: false,
            version,
            secret_type,
            metadata,
            expires_at,
            max_access_count,
            access_count: 0,
            is_disabled: false,
            created_by: p.subject(),
            created_at: now,
            kek_label: kek_label.clone(),
        };
        let sealed = {
            let (org, vault, sid, pth, kek) = (
                v.org_id.clone(),
                v.id.clone(),
                secret_id.clone(),
                row.path.clone(),
                kek_label,
            );
            self.keys(move |k| {
                let b = Binding {
                    org_id: &org,
                    vault_id: &vault,
                    secret_id: &sid,
                    path: &pth,
                    version,
                };
                envelope::seal(k, &kek, &b, &value)
            })
            .await?
            .map_err(envelope_error)?
        };
        secret_store::insert_version(tx, &row, &sealed, ALGORITHM).await?;
        secret_store::set_latest(tx, &secret_id, version).await?;
        Ok(row)
    }

    /// Reads the latest readable version's value. The read is counted and audited in one
    /// transaction; if that transaction fails, no value is returned (fail closed).
    pub async fn get_secret(
        &self,
        p: &Principal,
        vault_id: &str,
        path: &SecretPath,
        ctx: &RequestContext,
    ) -> Result<SecretRead> {
        p.require_scope(Scope::SecretsRead)?;
        if self.0.read_cache.enabled() {
            if let Some(read) = self.get_secret_cached(p, vault_id, path, ctx).await? {
                return Ok(read);
            }
        }
        let v = self.vault_in_org(p, vault_id).await?;
        self.authorize_path(p, &v, path.as_str(), Permission::Read, ctx)
            .await?;
        let found = secret_store::latest_for_read(self.store().pool(), &v.id, path.as_str())
            .await?
            .ok_or(Error::NotFound("Secret"))?;
        self.read_found(&Reader::direct(p), &v, found, ctx).await
    }

    /// A read answered from the read caches: only a read that is allowed, readable and
    /// committed under the epoch the caches were loaded at. Everything else (a denial, a
    /// missing or gone secret, a used-up version, a moved epoch) is `None`, and the caller
    /// decides it again from the database, which also audits any refusal.
    async fn get_secret_cached(
        &self,
        p: &Principal,
        vault_id: &str,
        path: &SecretPath,
        ctx: &RequestContext,
    ) -> Result<Option<SecretRead>> {
        let cache = &self.0.read_cache;
        let org = p.org_id();
        let epoch = match cache.epoch(org) {
            Some(e) => e,
            None => {
                let e = crate::store::cache_epochs::current(self.store().pool(), org).await?;
                cache.begin(org, e);
                e
            }
        };
        let v = match cache.vault(org, epoch, vault_id) {
            Some(v) => v,
            None => match crate::store::vaults::get(self.store().pool(), org, vault_id).await? {
                Some(v) => {
                    cache.put_vault(org, epoch, &v);
                    v
                }
                None => return Ok(None),
            },
        };
        if let Principal::Agent { vault_ids, .. } = p {
            if !vault_ids.is_empty() && !vault_ids.iter().any(|id| id == &v.id) {
                return Ok(None);
            }
        }
        let rules = match cache.rules(org, epoch, &v.id, p.kind(), p.id()) {
            Some(r) => r,
            None => {
                let r = std::sync::Arc::new(self.rules_for(p, &v).await?);
                cache.put_rules(org, epoch, &v.id, p.kind(), p.id(), r.clone());
                r
            }
        };
        if !self.path_allowed(p, &v, &rules, path.as_str(), Permission::Read, ctx) {
            return Ok(None);
        }
        // A honeytoken is read the uncached way, whose `read_found` records the trigger. Any
        // other path costs this one lookup (the org's honeytokens are cached by epoch too).
        let trapped = match cache.trap_at(org, epoch, &v.id, path.as_str()) {
            Some(hit) => hit.is_some(),
            None => self
                .load_traps(org, epoch)
                .await?
                .get(&v.id, path.as_str())
                .is_some(),
        };
        if trapped {
            return Ok(None);
        }
        let found = match cache.latest(org, epoch, &v.id, path.as_str()) {
            Some(f) => f,
            None => {
                match secret_store::latest_for_read(self.store().pool(), &v.id, path.as_str())
                    .await?
                {
                    Some(f) => {
                        cache.put_latest(org, epoch, &f);
                        f
                    }
                    None => return Ok(None),
                }
            }
        };
        if gone_reason(&found.meta, self.now()).is_some()
            || (matches!(p, Principal::Agent { .. }) && is_use_only(&found.meta))
        {
            return Ok(None);
        }
        let mut meta = found.meta;
        let value = self.open_version(&v, &meta, found.sealed).await?;
        let reader = Reader::direct(p);
        let event = reader.event(&meta, "success");
        match self
            .commit_read(
                meta.secret_id.clone(),
                meta.version,
                None,
                event,
                Some(epoch),
                ctx,
            )
            .await?
        {
            Committed::Read(count) => {
                meta.access_count = count.version;
                Ok(Some(SecretRead {
                    meta,
                    value,
                    share_access_count: None,
                }))
            }
            Committed::UsedUp | Committed::Stale => Ok(None),
        }
    }

    /// State checks (410), decrypt, count and audit for a version found for reading. The
    /// count (and the share's, for a read through a share) and the audit event commit together
    /// before the value is returned.
    ///
    /// A honeytoken's path answers exactly like any other, but its trigger (see
    /// `honeytokens.rs`) is committed first: if it cannot be recorded, nothing is returned. A
    /// read of any other path commits under the cache epoch its honeytoken lookup was made at;
    /// if a change moved the epoch meanwhile, the database is asked before the read commits.
    pub(crate) async fn read_found(
        &self,
        reader: &Reader,
        v: &Vault,
        found: SealedVersion,
        ctx: &RequestContext,
    ) -> Result<SecretRead> {
        let mut meta = found.meta;
        let (trap, epoch) = self
            .trap_for_read(&v.org_id, &meta.vault_id, &meta.path)
            .await?;
        let sprung = trap.is_some();
        if let Some(trap) = trap {
            self.spring_for_reader(reader, v, trap, &meta.path, ctx)
                .await?;
        }
        if reader.agent && !reader.used && is_use_only(&meta) {
            let mut e = reader.event(&meta, "denied");
            e.action = "secret.denied";
            e.details["reason"] = json!("use_only");
            self.record(ctx, e).await?;
            return Err(Error::use_only(&meta.path));
        }
        if let Some(why) = gone_reason(&meta, self.now()) {
            self.record_gone(reader, &meta, ctx).await?;
            return Err(Error::Gone(why.into()));
        }

        let value = self.open_version(v, &meta, found.sealed).await?;

        let event = reader.event(&meta, "success");
        let mut committed = self
            .commit_read(
                meta.secret_id.clone(),
                meta.version,
                reader.share_id.clone(),
                event.clone(),
                if sprung { None } else { epoch },
                ctx,
            )
            .await?;
        if let Committed::Stale = committed {
            // Honeytokens may have changed since the lookup: ask the database, then commit as
            // any read decided from it does.
            if let Some(trap) = self.trap_in_database(&meta.vault_id, &meta.path).await? {
                self.spring_for_reader(reader, v, trap, &meta.path, ctx)
                    .await?;
            }
            committed = self
                .commit_read(
                    meta.secret_id.clone(),
                    meta.version,
                    reader.share_id.clone(),
                    event,
                    None,
                    ctx,
                )
                .await?;
        }
        let count = match committed {
            Committed::Read(count) => count,
            Committed::UsedUp | Committed::Stale => {
                self.record_gone(reader, &meta, ctx).await?;
                return Err(Error::Gone(
                    "The secret or the share has reached its maximum access count".into(),
                ));
            }
        };
        meta.access_count = count.version;
        Ok(SecretRead {
            meta,
            value,
            share_access_count: count.share,
        })
    }

    /// Decrypts a version's sealed value.
    pub(crate) async fn open_version(
        &self,
        v: &Vault,
        meta: &SecretVersion,
        sealed: crate::envelope::Sealed,
    ) -> Result<SecretValue> {
        let (org, vault, sid, pth, kek, version) = (
            v.org_id.clone(),
            v.id.clone(),
            meta.secret_id.clone(),
            meta.path.clone(),
            meta.kek_label.clone(),
            meta.version,
        );
        self.keys(move |k| {
            let b = Binding {
                org_id: &org,
                vault_id: &vault,
                secret_id: &sid,
                path: &pth,
                version,
            };
            envelope::open(k, &kek, &b, &sealed)
        })
        .await?
        .map_err(envelope_error)
    }

    async fn record_gone(
        &self,
        reader: &Reader,
        meta: &SecretVersion,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.record(ctx, reader.event(meta, "failure")).await
    }

    /// Latest-version metadata of the live secrets the caller may read (or read once a person
    /// approves), sorted by path. Never values.
    ///
    /// When the caller is an agent and the listing shows a honeytoken's path, the trigger is
    /// recorded before the listing is returned (which is otherwise unchanged). A human's
    /// listing never triggers: owners and admins browsing their own vault raise no alarm.
    pub async fn list_secrets(
        &self,
        p: &Principal,
        vault_id: &str,
        prefix: &str,
        ctx: &RequestContext,
    ) -> Result<Vec<SecretVersion>> {
        p.require_scope(Scope::SecretsRead)?;
        let v = self.vault_in_org(p, vault_id).await?;
        let admin = is_vault_admin(p, &v);
        let rows = policies::for_principal(self.store().pool(), &v.id, p.kind(), p.id()).await?;
        let rules = rules_from(&rows)?;
        let now = self.now();
        if !admin
            && !rules.iter().any(|r| {
                r.effect == crate::policy::Effect::Allow && r.expires_at_ms.is_none_or(|e| e > now)
            })
        {
            return Err(Error::Forbidden("You have no access to this vault".into()));
        }
        let ip = ctx.ip_addr();
        let all = secret_store::list_latest(self.store().pool(), &v.id, prefix).await?;
        let listed: Vec<SecretVersion> = all
            .into_iter()
            .filter(|s| {
                within_scope_ceiling(p, &s.path)
                    && policy::evaluate(
                        &rules,
                        admin,
                        &policy::Request {
                            path: &s.path,
                            permission: Permission::Read,
                            now_ms: now,
                            ip,
                        },
                    ) != Decision::Deny
            })
            .collect();
        if let Principal::Agent { agent_id, .. } = p {
            let traps = self.traps_for_listing(&v.org_id).await?;
            let hits: Vec<_> = listed
                .iter()
                .filter_map(|s| {
                    traps
                        .get(&v.id, &s.path)
                        .map(|t| (t.clone(), s.path.as_str()))
                })
                .collect();
            if !hits.is_empty() {
                self.spring_traps(&v, &hits, "agent", Some(agent_id), Touch::List, ctx)
                    .await?;
            }
        }
        Ok(listed)
    }

    /// Soft-deletes the live secret at the path and all its versions.
    pub async fn delete_secret(
        &self,
        p: &Principal,
        vault_id: &str,
        path: &SecretPath,
        ctx: &RequestContext,
    ) -> Result<()> {
        p.require_scope(Scope::SecretsWrite)?;
        let v = self.vault_in_org(p, vault_id).await?;
        self.authorize_path(p, &v, path.as_str(), Permission::Delete, ctx)
            .await?;
        let (mut tx, head) = self.begin_audited(&v.org_id).await?;
        let secret_id = secret_store::soft_delete(&mut tx, &v.id, path.as_str(), self.now())
            .await?
            .ok_or(Error::NotFound("Secret"))?;
        self.write_audit(
            &mut tx,
            head,
            ctx,
            AuditEvent::by(
                p,
                "secret.delete",
                "secret",
                Some(secret_id),
                json!({"vault_id": v.id, "path": path.as_str()}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Why a version cannot be read now, if it cannot.
fn gone_reason(meta: &SecretVersion, now: i64) -> Option<&'static str> {
    if meta.deleted {
        Some("Secret has been deleted")
    } else if meta.is_disabled {
        Some("This version of the secret is disabled")
    } else if meta.expires_at.is_some_and(|e| e <= now) {
        Some("Secret has expired")
    } else if meta
        .max_access_count
        .is_some_and(|m| meta.access_count >= m)
    {
        Some("Secret has reached its maximum access count")
    } else {
        None
    }
}

fn envelope_error(e: EnvelopeError) -> Error {
    match e {
        EnvelopeError::KeyStore(k) => k.into(),
        EnvelopeError::Tampered => {
            tracing::error!("stored ciphertext failed authentication");
            Error::Internal("ciphertext failed authentication".into())
        }
    }
}

/// A stored JSON object column as a value (`{}` when it does not parse).
fn json_object(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!({}))
}

impl From<&SecretVersion> for talon_api::secrets::SecretVersionResponse {
    fn from(s: &SecretVersion) -> Self {
        talon_api::secrets::SecretVersionResponse {
            id: s.secret_id.clone(),
            path: s.path.clone(),
            secret_type: s.secret_type.clone(),
            version: s.version,
            metadata: json_object(&s.metadata),
            created_at: crate::clock::rfc3339(s.created_at),
            expires_at: s.expires_at.map(crate::clock::rfc3339),
        }
    }
}

impl From<&SecretVersion> for talon_api::secrets::SecretMetadataResponse {
    fn from(s: &SecretVersion) -> Self {
        talon_api::secrets::SecretMetadataResponse {
            version: s.into(),
            is_disabled: s.is_disabled,
        }
    }
}

impl From<&SecretVersion> for talon_api::secrets::SecretDetailsResponse {
    fn from(s: &SecretVersion) -> Self {
        talon_api::secrets::SecretDetailsResponse {
            version: s.into(),
            vault_id: s.vault_id.clone(),
            max_access_count: s.max_access_count,
            access_count: s.access_count,
            is_disabled: s.is_disabled,
            created_by: s.created_by.clone(),
        }
    }
}

impl From<SecretRead> for talon_api::secrets::SecretResponse {
    fn from(read: SecretRead) -> Self {
        talon_api::secrets::SecretResponse {
            version: (&read.meta).into(),
            created_by: read.meta.created_by.clone(),
            value: read.value,
        }
    }
}
