//! Policy evaluation: one pure function from the policies on a vault, the caller's standing and
//! the request to a decision. Deny by default.

use crate::error::Error;
use crate::secret_path::PathPattern;
use serde_json::Value;
use std::net::IpAddr;

pub use talon_api::{Effect, Permission};

/// Parses a permission named in a request or a stored policy; otherwise a 400 naming
/// `permissions` that lists the accepted names.
pub fn parse_permission(s: &str) -> Result<Permission, Error> {
    Permission::parse(s).map_err(|_| {
        Error::invalid(
            "permissions",
            format!("Unknown permission '{s}' (expected read, write, delete, rotate or use)"),
        )
    })
}

/// Parses a policy effect; otherwise a 400 naming `effect`.
pub fn parse_effect(s: &str) -> Result<Effect, Error> {
    Effect::parse(s).map_err(|_| Error::invalid("effect", "effect must be 'allow' or 'deny'"))
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `a.b.c.d` (a /32), or the IPv6 forms.
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = s.parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside the network; IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    /// The normalised network: host bits cleared, prefix always written.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let net = match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        };
        write!(f, "{net}/{}", self.prefix)
    }
}

/// A daily time window in an IANA time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    after_min: u32,
    before_min: u32,
    /// Bit 0 = Monday … bit 6 = Sunday.
    days: u8,
    tz: chrono_tz::Tz,
}

impl TimeWindow {
    fn contains(&self, now_ms: i64) -> bool {
        use chrono::{Datelike, TimeZone, Timelike};
        let Some(local) = self.tz.timestamp_millis_opt(now_ms).single() else {
            return false;
        };
        let minute_of_day = local.hour() * 60 + local.minute();
        let weekday = local.weekday().num_days_from_monday() as u8;
        if self.days & (1 << weekday) == 0 {
            return false;
        }
        if self.after_min <= self.before_min {
            (self.after_min..self.before_min).contains(&minute_of_day)
        } else {
            minute_of_day >= self.after_min || minute_of_day < self.before_min
        }
    }
}

/// The conditions object of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// Networks the caller's IP must be in; empty means any address.
    pub ip_allowlist: Vec<Cidr>,
    /// Times of day and week when the policy applies; `None` means always.
    pub time_window: Option<TimeWindow>,
    /// A person must approve each request the policy allows before it proceeds.
    pub require_approval: Option<ApprovalRule>,
}

/// How long an approval lets the approved request through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Exactly one request.
    Once,
    /// The same request, repeatedly, for this many seconds after the approval.
    For(i64),
}

/// The `require_approval` condition: who approves, how many of them, and what an approval
/// grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRule {
    /// The users who may approve; empty means the vault's administrators.
    pub approvers: Vec<String>,
    /// How many distinct approvers must approve (1 to 5).
    pub min_approvals: i64,
    /// What an approval lets through.
    pub grant: Grant,
    /// The risk tier (1 to 3); from 2 an approver confirms with a password or TOTP code.
    pub risk_tier: i64,
}

impl ApprovalRule {
    fn parse(v: &Value) -> Result<Self, String> {
        let o = v.as_object().ok_or("require_approval must be an object")?;
        for k in o.keys() {
            if !matches!(
                k.as_str(),
                "approvers" | "min_approvals" | "grant" | "risk_tier"
            ) {
                return Err(format!("Unknown require_approval field '{k}'"));
            }
        }
        let mut approvers = Vec::new();
        match o.get("approvers") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for a in list {
                    let id = a
                        .as_str()
                        .filter(|s| uuid::Uuid::parse_str(s).is_ok())
                        .ok_or("require_approval.approvers must be a list of user ids")?;
                    if !approvers.iter().any(|x| x == id) {
                        approvers.push(id.to_owned());
                    }
                }
                if approvers.len() > 20 {
                    return Err("require_approval.approvers may list at most 20 users".into());
                }
            }
            Some(_) => return Err("require_approval.approvers must be a list of user ids".into()),
        }
        let int = |k: &str, lo: i64, hi: i64, default: i64| match o.get(k) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v.as_i64().filter(|n| (lo..=hi).contains(n)).ok_or(format!(
                "require_approval.{k} must be an integer from {lo} to {hi}"
            )),
        };
        let min_approvals = int("min_approvals", 1, 5, 1)?;
        if !approvers.is_empty() && (approvers.len() as i64) < min_approvals {
            return Err("require_approval.min_approvals is more than the approvers listed".into());
        }
        let grant = match o.get("grant") {
            None | Some(Value::Null) => Grant::Once,
            Some(Value::String(s)) if s == "once" => Grant::Once,
            Some(Value::Object(g)) if g.len() == 1 && g.contains_key("for_seconds") => {
                match g["for_seconds"].as_i64() {
                    Some(n) if (1..=7 * 86_400).contains(&n) => Grant::For(n),
                    _ => {
                        return Err("require_approval.grant.for_seconds must be 1 to 604800".into())
                    }
                }
            }
            Some(_) => {
                return Err(
                    "require_approval.grant must be \"once\" or {\"for_seconds\": N}".into(),
                )
            }
        };
        Ok(ApprovalRule {
            approvers,
            min_approvals,
            grant,
            risk_tier: int("risk_tier", 1, 3, 2)?,
        })
    }
}

impl Conditions {
    /// Parses and validates a conditions object; unknown keys are an error because a condition
    /// Talon cannot evaluate must not silently allow.
    pub fn parse(v: &Value) -> Result<Self, Error> {
        let bad = |why: String| Error::invalid("conditions", why);
        let obj = match v {
            Value::Null => return Ok(Conditions::default()),
            Value::Object(o) => o,
            _ => return Err(bad("conditions must be an object".into())),
        };
        let mut out = Conditions::default();
        for (k, v) in obj {
            match k.as_str() {
                "ip_allowlist" => {
                    let list = v
                        .as_array()
                        .ok_or_else(|| bad("ip_allowlist must be a list of CIDRs".into()))?;
                    for item in list {
                        let s = item.as_str().unwrap_or_default();
                        out.ip_allowlist.push(
                            Cidr::parse(s)
                                .ok_or_else(|| bad(format!("'{s}' is not a valid IP or CIDR")))?,
                        );
                    }
                }
                "time_window" => out.time_window = Some(parse_time_window(v).map_err(bad)?),
                "require_approval" => {
                    out.require_approval = Some(ApprovalRule::parse(v).map_err(bad)?)
                }
                other => return Err(bad(format!("Unknown condition '{other}'"))),
            }
        }
        Ok(out)
    }

    fn hold(&self, now_ms: i64, ip: Option<IpAddr>) -> bool {
        let ip_ok = self.ip_allowlist.is_empty()
            || ip.is_some_and(|ip| self.ip_allowlist.iter().any(|c| c.contains(ip)));
        let time_ok = self.time_window.as_ref().is_none_or(|w| w.contains(now_ms));
        ip_ok && time_ok
    }
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn parse_time_window(v: &Value) -> Result<TimeWindow, String> {
    let o = v.as_object().ok_or("time_window must be an object")?;
    for k in o.keys() {
        if !matches!(k.as_str(), "after" | "before" | "timezone" | "days") {
            return Err(format!("Unknown time_window field '{k}'"));
        }
    }
    let time = |k: &str| {
        o.get(k)
            .and_then(Value::as_str)
            .and_then(parse_hhmm)
            .ok_or(format!("time_window.{k} must be HH:MM"))
    };
    let tz_name = o.get("timezone").and_then(Value::as_str).unwrap_or("UTC");
    let tz: chrono_tz::Tz = tz_name
        .parse()
        .map_err(|_| format!("time_window.timezone '{tz_name}' is not an IANA time zone"))?;
    let mut days = 0u8;
    match o.get("days") {
        None | Some(Value::Null) => days = 0x7f,
        Some(Value::Array(list)) => {
            for d in list {
                let idx = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                    .iter()
                    .position(|n| Some(*n) == d.as_str())
                    .ok_or("time_window.days entries are mon..sun")?;
                days |= 1 << idx;
            }
        }
        Some(_) => return Err("time_window.days must be a list".into()),
    }
    Ok(TimeWindow {
        after_min: time("after")?,
        before_min: time("before")?,
        days,
        tz,
    })
}

/// One policy as the evaluator sees it.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The secret paths the policy covers.
    pub pattern: PathPattern,
    /// What it allows or denies; `write` also covers `delete` and `rotate`, `read` covers
    /// `use`.
    pub permissions: Vec<Permission>,
    /// Whether a match allows or denies.
    pub effect: Effect,
    /// When the policy stops applying, unix milliseconds; `None` never expires.
    pub expires_at_ms: Option<i64>,
    /// Extra conditions (IP allowlist, time window) that must hold for the rule to apply.
    pub conditions: Conditions,
}

impl Rule {
    fn covers(&self, p: Permission) -> bool {
        self.permissions.iter().any(|&q| {
            q == p
                || (q == Permission::Write && matches!(p, Permission::Delete | Permission::Rotate))
                || (q == Permission::Read && p == Permission::Use)
        })
    }

    fn applies(&self, req: &Request<'_>) -> bool {
        self.expires_at_ms.is_none_or(|e| e > req.now_ms)
            && self.pattern.matches(req.path)
            && self.conditions.hold(req.now_ms, req.ip)
            && self.covers(req.permission)
    }
}

/// The request being decided.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The secret path requested.
    pub path: &'a str,
    /// The permission requested.
    pub permission: Permission,
    /// The time of the request, unix milliseconds.
    pub now_ms: i64,
    /// The caller's address, when known.
    pub ip: Option<IpAddr>,
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request may proceed.
    Allow,
    /// The request may proceed once a person approves it, as the rule at this index of the
    /// evaluated rules requires.
    NeedsApproval(usize),
    /// The request is refused.
    Deny,
}

/// Decides a request: a matching `deny` wins (even over a vault administrator), then a matching
/// `allow` without conditions on approval, then a matching `allow` that requires one (which
/// also holds for a vault administrator: the gate is deliberate), then the
/// vault-administrator bypass, else deny.
pub fn evaluate(rules: &[Rule], is_vault_admin: bool, req: &Request<'_>) -> Decision {
    let matching = || rules.iter().enumerate().filter(|(_, r)| r.applies(req));
    if matching().any(|(_, r)| r.effect == Effect::Deny) {
        return Decision::Deny;
    }
    let mut gated = None;
    for (i, r) in matching().filter(|(_, r)| r.effect == Effect::Allow) {
        if r.conditions.require_approval.is_none() {
            return Decision::Allow;
        }
        gated.get_or_insert(i);
    }
    if let Some(i) = gated {
        return Decision::NeedsApproval(i);
    }
    if is_vault_admin {
        return Decision::Allow;
    }
    Decision::Deny
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_771_416_000_000; // 2026-02-18T12:00:00Z, a Wednesday

    fn rule(pattern: &str, perms: &[&str], effect: Effect) -> Rule {
        Rule {
            pattern: PathPattern::parse(pattern).unwrap(),
            permissions: perms
                .iter()
                .map(|p| Permission::parse(p).unwrap())
                .collect(),
            effect,
            expires_at_ms: None,
            conditions: Conditions::default(),
        }
    }

    fn req(path: &str, permission: Permission) -> Request<'_> {
        Request {
            path,
            permission,
            now_ms: NOW,
            ip: Some("10.0.0.7".parse().unwrap()),
        }
    }

    #[test]
    fn decisions_follow_the_contract() {
        use Decision::*;
        use Permission::*;
        let read_api = rule("api-keys/*", &["read"], Effect::Allow);
        let write_all = rule("**", &["write"], Effect::Allow);
        let deny_prod = rule("prod/**", &["read"], Effect::Deny);
        let mut expired = rule("**", &["read"], Effect::Allow);
        expired.expires_at_ms = Some(NOW - 1);
        type Case<'a> = (&'a str, Vec<Rule>, bool, &'a str, Permission, Decision);
        let cases: Vec<Case> = vec![
            (
                "no policies deny by default",
                vec![],
                false,
                "a",
                Read,
                Deny,
            ),
            (
                "glob match allows",
                vec![read_api.clone()],
                false,
                "api-keys/openai",
                Read,
                Allow,
            ),
            (
                "outside glob denied",
                vec![read_api.clone()],
                false,
                "db/password",
                Read,
                Deny,
            ),
            (
                "read does not grant write",
                vec![read_api.clone()],
                false,
                "api-keys/openai",
                Write,
                Deny,
            ),
            (
                "write implies delete",
                vec![write_all.clone()],
                false,
                "x",
                Delete,
                Allow,
            ),
            (
                "write implies rotate",
                vec![write_all.clone()],
                false,
                "x",
                Rotate,
                Allow,
            ),
            (
                "write does not imply read",
                vec![write_all.clone()],
                false,
                "x",
                Read,
                Deny,
            ),
            ("admin bypass", vec![], true, "x", Read, Allow),
            (
                "deny beats admin",
                vec![deny_prod.clone()],
                true,
                "prod/db",
                Read,
                Deny,
            ),
            (
                "deny beats allow",
                vec![rule("**", &["read"], Effect::Allow), deny_prod],
                false,
                "prod/db",
                Read,
                Deny,
            ),
            (
                "read implies use",
                vec![read_api.clone()],
                false,
                "api-keys/openai",
                Use,
                Allow,
            ),
            (
                "use does not imply read",
                vec![rule("**", &["use"], Effect::Allow)],
                false,
                "x",
                Read,
                Deny,
            ),
            (
                "use alone allows use",
                vec![rule("**", &["use"], Effect::Allow)],
                false,
                "x",
                Use,
                Allow,
            ),
            (
                "a read deny also denies use",
                vec![
                    rule("**", &["use"], Effect::Allow),
                    rule("prod/**", &["read"], Effect::Deny),
                ],
                false,
                "prod/db",
                Use,
                Deny,
            ),
            (
                "expired policy ignored",
                vec![expired],
                false,
                "x",
                Read,
                Deny,
            ),
        ];
        for (name, rules, admin, path, perm, want) in cases {
            assert_eq!(evaluate(&rules, admin, &req(path, perm)), want, "{name}");
        }
    }

    #[test]
    fn ip_allowlist_limits_the_policy() {
        let mut r = rule("**", &["read"], Effect::Allow);
        r.conditions = Conditions::parse(&json!({"ip_allowlist": ["10.0.0.0/24"]})).unwrap();
        assert_eq!(
            evaluate(&[r.clone()], false, &req("a", Permission::Read)),
            Decision::Allow
        );
        let mut other = req("a", Permission::Read);
        other.ip = Some("192.0.2.1".parse().unwrap());
        assert_eq!(evaluate(&[r.clone()], false, &other), Decision::Deny);
        other.ip = None;
        assert_eq!(evaluate(&[r], false, &other), Decision::Deny);
    }

    #[test]
    fn time_window_limits_the_policy() {
        let mut r = rule("**", &["read"], Effect::Allow);
        r.conditions = Conditions::parse(
            &json!({"time_window": {"after": "08:00", "before": "20:00", "days": ["wed"]}}),
        )
        .unwrap();
        assert_eq!(
            evaluate(&[r.clone()], false, &req("a", Permission::Read)),
            Decision::Allow
        );
        let mut night = req("a", Permission::Read);
        night.now_ms = NOW + 9 * 3_600_000; // 21:00
        assert_eq!(evaluate(&[r.clone()], false, &night), Decision::Deny);
        let mut thursday = req("a", Permission::Read);
        thursday.now_ms = NOW + 86_400_000;
        assert_eq!(evaluate(&[r], false, &thursday), Decision::Deny);
    }

    #[test]
    fn time_window_uses_the_named_time_zone() {
        // 12:00 UTC on a Wednesday is 21:00 in Tokyo and 07:00 in New York (EST).
        let tokyo = parse_time_window(
            &json!({"after": "20:00", "before": "22:00", "timezone": "Asia/Tokyo"}),
        )
        .unwrap();
        assert!(tokyo.contains(NOW));
        let ny = parse_time_window(
            &json!({"after": "09:00", "before": "17:00", "timezone": "America/New_York"}),
        )
        .unwrap();
        assert!(!ny.contains(NOW));
        assert!(ny.contains(NOW + 3 * 3_600_000));
    }

    #[test]
    fn wrapping_time_window_spans_midnight() {
        let w = parse_time_window(&json!({"after": "22:00", "before": "06:00"})).unwrap();
        assert!(w.contains(NOW - 12 * 3_600_000 + 23 * 3_600_000)); // 23:00
        assert!(!w.contains(NOW)); // 12:00
    }

    #[test]
    fn an_approval_gated_allow_needs_approval_unless_a_plain_allow_also_matches() {
        let mut gated = rule("prod/**", &["read"], Effect::Allow);
        gated.conditions = Conditions::parse(
            &json!({"require_approval": {"min_approvals": 2, "approvers": [
                "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
            ], "grant": {"for_seconds": 60}}}),
        )
        .unwrap();
        let rule_of = gated.conditions.require_approval.clone().unwrap();
        assert_eq!(rule_of.min_approvals, 2);
        assert_eq!(rule_of.grant, Grant::For(60));
        assert_eq!(rule_of.risk_tier, 2);
        let read = req("prod/db", Permission::Read);
        assert_eq!(
            evaluate(&[gated.clone()], false, &read),
            Decision::NeedsApproval(0)
        );
        assert_eq!(
            evaluate(&[gated.clone()], true, &read),
            Decision::NeedsApproval(0)
        );
        let plain = rule("**", &["read"], Effect::Allow);
        assert_eq!(
            evaluate(&[gated.clone(), plain], false, &read),
            Decision::Allow
        );
        let deny = rule("prod/**", &["read"], Effect::Deny);
        assert_eq!(
            evaluate(&[gated.clone(), deny], false, &read),
            Decision::Deny
        );
        assert_eq!(
            evaluate(&[gated], false, &req("dev/db", Permission::Read)),
            Decision::Deny
        );
    }

    #[test]
    fn malformed_approval_conditions_are_rejected() {
        for bad in [
            json!({"require_approval": true}),
            json!({"require_approval": {"min_approvals": 0}}),
            json!({"require_approval": {"min_approvals": 6}}),
            json!({"require_approval": {"approvers": ["not-a-uuid"]}}),
            json!({"require_approval": {"approvers": ["00000000-0000-4000-8000-000000000001"], "min_approvals": 2}}),
            json!({"require_approval": {"grant": "twice"}}),
            json!({"require_approval": {"grant": {"for_seconds": 0}}}),
            json!({"require_approval": {"risk_tier": 4}}),
            json!({"require_approval": {"quorum": 2}}),
        ] {
            assert!(Conditions::parse(&bad).is_err(), "{bad}");
        }
        let once = Conditions::parse(&json!({"require_approval": {}})).unwrap();
        assert_eq!(once.require_approval.unwrap().grant, Grant::Once);
    }

    #[test]
    fn unknown_or_malformed_conditions_are_rejected() {
        for bad in [
            json!({"geo": "eu"}),
            json!({"ip_allowlist": ["300.1.1.1"]}),
            json!({"ip_allowlist": "10.0.0.0/8"}),
            json!({"time_window": {"after": "25:00", "before": "01:00"}}),
            json!({"time_window": {"after": "01:00", "before": "02:00", "timezone": "Mars/Base"}}),
            json!([1]),
        ] {
            assert!(Conditions::parse(&bad).is_err(), "{bad}");
        }
        assert_eq!(
            Conditions::parse(&json!({})).unwrap(),
            Conditions::default()
        );
    }

    #[test]
    fn cidr_matching_handles_v4_v6_and_mapped() {
        let c = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(c.contains("203.0.113.9".parse().unwrap()));
        assert!(c.contains("::ffff:203.0.113.9".parse().unwrap()));
        assert!(!c.contains("203.0.114.9".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
    }
}
