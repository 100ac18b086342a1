//! A personal `1ck_` API key (its hash stays in the store).

/// A personal API key (never the key itself).
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// The key's id.
    pub id: String,
    /// The user the key acts for.
    pub user_id: String,
    /// The user's org.
    pub org_id: String,
    /// The name the user gave the key.
    pub name: String,
    /// The first characters of the `1ck_` key, to recognise it by.
    pub key_prefix: String,
    /// Scopes that narrow the user's rights; empty or `*` means no narrowing.
    pub scopes: Vec<String>,
    /// False once the key is revoked.
    pub is_active: bool,
    /// When it was created, unix milliseconds.
    pub created_at: i64,
    /// When it stops working, unix milliseconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// When it was last used, to the minute, unix milliseconds.
    pub last_used_at: Option<i64>,
}
