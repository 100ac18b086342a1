//! Sign-in: the bodies of `/v1/auth/signup`, `/v1/auth/token` and `/v1/auth/agent-token`
//! (API.md §8.1).

use crate::material::{expose_bearer, expose_bearer_opt, expose_password, BearerSecret, Password};
use serde::{Deserialize, Serialize};

/// `POST /v1/auth/signup`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SignupRequest {
    /// The new account's email.
    pub email: String,
    /// The chosen password.
    #[serde(serialize_with = "expose_password")]
    pub password: Password,
    /// Shown in the dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// `POST /v1/auth/token`: a password login.
#[derive(Debug, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The account's email.
    pub email: String,
    /// Its password.
    #[serde(serialize_with = "expose_password")]
    pub password: Password,
}

/// `POST /v1/auth/agent-token`: an `ocv_` (or `1ck_`) key exchanged for an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct AgentTokenRequest {
    /// The key.
    #[serde(serialize_with = "expose_bearer")]
    pub api_key: BearerSecret,
    /// The agent the key belongs to (optional; checked when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
}

/// A new user access token, or (with `mfa_required`) the MFA challenge of a login: 1claw's
/// **TokenResponse** (or **LoginResponse**) and nothing else, since 1claw's Go SDK refuses
/// unknown fields. Who signed in is in the token's `sub` claim and at `GET /v1/auth/me`.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token (empty while an MFA challenge is open).
    #[serde(serialize_with = "expose_bearer")]
    pub access_token: BearerSecret,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token (or the MFA challenge) expires.
    pub expires_in: i64,
    /// A refresh token, when one was issued.
    #[serde(
        default,
        serialize_with = "expose_bearer_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_token: Option<BearerSecret>,
    /// Set when the login needs a TOTP code next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_required: Option<bool>,
    /// The challenge to answer at `/v1/auth/mfa/verify`.
    #[serde(
        default,
        serialize_with = "expose_bearer_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub mfa_token: Option<BearerSecret>,
}

/// `POST /v1/auth/signup`: the new account, signed in.
#[derive(Debug, Serialize, Deserialize)]
pub struct SignupResponse {
    /// `Account created`.
    pub message: String,
    /// The account's email.
    pub email: String,
    /// The new user.
    pub user_id: String,
    /// The new user's org.
    pub org_id: String,
    /// The access token.
    #[serde(serialize_with = "expose_bearer")]
    pub access_token: BearerSecret,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The refresh token.
    #[serde(serialize_with = "expose_bearer")]
    pub refresh_token: BearerSecret,
}

/// `POST /v1/auth/agent-token`: 1claw's **TokenResponse**, plus `agent_id` when the request
/// did not name the agent (1claw's Python SDK learns its own id from it). The org, scopes and
/// vault binding are claims of the token (`org_id`, `scopes`, `vault_ids`).
#[derive(Debug, Serialize, Deserialize)]
pub struct AgentTokenResponse {
    /// The access token.
    #[serde(serialize_with = "expose_bearer")]
    pub access_token: BearerSecret,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The agent, when the request did not name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
}
