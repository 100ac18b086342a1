//! Where signing in returns to: a dashboard page visited while signed out sends the browser
//! to `/login?next=<that page>`, and a successful sign-in goes back there. Only paths of
//! this site are followed, so a crafted link cannot send a user elsewhere after sign-in.

/// `next` when it is a path on this site (`/…`, not `//host` or `/\host`, no control
/// characters); `None` otherwise.
pub fn local_path(next: &str) -> Option<&str> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(char::is_control);
    local.then_some(next)
}

/// Where a successful sign-in goes: `next` when it is a local path, else the dashboard.
pub fn after_sign_in(next: Option<&str>) -> String {
    next.and_then(local_path).unwrap_or("/").to_owned()
}

/// The sign-in page that returns to `path` (a path with its query) afterwards; plain
/// `/login` for the dashboard itself.
pub fn login_path(path: &str) -> String {
    match local_path(path) {
        None | Some("/") => "/login".to_owned(),
        Some(p) => format!("/login?next={}", encode(p)),
    }
}

/// Percent-encodes `s` for a query string value (RFC 3986 unreserved characters stay).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_followed() {
        let cases: &[(&str, &str)] = &[
            ("/approvals", "/approvals"),
            (
                "/approvals/confirm?token=qd_x&decision=approve",
                "/approvals/confirm?token=qd_x&decision=approve",
            ),
            ("/", "/"),
            ("", "/"),
            ("https://evil.example/", "/"),
            ("//evil.example/", "/"),
            ("/\\evil.example/", "/"),
            ("javascript:alert(1)", "/"),
            ("/vaults\n", "/"),
        ];
        for (next, expected) in cases {
            assert_eq!(after_sign_in(Some(next)), *expected, "next: {next:?}");
        }
        assert_eq!(after_sign_in(None), "/");
    }

    #[test]
    fn the_login_path_carries_the_page_encoded() {
        let cases: &[(&str, &str)] = &[
            ("/", "/login"),
            ("//evil.example", "/login"),
            ("/vaults", "/login?next=/vaults"),
            (
                "/approvals/confirm?token=qd_a-b&decision=approve",
                "/login?next=/approvals/confirm%3Ftoken%3Dqd_a-b%26decision%3Dapprove",
            ),
        ];
        for (path, expected) in cases {
            assert_eq!(login_path(path), *expected, "path: {path:?}");
        }
    }
}
