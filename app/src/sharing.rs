//! Sharing (`/sharing`): create share links (passphrase, expiry, view
//! limit) or shares for a teammate or an email address; outbound shares with
//! revocation; inbound shares with accept/decline.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::session::SessionError;
use crate::ui::*;

/// A share as the lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareView {
    pub id: String,
    pub secret_path: String,
    pub recipient: String,
    pub status: String,
    pub views: String,
    pub expires_at: String,
    pub passphrase: bool,
}

/// A secret a share can be made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareableSecret {
    pub id: String,
    pub label: String,
}

/// What the page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharingData {
    pub outbound: Vec<ShareView>,
    pub inbound: Vec<ShareView>,
    pub secrets: Vec<ShareableSecret>,
}

/// A new share and its link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedShare {
    pub id: String,
    pub share_url: String,
}

#[cfg(feature = "ssr")]
fn view_of(s: &talon_core::model::Share, now: i64) -> ShareView {
    ShareView {
        id: s.id.clone(),
        secret_path: s.secret_path.clone(),
        recipient: match s.recipient_type.as_str() {
            "anyone_with_link" => "Anyone with the link".to_owned(),
            "external_email" => s.recipient_email.clone().unwrap_or_default(),
            other => format!("{other} {}", s.recipient_id.clone().unwrap_or_default()),
        },
        status: s.derived_status(now).to_owned(),
        views: match s.max_access_count {
            Some(max) => format!("{} / {max}", s.access_count),
            None => s.access_count.to_string(),
        },
        expires_at: talon_core::clock::rfc3339(s.expires_at),
        passphrase: s.passphrase_protected,
    }
}

/// Outbound and inbound shares, and the secrets the user can share.
#[server(prefix = "/ui", endpoint = "sharing/page")]
pub async fn sharing_page() -> Result<SharingData, SessionError> {
    use crate::session::backend::*;
    let (core, p, ctx) = caller().await?;
    let now = talon_core::clock::now_ms();
    let outbound = core.outbound_shares(&p).await.map_err(rejected)?;
    let inbound = core.inbound_shares(&p).await.map_err(rejected)?;
    let mut secrets = Vec::new();
    for vault in core.list_vaults(&p).await.map_err(rejected)? {
        if let Ok(rows) = core.list_secrets(&p, &vault.id, "", &ctx).await {
            secrets.extend(rows.into_iter().map(|s| ShareableSecret {
                id: s.secret_id,
                label: format!("{} / {}", vault.name, s.path),
            }));
        }
    }
    Ok(SharingData {
        outbound: outbound.iter().map(|s| view_of(s, now)).collect(),
        inbound: inbound.iter().map(|s| view_of(s, now)).collect(),
        secrets,
    })
}

/// Creates a share of a secret.
#[server(prefix = "/ui", endpoint = "sharing/create")]
pub async fn create_share(
    secret_id: String,
    recipient_type: String,
    email: String,
    passphrase: talon_api::PasswordInput,
    expires_in_hours: String,
    max_access_count: String,
    ip_allowlist: String,
) -> Result<CreatedShare, SessionError> {
    use crate::session::backend::*;
    form_action::<CreateShare, _, _>("/sharing", |core, p, ctx| async move {
        let hours = crate::vaults::parse_count("Expires in", &expires_in_hours)?.unwrap_or(24);
        let passphrase =
            Some(passphrase.into_password()).filter(|given| !given.expose_secret().is_empty());
        let input = talon_core::service::CreateShare {
            recipient_type,
            recipient_id: None,
            email: Some(email.trim().to_owned()).filter(|e| !e.is_empty()),
            expires_at: talon_core::clock::now_ms() + hours.clamp(1, 24 * 90) * 3_600_000,
            max_access_count: crate::vaults::parse_count("Maximum views", &max_access_count)?,
            passphrase,
            ip_allowlist: form_list(&ip_allowlist),
        };
        let row = core
            .create_share(&p, &secret_id, input, &ctx)
            .await
            .map_err(rejected)?;
        Ok(CreatedShare {
            share_url: format!("{}/v1/share/{}", core.config().public_url, row.id),
            id: row.id,
        })
    })
    .await
}

/// Revokes one of the user's shares.
#[server(prefix = "/ui", endpoint = "sharing/revoke")]
pub async fn revoke_share(share_id: String) -> Result<(), SessionError> {
    use crate::session::backend::*;
    form_action::<RevokeShare, _, _>("/sharing", |core, p, ctx| async move {
        core.revoke_share(&p, &share_id, &ctx)
            .await
            .map_err(rejected)
    })
    .await
}

/// Accepts (`accept = "true"`) or declines a share made to the user.
#[server(prefix = "/ui", endpoint = "sharing/answer")]
pub async fn answer_share(share_id: String, accept: String) -> Result<(), SessionError> {
    use crate::session::backend::*;
    form_action::<AnswerShare, _, _>("/sharing", |core, p, ctx| async move {
        core.answer_share(&p, &share_id, accept == "true", &ctx)
            .await
            .map_err(rejected)
    })
    .await
}

/// `/sharing`.
#[component]
pub fn SharingPage() -> impl IntoView {
    let create = ServerAction::<CreateShare>::new();
    let revoke = ServerAction::<RevokeShare>::new();
    let answer = ServerAction::<AnswerShare>::new();
    let data = Resource::new(
        move || create.version().get() + revoke.version().get() + answer.version().get(),
        |_| sharing_page(),
    );
    view! {
        <div class="mx-auto max-w-6xl">
            <PageHeader
                title="Sharing".to_owned()
                description="Share one secret with a link, a teammate or an email address, for a limited time and number of views."
            />
            {move || {
                create
                    .value()
                    .get()
                    .and_then(Result::ok)
                    .map(|share| {
                        view! {
                            <div class="mb-6">
                                <ShowOnce title="Share link" value=share.share_url />
                            </div>
                        }
                    })
            }}
            <Suspense fallback=loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Err(error) => view! { <ErrorNote message=error.to_string() /> }.into_any(),
                        Ok(d) => {
                            view! {
                                <ShareForm secrets=d.secrets create />
                                <Card title="Shared by you">
                                    <div class="mb-3">{action_error(revoke)}</div>
                                    <ShareTable shares=d.outbound revoke=Some(revoke) answer=None />
                                </Card>
                                <Card title="Shared with you">
                                    <div class="mb-3">{action_error(answer)}</div>
                                    <ShareTable shares=d.inbound revoke=None answer=Some(answer) />
                                </Card>
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </div>
    }
    .into_any()
}

#[component]
fn ShareForm(secrets: Vec<ShareableSecret>, create: ServerAction<CreateShare>) -> impl IntoView {
    if secrets.is_empty() {
        return view! {
            <Card title="Share a secret">
                <EmptyState message="There is nothing to share yet. Add a secret to a vault first." />
            </Card>
        }
        .into_any();
    }
    view! {
        <Card title="Share a secret">
            <ActionForm action=create attr:class="grid gap-4 sm:grid-cols-2">
                <div>
                    <label for="field-secret_id" class=LABEL>
                        "Secret"
                    </label>
                    <select id="field-secret_id" name="secret_id" required class=INPUT>
                        {secrets
                            .into_iter()
                            .map(|s| view! { <option value=s.id>{s.label}</option> })
                            .collect_view()}
                    </select>
                </div>
                <div>
                    <label for="field-recipient_type" class=LABEL>
                        "Recipient"
                    </label>
                    <select id="field-recipient_type" name="recipient_type" class=INPUT>
                        <option value="anyone_with_link">"Anyone with the link"</option>
                        <option value="external_email">"An email address"</option>
                    </select>
                </div>
                <Field
                    label="Recipient email"
                    name="email"
                    kind="email"
                    hint="For a share to an email address."
                />
                <Field
                    label="Passphrase"
                    name="passphrase"
                    kind="password"
                    hint="Optional; the recipient sends it in the request body."
                />
                <div>
                    <label for="field-expires_in_hours" class=LABEL>
                        "Expires in"
                    </label>
                    <select id="field-expires_in_hours" name="expires_in_hours" class=INPUT>
                        <option value="1">"1 hour"</option>
                        <option value="24" selected>"1 day"</option>
                        <option value="168">"7 days"</option>
                        <option value="720">"30 days"</option>
                    </select>
                </div>
                <Field label="Maximum views" name="max_access_count" kind="number" value="1" />
                <Field
                    label="Allowed IPs"
                    name="ip_allowlist"
                    placeholder="203.0.113.0/24"
                    hint="Optional."
                />
                <div class="sm:col-span-2">
                    <button type="submit" class=BUTTON prop:disabled=create.pending()>
                        "Create share"
                    </button>
                </div>
            </ActionForm>
            <div class="mt-3">{action_error(create)}</div>
        </Card>
    }
    .into_any()
}

#[component]
fn ShareTable(
    shares: Vec<ShareView>,
    revoke: Option<ServerAction<RevokeShare>>,
    answer: Option<ServerAction<AnswerShare>>,
) -> impl IntoView {
    if shares.is_empty() {
        return view! { <EmptyState message="No shares here yet." /> }.into_any();
    }
    view! {
        <div class="overflow-x-auto">
            <table class=TABLE>
                <thead>
                    <tr>
                        <th class=TH scope="col">"Secret"</th>
                        <th class=TH scope="col">"Recipient"</th>
                        <th class=TH scope="col">"Status"</th>
                        <th class=TH scope="col">"Views"</th>
                        <th class=TH scope="col">"Expires"</th>
                        <th class=TH scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {shares
                        .into_iter()
                        .map(|s| {
                            let live = matches!(s.status.as_str(), "active" | "pending" | "accepted");
                            let pending = s.status == "pending";
                            let (id_revoke, id_accept, id_decline) = (s.id.clone(), s.id.clone(), s.id.clone());
                            view! {
                                <tr data-testid="share-row">
                                    <td class=format!("{TD} font-mono")>
                                        {s.secret_path.clone()}
                                        {s.passphrase.then_some(" 🔒")}
                                    </td>
                                    <td class=TD>{s.recipient.clone()}</td>
                                    <td class=TD>{badge(s.status.clone())}</td>
                                    <td class=TD>{s.views.clone()}</td>
                                    <td class=TD>{s.expires_at.clone()}</td>
                                    <td class=format!("{TD} flex gap-2")>
                                        {revoke
                                            .filter(|_| live)
                                            .map(|revoke| {
                                                view! {
                                                    <Confirm label="Revoke">
                                                        <ActionForm action=revoke>
                                                            <input type="hidden" name="share_id" value=id_revoke />
                                                            <button type="submit" class=BUTTON_DANGER>
                                                                "Confirm revoke"
                                                            </button>
                                                        </ActionForm>
                                                    </Confirm>
                                                }
                                            })}
                                        {answer
                                            .filter(|_| pending)
                                            .map(|answer| {
                                                view! {
                                                    <ActionForm action=answer>
                                                        <input type="hidden" name="share_id" value=id_accept />
                                                        <input type="hidden" name="accept" value="true" />
                                                        <button type="submit" class=BUTTON_SECONDARY>
                                                            "Accept"
                                                        </button>
                                                    </ActionForm>
                                                    <ActionForm action=answer>
                                                        <input type="hidden" name="share_id" value=id_decline />
                                                        <input type="hidden" name="accept" value="false" />
                                                        <button type="submit" class=BUTTON_SECONDARY>
                                                            "Decline"
                                                        </button>
                                                    </ActionForm>
                                                }
                                            })}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
