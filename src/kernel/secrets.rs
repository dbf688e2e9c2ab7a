//! One-time secrets (six-digit codes, opaque link tokens) and how they are kept at rest.
//!
//! Only an HMAC-SHA256 digest of a secret is ever stored, keyed with a key derived from
//! `SECRET_KEY`: a leaked database then reveals no usable code or token, and the six-digit
//! codes cannot be brute-forced offline without the key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

pub const CODE_DIGITS: usize = 6;
/// 256 random bits; the contract asks for at least 128.
const OPAQUE_TOKEN_BYTES: usize = 32;
const OPAQUE_TOKEN_CHARS: usize = 43; // base64url without padding of 32 bytes

/// Fills `buf` from the platform CSPRNG (crypto.getRandomValues in a Worker).
pub fn random_bytes(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the platform CSPRNG is unavailable");
}

/// A six-digit code, uniformly drawn from the CSPRNG.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationCode(String);

impl VerificationCode {
    pub fn generate() -> Self {
        const RANGE: u32 = 1_000_000;
        // Rejection sampling: accept only values below the largest multiple of RANGE,
        // so every code is equally likely (no modulo bias).
        let limit = u32::MAX - (u32::MAX % RANGE);
        loop {
            let mut buf = [0u8; 4];
            random_bytes(&mut buf);
            let value = u32::from_le_bytes(buf);
            if value < limit {
                return Self(format!("{:06}", value % RANGE));
            }
        }
    }

    /// Exactly six ASCII digits, surrounding white space ignored.
    pub fn parse(raw: &str) -> Option<Self> {
        let code = raw.trim();
        (code.len() == CODE_DIGITS && code.bytes().all(|b| b.is_ascii_digit())).then(|| Self(code.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for VerificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerificationCode(<redacted>)")
    }
}

/// An opaque token handed out in a link (a password reset, say): 256 random bits, base64url.
#[derive(Clone, PartialEq, Eq)]
pub struct OpaqueToken(String);

impl OpaqueToken {
    pub fn generate() -> Self {
        let mut buf = [0u8; OPAQUE_TOKEN_BYTES];
        random_bytes(&mut buf);
        Self(URL_SAFE_NO_PAD.encode(buf))
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let token = raw.trim();
        (token.len() == OPAQUE_TOKEN_CHARS
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| Self(token.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueToken(<redacted>)")
    }
}

/// Computes the at-rest digest of one-time secrets.
#[derive(Clone)]
pub struct SecretDigester {
    key: Vec<u8>,
}

impl SecretDigester {
    /// Derives its own key from the service secret, so the JWT key is never reused as is.
    pub fn new(secret_key: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret_key).expect("HMAC takes any key length");
        mac.update(b"edge-auth one-time secret digest v1");
        Self {
            key: mac.finalize().into_bytes().to_vec(),
        }
    }

    /// Hex digest of `secret`, bound to its purpose (`verify_email`, ...) and (for codes)
    /// to its user, so a code for one purpose or user never works for another.
    pub fn digest(&self, purpose: &str, subject: &str, secret: &str) -> String {
        hex(&self.mac(purpose, subject, secret))
    }

    /// The 32 bytes `digest` writes in hex, for values that must be bytes (the decoy
    /// passkey ids of an address, stable and unguessable).
    pub fn mac(&self, purpose: &str, subject: &str, secret: &str) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in [purpose, subject, secret] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }
}

impl SecretDigester {
    /// A stable pseudonym for `value` (an email, say), for counter names that must not
    /// reveal who they count.
    pub fn pseudonym(&self, value: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"pseudonym\0");
        mac.update(value.as_bytes());
        hex(&mac.finalize().into_bytes()[..16])
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// A random UUID (version 4) in its usual hyphenated form.
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    random_bytes(&mut b);
    uuid_text(b, 4)
}

/// `xxxxxxxx-xxxx-Vxxx-yxxx-xxxxxxxxxxxx` of 16 bytes, with RFC 9562's version `V` and
/// variant bits set, written in one pass.
pub fn uuid_text(mut b: [u8; 16], version: u8) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    b[6] = (b[6] & 0x0f) | (version << 4);
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut out = Vec::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        out.push(DIGITS[(byte >> 4) as usize]);
        out.push(DIGITS[(byte & 0xf) as usize]);
    }
    String::from_utf8(out).expect("hex digits and dashes are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: Vec<String> = (0..50)
            .map(|_| VerificationCode::generate().expose().to_owned())
            .collect();
        assert!(codes
            .iter()
            .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())));
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert!(distinct.len() > 40, "codes repeat too often: {distinct:?}");
    }

    #[test]
    fn code_parsing_rejects_everything_but_six_digits() {
        for bad in ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", "12 456"] {
            assert!(VerificationCode::parse(bad).is_none(), "{bad:?}");
        }
        assert!(VerificationCode::parse(" 012345 ").is_some());
    }

    #[test]
    fn opaque_tokens_carry_256_bits_and_round_trip() {
        let token = OpaqueToken::generate();
        assert_eq!(token.expose().len(), OPAQUE_TOKEN_CHARS);
        assert_eq!(OpaqueToken::parse(token.expose()), Some(token.clone()));
        assert!(OpaqueToken::parse("short").is_none());
        assert!(OpaqueToken::parse(&"+".repeat(OPAQUE_TOKEN_CHARS)).is_none());
    }

    #[test]
    fn digests_depend_on_key_purpose_subject_and_secret() {
        let a = SecretDigester::new(b"k1");
        let b = SecretDigester::new(b"k2");
        let base = a.digest("verify_email", "user-1", "123456");
        assert_eq!(base.len(), 64);
        assert_ne!(base, b.digest("verify_email", "user-1", "123456"));
        assert_ne!(base, a.digest("change_email", "user-1", "123456"));
        assert_ne!(base, a.digest("verify_email", "user-2", "123456"));
        assert_ne!(base, a.digest("verify_email", "user-1", "123457"));
        assert!(!base.contains("123456"));
    }

    #[test]
    fn uuids_are_version_4() {
        let id = random_uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    }
}
