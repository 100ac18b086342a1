//! The signed-in frame around every dashboard area: sidebar, header with the
//! user's email and "Sign out", and the area's page in the middle.

use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect, A};
use leptos_router::hooks::use_location;

use crate::approvals::{PendingBadge, PendingRefresh};
use crate::area::Area;
use crate::icons::Icon;
use crate::return_to::login_path;
use crate::session::{current_user, Logout, SignedInUser};

/// Layout of the dashboard areas. Loads the session before the response is
/// sent, so a signed-out visit gets a `302` to `/login?next=<the page>` (or, after
/// a client-side navigation, a client-side redirect); signing in returns there.
#[component]
pub fn DashboardLayout() -> impl IntoView {
    let session = Resource::new_blocking(|| (), |_| current_user());
    let location = use_location();
    let login = move || {
        let path = location.pathname.get_untracked();
        let search = location.search.get_untracked();
        let page = if search.is_empty() {
            path
        } else {
            format!("{path}?{}", search.trim_start_matches('?'))
        };
        login_path(&page)
    };
    provide_context(PendingRefresh(RwSignal::new(0)));

    view! {
        <div class="flex min-h-full flex-col md:flex-row">
            <Sidebar />
            <div class="flex min-w-0 flex-1 flex-col">
                <header class="flex h-16 items-center justify-end gap-4 border-b border-slate-200 bg-white px-4 sm:px-6 lg:px-8">
                    <Suspense fallback=|| {
                        view! { <span class="h-4 w-40 animate-pulse rounded bg-slate-100"></span> }
                    }>
                        {move || Suspend::new(async move {
                            match session.await {
                                Ok(Some(user)) => view! { <UserMenu user /> }.into_any(),
                                Ok(None) => view! { <Redirect path=login() /> }.into_any(),
                                Err(error) => {
                                    view! {
                                        <p role="alert" class="text-sm text-red-700">
                                            {error.to_string()}
                                        </p>
                                    }
                                        .into_any()
                                }
                            }
                        })}
                    </Suspense>
                </header>
                <main class="flex-1 px-4 py-8 sm:px-6 lg:px-8">
                    <Outlet />
                </main>
            </div>
        </div>
    }
    .into_any()
}

/// The brand and the "Main" navigation landmark listing every [`Area`]. The
/// link of the current area carries `aria-current="page"`.
#[component]
fn Sidebar() -> impl IntoView {
    view! {
        <aside class="shrink-0 bg-slate-900 text-slate-300 md:flex md:min-h-screen md:w-64 md:flex-col">
            <a href="/" class="flex h-16 items-center gap-2 px-6 text-white">
                {Icon::Logo.view("size-7 text-indigo-400")}
                <span class="text-lg font-semibold tracking-tight">"Talon"</span>
            </a>
            <nav aria-label="Main" class="px-3 pb-4 md:flex-1">
                <ul class="flex gap-1 overflow-x-auto md:flex-col md:overflow-visible">
                    {Area::ALL
                        .into_iter()
                        .map(|area| {
                            view! {
                                <li>
                                    <A
                                        href=area.href()
                                        exact=area == Area::Dashboard
                                        attr:class="group flex items-center gap-3 whitespace-nowrap rounded-md px-3 py-2 text-sm font-medium hover:bg-slate-800 hover:text-white focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-400 aria-[current=page]:bg-slate-800 aria-[current=page]:text-white"
                                    >
                                        {area
                                            .icon()
                                            .view(
                                                "size-5 shrink-0 text-slate-400 group-hover:text-white group-aria-[current=page]:text-indigo-400",
                                            )}
                                        <span>{area.label()}</span>
                                        {(area == Area::Approvals).then(|| view! { <PendingBadge /> })}
                                    </A>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </nav>
        </aside>
    }
    .into_any()
}

/// The signed-in user's email and the "Sign out" button (a form, so it works
/// before the page is hydrated too).
#[component]
fn UserMenu(user: SignedInUser) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    view! {
        <p class="truncate text-sm text-slate-600">
            <span class="sr-only">"Signed in as "</span>
            <span data-testid="user-email" class="font-medium text-slate-900">
                {user.email}
            </span>
        </p>
        <ActionForm action=logout>
            <button
                type="submit"
                class="flex items-center gap-2 rounded-md px-3 py-2 text-sm font-medium text-slate-600 hover:bg-slate-100 hover:text-slate-900 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600"
            >
                {Icon::SignOut.view("size-5")}
                "Sign out"
            </button>
        </ActionForm>
    }
}
