//! Recovery codes: 10 per generation, each 10 characters of Crockford base32 in lower case
//! (50 random bits), shown as `xxxxx-xxxxx`. Only a keyed HMAC-SHA256 digest of each is
//! stored (`SecretDigester`, bound to the user): a leaked table gives no usable code, and
//! without `SECRET_KEY` not even a way to test guesses offline.

use super::secret::base32;
use crate::kernel::secrets::{random_bytes, SecretDigester};
use crate::kernel::UserId;

pub const CODES_PER_GENERATION: usize = 10;
const CODE_CHARS: usize = 10;
const CROCKFORD_LOWER: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const PURPOSE: &str = "mfa_recovery_code";
/// Longer input than this is no one's code (and is not worth hashing).
const MAX_INPUT_CHARS: usize = 64;

/// A fresh code as the user is shown it, `xxxxx-xxxxx`.
pub fn generate() -> String {
    let mut bytes = [0u8; 7];
    random_bytes(&mut bytes);
    let chars = base32(&bytes, CROCKFORD_LOWER);
    format!("{}-{}", &chars[..5], &chars[5..CODE_CHARS])
}

/// A fresh generation of distinct codes.
pub fn generation() -> Vec<String> {
    let mut codes: Vec<String> = Vec::with_capacity(CODES_PER_GENERATION);
    while codes.len() < CODES_PER_GENERATION {
        let code = generate();
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes
}

/// A `recovery_code` as presented: case is ignored and so are `-` and spaces; Crockford's
/// look-alikes read as the digits they resemble (`o` as 0, `i` and `l` as 1).
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be a recovery code (xxxxx-xxxxx)")]
pub struct InvalidRecoveryCode;

impl RecoveryCode {
    pub fn parse(raw: &str) -> Result<Self, InvalidRecoveryCode> {
        if raw.chars().count() > MAX_INPUT_CHARS {
            return Err(InvalidRecoveryCode);
        }
        let code: String = raw
            .chars()
            .filter(|c| *c != '-' && *c != ' ')
            .map(|c| match c.to_ascii_lowercase() {
                'o' => '0',
                'i' | 'l' => '1',
                other => other,
            })
            .collect();
        (!code.is_empty() && code.chars().all(|c| c.is_ascii_alphanumeric()))
            .then_some(Self(code))
            .ok_or(InvalidRecoveryCode)
    }

    /// The stored digest of this code for `user`.
    pub fn digest(&self, digester: &SecretDigester, user: &UserId) -> String {
        digester.digest(PURPOSE, &user.0, &self.0)
    }
}

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

/// The digest a generated code is stored under.
pub fn digest_of(shown: &str, digester: &SecretDigester, user: &UserId) -> String {
    RecoveryCode::parse(shown)
        .expect("a generated code parses")
        .digest(digester, user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generation_is_ten_distinct_codes_of_the_shown_shape() {
        let codes = generation();
        assert_eq!(codes.len(), 10);
        for code in &codes {
            let (left, right) = code.split_once('-').unwrap();
            assert_eq!((left.len(), right.len()), (5, 5), "{code}");
            assert!(
                code.bytes()
                    .filter(|b| *b != b'-')
                    .all(|b| CROCKFORD_LOWER.contains(&b)),
                "{code}"
            );
        }
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 10);
    }

    #[test]
    fn input_ignores_case_dashes_spaces_and_look_alikes() {
        let digester = SecretDigester::new(b"a-test-secret-key-that-is-long-enough-0123");
        let user = UserId("u1".into());
        let stored = digest_of("ab1c0-defgh", &digester, &user);
        for presented in [
            "ab1c0-defgh",
            "AB1C0-DEFGH",
            "ab1c0defgh",
            " ab1c0 defgh ",
            "abLcO-defgh",
            "abIcO-DEFGH",
        ] {
            assert_eq!(
                RecoveryCode::parse(presented).unwrap().digest(&digester, &user),
                stored,
                "{presented:?}"
            );
        }
        let other_user = UserId("u2".into());
        assert_ne!(
            digest_of("ab1c0-defgh", &digester, &other_user),
            stored,
            "bound to the user"
        );
        for bad in ["", "-----", "ab1c0_defgh", "ab1c0-défgh", &"a".repeat(65)] {
            assert_eq!(RecoveryCode::parse(bad), Err(InvalidRecoveryCode), "{bad:?}");
        }
    }
}
