-- Org IP allow/deny rules applied to every authenticated request.
CREATE TABLE ip_rules (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    rule_type TEXT NOT NULL,
    cidr TEXT NOT NULL,
    label TEXT,
    applies_to TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ip_rules_org ON ip_rules(org_id);
