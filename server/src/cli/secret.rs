//! Secret commands of the selected vault.

use super::*;

pub(super) async fn run(s: &mut Session, c: SecretCmd) -> Res<i32> {
    let vault = s.vault()?;
    match c {
        SecretCmd::List { prefix } => {
            let prefix = prefix.unwrap_or_default();
            let v = s
                .call(
                    Method::GET,
                    &format!("/v1/vaults/{vault}/secrets"),
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
            let v = s.get(&url).await?;
            match field.as_deref() {
                Some("json") => {
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default())
                }
                Some("value") | None if s.format != Format::Json => {
                    let value = talon_core::material::SecretValue::new(scalar(&v["value"]));
                    let mut out = std::io::stdout();
                    let _ = out.write_all(value.expose_secret().as_bytes());
                    if out.is_terminal() {
                        let _ = out.write_all(b"\n");
                    }
                }
                Some("value") | None => {
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default())
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
            let secret = talon_core::material::SecretValue::new(text);
            let mut body = json!({ "value": secret.expose_secret() });
            if let Some(t) = secret_type {
                body["type"] = json!(t);
            }
            if let Some(m) = parse_json("--metadata", &metadata)? {
                body["metadata"] = m;
            }
            if let Some(e) = expires_at {
                body["expires_at"] = json!(e);
            }
            if let Some(n) = max_access_count {
                body["max_access_count"] = json!(n);
            }
            let v = s
                .call(
                    Method::PUT,
                    &format!("/v1/vaults/{vault}/secrets/{path}"),
                    &[],
                    Some(&body),
                )
                .await?;
            if s.format == Format::Json {
                s.show(&v);
            } else {
                println!(
                    "Stored {path} (version {}, type {}).",
                    v["version"],
                    scalar(&v["type"])
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
            let v = s
                .call(
                    Method::GET,
                    &format!("/v1/vaults/{vault}/secrets"),
                    &[("prefix", path.as_str())],
                    None,
                )
                .await?;
            let found = v["secrets"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["path"] == json!(path)).cloned())
                .ok_or_else(|| Exit(4, format!("no secret at '{path}'")))?;
            s.show(&found);
        }
        SecretCmd::Rotate {
            path,
            length,
            charset,
            print,
        } => {
            let v = s
                .call(
                    Method::POST,
                    &format!("/v1/vaults/{vault}/secret-rotate/{path}"),
                    &[],
                    Some(&json!({"length": length, "charset": charset})),
                )
                .await?;
            if print {
                let read = s.get(&format!("/v1/vaults/{vault}/secrets/{path}")).await?;
                println!("{}", scalar(&read["value"]));
            } else {
                println!("Rotated {path}: version {}.", v["version"]);
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
                &[
                    "version",
                    "type",
                    "created_at",
                    "is_disabled",
                    "access_count",
                ],
            );
        }
    }
    Ok(0)
}
