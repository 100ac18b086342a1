//! One record of the hash-chained audit log.

/// A stored event.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// The event's id (a UUID).
    pub id: String,
    /// The org whose chain holds the event.
    pub org_id: String,
    /// Position in the org's chain, from 1 with no gaps.
    pub seq: i64,
    /// Who acted: `user`, `agent`, `system` or `anonymous`.
    pub actor_type: String,
    /// The acting user's or agent's id.
    pub actor_id: Option<String>,
    /// What happened, e.g. `secret.read`.
    pub action: String,
    /// The kind of thing acted on.
    pub resource_type: String,
    /// The id of the thing acted on.
    pub resource_id: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Extra facts as a JSON object text; never a secret value.
    pub details: String,
    /// The caller's address.
    pub ip_address: Option<String>,
    /// The caller's `User-Agent`.
    pub user_agent: Option<String>,
    /// When the event was recorded, unix milliseconds.
    pub created_at: i64,
    /// The event before it in the chain; `None` for the first.
    pub prev_event_id: Option<String>,
    /// Hex MAC, under the keystore's audit key, of the previous event's hash and this event's
    /// canonical bytes.
    pub integrity_hash: String,
}
