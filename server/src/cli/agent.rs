//! Agent commands.

use super::*;
use talon_api::agents::{AgentCreatedResponse, CreateAgentRequest};

pub(super) async fn run(s: &mut Session, c: AgentCmd) -> Res {
    match c {
        AgentCmd::List => {
            let v = s.get("/v1/agents").await?;
            s.show_list(
                &v,
                "agents",
                &["id", "name", "is_active", "vault_ids", "created_at"],
            );
        }
        AgentCmd::Create {
            name,
            description,
            scopes,
            vault_ids,
            token_ttl,
            expires_at,
        } => {
            let body = CreateAgentRequest {
                name,
                description,
                scopes: (!scopes.is_empty()).then_some(scopes),
                vault_ids: (!vault_ids.is_empty()).then_some(vault_ids),
                token_ttl_seconds: token_ttl,
                expires_at,
                ..CreateAgentRequest::default()
            };
            let created: AgentCreatedResponse = s
                .fetch(Method::POST, "/v1/agents", &[], Some(&body))
                .await?;
            print_key(s, &created);
        }
        AgentCmd::Get { id } => {
            let v = s.get(&format!("/v1/agents/{id}")).await?;
            s.show(&v);
        }
        AgentCmd::Update {
            id,
            name,
            description,
            scopes,
            vault_ids,
            token_ttl,
            active,
            expires_at,
        } => {
            let mut body = serde_json::Map::new();
            for (k, v) in [
                ("name", name.map(|x| json!(x))),
                ("description", description.map(|x| json!(x))),
                ("scopes", scopes.map(|x| json!(x))),
                ("vault_ids", vault_ids.map(|x| json!(x))),
                ("token_ttl_seconds", token_ttl.map(|x| json!(x))),
                ("is_active", active.map(|x| json!(x))),
                ("expires_at", expires_at.map(|x| json!(x))),
            ] {
                if let Some(v) = v {
                    body.insert(k.into(), v);
                }
            }
            let v = s
                .call(
                    Method::PATCH,
                    &format!("/v1/agents/{id}"),
                    &[],
                    Some(&Value::Object(body)),
                )
                .await?;
            s.show(&v);
        }
        AgentCmd::Delete { id } => {
            s.call(Method::DELETE, &format!("/v1/agents/{id}"), &[], None)
                .await?;
            println!("Agent {id} deleted.");
        }
        AgentCmd::RotateKey { id } => {
            let created: AgentCreatedResponse = s
                .fetch(
                    Method::POST,
                    &format!("/v1/agents/{id}/rotate-key"),
                    &[],
                    NO_BODY,
                )
                .await?;
            print_key(s, &created);
        }
        AgentCmd::Token => {
            let key =
                s.env.agent_api_key.clone().ok_or_else(|| {
                    Exit::usage("set ONECLAW_AGENT_API_KEY to the agent's ocv_ key")
                })?;
            let t = s.exchange_key(&key, s.env.agent_id.clone()).await?;
            println!("{t}");
        }
        AgentCmd::Enroll {
            name,
            email,
            description,
        } => {
            let v = s
                .client
                .call(
                    Method::POST,
                    "/v1/agents/enroll",
                    None,
                    &[],
                    Some(&json!({"name": name, "human_email": email, "description": description})),
                )
                .await
                .map_err(|f| failure_exit(f, s.g.verbose))?;
            if s.format == Format::Json {
                s.show(&v);
            } else {
                eprintln!("Ask {email} to approve this agent at:");
                println!("{}", scalar(&v["approval_url"]));
            }
        }
        AgentCmd::Me => {
            let v = s.get("/v1/agents/me").await?;
            s.show(&v);
        }
    }
    Ok(())
}

/// Prints a new agent key once.
fn print_key(s: &Session, created: &AgentCreatedResponse) {
    let what = format!("Agent {} ({})", created.agent.name, created.agent.id);
    let doc = serde_json::to_value(created).unwrap_or_default();
    s.print_once(&doc, "api_key", &what);
}
