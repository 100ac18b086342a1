//! MCP clients of a test server (rmcp): `talon mcp` over stdio as an agent, and the
//! streamable HTTP transport of `/mcp`.

use super::TestServer;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use std::collections::HashMap;

/// A connected MCP client.
pub type McpClient = RunningService<RoleClient, ()>;

/// Calls `tool` with `args` (an object).
pub async fn call_tool(client: &McpClient, tool: &str, args: Value) -> CallToolResult {
    let params = CallToolRequestParams::new(tool.to_owned())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    client.call_tool(params).await.expect("tools/call")
}

/// The text of a tool result.
pub fn tool_text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The streamable HTTP transport of `/mcp` with a bearer and a vault.
pub fn http_client_config(
    base: &str,
    token: &str,
    vault: &str,
) -> StreamableHttpClientTransportConfig {
    let mut headers = HashMap::new();
    headers.insert(
        HeaderName::from_static("x-vault-id"),
        HeaderValue::from_str(vault).unwrap(),
    );
    StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"))
        .auth_header(token.to_owned())
        .custom_headers(headers)
}

/// `talon mcp` over stdio as the agent with `key`, on `vault`.
pub async fn stdio_client(srv: &TestServer, vault: &str, key: &str) -> McpClient {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_talon"));
    cmd.arg("mcp")
        .env_clear()
        .env("TALON_URL", &srv.base)
        .env("TALON_AGENT_API_KEY", key)
        .env("TALON_VAULT_ID", vault);
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn talon mcp");
    ().serve(transport).await.expect("initialize over stdio")
}
