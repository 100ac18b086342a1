//! A human user of an org.

/// A user row.
#[derive(Debug, Clone)]
pub struct User {
    /// The user's id.
    pub id: String,
    /// The org the user belongs to.
    pub org_id: String,
    /// The sign-in email, lowercased; unique across orgs.
    pub email: String,
    /// Name to show instead of the email.
    pub display_name: Option<String>,
    /// Whether the account has a password (its Argon2id hash stays in the store); `false` for
    /// an account made by Google sign-in.
    pub has_password: bool,
    /// Org role: `owner`, `admin` or `member`.
    pub role: String,
    /// How the account was created: `password` or `google`.
    pub auth_method: String,
    /// Whether the email address was confirmed by a mailed link.
    pub email_verified: bool,
    /// Whether the user agreed to marketing email.
    pub marketing_emails: bool,
    /// When the account was created, unix milliseconds.
    pub created_at: i64,
    /// The org's billing tier (joined from the org).
    pub billing_tier: String,
    /// Whether TOTP MFA is enabled (joined from the MFA record).
    pub totp_enabled: bool,
}
