//! Building blocks every dashboard page shares: headings, cards, labelled
//! fields, buttons, error and empty states, so the areas look and behave alike.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;

use crate::session::SessionError;

/// Classes of a text input, select or textarea.
pub const INPUT: &str = "mt-1 block w-full rounded-md border-0 bg-white px-3 py-2 text-sm text-slate-900 shadow-sm ring-1 ring-slate-300 placeholder:text-slate-400 focus:ring-2 focus:ring-indigo-600 focus:outline-none";
/// Classes of a field's label.
pub const LABEL: &str = "block text-sm font-medium text-slate-800";
/// Classes of the main button of a form.
pub const BUTTON: &str = "inline-flex items-center justify-center rounded-md bg-indigo-600 px-3 py-2 text-sm font-semibold text-white shadow-sm hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 disabled:cursor-wait disabled:opacity-70";
/// Classes of a secondary button.
pub const BUTTON_SECONDARY: &str = "inline-flex items-center justify-center rounded-md bg-white px-2.5 py-1.5 text-sm font-medium text-slate-700 shadow-sm ring-1 ring-slate-300 hover:bg-slate-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600";
/// Classes of a button that destroys something.
pub const BUTTON_DANGER: &str = "inline-flex items-center justify-center rounded-md bg-red-600 px-2.5 py-1.5 text-sm font-semibold text-white shadow-sm hover:bg-red-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-red-600";
/// Classes of a table.
pub const TABLE: &str = "min-w-full divide-y divide-slate-200 text-left text-sm";
/// Classes of a table header cell.
pub const TH: &str = "px-3 py-2 text-xs font-semibold uppercase tracking-wide text-slate-500";
/// Classes of a table cell.
pub const TD: &str = "px-3 py-2 align-top text-slate-700";

/// The items of a list typed into one form field, separated by commas, spaces or new lines.
pub fn form_list(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The page's title and heading, with an optional one-line description.
#[component]
pub fn PageHeader(title: String, #[prop(optional, into)] description: String) -> impl IntoView {
    view! {
        <Title text=title.clone() />
        <div class="mb-6">
            <h1 class="text-2xl font-semibold tracking-tight text-slate-900">{title}</h1>
            {(!description.is_empty())
                .then(|| view! { <p class="mt-1 text-sm text-slate-600">{description}</p> })}
        </div>
    }
}

/// A titled section of a page (a `region` landmark named by its heading).
#[component]
pub fn Card(#[prop(into)] title: String, children: Children) -> impl IntoView {
    let id = format!(
        "card-{}",
        title
            .to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    );
    let labelled_by = id.clone();
    view! {
        <section
            aria-labelledby=labelled_by
            class="mb-6 rounded-xl bg-white p-5 shadow-sm ring-1 ring-slate-200"
        >
            <h2 id=id class="mb-4 text-base font-semibold text-slate-900">
                {title}
            </h2>
            {children()}
        </section>
    }
}

/// A labelled input. The label's `for` matches the input's `id`, so the field
/// is found by its label.
#[component]
pub fn Field(
    #[prop(into)] label: String,
    #[prop(into)] name: String,
    #[prop(optional, into)] kind: Option<String>,
    #[prop(optional)] required: bool,
    #[prop(optional, into)] placeholder: String,
    #[prop(optional, into)] value: String,
    #[prop(optional, into)] hint: String,
    /// The input's `id`; `field-{name}` when empty.
    #[prop(optional, into)]
    id: String,
) -> impl IntoView {
    let id = if id.is_empty() {
        format!("field-{name}")
    } else {
        id
    };
    view! {
        <div>
            <label for=id.clone() class=LABEL>
                {label}
            </label>
            <input
                id=id
                name=name
                type=kind.unwrap_or_else(|| "text".to_owned())
                required=required
                placeholder=placeholder
                value=value
                class=INPUT
            />
            {(!hint.is_empty()).then(|| view! { <p class="mt-1 text-xs text-slate-500">{hint}</p> })}
        </div>
    }
}

/// A labelled `<select>` whose options are its children; the label's `for` matches the
/// select's `id`, as [`Field`] does for inputs.
#[component]
pub fn SelectField(
    #[prop(into)] label: String,
    #[prop(into)] name: String,
    #[prop(into)] id: String,
    children: Children,
) -> impl IntoView {
    view! {
        <div>
            <label for=id.clone() class=LABEL>
                {label}
            </label>
            <select id=id name=name class=INPUT>
                {children()}
            </select>
        </div>
    }
}

/// A red alert with a message that is safe to show. When the message says the session has
/// ended (signed out elsewhere, expired, revoked), the browser goes to the sign-in page.
#[component]
pub fn ErrorNote(#[prop(into)] message: String) -> impl IntoView {
    if message == SessionError::SignedOut.to_string() {
        // Effects run only in the browser, after the note is on the page.
        Effect::new(move |_| {
            let _ = window().location().set_href("/login");
        });
    }
    view! {
        <p
            role="alert"
            class="rounded-md bg-red-50 px-3 py-2 text-sm font-medium text-red-700 ring-1 ring-red-200"
        >
            {message}
        </p>
    }
}

/// A green note after something succeeded.
#[component]
pub fn SuccessNote(#[prop(into)] message: String) -> impl IntoView {
    view! {
        <p
            role="status"
            class="rounded-md bg-emerald-50 px-3 py-2 text-sm font-medium text-emerald-800 ring-1 ring-emerald-200"
        >
            {message}
        </p>
    }
}

/// What to show when a list is empty: what it will hold and what to do next.
#[component]
pub fn EmptyState(#[prop(into)] message: String) -> impl IntoView {
    view! {
        <p class="rounded-lg border border-dashed border-slate-300 px-4 py-8 text-center text-sm text-slate-600">
            {message}
        </p>
    }
}

/// A placeholder while a list loads.
pub fn loading() -> impl IntoView {
    view! {
        <p class="animate-pulse text-sm text-slate-500" aria-busy="true">
            "Loading…"
        </p>
    }
}

/// The error of the last submission of `action`, as an alert.
pub fn action_error<S>(action: ServerAction<S>) -> impl IntoView
where
    S: ServerFn<Error = SessionError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    move || {
        action
            .value()
            .get()
            .and_then(Result::err)
            .map(|error| view! { <ErrorNote message=error.to_string() /> })
    }
}

/// A destructive button behind a second, explicit confirmation: the first
/// click opens the disclosure, the "Confirm" button inside submits. Works
/// without JavaScript.
#[component]
pub fn Confirm(#[prop(into)] label: String, children: Children) -> impl IntoView {
    view! {
        <details class="inline-block">
            <summary class="cursor-pointer list-none rounded-md px-2.5 py-1.5 text-sm font-medium text-red-700 ring-1 ring-red-200 hover:bg-red-50">
                {label}
            </summary>
            <div class="mt-2 flex items-center gap-2">{children()}</div>
        </details>
    }
}

/// A one-time secret (a new key) with a copy button and a warning that it is
/// shown only once.
#[component]
pub fn ShowOnce(#[prop(into)] title: String, #[prop(into)] value: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let to_copy = value.clone();
    view! {
        <div
            role="status"
            class="rounded-lg bg-amber-50 p-4 ring-1 ring-amber-200"
            data-testid="show-once"
        >
            <p class="text-sm font-semibold text-amber-900">{title}</p>
            <p class="mt-1 text-xs text-amber-800">
                "Copy it now: it is shown only once and Talon keeps only a hash."
            </p>
            <div class="mt-2 flex items-center gap-2">
                <code
                    data-testid="one-time-value"
                    class="block flex-1 overflow-x-auto rounded bg-white px-2 py-1 font-mono text-xs text-slate-900 ring-1 ring-amber-200"
                >
                    {value}
                </code>
                <button
                    type="button"
                    class=BUTTON_SECONDARY
                    on:click=move |_| {
                        copy_to_clipboard(&to_copy);
                        copied.set(true);
                    }
                >
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
            </div>
        </div>
    }
    .into_any()
}

/// Puts `text` on the clipboard (in the browser; a no-op on the server).
pub fn copy_to_clipboard(text: &str) {
    #[cfg(feature = "hydrate")]
    {
        let clipboard = window().navigator().clipboard();
        let _promise = clipboard.write_text(text);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}

/// A coloured pill for a status word.
pub fn badge(text: String) -> impl IntoView {
    let tone = match text.as_str() {
        "active" | "success" | "accepted" | "verified" | "allow" | "delivered" | "approved"
        | "fulfilled" => "bg-emerald-50 text-emerald-700 ring-emerald-200",
        "revoked" | "failure" | "denied" | "declined" | "expired" | "inactive" | "deny"
        | "block" | "broken" | "failed" | "rejected" => "bg-red-50 text-red-700 ring-red-200",
        "pending" => "bg-amber-50 text-amber-800 ring-amber-200",
        _ => "bg-slate-100 text-slate-700 ring-slate-200",
    };
    view! {
        <span class=format!(
            "inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium ring-1 {tone}",
        )>{text}</span>
    }
}
