//! Passkeys through the whole pipeline (the features they meet mounted), natively on real
//! SQL, with a software authenticator of the tests' own (ES256 and Ed25519, attestation
//! "none"): what a browser sees, and what a forged, replayed or cloned credential gets.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::webauthn::{FLAG_AT, FLAG_BE, FLAG_BS, FLAG_UP, FLAG_UV};
use crate::features::users::testing::{create_user, PASSWORD};
use crate::features::{accounts, mfa, one_time_tokens, password_reset, sessions, signing, users};
use crate::http::Handled;
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Feature;
use crate::kernel::mail::assert_renders_completely;
use crate::kernel::testing::TestWorld;
use crate::kernel::web::Request;

const P: &str = "/balance_hub/auth";

const FEATURES: &[&Feature] = &[
    &users::FEATURE,
    &one_time_tokens::FEATURE,
    &signing::FEATURE,
    &accounts::FEATURE,
    &sessions::FEATURE,
    &password_reset::FEATURE,
    &mfa::FEATURE,
    &super::FEATURE,
];

fn send(world: &TestWorld, request: Request) -> Handled {
    crate::http::testing::send(world, FEATURES, request)
}

fn call(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Request {
    let mut request = Request::new(method, &format!("{P}{path}"))
        .with_header("cf-connecting-ip", "198.51.100.7")
        .with_header(
            "user-agent",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Chrome/131.0 Safari/537.36",
        );
    if let Some(body) = body {
        request = request
            .with_header("content-type", "application/json")
            .with_body(body.to_string());
    }
    match token {
        Some(token) => request.with_header("authorization", &format!("Bearer {token}")),
        None => request,
    }
}

fn post(world: &TestWorld, path: &str, token: Option<&str>, body: Value) -> Handled {
    send(world, call("POST", path, token, Some(body)))
}

fn body(handled: &Handled) -> Value {
    serde_json::from_slice(&handled.response.body).unwrap_or(Value::Null)
}

fn answer(handled: &Handled) -> (u16, String) {
    let code = body(handled)["code"].as_str().unwrap_or_default().to_owned();
    (handled.response.status, code)
}

fn world() -> TestWorld {
    TestWorld::new(FEATURES)
}

fn with_vars(vars: &'static [(&'static str, &'static str)]) -> TestWorld {
    TestWorld::with_vars(FEATURES, &crate::kernel::config::test_vars_with(vars))
}

fn login(world: &TestWorld, email: &str) -> String {
    let handled = post(world, "/login", None, json!({"email": email, "password": PASSWORD}));
    assert_eq!(handled.response.status, 200, "{:?}", body(&handled));
    body(&handled)["access_token"].as_str().unwrap().to_owned()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// The CBOR the authenticator writes (RFC 8949, definite lengths).
mod cbor {
    pub fn head(major: u8, n: u64, out: &mut Vec<u8>) {
        let m = major << 5;
        match n {
            0..=23 => out.push(m | n as u8),
            24..=0xff => out.extend([m | 24, n as u8]),
            0x100..=0xffff => {
                out.push(m | 25);
                out.extend((n as u16).to_be_bytes());
            }
            _ => {
                out.push(m | 26);
                out.extend((n as u32).to_be_bytes());
            }
        }
    }

    pub fn int(n: i64, out: &mut Vec<u8>) {
        if n >= 0 {
            head(0, n as u64, out)
        } else {
            head(1, (-1 - n) as u64, out)
        }
    }

    pub fn bytes(b: &[u8], out: &mut Vec<u8>) {
        head(2, b.len() as u64, out);
        out.extend(b);
    }

    pub fn text(t: &str, out: &mut Vec<u8>) {
        head(3, t.len() as u64, out);
        out.extend(t.as_bytes());
    }
}

#[derive(Clone)]
enum Key {
    Es256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A software authenticator holding one credential, with knobs to forge what a test needs.
#[derive(Clone)]
struct Authenticator {
    id: Vec<u8>,
    key: Key,
    counter: u32,
    rp_id: String,
    origin: String,
    flags: u8,
    /// COSE algorithm to claim (RS256 -257 to test the refusal).
    claim_alg: Option<i64>,
}

impl Authenticator {
    fn new(world: &TestWorld, es256: bool) -> Self {
        let mut id = [0u8; 16];
        crate::kernel::secrets::random_bytes(&mut id);
        let key = if es256 {
            Key::Es256(p256::ecdsa::SigningKey::random(&mut rand_core()))
        } else {
            let mut seed = [0u8; 32];
            crate::kernel::secrets::random_bytes(&mut seed);
            Key::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
        };
        let settings = world.state.settings.get::<super::PasskeySettings>();
        Self {
            id: id.to_vec(),
            key,
            counter: 0,
            rp_id: settings.rp_id.clone(),
            origin: settings.origins[0].clone(),
            flags: FLAG_UP | FLAG_UV,
            claim_alg: None,
        }
    }

    fn cose_key(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match &self.key {
            Key::Es256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                cbor::head(5, 5, &mut out);
                cbor::int(1, &mut out);
                cbor::int(2, &mut out);
                cbor::int(3, &mut out);
                cbor::int(self.claim_alg.unwrap_or(-7), &mut out);
                cbor::int(-1, &mut out);
                cbor::int(1, &mut out);
                cbor::int(-2, &mut out);
                cbor::bytes(point.x().unwrap(), &mut out);
                cbor::int(-3, &mut out);
                cbor::bytes(point.y().unwrap(), &mut out);
            }
            Key::Ed25519(key) => {
                cbor::head(5, 4, &mut out);
                cbor::int(1, &mut out);
                cbor::int(1, &mut out);
                cbor::int(3, &mut out);
                cbor::int(self.claim_alg.unwrap_or(-8), &mut out);
                cbor::int(-1, &mut out);
                cbor::int(6, &mut out);
                cbor::int(-2, &mut out);
                cbor::bytes(key.verifying_key().as_bytes(), &mut out);
            }
        }
        out
    }

    fn auth_data(&self, attested: bool) -> Vec<u8> {
        let mut data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        data.push(self.flags | if attested { FLAG_AT } else { 0 });
        data.extend(self.counter.to_be_bytes());
        if attested {
            data.extend([7u8; 16]);
            data.extend((self.id.len() as u16).to_be_bytes());
            data.extend(&self.id);
            data.extend(self.cose_key());
        }
        data
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        json!({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false})
            .to_string()
            .into_bytes()
    }

    /// `credential.toJSON()` of `navigator.credentials.create()` for `options`.
    fn create(&self, options: &Value, kind: &str) -> Value {
        let challenge = options["challenge"].as_str().unwrap();
        let mut attestation = Vec::new();
        cbor::head(5, 3, &mut attestation);
        cbor::text("fmt", &mut attestation);
        cbor::text("none", &mut attestation);
        cbor::text("attStmt", &mut attestation);
        cbor::head(5, 0, &mut attestation);
        cbor::text("authData", &mut attestation);
        cbor::bytes(&self.auth_data(true), &mut attestation);
        json!({
            "id": b64(&self.id), "rawId": b64(&self.id), "type": "public-key",
            "response": {
                "clientDataJSON": b64(&self.client_data(kind, challenge)),
                "attestationObject": b64(&attestation),
                "transports": ["internal", "made-up"],
            },
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        })
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        match &self.key {
            Key::Es256(key) => {
                use p256::ecdsa::signature::Signer;
                let signature: p256::ecdsa::Signature = key.sign(input);
                signature.to_der().as_bytes().to_vec()
            }
            Key::Ed25519(key) => {
                use ed25519_dalek::Signer;
                key.sign(input).to_bytes().to_vec()
            }
        }
    }

    /// `credential.toJSON()` of `navigator.credentials.get()`; the counter advances first.
    fn get(&mut self, options: &Value, user_handle: Option<&str>) -> Value {
        self.counter += 1;
        self.assert_as_is(options, user_handle)
    }

    fn assert_as_is(&self, options: &Value, user_handle: Option<&str>) -> Value {
        let challenge = options["challenge"].as_str().unwrap();
        let auth_data = self.auth_data(false);
        let client_data = self.client_data("webauthn.get", challenge);
        let mut input = auth_data.clone();
        input.extend(Sha256::digest(&client_data));
        json!({
            "id": b64(&self.id), "rawId": b64(&self.id), "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(&self.sign(&input)),
                "userHandle": user_handle,
            },
            "clientExtensionResults": {},
        })
    }
}

fn rand_core() -> impl p256::elliptic_curve::rand_core::CryptoRngCore {
    p256::elliptic_curve::rand_core::OsRng
}

/// Register options for `token`: (challenge_id, options).
fn register_options(world: &TestWorld, token: &str) -> (String, Value) {
    let handled = post(
        world,
        "/passkeys/register/options",
        Some(token),
        json!({"current_password": PASSWORD}),
    );
    assert_eq!(handled.response.status, 200, "{:?}", body(&handled));
    let answer = body(&handled);
    (
        answer["challenge_id"].as_str().unwrap().to_owned(),
        answer["options"].clone(),
    )
}

fn register_with(world: &TestWorld, token: &str, authenticator: &Authenticator, kind: &str) -> Handled {
    let (challenge_id, options) = register_options(world, token);
    let credential = authenticator.create(&options, kind);
    post(
        world,
        "/passkeys/register/verify",
        Some(token),
        json!({"challenge_id": challenge_id, "credential": credential}),
    )
}

fn register(world: &TestWorld, token: &str, authenticator: &Authenticator) -> Value {
    let handled = register_with(world, token, authenticator, "webauthn.create");
    assert_eq!(handled.response.status, 201, "{:?}", body(&handled));
    body(&handled)
}

fn login_options(world: &TestWorld, email: Option<&str>) -> (String, Value) {
    let input = email.map_or(json!({}), |e| json!({ "email": e }));
    let handled = post(world, "/passkeys/login/options", None, input);
    assert_eq!(handled.response.status, 200, "{:?}", body(&handled));
    let answer = body(&handled);
    (
        answer["challenge_id"].as_str().unwrap().to_owned(),
        answer["options"].clone(),
    )
}

fn login_verify(world: &TestWorld, challenge_id: &str, credential: Value) -> Handled {
    post(
        world,
        "/passkeys/login/verify",
        None,
        json!({"challenge_id": challenge_id, "credential": credential}),
    )
}

/// A verified user with a session: (email, access token).
fn user(world: &TestWorld, email: &str) -> (String, String) {
    create_user(world, email, true);
    (email.to_owned(), login(world, email))
}

fn user_handle(options: &Value) -> String {
    options["user"]["id"].as_str().unwrap().to_owned()
}

#[test]
fn es256_and_ed25519_passkeys_register_and_are_listed_and_excluded() {
    let world = world();
    let (email, token) = user(&world, "ada@example.com");
    let es = Authenticator::new(&world, true);
    let ed = Authenticator::new(&world, false);
    let first = register(&world, &token, &es);
    assert_eq!(first["name"], "Chrome on macOS", "the device label by default");
    assert_eq!(
        (first["last_used_at"].is_null(), &first["backed_up"]),
        (true, &json!(false))
    );
    world.advance(1);
    let (challenge_id, options) = register_options(&world, &token);
    assert_eq!(
        options["excludeCredentials"],
        json!([{"type": "public-key", "id": b64(&es.id), "transports": ["internal"]}])
    );
    assert_eq!(options["attestation"], "none");
    assert_eq!(
        options["pubKeyCredParams"],
        json!([{"type": "public-key", "alg": -8}, {"type": "public-key", "alg": -7}])
    );
    assert_eq!(options["user"]["name"], email);
    let credential = ed.create(&options, "webauthn.create");
    let second = post(
        &world,
        "/passkeys/register/verify",
        Some(&token),
        json!({"challenge_id": challenge_id, "credential": credential, "name": "  YubiKey  "}),
    );
    assert_eq!(body(&second)["name"], "YubiKey");
    let list = body(&send(&world, call("GET", "/passkeys", Some(&token), None)));
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["YubiKey", "Chrome on macOS"], "newest first");
    let me = body(&send(&world, call("GET", "/me", Some(&token), None)));
    assert_eq!(me["sign_in_methods"], json!(["password", "passkey"]));
    let mails = world.outbox.to(&email);
    let added: Vec<_> = mails.iter().filter(|m| m.kind.name == "passkey_added").collect();
    assert_eq!(added.len(), 2);
    assert_renders_completely(added[0]);
    assert!(second
        .events
        .iter()
        .any(|e| matches!(e, AuthEvent::PasskeyAdded { .. })));
}

#[test]
fn the_user_handle_is_random_and_fixed_from_the_first_options_on() {
    let world = world();
    let (_, token) = user(&world, "ada@example.com");
    let (_, first) = register_options(&world, &token);
    let (_, again) = register_options(&world, &token);
    assert_eq!(user_handle(&first), user_handle(&again));
    assert_eq!(unb64(&user_handle(&first)).len(), 32);
    let (_, bob_token) = user(&world, "bob@example.com");
    let (_, bob) = register_options(&world, &bob_token);
    assert_ne!(user_handle(&first), user_handle(&bob));
}

#[test]
fn every_registration_check_refuses_and_spends_the_challenge() {
    let world = world();
    let (_, token) = user(&world, "ada@example.com");
    let good = Authenticator::new(&world, true);
    let forged: Vec<(&str, Authenticator, &str)> = vec![
        (
            "origin",
            Authenticator {
                origin: "https://evil.example".into(),
                ..good.clone()
            },
            "webauthn.create",
        ),
        (
            "rp id",
            Authenticator {
                rp_id: "evil.example".into(),
                ..good.clone()
            },
            "webauthn.create",
        ),
        ("type", good.clone(), "webauthn.get"),
        (
            "UP clear",
            Authenticator {
                flags: FLAG_UV,
                ..good.clone()
            },
            "webauthn.create",
        ),
        (
            "BS without BE",
            Authenticator {
                flags: FLAG_UP | FLAG_BS,
                ..good.clone()
            },
            "webauthn.create",
        ),
        (
            "RS256",
            Authenticator {
                claim_alg: Some(-257),
                ..good.clone()
            },
            "webauthn.create",
        ),
        (
            "ES256 claimed by an Ed25519 key",
            Authenticator {
                claim_alg: Some(-7),
                ..Authenticator::new(&world, false)
            },
            "webauthn.create",
        ),
    ];
    for (why, authenticator, kind) in forged {
        let (challenge_id, options) = register_options(&world, &token);
        let credential = authenticator.create(&options, kind);
        let refused = post(
            &world,
            "/passkeys/register/verify",
            Some(&token),
            json!({"challenge_id": challenge_id, "credential": credential}),
        );
        assert_eq!(answer(&refused), (400, "passkey_invalid".into()), "{why}");
        // The challenge went with the first try.
        let right = good.create(&options, "webauthn.create");
        let again = post(
            &world,
            "/passkeys/register/verify",
            Some(&token),
            json!({"challenge_id": challenge_id, "credential": right}),
        );
        assert_eq!(answer(&again), (400, "invalid_challenge".into()), "{why}");
    }
    let list = body(&send(&world, call("GET", "/passkeys", Some(&token), None)));
    assert_eq!(list["items"], json!([]));
    // Backed up and eligible is fine, and shown.
    let synced = Authenticator {
        flags: FLAG_UP | FLAG_BE | FLAG_BS,
        ..good
    };
    assert_eq!(register(&world, &token, &synced)["backed_up"], true);
}

#[test]
fn a_challenge_serves_only_its_own_ceremony_user_session_and_lifetime() {
    let world = world();
    let (_, ada) = user(&world, "ada@example.com");
    let (_, bob) = user(&world, "bob@example.com");
    let ada_other_session = login(&world, "ada@example.com");
    let authenticator = Authenticator::new(&world, true);
    let verify = |token: &str, challenge_id: &str, options: &Value| {
        let credential = authenticator.create(options, "webauthn.create");
        answer(&post(
            &world,
            "/passkeys/register/verify",
            Some(token),
            json!({"challenge_id": challenge_id, "credential": credential}),
        ))
    };
    let invalid = (400, "invalid_challenge".to_owned());
    let (id, options) = register_options(&world, &ada);
    assert_eq!(verify(&bob, &id, &options), invalid, "another user's");
    let (id, options) = register_options(&world, &ada);
    assert_eq!(verify(&ada_other_session, &id, &options), invalid, "another session's");
    let (id, options) = login_options(&world, None);
    assert_eq!(verify(&ada, &id, &options), invalid, "a login challenge");
    assert_eq!(verify(&ada, "not-a-challenge", &options), invalid, "a made-up one");
    let (id, options) = register_options(&world, &ada);
    world.advance(301);
    assert_eq!(verify(&ada, &id, &options), invalid, "an expired one");
}

#[test]
fn a_credential_registers_once_and_the_limit_holds() {
    let world = with_vars(&[("PASSKEYS_MAX_PER_USER", "2")]);
    let (_, ada) = user(&world, "ada@example.com");
    let (_, bob) = user(&world, "bob@example.com");
    let key = Authenticator::new(&world, false);
    register(&world, &ada, &key);
    let again = register_with(&world, &bob, &key, "webauthn.create");
    assert_eq!(answer(&again), (409, "passkey_already_registered".into()));
    let longest = Authenticator {
        id: vec![5; 1023],
        ..Authenticator::new(&world, true)
    };
    assert_eq!(
        register_with(&world, &bob, &longest, "webauthn.create").response.status,
        201
    );
    let too_long = Authenticator {
        id: vec![6; 1024],
        ..Authenticator::new(&world, true)
    };
    let refused = register_with(&world, &bob, &too_long, "webauthn.create");
    assert_eq!(answer(&refused), (409, "passkey_already_registered".into()), "step 6");
    register(&world, &ada, &Authenticator::new(&world, true));
    let options = post(
        &world,
        "/passkeys/register/options",
        Some(&ada),
        json!({"current_password": PASSWORD}),
    );
    assert_eq!(answer(&options), (409, "passkey_limit_reached".into()));
    let reauth = post(&world, "/passkeys/register/options", Some(&bob), json!({}));
    assert_eq!(answer(&reauth), (403, "current_password_required".into()));
}

#[test]
fn discoverable_and_email_logins_sign_in_and_an_assertion_works_once() {
    let world = world();
    let (email, token) = user(&world, "ada@example.com");
    let mut key = Authenticator::new(&world, true);
    register(&world, &token, &key);
    let (_, reg_options) = register_options(&world, &token);
    let handle = user_handle(&reg_options);

    let (id, options) = login_options(&world, None);
    assert_eq!(options["allowCredentials"], json!([]));
    let credential = key.get(&options, Some(&handle));
    let signed_in = login_verify(&world, &id, credential.clone());
    assert_eq!(signed_in.response.status, 200, "{:?}", body(&signed_in));
    assert_eq!(body(&signed_in)["user"]["email"], email);
    let sessions = body(&send(&world, call("GET", "/sessions", Some(&token), None)));
    assert!(sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["auth_methods"] == json!(["passkey"])));
    assert_eq!(
        answer(&login_verify(&world, &id, credential)),
        (400, "invalid_challenge".into()),
        "replayed"
    );

    let (id, options) = login_options(&world, Some(&email));
    assert_eq!(options["allowCredentials"][0]["id"], b64(&key.id));
    let by_email = login_verify(&world, &id, key.get(&options, None));
    assert_eq!(by_email.response.status, 200);
    let list = body(&send(&world, call("GET", "/passkeys", Some(&token), None)));
    assert!(list["items"][0]["last_used_at"].is_string());
}

#[test]
fn forged_assertions_are_refused_alike() {
    let world = world();
    let (email, token) = user(&world, "ada@example.com");
    let (_, bob_token) = user(&world, "bob@example.com");
    let mut key = Authenticator::new(&world, false);
    register(&world, &token, &key);
    let mut bobs = Authenticator::new(&world, true);
    register(&world, &bob_token, &bobs);
    let refused = (401, "passkey_invalid".to_owned());

    let (id, options) = login_options(&world, None);
    let mut bad_signature = key.get(&options, None);
    bad_signature["response"]["signature"] = json!(b64(&[1u8; 64]));
    assert_eq!(answer(&login_verify(&world, &id, bad_signature)), refused, "signature");

    let (id, options) = login_options(&world, None);
    let wrong_origin = Authenticator {
        origin: "https://evil.example".into(),
        ..key.clone()
    }
    .get(&options, None);
    assert_eq!(answer(&login_verify(&world, &id, wrong_origin)), refused, "origin");

    let (id, options) = login_options(&world, None);
    let wrong_rp = Authenticator {
        rp_id: "evil.example".into(),
        ..key.clone()
    }
    .get(&options, None);
    assert_eq!(answer(&login_verify(&world, &id, wrong_rp)), refused, "rp id hash");

    let (id, options) = login_options(&world, None);
    let no_presence = Authenticator {
        flags: FLAG_UV,
        ..key.clone()
    }
    .get(&options, None);
    assert_eq!(answer(&login_verify(&world, &id, no_presence)), refused, "UP clear");

    let (id, options) = login_options(&world, None);
    let other_handle = key.get(&options, Some(&b64(&[9u8; 32])));
    assert_eq!(answer(&login_verify(&world, &id, other_handle)), refused, "userHandle");

    let (id, options) = login_options(&world, Some(&email));
    let bobs_key = bobs.get(&options, None);
    assert_eq!(
        answer(&login_verify(&world, &id, bobs_key)),
        refused,
        "another account's credential"
    );

    let (id, options) = login_options(&world, None);
    let unknown = Authenticator::new(&world, true).get(&options, None);
    assert_eq!(answer(&login_verify(&world, &id, unknown)), refused, "unregistered");

    let (id, _) = login_options(&world, None);
    assert_eq!(
        answer(&login_verify(&world, &id, json!({"type": "public-key"}))),
        refused,
        "malformed"
    );

    let (id, options) = login_options(&world, None);
    assert_eq!(
        login_verify(&world, &id, key.get(&options, None)).response.status,
        200,
        "still works"
    );
}

#[test]
fn a_counter_that_does_not_advance_is_refused_and_the_passkey_stays() {
    let world = world();
    let (_, token) = user(&world, "ada@example.com");
    let mut key = Authenticator::new(&world, true);
    register(&world, &token, &key);
    let (id, options) = login_options(&world, None);
    key.counter = 5;
    assert_eq!(
        login_verify(&world, &id, key.assert_as_is(&options, None))
            .response
            .status,
        200
    );
    let (id, options) = login_options(&world, None);
    let cloned = login_verify(&world, &id, key.assert_as_is(&options, None));
    assert_eq!(answer(&cloned), (401, "passkey_invalid".into()));
    assert!(cloned
        .events
        .iter()
        .any(|e| matches!(e, AuthEvent::PasskeyCounterRegression { .. })));
    let (id, options) = login_options(&world, None);
    assert_eq!(login_verify(&world, &id, key.get(&options, None)).response.status, 200);
    // A counter of 0 on both sides is an authenticator without one: accepted each time.
    let (_, bob) = user(&world, "bob@example.com");
    let zero = Authenticator::new(&world, false);
    register(&world, &bob, &zero);
    for _ in 0..2 {
        let (id, options) = login_options(&world, None);
        assert_eq!(
            login_verify(&world, &id, zero.assert_as_is(&options, None))
                .response
                .status,
            200
        );
    }
}

#[test]
fn login_options_look_alike_for_unknown_and_known_addresses() {
    let world = world();
    let (with, token) = user(&world, "ada@example.com");
    register(&world, &token, &Authenticator::new(&world, true));
    let (without, _) = user(&world, "bob@example.com");
    let shape = |options: &Value| {
        let mut keys: Vec<String> = options.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        let descriptor_keys: Vec<Vec<String>> = options["allowCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_object().unwrap().keys().cloned().collect())
            .collect();
        (keys, descriptor_keys[0].clone())
    };
    let (_, known) = login_options(&world, Some(&with));
    let (_, no_passkeys) = login_options(&world, Some(&without));
    let (_, unknown) = login_options(&world, Some("nobody@example.com"));
    let (_, unknown_again) = login_options(&world, Some("nobody@example.com"));
    assert_eq!(shape(&known), shape(&unknown));
    assert_eq!(shape(&no_passkeys), shape(&unknown));
    assert_eq!(unknown["allowCredentials"], unknown_again["allowCredentials"]);
    assert_ne!(unknown["challenge"], unknown_again["challenge"]);
    let decoys = unknown["allowCredentials"].as_array().unwrap();
    assert!((1..=3).contains(&decoys.len()));
    for decoy in decoys {
        assert_eq!(unb64(decoy["id"].as_str().unwrap()).len(), 32);
        assert_eq!(decoy["transports"], json!(["internal", "hybrid"]));
    }
}

#[test]
fn an_unverified_account_is_refused_after_the_checks() {
    let world = world();
    let (_, token) = user(&world, "ada@example.com");
    let mut key = Authenticator::new(&world, true);
    register(&world, &token, &key);
    world.query("UPDATE users SET email_verified = 0 WHERE email = 'ada@example.com' RETURNING id");
    let (id, options) = login_options(&world, None);
    assert_eq!(
        answer(&login_verify(&world, &id, key.get(&options, None))),
        (403, "email_not_verified".into())
    );
}

/// A user with TOTP on (through `mfa`'s routes) and a passkey: (email, token, authenticator).
fn two_factor_user(world: &TestWorld) -> (String, String, Authenticator) {
    let (email, token) = user(world, "ada@example.com");
    let key = Authenticator::new(world, true);
    register(world, &token, &key);
    let enrollment = post(
        world,
        "/mfa/totp/enroll",
        Some(&token),
        json!({"current_password": PASSWORD}),
    );
    let uri = body(&enrollment)["otpauth_uri"].as_str().unwrap().to_owned();
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let code = mfa_code(world, &secret);
    let confirmed = post(world, "/mfa/totp/confirm", Some(&token), json!({ "code": code }));
    assert_eq!(confirmed.response.status, 200, "{:?}", body(&confirmed));
    (email, token, key)
}

fn mfa_code(world: &TestWorld, base32: &str) -> String {
    let (mut buffer, mut bits, mut secret) = (0u32, 0u32, Vec::new());
    for c in base32.bytes() {
        let value = if c.is_ascii_uppercase() {
            c - b'A'
        } else {
            c - b'2' + 26
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            secret.push((buffer >> bits) as u8);
        }
    }
    use crate::kernel::ids::Clock;
    mfa::testing::code_at(&secret, world.clock.now())
}

#[test]
fn with_2fa_on_user_verification_is_both_factors_and_presence_alone_is_one() {
    let world = world();
    let (_, _, mut key) = two_factor_user(&world);
    let (id, options) = login_options(&world, None);
    let verified = login_verify(&world, &id, key.get(&options, None));
    assert!(body(&verified)["access_token"].is_string(), "{:?}", body(&verified));
    key.flags = FLAG_UP;
    let (id, options) = login_options(&world, None);
    let challenge = body(&login_verify(&world, &id, key.get(&options, None)));
    assert_eq!(challenge["mfa_required"], true);
    assert_eq!(
        challenge["methods"],
        json!(["totp", "recovery_code"]),
        "never the passkey again"
    );
    let options = post(
        &world,
        "/mfa/passkey/options",
        None,
        json!({"mfa_token": challenge["mfa_token"]}),
    );
    assert_eq!(answer(&options), (409, "passkey_not_registered".into()));
}

#[test]
fn a_passkey_completes_a_password_sign_in_as_the_second_factor() {
    let world = world();
    let (email, _, mut key) = two_factor_user(&world);
    let password = post(&world, "/login", None, json!({"email": email, "password": PASSWORD}));
    let challenge = body(&password);
    assert_eq!(challenge["methods"], json!(["totp", "recovery_code", "passkey"]));
    let mfa_token = challenge["mfa_token"].as_str().unwrap();
    let passkey_options = |world: &TestWorld| {
        let handled = post(world, "/mfa/passkey/options", None, json!({ "mfa_token": mfa_token }));
        assert_eq!(handled.response.status, 200, "{:?}", body(&handled));
        let answer = body(&handled);
        (
            answer["challenge_id"].as_str().unwrap().to_owned(),
            answer["options"].clone(),
        )
    };
    let verify = |challenge_id: &str, credential: Value| {
        post(
            &world,
            "/mfa/verify",
            None,
            json!({"mfa_token": mfa_token, "challenge_id": challenge_id, "credential": credential}),
        )
    };
    let (id, options) = passkey_options(&world);
    assert_eq!(options["userVerification"], "discouraged");
    assert_eq!(options["allowCredentials"][0]["id"], b64(&key.id));
    let mut bad = key.get(&options, None);
    bad["response"]["signature"] = json!(b64(&[0u8; 70]));
    assert_eq!(answer(&verify(&id, bad)), (401, "passkey_invalid".into()));
    let (login_id, login_opts) = login_options(&world, None);
    assert_eq!(
        answer(&verify(&login_id, key.get(&login_opts, None))),
        (400, "invalid_challenge".into()),
        "a login challenge is not this mfa_token's"
    );
    key.flags = FLAG_UP;
    let (id, options) = passkey_options(&world);
    let done = verify(&id, key.get(&options, None));
    assert_eq!(done.response.status, 200, "{:?}", body(&done));
    let token = body(&done)["access_token"].as_str().unwrap().to_owned();
    let sessions = body(&send(&world, call("GET", "/sessions", Some(&token), None)));
    let current = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(current["auth_methods"], json!(["password", "passkey"]));
}

#[test]
fn rename_and_delete_touch_only_the_callers_passkeys_and_keep_a_way_in() {
    let world = world();
    let (email, ada) = user(&world, "ada@example.com");
    let (_, bob) = user(&world, "bob@example.com");
    let first = register(&world, &ada, &Authenticator::new(&world, true));
    let id = first["id"].as_str().unwrap();
    let path = format!("/passkeys/{id}");
    let renamed = send(&world, call("PATCH", &path, Some(&bob), Some(json!({"name": "mine"}))));
    assert_eq!(answer(&renamed), (404, "not_found".into()));
    assert_eq!(
        answer(&send(&world, call("DELETE", &path, Some(&bob), None))),
        (404, "not_found".into())
    );
    for bad in ["", "   ", &"x".repeat(65)] {
        let refused = send(&world, call("PATCH", &path, Some(&ada), Some(json!({ "name": bad }))));
        assert_eq!(answer(&refused), (422, "validation_error".into()), "{bad:?}");
    }
    let renamed = send(
        &world,
        call("PATCH", &path, Some(&ada), Some(json!({"name": " Laptop "}))),
    );
    assert_eq!(body(&renamed)["name"], "Laptop");
    let second = register(&world, &ada, &Authenticator::new(&world, false));
    // Without a password, the last passkey is the last way in.
    world.query("UPDATE users SET password_hash = '' WHERE email = 'ada@example.com' RETURNING id");
    assert_eq!(
        send(&world, call("DELETE", &path, Some(&ada), None)).response.status,
        204
    );
    let last = format!("/passkeys/{}", second["id"].as_str().unwrap());
    assert_eq!(
        answer(&send(&world, call("DELETE", &last, Some(&ada), None))),
        (409, "last_credential".into())
    );
    let me = body(&send(&world, call("GET", "/me", Some(&ada), None)));
    assert_eq!(me["sign_in_methods"], json!(["passkey"]));
    let removed: Vec<_> = world
        .outbox
        .to(&email)
        .into_iter()
        .filter(|m| m.kind.name == "passkey_removed")
        .collect();
    assert_eq!(removed.len(), 1);
    assert_renders_completely(&removed[0]);
    assert_eq!(
        answer(&send(&world, call("DELETE", "/passkeys/nope", Some(&ada), None))),
        (404, "not_found".into())
    );
}

#[test]
fn origins_must_belong_to_the_relying_party() {
    let read = crate::kernel::config::test_vars_with;
    let refused = crate::kernel::feature::AppState::new(
        FEATURES,
        &crate::kernel::config::Vars::new(&read(&[
            ("WEBAUTHN_RP_ID", "example.com"),
            (
                "WEBAUTHN_ORIGINS",
                "https://app.example.com,https://example.com.evil.io",
            ),
        ])),
    );
    assert!(refused.err().unwrap().to_string().contains("WEBAUTHN_ORIGINS"));
    let accepted = crate::kernel::feature::AppState::new(
        FEATURES,
        &crate::kernel::config::Vars::new(&read(&[
            ("FRONTEND_URL", "https://app.example.com"),
            ("WEBAUTHN_RP_ID", "example.com"),
            ("WEBAUTHN_ORIGINS", "https://app.example.com, https://example.com:8443"),
        ])),
    )
    .unwrap();
    let settings = accepted.settings.get::<super::PasskeySettings>();
    assert_eq!(
        settings.origins,
        ["https://app.example.com", "https://example.com:8443"]
    );
    let defaulted = crate::kernel::feature::AppState::new(
        FEATURES,
        &crate::kernel::config::Vars::new(&read(&[("FRONTEND_URL", "https://app.example.com:3000/x")])),
    )
    .unwrap();
    assert_eq!(
        defaulted.settings.get::<super::PasskeySettings>().rp_id,
        "app.example.com"
    );
}
