//! A secret's versions: the list behind each row's "Versions" button.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::secrets::secret_path;
use crate::session::SessionError;
use crate::ui::*;

/// A version of a secret, for the versions list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionView {
    pub version: i64,
    pub secret_type: String,
    pub disabled: bool,
    pub created_at: String,
}

/// Every version of a secret, newest first.
#[server(prefix = "/ui", endpoint = "secrets/versions")]
pub async fn secret_versions(
    vault_id: String,
    path: String,
) -> Result<Vec<VersionView>, SessionError> {
    use crate::session::backend::*;
    let (core, p, ctx) = caller().await?;
    let path = secret_path(&path)?;
    let rows = core
        .list_versions(&p, &vault_id, &path, &ctx)
        .await
        .map_err(rejected)?;
    Ok(rows
        .iter()
        .map(|r| VersionView {
            version: r.version,
            secret_type: r.secret_type.clone(),
            disabled: r.is_disabled,
            created_at: talon_core::clock::rfc3339(r.created_at),
        })
        .collect())
}

/// The "Versions" button of one secret and the list it opens.
#[component]
pub(super) fn Versions(vault_id: String, path: String) -> impl IntoView {
    let load = ServerAction::<SecretVersions>::new();
    let label = format!("Versions of {path}");
    view! {
        <button
            type="button"
            class=BUTTON_SECONDARY
            aria-label=label
            on:click=move |_| {
                load.dispatch(SecretVersions {
                    vault_id: vault_id.clone(),
                    path: path.clone(),
                });
            }
        >
            "Versions"
        </button>
        {move || {
            load.value()
                .get()
                .map(|result| match result {
                    Ok(versions) => {
                        view! {
                            <ul class="mt-1 space-y-0.5 text-xs text-slate-600" data-testid="versions">
                                {versions
                                    .into_iter()
                                    .map(|v| {
                                        view! {
                                            <li>
                                                {format!(
                                                    "v{} · {} · {}{}",
                                                    v.version,
                                                    v.secret_type,
                                                    v.created_at,
                                                    if v.disabled { " · disabled" } else { "" },
                                                )}
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorNote message=error.to_string() /> }.into_any(),
                })
        }}
    }
}
