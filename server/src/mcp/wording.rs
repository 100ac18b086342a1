//! What the tools say: one sentence per outcome (MCP.md section 6), argument problems that
//! never quote a value, and redaction of values read earlier in the session.

use crate::client::{Failure, Problem};
use rmcp::model::{CallToolResult, ContentBlock};

/// A successful tool result.
pub(super) fn ok(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

/// A tool error (`isError: true`).
pub(super) fn fail(text: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// One sentence for a failed call (MCP.md section 6), chosen by the problem `type`. `path` is
/// the secret path the call was about, `permission` the permission it needed.
pub(super) fn explain(f: &Failure, path: Option<&str>, permission: &str, agent: bool) -> String {
    let detail = f.detail.trim_end_matches('.');
    let reference = f.request_id.as_deref().unwrap_or("none");
    match f.problem() {
        Problem::NotFound => match path {
            Some(p) if !detail.starts_with("Vault") => {
                format!("No secret found at path '{p}'.")
            }
            _ => format!("Not found: {detail}."),
        },
        Problem::Gone => match path {
            Some(p) => format!(
                "Secret at path '{p}' is expired or has exceeded its maximum access count."
            ),
            None => format!("Gone: {detail}."),
        },
        Problem::IpDenied => {
            "Access denied: this IP address is not allowed by the organization's IP rules."
                .to_owned()
        }
        Problem::ResourceLimit => {
            format!("Resource limit reached: {detail}. Ask your human to upgrade the plan.")
        }
        Problem::Forbidden => match path {
            Some(p) => format!(
                "Access denied: this {} has no policy granting {permission} on '{p}' in this vault.",
                if agent { "agent" } else { "caller" }
            ),
            None => format!("Access denied: {detail}."),
        },
        Problem::UseOnly => format!(
            "Use-only: {} may be used but not read. Call execute_http with a binding that uses it (list_bindings shows them) instead of reading the value.",
            path.map(|p| format!("the secret at '{p}'")).unwrap_or_else(|| "this secret".into())
        ),
        Problem::ApprovalRequired => {
            let id = f.approval_id.as_deref().unwrap_or("unknown");
            format!(
                "Approval required: a person must approve this exact request first (approval_id {id}). Call get_approval_status with approval_id {id} until it is approved, then repeat the same call unchanged."
            )
        }
        Problem::QuotaExceeded => "Quota exhausted. Ask your human to upgrade the plan.".to_owned(),
        Problem::Unauthenticated => format!(
            "Authentication failed: {detail}. Check ONECLAW_AGENT_API_KEY (or the Bearer token)."
        ),
        Problem::RateLimited => format!("Rate limited; retry in {} s.", f.retry_after.unwrap_or(1)),
        Problem::Unreachable => format!("Talon is unavailable ({detail}); reference {reference}."),
        Problem::Unavailable => format!(
            "Talon is unavailable ({} {detail}); reference {reference}.",
            f.status
        ),
        Problem::Invalid => format!("Invalid request: {detail}."),
    }
}

/// What is wrong with a tool's arguments, from serde's message, without any input value
/// (serde quotes values in "invalid type" messages).
pub(super) fn argument_problem(message: &str) -> String {
    let field = message
        .split('`')
        .nth(1)
        .filter(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    match field {
        Some(f) if message.contains("missing field") => format!("missing field `{f}`"),
        Some(f) if message.contains("unknown field") => format!("unknown field `{f}`"),
        _ => "an argument has the wrong type (see the tool's input schema)".to_owned(),
    }
}

/// Replaces each known value (longest first) by `[REDACTED:<path>]`.
pub(super) fn redact_with(known: &[(&str, &str)], text: &str) -> String {
    let mut order: Vec<&(&str, &str)> = known.iter().collect();
    order.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    let mut out = text.to_owned();
    for (path, value) in order {
        if out.contains(value) {
            out = out.replace(value, &format!("[REDACTED:{path}]"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_problems_never_quote_values() {
        assert_eq!(
            argument_problem("failed to deserialize parameters: missing field `path`"),
            "missing field `path`"
        );
        let leaked = argument_problem(
            "failed to deserialize parameters: invalid type: integer `424242`, expected a string",
        );
        assert!(!leaked.contains("424242"), "{leaked}");
    }

    #[test]
    fn denial_names_the_permission_and_path() {
        let f = Failure::new(403, "Forbidden");
        assert_eq!(
            explain(&f, Some("db/pw"), "read", true),
            "Access denied: this agent has no policy granting read on 'db/pw' in this vault."
        );
        let gone = Failure::new(410, "Secret expired");
        assert!(explain(&gone, Some("x"), "read", true).contains("expired or has exceeded"));
    }

    #[test]
    fn use_only_points_at_execute_http() {
        let mut f = Failure::new(403, "use-only");
        f.kind = "use_only".into();
        let text = explain(&f, Some("api/stripe"), "read", true);
        assert!(
            text.contains("execute_http") && text.contains("api/stripe"),
            "{text}"
        );
    }

    #[test]
    fn the_problem_type_decides_the_sentence_before_the_status() {
        let mut f = Failure::new(403, "Address refused");
        f.kind = "ip_denied".into();
        assert!(explain(&f, Some("a/b"), "read", true).contains("IP rules"));
        f.kind = "resource_limit_exceeded".into();
        assert!(explain(&f, None, "write", true).starts_with("Resource limit reached"));
        let mut outage = Failure::new(503, "keystore unavailable");
        outage.kind = "unavailable".into();
        outage.request_id = Some("req-1".into());
        assert_eq!(
            explain(&outage, Some("a/b"), "read", true),
            "Talon is unavailable (503 keystore unavailable); reference req-1."
        );
    }
}
