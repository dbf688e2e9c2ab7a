//! Token signing: the algorithm (`ALGORITHM`: HMAC with `SECRET_KEY`, or `EdDSA` / `ES256`
//! with the JWK Set `JWT_SIGNING_KEYS`, first key current, the others verify-only), compact
//! JWS signing and verification for the capabilities that issue tokens, and the public side:
//! `GET /.well-known/jwks.json` and `GET /.well-known/openid-configuration`, so other
//! services verify access tokens offline with standard JOSE libraries.

mod api;
pub mod jws;
mod keys;

pub use jws::{HmacAlg, JwsError};
pub use keys::{InvalidKeySet, KeySet, SetKey};

use crate::handler;
use crate::kernel::config::{invalid, Config, ConfigError, Vars};
use crate::kernel::crypto::KeyAlg;
use crate::kernel::feature::{Ctx, Feature, Route, StartupFuture};

/// What tokens are signed with.
#[derive(Debug, Clone)]
pub enum Signer {
    /// An HMAC keyed by `SECRET_KEY`.
    Hmac(HmacAlg, Vec<u8>),
    /// Asymmetric keys; the first signs.
    Keys(KeySet),
}

impl Signer {
    /// The JWS algorithm of new tokens.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::Hmac(alg, _) => alg.name(),
            Self::Keys(keys) => keys.current().alg().name(),
        }
    }
}

/// `ALGORITHM`, `JWT_SIGNING_KEYS`, `JWT_ISSUER`, `JWT_AUDIENCE`, `PUBLIC_URL`.
pub struct SigningSettings {
    pub signer: Signer,
    pub issuer: String,
    pub audience: String,
    /// The Worker's public origin, for `jwks_uri`; unset means the request's origin.
    pub public_url: Option<String>,
}

fn settings(vars: &Vars<'_>, config: &Config) -> Result<Box<dyn std::any::Any>, ConfigError> {
    let raw = vars.or("ALGORITHM", "HS256");
    let signer = if let Some(alg) = HmacAlg::parse(&raw) {
        Signer::Hmac(alg, config.secret_key.expose().as_bytes().to_vec())
    } else if let Some(alg) = KeyAlg::parse(&raw) {
        let set = vars
            .get("JWT_SIGNING_KEYS")
            .ok_or(ConfigError::Missing("JWT_SIGNING_KEYS"))?;
        let keys = KeySet::parse(&set).map_err(|e| invalid("JWT_SIGNING_KEYS", e.to_string()))?;
        let current = keys.current();
        if current.alg() != alg {
            return Err(invalid(
                "JWT_SIGNING_KEYS",
                format!(
                    "its first key ({}) is {} but ALGORITHM is {}",
                    current.kid,
                    current.alg().name(),
                    alg.name()
                ),
            ));
        }
        Signer::Keys(keys)
    } else {
        return Err(invalid(
            "ALGORITHM",
            format!("{raw} is not one of HS256, HS384, HS512, EdDSA, ES256"),
        ));
    };
    Ok(Box::new(SigningSettings {
        signer,
        issuer: vars.or("JWT_ISSUER", "edge-auth"),
        audience: vars.or("JWT_AUDIENCE", "edge-auth"),
        public_url: public_url(vars)?,
    }))
}

fn public_url(vars: &Vars<'_>) -> Result<Option<String>, ConfigError> {
    let Some(url) = vars.get("PUBLIC_URL") else {
        return Ok(None);
    };
    let url = url.trim_end_matches('/').to_owned();
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .filter(|host| !host.is_empty() && !host.contains('/'));
    match host {
        Some(_) => Ok(Some(url)),
        None => Err(invalid(
            "PUBLIC_URL",
            format!("{url:?} is not an origin like https://auth.example.com"),
        )),
    }
}

/// At the first request of an isolate: each key's `d` must sign what its public part
/// verifies, or nothing is served (the log names `JWT_SIGNING_KEYS`).
fn check_key_pairs<'a>(ctx: &'a Ctx<'a>) -> StartupFuture<'a> {
    Box::pin(async move {
        let Signer::Keys(keys) = &ctx.settings::<SigningSettings>().signer else {
            return Ok(());
        };
        const PROBE: &[u8] = b"edge-auth: does d match x?";
        for key in keys.keys() {
            let fail = |reason: String| invalid("JWT_SIGNING_KEYS", format!("key {}: {reason}", key.kid));
            let signature = ctx
                .crypto
                .sign(&key.kid, &key.key, PROBE)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let matches = ctx
                .crypto
                .verify(&key.kid, &key.key.public, PROBE, &signature)
                .await
                .map_err(|e| fail(e.to_string()))?;
            if !matches {
                return Err(fail("d does not match its public part".into()));
            }
        }
        Ok(())
    })
}

pub const FEATURE: Feature = Feature {
    name: "signing",
    routes: &[
        Route::new("GET", "/.well-known/jwks.json", handler!(api::jwks), 200).public(),
        Route::new(
            "GET",
            "/.well-known/openid-configuration",
            handler!(api::discovery),
            200,
        )
        .public(),
    ],
    limits: &[],
    mails: &[],
    settings: Some(settings),
    housekeeping: &[],
    sign_in_completed: None,
    second_factors: &[],
    startup: Some(check_key_pairs),
    #[cfg(not(target_arch = "wasm32"))]
    openapi: <api::Doc as utoipa::OpenApi>::openapi,
};

/// Key sets for tests: the RFC 8037 Ed25519 key and the RFC 7515 P-256 key (published test
/// vectors, never used anywhere else), and an attacker's key outside every set.
#[cfg(test)]
pub mod keys_for_tests {
    pub use super::keys::tests::{ED25519, P256};

    pub const ED25519_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    pub const BOTH_EDDSA_FIRST: &str = concat!(
        r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"eddsa-test-1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"},"#,
        r#"{"kty":"EC","crv":"P-256","kid":"es256-test-1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}"#
    );
    pub const BOTH_ES256_FIRST: &str = concat!(
        r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"es256-test-1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"},"#,
        r#"{"kty":"OKP","crv":"Ed25519","kid":"eddsa-test-1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]}"#
    );
    pub const EDDSA_ONLY: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"eddsa-test-1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]}"#;

    fn attacker() -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[7; 32])
    }

    pub fn other_ed25519_x() -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(attacker().verifying_key().as_bytes())
    }

    pub fn sign_with_other_ed25519(input: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer;
        attacker().sign(input).to_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests;
