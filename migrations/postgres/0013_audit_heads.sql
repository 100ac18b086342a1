-- The signed head of each org's audit chain: the newest event's sequence number, id and
-- integrity hash, and a MAC over them made by the keystore's audit key. Moved in the same
-- transaction as every append, so verification can tell a deleted, truncated or replaced tail
-- from an intact one. Orgs with events from before this table get a head at start-up.
CREATE TABLE audit_heads (
    org_id TEXT PRIMARY KEY REFERENCES orgs(id),
    last_seq BIGINT NOT NULL,
    last_event_id TEXT NOT NULL,
    last_hash TEXT NOT NULL,
    mac TEXT NOT NULL
);
