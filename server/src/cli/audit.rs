//! Audit log commands.

use super::*;

pub(super) async fn run(s: &mut Session, c: AuditCmd) -> Res<i32> {
    match c {
        AuditCmd::List {
            action,
            actor_type,
            actor_id,
            resource_id,
            from,
            to,
            limit,
            offset,
        } => {
            let pairs = [
                ("action", action),
                ("actor_type", actor_type),
                ("actor_id", actor_id),
                ("resource_id", resource_id),
                ("from", from),
                ("to", to),
                ("limit", limit),
                ("offset", offset),
            ];
            let query: Vec<(&str, &str)> = pairs
                .iter()
                .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
                .collect();
            let v = s
                .call(Method::GET, "/v1/audit/events", &query, None)
                .await?;
            s.show_list(
                &v,
                "events",
                &[
                    "created_at",
                    "action",
                    "actor_type",
                    "actor_id",
                    "resource_id",
                    "outcome",
                ],
            );
            Ok(0)
        }
        AuditCmd::Verify { from, to, limit } => {
            let pairs = [("from", from), ("to", to), ("limit", limit)];
            let query: Vec<(&str, &str)> = pairs
                .iter()
                .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
                .collect();
            let v = s
                .call(Method::GET, "/v1/audit/verify", &query, None)
                .await?;
            s.show(&v);
            Ok(verify_exit(&v))
        }
    }
}

/// The exit code of `talon audit verify`, with a one-line verdict on stderr: 0 only when the
/// server says the chain is valid AND the check covered all of it (a server that does not say
/// `complete` counts as partial), 7 when broken, 8 when partial.
fn verify_exit(v: &Value) -> i32 {
    let seq = |k: &str| v[k].as_i64().map_or("-".to_owned(), |n| n.to_string());
    let range = format!(
        "{} events checked, seq {} to {}",
        v["events_checked"].as_i64().unwrap_or(0),
        seq("first_seq"),
        seq("last_seq")
    );
    if v["chain_valid"].as_bool() != Some(true) {
        eprintln!(
            "broken (partial check): {range}; first break at seq {}: {}",
            seq("broken_at_seq"),
            v["broken_reason"].as_str().unwrap_or("unknown")
        );
        7
    } else if v["complete"].as_bool() != Some(true) {
        eprintln!("partial: {range}; the rest of the chain was not verified");
        8
    } else {
        eprintln!("valid: the whole chain verified ({range})");
        0
    }
}
