//! The TOTP secret: 20 random bytes, shown once as base32 (RFC 4648, upper case, no
//! padding: 32 characters) and in an `otpauth://` URI; at rest only sealed.

use crate::kernel::secrets::random_bytes;

pub const SECRET_BYTES: usize = 20;

/// A shared TOTP secret. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(pub [u8; SECRET_BYTES]);

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        random_bytes(&mut bytes);
        Self(bytes)
    }

    /// Bytes as they came out of storage: exactly 20 of them.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// RFC 4648 base32, upper case, without padding (20 bytes are exactly 32 characters).
    pub fn base32(&self) -> String {
        base32(&self.0, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    }
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// Base32 with `alphabet`, no padding, 5 bits per character, most significant first.
pub fn base32(bytes: &[u8], alphabet: &[u8; 32]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(alphabet[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(alphabet[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// `otpauth://totp/<issuer>:<account>?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30`,
/// label and issuer percent-encoded (RFC 3986: everything but the unreserved characters).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &TotpSecret) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm=SHA1&digits={}&period={}",
        percent_encode(account),
        secret.base32(),
        super::totp::DIGITS,
        super::totp::STEP_SECONDS,
    )
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_follows_rfc_4648() {
        const UPPER: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        // RFC 4648 §10, without the padding.
        let vectors = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base32(plain.as_bytes(), UPPER), encoded, "{plain:?}");
        }
        assert_eq!(
            TotpSecret(*b"12345678901234567890").base32(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
    }

    #[test]
    fn a_fresh_secret_is_32_base32_characters_and_never_printed() {
        let secret = TotpSecret::generate();
        let text = secret.base32();
        assert_eq!(text.len(), 32);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
        assert_ne!(secret, TotpSecret::generate());
        assert_eq!(format!("{secret:?}"), "TotpSecret(<redacted>)");
        assert_eq!(TotpSecret::from_bytes(&[0; 19]), None);
    }

    #[test]
    fn the_uri_percent_encodes_label_and_issuer() {
        let secret = TotpSecret(*b"12345678901234567890");
        assert_eq!(
            otpauth_uri("Auth System", "ada+x@example.com", &secret),
            "otpauth://totp/Auth%20System:ada%2Bx%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Auth%20System&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(percent_encode("a:b/é"), "a%3Ab%2F%C3%A9");
    }
}
