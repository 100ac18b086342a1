//! The audit hash chain: how an event row is linked to the one before it. Each event's
//! `integrity_hash` is the HSM MAC (audit key) of the previous event's hash, `|`, and the
//! event's canonical bytes; the first event of an org links to 64 zeros. Appending one event,
//! appending a batch and verifying all use [`link_input`], so the three cannot drift apart.
//!
//! Each org also has a signed head: the audit-key MAC of [`head_input`] over the newest event's
//! sequence number, id and hash, moved with every append. A deleted or truncated tail leaves a
//! chain that links perfectly; only the head tells that it used to be longer.

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

/// The bytes MACed for an org's signed head pointing at event `event_id` (sequence `seq`, hash
/// `hash`). They are a JSON array starting with `[`, which no link input does (those start with
/// 64 hex digits), so a head MAC can never stand in for an event's hash or the other way round.
pub(crate) fn head_input(org_id: &str, seq: i64, event_id: &str, hash: &str) -> Vec<u8> {
    serde_json::to_vec(&json!(["talon-audit-head-v1", org_id, seq, event_id, hash]))
        .expect("head serialises")
}

/// The hex MAC of the signed head pointing at `e`.
pub(crate) fn sign_head(k: &dyn KeyStore, e: &AuditRecord) -> Result<String, KeyStoreError> {
    let input = head_input(&e.org_id, e.seq, &e.id, &e.integrity_hash);
    Ok(hex(&k.mac(MacKey::Audit, &input)?))
}

/// Links `rows` (consecutive sequence numbers, in order) after the chain head `prev_id` /
/// `prev_hash` (`None` for an empty chain): sets each row's `prev_event_id` and
/// `integrity_hash`, and returns the MAC of the new signed head (the last row; `None` when
/// `rows` is empty). Runs on the keystore thread.
pub(crate) fn link(
    k: &dyn KeyStore,
    prev_id: Option<String>,
    prev_hash: Option<String>,
    rows: &mut [AuditRecord],
) -> Result<Option<String>, KeyStoreError> {
    let mut prev_hash = prev_hash.unwrap_or_else(genesis);
    let mut prev_id = prev_id;
    for row in rows.iter_mut() {
        row.prev_event_id = prev_id.take();
        row.integrity_hash = hex(&k.mac(MacKey::Audit, &link_input(&prev_hash, row))?);
        prev_hash.clone_from(&row.integrity_hash);
        prev_id = Some(row.id.clone());
    }
    rows.last().map(|last| sign_head(k, last)).transpose()
}

/// Why one event of a chain does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkBreak {
    /// The event's sequence number is not the one after its predecessor's.
    Sequence,
    /// The event's `prev_event_id` is not its predecessor's id.
    Link,
    /// The recomputed MAC differs from the stored `integrity_hash`.
    Hash,
    /// The event sits at the signed head's sequence number but is not the event it names.
    NotTheHead,
    /// The event lies beyond the signed head: it was not appended by the service (or the head
    /// was rolled back).
    BeyondHead,
}

impl LinkBreak {
    /// The reason as the verify response states it.
    pub fn reason(self) -> &'static str {
        match self {
            LinkBreak::Sequence => "sequence gap or reorder",
            LinkBreak::Link => "link to the previous event does not match",
            LinkBreak::Hash => "integrity hash does not match the event",
            LinkBreak::NotTheHead => "the event does not match the signed chain head",
            LinkBreak::BeyondHead => "the event lies beyond the signed chain head",
        }
    }
}

/// Where a walk over consecutive events stands: the predecessor's id and hash and the sequence
/// number the next event must have.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    pub prev_id: Option<String>,
    pub prev_hash: String,
    pub expected_seq: i64,
}

impl Cursor {
    /// The cursor before the first event of an org.
    pub fn genesis() -> Cursor {
        Cursor {
            prev_id: None,
            prev_hash: genesis(),
            expected_seq: 1,
        }
    }

    /// The cursor just after `e`.
    pub fn after(e: &AuditRecord) -> Cursor {
        Cursor {
            prev_id: Some(e.id.clone()),
            prev_hash: e.integrity_hash.clone(),
            expected_seq: e.seq + 1,
        }
    }
}

/// The signed head as verification compares rows with it: sequence number, event id, hash.
#[derive(Debug, Clone)]
pub(crate) struct HeadMark {
    pub seq: i64,
    pub event_id: String,
    pub hash: String,
}

/// Checks `rows` in order from `cursor`: sequence continuity, the link, the recomputed MAC and,
/// with a `head`, that the row at the head's sequence number is the head's event and that no
/// row lies beyond it. Returns the index and reason of the first row that fails; on success the
/// cursor has moved past the last row. Runs on the keystore thread.
pub(crate) fn check_rows(
    k: &dyn KeyStore,
    cursor: &mut Cursor,
    head: Option<&HeadMark>,
    rows: &[AuditRecord],
) -> Result<Option<(usize, LinkBreak)>, KeyStoreError> {
    for (i, e) in rows.iter().enumerate() {
        let why = if e.seq != cursor.expected_seq {
            Some(LinkBreak::Sequence)
        } else if e.prev_event_id != cursor.prev_id {
            Some(LinkBreak::Link)
        } else if hex(&k.mac(MacKey::Audit, &link_input(&cursor.prev_hash, e))?) != e.integrity_hash
        {
            Some(LinkBreak::Hash)
        } else {
            match head {
                Some(h) if e.seq > h.seq => Some(LinkBreak::BeyondHead),
                Some(h) if e.seq == h.seq && (e.id != h.event_id || e.integrity_hash != h.hash) => {
                    Some(LinkBreak::NotTheHead)
                }
                _ => None,
            }
        };
        if let Some(why) = why {
            return Ok(Some((i, why)));
        }
        *cursor = Cursor::after(e);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::SoftKeyStore;

    fn event(seq: i64) -> AuditRecord {
        AuditRecord {
            id: format!("e{seq}"),
            org_id: "org".into(),
            seq,
            actor_type: "user".into(),
            actor_id: Some("u1".into()),
            action: "secret.read".into(),
            resource_type: "secret".into(),
            resource_id: Some("db/password".into()),
            outcome: "success".into(),
            details: r#"{"path":"db/password"}"#.into(),
            ip_address: None,
            user_agent: None,
            created_at: 1_000 + seq,
            prev_event_id: None,
            integrity_hash: String::new(),
        }
    }

    /// A linked chain of `n` events and the MAC of its signed head.
    fn chain(k: &SoftKeyStore, n: i64) -> (Vec<AuditRecord>, String) {
        let mut rows: Vec<AuditRecord> = (1..=n).map(event).collect();
        let mac = link(k, None, None, &mut rows).unwrap().unwrap();
        (rows, mac)
    }

    fn mark(e: &AuditRecord) -> HeadMark {
        HeadMark {
            seq: e.seq,
            event_id: e.id.clone(),
            hash: e.integrity_hash.clone(),
        }
    }

    fn first_break(
        k: &SoftKeyStore,
        head: Option<&HeadMark>,
        rows: &[AuditRecord],
    ) -> Option<(usize, LinkBreak)> {
        check_rows(k, &mut Cursor::genesis(), head, rows).unwrap()
    }

    #[test]
    fn a_linked_chain_checks_in_pages_and_its_head_mac_is_the_tails() {
        let k = SoftKeyStore::new();
        let (rows, mac) = chain(&k, 7);
        assert_eq!(mac, sign_head(&k, rows.last().unwrap()).unwrap());
        let head = mark(&rows[6]);
        // Two pages with the cursor carried over give the same verdict as one.
        let mut cursor = Cursor::genesis();
        assert_eq!(
            check_rows(&k, &mut cursor, Some(&head), &rows[..3]).unwrap(),
            None
        );
        assert_eq!(cursor.expected_seq, 4);
        assert_eq!(
            check_rows(&k, &mut cursor, Some(&head), &rows[3..]).unwrap(),
            None
        );
        assert_eq!(cursor.expected_seq, 8);
    }

    #[test]
    fn each_kind_of_tampering_is_named_at_the_first_bad_row() {
        let k = SoftKeyStore::new();
        let (rows, _) = chain(&k, 6);
        let head = mark(&rows[5]);
        type Tamper = fn(&mut Vec<AuditRecord>);
        type Case = (&'static str, Tamper, Option<(usize, LinkBreak)>);
        let cases: [Case; 6] = [
            ("intact", |_| {}, None),
            (
                "edited",
                |r| r[3].details = "{}".into(),
                Some((3, LinkBreak::Hash)),
            ),
            (
                "deleted",
                |r| drop(r.remove(2)),
                Some((2, LinkBreak::Sequence)),
            ),
            ("swapped", |r| r.swap(1, 2), Some((1, LinkBreak::Sequence))),
            (
                "relinked",
                |r| r[4].prev_event_id = Some("elsewhere".into()),
                Some((4, LinkBreak::Link)),
            ),
            (
                "rehashed",
                |r| r[5].integrity_hash = "00".repeat(32),
                Some((5, LinkBreak::Hash)),
            ),
        ];
        for (name, tamper, want) in cases {
            let mut r = rows.clone();
            tamper(&mut r);
            assert_eq!(first_break(&k, Some(&head), &r), want, "{name}");
        }
    }

    #[test]
    fn rows_beyond_or_different_from_the_signed_head_break_the_chain() {
        let k = SoftKeyStore::new();
        let (rows, _) = chain(&k, 5);
        // A head rolled back to event 3 while events 4 and 5 exist.
        assert_eq!(
            first_break(&k, Some(&mark(&rows[2])), &rows),
            Some((3, LinkBreak::BeyondHead))
        );
        // A head at seq 5 naming another event.
        let mut other = mark(&rows[4]);
        other.event_id = "e-other".into();
        assert_eq!(
            first_break(&k, Some(&other), &rows),
            Some((4, LinkBreak::NotTheHead))
        );
    }

    #[test]
    fn head_input_never_equals_a_link_input() {
        let e = event(1);
        let head = head_input(&e.org_id, e.seq, &e.id, &genesis());
        assert_eq!(head[0], b'[');
        assert!(link_input(&genesis(), &e)[..64]
            .iter()
            .all(u8::is_ascii_hexdigit));
        // Every field is bound: changing any one changes the input.
        let base = head_input("org", 5, "e5", "ab");
        for other in [
            head_input("org2", 5, "e5", "ab"),
            head_input("org", 6, "e5", "ab"),
            head_input("org", 5, "e6", "ab"),
            head_input("org", 5, "e5", "ac"),
        ] {
            assert_ne!(base, other);
        }
    }
}
