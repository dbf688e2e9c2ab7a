//! WebAuthn (Level 3) as a relying party reads it: the `toJSON()` forms browsers send,
//! `clientDataJSON`, authenticator data, COSE keys (ES256 and EdDSA only) and the DER
//! signatures of ES256. Pure parsing and comparison: the signature itself is checked by
//! the Crypto port (WebCrypto in the Worker), and attestation statements are never read.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::cbor::Cbor;
use crate::kernel::crypto::{KeyAlg, PublicKey};

/// Why a credential was refused. Never shown to the caller beyond `passkey_invalid`, so a
/// failed check does not tell which one failed; the reason goes to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("passkey refused: {0}")]
pub struct Refused(pub &'static str);

pub const FLAG_UP: u8 = 0x01;
pub const FLAG_UV: u8 = 0x04;
pub const FLAG_BE: u8 = 0x08;
pub const FLAG_BS: u8 = 0x10;
pub const FLAG_AT: u8 = 0x40;

/// A credential id longer than this is not registered (passkeys.md, registration step 6,
/// which answers it like a credential registered already).
pub const MAX_CREDENTIAL_ID_BYTES: usize = 1023;

/// The COSE algorithms offered and accepted: EdDSA (-8) first, then ES256 (-7).
pub const COSE_EDDSA: i128 = -8;
pub const COSE_ES256: i128 = -7;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url, padded or not (the JSON forms have no padding; some libraries add it).
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value.as_object()?.get(name)
}

fn bytes_field(value: &Value, name: &'static str) -> Result<Vec<u8>, Refused> {
    field(value, name)
        .and_then(Value::as_str)
        .and_then(unb64)
        .ok_or(Refused(name))
}

/// `type` = `public-key` and `id` = base64url(`rawId`): the raw credential id.
fn credential_id(credential: &Value) -> Result<Vec<u8>, Refused> {
    if field(credential, "type").and_then(Value::as_str) != Some("public-key") {
        return Err(Refused("type is not public-key"));
    }
    let raw_id = bytes_field(credential, "rawId")?;
    let id = field(credential, "id").and_then(Value::as_str).ok_or(Refused("id"))?;
    if id.trim_end_matches('=') != b64(&raw_id) || raw_id.is_empty() {
        return Err(Refused("id is not base64url(rawId)"));
    }
    Ok(raw_id)
}

fn response(credential: &Value) -> Result<&Value, Refused> {
    field(credential, "response")
        .filter(|r| r.is_object())
        .ok_or(Refused("response"))
}

/// `credential.toJSON()` of `navigator.credentials.create()`.
#[derive(Debug, Clone)]
pub struct Registration {
    pub raw_id: Vec<u8>,
    pub client_data_json: Vec<u8>,
    pub attestation_object: Vec<u8>,
    /// The authenticator's transports the browser reported, known ones only.
    pub transports: Vec<String>,
}

/// The transports WebAuthn names; others are dropped.
const TRANSPORTS: [&str; 6] = ["ble", "hybrid", "internal", "nfc", "smart-card", "usb"];

impl Registration {
    pub fn parse(credential: &Value) -> Result<Self, Refused> {
        let raw_id = credential_id(credential)?;
        let response = response(credential)?;
        let mut transports: Vec<String> = field(response, "transports")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .filter(|t| TRANSPORTS.contains(t))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        transports.sort_unstable();
        transports.dedup();
        Ok(Self {
            raw_id,
            client_data_json: bytes_field(response, "clientDataJSON")?,
            attestation_object: bytes_field(response, "attestationObject")?,
            transports,
        })
    }
}

/// `credential.toJSON()` of `navigator.credentials.get()`.
#[derive(Debug, Clone)]
pub struct Assertion {
    pub raw_id: Vec<u8>,
    pub client_data_json: Vec<u8>,
    pub authenticator_data: Vec<u8>,
    pub signature: Vec<u8>,
    pub user_handle: Option<Vec<u8>>,
}

impl Assertion {
    pub fn parse(credential: &Value) -> Result<Self, Refused> {
        let raw_id = credential_id(credential)?;
        let response = response(credential)?;
        let user_handle = match field(response, "userHandle") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(unb64(s).ok_or(Refused("userHandle"))?),
            Some(_) => return Err(Refused("userHandle")),
        };
        Ok(Self {
            raw_id,
            client_data_json: bytes_field(response, "clientDataJSON")?,
            authenticator_data: bytes_field(response, "authenticatorData")?,
            signature: bytes_field(response, "signature")?,
            user_handle,
        })
    }
}

/// What the relying party expects of `clientDataJSON`.
pub struct Expected<'a> {
    /// `webauthn.create` or `webauthn.get`.
    pub kind: &'static str,
    /// The challenge as sent, base64url.
    pub challenge: &'a str,
    pub origins: &'a [String],
}

/// Checks `clientDataJSON`: type, challenge, origin, `crossOrigin` not true.
pub fn check_client_data(json: &[u8], expected: &Expected<'_>) -> Result<(), Refused> {
    let data = crate::kernel::fields::parse(json).map_err(|_| Refused("clientDataJSON is not JSON"))?;
    let text = |name| field(&data, name).and_then(Value::as_str);
    if text("type") != Some(expected.kind) {
        return Err(Refused("clientDataJSON.type"));
    }
    // Compared as decoded bytes, so a padded or re-encoded challenge is the same challenge.
    let challenge = text("challenge").and_then(unb64);
    if challenge.is_none() || challenge != unb64(expected.challenge) {
        return Err(Refused("clientDataJSON.challenge"));
    }
    let origin = text("origin").ok_or(Refused("clientDataJSON.origin"))?;
    if !expected.origins.iter().any(|o| o == origin) {
        return Err(Refused("clientDataJSON.origin"));
    }
    match field(&data, "crossOrigin") {
        None | Some(Value::Bool(false)) | Some(Value::Null) => Ok(()),
        Some(_) => Err(Refused("clientDataJSON.crossOrigin")),
    }
}

/// A credential public key, as COSE encodes it and as the Crypto port takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoseKey {
    pub public: PublicKey,
    /// The COSE bytes as the authenticator sent them (what is stored).
    pub bytes: Vec<u8>,
}

impl CoseKey {
    /// An EC2 P-256 key of alg -7 or an OKP Ed25519 key of alg -8; any other is refused.
    pub fn parse(bytes: &[u8]) -> Result<Self, Refused> {
        let key = Cbor::decode_all(bytes).map_err(|_| Refused("COSE key is not CBOR"))?;
        Self::from_cbor(&key, bytes.to_vec())
    }

    fn from_cbor(key: &Cbor, bytes: Vec<u8>) -> Result<Self, Refused> {
        let int = |label| key.get_int(label).and_then(Cbor::as_int);
        let coordinate = |label| {
            key.get_int(label)
                .and_then(Cbor::as_bytes)
                .filter(|c| c.len() == 32)
                .map(b64)
        };
        let public = match (int(1), int(3), int(-1)) {
            // kty EC2, ES256, crv P-256.
            (Some(2), Some(COSE_ES256), Some(1)) => PublicKey {
                alg: KeyAlg::Es256,
                x: coordinate(-2).ok_or(Refused("COSE x"))?,
                y: Some(coordinate(-3).ok_or(Refused("COSE y"))?),
            },
            // kty OKP, EdDSA, crv Ed25519.
            (Some(1), Some(COSE_EDDSA), Some(6)) => PublicKey {
                alg: KeyAlg::EdDsa,
                x: coordinate(-2).ok_or(Refused("COSE x"))?,
                y: None,
            },
            _ => return Err(Refused("COSE key of an algorithm not accepted")),
        };
        Ok(Self { public, bytes })
    }
}

/// The credential data of a registration's authenticator data (flag AT).
#[derive(Debug, Clone)]
pub struct AttestedCredential {
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    pub key: CoseKey,
}

/// Authenticator data (WebAuthn §6.1).
#[derive(Debug, Clone)]
pub struct AuthenticatorData {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub sign_count: u32,
    pub attested: Option<AttestedCredential>,
}

impl AuthenticatorData {
    pub fn parse(bytes: &[u8]) -> Result<Self, Refused> {
        let short = Refused("authenticator data too short");
        if bytes.len() < 37 {
            return Err(short);
        }
        let rp_id_hash: [u8; 32] = bytes[..32].try_into().expect("32 bytes");
        let flags = bytes[32];
        let sign_count = u32::from_be_bytes(bytes[33..37].try_into().expect("4 bytes"));
        let mut rest = &bytes[37..];
        let attested = if flags & FLAG_AT != 0 {
            if rest.len() < 18 {
                return Err(short);
            }
            let aaguid: [u8; 16] = rest[..16].try_into().expect("16 bytes");
            let id_len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            rest = &rest[18..];
            if rest.len() < id_len {
                return Err(short);
            }
            let credential_id = rest[..id_len].to_vec();
            rest = &rest[id_len..];
            let (key, used) = Cbor::decode_prefix(rest).map_err(|_| Refused("COSE key is not CBOR"))?;
            let key = CoseKey::from_cbor(&key, rest[..used].to_vec())?;
            rest = &rest[used..];
            Some(AttestedCredential {
                aaguid,
                credential_id,
                key,
            })
        } else {
            None
        };
        // Extensions (flag ED) are one CBOR map; nothing else may follow.
        if flags & 0x80 != 0 {
            let (_, used) = Cbor::decode_prefix(rest).map_err(|_| Refused("extensions are not CBOR"))?;
            rest = &rest[used..];
        }
        if !rest.is_empty() {
            return Err(Refused("bytes after the authenticator data"));
        }
        Ok(Self {
            rp_id_hash,
            flags,
            sign_count,
            attested,
        })
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The checks every ceremony makes: the RP ID hash, user presence, and BS only with BE.
    pub fn check(&self, rp_id: &str) -> Result<(), Refused> {
        if self.rp_id_hash != <[u8; 32]>::from(Sha256::digest(rp_id.as_bytes())) {
            return Err(Refused("rpIdHash"));
        }
        if !self.has(FLAG_UP) {
            return Err(Refused("user presence flag clear"));
        }
        if self.has(FLAG_BS) && !self.has(FLAG_BE) {
            return Err(Refused("backed up without being backup eligible"));
        }
        Ok(())
    }
}

/// The authenticator data of an attestation object. Its `fmt` and `attStmt` are neither
/// verified nor kept ("none" is requested; passkeys.md step 5).
pub fn attested_auth_data(attestation_object: &[u8]) -> Result<Vec<u8>, Refused> {
    let object = Cbor::decode_all(attestation_object).map_err(|_| Refused("attestationObject is not CBOR"))?;
    object
        .get_text("authData")
        .and_then(Cbor::as_bytes)
        .map(<[u8]>::to_vec)
        .ok_or(Refused("attestationObject.authData"))
}

/// The input an assertion signs: authenticator data ‖ SHA-256(clientDataJSON).
pub fn signed_input(authenticator_data: &[u8], client_data_json: &[u8]) -> Vec<u8> {
    let mut input = authenticator_data.to_vec();
    input.extend_from_slice(&Sha256::digest(client_data_json));
    input
}

/// An ES256 signature as WebAuthn sends it (ASN.1 DER `SEQUENCE { r INTEGER, s INTEGER }`)
/// in the `R‖S` form WebCrypto verifies; `None` for anything else.
pub fn der_to_raw(der: &[u8]) -> Option<[u8; 64]> {
    let body = match der {
        [0x30, len, body @ ..] if usize::from(*len) == body.len() && *len < 0x80 => body,
        _ => return None,
    };
    let (r, rest) = der_integer(body)?;
    let (s, rest) = der_integer(rest)?;
    if !rest.is_empty() {
        return None;
    }
    let mut raw = [0u8; 64];
    raw[32 - r.len()..32].copy_from_slice(r);
    raw[64 - s.len()..].copy_from_slice(s);
    Some(raw)
}

/// A positive DER INTEGER of at most 32 significant bytes, without its sign padding.
fn der_integer(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let [0x02, len, rest @ ..] = bytes else {
        return None;
    };
    let len = usize::from(*len);
    if len == 0 || len > 33 || rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    // Minimal encoding: a leading zero only before a high bit; never negative.
    if value[0] & 0x80 != 0 || (value.len() > 1 && value[0] == 0 && value[1] & 0x80 == 0) {
        return None;
    }
    let value = if value[0] == 0 { &value[1..] } else { value };
    (value.len() <= 32 && !value.is_empty()).then_some((value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_signatures_become_r_s_and_malformed_ones_are_refused() {
        let mut der = vec![0x30, 0x45, 0x02, 0x21, 0x00];
        der.extend([0x80; 32]);
        der.extend([0x02, 0x20]);
        der.extend([0x01; 32]);
        let raw = der_to_raw(&der).unwrap();
        assert_eq!(&raw[..32], &[0x80; 32]);
        assert_eq!(&raw[32..], &[0x01; 32]);
        // A short r is left-padded.
        let short = [0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07];
        let raw = der_to_raw(&short).unwrap();
        assert_eq!((raw[31], raw[63], raw[0]), (5, 7, 0));
        for bad in [
            &[][..],
            &[0x30, 0x06, 0x02, 0x01, 0x85, 0x02, 0x01, 0x07][..], // negative r
            &[0x30, 0x07, 0x02, 0x02, 0x00, 0x05, 0x02, 0x01, 0x07][..], // non-minimal r
            &[0x30, 0x08, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07, 0x00, 0x00][..], // bad length
            &[0x31, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07][..], // not a sequence
        ] {
            assert_eq!(der_to_raw(bad), None, "{bad:02x?}");
        }
    }

    #[test]
    fn client_data_is_checked_field_by_field() {
        let origins = ["https://app.example".to_owned()];
        let expected = Expected {
            kind: "webauthn.get",
            challenge: "AAEC",
            origins: &origins,
        };
        let good = br#"{"type":"webauthn.get","challenge":"AAEC","origin":"https://app.example","crossOrigin":false}"#;
        assert_eq!(check_client_data(good, &expected), Ok(()));
        for (bad, why) in [
            (
                &br#"{"type":"webauthn.create","challenge":"AAEC","origin":"https://app.example"}"#[..],
                "type",
            ),
            (
                br#"{"type":"webauthn.get","challenge":"AAED","origin":"https://app.example"}"#,
                "challenge",
            ),
            (
                br#"{"type":"webauthn.get","challenge":"AAEC","origin":"https://evil.example"}"#,
                "origin",
            ),
            (
                br#"{"type":"webauthn.get","challenge":"AAEC","origin":"https://app.example","crossOrigin":true}"#,
                "cross",
            ),
            (
                br#"{"type":"webauthn.get","origin":"https://app.example"}"#,
                "no challenge",
            ),
            (b"not json", "json"),
        ] {
            assert!(check_client_data(bad, &expected).is_err(), "{why}");
        }
    }

    #[test]
    fn only_es256_and_eddsa_cose_keys_are_accepted() {
        // {1: 2, 3: -7, -1: 1, -2: x, -3: y}
        let mut es256 = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20];
        es256.extend([7; 32]);
        es256.extend([0x22, 0x58, 0x20]);
        es256.extend([9; 32]);
        let key = CoseKey::parse(&es256).unwrap();
        assert_eq!(key.public.alg, KeyAlg::Es256);
        assert_eq!(key.public.y.as_deref(), Some(b64(&[9; 32]).as_str()));
        // {1: 1, 3: -8, -1: 6, -2: x}
        let mut ed = vec![0xa4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x06, 0x21, 0x58, 0x20];
        ed.extend([3; 32]);
        assert_eq!(CoseKey::parse(&ed).unwrap().public.alg, KeyAlg::EdDsa);
        // RS256 (kty 3, alg -257), and ES256 claimed on another curve.
        let rs256 = [
            0xa4, 0x01, 0x03, 0x03, 0x39, 0x01, 0x00, 0x20, 0x41, 0x01, 0x21, 0x41, 0x03,
        ];
        assert!(CoseKey::parse(&rs256).is_err());
        let mut p384 = es256.clone();
        p384[6] = 0x02;
        assert!(CoseKey::parse(&p384).is_err());
    }

    #[test]
    fn authenticator_data_must_end_where_its_parts_end() {
        let mut data = Sha256::digest(b"app.example").to_vec();
        data.push(FLAG_UP);
        data.extend(7u32.to_be_bytes());
        let parsed = AuthenticatorData::parse(&data).unwrap();
        assert_eq!((parsed.sign_count, parsed.check("app.example")), (7, Ok(())));
        assert_eq!(parsed.check("other.example"), Err(Refused("rpIdHash")));
        let mut trailing = data.clone();
        trailing.push(0);
        assert!(AuthenticatorData::parse(&trailing).is_err());
        assert!(AuthenticatorData::parse(&data[..36]).is_err());
        let mut attested_but_short = data.clone();
        attested_but_short[32] |= FLAG_AT;
        assert!(AuthenticatorData::parse(&attested_but_short).is_err());
        let mut bs_without_be = data;
        bs_without_be[32] |= FLAG_BS;
        assert!(AuthenticatorData::parse(&bs_without_be)
            .unwrap()
            .check("app.example")
            .is_err());
    }
}
