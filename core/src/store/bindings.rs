//! Bindings and their executions. A binding's inline credential is stored sealed; the model
//! never carries it, only [`BindingRow`] does.

use super::{opt_i64, opt_str, Tx};
use crate::envelope::Sealed;
use crate::error::{Error, Result};
use crate::model::{Binding, CredentialSource, Execution};
use sqlx::{AnyPool, Row};

/// A binding as stored: the model plus its sealed inline credential, if any.
pub struct BindingRow {
    /// What the doors see.
    pub binding: Binding,
    /// The inline credential, sealed like a secret value, and its KEK label.
    pub sealed: Option<(Sealed, String)>,
    /// Raised each time the inline credential is replaced; part of its envelope binding.
    pub credential_version: i64,
}

const COLUMNS: &str = "id, org_id, agent_id, name, binding_type, config, guardrails, is_active, \
    credential_source, credential_vault_id, credential_path, credential_ciphertext, \
    credential_nonce, credential_wrapped_dek, credential_kek_label, credential_version, \
    created_by, created_at, updated_at";

fn json_object(s: &str, column: &'static str) -> Result<serde_json::Value> {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(Error::corrupt_rule("bindings", column, "JSON object")),
    }
}

fn row_from(r: &sqlx::any::AnyRow) -> Result<BindingRow> {
    let credential = match opt_str(r, "credential_source")?.as_deref() {
        None => CredentialSource::None,
        Some("inline") => CredentialSource::Inline,
        Some("vault_ref") => CredentialSource::VaultRef {
            vault_id: opt_str(r, "credential_vault_id")?.unwrap_or_default(),
            path: opt_str(r, "credential_path")?.unwrap_or_default(),
        },
        Some(_) => {
            return Err(Error::corrupt_rule(
                "bindings",
                "credential_source",
                "credential source",
            ))
        }
    };
    let sealed = match (
        r.try_get::<Option<Vec<u8>>, _>("credential_ciphertext")?,
        r.try_get::<Option<Vec<u8>>, _>("credential_nonce")?,
        r.try_get::<Option<Vec<u8>>, _>("credential_wrapped_dek")?,
        opt_str(r, "credential_kek_label")?,
    ) {
        (Some(ciphertext), Some(nonce), Some(wrapped_dek), Some(kek)) => Some((
            Sealed {
                ciphertext,
                nonce,
                wrapped_dek,
            },
            kek,
        )),
        _ => None,
    };
    Ok(BindingRow {
        binding: Binding {
            id: r.try_get("id")?,
            org_id: r.try_get("org_id")?,
            agent_id: r.try_get("agent_id")?,
            name: r.try_get("name")?,
            binding_type: r.try_get("binding_type")?,
            config: json_object(&r.try_get::<String, _>("config")?, "config")?,
            guardrails: json_object(&r.try_get::<String, _>("guardrails")?, "guardrails")?,
            is_active: r.try_get::<i64, _>("is_active")? != 0,
            credential,
            created_by: r.try_get("created_by")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        },
        sealed,
        credential_version: r.try_get("credential_version")?,
    })
}

/// Binds the credential columns of `row`, in the order both statements list them: source,
/// vault, path, ciphertext, nonce, wrapped DEK, KEK label, credential version.
fn bind_credential<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    row: &'q BindingRow,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let (source, vault_id, path) = match &row.binding.credential {
        CredentialSource::None => (None, None, None),
        CredentialSource::Inline => (Some("inline"), None, None),
        CredentialSource::VaultRef { vault_id, path } => (
            Some("vault_ref"),
            Some(vault_id.as_str()),
            Some(path.as_str()),
        ),
    };
    let sealed = row.sealed.as_ref();
    q.bind(source)
        .bind(vault_id)
        .bind(path)
        .bind(sealed.map(|(s, _)| s.ciphertext.clone()))
        .bind(sealed.map(|(s, _)| s.nonce.clone()))
        .bind(sealed.map(|(s, _)| s.wrapped_dek.clone()))
        .bind(sealed.map(|(_, k)| k.as_str()))
        .bind(row.credential_version)
}

/// Stores a new binding; false when the agent already has one with that name.
pub async fn insert(tx: &mut Tx, row: &BindingRow) -> Result<bool> {
    let b = &row.binding;
    let q = sqlx::query(
        "INSERT INTO bindings (id, org_id, agent_id, name, binding_type, config, guardrails, \
         is_active, credential_source, credential_vault_id, credential_path, \
         credential_ciphertext, credential_nonce, credential_wrapped_dek, credential_kek_label, \
         credential_version, created_by, created_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19) \
         ON CONFLICT (agent_id, name) DO NOTHING",
    )
    .bind(&b.id)
    .bind(&b.org_id)
    .bind(&b.agent_id)
    .bind(&b.name)
    .bind(&b.binding_type)
    .bind(b.config.to_string())
    .bind(b.guardrails.to_string())
    .bind(i64::from(b.is_active));
    let r = bind_credential(q, row)
        .bind(&b.created_by)
        .bind(b.created_at)
        .bind(b.updated_at)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Replaces everything but the identity of a stored binding; false when it is gone.
pub async fn update(tx: &mut Tx, row: &BindingRow) -> Result<bool> {
    let b = &row.binding;
    let q = sqlx::query(
        "UPDATE bindings SET config = $1, guardrails = $2, is_active = $3, \
         credential_source = $4, credential_vault_id = $5, credential_path = $6, \
         credential_ciphertext = $7, credential_nonce = $8, credential_wrapped_dek = $9, \
         credential_kek_label = $10, credential_version = $11, updated_at = $12 \
         WHERE id = $13 AND org_id = $14",
    )
    .bind(b.config.to_string())
    .bind(b.guardrails.to_string())
    .bind(i64::from(b.is_active));
    let r = bind_credential(q, row)
        .bind(b.updated_at)
        .bind(&b.id)
        .bind(&b.org_id)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Deletes a binding of the org; false when there was none.
pub async fn delete(tx: &mut Tx, org_id: &str, agent_id: &str, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM bindings WHERE id = $1 AND org_id = $2 AND agent_id = $3")
        .bind(id)
        .bind(org_id)
        .bind(agent_id)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The agent's bindings, oldest first.
pub async fn list(pool: &AnyPool, org_id: &str, agent_id: &str) -> Result<Vec<Binding>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM bindings WHERE org_id = $1 AND agent_id = $2 \
         ORDER BY created_at, id"
    ))
    .bind(org_id)
    .bind(agent_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| row_from(r).map(|b| b.binding))
        .collect()
}

/// One of the agent's bindings, by id or by name, with its sealed credential.
pub async fn find(
    pool: &AnyPool,
    org_id: &str,
    agent_id: &str,
    id_or_name: &str,
) -> Result<Option<BindingRow>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM bindings WHERE org_id = $1 AND agent_id = $2 \
         AND (id = $3 OR name = $3) ORDER BY CASE WHEN id = $3 THEN 0 ELSE 1 END LIMIT 1"
    ))
    .bind(org_id)
    .bind(agent_id)
    .bind(id_or_name)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(row_from).transpose()
}

/// Records one execution.
pub async fn insert_execution(tx: &mut Tx, org_id: &str, e: &Execution) -> Result<()> {
    sqlx::query(
        "INSERT INTO binding_executions (id, org_id, agent_id, binding_id, binding_name, method, \
         host, path, status, http_status, request_bytes, response_bytes, duration_ms, \
         redactions, error, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
    )
    .bind(&e.id)
    .bind(org_id)
    .bind(&e.agent_id)
    .bind(&e.binding_id)
    .bind(&e.binding_name)
    .bind(&e.method)
    .bind(&e.host)
    .bind(&e.path)
    .bind(&e.status)
    .bind(e.http_status)
    .bind(e.request_bytes)
    .bind(e.response_bytes)
    .bind(e.duration_ms)
    .bind(e.redactions)
    .bind(&e.error)
    .bind(e.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The agent's executions, newest first: `limit` after skipping `offset`.
pub async fn executions(
    pool: &AnyPool,
    org_id: &str,
    agent_id: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<Execution>> {
    let rows = sqlx::query(
        "SELECT id, agent_id, binding_id, binding_name, method, host, path, status, http_status, \
         request_bytes, response_bytes, duration_ms, redactions, error, created_at \
         FROM binding_executions WHERE org_id = $1 AND agent_id = $2 \
         ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
    )
    .bind(org_id)
    .bind(agent_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Execution {
                id: r.try_get("id")?,
                agent_id: r.try_get("agent_id")?,
                binding_id: r.try_get("binding_id")?,
                binding_name: r.try_get("binding_name")?,
                method: r.try_get("method")?,
                host: r.try_get("host")?,
                path: r.try_get("path")?,
                status: r.try_get("status")?,
                http_status: opt_i64(r, "http_status")?,
                request_bytes: r.try_get("request_bytes")?,
                response_bytes: r.try_get("response_bytes")?,
                duration_ms: r.try_get("duration_ms")?,
                redactions: r.try_get("redactions")?,
                error: opt_str(r, "error")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}
