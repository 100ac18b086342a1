//! Caches of what a secret read looks up and what rarely changes: vault rows, the parsed
//! policies of a principal on a vault, the latest version's sealed row of a path, and the
//! org's honeytoken paths (so a read of any other path needs no query to know it is not one).
//!
//! Exactness does not depend on any message arriving. Every change that can alter a decision
//! or a value raises its org's epoch in its own transaction (`cache_epochs`); entries are
//! loaded under the epoch read before them, and a read answered from them carries that epoch
//! to its group commit, which reads the org's epoch in the same transaction that counts and
//! audits the read. If the epoch moved, the read is not committed and runs again from the
//! database. Notifications (PostgreSQL `LISTEN/NOTIFY`, or the changing process itself) only
//! empty the caches early, so the next read does not pay for a retry; while the notification
//! connection is down nothing is cached at all.

use super::honeytokens::Traps;
use crate::model::Vault;
use crate::policy::Rule;
use crate::store::honeytokens::Trap;
use crate::store::secrets::SealedVersion;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Entries kept per org before its cache is emptied and starts again.
const MAX_ENTRIES_PER_ORG: usize = 4096;
/// Orgs kept before every cache is emptied.
const MAX_ORGS: usize = 1024;

type RulesKey = (String, &'static str, String);

#[derive(Default)]
struct OrgEntries {
    epoch: i64,
    vaults: HashMap<String, Vault>,
    rules: HashMap<RulesKey, Arc<Vec<Rule>>>,
    latest: HashMap<(String, String), SealedVersion>,
    /// Every honeytoken of the org, once loaded (one entry, however many there are).
    honeytokens: Option<Arc<Traps>>,
}

impl OrgEntries {
    fn len(&self) -> usize {
        self.vaults.len() + self.rules.len() + self.latest.len()
    }
}

/// The per-process read caches.
pub(crate) struct ReadCache {
    orgs: Mutex<HashMap<String, OrgEntries>>,
    /// False while invalidations cannot arrive (the notification connection is down).
    enabled: AtomicBool,
}

impl ReadCache {
    /// A cache that is on from the start (one process on SQLite) or off until the
    /// notification listener reports in (PostgreSQL).
    pub(crate) fn new(enabled: bool) -> ReadCache {
        ReadCache {
            orgs: Mutex::new(HashMap::new()),
            enabled: AtomicBool::new(enabled),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, OrgEntries>> {
        self.orgs.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Turns caching on or off; either way everything cached so far is dropped.
    pub(crate) fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Release);
        self.lock().clear();
    }

    /// Drops what is cached for `org`.
    pub(crate) fn invalidate(&self, org: &str) {
        self.lock().remove(org);
    }

    /// The epoch `org`'s entries were loaded under, if any are cached.
    pub(crate) fn epoch(&self, org: &str) -> Option<i64> {
        self.lock().get(org).map(|o| o.epoch)
    }

    /// Starts `org`'s cache at `epoch` (read from the database before any entry is loaded);
    /// an older or newer cache of the org is replaced.
    pub(crate) fn begin(&self, org: &str, epoch: i64) {
        let mut orgs = self.lock();
        if orgs.get(org).is_some_and(|o| o.epoch == epoch) {
            return;
        }
        if orgs.len() >= MAX_ORGS {
            orgs.clear();
        }
        orgs.insert(
            org.to_owned(),
            OrgEntries {
                epoch,
                ..OrgEntries::default()
            },
        );
    }

    fn with_org<T>(
        &self,
        org: &str,
        epoch: i64,
        f: impl FnOnce(&mut OrgEntries) -> T,
    ) -> Option<T> {
        let mut orgs = self.lock();
        let entries = orgs.get_mut(org).filter(|o| o.epoch == epoch)?;
        if entries.len() >= MAX_ENTRIES_PER_ORG {
            *entries = OrgEntries {
                epoch,
                ..OrgEntries::default()
            };
        }
        Some(f(entries))
    }

    pub(crate) fn vault(&self, org: &str, epoch: i64, id: &str) -> Option<Vault> {
        self.with_org(org, epoch, |o| o.vaults.get(id).cloned())
            .flatten()
    }

    pub(crate) fn put_vault(&self, org: &str, epoch: i64, v: &Vault) {
        self.with_org(org, epoch, |o| o.vaults.insert(v.id.clone(), v.clone()));
    }

    pub(crate) fn rules(
        &self,
        org: &str,
        epoch: i64,
        vault: &str,
        kind: &'static str,
        principal: &str,
    ) -> Option<Arc<Vec<Rule>>> {
        self.with_org(org, epoch, |o| {
            o.rules
                .get(&(vault.to_owned(), kind, principal.to_owned()))
                .cloned()
        })
        .flatten()
    }

    pub(crate) fn put_rules(
        &self,
        org: &str,
        epoch: i64,
        vault: &str,
        kind: &'static str,
        principal: &str,
        rules: Arc<Vec<Rule>>,
    ) {
        self.with_org(org, epoch, |o| {
            o.rules
                .insert((vault.to_owned(), kind, principal.to_owned()), rules)
        });
    }

    pub(crate) fn latest(
        &self,
        org: &str,
        epoch: i64,
        vault: &str,
        path: &str,
    ) -> Option<SealedVersion> {
        self.with_org(org, epoch, |o| {
            o.latest.get(&(vault.to_owned(), path.to_owned())).cloned()
        })
        .flatten()
    }

    /// The org's honeytokens as loaded under `epoch`; `None` when they are not loaded.
    pub(crate) fn honeytokens(&self, org: &str, epoch: i64) -> Option<Arc<Traps>> {
        self.with_org(org, epoch, |o| o.honeytokens.clone())
            .flatten()
    }

    /// The honeytoken at `path` of `vault` among those loaded under `epoch`: one lookup.
    /// `None` when they are not loaded, `Some(None)` when the path is not a honeytoken.
    pub(crate) fn trap_at(
        &self,
        org: &str,
        epoch: i64,
        vault: &str,
        path: &str,
    ) -> Option<Option<Trap>> {
        self.with_org(org, epoch, |o| {
            o.honeytokens.as_ref().map(|t| t.get(vault, path).cloned())
        })
        .flatten()
    }

    /// The epoch `org`'s entries were loaded under and, when its honeytokens are loaded, the
    /// one at `path` of `vault` (`Some(None)`: not a honeytoken): one lookup. `None` when
    /// nothing of the org is cached.
    pub(crate) fn epoch_and_trap(
        &self,
        org: &str,
        vault: &str,
        path: &str,
    ) -> Option<(i64, Option<Option<Trap>>)> {
        self.lock().get(org).map(|o| {
            let hit = o.honeytokens.as_ref().map(|t| t.get(vault, path).cloned());
            (o.epoch, hit)
        })
    }

    pub(crate) fn put_honeytokens(&self, org: &str, epoch: i64, traps: Arc<Traps>) {
        self.with_org(org, epoch, |o| o.honeytokens = Some(traps));
    }

    pub(crate) fn put_latest(&self, org: &str, epoch: i64, found: &SealedVersion) {
        self.with_org(org, epoch, |o| {
            o.latest.insert(
                (found.meta.vault_id.clone(), found.meta.path.clone()),
                found.clone(),
            )
        });
    }
}

impl super::Core {
    /// On PostgreSQL, listens for other processes' cache invalidations (and this one's) on
    /// `talon_cache`, and keeps the read caches off while that connection is down, emptying
    /// them whenever it drops. Nothing to do on SQLite.
    pub fn listen_for_invalidations(&self, database_url: &str) {
        use crate::store::cache_epochs::CHANNEL;
        use sqlx::postgres::PgListener;
        if self.store().backend() != crate::store::Backend::Postgres {
            return;
        }
        let sep = if database_url.contains('?') { '&' } else { '?' };
        let url = format!("{database_url}{sep}application_name=talon-cache-listener");
        let core = self.clone();
        tokio::spawn(async move {
            let cache = &core.0.read_cache;
            loop {
                match PgListener::connect(&url).await {
                    Ok(mut listener) => match listener.listen(CHANNEL).await {
                        Ok(()) => {
                            cache.set_enabled(true);
                            tracing::info!("read caches on: invalidations are listened for");
                            loop {
                                match listener.try_recv().await {
                                    Ok(Some(n)) => cache.invalidate(n.payload()),
                                    Ok(None) => break,
                                    Err(e) => {
                                        tracing::warn!(error = %e, "invalidation channel failed");
                                        break;
                                    }
                                }
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot listen for invalidations"),
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot connect the invalidation listener")
                    }
                }
                cache.set_enabled(false);
                tracing::warn!("read caches off until the invalidation channel is back");
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(id: &str) -> Vault {
        Vault {
            id: id.into(),
            org_id: "o".into(),
            name: "n".into(),
            description: String::new(),
            created_by: "u".into(),
            created_by_type: "user".into(),
            creator_user_id: None,
            kek_label: "k".into(),
            created_at: 0,
            secret_count: 0,
        }
    }

    #[test]
    fn entries_are_served_only_under_the_epoch_they_were_loaded_at() {
        let c = ReadCache::new(true);
        c.begin("o", 3);
        c.put_vault("o", 3, &vault("v"));
        assert!(c.vault("o", 3, "v").is_some());
        assert!(c.vault("o", 4, "v").is_none(), "another epoch sees nothing");
        c.begin("o", 4);
        assert!(c.vault("o", 4, "v").is_none(), "a new epoch starts empty");
        c.put_vault("o", 3, &vault("v"));
        assert!(
            c.vault("o", 4, "v").is_none(),
            "a load under the old epoch is not stored"
        );
    }

    #[test]
    fn honeytokens_are_served_only_under_the_epoch_they_were_loaded_at() {
        use crate::model::OnTrigger;
        let trap = Trap {
            id: "h".into(),
            on_trigger: OnTrigger::Alert,
        };
        let traps: Traps = [("v".to_owned(), "a/b".to_owned(), trap.clone())]
            .into_iter()
            .collect();
        let c = ReadCache::new(true);
        c.begin("o", 3);
        assert_eq!(c.trap_at("o", 3, "v", "a/b"), None, "not loaded yet");
        assert_eq!(c.epoch_and_trap("o", "v", "a/b"), Some((3, None)));
        c.put_honeytokens("o", 3, Arc::new(traps));
        assert_eq!(c.trap_at("o", 3, "v", "a/b"), Some(Some(trap.clone())));
        assert_eq!(c.trap_at("o", 3, "v", "a/c"), Some(None));
        assert_eq!(c.trap_at("o", 3, "w", "a/b"), Some(None));
        assert_eq!(
            c.epoch_and_trap("o", "v", "a/b"),
            Some((3, Some(Some(trap))))
        );
        assert_eq!(
            c.trap_at("o", 4, "v", "a/b"),
            None,
            "another epoch sees nothing"
        );
        c.begin("o", 4);
        assert!(c.honeytokens("o", 4).is_none(), "a new epoch starts empty");
        assert_eq!(c.epoch_and_trap("o", "v", "a/b"), Some((4, None)));
    }

    #[test]
    fn invalidating_or_disabling_drops_entries() {
        let c = ReadCache::new(true);
        c.begin("o", 1);
        c.put_vault("o", 1, &vault("v"));
        c.invalidate("o");
        assert_eq!(c.epoch("o"), None);
        c.begin("o", 1);
        c.put_vault("o", 1, &vault("v"));
        c.set_enabled(false);
        assert!(!c.enabled());
        assert_eq!(c.epoch("o"), None);
    }
}
