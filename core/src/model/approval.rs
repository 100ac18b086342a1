//! An approval: one request waiting for, or decided by, people.

/// An approval row.
#[derive(Debug, Clone)]
pub struct Approval {
    /// The approval's id.
    pub id: String,
    /// The org it belongs to.
    pub org_id: String,
    /// The person the request is made for: the requesting user, or the agent's creator.
    pub user_id: String,
    /// The requesting agent, when an agent asked.
    pub agent_id: Option<String>,
    /// `agent` or `user`.
    pub requester_type: String,
    /// The requesting agent's or user's id.
    pub requester_id: String,
    /// `secret.read`, `secret.use`, `secret.write`, … for gated access; what the agent
    /// declared otherwise.
    pub action: String,
    /// What is acted on: `secret` for gated access, else as declared.
    pub target_type: String,
    /// `{vault_id}/{path}` for gated access, else as declared.
    pub target_id: String,
    /// The vault of gated access.
    pub vault_id: Option<String>,
    /// The hash of exactly the request approved.
    pub request_hash: String,
    /// A JSON object describing the request.
    pub summary: serde_json::Value,
    /// Why the requester asks, when it said.
    pub reason: Option<String>,
    /// 1 to 3; from 2 a decision is confirmed with a password or TOTP code.
    pub risk_tier: i64,
    /// The users who may decide.
    pub approvers: Vec<String>,
    /// How many distinct approvers must approve.
    pub min_approvals: i64,
    /// `None` for a single use; otherwise the seconds the approval lets the request repeat.
    pub grant_seconds: Option<i64>,
    /// `pending`, `approved`, `rejected` or `expired`.
    pub status: String,
    /// The deciding approver's reason (`cancelled` for a cancelled approval).
    pub decision_reason: Option<String>,
    /// The approver whose vote ended it.
    pub decided_by: Option<String>,
    /// When it was decided, unix milliseconds.
    pub decided_at: Option<i64>,
    /// For a windowed grant, when it closes.
    pub grant_expires_at: Option<i64>,
    /// When the approved request last went through.
    pub used_at: Option<i64>,
    /// How many times the approved request went through.
    pub use_count: i64,
    /// When a pending approval expires, unix milliseconds.
    pub expires_at: i64,
    /// When it was requested, unix milliseconds.
    pub created_at: i64,
    /// When it last changed, unix milliseconds.
    pub updated_at: i64,
}

/// One approver's vote.
#[derive(Debug, Clone)]
pub struct ApprovalVote {
    /// The voting user.
    pub approver_id: String,
    /// `approve` or `reject`.
    pub decision: String,
    /// The approver's reason, if given.
    pub reason: Option<String>,
    /// How the vote was confirmed (`password`, `totp`), for a high-risk approval.
    pub credential_type: Option<String>,
    /// When the vote was cast, unix milliseconds.
    pub created_at: i64,
}
