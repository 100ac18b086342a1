-- Approvals: a person's decision on one exact request. A request that a `require_approval`
-- policy gates is bound by `request_hash` (agent, vault, path, permission and, for an
-- execution, method, host, path and body hash); an agent may also declare an action of its own
-- (`POST /v1/approvals/request`). At most one pending approval exists per request.
CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    agent_id TEXT,
    requester_type TEXT NOT NULL,
    requester_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    vault_id TEXT,
    request_hash TEXT NOT NULL,
    summary TEXT NOT NULL,
    reason TEXT,
    risk_tier BIGINT NOT NULL,
    approvers TEXT NOT NULL,
    min_approvals BIGINT NOT NULL,
    grant_seconds BIGINT,
    status TEXT NOT NULL,
    decision_reason TEXT,
    decided_by TEXT,
    decided_at BIGINT,
    grant_expires_at BIGINT,
    used_at BIGINT,
    use_count BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX approvals_org ON approvals(org_id, status, created_at);
CREATE INDEX approvals_request ON approvals(org_id, request_hash, status);
CREATE UNIQUE INDEX approvals_one_pending ON approvals(org_id, request_hash)
    WHERE status = 'pending';

-- One vote per approver per approval.
CREATE TABLE approval_votes (
    approval_id TEXT NOT NULL REFERENCES approvals(id) ON DELETE CASCADE,
    approver_id TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT,
    credential_type TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (approval_id, approver_id)
);

-- The one-click links mailed to approvers: stored hashed, single use, expiring with the
-- approval. A link only opens the dashboard's confirmation page; it never decides by itself.
CREATE TABLE approval_links (
    token_hash TEXT PRIMARY KEY,
    approval_id TEXT NOT NULL REFERENCES approvals(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
