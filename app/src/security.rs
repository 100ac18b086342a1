//! Security (`/security`): two-factor authentication (TOTP with a QR code and
//! recovery codes), the org's IP rules and webhooks, the password, and signing
//! out every session.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::session::SessionError;
use crate::ui::*;

/// An IP rule as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpRuleView {
    pub id: String,
    pub rule_type: String,
    pub cidr: String,
    pub label: String,
    pub applies_to: String,
}

/// A webhook as listed, with how its latest delivery went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub events: String,
    pub is_active: bool,
    pub description: String,
    /// `pending`, `delivered`, `failed`, or empty when nothing was sent yet.
    pub last_status: String,
    /// The latest delivery's event and when it was last attempted (or queued).
    pub last_detail: String,
}

/// What the page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityData {
    pub mfa_enabled: bool,
    pub recovery_codes_left: usize,
    pub ip_rules: Vec<IpRuleView>,
    pub webhooks: Vec<WebhookView>,
    pub is_admin: bool,
}

/// A TOTP enrolment in progress: the QR code (SVG) and the key to type by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MfaEnrolment {
    pub qr_svg: String,
    pub secret: String,
}

/// MFA status and IP rules.
#[server(prefix = "/ui", endpoint = "security/page")]
pub async fn security_page() -> Result<SecurityData, SessionError> {
    use crate::session::backend::*;
    let (core, p, _) = caller().await?;
    let (mfa_enabled, recovery_codes_left) = core.mfa_status(&p).await.map_err(rejected)?;
    let is_admin = matches!(&p, talon_core::Principal::User { role, .. } if role.is_org_admin());
    let ip_rules = if is_admin {
        core.list_ip_rules(&p)
            .await
            .map_err(rejected)?
            .into_iter()
            .map(|r| IpRuleView {
                id: r.id,
                rule_type: r.rule_type,
                cidr: r.cidr,
                label: r.label.unwrap_or_default(),
                applies_to: r.applies_to,
            })
            .collect()
    } else {
        Vec::new()
    };
    let webhooks = if is_admin {
        core.list_webhooks(&p)
            .await
            .map_err(rejected)?
            .into_iter()
            .map(|w| {
                let (last_status, last_detail) = match &w.last_delivery {
                    Some(d) => {
                        let at = d.last_attempt_at.unwrap_or(d.created_at);
                        let code = d
                            .last_status_code
                            .map(|c| format!(", HTTP {c}"))
                            .unwrap_or_default();
                        (
                            d.status.clone(),
                            format!("{} at {}{code}", d.action, talon_core::clock::rfc3339(at)),
                        )
                    }
                    None => (String::new(), String::new()),
                };
                WebhookView {
                    id: w.id,
                    url: w.url,
                    events: w.events.join(", "),
                    is_active: w.is_active,
                    description: w.description.unwrap_or_default(),
                    last_status,
                    last_detail,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(SecurityData {
        mfa_enabled,
        recovery_codes_left,
        ip_rules,
        webhooks,
        is_admin,
    })
}

/// Starts TOTP enrolment: a new secret, as a QR code and as text.
#[server(prefix = "/ui", endpoint = "security/mfa-setup")]
pub async fn mfa_setup() -> Result<MfaEnrolment, SessionError> {
    use crate::session::backend::*;
    let (core, p, _) = caller().await?;
    let setup = core.mfa_setup(&p).await.map_err(rejected)?;
    let qr = qrcode::QrCode::new(setup.otpauth_uri.expose_secret().as_bytes())
        .map_err(|_| SessionError::Rejected("Could not draw the QR code".to_owned()))?;
    let qr_svg = qr
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(180, 180)
        .build();
    Ok(MfaEnrolment {
        qr_svg,
        secret: setup.secret.expose_secret().to_owned(),
    })
}

/// Confirms enrolment with a code from the app; answers the recovery codes.
#[server(prefix = "/ui", endpoint = "security/mfa-verify")]
pub async fn mfa_confirm(code: String) -> Result<Vec<String>, SessionError> {
    use crate::session::backend::*;
    form_action::<MfaConfirm, _, _>("/security", |core, p, ctx| async move {
        core.mfa_verify_setup(&p, code.trim(), &ctx)
            .await
            .map_err(rejected)
    })
    .await
}

/// Turns two-factor authentication off (needs a current code).
#[server(prefix = "/ui", endpoint = "security/mfa-disable")]
pub async fn mfa_disable(code: String) -> Result<(), SessionError> {
    use crate::session::backend::*;
    form_action::<MfaDisable, _, _>("/security", |core, p, ctx| async move {
        core.mfa_disable(&p, Some(code.trim()), None, &ctx)
            .await
            .map_err(rejected)
    })
    .await
}

/// Adds an IP rule for the org.
#[server(prefix = "/ui", endpoint = "security/ip-rule")]
pub async fn add_ip_rule(
    rule_type: String,
    cidr: String,
    label: String,
) -> Result<(), SessionError> {
    use crate::session::backend::*;
    form_action::<AddIpRule, _, _>("/security", |core, p, ctx| async move {
        let input = talon_core::service::NewIpRule {
            rule_type,
            cidr: cidr.trim().to_owned(),
            label: Some(label.trim().to_owned()).filter(|l| !l.is_empty()),
            applies_to: None,
        };
        core.create_ip_rule(&p, input, &ctx)
            .await
            .map(|_| ())
            .map_err(rejected)
    })
    .await
}

/// Removes an IP rule.
#[server(prefix = "/ui", endpoint = "security/ip-rule-delete")]
pub async fn delete_ip_rule(rule_id: String) -> Result<(), SessionError> {
    use crate::session::backend::*;
    form_action::<DeleteIpRule, _, _>("/security", |core, p, ctx| async move {
        core.delete_ip_rule(&p, &rule_id, &ctx)
            .await
            .map_err(rejected)
    })
    .await
}

/// Registers a webhook for the org; answers its signing secret, shown once.
/// `events` is a comma- or space-separated list of audit actions (or `*`).
#[server(prefix = "/ui", endpoint = "security/webhook")]
pub async fn add_webhook(
    url: String,
    events: String,
    description: String,
) -> Result<String, SessionError> {
    use crate::session::backend::*;
    form_action::<AddWebhook, _, _>("/security", |core, p, ctx| async move {
        let input = talon_core::service::CreateWebhook {
            url: url.trim().to_owned(),
            events: form_list(&events),
            description: Some(description.trim().to_owned()).filter(|d| !d.is_empty()),
            secret: None,
        };
        core.create_webhook(&p, input, &ctx)
            .await
            .map(|created| created.secret.expose_secret().to_owned())
            .map_err(rejected)
    })
    .await
}

/// Removes a webhook with its queued deliveries.
#[server(prefix = "/ui", endpoint = "security/webhook-delete")]
pub async fn delete_webhook(webhook_id: String) -> Result<(), SessionError> {
    use crate::session::backend::*;
    form_action::<DeleteWebhook, _, _>("/security", |core, p, ctx| async move {
        core.delete_webhook(&p, &webhook_id, &ctx)
            .await
            .map_err(rejected)
    })
    .await
}

/// Queues a `webhook.test` event for one webhook.
#[server(prefix = "/ui", endpoint = "security/webhook-test")]
pub async fn test_webhook(webhook_id: String) -> Result<(), SessionError> {
    use crate::session::backend::*;
    form_action::<TestWebhook, _, _>("/security", |core, p, ctx| async move {
        core.test_webhook(&p, &webhook_id, &ctx)
            .await
            .map(|_| ())
            .map_err(rejected)
    })
    .await
}

/// Changes the password (the current one is checked).
#[server(prefix = "/ui", endpoint = "security/password")]
pub async fn change_password(
    current_password: talon_api::PasswordInput,
    new_password: talon_api::PasswordInput,
) -> Result<(), SessionError> {
    use crate::session::backend::*;
    form_action::<ChangePassword, _, _>("/security", |core, p, ctx| async move {
        core.change_password(
            &p,
            current_password.into_password(),
            new_password.into_password(),
            &ctx,
        )
        .await
        .map_err(rejected)
    })
    .await
}

/// `/security`.
#[component]
pub fn SecurityPage() -> impl IntoView {
    let setup = ServerAction::<MfaSetup>::new();
    let confirm = ServerAction::<MfaConfirm>::new();
    let disable = ServerAction::<MfaDisable>::new();
    let add_rule = ServerAction::<AddIpRule>::new();
    let delete_rule = ServerAction::<DeleteIpRule>::new();
    let add_hook = ServerAction::<AddWebhook>::new();
    let delete_hook = ServerAction::<DeleteWebhook>::new();
    let test_hook = ServerAction::<TestWebhook>::new();
    let password = ServerAction::<ChangePassword>::new();
    let logout = ServerAction::<crate::session::LogoutEverywhere>::new();
    let data = Resource::new(
        move || {
            confirm.version().get()
                + disable.version().get()
                + add_rule.version().get()
                + delete_rule.version().get()
                + add_hook.version().get()
                + delete_hook.version().get()
                + test_hook.version().get()
        },
        |_| security_page(),
    );
    view! {
        <div class="mx-auto max-w-5xl">
            <PageHeader
                title="Security".to_owned()
                description="Protect your account with a second factor and limit where the API can be called from."
            />
            {move || {
                confirm
                    .value()
                    .get()
                    .and_then(Result::ok)
                    .map(|codes| {
                        view! {
                            <div class="mb-6 rounded-xl bg-white p-5 ring-1 ring-emerald-200" data-testid="recovery-codes">
                                <SuccessNote message="Two-factor authentication is on. Keep these recovery codes somewhere safe; each works once and they are shown only now." />
                                <ul class="mt-3 grid grid-cols-2 gap-1 font-mono text-sm">
                                    {codes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}
                                </ul>
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
                                <Card title="Two-factor authentication">
                                    {if d.mfa_enabled {
                                        view! {
                                            <SuccessNote message=format!(
                                                "Two-factor authentication is on. {} recovery codes left.",
                                                d.recovery_codes_left,
                                            ) />
                                            <ActionForm
                                                action=disable
                                                attr:class="mt-4 flex items-end gap-3"
                                            >
                                                <Field
                                                    label="Code to turn it off"
                                                    name="code"
                                                    id="disable-code"
                                                    required=true
                                                />
                                                <button type="submit" class=BUTTON_DANGER>
                                                    "Turn off two-factor authentication"
                                                </button>
                                            </ActionForm>
                                            <div class="mt-3">{action_error(disable)}</div>
                                        }
                                            .into_any()
                                    } else {
                                        view! { <MfaEnrol setup confirm /> }.into_any()
                                    }}
                                </Card>
                                {d
                                    .is_admin
                                    .then(|| {
                                        view! {
                                            <IpRules rules=d.ip_rules.clone() add_rule delete_rule />
                                            <Webhooks
                                                hooks=d.webhooks.clone()
                                                add_hook
                                                delete_hook
                                                test_hook
                                            />
                                        }
                                    })}
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
            <Card title="Password">
                <ActionForm action=password attr:class="grid gap-4 sm:grid-cols-3 sm:items-end">
                    <Field
                        label="Current password"
                        name="current_password"
                        kind="password"
                        required=true
                    />
                    <Field label="New password" name="new_password" kind="password" required=true />
                    <div>
                        <button type="submit" class=BUTTON>
                            "Change password"
                        </button>
                    </div>
                </ActionForm>
                <div class="mt-3">
                    {action_error(password)}
                    {move || {
                        matches!(password.value().get(), Some(Ok(())))
                            .then(|| view! { <SuccessNote message="Password changed." /> })
                    }}
                </div>
            </Card>
            <Card title="Sessions">
                <p class="mb-3 text-sm text-slate-600">
                    "Signing out everywhere ends every dashboard session of your account and revokes its refresh tokens: other browsers and the CLI must sign in again."
                </p>
                <ActionForm action=logout>
                    <button type="submit" class=BUTTON_DANGER>
                        "Sign out everywhere"
                    </button>
                </ActionForm>
            </Card>
        </div>
    }
    .into_any()
}

#[component]
fn MfaEnrol(setup: ServerAction<MfaSetup>, confirm: ServerAction<MfaConfirm>) -> impl IntoView {
    view! {
        <p class="text-sm text-slate-600">
            "Two-factor authentication is off. Turn it on to ask for a code from an authenticator app at every sign-in."
        </p>
        {move || {
            {
                match setup.value().get() {
                    Some(Ok(enrolment)) => {
                        view! {
                            <div class="mt-4 flex flex-col gap-4 sm:flex-row">
                                <div
                                    class="size-48 shrink-0 rounded bg-white p-2 ring-1 ring-slate-200"
                                    role="img"
                                    aria-label="QR code for your authenticator app"
                                    inner_html=enrolment.qr_svg
                                ></div>
                                <div class="space-y-3">
                                    <p class="text-sm text-slate-700">
                                        "Scan the code with your authenticator app, or type this key:"
                                    </p>
                                    <code
                                        data-testid="totp-secret"
                                        class="block rounded bg-slate-100 px-2 py-1 font-mono text-sm"
                                    >
                                        {enrolment.secret}
                                    </code>
                                    <ActionForm action=confirm attr:class="flex items-end gap-3">
                                        <Field
                                            label="Code from the app"
                                            name="code"
                                            id="confirm-code"
                                            required=true
                                        />
                                        <button type="submit" class=BUTTON>
                                            "Turn on"
                                        </button>
                                    </ActionForm>
                                    {action_error(confirm)}
                                </div>
                            </div>
                        }
                            .into_any()
                    }
                    _ => {
                        view! {
                            <button
                                type="button"
                                class=format!("{BUTTON} mt-4")
                                on:click=move |_| {
                                    setup.dispatch(MfaSetup {});
                                }
                            >
                                "Set up two-factor authentication"
                            </button>
                            {action_error(setup)}
                        }
                            .into_any()
                    }
                }
            }
        }}
    }
    .into_any()
}

#[component]
fn IpRules(
    rules: Vec<IpRuleView>,
    add_rule: ServerAction<AddIpRule>,
    delete_rule: ServerAction<DeleteIpRule>,
) -> impl IntoView {
    view! {
        <Card title="IP rules">
            {if rules.is_empty() {
                view! {
                    <EmptyState message="No IP rules: the API answers from anywhere. Add an allow rule to restrict it." />
                }
                    .into_any()
            } else {
                view! {
                    <table class=TABLE>
                        <thead>
                            <tr>
                                <th class=TH scope="col">"Rule"</th>
                                <th class=TH scope="col">"Range"</th>
                                <th class=TH scope="col">"Label"</th>
                                <th class=TH scope="col">"Applies to"</th>
                                <th class=TH scope="col">"Actions"</th>
                            </tr>
                        </thead>
                        <tbody class="divide-y divide-slate-100">
                            {rules
                                .into_iter()
                                .map(|r| {
                                    view! {
                                        <tr data-testid="ip-rule-row">
                                            <td class=TD>{badge(r.rule_type)}</td>
                                            <td class=format!("{TD} font-mono")>{r.cidr}</td>
                                            <td class=TD>{r.label}</td>
                                            <td class=TD>{r.applies_to}</td>
                                            <td class=TD>
                                                <Confirm label="Remove">
                                                    <ActionForm action=delete_rule>
                                                        <input type="hidden" name="rule_id" value=r.id />
                                                        <button type="submit" class=BUTTON_DANGER>
                                                            "Confirm remove"
                                                        </button>
                                                    </ActionForm>
                                                </Confirm>
                                            </td>
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                }
                    .into_any()
            }}
            <ActionForm action=add_rule attr:class="mt-4 grid gap-4 sm:grid-cols-4 sm:items-end">
                <div>
                    <label for="field-rule_type" class=LABEL>
                        "Rule"
                    </label>
                    <select id="field-rule_type" name="rule_type" class=INPUT>
                        <option value="allow">"allow"</option>
                        <option value="deny">"deny"</option>
                    </select>
                </div>
                <Field label="IP or range" name="cidr" required=true placeholder="203.0.113.0/24" />
                <Field label="Label" name="label" placeholder="Office" />
                <div>
                    <button type="submit" class=BUTTON>
                        "Add rule"
                    </button>
                </div>
            </ActionForm>
            <div class="mt-3 space-y-2">{action_error(add_rule)} {action_error(delete_rule)}</div>
        </Card>
    }
    .into_any()
}

#[component]
fn Webhooks(
    hooks: Vec<WebhookView>,
    add_hook: ServerAction<AddWebhook>,
    delete_hook: ServerAction<DeleteWebhook>,
    test_hook: ServerAction<TestWebhook>,
) -> impl IntoView {
    view! {
        <Card title="Webhooks">
            <p class="mb-3 text-sm text-slate-600">
                "Talon posts the org's audit events (ids and paths, never values) to these HTTPS endpoints, signed with each webhook's secret in the X-Talon-Signature header."
            </p>
            {move || {
                add_hook
                    .value()
                    .get()
                    .and_then(Result::ok)
                    .map(|secret| {
                        view! {
                            <div
                                role="status"
                                class="mb-4 rounded-lg bg-amber-50 p-4 ring-1 ring-amber-200"
                                data-testid="webhook-secret"
                            >
                                <p class="text-sm font-semibold text-amber-900">
                                    "Webhook added. Its signing secret:"
                                </p>
                                <p class="mt-1 text-xs text-amber-800">
                                    "Copy it now: it is shown only once (Talon stores it encrypted)."
                                </p>
                                <code class="mt-2 block overflow-x-auto rounded bg-white px-2 py-1 font-mono text-xs text-slate-900 ring-1 ring-amber-200">
                                    {secret}
                                </code>
                            </div>
                        }
                    })
            }}
            {if hooks.is_empty() {
                view! {
                    <EmptyState message="No webhooks: add one to be told of sign-ins, secret reads and other audit events." />
                }
                    .into_any()
            } else {
                view! {
                    <table class=TABLE>
                        <thead>
                            <tr>
                                <th class=TH scope="col">"URL"</th>
                                <th class=TH scope="col">"Events"</th>
                                <th class=TH scope="col">"State"</th>
                                <th class=TH scope="col">"Last delivery"</th>
                                <th class=TH scope="col">"Actions"</th>
                            </tr>
                        </thead>
                        <tbody class="divide-y divide-slate-100">
                            {hooks
                                .into_iter()
                                .map(|w| {
                                    let state = if w.is_active { "active" } else { "inactive" };
                                    let last = if w.last_status.is_empty() {
                                        "none yet".to_owned()
                                    } else {
                                        w.last_status.clone()
                                    };
                                    let id_test = w.id.clone();
                                    view! {
                                        <tr data-testid="webhook-row">
                                            <td class=format!("{TD} font-mono break-all")>
                                                {w.url}
                                                <span class="block font-sans text-xs text-slate-500">
                                                    {w.description}
                                                </span>
                                            </td>
                                            <td class=format!("{TD} font-mono")>{w.events}</td>
                                            <td class=TD>{badge(state.to_owned())}</td>
                                            <td class=TD data-testid="webhook-last-status">
                                                {badge(last)}
                                                <span class="block text-xs text-slate-500">
                                                    {w.last_detail}
                                                </span>
                                            </td>
                                            <td class=format!("{TD} space-y-2")>
                                                <ActionForm action=test_hook>
                                                    <input type="hidden" name="webhook_id" value=id_test />
                                                    <button type="submit" class=BUTTON_SECONDARY>
                                                        "Send test event"
                                                    </button>
                                                </ActionForm>
                                                <Confirm label="Delete">
                                                    <ActionForm action=delete_hook>
                                                        <input type="hidden" name="webhook_id" value=w.id />
                                                        <button type="submit" class=BUTTON_DANGER>
                                                            "Confirm delete"
                                                        </button>
                                                    </ActionForm>
                                                </Confirm>
                                            </td>
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                }
                    .into_any()
            }}
            <ActionForm action=add_hook attr:class="mt-4 grid gap-4 sm:grid-cols-4 sm:items-end">
                <Field
                    label="Endpoint URL"
                    name="url"
                    id="webhook-url"
                    required=true
                    placeholder="https://hooks.example.com/talon"
                />
                <Field
                    label="Events"
                    name="events"
                    id="webhook-events"
                    required=true
                    value="*"
                    hint="Audit actions, comma-separated, or * for all"
                />
                <Field label="Description" name="description" id="webhook-description" />
                <div>
                    <button type="submit" class=BUTTON>
                        "Add webhook"
                    </button>
                </div>
            </ActionForm>
            <div class="mt-3 space-y-2">
                {action_error(add_hook)} {action_error(delete_hook)} {action_error(test_hook)}
                {move || {
                    matches!(test_hook.value().get(), Some(Ok(())))
                        .then(|| {
                            view! {
                                <SuccessNote message="Test event queued. Its delivery status shows above once it is sent." />
                            }
                        })
                }}
            </div>
        </Card>
    }
    .into_any()
}
