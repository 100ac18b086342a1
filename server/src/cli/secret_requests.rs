//! `talon secret-requests`: the credentials agents asked for, and answering them. A person
//! fulfils a request with a value (from stdin, a file or a prompt without echo, never an
//! argument) stored in a vault and path of their choosing, or declines it; the agent learns
//! the vault and path, never the value.

use super::*;
use std::collections::HashMap;
use talon_api::SecretValue;
use zeroize::Zeroizing;

/// The longest purpose shown in a table row (the whole text is in `show` and `--json`).
const PURPOSE_WIDTH: usize = 48;

/// The body of `POST /v1/secret-requests/{id}/fulfil`.
#[derive(Serialize)]
struct FulfilBody<'a> {
    vault_id: &'a str,
    path: &'a str,
    #[serde(serialize_with = "talon_api::expose_value")]
    value: SecretValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    grant: Option<&'a str>,
}

pub(super) async fn run(s: &mut Session, c: SecretRequestsCmd) -> Res {
    match c {
        SecretRequestsCmd::List { status } => list(s, status.as_deref()).await,
        SecretRequestsCmd::Show { id } => {
            let v = s.get(&request_url(&id)?).await?;
            s.show(&v);
            Ok(())
        }
        SecretRequestsCmd::Fulfil {
            id,
            value,
            path,
            grant,
            file,
        } => {
            if value.is_some() {
                return Err(Exit::usage(
                    "refusing a value on the command line (it would land in shell history): pipe it on stdin, use --file, or run on a terminal to be asked",
                ));
            }
            fulfil(s, &id, path, grant.as_deref(), file).await
        }
        SecretRequestsCmd::Decline { id, reason } => {
            let v = s
                .call(
                    Method::POST,
                    &format!("{}/decline", request_url(&id)?),
                    &[],
                    Some(&json!({ "reason": reason })),
                )
                .await?;
            if s.format == Format::Json {
                s.show(&v);
            } else {
                println!("Declined secret request {id} ({}).", scalar(&v["label"]));
            }
            Ok(())
        }
    }
}

/// `/v1/secret-requests/{id}`, for an id that is a UUID.
fn request_url(id: &str) -> Res<String> {
    uuid::Uuid::parse_str(id)
        .map(|_| format!("/v1/secret-requests/{id}"))
        .map_err(|_| Exit::usage(format!("'{id}' is not a secret request id")))
}

/// The requests the caller may see: the REST document with `--json`, else one row each
/// (pending first, as the server orders them), naming agents when the caller may list them.
async fn list(s: &mut Session, status: Option<&str>) -> Res {
    let query: Vec<(&str, &str)> = status.map(|x| vec![("status", x)]).unwrap_or_default();
    let doc = s
        .call(Method::GET, "/v1/secret-requests", &query, None)
        .await?;
    if s.format == Format::Json {
        s.show(&doc);
        return Ok(());
    }
    let items = doc["secret_requests"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names = if items.is_empty() {
        HashMap::new()
    } else {
        agent_names(s).await
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|q| {
            let agent = q["agent_id"]
                .as_str()
                .and_then(|id| names.get(id).cloned())
                .unwrap_or_else(|| scalar(&q["agent_id"]));
            let stored_at = match (q["vault_id"].as_str(), q["path"].as_str()) {
                (Some(v), Some(p)) => format!("{v}/{p}"),
                _ => "-".into(),
            };
            json!({
                "id": q["id"],
                "status": q["status"],
                "label": q["label"],
                "purpose": shortened(&scalar(&q["purpose"]), PURPOSE_WIDTH),
                "agent": agent,
                "suggested_path": q["suggested_path"],
                "stored_at": stored_at,
                "expires_at": q["expires_at"],
            })
        })
        .collect();
    s.show_list(
        &json!({ "secret_requests": rows }),
        "secret_requests",
        &[
            "id",
            "status",
            "label",
            "purpose",
            "agent",
            "suggested_path",
            "stored_at",
            "expires_at",
        ],
    );
    Ok(())
}

/// Agent id → name, from `GET /v1/agents`; empty when the caller may not list agents.
async fn agent_names(s: &mut Session) -> HashMap<String, String> {
    let Ok(Ok(v)) = s.try_call(Method::GET, "/v1/agents", None).await else {
        return HashMap::new();
    };
    v["agents"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|a| {
                    Some((a["id"].as_str()?.to_owned(), a["name"].as_str()?.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `text` cut to `width` characters, with `…` when cut.
fn shortened(text: &str, width: usize) -> String {
    let one_line = text.replace(['\n', '\r', '\t'], " ");
    if one_line.chars().count() <= width {
        return one_line;
    }
    let mut out: String = one_line.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Stores the value the person gives at `path` (default: the suggested path) of the selected
/// vault and answers the request, granting the agent `grant`.
async fn fulfil(
    s: &mut Session,
    id: &str,
    path: Option<String>,
    grant: Option<&str>,
    file: Option<std::path::PathBuf>,
) -> Res {
    let url = request_url(id)?;
    let request = s.get(&url).await?;
    let status = request["status"].as_str().unwrap_or_default();
    if status != "pending" {
        return Err(Exit::usage(format!(
            "secret request {id} is already {status}; nothing was stored"
        )));
    }
    let Some(path) = path.or_else(|| request["suggested_path"].as_str().map(str::to_owned)) else {
        return Err(Exit::usage(format!(
            "secret request {id} suggests no path: give one with --path"
        )));
    };
    let selected = s.vault()?;
    let vault = super::vault::resolve(s, &selected).await?;
    let value = match file {
        Some(f) => SecretValue::new(
            std::fs::read_to_string(&f)
                .map_err(|e| Exit::usage(format!("cannot read {}: {e}", f.display())))?,
        ),
        None if prompt::interactive() => {
            let mut line = prompt::hidden_line(&format!(
                "Value for '{}' (stored at {path})",
                scalar(&request["label"])
            ))?;
            SecretValue::new(std::mem::take(&mut *line))
        }
        None => {
            let mut text = Zeroizing::new(read_stdin()?);
            if text.ends_with('\n') {
                text.pop();
            }
            SecretValue::new(std::mem::take(&mut *text))
        }
    };
    if value.expose_secret().is_empty() {
        return Err(Exit::usage(format!(
            "no value given for secret request {id}; nothing was stored"
        )));
    }
    let body = FulfilBody {
        vault_id: &vault,
        path: &path,
        value,
        grant,
    };
    let v: Value = s
        .fetch(Method::POST, &format!("{url}/fulfil"), &[], Some(&body))
        .await?;
    drop(body);
    if s.format == Format::Json {
        s.show(&v);
        return Ok(());
    }
    let granted = match v["granted"].as_str() {
        Some("use") => "the agent may use it".to_owned(),
        Some("read") => "the agent may read it".to_owned(),
        _ => "no access granted to the agent".to_owned(),
    };
    println!(
        "Fulfilled secret request {id}: stored at {} in vault {} ({granted}).",
        scalar(&v["path"]),
        scalar(&v["vault_id"]),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_purposes_are_cut_to_one_line() {
        assert_eq!(shortened("short", 10), "short");
        assert_eq!(shortened("two\nlines", 10), "two lines");
        assert_eq!(shortened("abcdefghijkl", 5), "abcd…");
    }
}
