//! Secret material. Every type here holds its text in a [`Zeroizing`] box (wiped on drop),
//! prints `[redacted]` under `Debug`, and has no `Display`. [`SecretValue`], [`Password`] and
//! [`BearerSecret`] have no `Serialize` either: the one way to the text is `expose_secret()`,
//! called on the last line that needs it (a response field that must carry one is written with
//! [`expose_value`] or [`expose_bearer`], which call it). They implement `Deserialize`, so a request body can
//! be parsed straight into them without an unwrapped `String` in between.
//!
//! The two `*Input` types exist only because a Leptos server function's arguments must be
//! `Serialize` on the browser side: they carry what was typed into a form to the server, and
//! offer no way to the text except turning into the material type.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use zeroize::Zeroizing;

macro_rules! material {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// Takes ownership of the text; it is zeroized when the value drops.
            pub fn new(text: String) -> Self {
                $name(Zeroizing::new(text))
            }

            /// The text. Call it on the last line that needs it, and never log, format or
            /// store what it returns.
            pub fn expose_secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            /// Always `[redacted]`, whatever the text.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
            }
        }

        impl<'de> Deserialize<'de> for $name {
            /// Reads a JSON (or form) string straight into the zeroizing box.
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map($name::new)
            }
        }
    };
}

material! {
    /// A secret's plaintext value (what a vault stores and a read returns).
    ///
    /// Formatting it with `{}` does not compile:
    ///
    /// ```compile_fail,E0277
    /// let v = talon_api::SecretValue::new("sk-live-123".to_owned());
    /// let leaked = format!("{}", v);
    /// ```
    ///
    /// and neither does serialising it:
    ///
    /// ```compile_fail,E0277
    /// let v = talon_api::SecretValue::new("sk-live-123".to_owned());
    /// let leaked = serde_json::to_string(&v);
    /// ```
    SecretValue
}

material! {
    /// A password or share passphrase as typed by a human.
    ///
    /// ```compile_fail,E0277
    /// let p = talon_api::Password::new("Correct-Horse-9!".to_owned());
    /// let leaked = format!("{}", p);
    /// ```
    Password
}

material! {
    /// A bearer credential: an access token, a personal `1ck_` or agent `ocv_` API key, a
    /// refresh token, or a one-time email or device token.
    ///
    /// ```compile_fail,E0277
    /// let t = talon_api::BearerSecret::new("1ck_abc".to_owned());
    /// let leaked = format!("{}", t);
    /// ```
    BearerSecret
}

macro_rules! form_input {
    ($(#[$doc:meta])* $name:ident => $material:ident, $(#[$into_doc:meta])* $into:ident) => {
        $(#[$doc])*
        #[derive(Clone, Default)]
        pub struct $name(Zeroizing<String>);

        impl $name {
            $(#[$into_doc])*
            pub fn $into(mut self) -> $material {
                $material::new(std::mem::take(&mut *self.0))
            }
        }

        impl From<String> for $name {
            /// Wraps typed text (for the browser side that builds the server-function call).
            fn from(text: String) -> Self {
                $name(Zeroizing::new(text))
            }
        }

        impl fmt::Debug for $name {
            /// Always `[redacted]`, whatever the text.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
            }
        }

        impl Serialize for $name {
            /// The plain string, as the form field held it: only for sending a server-function
            /// argument from the browser to the server.
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            /// Reads the form field (or JSON string) straight into the zeroizing box.
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map(Self::from)
            }
        }
    };
}

form_input! {
    /// A password or passphrase form field, used only as a Leptos server-function argument
    /// (whose arguments must be `Serialize` in the browser). Zeroized on drop, `Debug` is
    /// `[redacted]`, no `Display`; the server turns it into a [`Password`] with
    /// [`PasswordInput::into_password`] and uses nothing else.
    PasswordInput => Password,
    /// The typed password, moved (not copied) into a [`Password`].
    into_password
}

form_input! {
    /// A secret-value form field, used only as a Leptos server-function argument (whose
    /// arguments must be `Serialize` in the browser). Zeroized on drop, `Debug` is
    /// `[redacted]`, no `Display`; the server turns it into a [`SecretValue`] with
    /// [`SecretValueInput::into_secret_value`] and uses nothing else.
    SecretValueInput => SecretValue,
    /// The typed value, moved (not copied) into a [`SecretValue`].
    into_secret_value
}

/// Writes a [`SecretValue`] into a response body being serialised (`#[serde(serialize_with)]`
/// on the one field of a read response that carries the plaintext). The value goes through
/// `expose_secret()` straight into the serialiser; nothing else is copied.
pub fn expose_value<S: Serializer>(v: &SecretValue, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.expose_secret())
}

/// Writes a [`BearerSecret`] into a response body being serialised (`#[serde(serialize_with)]`
/// on the field of a sign-in or key-creation response that hands the credential over once).
pub fn expose_bearer<S: Serializer>(v: &BearerSecret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.expose_secret())
}

/// Writes a [`Password`] into a request body being serialised (a client's sign-in call).
pub fn expose_password<S: Serializer>(v: &Password, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.expose_secret())
}

/// [`expose_bearer`] for an optional credential (`null` when absent).
pub fn expose_bearer_opt<S: Serializer>(v: &Option<BearerSecret>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(v.expose_secret()),
        None => s.serialize_none(),
    }
}

/// [`expose_value`] for an optional value (`null` when absent).
pub fn expose_value_opt<S: Serializer>(v: &Option<SecretValue>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(v.expose_secret()),
        None => s.serialize_none(),
    }
}

/// [`expose_value`] for a `name → value` map (an env-var resolve), in key order.
pub fn expose_value_map<S: Serializer>(
    m: &std::collections::BTreeMap<String, SecretValue>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut out = s.serialize_map(Some(m.len()))?;
    for (k, v) in m {
        out.serialize_entry(k, v.expose_secret())?;
    }
    out.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_material() {
        let cases = [
            format!("{:?}", SecretValue::new("sk-live-123".into())),
            format!("{:?}", Password::new("pw".into())),
            format!("{:?}", BearerSecret::new("1ck_abc".into())),
            format!("{:?}", PasswordInput::from("pw".to_owned())),
            format!("{:?}", SecretValueInput::from("sk".to_owned())),
            format!("{:?}", Some(SecretValue::new("inner".into()))),
        ];
        for printed in cases {
            assert!(!printed.contains("sk") && !printed.contains("pw") && !printed.contains("1ck"));
            assert!(printed.contains("[redacted]"), "{printed}");
        }
    }

    #[test]
    fn request_bodies_parse_into_material() {
        #[derive(Deserialize)]
        struct Body {
            api_key: BearerSecret,
            password: Password,
            value: SecretValue,
        }
        let b: Body =
            serde_json::from_str(r#"{"api_key":"1ck_x","password":"p\"w","value":"v"}"#).unwrap();
        assert_eq!(b.api_key.expose_secret(), "1ck_x");
        assert_eq!(b.password.expose_secret(), "p\"w");
        assert_eq!(b.value.expose_secret(), "v");
    }

    #[test]
    fn form_inputs_round_trip_as_plain_strings_and_become_material() {
        let sent =
            serde_json::to_string(&PasswordInput::from("Correct-Horse-9!".to_owned())).unwrap();
        assert_eq!(sent, "\"Correct-Horse-9!\"");
        let received: PasswordInput = serde_json::from_str(&sent).unwrap();
        assert_eq!(received.into_password().expose_secret(), "Correct-Horse-9!");

        let value: SecretValueInput = serde_json::from_str("\"sk-live\"").unwrap();
        assert_eq!(value.into_secret_value().expose_secret(), "sk-live");
        assert_eq!(PasswordInput::default().into_password().expose_secret(), "");
    }
}
