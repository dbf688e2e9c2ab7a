//! The Worker's `Crypto`: WebCrypto (`crypto.subtle`), native in the runtime, so no curve
//! or cipher code ships in the wasm. Imported keys are kept per isolate, by `kid` and role
//! (signing keys) or by name (sealing keys).

use std::cell::RefCell;
use std::collections::HashMap;

use async_trait::async_trait;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use crate::kernel::crypto::{Crypto, CryptoError, KeyAlg, Nonce, PrivateKey, PublicKey, SealingKey};

thread_local! {
    /// (kid, signing?) -> the imported key.
    static KEYS: RefCell<HashMap<(String, bool), CryptoKey>> = RefCell::new(HashMap::new());
    /// A sealing key's name -> the imported AES-GCM key.
    static SEALING_KEYS: RefCell<HashMap<&'static str, CryptoKey>> = RefCell::new(HashMap::new());
}

pub struct WebCrypto;

fn fail(context: &str) -> impl Fn(JsValue) -> CryptoError + '_ {
    move |error| {
        CryptoError(format!(
            "{context}: {}",
            error.as_string().unwrap_or_else(|| format!("{error:?}"))
        ))
    }
}

fn subtle() -> Result<SubtleCrypto, CryptoError> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).map_err(fail("crypto"))?;
    Reflect::get(&crypto, &"subtle".into())
        .map_err(fail("crypto.subtle"))?
        .dyn_into::<SubtleCrypto>()
        .map_err(fail("crypto.subtle"))
}

fn object(members: &[(&str, &str)]) -> Object {
    let object = Object::new();
    for (name, value) in members {
        let _ = Reflect::set(&object, &(*name).into(), &(*value).into());
    }
    object
}

/// The import algorithm of a key type, and the signature algorithm.
fn algorithms(alg: KeyAlg) -> (Object, Object) {
    match alg {
        KeyAlg::EdDsa => (object(&[("name", "Ed25519")]), object(&[("name", "Ed25519")])),
        KeyAlg::Es256 => (
            object(&[("name", "ECDSA"), ("namedCurve", "P-256")]),
            object(&[("name", "ECDSA"), ("hash", "SHA-256")]),
        ),
    }
}

async fn import(kid: &str, public: &PublicKey, d: Option<&str>) -> Result<CryptoKey, CryptoError> {
    let signing = d.is_some();
    // An empty kid is a key used once (a passkey's, at its sign-in): never kept.
    let cached = !kid.is_empty();
    if let Some(key) = KEYS.with(|keys| keys.borrow().get(&(kid.to_owned(), signing)).cloned()) {
        return Ok(key);
    }
    let (kty, crv) = public.alg.key_type();
    let mut members = vec![("kty", kty), ("crv", crv), ("x", public.x.as_str())];
    if let Some(y) = public.y.as_deref() {
        members.push(("y", y));
    }
    if let Some(d) = d {
        members.push(("d", d));
    }
    let usages = Array::of1(&(if signing { "sign" } else { "verify" }).into());
    let (import_alg, _) = algorithms(public.alg);
    let promise = subtle()?
        .import_key_with_object("jwk", &object(&members), &import_alg, false, &usages)
        .map_err(fail("importKey"))?;
    let key: CryptoKey = JsFuture::from(promise)
        .await
        .map_err(fail("importKey"))?
        .dyn_into()
        .map_err(fail("importKey"))?;
    if cached {
        KEYS.with(|keys| keys.borrow_mut().insert((kid.to_owned(), signing), key.clone()));
    }
    Ok(key)
}

async fn import_sealing(key: &SealingKey) -> Result<CryptoKey, CryptoError> {
    if let Some(imported) = SEALING_KEYS.with(|keys| keys.borrow().get(key.name).cloned()) {
        return Ok(imported);
    }
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    let raw = Uint8Array::from(&key.bytes[..]);
    let promise = subtle()?
        .import_key_with_object("raw", &raw, &object(&[("name", "AES-GCM")]), false, &usages)
        .map_err(fail("importKey"))?;
    let imported: CryptoKey = JsFuture::from(promise)
        .await
        .map_err(fail("importKey"))?
        .dyn_into()
        .map_err(fail("importKey"))?;
    SEALING_KEYS.with(|keys| keys.borrow_mut().insert(key.name, imported.clone()));
    Ok(imported)
}

/// `{name: "AES-GCM", iv, additionalData}` (the tag is 128 bits by default).
fn aes_gcm(nonce: &Nonce, aad: &[u8]) -> Object {
    let algorithm = object(&[("name", "AES-GCM")]);
    let _ = Reflect::set(&algorithm, &"iv".into(), &Uint8Array::from(&nonce[..]));
    let _ = Reflect::set(&algorithm, &"additionalData".into(), &Uint8Array::from(aad));
    algorithm
}

#[async_trait(?Send)]
impl Crypto for WebCrypto {
    async fn seal(
        &self,
        key: &SealingKey,
        nonce: &Nonce,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let imported = import_sealing(key).await?;
        let promise = subtle()?
            .encrypt_with_object_and_u8_array(&aes_gcm(nonce, aad), &imported, plaintext)
            .map_err(fail("encrypt"))?;
        let sealed = JsFuture::from(promise).await.map_err(fail("encrypt"))?;
        Ok(Uint8Array::new(&sealed).to_vec())
    }

    async fn open(
        &self,
        key: &SealingKey,
        nonce: &Nonce,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Option<Vec<u8>>, CryptoError> {
        let imported = import_sealing(key).await?;
        let promise = subtle()?
            .decrypt_with_object_and_u8_array(&aes_gcm(nonce, aad), &imported, sealed)
            .map_err(fail("decrypt"))?;
        // WebCrypto rejects with an OperationError when the tag does not check out.
        match JsFuture::from(promise).await {
            Ok(plaintext) => Ok(Some(Uint8Array::new(&plaintext).to_vec())),
            Err(_) => Ok(None),
        }
    }

    async fn sign(&self, kid: &str, key: &PrivateKey, input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let imported = import(kid, &key.public, Some(&key.d)).await?;
        let (_, sign_alg) = algorithms(key.public.alg);
        let promise = subtle()?
            .sign_with_object_and_u8_array(&sign_alg, &imported, input)
            .map_err(fail("sign"))?;
        let signature = JsFuture::from(promise).await.map_err(fail("sign"))?;
        Ok(Uint8Array::new(&signature).to_vec())
    }

    async fn verify(&self, kid: &str, key: &PublicKey, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
        let imported = import(kid, key, None).await?;
        let (_, sign_alg) = algorithms(key.alg);
        let promise = subtle()?
            .verify_with_object_and_u8_array_and_u8_array(&sign_alg, &imported, signature, input)
            .map_err(fail("verify"))?;
        let verified = JsFuture::from(promise).await.map_err(fail("verify"))?;
        Ok(verified.as_bool().unwrap_or(false))
    }
}
