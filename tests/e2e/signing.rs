//! Token signing, black box: ../shared/spec/signing.md, "Checks a black-box test can make".
//! The shared instance runs the default (`HS256`); instances of their own run `HS512`,
//! `EdDSA` and `ES256` with a two-key set made here, the same `EdDSA` set without its
//! verify-only key, and two sets the Worker must refuse. Forged tokens reuse the payload
//! of a live session's token, so the only thing wrong with each is what the test names; a
//! control beside each forgery shows the same construction with the right key is accepted.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;
use serde_json::{json, Value};

use crate::harness::worker::node;
use crate::harness::{spawn_app, spawn_isolated_app_with, unique_email, TestApp, ALLOWED_ORIGIN, PASSWORD};

const JWKS: &str = "/.well-known/jwks.json";
const DISCOVERY: &str = "/.well-known/openid-configuration";
/// `JWT_ISSUER` and `JWT_AUDIENCE` as the harness leaves them (their defaults).
const ISSUER: &str = "edge-auth";
const AUDIENCE: &str = "edge-auth";
const CLAIMS: [&str; 7] = ["iss", "aud", "sub", "sid", "iat", "exp", "roles"];
/// What `jwks.json` must never publish.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "k", "oth"];

const EDDSA_KID: &str = "eddsa-e2e-1";
const ES256_KID: &str = "es256-e2e-1";

// ---------------------------------------------------------------------------------------
// Keys, made here from fixed private scalars.

enum Secret {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

struct TestKey {
    kid: &'static str,
    secret: Secret,
}

fn scalar(base64url: &str) -> [u8; 32] {
    URL_SAFE_NO_PAD.decode(base64url).unwrap().try_into().unwrap()
}

fn ed25519(kid: &'static str, d: [u8; 32]) -> TestKey {
    TestKey {
        kid,
        secret: Secret::Ed25519(ed25519_dalek::SigningKey::from_bytes(&d)),
    }
}

fn p256(kid: &'static str, d: [u8; 32]) -> TestKey {
    let key = p256::ecdsa::SigningKey::from_bytes(&d.into()).expect("a valid P-256 scalar");
    TestKey {
        kid,
        secret: Secret::P256(key),
    }
}

/// The current key of the EdDSA set: RFC 8037 A.1's Ed25519 private key.
fn eddsa_key() -> TestKey {
    ed25519(EDDSA_KID, scalar("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"))
}

/// Its verify-only key (and the current key of the ES256 set): RFC 7515 A.3's P-256 key.
fn es256_key() -> TestKey {
    p256(ES256_KID, scalar("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"))
}

/// Keys in no set, of both types.
fn outside_ed25519(kid: &'static str) -> TestKey {
    ed25519(kid, [7; 32])
}

fn outside_p256(kid: &'static str) -> TestKey {
    p256(kid, [9; 32])
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TestKey {
    fn alg(&self) -> &'static str {
        match self.secret {
            Secret::Ed25519(_) => "EdDSA",
            Secret::P256(_) => "ES256",
        }
    }

    /// `kty`, `crv`, `x` (and `y`): the public part, no `kid`.
    fn public_part(&self) -> Value {
        match &self.secret {
            Secret::Ed25519(key) => {
                json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(key.verifying_key().as_bytes()) })
            }
            Secret::P256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                json!({ "kty": "EC", "crv": "P-256", "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()) })
            }
        }
    }

    /// The key as `JWT_SIGNING_KEYS` holds it: public part, `kid` and `d`.
    fn private_jwk(&self) -> Value {
        let mut jwk = self.public_part();
        jwk["kid"] = self.kid.into();
        jwk["d"] = match &self.secret {
            Secret::Ed25519(key) => b64(key.to_bytes()),
            Secret::P256(key) => b64(key.to_bytes()),
        }
        .into();
        jwk
    }

    /// A JWS signature: Ed25519 per RFC 8037, ES256 as `R‖S` (64 bytes).
    fn sign(&self, input: &[u8]) -> Vec<u8> {
        match &self.secret {
            Secret::Ed25519(key) => ed25519_dalek::Signer::sign(key, input).to_bytes().to_vec(),
            Secret::P256(key) => {
                let signature: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(key, input);
                signature.to_bytes().to_vec()
            }
        }
    }

    /// The header this key's tokens carry in the Worker's own format.
    fn header(&self) -> Value {
        json!({ "alg": self.alg(), "typ": "JWT", "kid": self.kid })
    }
}

fn key_set(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

// ---------------------------------------------------------------------------------------
// The instances.

/// `ALGORITHM=EdDSA`, the Ed25519 key current and the P-256 key verify-only.
fn eddsa_app() -> &'static TestApp {
    let set = key_set(&[eddsa_key().private_jwk(), es256_key().private_jwk()]);
    spawn_isolated_app_with(
        "signing-eddsa",
        &[("ALGORITHM", "EdDSA"), ("JWT_SIGNING_KEYS", &set)],
        TestApp::is_healthy,
    )
}

/// `ALGORITHM=ES256`, the P-256 key current and the Ed25519 key verify-only.
fn es256_app() -> &'static TestApp {
    let set = key_set(&[es256_key().private_jwk(), eddsa_key().private_jwk()]);
    spawn_isolated_app_with(
        "signing-es256",
        &[("ALGORITHM", "ES256"), ("JWT_SIGNING_KEYS", &set)],
        TestApp::is_healthy,
    )
}

/// The EdDSA set after its verify-only key was dropped (rotation step 5).
fn key_dropped_app() -> &'static TestApp {
    let set = key_set(&[eddsa_key().private_jwk()]);
    spawn_isolated_app_with(
        "signing-key-dropped",
        &[("ALGORITHM", "EdDSA"), ("JWT_SIGNING_KEYS", &set)],
        TestApp::is_healthy,
    )
}

/// `ALGORITHM=HS512`: HMAC-SHA-512 under `SECRET_KEY`, which the Worker has WebCrypto compute.
fn hs512_app() -> &'static TestApp {
    spawn_isolated_app_with("signing-hs512", &[("ALGORITHM", "HS512")], TestApp::is_healthy)
}

// ---------------------------------------------------------------------------------------
// Tokens.

fn part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn header_of(token: &str) -> Value {
    part(token, 0)
}

fn payload_of(token: &str) -> Value {
    part(token, 1)
}

/// `token`'s payload under `header`, signed by `sign` over the new signing input.
fn resigned(token: &str, header: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let input = format!("{}.{payload}", b64(header.to_string()));
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(signature))
}

/// HMAC-SHA-256 keyed by `key`, as an `HS256` signer.
fn hs256(key: &[u8]) -> impl Fn(&[u8]) -> Vec<u8> + '_ {
    move |input| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    }
}

/// HMAC-SHA-512 keyed by `key`, as an `HS512` signer.
fn hs512(key: &[u8]) -> impl Fn(&[u8]) -> Vec<u8> + '_ {
    move |input| {
        let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(key).unwrap();
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    }
}

fn no_signature(_: &[u8]) -> Vec<u8> {
    Vec::new()
}

/// A token for a live session on `app`: a fresh verified account, logged in.
fn live_token(app: &TestApp) -> String {
    app.logged_in_user("signing").1
}

fn assert_accepted(app: &TestApp, token: &str, what: &str) {
    let answer = app.me(token);
    assert_eq!(answer.status, 200, "{what} was refused: {}", answer.body);
}

fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let answer = app.me(token);
    assert_eq!(answer.status, 401, "{what} was not refused: {}", answer.body);
    answer.assert_problem(401, "invalid_token");
}

/// The control of every forgery test: the live token's payload re-signed by the current
/// key under the Worker's own header is accepted, so the forgeries fail for what they name.
fn assert_resigning_by_the_current_key_is_accepted(app: &TestApp, token: &str) {
    let current = eddsa_key();
    let control = resigned(token, &current.header(), |input| current.sign(input));
    assert_ne!(control, token, "the control is a token of its own");
    assert_accepted(app, &control, "the payload re-signed by the current key");
}

/// `tests/e2e/tools/verify-jwt.mjs`: `jose` reads `app`'s discovery document, fetches the
/// key set at its `jwks_uri` and verifies `token` with it. Its verdict: payload and header,
/// or the reason it refused.
fn jose_verifies(app: &TestApp, token: &str) -> Result<Value, String> {
    let output = node()
        .arg("tests/e2e/tools/verify-jwt.mjs")
        .args([&app.url(DISCOVERY), token, ISSUER, AUDIENCE])
        .output()
        .expect("node runs (run scripts/setup.sh first)");
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).expect("verify-jwt.mjs prints JSON"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

// ---------------------------------------------------------------------------------------
// Default configuration: HS256.

pub fn by_default_tokens_are_hs256_and_name_no_key() {
    let app = spawn_app();
    let token = live_token(app);
    assert_eq!(header_of(&token), json!({ "alg": "HS256", "typ": "JWT" }));
    assert_accepted(app, &token, "a fresh HS256 token");
}

/// The shared secret is never published; discovery names the one HMAC algorithm.
pub fn by_default_the_key_set_is_empty_and_discovery_lists_only_hs256() {
    let app = spawn_app();
    let jwks = app.get(JWKS);
    assert_eq!(jwks.status, 200, "{}", jwks.body);
    assert_eq!(jwks.json(), json!({ "keys": [] }));
    let discovery = app.get(DISCOVERY);
    assert_eq!(discovery.status, 200, "{}", discovery.body);
    assert_eq!(
        discovery.json(),
        json!({
            "issuer": ISSUER,
            "jwks_uri": app.url(JWKS),
            "id_token_signing_alg_values_supported": ["HS256"],
            "subject_types_supported": ["public"],
            "claims_supported": CLAIMS,
        })
    );
}

/// Public data: cacheable for 300 s and readable from any origin, never with credentials,
/// whether the request names no origin, a foreign one or a credentialed one.
pub fn the_key_set_and_discovery_are_public_cacheable_json_for_any_origin() {
    let app = spawn_app();
    for path in [JWKS, DISCOVERY] {
        for origin in [None, Some("http://evil.test"), Some(ALLOWED_ORIGIN)] {
            let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
            let answer = app.request("GET", path, &headers, None);
            let all = |name: &str| -> Vec<&str> {
                answer
                    .headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
                    .collect()
            };
            let what = format!("GET {path} with Origin {origin:?}");
            assert_eq!(answer.status, 200, "{what}: {}", answer.body);
            assert_eq!(all("content-type"), ["application/json"], "{what}");
            assert_eq!(all("cache-control"), ["public, max-age=300"], "{what}");
            assert_eq!(all("access-control-allow-origin"), ["*"], "{what}");
            assert!(all("access-control-allow-credentials").is_empty(), "{what}");
        }
    }
}

pub fn the_key_set_and_discovery_are_in_the_openapi_document() {
    let doc = spawn_app().get("/openapi.json").json();
    for path in [JWKS, DISCOVERY] {
        let operation = &doc["paths"][path]["get"];
        assert!(operation.is_object(), "GET {path} is missing");
        assert!(operation["responses"]["200"].is_object(), "GET {path}: no 200 answer");
    }
}

// ---------------------------------------------------------------------------------------
// EdDSA and ES256: tokens that other services verify offline.

/// What every asymmetric instance must do with its own tokens: name the current key, carry
/// the claims, be accepted by the Worker and by `jose` through discovery (and not once
/// tampered with).
fn assert_tokens_name_the_current_key_and_verify_offline(app: &TestApp, current: &TestKey) {
    let (email, token) = app.logged_in_user("offline");
    assert_eq!(header_of(&token), current.header());
    let payload = payload_of(&token);
    let mut claims: Vec<&str> = payload.as_object().unwrap().keys().map(String::as_str).collect();
    claims.sort_unstable();
    let mut expected = CLAIMS.to_vec();
    expected.sort_unstable();
    assert_eq!(claims, expected, "{payload}");
    let user = app.me(&token);
    assert_eq!(user.status, 200, "{}", user.body);
    assert_eq!(user.json()["email"], email);
    assert_eq!(payload["sub"], user.json()["id"]);
    assert_eq!(
        (payload["iss"].as_str(), payload["aud"].as_str()),
        (Some(ISSUER), Some(AUDIENCE))
    );
    assert!(payload["sid"].is_string() && payload["roles"].is_array(), "{payload}");
    assert_eq!(
        payload["exp"].as_i64().unwrap() - payload["iat"].as_i64().unwrap(),
        1800
    );

    let verified = jose_verifies(app, &token).unwrap_or_else(|e| panic!("jose refused the token: {e}"));
    assert_eq!(verified["header"], current.header());
    assert_eq!(verified["payload"], payload);

    let mut tampered = payload.clone();
    tampered["sub"] = json!("00000000-0000-4000-8000-000000000000");
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], b64(tampered.to_string()), parts[2]);
    assert!(
        jose_verifies(app, &tampered).is_err(),
        "jose accepted a tampered payload: the check proves nothing"
    );
}

pub fn eddsa_tokens_name_the_first_key_and_jose_verifies_them_through_discovery() {
    assert_tokens_name_the_current_key_and_verify_offline(eddsa_app(), &eddsa_key());
}

pub fn es256_tokens_name_the_first_key_and_jose_verifies_them_through_discovery() {
    assert_tokens_name_the_current_key_and_verify_offline(es256_app(), &es256_key());
}

/// Offline verifiers accept the verify-only key's tokens too: it is published.
pub fn jose_verifies_a_token_of_the_verify_only_key_through_discovery() {
    let app = eddsa_app();
    let second = es256_key();
    let token = resigned(&live_token(app), &second.header(), |input| second.sign(input));
    let verified = jose_verifies(app, &token).unwrap_or_else(|e| panic!("jose refused the token: {e}"));
    assert_eq!(verified["header"]["kid"], ES256_KID);
}

/// Each key of the set, in set order, as its public part with `kid`, `alg` and `use`; no
/// private member; discovery lists the set's algorithms, current first.
pub fn the_key_sets_publish_each_public_key_in_set_order_and_nothing_private() {
    for (app, keys) in [
        (eddsa_app(), [eddsa_key(), es256_key()]),
        (es256_app(), [es256_key(), eddsa_key()]),
    ] {
        let answer = app.get(JWKS);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let published = answer.json()["keys"].as_array().cloned().unwrap();
        let expected: Vec<Value> = keys
            .iter()
            .map(|key| {
                let mut jwk = key.public_part();
                jwk["kid"] = key.kid.into();
                jwk["alg"] = key.alg().into();
                jwk["use"] = "sig".into();
                jwk
            })
            .collect();
        assert_eq!(published, expected);
        for jwk in &published {
            for member in PRIVATE_MEMBERS {
                assert!(jwk.get(member).is_none(), "{member} published: {jwk}");
            }
        }
        let discovery = app.get(DISCOVERY).json();
        let algorithms: Vec<&str> = keys.iter().map(TestKey::alg).collect();
        assert_eq!(discovery["id_token_signing_alg_values_supported"], json!(algorithms));
        assert_eq!(discovery["jwks_uri"], app.url(JWKS));
        assert_eq!(discovery["issuer"], ISSUER);
    }
}

// ---------------------------------------------------------------------------------------
// EdDSA: which tokens the Worker accepts.

pub fn a_token_signed_by_the_verify_only_key_is_accepted() {
    let app = eddsa_app();
    let (email, token) = app.logged_in_user("verify-only");
    let second = es256_key();
    let by_second = resigned(&token, &second.header(), |input| second.sign(input));
    let answer = app.me(&by_second);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["email"], email);
}

/// Both key types, with the kid of a key of the set, of an unknown key, and none.
pub fn a_valid_signature_by_a_key_outside_the_set_is_401() {
    let app = eddsa_app();
    let token = live_token(app);
    assert_resigning_by_the_current_key_is_accepted(app, &token);
    let cases = [
        (
            outside_ed25519(EDDSA_KID),
            "an Ed25519 key outside the set, under the current key's kid",
        ),
        (
            outside_ed25519("eddsa-outside"),
            "an Ed25519 key outside the set, under its own kid",
        ),
        (
            outside_p256(ES256_KID),
            "a P-256 key outside the set, under the verify-only key's kid",
        ),
        (
            outside_p256("es256-outside"),
            "a P-256 key outside the set, under its own kid",
        ),
    ];
    for (outsider, what) in cases {
        let forged = resigned(&token, &outsider.header(), |input| outsider.sign(input));
        assert_refused(app, &forged, what);
    }
    let outsider = outside_ed25519(EDDSA_KID);
    let no_kid = resigned(&token, &json!({ "alg": "EdDSA", "typ": "JWT" }), |input| {
        outsider.sign(input)
    });
    assert_refused(app, &no_kid, "an Ed25519 key outside the set, no kid");
}

/// The set's two keys swapped: a kid names one key, the other one signed.
pub fn a_kid_naming_one_key_over_a_signature_by_another_is_401() {
    let app = eddsa_app();
    let token = live_token(app);
    assert_resigning_by_the_current_key_is_accepted(app, &token);
    let (first, second) = (eddsa_key(), es256_key());
    let header = |alg: &str, kid: &str| json!({ "alg": alg, "typ": "JWT", "kid": kid });
    let cases = [
        (
            header("EdDSA", ES256_KID),
            &first,
            "alg of the signer, kid of the P-256 key",
        ),
        (
            header("ES256", EDDSA_KID),
            &second,
            "alg of the signer, kid of the Ed25519 key",
        ),
        (
            header("ES256", ES256_KID),
            &first,
            "the P-256 key named, the Ed25519 key signed",
        ),
        (
            header("EdDSA", EDDSA_KID),
            &second,
            "the Ed25519 key named, the P-256 key signed",
        ),
    ];
    for (header, signer, what) in cases {
        let forged = resigned(&token, &header, |input| signer.sign(input));
        assert_refused(app, &forged, what);
    }
}

/// The header's `kid` is what finds the key: the current key's own signature is refused
/// without one, or under a kid the set does not hold.
pub fn a_valid_signature_without_a_kid_or_under_an_unknown_kid_is_401() {
    let app = eddsa_app();
    let token = live_token(app);
    assert_resigning_by_the_current_key_is_accepted(app, &token);
    let current = eddsa_key();
    for header in [
        json!({ "alg": "EdDSA", "typ": "JWT" }),
        json!({ "alg": "EdDSA", "typ": "JWT", "kid": "eddsa-e2e-unknown" }),
        json!({ "alg": "EdDSA", "typ": "JWT", "kid": "" }),
        json!({ "alg": "EdDSA", "typ": "JWT", "kid": null }),
    ] {
        let forged = resigned(&token, &header, |input| current.sign(input));
        assert_refused(app, &forged, &format!("the current key's signature under {header}"));
    }
}

/// The classic confusion: a verifier that lets `alg` choose would take the public key, which
/// anyone can read in `jwks.json`, as an HMAC secret.
pub fn hs256_keyed_with_the_public_key_is_401() {
    let app = eddsa_app();
    let token = live_token(app);
    assert_resigning_by_the_current_key_is_accepted(app, &token);
    let published = app.get(JWKS).json()["keys"][0].clone();
    assert_eq!(published["kid"], EDDSA_KID);
    let x = published["x"].as_str().unwrap().to_owned();
    let keys: [(Vec<u8>, &str); 3] = [
        (URL_SAFE_NO_PAD.decode(&x).unwrap(), "the public key's bytes"),
        (x.clone().into_bytes(), "the public key's base64url text"),
        (published.to_string().into_bytes(), "the published JWK"),
    ];
    for (key, what) in &keys {
        for header in [
            json!({ "alg": "HS256", "typ": "JWT", "kid": EDDSA_KID }),
            json!({ "alg": "HS256", "typ": "JWT" }),
        ] {
            let forged = resigned(&token, &header, hs256(key));
            assert_refused(app, &forged, &format!("HS256 keyed with {what}, header {header}"));
        }
    }
}

pub fn alg_none_is_401() {
    let app = eddsa_app();
    let token = live_token(app);
    assert_resigning_by_the_current_key_is_accepted(app, &token);
    for alg in ["none", "None", "NONE"] {
        for header in [
            json!({ "alg": alg, "typ": "JWT", "kid": EDDSA_KID }),
            json!({ "alg": alg, "typ": "JWT" }),
        ] {
            assert_refused(app, &resigned(&token, &header, no_signature), &format!("{header}"));
        }
    }
    let current = eddsa_key();
    let signed_anyway = resigned(
        &token,
        &json!({ "alg": "none", "typ": "JWT", "kid": EDDSA_KID }),
        |input| current.sign(input),
    );
    assert_refused(app, &signed_anyway, "alg none over a valid Ed25519 signature");
}

/// A `jwk` header is never used to find a key: the attacker's key embedded, and signing.
pub fn an_embedded_jwk_header_with_the_attackers_key_is_401() {
    let app = eddsa_app();
    let token = live_token(app);
    assert_resigning_by_the_current_key_is_accepted(app, &token);
    let attacker = outside_ed25519("attacker");
    let jwk = attacker.public_part();
    let mut jwk_with_kid = jwk.clone();
    jwk_with_kid["kid"] = "attacker".into();
    let cases = [
        (json!({ "alg": "EdDSA", "typ": "JWT", "jwk": jwk }), "no kid"),
        (
            json!({ "alg": "EdDSA", "typ": "JWT", "kid": EDDSA_KID, "jwk": jwk }),
            "the current key's kid",
        ),
        (
            json!({ "alg": "EdDSA", "typ": "JWT", "kid": "attacker", "jwk": jwk_with_kid }),
            "the embedded key's own kid",
        ),
    ];
    for (header, what) in cases {
        let forged = resigned(&token, &header, |input| attacker.sign(input));
        assert_refused(app, &forged, &format!("an embedded jwk, {what}"));
    }
}

/// In `HS512` mode a token is HMAC-SHA-512 of its signing input under `SECRET_KEY`, and only
/// that passes: the same payload under `HS256` with the same key, under `HS512` with another
/// key, with one bit of the MAC flipped or with the MAC cut short is refused.
pub fn hs512_tokens_are_hmac_sha512_under_secret_key_and_nothing_else_passes() {
    let app = hs512_app();
    let token = live_token(app);
    let header = json!({ "alg": "HS512", "typ": "JWT" });
    assert_eq!(header_of(&token), header);
    let (input, signature) = token.rsplit_once('.').unwrap();
    let key = app.secret_key.as_bytes();
    assert_eq!(URL_SAFE_NO_PAD.decode(signature).unwrap(), hs512(key)(input.as_bytes()));
    assert_accepted(app, &token, "a fresh HS512 token");
    let control = resigned(&token, &header, hs512(key));
    assert_eq!(control, token, "the same construction makes the same token");

    let hs256_header = json!({ "alg": "HS256", "typ": "JWT" });
    assert_refused(
        app,
        &resigned(&token, &hs256_header, hs256(key)),
        "HS256 under SECRET_KEY",
    );
    assert_refused(
        app,
        &resigned(&token, &header, hs512(b"another key")),
        "HS512 under another key",
    );
    let mut mac = hs512(key)(input.as_bytes());
    mac[17] ^= 0x01;
    assert_refused(app, &format!("{input}.{}", b64(&mac)), "HS512 with one bit flipped");
    let short = &hs512(key)(input.as_bytes())[..32];
    assert_refused(app, &format!("{input}.{}", b64(short)), "HS512 cut to 32 bytes");
}

/// An HMAC token made with the Worker's own `SECRET_KEY` is refused in EdDSA mode; the
/// same construction on the HS256 instance (same harness secret) is accepted.
pub fn an_hs256_token_made_with_secret_key_is_401_in_eddsa_mode() {
    let hs = spawn_app();
    let header = json!({ "alg": "HS256", "typ": "JWT" });
    let control = resigned(&live_token(hs), &header, hs256(hs.secret_key.as_bytes()));
    assert_accepted(hs, &control, "an HS256 token made with SECRET_KEY, in HS256 mode");

    let app = eddsa_app();
    assert!(!app.secret_key.is_empty());
    let token = live_token(app);
    for header in [header, json!({ "alg": "HS256", "typ": "JWT", "kid": EDDSA_KID })] {
        let forged = resigned(&token, &header, hs256(app.secret_key.as_bytes()));
        assert_refused(app, &forged, &format!("{header} made with SECRET_KEY"));
    }
}

/// `crit` names extensions the verifier must understand: it understands none.
pub fn a_crit_header_is_401_even_over_a_valid_signature() {
    let app = eddsa_app();
    let token = live_token(app);
    assert_resigning_by_the_current_key_is_accepted(app, &token);
    let current = eddsa_key();
    for crit in [json!(["exp"]), json!(["b64"]), json!([])] {
        let mut header = current.header();
        header["crit"] = crit;
        if header["crit"] == json!(["b64"]) {
            header["b64"] = json!(true);
        }
        let forged = resigned(&token, &header, |input| current.sign(input));
        assert_refused(app, &forged, &format!("{header}"));
    }
}

/// Rotation's last step: the same set without the verify-only key refuses that key's
/// tokens at once, while the current key's still pass.
pub fn once_the_verify_only_key_is_dropped_its_tokens_are_401() {
    let app = key_dropped_app();
    let kids: Vec<Value> = app.get(JWKS).json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|jwk| jwk["kid"].clone())
        .collect();
    assert_eq!(kids, [EDDSA_KID]);
    let token = live_token(app);
    assert_resigning_by_the_current_key_is_accepted(app, &token);
    let dropped = es256_key();
    let by_dropped = resigned(&token, &dropped.header(), |input| dropped.sign(input));
    assert_refused(app, &by_dropped, "a token of the dropped key");
}

// ---------------------------------------------------------------------------------------
// Key sets the Worker must refuse.

/// Every request is a 500 that shows nothing; a log line of the Worker names the variable,
/// and none holds a private key.
fn assert_every_request_is_500_and_the_log_names_jwt_signing_keys(app: &TestApp, private: &[String]) {
    let login = json!({ "email": unique_email("refused"), "password": PASSWORD });
    for answer in [
        app.get("/"),
        app.get("/health"),
        app.get(JWKS),
        app.get(DISCOVERY),
        app.post_json(&app.auth("login"), &login),
    ] {
        answer.assert_problem(500, "internal_error");
        assert!(
            !answer.body.contains("JWT_SIGNING_KEYS"),
            "no internals: {}",
            answer.body
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(&app.log_file).unwrap();
        let worker_lines: Vec<&str> = log.lines().filter(|l| l.contains(r#""level":"#)).collect();
        for line in &worker_lines {
            for d in private {
                assert!(!line.contains(d.as_str()), "a private key in the log: {line}");
            }
        }
        let named = worker_lines
            .iter()
            .any(|l| l.contains(r#""level":"error""#) && l.contains("JWT_SIGNING_KEYS"));
        if named {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no error line names JWT_SIGNING_KEYS:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn private_scalars(keys: &[&Value]) -> Vec<String> {
    keys.iter().map(|key| key["d"].as_str().unwrap().to_owned()).collect()
}

/// The EdDSA set under `ALGORITHM=ES256`: its current key would sign with another algorithm.
pub fn a_first_key_of_another_algorithm_than_algorithm_stops_every_request() {
    let (first, second) = (eddsa_key().private_jwk(), es256_key().private_jwk());
    let set = key_set(&[first.clone(), second.clone()]);
    let app = spawn_isolated_app_with(
        "signing-first-key-of-another-algorithm",
        &[("ALGORITHM", "ES256"), ("JWT_SIGNING_KEYS", &set)],
        TestApp::answers,
    );
    assert_every_request_is_500_and_the_log_names_jwt_signing_keys(app, &private_scalars(&[&first, &second]));
}

/// The ES256 set whose verify-only Ed25519 key carries another key's `d`: well-formed, so
/// only the check at the first request (a probe signed with `d`, verified with `x`) can
/// catch it, and it checks the keys that only verify too.
pub fn a_key_whose_d_does_not_match_its_public_part_stops_every_request() {
    let first = es256_key().private_jwk();
    let mut mismatched = eddsa_key().private_jwk();
    mismatched["d"] = outside_ed25519("unused").private_jwk()["d"].clone();
    assert_ne!(mismatched["d"], eddsa_key().private_jwk()["d"]);
    let set = key_set(&[first.clone(), mismatched.clone()]);
    let app = spawn_isolated_app_with(
        "signing-mismatched-d",
        &[("ALGORITHM", "ES256"), ("JWT_SIGNING_KEYS", &set)],
        TestApp::answers,
    );
    assert_every_request_is_500_and_the_log_names_jwt_signing_keys(app, &private_scalars(&[&first, &mismatched]));
}

pub fn tests() -> Vec<libtest_mimic::Trial> {
    crate::trials![
        by_default_tokens_are_hs256_and_name_no_key,
        by_default_the_key_set_is_empty_and_discovery_lists_only_hs256,
        the_key_set_and_discovery_are_public_cacheable_json_for_any_origin,
        the_key_set_and_discovery_are_in_the_openapi_document,
        eddsa_tokens_name_the_first_key_and_jose_verifies_them_through_discovery,
        es256_tokens_name_the_first_key_and_jose_verifies_them_through_discovery,
        jose_verifies_a_token_of_the_verify_only_key_through_discovery,
        the_key_sets_publish_each_public_key_in_set_order_and_nothing_private,
        a_token_signed_by_the_verify_only_key_is_accepted,
        a_valid_signature_by_a_key_outside_the_set_is_401,
        a_kid_naming_one_key_over_a_signature_by_another_is_401,
        a_valid_signature_without_a_kid_or_under_an_unknown_kid_is_401,
        hs256_keyed_with_the_public_key_is_401,
        alg_none_is_401,
        an_embedded_jwk_header_with_the_attackers_key_is_401,
        an_hs256_token_made_with_secret_key_is_401_in_eddsa_mode,
        hs512_tokens_are_hmac_sha512_under_secret_key_and_nothing_else_passes,
        a_crit_header_is_401_even_over_a_valid_signature,
        once_the_verify_only_key_is_dropped_its_tokens_are_401,
        a_first_key_of_another_algorithm_than_algorithm_stops_every_request,
        a_key_whose_d_does_not_match_its_public_part_stops_every_request,
    ]
}
