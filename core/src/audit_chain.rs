//! The audit hash chain: how an event row is linked to the one before it. Each event's
//! `integrity_hash` is the HSM MAC (audit key) of the previous event's hash, `|`, and the
//! event's canonical bytes; the first event of an org links to 64 zeros. Appending one event,
//! appending a batch and verifying all use [`link_input`], so the three cannot drift apart.

use crate::keystore::{KeyStore, KeyStoreError, MacKey};
use crate::model::AuditRecord;
use serde_json::{json, Value};

/// The hash the first event of a chain links to.
pub(crate) fn genesis() -> String {
    "0".repeat(64)
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The canonical bytes hashed into `integrity_hash`: sorted keys, no whitespace.
pub(crate) fn canonical(e: &AuditRecord) -> Vec<u8> {
    let details: Value = serde_json::from_str(&e.details).unwrap_or(Value::Null);
    let v = json!({
        "id": e.id, "org_id": e.org_id, "seq": e.seq, "actor_type": e.actor_type,
        "actor_id": e.actor_id, "action": e.action, "resource_type": e.resource_type,
        "resource_id": e.resource_id, "outcome": e.outcome, "details": details,
        "ip_address": e.ip_address, "created_at": e.created_at,
    });
    serde_json::to_vec(&v).expect("event serialises")
}

/// The bytes MACed for `e` when the event before it has hash `prev_hash`.
pub(crate) fn link_input(prev_hash: &str, e: &AuditRecord) -> Vec<u8> {
    let mut input = prev_hash.as_bytes().to_vec();
    input.push(b'|');
    input.extend_from_slice(&canonical(e));
    input
}

/// Links `rows` (consecutive sequence numbers, in order) after the chain head `prev_id` /
/// `prev_hash` (`None` for an empty chain): sets each row's `prev_event_id` and
/// `integrity_hash`. Runs on the keystore thread.
pub(crate) fn link(
    k: &dyn KeyStore,
    prev_id: Option<String>,
    prev_hash: Option<String>,
    rows: &mut [AuditRecord],
) -> Result<(), KeyStoreError> {
    let mut prev_hash = prev_hash.unwrap_or_else(genesis);
    let mut prev_id = prev_id;
    for row in rows.iter_mut() {
        row.prev_event_id = prev_id.take();
        row.integrity_hash = hex(&k.mac(MacKey::Audit, &link_input(&prev_hash, row))?);
        prev_hash.clone_from(&row.integrity_hash);
        prev_id = Some(row.id.clone());
    }
    Ok(())
}
