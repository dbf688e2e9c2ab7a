//! Users, sessions and one-time tokens as the flows see them.

use super::secrets::TokenPurpose;

/// Unix time in seconds; every stored instant uses it.
pub type UnixSeconds = i64;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(pub String);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(pub String);

#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Normalised (trimmed, lower-case) address.
    pub email: String,
    pub full_name: Option<String>,
    pub password_hash: String,
    pub email_verified: bool,
    pub created_at: UnixSeconds,
    pub updated_at: UnixSeconds,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &super::email::redact_email(&self.email))
            .field("email_verified", &self.email_verified)
            .finish_non_exhaustive()
    }
}

/// A login session; a token is only as valid as its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A stored one-time secret: its digest only, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeToken {
    pub id: String,
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    pub digest: String,
    /// For an email change: the address that becomes the account's once confirmed.
    pub new_email: Option<String>,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    pub attempts: i64,
}

/// A bounded user-supplied display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullName(Option<String>);

pub const MAX_FULL_NAME_CHARS: usize = 100;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidFullName {
    #[error("full_name must be at most 100 characters")]
    TooLong,
    #[error("full_name must not contain control characters")]
    ControlCharacters,
}

impl FullName {
    /// Trimmed; an empty name clears it.
    pub fn parse(raw: &str) -> Result<Self, InvalidFullName> {
        let name = raw.trim();
        if name.chars().count() > MAX_FULL_NAME_CHARS {
            return Err(InvalidFullName::TooLong);
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidFullName::ControlCharacters);
        }
        Ok(Self((!name.is_empty()).then(|| name.to_owned())))
    }

    pub fn into_inner(self) -> Option<String> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_names_are_trimmed_bounded_and_printable() {
        assert_eq!(FullName::parse("  Ada  ").unwrap().into_inner().as_deref(), Some("Ada"));
        assert_eq!(FullName::parse("   ").unwrap().into_inner(), None);
        assert_eq!(FullName::parse(&"x".repeat(101)), Err(InvalidFullName::TooLong));
        assert_eq!(FullName::parse("a\u{0}b"), Err(InvalidFullName::ControlCharacters));
        assert!(FullName::parse(&"é".repeat(100)).is_ok());
    }
}
