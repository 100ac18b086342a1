-- Shares of a secret: a link anyone may open, or a grant to one user, agent or email.
CREATE TABLE shares (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    secret_id TEXT NOT NULL,
    vault_id TEXT NOT NULL,
    secret_path TEXT NOT NULL,
    recipient_type TEXT NOT NULL,
    recipient_id TEXT,
    recipient_email TEXT,
    created_by TEXT NOT NULL,
    created_by_type TEXT NOT NULL,
    passphrase_hash TEXT,
    ip_allowlist TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    max_access_count BIGINT,
    access_count BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX shares_creator ON shares(created_by, created_at);
CREATE INDEX shares_recipient ON shares(recipient_id);
