//! Sharing: the bodies of `/v1/secrets/{secret_id}/share` and `/v1/share…` (API.md §8.6).

use crate::material::Password;
use serde::{Deserialize, Serialize, Serializer};

/// `POST /v1/secrets/{secret_id}/share`: who may open the secret, until when, how often.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreateShareRequest {
    /// `creator`, `user`, `agent`, `anyone_with_link` or `external_email`.
    pub recipient_type: String,
    /// The user or agent, for targeted shares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<String>,
    /// The address, for `external_email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// RFC 3339 expiry.
    pub expires_at: String,
    /// Reads allowed through the share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_access_count: Option<i64>,
    /// A passphrase the opener must give (link shares).
    #[serde(
        default,
        serialize_with = "expose_password_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub passphrase: Option<Password>,
    /// Addresses or CIDR ranges allowed to open the share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_allowlist: Option<Vec<String>>,
}

fn expose_password_opt<S: Serializer>(v: &Option<Password>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(p) => s.serialize_str(p.expose_secret()),
        None => s.serialize_none(),
    }
}

/// A share as its creation returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareResponse {
    /// The share's id.
    pub id: String,
    /// Where the recipient opens it.
    pub share_url: String,
    /// The shared secret.
    pub secret_id: String,
    /// `creator`, `user`, `agent`, `anyone_with_link` or `external_email`.
    pub recipient_type: String,
    /// The targeted user or agent, or null.
    #[serde(default)]
    pub recipient_id: Option<String>,
    /// The targeted address, or null.
    #[serde(default)]
    pub recipient_email: Option<String>,
    /// RFC 3339.
    pub expires_at: String,
    /// Reads allowed, or null for no limit.
    #[serde(default)]
    pub max_access_count: Option<i64>,
    /// Reads so far.
    #[serde(default)]
    pub access_count: i64,
    /// Whether opening needs a passphrase.
    #[serde(default)]
    pub passphrase_protected: bool,
    /// `active`, `pending`, `accepted`, `declined` or `revoked` as stored.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
}
