//! A software WebAuthn authenticator and the browser half of a client, written for the
//! tests from WebAuthn Level 3, CTAP2 and RFC 8949 / 9052 (not taken from the Worker):
//! ES256 (P-256) and Ed25519 credentials, the attestation object (`fmt: "none"`), COSE keys,
//! authenticator data, `clientDataJSON`, and the responses in their `toJSON()` form
//! (base64url without padding). `Forge` holds one knob per check the relying party must
//! make, so a test can break exactly one of them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The relying party the e2e Worker serves (`FRONTEND_URL=http://frontend.test`, so
/// `WEBAUTHN_RP_ID` and `WEBAUTHN_ORIGINS` by default).
pub const RP_ID: &str = "frontend.test";
pub const ORIGIN: &str = "http://frontend.test";

/// Authenticator-data flags (WebAuthn §6.1).
const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_BE: u8 = 0x08;
const FLAG_BS: u8 = 0x10;
const FLAG_AT: u8 = 0x40;

/// COSE algorithm identifiers (IANA COSE Algorithms).
pub const COSE_ES256: i64 = -7;
pub const COSE_EDDSA: i64 = -8;
pub const COSE_RS256: i64 = -257;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text)
        .unwrap_or_else(|e| panic!("not base64url without padding ({e}): {text:?}"))
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the system has randomness");
    bytes
}

// ---------------------------------------------------------------------------------------
// CBOR (RFC 8949), the subset WebAuthn needs, written in CTAP2's canonical order by the
// callers (map keys: shorter encodings first, then bytewise).

#[derive(Debug, Clone, PartialEq)]
pub enum Cbor {
    /// Any integer: major type 0 when non-negative, 1 when negative.
    Int(i64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Cbor>),
    Map(Vec<(Cbor, Cbor)>),
}

impl Cbor {
    pub fn text(text: &str) -> Self {
        Self::Text(text.to_owned())
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Int(n) if *n >= 0 => head(out, 0, *n as u64),
            // Major type 1 carries -1 - n.
            Self::Int(n) => head(out, 1, (-1 - *n) as u64),
            Self::Bytes(bytes) => {
                head(out, 2, bytes.len() as u64);
                out.extend_from_slice(bytes);
            }
            Self::Text(text) => {
                head(out, 3, text.len() as u64);
                out.extend_from_slice(text.as_bytes());
            }
            Self::Array(items) => {
                head(out, 4, items.len() as u64);
                items.iter().for_each(|item| item.write(out));
            }
            Self::Map(entries) => {
                head(out, 5, entries.len() as u64);
                for (key, value) in entries {
                    key.write(out);
                    value.write(out);
                }
            }
        }
    }
}

/// An item's head: the major type and its argument in the shortest form.
fn head(out: &mut Vec<u8>, major: u8, argument: u64) {
    let major = major << 5;
    match argument {
        0..=23 => out.push(major | argument as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, argument as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(argument as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend_from_slice(&(argument as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&argument.to_be_bytes());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Keys.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Es256,
    Ed25519,
}

#[derive(Clone)]
pub enum Key {
    Es256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl Key {
    pub fn generate(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Es256 => loop {
                // A uniformly random scalar: the rare 32 bytes at or above the order are redrawn.
                if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&random_bytes::<32>()) {
                    return Self::Es256(key);
                }
            },
            Algorithm::Ed25519 => Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(&random_bytes::<32>())),
        }
    }

    /// The public key as a COSE_Key (RFC 9053 §7.1): EC2 with crv 1 (P-256), x, y; or
    /// OKP with crv 6 (Ed25519), x.
    pub fn cose(&self) -> Cbor {
        match self {
            Self::Es256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                Cbor::Map(vec![
                    (Cbor::Int(1), Cbor::Int(2)),
                    (Cbor::Int(3), Cbor::Int(COSE_ES256)),
                    (Cbor::Int(-1), Cbor::Int(1)),
                    (Cbor::Int(-2), Cbor::Bytes(point.x().unwrap().to_vec())),
                    (Cbor::Int(-3), Cbor::Bytes(point.y().unwrap().to_vec())),
                ])
            }
            Self::Ed25519(key) => Cbor::Map(vec![
                (Cbor::Int(1), Cbor::Int(1)),
                (Cbor::Int(3), Cbor::Int(COSE_EDDSA)),
                (Cbor::Int(-1), Cbor::Int(6)),
                (Cbor::Int(-2), Cbor::Bytes(key.verifying_key().to_bytes().to_vec())),
            ]),
        }
    }

    /// A WebAuthn signature over `message`: ES256 as an ASN.1 DER `ECDSA-Sig-Value`
    /// (WebAuthn §6.5.6), Ed25519 as its 64 raw bytes.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        // One `signature::Signer` trait serves both curves' keys.
        use ed25519_dalek::Signer as _;
        match self {
            Self::Es256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            Self::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
        }
    }
}

/// An RS256 COSE key (kty 3, alg -257, n, e): a key the relying party must refuse by its
/// algorithm alone, so its modulus need not be a product of primes.
fn rs256_cose() -> Cbor {
    let mut modulus = [0u8; 256];
    getrandom::fill(&mut modulus).unwrap();
    modulus[0] |= 0x80;
    modulus[255] |= 1;
    Cbor::Map(vec![
        (Cbor::Int(1), Cbor::Int(3)),
        (Cbor::Int(3), Cbor::Int(COSE_RS256)),
        (Cbor::Int(-1), Cbor::Bytes(modulus.to_vec())),
        (Cbor::Int(-2), Cbor::Bytes(vec![1, 0, 1])),
    ])
}

// ---------------------------------------------------------------------------------------
// Ceremonies.

/// What a ceremony puts into its response, honest by default (`Forge::default()`); each
/// field breaks one check.
#[derive(Clone)]
pub struct Forge {
    /// `clientDataJSON.type`; None: the ceremony's own (`webauthn.create` / `webauthn.get`).
    pub client_type: Option<String>,
    /// `clientDataJSON.challenge`; None: the options' challenge.
    pub challenge: Option<String>,
    pub origin: String,
    pub cross_origin: bool,
    /// Whose SHA-256 is the authenticator data's `rpIdHash`.
    pub rp_id: String,
    pub user_present: bool,
    pub user_verified: bool,
    pub backup_eligible: bool,
    pub backed_up: bool,
    /// The AT flag at registration (attested credential data is included either way).
    pub attested_flag: bool,
    /// The signature counter; None: the passkey's own (see `Passkey::counter_step`).
    pub counter: Option<u32>,
    /// Signs with a fresh key of the same algorithm instead of the credential's.
    pub wrong_key: bool,
    /// Registers an RS256 public key instead of the credential's.
    pub rs256_key: bool,
    /// The attestation format and statement; default `none` with `{}`.
    pub attestation: (String, Cbor),
    /// `credential.id`; None: base64url(`rawId`).
    pub id: Option<String>,
    /// `rawId` (and `id`) of the JSON; None: the credential id the authenticator data
    /// attests (or signs for).
    pub raw_id: Option<Vec<u8>>,
    /// The assertion's `userHandle`: None the handle given at registration; Some(None)
    /// none; Some(Some(bytes)) those bytes.
    pub user_handle: Option<Option<Vec<u8>>>,
}

impl Default for Forge {
    fn default() -> Self {
        Self {
            client_type: None,
            challenge: None,
            origin: ORIGIN.to_owned(),
            cross_origin: false,
            rp_id: RP_ID.to_owned(),
            user_present: true,
            user_verified: true,
            backup_eligible: false,
            backed_up: false,
            attested_flag: true,
            counter: None,
            wrong_key: false,
            rs256_key: false,
            attestation: ("none".to_owned(), Cbor::Map(vec![])),
            id: None,
            raw_id: None,
            user_handle: None,
        }
    }
}

impl Forge {
    /// An honest ceremony without user verification.
    pub fn without_uv() -> Self {
        Self {
            user_verified: false,
            ..Self::default()
        }
    }

    fn flags(&self, attested: bool) -> u8 {
        let mut flags = 0;
        for (on, flag) in [
            (self.user_present, FLAG_UP),
            (self.user_verified, FLAG_UV),
            (self.backup_eligible, FLAG_BE),
            (self.backed_up, FLAG_BS),
            (attested && self.attested_flag, FLAG_AT),
        ] {
            if on {
                flags |= flag;
            }
        }
        flags
    }

    /// `clientDataJSON` (WebAuthn §5.8.1), members in the order browsers write them.
    fn client_data(&self, ceremony: &str, challenge: &str) -> Vec<u8> {
        let kind = self.client_type.as_deref().unwrap_or(ceremony);
        let challenge = self.challenge.as_deref().unwrap_or(challenge);
        format!(
            r#"{{"type":{},"challenge":{},"origin":{},"crossOrigin":{}}}"#,
            json!(kind),
            json!(challenge),
            json!(self.origin),
            self.cross_origin
        )
        .into_bytes()
    }
}

/// One credential in the authenticator, with what it remembers of its relying party.
#[derive(Clone)]
pub struct Passkey {
    pub algorithm: Algorithm,
    pub credential_id: Vec<u8>,
    key: Key,
    pub aaguid: [u8; 16],
    /// The user handle (`user.id`) of the registration options, once registered.
    pub user_handle: Option<Vec<u8>>,
    /// The counter last signed.
    pub counter: u32,
    /// How much each assertion adds to the counter: 1, or 0 for an authenticator that
    /// keeps it at zero (as many synced passkeys do).
    pub counter_step: u32,
}

impl Passkey {
    pub fn new(algorithm: Algorithm) -> Self {
        Self {
            algorithm,
            credential_id: random_bytes::<32>().to_vec(),
            key: Key::generate(algorithm),
            aaguid: random_bytes::<16>(),
            user_handle: None,
            counter: 0,
            counter_step: 1,
        }
    }

    pub fn id(&self) -> String {
        b64(&self.credential_id)
    }

    /// The authenticator data: rpIdHash ‖ flags ‖ signCount (big-endian) ‖ attested
    /// credential data (AAGUID ‖ credential id length ‖ credential id ‖ COSE key) when given.
    fn authenticator_data(&self, forge: &Forge, counter: u32, attested: Option<&Cbor>) -> Vec<u8> {
        let mut data = sha256(forge.rp_id.as_bytes()).to_vec();
        data.push(forge.flags(attested.is_some()));
        data.extend_from_slice(&counter.to_be_bytes());
        if let Some(cose) = attested {
            data.extend_from_slice(&self.aaguid);
            data.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
            data.extend_from_slice(&self.credential_id);
            data.extend_from_slice(&cose.encode());
        }
        data
    }

    /// `navigator.credentials.create()` for these creation options (the `options` of
    /// `register/options`), as `credential.toJSON()`. Remembers the user handle.
    pub fn register(&mut self, options: &Value, forge: &Forge) -> Value {
        let challenge = options["challenge"]
            .as_str()
            .unwrap_or_else(|| panic!("creation options with a challenge: {options}"));
        if let Some(handle) = options["user"]["id"].as_str() {
            self.user_handle = Some(unb64(handle));
        }
        let client_data = forge.client_data("webauthn.create", challenge);
        let cose = if forge.rs256_key { rs256_cose() } else { self.key.cose() };
        let counter = forge.counter.unwrap_or(self.counter);
        self.counter = counter;
        let auth_data = self.authenticator_data(forge, counter, Some(&cose));
        let (fmt, statement) = &forge.attestation;
        let attestation_object = Cbor::Map(vec![
            (Cbor::text("fmt"), Cbor::text(fmt)),
            (Cbor::text("attStmt"), statement.clone()),
            (Cbor::text("authData"), Cbor::Bytes(auth_data)),
        ])
        .encode();
        let raw_id = forge.raw_id.as_deref().map_or_else(|| self.id(), b64);
        json!({
            "id": forge.id.clone().unwrap_or_else(|| raw_id.clone()),
            "rawId": raw_id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&attestation_object),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
    }

    /// `navigator.credentials.get()` for these request options (login or MFA), as
    /// `credential.toJSON()`. Advances the counter unless the forge names one.
    pub fn assert(&mut self, options: &Value, forge: &Forge) -> Value {
        let challenge = options["challenge"]
            .as_str()
            .unwrap_or_else(|| panic!("request options with a challenge: {options}"));
        let client_data = forge.client_data("webauthn.get", challenge);
        let counter = forge.counter.unwrap_or(self.counter + self.counter_step);
        self.counter = counter;
        let auth_data = self.authenticator_data(forge, counter, None);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&sha256(&client_data));
        let signature = if forge.wrong_key {
            Key::generate(self.algorithm).sign(&signed)
        } else {
            self.key.sign(&signed)
        };
        let user_handle = match &forge.user_handle {
            None => self.user_handle.as_deref().map(b64),
            Some(handle) => handle.as_deref().map(b64),
        };
        let mut response = json!({
            "clientDataJSON": b64(&client_data),
            "authenticatorData": b64(&auth_data),
            "signature": b64(&signature),
        });
        if let Some(handle) = user_handle {
            response["userHandle"] = json!(handle);
        }
        let raw_id = forge.raw_id.as_deref().map_or_else(|| self.id(), b64);
        json!({
            "id": forge.id.clone().unwrap_or_else(|| raw_id.clone()),
            "rawId": raw_id,
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
    }
}

// ---------------------------------------------------------------------------------------
// The authenticator's own checks, on published vectors (run as e2e trials: they need no
// Worker but live with the code they check).

fn hex(text: &str) -> Vec<u8> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// RFC 8949 appendix A: the encodings of the items WebAuthn uses.
pub fn check_cbor_vectors() {
    let rows: Vec<(Cbor, &str)> = vec![
        (Cbor::Int(0), "00"),
        (Cbor::Int(10), "0a"),
        (Cbor::Int(23), "17"),
        (Cbor::Int(24), "1818"),
        (Cbor::Int(100), "1864"),
        (Cbor::Int(1000), "1903e8"),
        (Cbor::Int(1_000_000), "1a000f4240"),
        (Cbor::Int(1_000_000_000_000), "1b000000e8d4a51000"),
        (Cbor::Int(-1), "20"),
        (Cbor::Int(-10), "29"),
        (Cbor::Int(-100), "3863"),
        (Cbor::Int(-1000), "3903e7"),
        (Cbor::Bytes(vec![]), "40"),
        (Cbor::Bytes(vec![1, 2, 3, 4]), "4401020304"),
        (Cbor::text(""), "60"),
        (Cbor::text("a"), "6161"),
        (Cbor::text("IETF"), "6449455446"),
        (Cbor::text("\u{00fc}"), "62c3bc"),
        (Cbor::Array(vec![]), "80"),
        (Cbor::Array(vec![Cbor::Int(1), Cbor::Int(2), Cbor::Int(3)]), "83010203"),
        (
            Cbor::Array((1..=25).map(Cbor::Int).collect()),
            "98190102030405060708090a0b0c0d0e0f101112131415161718181819",
        ),
        (Cbor::Map(vec![]), "a0"),
        (
            Cbor::Map(vec![(Cbor::Int(1), Cbor::Int(2)), (Cbor::Int(3), Cbor::Int(4))]),
            "a201020304",
        ),
        (
            Cbor::Map(vec![
                (Cbor::text("a"), Cbor::Int(1)),
                (Cbor::text("b"), Cbor::Array(vec![Cbor::Int(2), Cbor::Int(3)])),
            ]),
            "a26161016162820203",
        ),
    ];
    for (item, expected) in rows {
        assert_eq!(item.encode(), hex(expected), "{item:?}");
    }
    let long = Cbor::Bytes(vec![7; 300]).encode();
    assert_eq!(
        &long[..3],
        &[0x59, 0x01, 0x2c],
        "a 300-byte string has a two-byte length"
    );
}

/// RFC 6979 A.2.5 (P-256, SHA-256, "sample") through `Key::sign`'s DER form; RFC 8032
/// §7.1 test 1 (Ed25519, empty message); and the COSE keys' canonical layout.
pub fn check_signature_vectors() {
    let private = hex("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721");
    let key = Key::Es256(p256::ecdsa::SigningKey::from_slice(&private).unwrap());
    let r = hex("EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716");
    let s = hex("F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8");
    // SEQUENCE { INTEGER r, INTEGER s }, each with a leading zero: their high bits are set.
    let mut der = vec![0x30, 0x46, 0x02, 0x21, 0x00];
    der.extend_from_slice(&r);
    der.extend_from_slice(&[0x02, 0x21, 0x00]);
    der.extend_from_slice(&s);
    assert_eq!(key.sign(b"sample"), der, "RFC 6979 A.2.5, DER-encoded");
    let x = hex("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6");
    let y = hex("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299");
    let mut cose = hex("a5 01 02 03 26 20 01 21 58 20");
    cose.extend_from_slice(&x);
    cose.extend_from_slice(&hex("22 58 20"));
    cose.extend_from_slice(&y);
    assert_eq!(
        key.cose().encode(),
        cose,
        "EC2 COSE key {{1: 2, 3: -7, -1: 1, -2: x, -3: y}}"
    );

    let secret: [u8; 32] = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
        .try_into()
        .unwrap();
    let key = Key::Ed25519(ed25519_dalek::SigningKey::from_bytes(&secret));
    let signature = hex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
    assert_eq!(key.sign(b""), signature, "RFC 8032 test 1");
    let mut cose = hex("a4 01 01 03 27 20 06 21 58 20");
    cose.extend_from_slice(&hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"));
    assert_eq!(key.cose().encode(), cose, "OKP COSE key {{1: 1, 3: -8, -1: 6, -2: x}}");
}

/// The ceremony's own layout: authenticator data, flags, counter, attested credential data,
/// and the attestation object's bytes; an assertion's signature verifies with the public key.
pub fn check_ceremony_layout() {
    let mut passkey = Passkey::new(Algorithm::Es256);
    let handle = random_bytes::<32>();
    let options = json!({"challenge": b64(&[9; 32]), "user": {"id": b64(&handle)}});
    let forge = Forge {
        backup_eligible: true,
        backed_up: true,
        user_verified: false,
        ..Forge::default()
    };
    let credential = passkey.register(&options, &forge);
    assert_eq!(credential["id"], credential["rawId"]);
    assert_eq!(passkey.user_handle.as_deref(), Some(&handle[..]));
    let client_data: Value =
        serde_json::from_slice(&unb64(credential["response"]["clientDataJSON"].as_str().unwrap())).unwrap();
    assert_eq!(
        client_data,
        json!({"type": "webauthn.create", "challenge": b64(&[9; 32]), "origin": ORIGIN, "crossOrigin": false})
    );
    let object = unb64(credential["response"]["attestationObject"].as_str().unwrap());
    // {"fmt": "none", "attStmt": {}, "authData": bytes(length)}, a length under 256 in
    // one byte after 0x58.
    let mut start = hex("a3 63 666d74 64 6e6f6e65 67 61747453746d74 a0 68 6175746844617461 58");
    let cose = passkey.key.cose().encode();
    let length = 37 + 16 + 2 + 32 + cose.len();
    assert_eq!(length, 164, "77 bytes of EC2 COSE key");
    start.push(length as u8);
    assert_eq!(&object[..start.len()], &start[..]);
    let data = &object[start.len()..];
    assert_eq!(data.len(), length);
    assert_eq!(&data[..32], &sha256(RP_ID.as_bytes()));
    assert_eq!(data[32], FLAG_UP | FLAG_BE | FLAG_BS | FLAG_AT, "UP, BE, BS, AT; no UV");
    assert_eq!(&data[33..37], &[0, 0, 0, 0]);
    assert_eq!(&data[37..53], &passkey.aaguid);
    assert_eq!(&data[53..55], &[0, 32]);
    assert_eq!(&data[55..87], &passkey.credential_id[..]);
    assert_eq!(&data[87..], &cose[..]);

    let assertion = passkey.assert(&json!({"challenge": b64(&[7; 32])}), &Forge::default());
    let response = &assertion["response"];
    let auth_data = unb64(response["authenticatorData"].as_str().unwrap());
    assert_eq!(auth_data.len(), 37);
    assert_eq!(auth_data[32], FLAG_UP | FLAG_UV);
    assert_eq!(&auth_data[33..37], &[0, 0, 0, 1], "the counter advanced");
    assert_eq!(response["userHandle"], b64(&handle));
    let mut signed = auth_data.clone();
    signed.extend_from_slice(&sha256(&unb64(response["clientDataJSON"].as_str().unwrap())));
    let Key::Es256(key) = passkey.key.clone() else {
        unreachable!()
    };
    let signature = p256::ecdsa::Signature::from_der(&unb64(response["signature"].as_str().unwrap())).unwrap();
    use p256::ecdsa::signature::Verifier as _;
    key.verifying_key()
        .verify(&signed, &signature)
        .expect("the assertion verifies");

    let forged = passkey.assert(
        &json!({"challenge": b64(&[7; 32])}),
        &Forge {
            wrong_key: true,
            user_present: false,
            counter: Some(5),
            user_handle: Some(None),
            ..Forge::default()
        },
    );
    let auth_data = unb64(forged["response"]["authenticatorData"].as_str().unwrap());
    assert_eq!(auth_data[32], FLAG_UV, "UP clear");
    assert_eq!(&auth_data[33..37], &[0, 0, 0, 5]);
    assert!(forged["response"].get("userHandle").is_none());
    let mut signed = auth_data.clone();
    signed.extend_from_slice(&sha256(&unb64(forged["response"]["clientDataJSON"].as_str().unwrap())));
    let signature =
        p256::ecdsa::Signature::from_der(&unb64(forged["response"]["signature"].as_str().unwrap())).unwrap();
    assert!(
        key.verifying_key().verify(&signed, &signature).is_err(),
        "another key signed"
    );
}
