-- Secret requests: an agent asks its people for a credential it lacks. A person fills the value
-- into a vault path of their choosing (it is stored like any secret version, never here) and
-- may grant the agent `use` or `read` on it; the agent learns only the status, vault and path.
CREATE TABLE secret_requests (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL,
    label TEXT NOT NULL,
    purpose TEXT NOT NULL,
    suggested_path TEXT,
    status TEXT NOT NULL,
    vault_id TEXT,
    path TEXT,
    granted TEXT,
    policy_id TEXT,
    decline_reason TEXT,
    decided_by TEXT,
    decided_at BIGINT,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX secret_requests_org ON secret_requests(org_id, status, created_at);
CREATE INDEX secret_requests_agent ON secret_requests(agent_id, created_at);
