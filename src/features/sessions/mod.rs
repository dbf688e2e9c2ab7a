//! Sessions: login (JSON or the OAuth2 form) and logout, access tokens bound to a
//! server-side session, who the caller of an authenticated route is, and the account
//! lockout that makes password guessing slow.

mod api;
mod authenticate;
mod housekeeping;
mod login;
mod logout;
mod store;
mod tokens;

/// For other capabilities' tests: a login in its two halves.
#[cfg(test)]
pub mod testing {
    pub use super::login::{begin, complete};
}

pub use api::{caller, ACCESS_COOKIE};
pub use authenticate::Caller;
pub use login::{check_password, end_lockout, LoginError};
pub use store::{revoke_all_but, Session, Sessions};

use crate::handler;
use crate::kernel::config::{invalid, Config, ConfigError, Vars};
use crate::kernel::feature::{Auth, Body, Feature, LimitSpec, Route};
use crate::kernel::mail::MailKind;
use crate::kernel::problem::ProblemCode;
use crate::mail_kind;
use crate::rate_limit::LockoutPolicy;

pub const INVALID_CREDENTIALS: ProblemCode = ProblemCode::new(401, "invalid_credentials", "Invalid credentials");
pub const EMAIL_NOT_VERIFIED: ProblemCode = ProblemCode::new(403, "email_not_verified", "Email not verified");
/// A login posted from a page whose origin is not one of ours (login CSRF).
pub const FORBIDDEN_ORIGIN: ProblemCode = ProblemCode::new(403, "forbidden_origin", "Forbidden origin");

pub const LOGIN_IP: LimitSpec = LimitSpec::new("login-ip", "RATE_LIMIT_LOGIN_IP", "30/60");
/// Per account, whatever the IP; shares the account's counter with the lockout.
pub const LOGIN_ACCOUNT: LimitSpec = LimitSpec::new("login-account", "RATE_LIMIT_LOGIN_ACCOUNT", "100/3600");
/// Every authenticated request, per user.
pub const USER_API: LimitSpec = LimitSpec::new("user-api", "RATE_LIMIT_USER_API", "120/60").approximate();

pub const ACCOUNT_LOCKED: MailKind = mail_kind!("account_locked", "Sign-in to your {{app_name}} account is paused");

/// The access token's life (`ACCESS_TOKEN_EXPIRE_MINUTES`; how it is signed is `signing`'s)
/// and the lockout (`LOCKOUT_FREE_ATTEMPTS`, `LOCKOUT_BASE_SECONDS`, `LOCKOUT_MAX_SECONDS`).
pub struct SessionsSettings {
    pub access_seconds: i64,
    pub lockout: LockoutPolicy,
}

fn settings(vars: &Vars<'_>, _: &Config) -> Result<Box<dyn std::any::Any>, ConfigError> {
    let access_seconds = vars.positive("ACCESS_TOKEN_EXPIRE_MINUTES", 30)? * 60;
    let count = |name: &'static str, default: u32| -> Result<u32, ConfigError> {
        let value = vars.number(name, default)?;
        (value > 0)
            .then_some(value)
            .ok_or_else(|| invalid(name, format!("{value} is not a positive number")))
    };
    let lockout = LockoutPolicy {
        free_attempts: count("LOCKOUT_FREE_ATTEMPTS", 5)?,
        base_seconds: count("LOCKOUT_BASE_SECONDS", 30)?,
        max_seconds: count("LOCKOUT_MAX_SECONDS", 3600)?,
    };
    Ok(Box::new(SessionsSettings {
        access_seconds,
        lockout,
    }))
}

pub const FEATURE: Feature = Feature {
    name: "sessions",
    routes: &[
        Route::new("POST", "{p}/auth/login", handler!(api::login), 200)
            .body(Body::JsonOrForm)
            .limited()
            .storage()
            .problems(&[&INVALID_CREDENTIALS, &EMAIL_NOT_VERIFIED, &FORBIDDEN_ORIGIN]),
        Route::new("POST", "{p}/auth/logout", handler!(api::logout), 204)
            .auth(Auth::User)
            .limited()
            .storage(),
    ],
    limits: &[&LOGIN_IP, &LOGIN_ACCOUNT, &USER_API],
    mails: &[&ACCOUNT_LOCKED],
    settings: Some(settings),
    housekeeping: &[housekeeping::PURGE_ENDED],
    startup: None,
    #[cfg(not(target_arch = "wasm32"))]
    openapi: <api::Doc as utoipa::OpenApi>::openapi,
};

#[cfg(test)]
mod tests;
