//! Walks every `*.rs` file of the workspace and fails when secret material gets a way out other
//! than `expose_secret()`: a `Display`, `Serialize`, `Deref`, `AsRef`, `Borrow` or `From` impl or
//! derive on `SecretValue`/`Password`/`BearerSecret`, a second type of one of those names (the
//! kind of non-zeroizing copy the dashboard once had), or a public inner field (outside this
//! crate the private field is what makes reading it, instead of calling `expose_secret()`, a
//! compile error).

use std::path::{Path, PathBuf};

const SEALED: [&str; 3] = ["SecretValue", "Password", "BearerSecret"];
/// Traits that, implemented for a material type, hand its text to someone else.
const WAYS_OUT: [&str; 6] = ["Display", "Serialize", "Deref", "AsRef", "Borrow", "Into<"];
const HOME: &str = "api/src/material.rs";

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Byte offsets where `word` occurs as a whole identifier.
fn word_at(text: &str, word: &str) -> Vec<usize> {
    text.match_indices(word)
        .map(|(i, _)| i)
        .filter(|&i| {
            let before = text[..i].chars().next_back().is_none_or(|c| !is_ident(c));
            let after = text[i + word.len()..]
                .chars()
                .next()
                .is_none_or(|c| !is_ident(c));
            before && after
        })
        .collect()
}

/// Whether `trait_name` occurs in `s` as a trait (so `Serialize` does not match `Deserialize`).
fn names_trait(s: &str, trait_name: &str) -> bool {
    if trait_name.ends_with('<') {
        return s.contains(trait_name);
    }
    !word_at(s, trait_name).is_empty()
}

/// Every problem in one file's text; `path` is relative to the workspace root.
fn violations(path: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for name in SEALED {
        for at in word_at(text, name) {
            let before = &text[..at];
            // The item header or attribute block this occurrence belongs to: back to the
            // previous `{`, `}` or `;`.
            let start = before.rfind(['{', '}', ';']).map_or(0, |i| i + 1);
            let head = &before[start..];
            let line = text[..at].lines().count();
            if let Some(imp) = head.rfind("impl") {
                let header = head[imp..].trim_end();
                let trait_for_this = header.ends_with("for");
                if trait_for_this && WAYS_OUT.iter().any(|way| names_trait(header, way)) {
                    out.push(format!("{path}:{line}: `{header} {name}` is a way out"));
                }
                if header.ends_with("From<") {
                    out.push(format!("{path}:{line}: `{header}{name}>` is a way out"));
                }
            }
            let defines = head.trim_end().ends_with("struct") || head.trim_end().ends_with("enum");
            if defines {
                if path != HOME {
                    out.push(format!(
                        "{path}:{line}: a second `{name}` type; use talon_api::{name}"
                    ));
                }
                if let Some(d) = head.find("derive(") {
                    for way in ["Debug", "Serialize", "Deref"] {
                        if names_trait(&head[d..], way) {
                            out.push(format!("{path}:{line}: `{name}` derives {way}"));
                        }
                    }
                }
                let rest = &text[at + name.len()..];
                if rest.trim_start().starts_with("(pub") {
                    out.push(format!("{path}:{line}: `{name}`'s inner field is public"));
                }
            }
        }
    }
    // Inside the material module the types are made by macros: check the template too.
    if path == HOME && text.contains("(pub ") {
        out.push(format!("{path}: a material type has a public field"));
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type().unwrap().is_dir() {
            if !(name.starts_with('.') || name.starts_with("target") || name == "node_modules") {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_secret_material_type_has_a_way_out_but_expose_secret() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let this_file = Path::new(file!()).file_name().unwrap();
    let mut checked = Vec::new();
    let mut problems = Vec::new();
    for file in files.iter().filter(|f| f.file_name() != Some(this_file)) {
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(file).unwrap();
        problems.extend(violations(&rel, &text));
        checked.push(rel);
    }
    for must in [
        HOME,
        "core/src/material.rs",
        "server/src/rest/mod.rs",
        "app/src/session.rs",
    ] {
        assert!(checked.iter().any(|c| c == must), "the walk missed {must}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_catches_each_way_out() {
    let bad: &[(&str, &str)] = &[
        ("core/src/x.rs", "impl fmt::Display for SecretValue { }"),
        (
            "core/src/x.rs",
            "impl serde::Serialize\n    for Password {}",
        ),
        ("core/src/x.rs", "impl std::ops::Deref for BearerSecret { }"),
        ("core/src/x.rs", "impl From<SecretValue> for String { }"),
        (
            "app/src/x.rs",
            "#[derive(Clone)]\npub struct Password(String);",
        ),
        (
            "api/src/material.rs",
            "#[derive(Serialize)]\npub struct SecretValue(Zeroizing<String>);",
        ),
        (
            "api/src/material.rs",
            "pub struct BearerSecret(pub Zeroizing<String>);",
        ),
    ];
    for (path, text) in bad {
        assert!(!violations(path, text).is_empty(), "missed: {text}");
    }
    let fine: &[(&str, &str)] = &[
        (
            "core/src/x.rs",
            "impl<'de> Deserialize<'de> for Password { }",
        ),
        ("core/src/x.rs", "impl Serialize for PasswordInput { }"),
        ("core/src/x.rs", "impl fmt::Debug for SecretValue { }"),
        (
            "core/src/x.rs",
            "fn f(v: &SecretValue) -> String { format!(\"{}\", v.expose_secret()) }",
        ),
        (
            "core/src/x.rs",
            "#[derive(Serialize)]\nstruct View { secret_type: String }\nfn g(p: Password) {}",
        ),
    ];
    for (path, text) in fine {
        assert_eq!(violations(path, text), Vec::<String>::new(), "{text}");
    }
}
