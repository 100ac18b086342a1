//! Types for secret material. None of them implements `Display` or `Serialize`; `Debug` prints
//! `[redacted]`; the bytes are zeroized on drop. The text-shaped ones live in `talon-api` (the
//! browser build needs them too) and are re-exported here; [`Dek`] and [`random_bytes`] need the
//! OS random source and stay in the core.

use std::fmt;
use zeroize::{Zeroize, Zeroizing};

pub use talon_api::{BearerSecret, Password, SecretValue};

/// A 256-bit data encryption key.
pub struct Dek(Zeroizing<[u8; 32]>);

impl Dek {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(k.as_mut()).expect("OS random source");
        Dek(k)
    }
    /// Builds a key from exactly 32 bytes; the input is zeroized.
    pub fn from_bytes(mut bytes: Vec<u8>) -> Option<Self> {
        let out = if bytes.len() == 32 {
            let mut k = Zeroizing::new([0u8; 32]);
            k.copy_from_slice(&bytes);
            Some(Dek(k))
        } else {
            None
        };
        bytes.zeroize();
        out
    }
    /// A second copy of the key (zeroized on drop like the first).
    pub fn duplicate(&self) -> Self {
        Dek(Zeroizing::new(*self.0))
    }
    /// The key bytes.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Dek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Random bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).expect("OS random source");
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dek_debug_never_prints_material() {
        assert_eq!(format!("{:?}", Dek::generate()), "[redacted]");
    }

    #[test]
    fn dek_from_bytes_requires_32_bytes() {
        assert!(Dek::from_bytes(vec![1; 31]).is_none());
        assert_eq!(
            Dek::from_bytes(vec![7; 32]).unwrap().expose_secret(),
            &[7; 32]
        );
    }
}
