//! Password reset: a mailed single-use link (`FRONTEND_URL/reset-password?token=...`),
//! then a new password that ends every session of the account.

mod api;
mod flow;
mod store;

pub use flow::forget_password as mail_reset_link;

use crate::features::one_time_tokens::Purpose;
use crate::handler;
use crate::kernel::config::{Config, ConfigError, Vars};
use crate::kernel::feature::{Body, Feature, LimitSpec, Route};
use crate::kernel::mail::MailKind;
use crate::kernel::problem::{ProblemCode, PASSWORD_TOO_COMMON};
use crate::mail_kind;

pub const RESET_PASSWORD: Purpose = Purpose("reset_password");

/// An unknown, used or expired reset token (a 400: it was handed out, not presented to log in).
pub const INVALID_RESET_TOKEN: ProblemCode = ProblemCode::new(400, "invalid_token", "Invalid reset token");

pub const FORGET_IP: LimitSpec = LimitSpec::new("forget-ip", "RATE_LIMIT_FORGET_IP", "20/3600");
pub const FORGET_EMAIL: LimitSpec = LimitSpec::new("forget-email", "RATE_LIMIT_FORGET_EMAIL", "5/3600");
pub const RESET_IP: LimitSpec = LimitSpec::new("reset-ip", "RATE_LIMIT_RESET_IP", "20/3600");
pub const RESET_TOKEN: LimitSpec = LimitSpec::new("reset-token", "RATE_LIMIT_RESET_TOKEN", "5/600");

pub const PASSWORD_RESET_LINK: MailKind = mail_kind!("password_reset", "Reset your {{app_name}} password");

/// `PASSWORD_RESET_EXPIRE_MINUTES`: the life of a reset link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordResetSettings {
    pub link_minutes: i64,
}

fn settings(vars: &Vars<'_>, _: &Config) -> Result<Box<dyn std::any::Any>, ConfigError> {
    Ok(Box::new(PasswordResetSettings {
        link_minutes: vars.positive("PASSWORD_RESET_EXPIRE_MINUTES", 30)?,
    }))
}

pub const FEATURE: Feature = Feature {
    name: "password_reset",
    routes: &[
        Route::new("POST", "{p}/auth/password/forget", handler!(api::forget), 202)
            .body(Body::Json)
            .limited()
            .storage()
            .mails(),
        Route::new("POST", "{p}/auth/password/reset", handler!(api::reset), 200)
            .body(Body::Json)
            .limited()
            .storage()
            .problems(&[&INVALID_RESET_TOKEN, &PASSWORD_TOO_COMMON]),
    ],
    limits: &[&FORGET_IP, &FORGET_EMAIL, &RESET_IP, &RESET_TOKEN],
    mails: &[&PASSWORD_RESET_LINK],
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
