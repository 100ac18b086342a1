//! Environment variables per vault (API.md 8.17). A variable's value is a hidden secret, so it
//! is sealed, versioned and re-wrapped like any secret; for policies a variable is the secret
//! path `env/<environment>/<KEY>`. Every value that leaves is audited first (fail closed);
//! events name keys and versions, never values.

use super::audit::AuditEvent;
use super::vaults::is_vault_admin;
use super::{Core, Principal, RequestContext};
use crate::error::{Error, Result};
use crate::material::SecretValue;
use crate::model::Vault;
use crate::policy::Permission;
use crate::secret_path::SecretPath;
pub use crate::store::env_vars::EnvVar;
use crate::store::env_vars::{self as store, Environment};
use crate::store::{agents, secrets as secret_store};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use talon_api::Scope;

/// The environments every vault has.
pub const BUILTIN_ENVIRONMENTS: [&str; 3] = ["production", "preview", "development"];

const MAX_VALUE_BYTES: usize = 64 * 1024;
const MAX_COMMENT_CHARS: usize = 1000;

/// An environment slug: `[a-z0-9-]{1,32}`; otherwise a 400 naming `field`.
pub(crate) fn check_slug(field: &'static str, s: &str) -> Result<()> {
    if s.is_empty()
        || s.len() > 32
        || !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(Error::invalid(
            field,
            format!("{field} must be 1 to 32 characters of a-z, 0-9 and '-'"),
        ));
    }
    Ok(())
}

fn check_key(key: &str) -> Result<()> {
    let mut bytes = key.bytes();
    let ok = key.len() <= 128
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(Error::invalid(
            "key",
            "key must match [A-Z_][A-Z0-9_]* and be at most 128 characters",
        ));
    }
    Ok(())
}

fn check_branch(branch: &str) -> Result<()> {
    if branch.is_empty() || branch.len() > 255 || branch.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(
            "git_branch",
            "git_branch must be 1 to 255 characters without control characters",
        ));
    }
    Ok(())
}

fn check_value(value: &SecretValue) -> Result<()> {
    if value.expose_secret().len() > MAX_VALUE_BYTES {
        return Err(Error::invalid("value", "value must be at most 64 KiB"));
    }
    Ok(())
}

fn check_comment(comment: &Option<String>) -> Result<()> {
    if comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS)
    {
        return Err(Error::invalid(
            "comment",
            "comment must be at most 1000 characters",
        ));
    }
    Ok(())
}

/// The policy path of `key` in `environment`.
fn policy_path(environment: &str, key: &str) -> String {
    format!("env/{environment}/{key}")
}

/// Input of `POST …/env-vars`.
#[derive(Debug)]
pub struct CreateEnvVar {
    /// `[A-Z_][A-Z0-9_]*`, at most 128 characters.
    pub key: String,
    /// The value, at most 64 KiB.
    pub value: SecretValue,
    /// Where it applies; the three built-ins when absent.
    pub environments: Option<Vec<String>>,
    /// The branch it overrides.
    pub git_branch: Option<String>,
    /// Whether lists leave the value out.
    pub sensitive: Option<bool>,
    /// Free text.
    pub comment: Option<String>,
}

/// Input of `PATCH …/env-vars/{key}`.
#[derive(Debug, Default)]
pub struct UpdateEnvVar {
    /// A new value: a new version.
    pub value: Option<SecretValue>,
    /// A new set of environments.
    pub environments: Option<Vec<String>>,
    /// New sensitivity.
    pub sensitive: Option<bool>,
    /// New comment.
    pub comment: Option<String>,
}

/// Which variable of a key a request means: `?environment=&git_branch=`.
#[derive(Debug, Default, Clone)]
pub struct EnvVarSelector {
    /// The environment it applies to; may be left out when only one variable has the key.
    pub environment: Option<String>,
    /// The branch it overrides; the vault-wide value when absent.
    pub git_branch: Option<String>,
}

/// A variable with its value when the caller may see it.
#[derive(Debug)]
pub struct EnvVarView {
    /// The variable.
    pub var: EnvVar,
    /// Its value: absent for a sensitive variable in a list.
    pub value: Option<SecretValue>,
}

/// The answer of a resolve.
#[derive(Debug)]
pub struct ResolvedEnv {
    /// `KEY → value`, the branch override winning over the vault value.
    pub vars: BTreeMap<String, SecretValue>,
    /// `KEY → "vault" | "branch_override"`.
    pub sources: BTreeMap<String, &'static str>,
    /// The environment resolved.
    pub environment: String,
    /// The branch, when one was given.
    pub git_branch: Option<String>,
    /// Unix milliseconds.
    pub resolved_at: i64,
}

/// Input of `POST …/environments`.
#[derive(Debug)]
pub struct CreateEnvironment {
    /// `[a-z0-9-]{1,32}`.
    pub slug: String,
    /// Free text.
    pub description: Option<String>,
    /// An environment whose variables also apply to the new one.
    pub copy_from: Option<String>,
}

/// An environment of a vault, built-in or custom.
#[derive(Debug, Clone)]
pub struct EnvironmentView {
    /// A stable id (derived from vault and slug for built-ins).
    pub id: String,
    /// The slug.
    pub slug: String,
    /// Free text.
    pub description: Option<String>,
    /// Whether it is one of the three every vault has.
    pub is_builtin: bool,
    /// The environment whose variables it started with.
    pub copied_from: Option<String>,
    /// Unix milliseconds (the vault's creation for built-ins).
    pub created_at: i64,
}

/// A deterministic UUID-shaped id for a built-in environment of a vault.
fn builtin_id(vault_id: &str, slug: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("talon/env/{vault_id}/{slug}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

/// The variables of `all` that `sel` names: the branch's, then those applying to the
/// environment when one is given.
fn select(all: Vec<EnvVar>, key: &str, sel: &EnvVarSelector) -> Result<EnvVar> {
    let branch = sel.git_branch.as_deref().unwrap_or("");
    let mut found: Vec<EnvVar> = all
        .into_iter()
        .filter(|v| v.git_branch == branch)
        .filter(|v| {
            sel.environment
                .as_deref()
                .is_none_or(|e| v.environments.iter().any(|x| x == e))
        })
        .collect();
    match found.len() {
        0 => Err(Error::NotFound("Environment variable")),
        1 => Ok(found.remove(0)),
        _ => Err(Error::invalid(
            "environment",
            format!("{key} has values in several environments; name one with ?environment="),
        )),
    }
}

impl Core {
    /// The vault's environments: the three built-ins and its custom ones.
    async fn environment_views(&self, v: &Vault) -> Result<Vec<EnvironmentView>> {
        let mut out: Vec<EnvironmentView> = BUILTIN_ENVIRONMENTS
            .iter()
            .map(|slug| EnvironmentView {
                id: builtin_id(&v.id, slug),
                slug: (*slug).to_owned(),
                description: None,
                is_builtin: true,
                copied_from: None,
                created_at: v.created_at,
            })
            .collect();
        for e in store::environments(self.store().pool(), &v.id).await? {
            out.push(EnvironmentView {
                id: e.id,
                slug: e.slug,
                description: e.description,
                is_builtin: false,
                copied_from: e.copied_from,
                created_at: e.created_at,
            });
        }
        Ok(out)
    }

    /// Refuses an environment the vault does not have (400 naming `field`).
    async fn known_environment(
        &self,
        tx: &mut crate::store::Tx,
        v: &Vault,
        field: &'static str,
        env: &str,
    ) -> Result<()> {
        check_slug(field, env)?;
        if BUILTIN_ENVIRONMENTS.contains(&env) || store::environment_exists(tx, &v.id, env).await? {
            return Ok(());
        }
        Err(Error::invalid(
            field,
            format!("This vault has no environment '{env}'"),
        ))
    }

    /// Read access to a variable: through the environment named, or through any environment
    /// it applies to (the value is the same in each). A denial is audited and answered 403.
    async fn authorize_env_read(
        &self,
        p: &Principal,
        v: &Vault,
        var: &EnvVar,
        environment: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<()> {
        let through: Vec<&str> = match environment {
            Some(e) => vec![e],
            None => var.environments.iter().map(String::as_str).collect(),
        };
        let rules = self.rules_for(p, v).await?;
        if through.iter().any(|e| {
            self.path_allowed(
                p,
                v,
                &rules,
                &policy_path(e, &var.key),
                Permission::Read,
                ctx,
            )
        }) {
            return Ok(());
        }
        let first = through.first().copied().unwrap_or("production");
        self.authorize_path(p, v, &policy_path(first, &var.key), Permission::Read, ctx)
            .await
    }

    /// `permission` on `key` in each of `environments` (every one must allow).
    async fn authorize_env_each(
        &self,
        p: &Principal,
        v: &Vault,
        key: &str,
        environments: &[String],
        permission: Permission,
        ctx: &RequestContext,
    ) -> Result<()> {
        for e in environments {
            self.authorize_path(p, v, &policy_path(e, key), permission, ctx)
                .await?;
        }
        Ok(())
    }

    /// Seals `value` as the next version of variable `id`'s hidden secret, inside `tx`.
    async fn seal_env_value(
        &self,
        tx: &mut crate::store::Tx,
        p: &Principal,
        v: &Vault,
        id: &str,
        value: SecretValue,
    ) -> Result<crate::model::SecretVersion> {
        self.write_version_in(
            tx,
            p,
            v,
            &SecretPath::hidden_env(id),
            value,
            "env_var".into(),
            "{}".into(),
            None,
            None,
        )
        .await
    }

    /// The decrypted latest values of `vars`, by variable id.
    async fn open_values(
        &self,
        v: &Vault,
        vars: &[&EnvVar],
    ) -> Result<BTreeMap<String, SecretValue>> {
        let mut out = BTreeMap::new();
        for var in vars {
            let found = secret_store::latest_for_read(
                self.store().pool(),
                &v.id,
                SecretPath::hidden_env(&var.id).as_str(),
            )
            .await?
            .ok_or(Error::NotFound("Environment variable"))?;
            let value = self.open_version(v, &found.meta, found.sealed).await?;
            out.insert(var.id.clone(), value);
        }
        Ok(out)
    }

    /// `GET …/env-vars`: the variables the caller may read (those applying to `environment`
    /// when given), with values except for sensitive ones when `reveal`; revealed values are
    /// audited first. Without `reveal`, metadata only (the dashboard's table).
    pub async fn list_env_vars(
        &self,
        p: &Principal,
        vault_id: &str,
        environment: Option<&str>,
        reveal: bool,
        ctx: &RequestContext,
    ) -> Result<Vec<EnvVarView>> {
        p.require_scope(Scope::SecretsRead)?;
        let v = self.vault_in_org(p, vault_id).await?;
        if let Some(e) = environment {
            check_slug("environment", e)?;
        }
        let rules = self.rules_for(p, &v).await?;
        if !self.sees_vault(p, &v, &rules) {
            return Err(Error::Forbidden("You have no access to this vault".into()));
        }
        let readable: Vec<EnvVar> = store::list(self.store().pool(), &v.id, None)
            .await?
            .into_iter()
            .filter(|var| {
                environment
                    .map_or(var.environments.clone(), |e| {
                        var.environments
                            .iter()
                            .filter(|x| x.as_str() == e)
                            .cloned()
                            .collect()
                    })
                    .iter()
                    .any(|e| {
                        self.path_allowed(
                            p,
                            &v,
                            &rules,
                            &policy_path(e, &var.key),
                            Permission::Read,
                            ctx,
                        )
                    })
            })
            .collect();
        let revealed: Vec<&EnvVar> = readable.iter().filter(|x| reveal && !x.sensitive).collect();
        let mut values = self.open_values(&v, &revealed).await?;
        if !revealed.is_empty() {
            let keys: Vec<&str> = revealed.iter().map(|x| x.key.as_str()).collect();
            self.record(
                ctx,
                AuditEvent::by(
                    p,
                    "env_var.list",
                    "vault",
                    Some(v.id.clone()),
                    json!({"vault_id": v.id, "environment": environment, "keys": keys}),
                ),
            )
            .await?;
        }
        Ok(readable
            .into_iter()
            .map(|var| EnvVarView {
                value: values.remove(&var.id),
                var,
            })
            .collect())
    }

    /// `GET …/env-vars/{key}`: one variable with its value, audited as `env_var.read`.
    pub async fn get_env_var(
        &self,
        p: &Principal,
        vault_id: &str,
        key: &str,
        sel: &EnvVarSelector,
        ctx: &RequestContext,
    ) -> Result<EnvVarView> {
        p.require_scope(Scope::SecretsRead)?;
        let v = self.vault_in_org(p, vault_id).await?;
        check_key(key)?;
        let var = self
            .selected(p, &v, key, sel, Permission::Read, ctx)
            .await?;
        self.authorize_env_read(p, &v, &var, sel.environment.as_deref(), ctx)
            .await?;
        let mut values = self.open_values(&v, &[&var]).await?;
        self.record(
            ctx,
            AuditEvent::by(
                p,
                "env_var.read",
                "env_var",
                Some(var.id.clone()),
                json!({"vault_id": v.id, "key": var.key, "environment": sel.environment,
                       "git_branch": sel.git_branch, "version": var.version}),
            ),
        )
        .await?;
        Ok(EnvVarView {
            value: values.remove(&var.id),
            var,
        })
    }

    /// The variable `sel` names. With an environment named, `permission` there is checked
    /// before "not found" is answered, so a denial reveals nothing.
    async fn selected(
        &self,
        p: &Principal,
        v: &Vault,
        key: &str,
        sel: &EnvVarSelector,
        permission: Permission,
        ctx: &RequestContext,
    ) -> Result<EnvVar> {
        if let Some(e) = sel.environment.as_deref() {
            check_slug("environment", e)?;
            self.authorize_path(p, v, &policy_path(e, key), permission, ctx)
                .await?;
        } else if !self.can_see(p, v).await? {
            return Err(Error::Forbidden("You have no access to this vault".into()));
        }
        if let Some(b) = sel.git_branch.as_deref() {
            check_branch(b)?;
        }
        let all = store::list(self.store().pool(), &v.id, Some(key)).await?;
        select(all, key, sel)
    }

    /// `GET …/env-vars/resolve`: the final `KEY → value` set of an environment (an agent's
    /// tagged one when none is named), branch overrides winning over vault values. Keys the
    /// caller may not read are left out; when it may read none of an environment's keys, 403.
    pub async fn resolve_env(
        &self,
        p: &Principal,
        vault_id: &str,
        environment: Option<&str>,
        git_branch: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<ResolvedEnv> {
        p.require_scope(Scope::SecretsRead)?;
        let v = self.vault_in_org(p, vault_id).await?;
        let environment = match environment {
            Some(e) => e.to_owned(),
            None => {
                let tagged = match p {
                    Principal::Agent {
                        agent_id, org_id, ..
                    } => agents::get(self.store().pool(), org_id, agent_id)
                        .await?
                        .and_then(|a| a.environment),
                    Principal::User { .. } => None,
                };
                tagged.ok_or_else(|| {
                    Error::invalid(
                        "environment",
                        "environment is required (the caller is not tagged with one)",
                    )
                })?
            }
        };
        check_slug("environment", &environment)?;
        if let Some(b) = git_branch {
            check_branch(b)?;
        }
        let rules = self.rules_for(p, &v).await?;
        if !self.sees_vault(p, &v, &rules) {
            return Err(Error::Forbidden("You have no access to this vault".into()));
        }
        let all = store::list(self.store().pool(), &v.id, None).await?;
        let applying: Vec<&EnvVar> = all
            .iter()
            .filter(|x| x.environments.iter().any(|e| e == &environment))
            .filter(|x| x.git_branch.is_empty() || Some(x.git_branch.as_str()) == git_branch)
            .collect();
        let readable: Vec<&EnvVar> = applying
            .iter()
            .copied()
            .filter(|x| {
                self.path_allowed(
                    p,
                    &v,
                    &rules,
                    &policy_path(&environment, &x.key),
                    Permission::Read,
                    ctx,
                )
            })
            .collect();
        if readable.is_empty() {
            if let Some(first) = applying.first() {
                self.authorize_path(
                    p,
                    &v,
                    &policy_path(&environment, &first.key),
                    Permission::Read,
                    ctx,
                )
                .await?;
            }
        }
        // Vault values first, then the branch's overrides on top.
        let mut chosen: BTreeMap<&str, &EnvVar> = BTreeMap::new();
        for x in readable.iter().filter(|x| x.git_branch.is_empty()) {
            chosen.insert(&x.key, x);
        }
        for x in readable.iter().filter(|x| !x.git_branch.is_empty()) {
            chosen.insert(&x.key, x);
        }
        let picked: Vec<&EnvVar> = chosen.values().copied().collect();
        let mut values = self.open_values(&v, &picked).await?;
        let keys: Vec<&str> = picked.iter().map(|x| x.key.as_str()).collect();
        self.record(
            ctx,
            AuditEvent::by(
                p,
                "env_var.resolve",
                "vault",
                Some(v.id.clone()),
                json!({"vault_id": v.id, "environment": environment, "git_branch": git_branch,
                       "keys": keys}),
            ),
        )
        .await?;
        let mut vars = BTreeMap::new();
        let mut sources = BTreeMap::new();
        for x in picked {
            if let Some(value) = values.remove(&x.id) {
                vars.insert(x.key.clone(), value);
                sources.insert(
                    x.key.clone(),
                    if x.git_branch.is_empty() {
                        "vault"
                    } else {
                        "branch_override"
                    },
                );
            }
        }
        Ok(ResolvedEnv {
            vars,
            sources,
            environment,
            git_branch: git_branch.map(str::to_owned),
            resolved_at: self.now(),
        })
    }

    /// `POST …/env-vars`: a new variable (version 1 of its value) in each of its environments;
    /// 409 when one of them already has the key for the branch.
    pub async fn create_env_var(
        &self,
        p: &Principal,
        vault_id: &str,
        input: CreateEnvVar,
        ctx: &RequestContext,
    ) -> Result<EnvVar> {
        p.require_scope(Scope::SecretsWrite)?;
        let v = self.vault_in_org(p, vault_id).await?;
        check_key(&input.key)?;
        check_value(&input.value)?;
        check_comment(&input.comment)?;
        let git_branch = input.git_branch.unwrap_or_default();
        if !git_branch.is_empty() {
            check_branch(&git_branch)?;
        }
        let environments = normalised(input.environments.unwrap_or_else(|| {
            BUILTIN_ENVIRONMENTS
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        }))?;
        self.authorize_env_each(p, &v, &input.key, &environments, Permission::Write, ctx)
            .await?;
        let (mut tx, head) = self.begin_audited(&v.org_id).await?;
        for e in &environments {
            self.known_environment(&mut tx, &v, "environments", e)
                .await?;
            if store::holder(&mut tx, &v.id, e, &input.key, &git_branch)
                .await?
                .is_some()
            {
                return Err(Error::Conflict(format!(
                    "{} already exists in {e}{}",
                    input.key,
                    branch_note(&git_branch)
                )));
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        let row = self
            .seal_env_value(&mut tx, p, &v, &id, input.value)
            .await?;
        let now = self.now();
        let var = EnvVar {
            id,
            vault_id: v.id.clone(),
            secret_id: row.secret_id,
            key: input.key,
            git_branch,
            sensitive: input.sensitive.unwrap_or(false),
            comment: input.comment,
            created_by: Some(p.subject()),
            created_at: now,
            updated_at: now,
            environments,
            version: row.version,
        };
        store::insert(&mut tx, &var).await?;
        self.write_audit(&mut tx, head, ctx, env_event(p, "env_var.create", &var))
            .await?;
        tx.commit().await?;
        Ok(var)
    }

    /// `PATCH …/env-vars/{key}`: a new value is a new version; new environments, sensitivity
    /// or comment change the variable in place. Write access is needed in every environment
    /// the variable applies to before and after.
    pub async fn update_env_var(
        &self,
        p: &Principal,
        vault_id: &str,
        key: &str,
        sel: &EnvVarSelector,
        patch: UpdateEnvVar,
        ctx: &RequestContext,
    ) -> Result<EnvVar> {
        p.require_scope(Scope::SecretsWrite)?;
        let v = self.vault_in_org(p, vault_id).await?;
        check_key(key)?;
        if let Some(value) = &patch.value {
            check_value(value)?;
        }
        check_comment(&patch.comment)?;
        let mut var = self
            .selected(p, &v, key, sel, Permission::Write, ctx)
            .await?;
        let new_envs = patch.environments.map(normalised).transpose()?;
        let mut touched: BTreeSet<String> = var.environments.iter().cloned().collect();
        touched.extend(new_envs.iter().flatten().cloned());
        let touched: Vec<String> = touched.into_iter().collect();
        self.authorize_env_each(p, &v, key, &touched, Permission::Write, ctx)
            .await?;
        let (mut tx, head) = self.begin_audited(&v.org_id).await?;
        if let Some(envs) = new_envs {
            for e in &envs {
                self.known_environment(&mut tx, &v, "environments", e)
                    .await?;
                if let Some(other) = store::holder(&mut tx, &v.id, e, key, &var.git_branch).await? {
                    if other != var.id {
                        return Err(Error::Conflict(format!(
                            "{key} already exists in {e}{}",
                            branch_note(&var.git_branch)
                        )));
                    }
                }
            }
            var.environments = envs;
            store::set_environments(&mut tx, &var).await?;
        }
        if let Some(value) = patch.value {
            let row = self.seal_env_value(&mut tx, p, &v, &var.id, value).await?;
            var.version = row.version;
        }
        if let Some(s) = patch.sensitive {
            var.sensitive = s;
        }
        if let Some(c) = patch.comment {
            var.comment = Some(c);
        }
        var.updated_at = self.now();
        store::update(&mut tx, &var).await?;
        self.write_audit(&mut tx, head, ctx, env_event(p, "env_var.update", &var))
            .await?;
        tx.commit().await?;
        Ok(var)
    }

    /// `DELETE …/env-vars/{key}`: with `?environment=` naming one of several environments the
    /// variable applies to, it stops applying there; otherwise the variable and every version
    /// of its value are deleted.
    pub async fn delete_env_var(
        &self,
        p: &Principal,
        vault_id: &str,
        key: &str,
        sel: &EnvVarSelector,
        ctx: &RequestContext,
    ) -> Result<()> {
        p.require_scope(Scope::SecretsWrite)?;
        let v = self.vault_in_org(p, vault_id).await?;
        check_key(key)?;
        let mut var = self
            .selected(p, &v, key, sel, Permission::Delete, ctx)
            .await?;
        let only_one = sel
            .environment
            .as_ref()
            .filter(|_| var.environments.len() > 1);
        let (mut tx, head) = self.begin_audited(&v.org_id).await?;
        match only_one {
            Some(e) => {
                self.authorize_path(p, &v, &policy_path(e, key), Permission::Delete, ctx)
                    .await?;
                var.environments.retain(|x| x != e);
                store::set_environments(&mut tx, &var).await?;
                var.updated_at = self.now();
                store::update(&mut tx, &var).await?;
                let mut event = env_event(p, "env_var.update", &var);
                event.details["removed_environment"] = json!(e);
                self.write_audit(&mut tx, head, ctx, event).await?;
            }
            None => {
                self.authorize_env_each(p, &v, key, &var.environments, Permission::Delete, ctx)
                    .await?;
                store::delete(&mut tx, &var).await?;
                self.write_audit(&mut tx, head, ctx, env_event(p, "env_var.delete", &var))
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// `GET …/environments`: the built-ins and the vault's custom environments.
    pub async fn list_environments(
        &self,
        p: &Principal,
        vault_id: &str,
    ) -> Result<Vec<EnvironmentView>> {
        p.require_scope(Scope::SecretsRead)?;
        let v = self.vault_in_org(p, vault_id).await?;
        if !self.can_see(p, &v).await? {
            return Err(Error::Forbidden("You have no access to this vault".into()));
        }
        self.environment_views(&v).await
    }

    /// `POST …/environments` (vault administrators): a custom environment; with `copy_from`,
    /// every variable applying to that environment applies to the new one too.
    pub async fn create_environment(
        &self,
        p: &Principal,
        vault_id: &str,
        input: CreateEnvironment,
        ctx: &RequestContext,
    ) -> Result<EnvironmentView> {
        p.require_scope(Scope::VaultsWrite)?;
        let v = self.vault_in_org(p, vault_id).await?;
        if !is_vault_admin(p, &v) {
            return Err(Error::Forbidden(
                "Only a vault administrator may add environments".into(),
            ));
        }
        check_slug("slug", &input.slug)?;
        if input
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 500)
        {
            return Err(Error::invalid(
                "description",
                "description must be at most 500 characters",
            ));
        }
        let (mut tx, head) = self.begin_audited(&v.org_id).await?;
        if BUILTIN_ENVIRONMENTS.contains(&input.slug.as_str())
            || store::environment_exists(&mut tx, &v.id, &input.slug).await?
        {
            return Err(Error::Conflict(format!(
                "This vault already has an environment '{}'",
                input.slug
            )));
        }
        if let Some(from) = &input.copy_from {
            self.known_environment(&mut tx, &v, "copy_from", from)
                .await?;
        }
        let env = Environment {
            id: uuid::Uuid::new_v4().to_string(),
            vault_id: v.id.clone(),
            slug: input.slug.clone(),
            description: input.description,
            copied_from: input.copy_from.clone(),
            created_at: self.now(),
        };
        store::insert_environment(&mut tx, &env).await?;
        let mut copied = 0usize;
        if let Some(from) = &input.copy_from {
            for mut var in store::list(self.store().pool(), &v.id, None).await? {
                if var.environments.iter().any(|e| e == from) {
                    var.environments.push(env.slug.clone());
                    var.environments.sort();
                    store::set_environments(&mut tx, &var).await?;
                    copied += 1;
                }
            }
        }
        self.write_audit(
            &mut tx,
            head,
            ctx,
            AuditEvent::by(
                p,
                "environment.create",
                "vault",
                Some(v.id.clone()),
                json!({"vault_id": v.id, "slug": env.slug, "copy_from": env.copied_from,
                       "variables": copied}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(EnvironmentView {
            id: env.id,
            slug: env.slug,
            description: env.description,
            is_builtin: false,
            copied_from: env.copied_from,
            created_at: env.created_at,
        })
    }

    /// `DELETE …/environments/{slug}` (vault administrators): built-ins cannot go (400);
    /// variables stop applying there, and those applying nowhere else are deleted.
    pub async fn delete_environment(
        &self,
        p: &Principal,
        vault_id: &str,
        slug: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        p.require_scope(Scope::VaultsWrite)?;
        let v = self.vault_in_org(p, vault_id).await?;
        if !is_vault_admin(p, &v) {
            return Err(Error::Forbidden(
                "Only a vault administrator may delete environments".into(),
            ));
        }
        if BUILTIN_ENVIRONMENTS.contains(&slug) {
            return Err(Error::invalid(
                "slug",
                format!("'{slug}' is a built-in environment and cannot be deleted"),
            ));
        }
        check_slug("slug", slug)?;
        let (mut tx, head) = self.begin_audited(&v.org_id).await?;
        if !store::delete_environment(&mut tx, &v.id, slug).await? {
            return Err(Error::NotFound("Environment"));
        }
        let mut removed = 0usize;
        for mut var in store::list(self.store().pool(), &v.id, None).await? {
            if var.environments.iter().any(|e| e == slug) {
                var.environments.retain(|e| e != slug);
                if var.environments.is_empty() {
                    store::delete(&mut tx, &var).await?;
                    removed += 1;
                } else {
                    store::set_environments(&mut tx, &var).await?;
                }
            }
        }
        self.write_audit(
            &mut tx,
            head,
            ctx,
            AuditEvent::by(
                p,
                "environment.delete",
                "vault",
                Some(v.id.clone()),
                json!({"vault_id": v.id, "slug": slug, "variables_deleted": removed}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl From<EnvVarView> for talon_api::env_vars::EnvVarResponse {
    fn from(view: EnvVarView) -> Self {
        use crate::clock::rfc3339;
        let v = view.var;
        talon_api::env_vars::EnvVarResponse {
            id: v.id,
            key: v.key,
            environments: v.environments,
            git_branch: (!v.git_branch.is_empty()).then_some(v.git_branch),
            sensitive: v.sensitive,
            comment: v.comment,
            value: view.value,
            version: v.version,
            created_by: v.created_by,
            created_at: rfc3339(v.created_at),
            updated_at: rfc3339(v.updated_at),
        }
    }
}

impl From<EnvVar> for talon_api::env_vars::EnvVarResponse {
    fn from(var: EnvVar) -> Self {
        EnvVarView { var, value: None }.into()
    }
}

impl From<ResolvedEnv> for talon_api::env_vars::ResolveEnvVarsResponse {
    fn from(r: ResolvedEnv) -> Self {
        let variables = r
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), SecretValue::new(v.expose_secret().to_owned())))
            .collect();
        talon_api::env_vars::ResolveEnvVarsResponse {
            vars: r.vars,
            variables,
            sources: r
                .sources
                .into_iter()
                .map(|(k, s)| (k, s.to_owned()))
                .collect(),
            environment: r.environment,
            git_branch: r.git_branch,
            resolved_at: crate::clock::rfc3339(r.resolved_at),
        }
    }
}

impl From<EnvironmentView> for talon_api::env_vars::VaultEnvironmentResponse {
    fn from(e: EnvironmentView) -> Self {
        talon_api::env_vars::VaultEnvironmentResponse {
            id: e.id,
            slug: e.slug,
            description: e.description,
            is_builtin: e.is_builtin,
            copied_from: e.copied_from,
            is_detached: false,
            created_at: crate::clock::rfc3339(e.created_at),
        }
    }
}

/// Sorted, deduplicated, non-empty environment slugs.
fn normalised(envs: Vec<String>) -> Result<Vec<String>> {
    let set: BTreeSet<String> = envs.into_iter().collect();
    if set.is_empty() {
        return Err(Error::invalid(
            "environments",
            "environments must name at least one environment",
        ));
    }
    for e in &set {
        check_slug("environments", e)?;
    }
    Ok(set.into_iter().collect())
}

fn branch_note(branch: &str) -> String {
    if branch.is_empty() {
        String::new()
    } else {
        format!(" for branch {branch}")
    }
}

fn env_event(p: &Principal, action: &'static str, var: &EnvVar) -> AuditEvent {
    AuditEvent::by(
        p,
        action,
        "env_var",
        Some(var.id.clone()),
        json!({"vault_id": var.vault_id, "key": var.key, "environments": var.environments,
               "git_branch": (!var.git_branch.is_empty()).then_some(&var.git_branch),
               "version": var.version}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_upper_snake_case_up_to_128_characters() {
        for ok in ["A", "_X", "DATABASE_URL", "K9", &"A".repeat(128)] {
            assert!(check_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "9A", "lower", "A-B", "A.B", &"A".repeat(129)] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn environment_slugs_are_lowercase_digits_and_dashes() {
        for ok in ["production", "qa-1", "x"] {
            assert!(check_slug("slug", ok).is_ok());
        }
        for bad in ["", "Prod", "a_b", "a/b", &"a".repeat(33)] {
            assert!(check_slug("slug", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn built_in_environment_ids_are_stable_per_vault() {
        let a = builtin_id("v1", "production");
        assert_eq!(a, builtin_id("v1", "production"));
        assert_ne!(a, builtin_id("v2", "production"));
        assert_ne!(a, builtin_id("v1", "preview"));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    fn var(id: &str, envs: &[&str], branch: &str) -> EnvVar {
        EnvVar {
            id: id.into(),
            vault_id: "v".into(),
            secret_id: format!("s-{id}"),
            key: "K".into(),
            git_branch: branch.into(),
            sensitive: false,
            comment: None,
            created_by: None,
            created_at: 0,
            updated_at: 0,
            environments: envs.iter().map(|s| (*s).to_owned()).collect(),
            version: 1,
        }
    }

    #[test]
    fn a_selector_names_one_variable_or_asks_for_the_environment() {
        let all = || {
            vec![
                var("a", &["production"], ""),
                var("b", &["preview"], ""),
                var("c", &["preview"], "feature/x"),
            ]
        };
        let sel = |e: Option<&str>, b: Option<&str>| EnvVarSelector {
            environment: e.map(Into::into),
            git_branch: b.map(Into::into),
        };
        assert_eq!(
            select(all(), "K", &sel(Some("preview"), None)).unwrap().id,
            "b"
        );
        assert_eq!(
            select(all(), "K", &sel(None, Some("feature/x")))
                .unwrap()
                .id,
            "c"
        );
        assert!(matches!(
            select(all(), "K", &sel(None, None)),
            Err(Error::Invalid { .. })
        ));
        assert!(matches!(
            select(all(), "K", &sel(Some("development"), None)),
            Err(Error::NotFound(_))
        ));
    }
}
