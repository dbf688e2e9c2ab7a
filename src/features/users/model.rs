//! The user record as the flows see it, the bounded display name, and the user object
//! every answer shows.

use serde::Serialize;
use utoipa::ToSchema;

use crate::kernel::email::redact_email;
use crate::kernel::ids::{rfc3339, UnixSeconds, UserId};

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
    /// 2FA is on: a confirmed TOTP factor (the column `mfa` writes with it).
    pub mfa_enabled: bool,
    /// How many passkeys the user holds (the column `passkeys` writes with them).
    pub passkey_count: i64,
    /// The providers linked to the account (`google`, ...; the column `oauth` writes).
    pub identity_providers: Vec<String>,
}

impl User {
    /// Whether the account has a password (not one signed up by a passkey or a provider).
    pub fn has_password(&self) -> bool {
        !self.password_hash.is_empty()
    }

    /// The credentials the account holds (sessions.md §1): `password`, `passkey`, then
    /// the linked providers.
    pub fn sign_in_methods(&self) -> Vec<String> {
        let password = self.has_password().then(|| "password".to_owned());
        let passkey = (self.passkey_count > 0).then(|| "passkey".to_owned());
        password
            .into_iter()
            .chain(passkey)
            .chain(self.identity_providers.iter().cloned())
            .collect()
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &redact_email(&self.email))
            .field("email_verified", &self.email_verified)
            .finish_non_exhaustive()
    }
}

/// The user object of the contract: never a hash or a code.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub id: String,
    pub email: String,
    pub full_name: Option<String>,
    pub email_verified: bool,
    /// RFC 3339, UTC.
    #[schema(example = "2026-11-24T03:00:00Z")]
    pub created_at: String,
    /// Role names; always holds `user`.
    #[schema(example = json!(["user"]))]
    pub roles: Vec<String>,
    /// Whether a TOTP second factor is confirmed.
    pub mfa_enabled: bool,
    /// The credentials the account holds, of `password`, `passkey`, `google`, `github`, `microsoft`.
    #[schema(example = json!(["password"]))]
    pub sign_in_methods: Vec<String>,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.0.clone(),
            email: user.email.clone(),
            full_name: user.full_name.clone(),
            email_verified: user.email_verified,
            created_at: rfc3339(user.created_at),
            // No other role exists yet.
            roles: vec!["user".to_owned()],
            mfa_enabled: user.mfa_enabled,
            sign_in_methods: user.sign_in_methods(),
        }
    }
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

    #[test]
    fn sign_in_methods_list_the_password_then_passkeys_then_providers() {
        let world = crate::kernel::testing::TestWorld::new(&[]);
        let mut user = crate::features::users::testing::create_user(&world, "ada@example.com", true);
        assert_eq!(user.sign_in_methods(), ["password"]);
        world.query(&format!(
            "UPDATE users SET passkey_count = 2, identity_providers = 'github,google', password_hash = '' \
             WHERE id = '{}' RETURNING id",
            user.id.0
        ));
        user = pollster::block_on(crate::features::users::Users(&world.db).by_id(&user.id))
            .unwrap()
            .unwrap();
        assert_eq!(user.sign_in_methods(), ["passkey", "github", "google"]);
        assert_eq!(UserBody::from(&user).sign_in_methods, ["passkey", "github", "google"]);
    }
}
