//! The closed word lists of the API contract. Each enum's `as_str()` is its wire string (in JSON
//! bodies, the database and the audit log), `parse()`/`FromStr` accepts exactly those strings
//! (case-sensitive, no trimming), serde reads and writes the same strings, and `ALL` lists every
//! variant once, in a fixed order (the one the dashboard shows and error messages list).

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A string that is not one of a vocabulary's words. Carries which vocabulary, never the
/// rejected text (callers that may echo it have it already).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownName {
    /// The vocabulary, in words: `secret type`, `scope`, `permission`, `effect`, `role`,
    /// `principal type`.
    pub kind: &'static str,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {}", self.kind)
    }
}

impl std::error::Error for UnknownName {}

macro_rules! vocabulary {
    (
        $(#[$doc:meta])*
        $name:ident, $kind:literal {
            $( $(#[$vdoc:meta])* $variant:ident => $wire:literal, )+
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vdoc])* $variant, )+
        }

        impl $name {
            /// Every variant, once, in a fixed order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            const NAMES: &'static [&'static str] = &[$($wire),+];

            /// The wire string.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }

            /// The variant whose wire string is exactly `s`.
            pub fn parse(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(UnknownName { kind: $kind }),
                }
            }

            /// The wire strings of [`Self::ALL`], joined with `sep` (for messages that list them).
            pub fn joined(sep: &str) -> String {
                Self::NAMES.join(sep)
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                $name::parse(s)
            }
        }

        impl fmt::Display for $name {
            /// The wire string.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&s).map_err(|_| de::Error::unknown_variant(&s, Self::NAMES))
            }
        }
    };
}

vocabulary! {
    /// What kind of material a secret holds; chosen on write, shown in lists, and `env_bundle`
    /// changes how the CLI and MCP read it.
    SecretType, "secret type" {
        /// Anything else (the default).
        Generic => "generic",
        /// A password.
        Password => "password",
        /// An API key or token for another service.
        ApiKey => "api_key",
        /// A private key (PEM or similar).
        PrivateKey => "private_key",
        /// A certificate.
        Certificate => "certificate",
        /// A file's contents.
        File => "file",
        /// A free-text note.
        Note => "note",
        /// An SSH private key.
        SshKey => "ssh_key",
        /// `KEY=value` lines (see [`crate::env_bundle`]).
        EnvBundle => "env_bundle",
    }
}

vocabulary! {
    /// A scope a personal API key may carry; a key with scopes may call only the operations
    /// whose scope it lists (`*` or no scopes at all means no narrowing, and is not a `Scope`).
    Scope, "scope" {
        /// List and view vaults (and their policies and key status).
        VaultsRead => "vaults:read",
        /// Create, change and delete vaults; rotate their keys.
        VaultsWrite => "vaults:write",
        /// Read secret values.
        SecretsRead => "secrets:read",
        /// Write, rotate and delete secrets.
        SecretsWrite => "secrets:write",
        /// Create, change and delete policies.
        PoliciesWrite => "policies:write",
        /// List and view agents.
        AgentsRead => "agents:read",
        /// Create, change, delete agents and rotate their keys.
        AgentsWrite => "agents:write",
        /// Create and revoke shares.
        SharesWrite => "shares:write",
        /// Read the audit log.
        AuditRead => "audit:read",
        /// Read plan, usage and invoices.
        BillingRead => "billing:read",
        /// Read the org, its members and IP rules.
        OrgRead => "org:read",
        /// Change the org: invite and remove members, roles, IP rules.
        OrgWrite => "org:write",
    }
}

vocabulary! {
    /// What a request wants to do with a secret path; policies grant or withhold these.
    Permission, "permission" {
        /// Read the value.
        Read => "read",
        /// Write a new version.
        Write => "write",
        /// Delete the secret.
        Delete => "delete",
        /// Rotate (generate a new value).
        Rotate => "rotate",
        /// Have the value injected into a request made for the caller (a binding's
        /// execution, the local broker) without receiving it; `read` includes it.
        Use => "use",
    }
}

vocabulary! {
    /// Whether a policy grants or withholds its permissions; a matching deny beats any allow.
    Effect, "effect" {
        /// Grants the permissions.
        Allow => "allow",
        /// Withholds the permissions, whatever else allows them.
        Deny => "deny",
    }
}

vocabulary! {
    /// A human's role in their org.
    Role, "role" {
        /// Full control, including billing and granting the owner role.
        Owner => "owner",
        /// Administers every vault and member of the org, but cannot make owners.
        Admin => "admin",
        /// Sees what policies and vault membership give them.
        Member => "member",
    }
}

impl Role {
    /// Owners and admins administer every vault of the org.
    pub const fn is_org_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

vocabulary! {
    /// Who a principal is: a human user or an agent (a machine identity with its own key).
    PrincipalKind, "principal type" {
        /// A human signed in with a password, Google, a session or a personal API key.
        User => "user",
        /// An agent authenticated with its `ocv_` key.
        Agent => "agent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T>(
        all: &[T],
        as_str: fn(T) -> &'static str,
        parse: fn(&str) -> Result<T, UnknownName>,
    ) where
        T: Copy + PartialEq + fmt::Debug + Serialize + for<'de> Deserialize<'de>,
    {
        for &v in all {
            assert_eq!(parse(as_str(v)), Ok(v));
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{}\"", as_str(v)));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), v);
        }
    }

    #[test]
    fn every_word_round_trips_through_parse_and_serde() {
        round_trips(SecretType::ALL, SecretType::as_str, SecretType::parse);
        round_trips(Scope::ALL, Scope::as_str, Scope::parse);
        round_trips(Permission::ALL, Permission::as_str, Permission::parse);
        round_trips(Effect::ALL, Effect::as_str, Effect::parse);
        round_trips(Role::ALL, Role::as_str, Role::parse);
        round_trips(
            PrincipalKind::ALL,
            PrincipalKind::as_str,
            PrincipalKind::parse,
        );
    }

    #[test]
    fn wire_strings_are_the_contract() {
        assert_eq!(
            SecretType::joined(","),
            "generic,password,api_key,private_key,certificate,file,note,ssh_key,env_bundle"
        );
        assert_eq!(
            Scope::joined(","),
            "vaults:read,vaults:write,secrets:read,secrets:write,policies:write,agents:read,\
             agents:write,shares:write,audit:read,billing:read,org:read,org:write"
        );
        assert_eq!(Permission::joined(","), "read,write,delete,rotate,use");
        assert_eq!(Effect::joined(","), "allow,deny");
        assert_eq!(Role::joined(","), "owner,admin,member");
        assert_eq!(PrincipalKind::joined(","), "user,agent");
    }

    #[test]
    fn near_misses_are_refused() {
        for s in ["", "Read", " read", "read ", "*", "vaults:*", "READ"] {
            assert!(Permission::parse(s).is_err(), "{s:?}");
            assert!(Scope::parse(s).is_err(), "{s:?}");
        }
        assert_eq!(
            Scope::parse("vault:read"),
            Err(UnknownName { kind: "scope" })
        );
        assert!(serde_json::from_str::<Effect>("\"maybe\"").is_err());
        assert!("owner".parse::<Role>().unwrap().is_org_admin());
        assert!(!Role::Member.is_org_admin());
    }
}
