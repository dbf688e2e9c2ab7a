//! The Worker's `Crypto`: WebCrypto (`crypto.subtle`), native in the runtime, so no curve
//! arithmetic ships in the wasm. Imported keys are kept per isolate, by `kid` and role.

use std::cell::RefCell;
use std::collections::HashMap;

use async_trait::async_trait;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use crate::kernel::crypto::{Crypto, CryptoError, KeyAlg, PrivateKey, PublicKey};

thread_local! {
    /// (kid, signing?) -> the imported key.
    static KEYS: RefCell<HashMap<(String, bool), CryptoKey>> = RefCell::new(HashMap::new());
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
    KEYS.with(|keys| keys.borrow_mut().insert((kid.to_owned(), signing), key.clone()));
    Ok(key)
}

#[async_trait(?Send)]
impl Crypto for WebCrypto {
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
