//! `GET /.well-known/jwks.json` and `GET /.well-known/openid-configuration`: public data,
//! cacheable for 300 s, readable from any origin without credentials.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{Signer, SigningSettings};
use crate::kernel::feature::Ctx;
use crate::kernel::problem::ApiError;
use crate::kernel::web::{Request, Response};

const CACHE: &str = "public, max-age=300";
/// The claims every access token carries.
const CLAIMS: [&str; 7] = ["iss", "aud", "sub", "sid", "iat", "exp", "roles"];

/// A JWK Set of public keys only.
#[derive(Debug, Serialize, ToSchema)]
pub struct Jwks {
    /// `{"kty", "crv", "x", "y" (EC only), "kid", "alg", "use": "sig"}` per key, in set
    /// order; empty in `HS*` mode (the shared secret is never published).
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<Value>,
}

/// Where verifiers find the keys. Not a full OpenID Provider document: there is no
/// authorization or token endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    /// The algorithms of the keys in the set, current first (`[ALGORITHM]` in `HS*` mode).
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    pub claims_supported: Vec<&'static str>,
}

fn public(response: Response) -> Response {
    response.with_header("Cache-Control", CACHE)
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "system", responses(
    (status = 200, body = Jwks, description = "The public keys that verify access tokens"),
))]
pub async fn jwks(ctx: &Ctx<'_>, _: &Request) -> Result<Response, ApiError> {
    let keys = match &ctx.settings::<SigningSettings>().signer {
        Signer::Hmac(..) => Vec::new(),
        Signer::Keys(keys) => keys.keys().iter().map(|key| key.public_jwk()).collect(),
    };
    Ok(public(Response::json(200, &Jwks { keys })))
}

#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "system", responses(
    (status = 200, body = Discovery, description = "Issuer and key location for JOSE libraries"),
))]
pub async fn discovery(ctx: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let settings = ctx.settings::<SigningSettings>();
    let origin = settings.public_url.clone().unwrap_or_else(|| request.origin.clone());
    let algorithms = match &settings.signer {
        Signer::Hmac(alg, _) => vec![alg.name()],
        Signer::Keys(keys) => keys.algorithms(),
    };
    let document = Discovery {
        issuer: settings.issuer.clone(),
        jwks_uri: format!("{origin}/.well-known/jwks.json"),
        id_token_signing_alg_values_supported: algorithms,
        subject_types_supported: vec!["public"],
        claims_supported: CLAIMS.to_vec(),
    };
    Ok(public(Response::json(200, &document)))
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(utoipa::OpenApi)]
#[openapi(paths(jwks, discovery), components(schemas(Jwks, Discovery)))]
pub(super) struct Doc;
