-- Honeytokens: secret paths an org's owners and admins mark as traps. A read, use, share
-- access or agent listing of the path answers as usual but is recorded as
-- `risk.honeytoken_triggered` (and, with `on_trigger = 'deactivate'`, deactivates the agent
-- that touched it). The row holds no value: a seeded canary is an ordinary sealed secret at
-- the path.
CREATE TABLE honeytokens (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    vault_id TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    secret_path TEXT NOT NULL,
    on_trigger TEXT NOT NULL DEFAULT 'alert',
    notes TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    triggered_count BIGINT NOT NULL DEFAULT 0,
    last_triggered_at BIGINT,
    UNIQUE (vault_id, secret_path)
);
CREATE INDEX honeytokens_org ON honeytokens(org_id, created_at);
