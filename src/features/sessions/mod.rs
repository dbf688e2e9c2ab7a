//! Sessions: login (JSON or the OAuth2 form), refresh tokens that rotate with reuse
//! detection, the sessions a user can see and end, logout scopes, access tokens bound to a
//! server-side session, who the caller of an authenticated route is, the new-device mail,
//! and the account lockout that makes password guessing slow.

mod api;
mod api_sessions;
mod authenticate;
mod cookies;
mod device;
mod devices;
mod housekeeping;
mod lockout;
mod login;
mod logout;
mod mails;
mod reauth;
mod refresh;
mod rotation;
mod second_factor;
mod store;
mod tokens;

/// For other capabilities' tests: a login in its two halves.
#[cfg(test)]
pub mod testing {
    pub use super::login::{begin, complete};
}

pub use api::{
    caller, client_of, login_response, login_result_response, refuse_foreign_origin, LoginResponse, LoginResultBody,
    MfaChallengeResponse, ACCESS_COOKIE,
};
pub use authenticate::Caller;
pub use lockout::LockoutAttempt;
pub use login::{check_password, end_lockout, open_session, ClientInfo, LoggedIn, LoginError};
pub use mails::ACCOUNT_LOCKED;
pub use reauth::{reauthenticate, reauthenticate_within, REAUTH_PROBLEMS};
pub use second_factor::{
    complete_sign_in, pending_sign_in, sign_in, waiting_sign_in, LoginResult, MfaChallenge, PendingSignIn,
};
pub use store::{revoke_all_but, Session, Sessions};

/// The device label of a User-Agent (sessions.md §4, `Chrome on macOS`); `None` when
/// nothing in it is recognised.
pub fn device_label(user_agent: Option<&str>) -> Option<String> {
    let device = device::Device::of(user_agent);
    let label = device.describe();
    (label != device::Device::of(None).describe()).then_some(label)
}

use crate::handler;
use crate::kernel::config::{invalid, Config, ConfigError, Vars};
use crate::kernel::feature::{Auth, Body, Feature, LimitSpec, Route};
use crate::kernel::problem::{ProblemCode, NOT_AUTHENTICATED, NOT_FOUND};
use crate::rate_limit::LockoutPolicy;

pub const INVALID_CREDENTIALS: ProblemCode = ProblemCode::new(401, "invalid_credentials", "Invalid credentials");
pub const EMAIL_NOT_VERIFIED: ProblemCode = ProblemCode::new(403, "email_not_verified", "Email not verified");
pub const INVALID_REFRESH_TOKEN: ProblemCode = ProblemCode::new(401, "invalid_refresh_token", "Invalid refresh token");
pub const REFRESH_TOKEN_REUSED: ProblemCode = ProblemCode::new(401, "refresh_token_reused", "Refresh token reused");
pub const CURRENT_PASSWORD_REQUIRED: ProblemCode =
    ProblemCode::new(403, "current_password_required", "Current password required");
pub const REAUTHENTICATION_REQUIRED: ProblemCode =
    ProblemCode::new(403, "reauthentication_required", "Reauthentication required");
/// A login posted from a page whose origin is not one of ours (login CSRF).
pub const FORBIDDEN_ORIGIN: ProblemCode = ProblemCode::new(403, "forbidden_origin", "Forbidden origin");

pub const LOGIN_IP: LimitSpec = LimitSpec::new("login-ip", "RATE_LIMIT_LOGIN_IP", "30/60");
/// Per account, whatever the IP; shares the account's counter with the lockout.
pub const LOGIN_ACCOUNT: LimitSpec = LimitSpec::new("login-account", "RATE_LIMIT_LOGIN_ACCOUNT", "100/3600");
/// Every authenticated request, per user.
pub const USER_API: LimitSpec = LimitSpec::new("user-api", "RATE_LIMIT_USER_API", "120/60").approximate();

pub const REFRESH_IP: LimitSpec = LimitSpec::new("refresh-ip", "RATE_LIMIT_REFRESH_IP", "120/60");
pub const REFRESH_SESSION: LimitSpec = LimitSpec::new("refresh-session", "RATE_LIMIT_REFRESH_SESSION", "30/60");

/// `last_seen_at` is written at most once per this many seconds per session.
pub const SEEN_EVERY_SECONDS: i64 = 300;

/// Lifetimes (sessions.md §2; decimals allowed) and the lockout (`LOCKOUT_FREE_ATTEMPTS`,
/// `LOCKOUT_BASE_SECONDS`, `LOCKOUT_MAX_SECONDS`). How tokens are signed is `signing`'s.
pub struct SessionsSettings {
    /// `ACCESS_TOKEN_EXPIRE_MINUTES`.
    pub access_seconds: i64,
    /// `REFRESH_TOKEN_EXPIRE_DAYS`: a refresh token's life, the session's idle timeout.
    pub refresh_seconds: i64,
    /// `SESSION_MAX_DAYS`: from the login, however often refreshed.
    pub session_max_seconds: i64,
    /// `REFRESH_REUSE_INTERVAL_SECONDS`: the previous token's grace (two tabs at once).
    pub reuse_interval_seconds: i64,
    /// `REAUTH_MAX_AGE_MINUTES`: how recent a login counts as one for reauthentication.
    pub reauth_max_age_seconds: i64,
    /// `NEW_DEVICE_WINDOW_DAYS`.
    pub new_device_window_seconds: i64,
    pub lockout: LockoutPolicy,
    /// `MFA_TOKEN_EXPIRE_SECONDS`: how long a sign-in waits for its second factor.
    pub mfa_token_seconds: i64,
}

const MINUTE: i64 = 60;
const DAY: i64 = 86_400;

fn settings(vars: &Vars<'_>, _: &Config) -> Result<Box<dyn std::any::Any>, ConfigError> {
    let access_seconds = vars.duration("ACCESS_TOKEN_EXPIRE_MINUTES", MINUTE, 30)?;
    let new_device_window_seconds = vars.duration("NEW_DEVICE_WINDOW_DAYS", DAY, 90)?;
    if new_device_window_seconds > devices::MAX_WINDOW_DAYS * 86_400 {
        return Err(invalid(
            "NEW_DEVICE_WINDOW_DAYS",
            format!("at most {} days", devices::MAX_WINDOW_DAYS),
        ));
    }
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
        refresh_seconds: vars.duration("REFRESH_TOKEN_EXPIRE_DAYS", DAY, 30)?,
        session_max_seconds: vars.duration("SESSION_MAX_DAYS", DAY, 90)?,
        reuse_interval_seconds: vars.duration("REFRESH_REUSE_INTERVAL_SECONDS", 1, 10)?,
        reauth_max_age_seconds: vars.duration("REAUTH_MAX_AGE_MINUTES", MINUTE, 10)?,
        new_device_window_seconds,
        lockout,
        mfa_token_seconds: vars.duration("MFA_TOKEN_EXPIRE_SECONDS", 1, 300)?,
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
            .body(Body::OptionalJson)
            .auth(Auth::User)
            .limited()
            .storage(),
        Route::new("POST", "{p}/auth/token/refresh", handler!(api_sessions::refresh), 200)
            .body(Body::OptionalJson)
            .limited()
            .storage()
            .problems(&[&NOT_AUTHENTICATED, &INVALID_REFRESH_TOKEN, &REFRESH_TOKEN_REUSED]),
        Route::new("GET", "{p}/auth/sessions", handler!(api_sessions::list), 200)
            .auth(Auth::User)
            .limited()
            .storage(),
        Route::new("DELETE", "{p}/auth/sessions/{id}", handler!(api_sessions::revoke), 204)
            .auth(Auth::User)
            .limited()
            .storage()
            .problems(&[&NOT_FOUND]),
    ],
    limits: &[&LOGIN_IP, &LOGIN_ACCOUNT, &USER_API, &REFRESH_IP, &REFRESH_SESSION],
    mails: &[&mails::ACCOUNT_LOCKED, &mails::NEW_SIGN_IN, &mails::SUSPICIOUS_REFRESH],
    settings: Some(settings),
    housekeeping: &[
        housekeeping::PURGE_ENDED,
        devices::PURGE_FORGOTTEN,
        second_factor::PURGE_EXPIRED,
    ],
    sign_in_completed: None,
    second_factors: &[],
    startup: None,
    #[cfg(not(target_arch = "wasm32"))]
    openapi,
};

/// Login and logout (`api`) with refresh and the session list (`api_sessions`).
#[cfg(not(target_arch = "wasm32"))]
fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = api::Doc::openapi();
    doc.merge(api_sessions::Doc::openapi());
    doc
}

#[cfg(test)]
mod refresh_tests;
#[cfg(test)]
mod tests;
