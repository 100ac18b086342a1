//! Secret commands of the selected vault.

use super::*;
use talon_api::secrets::{
    PutSecretRequest, RotateSecretRequest, SecretResponse, SecretVersionResponse,
};
use talon_api::SecretValue;
use zeroize::Zeroizing;

pub(super) async fn run(s: &mut Session, c: SecretCmd) -> Res<i32> {
    let vault = s.vault()?;
    match c {
        SecretCmd::List { prefix } => {
            let prefix = prefix.unwrap_or_default();
            let v = s
                .call(
                    Method::GET,
                    &format!("/v1/vaults/{vault}/secret-details"),
                    &[("prefix", prefix.as_str())],
                    None,
                )
                .await?;
            s.show_list(
                &v,
                "secrets",
                &["path", "type", "version", "expires_at", "access_count"],
            );
        }
        SecretCmd::Get {
            path,
            version,
            field,
        } => {
            let url = match version {
                Some(n) => format!("/v1/vaults/{vault}/secret-version/{path}/{n}"),
                None => format!("/v1/vaults/{vault}/secrets/{path}"),
            };
            let read: SecretResponse = s.fetch(Method::GET, &url, &[], NO_BODY).await?;
            match field.as_deref() {
                Some("value") | None if s.format != Format::Json => {
                    let mut out = std::io::stdout();
                    let _ = out.write_all(read.value.expose_secret().as_bytes());
                    if out.is_terminal() {
                        let _ = out.write_all(b"\n");
                    }
                }
                Some("json") | Some("value") | None => {
                    let doc =
                        Zeroizing::new(serde_json::to_string_pretty(&read).unwrap_or_default());
                    println!("{}", doc.as_str());
                }
                Some(other) => {
                    return Err(Exit::usage(format!(
                        "unknown --field '{other}' (value or json)"
                    )))
                }
            }
        }
        SecretCmd::Set {
            path,
            value,
            secret_type,
            metadata,
            expires_at,
            max_access_count,
            file,
        } => {
            if value.is_some() {
                return Err(Exit::usage(
                    "refusing a value on the command line (it would land in shell history): pipe it on stdin or use --file",
                ));
            }
            let text = match file {
                Some(f) => std::fs::read_to_string(&f)
                    .map_err(|e| Exit::usage(format!("cannot read {}: {e}", f.display())))?,
                None => {
                    let t = read_stdin()?;
                    t.strip_suffix('\n').map(str::to_owned).unwrap_or(t)
                }
            };
            let body = PutSecretRequest {
                value: SecretValue::new(text),
                secret_type,
                metadata: parse_json("--metadata", &metadata)?,
                expires_at,
                max_access_count,
            };
            let stored: SecretVersionResponse = s
                .fetch(
                    Method::PUT,
                    &format!("/v1/vaults/{vault}/secrets/{path}"),
                    &[],
                    Some(&body),
                )
                .await?;
            if s.format == Format::Json {
                s.show(&serde_json::to_value(&stored).unwrap_or_default());
            } else {
                println!(
                    "Stored {path} (version {}, type {}).",
                    stored.version, stored.secret_type
                );
            }
        }
        SecretCmd::Delete { path } => {
            s.call(
                Method::DELETE,
                &format!("/v1/vaults/{vault}/secrets/{path}"),
                &[],
                None,
            )
            .await?;
            println!("Deleted {path}.");
        }
        SecretCmd::Describe { path } => {
            let found = s
                .list_secrets(&vault, &path)
                .await?
                .into_iter()
                .find(|x| x.version.path == path)
                .ok_or_else(|| Exit(4, format!("no secret at '{path}'")))?;
            s.show(&serde_json::to_value(&found).unwrap_or_default());
        }
        SecretCmd::Rotate {
            path,
            length,
            charset,
            print,
        } => {
            let body = RotateSecretRequest {
                length,
                charset,
                secret_type: None,
            };
            let rotated: SecretVersionResponse = s
                .fetch(
                    Method::POST,
                    &format!("/v1/vaults/{vault}/secret-rotate/{path}"),
                    &[],
                    Some(&body),
                )
                .await?;
            if print {
                let read: SecretResponse = s.read_secret(&vault, &path).await?;
                let mut out = std::io::stdout();
                let _ = out.write_all(read.value.expose_secret().as_bytes());
                let _ = out.write_all(b"\n");
            } else {
                println!("Rotated {path}: version {}.", rotated.version);
            }
        }
        SecretCmd::DisableVersion { path, version } => {
            s.call(
                Method::POST,
                &format!("/v1/vaults/{vault}/secret-version-disable/{path}/{version}"),
                &[],
                None,
            )
            .await?;
            println!("Disabled version {version} of {path}.");
        }
        SecretCmd::Versions { path } => {
            let v = s
                .get(&format!("/v1/vaults/{vault}/secret-versions/{path}"))
                .await?;
            s.show_list(
                &v,
                "versions",
                &["version", "type", "created_at", "is_disabled"],
            );
        }
    }
    Ok(0)
}
