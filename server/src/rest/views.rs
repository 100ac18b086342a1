//! JSON shapes of API.md section 9, built from core records.

use serde_json::{json, Value};
use talon_core::clock::rfc3339;
use talon_core::store::{
    agents::AgentRow, audit::EventRow, policies::PolicyRow, secrets::VersionRow, vaults::VaultRow,
};

fn time(ms: Option<i64>) -> Value {
    ms.map(|t| json!(rfc3339(t))).unwrap_or(Value::Null)
}

fn object(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!({}))
}

pub fn vault(v: &VaultRow) -> Value {
    json!({
        "id": v.id, "org_id": v.org_id, "name": v.name, "description": v.description,
        "created_by": v.created_by, "created_by_type": v.created_by_type,
        "created_at": rfc3339(v.created_at), "secret_count": v.secret_count, "cmek_enabled": false,
    })
}

pub fn secret_created(s: &VersionRow) -> Value {
    json!({
        "id": s.secret_id, "vault_id": s.vault_id, "path": s.path, "type": s.secret_type,
        "version": s.version, "metadata": object(&s.metadata), "created_at": rfc3339(s.created_at),
        "expires_at": time(s.expires_at), "max_access_count": s.max_access_count,
    })
}

pub fn secret_metadata(s: &VersionRow) -> Value {
    let mut v = secret_created(s);
    v["access_count"] = json!(s.access_count);
    v["is_disabled"] = json!(s.is_disabled);
    v["created_by"] = json!(s.created_by);
    v
}

pub fn agent(a: &AgentRow) -> Value {
    json!({
        "id": a.id, "org_id": a.org_id, "name": a.name, "description": a.description,
        "auth_method": "api_key", "scopes": a.scopes, "is_active": a.is_active,
        "vault_ids": a.vault_ids, "token_ttl_seconds": a.token_ttl_seconds,
        "expires_at": time(a.expires_at), "api_key_prefix": a.api_key_prefix,
        "api_key_expires_at": time(a.api_key_expires_at), "created_by": a.created_by,
        "created_at": rfc3339(a.created_at), "last_active_at": time(a.last_active_at),
        "intents_api_enabled": false, "shroud_enabled": false,
    })
}

pub fn agent_self(a: &AgentRow) -> Value {
    json!({
        "id": a.id, "name": a.name, "description": a.description, "org_id": a.org_id,
        "scopes": a.scopes, "vault_ids": a.vault_ids, "is_active": a.is_active,
        "token_ttl_seconds": a.token_ttl_seconds, "created_by": a.created_by,
        "created_at": rfc3339(a.created_at), "expires_at": time(a.expires_at),
        "last_active_at": time(a.last_active_at), "intents_api_enabled": false,
    })
}

pub fn policy(p: &PolicyRow) -> Value {
    json!({
        "id": p.id, "vault_id": p.vault_id, "secret_path_pattern": p.secret_path_pattern,
        "principal_type": p.principal_type, "principal_id": p.principal_id,
        "permissions": p.permissions, "conditions": object(&p.conditions),
        "expires_at": time(p.expires_at), "effect": p.effect, "priority": p.priority,
        "created_by": p.created_by, "created_by_type": p.created_by_type,
        "created_at": rfc3339(p.created_at), "updated_at": rfc3339(p.updated_at),
    })
}

pub fn audit_event(e: &EventRow) -> Value {
    let at = rfc3339(e.created_at);
    json!({
        "id": e.id, "org_id": e.org_id, "seq": e.seq, "actor_type": e.actor_type,
        "actor_id": e.actor_id, "action": e.action, "resource_type": e.resource_type,
        "resource_id": e.resource_id, "outcome": e.outcome, "details": object(&e.details),
        "ip_address": e.ip_address, "user_agent": e.user_agent, "created_at": at,
        "timestamp": at, "prev_event_id": e.prev_event_id, "integrity_hash": e.integrity_hash,
    })
}
