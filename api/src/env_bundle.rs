//! The env-bundle grammar (what an `env_bundle` secret holds, what `talon env push` reads from a
//! `.env` file, what MCP's `get_env_bundle` returns): `KEY=value` lines. Blank lines, lines
//! starting with `#` and lines without `=` are skipped; the key is everything before the first
//! `=` and the value everything after it, after trimming the whole line; later duplicates win.
//! No quote stripping and no `export` handling (the oneclaw rules).

use crate::SecretValue;

/// The bundle's entries, each key once, in the order keys first appear (a later duplicate
/// replaces the value but keeps the first position). Values are [`SecretValue`]s.
pub fn parse(text: &str) -> Vec<(String, SecretValue)> {
    let mut out: Vec<(String, SecretValue)> = Vec::new();
    for line in text.split('\n').map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            let value = SecretValue::new(value.to_owned());
            match out.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = value,
                None => out.push((key.to_owned(), value)),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_bundle_parsing_follows_the_one_claw_rules() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("A=1\nB=2", &[("A", "1"), ("B", "2")]),
            ("  # comment\n\nA=x=y\nnoequals\n", &[("A", "x=y")]),
            (
                "A=\"quoted\"\nexport B=1",
                &[("A", "\"quoted\""), ("export B", "1")],
            ),
            ("A=1\nA=2", &[("A", "2")]),
            ("B=1\r\nA=2\nB=3", &[("B", "3"), ("A", "2")]),
            ("=orphan\n  K = v  ", &[("", "orphan"), ("K ", " v")]),
            ("", &[]),
        ];
        for (input, want) in cases {
            let parsed = parse(input);
            let got: Vec<(&str, &str)> = parsed
                .iter()
                .map(|(k, v)| (k.as_str(), v.expose_secret()))
                .collect();
            assert_eq!(got, *want, "{input:?}");
        }
    }
}
