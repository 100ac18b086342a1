//! The dashboard's sign-in session: server functions that sign a user in and
//! out, and that tell a page who is signed in.
//!
//! Sessions are `tower-sessions` records in Talon's database (SQLite or
//! PostgreSQL), named by an `HttpOnly`, `SameSite=Lax` cookie
//! [`SESSION_COOKIE`] (`Secure` when served over HTTPS). A record holds only
//! the signed-in user's id ([`SESSION_USER_KEY`]); each request loads that
//! user as stored now. The session id is renewed at sign-in. No token or
//! value is ever in the cookie, a URL, the page or a log line.

use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};
use talon_api::PasswordInput;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "talon_session";

/// Key of the signed-in user's id in a session record.
pub const SESSION_USER_KEY: &str = "user_id";

/// Name of the short-lived cookie that holds a pending two-factor challenge
/// between the password step and the code step of signing in.
pub const MFA_COOKIE: &str = "talon_mfa";

/// What the dashboard shows about the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInUser {
    /// The email address the user signs in with.
    pub email: String,
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
/// cookie and redirects to `next` (a local path, see [`crate::return_to`]) or the
/// dashboard; on failure returns
/// [`SessionError::InvalidCredentials`] (or the core's reason) and sets no cookie.
/// When the account uses two-factor authentication, answers `true`: the
/// challenge is kept in an `HttpOnly` cookie for five minutes and the page asks
/// for the code ([`verify_code`]).
///
/// Works as a plain HTML form post too: without JS the browser follows the
/// redirect (to `/login?step=code` for the code), and an error comes back to
/// `/login` in the query string (where the `ActionForm` on the page picks it up).
#[server(prefix = "/ui", endpoint = "login")]
pub async fn login(
    email: String,
    password: PasswordInput,
    next: Option<String>,
) -> Result<bool, SessionError> {
    let page = login_page(next.as_deref(), "");
    let result = sign_in(email, password, next).await;
    if let Err(error) = &result {
        backend::return_form_error_to::<Login>(&page, error);
    }
    result
}

/// The sign-in page (with `step`, e.g. `step=code`) that keeps `next` for after sign-in.
#[cfg(feature = "ssr")]
fn login_page(next: Option<&str>, step: &str) -> String {
    let next = next
        .and_then(crate::return_to::local_path)
        .filter(|n| *n != "/");
    let mut query = Vec::new();
    if !step.is_empty() {
        query.push(step.to_owned());
    }
    if let Some(next) = next {
        query.push(format!("next={}", crate::return_to::encode(next)));
    }
    if query.is_empty() {
        "/login".to_owned()
    } else {
        format!("/login?{}", query.join("&"))
    }
}

#[cfg(feature = "ssr")]
async fn sign_in(
    email: String,
    password: PasswordInput,
    next: Option<String>,
) -> Result<bool, SessionError> {
    use backend::*;

    let core = core()?;
    let ctx = request_context().await;
    let outcome = core
        .login(email.trim(), password.into_password().expose_secret(), &ctx)
        .await
        .map_err(|error| match error {
            talon_core::Error::Unauthorized(_) => SessionError::InvalidCredentials,
            other => rejected(other),
        })?;
    if let Some(challenge) = outcome
        .mfa_token
        .filter(|_| outcome.access_token.expose_secret().is_empty())
    {
        set_cookie(&cookie(MFA_COOKIE, challenge.expose_secret(), 300));
        if plain_form_post() {
            leptos_axum::redirect(&login_page(next.as_deref(), "step=code"));
        }
        return Ok(true);
    }
    start_session(&outcome.user_id).await?;
    leptos_axum::redirect(&crate::return_to::after_sign_in(next.as_deref()));
    Ok(false)
}

/// The second step of signing in: a code from the authenticator app (or a
/// recovery code) answers the pending challenge; on success the session
/// cookie is set and the browser goes to `next` (a local path) or the dashboard.
#[server(prefix = "/ui", endpoint = "login-code")]
pub async fn verify_code(code: String, next: Option<String>) -> Result<(), SessionError> {
    use backend::*;

    let page = login_page(next.as_deref(), "step=code");
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
        start_session(&tokens.user_id).await?;
        leptos_axum::redirect(&crate::return_to::after_sign_in(next.as_deref()));
        Ok(())
    }
    .await;
    if let Err(error) = &result {
        return_form_error_to::<VerifyCode>(&page, error);
    }
    result
}

/// Ends this session (the record is deleted and the cookie cleared); the
/// core audits `auth.logout` and revokes the user's refresh tokens. The
/// browser goes to `/login`.
#[server(prefix = "/ui", endpoint = "logout")]
pub async fn logout() -> Result<(), SessionError> {
    use backend::*;

    let core = core()?;
    if let Ok(principal) = principal().await {
        let ctx = request_context().await;
        core.logout(&principal, "", &ctx).await.map_err(rejected)?;
    }
    session().await?.flush().await.map_err(store_failed)?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Ends every dashboard session of the user, on every device, and every
/// refresh token (the CLI must sign in again too); the browser goes to `/login`.
#[server(prefix = "/ui", endpoint = "logout-everywhere")]
pub async fn logout_everywhere() -> Result<(), SessionError> {
    use backend::*;

    let (core, principal, ctx) = caller().await?;
    core.sign_out_everywhere(&principal, &ctx)
        .await
        .map_err(rejected)?;
    session().await?.flush().await.map_err(store_failed)?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Whether "Sign in with Google" (or another configured OIDC provider) is on.
#[server(prefix = "/ui", endpoint = "google-enabled")]
pub async fn google_enabled() -> Result<bool, SessionError> {
    Ok(backend::core()?.config().oidc.is_some())
}

/// Who is signed in: `None` without a session, or when its user is gone.
#[server(prefix = "/ui", endpoint = "session")]
pub async fn current_user() -> Result<Option<SignedInUser>, SessionError> {
    match backend::principal().await {
        Ok(talon_core::Principal::User { email, .. }) => Ok(Some(SignedInUser { email })),
        Ok(_) | Err(SessionError::SignedOut) => Ok(None),
        Err(other) => Err(other),
    }
}

/// The signed-in human of a request, put into the request's extensions by the
/// dashboard door once the core's gate has admitted the session (IP rules, rate
/// limit, quota). Pages and server functions read the caller from here and only
/// from here.
#[cfg(feature = "ssr")]
#[derive(Clone, Debug)]
pub struct SignedIn(pub talon_core::Principal);

/// Starts a session for `user_id` on the current request's session, under a
/// new session id (so an id planted before sign-in is worthless after).
#[cfg(feature = "ssr")]
pub async fn sign_in_session(
    session: &tower_sessions::Session,
    user_id: &str,
) -> Result<(), SessionError> {
    session.cycle_id().await.map_err(backend::store_failed)?;
    session
        .insert(SESSION_USER_KEY, user_id)
        .await
        .map_err(backend::store_failed)
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
    use super::SessionError;
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

    /// As [`rejected`], and the server function answers with the status the REST door gives
    /// the same refusal (403 for a failed step-up, 404, 409, …), so a refusal the user can
    /// act on never reads as a 500. A plain form post's redirect, set later, still wins.
    pub(crate) fn refused(error: talon_core::Error) -> SessionError {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(status_of(&error));
        }
        rejected(error)
    }

    /// The HTTP status of a refusal: the core's one mapping, as REST answers it too.
    fn status_of(error: &talon_core::Error) -> axum::http::StatusCode {
        axum::http::StatusCode::from_u16(error.http_status())
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
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
            .map(|info| info.0.ip());
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|value| value.to_str().ok());
        talon_core::RequestContext::new(ip, user_agent)
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

    /// The current request's session (the session layer wraps every dashboard route).
    pub(crate) async fn session() -> Result<tower_sessions::Session, SessionError> {
        leptos_axum::extract::<tower_sessions::Session>()
            .await
            .map_err(|_| {
                tracing::error!("the dashboard session layer is missing");
                SessionError::Rejected("The server is not ready. Please try again.".to_owned())
            })
    }

    /// A session store failure, logged here and shown as a retry message.
    pub(crate) fn store_failed(error: tower_sessions::session::Error) -> SessionError {
        tracing::error!(%error, "dashboard session store failed");
        SessionError::Rejected("The session could not be saved. Please try again.".to_owned())
    }

    /// Signs `user_id` in on the current session.
    pub(crate) async fn start_session(user_id: &str) -> Result<(), SessionError> {
        super::sign_in_session(&session().await?, user_id).await
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

    /// The signed-in human the dashboard door admitted for this request, or
    /// [`SessionError::SignedOut`].
    pub(crate) async fn principal() -> Result<talon_core::Principal, SessionError> {
        let parts = leptos_axum::extract::<axum::http::request::Parts>()
            .await
            .map_err(|_| SessionError::SignedOut)?;
        parts
            .extensions
            .get::<super::SignedIn>()
            .map(|signed_in| signed_in.0.clone())
            .ok_or(SessionError::SignedOut)
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
        let principal = principal().await.inspect_err(|_| signed_out_status())?;
        let ctx = request_context().await;
        Ok((core, principal, ctx))
    }

    /// Makes a server function that needs a session answer 401 (not 500) when there
    /// is none, so a caller can tell "sign in again" from a failure. A plain form
    /// post's redirect, set later, still wins.
    pub(crate) fn signed_out_status() {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(axum::http::StatusCode::UNAUTHORIZED);
        }
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

    /// A dashboard form's server function: runs `body` with the core, the
    /// signed-in human and the request context, then ends as [`finish`] does
    /// (back to `page` for a plain form post).
    pub(crate) async fn form_action<F, T, Fut>(
        page: &str,
        body: impl FnOnce(talon_core::Core, talon_core::Principal, talon_core::RequestContext) -> Fut,
    ) -> Result<T, SessionError>
    where
        F: leptos::server_fn::ServerFn<Error = SessionError>,
        Fut: std::future::Future<Output = Result<T, SessionError>>,
    {
        let result = async {
            let (core, p, ctx) = caller().await?;
            body(core, p, ctx).await
        }
        .await;
        finish::<F, T>(page, result)
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
        fn cookie_value_is_found_among_other_cookies() {
            let cases: &[(&[&str], Option<&str>)] = &[
                (&[], None),
                (&["theme=dark"], None),
                (&["talon_mfa=abc.def-ghi"], Some("abc.def-ghi")),
                (&["a=1; talon_mfa=tok; b=2"], Some("tok")),
                (&["a=1", "talon_mfa=tok"], Some("tok")),
                (&["talon_mfa="], None),
                (&["talon_mfa_old=x"], None),
                (&["xtalon_mfa=x"], None),
            ];
            for (cookies, expected) in cases {
                assert_eq!(
                    cookie_value(&headers(cookies), "talon_mfa").as_deref(),
                    *expected,
                    "cookies: {cookies:?}"
                );
            }
        }

        #[test]
        fn cookies_are_http_only_lax_and_expire() {
            assert_eq!(
                cookie("talon_mfa", "tok", 300),
                "talon_mfa=tok; Path=/; HttpOnly; SameSite=Lax; Max-Age=300"
            );
            assert!(cookie("talon_mfa", "", 0).ends_with("Max-Age=0"));
        }

        #[test]
        fn password_debug_is_redacted() {
            let password: talon_api::PasswordInput =
                serde_json::from_str("\"Correct-Horse-9!\"").unwrap();
            assert_eq!(format!("{password:?}"), "[redacted]");
        }
    }
}
