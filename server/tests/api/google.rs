//! Google / OIDC sign-in against a local identity provider: an RSA key made with openssl and a
//! JWKS served from this test. Verification is never switched off.

use crate::common::{self, Db, TestServer};
use axum::routing::get;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::Command;

const CLIENT_ID: &str = "talon-test-client.apps.example";

on_both_databases!(google_id_tokens_are_verified_before_sign_in);

/// An RSA key pair: PEM private key and the JWK of its public half.
fn rsa_key(dir: &std::path::Path, name: &str, kid: &str) -> (Vec<u8>, Value) {
    let pem = dir.join(format!("{name}.pem"));
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&pem)
        .status()
        .expect("openssl")
        .success();
    assert!(ok);
    let out = Command::new("openssl")
        .args(["rsa", "-noout", "-modulus", "-in"])
        .arg(&pem)
        .output()
        .unwrap();
    let hex = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .trim_start_matches("Modulus=")
        .to_owned();
    let n: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let jwk = json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": B64URL.encode(n), "e": "AQAB"});
    (std::fs::read(pem).unwrap(), jwk)
}

/// Serves `{"keys": [...]}` on a random loopback port; returns the issuer URL.
async fn serve_jwks(keys: Vec<Value>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/jwks",
        get(move || {
            let keys = keys.clone();
            async move { Json(json!({"keys": keys})) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn id_token(pem: &[u8], kid: &str, claims: Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.into());
    encode(&h, &claims, &EncodingKey::from_rsa_pem(pem).unwrap()).unwrap()
}

async fn google_id_tokens_are_verified_before_sign_in(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let (pem, jwk) = rsa_key(dir.path(), "idp", "idp-1");
    let (rogue_pem, _) = rsa_key(dir.path(), "rogue", "idp-1");
    let issuer = serve_jwks(vec![jwk]).await;
    let jwks_url = format!("{issuer}/jwks");
    let srv = TestServer::start_with(
        db,
        &[
            ("TALON_GOOGLE_CLIENT_ID", CLIENT_ID),
            ("TALON_OIDC_ISSUER", &issuer),
            ("TALON_OIDC_JWKS_URL", &jwks_url),
        ],
    )
    .await;
    let email = format!("g{}@example.com", &common::uuid_simple()[..10]);
    let claims = |f: &dyn Fn(&mut Value)| {
        let mut c = json!({"iss": issuer, "aud": CLIENT_ID, "sub": "1234567890", "email": email,
                           "email_verified": true, "name": "Grace", "iat": now(), "exp": now() + 600});
        f(&mut c);
        c
    };
    let sign_in = |token: String| srv.post("/v1/auth/google", None, json!({"id_token": token}));

    let (s, v) = sign_in(id_token(&pem, "idp-1", claims(&|_| {}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let token = v["access_token"].as_str().unwrap().to_owned();
    let (_, me) = srv.get("/v1/auth/me", &token).await;
    let user_id = me["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            me["email"].as_str(),
            me["auth_method"].as_str(),
            me["role"].as_str()
        ),
        (Some(email.as_str()), Some("google"), Some("owner"))
    );
    let (s, again) = sign_in(id_token(&pem, "idp-1", claims(&|_| {}))).await;
    let again = common::jwt_claims(again["access_token"].as_str().unwrap_or("x.e30.x"));
    assert_eq!(
        (s, again["sub"].as_str()),
        (StatusCode::OK, Some(format!("user:{user_id}").as_str())),
        "the same user signs in again"
    );

    let bad: Vec<(&str, String)> = vec![
        (
            "wrong audience",
            id_token(&pem, "idp-1", claims(&|c| c["aud"] = json!("someone-else"))),
        ),
        (
            "wrong issuer",
            id_token(
                &pem,
                "idp-1",
                claims(&|c| c["iss"] = json!("https://evil.example")),
            ),
        ),
        (
            "expired",
            id_token(&pem, "idp-1", claims(&|c| c["exp"] = json!(now() - 3600))),
        ),
        (
            "unverified email",
            id_token(
                &pem,
                "idp-1",
                claims(&|c| c["email_verified"] = json!(false)),
            ),
        ),
        (
            "signed by another key",
            id_token(&rogue_pem, "idp-1", claims(&|_| {})),
        ),
        ("unknown kid", id_token(&pem, "idp-9", claims(&|_| {}))),
        (
            "alg none",
            format!(
                "{}.{}.",
                B64URL.encode(r#"{"alg":"none","kid":"idp-1"}"#),
                B64URL.encode(claims(&|_| {}).to_string())
            ),
        ),
        ("HS256 with a guessable key", {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some("idp-1".into());
            encode(
                &h,
                &claims(&|_| {}),
                &EncodingKey::from_secret(CLIENT_ID.as_bytes()),
            )
            .unwrap()
        }),
        ("garbage", "not.a.token".into()),
    ];
    for (why, token) in bad {
        let (s, v) = sign_in(token).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{why}: {v}");
    }
    // A password account is never silently linked.
    let h = srv.signup().await;
    let (s, _) = sign_in(id_token(
        &pem,
        "idp-1",
        claims(&|c| c["email"] = json!(h.email)),
    ))
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
}
