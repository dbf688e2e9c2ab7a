//! The Worker's `Crypto`: WebCrypto (`crypto.subtle`), native in the runtime, so no curve,
//! cipher or SHA-512 code ships in the wasm. Each operation is one call to the small
//! functions below, which run in the platform (as `convert`'s do) and keep the imported
//! keys per isolate: signing keys by `kid` and role, sealing keys by name, RSA keys by
//! their modulus (never by a provider's `kid`, so a reused `kid` never finds another key).
//! HMAC keys are imported for each call: they serve `HS384` and `HS512` only.

use async_trait::async_trait;
use js_sys::Uint8Array;
use serde_json::json;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

use super::calls::js_error;
use crate::kernel::crypto::{Crypto, CryptoError, KeyAlg, Nonce, PrivateKey, PublicKey, RsaPublicKey, SealingKey};

#[wasm_bindgen(inline_js = r#"
const keys = new Map();

async function key(cache, format, material, algorithm, usage) {
  const name = cache + "\n" + usage;
  let found = cache === "" ? undefined : keys.get(name);
  if (found === undefined) {
    const data = format === "jwk" ? JSON.parse(material) : material;
    found = await crypto.subtle.importKey(format, data, JSON.parse(algorithm), false, [usage]);
    if (cache !== "") keys.set(name, found);
  }
  return found;
}

export async function sign(cache, format, material, import_alg, alg, data) {
  const signing = await key(cache, format, material, import_alg, "sign");
  return new Uint8Array(await crypto.subtle.sign(JSON.parse(alg), signing, data));
}

export async function verify(cache, format, material, import_alg, alg, signature, data) {
  const verifying = await key(cache, format, material, import_alg, "verify");
  return crypto.subtle.verify(JSON.parse(alg), verifying, signature, data);
}

export async function seal(cache, material, iv, aad, plaintext) {
  const sealing = await key(cache, "raw", material, '{"name":"AES-GCM"}', "encrypt");
  const algorithm = { name: "AES-GCM", iv, additionalData: aad };
  return new Uint8Array(await crypto.subtle.encrypt(algorithm, sealing, plaintext));
}

export async function open(cache, material, iv, aad, sealed) {
  const opening = await key(cache, "raw", material, '{"name":"AES-GCM"}', "decrypt");
  try {
    const algorithm = { name: "AES-GCM", iv, additionalData: aad };
    return new Uint8Array(await crypto.subtle.decrypt(algorithm, opening, sealed));
  } catch {
    return null;
  }
}
"#)]
extern "C" {
    // Bytes go over as copies (`js`), never as views of the wasm memory: a view goes stale
    // when the memory grows while the call awaits.
    /// The signature of `data` by the key (`material`: JWK text, or raw bytes).
    #[wasm_bindgen(catch)]
    async fn sign(
        cache: &str,
        format: &str,
        material: &JsValue,
        import_alg: &str,
        alg: &str,
        data: &Uint8Array,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    async fn verify(
        cache: &str,
        format: &str,
        material: &JsValue,
        import_alg: &str,
        alg: &str,
        signature: &Uint8Array,
        data: &Uint8Array,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    async fn seal(
        cache: &str,
        material: &Uint8Array,
        iv: &Uint8Array,
        aad: &Uint8Array,
        plaintext: &Uint8Array,
    ) -> Result<JsValue, JsValue>;
    /// The plaintext, or `null` when decryption is refused (the tag does not check out).
    #[wasm_bindgen(catch)]
    async fn open(
        cache: &str,
        material: &Uint8Array,
        iv: &Uint8Array,
        aad: &Uint8Array,
        sealed: &Uint8Array,
    ) -> Result<JsValue, JsValue>;
}

pub struct WebCrypto;

fn fail(context: &'static str) -> impl Fn(JsValue) -> CryptoError {
    move |error| CryptoError(format!("{context}: {}", js_error(error)))
}

fn bytes(value: JsValue) -> Vec<u8> {
    Uint8Array::new(&value).to_vec()
}

/// A copy of `bytes` owned by the platform.
fn js(bytes: &[u8]) -> Uint8Array {
    Uint8Array::from(bytes)
}

/// The import algorithm of a key type, and the signature algorithm, as JSON.
fn algorithms(alg: KeyAlg) -> (&'static str, &'static str) {
    match alg {
        KeyAlg::EdDsa => (r#"{"name":"Ed25519"}"#, r#"{"name":"Ed25519"}"#),
        KeyAlg::Es256 => (
            r#"{"name":"ECDSA","namedCurve":"P-256"}"#,
            r#"{"name":"ECDSA","hash":"SHA-256"}"#,
        ),
    }
}

/// A key's JWK, with the private scalar when it signs.
fn jwk(public: &PublicKey, d: Option<&str>) -> JsValue {
    let (kty, crv) = public.alg.key_type();
    let mut jwk = json!({ "kty": kty, "crv": crv, "x": public.x });
    if let Some(y) = &public.y {
        jwk["y"] = json!(y);
    }
    if let Some(d) = d {
        jwk["d"] = json!(d);
    }
    JsValue::from_str(&jwk.to_string())
}

/// The cache name of a signing key: an empty `kid` is a key used once (a passkey's, at
/// its sign-in), never kept.
fn signing_cache(kid: &str) -> String {
    if kid.is_empty() {
        String::new()
    } else {
        format!("kid:{kid}")
    }
}

/// Whether `signature` of `input` verifies under the JWK `material`.
async fn verify_jwk(
    cache: &str,
    material: &JsValue,
    import_alg: &str,
    alg: &str,
    signature: &[u8],
    input: &[u8],
) -> Result<bool, CryptoError> {
    let verified = verify(cache, "jwk", material, import_alg, alg, &js(signature), &js(input))
        .await
        .map_err(fail("verify"))?;
    Ok(verified.as_bool().unwrap_or(false))
}

/// `RSASSA-PKCS1-v1_5` with SHA-256, as importKey and verify name it.
const RS256: &str = r#"{"name":"RSASSA-PKCS1-v1_5","hash":"SHA-256"}"#;

#[async_trait(?Send)]
impl Crypto for WebCrypto {
    async fn hmac(&self, hash: &'static str, key: &[u8], input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let algorithm = json!({ "name": "HMAC", "hash": hash }).to_string();
        let material: JsValue = js(key).into();
        let mac = sign("", "raw", &material, &algorithm, r#"{"name":"HMAC"}"#, &js(input))
            .await
            .map_err(fail("HMAC"))?;
        Ok(bytes(mac))
    }

    async fn seal(
        &self,
        key: &SealingKey,
        nonce: &Nonce,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let cache = format!("aes:{}", key.name);
        let sealed = seal(&cache, &js(&key.bytes), &js(nonce), &js(aad), &js(plaintext))
            .await
            .map_err(fail("encrypt"))?;
        Ok(bytes(sealed))
    }

    async fn open(
        &self,
        key: &SealingKey,
        nonce: &Nonce,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Option<Vec<u8>>, CryptoError> {
        let cache = format!("aes:{}", key.name);
        let opened = open(&cache, &js(&key.bytes), &js(nonce), &js(aad), &js(sealed))
            .await
            .map_err(fail("decrypt"))?;
        Ok((!opened.is_null()).then(|| bytes(opened)))
    }

    async fn sign(&self, kid: &str, key: &PrivateKey, input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (import_alg, alg) = algorithms(key.public.alg);
        let material = jwk(&key.public, Some(&key.d));
        let signature = sign(&signing_cache(kid), "jwk", &material, import_alg, alg, &js(input))
            .await
            .map_err(fail("sign"))?;
        Ok(bytes(signature))
    }

    async fn verify(&self, kid: &str, key: &PublicKey, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
        let (import_alg, alg) = algorithms(key.alg);
        verify_jwk(&signing_cache(kid), &jwk(key, None), import_alg, alg, signature, input).await
    }

    async fn verify_rs256(&self, key: &RsaPublicKey, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
        let material = json!({ "kty": "RSA", "n": key.n, "e": key.e, "alg": "RS256" }).to_string();
        let cache = format!("rsa:{}", key.n);
        verify_jwk(&cache, &JsValue::from_str(&material), RS256, RS256, signature, input).await
    }
}
