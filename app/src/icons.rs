//! Small outline icons drawn inline (24×24, `currentColor` strokes), so the
//! dashboard needs no icon font or extra request.

use leptos::prelude::*;

/// An icon the dashboard draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Icon {
    Dashboard,
    Vault,
    Agent,
    Share,
    AuditLog,
    Shield,
    Key,
    CreditCard,
    Team,
    Approval,
    Logo,
    SignOut,
}

impl Icon {
    /// The icon as an `<svg>` with the given classes; hidden from screen
    /// readers because it always sits next to a text label.
    pub(crate) fn view(self, class: &'static str) -> impl IntoView {
        let shapes = match self {
            Icon::Dashboard => view! {
                <rect x="3.75" y="3.75" width="7" height="7" rx="1.5" />
                <rect x="13.25" y="3.75" width="7" height="7" rx="1.5" />
                <rect x="3.75" y="13.25" width="7" height="7" rx="1.5" />
                <rect x="13.25" y="13.25" width="7" height="7" rx="1.5" />
            }
            .into_any(),
            Icon::Vault => view! {
                <rect x="3.75" y="4.5" width="16.5" height="15" rx="2" />
                <circle cx="12" cy="12" r="3.25" />
                <path d="M12 8.75V7.5M12 16.5v-1.25M15.25 12h1.25M7.5 12h1.25M6.5 19.5v1.25M17.5 19.5v1.25" />
            }
            .into_any(),
            Icon::Agent => view! {
                <rect x="6.75" y="6.75" width="10.5" height="10.5" rx="1.5" />
                <rect x="9.75" y="9.75" width="4.5" height="4.5" rx="0.5" />
                <path d="M9.75 3.75v3M14.25 3.75v3M9.75 17.25v3M14.25 17.25v3M3.75 9.75h3M3.75 14.25h3M17.25 9.75h3M17.25 14.25h3" />
            }
            .into_any(),
            Icon::Share => view! {
                <circle cx="6.5" cy="12" r="2.5" />
                <circle cx="17.5" cy="6" r="2.5" />
                <circle cx="17.5" cy="18" r="2.5" />
                <path d="M8.7 10.8l6.6-3.6M8.7 13.2l6.6 3.6" />
            }
            .into_any(),
            Icon::AuditLog => view! {
                <path d="M6.75 3.75h7.5l3.75 3.75v12.75H6.75z" />
                <path d="M14.25 3.75V7.5H18M9.75 11.25h4.5M9.75 14.25h4.5M9.75 17.25h2.25" />
            }
            .into_any(),
            Icon::Shield => view! {
                <path d="M12 3.25l7.25 2.75v5.5c0 4.4-3 7.9-7.25 9.25C7.75 19.4 4.75 15.9 4.75 11.5V6z" />
                <path d="M9 12l2.25 2.25L15.25 10" />
            }
            .into_any(),
            Icon::Key => view! {
                <circle cx="8" cy="15.5" r="3.75" />
                <path d="M10.75 12.75l8.5-8.5M16.5 7l2.5 2.5M14.25 9.25l2 2" />
            }
            .into_any(),
            Icon::CreditCard => view! {
                <rect x="3" y="5.25" width="18" height="13.5" rx="2" />
                <path d="M3 9.75h18M6.75 15h3" />
            }
            .into_any(),
            Icon::Team => view! {
                <circle cx="9" cy="8.5" r="3" />
                <path d="M3.75 19.25c.5-3 2.6-4.75 5.25-4.75s4.75 1.75 5.25 4.75" />
                <circle cx="16.5" cy="9.5" r="2.25" />
                <path d="M16.25 14.5c2.1 0 3.6 1.4 4 3.75" />
            }
            .into_any(),
            Icon::Approval => view! {
                <path d="M8.25 4.75h-1.5a2 2 0 00-2 2v12.5a2 2 0 002 2h10.5a2 2 0 002-2V6.75a2 2 0 00-2-2h-1.5" />
                <rect x="8.25" y="3.25" width="7.5" height="3" rx="1" />
                <path d="M8.75 13.25l2.25 2.25 4.25-4.5" />
            }
            .into_any(),
            Icon::Logo => view! {
                <path d="M5 19c1-7 5.5-12.5 14-14.5-2.5 3-3.5 6-3.75 9.25" />
                <path d="M9 19.5c.75-4 3-7 6.25-8.75M13.5 19.75c.25-2.5 1.25-4.25 2.75-5.5" />
            }
            .into_any(),
            Icon::SignOut => view! {
                <path d="M14.25 8.25V5.5a1.75 1.75 0 00-1.75-1.75h-6A1.75 1.75 0 004.75 5.5v13a1.75 1.75 0 001.75 1.75h6a1.75 1.75 0 001.75-1.75v-2.75" />
                <path d="M10.5 12h9.75M17.25 9l3 3-3 3" />
            }
            .into_any(),
        };
        view! {
            <svg
                class=class
                viewBox="0 0 24 24"
                fill="none"
                stroke="currentColor"
                stroke-width="1.5"
                stroke-linecap="round"
                stroke-linejoin="round"
                aria-hidden="true"
                focusable="false"
            >
                {shapes}
            </svg>
        }
    }
}
