//! `Password`: a candidate new password that satisfies the contract's rules.

use std::fmt;
use std::sync::OnceLock;

use super::assets::{AssetError, Assets, COMMON_PASSWORDS};

/// bcrypt reads at most 72 bytes; longer input is refused rather than silently truncated.
pub const MAX_PASSWORD_BYTES: usize = 72;
pub const MIN_PASSWORD_BYTES: usize = 8;

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
    pub fn parse(raw: &str, common: &CommonPasswords) -> Result<Self, InvalidPassword> {
        if raw.len() < MIN_PASSWORD_BYTES {
            return Err(InvalidPassword::TooShort);
        }
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(InvalidPassword::TooLong);
        }
        if common.contains(raw) {
            return Err(InvalidPassword::TooCommon);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The shipped list of common passwords (`data/common-passwords.txt`: lower case, sorted
/// bytewise, one per line), deployed as a static asset rather than carried in the bundle.
pub struct CommonPasswords(Vec<&'static str>);

impl fmt::Debug for CommonPasswords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommonPasswords({} entries)", self.0.len())
    }
}

impl CommonPasswords {
    /// The list from its file's text; unsorted text is refused, as a binary search needs order.
    pub fn parse(text: &'static str) -> Result<Self, String> {
        let entries: Vec<&'static str> = text.lines().filter(|l| !l.is_empty()).collect();
        match entries.windows(2).position(|w| w[0] >= w[1]) {
            Some(at) => Err(format!("not sorted bytewise at line {}", at + 2)),
            None => Ok(Self(entries)),
        }
    }

    /// Whether `raw` is on the list, whatever its case.
    pub fn contains(&self, raw: &str) -> bool {
        let lowered = super::text::lowercase(raw);
        self.0.binary_search(&lowered.as_str()).is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads and parses the list from the deployment's assets.
    pub async fn load(assets: &dyn Assets) -> Result<Self, AssetError> {
        let bytes = assets.read(COMMON_PASSWORDS).await?;
        let invalid = |reason: String| AssetError {
            path: COMMON_PASSWORDS.to_owned(),
            reason,
        };
        let text = String::from_utf8(bytes).map_err(|e| invalid(e.to_string()))?;
        // Read once per isolate and kept for its life.
        Self::parse(Box::leak(text.into_boxed_str())).map_err(invalid)
    }

    /// The list, loaded at the first request of an isolate that sets a password.
    pub async fn shared(assets: &dyn Assets) -> Result<&'static Self, AssetError> {
        static LIST: OnceLock<CommonPasswords> = OnceLock::new();
        if let Some(list) = LIST.get() {
            return Ok(list);
        }
        let loaded = Self::load(assets).await?;
        Ok(LIST.get_or_init(|| loaded))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> &'static CommonPasswords {
        crate::kernel::testing::common_passwords()
    }

    #[test]
    fn the_shipped_list_is_sorted_and_large_enough() {
        let list = list();
        assert!(list.len() >= 8_000, "only {} common passwords", list.len());
        assert!(
            list.0
                .iter()
                .all(|p| (MIN_PASSWORD_BYTES..=MAX_PASSWORD_BYTES).contains(&p.len())),
            "entries the length rules refuse anyway only cost bytes"
        );
        let non_ascii = list
            .0
            .iter()
            .find(|l| !l.is_ascii())
            .expect("the list has non-ASCII entries");
        assert!(list.contains(non_ascii), "{non_ascii}");
        assert!(
            list.0.iter().all(|p| p.to_lowercase() == *p),
            "lower case, as looked up"
        );
    }

    #[test]
    fn an_unsorted_list_is_refused_and_a_missing_one_is_an_asset_error() {
        assert!(CommonPasswords::parse("b\na\n").unwrap_err().contains("line 2"));
        assert!(CommonPasswords::parse("a\na\n").is_err(), "duplicates");
        let missing = crate::kernel::testing::MemoryAssets::default();
        let error = pollster::block_on(CommonPasswords::load(&missing)).err().unwrap();
        assert!(error.to_string().contains(COMMON_PASSWORDS), "{error}");
        let answer = crate::kernel::problem::ApiError::from(error);
        assert_eq!(answer.problem.status, 503);
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
            assert_eq!(Password::parse(input, list()).unwrap_err(), *expected, "{input}");
        }
        let too_long = "é".repeat(37); // 74 bytes, 37 characters
        assert_eq!(
            Password::parse(&too_long, list()).unwrap_err(),
            InvalidPassword::TooLong
        );
    }

    #[test]
    fn boundaries_are_bytes_not_characters() {
        assert!(Password::parse(&"x7".repeat(36), list()).is_ok(), "72 bytes is allowed");
        assert!(Password::parse("correct horse battery", list()).is_ok());
        assert!(Password::parse("ééééé", list()).is_ok(), "5 characters but 10 bytes");
    }

    #[test]
    fn debug_hides_the_secret() {
        let password = Password::parse("correct horse battery", list()).unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }
}
