//! Secret paths and path patterns (globs), parsed once at the door.

use crate::error::Error;
use std::fmt;

/// A validated secret path: 1–512 chars of `A–Z a–z 0–9 _ - . /`, segments separated by single
/// `/`, starting and ending with a letter or digit, no empty, `.` or `..` segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretPath(String);

impl SecretPath {
    /// Validates `s` as a secret path; otherwise a 400 naming `path` that says what is wrong.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::invalid("path", format!("Invalid secret path: {why}"));
        if s.is_empty() || s.len() > 512 {
            return Err(bad("must be 1 to 512 characters"));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        {
            return Err(bad(
                "only letters, digits, '_', '-', '.' and '/' are allowed",
            ));
        }
        let first = s.chars().next().unwrap_or('/');
        let last = s.chars().last().unwrap_or('/');
        if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
            return Err(bad("must start and end with a letter or digit"));
        }
        if s.split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return Err(bad("empty, '.' and '..' segments are not allowed"));
        }
        Ok(SecretPath(s.to_owned()))
    }

    /// The path of a hidden secret (an env var's value): `#env/<id>`, which [`SecretPath::parse`]
    /// refuses, so no secret route can name it.
    pub(crate) fn hidden_env(id: &str) -> Self {
        SecretPath(format!("#env/{id}"))
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated path pattern: segments split on `/`; `**` alone matches zero or more segments;
/// `*` inside a segment matches any run of characters except `/`; the rest is literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern(String);

impl PathPattern {
    /// Validates `s` as a path pattern; otherwise a 400 naming `secret_path_pattern`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::invalid(
                "secret_path_pattern",
                format!("Invalid path pattern: {why}"),
            )
        };
        if s.is_empty() || s.len() > 512 {
            return Err(bad("must be 1 to 512 characters"));
        }
        for seg in s.split('/') {
            if seg.is_empty() {
                return Err(bad("empty segments are not allowed"));
            }
            if seg.contains("**") && seg != "**" {
                return Err(bad("'**' must be a whole segment"));
            }
            if seg == "." || seg == ".." {
                return Err(bad("'.' and '..' segments are not allowed"));
            }
            if !seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '*'))
            {
                return Err(bad(
                    "only letters, digits, '_', '-', '.', '*' and '/' are allowed",
                ));
            }
        }
        Ok(PathPattern(s.to_owned()))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the pattern matches the whole path.
    pub fn matches(&self, path: &str) -> bool {
        glob_match(&self.0, path)
    }
}

/// Segment-wise glob match (see [`PathPattern`]). Pure; unvalidated patterns are matched
/// literally apart from `*` and `**`.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.split('/').collect();
    let segs: Vec<&str> = path.split('/').collect();
    match_segments(&pat, &segs)
}

fn match_segments(pat: &[&str], segs: &[&str]) -> bool {
    match pat.split_first() {
        None => segs.is_empty(),
        Some((&"**", rest)) => (0..=segs.len()).any(|i| match_segments(rest, &segs[i..])),
        Some((p, rest)) => match segs.split_first() {
            Some((s, srest)) => {
                match_segment(p.as_bytes(), s.as_bytes()) && match_segments(rest, srest)
            }
            None => false,
        },
    }
}

fn match_segment(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| match_segment(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && match_segment(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_rules_match_the_contract() {
        let cases = [
            ("**", "a", true),
            ("**", "a/b/c", true),
            ("api-keys/*", "api-keys/openai", true),
            ("api-keys/*", "api-keys/a/b", false),
            ("api-keys/*", "api-keys", false),
            ("api-keys/**", "api-keys", true),
            ("api-keys/**", "api-keys/a", true),
            ("api-keys/**", "api-keys/a/b", true),
            ("api-keys/**", "other/a", false),
            ("prod-*", "prod-db", true),
            ("prod-*", "prod-", true),
            ("prod-*", "dev-db", false),
            ("prod/db", "prod/db", true),
            ("prod/db", "prod/DB", false),
            ("**/token", "a/b/token", true),
            ("**/token", "token", true),
            ("a/**/z", "a/z", true),
            ("a/**/z", "a/b/c/z", true),
            ("a/*/z", "a/b/c/z", false),
            ("*", "a/b", false),
        ];
        for (pat, path, want) in cases {
            assert_eq!(glob_match(pat, path), want, "{pat} vs {path}");
        }
    }

    #[test]
    fn path_grammar_is_enforced() {
        for ok in ["a", "api-keys/openai", "db/prod.password", "A_1/b-2"] {
            assert!(SecretPath::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "a/../b",
            "a/./b",
            "a b",
            "a/b$",
            "-a",
            "a-",
            "..",
            &"x".repeat(513),
        ] {
            assert!(SecretPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pattern_grammar_is_enforced() {
        for ok in ["**", "api-keys/*", "api-keys/**", "prod-*", "a/**/b"] {
            assert!(PathPattern::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a**", "a/**b/c", "a//b", "a/../b", "a b"] {
            assert!(PathPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
