//! `Password`: a candidate new password that satisfies the contract's rules.

use std::fmt;
use std::sync::OnceLock;

/// bcrypt reads at most 72 bytes; longer input is refused rather than silently truncated.
pub const MAX_PASSWORD_BYTES: usize = 72;
pub const MIN_PASSWORD_BYTES: usize = 8;

/// `data/common-passwords.txt`, front-coded by `build.rs`: per entry, `b'0'` plus the number
/// of leading bytes shared with the entry before, the remaining bytes, a newline.
const COMMON_PASSWORDS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/common-passwords.front"));

/// A new password that passed the length and common-password rules. Never printed.
#[derive(Clone)]
pub struct Password(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidPassword {
    #[error("password must be at least 8 bytes")]
    TooShort,
    #[error("password must be at most 72 bytes (bcrypt's limit)")]
    TooLong,
    #[error("password is too common; choose another")]
    TooCommon,
}

impl Password {
    pub fn parse(raw: &str) -> Result<Self, InvalidPassword> {
        if raw.len() < MIN_PASSWORD_BYTES {
            return Err(InvalidPassword::TooShort);
        }
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(InvalidPassword::TooLong);
        }
        if is_common(raw) {
            return Err(InvalidPassword::TooCommon);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn common_passwords() -> &'static [Box<str>] {
    static LIST: OnceLock<Vec<Box<str>>> = OnceLock::new();
    // Sorted bytewise, as the file is, so a binary search needs no further preparation.
    LIST.get_or_init(|| decode_front_coded(COMMON_PASSWORDS))
}

fn decode_front_coded(coded: &[u8]) -> Vec<Box<str>> {
    let mut entries: Vec<Box<str>> = Vec::new();
    for line in coded.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let shared = usize::from(line[0] - b'0');
        let previous = entries.last().map_or(&b""[..], |e| e.as_bytes());
        let mut entry = Vec::with_capacity(shared + line.len() - 1);
        entry.extend_from_slice(&previous[..shared]);
        entry.extend_from_slice(&line[1..]);
        entries.push(
            String::from_utf8(entry)
                .expect("build.rs codes whole UTF-8 entries")
                .into_boxed_str(),
        );
    }
    entries
}

fn is_common(raw: &str) -> bool {
    let lowered = raw.to_lowercase();
    common_passwords()
        .binary_search_by(|entry| entry.as_ref().cmp(lowered.as_str()))
        .is_ok()
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_is_sorted_and_large_enough() {
        let list = common_passwords();
        assert!(list.len() >= 8_000, "only {} common passwords", list.len());
        assert!(
            list.iter()
                .all(|p| (MIN_PASSWORD_BYTES..=MAX_PASSWORD_BYTES).contains(&p.len())),
            "entries the length rules refuse anyway only cost bytes"
        );
        assert!(list.windows(2).all(|w| w[0] < w[1]), "list is not sorted");
    }

    #[test]
    fn the_front_coded_list_decodes_to_the_data_file() {
        let source = include_str!("../../data/common-passwords.txt");
        let decoded: Vec<&str> = common_passwords().iter().map(|e| e.as_ref()).collect();
        assert_eq!(decoded, source.lines().collect::<Vec<_>>());
        let non_ascii = source
            .lines()
            .find(|l| !l.is_ascii())
            .expect("the list has non-ASCII entries");
        assert!(is_common(non_ascii), "{non_ascii}");
    }

    #[test]
    fn rules_are_enforced_with_a_reason_each() {
        let cases: &[(&str, InvalidPassword)] = &[
            ("short", InvalidPassword::TooShort),
            ("1234567", InvalidPassword::TooShort),
            ("password", InvalidPassword::TooCommon),
            ("PassWord1", InvalidPassword::TooCommon),
            ("qwertyuiop", InvalidPassword::TooCommon),
        ];
        for (input, expected) in cases {
            assert_eq!(Password::parse(input).unwrap_err(), *expected, "{input}");
        }
        let too_long = "é".repeat(37); // 74 bytes, 37 characters
        assert_eq!(Password::parse(&too_long).unwrap_err(), InvalidPassword::TooLong);
    }

    #[test]
    fn boundaries_are_bytes_not_characters() {
        assert!(Password::parse(&"x7".repeat(36)).is_ok(), "72 bytes is allowed");
        assert!(Password::parse("correct horse battery").is_ok());
        assert!(Password::parse("ééééé").is_ok(), "5 characters but 10 bytes");
    }

    #[test]
    fn debug_hides_the_secret() {
        let password = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }
}
