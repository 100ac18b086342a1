//! Audit export as JSON lines (streamed, same filters as the event list, never a value), and
//! `external_email` shares claimed by the account that signs up with that email.

use crate::common::{self, Db, TestServer, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_databases!(
    audit_export_streams_every_matching_event_as_json_lines,
    signup_and_login_claim_pending_external_email_shares,
);

async fn export(srv: &TestServer, token: &str, query: &str) -> (StatusCode, String, Vec<Value>) {
    let res = srv
        .http
        .get(srv.url(&format!("/v1/audit/export{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = res.text().await.unwrap();
    let lines = if status == StatusCode::OK {
        text.lines()
            .map(|l| serde_json::from_str(l).expect("each line is one JSON event"))
            .collect()
    } else {
        vec![serde_json::from_str(&text).unwrap()]
    };
    (status, ctype, lines)
}

async fn audit_export_streams_every_matching_event_as_json_lines(db: Db) {
    let srv = TestServer::start_with(db, &[("TALON_RATE_LIMIT_PER_IP", "0")]).await;
    let h = srv.signup().await;
    let vault = srv.create_vault(&h.token, "v").await;
    srv.put_secret(&h.token, &vault, "db/password", "hunter2-not-in-the-export")
        .await;
    // More reads than one export page (500), in parallel, so the stream spans pages.
    let reads = 520;
    let mut tasks = Vec::new();
    for chunk in 0..8 {
        let http = srv.http.clone();
        let url = srv.url(&format!("/v1/vaults/{vault}/secrets/db/password"));
        let token = h.token.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..(reads / 8 + usize::from(chunk < reads % 8)) {
                let s = http
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(s, StatusCode::OK);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let (s, ctype, all) = export(&srv, &h.token, "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ctype, "application/x-ndjson");
    let (_, listed) = srv.get("/v1/audit/events?limit=1", &h.token).await;
    assert_eq!(all.len() as i64, listed["total"].as_i64().unwrap());
    assert!(all.len() >= reads + 3, "{}", all.len());
    // Newest first, each sequence number once, in the list's shape.
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "strictly descending");
    assert_eq!(all[0], listed["events"][0]);
    assert_eq!(all.last().unwrap()["action"], "user.signup");

    // Same filters as the list.
    let (_, _, reads_only) = export(&srv, &h.token, "?action=secret.read").await;
    assert_eq!(reads_only.len(), reads);
    assert!(reads_only.iter().all(|e| e["action"] == "secret.read"));
    let (_, _, prefixed) = export(&srv, &h.token, "?action=secret.*&limit=5&offset=3").await;
    assert_eq!(prefixed.len(), reads + 1, "limit and offset do not apply");
    let (_, _, by_path) = export(
        &srv,
        &h.token,
        "?resource_id=db/password&action=secret.write",
    )
    .await;
    assert_eq!(by_path.len(), 1);
    let (_, _, future) = export(&srv, &h.token, "?from=2999-01-01T00:00:00Z").await;
    assert!(future.is_empty());
    let (s, _, problem) = export(&srv, &h.token, "?from=yesterday").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        problem[0]["fields"]["from"],
        "from must be an RFC 3339 time"
    );

    // Never a value.
    let raw = srv
        .http
        .get(srv.url("/v1/audit/export"))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!raw.contains("hunter2"));

    // Agents export only their own events.
    let (agent, key) = srv.create_agent(&h.token, "bot").await;
    srv.grant(&h.token, &vault, &agent, "**", &["read"]).await;
    let at = srv.agent_token(&key).await;
    assert_eq!(
        srv.get(&format!("/v1/vaults/{vault}/secrets/db/password"), &at)
            .await
            .0,
        StatusCode::OK
    );
    let (s, _, mine) = export(&srv, &at, "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!mine.is_empty());
    assert!(mine.iter().all(|e| e["actor_id"] == agent.as_str()));
    // Unauthenticated: 401.
    let res = srv
        .http
        .get(srv.url("/v1/audit/export"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

const IN_AN_HOUR: &str = "2999-01-01T00:00:00Z";

async fn signup_and_login_claim_pending_external_email_shares(db: Db) {
    let srv = TestServer::start(db).await;
    let owner = srv.signup().await;
    let vault = srv.create_vault(&owner.token, "v").await;
    let created = srv
        .put_secret(&owner.token, &vault, "handover/key", "claimed-value")
        .await;
    let sid = created["id"].as_str().unwrap();
    let email = format!("newcomer-{}@example.com", &common::uuid_simple()[..8]);
    let (s, share) = srv
        .post(
            &format!("/v1/secrets/{sid}/share"),
            Some(&owner.token),
            json!({"recipient_type": "external_email", "email": email, "expires_at": IN_AN_HOUR}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{share}");
    let share_id = share["id"].as_str().unwrap().to_owned();
    let pool = srv.db_pool().await;
    let claimed: Option<String> =
        sqlx::query_scalar("SELECT recipient_id FROM shares WHERE id = $1")
            .bind(&share_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(claimed, None, "unclaimed before signup");

    // Signing up with the email binds the share to the new account in the signup's commit.
    let (s, signed) = srv
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{signed}");
    let user_id = signed["user_id"].as_str().unwrap();
    let token = signed["access_token"].as_str().unwrap();
    let row = sqlx::query("SELECT recipient_id, claimed_at FROM shares WHERE id = $1")
        .bind(&share_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    use sqlx::Row;
    assert_eq!(
        row.get::<Option<String>, _>("recipient_id").as_deref(),
        Some(user_id)
    );
    assert!(row.get::<Option<i64>, _>("claimed_at").is_some());
    pool.close().await;

    // The claimant sees it inbound, accepts and reads it; nobody else can.
    let (_, inbound) = srv.get("/v1/shares/inbound", token).await;
    let listed = &inbound["shares"][0];
    assert_eq!(listed["id"], share_id.as_str());
    assert_eq!(listed["recipient_id"], user_id);
    assert_eq!(listed["status"], "pending");
    assert_eq!(
        srv.post(
            &format!("/v1/shares/{share_id}/accept"),
            Some(token),
            json!({})
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (s, read) = srv.get(&format!("/v1/share/{share_id}"), token).await;
    assert_eq!(s, StatusCode::OK, "{read}");
    assert_eq!(read["value"], "claimed-value");
    // The authenticated share access is billed to the reader's org.
    let (_, hist) = srv.get("/v1/billing/history", token).await;
    assert_eq!(
        hist["events"][0]["endpoint"], "/v1/share/:share_id",
        "{hist}"
    );
    assert_eq!(hist["events"][0]["price_usd"], "0.0010");
    let stranger = srv.signup().await;
    let (s, _) = srv
        .get(&format!("/v1/share/{share_id}"), &stranger.token)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, theirs) = srv.get("/v1/shares/inbound", &stranger.token).await;
    assert_eq!(theirs["shares"], json!([]));

    // A share sent to an existing account's email is claimed at its next login.
    let (_, later) = srv
        .post(
            &format!("/v1/secrets/{sid}/share"),
            Some(&owner.token),
            json!({"recipient_type": "external_email", "email": stranger.email, "expires_at": IN_AN_HOUR}),
        )
        .await;
    let later_id = later["id"].as_str().unwrap().to_owned();
    let pool = srv.db_pool().await;
    let unclaimed: Option<String> =
        sqlx::query_scalar("SELECT recipient_id FROM shares WHERE id = $1")
            .bind(&later_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(unclaimed, None);
    let (s, _) = srv
        .post(
            "/v1/auth/token",
            None,
            json!({"email": stranger.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let claimed: Option<String> =
        sqlx::query_scalar("SELECT recipient_id FROM shares WHERE id = $1")
            .bind(&later_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(claimed.as_deref(), Some(stranger.user_id.as_str()));
    pool.close().await;
}
