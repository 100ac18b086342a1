//! Vault commands.

use super::*;
use talon_api::vaults::{CreateVaultRequest, VaultListResponse, VaultResponse};

pub(super) async fn run(s: &mut Session, c: VaultCmd) -> Res {
    match c {
        VaultCmd::List => {
            let v = s.get("/v1/vaults").await?;
            s.show_list(
                &v,
                "vaults",
                &["id", "name", "description", "created_by_type", "created_at"],
            );
        }
        VaultCmd::Create { name, description } => {
            let body = CreateVaultRequest { name, description };
            let vault: VaultResponse = s
                .fetch(Method::POST, "/v1/vaults", &[], Some(&body))
                .await?;
            if s.format == Format::Plain {
                println!("{}", vault.id);
            } else {
                s.show(&serde_json::to_value(&vault).unwrap_or_default());
            }
        }
        VaultCmd::Get { id } => {
            let v = s.get(&format!("/v1/vaults/{id}")).await?;
            s.show(&v);
        }
        VaultCmd::Link { id } => {
            let id = resolve(s, &id).await?;
            s.stored.set_setting("default-vault", Some(id.clone()));
            s.stored
                .save_settings()
                .map_err(|e| Exit(6, format!("cannot write the config: {e}")))?;
            println!("Default vault: {id}");
        }
        VaultCmd::Delete { id } => {
            if !s.g.yes {
                let vault: VaultResponse = s
                    .fetch(Method::GET, &format!("/v1/vaults/{id}"), &[], NO_BODY)
                    .await?;
                let name = vault.name;
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

/// The id of the vault `id_or_name` names: an id is checked with `GET /v1/vaults/{id}`, a name
/// must belong to exactly one vault the caller can see.
pub(super) async fn resolve(s: &mut Session, id_or_name: &str) -> Res<String> {
    if uuid::Uuid::parse_str(id_or_name).is_ok() {
        s.get(&format!("/v1/vaults/{id_or_name}")).await?;
        return Ok(id_or_name.to_owned());
    }
    let all: VaultListResponse = s.fetch(Method::GET, "/v1/vaults", &[], NO_BODY).await?;
    let hits: Vec<&VaultResponse> = all.vaults.iter().filter(|v| v.name == id_or_name).collect();
    match hits.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(Exit(4, format!("no vault named '{id_or_name}'"))),
        _ => Err(Exit::usage(format!(
            "several vaults are named '{id_or_name}'; use the id"
        ))),
    }
}
