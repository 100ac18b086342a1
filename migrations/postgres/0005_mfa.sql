-- TOTP per user: the seed is envelope-encrypted like a secret; recovery codes are keyed hashes.
CREATE TABLE mfa (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    seed_ciphertext BYTEA NOT NULL,
    seed_nonce BYTEA NOT NULL,
    seed_wrapped_dek BYTEA NOT NULL,
    kek_label TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 0,
    last_step BIGINT NOT NULL DEFAULT 0,
    recovery_codes TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL
);
