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
        AuditCmd::Verify { from, to } => {
            let pairs = [("from", from), ("to", to)];
            let query: Vec<(&str, &str)> = pairs
                .iter()
                .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
                .collect();
            let v = s
                .call(Method::GET, "/v1/audit/verify", &query, None)
                .await?;
            s.show(&v);
            Ok(if v["chain_valid"].as_bool() == Some(true) {
                0
            } else {
                7
            })
        }
    }
}
