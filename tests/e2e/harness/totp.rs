//! The tests' own TOTP (RFC 6238) generator: base32 secrets as an authenticator app reads
//! them, and HOTP (RFC 4226) on HMAC-SHA1. Checked against the RFCs' vectors in `mfa.rs`.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// RFC 4648 base32 (upper case, padding optional) to bytes; `None` for anything else.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bytes = Vec::new();
    let (mut buffer, mut bits) = (0u64, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let value = ALPHABET.iter().position(|a| *a == c)? as u64;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(bytes)
}

/// HOTP (RFC 4226) with HMAC-SHA1: `digits` decimal digits of counter `counter`.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).unwrap();
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:0width$}", binary % 10u32.pow(digits), width = digits as usize)
}

/// The 6-digit code of base32 `secret` at Unix time `now` (the bench turns 2FA on with it).
#[allow(dead_code)]
pub fn code_at(secret: &str, now: u64) -> String {
    hotp(&base32_decode(secret).expect("a base32 secret"), now / 30, 6)
}
