//! Passkeys (passkeys.md): WebAuthn registration and sign-in, discoverable credentials,
//! the user's list (rename, delete), and a passkey as the second factor of a 2FA sign-in
//! (mfa.md; `mfa` serves its routes with `mfa_options` and `check_second_factor`).
//!
//! The relying party is written here rather than taken from a crate: webauthn-rs and
//! webauthn_rp read `SystemTime::now()`, which traps in a Worker, and a relying party that
//! requests attestation "none" and accepts ES256 and EdDSA needs little: a CBOR reader
//! (`cbor.rs`), the WebAuthn structures (`webauthn.rs`) and the signature, which the Crypto
//! port verifies with WebCrypto (no curve code in the wasm).

mod api;
mod cbor;
mod ceremony;
mod login;
mod mails;
mod manage;
mod register;
mod store;
mod webauthn;

pub use api::OptionsResponse;
pub use login::{check_second_factor, mfa_options, LoginOptions, MfaOptionsError, SecondFactorCheck, PASSKEY};

use crate::features::sessions::{EMAIL_NOT_VERIFIED, REAUTH_PROBLEMS};
use crate::handler;
use crate::kernel::config::{invalid, Config, ConfigError, Vars};
use crate::kernel::feature::{Auth, Body, Feature, LimitSpec, Route, SecondFactor};
use crate::kernel::problem::{ProblemCode, NOT_FOUND};
use crate::kernel::web::Request;

pub use crate::features::users::LAST_CREDENTIAL;

pub const INVALID_CHALLENGE: ProblemCode = ProblemCode::new(400, "invalid_challenge", "Invalid challenge");
/// A credential that fails a registration check (passkeys.md steps 2–5).
pub const PASSKEY_INVALID_REGISTRATION: ProblemCode = ProblemCode::new(400, "passkey_invalid", "Invalid passkey");
/// An assertion that fails a login (or second-factor) check; which one is never told.
pub const PASSKEY_INVALID: ProblemCode = ProblemCode::new(401, "passkey_invalid", "Invalid passkey");
pub const PASSKEY_ALREADY_REGISTERED: ProblemCode =
    ProblemCode::new(409, "passkey_already_registered", "Passkey already registered");
pub const PASSKEY_LIMIT_REACHED: ProblemCode = ProblemCode::new(409, "passkey_limit_reached", "Too many passkeys");
pub const PASSKEY_NOT_REGISTERED: ProblemCode =
    ProblemCode::new(409, "passkey_not_registered", "No passkey registered");

/// `login/options` and `login/verify`, per IP.
pub const PASSKEY_LOGIN_IP: LimitSpec = LimitSpec::new("passkey-login-ip", "RATE_LIMIT_PASSKEY_LOGIN_IP", "30/60");
/// `login/options` with an `email`, per address.
pub const PASSKEY_LOGIN_EMAIL: LimitSpec =
    LimitSpec::new("passkey-login-email", "RATE_LIMIT_PASSKEY_LOGIN_EMAIL", "10/600");

/// The relying party (`WEBAUTHN_*`) and `PASSKEYS_MAX_PER_USER`.
#[derive(Debug, Clone)]
pub struct PasskeySettings {
    pub rp_id: String,
    pub rp_name: String,
    pub origins: Vec<String>,
    pub challenge_seconds: i64,
    pub max_per_user: i64,
}

/// The host of an origin or URL (`https://app.example.com:8443/x` → `app.example.com`).
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    (!host.is_empty() && !host.contains('@')).then_some(host)
}

fn settings(vars: &Vars<'_>, config: &Config) -> Result<Box<dyn std::any::Any>, ConfigError> {
    let rp_id = match vars.get("WEBAUTHN_RP_ID") {
        Some(id) => id.trim().to_ascii_lowercase(),
        None => host_of(&config.frontend_url)
            .ok_or_else(|| invalid("WEBAUTHN_RP_ID", "FRONTEND_URL has no host to default to; set it"))?
            .to_ascii_lowercase(),
    };
    if rp_id.is_empty() || rp_id.contains(['/', ':', ' ']) {
        return Err(invalid("WEBAUTHN_RP_ID", "must be a host name, like example.com"));
    }
    let origins: Vec<String> = vars
        .or("WEBAUTHN_ORIGINS", &Request::origin_of(&config.frontend_url))
        .split(',')
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return Err(invalid("WEBAUTHN_ORIGINS", "name at least one origin"));
    }
    for origin in &origins {
        let host = host_of(origin).map(str::to_ascii_lowercase);
        let within = host.is_some_and(|h| h == rp_id || h.ends_with(&format!(".{rp_id}")));
        let bare = origin.split_once("://").is_some_and(|(_, rest)| !rest.contains('/'));
        if !within || !bare {
            return Err(invalid(
                "WEBAUTHN_ORIGINS",
                format!("{origin} is not an origin of WEBAUTHN_RP_ID {rp_id} or one of its subdomains"),
            ));
        }
    }
    Ok(Box::new(PasskeySettings {
        rp_name: vars.or("WEBAUTHN_RP_NAME", &config.app_name),
        rp_id,
        origins,
        challenge_seconds: vars.duration("WEBAUTHN_CHALLENGE_EXPIRE_SECONDS", 1, 300)?,
        max_per_user: vars.positive("PASSKEYS_MAX_PER_USER", 20)?,
    }))
}

pub const FEATURE: Feature = Feature {
    name: "passkeys",
    routes: &[
        Route::new(
            "POST",
            "{p}/auth/passkeys/register/options",
            handler!(api::register_options),
            200,
        )
        .body(Body::OptionalJson)
        .auth(Auth::User)
        .limited()
        .storage()
        .problems(&[
            &PASSKEY_LIMIT_REACHED,
            REAUTH_PROBLEMS[0],
            REAUTH_PROBLEMS[1],
            REAUTH_PROBLEMS[2],
        ]),
        Route::new(
            "POST",
            "{p}/auth/passkeys/register/verify",
            handler!(api::register_verify),
            201,
        )
        .body(Body::Json)
        .auth(Auth::User)
        .limited()
        .storage()
        .problems(&[
            &INVALID_CHALLENGE,
            &PASSKEY_INVALID_REGISTRATION,
            &PASSKEY_ALREADY_REGISTERED,
            &PASSKEY_LIMIT_REACHED,
        ]),
        Route::new("GET", "{p}/auth/passkeys", handler!(api::list), 200)
            .auth(Auth::User)
            .limited()
            .storage(),
        Route::new("PATCH", "{p}/auth/passkeys/{id}", handler!(api::rename), 200)
            .body(Body::Json)
            .auth(Auth::User)
            .limited()
            .storage()
            .problems(&[&NOT_FOUND]),
        Route::new("DELETE", "{p}/auth/passkeys/{id}", handler!(api::delete), 204)
            .auth(Auth::User)
            .limited()
            .storage()
            .problems(&[&NOT_FOUND, &LAST_CREDENTIAL]),
        Route::new(
            "POST",
            "{p}/auth/passkeys/login/options",
            handler!(api::login_options),
            200,
        )
        .body(Body::OptionalJson)
        .limited()
        .storage(),
        Route::new(
            "POST",
            "{p}/auth/passkeys/login/verify",
            handler!(api::login_verify),
            200,
        )
        .body(Body::Json)
        .limited()
        .storage()
        .problems(&[&INVALID_CHALLENGE, &PASSKEY_INVALID, &EMAIL_NOT_VERIFIED]),
    ],
    limits: &[&PASSKEY_LOGIN_IP, &PASSKEY_LOGIN_EMAIL],
    mails: &[&mails::PASSKEY_ADDED, &mails::PASSKEY_REMOVED],
    settings: Some(settings),
    housekeeping: &[store::PURGE_CHALLENGES],
    second_factors: &[SecondFactor {
        method: login::PASSKEY,
        available: store::HAS_PASSKEY,
    }],
    startup: None,
    sign_in_completed: None,
    #[cfg(not(target_arch = "wasm32"))]
    openapi: <api::Doc as utoipa::OpenApi>::openapi,
};

#[cfg(test)]
mod tests;
