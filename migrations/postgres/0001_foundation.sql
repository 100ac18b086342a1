-- Foundation schema. Flags are 0/1 integers and times are unix milliseconds (kept identical to the SQLite schema for the sqlx Any driver).
CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    billing_tier TEXT NOT NULL,
    audit_seq BIGINT NOT NULL DEFAULT 0,
    audit_head_id TEXT,
    audit_head_hash TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    email TEXT NOT NULL UNIQUE,
    display_name TEXT,
    password_hash TEXT,
    role TEXT NOT NULL,
    auth_method TEXT NOT NULL,
    email_verified BIGINT NOT NULL DEFAULT 0,
    marketing_emails BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX users_org ON users(org_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    family_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE vaults (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_by_type TEXT NOT NULL,
    creator_user_id TEXT,
    kek_label TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX vaults_org ON vaults(org_id, created_at);

CREATE TABLE secrets (
    id TEXT PRIMARY KEY,
    vault_id TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    latest_version BIGINT NOT NULL,
    deleted_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX secrets_live_path ON secrets(vault_id, path) WHERE deleted_at IS NULL;

CREATE TABLE secret_versions (
    secret_id TEXT NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    secret_type TEXT NOT NULL,
    metadata TEXT NOT NULL,
    ciphertext BYTEA NOT NULL,
    nonce BYTEA NOT NULL,
    wrapped_dek BYTEA NOT NULL,
    kek_label TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    expires_at BIGINT,
    max_access_count BIGINT,
    access_count BIGINT NOT NULL DEFAULT 0,
    is_disabled BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (secret_id, version)
);

CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    scopes TEXT NOT NULL,
    scopes_explicit BIGINT NOT NULL DEFAULT 0,
    vault_ids TEXT NOT NULL,
    is_active BIGINT NOT NULL DEFAULT 1,
    token_ttl_seconds BIGINT,
    expires_at BIGINT,
    api_key_hash TEXT NOT NULL UNIQUE,
    api_key_prefix TEXT NOT NULL,
    api_key_expires_at BIGINT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_active_at BIGINT,
    deleted_at BIGINT
);
CREATE INDEX agents_org ON agents(org_id, created_at);

CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    vault_id TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    secret_path_pattern TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    permissions TEXT NOT NULL,
    conditions TEXT NOT NULL,
    expires_at BIGINT,
    effect TEXT NOT NULL,
    priority BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_by_type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX policies_vault_principal ON policies(vault_id, principal_type, principal_id);
CREATE INDEX policies_principal ON policies(principal_type, principal_id);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id TEXT,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL,
    ip_address TEXT,
    user_agent TEXT,
    created_at BIGINT NOT NULL,
    prev_event_id TEXT,
    integrity_hash TEXT NOT NULL,
    UNIQUE (org_id, seq)
);
CREATE INDEX audit_org_created ON audit_events(org_id, created_at);
