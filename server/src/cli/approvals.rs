//! `talon approvals`: the requests a `require_approval` policy holds for a person, and
//! deciding them (with the password or a TOTP code from risk tier 2); and the waiting of
//! `talon run`, `env run` and `env pull` when one of their reads is held for approval.

use super::*;
use crate::client::Problem;
use std::time::{Duration, Instant};
use talon_api::secrets::SecretResponse;
use talon_api::Password;
use zeroize::Zeroizing;

/// How often a held read's approval is polled.
const POLL: Duration = Duration::from_secs(2);
/// How many times the reads of one command may be held before it gives up (a single-use
/// approval spent by another process sends the read back to the gate).
const MAX_ROUNDS: usize = 3;
/// How long past an approval's expiry the wait goes on (for a clock that runs ahead of the
/// server's; the server reports `expired` itself as soon as it is due).
const EXPIRY_GRACE: Duration = Duration::from_secs(30);
/// The longest wait when neither a timeout nor the approval's expiry is known.
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

pub(super) async fn run(s: &mut Session, c: ApprovalsCmd) -> Res {
    match c {
        ApprovalsCmd::List { status } => list(s, status.as_deref()).await,
        ApprovalsCmd::Show { id } => {
            let v = s.get(&approval_url(&id)?).await?;
            s.show(&v);
            Ok(())
        }
        ApprovalsCmd::Approve(a) => decide(s, a, true).await,
        ApprovalsCmd::Reject(a) => decide(s, a, false).await,
        ApprovalsCmd::Cancel { id } => {
            let v = s
                .call(
                    Method::POST,
                    &format!("{}/cancel", approval_url(&id)?),
                    &[],
                    Some(&json!({})),
                )
                .await?;
            if s.format == Format::Json {
                s.show(&v);
            } else if v["status"] == "rejected" && v["decision_reason"] == "cancelled" {
                println!("Cancelled approval {id}: {}.", what(&v));
            } else {
                // A server that answers an approval decided first with it, unchanged.
                println!(
                    "Approval {id} is already {}; nothing changed.",
                    scalar(&v["status"])
                );
            }
            Ok(())
        }
    }
}

/// `/v1/approvals/{id}`, for an id that is a UUID (anything else could address another
/// resource once the URL is normalised).
fn approval_url(id: &str) -> Res<String> {
    uuid::Uuid::parse_str(id)
        .map(|_| format!("/v1/approvals/{id}"))
        .map_err(|_| Exit::usage(format!("'{id}' is not an approval id")))
}

/// The approvals the caller may see: the REST document with `--json`, else one row each,
/// pending first.
async fn list(s: &mut Session, status: Option<&str>) -> Res {
    let query: Vec<(&str, &str)> = status.map(|x| vec![("status", x)]).unwrap_or_default();
    let doc = s.call(Method::GET, "/v1/approvals", &query, None).await?;
    if s.format == Format::Json {
        s.show(&doc);
        return Ok(());
    }
    let mut items = doc["approvals"].as_array().cloned().unwrap_or_default();
    // Stable: the server's order within each group.
    items.sort_by_key(|a| a["status"] != "pending");
    let rows: Vec<Value> = items
        .iter()
        .map(|a| {
            json!({
                "id": a["id"],
                "status": a["status"],
                "what": what(a),
                "requester": requester(a),
                "risk": a["risk_tier"],
                "approvals": format!("{}/{}", scalar(&a["current_approvals"]), scalar(&a["required_approvals"])),
                "expires_at": a["expires_at"],
            })
        })
        .collect();
    s.show_list(
        &json!({ "approvals": rows }),
        "approvals",
        &[
            "id",
            "status",
            "what",
            "requester",
            "risk",
            "approvals",
            "expires_at",
        ],
    );
    Ok(())
}

/// What an approval asks for: `read prod/db in production`, or a declared action and its
/// target.
fn what(a: &Value) -> String {
    let summary = &a["summary"];
    if a["target_type"] == "secret" {
        let permission = summary["permission"]
            .as_str()
            .or_else(|| a["action"].as_str().and_then(|x| x.strip_prefix("secret.")))
            .unwrap_or("access");
        let path = summary["path"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| scalar(&a["target_id"]));
        match summary["vault_name"].as_str() {
            Some(vault) => format!("{permission} {path} in {vault}"),
            None => format!("{permission} {path}"),
        }
    } else {
        format!(
            "{} {} {}",
            scalar(&a["action"]),
            scalar(&a["target_type"]),
            scalar(&a["target_id"])
        )
    }
}

/// Who asked: the agent's name or the person's email, else the requester's kind and id.
fn requester(a: &Value) -> String {
    let r = &a["summary"]["requester"];
    r["name"]
        .as_str()
        .or_else(|| r["email"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            format!(
                "{} {}",
                scalar(&a["requester_type"]),
                scalar(&a["requester_id"])
            )
        })
}

/// Votes on a pending approval, confirmed with the password or a TOTP code when its risk tier
/// asks for a step-up.
async fn decide(s: &mut Session, a: DecideArgs, approve: bool) -> Res {
    let url = approval_url(&a.id)?;
    let current = s.get(&url).await?;
    let status = current["status"].as_str().unwrap_or_default();
    if status != "pending" {
        return Err(Exit::usage(format!(
            "approval {} is already {status}; nothing was decided",
            a.id
        )));
    }
    if current["can_decide"] == false {
        return Err(Exit(
            3,
            format!(
                "you cannot decide approval {}: only its approvers can, once each, and never \
                 whoever asked for it",
                a.id
            ),
        ));
    }
    let tier = current["risk_tier"].as_i64().unwrap_or(0);
    let step_up = current["step_up_required"]
        .as_bool()
        .unwrap_or(tier >= talon_core::service::STEP_UP_TIER);
    let confirm = if step_up {
        Some(confirmation(s, &a, tier)?)
    } else {
        None
    };
    let body = json!({
        "decision": if approve { "approve" } else { "reject" },
        "reason": a.reason,
    });
    let headers: Vec<(&str, &str)> = confirm
        .as_ref()
        .map(|c| vec![("X-Auth-Confirm", c.expose_secret())])
        .unwrap_or_default();
    let answer: Result<Value, _> = s
        .try_fetch_with_headers(
            Method::POST,
            &format!("{url}/decide"),
            &headers,
            Some(&body),
        )
        .await?;
    drop(headers);
    drop(confirm);
    let v = answer.map_err(|f| failure_exit(f, s.g.verbose))?;
    if s.format == Format::Json {
        s.show(&v);
        return Ok(());
    }
    let id = &a.id;
    let what = what(&v);
    match (approve, v["status"].as_str()) {
        (true, Some("approved")) => println!("Approved {id}: {what}."),
        (true, _) => println!(
            "Voted to approve {id}: {what}. {} of {} approvals so far; it stays pending.",
            scalar(&v["current_approvals"]),
            scalar(&v["required_approvals"])
        ),
        (false, _) => println!("Rejected {id}: {what}."),
    }
    Ok(())
}

/// The password or TOTP code that confirms a high-risk decision: from stdin with
/// `--confirm-stdin`, else `TALON_CONFIRM`, else asked without echo on a terminal. Without
/// any of them the command fails (exit 1) before anything is sent.
fn confirmation(s: &Session, a: &DecideArgs, tier: i64) -> Res<Password> {
    let mut text = if a.confirm_stdin {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| Exit::usage(format!("cannot read stdin: {e}")))?;
        let end = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(end);
        line
    } else if let Some(c) = &s.env.confirm {
        Zeroizing::new(c.clone())
    } else if prompt::interactive() {
        prompt::hidden_line(&format!(
            "Approval {} is risk tier {tier}: your password or a TOTP code to confirm",
            a.id
        ))?
    } else {
        return Err(Exit::usage(format!(
            "approval {} is risk tier {tier} and needs your password or a TOTP code to \
             confirm: pipe it with --confirm-stdin, set TALON_CONFIRM, or run on a terminal",
            a.id
        )));
    };
    if text.is_empty() {
        return Err(Exit::usage(format!(
            "no confirmation given for approval {}; nothing was decided",
            a.id
        )));
    }
    Ok(Password::new(std::mem::take(&mut *text)))
}

/// How long a held read is waited for: `--approval-timeout`, else `TALON_APPROVAL_TIMEOUT`,
/// else (`None`) until the approval expires.
pub(super) fn wait_limit(s: &Session, a: &ApprovalWaitArgs) -> Res<Option<Duration>> {
    let Some(text) = a
        .approval_timeout
        .clone()
        .or_else(|| s.env.approval_timeout.clone())
    else {
        return Ok(None);
    };
    parse_duration(&text).map(Some).ok_or_else(|| {
        Exit::usage(format!(
            "approval timeout '{text}': give a duration like 90s, 10m or 1h, or seconds"
        ))
    })
}

/// `90s`, `10m`, `1h`, `1d`, or a number of seconds.
fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let secs = match t.parse::<u64>() {
        Ok(n) => n,
        Err(_) => u64::try_from(super::share::duration_s(t)?).ok()?,
    };
    Some(Duration::from_secs(secs))
}

/// Reads `paths` of `vault`, each once, answering each path's outcome in order. A read held
/// for a person's approval is announced on stderr, one line per approval, and waited for
/// (all of them together, polling every 2 s); once approved it is read again. An approval
/// that is rejected, cancelled or expires ends the command (exit 3), and so does one still
/// pending after `limit` (exit 6). Any other refusal is answered for its path, for the
/// caller to skip or fail on.
pub(super) async fn read_all(
    s: &mut Session,
    vault: &str,
    paths: &[String],
    limit: Option<Duration>,
) -> Res<Vec<(String, Res<SecretResponse>)>> {
    let mut out: Vec<Option<Res<SecretResponse>>> = paths.iter().map(|_| None).collect();
    let mut todo: Vec<usize> = (0..paths.len()).collect();
    let deadline = limit.map(|l| Instant::now() + l);
    for round in 0..=MAX_ROUNDS {
        let mut held: Vec<(usize, String)> = Vec::new();
        for i in todo {
            match s.try_read_secret(vault, &paths[i]).await? {
                Ok(read) => out[i] = Some(Ok(read)),
                Err(f) if f.problem() == Problem::ApprovalRequired && f.approval_id.is_some() => {
                    held.push((i, f.approval_id.unwrap_or_default()));
                }
                Err(f) => out[i] = Some(Err(failure_exit(f, s.g.verbose))),
            }
        }
        if held.is_empty() {
            break;
        }
        if round == MAX_ROUNDS {
            let (i, id) = &held[0];
            return Err(Exit(
                3,
                format!(
                    "{} is still held for approval (now approval {id}) after {MAX_ROUNDS} \
                     approvals; giving up",
                    paths[*i]
                ),
            ));
        }
        let mut waits: Vec<(String, Vec<&str>)> = Vec::new();
        for (i, id) in &held {
            match waits.iter_mut().find(|(x, _)| x == id) {
                Some((_, p)) => p.push(&paths[*i]),
                None => waits.push((id.clone(), vec![&paths[*i]])),
            }
        }
        wait_until_approved(s, waits, limit, deadline).await?;
        todo = held.into_iter().map(|(i, _)| i).collect();
    }
    Ok(paths
        .iter()
        .cloned()
        .zip(
            out.into_iter()
                .map(|o| o.unwrap_or_else(|| Err(Exit(6, "not read".into())))),
        )
        .collect())
}

/// Polls each approval of `waits` (id → the paths it holds) until all are approved, or
/// until `deadline` (from the approval timeout), else until the last of them expires (plus a
/// grace).
async fn wait_until_approved(
    s: &mut Session,
    waits: Vec<(String, Vec<&str>)>,
    limit: Option<Duration>,
    deadline: Option<Instant>,
) -> Res {
    for (id, paths) in &waits {
        eprintln!(
            "Waiting for approval {id} (a person must approve reading {})…",
            paths.join(", ")
        );
    }
    if limit == Some(Duration::ZERO) {
        return Err(Exit(
            6,
            format!(
                "not waiting for approval {} (the approval timeout is 0); run again once it \
                 is approved",
                waits[0].0
            ),
        ));
    }
    let started = Instant::now();
    let mut pending = waits;
    loop {
        let mut still = Vec::new();
        let mut expires: Option<Instant> = None;
        let mut pause = POLL;
        for (id, paths) in pending {
            let url = format!("/v1/approvals/{id}/status");
            let v = match s.try_call(Method::GET, &url, None).await? {
                Ok(v) => v,
                Err(f) if f.status == 429 => {
                    // Still rate-limited after the retries: wait as long as the server asks.
                    pause = pause.max(Duration::from_secs(f.retry_after.unwrap_or(5).min(60)));
                    still.push((id, paths));
                    continue;
                }
                Err(f) => return Err(failure_exit(f, s.g.verbose)),
            };
            let what = paths.join(", ");
            match v["status"].as_str() {
                Some("approved") => eprintln!("Approval {id} granted; reading {what}."),
                Some("pending") => {
                    if let Some(at) = v["expires_at"]
                        .as_str()
                        .and_then(talon_core::clock::parse_rfc3339)
                    {
                        let left = u64::try_from(at - talon_core::clock::now_ms()).unwrap_or(0);
                        let at = Instant::now() + Duration::from_millis(left) + EXPIRY_GRACE;
                        expires = Some(expires.map_or(at, |e| e.max(at)));
                    }
                    still.push((id, paths));
                }
                Some("rejected") if v["decision_reason"] == "cancelled" => {
                    return Err(Exit(
                        3,
                        format!("approval {id} was cancelled; {what} was not read"),
                    ))
                }
                Some("rejected") => {
                    let why = v["decision_reason"]
                        .as_str()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default();
                    return Err(Exit(
                        3,
                        format!("approval {id} was rejected{why}; {what} was not read"),
                    ));
                }
                Some("expired") => {
                    return Err(Exit(
                        3,
                        format!(
                            "approval {id} expired before anyone approved it; {what} was not read"
                        ),
                    ))
                }
                other => {
                    return Err(Exit(
                        3,
                        format!(
                            "approval {id} is {}; {what} was not read",
                            other.unwrap_or("in an unknown state")
                        ),
                    ))
                }
            }
        }
        if still.is_empty() {
            return Ok(());
        }
        let until = deadline
            .or(expires)
            .unwrap_or_else(|| started + LONGEST_WAIT);
        let now = Instant::now();
        if now >= until {
            let ids: Vec<&str> = still.iter().map(|(id, _)| id.as_str()).collect();
            let waited = limit.unwrap_or_else(|| started.elapsed()).as_secs();
            return Err(Exit(
                6,
                format!(
                    "gave up waiting after {waited}s: approval {} is still pending (wait longer \
                     with --approval-timeout)",
                    ids.join(", ")
                ),
            ));
        }
        tokio::time::sleep(pause.min(until - now)).await;
        pending = still;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approval_timeouts_read_as_durations_or_seconds() {
        for (text, secs) in [
            ("90", 90),
            ("90s", 90),
            ("10m", 600),
            ("1h", 3600),
            ("0", 0),
        ] {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for bad in ["", "ten", "5x", "-3s", "m"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_approval_reads_as_what_it_asks_and_who_asked() {
        let secret = json!({
            "action": "secret.read", "target_type": "secret", "target_id": "v/prod/db",
            "requester_type": "agent", "requester_id": "a1",
            "summary": {"vault_name": "production", "path": "prod/db", "permission": "read",
                        "requester": {"type": "agent", "id": "a1", "name": "deploy-bot"}},
        });
        assert_eq!(what(&secret), "read prod/db in production");
        assert_eq!(requester(&secret), "deploy-bot");
        let declared = json!({
            "action": "deploy", "target_type": "service", "target_id": "api",
            "requester_type": "agent", "requester_id": "a1", "summary": {"env": "prod"},
        });
        assert_eq!(what(&declared), "deploy service api");
        assert_eq!(requester(&declared), "agent a1");
    }
}
