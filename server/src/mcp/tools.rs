//! The tools of MCP.md section 4, each a call of the REST contract through
//! [`Api`](super::api::Api).

use super::params::*;
use super::wording::{fail, ok, redact_with};
use super::{explain, inspect, Mcp};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, RoleServer};
use serde::{Serialize, Serializer};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use talon_api::policies::CreatePolicyRequest;
use talon_api::secrets::PutSecretRequest;
use talon_api::shares::CreateShareRequest;
use talon_api::vaults::CreateVaultRequest;
use talon_api::SecretValue;

/// What `get_secret` returns: 1claw's four fields, the value written straight from its box.
#[derive(Serialize)]
struct SecretRead<'a> {
    path: &'a str,
    #[serde(rename = "type")]
    secret_type: &'a str,
    version: i64,
    value: Exposed<'a>,
}

/// One env-bundle value in `get_env_bundle`'s answer, written straight from its box.
struct Exposed<'a>(&'a SecretValue);

impl Serialize for Exposed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        talon_api::expose_value(self.0, s)
    }
}

macro_rules! target {
    ($self:ident, $rc:ident) => {
        match $self.target(&$rc) {
            Ok(t) => t,
            Err(msg) => return fail(msg),
        }
    };
}

#[tool_router(vis = "pub(super)")]
impl Mcp {
    #[tool(
        description = "List the secrets of the vault (paths, types, versions; never values). Use it or describe_secret to check that a secret exists.",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn list_secrets(
        &self,
        Parameters(p): Parameters<ListSecretsParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, vault) = target!(self, rc);
        let prefix = p.prefix.unwrap_or_default();
        match b.list_secrets(&vault, &prefix).await {
            Ok(list) if list.is_empty() => ok("No secrets found in this vault."),
            Ok(list) => {
                let mut out = format!("Found {} secret(s):", list.len());
                for s in &list {
                    out.push_str(&format!(
                        "\n- {}  (type: {}, version: {}, expires: {})",
                        s.version.path,
                        s.version.secret_type,
                        s.version.version,
                        s.version.expires_at.as_deref().unwrap_or("never")
                    ));
                }
                ok(out)
            }
            Err(f) => fail(explain(&f, None, "read", b.is_agent())),
        }
    }

    #[tool(
        description = "Read a secret's value. Call it right before you use the value; never repeat, summarize or store the value. Each call counts as an access.",
        annotations(read_only_hint = true)
    )]
    async fn get_secret(
        &self,
        Parameters(p): Parameters<PathParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, vault) = target!(self, rc);
        if p.path.is_empty() {
            return fail("path must not be empty.");
        }
        match b.get_secret(&vault, &p.path).await {
            Ok(read) => {
                let version = &read.version;
                tracing::info!(tool = "get_secret", vault = %vault, path = %p.path, version = version.version, "secret accessed");
                self.remember(&p.path, &read.value);
                let out = SecretRead {
                    path: &version.path,
                    secret_type: &version.secret_type,
                    version: version.version,
                    value: Exposed(&read.value),
                };
                ok(serde_json::to_string(&out).unwrap_or_default())
            }
            Err(f) => fail(explain(&f, Some(&p.path), "read", b.is_agent())),
        }
    }

    #[tool(
        description = "Store a secret (a new version at the path). The value is never echoed back."
    )]
    async fn put_secret(
        &self,
        Parameters(p): Parameters<PutSecretParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, vault) = target!(self, rc);
        if p.value.is_empty() {
            return fail("value must not be empty.");
        }
        if p.max_access_count.is_some_and(|n| n < 1) {
            return fail("max_access_count must be greater than 0.");
        }
        let input = PutSecretRequest {
            value: SecretValue::new(p.value),
            secret_type: Some(p.secret_type.unwrap_or_else(|| "api_key".into())),
            metadata: p.metadata,
            expires_at: p.expires_at,
            max_access_count: p.max_access_count,
        };
        match b.put_secret(&vault, &p.path, &input).await {
            Ok(v) => {
                tracing::info!(tool = "put_secret", vault = %vault, path = %p.path, version = v.version, "secret stored");
                ok(format!(
                    "Secret stored at '{}' (version {}, type: {}).",
                    p.path, v.version, v.secret_type
                ))
            }
            Err(f) => fail(explain(&f, Some(&p.path), "write", b.is_agent())),
        }
    }

    #[tool(
        description = "Show a secret's metadata (type, version, expiry, access counts) without reading or spending its value.",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn describe_secret(
        &self,
        Parameters(p): Parameters<PathParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, vault) = target!(self, rc);
        match Self::describe(&b, &vault, &p.path).await {
            Ok(Some(s)) => {
                // `id` (not in 1claw's list) is what share_secret needs.
                let v = &s.version;
                let out = json!({
                    "id": v.id, "path": v.path, "type": v.secret_type, "version": v.version,
                    "metadata": v.metadata, "created_at": v.created_at,
                    "expires_at": v.expires_at, "access_count": s.access_count,
                    "max_access_count": s.max_access_count, "is_disabled": s.is_disabled,
                });
                ok(serde_json::to_string_pretty(&out).unwrap_or_default())
            }
            Ok(None) => fail(format!("No secret found at path '{}'.", p.path)),
            Err(f) => fail(explain(&f, Some(&p.path), "read", b.is_agent())),
        }
    }

    #[tool(
        description = "Soft-delete the secret at a path (all versions).",
        annotations(destructive_hint = true)
    )]
    async fn delete_secret(
        &self,
        Parameters(p): Parameters<PathParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, vault) = target!(self, rc);
        match b.delete_secret(&vault, &p.path).await {
            Ok(()) => ok(format!("Secret at '{}' has been soft-deleted.", p.path)),
            Err(f) => fail(explain(&f, Some(&p.path), "delete", b.is_agent())),
        }
    }

    #[tool(
        description = "Store a new value for an existing secret (a new version), keeping its type and metadata."
    )]
    async fn rotate_and_store(
        &self,
        Parameters(p): Parameters<RotateParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, vault) = target!(self, rc);
        if p.value.is_empty() {
            return fail("value must not be empty.");
        }
        let current = match Self::describe(&b, &vault, &p.path).await {
            Ok(c) => c,
            Err(f) => return fail(explain(&f, Some(&p.path), "read", b.is_agent())),
        };
        let (secret_type, metadata) = match current {
            Some(c) => (
                c.version.secret_type,
                Some(c.version.metadata).filter(Value::is_object),
            ),
            None => ("api_key".to_owned(), None),
        };
        let input = PutSecretRequest {
            value: SecretValue::new(p.value),
            secret_type: Some(secret_type),
            metadata,
            expires_at: None,
            max_access_count: None,
        };
        match b.put_secret(&vault, &p.path, &input).await {
            Ok(v) => ok(format!(
                "Rotated secret at '{}'. New version: {}.",
                p.path, v.version
            )),
            Err(f) => fail(explain(&f, Some(&p.path), "write", b.is_agent())),
        }
    }

    #[tool(
        description = "Resolve the vault's environment variables for an environment: the final KEY=VALUE set with branch overrides applied (vault < branch override). If environment is omitted, the agent's tagged environment is used. Counts as an access.",
        annotations(read_only_hint = true)
    )]
    async fn resolve_env(
        &self,
        Parameters(p): Parameters<ResolveEnvParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, vault) = target!(self, rc);
        let env = p.environment.as_deref().filter(|e| !e.is_empty());
        let branch = p.git_branch.as_deref().filter(|e| !e.is_empty());
        match b.resolve_env(&vault, env, branch).await {
            Ok(r) => {
                tracing::info!(tool = "resolve_env", vault = %vault, environment = %r.environment, count = r.vars.len(), "env vars resolved");
                for (k, v) in &r.vars {
                    self.remember(&format!("env/{}/{k}", r.environment), v);
                }
                #[derive(Serialize)]
                struct Out<'a> {
                    vars: BTreeMap<&'a str, Exposed<'a>>,
                    sources: &'a BTreeMap<String, String>,
                    environment: &'a str,
                    git_branch: Option<&'a str>,
                    resolved_at: &'a str,
                }
                let out = Out {
                    vars: r
                        .vars
                        .iter()
                        .map(|(k, v)| (k.as_str(), Exposed(v)))
                        .collect(),
                    sources: &r.sources,
                    environment: &r.environment,
                    git_branch: r.git_branch.as_deref(),
                    resolved_at: &r.resolved_at,
                };
                ok(serde_json::to_string_pretty(&out).unwrap_or_default())
            }
            Err(f) => fail(explain(&f, None, "read", b.is_agent())),
        }
    }

    #[tool(
        description = "Read an env_bundle secret (KEY=VALUE lines) as a JSON object. Counts as an access.",
        annotations(read_only_hint = true)
    )]
    async fn get_env_bundle(
        &self,
        Parameters(p): Parameters<PathParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, vault) = target!(self, rc);
        match b.get_secret(&vault, &p.path).await {
            Ok(read) => {
                let t = &read.version.secret_type;
                if t != "env_bundle" {
                    return fail(format!(
                        "Secret at '{}' is type '{t}', not 'env_bundle'.",
                        p.path
                    ));
                }
                tracing::info!(tool = "get_env_bundle", vault = %vault, path = %p.path, "secret accessed");
                let entries = talon_api::env_bundle::parse(read.value.expose_secret());
                self.remember(&p.path, &read.value);
                for (_, value) in &entries {
                    self.remember(&p.path, value);
                }
                let out: BTreeMap<&str, Exposed<'_>> = entries
                    .iter()
                    .map(|(k, v)| (k.as_str(), Exposed(v)))
                    .collect();
                ok(serde_json::to_string_pretty(&out).unwrap_or_default())
            }
            Err(f) => fail(explain(&f, Some(&p.path), "read", b.is_agent())),
        }
    }

    #[tool(
        description = "Create a new vault administered by you (the session vault does not change)."
    )]
    async fn create_vault(
        &self,
        Parameters(p): Parameters<CreateVaultParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, _) = target!(self, rc);
        if p.name.is_empty() || p.name.len() > 255 {
            return fail("name must be 1 to 255 characters.");
        }
        let input = CreateVaultRequest {
            name: p.name,
            description: p.description,
        };
        match b.create_vault(&input).await {
            Ok(v) => ok(format!(
                "Vault created successfully.\n  ID: {}\n  Name: {}\n  Owner: {}:{}\nYou (and the human who created you) can see it; pass its ID to put_secret's vault by using it as the session vault, or grant others access with grant_access.",
                v.id, v.name, v.created_by_type, v.created_by
            )),
            Err(f) => fail(explain(&f, None, "write", b.is_agent())),
        }
    }

    #[tool(
        description = "List the vaults you can see.",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn list_vaults(
        &self,
        Parameters(_p): Parameters<NoParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, _) = target!(self, rc);
        match b.list_vaults().await {
            Ok(list) if list.is_empty() => ok("No vaults found. Create one with create_vault."),
            Ok(list) => {
                let mut out = format!("Found {} vault(s):", list.len());
                for v in &list {
                    out.push_str(&format!(
                        "\n- {}  (id: {}, created by: {}, {})",
                        v.name, v.id, v.created_by_type, v.created_at
                    ));
                }
                ok(out)
            }
            Err(f) => fail(explain(&f, None, "read", b.is_agent())),
        }
    }

    #[tool(
        description = "Grant a user or agent access to secrets in a vault you administer (creates a policy)."
    )]
    async fn grant_access(
        &self,
        Parameters(p): Parameters<GrantParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, _) = target!(self, rc);
        if !matches!(p.principal_type.as_str(), "user" | "agent") {
            return fail("principal_type must be 'user' or 'agent'.");
        }
        let permissions = p.permissions.unwrap_or_else(|| vec!["read".into()]);
        if let Some(bad) = permissions
            .iter()
            .find(|x| !matches!(x.as_str(), "read" | "write" | "delete"))
        {
            return fail(format!(
                "permissions may contain only read, write and delete, not '{bad}'."
            ));
        }
        let pattern = p.secret_path_pattern.unwrap_or_else(|| "**".into());
        let input = CreatePolicyRequest {
            secret_path_pattern: pattern.clone(),
            principal_type: p.principal_type.clone(),
            principal_id: p.principal_id.clone(),
            permissions: permissions.clone(),
            conditions: None,
            expires_at: None,
            effect: None,
            priority: None,
        };
        match b.create_policy(&p.vault_id, &input).await {
            Ok(v) => ok(format!(
                "Access granted.\n  Policy ID: {}\n  Vault: {}\n  Granted to: {}:{}\n  Permissions: {}\n  Path pattern: {}",
                v.id,
                p.vault_id,
                p.principal_type,
                p.principal_id,
                permissions.join(", "),
                pattern
            )),
            Err(f) => fail(explain(&f, None, "write", b.is_agent())),
        }
    }

    #[tool(
        description = "Check text for prompt injection, command injection, obfuscation, exfiltration hosts, Unicode tricks and PII before you act on it or send it. Local: no API call.",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn inspect_content(&self, Parameters(p): Parameters<InspectParams>) -> CallToolResult {
        let check_known = match p.context.as_deref().unwrap_or("output") {
            "output" => false,
            "input" => true,
            _ => return fail("context must be 'input' or 'output'."),
        };
        let seen = self.seen.lock().expect("seen values");
        let known: Vec<(&str, &str)> = seen
            .iter()
            .map(|(p, v)| (p.as_str(), v.expose_secret()))
            .collect();
        let report = inspect::inspect(&p.content, check_known, &known, |m| redact_with(&known, m));
        ok(report.to_string())
    }

    #[tool(
        description = "Share a secret by id with your creator, a user, an agent, or anyone with the link, for a limited time and number of reads."
    )]
    async fn share_secret(
        &self,
        Parameters(p): Parameters<ShareParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, _) = target!(self, rc);
        let t = p.recipient_type.as_str();
        let known = matches!(t, "creator" | "user" | "agent" | "anyone_with_link")
            || (t == "external_email" && p.email.is_some());
        if !known {
            return fail("recipient_type must be creator, user, agent or anyone_with_link.");
        }
        if matches!(t, "user" | "agent") && p.recipient_id.is_none() {
            return fail(format!("recipient_id is required when sharing with a {t}."));
        }
        let max = p.max_access_count.unwrap_or(5);
        if max < 1 {
            return fail("max_access_count must be greater than 0.");
        }
        let t = if p.email.is_some() {
            "external_email"
        } else {
            t
        };
        let input = CreateShareRequest {
            recipient_type: t.to_owned(),
            recipient_id: p.recipient_id.clone(),
            email: p.email.clone(),
            expires_at: p.expires_at.clone(),
            max_access_count: Some(max),
            passphrase: None,
            ip_allowlist: None,
        };
        match b.create_share(&p.secret_id, &input).await {
            Ok(v) => {
                let recipient = match t {
                    "creator" => "your creator (the human who registered this agent)".to_owned(),
                    "anyone_with_link" => "anyone with the link".to_owned(),
                    "external_email" => p.email.clone().unwrap_or_default(),
                    _ => format!("{t}:{}", p.recipient_id.as_deref().unwrap_or("")),
                };
                ok(format!(
                    "Secret shared successfully.\n  Share ID: {}\n  Recipient: {recipient}\n  Expires: {}\n  Max accesses: {}\n  URL: {}\nTargeted recipients must accept the share before they can open it.",
                    v.id,
                    v.expires_at,
                    v.max_access_count.map_or("unlimited".to_owned(), |n| n.to_string()),
                    v.share_url
                ))
            }
            Err(f) => fail(explain(&f, None, "read", b.is_agent())),
        }
    }

    #[tool(
        description = "List your bindings: the APIs Talon can call for you with a credential you never see (name, type, base URL, allowed methods and paths). Use execute_http with one of them.",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn list_bindings(&self, rc: RequestContext<RoleServer>) -> CallToolResult {
        let (b, _) = target!(self, rc);
        if !b.is_agent() {
            return fail("list_bindings is for agents: it lists the calling agent's bindings.");
        }
        match b.list_bindings().await {
            Ok(v) => {
                let list = v["bindings"].as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    return ok("No bindings: ask your human to create one for the API you need.");
                }
                let mut out = format!("Found {} binding(s):", list.len());
                for x in &list {
                    let g = &x["guardrails"];
                    let join = |k: &str| {
                        g[k].as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            })
                            .unwrap_or_default()
                    };
                    out.push_str(&format!(
                        "\n- {}  (type: {}, base_url: {}, methods: {}, paths: {}, active: {}, credential set: {})",
                        x["name"].as_str().unwrap_or(""),
                        x["binding_type"].as_str().unwrap_or(""),
                        x["config"]["base_url"].as_str().unwrap_or(""),
                        join("allowed_methods"),
                        join("allowed_paths"),
                        x["is_active"].as_bool().unwrap_or(false),
                        x["credential_set"].as_bool().unwrap_or(false),
                    ));
                }
                ok(out)
            }
            Err(f) => fail(explain(&f, None, "read", true)),
        }
    }

    #[tool(
        description = "Make an HTTP request through one of your bindings. Talon injects the binding's credential server-side and redacts it from the answer: you never see it. Returns the upstream's status, headers and body."
    )]
    async fn execute_http(
        &self,
        Parameters(p): Parameters<ExecuteHttpParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, _) = target!(self, rc);
        if !b.is_agent() {
            return fail(
                "execute_http is for agents: it runs through the calling agent's bindings.",
            );
        }
        let mut params = serde_json::Map::new();
        for (k, v) in [
            ("method", p.method.map(Value::String)),
            ("path", p.path.map(Value::String)),
            ("query", p.query),
            ("headers", p.headers),
            ("body", p.body),
        ] {
            if let Some(v) = v {
                params.insert(k.to_owned(), v);
            }
        }
        let input = json!({"binding": p.binding, "intent_type": "http", "params": params});
        match b.execute(&input).await {
            Ok(r) if r["status"] == "success" => {
                tracing::info!(tool = "execute_http", binding = %p.binding, "binding executed");
                ok(json!({
                    "status": r["result"]["status"],
                    "headers": r["result"]["headers"],
                    "body": r["result"]["body"],
                    "redactions_applied": r["redactions_applied"],
                    "execution_id": r["execution_id"],
                })
                .to_string())
            }
            Ok(r) => fail(format!(
                "The request through binding '{}' failed: {}",
                p.binding,
                r["error"].as_str().unwrap_or("unknown error")
            )),
            Err(f) => fail(explain(&f, None, "use", true)),
        }
    }

    #[tool(
        description = "Ask your human to approve an action you are about to take (e.g. a policy change or a deploy). Returns an approval_id; poll get_approval_status until it is approved, then act. Reads and executions gated by an approval policy create their approvals by themselves."
    )]
    async fn request_approval(
        &self,
        Parameters(p): Parameters<RequestApprovalParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, _) = target!(self, rc);
        if !b.is_agent() {
            return fail(
                "request_approval is for agents: people decide approvals on the dashboard.",
            );
        }
        let input = json!({"action": p.action, "target_type": p.target_type,
                           "target_id": p.target_id, "summary": p.summary,
                           "reason": p.reason, "risk_tier": p.risk_tier});
        match b.request_approval(&input).await {
            Ok(a) => ok(format!(
                "Approval requested (approval_id {}, status {}). Your human has been notified; poll get_approval_status with this approval_id and act only once it is approved. It expires at {}.",
                a["id"].as_str().unwrap_or(""),
                a["status"].as_str().unwrap_or(""),
                a["expires_at"].as_str().unwrap_or("")
            )),
            Err(f) => fail(explain(&f, None, "request", true)),
        }
    }

    #[tool(
        description = "The state of an approval: pending, approved, rejected or expired. Once approved, repeat exactly the request that needed it.",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn get_approval_status(
        &self,
        Parameters(p): Parameters<ApprovalIdParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, _) = target!(self, rc);
        match b.approval_status(&p.approval_id).await {
            Ok(a) => {
                let status = a["status"].as_str().unwrap_or("unknown");
                let next = match status {
                    "pending" => format!(
                        "Still waiting ({}/{} approvals); check again in a little while.",
                        a["current_approvals"], a["required_approvals"]
                    ),
                    "approved" => "Approved: repeat exactly the request that needed it.".into(),
                    "rejected" => format!(
                        "Rejected{}: do not retry it; ask your human if you need to.",
                        a["decision_reason"]
                            .as_str()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    ),
                    _ => "Expired: nobody decided in time; the request would need a new approval."
                        .into(),
                };
                ok(format!("Approval {}: {status}. {next}", p.approval_id))
            }
            Err(f) => fail(explain(&f, None, "read", b.is_agent())),
        }
    }

    #[tool(
        description = "List your approvals (pending first): what each was for and its state.",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn list_approvals(
        &self,
        Parameters(p): Parameters<ListApprovalsParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, _) = target!(self, rc);
        match b.list_approvals(p.status.as_deref()).await {
            Ok(v) => {
                let list = v["approvals"].as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    return ok("No approvals.");
                }
                let mut out = format!("Found {} approval(s):", list.len());
                for a in &list {
                    let what = match a["target_type"].as_str() {
                        Some("secret") => format!(
                            "{} {}",
                            a["summary"]["permission"].as_str().unwrap_or(""),
                            a["summary"]["path"].as_str().unwrap_or("")
                        ),
                        _ => format!(
                            "{} on {} {}",
                            a["action"].as_str().unwrap_or(""),
                            a["target_type"].as_str().unwrap_or(""),
                            a["target_id"].as_str().unwrap_or("")
                        ),
                    };
                    out.push_str(&format!(
                        "\n- {}  {what}  (status: {}, expires: {})",
                        a["id"].as_str().unwrap_or(""),
                        a["status"].as_str().unwrap_or(""),
                        a["expires_at"].as_str().unwrap_or("")
                    ));
                }
                ok(out)
            }
            Err(f) => fail(explain(&f, None, "read", b.is_agent())),
        }
    }

    #[tool(
        description = "Cancel one of your pending approvals you no longer need.",
        annotations(destructive_hint = true)
    )]
    async fn cancel_approval(
        &self,
        Parameters(p): Parameters<ApprovalIdParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, _) = target!(self, rc);
        match b.cancel_approval(&p.approval_id).await {
            Ok(_) => ok(format!("Approval {} cancelled.", p.approval_id)),
            Err(f) => fail(explain(&f, None, "cancel", b.is_agent())),
        }
    }

    #[tool(
        description = "Ask your human for a credential you do not have. They enter it on the dashboard into a vault path of their choosing; you never see the value here. Poll check_secret_request to learn where it was stored, then use it (a binding or get_secret, as they allow)."
    )]
    async fn request_secret(
        &self,
        Parameters(p): Parameters<RequestSecretParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, _) = target!(self, rc);
        if !b.is_agent() {
            return fail(
                "request_secret is for agents: people store secrets directly with put_secret.",
            );
        }
        let input =
            json!({"label": p.label, "purpose": p.purpose, "suggested_path": p.suggested_path});
        match b.request_secret(&input).await {
            Ok(q) => ok(format!(
                "Secret request sent (request_id {}). Your human has been asked for '{}'; poll check_secret_request with this request_id.",
                q["id"].as_str().unwrap_or(""),
                q["label"].as_str().unwrap_or("")
            )),
            Err(f) => fail(explain(&f, None, "request", true)),
        }
    }

    #[tool(
        description = "The state of a secret request: pending, fulfilled (with the vault and path where the value was stored, never the value), declined or expired.",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn check_secret_request(
        &self,
        Parameters(p): Parameters<SecretRequestIdParams>,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (b, _) = target!(self, rc);
        match b.secret_request(&p.request_id).await {
            Ok(q) => ok(match q["status"].as_str().unwrap_or("unknown") {
                "fulfilled" => format!(
                    "Fulfilled: stored in vault {} at path '{}'. {}",
                    q["vault_id"].as_str().unwrap_or(""),
                    q["path"].as_str().unwrap_or(""),
                    match q["granted"].as_str() {
                        Some("use") =>
                            "You may use it through a binding (execute_http), not read it.",
                        Some("read") => "You may read it with get_secret.",
                        _ => "You were granted no access to it yet; ask your human for a policy.",
                    }
                ),
                "declined" => format!(
                    "Declined{}.",
                    q["decline_reason"]
                        .as_str()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
                "pending" => "Pending: your human has not answered yet.".into(),
                s => format!("{s}: the request ended without a value."),
            }),
            Err(f) => fail(explain(&f, None, "read", b.is_agent())),
        }
    }
}
