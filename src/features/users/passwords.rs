//! bcrypt hashing, with a dummy hash so an unknown email costs as much as a wrong password.

use std::sync::OnceLock;

use crate::kernel::password::MAX_PASSWORD_BYTES;

#[derive(Debug, thiserror::Error)]
#[error("bcrypt failed: {0}")]
pub struct HashError(String);

pub fn hash(password: &str, cost: u32) -> Result<String, HashError> {
    bcrypt::hash(password, cost).map_err(|e| HashError(e.to_string()))
}

/// True only for a well-formed `$2a$`, `$2b$`, `$2x$` or `$2y$` hash of `password`.
/// Passwords over bcrypt's 72 bytes never match: they cannot have been set here, and
/// checking a truncated prefix would accept passwords the user never chose. Whatever the
/// reason for a `false` (over-long password, no usable hash, wrong password), it costs one
/// bcrypt check at `cost` or at the hash's own: the time does not tell the reasons apart.
pub fn verify(password: &str, hash: &str, cost: u32) -> bool {
    if password.len() > MAX_PASSWORD_BYTES || cost_of(hash).is_none() {
        verify_dummy(password, cost);
        return false;
    }
    bcrypt::verify(password, hash).unwrap_or(false)
}

/// The cost a stored hash was made with, e.g. 12 for `$2b$12$...`.
pub fn cost_of(hash: &str) -> Option<u32> {
    let mut parts = hash.split('$');
    let (_, variant, cost) = (parts.next()?, parts.next()?, parts.next()?);
    matches!(variant, "2a" | "2b" | "2x" | "2y").then_some(())?;
    cost.parse().ok()
}

/// Spends the same bcrypt work as checking a real password, for logins whose email is
/// unknown: the answer's timing then does not tell which emails have accounts.
pub fn verify_dummy(password: &str, cost: u32) {
    static DUMMY: OnceLock<(u32, String)> = OnceLock::new();
    let (dummy_cost, dummy_hash) =
        DUMMY.get_or_init(|| (cost, hash("dummy password for timing", cost).unwrap_or_default()));
    debug_assert_eq!(*dummy_cost, cost, "the configured cost is fixed per isolate");
    let _ = bcrypt::verify(password.get(..MAX_PASSWORD_BYTES).unwrap_or(password), dummy_hash);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_report_their_cost() {
        let h = hash("correct horse battery", 4).unwrap();
        assert!(verify("correct horse battery", &h, 4));
        assert!(!verify("correct horse batterY", &h, 4));
        assert_eq!(cost_of(&h), Some(4));
    }

    #[test]
    fn foreign_prefixes_verify() {
        // The same hash under each prefix another bcrypt implementation may have written.
        let h = hash("correct horse battery", 5).unwrap();
        for prefix in ["$2a$", "$2y$", "$2b$"] {
            let foreign = format!("{prefix}{}", &h[4..]);
            assert!(verify("correct horse battery", &foreign, 5), "{prefix}");
            assert_eq!(cost_of(&foreign), Some(5));
        }
    }

    #[test]
    fn malformed_hashes_and_overlong_passwords_never_match() {
        assert!(!verify("anything at all", "not-a-hash", 4));
        assert!(!verify("anything at all", super::super::NO_PASSWORD, 4));
        assert_eq!(cost_of("$argon2id$v=19$..."), None);
        let long = "a".repeat(80);
        let h = hash(&long[..72], 4).unwrap();
        assert!(
            !verify(&long, &h, 4),
            "a 73+ byte password must not match its 72-byte prefix"
        );
    }
}
