//! Policy commands of the selected vault.

use super::*;

pub(super) async fn run(s: &mut Session, c: PolicyCmd) -> Res {
    let vault = s.vault()?;
    match c {
        PolicyCmd::List => {
            let v = s.get(&format!("/v1/vaults/{vault}/policies")).await?;
            s.show_list(
                &v,
                "policies",
                &[
                    "id",
                    "principal_type",
                    "principal_id",
                    "secret_path_pattern",
                    "permissions",
                    "effect",
                ],
            );
        }
        PolicyCmd::Create {
            principal_type,
            principal_id,
            pattern,
            permissions,
            conditions,
            expires_at,
            effect,
        } => {
            let mut body = json!({
                "principal_type": principal_type, "principal_id": principal_id,
                "secret_path_pattern": pattern, "permissions": permissions,
                "expires_at": expires_at, "effect": effect,
            });
            if let Some(c) = parse_json("--conditions", &conditions)? {
                body["conditions"] = c;
            }
            let v = s
                .call(
                    Method::POST,
                    &format!("/v1/vaults/{vault}/policies"),
                    &[],
                    Some(&body),
                )
                .await?;
            s.show(&v);
        }
        PolicyCmd::Update {
            id,
            permissions,
            conditions,
            expires_at,
        } => {
            let mut body = json!({});
            if let Some(p) = permissions {
                body["permissions"] = json!(p);
            }
            if let Some(c) = parse_json("--conditions", &conditions)? {
                body["conditions"] = c;
            }
            if let Some(e) = expires_at {
                body["expires_at"] = json!(e);
            }
            let v = s
                .call(
                    Method::PUT,
                    &format!("/v1/vaults/{vault}/policies/{id}"),
                    &[],
                    Some(&body),
                )
                .await?;
            s.show(&v);
        }
        PolicyCmd::Delete { id } => {
            s.call(
                Method::DELETE,
                &format!("/v1/vaults/{vault}/policies/{id}"),
                &[],
                None,
            )
            .await?;
            println!("Policy {id} deleted.");
        }
    }
    Ok(())
}
