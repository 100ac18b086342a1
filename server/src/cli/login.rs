//! Logging in: password (with the second factor), personal API key, or the browser device flow.

use super::prompt::EchoOff;
use super::*;
use talon_api::auth::LoginRequest;
use talon_api::Password;

pub(super) async fn run(s: &mut Session, a: LoginArgs) -> Res {
    if a.api_key {
        let key = read_stdin()?.trim().to_owned();
        if !key.starts_with("1ck_") {
            return Err(Exit::usage("expected a 1ck_ personal API key on stdin"));
        }
        s.exchange_key(&key, None).await?;
        s.stored
            .save_credentials(json!({ "api_key": key }))
            .map_err(|e| Exit(6, format!("cannot store credentials: {e}")))?;
        println!("Logged in with an API key.");
        return Ok(());
    }
    let Some(mut email) = a.email else {
        return device_login(s, a.email_hint, a.no_browser).await;
    };
    if email.is_empty() {
        eprint!("Email: ");
        let _ = std::io::stderr().flush();
        std::io::stdin()
            .read_line(&mut email)
            .map_err(|e| Exit::usage(format!("cannot read email: {e}")))?;
        email = email.trim().to_owned();
    }
    let mut lines = std::io::stdin().lines();
    let mut next_line = |prompt: &str, hidden: bool| -> Res<String> {
        let interactive = !a.password_stdin && std::io::stdin().is_terminal();
        if interactive {
            eprint!("{prompt}: ");
            let _ = std::io::stderr().flush();
        }
        let _echo = (interactive && hidden).then(EchoOff::new);
        let line = lines
            .next()
            .transpose()
            .map_err(|e| Exit::usage(format!("cannot read stdin: {e}")))?
            .ok_or_else(|| Exit::usage(format!("{prompt} expected on stdin")))?;
        if interactive && hidden {
            eprintln!();
        }
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    };
    let password = Password::new(next_line("Password", true)?);
    let body = LoginRequest {
        email: email.clone(),
        password,
    };
    let tokens: TokenResponse = s
        .client
        .fetch(Method::POST, "/v1/auth/token", None, &[], Some(&body))
        .await
        .map_err(|f| failure_exit(f, s.g.verbose))?;
    let tokens = match &tokens.mfa_token {
        Some(mfa_token) if tokens.mfa_required == Some(true) => {
            let code = next_line("Authentication code (or a recovery code)", false)?;
            let body = json!({"mfa_token": mfa_token.expose_secret(), "code": code.trim()});
            s.client
                .fetch(Method::POST, "/v1/auth/mfa/verify", None, &[], Some(&body))
                .await
                .map_err(|f| failure_exit(f, s.g.verbose))?
        }
        _ => tokens,
    };
    s.store_tokens(&tokens)?;
    println!("Logged in as {email}.");
    Ok(())
}

/// Browser device flow: print the code and link, poll until approved, denied or expired.
async fn device_login(s: &mut Session, email_hint: Option<String>, no_browser: bool) -> Res {
    let post = |s: &Session, path: &'static str, body: Value| {
        let client = s.client.clone();
        async move {
            client
                .call(Method::POST, path, None, &[], Some(&body))
                .await
        }
    };
    let start = post(
        s,
        "/v1/auth/device/code",
        json!({"client_id": "talon-cli", "email": email_hint}),
    )
    .await
    .map_err(|f| failure_exit(f, s.g.verbose))?;
    let device_code = scalar(&start["device_code"]);
    let uri = scalar(&start["verification_uri_complete"]);
    eprintln!(
        "To log in, open {uri}\nand confirm the code {}",
        scalar(&start["user_code"])
    );
    if !no_browser && s.env.display {
        let _ = std::process::Command::new("xdg-open")
            .arg(&uri)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    let mut interval = start["interval"].as_u64().unwrap_or(5).max(1);
    let deadline = std::time::Instant::now()
        + std::time::Duration::from_secs(start["expires_in"].as_u64().unwrap_or(600));
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(interval)).await;
        if std::time::Instant::now() > deadline {
            return Err(Exit(2, "code expired, run talon login again".into()));
        }
        let v = post(
            s,
            "/v1/auth/device/token",
            json!({"device_code": device_code, "grant_type": "urn:ietf:params:oauth:grant-type:device_code"}),
        )
        .await
        .map_err(|f| failure_exit(f, s.g.verbose))?;
        match v["error"].as_str() {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += 5,
            Some("access_denied") => return Err(Exit(2, "login denied".into())),
            Some(_) => return Err(Exit(2, "code expired, run talon login again".into())),
            None => {
                let email = scalar(&v["email"]);
                let tokens: TokenResponse = crate::client::decode(&v.to_string())
                    .map_err(|f| failure_exit(f, s.g.verbose))?;
                s.store_tokens(&tokens)?;
                println!("Logged in as {email}.");
                return Ok(());
            }
        }
    }
}
