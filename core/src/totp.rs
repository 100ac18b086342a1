//! RFC 6238 TOTP (SHA-1, 6 digits, 30 s) and RFC 4648 base32, for MFA.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per step.
pub const STEP_S: i64 = 30;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Base32 without padding.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buf = (buf << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The 6-digit code for a time step.
pub fn code_at(seed: &[u8], step: i64) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(seed).expect("any key length");
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    format!("{:06}", bin % 1_000_000)
}

/// The step (within ±1 of now) whose code matches, if any. Comparison is constant-time.
pub fn matching_step(seed: &[u8], code: &str, now_s: i64) -> Option<i64> {
    use subtle::ConstantTimeEq;
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = now_s.div_euclid(STEP_S);
    (now - 1..=now + 1).find(|&s| bool::from(code_at(seed, s).as_bytes().ct_eq(code.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, 8-digit codes truncated to the last 6 digits.
        let seed = b"12345678901234567890";
        for (t, code8) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(code_at(seed, t / STEP_S), code8[2..]);
        }
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }

    #[test]
    fn accepts_one_step_of_skew_only() {
        let seed = b"12345678901234567890";
        let now = 1_000_000_000;
        let prev = code_at(seed, now / STEP_S - 1);
        assert_eq!(matching_step(seed, &prev, now), Some(now / STEP_S - 1));
        let old = code_at(seed, now / STEP_S - 2);
        assert_eq!(matching_step(seed, &old, now), None);
        assert_eq!(matching_step(seed, "abcdef", now), None);
    }
}
