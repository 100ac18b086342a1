-- Bindings: an agent's named upstream (an HTTP API) with the credential Talon injects into
-- the requests it makes for the agent. The credential is either a live pointer to a vault
-- secret (`vault_ref`, resolved at each execution through the agent's `use` permission) or
-- an inline value sealed like a secret value (never stored in plaintext).
CREATE TABLE bindings (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    binding_type TEXT NOT NULL,
    config TEXT NOT NULL,
    guardrails TEXT NOT NULL,
    is_active BIGINT NOT NULL DEFAULT 1,
    credential_source TEXT,
    credential_vault_id TEXT,
    credential_path TEXT,
    credential_ciphertext BYTEA,
    credential_nonce BYTEA,
    credential_wrapped_dek BYTEA,
    credential_kek_label TEXT,
    credential_version BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (agent_id, name)
);
CREATE INDEX bindings_org ON bindings(org_id, agent_id, created_at);

-- One row per execution attempt through a binding (allowed, refused or failed upstream),
-- written in the transaction of its `binding.execute` audit event. Never a value or a body.
CREATE TABLE binding_executions (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL,
    binding_id TEXT NOT NULL,
    binding_name TEXT NOT NULL,
    method TEXT NOT NULL,
    host TEXT NOT NULL,
    path TEXT NOT NULL,
    status TEXT NOT NULL,
    http_status BIGINT,
    request_bytes BIGINT NOT NULL,
    response_bytes BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    redactions BIGINT NOT NULL,
    error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX binding_executions_agent ON binding_executions(agent_id, created_at);
