//! Cryptography the platform does natively, as a port: asymmetric signatures, HMAC with
//! the wider SHA-2 hashes and authenticated encryption. The Worker signs, verifies, seals
//! and opens with WebCrypto (Ed25519, ECDSA P-256, HMAC-SHA-384/512, AES-256-GCM: no curve,
//! cipher or SHA-512 code in the wasm); native tests use RustCrypto. Signing keys travel as the members of their JWK (RFC 7517), base64url.
//! RSA is verify-only (RS256 ID tokens of OAuth providers): the Worker never signs with it.

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::secrets::random_bytes;

/// The asymmetric JWS algorithms (RFC 8037 `EdDSA` on Ed25519; RFC 7518 `ES256` on P-256,
/// signatures `R‖S`, 64 bytes). A key's type fixes its algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlg {
    EdDsa,
    Es256,
}

impl KeyAlg {
    /// The JWS `alg` name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
        }
    }

    /// The JWK `kty` and `crv` of its keys.
    pub const fn key_type(self) -> (&'static str, &'static str) {
        match self {
            Self::EdDsa => ("OKP", "Ed25519"),
            Self::Es256 => ("EC", "P-256"),
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::EdDsa, Self::Es256].into_iter().find(|alg| alg.name() == name)
    }
}

/// The public part of a key: `x` (and `y` for P-256), base64url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub alg: KeyAlg,
    pub x: String,
    pub y: Option<String>,
}

/// A key that signs: its public part and the private scalar `d`, base64url. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey {
    pub public: PublicKey,
    pub d: String,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({:?}, d: <redacted>)", self.public)
    }
}

/// An RSA public key as its JWK members (RFC 7518 §6.3.1): modulus `n` and exponent `e`,
/// base64url of their big-endian bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    pub n: String,
    pub e: String,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("crypto failure: {0}")]
pub struct CryptoError(pub String);

/// A 96-bit AES-GCM nonce; `Sealed` draws a fresh random one per message.
pub type Nonce = [u8; 12];

/// An AES-256 key derived from `SECRET_KEY` for one purpose (never the secret itself),
/// named so the platform can keep its imported form. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SealingKey {
    pub name: &'static str,
    pub bytes: [u8; 32],
}

impl SealingKey {
    /// HMAC-SHA256 of the purpose under the service secret: one key per purpose, and the
    /// secret that signs tokens is never used as a cipher key.
    pub fn derive(secret_key: &[u8], name: &'static str) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret_key).expect("HMAC takes any key length");
        mac.update(b"edge-auth sealing key v1\0");
        mac.update(name.as_bytes());
        Self {
            name,
            bytes: mac.finalize().into_bytes().into(),
        }
    }
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealingKey({}, <redacted>)", self.name)
    }
}

/// Signs and verifies with keys named by `kid` (so the platform can keep each imported key;
/// an empty `kid` is a key used once, never kept); seals and opens with AES-256-GCM.
#[async_trait(?Send)]
pub trait Crypto {
    async fn sign(&self, kid: &str, key: &PrivateKey, input: &[u8]) -> Result<Vec<u8>, CryptoError>;
    /// `Ok(false)` for a signature that does not verify; `Err` only when the key is unusable.
    async fn verify(&self, kid: &str, key: &PublicKey, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError>;
    /// RSASSA-PKCS1-v1_5 with SHA-256 (JWS `RS256`): `Ok(false)` for a signature that does
    /// not verify; `Err` only when the key is unusable.
    async fn verify_rs256(&self, key: &RsaPublicKey, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError>;
    /// HMAC (RFC 2104) with `hash`, `SHA-384` or `SHA-512` (JWS `HS384` and `HS512`). HMAC
    /// with SHA-256, which everything else uses, is computed in the wasm.
    async fn hmac(&self, hash: &'static str, key: &[u8], input: &[u8]) -> Result<Vec<u8>, CryptoError>;
    /// AES-256-GCM with a 128-bit tag, binding `aad`: the ciphertext followed by the tag.
    async fn seal(&self, key: &SealingKey, nonce: &Nonce, aad: &[u8], plaintext: &[u8])
        -> Result<Vec<u8>, CryptoError>;
    /// The plaintext; `Ok(None)` when the tag does not check out (another key, nonce or
    /// `aad`, or any byte changed); `Err` only when the key is unusable.
    async fn open(
        &self,
        key: &SealingKey,
        nonce: &Nonce,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Option<Vec<u8>>, CryptoError>;
}

/// The text form of a sealed secret, as stored: `v1.` and base64url of nonce ‖ ciphertext ‖ tag.
const SEALED_PREFIX: &str = "v1.";

/// Seals `plaintext` under `key` with a fresh random nonce, bound to `aad` (say, the owner's
/// id, so a row copied to another user does not open), as storable text.
pub async fn seal_text(
    crypto: &dyn Crypto,
    key: &SealingKey,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<String, CryptoError> {
    let mut nonce: Nonce = [0; 12];
    random_bytes(&mut nonce);
    let sealed = crypto.seal(key, &nonce, aad, plaintext).await?;
    let mut bytes = nonce.to_vec();
    bytes.extend(sealed);
    Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The plaintext of `seal_text`'s output; `Ok(None)` for text that is not one, or was
/// sealed under another key or `aad`, or was changed.
pub async fn open_text(
    crypto: &dyn Crypto,
    key: &SealingKey,
    aad: &[u8],
    text: &str,
) -> Result<Option<Vec<u8>>, CryptoError> {
    let Some(bytes) = text
        .strip_prefix(SEALED_PREFIX)
        .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
    else {
        return Ok(None);
    };
    // A nonce and at least the tag.
    if bytes.len() < 12 + 16 {
        return Ok(None);
    }
    let (nonce, sealed) = bytes.split_at(12);
    let nonce: Nonce = nonce.try_into().expect("split at 12");
    crypto.open(key, &nonce, aad, sealed).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::testing::NativeCrypto;

    fn key(name: &'static str) -> SealingKey {
        SealingKey::derive(b"a-test-secret-key-that-is-long-enough-0123", name)
    }

    fn seal(key: &SealingKey, aad: &[u8], plaintext: &[u8]) -> String {
        pollster::block_on(seal_text(&NativeCrypto, key, aad, plaintext)).unwrap()
    }

    fn open(key: &SealingKey, aad: &[u8], text: &str) -> Option<Vec<u8>> {
        pollster::block_on(open_text(&NativeCrypto, key, aad, text)).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_aad_only() {
        let k = key("totp");
        let text = seal(&k, b"user-1", b"twenty secret bytes!");
        assert!(text.starts_with("v1.") && !text.contains("twenty"));
        assert_eq!(
            open(&k, b"user-1", &text).as_deref(),
            Some(&b"twenty secret bytes!"[..])
        );
        assert_ne!(
            text,
            seal(&k, b"user-1", b"twenty secret bytes!"),
            "a fresh nonce each time"
        );
        assert_eq!(open(&k, b"user-2", &text), None, "another owner");
        assert_eq!(open(&key("other"), b"user-1", &text), None, "another purpose's key");
        let other_secret = SealingKey::derive(b"another-secret-key-that-is-long-enough-9", "totp");
        assert_eq!(open(&other_secret, b"user-1", &text), None, "another SECRET_KEY");
    }

    #[test]
    fn any_changed_byte_is_refused() {
        let k = key("totp");
        let text = seal(&k, b"u", b"secret");
        let bytes = URL_SAFE_NO_PAD.decode(&text[3..]).unwrap();
        for i in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 0x01;
            let tampered = format!("v1.{}", URL_SAFE_NO_PAD.encode(tampered));
            assert_eq!(open(&k, b"u", &tampered), None, "byte {i} flipped");
        }
        let truncated = format!("v1.{}", URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() - 1]));
        for bad in [
            "",
            "v1.",
            "v2.AAAA",
            "v1.!!!!",
            &truncated,
            &text[..20],
            "twenty secret bytes!",
        ] {
            assert_eq!(open(&k, b"u", bad), None, "{bad:?}");
        }
    }

    #[test]
    fn keys_never_print() {
        let printed = format!("{:?}", key("totp"));
        assert_eq!(printed, "SealingKey(totp, <redacted>)");
    }
}
