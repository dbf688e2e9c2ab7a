//! Asymmetric signatures as a port. The Worker signs and verifies with the platform's
//! native WebCrypto (Ed25519, ECDSA P-256: no curve code in the wasm); native tests use
//! RustCrypto. Keys travel as the members of their JWK (RFC 7517), base64url.

use async_trait::async_trait;

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

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("crypto failure: {0}")]
pub struct CryptoError(pub String);

/// Signs and verifies with keys named by `kid` (so the platform can keep each imported key).
#[async_trait(?Send)]
pub trait Crypto {
    async fn sign(&self, kid: &str, key: &PrivateKey, input: &[u8]) -> Result<Vec<u8>, CryptoError>;
    /// `Ok(false)` for a signature that does not verify; `Err` only when the key is unusable.
    async fn verify(&self, kid: &str, key: &PublicKey, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError>;
}
