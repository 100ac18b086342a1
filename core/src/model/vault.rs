//! A vault: the unit of ownership, policy and key wrapping.

/// A vault with its live secret count.
#[derive(Debug, Clone)]
pub struct Vault {
    /// The vault's id.
    pub id: String,
    /// The org that owns it.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Id of the user or agent who created it.
    pub created_by: String,
    /// `user` or `agent`: the kind of creator.
    pub created_by_type: String,
    /// The human behind the vault: the creating user, or the creating agent's creator.
    pub creator_user_id: Option<String>,
    /// Label of the KEK that wraps the DEKs of new versions (`talon-kek:<vault>:<n>`).
    pub kek_label: String,
    /// When it was created, unix milliseconds.
    pub created_at: i64,
    /// Live (not deleted) secrets in the vault.
    pub secret_count: i64,
}
