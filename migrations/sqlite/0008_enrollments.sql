-- Agent self-enrollment requests awaiting a human's approval. The issued key waits for the
-- agent's first poll envelope-encrypted, and is deleted once delivered.
CREATE TABLE enrollments (
    id TEXT PRIMARY KEY,
    poll_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    human_email TEXT,
    status TEXT NOT NULL,
    org_id TEXT,
    agent_id TEXT,
    key_ciphertext BLOB,
    key_nonce BLOB,
    key_wrapped_dek BLOB,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
