//! The providers' signing keys (JWKS, RFC 7517), fetched through the HTTP port and kept
//! per isolate: at most an hour, and refetched early at most once a minute, when an ID
//! token names a `kid` the cached set does not have (the provider rotated its keys).

use std::cell::RefCell;
use std::collections::HashMap;

use super::flow_error::Failure;
use crate::kernel::crypto::{KeyAlg, PublicKey, RsaPublicKey};
use crate::kernel::feature::Ctx;
use crate::kernel::fetch::HttpRequest;
use crate::kernel::UnixSeconds;

/// A fetched set is used for at most this long.
pub const JWKS_MAX_AGE_SECONDS: i64 = 3600;
/// An unknown `kid` refetches the set only if it is at least this old.
pub const JWKS_REFETCH_SECONDS: i64 = 60;

/// A verification key and the one algorithm it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jwk {
    /// `kty: RSA`: RS256.
    Rs256(RsaPublicKey),
    /// `kty: EC`, `crv: P-256`: ES256.
    Es256(PublicKey),
}

impl Jwk {
    /// The JWS `alg` a token signed with it must name.
    pub fn alg(&self) -> &'static str {
        match self {
            Self::Rs256(_) => "RS256",
            Self::Es256(_) => "ES256",
        }
    }
}

/// The signing keys of a JWKS document, by `kid`. Keys for encryption, of other types or
/// curves, naming another algorithm, or without a `kid` are left out. Read through
/// `serde_json::Value` (which the Worker has anyway) rather than a derived deserializer
/// per shape: the provider documents are small and each derive costs bundle size.
pub fn parse(document: &str) -> Option<Vec<(String, Jwk)>> {
    let set: serde_json::Value = serde_json::from_str(document).ok()?;
    let keys = set.get("keys")?.as_array()?.iter().filter_map(key).collect();
    Some(keys)
}

fn key(raw: &serde_json::Value) -> Option<(String, Jwk)> {
    let text = |name: &str| raw.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    if text("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let kid = text("kid")?;
    let jwk = match (text("kty")?.as_str(), text("crv").as_deref()) {
        ("RSA", _) => Jwk::Rs256(RsaPublicKey {
            n: text("n")?,
            e: text("e")?,
        }),
        ("EC", Some("P-256")) => Jwk::Es256(PublicKey {
            alg: KeyAlg::Es256,
            x: text("x")?,
            y: Some(text("y")?),
        }),
        _ => return None,
    };
    text("alg").is_none_or(|alg| alg == jwk.alg()).then_some((kid, jwk))
}

struct Fetched {
    at: UnixSeconds,
    keys: Vec<(String, Jwk)>,
}

/// Per isolate (it lives in the feature's settings): JWKS URL -> the set last fetched.
#[derive(Default)]
pub struct JwksCache(RefCell<HashMap<String, Fetched>>);

impl JwksCache {
    fn cached(&self, url: &str, kid: &str, now: UnixSeconds) -> Lookup {
        match self.0.borrow().get(url) {
            None => Lookup::Fetch,
            Some(set) if now - set.at >= JWKS_MAX_AGE_SECONDS => Lookup::Fetch,
            Some(set) => match set.keys.iter().find(|(k, _)| k == kid) {
                Some((_, key)) => Lookup::Found(key.clone()),
                None if now - set.at >= JWKS_REFETCH_SECONDS => Lookup::Fetch,
                None => Lookup::Unknown,
            },
        }
    }

    /// The key `kid` of the set at `url`, fetching the set when the cache says so.
    pub async fn key(&self, ctx: &Ctx<'_>, url: &str, kid: &str) -> Result<Jwk, Failure> {
        let now = ctx.clock.now();
        match self.cached(url, kid, now) {
            Lookup::Found(key) => return Ok(key),
            Lookup::Unknown => return Err(Failure::OauthFailed("the ID token's kid is not in the JWKS")),
            Lookup::Fetch => {}
        }
        let response = ctx
            .http
            .send(HttpRequest::get(url).with_header("Accept", "application/json"))
            .await
            .map_err(|_| Failure::ProviderUnavailable)?;
        if response.status >= 500 {
            return Err(Failure::ProviderUnavailable);
        }
        let keys = (response.status == 200)
            .then(|| parse(&response.body))
            .flatten()
            .ok_or(Failure::OauthFailed("the JWKS could not be read"))?;
        let found = keys.iter().find(|(k, _)| k == kid).map(|(_, key)| key.clone());
        self.0.borrow_mut().insert(url.to_owned(), Fetched { at: now, keys });
        found.ok_or(Failure::OauthFailed("the ID token's kid is not in the JWKS"))
    }
}

enum Lookup {
    Found(Jwk),
    Unknown,
    Fetch,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_signing_keys_of_known_types_are_kept() {
        let document = r#"{"keys": [
            {"kty": "RSA", "kid": "r1", "n": "AQAB", "e": "AQAB", "alg": "RS256", "use": "sig"},
            {"kty": "RSA", "kid": "r2", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "n": "AQAB", "e": "AQAB", "use": "enc"},
            {"kty": "RSA", "kid": "hs", "n": "AQAB", "e": "AQAB", "alg": "HS256"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "kid": "e1", "crv": "P-256", "x": "eA", "y": "eQ"},
            {"kty": "EC", "kid": "e2", "crv": "P-384", "x": "eA", "y": "eQ"},
            {"kty": "oct", "kid": "k", "k": "c2VjcmV0"},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "eA"}
        ]}"#;
        let kids: Vec<String> = parse(document).unwrap().into_iter().map(|(kid, _)| kid).collect();
        assert_eq!(kids, ["r1", "r2", "e1"]);
        assert_eq!(parse("not json"), None);
    }
}
