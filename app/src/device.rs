//! `/cli/verify?code=…`: where a human approves (or denies) a `talon login`
//! started on another device (the OAuth device flow).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::session::SessionError;
use crate::ui::*;

/// A pending device login as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceLogin {
    pub user_code: String,
    pub client_id: String,
    pub status: String,
    pub expires_at: String,
}

/// What the code is for (the signed-in user must be looking at it).
#[server(prefix = "/ui", endpoint = "device/info")]
pub async fn device_request(code: String) -> Result<DeviceLogin, SessionError> {
    use crate::session::backend::*;
    let (core, _, _) = caller().await?;
    let info = core.device_info(code.trim()).await.map_err(rejected)?;
    Ok(DeviceLogin {
        user_code: info.user_code,
        client_id: info.client_id,
        status: info.status,
        expires_at: talon_core::clock::rfc3339(info.expires_at),
    })
}

/// Approves (`approve = "true"`) or denies the device login.
#[server(prefix = "/ui", endpoint = "device/decide")]
pub async fn decide_device(code: String, approve: String) -> Result<bool, SessionError> {
    use crate::session::backend::*;
    let page = format!("/cli/verify?code={}", code.trim());
    form_action::<DecideDevice, _, _>(&page, |core, p, ctx| async move {
        let approve = approve == "true";
        core.decide_device(&p, code.trim(), approve, &ctx)
            .await
            .map_err(rejected)?;
        Ok(approve)
    })
    .await
}

/// `/cli/verify`.
#[component]
pub fn DeviceVerifyPage() -> impl IntoView {
    let query = use_query_map();
    let code = move || query.with(|q| q.get("code").unwrap_or_default());
    let decide = ServerAction::<DecideDevice>::new();
    let request = Resource::new(
        move || (code(), decide.version().get()),
        |(code, _)| device_request(code),
    );
    view! {
        <div class="mx-auto max-w-xl">
            <PageHeader
                title="Approve a sign-in".to_owned()
                description="A device is asking to sign in to Talon as you, usually the talon CLI after `talon login`."
            />
            <Card title="Device sign-in">
                <Suspense fallback=loading>
                    {move || Suspend::new(async move {
                        match request.await {
                            Err(error) => view! { <ErrorNote message=error.to_string() /> }.into_any(),
                            Ok(r) => {
                                let pending = r.status == "pending";
                                let (approve_code, deny_code) = (r.user_code.clone(), r.user_code.clone());
                                view! {
                                    <dl class="grid grid-cols-3 gap-2 text-sm">
                                        <dt class="text-slate-500">"Code"</dt>
                                        <dd class="col-span-2 font-mono text-lg" data-testid="user-code">
                                            {r.user_code.clone()}
                                        </dd>
                                        <dt class="text-slate-500">"Client"</dt>
                                        <dd class="col-span-2">{r.client_id.clone()}</dd>
                                        <dt class="text-slate-500">"Status"</dt>
                                        <dd class="col-span-2">{badge(r.status.clone())}</dd>
                                        <dt class="text-slate-500">"Expires"</dt>
                                        <dd class="col-span-2">{r.expires_at.clone()}</dd>
                                    </dl>
                                    <p class="mt-4 text-sm text-slate-600">
                                        "Approve only if this code matches the one your terminal shows."
                                    </p>
                                    {pending.then(move || view! {
                                        <div class="mt-4 flex gap-3">
                                            <ActionForm action=decide>
                                                <input type="hidden" name="code" value=approve_code />
                                                <input type="hidden" name="approve" value="true" />
                                                <button type="submit" class=BUTTON>
                                                    "Approve"
                                                </button>
                                            </ActionForm>
                                            <ActionForm action=decide>
                                                <input type="hidden" name="code" value=deny_code />
                                                <input type="hidden" name="approve" value="false" />
                                                <button type="submit" class=BUTTON_DANGER>
                                                    "Deny"
                                                </button>
                                            </ActionForm>
                                        </div>
                                    })}
                                }
                                    .into_any()
                            }
                        }
                    })}
                </Suspense>
                <div class="mt-3">{action_error(decide)}</div>
            </Card>
        </div>
    }
    .into_any()
}
