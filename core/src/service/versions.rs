//! Secret versions: listing, reading one version, disabling one, and server-side rotation.

use super::audit::AuditEvent;
use super::{Core, Principal, RequestContext, SecretRead};
use crate::error::{Error, Result};
use crate::material::SecretValue;
use crate::model::SecretVersion;
use crate::policy::Permission;
use crate::secret_path::SecretPath;
use crate::store::secrets as secret_store;
use serde_json::json;
use talon_api::Scope;
use zeroize::Zeroize;

/// Alphabets for generated values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// Lowercase hexadecimal digits.
    Hex,
    /// The characters of the standard base64 alphabet, `+` and `/` included.
    Base64,
    /// ASCII letters and digits.
    Alphanumeric,
    /// Printable ASCII from `!` to `~` (no space).
    Ascii,
}

impl Charset {
    /// Reads `hex`, `base64`, `alphanumeric` or `ascii`; otherwise a 400 naming `charset`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "hex" => Ok(Charset::Hex),
            "base64" => Ok(Charset::Base64),
            "alphanumeric" => Ok(Charset::Alphanumeric),
            "ascii" => Ok(Charset::Ascii),
            _ => Err(Error::invalid(
                "charset",
                "charset must be hex, base64, alphanumeric or ascii",
            )),
        }
    }

    fn alphabet(self) -> Vec<u8> {
        match self {
            Charset::Hex => b"0123456789abcdef".to_vec(),
            Charset::Base64 => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".to_vec()
            }
            Charset::Alphanumeric => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".to_vec()
            }
            Charset::Ascii => (b'!'..=b'~').collect(),
        }
    }
}

/// `length` characters drawn uniformly from the charset with the OS CSPRNG (rejection
/// sampling, so no character is more likely than another).
pub fn generate(length: usize, charset: Charset) -> SecretValue {
    let alphabet = charset.alphabet();
    let n = alphabet.len();
    let limit = 256 - (256 % n);
    let mut out = String::with_capacity(length);
    while out.len() < length {
        let mut buf = crate::material::random_bytes::<64>();
        for &b in buf.iter() {
            if (b as usize) < limit && out.len() < length {
                out.push(alphabet[b as usize % n] as char);
            }
        }
        buf.zeroize();
    }
    SecretValue::new(out)
}

/// Options of a server-side rotation; absent fields take their defaults.
#[derive(Debug, Clone, Default)]
pub struct RotateSecret {
    /// 8–1024 characters, default 32.
    pub length: Option<i64>,
    /// `hex`, `base64`, `alphanumeric` (default) or `ascii`.
    pub charset: Option<String>,
    /// A new type; the latest version's type is kept when absent.
    pub secret_type: Option<String>,
}

impl Core {
    /// The secret at the path for a versioned operation: 404 if none was ever written, 410 if
    /// the newest one was deleted.
    async fn versioned(&self, vault_id: &str, path: &SecretPath) -> Result<String> {
        match secret_store::newest_at(self.store().pool(), vault_id, path.as_str()).await? {
            None => Err(Error::NotFound("Secret")),
            Some((_, true)) => Err(Error::Gone("Secret has been deleted".into())),
            Some((id, false)) => Ok(id),
        }
    }

    /// Metadata of every version, ascending, with `is_disabled`.
    pub async fn list_versions(
        &self,
        p: &Principal,
        vault_id: &str,
        path: &SecretPath,
        ctx: &RequestContext,
    ) -> Result<Vec<SecretVersion>> {
        p.require_scope(Scope::SecretsRead)?;
        let v = self.vault_in_org(p, vault_id).await?;
        self.authorize_path(p, &v, path.as_str(), Permission::Read, ctx)
            .await?;
        let id = self.versioned(&v.id, path).await?;
        secret_store::versions(self.store().pool(), &id).await
    }

    /// Reads one version's value (counted and audited like a latest read).
    pub async fn get_version(
        &self,
        p: &Principal,
        vault_id: &str,
        path: &SecretPath,
        version: i64,
        ctx: &RequestContext,
    ) -> Result<SecretRead> {
        p.require_scope(Scope::SecretsRead)?;
        let v = self.vault_in_org(p, vault_id).await?;
        self.authorize_path(p, &v, path.as_str(), Permission::Read, ctx)
            .await?;
        let id = self.versioned(&v.id, path).await?;
        let found = secret_store::version_for_read(self.store().pool(), &id, version)
            .await?
            .ok_or(Error::NotFound("Secret version"))?;
        self.read_found(&super::secrets::Reader::direct(p), &v, found, ctx)
            .await
    }

    /// Disables one version; idempotent.
    pub async fn disable_version(
        &self,
        p: &Principal,
        vault_id: &str,
        path: &SecretPath,
        version: i64,
        ctx: &RequestContext,
    ) -> Result<()> {
        p.require_scope(Scope::SecretsWrite)?;
        let v = self.vault_in_org(p, vault_id).await?;
        self.authorize_path(p, &v, path.as_str(), Permission::Write, ctx)
            .await?;
        let id = self.versioned(&v.id, path).await?;
        let (mut tx, head) = self.begin_audited(&v.org_id).await?;
        if !secret_store::disable_version(&mut tx, &id, version).await? {
            return Err(Error::NotFound("Secret version"));
        }
        self.write_audit(
            &mut tx,
            head,
            ctx,
            AuditEvent::by(
                p,
                "secret.version_disable",
                "secret",
                Some(id),
                json!({"vault_id": v.id, "path": path.as_str(), "version": version}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes a new version with a generated value; keeps type and metadata unless `type` is
    /// given, copies no limits, and never returns the value.
    pub async fn rotate_secret(
        &self,
        p: &Principal,
        vault_id: &str,
        path: &SecretPath,
        input: RotateSecret,
        ctx: &RequestContext,
    ) -> Result<SecretVersion> {
        let RotateSecret {
            length,
            charset,
            secret_type,
        } = input;
        p.require_scope(Scope::SecretsWrite)?;
        let length = length.unwrap_or(32);
        if !(8..=1024).contains(&length) {
            return Err(Error::invalid(
                "length",
                "length must be between 8 and 1024",
            ));
        }
        let charset = Charset::parse(charset.as_deref().unwrap_or("alphanumeric"))?;
        if let Some(t) = &secret_type {
            if talon_api::SecretType::parse(t).is_err() {
                return Err(Error::invalid("type", format!("Unknown secret type '{t}'")));
            }
        }
        let v = self.vault_in_org(p, vault_id).await?;
        self.authorize_path(p, &v, path.as_str(), Permission::Rotate, ctx)
            .await?;
        let id = match secret_store::newest_at(self.store().pool(), &v.id, path.as_str()).await? {
            Some((id, false)) => id,
            _ => return Err(Error::NotFound("Secret")),
        };
        let latest = secret_store::versions(self.store().pool(), &id)
            .await?
            .pop()
            .ok_or(Error::NotFound("Secret"))?;
        let value = generate(length as usize, charset);
        self.write_version(
            p,
            &v,
            path,
            value,
            secret_type.unwrap_or(latest.secret_type),
            latest.metadata,
            None,
            None,
            "secret.rotate",
            ctx,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_have_the_length_and_alphabet_asked_for() {
        for (cs, ok) in [
            (
                Charset::Hex,
                (|c: char| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) as fn(char) -> bool,
            ),
            (Charset::Alphanumeric, |c: char| c.is_ascii_alphanumeric()),
            (Charset::Base64, |c: char| {
                c.is_ascii_alphanumeric() || c == '+' || c == '/'
            }),
            (Charset::Ascii, |c: char| ('!'..='~').contains(&c)),
        ] {
            let v = generate(300, cs);
            assert_eq!(v.expose_secret().len(), 300);
            assert!(v.expose_secret().chars().all(ok), "{cs:?}");
        }
        assert_ne!(
            generate(32, Charset::Hex).expose_secret(),
            generate(32, Charset::Hex).expose_secret()
        );
    }

    #[test]
    fn every_hex_digit_appears_roughly_equally() {
        let v = generate(16_000, Charset::Hex);
        for d in "0123456789abcdef".chars() {
            let n = v.expose_secret().chars().filter(|c| *c == d).count();
            assert!((800..1200).contains(&n), "{d}: {n}");
        }
    }
}
