//! Users: the record every capability shares (`User`, `FullName`, the user object), the
//! `users` table and its store, and password hashing (bcrypt, with the dummy hash that
//! makes an unknown email cost as much as a wrong password) and the notice that a
//! password changed. No routes of its own:
//! registration and profile changes are `accounts`, login is `sessions`.

mod model;
pub mod passwords;
mod store;
#[cfg(test)]
pub mod testing;

pub use model::{FullName, InvalidFullName, User, UserBody, MAX_FULL_NAME_CHARS};
pub use store::{
    account_at, exists, insert, mark_email_verified, register, registered, set_email, set_password_hash, Registered,
    UserRow, Users, WriteUserError, NO_PASSWORD, PING,
};

use crate::kernel::config::{invalid, Config, ConfigError, Vars};
use crate::kernel::feature::Feature;
use crate::kernel::mail::{Mail, MailKind};
use crate::mail_kind;

pub const PASSWORD_CHANGED: MailKind = mail_kind!("password_changed", "Your {{app_name}} password was changed");

/// Told to the owner whenever the password changes (by them, or by a reset).
pub fn password_changed(to: &str) -> Mail {
    Mail::new(&PASSWORD_CHANGED, to)
}

/// bcrypt's own bounds; below 10 is only sensible for tests.
const BCRYPT_COST_RANGE: std::ops::RangeInclusive<u32> = 4..=31;

/// `BCRYPT_COST`: the work factor of new hashes (older ones are rehashed at login).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsersSettings {
    pub bcrypt_cost: u32,
}

fn settings(vars: &Vars<'_>, _: &Config) -> Result<Box<dyn std::any::Any>, ConfigError> {
    let bcrypt_cost = vars.number::<u32>("BCRYPT_COST", 12)?;
    if !BCRYPT_COST_RANGE.contains(&bcrypt_cost) {
        return Err(invalid("BCRYPT_COST", format!("{bcrypt_cost} is outside 4..=31")));
    }
    Ok(Box::new(UsersSettings { bcrypt_cost }))
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(UserBody)))]
struct Doc;

pub const FEATURE: Feature = Feature {
    name: "users",
    routes: &[],
    limits: &[],
    mails: &[&PASSWORD_CHANGED],
    settings: Some(settings),
    housekeeping: &[],
    sign_in_completed: None,
    second_factors: &[],
    startup: None,
    #[cfg(not(target_arch = "wasm32"))]
    openapi: <Doc as utoipa::OpenApi>::openapi,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bcrypt_cost_is_bounded_and_named() {
        for bad in ["3", "32", "twelve"] {
            let read = |name: &str| match name {
                "BCRYPT_COST" => Some(bad.to_owned()),
                _ => None,
            };
            let err = settings(&Vars::new(&read), &crate::kernel::config::test_config()).unwrap_err();
            assert!(err.to_string().contains("BCRYPT_COST"), "{bad}: {err}");
        }
        let read = |_: &str| None;
        let section = settings(&Vars::new(&read), &crate::kernel::config::test_config()).unwrap();
        assert_eq!(section.downcast_ref::<UsersSettings>().unwrap().bcrypt_cost, 12);
    }

    #[test]
    fn the_password_notice_renders() {
        crate::kernel::mail::assert_renders_completely(&password_changed("ada@example.com"));
    }
}
