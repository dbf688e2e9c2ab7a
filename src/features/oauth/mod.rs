//! Sign-in with Google, Microsoft and GitHub (oauth.md): the authorization-code flow with
//! a single-use state bound to the browser, PKCE (S256) and an OIDC nonce; ID tokens
//! verified against the provider's JWKS (RS256 / ES256 through the Crypto port, the keys
//! cached per isolate); GitHub through its API. The callback hands the frontend a one-time
//! exchange code, never a token; `exchange` answers the login result through `sessions`
//! (the MFA challenge for 2FA accounts). Identities link by verified email or by the
//! signed-in user, and unlink unless they are the account's last credential. Outbound
//! HTTP goes through the `HttpClient` port. Accounts have no disabled state yet, so the
//! `account_disabled` outcome is not produced.

mod api;
mod authorize;
mod callback;
mod exchange;
mod exchange_code;
mod flow_error;
mod id_token;
mod identities;
mod jwks;
mod linking;
mod mails;
mod provider;
mod redirect;
mod sign_up;
mod store;

use crate::features::sessions::REAUTH_PROBLEMS;
use crate::handler;
use crate::kernel::config::{invalid, Config, ConfigError, Vars};
use crate::kernel::crypto::SealingKey;
use crate::kernel::feature::{Auth, Body, Feature, LimitSpec, Route};
use crate::kernel::problem::{ProblemCode, NOT_FOUND, VALIDATION_ERROR};

pub use provider::{Provider, ProviderConfig, Tenant};

pub const INVALID_REDIRECT: ProblemCode = ProblemCode::new(400, "invalid_redirect", "Invalid redirect target");
pub const INVALID_STATE: ProblemCode = ProblemCode::new(400, "invalid_state", "Invalid sign-in state");
/// An exchange code that is unknown, used or expired (handed out: a 400, sessions.md).
pub const INVALID_CODE: ProblemCode = ProblemCode::new(400, "invalid_code", "Invalid code");
pub const PROVIDER_NOT_CONFIGURED: ProblemCode =
    ProblemCode::new(404, "provider_not_configured", "Provider not configured");
pub const LAST_CREDENTIAL: ProblemCode = ProblemCode::new(409, "last_credential", "Last credential");

/// Authorize, link and callback per IP.
pub const OAUTH_IP: LimitSpec = LimitSpec::new("oauth-ip", "RATE_LIMIT_OAUTH_IP", "30/60");
/// Exchange per IP.
pub const OAUTH_EXCHANGE_IP: LimitSpec = LimitSpec::new("oauth-exchange-ip", "RATE_LIMIT_OAUTH_EXCHANGE_IP", "30/60");

/// The configured providers (`OAUTH_<P>_…`), the key PKCE verifiers are sealed with, and
/// the per-isolate JWKS cache.
pub struct OAuthSettings {
    pub providers: Vec<ProviderConfig>,
    /// `OAUTH_MICROSOFT_TENANT`.
    pub tenant: Tenant,
    /// AES-256-GCM, derived from `SECRET_KEY` for this purpose only.
    pub sealing_key: SealingKey,
    pub jwks: jwks::JwksCache,
}

impl OAuthSettings {
    pub fn provider(&self, provider: Provider) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.provider == provider)
    }
}

fn settings(vars: &Vars<'_>, config: &Config) -> Result<Box<dyn std::any::Any>, ConfigError> {
    let raw = vars.or("OAUTH_MICROSOFT_TENANT", "common");
    let tenant = Tenant::parse(&raw).ok_or_else(|| {
        invalid(
            "OAUTH_MICROSOFT_TENANT",
            format!("{raw:?} is not common, organizations, consumers or a tenant id (GUID)"),
        )
    })?;
    let mut providers = Vec::new();
    for provider in Provider::ALL {
        if let Some(configured) = ProviderConfig::from_vars(provider, vars, config, &tenant)? {
            providers.push(configured);
        }
    }
    Ok(Box::new(OAuthSettings {
        providers,
        tenant,
        sealing_key: SealingKey::derive(config.secret_key.expose().as_bytes(), "oauth_pkce_verifier"),
        jwks: jwks::JwksCache::default(),
    }))
}

pub const FEATURE: Feature = Feature {
    name: "oauth",
    routes: &[
        Route::new("GET", "{p}/auth/oauth/providers", handler!(api::providers), 200),
        Route::new(
            "GET",
            "{p}/auth/oauth/{provider}/authorize",
            handler!(api::authorize),
            302,
        )
        .limited()
        .storage()
        .problems(&[
            &INVALID_REDIRECT,
            &VALIDATION_ERROR,
            &NOT_FOUND,
            &PROVIDER_NOT_CONFIGURED,
        ]),
        Route::new("POST", "{p}/auth/oauth/{provider}/link", handler!(api::link), 200)
            .body(Body::OptionalJson)
            .auth(Auth::User)
            .limited()
            .storage()
            .problems(&[
                &INVALID_REDIRECT,
                &NOT_FOUND,
                &PROVIDER_NOT_CONFIGURED,
                REAUTH_PROBLEMS[0],
                REAUTH_PROBLEMS[1],
                REAUTH_PROBLEMS[2],
            ]),
        Route::new(
            "GET",
            "{p}/auth/oauth/{provider}/callback",
            handler!(api::callback),
            302,
        )
        .limited()
        .storage()
        .problems(&[&INVALID_STATE, &NOT_FOUND, &PROVIDER_NOT_CONFIGURED]),
        Route::new("POST", "{p}/auth/oauth/exchange", handler!(api::exchange), 200)
            .body(Body::Json)
            .limited()
            .storage()
            .problems(&[&INVALID_CODE]),
        Route::new("GET", "{p}/auth/identities", handler!(api::list_identities), 200)
            .auth(Auth::User)
            .limited()
            .storage(),
        Route::new("DELETE", "{p}/auth/identities/{provider}", handler!(api::unlink), 204)
            .auth(Auth::User)
            .limited()
            .storage()
            .problems(&[&NOT_FOUND, &PROVIDER_NOT_CONFIGURED, &LAST_CREDENTIAL]),
    ],
    limits: &[&OAUTH_IP, &OAUTH_EXCHANGE_IP],
    mails: &[&mails::IDENTITY_LINKED, &mails::IDENTITY_UNLINKED],
    settings: Some(settings),
    housekeeping: &[store::PURGE_STATES, store::PURGE_EXCHANGE_CODES],
    sign_in_completed: Some(exchange::on_sign_in_completed),
    second_factors: &[],
    startup: None,
    #[cfg(not(target_arch = "wasm32"))]
    openapi: <api::Doc as utoipa::OpenApi>::openapi,
};

#[cfg(test)]
mod tests;
