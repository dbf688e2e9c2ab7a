//! One use-case function per flow. Each takes the ports it needs through `Deps` and
//! returns its own error enum; `http/` maps those to answers.

pub mod authenticate;
pub mod login;
pub mod logout;
pub mod password_reset;
pub mod passwords;
pub mod register;
pub mod tokens;
pub mod update_user;
pub mod verify_email;

use crate::config::Config;
use crate::domain::{Clock, Outbox, RateLimiter, SecretDigester, Store, Telemetry};

/// Wrong guesses a code survives; the next guess finds it dead.
pub const MAX_CODE_ATTEMPTS: i64 = 5;
/// A verification code is mailed at most once per this many seconds per account.
pub const RESEND_COOLDOWN_SECONDS: i64 = 60;

/// What every flow may use; built once per request from the per-isolate state.
pub struct Deps<'a> {
    pub config: &'a Config,
    pub store: &'a dyn Store,
    pub outbox: &'a dyn Outbox,
    pub clock: &'a dyn Clock,
    pub digester: &'a SecretDigester,
    pub tokens: &'a tokens::TokenService,
    pub limiter: &'a dyn RateLimiter,
    pub events: &'a dyn Telemetry,
}

impl Deps<'_> {
    pub fn reset_url(&self, token: &str) -> String {
        format!("{}/reset-password?token={token}", self.config.frontend_url)
    }

    pub fn forgot_password_url(&self) -> String {
        format!("{}/forgot-password", self.config.frontend_url)
    }
}

#[cfg(test)]
pub(crate) mod testing;
