//! The dashboard's sign-in session: server functions that sign a user in and
//! out, and that tell a page who is signed in.
//!
//! The session is the core's access token, kept in an `HttpOnly`,
//! `SameSite=Lax` cookie named [`SESSION_COOKIE`] that expires with the token.
//! The token never appears in a URL, in page HTML or in a log line.

use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// Name of the cookie that holds the access token.
pub const SESSION_COOKIE: &str = "talon_session";

/// Name of the short-lived cookie that holds a pending two-factor challenge
/// between the password step and the code step of signing in.
pub const MFA_COOKIE: &str = "talon_mfa";

/// What the dashboard shows about the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInUser {
    /// The email address the user signs in with.
    pub email: String,
}

/// A password as typed into the sign-in form. `Debug` never shows it.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    /// The typed password, for the one call that checks it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why a session server function failed. Every variant's `Display` is safe
/// to show to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionError {
    /// Unknown email or wrong password (one message for both).
    InvalidCredentials,
    /// The two-factor code step was reached without a pending challenge (or it expired).
    SecondFactorRequired,
    /// The core refused the request for another reason; the text is the core's user-safe message.
    Rejected(String),
    /// There is no valid session (never signed in, signed out or expired).
    SignedOut,
    /// The request did not reach the server function or its answer could not be read.
    Transport(ServerFnErrorErr),
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidCredentials => f.write_str("Invalid credentials"),
            Self::SecondFactorRequired => {
                f.write_str("Your sign-in expired before the code was entered. Please start again.")
            }
            Self::Rejected(message) => f.write_str(message),
            Self::SignedOut => f.write_str("Your session has ended. Please sign in again."),
            Self::Transport(_) => f.write_str("Something went wrong. Please try again."),
        }
    }
}

impl std::error::Error for SessionError {}

impl FromServerFnError for SessionError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::Transport(value)
    }
}

/// Checks the email and password with the core. On success sets the session
/// cookie and redirects to the dashboard; on failure returns
/// [`SessionError::InvalidCredentials`] (or the core's reason) and sets no cookie.
/// When the account uses two-factor authentication, answers `true`: the
/// challenge is kept in an `HttpOnly` cookie for five minutes and the page asks
/// for the code ([`verify_code`]).
///
/// Works as a plain HTML form post too: without JS the browser follows the
/// redirect (to `/login?step=code` for the code), and an error comes back to
/// `/login` in the query string (where the `ActionForm` on the page picks it up).
#[server(prefix = "/ui", endpoint = "login")]
pub async fn login(email: String, password: Password) -> Result<bool, SessionError> {
    let result = sign_in(email, password).await;
    if let Err(error) = &result {
        backend::return_form_error_to::<Login>("/login", error);
    }
    result
}

#[cfg(feature = "ssr")]
async fn sign_in(email: String, password: Password) -> Result<bool, SessionError> {
    use backend::*;

    let core = core()?;
    let ctx = request_context().await;
    let outcome = core
        .login(email.trim(), password.expose_secret(), &ctx)
        .await
        .map_err(|error| match error {
            talon_core::Error::Unauthorized(_) => SessionError::InvalidCredentials,
            other => rejected(other),
        })?;
    if let Some(challenge) = outcome
        .mfa_token
        .filter(|_| outcome.access_token.is_empty())
    {
        set_cookie(&cookie(MFA_COOKIE, &challenge, 300));
        if plain_form_post() {
            leptos_axum::redirect("/login?step=code");
        }
        return Ok(true);
    }
    set_cookie(&session_cookie(&outcome.access_token, outcome.expires_in));
    leptos_axum::redirect("/");
    Ok(false)
}

/// The second step of signing in: a code from the authenticator app (or a
/// recovery code) answers the pending challenge; on success the session
/// cookie is set and the browser goes to the dashboard.
#[server(prefix = "/ui", endpoint = "login-code")]
pub async fn verify_code(code: String) -> Result<(), SessionError> {
    use backend::*;

    let result = async {
        let core = core()?;
        let headers: axum::http::HeaderMap = leptos_axum::extract()
            .await
            .map_err(SessionError::from_server_fn_error)?;
        let challenge =
            cookie_value(&headers, MFA_COOKIE).ok_or(SessionError::SecondFactorRequired)?;
        let ctx = request_context().await;
        let tokens = core
            .mfa_verify(&challenge, code.trim(), &ctx)
            .await
            .map_err(|error| match error {
                talon_core::Error::Unauthorized(_) => SessionError::Rejected(
                    "That code is not valid. Try the current one.".to_owned(),
                ),
                other => rejected(other),
            })?;
        set_cookie(&cookie(MFA_COOKIE, "", 0));
        set_cookie(&session_cookie(&tokens.access_token, tokens.expires_in));
        leptos_axum::redirect("/");
        Ok(())
    }
    .await;
    if let Err(error) = &result {
        return_form_error_to::<VerifyCode>("/login?step=code", error);
    }
    result
}

/// Ends the session: the core revokes its access token and every refresh
/// token of the user (so every other signed-in device must sign in again),
/// then the cookie is cleared and the browser goes to `/login`.
#[server(prefix = "/ui", endpoint = "logout")]
pub async fn logout() -> Result<(), SessionError> {
    use backend::*;

    let core = core()?;
    let headers: axum::http::HeaderMap = leptos_axum::extract()
        .await
        .map_err(SessionError::from_server_fn_error)?;
    if let Some(token) = session_token(&headers) {
        if let Ok(principal @ talon_core::Principal::User { .. }) = core.authenticate(&token).await
        {
            let ctx = request_context().await;
            core.logout(&principal, &token, &ctx)
                .await
                .map_err(rejected)?;
        }
    }
    set_cookie(&clearing_cookie());
    leptos_axum::redirect("/login");
    Ok(())
}

/// Whether "Sign in with Google" (or another configured OIDC provider) is on.
#[server(prefix = "/ui", endpoint = "google-enabled")]
pub async fn google_enabled() -> Result<bool, SessionError> {
    Ok(backend::core()?.config().oidc.is_some())
}

/// Who is signed in, from the session cookie: `None` when there is no cookie
/// or the core does not accept its token (an invalid cookie is also cleared).
/// Only human users get a dashboard session; an agent token yields `None`.
#[server(prefix = "/ui", endpoint = "session")]
pub async fn current_user() -> Result<Option<SignedInUser>, SessionError> {
    use backend::*;

    let core = core()?;
    let headers: axum::http::HeaderMap = leptos_axum::extract()
        .await
        .map_err(SessionError::from_server_fn_error)?;
    let Some(token) = session_token(&headers) else {
        return Ok(None);
    };
    match core.authenticate(&token).await {
        Ok(talon_core::Principal::User { email, .. }) => Ok(Some(SignedInUser { email })),
        Ok(_) | Err(talon_core::Error::Unauthorized(_)) => {
            set_cookie(&clearing_cookie());
            Ok(None)
        }
        Err(other) => Err(rejected(other)),
    }
}

/// The session cookie's token in a request's headers, for the server's own
/// cookie-authenticated routes (the audit export, the CSRF check).
#[cfg(feature = "ssr")]
pub fn session_token(headers: &axum::http::HeaderMap) -> Option<String> {
    backend::session_token(headers)
}

/// The value of the cookie `name` in a request's headers, if non-empty.
#[cfg(feature = "ssr")]
pub fn request_cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    backend::cookie_value(headers, name)
}

/// `Set-Cookie` value for a dashboard cookie (`HttpOnly`, `SameSite=Lax`,
/// `Path=/`) living `max_age` seconds.
#[cfg(feature = "ssr")]
pub fn cookie_header(name: &str, value: &str, max_age: i64) -> String {
    backend::cookie(name, value, max_age)
}

#[cfg(feature = "ssr")]
pub(crate) mod backend {
    use super::{SessionError, SESSION_COOKIE};
    use axum::http::header::{ACCEPT, COOKIE, SET_COOKIE, USER_AGENT};
    use axum::http::{HeaderMap, HeaderValue};
    use leptos::prelude::use_context;
    use leptos::server_fn::error::ServerFnUrlError;

    /// The core, which `server::web::router` provides to every request.
    pub(crate) fn core() -> Result<talon_core::Core, SessionError> {
        use_context::<talon_core::Core>().ok_or_else(|| {
            tracing::error!("talon_core::Core is missing from the Leptos context");
            SessionError::Rejected("The server is not ready. Please try again.".to_owned())
        })
    }

    /// Turns a core error other than `Unauthorized` into the message the user
    /// sees; an `Internal` error's cause is logged here and never shown.
    pub(crate) fn rejected(error: talon_core::Error) -> SessionError {
        if let talon_core::Error::Internal(cause) = &error {
            tracing::error!(%cause, "dashboard session request failed");
        }
        SessionError::Rejected(error.to_string())
    }

    /// The caller's socket address (when the server was started with
    /// connect info) and user agent, for the core's audit log and rate limits.
    pub(crate) async fn request_context() -> talon_core::RequestContext {
        let Ok(parts) = leptos_axum::extract::<axum::http::request::Parts>().await else {
            return talon_core::RequestContext::default();
        };
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip().to_string());
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.chars().take(256).collect());
        talon_core::RequestContext { ip, user_agent }
    }

    /// The value of the session cookie, if the request carries a non-empty one.
    pub(crate) fn session_token(headers: &HeaderMap) -> Option<String> {
        cookie_value(headers, SESSION_COOKIE)
    }

    /// The value of the cookie `wanted`, if the request carries a non-empty one.
    pub(crate) fn cookie_value(headers: &HeaderMap, wanted: &str) -> Option<String> {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, value)| *name == wanted && !value.is_empty())
            .map(|(_, value)| value.to_owned())
    }

    /// `Set-Cookie` value for an `HttpOnly`, `SameSite=Lax` cookie on `/`
    /// that lives `max_age` seconds (0 deletes it).
    /// `Secure` is added when the server's public URL is HTTPS.
    pub(crate) fn cookie(name: &str, value: &str, max_age: i64) -> String {
        let secure = use_context::<talon_core::Core>()
            .is_some_and(|core| core.config().public_url.starts_with("https://"));
        format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
            max_age.max(0),
            if secure { "; Secure" } else { "" }
        )
    }

    /// `Set-Cookie` value that stores `token` until it expires.
    pub(crate) fn session_cookie(token: &str, expires_in: i64) -> String {
        cookie(SESSION_COOKIE, token, expires_in)
    }

    /// `Set-Cookie` value that deletes the session cookie.
    pub(crate) fn clearing_cookie() -> String {
        cookie(SESSION_COOKIE, "", 0)
    }

    /// For a plain form post (no JS), redirects the browser to `page` with
    /// `error` encoded the way `ActionForm` reads it back. Leptos would send it
    /// to the `Referer`, which browsers omit under `Referrer-Policy: no-referrer`.
    pub(crate) fn return_form_error_to<F>(page: &str, error: &SessionError)
    where
        F: leptos::server_fn::ServerFn<Error = SessionError>,
    {
        if !plain_form_post() {
            return;
        }
        // `to_url` needs an absolute base; only the path and query are kept.
        let Ok(url) = ServerFnUrlError::new(F::PATH, error.clone())
            .to_url(&format!("http://localhost{page}"))
        else {
            return;
        };
        let location = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        leptos_axum::redirect(&location);
    }

    /// The signed-in human behind the session cookie, or
    /// [`SessionError::SignedOut`].
    pub(crate) async fn principal() -> Result<talon_core::Principal, SessionError> {
        let core = core()?;
        let headers: HeaderMap = leptos_axum::extract().await.map_err(
            <SessionError as leptos::server_fn::error::FromServerFnError>::from_server_fn_error,
        )?;
        let token = session_token(&headers).ok_or(SessionError::SignedOut)?;
        match core.authenticate(&token).await {
            Ok(principal @ talon_core::Principal::User { .. }) => Ok(principal),
            Ok(_) | Err(talon_core::Error::Unauthorized(_)) => Err(SessionError::SignedOut),
            Err(other) => Err(rejected(other)),
        }
    }

    /// The core, the signed-in human and the request's context: what every
    /// dashboard server function starts with.
    pub(crate) async fn caller() -> Result<
        (
            talon_core::Core,
            talon_core::Principal,
            talon_core::RequestContext,
        ),
        SessionError,
    > {
        let core = core()?;
        let principal = principal().await?;
        let ctx = request_context().await;
        Ok((core, principal, ctx))
    }

    /// Whether the current request is a plain HTML form post (no JS).
    pub(crate) fn plain_form_post() -> bool {
        use_context::<axum::http::request::Parts>()
            .and_then(|parts| parts.headers.get(ACCEPT).cloned())
            .and_then(|accept| accept.to_str().ok().map(|v| v.contains("text/html")))
            .unwrap_or(false)
    }

    /// Ends a form's server function: a plain form post goes back to `page`
    /// (with the error in the query string on failure); a hydrated form gets
    /// the result as is.
    pub(crate) fn finish<F, T>(
        page: &str,
        result: Result<T, SessionError>,
    ) -> Result<T, SessionError>
    where
        F: leptos::server_fn::ServerFn<Error = SessionError>,
    {
        match &result {
            Ok(_) if plain_form_post() => leptos_axum::redirect(page),
            Ok(_) => {}
            Err(error) => return_form_error_to::<F>(page, error),
        }
        result
    }

    /// Adds a `Set-Cookie` header to the response of the current request.
    pub(crate) fn set_cookie(cookie: &str) {
        let (Some(response), Ok(value)) = (
            use_context::<leptos_axum::ResponseOptions>(),
            HeaderValue::from_str(cookie),
        ) else {
            tracing::error!("could not set the session cookie");
            return;
        };
        response.append_header(SET_COOKIE, value);
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn headers(cookies: &[&str]) -> HeaderMap {
            let mut map = HeaderMap::new();
            for cookie in cookies {
                map.append(COOKIE, HeaderValue::from_str(cookie).unwrap());
            }
            map
        }

        #[test]
        fn session_token_is_found_among_other_cookies() {
            let cases: &[(&[&str], Option<&str>)] = &[
                (&[], None),
                (&["theme=dark"], None),
                (&["talon_session=abc.def-ghi"], Some("abc.def-ghi")),
                (&["a=1; talon_session=tok; b=2"], Some("tok")),
                (&["a=1", "talon_session=tok"], Some("tok")),
                (&["talon_session="], None),
                (&["talon_session_old=x"], None),
                (&["xtalon_session=x"], None),
            ];
            for (cookies, expected) in cases {
                assert_eq!(
                    session_token(&headers(cookies)).as_deref(),
                    *expected,
                    "cookies: {cookies:?}"
                );
            }
        }

        #[test]
        fn session_cookie_is_http_only_lax_and_expires_with_the_token() {
            let cookie = session_cookie("tok", 900);
            assert_eq!(
                cookie,
                "talon_session=tok; Path=/; HttpOnly; SameSite=Lax; Max-Age=900"
            );
            assert!(clearing_cookie().contains("Max-Age=0"));
            assert!(clearing_cookie().starts_with("talon_session=;"));
        }

        #[test]
        fn password_debug_is_redacted() {
            let password: super::super::Password =
                serde_json::from_str("\"Correct-Horse-9!\"").unwrap();
            assert_eq!(format!("{password:?}"), "[redacted]");
        }
    }
}
