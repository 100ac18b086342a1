//! Sharing commands.

use super::*;
use talon_api::shares::{CreateShareRequest, ShareResponse};

/// `24h`, `30m`, `7d`, `90s` as seconds.
pub(super) fn duration_s(s: &str) -> Option<i64> {
    let (n, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = n.parse().ok()?;
    Some(
        n * match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return None,
        },
    )
}

pub(super) async fn run(s: &mut Session, c: ShareCmd) -> Res {
    match c {
        ShareCmd::Create {
            secret_id,
            path,
            recipient_type,
            recipient,
            email,
            expires_at,
            expires_in,
            max_access_count,
        } => {
            let secret_id = match (secret_id, path) {
                (Some(id), _) => id,
                (None, Some(p)) => {
                    let vault = s.vault()?;
                    s.list_secrets(&vault, &p)
                        .await?
                        .into_iter()
                        .find(|x| x.version.path == p)
                        .map(|x| x.version.id)
                        .ok_or_else(|| Exit(4, format!("no secret at '{p}'")))?
                }
                (None, None) => return Err(Exit::usage("give a SECRET_ID or --path")),
            };
            let expires_at = match (expires_at, expires_in) {
                (Some(t), _) => t,
                (None, Some(d)) => {
                    let secs = duration_s(&d)
                        .ok_or_else(|| Exit::usage("--expires-in looks like 24h, 30m or 7d"))?;
                    talon_core::clock::rfc3339((store::now_s() + secs) * 1000)
                }
                (None, None) => return Err(Exit::usage("give --expires-at or --expires-in")),
            };
            let body = CreateShareRequest {
                recipient_type,
                recipient_id: recipient,
                email,
                expires_at,
                max_access_count,
                passphrase: None,
                ip_allowlist: None,
            };
            let share: ShareResponse = s
                .fetch(
                    Method::POST,
                    &format!("/v1/secrets/{secret_id}/share"),
                    &[],
                    Some(&body),
                )
                .await?;
            if s.format == Format::Json {
                s.show(&serde_json::to_value(&share).unwrap_or_default());
            } else {
                println!("{}", share.share_url);
            }
        }
        ShareCmd::List { inbound } => {
            let dir = if inbound { "inbound" } else { "outbound" };
            let v = s.get(&format!("/v1/shares/{dir}")).await?;
            s.show_list(
                &v,
                "shares",
                &[
                    "id",
                    "secret_path",
                    "recipient_type",
                    "status",
                    "access_count",
                    "expires_at",
                ],
            );
        }
        ShareCmd::Open {
            id,
            passphrase_stdin,
        } => {
            let body = if passphrase_stdin {
                json!({"passphrase": read_stdin()?.trim_end_matches(['\n', '\r'])})
            } else {
                json!({})
            };
            let bearer = s.bearer().await.ok();
            let v = s
                .client
                .call(
                    Method::GET,
                    &format!("/v1/share/{id}"),
                    bearer.as_deref(),
                    &[],
                    Some(&body),
                )
                .await
                .map_err(|f| failure_exit(f, s.g.verbose))?;
            if s.format == Format::Json {
                s.show(&v);
            } else {
                println!("{}", scalar(&v["value"]));
            }
        }
        ShareCmd::Accept { id } => {
            s.call(Method::POST, &format!("/v1/shares/{id}/accept"), &[], None)
                .await?;
            println!("Share {id} accepted.");
        }
        ShareCmd::Decline { id } => {
            s.call(Method::POST, &format!("/v1/shares/{id}/decline"), &[], None)
                .await?;
            println!("Share {id} declined.");
        }
        ShareCmd::Revoke { id } => {
            s.call(Method::DELETE, &format!("/v1/share/{id}"), &[], None)
                .await?;
            println!("Share {id} revoked.");
        }
    }
    Ok(())
}
