-- The keystore this database belongs to: the JWT signing key's public half and the token
-- label, recorded at first start and checked at every start, so a swapped, re-initialised or
-- mislabelled token stops start-up instead of serving a store it cannot decrypt.
CREATE TABLE keystore_identity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    jwt_public_key TEXT NOT NULL,
    token_label TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
