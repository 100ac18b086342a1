//! Vault commands.

use super::*;

pub(super) async fn run(s: &mut Session, c: VaultCmd) -> Res {
    match c {
        VaultCmd::List => {
            let v = s.get("/v1/vaults").await?;
            s.show_list(
                &v,
                "vaults",
                &[
                    "id",
                    "name",
                    "secret_count",
                    "created_by_type",
                    "created_at",
                ],
            );
        }
        VaultCmd::Create { name, description } => {
            let v = s
                .call(
                    Method::POST,
                    "/v1/vaults",
                    &[],
                    Some(&json!({"name": name, "description": description})),
                )
                .await?;
            if s.format == Format::Plain {
                println!("{}", scalar(&v["id"]));
            } else {
                s.show(&v);
            }
        }
        VaultCmd::Get { id } => {
            let v = s.get(&format!("/v1/vaults/{id}")).await?;
            s.show(&v);
        }
        VaultCmd::Link { id } => {
            let id = if uuid::Uuid::parse_str(&id).is_ok() {
                s.get(&format!("/v1/vaults/{id}")).await?;
                id
            } else {
                let all = s.get("/v1/vaults").await?;
                let hits: Vec<&Value> = all["vaults"]
                    .as_array()
                    .map(|a| a.iter().filter(|v| v["name"] == json!(id)).collect())
                    .unwrap_or_default();
                match hits.as_slice() {
                    [one] => scalar(&one["id"]),
                    [] => return Err(Exit(4, format!("no vault named '{id}'"))),
                    _ => {
                        return Err(Exit::usage(format!(
                            "several vaults are named '{id}'; use the id"
                        )))
                    }
                }
            };
            s.stored.set_setting("default-vault", Some(id.clone()));
            s.stored
                .save_settings()
                .map_err(|e| Exit(6, format!("cannot write the config: {e}")))?;
            println!("Default vault: {id}");
        }
        VaultCmd::Delete { id } => {
            if !s.g.yes {
                let v = s.get(&format!("/v1/vaults/{id}")).await?;
                let name = scalar(&v["name"]);
                eprint!("Type the vault name ({name}) to delete it: ");
                let _ = std::io::stderr().flush();
                let mut typed = String::new();
                let _ = std::io::stdin().read_line(&mut typed);
                if typed.trim() != name {
                    return Err(Exit::usage("name did not match; nothing deleted"));
                }
            }
            s.call(Method::DELETE, &format!("/v1/vaults/{id}"), &[], None)
                .await?;
            println!("Vault {id} deleted.");
        }
    }
    Ok(())
}
