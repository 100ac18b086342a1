-- Billing: the org's Stripe subscription, monthly request counters, usage events flushed in
-- batches from memory, and the Stripe event ids already processed. KEK rotation: retired vault
-- KEKs until their re-wrap finishes and they are destroyed. Sharing: when an external_email
-- share was claimed by the user who signed up with that email.
ALTER TABLE orgs ADD COLUMN billing_status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE orgs ADD COLUMN billing_interval TEXT;
ALTER TABLE orgs ADD COLUMN billing_period_end BIGINT;
ALTER TABLE orgs ADD COLUMN stripe_customer_id TEXT;
ALTER TABLE orgs ADD COLUMN stripe_subscription_id TEXT;

CREATE TABLE usage_months (
    org_id TEXT NOT NULL,
    month TEXT NOT NULL,
    requests BIGINT NOT NULL DEFAULT 0,
    cost_micros BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, month)
);

CREATE TABLE usage_events (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    method TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    status_code BIGINT NOT NULL,
    price_micros BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX usage_events_org ON usage_events(org_id, created_at);

CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE TABLE retired_keks (
    kek_label TEXT PRIMARY KEY,
    vault_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    replaced_by TEXT NOT NULL,
    retired_at BIGINT NOT NULL,
    destroyed_at BIGINT
);
CREATE INDEX retired_keks_vault ON retired_keks(vault_id);
CREATE INDEX secret_versions_kek ON secret_versions(kek_label);

ALTER TABLE shares ADD COLUMN claimed_at BIGINT;
CREATE INDEX shares_unclaimed_email ON shares(recipient_email) WHERE recipient_id IS NULL;
