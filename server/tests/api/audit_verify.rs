//! Audit chain verification: the whole chain by default, streamed a page at a time, checked
//! against the org's signed head (so a deleted or truncated tail is found), for org owners and
//! admins only, one at a time per org and rate limited.

use crate::common::{self, Db, TestServer};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Row;

on_both_databases!(
    edit_near_the_end_of_a_long_chain_is_found_by_a_default_verify,
    deleted_newest_event_is_detected,
    truncated_tail_is_detected,
    gap_in_the_middle_is_detected,
    forged_deleted_or_rolled_back_head_is_detected,
    explicit_range_reads_as_partial,
    member_is_refused_and_verifies_are_one_at_a_time_and_rate_limited,
);

mod sqlite_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn verify_of_a_long_chain_runs_in_bounded_memory() {
        super::verify_of_a_long_chain_runs_in_bounded_memory(crate::common::Db::Sqlite).await
    }
}

/// No request-rate limits in the way of building long chains quickly.
const FAST: [(&str, &str); 2] = [
    ("TALON_RATE_LIMIT_PER_IP", "0"),
    ("TALON_RATE_LIMIT_PER_PRINCIPAL", "0"),
];

struct Chain {
    srv: TestServer,
    owner: common::Human,
}

/// A server and an org whose chain holds at least `events` events: one secret read `events`
/// times in parallel, so every event is appended by the service's own audit code.
async fn chain(db: Db, events: usize, env: &[(&str, &str)]) -> Chain {
    let mut all: Vec<(&str, &str)> = FAST.to_vec();
    all.extend_from_slice(env);
    let srv = TestServer::start_with(db, &all).await;
    let owner = srv.signup().await;
    let vault = srv.create_vault(&owner.token, "v").await;
    srv.put_secret(
        &owner.token,
        &vault,
        "db/password",
        "never-in-the-audit-log",
    )
    .await;
    let workers = 32;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let http = srv.http.clone();
        let url = srv.url(&format!("/v1/vaults/{vault}/secrets/db/password"));
        let token = owner.token.clone();
        let n = events / workers + usize::from(w < events % workers);
        tasks.push(tokio::spawn(async move {
            for _ in 0..n {
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
    Chain { srv, owner }
}

impl Chain {
    async fn verify(&self, query: &str) -> (StatusCode, Value) {
        self.srv
            .get(&format!("/v1/audit/verify{query}"), &self.owner.token)
            .await
    }

    /// The org's newest sequence number, from the database.
    async fn max_seq(&self, pool: &sqlx::AnyPool) -> i64 {
        sqlx::query("SELECT MAX(seq) AS m FROM audit_events WHERE org_id = $1")
            .bind(&self.owner.org_id)
            .fetch_one(pool)
            .await
            .unwrap()
            .get("m")
    }

    async fn delete_seqs(&self, pool: &sqlx::AnyPool, from: i64, to: i64) {
        sqlx::query("DELETE FROM audit_events WHERE org_id = $1 AND seq >= $2 AND seq <= $3")
            .bind(&self.owner.org_id)
            .bind(from)
            .bind(to)
            .execute(pool)
            .await
            .unwrap();
    }
}

fn assert_valid_and_complete(v: &Value, events: i64) {
    assert_eq!(v["chain_valid"], true, "{v}");
    assert_eq!(v["complete"], true, "{v}");
    assert_eq!(v["partial"], false, "{v}");
    assert_eq!(v["events_checked"], events, "{v}");
    assert_eq!(v["events_verified"], events, "{v}");
    assert_eq!(v["first_seq"], 1, "{v}");
    assert_eq!(v["last_seq"], events, "{v}");
    assert_eq!(v["head"]["seq"], events, "{v}");
    assert_eq!(v["head"]["mac_valid"], true, "{v}");
    assert!(v["broken_at_event_id"].is_null(), "{v}");
}

async fn edit_near_the_end_of_a_long_chain_is_found_by_a_default_verify(db: Db) {
    let c = chain(db, 5_000, &[]).await;
    let pool = c.srv.db_pool().await;
    let max = c.max_seq(&pool).await;
    assert!(max > 5_000, "{max}");
    let (s, ok) = c.verify("").await;
    assert_eq!(s, StatusCode::OK, "{ok}");
    assert_valid_and_complete(&ok, max);
    assert_eq!(ok["scheme"]["algorithm"], "HMAC-SHA256");

    // Rewrite an event 20 from the end, as an intruder with database access would.
    let seq = max - 20;
    let id: String = sqlx::query("SELECT id FROM audit_events WHERE org_id = $1 AND seq = $2")
        .bind(&c.owner.org_id)
        .bind(seq)
        .fetch_one(&pool)
        .await
        .unwrap()
        .get("id");
    sqlx::query("UPDATE audit_events SET details = $1 WHERE id = $2")
        .bind(r#"{"path":"somewhere/else"}"#)
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    let (s, broken) = c.verify("").await;
    assert_eq!(s, StatusCode::OK, "{broken}");
    assert_eq!(broken["chain_valid"], false, "{broken}");
    assert_eq!(broken["complete"], false);
    assert_eq!(broken["broken_at_seq"], seq);
    assert_eq!(broken["broken_at_event_id"], id.as_str());
    assert_eq!(
        broken["broken_reason"],
        "integrity hash does not match the event"
    );
    assert_eq!(broken["events_verified"], seq - 1);
    assert_eq!(broken["events_checked"], seq);
}

async fn deleted_newest_event_is_detected(db: Db) {
    let c = chain(db, 40, &[]).await;
    let pool = c.srv.db_pool().await;
    let max = c.max_seq(&pool).await;
    let newest: String = sqlx::query("SELECT id FROM audit_events WHERE org_id = $1 AND seq = $2")
        .bind(&c.owner.org_id)
        .bind(max)
        .fetch_one(&pool)
        .await
        .unwrap()
        .get("id");
    assert_valid_and_complete(&c.verify("").await.1, max);

    c.delete_seqs(&pool, max, max).await;
    let (s, v) = c.verify("").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["chain_valid"], false, "{v}");
    assert_eq!(v["broken_at_seq"], max);
    assert_eq!(v["broken_at_event_id"], newest.as_str());
    assert_eq!(
        v["broken_reason"],
        "the newest events are missing: the chain ends before its signed head"
    );
    assert_eq!(
        v["events_checked"],
        max - 1,
        "every remaining event was checked"
    );
}

async fn truncated_tail_is_detected(db: Db) {
    let c = chain(db, 60, &[]).await;
    let pool = c.srv.db_pool().await;
    let max = c.max_seq(&pool).await;
    c.delete_seqs(&pool, max - 9, max).await;
    let (s, v) = c.verify("").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["chain_valid"], false, "{v}");
    assert_eq!(v["complete"], false);
    assert_eq!(v["broken_at_seq"], max - 9);
    assert_eq!(v["last_seq"], max - 10);
    assert_eq!(v["head"]["seq"], max);
    assert_eq!(
        v["broken_reason"],
        "the newest events are missing: the chain ends before its signed head"
    );
}

async fn gap_in_the_middle_is_detected(db: Db) {
    let c = chain(db, 60, &[]).await;
    let pool = c.srv.db_pool().await;
    let max = c.max_seq(&pool).await;
    let mid = max / 2;
    c.delete_seqs(&pool, mid, mid).await;
    let (s, v) = c.verify("").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["chain_valid"], false, "{v}");
    assert_eq!(v["broken_at_seq"], mid + 1);
    assert_eq!(v["broken_reason"], "sequence gap or reorder");
    assert_eq!(v["events_verified"], mid - 1);
}

async fn forged_deleted_or_rolled_back_head_is_detected(db: Db) {
    let c = chain(db, 20, &[("TALON_AUDIT_VERIFY_PER_MINUTE", "0")]).await;
    let pool = c.srv.db_pool().await;
    let head = |pool: sqlx::AnyPool, org: String| async move {
        let r = sqlx::query(
            "SELECT last_seq, last_event_id, last_hash, mac FROM audit_heads WHERE org_id = $1",
        )
        .bind(org)
        .fetch_one(&pool)
        .await
        .unwrap();
        (
            r.get::<i64, _>("last_seq"),
            r.get::<String, _>("last_event_id"),
            r.get::<String, _>("last_hash"),
            r.get::<String, _>("mac"),
        )
    };
    // The head moved with every append.
    let old = head(pool.clone(), c.owner.org_id.clone()).await;
    assert_eq!(old.0, c.max_seq(&pool).await);

    // A head whose MAC was not made by the keystore.
    sqlx::query("UPDATE audit_heads SET mac = $1 WHERE org_id = $2")
        .bind("00".repeat(32))
        .bind(&c.owner.org_id)
        .execute(&pool)
        .await
        .unwrap();
    let (_, v) = c.verify("").await;
    assert_eq!(v["chain_valid"], false, "{v}");
    assert_eq!(v["head"]["mac_valid"], false);
    assert_eq!(v["broken_reason"], "the signed chain head does not verify");

    // A head pointing at an earlier event (a copy of an old, genuinely signed head) while
    // newer events exist: the events beyond it are named.
    let vault = c.srv.create_vault(&c.owner.token, "after").await;
    assert!(!vault.is_empty());
    let newer = head(pool.clone(), c.owner.org_id.clone()).await;
    assert!(newer.0 > old.0);
    sqlx::query(
        "UPDATE audit_heads SET last_seq = $1, last_event_id = $2, last_hash = $3, mac = $4 \
         WHERE org_id = $5",
    )
    .bind(old.0)
    .bind(&old.1)
    .bind(&old.2)
    .bind(&old.3)
    .bind(&c.owner.org_id)
    .execute(&pool)
    .await
    .unwrap();
    let (_, v) = c.verify("").await;
    assert_eq!(v["chain_valid"], false, "{v}");
    assert_eq!(v["head"]["mac_valid"], true);
    assert_eq!(v["broken_at_seq"], old.0 + 1);
    assert_eq!(
        v["broken_reason"],
        "the event lies beyond the signed chain head"
    );

    // No head at all for a chain with events: never read as valid.
    sqlx::query("DELETE FROM audit_heads WHERE org_id = $1")
        .bind(&c.owner.org_id)
        .execute(&pool)
        .await
        .unwrap();
    let (_, v) = c.verify("").await;
    assert_eq!(v["chain_valid"], false, "{v}");
    assert!(v["head"].is_null());
    assert_eq!(v["broken_reason"], "the chain has no signed head record");

    // An org whose events predate the head table gets one at start-up, signed over its tail.
    let mut srv = c.srv;
    srv.restart().await;
    let (s, v) = srv.get("/v1/audit/verify", &c.owner.token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_valid_and_complete(&v, newer.0);
}

async fn explicit_range_reads_as_partial(db: Db) {
    let c = chain(db, 30, &[("TALON_AUDIT_VERIFY_PER_MINUTE", "0")]).await;
    let pool = c.srv.db_pool().await;
    let max = c.max_seq(&pool).await;

    let (s, v) = c.verify("?limit=5").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["chain_valid"], true, "{v}");
    assert_eq!(v["complete"], false);
    assert_eq!(v["partial"], true);
    assert_eq!(v["events_checked"], 5);
    assert_eq!(
        (v["first_seq"].as_i64(), v["last_seq"].as_i64()),
        (Some(1), Some(5))
    );

    let (_, v) = c.verify("?to=2000-01-01T00:00:00Z").await;
    assert_eq!(v["events_checked"], 0, "{v}");
    assert_eq!(v["partial"], true);
    assert!(v["first_seq"].is_null());

    // A range that starts after the first event is partial even though it reaches the head.
    let (_, v) = c.verify(&format!("?limit={}", max)).await;
    assert_valid_and_complete(&v, max);
    let t: i64 = sqlx::query("SELECT created_at FROM audit_events WHERE org_id = $1 AND seq = $2")
        .bind(&c.owner.org_id)
        .bind(max)
        .fetch_one(&pool)
        .await
        .unwrap()
        .get("created_at");
    let from = talon_core::clock::rfc3339(t);
    let (s, v) = c.verify(&format!("?from={from}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["chain_valid"], true, "{v}");
    assert_eq!(v["complete"], false, "{v}");
    assert_eq!(v["last_seq"], max);
    assert!(v["first_seq"].as_i64().unwrap() > 1);

    assert_eq!(c.verify("?limit=0").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(c.verify("?limit=10001").await.0, StatusCode::BAD_REQUEST);
}

async fn member_is_refused_and_verifies_are_one_at_a_time_and_rate_limited(db: Db) {
    let c = chain(db, 3_000, &[("TALON_AUDIT_VERIFY_PER_MINUTE", "6")]).await;
    let srv = &c.srv;
    let member = srv.join(&c.owner.token, "member").await.token;
    let admin = srv.join(&c.owner.token, "admin").await.token;

    // A plain member gets a 403 problem, and it does not count against the org's limit.
    let res = srv
        .http
        .get(srv.url("/v1/audit/verify"))
        .bearer_auth(&member)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["status"], 403);
    assert!(problem.get("chain_valid").is_none());
    // An admin may verify.
    let (s, v) = srv.get("/v1/audit/verify", &admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["chain_valid"], true);

    // Concurrent verifies of one org: one runs, the others are refused at once.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let http = srv.http.clone();
        let url = srv.url("/v1/audit/verify");
        let token = c.owner.token.clone();
        tasks.push(tokio::spawn(async move {
            let res = http.get(&url).bearer_auth(&token).send().await.unwrap();
            let status = res.status();
            let body: Value = res.json().await.unwrap();
            (status, body)
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        let (s, body) = t.await.unwrap();
        if s == StatusCode::CONFLICT {
            assert_eq!(body["status"], 409, "{body}");
        }
        statuses.push(s);
    }
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    assert!(statuses.contains(&StatusCode::CONFLICT), "{statuses:?}");

    // Six verifies a minute per org (the admin's and the concurrent ones that ran count): the
    // next ones are refused with 429 and Retry-After. Thirteen calls span at most two windows,
    // so at least one of them is refused.
    let mut limited = None;
    for _ in 0..13 {
        let res = srv
            .http
            .get(srv.url("/v1/audit/verify?limit=1"))
            .bearer_auth(&c.owner.token)
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let body: Value = res.json().await.unwrap();
            limited = Some((retry, body));
            break;
        }
        assert_eq!(res.status(), StatusCode::OK);
    }
    let (retry, body) = limited.expect("verifies are rate limited");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(body["type"], "rate_limited");
    assert_eq!(body["status"], 429);
}

/// The server process's resident set size, in kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

async fn verify_of_a_long_chain_runs_in_bounded_memory(db: Db) {
    let c = chain(db, 20_000, &[]).await;
    let pid = c.srv.pid();
    let pool = c.srv.db_pool().await;
    let max = c.max_seq(&pool).await;
    // Warm the verify path (two pages) so the measurement sees the walk, not first-use
    // allocations.
    let (s, _) = c.verify("?limit=600").await;
    assert_eq!(s, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let before = rss_kb(pid);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_kb(pid));
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            peak.max(rss_kb(pid))
        })
    };
    let (s, v) = c.verify("").await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.await.unwrap();
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_valid_and_complete(&v, max);
    let grown_kb = peak.saturating_sub(before);
    assert!(
        grown_kb < 20 * 1024,
        "RSS grew by {grown_kb} kB verifying {max} events ({before} kB before)"
    );
}
