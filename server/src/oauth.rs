//! "Sign in with Google" for the dashboard: the OAuth 2.0 authorization code
//! flow with PKCE against Google or any OIDC provider configured in the core.
//!
//! `GET /auth/google` sends the browser to the provider with a fresh `state`
//! and PKCE challenge, both kept in a short-lived `HttpOnly` cookie;
//! `GET /auth/google/callback` checks `state`, exchanges the code (with the
//! PKCE verifier) for the provider's ID token, and hands it to the core, which
//! verifies it against the provider's keys exactly as `POST /v1/auth/google`
//! does. The browser ends on the dashboard with a session cookie, or on the
//! code step when the account uses two-factor authentication.

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use talon_core::{Core, RequestContext};

/// Cookie holding `state` and the PKCE verifier between the two legs.
const FLOW_COOKIE: &str = "talon_oauth";

/// The ID token in the provider's token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdTokenFields {
    id_token: String,
}

impl ExtraTokenFields for IdTokenFields {}

type OidcClient = oauth2::Client<
    BasicErrorResponse,
    StandardTokenResponse<IdTokenFields, BasicTokenType>,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The two routes; they answer 404 when the core has no OIDC configuration.
pub fn router(core: Core) -> Router {
    Router::new()
        .route("/auth/google", get(start))
        .route("/auth/google/callback", get(callback))
        .with_state(core)
}

fn client(core: &Core) -> Option<OidcClient> {
    let cfg = core.config().oidc.as_ref()?;
    let redirect = format!(
        "{}/auth/google/callback",
        core.config().public_url.trim_end_matches('/')
    );
    let mut client = oauth2::Client::new(ClientId::new(cfg.client_id.clone()))
        .set_auth_uri(AuthUrl::new(cfg.auth_url.clone()).ok()?)
        .set_token_uri(TokenUrl::new(cfg.token_url.clone()).ok()?)
        .set_redirect_uri(RedirectUrl::new(redirect).ok()?);
    if let Some(secret) = &cfg.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.clone()));
    }
    Some(client)
}

fn flow_cookie(value: &str, max_age: i64) -> String {
    format!("{FLOW_COOKIE}={value}; Path=/auth/google; HttpOnly; SameSite=Lax; Max-Age={max_age}")
}

/// Adds `Secure` to a cookie when the dashboard is served over HTTPS.
fn secure(core: &Core, cookie: String) -> String {
    if core.config().public_url.starts_with("https://") {
        format!("{cookie}; Secure")
    } else {
        cookie
    }
}

/// Back to the sign-in page with a message the page shows.
fn fail(message: &str) -> Response {
    tracing::warn!(reason = message, "Google sign-in failed");
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/login?error=google".to_owned()),
            (header::SET_COOKIE, flow_cookie("", 0)),
        ],
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct StartQuery {
    /// Passed on to the provider to preselect an account.
    login_hint: Option<String>,
}

async fn start(State(core): State<Core>, Query(q): Query<StartQuery>) -> Response {
    let Some(client) = client(&core) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge);
    if let Some(hint) = q.login_hint.as_deref().filter(|h| !h.is_empty()) {
        request = request.add_extra_param("login_hint", hint.to_owned());
    }
    let (url, state) = request.url();
    let cookie = secure(
        &core,
        flow_cookie(&format!("{}.{}", state.secret(), verifier.secret()), 600),
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to(url.as_str())).into_response()
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
}

async fn callback(
    State(core): State<Core>,
    Query(q): Query<CallbackQuery>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: tower_sessions::Session,
    headers: HeaderMap,
) -> Response {
    let Some(client) = client(&core) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some((state, verifier)) = app::session::request_cookie(&headers, FLOW_COOKIE)
        .and_then(|v| v.split_once('.').map(|(s, v)| (s.to_owned(), v.to_owned())))
    else {
        return fail("no sign-in in progress");
    };
    let (Some(code), Some(returned_state)) = (q.code, q.state) else {
        return fail("the provider returned no code");
    };
    if !constant_time_eq(returned_state.as_bytes(), state.as_bytes()) {
        return fail("state mismatch");
    }
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(http) => http,
        Err(_) => return fail("no HTTP client"),
    };
    let token = match client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&http)
        .await
    {
        Ok(token) => token,
        Err(_) => return fail("the code exchange failed"),
    };
    let ctx = RequestContext::new(
        Some(peer.ip()),
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    );
    let outcome = match core
        .google_login(&token.extra_fields().id_token, &ctx)
        .await
    {
        Ok(outcome) => outcome,
        Err(error) => {
            tracing::warn!(%error, "Google sign-in refused");
            return fail("the ID token was refused");
        }
    };
    let mut cookies = vec![flow_cookie("", 0)];
    let location = match outcome
        .mfa_token
        .filter(|_| outcome.access_token.expose_secret().is_empty())
    {
        Some(challenge) => {
            cookies.push(secure(
                &core,
                app::session::cookie_header(
                    app::session::MFA_COOKIE,
                    challenge.expose_secret(),
                    300,
                ),
            ));
            "/login?step=code"
        }
        None => {
            if app::session::sign_in_session(&session, &outcome.user_id)
                .await
                .is_err()
            {
                return fail("the session could not be saved");
            }
            "/"
        }
    };
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    for cookie in cookies {
        if let Ok(value) = cookie.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
