//! `talon mcp`: the MCP server on stdin/stdout, a REST client of a Talon server acting as one
//! agent on one vault. Configured by 1claw's environment variables or their `TALON_*` names.

use super::Mcp;
use crate::client::{AgentCredential, AgentSession, Client};
use crate::config::{ClientEnv, ExfilMode};
use rmcp::ServiceExt;
use std::sync::Arc;

/// How `talon mcp` calls identify themselves in the audit log (`user_agent`).
pub const MCP_USER_AGENT: &str = concat!("talon-mcp/", env!("CARGO_PKG_VERSION"));

/// Talon's default listen address.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// The stdio server's settings, read from the environment.
pub struct StdioConfig {
    pub base_url: String,
    pub vault_id: String,
    pub credential: AgentCredential,
    pub exfil: ExfilMode,
}

/// Serves only `inspect_content` on stdin/stdout.
pub async fn run_local() -> Result<(), String> {
    tracing::info!("talon mcp on stdio, local-only");
    Mcp::local_only()
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("MCP start-up failed: {e}"))?
        .waiting()
        .await
        .map_err(|e| format!("MCP server stopped: {e}"))?;
    Ok(())
}

impl StdioConfig {
    /// From the client environment; the error names the variable to set.
    pub fn from_env(env: &ClientEnv) -> Result<StdioConfig, String> {
        let base_url = env
            .base_url
            .clone()
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let vault_id = env
            .vault_id
            .clone()
            .ok_or("set ONECLAW_VAULT_ID (or TALON_VAULT_ID) to the vault the tools work on")?;
        let vault_id = uuid::Uuid::parse_str(&vault_id)
            .map_err(|_| "ONECLAW_VAULT_ID must be a vault UUID".to_owned())?
            .to_string();
        let credential = match env.agent_api_key.clone() {
            Some(api_key) => AgentCredential::Key {
                api_key,
                agent_id: env.agent_id.clone(),
            },
            None => AgentCredential::Token(env.agent_token.clone().ok_or(
                "set ONECLAW_AGENT_API_KEY (an ocv_ agent key) or ONECLAW_AGENT_TOKEN (an agent JWT)",
            )?),
        };
        Ok(StdioConfig {
            base_url,
            vault_id,
            credential,
            exfil: env.exfil,
        })
    }
}

/// Serves MCP on stdin/stdout until the client closes the stream.
pub async fn run(config: StdioConfig) -> Result<(), String> {
    let session = Arc::new(AgentSession::new(
        Client::with_user_agent(&config.base_url, MCP_USER_AGENT),
        config.credential,
    ));
    tracing::info!(server = %config.base_url, vault = %config.vault_id, "talon mcp on stdio");
    let service = Mcp::over_rest(session, config.vault_id)
        .with_exfil(config.exfil)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("MCP start-up failed: {e}"))?;
    service
        .waiting()
        .await
        .map_err(|e| format!("MCP server stopped: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_mcp_user_agent_is_recognised_as_mcp() {
        assert!(super::MCP_USER_AGENT.starts_with(crate::extract::MCP_USER_AGENT_NAME));
    }
}
