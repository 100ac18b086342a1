//! Vault KEK rotation. A rotation creates the next KEK version in the keystore and switches
//! the vault to it in one audited transaction, so every later write wraps its DEK under the
//! new KEK while older versions stay readable under the old one (each version records its own
//! KEK label). A background job then re-wraps the old DEKs under the new KEK, a batch per
//! transaction, and once none is left destroys the old KEK in the keystore.
//!
//! Writes read the vault's KEK label after taking the org's audit sequence, as the rotation's
//! switch does, so a write either commits before the switch (and its version is re-wrapped)
//! or sees the new label.

use super::audit::AuditEvent;
use super::{Core, Principal, RequestContext};
use crate::envelope::Binding;
use crate::error::{Error, Result};
use crate::keystore::KeyStoreError;
use crate::store::key_rotation::{self as store, RetiredKek};
use serde_json::json;
use talon_api::Scope;

/// Pause between the last re-wrap batch and the old KEK's destruction.
const DESTROY_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// A vault's key state.
#[derive(Debug, Clone)]
pub struct KeyStatus {
    /// The vault.
    pub vault_id: String,
    /// The version of the KEK now in use (the number ending its label).
    pub kek_version: i64,
    /// Retired KEKs: version, versions still wrapped under it, destruction time.
    pub retired: Vec<(i64, i64, Option<i64>)>,
}

/// The version number at the end of a KEK label (`talon-kek:<vault>:<n>`).
pub fn kek_version(label: &str) -> i64 {
    label
        .rsplit(':')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

fn system_event(
    org_id: &str,
    vault_id: &str,
    action: &'static str,
    details: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        org_id: org_id.to_owned(),
        actor_type: "system",
        actor_id: None,
        action,
        resource_type: "vault",
        resource_id: Some(vault_id.to_owned()),
        outcome: "success",
        details,
    }
}

impl Core {
    /// Rotates the vault's KEK (owners and admins) and starts the re-wrap job.
    pub async fn rotate_vault_key(
        &self,
        p: &Principal,
        vault_id: &str,
        ctx: &RequestContext,
    ) -> Result<KeyStatus> {
        p.require_scope(Scope::VaultsWrite)?;
        let (_, role) = p.require_human()?;
        if !role.is_org_admin() {
            return Err(Error::Forbidden(
                "Only owners and admins can rotate a vault's key".into(),
            ));
        }
        let v = self.vault_in_org(p, vault_id).await?;
        let old = v.kek_label.clone();
        let from = kek_version(&old);
        let new = format!("talon-kek:{}:{}", v.id, from + 1);
        let label = new.clone();
        self.keys(move |k| k.create_kek(&label)).await??;
        let switched = async {
            let mut tx = self.store().begin().await?;
            self.append_audit(
                &mut tx,
                ctx,
                AuditEvent::by(
                    p,
                    "vault.key_rotated",
                    "vault",
                    Some(v.id.clone()),
                    json!({"from_kek_version": from, "to_kek_version": from + 1}),
                ),
            )
            .await?;
            if !store::switch_label(&mut tx, &v.id, &old, &new).await? {
                return Err(Error::Conflict(
                    "The vault's key was rotated concurrently; try again".into(),
                ));
            }
            store::insert_retired(
                &mut tx,
                &RetiredKek {
                    kek_label: old.clone(),
                    vault_id: v.id.clone(),
                    org_id: v.org_id.clone(),
                    replaced_by: new.clone(),
                    retired_at: self.now(),
                    destroyed_at: None,
                },
            )
            .await?;
            tx.commit().await?;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = switched {
            let label = new;
            if let Ok(Err(d)) = self.keys(move |k| k.destroy_kek(&label)).await {
                tracing::error!(error = %d, vault = %v.id, "could not destroy the unused new KEK");
            }
            return Err(e);
        }
        let job = self.clone();
        let retired_label = old;
        tokio::spawn(async move { job.run_rewrap(&retired_label).await });
        self.vault_key_status(p, vault_id).await
    }

    /// The vault's KEK version and its retired KEKs with their re-wrap progress.
    pub async fn vault_key_status(&self, p: &Principal, vault_id: &str) -> Result<KeyStatus> {
        p.require_human()?;
        let v = self.vault_in_org(p, vault_id).await?;
        if !super::vaults::is_vault_admin(p, &v) {
            return Err(Error::Forbidden(
                "Only a vault administrator can see the vault's key state".into(),
            ));
        }
        let mut retired = Vec::new();
        for k in store::for_vault(self.store().pool(), &v.id).await? {
            let left = store::count_under(self.store().pool(), &k.kek_label).await?;
            retired.push((kek_version(&k.kek_label), left, k.destroyed_at));
        }
        Ok(KeyStatus {
            vault_id: v.id,
            kek_version: kek_version(&v.kek_label),
            retired,
        })
    }

    /// Resumes the re-wrap of every retired KEK not yet destroyed (after a restart).
    pub async fn resume_key_rotations(&self) -> Result<()> {
        for k in store::pending(self.store().pool()).await? {
            let job = self.clone();
            tokio::spawn(async move { job.run_rewrap(&k.kek_label).await });
        }
        Ok(())
    }

    async fn run_rewrap(&self, label: &str) {
        let mut delay = std::time::Duration::from_millis(200);
        loop {
            match self.rewrap_all(label).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, kek = %label, "KEK re-wrap interrupted; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(60));
                }
            }
        }
    }

    /// Re-wraps every DEK under the retired KEK `label`, a batch per transaction (each batch
    /// audited), then destroys the KEK in the keystore and records that (audited).
    pub(crate) async fn rewrap_all(&self, label: &str) -> Result<()> {
        let Some(k) = store::pending(self.store().pool())
            .await?
            .into_iter()
            .find(|k| k.kek_label == label)
        else {
            return Ok(());
        };
        let batch = self.config().rewrap_batch.max(1);
        loop {
            let mut tx = self.store().begin().await?;
            let rows = store::wrapped_under(&mut tx, &k.kek_label, batch).await?;
            if rows.is_empty() {
                break;
            }
            let (old, new, org, vault) = (
                k.kek_label.clone(),
                k.replaced_by.clone(),
                k.org_id.clone(),
                k.vault_id.clone(),
            );
            let jobs = rows.clone();
            let rewrapped = self
                .keys(move |ks| {
                    jobs.iter()
                        .map(|r| {
                            let aad = Binding {
                                org_id: &org,
                                vault_id: &vault,
                                secret_id: &r.secret_id,
                                path: &r.path,
                                version: r.version,
                            }
                            .associated_data();
                            let dek = ks.unwrap_dek(&old, &r.wrapped_dek, &aad)?;
                            ks.wrap_dek(&new, &dek, &aad)
                        })
                        .collect::<Result<Vec<_>, KeyStoreError>>()
                })
                .await??;
            let mut moved = 0;
            for (r, wrapped) in rows.iter().zip(rewrapped) {
                if store::rewrap(
                    &mut tx,
                    &r.secret_id,
                    r.version,
                    &k.kek_label,
                    &k.replaced_by,
                    &wrapped,
                )
                .await?
                {
                    moved += 1;
                }
            }
            self.append_audit(
                &mut tx,
                &RequestContext::default(),
                system_event(
                    &k.org_id,
                    &k.vault_id,
                    "vault.key_rewrapped",
                    json!({"from_kek_version": kek_version(&k.kek_label),
                           "to_kek_version": kek_version(&k.replaced_by), "versions": moved}),
                ),
            )
            .await?;
            tx.commit().await?;
        }
        // A read that loaded a version just before its batch committed may still be about to
        // unwrap under the old KEK; give it a moment before the key goes.
        tokio::time::sleep(DESTROY_GRACE).await;
        let old = k.kek_label.clone();
        match self.keys(move |ks| ks.destroy_kek(&old)).await? {
            Ok(()) | Err(KeyStoreError::KeyNotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let mut tx = self.store().begin().await?;
        store::mark_destroyed(&mut tx, &k.kek_label, self.now()).await?;
        self.append_audit(
            &mut tx,
            &RequestContext::default(),
            system_event(
                &k.org_id,
                &k.vault_id,
                "vault.key_destroyed",
                json!({"kek_version": kek_version(&k.kek_label)}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kek_versions_come_from_the_label() {
        assert_eq!(kek_version("talon-kek:abc:1"), 1);
        assert_eq!(kek_version("talon-kek:abc:12"), 12);
        assert_eq!(kek_version("odd"), 1);
    }
}
