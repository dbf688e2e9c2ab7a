//! Reauthentication (sessions.md §1), for the routes that change what protects an account:
//! a user with a password presents it (`current_password`, counted in the account's login
//! lockout like a login); a user without one needs a session whose login is recent
//! (`REAUTH_MAX_AGE_MINUTES`; refreshes do not renew it).

use super::authenticate::Caller;
use super::lockout::LockoutAttempt;
use super::login::{check_password, password_matches};
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
    let Some(password) = presented(ctx, caller, current_password)? else {
        return Ok(());
    };
    match check_password(ctx, &caller.user, password).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(wrong_password()),
        Err(error) => Err(error.into()),
    }
}

/// Reauthentication for a route that then checks a second factor (disable 2FA, new
/// recovery codes): the password is checked inside the caller's one lockout `attempt`, and
/// a right one does not end the streak — only the second factor's success does. Were the
/// password to end it, whoever holds a session and the password could guess codes forever,
/// each right password wiping the wrong code before it.
pub async fn reauthenticate_within(
    ctx: &Ctx<'_>,
    caller: &Caller,
    current_password: Option<&str>,
    attempt: &LockoutAttempt,
) -> Result<(), ApiError> {
    let password = match presented(ctx, caller, current_password) {
        Ok(Some(password)) => password,
        Ok(None) => return Ok(()),
        Err(refused) => {
            // Nothing was guessed: the attempt reserved for this request is taken back.
            attempt.take_back(ctx).await?;
            return Err(refused);
        }
    };
    if password_matches(ctx, &caller.user, password) {
        return Ok(());
    }
    attempt.failed(ctx, &caller.user);
    Err(wrong_password())
}

/// The password to check, or `None` for a user without one whose login is recent enough.
fn presented<'p>(
    ctx: &Ctx<'_>,
    caller: &Caller,
    current_password: Option<&'p str>,
) -> Result<Option<&'p str>, ApiError> {
    if !caller.user.has_password() {
        let max_age = ctx.settings::<SessionsSettings>().reauth_max_age_seconds;
        return if ctx.clock.now() - caller.logged_in_at <= max_age {
            Ok(None)
        } else {
            Err(ApiError::new(
                &REAUTHENTICATION_REQUIRED,
                "log in again: this needs a login within the last few minutes",
            ))
        };
    }
    match current_password.filter(|p| !p.is_empty()) {
        Some(password) => Ok(Some(password)),
        None => Err(ApiError::new(&CURRENT_PASSWORD_REQUIRED, "send current_password")),
    }
}

fn wrong_password() -> ApiError {
    ApiError::new(&INVALID_CREDENTIALS, "current_password is incorrect")
}
