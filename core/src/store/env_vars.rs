//! Environment variables and custom environments. A variable's value is the hidden secret
//! `secret_id` (its versions, sealed like any secret); these rows say where it applies.

use super::{opt_str, Tx};
use crate::error::Result;
use sqlx::{AnyPool, Row};
use std::collections::BTreeMap;

/// An environment variable with the environments it applies to and its value's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// The variable's id.
    pub id: String,
    /// The vault holding it.
    pub vault_id: String,
    /// The hidden secret holding its value.
    pub secret_id: String,
    /// `[A-Z_][A-Z0-9_]*`.
    pub key: String,
    /// The branch it overrides; empty for the vault-wide value.
    pub git_branch: String,
    /// Whether lists leave its value out.
    pub sensitive: bool,
    /// Free text.
    pub comment: Option<String>,
    /// Who created it (`user:<id>` or `agent:<id>` subject).
    pub created_by: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
    /// Sorted environment slugs.
    pub environments: Vec<String>,
    /// The value's latest version.
    pub version: i64,
}

const COLS: &str =
    "e.id, e.vault_id, e.secret_id, e.var_key, e.git_branch, e.sensitive, e.comment, \
    e.created_by, e.created_at, e.updated_at, s.latest_version";

/// The vault's variables named `key` (every one when `None`), by key, then branch.
pub async fn list(pool: &AnyPool, vault_id: &str, key: Option<&str>) -> Result<Vec<EnvVar>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM env_vars e JOIN secrets s ON s.id = e.secret_id \
         WHERE e.vault_id = $1 AND ($2 = '' OR e.var_key = $2) ORDER BY e.var_key, e.git_branch, e.id"
    ))
    .bind(vault_id)
    .bind(key.unwrap_or(""))
    .fetch_all(pool)
    .await?;
    let envs = sqlx::query(
        "SELECT env_var_id, environment FROM env_var_environments \
         WHERE vault_id = $1 AND ($2 = '' OR var_key = $2) ORDER BY environment",
    )
    .bind(vault_id)
    .bind(key.unwrap_or(""))
    .fetch_all(pool)
    .await?;
    let mut by_var: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &envs {
        by_var
            .entry(r.try_get("env_var_id")?)
            .or_default()
            .push(r.try_get("environment")?);
    }
    rows.iter()
        .map(|r| {
            let id: String = r.try_get("id")?;
            Ok(EnvVar {
                environments: by_var.remove(&id).unwrap_or_default(),
                id,
                vault_id: r.try_get("vault_id")?,
                secret_id: r.try_get("secret_id")?,
                key: r.try_get("var_key")?,
                git_branch: r.try_get("git_branch")?,
                sensitive: r.try_get::<i64, _>("sensitive")? != 0,
                comment: opt_str(r, "comment")?,
                created_by: opt_str(r, "created_by")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
                version: r.try_get("latest_version")?,
            })
        })
        .collect()
}

/// The variable already holding `key` for `environment` and `git_branch`, if any.
pub async fn holder(
    tx: &mut Tx,
    vault_id: &str,
    environment: &str,
    key: &str,
    git_branch: &str,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT env_var_id FROM env_var_environments \
         WHERE vault_id = $1 AND environment = $2 AND var_key = $3 AND git_branch = $4",
    )
    .bind(vault_id)
    .bind(environment)
    .bind(key)
    .bind(git_branch)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Stores a new variable (its hidden secret already written) and its environments.
pub async fn insert(tx: &mut Tx, v: &EnvVar) -> Result<()> {
    sqlx::query(
        "INSERT INTO env_vars (id, vault_id, secret_id, var_key, git_branch, sensitive, comment, \
         created_by, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
    )
    .bind(&v.id)
    .bind(&v.vault_id)
    .bind(&v.secret_id)
    .bind(&v.key)
    .bind(&v.git_branch)
    .bind(v.sensitive as i64)
    .bind(&v.comment)
    .bind(&v.created_by)
    .bind(v.created_at)
    .bind(v.updated_at)
    .execute(&mut **tx)
    .await?;
    set_environments(tx, v).await
}

/// Replaces the variable's environments with `v.environments`.
pub async fn set_environments(tx: &mut Tx, v: &EnvVar) -> Result<()> {
    sqlx::query("DELETE FROM env_var_environments WHERE env_var_id = $1")
        .bind(&v.id)
        .execute(&mut **tx)
        .await?;
    for env in &v.environments {
        sqlx::query(
            "INSERT INTO env_var_environments (env_var_id, vault_id, environment, var_key, git_branch) \
             VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(&v.id)
        .bind(&v.vault_id)
        .bind(env)
        .bind(&v.key)
        .bind(&v.git_branch)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Writes the variable's flags and comment and its `updated_at`.
pub async fn update(tx: &mut Tx, v: &EnvVar) -> Result<()> {
    sqlx::query("UPDATE env_vars SET sensitive = $1, comment = $2, updated_at = $3 WHERE id = $4")
        .bind(v.sensitive as i64)
        .bind(&v.comment)
        .bind(v.updated_at)
        .bind(&v.id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Deletes the variable and its hidden secret with every version of the value.
pub async fn delete(tx: &mut Tx, v: &EnvVar) -> Result<()> {
    sqlx::query("DELETE FROM env_vars WHERE id = $1")
        .bind(&v.id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM secret_versions WHERE secret_id = $1")
        .bind(&v.secret_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM secrets WHERE id = $1")
        .bind(&v.secret_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A custom environment of a vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Its id.
    pub id: String,
    /// The vault.
    pub vault_id: String,
    /// `[a-z0-9-]{1,32}`.
    pub slug: String,
    /// Free text.
    pub description: Option<String>,
    /// The environment whose variables it started with.
    pub copied_from: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

fn environment_from(r: &sqlx::any::AnyRow) -> Result<Environment> {
    Ok(Environment {
        id: r.try_get("id")?,
        vault_id: r.try_get("vault_id")?,
        slug: r.try_get("slug")?,
        description: opt_str(r, "description")?,
        copied_from: opt_str(r, "copied_from")?,
        created_at: r.try_get("created_at")?,
    })
}

/// The vault's custom environments, by slug.
pub async fn environments(pool: &AnyPool, vault_id: &str) -> Result<Vec<Environment>> {
    let rows = sqlx::query(
        "SELECT id, vault_id, slug, description, copied_from, created_at FROM vault_environments \
         WHERE vault_id = $1 ORDER BY slug",
    )
    .bind(vault_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(environment_from).collect()
}

/// Whether the vault has the custom environment `slug`.
pub async fn environment_exists(tx: &mut Tx, vault_id: &str, slug: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM vault_environments WHERE vault_id = $1 AND slug = $2",
    )
    .bind(vault_id)
    .bind(slug)
    .fetch_one(&mut **tx)
    .await?;
    Ok(n > 0)
}

/// Stores a custom environment.
pub async fn insert_environment(tx: &mut Tx, e: &Environment) -> Result<()> {
    sqlx::query(
        "INSERT INTO vault_environments (id, vault_id, slug, description, copied_from, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6)",
    )
    .bind(&e.id)
    .bind(&e.vault_id)
    .bind(&e.slug)
    .bind(&e.description)
    .bind(&e.copied_from)
    .bind(e.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes a custom environment row; whether there was one.
pub async fn delete_environment(tx: &mut Tx, vault_id: &str, slug: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM vault_environments WHERE vault_id = $1 AND slug = $2")
        .bind(vault_id)
        .bind(slug)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() > 0)
}
