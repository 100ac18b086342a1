//! Where a webhook may point: the URL rules (https, plain http only when allowed, no
//! credentials) and the address classifier that keeps deliveries away from private, loopback,
//! link-local, unique-local, CGNAT, unspecified, multicast and cloud-metadata addresses unless
//! the operator allows them. Deliveries resolve the host, check every address and connect to a
//! checked one only ([`resolve`]), so a name that changes its answer between the check and the
//! connection (DNS rebinding) cannot reach a refused address.

use crate::error::{Error, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Longest URL accepted.
const MAX_URL_LEN: usize = 2048;
/// Deadline of one host lookup.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// What the operator allows webhooks to reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetRules {
    /// Plain `http://` URLs (`TALON_ALLOW_HTTP_WEBHOOKS`).
    pub allow_http: bool,
    /// Destinations on refused addresses (`TALON_ALLOW_PRIVATE_WEBHOOKS`).
    pub allow_private: bool,
}

/// A webhook URL that passed the URL rules (not yet the address check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as it will be requested.
    pub url: reqwest::Url,
    /// Its host name or address literal (without IPv6 brackets).
    pub host: String,
    /// Its port (the scheme's default when absent).
    pub port: u16,
}

fn bad_url(reason: &str) -> Error {
    Error::invalid("url", reason.to_owned())
}

/// Checks `url` against the URL rules. The message never echoes the input.
pub fn parse(url: &str, rules: TargetRules) -> Result<Target> {
    let url = url.trim();
    if url.is_empty() || url.len() > MAX_URL_LEN {
        return Err(bad_url(
            "url must be an absolute https URL of at most 2048 characters",
        ));
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|_| bad_url("url must be an absolute https URL"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if rules.allow_http => {}
        "http" => {
            return Err(bad_url(
                "url must use https (plain http is allowed only when the server sets TALON_ALLOW_HTTP_WEBHOOKS=true)",
            ))
        }
        _ => return Err(bad_url("url must use https")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad_url("url must not carry credentials"));
    }
    let host = match parsed.host_str() {
        Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']').to_owned(),
        _ => return Err(bad_url("url must name a host")),
    };
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| bad_url("url must name a port or use https"))?;
    Ok(Target {
        url: parsed,
        host,
        port,
    })
}

/// Whether deliveries must not reach `ip` unless private destinations are allowed: private,
/// loopback, link-local (which holds the cloud metadata address 169.254.169.254),
/// unique-local (which holds fd00:ec2::254), CGNAT, unspecified, multicast, broadcast and
/// reserved addresses, including IPv4 addresses embedded in IPv6 (mapped, compatible, NAT64,
/// 6to4). Pure.
pub fn is_refused(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => refused_v4(a),
        IpAddr::V6(a) => refused_v6(a),
    }
}

fn refused_v4(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    a.is_private()
        || a.is_loopback()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_multicast()
        || a.is_broadcast()
        || o0 == 0 // "this network"
        || (o0 == 100 && (64..128).contains(&o1)) // CGNAT 100.64.0.0/10
        || (o0 == 192 && o1 == 0 && o2 == 0) // IETF protocol assignments
        || (o0 == 198 && (o1 == 18 || o1 == 19)) // benchmarking 198.18.0.0/15
        || o0 >= 240 // reserved
}

fn refused_v6(a: Ipv6Addr) -> bool {
    let s = a.segments();
    if a.is_loopback() || a.is_unspecified() || a.is_multicast() {
        return true;
    }
    // Unique-local fc00::/7, link-local fe80::/10, the deprecated site-local fec0::/10.
    if (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xffc0) == 0xfec0 {
        return true;
    }
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // IPv4-mapped ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d.
    if s[..5].iter().all(|&x| x == 0) && (s[5] == 0xffff || s[5] == 0) {
        return refused_v4(embedded(s[6], s[7]));
    }
    // NAT64 64:ff9b::/96.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0) {
        return refused_v4(embedded(s[6], s[7]));
    }
    // 6to4 2002:a.b.c.d::/48.
    if s[0] == 0x2002 {
        return refused_v4(embedded(s[1], s[2]));
    }
    false
}

/// Why a destination was refused; the message names the setting and never the address.
fn refused() -> Error {
    bad_url(
        "url resolves to a private, loopback, link-local or otherwise internal address (allowed only when the server sets TALON_ALLOW_PRIVATE_WEBHOOKS=true)",
    )
}

/// Resolves the target's host (an address literal stands for itself) and checks every
/// address it resolves to; returns the address to connect to. Refused when any address is
/// refused (unless private destinations are allowed) or when the host does not resolve.
pub async fn resolve(target: &Target, rules: TargetRules) -> Result<SocketAddr> {
    match resolve_checked(&target.host, target.port, rules.allow_private).await {
        Ok(addr) => Ok(addr),
        Err(Unreachable::NoAddress) => Err(bad_url("url's host does not resolve")),
        Err(Unreachable::Refused) => Err(refused()),
    }
}

/// Why [`resolve_checked`] found no address to connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// The host does not resolve (or not within the lookup deadline).
    NoAddress,
    /// It resolves to at least one refused address.
    Refused,
}

/// Resolves `host` (an address literal stands for itself) once and checks every address it
/// resolves to with [`is_refused`] unless `allow_private`; the first address otherwise. The
/// caller connects to that address only, so DNS rebinding cannot move it afterwards.
pub async fn resolve_checked(
    host: &str,
    port: u16,
    allow_private: bool,
) -> std::result::Result<SocketAddr, Unreachable> {
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => {
            let lookup = tokio::net::lookup_host((host, port));
            match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
                Ok(Ok(it)) => it.collect(),
                _ => Vec::new(),
            }
        }
    };
    let first = *addrs.first().ok_or(Unreachable::NoAddress)?;
    if !allow_private && addrs.iter().any(|a| is_refused(a.ip())) {
        return Err(Unreachable::Refused);
    }
    Ok(first)
}

/// [`parse`] then [`resolve`]: the check made when a webhook is created or its URL changed.
pub async fn check(url: &str, rules: TargetRules) -> Result<Target> {
    let target = parse(url, rules)?;
    resolve(&target, rules).await?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused() {
        for a in [
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "127.8.9.10",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.170",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "fd12:3456::1",
            "ff02::1",
            "fec0::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert!(is_refused(ip), "{a} should be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.0.1",
            "172.32.0.1",
            "192.169.0.1",
            "169.253.1.1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert!(!is_refused(ip), "{a} should be allowed");
        }
    }

    #[test]
    fn urls_must_be_https_unless_http_is_allowed() {
        let strict = TargetRules::default();
        let http_ok = TargetRules {
            allow_http: true,
            ..strict
        };
        assert!(parse("https://example.com/hook", strict).is_ok());
        assert!(parse("http://example.com/hook", strict).is_err());
        assert!(parse("http://example.com/hook", http_ok).is_ok());
        for bad in [
            "",
            "example.com/hook",
            "ftp://example.com/",
            "file:///etc/passwd",
            "https://user:pw@example.com/",
            "https://user@example.com/",
            "javascript:alert(1)",
        ] {
            let e = parse(bad, http_ok).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::Invalid {
                        field: Some("url"),
                        ..
                    }
                ),
                "{bad:?}: {e:?}"
            );
        }
        let t = parse("https://[fd00:ec2::254]:8443/x", strict).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("fd00:ec2::254", 8443));
        assert_eq!(parse("https://example.com", strict).unwrap().port, 443);
    }

    #[tokio::test]
    async fn address_literals_are_checked_and_allowed_only_with_the_flag() {
        let strict = TargetRules {
            allow_http: true,
            allow_private: false,
        };
        let open = TargetRules {
            allow_http: true,
            allow_private: true,
        };
        for url in [
            "http://127.0.0.1:9/hook",
            "http://169.254.169.254/latest/meta-data/",
            "https://[fd00:ec2::254]/",
            "https://[::1]/",
            "http://0.0.0.0/",
        ] {
            assert!(check(url, strict).await.is_err(), "{url}");
            assert!(check(url, open).await.is_ok(), "{url}");
        }
        let t = parse("http://127.0.0.1:9/hook", open).unwrap();
        assert_eq!(
            resolve(&t, open).await.unwrap(),
            "127.0.0.1:9".parse::<SocketAddr>().unwrap()
        );
        // `localhost` resolves to loopback only.
        assert!(check("http://localhost:9/", strict).await.is_err());
    }
}
