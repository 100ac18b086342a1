//! Time as the domain sees it: unix milliseconds in storage, RFC 3339 on the wire.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the unix epoch, now.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Formats unix milliseconds as RFC 3339 in UTC with `Z`.
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Parses any RFC 3339 time into unix milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_milliseconds() {
        let ms = 1_771_416_000_123;
        assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        assert!(rfc3339(ms).ends_with('Z'));
    }

    #[test]
    fn parse_accepts_offsets() {
        assert_eq!(
            parse_rfc3339("2026-02-18T13:00:00+01:00"),
            parse_rfc3339("2026-02-18T12:00:00Z")
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
