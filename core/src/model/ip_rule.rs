//! An org IP rule: an address range allowed or denied.

/// One rule.
#[derive(Debug, Clone)]
pub struct IpRule {
    /// The rule's id.
    pub id: String,
    /// The org it applies to.
    pub org_id: String,
    /// `allow` or `deny`.
    pub rule_type: String,
    /// The network, normalised as `addr/prefix`.
    pub cidr: String,
    /// Optional note naming the rule.
    pub label: Option<String>,
    /// `all`, `users` or `agents`.
    pub applies_to: String,
    /// Id of the user who created it.
    pub created_by: String,
    /// When it was created, unix milliseconds.
    pub created_at: i64,
}
