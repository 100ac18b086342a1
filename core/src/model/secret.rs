//! A secret version: its metadata (the sealed value stays in the store).

/// The metadata of one version plus its secret's identity.
#[derive(Debug, Clone)]
pub struct SecretVersion {
    /// The secret's id, the same across its versions.
    pub secret_id: String,
    /// The vault holding the secret.
    pub vault_id: String,
    /// The secret's path in the vault.
    pub path: String,
    /// Whether the secret has been soft-deleted.
    pub deleted: bool,
    /// The version number, from 1.
    pub version: i64,
    /// The kind of material, e.g. `generic`, `password`, `env_bundle`.
    pub secret_type: String,
    /// The version's metadata as JSON object text (not encrypted).
    pub metadata: String,
    /// When the version stops being readable, unix milliseconds.
    pub expires_at: Option<i64>,
    /// How many reads it allows; `None` means no limit.
    pub max_access_count: Option<i64>,
    /// How many times its value has been read.
    pub access_count: i64,
    /// Whether the version was disabled; a disabled version is never read.
    pub is_disabled: bool,
    /// Who wrote the version, as `user:<id>` or `agent:<id>`.
    pub created_by: String,
    /// When the version was written, unix milliseconds.
    pub created_at: i64,
    /// Label of the KEK its DEK is wrapped under.
    pub kek_label: String,
}
