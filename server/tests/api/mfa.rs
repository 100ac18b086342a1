//! TOTP MFA end to end, with codes computed here from the enrolment secret.

use crate::common::{contains, Db, TestServer, PASSWORD};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_databases!(mfa_enrolment_login_recovery_and_disable);

fn base32_decode(s: &str) -> Vec<u8> {
    let (mut out, mut buf, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => continue,
        } as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buf >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    out
}

fn totp(seed: &[u8], step: u64) -> String {
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(seed).unwrap();
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]);
    format!("{:06}", bin % 1_000_000)
}

fn step_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30
}

async fn challenge(srv: &TestServer, email: &str) -> String {
    let (s, v) = srv
        .post(
            "/v1/auth/token",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["mfa_required"], true, "{v}");
    assert_eq!(
        v["access_token"], "",
        "no usable token before the second factor"
    );
    v["mfa_token"].as_str().unwrap().to_owned()
}

async fn verify(srv: &TestServer, token: &str, code: &str) -> (StatusCode, Value) {
    srv.post(
        "/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": token, "code": code}),
    )
    .await
}

async fn mfa_enrolment_login_recovery_and_disable(db: Db) {
    let srv = TestServer::start(db).await;
    let h = srv.signup().await;
    let (s, st) = srv.get("/v1/auth/mfa/status", &h.token).await;
    assert_eq!((s, st["enabled"].as_bool()), (StatusCode::OK, Some(false)));
    let (s, setup) = srv
        .post("/v1/auth/mfa/setup", Some(&h.token), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{setup}");
    let secret = setup["secret"].as_str().unwrap().to_owned();
    assert!(setup["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with(&format!("otpauth://totp/Talon:{}?secret={secret}", h.email)));
    let seed = base32_decode(&secret);
    let (s, _) = srv
        .post(
            "/v1/auth/mfa/verify-setup",
            Some(&h.token),
            json!({"code": "000000"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let step = step_now();
    let (s, v) = srv
        .post(
            "/v1/auth/mfa/verify-setup",
            Some(&h.token),
            json!({"code": totp(&seed, step)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let recovery: Vec<String> = v["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 8);
    let (_, me) = srv.get("/v1/auth/me", &h.token).await;
    assert_eq!(me["totp_enabled"], true);
    assert_eq!(
        srv.post("/v1/auth/mfa/setup", Some(&h.token), json!({}))
            .await
            .0,
        StatusCode::CONFLICT
    );

    // Password alone no longer logs in; the challenge is not an access token.
    let mfa = challenge(&srv, &h.email).await;
    assert_eq!(
        srv.get("/v1/vaults", &mfa).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, v) = verify(&srv, &mfa, "123456").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["type"], "mfa_invalid");
    let code = totp(&seed, step + 1);
    let (s, v) = verify(&srv, &mfa, &code).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        srv.get("/v1/vaults", v["access_token"].as_str().unwrap())
            .await
            .0,
        StatusCode::OK
    );
    assert!(v["refresh_token"].as_str().unwrap().starts_with("rt_"));
    // A challenge is spent once used, and a code is accepted once.
    assert_eq!(
        verify(&srv, &mfa, &recovery[0]).await.0,
        StatusCode::UNAUTHORIZED
    );
    let again = challenge(&srv, &h.email).await;
    assert_eq!(
        verify(&srv, &again, &code).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Recovery codes work once each.
    let c = challenge(&srv, &h.email).await;
    assert_eq!(verify(&srv, &c, &recovery[1]).await.0, StatusCode::OK);
    let c = challenge(&srv, &h.email).await;
    assert_eq!(
        verify(&srv, &c, &recovery[1]).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, st) = srv.get("/v1/auth/mfa/status", &h.token).await;
    assert_eq!(st["recovery_codes_remaining"], 7);

    // Five attempts per challenge, then even a right code is refused.
    let c = challenge(&srv, &h.email).await;
    for _ in 0..5 {
        assert_eq!(verify(&srv, &c, "000001").await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        verify(&srv, &c, &recovery[2]).await.0,
        StatusCode::UNAUTHORIZED
    );

    // The seed is stored encrypted.
    let dump = srv.dump_storage().await;
    assert!(!contains(&dump, secret.as_bytes()));
    assert!(!contains(&dump, recovery[3].as_bytes()));

    // Disable needs proof.
    assert_eq!(
        srv.call(
            Method::DELETE,
            "/v1/auth/mfa",
            Some(&h.token),
            Some(json!({}))
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        srv.call(
            Method::DELETE,
            "/v1/auth/mfa",
            Some(&h.token),
            Some(json!({"password": "Wrong-Horse-9!!"}))
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        srv.call(
            Method::DELETE,
            "/v1/auth/mfa",
            Some(&h.token),
            Some(json!({"password": PASSWORD}))
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (s, v) = srv
        .post(
            "/v1/auth/token",
            None,
            json!({"email": h.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(v.get("mfa_required").is_none() && !v["access_token"].as_str().unwrap().is_empty());
    assert_eq!(
        srv.call(
            Method::DELETE,
            "/v1/auth/mfa",
            Some(&h.token),
            Some(json!({"password": PASSWORD}))
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
}
