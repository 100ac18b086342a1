-- CLI device authorization (RFC 8628 style): the CLI polls with the device code, stored only as
-- a keyed hash; a signed-in human approves or denies the short user code. A code is redeemed
-- once.
CREATE TABLE device_codes (
    id TEXT PRIMARY KEY,
    device_hash TEXT NOT NULL UNIQUE,
    user_code TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    email TEXT,
    status TEXT NOT NULL,
    user_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_poll_at BIGINT
);
