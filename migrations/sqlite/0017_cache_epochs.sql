-- One counter per org, raised in the transaction of every change that can alter an access
-- decision or a value (policies, agents, IP rules, secrets, members, KEKs). A process may
-- answer a read from its caches only if the counter it loaded them at is still the one the
-- read's own commit sees.
CREATE TABLE cache_epochs (
    org_id TEXT PRIMARY KEY,
    gen BIGINT NOT NULL
);
