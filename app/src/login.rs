//! The sign-in page at `/login`.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::icons::Icon;
use crate::return_to::after_sign_in;
use crate::session::{current_user, google_enabled, Login, VerifyCode};
use crate::ui::{ErrorNote, Field, BUTTON};

/// Email and password form. It posts to the `login` server function; with JS
/// the answer arrives without a page load, without JS the browser follows the
/// server's redirect. Signing in returns to the page in `?next=` (a local path,
/// see [`crate::return_to`]) or goes to `/`; so does a visitor already signed in.
#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let query = leptos_router::hooks::use_query_map();
    // The code step: after a password sign-in answered "code needed", or on
    // `/login?step=code` (where a plain form post lands).
    let needs_code = move || {
        matches!(login.value().get(), Some(Ok(true)))
            || query.with(|q| q.get("step").as_deref() == Some("code"))
    };
    let session = Resource::new_blocking(|| (), |_| current_user());
    let google_failed = move || query.with(|q| q.get("error").as_deref() == Some("google"));
    let next = move || query.with(|q| q.get("next").unwrap_or_default());

    view! {
        <Title text="Sign in" />
        <Suspense>
            {move || Suspend::new(async move {
                matches!(session.await, Ok(Some(_)))
                    .then(|| {
                        let to = after_sign_in(Some(&next()));
                        view! { <Redirect path=to /> }
                    })
            })}
        </Suspense>
        <main class="flex min-h-full flex-col justify-center px-6 py-12 lg:px-8">
            <div class="sm:mx-auto sm:w-full sm:max-w-sm">
                <div class="flex items-center justify-center gap-2 text-slate-900">
                    {Icon::Logo.view("size-9 text-indigo-600")}
                    <span class="text-2xl font-semibold tracking-tight">"Talon"</span>
                </div>
                <h1 class="mt-8 text-center text-2xl font-semibold tracking-tight text-slate-900">
                    "Sign in to your account"
                </h1>
            </div>

            <div class="mt-8 sm:mx-auto sm:w-full sm:max-w-sm">
                <div class="rounded-xl bg-white px-6 py-8 shadow-sm ring-1 ring-slate-200 sm:px-8">
                    <Show when=needs_code fallback=move || view! { <PasswordForm login next /> }>
                        <CodeForm next />
                    </Show>
                    <Show when=google_failed>
                        <div class="mt-4">
                            <ErrorNote message="Google sign-in did not complete. Please try again." />
                        </div>
                    </Show>
                    <GoogleButton />
                </div>
            </div>
        </main>
    }
    .into_any()
}

/// The second step: a TOTP or recovery code.
#[component]
fn CodeForm(next: impl Fn() -> String + Send + Sync + 'static) -> impl IntoView {
    let code = ServerAction::<VerifyCode>::new();
    view! {
        <ActionForm action=code attr:class="space-y-6">
            <input type="hidden" name="next" value=next />
            <p class="text-sm text-slate-600">
                "Enter the code from your authenticator app, or a recovery code."
            </p>
            {move || {
                code.value()
                    .get()
                    .and_then(Result::err)
                    .map(|e| view! { <ErrorNote message=e.to_string() /> })
            }}
            <Field label="Authentication code" name="code" required=true placeholder="123456" />
            <button type="submit" class=format!("{BUTTON} w-full")>
                "Verify"
            </button>
        </ActionForm>
    }
    .into_any()
}

/// Email and password; `login` is shared with the page, which switches to
/// the code step when the answer says a code is needed.
#[component]
fn PasswordForm(
    login: ServerAction<Login>,
    next: impl Fn() -> String + Send + Sync + 'static,
) -> impl IntoView {
    let pending = login.pending();
    let error = move || login.value().get().and_then(Result::err);
    view! {
        <ActionForm action=login attr:class="space-y-6">
            <input type="hidden" name="next" value=next />
            {move || {
                error()
                    .map(|error| {
                        view! {
                            <p
                                role="alert"
                                class="rounded-md bg-red-50 px-3 py-2 text-sm font-medium text-red-700 ring-1 ring-red-200"
                            >
                                {error.to_string()}
                            </p>
                        }
                    })
            }}
            <div>
                <label for="email" class="block text-sm font-medium text-slate-900">
                    "Email"
                </label>
                <input
                    id="email"
                    name="email"
                    type="email"
                    autocomplete="username"
                    required
                    class="mt-2 block w-full rounded-md border-0 bg-white px-3 py-2 text-slate-900 shadow-sm ring-1 ring-slate-300 placeholder:text-slate-400 focus:ring-2 focus:ring-indigo-600 focus:outline-none sm:text-sm"
                />
            </div>
            <div>
                <label for="password" class="block text-sm font-medium text-slate-900">
                    "Password"
                </label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                    class="mt-2 block w-full rounded-md border-0 bg-white px-3 py-2 text-slate-900 shadow-sm ring-1 ring-slate-300 focus:ring-2 focus:ring-indigo-600 focus:outline-none sm:text-sm"
                />
            </div>
            <button
                type="submit"
                prop:disabled=pending
                class="flex w-full justify-center rounded-md bg-indigo-600 px-3 py-2 text-sm font-semibold text-white shadow-sm hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 disabled:cursor-wait disabled:opacity-70"
            >
                "Sign in"
            </button>
        </ActionForm>
    }
    .into_any()
}

/// "Sign in with Google", shown when the server has a Google client.
#[component]
fn GoogleButton() -> impl IntoView {
    let google = Resource::new(|| (), |_| google_enabled());
    view! {
        <Suspense>
            {move || Suspend::new(async move {
                matches!(google.await, Ok(true))
                    .then(|| {
                        view! {
                            <div class="mt-6 border-t border-slate-200 pt-6">
                                <a
                                    href="/auth/google"
                                    rel="external"
                                    class="flex w-full justify-center rounded-md bg-white px-3 py-2 text-sm font-semibold text-slate-900 shadow-sm ring-1 ring-slate-300 hover:bg-slate-50"
                                >
                                    "Sign in with Google"
                                </a>
                            </div>
                        }
                    })
            })}
        </Suspense>
    }
    .into_any()
}
