//! Two-factor sign-in (mfa.md): a TOTP factor (RFC 6238) enrolled with an `otpauth://` URI
//! and a QR code the Worker draws, confirmed with a first code; recovery codes; turning it
//! off; and `mfa/verify`, the second half of a sign-in that `sessions` answered with an MFA
//! challenge. Sessions decides when a challenge is due and owns the `mfa_token`s; this
//! feature registers its factors (`second_factors`) and checks them; a passkey as the
//! second factor is checked by `passkeys` (`mfa/passkey/options`, and `mfa/verify` with an
//! assertion).

mod api;
mod enroll;
mod factor;
mod mails;
mod manage;
mod qr;
mod recovery;
mod secret;
mod store;
mod totp;
mod verify;

use crate::features::passkeys;
use crate::features::sessions::{CURRENT_PASSWORD_REQUIRED, INVALID_CREDENTIALS, REAUTHENTICATION_REQUIRED};
use crate::handler;
use crate::kernel::config::{Config, ConfigError, Vars};
use crate::kernel::crypto::SealingKey;
use crate::kernel::feature::{Auth, Body, Feature, LimitSpec, Route, SecondFactor};
use crate::kernel::problem::ProblemCode;

pub const MFA_ALREADY_ENABLED: ProblemCode =
    ProblemCode::new(409, "mfa_already_enabled", "Two-factor sign-in already on");
pub const MFA_NOT_ENABLED: ProblemCode = ProblemCode::new(409, "mfa_not_enabled", "Two-factor sign-in not on");
pub const MFA_ENROLLMENT_MISSING: ProblemCode =
    ProblemCode::new(409, "mfa_enrollment_missing", "No two-factor enrollment pending");
/// A wrong code confirming an enrollment: the code was handed out by the app being set up,
/// not presented to authenticate (sessions.md's status rule), so a 400.
pub const INVALID_CODE: ProblemCode = ProblemCode::new(400, "invalid_code", "Invalid code");
/// A wrong TOTP or recovery code presented to authenticate.
pub const INVALID_MFA_CODE: ProblemCode = ProblemCode::new(401, "invalid_mfa_code", "Invalid second factor");
pub const INVALID_MFA_TOKEN: ProblemCode = ProblemCode::new(400, "invalid_mfa_token", "Invalid MFA token");

/// `mfa/verify` and `mfa/passkey/options` per IP.
pub const MFA_VERIFY_IP: LimitSpec = LimitSpec::new("mfa-verify-ip", "RATE_LIMIT_MFA_VERIFY_IP", "30/600");

/// `MFA_ENROLL_EXPIRE_MINUTES` and the key TOTP secrets are sealed with.
pub struct MfaSettings {
    pub enroll_seconds: i64,
    /// AES-256-GCM, derived from `SECRET_KEY` for this purpose only.
    pub sealing_key: SealingKey,
}

fn settings(vars: &Vars<'_>, config: &Config) -> Result<Box<dyn std::any::Any>, ConfigError> {
    Ok(Box::new(MfaSettings {
        enroll_seconds: vars.duration("MFA_ENROLL_EXPIRE_MINUTES", 60, 10)?,
        sealing_key: SealingKey::derive(config.secret_key.expose().as_bytes(), "mfa_totp_secret"),
    }))
}

/// Reauthentication's answers (sessions.md §1), on the routes marked reauth.
const REAUTH: [&ProblemCode; 3] = [
    &CURRENT_PASSWORD_REQUIRED,
    &INVALID_CREDENTIALS,
    &REAUTHENTICATION_REQUIRED,
];

pub const FEATURE: Feature = Feature {
    name: "mfa",
    routes: &[
        Route::new("POST", "{p}/auth/mfa/totp/enroll", handler!(api::enroll), 200)
            .body(Body::OptionalJson)
            .auth(Auth::User)
            .limited()
            .storage()
            .problems(&[&MFA_ALREADY_ENABLED, REAUTH[0], REAUTH[1], REAUTH[2]]),
        Route::new("POST", "{p}/auth/mfa/totp/confirm", handler!(api::confirm), 200)
            .body(Body::Json)
            .auth(Auth::User)
            .limited()
            .storage()
            .problems(&[&INVALID_CODE, &MFA_ENROLLMENT_MISSING, &MFA_ALREADY_ENABLED]),
        Route::new("POST", "{p}/auth/mfa/totp/disable", handler!(api::disable), 204)
            .body(Body::Json)
            .auth(Auth::User)
            .limited()
            .storage()
            .problems(&[&INVALID_MFA_CODE, &MFA_NOT_ENABLED, REAUTH[0], REAUTH[1], REAUTH[2]]),
        Route::new(
            "POST",
            "{p}/auth/mfa/recovery-codes",
            handler!(api::recovery_codes),
            200,
        )
        .body(Body::Json)
        .auth(Auth::User)
        .limited()
        .storage()
        .problems(&[&INVALID_MFA_CODE, &MFA_NOT_ENABLED, REAUTH[0], REAUTH[1], REAUTH[2]]),
        Route::new("POST", "{p}/auth/mfa/verify", handler!(api::verify), 200)
            .body(Body::Json)
            .limited()
            .storage()
            .problems(&[
                &INVALID_MFA_TOKEN,
                &INVALID_MFA_CODE,
                &passkeys::INVALID_CHALLENGE,
                &passkeys::PASSKEY_INVALID,
            ]),
        Route::new(
            "POST",
            "{p}/auth/mfa/passkey/options",
            handler!(api::passkey_options),
            200,
        )
        .body(Body::Json)
        .limited()
        .storage()
        .problems(&[&INVALID_MFA_TOKEN, &passkeys::PASSKEY_NOT_REGISTERED]),
    ],
    limits: &[&MFA_VERIFY_IP],
    mails: &[
        &mails::MFA_ENABLED,
        &mails::MFA_DISABLED,
        &mails::RECOVERY_CODES_REGENERATED,
        &mails::RECOVERY_CODE_USED,
    ],
    settings: Some(settings),
    housekeeping: &[store::PURGE_STALE_ENROLLMENTS],
    sign_in_completed: None,
    second_factors: &[
        SecondFactor {
            method: factor::TOTP,
            available: store::HAS_TOTP,
        },
        SecondFactor {
            method: factor::RECOVERY_CODE,
            available: store::HAS_RECOVERY_CODE,
        },
    ],
    startup: None,
    #[cfg(not(target_arch = "wasm32"))]
    openapi: <api::Doc as utoipa::OpenApi>::openapi,
};

/// For other capabilities' tests: the codes an authenticator app shows.
#[cfg(test)]
pub mod testing {
    pub use super::totp::{code_text, step_at, STEP_SECONDS};

    /// The code at `now`.
    pub fn code_at(secret: &[u8], now: crate::kernel::UnixSeconds) -> String {
        code_text(secret, step_at(now))
    }
}

#[cfg(test)]
mod tests;
