//! Compact JWS (RFC 7515) by hand: a header naming the algorithm (and the key, `kid`),
//! the payload, the signature. The algorithm comes from configuration: a token's header is
//! only checked against it, never trusted to choose.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};

use super::{Signer, SigningSettings};
use crate::kernel::crypto::{Crypto, CryptoError};
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

    /// The MAC of `input`: HMAC-SHA-256 here in the wasm, the wider two by the platform's
    /// WebCrypto (`Crypto::hmac`), so SHA-512's code does not ship in the bundle.
    async fn mac(self, crypto: &dyn Crypto, key: &[u8], input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match self {
            Self::Hs256 => {
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(input);
                Ok(mac.finalize().into_bytes().to_vec())
            }
            Self::Hs384 => crypto.hmac("SHA-384", key, input).await,
            Self::Hs512 => crypto.hmac("SHA-512", key, input).await,
        }
    }

    /// Constant time: the comparison does not tell how much of a forged MAC was right.
    async fn verify(
        self,
        crypto: &dyn Crypto,
        key: &[u8],
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        let expected = self.mac(crypto, key, input).await?;
        Ok(expected.len() == signature.len()
            && expected.iter().zip(signature).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0)
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
        Signer::Hmac(alg, key) => alg.mac(ctx.crypto, key, input.as_bytes()).await?,
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
        Signer::Hmac(alg, key) => {
            parsed.alg == alg.name() && alg.verify(ctx.crypto, key, input.as_bytes(), &signature).await?
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::testing::NativeCrypto;

    /// RFC 4231 §4.3 (test case 2): key "Jefe", data "what do ya want for nothing?".
    #[test]
    fn the_hmacs_are_rfc_4231s() {
        let (key, data) = (b"Jefe".as_slice(), b"what do ya want for nothing?".as_slice());
        let hex = |bytes: Vec<u8>| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let mac = |alg: HmacAlg| hex(pollster::block_on(alg.mac(&NativeCrypto, key, data)).unwrap());
        assert_eq!(
            mac(HmacAlg::Hs256),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            mac(HmacAlg::Hs384),
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"
        );
        assert_eq!(
            mac(HmacAlg::Hs512),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
        for alg in [HmacAlg::Hs256, HmacAlg::Hs384, HmacAlg::Hs512] {
            let right = pollster::block_on(alg.mac(&NativeCrypto, key, data)).unwrap();
            let check = |signature: &[u8]| pollster::block_on(alg.verify(&NativeCrypto, key, data, signature)).unwrap();
            assert!(check(&right), "{}", alg.name());
            let mut flipped = right.clone();
            flipped[0] ^= 1;
            assert!(!check(&flipped), "{}", alg.name());
            assert!(!check(&right[..right.len() - 1]), "{}: a shortened MAC", alg.name());
        }
    }
}
