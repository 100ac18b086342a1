//! An access policy: who may do what on which paths of a vault.

/// A policy row.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The policy's id.
    pub id: String,
    /// The vault it applies to.
    pub vault_id: String,
    /// The glob of secret paths it covers.
    pub secret_path_pattern: String,
    /// `user` or `agent`.
    pub principal_type: String,
    /// The id of the user or agent it applies to.
    pub principal_id: String,
    /// Permission names: `read`, `write`, `delete`, `rotate`.
    pub permissions: Vec<String>,
    /// The conditions object as JSON text.
    pub conditions: String,
    /// When it stops applying, unix milliseconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// `allow` or `deny`.
    pub effect: String,
    /// Priority, 0 or more; not used by the evaluator.
    pub priority: i64,
    /// Id of the user or agent who created it.
    pub created_by: String,
    /// `user` or `agent`: the kind of creator.
    pub created_by_type: String,
    /// When it was created, unix milliseconds.
    pub created_at: i64,
    /// When it was last changed, unix milliseconds.
    pub updated_at: i64,
}
