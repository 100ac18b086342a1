-- Environment variables per vault. A variable's value lives in a hidden secret (path
-- `#env/<id>`, which no secret route can name), so it is sealed, versioned and re-wrapped on a
-- KEK rotation like any secret; these tables hold what the variable is and where it applies.
CREATE TABLE env_vars (
    id TEXT PRIMARY KEY,
    vault_id TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    secret_id TEXT NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
    var_key TEXT NOT NULL,
    git_branch TEXT NOT NULL DEFAULT '',
    sensitive BIGINT NOT NULL DEFAULT 0,
    comment TEXT,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX env_vars_vault ON env_vars(vault_id, var_key);

-- One row per environment a variable applies to; a key, environment and branch name at most
-- one variable in a vault.
CREATE TABLE env_var_environments (
    env_var_id TEXT NOT NULL REFERENCES env_vars(id) ON DELETE CASCADE,
    vault_id TEXT NOT NULL,
    environment TEXT NOT NULL,
    var_key TEXT NOT NULL,
    git_branch TEXT NOT NULL,
    PRIMARY KEY (vault_id, environment, var_key, git_branch)
);
CREATE INDEX env_var_environments_var ON env_var_environments(env_var_id);

-- Custom environments; `production`, `preview` and `development` exist in every vault
-- without a row.
CREATE TABLE vault_environments (
    id TEXT PRIMARY KEY,
    vault_id TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    description TEXT,
    copied_from TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (vault_id, slug)
);

-- The environment an agent is tagged with: resolve without an environment uses it.
ALTER TABLE agents ADD COLUMN environment TEXT;
