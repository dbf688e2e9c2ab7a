//! Reauthentication (sessions.md §1), for the routes that change what protects an account:
//! a user with a password presents it (`current_password`, counted in the account's login
//! lockout like a login); a user without one needs a session whose login is recent
//! (`REAUTH_MAX_AGE_MINUTES`; refreshes do not renew it).

use super::authenticate::Caller;
use super::login::check_password;
use super::{SessionsSettings, CURRENT_PASSWORD_REQUIRED, INVALID_CREDENTIALS, REAUTHENTICATION_REQUIRED};
use crate::kernel::feature::Ctx;
use crate::kernel::problem::{ApiError, ProblemCode};

/// The answers a reauth route may give for it, for its registration.
pub const REAUTH_PROBLEMS: [&ProblemCode; 3] = [
    &CURRENT_PASSWORD_REQUIRED,
    &INVALID_CREDENTIALS,
    &REAUTHENTICATION_REQUIRED,
];

/// Whether `caller` reauthenticated: `Ok` or the problem to answer (403
/// `current_password_required`, 401 `invalid_credentials`, 403 `reauthentication_required`,
/// 429 while the account is locked out).
pub async fn reauthenticate(ctx: &Ctx<'_>, caller: &Caller, current_password: Option<&str>) -> Result<(), ApiError> {
    if !caller.user.has_password() {
        let max_age = ctx.settings::<SessionsSettings>().reauth_max_age_seconds;
        return if ctx.clock.now() - caller.logged_in_at <= max_age {
            Ok(())
        } else {
            Err(ApiError::new(
                &REAUTHENTICATION_REQUIRED,
                "log in again: this needs a login within the last few minutes",
            ))
        };
    }
    let Some(password) = current_password.filter(|p| !p.is_empty()) else {
        return Err(ApiError::new(&CURRENT_PASSWORD_REQUIRED, "send current_password"));
    };
    match check_password(ctx, &caller.user, password).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::new(&INVALID_CREDENTIALS, "current_password is incorrect")),
        Err(error) => Err(error.into()),
    }
}
