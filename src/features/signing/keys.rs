//! `JWT_SIGNING_KEYS`: a JWK Set (RFC 7517) of private keys, parsed on entry. The first key
//! signs; the others only verify (rotation). Everything a set must be is checked here,
//! except that `d` matches the public part, which takes a signature (`check_pairs`).

use serde_json::{json, Value};

use crate::kernel::crypto::{KeyAlg, PrivateKey, PublicKey};
use crate::kernel::fields::{self, Fields, FromFields, Mismatch};

const MAX_KEYS: usize = 10;
const MAX_KID_CHARS: usize = 64;

/// One key of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetKey {
    pub kid: String,
    pub key: PrivateKey,
}

impl SetKey {
    pub fn alg(&self) -> KeyAlg {
        self.key.public.alg
    }

    /// The key as `jwks.json` publishes it: never `d` or any other private member.
    pub fn public_jwk(&self) -> Value {
        let (kty, crv) = self.alg().key_type();
        let mut jwk = json!({ "kty": kty, "crv": crv, "x": self.key.public.x });
        if let Some(y) = &self.key.public.y {
            jwk["y"] = y.as_str().into();
        }
        jwk["kid"] = self.kid.as_str().into();
        jwk["alg"] = self.alg().name().into();
        jwk["use"] = "sig".into();
        jwk
    }
}

/// A valid set: 1 to 10 keys, unique `kid`s, the first one current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet(Vec<SetKey>);

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InvalidKeySet(String);

fn bad(reason: impl Into<String>) -> InvalidKeySet {
    InvalidKeySet(reason.into())
}

struct RawKey {
    kty: Option<String>,
    crv: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    usage: Option<String>,
    x: Option<String>,
    y: Option<String>,
    d: Option<String>,
}

impl FromFields for RawKey {
    fn from_fields(fields: Fields<'_>) -> Result<Self, Mismatch> {
        Ok(Self {
            kty: fields.get("kty")?,
            crv: fields.get("crv")?,
            kid: fields.get("kid")?,
            alg: fields.get("alg")?,
            usage: fields.get("use")?,
            x: fields.get("x")?,
            y: fields.get("y")?,
            d: fields.get("d")?,
        })
    }
}

/// The members of `{"keys": [...]}`, each an object.
fn raw_keys(raw: &str) -> Result<Vec<RawKey>, String> {
    let set: Value = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    let keys = match set.get("keys") {
        Some(Value::Array(keys)) => keys,
        Some(_) => return Err("`keys` is not an array".to_owned()),
        None => return Err("`keys` is missing".to_owned()),
    };
    keys.iter()
        .enumerate()
        .map(|(i, key)| fields::read(key).map_err(|e| format!("key {i}: `{}`: {}", e.field, e.message)))
        .collect()
}

impl KeySet {
    pub fn parse(raw: &str) -> Result<Self, InvalidKeySet> {
        let raw_keys = raw_keys(raw).map_err(|e| bad(format!("not a JWK Set ({{\"keys\": [...]}}): {e}")))?;
        if raw_keys.is_empty() || raw_keys.len() > MAX_KEYS {
            return Err(bad(format!(
                "holds {} keys; 1 to {MAX_KEYS} are allowed",
                raw_keys.len()
            )));
        }
        let keys = raw_keys
            .into_iter()
            .enumerate()
            .map(|(i, key)| parse_key(key).map_err(|e| bad(format!("key {i}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|other| other.kid == key.kid) {
                return Err(bad(format!("kid {:?} is in the set twice", key.kid)));
            }
        }
        Ok(Self(keys))
    }

    /// The key that signs new tokens.
    pub fn current(&self) -> &SetKey {
        &self.0[0]
    }

    pub fn find(&self, kid: &str) -> Option<&SetKey> {
        self.0.iter().find(|key| key.kid == kid)
    }

    pub fn keys(&self) -> &[SetKey] {
        &self.0
    }

    /// The algorithms of the set, current first, each once.
    pub fn algorithms(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for key in &self.0 {
            if !names.contains(&key.alg().name()) {
                names.push(key.alg().name());
            }
        }
        names
    }
}

fn parse_key(raw: RawKey) -> Result<SetKey, String> {
    let alg = match (raw.kty.as_deref(), raw.crv.as_deref()) {
        (Some("OKP"), Some("Ed25519")) => KeyAlg::EdDsa,
        (Some("EC"), Some("P-256")) => KeyAlg::Es256,
        (kty, crv) => return Err(format!("kty/crv {kty:?}/{crv:?} is neither OKP/Ed25519 nor EC/P-256")),
    };
    if let Some(declared) = raw.alg.as_deref().filter(|declared| *declared != alg.name()) {
        return Err(format!("alg {declared:?} does not match the key type ({})", alg.name()));
    }
    if let Some(usage) = raw.usage.as_deref().filter(|usage| *usage != "sig") {
        return Err(format!("use {usage:?} is not \"sig\""));
    }
    let kid = raw.kid.ok_or("kid is missing")?;
    let kid_ok = !kid.is_empty()
        && kid.chars().count() <= MAX_KID_CHARS
        && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !kid_ok {
        return Err(format!("kid {kid:?} is not 1-64 characters of [A-Za-z0-9._-]"));
    }
    let (x_len, y_len) = match alg {
        KeyAlg::EdDsa => (32, None),
        KeyAlg::Es256 => (32, Some(32)),
    };
    let x = coordinate("x", raw.x, x_len)?;
    let y = match y_len {
        Some(len) => Some(coordinate("y", raw.y, len)?),
        None if raw.y.is_some() => return Err("y is not a member of an Ed25519 key".into()),
        None => None,
    };
    let d = coordinate("d (the private key, required)", raw.d, 32)?;
    Ok(SetKey {
        kid,
        key: PrivateKey {
            public: PublicKey { alg, x, y },
            d,
        },
    })
}

/// A base64url member of `len` bytes.
fn coordinate(name: &str, value: Option<String>, len: usize) -> Result<String, String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let value = value.ok_or_else(|| format!("{name} is missing"))?;
    match URL_SAFE_NO_PAD.decode(&value) {
        Ok(bytes) if bytes.len() == len => Ok(value),
        _ => Err(format!("{name} is not {len} bytes of base64url")),
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Keys made for the tests (`make keys`), never used anywhere else.
    pub const ED25519: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"eddsa-test-1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}"#;
    pub const P256: &str = r#"{"kty":"EC","crv":"P-256","kid":"es256-test-1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;

    fn set(keys: &[&str]) -> String {
        format!(r#"{{"keys":[{}]}}"#, keys.join(","))
    }

    #[test]
    fn a_set_of_both_types_parses_with_its_first_key_current() {
        let keys = KeySet::parse(&set(&[P256, ED25519])).unwrap();
        assert_eq!(keys.current().kid, "es256-test-1");
        assert_eq!(keys.algorithms(), ["ES256", "EdDSA"]);
        assert_eq!(keys.find("eddsa-test-1").unwrap().alg(), KeyAlg::EdDsa);
    }

    #[test]
    fn published_keys_have_no_private_member() {
        let keys = KeySet::parse(&set(&[ED25519, P256])).unwrap();
        for key in keys.keys() {
            let jwk = key.public_jwk();
            assert!(jwk.get("d").is_none(), "{jwk}");
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["alg"], key.alg().name());
        }
        assert!(keys.keys()[0].public_jwk().get("y").is_none(), "no y on an Ed25519 key");
        assert!(keys.keys()[1].public_jwk()["y"].is_string());
    }

    #[test]
    fn bad_sets_are_refused_with_a_reason_each() {
        let without = |member: &str| {
            let mut key: Value = serde_json::from_str(ED25519).unwrap();
            key.as_object_mut().unwrap().remove(member);
            key.to_string()
        };
        let with = |member: &str, value: &str| {
            let mut key: Value = serde_json::from_str(ED25519).unwrap();
            key[member] = value.into();
            key.to_string()
        };
        let eleven: Vec<String> = (0..11).map(|i| with("kid", &format!("k{i}"))).collect();
        let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
        let cases: Vec<(String, &str)> = vec![
            ("not json".into(), "JWK Set"),
            (set(&[]), "1 to 10"),
            (set(&eleven), "1 to 10"),
            (set(&[&without("d")]), "d (the private key"),
            (set(&[&without("kid")]), "kid is missing"),
            (set(&[&with("kid", "has space")]), "kid"),
            (set(&[&with("kid", &"k".repeat(65))]), "kid"),
            (set(&[ED25519, ED25519]), "twice"),
            (set(&[&with("alg", "ES256")]), "alg"),
            (set(&[&with("use", "enc")]), "use"),
            (set(&[&with("crv", "X25519")]), "kty/crv"),
            (set(&[&with("kty", "RSA")]), "kty/crv"),
            (set(&[&with("x", "c2hvcnQ")]), "x is not 32 bytes"),
        ];
        for (raw, reason) in cases {
            let err = KeySet::parse(&raw).unwrap_err().to_string();
            assert!(err.contains(reason), "{raw}: {err}");
        }
    }
}
