//! Accounts: registration with a mailed 6-digit code, resend, email verification, and the
//! caller's own profile (`me`, `update-user`: name, password, and an email change
//! confirmed by a code sent to the new address).

mod api;
mod mails;
mod register;
mod update_user;
mod verify_email;

use crate::features::one_time_tokens::Purpose;
use crate::features::sessions::{CURRENT_PASSWORD_REQUIRED, INVALID_CREDENTIALS, REAUTHENTICATION_REQUIRED};
use crate::handler;
use crate::kernel::config::{Config, ConfigError, Vars};
use crate::kernel::feature::{Auth, Body, Feature, LimitSpec, Route};
use crate::kernel::problem::{ProblemCode, PASSWORD_TOO_COMMON};

/// Wrong guesses a code survives; the next guess finds it dead.
pub const MAX_CODE_ATTEMPTS: i64 = 5;
/// A verification code is mailed at most once per this many seconds per account (and an
/// email-change code once per this many seconds per user).
pub const RESEND_COOLDOWN_SECONDS: i64 = 60;
/// Tries at the codes mailed to one address per 24 hours, across re-issued codes: with a
/// new code every minute, five tries each would otherwise be 7 200 a day.
pub const MAX_CODE_TRIES_PER_DAY: i64 = 20;

pub const VERIFY_EMAIL: Purpose = Purpose("verify_email");
pub const CHANGE_EMAIL: Purpose = Purpose("change_email");

pub const INVALID_CODE: ProblemCode = ProblemCode::new(400, "invalid_code", "Invalid code");
/// update-user with `password` for an account without one (oauth.md).
pub const PASSWORD_NOT_SET: ProblemCode = ProblemCode::new(403, "password_not_set", "Password not set");
pub const EMAIL_TAKEN: ProblemCode = ProblemCode::new(409, "email_taken", "Email taken");

pub const REGISTER_IP: LimitSpec = LimitSpec::new("register-ip", "RATE_LIMIT_REGISTER_IP", "20/3600");
pub const REGISTER_EMAIL: LimitSpec = LimitSpec::new("register-email", "RATE_LIMIT_REGISTER_EMAIL", "5/3600");
pub const RESEND_IP: LimitSpec = LimitSpec::new("resend-ip", "RATE_LIMIT_RESEND_IP", "20/3600");
pub const RESEND_EMAIL: LimitSpec = LimitSpec::new("resend-email", "RATE_LIMIT_RESEND_EMAIL", "5/3600");
pub const VERIFY_IP: LimitSpec = LimitSpec::new("verify-ip", "RATE_LIMIT_VERIFY_IP", "30/600");
pub const VERIFY_ACCOUNT: LimitSpec = LimitSpec::new("verify-account", "RATE_LIMIT_VERIFY_ACCOUNT", "10/600");
/// Email-change requests per user, and per target address (each one mails the target).
pub const EMAIL_CHANGE_USER: LimitSpec = LimitSpec::new("email-change-user", "RATE_LIMIT_EMAIL_CHANGE_USER", "5/3600");
pub const EMAIL_CHANGE_TARGET: LimitSpec =
    LimitSpec::new("email-change-target", "RATE_LIMIT_EMAIL_CHANGE_TARGET", "5/3600");

/// `EMAIL_VERIFICATION_CODE_EXPIRY_MINUTES`: the life of a mailed code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountsSettings {
    pub code_minutes: i64,
}

fn settings(vars: &Vars<'_>, _: &Config) -> Result<Box<dyn std::any::Any>, ConfigError> {
    Ok(Box::new(AccountsSettings {
        code_minutes: vars.positive("EMAIL_VERIFICATION_CODE_EXPIRY_MINUTES", 15)?,
    }))
}

pub const FEATURE: Feature = Feature {
    name: "accounts",
    routes: &[
        Route::new("POST", "{p}/auth/register", handler!(api::register), 201)
            .body(Body::Json)
            .limited()
            .storage()
            .mails()
            .problems(&[&PASSWORD_TOO_COMMON]),
        Route::new("POST", "{p}/auth/verify-email", handler!(api::verify_email), 200)
            .body(Body::Json)
            .limited()
            .storage()
            .problems(&[&INVALID_CODE, &EMAIL_TAKEN]),
        Route::new(
            "POST",
            "{p}/auth/resend-verification",
            handler!(api::resend_verification),
            202,
        )
        .body(Body::Json)
        .limited()
        .storage()
        .mails(),
        Route::new("GET", "{p}/auth/me", handler!(api::me), 200)
            .auth(Auth::User)
            .limited()
            .storage(),
        Route::new("PUT", "{p}/auth/update-user", handler!(api::update_user), 200)
            .body(Body::Json)
            .auth(Auth::User)
            .limited()
            .storage()
            .problems(&[
                &INVALID_CREDENTIALS,
                &CURRENT_PASSWORD_REQUIRED,
                &PASSWORD_TOO_COMMON,
                &PASSWORD_NOT_SET,
                &REAUTHENTICATION_REQUIRED,
            ]),
    ],
    limits: &[
        &REGISTER_IP,
        &REGISTER_EMAIL,
        &RESEND_IP,
        &RESEND_EMAIL,
        &VERIFY_IP,
        &VERIFY_ACCOUNT,
        &EMAIL_CHANGE_USER,
        &EMAIL_CHANGE_TARGET,
    ],
    mails: &[
        &mails::VERIFICATION_CODE,
        &mails::ACCOUNT_EXISTS,
        &mails::EMAIL_CHANGE_CODE,
        &mails::EMAIL_CHANGE_NOTICE,
    ],
    settings: Some(settings),
    housekeeping: &[],
    sign_in_completed: None,
    second_factors: &[],
    startup: None,
    #[cfg(not(target_arch = "wasm32"))]
    openapi: <api::Doc as utoipa::OpenApi>::openapi,
};

#[cfg(test)]
mod tests;
