//! A share of one secret with a recipient, for a limited time and number of reads.

/// A share row.
#[derive(Debug, Clone)]
pub struct Share {
    /// The share's id.
    pub id: String,
    /// The org of the shared secret.
    pub org_id: String,
    /// The shared secret.
    pub secret_id: String,
    /// The vault holding it.
    pub vault_id: String,
    /// The secret's path when shared.
    pub secret_path: String,
    /// `user`, `agent`, `external_email`, `anyone_with_link` or `creator`.
    pub recipient_type: String,
    /// The recipient user or agent; for `external_email`, the user who claimed it.
    pub recipient_id: Option<String>,
    /// The recipient address of an `external_email` share.
    pub recipient_email: Option<String>,
    /// Id of the user or agent who shared.
    pub created_by: String,
    /// `user` or `agent`: the kind of sharer.
    pub created_by_type: String,
    /// Whether opening it needs a passphrase (whose hash stays in the store).
    pub passphrase_protected: bool,
    /// IPs or CIDRs the share may be opened from; empty means any address.
    pub ip_allowlist: Vec<String>,
    /// When the share stops opening, unix milliseconds.
    pub expires_at: i64,
    /// How many times it may be opened; `None` means no limit.
    pub max_access_count: Option<i64>,
    /// How many times it has been opened.
    pub access_count: i64,
    /// Stored status: `active`, `pending`, `accepted`, `declined` or `revoked`; see
    /// [`Share::derived_status`].
    pub status: String,
    /// When it was created, unix milliseconds.
    pub created_at: i64,
}

impl Share {
    /// The status a caller sees: `revoked` and `declined` as stored, otherwise `expired` past
    /// the expiry, `exhausted` at the view limit, else the stored `active`/`pending`/`accepted`.
    pub fn derived_status(&self, now_ms: i64) -> &str {
        match self.status.as_str() {
            "revoked" | "declined" => self.status.as_str(),
            _ if self.expires_at <= now_ms => "expired",
            _ if self
                .max_access_count
                .is_some_and(|m| self.access_count >= m) =>
            {
                "exhausted"
            }
            other => other,
        }
    }
}
