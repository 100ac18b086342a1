//! A browser-like caller of the dashboard: one session cookie, server functions posted from
//! the dashboard's own origin (or another, to test the same-origin check), pages loaded.

use super::{TestServer, PASSWORD};
use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::Value;
use std::net::IpAddr;

/// A dashboard caller with one session cookie.
pub struct Browser<'a> {
    srv: &'a TestServer,
    http: reqwest::Client,
    pub cookie: Option<String>,
}

impl<'a> Browser<'a> {
    pub fn new(srv: &'a TestServer) -> Self {
        Browser::with(srv, reqwest::Client::builder())
    }

    /// A caller connecting from the loopback address `source` (any of 127.0.0.0/8).
    pub fn from(srv: &'a TestServer, source: IpAddr) -> Self {
        Browser::with(srv, reqwest::Client::builder().local_address(source))
    }

    fn with(srv: &'a TestServer, builder: reqwest::ClientBuilder) -> Self {
        let http = builder
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            srv,
            http,
            cookie: None,
        }
    }

    /// Posts a form to a server function from the dashboard's own origin.
    pub async fn post(&mut self, endpoint: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        self.post_from(&self.srv.base.clone(), endpoint, form).await
    }

    pub async fn post_from(
        &mut self,
        origin: &str,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(self.srv.url(&format!("/ui/{endpoint}")))
            .header(ORIGIN, origin)
            .form(form);
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, c);
        }
        let res = req.send().await.expect("server function call");
        let status = res.status();
        for value in res.headers().get_all(SET_COOKIE) {
            let pair = value
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            if pair.starts_with("talon_session=") {
                self.cookie = Some(pair);
            }
        }
        let text = res.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Loads a dashboard page with the session cookie; answers the status.
    pub async fn get_page(&self, path: &str) -> StatusCode {
        let mut req = self.http.get(self.srv.url(path));
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, c);
        }
        req.send().await.expect("page load").status()
    }

    pub async fn sign_in(&mut self, email: &str) {
        let (s, v) = self
            .post("login", &[("email", email), ("password", PASSWORD)])
            .await;
        assert!(s.is_success() || s.is_redirection(), "login: {s} {v}");
        assert!(self.cookie.is_some(), "login sets the session cookie");
    }
}
