//! Compact JWS (RFC 7515) by hand: a header naming the algorithm (and the key, `kid`),
//! the payload, the signature. The algorithm comes from configuration: a token's header is
//! only checked against it, never trusted to choose.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};

use super::{Signer, SigningSettings};
use crate::kernel::crypto::CryptoError;
use crate::kernel::feature::Ctx;
use crate::kernel::fields::{self, from_fields};

/// The HMAC algorithms, keyed by `SECRET_KEY` (as the seed service did).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HmacAlg {
    Hs256,
    Hs384,
    Hs512,
}

impl HmacAlg {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Hs256, Self::Hs384, Self::Hs512]
            .into_iter()
            .find(|alg| alg.name().eq_ignore_ascii_case(name))
    }

    fn mac(self, key: &[u8], input: &[u8]) -> Vec<u8> {
        macro_rules! mac {
            ($hash:ty) => {{
                let mut mac = Hmac::<$hash>::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(input);
                mac.finalize().into_bytes().to_vec()
            }};
        }
        match self {
            Self::Hs256 => mac!(sha2::Sha256),
            Self::Hs384 => mac!(sha2::Sha384),
            Self::Hs512 => mac!(sha2::Sha512),
        }
    }

    /// Constant time: the comparison does not tell how much of a forged MAC was right.
    fn verify(self, key: &[u8], input: &[u8], signature: &[u8]) -> bool {
        let expected = self.mac(key, input);
        expected.len() == signature.len() && expected.iter().zip(signature).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwsError {
    #[error("token is malformed")]
    Malformed,
    /// Wrong algorithm, unknown or missing `kid`, a `crit` header, or a bad signature.
    #[error("token signature, algorithm or key is wrong")]
    BadSignature,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

pub struct Header {
    pub alg: String,
    pub kid: Option<String>,
    /// Extensions this verifier would have to understand: none are, so any is a refusal.
    pub crit: Option<serde_json::Value>,
}
from_fields!(Header { alg, kid, crit });

/// A compact JWS taken apart, nothing verified yet: the header, the payload, the
/// signature and the signing input (`header.payload`, as sent).
pub struct Compact<'t> {
    pub header: Header,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
    pub input: &'t str,
}

/// Splits `token` into its three base64url parts (any other shape is `Malformed`); a
/// `crit` header is refused here, for every verifier.
pub fn split(token: &str) -> Result<Compact<'_>, JwsError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed);
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| JwsError::Malformed);
    let parsed: Header = fields::parse(&decode(header)?)
        .ok()
        .and_then(|header| fields::read(&header).ok())
        .ok_or(JwsError::Malformed)?;
    let (payload_bytes, signature) = (decode(payload)?, decode(signature)?);
    if parsed.crit.is_some() {
        return Err(JwsError::BadSignature);
    }
    Ok(Compact {
        header: parsed,
        payload: payload_bytes,
        signature,
        input: &token[..header.len() + 1 + payload.len()],
    })
}

/// Signs `payload` (JSON) with the configured algorithm and, for a key set, its current key.
pub async fn sign(ctx: &Ctx<'_>, payload: &[u8]) -> Result<String, JwsError> {
    let settings = ctx.settings::<SigningSettings>();
    let header = match &settings.signer {
        Signer::Hmac(alg, _) => format!(r#"{{"alg":"{}","typ":"JWT"}}"#, alg.name()),
        Signer::Keys(keys) => {
            let key = keys.current();
            format!(r#"{{"alg":"{}","typ":"JWT","kid":"{}"}}"#, key.alg().name(), key.kid)
        }
    };
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let signature = match &settings.signer {
        Signer::Hmac(alg, key) => alg.mac(key, input.as_bytes()),
        Signer::Keys(keys) => {
            let current = keys.current();
            ctx.crypto.sign(&current.kid, &current.key, input.as_bytes()).await?
        }
    };
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// The payload of a token whose signature checks out under the configuration: in `HS*`
/// mode `alg` must be `ALGORITHM`; with a key set, `kid` must name a key of it and `alg`
/// be that key's. `jwk`, `jku`, `x5u` and `x5c` are never looked at.
pub async fn verify(ctx: &Ctx<'_>, token: &str) -> Result<Vec<u8>, JwsError> {
    let Compact {
        header: parsed,
        payload: payload_bytes,
        signature,
        input,
    } = split(token)?;
    let good = match &ctx.settings::<SigningSettings>().signer {
        Signer::Hmac(alg, key) => parsed.alg == alg.name() && alg.verify(key, input.as_bytes(), &signature),
        Signer::Keys(keys) => {
            let key = parsed
                .kid
                .as_deref()
                .and_then(|kid| keys.find(kid))
                .ok_or(JwsError::BadSignature)?;
            parsed.alg == key.alg().name()
                && ctx
                    .crypto
                    .verify(&key.kid, &key.key.public, input.as_bytes(), &signature)
                    .await?
        }
    };
    if good {
        Ok(payload_bytes)
    } else {
        Err(JwsError::BadSignature)
    }
}
