//! The audit log: the bodies of `/v1/audit…` (API.md §8.11).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One hash-chained audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEventResponse {
    /// The event's id.
    pub id: String,
    /// The org whose chain it is in.
    pub org_id: String,
    /// Position in the org's chain, from 1.
    pub seq: i64,
    /// `user`, `agent`, `share` or `system`.
    pub actor_type: String,
    /// The actor's id, when there is one.
    #[serde(default)]
    pub actor_id: Option<String>,
    /// What happened (`secret.read`, …).
    pub action: String,
    /// What it happened to (`secret`, `vault`, …).
    pub resource_type: String,
    /// That resource's id.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// `success`, `denied` or `error`.
    pub outcome: String,
    /// Free details (never secret material).
    #[serde(default)]
    pub details: Value,
    /// The client address.
    #[serde(default)]
    pub ip_address: Option<String>,
    /// The client's User-Agent.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// The same instant as `created_at` (1claw's name).
    #[serde(default)]
    pub timestamp: String,
    /// The previous event of the chain.
    #[serde(default)]
    pub prev_event_id: Option<String>,
    /// Hex HMAC linking this event to the previous one.
    pub integrity_hash: String,
}
