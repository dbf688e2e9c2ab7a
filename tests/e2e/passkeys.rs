//! Passkeys (WebAuthn), black box: ../shared/spec/passkeys.md and the passkey parts of
//! mfa.md (`mfa/passkey/options`, `mfa/verify` with an assertion), written from the
//! contract with the software authenticator of `harness/authenticator.rs` (ES256 and
//! Ed25519, one `Forge` knob per check the Worker must make).
//!
//! Most tests run on the shared instance (`FRONTEND_URL=http://frontend.test`, so the
//! relying party is `frontend.test` and the one origin `http://frontend.test`), where an
//! account may make 20 authenticated requests a minute: tests that need more use several
//! accounts. One instance of its own (`small_app`) has 2 s challenges, at most two
//! passkeys per account and 4 passkey logins per IP in 600 s. The browser test is in `browser.rs`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::authenticator::{self, b64, unb64, Algorithm, Cbor, Forge, Passkey};
use crate::harness::fake_sendgrid::SentMail;
use crate::harness::totp;
use crate::harness::{
    at_once, spawn_app, spawn_isolated_app_with, unique_email, Answer, TestApp, METRICS_TOKEN, PASSWORD,
};

const CHROME_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// `WEBAUTHN_CHALLENGE_EXPIRE_SECONDS` by default, as the options' `timeout` (ms).
const TIMEOUT_MS: i64 = 300_000;
/// `WEBAUTHN_CHALLENGE_EXPIRE_SECONDS` and `PASSKEYS_MAX_PER_USER` on `small_app`.
const SMALL_CHALLENGE_SECONDS: u64 = 2;
const SMALL_MAX_PASSKEYS: usize = 2;
/// `RATE_LIMIT_PASSKEY_LOGIN_IP` on `small_app`: a burst of this many per 600 s.
const SMALL_LOGIN_IP_BURST: usize = 4;

/// The counter a refused regression shows in `/metrics` (the audit's
/// `passkey.counter_regression`, until the audit log exists).
const COUNTER_REGRESSION_SERIES: &str = r#"auth_events_total{event="passkey_counter_regression"}"#;
/// Likewise `passkey.added` and `passkey.removed`.
const ADDED_SERIES: &str = r#"auth_events_total{event="passkey_added"}"#;
const REMOVED_SERIES: &str = r#"auth_events_total{event="passkey_removed"}"#;

fn small_app() -> &'static TestApp {
    spawn_isolated_app_with(
        "passkeys-small",
        &[
            ("WEBAUTHN_CHALLENGE_EXPIRE_SECONDS", "2"),
            ("PASSKEYS_MAX_PER_USER", "2"),
            ("RATE_LIMIT_PASSKEY_LOGIN_IP", "4/600"),
        ],
        TestApp::is_healthy,
    )
}

// ---------------------------------------------------------------------------------------
// Requests.

fn post(app: &TestApp, route: &str, access: Option<&str>, body: &Value) -> Answer {
    send(app, "POST", route, access, Some(body), &[])
}

fn send(
    app: &TestApp,
    method: &str,
    route: &str,
    access: Option<&str>,
    body: Option<&Value>,
    extra: &[(&str, &str)],
) -> Answer {
    let authorization = access.map(|a| format!("Bearer {a}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(value) = &authorization {
        headers.push(("Authorization", value));
    }
    headers.extend_from_slice(extra);
    let body = body.map(|b| b.to_string());
    app.request(method, &app.auth(route), &headers, body.as_deref().map(str::as_bytes))
}

/// A verified account with a password, logged in.
struct User {
    email: String,
    access: String,
}

fn user(app: &TestApp, tag: &str) -> User {
    let (email, access) = app.logged_in_user(tag);
    User { email, access }
}

fn register_options(app: &TestApp, access: &str) -> Answer {
    post(
        app,
        "passkeys/register/options",
        Some(access),
        &json!({ "current_password": PASSWORD }),
    )
}

/// The `challenge_id` and `options` of a 200 options answer, whose challenge is 32 bytes.
fn options_of(answer: &Answer) -> (String, Value) {
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    assert_eq!(keys(&body), set(&["challenge_id", "options"]), "{body}");
    let id = body["challenge_id"]
        .as_str()
        .unwrap_or_else(|| panic!("challenge_id is a string: {body}"))
        .to_owned();
    let challenge = unb64(body["options"]["challenge"].as_str().expect("a challenge"));
    assert_eq!(challenge.len(), 32, "32 random bytes: {body}");
    (id, body["options"].clone())
}

fn register_verify(app: &TestApp, access: &str, challenge_id: &str, credential: &Value, name: Option<&str>) -> Answer {
    let mut body = json!({ "challenge_id": challenge_id, "credential": credential });
    if let Some(name) = name {
        body["name"] = json!(name);
    }
    post(app, "passkeys/register/verify", Some(access), &body)
}

/// A registration ceremony of `passkey` with `forge`: the verify answer.
fn try_register(app: &TestApp, access: &str, passkey: &mut Passkey, forge: &Forge) -> Answer {
    let (id, options) = options_of(&register_options(app, access));
    let credential = passkey.register(&options, forge);
    register_verify(app, access, &id, &credential, None)
}

/// Registers a new passkey of `algorithm` for the account: it and its passkey object.
fn add_passkey(app: &TestApp, access: &str, algorithm: Algorithm) -> (Passkey, Value) {
    let mut passkey = Passkey::new(algorithm);
    let answer = try_register(app, access, &mut passkey, &Forge::default());
    let object = assert_passkey_object(&answer, 201);
    (passkey, object)
}

fn list(app: &TestApp, access: &str) -> Vec<Value> {
    let answer = app.get_with_token(&app.auth("passkeys"), access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    assert_eq!(keys(&body), set(&["items"]), "{body}");
    body["items"].as_array().unwrap().clone()
}

fn rename(app: &TestApp, access: &str, id: &str, name: &Value) -> Answer {
    send(
        app,
        "PATCH",
        &format!("passkeys/{id}"),
        Some(access),
        Some(&json!({ "name": name })),
        &[],
    )
}

fn delete(app: &TestApp, access: &str, id: &str) -> Answer {
    send(app, "DELETE", &format!("passkeys/{id}"), Some(access), None, &[])
}

fn login_options(app: &TestApp, email: Option<&str>) -> Answer {
    let body = match email {
        Some(email) => json!({ "email": email }),
        None => json!({}),
    };
    post(app, "passkeys/login/options", None, &body)
}

fn login_verify(app: &TestApp, challenge_id: &str, credential: &Value) -> Answer {
    post(
        app,
        "passkeys/login/verify",
        None,
        &json!({ "challenge_id": challenge_id, "credential": credential }),
    )
}

/// A whole passkey sign-in: login options (with `email` if given), the assertion, verify.
fn sign_in(app: &TestApp, passkey: &mut Passkey, email: Option<&str>, forge: &Forge) -> Answer {
    let (id, options) = options_of(&login_options(app, email));
    let assertion = passkey.assert(&options, forge);
    login_verify(app, &id, &assertion)
}

// ---------------------------------------------------------------------------------------
// Answers.

fn keys(body: &Value) -> BTreeSet<String> {
    body.as_object()
        .unwrap_or_else(|| panic!("not an object: {body}"))
        .keys()
        .cloned()
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A passkey object answered with `status`: exactly its five fields.
fn assert_passkey_object(answer: &Answer, status: u16) -> Value {
    assert_eq!(answer.status, status, "{}", answer.body);
    let passkey = answer.json();
    assert_eq!(
        keys(&passkey),
        set(&["id", "name", "created_at", "last_used_at", "backed_up"]),
        "{passkey}"
    );
    assert!(passkey["id"].as_str().is_some_and(|id| !id.is_empty()), "{passkey}");
    assert!(passkey["name"].as_str().is_some_and(|n| !n.is_empty()), "{passkey}");
    assert!(is_rfc3339_utc(&passkey["created_at"]), "{passkey}");
    assert!(
        passkey["last_used_at"].is_null() || is_rfc3339_utc(&passkey["last_used_at"]),
        "{passkey}"
    );
    assert!(passkey["backed_up"].is_boolean(), "{passkey}");
    passkey
}

/// `2026-11-24T10:00:00Z` (fractions of a second allowed).
fn is_rfc3339_utc(value: &Value) -> bool {
    let Some(text) = value.as_str() else { return false };
    let b = text.as_bytes();
    b.len() >= 20
        && text.ends_with('Z')
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|i| b[*i].is_ascii_digit())
}

/// A login response (sessions.md §1): the pair, the user, both cookies. Its access token.
fn assert_login_response(answer: &Answer) -> String {
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    assert_eq!(
        keys(&body),
        set(&[
            "access_token",
            "token_type",
            "expires_in",
            "refresh_token",
            "refresh_expires_in",
            "user"
        ]),
        "a login response: {body}"
    );
    let cookies: BTreeSet<String> = answer
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, value)| value.split('=').next().unwrap().trim().to_owned())
        .collect();
    assert_eq!(cookies, set(&["access_token", "refresh_token"]), "{:?}", answer.headers);
    body["access_token"].as_str().unwrap().to_owned()
}

/// The MFA challenge with exactly `methods`: its `mfa_token`.
fn assert_mfa_challenge(answer: &Answer, methods: &[&str]) -> String {
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    assert_eq!(
        keys(&body),
        set(&["mfa_required", "mfa_token", "methods", "expires_in"]),
        "the MFA challenge, no token: {body}"
    );
    assert_eq!(body["mfa_required"], true);
    let listed: BTreeSet<String> = body["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, set(methods), "{body}");
    assert!(
        !answer.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("set-cookie")),
        "a challenge sets no cookie"
    );
    body["mfa_token"].as_str().unwrap().to_owned()
}

/// The `auth_methods` of the session of `access`, from the session list.
fn auth_methods(app: &TestApp, access: &str) -> Value {
    let answer = app.get_with_token(&app.auth("sessions"), access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let items = answer.json()["items"].as_array().unwrap().clone();
    let current: Vec<&Value> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{items:?}");
    current[0]["auth_methods"].clone()
}

fn me(app: &TestApp, access: &str) -> Value {
    let answer = app.me(access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// The credential ids (base64url) of a descriptor list, after checking each descriptor.
fn descriptor_ids(descriptors: &Value) -> Vec<String> {
    descriptors
        .as_array()
        .unwrap_or_else(|| panic!("a list of descriptors: {descriptors}"))
        .iter()
        .map(|d| {
            assert_eq!(d["type"], "public-key", "{d}");
            assert!(d["transports"].is_array(), "{d}");
            let id = d["id"].as_str().unwrap_or_else(|| panic!("an id: {d}"));
            unb64(id);
            id.to_owned()
        })
        .collect()
}

/// Waits for `count` mails to `email` after the first `before`, then a little longer:
/// exactly `count` new ones.
fn new_mails(app: &TestApp, email: &str, before: usize, count: usize) -> Vec<SentMail> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.sendgrid.mails_to(email).len() < before + count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(25));
    }
    std::thread::sleep(Duration::from_millis(500));
    let mails = app.sendgrid.mails_to(email);
    let fresh = mails[before.min(mails.len())..].to_vec();
    assert_eq!(
        fresh.len(),
        count,
        "new mails to {email}: {:?}",
        fresh.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    fresh
}

// ---------------------------------------------------------------------------------------
// The authenticator itself, on published vectors.

pub fn the_authenticator_encodes_cbor_as_rfc_8949_does() {
    authenticator::check_cbor_vectors();
}

pub fn the_authenticator_signs_as_rfc_6979_and_rfc_8032_do() {
    authenticator::check_signature_vectors();
}

pub fn the_authenticator_lays_out_its_ceremonies_as_webauthn_does() {
    authenticator::check_ceremony_layout();
}

// ---------------------------------------------------------------------------------------
// Registration.

pub fn registration_options_are_webauthns_creation_options() {
    let app = spawn_app();
    let user = user(app, "pk-options");
    let (id, options) = options_of(&register_options(app, &user.access));
    assert!(!id.is_empty());
    assert_eq!(
        options["rp"],
        json!({ "id": authenticator::RP_ID, "name": "Auth System" })
    );
    assert_eq!(options["user"]["name"], user.email);
    assert_eq!(options["user"]["displayName"], user.email, "no full name: the email");
    assert_eq!(options["timeout"], TIMEOUT_MS);
    assert_eq!(
        options["pubKeyCredParams"],
        json!([{ "type": "public-key", "alg": -8 }, { "type": "public-key", "alg": -7 }])
    );
    assert_eq!(options["excludeCredentials"], json!([]));
    assert_eq!(
        options["authenticatorSelection"],
        json!({ "residentKey": "preferred", "requireResidentKey": false, "userVerification": "preferred" })
    );
    assert_eq!(options["attestation"], "none");
    assert_eq!(options["extensions"], json!({ "credProps": true }));

    // The user handle: 32 bytes made once, the same on every call, from neither the
    // email nor the id.
    let handle = unb64(options["user"]["id"].as_str().unwrap());
    assert_eq!(handle.len(), 32, "{options}");
    let (id_again, again) = options_of(&register_options(app, &user.access));
    assert_ne!(id_again, id, "a fresh challenge per call");
    assert_ne!(again["challenge"], options["challenge"]);
    assert_eq!(again["user"]["id"], options["user"]["id"], "the handle is fixed");
    let user_id = me(app, &user.access)["id"].as_str().unwrap().to_owned();
    for derived in [
        authenticator::sha256(user.email.as_bytes()),
        authenticator::sha256(user_id.as_bytes()),
    ] {
        assert_ne!(handle, derived, "the handle is not a hash of the email or id");
    }
    let handle_text = String::from_utf8_lossy(&handle);
    assert!(!handle_text.contains(&user_id[..8]) && !handle_text.contains("example"));
    let other = self::user(app, "pk-options-other");
    let (_, theirs) = options_of(&register_options(app, &other.access));
    assert_ne!(theirs["user"]["id"], options["user"]["id"], "one handle per user");
}

pub fn register_options_need_reauthentication() {
    let app = spawn_app();
    let user = user(app, "pk-reauth");
    post(app, "passkeys/register/options", Some(&user.access), &json!({}))
        .assert_problem(403, "current_password_required");
    post(
        app,
        "passkeys/register/options",
        Some(&user.access),
        &json!({ "current_password": "not the password at all" }),
    )
    .assert_problem(401, "invalid_credentials");
    options_of(&register_options(app, &user.access));
    post(
        app,
        "passkeys/register/options",
        None,
        &json!({ "current_password": PASSWORD }),
    )
    .assert_problem(401, "not_authenticated");
    post(
        app,
        "passkeys/register/options",
        Some("not-a-token"),
        &json!({ "current_password": PASSWORD }),
    )
    .assert_problem(401, "invalid_token");
}

fn registers_lists_and_excludes(algorithm: Algorithm, tag: &str) {
    let app = spawn_app();
    let user = user(app, tag);
    assert_eq!(me(app, &user.access)["sign_in_methods"], json!(["password"]));
    let (passkey, object) = add_passkey(app, &user.access, algorithm);
    assert_ne!(
        object["id"],
        passkey.id(),
        "the service's own id, not the credential id"
    );
    assert_eq!(object["last_used_at"], Value::Null, "not used yet");
    assert_eq!(object["backed_up"], false);
    assert_eq!(list(app, &user.access), vec![object.clone()]);
    let (_, options) = options_of(&register_options(app, &user.access));
    assert_eq!(
        options["excludeCredentials"],
        json!([{ "type": "public-key", "id": passkey.id(), "transports": ["internal"] }])
    );
    assert_eq!(
        options["user"]["id"],
        json!(b64(passkey.user_handle.as_ref().unwrap())),
        "the same handle after a registration"
    );
    assert_eq!(me(app, &user.access)["sign_in_methods"], json!(["password", "passkey"]));
}

pub fn an_es256_passkey_registers_is_listed_and_excluded() {
    registers_lists_and_excludes(Algorithm::Es256, "pk-es256");
}

pub fn an_ed25519_passkey_registers_is_listed_and_excluded() {
    registers_lists_and_excludes(Algorithm::Ed25519, "pk-ed25519");
}

/// Each forged registration on an account of its own (the per-user API limit), all rows
/// tried before the verdict so a report names every check that let one through.
fn refused_registrations(rows: Vec<(&str, Forge)>) {
    let app = spawn_app();
    let mut failures = Vec::new();
    for (what, forge) in rows {
        let user = user(app, "pk-forged");
        let mut passkey = Passkey::new(Algorithm::Es256);
        let answer = try_register(app, &user.access, &mut passkey, &forge);
        let problem = answer.json();
        if answer.status != 400 || problem["code"] != "passkey_invalid" {
            failures.push(format!("{what}: {} {}", answer.status, answer.body));
            continue;
        }
        answer.assert_problem(400, "passkey_invalid");
        if !list(app, &user.access).is_empty() {
            failures.push(format!("{what}: refused but stored"));
        }
    }
    assert!(failures.is_empty(), "accepted or misanswered:\n{}", failures.join("\n"));
}

pub fn registration_refuses_each_forged_check_with_passkey_invalid() {
    refused_registrations(vec![
        (
            "an origin outside WEBAUTHN_ORIGINS",
            Forge {
                origin: "http://evil.test".to_owned(),
                ..Forge::default()
            },
        ),
        (
            "a subdomain origin not listed",
            Forge {
                origin: "http://sub.frontend.test".to_owned(),
                ..Forge::default()
            },
        ),
        (
            "the origin over https",
            Forge {
                origin: "https://frontend.test".to_owned(),
                ..Forge::default()
            },
        ),
        (
            "the rpIdHash of another relying party",
            Forge {
                rp_id: "evil.test".to_owned(),
                ..Forge::default()
            },
        ),
        (
            "type webauthn.get at registration",
            Forge {
                client_type: Some("webauthn.get".to_owned()),
                ..Forge::default()
            },
        ),
        (
            "UP clear",
            Forge {
                user_present: false,
                ..Forge::default()
            },
        ),
        (
            "an RS256 (-257) public key",
            Forge {
                rs256_key: true,
                ..Forge::default()
            },
        ),
        (
            "crossOrigin true",
            Forge {
                cross_origin: true,
                ..Forge::default()
            },
        ),
        (
            "AT clear",
            Forge {
                attested_flag: false,
                ..Forge::default()
            },
        ),
        (
            "BS set without BE",
            Forge {
                backed_up: true,
                backup_eligible: false,
                ..Forge::default()
            },
        ),
        (
            "another challenge in clientDataJSON",
            Forge {
                challenge: Some(b64(&[1; 32])),
                ..Forge::default()
            },
        ),
        (
            "a rawId that is not the attested credential id",
            Forge {
                raw_id: Some(vec![8; 32]),
                ..Forge::default()
            },
        ),
        (
            "credential.id that is not base64url(rawId)",
            Forge {
                id: Some(b64(&[2; 32])),
                ..Forge::default()
            },
        ),
    ]);
}

pub fn registration_needs_no_user_verification_and_ignores_the_attestation() {
    let app = spawn_app();
    let user = user(app, "pk-lenient");
    let mut passkey = Passkey::new(Algorithm::Ed25519);
    assert_passkey_object(
        &try_register(app, &user.access, &mut passkey, &Forge::without_uv()),
        201,
    );
    // Whatever `fmt` arrives, the statement is not verified: a "packed" one with a
    // signature of nothing at all is accepted.
    let forge = Forge {
        attestation: (
            "packed".to_owned(),
            Cbor::Map(vec![
                (Cbor::text("alg"), Cbor::Int(-7)),
                (Cbor::text("sig"), Cbor::Bytes(vec![0x30, 0x03, 0x02, 0x01, 0x00])),
            ]),
        ),
        backup_eligible: true,
        backed_up: true,
        ..Forge::default()
    };
    let mut synced = Passkey::new(Algorithm::Es256);
    let object = assert_passkey_object(&try_register(app, &user.access, &mut synced, &forge), 201);
    assert_eq!(object["backed_up"], true, "BS as seen at registration");
    assert_login_response(&sign_in(app, &mut synced, Some(&user.email), &Forge::default()));
}

pub fn garbage_credentials_are_refused_never_500() {
    let app = spawn_app();
    let user = user(app, "pk-garbage");
    for credential in [
        json!({ "id": "AAAA", "rawId": "AAAA", "type": "public-key",
                "response": { "clientDataJSON": "e30", "attestationObject": "oWNmbXQ" } }),
        json!({ "id": "AAAA", "rawId": "AAAA", "type": "public-key",
                "response": { "clientDataJSON": "!!!", "attestationObject": "!!!" } }),
    ] {
        let (id, _) = options_of(&register_options(app, &user.access));
        let answer = register_verify(app, &user.access, &id, &credential, None);
        assert!(
            answer.status == 400 || answer.status == 422,
            "a malformed credential is 400 passkey_invalid or 422: {} {}",
            answer.status,
            answer.body
        );
    }
    let answer = post(
        app,
        "passkeys/register/verify",
        Some(&user.access),
        &json!({ "challenge_id": "x" }),
    );
    answer.assert_problem(422, "validation_error");

    // An honest credential whose `type` is not `public-key` (check 2).
    let mut passkey = Passkey::new(Algorithm::Es256);
    let (id, options) = options_of(&register_options(app, &user.access));
    let mut credential = passkey.register(&options, &Forge::default());
    credential["type"] = json!("password");
    register_verify(app, &user.access, &id, &credential, None).assert_problem(400, "passkey_invalid");
    assert!(list(app, &user.access).is_empty());
}

/// Check 6: a credential id over 1023 bytes is refused (409, like a registered one) and
/// not stored.
pub fn a_credential_id_over_1023_bytes_is_refused() {
    let app = spawn_app();
    let user = user(app, "pk-long-id");
    let mut longest = Passkey::new(Algorithm::Ed25519);
    longest.credential_id = authenticator::random_bytes::<1023>().to_vec();
    assert_passkey_object(&try_register(app, &user.access, &mut longest, &Forge::default()), 201);
    assert_login_response(&sign_in(app, &mut longest, Some(&user.email), &Forge::default()));
    let mut passkey = Passkey::new(Algorithm::Es256);
    passkey.credential_id = vec![0xa5; 1024];
    try_register(app, &user.access, &mut passkey, &Forge::default()).assert_problem(409, "passkey_already_registered");
    assert_eq!(list(app, &user.access).len(), 1);
}

pub fn passkey_management_needs_an_access_token() {
    let app = spawn_app();
    let no_token = |method: &str, route: &str, body: Option<&Value>| send(app, method, route, None, body, &[]);
    no_token("GET", "passkeys", None).assert_problem(401, "not_authenticated");
    no_token("PATCH", "passkeys/some-id", Some(&json!({ "name": "x" }))).assert_problem(401, "not_authenticated");
    no_token("DELETE", "passkeys/some-id", None).assert_problem(401, "not_authenticated");
    no_token(
        "POST",
        "passkeys/register/verify",
        Some(&json!({ "challenge_id": "x", "credential": {} })),
    )
    .assert_problem(401, "not_authenticated");
    send(app, "GET", "passkeys", Some("forged.token.here"), None, &[]).assert_problem(401, "invalid_token");
}

pub fn a_registration_challenge_works_once_whatever_the_outcome() {
    let app = spawn_app();
    let user = user(app, "pk-once");
    let mut passkey = Passkey::new(Algorithm::Es256);
    let (id, options) = options_of(&register_options(app, &user.access));
    let forged = passkey.register(
        &options,
        &Forge {
            origin: "http://evil.test".to_owned(),
            ..Forge::default()
        },
    );
    register_verify(app, &user.access, &id, &forged, None).assert_problem(400, "passkey_invalid");
    let honest = passkey.register(&options, &Forge::default());
    register_verify(app, &user.access, &id, &honest, None).assert_problem(400, "invalid_challenge");

    let (id, options) = options_of(&register_options(app, &user.access));
    let credential = passkey.register(&options, &Forge::default());
    assert_passkey_object(&register_verify(app, &user.access, &id, &credential, None), 201);
    let mut other = Passkey::new(Algorithm::Es256);
    let credential = other.register(&options, &Forge::default());
    register_verify(app, &user.access, &id, &credential, None).assert_problem(400, "invalid_challenge");
    register_verify(app, &user.access, "no-such-challenge", &credential, None).assert_problem(400, "invalid_challenge");
    assert_eq!(list(app, &user.access).len(), 1);
}

pub fn a_challenge_of_another_ceremony_user_or_session_is_refused_at_registration() {
    let app = spawn_app();
    let owner = user(app, "pk-bound");
    let intruder = user(app, "pk-bound-other");
    let mut passkey = Passkey::new(Algorithm::Es256);

    // Another user's registration challenge.
    let (id, options) = options_of(&register_options(app, &owner.access));
    let credential = passkey.register(&options, &Forge::default());
    register_verify(app, &intruder.access, &id, &credential, None).assert_problem(400, "invalid_challenge");

    // The same user's challenge from another session.
    let second = app.login(&owner.email, PASSWORD);
    let second = assert_login_response(&second);
    let (id, options) = options_of(&register_options(app, &owner.access));
    let credential = passkey.register(&options, &Forge::default());
    register_verify(app, &second, &id, &credential, None).assert_problem(400, "invalid_challenge");

    // A login challenge.
    let (id, options) = options_of(&login_options(app, None));
    let fake_creation = json!({ "challenge": options["challenge"], "user": { "id": b64(&[3; 32]) } });
    let credential = passkey.register(&fake_creation, &Forge::default());
    register_verify(app, &owner.access, &id, &credential, None).assert_problem(400, "invalid_challenge");

    assert!(list(app, &owner.access).is_empty());
    assert!(list(app, &intruder.access).is_empty());
}

pub fn a_credential_registers_once_across_all_accounts() {
    let app = spawn_app();
    let first = user(app, "pk-twice");
    let second = user(app, "pk-twice-other");
    let (mut passkey, _) = add_passkey(app, &first.access, Algorithm::Es256);
    // The same credential again, for the same account and for another one.
    try_register(app, &first.access, &mut passkey.clone(), &Forge::default())
        .assert_problem(409, "passkey_already_registered");
    try_register(app, &second.access, &mut passkey, &Forge::default())
        .assert_problem(409, "passkey_already_registered");
    assert_eq!(list(app, &first.access).len(), 1);
    assert!(list(app, &second.access).is_empty());
}

pub fn a_registration_mails_passkey_added_in_text_and_html() {
    let app = spawn_app();
    let user = user(app, "pk-mail");
    let before = app.sendgrid.mails_to(&user.email).len();
    let added = event_count(app, ADDED_SERIES);
    let mut passkey = Passkey::new(Algorithm::Es256);
    let (id, options) = options_of(&send(
        app,
        "POST",
        "passkeys/register/options",
        Some(&user.access),
        Some(&json!({ "current_password": PASSWORD })),
        &[("User-Agent", CHROME_WINDOWS)],
    ));
    let credential = passkey.register(&options, &Forge::default());
    let name = "Tom & <Jerry>";
    let answer = send(
        app,
        "POST",
        "passkeys/register/verify",
        Some(&user.access),
        Some(&json!({ "challenge_id": id, "credential": credential, "name": name })),
        &[("User-Agent", CHROME_WINDOWS)],
    );
    assert_eq!(assert_passkey_object(&answer, 201)["name"], name);
    let mail = &new_mails(app, &user.email, before, 1)[0];
    assert!(mail.text.contains(name), "the text names the passkey: {}", mail.text);
    assert!(mail.text.contains("Chrome on Windows"), "and the device: {}", mail.text);
    assert!(
        mail.html.contains("Tom &amp; &lt;Jerry&gt;"),
        "the HTML names it, escaped: {}",
        mail.html
    );
    assert!(!mail.html.contains("<Jerry>"), "never raw: {}", mail.html);
    assert!(mail.html.contains("Chrome on Windows"), "{}", mail.html);
    wait_for_at_least(app, ADDED_SERIES, added + 1.0);
}

pub fn names_default_to_the_device_are_trimmed_and_limited() {
    let app = spawn_app();
    let user = user(app, "pk-names");
    let mut passkey = Passkey::new(Algorithm::Es256);
    let (id, options) = options_of(&register_options(app, &user.access));
    let credential = passkey.register(&options, &Forge::default());
    let answer = send(
        app,
        "POST",
        "passkeys/register/verify",
        Some(&user.access),
        Some(&json!({ "challenge_id": id, "credential": credential })),
        &[("User-Agent", CHROME_WINDOWS)],
    );
    let object = assert_passkey_object(&answer, 201);
    assert_eq!(object["name"], "Chrome on Windows", "the request's device label");
    let id = object["id"].as_str().unwrap();

    let renamed = assert_passkey_object(&rename(app, &user.access, id, &json!("  Work laptop  ")), 200);
    assert_eq!(renamed["name"], "Work laptop", "trimmed");
    assert_eq!(renamed["id"], object["id"]);
    assert_eq!(renamed["created_at"], object["created_at"]);
    let sixty_four = "é".repeat(64);
    assert_eq!(
        assert_passkey_object(&rename(app, &user.access, id, &json!(sixty_four)), 200)["name"],
        sixty_four,
        "64 characters (128 bytes)"
    );
    for bad in [json!(""), json!(" \t "), json!("é".repeat(65)), json!(null)] {
        rename(app, &user.access, id, &bad).assert_problem(422, "validation_error");
    }
    send(
        app,
        "PATCH",
        &format!("passkeys/{id}"),
        Some(&user.access),
        Some(&json!({})),
        &[],
    )
    .assert_problem(422, "validation_error");
    assert_eq!(list(app, &user.access)[0]["name"], sixty_four);
}

pub fn a_bad_name_at_registration_is_422_and_stores_nothing() {
    let app = spawn_app();
    let user = user(app, "pk-bad-names");
    for bad in [json!(""), json!("   "), json!("x".repeat(65)), json!(42)] {
        // A fresh ceremony each: a refused body need not spend its challenge.
        let mut passkey = Passkey::new(Algorithm::Es256);
        let (id, options) = options_of(&register_options(app, &user.access));
        let credential = passkey.register(&options, &Forge::default());
        register_verify_raw(app, &user.access, &id, &credential, &bad).assert_problem(422, "validation_error");
    }
    assert!(list(app, &user.access).is_empty());
}

/// A verify body with `name` as given (any JSON).
fn register_verify_raw(app: &TestApp, access: &str, challenge_id: &str, credential: &Value, name: &Value) -> Answer {
    post(
        app,
        "passkeys/register/verify",
        Some(access),
        &json!({ "challenge_id": challenge_id, "credential": credential, "name": name }),
    )
}

pub fn the_list_is_newest_first() {
    let app = spawn_app();
    let user = user(app, "pk-order");
    let (_, first) = add_passkey(app, &user.access, Algorithm::Es256);
    // created_at has whole seconds: the second passkey is a second younger.
    std::thread::sleep(Duration::from_millis(1100));
    let (_, second) = add_passkey(app, &user.access, Algorithm::Ed25519);
    let items = list(app, &user.access);
    assert_eq!(items, vec![second, first]);
}

pub fn other_users_passkeys_are_404_and_untouched() {
    let app = spawn_app();
    let owner = user(app, "pk-owner");
    let intruder = user(app, "pk-intruder");
    let (mut passkey, object) = add_passkey(app, &owner.access, Algorithm::Es256);
    let id = object["id"].as_str().unwrap();
    rename(app, &intruder.access, id, &json!("mine now")).assert_problem(404, "not_found");
    delete(app, &intruder.access, id).assert_problem(404, "not_found");
    for unknown in ["00000000-0000-4000-8000-000000000000", "not-an-id", &passkey.id()] {
        rename(app, &owner.access, unknown, &json!("x")).assert_problem(404, "not_found");
        delete(app, &owner.access, unknown).assert_problem(404, "not_found");
    }
    assert_eq!(list(app, &owner.access), vec![object]);
    assert!(list(app, &intruder.access).is_empty());
    assert_login_response(&sign_in(app, &mut passkey, Some(&owner.email), &Forge::default()));
}

pub fn a_deleted_passkey_is_gone_and_mailed() {
    let app = spawn_app();
    let user = user(app, "pk-delete");
    let (mut passkey, object) = add_passkey(app, &user.access, Algorithm::Ed25519);
    app.sendgrid.wait_for_mails(&user.email, 2);
    let before = app.sendgrid.mails_to(&user.email).len();
    let removed = event_count(app, REMOVED_SERIES);
    let id = object["id"].as_str().unwrap();
    let answer = delete(app, &user.access, id);
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert!(answer.body.is_empty());
    let mail = &new_mails(app, &user.email, before, 1)[0];
    let name = object["name"].as_str().unwrap();
    assert!(
        mail.text.contains(name) && mail.html.contains(name),
        "passkey_removed names it: {}",
        mail.text
    );
    wait_for_at_least(app, REMOVED_SERIES, removed + 1.0);
    assert!(list(app, &user.access).is_empty());
    delete(app, &user.access, id).assert_problem(404, "not_found");
    assert_eq!(me(app, &user.access)["sign_in_methods"], json!(["password"]));
    sign_in(app, &mut passkey, None, &Forge::default()).assert_problem(401, "passkey_invalid");
}

/// A password-less account (its hash emptied in the database) with passkeys.
pub fn the_last_credential_of_an_account_without_a_password_stays() {
    let app = spawn_app();
    let user = user(app, "pk-last");
    let (_, first) = add_passkey(app, &user.access, Algorithm::Es256);
    let (mut second_key, second) = add_passkey(app, &user.access, Algorithm::Ed25519);
    app.set_password_hash(&user.email, "");
    assert_eq!(me(app, &user.access)["sign_in_methods"], json!(["passkey"]));
    assert_eq!(delete(app, &user.access, first["id"].as_str().unwrap()).status, 204);
    delete(app, &user.access, second["id"].as_str().unwrap()).assert_problem(409, "last_credential");
    assert_eq!(list(app, &user.access), vec![second]);
    // A password-less account reauthenticates by a recent login: register options
    // without `current_password`.
    let access = assert_login_response(&sign_in(app, &mut second_key, None, &Forge::default()));
    options_of(&post(app, "passkeys/register/options", Some(&access), &json!({})));
}

/// Both passkeys of a password-less account deleted at once: one goes, the other stays.
pub fn concurrent_deletes_never_leave_an_account_without_credentials() {
    let app = spawn_app();
    let user = user(app, "pk-last-race");
    let (mut first_key, first) = add_passkey(app, &user.access, Algorithm::Es256);
    let (mut second_key, second) = add_passkey(app, &user.access, Algorithm::Ed25519);
    app.set_password_hash(&user.email, "");
    let ids = [first["id"].as_str().unwrap(), second["id"].as_str().unwrap()];
    let answers = at_once(&ids, |id| delete(app, &user.access, id));
    assert_eq!(
        statuses(&answers),
        vec![204, 409],
        "{:?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    answers
        .iter()
        .find(|a| a.status == 409)
        .unwrap()
        .assert_problem(409, "last_credential");
    let left = list(app, &user.access);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(me(app, &user.access)["sign_in_methods"], json!(["passkey"]));
    let kept = if left[0]["id"] == second["id"] {
        &mut second_key
    } else {
        &mut first_key
    };
    assert_login_response(&sign_in(app, kept, None, &Forge::default()));
}

pub fn an_account_with_a_password_may_delete_its_only_passkey() {
    let app = spawn_app();
    let user = user(app, "pk-only");
    let (_, object) = add_passkey(app, &user.access, Algorithm::Es256);
    assert_eq!(delete(app, &user.access, object["id"].as_str().unwrap()).status, 204);
}

pub fn the_passkey_limit_is_kept_at_options_and_at_verify() {
    let app = small_app();
    let user = user(app, "pk-limit");
    let (id, options) = options_of(&register_options(app, &user.access));
    add_passkey(app, &user.access, Algorithm::Es256);
    // Two ceremonies started with one slot left: the second to finish is refused.
    let (id_two, options_two) = options_of(&register_options(app, &user.access));
    let mut one = Passkey::new(Algorithm::Es256);
    let mut two = Passkey::new(Algorithm::Ed25519);
    let credential = one.register(&options, &Forge::default());
    assert_passkey_object(&register_verify(app, &user.access, &id, &credential, None), 201);
    let credential = two.register(&options_two, &Forge::default());
    register_verify(app, &user.access, &id_two, &credential, None).assert_problem(409, "passkey_limit_reached");
    register_options(app, &user.access).assert_problem(409, "passkey_limit_reached");
    assert_eq!(list(app, &user.access).len(), SMALL_MAX_PASSKEYS);
}

pub fn challenges_expire() {
    let app = small_app();
    let user = user(app, "pk-expiry");
    let (register_id, creation) = options_of(&register_options(app, &user.access));
    assert_eq!(creation["timeout"], SMALL_CHALLENGE_SECONDS * 1000);
    let mut passkey = Passkey::new(Algorithm::Es256);
    let credential = passkey.register(&creation, &Forge::default());
    std::thread::sleep(Duration::from_millis(SMALL_CHALLENGE_SECONDS * 1000 + 1500));
    register_verify(app, &user.access, &register_id, &credential, None).assert_problem(400, "invalid_challenge");

    let mut passkey = Passkey::new(Algorithm::Es256);
    let answer = try_register(app, &user.access, &mut passkey, &Forge::default());
    assert_passkey_object(&answer, 201);
    let (login_id, request) = options_of(&login_options(app, None));
    assert_eq!(request["timeout"], SMALL_CHALLENGE_SECONDS * 1000);
    let assertion = passkey.assert(&request, &Forge::default());
    std::thread::sleep(Duration::from_millis(SMALL_CHALLENGE_SECONDS * 1000 + 1500));
    login_verify(app, &login_id, &assertion).assert_problem(400, "invalid_challenge");
    assert_login_response(&sign_in(app, &mut passkey, None, &Forge::default()));
}

// ---------------------------------------------------------------------------------------
// Login.

pub fn a_discoverable_login_signs_in_with_the_passkey() {
    let app = spawn_app();
    let user = user(app, "pk-discoverable");
    let (mut passkey, object) = add_passkey(app, &user.access, Algorithm::Es256);
    let (id, options) = options_of(&login_options(app, None));
    assert_eq!(
        keys(&options),
        set(&["challenge", "timeout", "rpId", "allowCredentials", "userVerification"]),
        "{options}"
    );
    assert_eq!(options["rpId"], authenticator::RP_ID);
    assert_eq!(options["timeout"], TIMEOUT_MS);
    assert_eq!(options["allowCredentials"], json!([]));
    assert_eq!(options["userVerification"], "preferred");
    let assertion = passkey.assert(&options, &Forge::default());
    let answer = login_verify(app, &id, &assertion);
    let access = assert_login_response(&answer);
    assert_eq!(answer.json()["user"]["email"], user.email);
    assert_eq!(auth_methods(app, &access), json!(["passkey"]));
    let listed = &list(app, &access)[0];
    assert_eq!(listed["id"], object["id"]);
    assert!(is_rfc3339_utc(&listed["last_used_at"]), "used now: {listed}");

    // The same assertion again: its challenge is spent.
    login_verify(app, &id, &assertion).assert_problem(400, "invalid_challenge");
    // And under a fresh challenge it signs the wrong one.
    let (fresh, _) = options_of(&login_options(app, None));
    login_verify(app, &fresh, &assertion).assert_problem(401, "passkey_invalid");
}

pub fn an_email_login_lists_the_accounts_passkeys_and_signs_in() {
    let app = spawn_app();
    let user = user(app, "pk-email-login");
    let (first, _) = add_passkey(app, &user.access, Algorithm::Es256);
    let (mut second, _) = add_passkey(app, &user.access, Algorithm::Ed25519);
    let (id, options) = options_of(&login_options(app, Some(&user.email)));
    let listed: BTreeSet<String> = descriptor_ids(&options["allowCredentials"]).into_iter().collect();
    assert_eq!(listed, [first.id(), second.id()].into_iter().collect());
    for descriptor in options["allowCredentials"].as_array().unwrap() {
        assert_eq!(
            descriptor["transports"],
            json!(["internal"]),
            "as registered: {descriptor}"
        );
    }
    let assertion = second.assert(&options, &Forge::default());
    let access = assert_login_response(&login_verify(app, &id, &assertion));
    assert_eq!(me(app, &access)["email"], user.email);
    // The email in any case names the same account.
    let upper = user.email.to_uppercase();
    assert_login_response(&sign_in(app, &mut second, Some(&upper), &Forge::default()));
}

pub fn login_options_do_not_tell_accounts_apart() {
    let app = spawn_app();
    let unknown = unique_email("pk-nobody");
    let without = app.verified_user("pk-without");
    let with = user(app, "pk-with");
    add_passkey(app, &with.access, Algorithm::Es256);

    let answers: Vec<Answer> = [&unknown, &without, &with.email]
        .iter()
        .map(|email| login_options(app, Some(email)))
        .collect();
    let shapes: Vec<(u16, BTreeSet<String>, BTreeSet<String>)> = answers
        .iter()
        .map(|a| (a.status, keys(&a.json()), keys(&a.json()["options"])))
        .collect();
    assert!(shapes.iter().all(|s| *s == shapes[0]), "{shapes:?}");
    assert_eq!(shapes[0].0, 200);

    for (email, first) in [(&unknown, &answers[0]), (&without, &answers[1])] {
        let (_, options) = options_of(first);
        let fakes = &options["allowCredentials"];
        let ids = descriptor_ids(fakes);
        assert!((1..=3).contains(&ids.len()), "1–3 fake descriptors: {fakes}");
        for descriptor in fakes.as_array().unwrap() {
            assert_eq!(unb64(descriptor["id"].as_str().unwrap()).len(), 32, "{descriptor}");
            assert_eq!(descriptor["transports"], json!(["internal", "hybrid"]), "{descriptor}");
        }
        let (_, again) = options_of(&login_options(app, Some(email)));
        assert_eq!(again["allowCredentials"], *fakes, "identical on every call for {email}");
        assert_ne!(again["challenge"], options["challenge"]);
        // The same address in another case or with spaces is the same email (API.md), as
        // it is for a real account: the fakes must not differ, or they tell.
        let variant = format!("  {}  ", email.to_uppercase());
        let (_, variant) = options_of(&login_options(app, Some(&variant)));
        assert_eq!(
            variant["allowCredentials"], *fakes,
            "the same fakes for {email} in upper case"
        );
        for key in ["timeout", "rpId", "userVerification"] {
            assert_eq!(options[key], answers[2].json()["options"][key], "{key}");
        }
    }
    let (_, unknown_options) = options_of(&answers[0]);
    let (_, without_options) = options_of(&answers[1]);
    assert_ne!(
        unknown_options["allowCredentials"], without_options["allowCredentials"],
        "derived from the email"
    );
}

/// Each forged assertion under a fresh challenge, all rows before the verdict; then the
/// passkey still signs in.
pub fn login_refuses_each_forged_check_with_passkey_invalid() {
    let app = spawn_app();
    let user = user(app, "pk-login-forged");
    let (mut passkey, _) = add_passkey(app, &user.access, Algorithm::Es256);
    let rows: Vec<(&str, Forge)> = vec![
        (
            "a signature by another key",
            Forge {
                wrong_key: true,
                ..Forge::default()
            },
        ),
        (
            "an origin outside WEBAUTHN_ORIGINS",
            Forge {
                origin: "http://evil.test".to_owned(),
                ..Forge::default()
            },
        ),
        (
            "the rpIdHash of another relying party",
            Forge {
                rp_id: "evil.test".to_owned(),
                ..Forge::default()
            },
        ),
        (
            "type webauthn.create at login",
            Forge {
                client_type: Some("webauthn.create".to_owned()),
                ..Forge::default()
            },
        ),
        (
            "UP clear",
            Forge {
                user_present: false,
                ..Forge::default()
            },
        ),
        (
            "crossOrigin true",
            Forge {
                cross_origin: true,
                ..Forge::default()
            },
        ),
        (
            "another challenge in clientDataJSON",
            Forge {
                challenge: Some(b64(&[4; 32])),
                ..Forge::default()
            },
        ),
        (
            "credential.id that is not base64url(rawId)",
            Forge {
                id: Some(b64(&[2; 32])),
                ..Forge::default()
            },
        ),
        (
            "a rawId of no credential",
            Forge {
                raw_id: Some(vec![8; 32]),
                ..Forge::default()
            },
        ),
        (
            "a userHandle that is not the user's",
            Forge {
                user_handle: Some(Some(vec![5; 32])),
                ..Forge::default()
            },
        ),
    ];
    let mut failures = Vec::new();
    // Failed checks never tell which check failed: one problem body for all of them.
    let mut bodies = BTreeSet::new();
    for (what, forge) in rows {
        // The forged assertion does not move the counter the Worker has seen.
        let counter = passkey.counter;
        let answer = sign_in(app, &mut passkey, None, &forge);
        passkey.counter = counter;
        if answer.status != 401 || answer.json()["code"] != "passkey_invalid" {
            failures.push(format!("{what}: {} {}", answer.status, answer.body));
        } else {
            answer.assert_problem(401, "passkey_invalid");
            bodies.insert(answer.body);
        }
    }
    // An unknown credential, and a counter regression.
    let mut stranger = Passkey::new(Algorithm::Es256);
    stranger.user_handle = passkey.user_handle.clone();
    let unknown = sign_in(app, &mut stranger, None, &Forge::default());
    assert_login_response(&sign_in(app, &mut passkey, None, &Forge::default()));
    let stale = Forge {
        counter: Some(passkey.counter),
        ..Forge::default()
    };
    let regression = sign_in(app, &mut passkey, None, &stale);
    for (what, answer) in [
        ("an unregistered credential", unknown),
        ("a counter regression", regression),
    ] {
        if answer.status != 401 || answer.json()["code"] != "passkey_invalid" {
            failures.push(format!("{what}: {} {}", answer.status, answer.body));
        } else {
            bodies.insert(answer.body);
        }
    }
    assert!(failures.is_empty(), "accepted or misanswered:\n{}", failures.join("\n"));
    assert_eq!(bodies.len(), 1, "the refusals tell checks apart: {bodies:#?}");
    assert_login_response(&sign_in(app, &mut passkey, None, &Forge::default()));
    // Without a userHandle (it is checked only when present).
    assert_login_response(&sign_in(
        app,
        &mut passkey,
        Some(&user.email),
        &Forge {
            user_handle: Some(None),
            ..Forge::default()
        },
    ));
}

pub fn a_login_challenge_for_an_email_refuses_another_accounts_passkey() {
    let app = spawn_app();
    let victim = user(app, "pk-victim");
    let attacker = user(app, "pk-attacker");
    add_passkey(app, &victim.access, Algorithm::Es256);
    let (mut theirs, _) = add_passkey(app, &attacker.access, Algorithm::Es256);
    let counter = theirs.counter;
    sign_in(app, &mut theirs, Some(&victim.email), &Forge::default()).assert_problem(401, "passkey_invalid");
    theirs.counter = counter;
    let answer = sign_in(app, &mut theirs, Some(&attacker.email), &Forge::default());
    assert_login_response(&answer);
    assert_eq!(answer.json()["user"]["email"], attacker.email);
}

pub fn other_ceremonies_challenges_are_refused_at_login() {
    let app = spawn_app();
    let user = user(app, "pk-login-ceremony");
    let (mut passkey, _) = add_passkey(app, &user.access, Algorithm::Es256);
    let (id, options) = options_of(&register_options(app, &user.access));
    let assertion = passkey.assert(&options, &Forge::default());
    login_verify(app, &id, &assertion).assert_problem(400, "invalid_challenge");
    login_verify(app, "no-such-challenge", &assertion).assert_problem(400, "invalid_challenge");
    assert_login_response(&sign_in(app, &mut passkey, None, &Forge::default()));
}

fn scrape(app: &TestApp) -> String {
    let answer = app.request(
        "GET",
        "/metrics",
        &[("Authorization", &format!("Bearer {METRICS_TOKEN}"))],
        None,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

/// The value of the sample named exactly `series`; None when the series is absent.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map(|value| value.parse().unwrap())
}

/// The current value of an `auth_events_total` series (every event is rendered, zero or not).
fn event_count(app: &TestApp, series: &str) -> f64 {
    sample(&scrape(app), series).unwrap_or_else(|| panic!("/metrics has no {series}"))
}

/// Polls `/metrics` until `series` reaches at least `expected` (events are counted after
/// the response; tests running meanwhile may add to it).
fn wait_for_at_least(app: &TestApp, series: &str, expected: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = sample(&scrape(app), series).unwrap_or_default();
        if now >= expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} stayed at {now}, expected at least {expected}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn a_counter_regression_is_refused_counted_and_the_passkey_stays() {
    let app = spawn_app();
    let user = user(app, "pk-counter");
    let (mut passkey, object) = add_passkey(app, &user.access, Algorithm::Es256);
    let regressions = event_count(app, COUNTER_REGRESSION_SERIES);
    let at = |counter| Forge {
        counter: Some(counter),
        ..Forge::default()
    };
    assert_login_response(&sign_in(app, &mut passkey, None, &at(5)));
    sign_in(app, &mut passkey, None, &at(5)).assert_problem(401, "passkey_invalid");
    sign_in(app, &mut passkey, Some(&user.email), &at(3)).assert_problem(401, "passkey_invalid");
    sign_in(app, &mut passkey, None, &at(0)).assert_problem(401, "passkey_invalid");
    // At least the three regressions (other tests run meanwhile, none regresses on purpose).
    wait_for_at_least(app, COUNTER_REGRESSION_SERIES, regressions + 3.0);
    let access = assert_login_response(&sign_in(app, &mut passkey, None, &at(6)));
    let listed = list(app, &access);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], object["id"], "the passkey stays");
}

pub fn an_ed25519_passkey_whose_counter_stays_zero_signs_in_again_and_again() {
    let app = spawn_app();
    let user = user(app, "pk-zero");
    let (mut passkey, _) = add_passkey(app, &user.access, Algorithm::Ed25519);
    passkey.counter_step = 0;
    let forged = Forge {
        wrong_key: true,
        ..Forge::default()
    };
    sign_in(app, &mut passkey, None, &forged).assert_problem(401, "passkey_invalid");
    for _ in 0..3 {
        assert_login_response(&sign_in(app, &mut passkey, None, &Forge::default()));
    }
    assert_eq!(passkey.counter, 0);
}

pub fn an_unverified_email_is_403_after_the_passkey_checks() {
    let app = spawn_app();
    let user = user(app, "pk-unverified");
    let (mut passkey, _) = add_passkey(app, &user.access, Algorithm::Es256);
    let filter = format!("WHERE email = '{}'", user.email);
    app.execute(
        &format!("UPDATE users SET email_verified = 0 {filter}"),
        &format!("UPDATE users SET email_verified = false {filter}"),
    );
    sign_in(app, &mut passkey, None, &Forge::default()).assert_problem(403, "email_not_verified");
    // A forged assertion of that account is still 401: the account state comes after.
    sign_in(
        app,
        &mut passkey,
        None,
        &Forge {
            wrong_key: true,
            ..Forge::default()
        },
    )
    .assert_problem(401, "passkey_invalid");
}

fn statuses(answers: &[Answer]) -> Vec<u16> {
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    statuses.sort_unstable();
    statuses
}

pub fn one_assertion_sent_ten_times_at_once_signs_in_once() {
    let app = spawn_app();
    let user = user(app, "pk-concurrent-replay");
    let (mut passkey, _) = add_passkey(app, &user.access, Algorithm::Es256);
    let (id, options) = options_of(&login_options(app, None));
    let assertion = passkey.assert(&options, &Forge::default());
    let answers = at_once(&[(); 10], |_| login_verify(app, &id, &assertion));
    let mut expected = vec![200];
    expected.extend([400; 9]);
    assert_eq!(
        statuses(&answers),
        expected,
        "{:?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    for refused in answers.iter().filter(|a| a.status != 200) {
        refused.assert_problem(400, "invalid_challenge");
    }
}

/// Five assertions with one counter value, each under a challenge of its own, at once:
/// the counter check and its update are one step, so exactly one signs in.
pub fn assertions_with_one_counter_value_at_once_sign_in_once() {
    let app = spawn_app();
    let user = user(app, "pk-concurrent-counter");
    let (mut passkey, _) = add_passkey(app, &user.access, Algorithm::Ed25519);
    let forge = Forge {
        counter: Some(7),
        ..Forge::default()
    };
    let ceremonies: Vec<(String, Value)> = (0..5)
        .map(|_| {
            let (id, options) = options_of(&login_options(app, None));
            (id, passkey.assert(&options, &forge))
        })
        .collect();
    let answers = at_once(&ceremonies, |(id, assertion)| login_verify(app, id, assertion));
    assert_eq!(
        statuses(&answers),
        vec![200, 401, 401, 401, 401],
        "{:?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    assert_login_response(&sign_in(app, &mut passkey, None, &Forge::default()));
}

pub fn concurrent_registrations_keep_the_passkey_limit() {
    let app = small_app();
    let user = user(app, "pk-limit-race");
    add_passkey(app, &user.access, Algorithm::Es256);
    // Three ceremonies started with one slot left, finished at once: one 201.
    let ceremonies: Vec<(String, Value)> = (0..3)
        .map(|_| {
            let (id, options) = options_of(&register_options(app, &user.access));
            (id, Passkey::new(Algorithm::Es256).register(&options, &Forge::default()))
        })
        .collect();
    let answers = at_once(&ceremonies, |(id, credential)| {
        register_verify(app, &user.access, id, credential, None)
    });
    assert_eq!(
        statuses(&answers),
        vec![201, 409, 409],
        "{:?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    for refused in answers.iter().filter(|a| a.status == 409) {
        refused.assert_problem(409, "passkey_limit_reached");
    }
    assert_eq!(list(app, &user.access).len(), SMALL_MAX_PASSKEYS);
}

pub fn one_credential_registered_by_two_accounts_at_once_goes_to_one() {
    let app = spawn_app();
    let users = [user(app, "pk-race-a"), user(app, "pk-race-b")];
    let passkey = Passkey::new(Algorithm::Es256);
    let ceremonies: Vec<(&User, String, Value)> = users
        .iter()
        .map(|u| {
            let (id, options) = options_of(&register_options(app, &u.access));
            (u, id, passkey.clone().register(&options, &Forge::default()))
        })
        .collect();
    let answers = at_once(&ceremonies, |(u, id, credential)| {
        register_verify(app, &u.access, id, credential, None)
    });
    assert_eq!(
        statuses(&answers),
        vec![201, 409],
        "{:?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    answers
        .iter()
        .find(|a| a.status == 409)
        .unwrap()
        .assert_problem(409, "passkey_already_registered");
    let stored: usize = users.iter().map(|u| list(app, &u.access).len()).sum();
    assert_eq!(stored, 1);
}

pub fn a_login_challenge_is_spent_by_a_failed_verify() {
    let app = spawn_app();
    let user = user(app, "pk-login-once");
    let (mut passkey, _) = add_passkey(app, &user.access, Algorithm::Es256);
    let (id, options) = options_of(&login_options(app, None));
    let mut stranger = Passkey::new(Algorithm::Es256);
    login_verify(app, &id, &stranger.assert(&options, &Forge::default())).assert_problem(401, "passkey_invalid");
    let honest = passkey.assert(&options, &Forge::default());
    login_verify(app, &id, &honest).assert_problem(400, "invalid_challenge");
}

/// `RATE_LIMIT_PASSKEY_LOGIN_EMAIL` (10/600): the eleventh options call for one email is
/// 429, from any address, whether or not the account exists.
pub fn login_options_are_limited_per_email() {
    let app = spawn_app();
    for email in [unique_email("pk-limited-nobody"), app.verified_user("pk-limited")] {
        for call in 0..10 {
            let answer = login_options(app, Some(&email));
            assert_eq!(answer.status, 200, "call {call} for {email}: {}", answer.body);
        }
        login_options(app, Some(&email.to_uppercase())).assert_problem(429, "rate_limited");
        // Discoverable options are not keyed by an email.
        options_of(&login_options(app, None));
    }
}

/// `RATE_LIMIT_PASSKEY_LOGIN_IP`, one budget across `login/options` and `login/verify`
/// (on `small_app`, 4 per 600 s: no token comes back while the test runs).
pub fn passkey_login_is_limited_per_ip() {
    let app = small_app();
    let ip = crate::harness::unique_ip();
    let from_ip = |route: &str, body: &Value| {
        app.request(
            "POST",
            &app.auth(route),
            &[("Content-Type", "application/json"), ("CF-Connecting-IP", &ip)],
            Some(body.to_string().as_bytes()),
        )
    };
    let mut stranger = Passkey::new(Algorithm::Es256);
    for call in 0..SMALL_LOGIN_IP_BURST / 2 {
        let answer = from_ip("passkeys/login/options", &json!({}));
        let (id, options) = options_of(&answer);
        let answer = from_ip(
            "passkeys/login/verify",
            &json!({ "challenge_id": id, "credential": stranger.assert(&options, &Forge::default()) }),
        );
        assert_eq!(answer.status, 401, "call {call}: {}", answer.body);
    }
    from_ip("passkeys/login/options", &json!({})).assert_problem(429, "rate_limited");
    let unknown = stranger.assert(&json!({ "challenge": b64(&[6; 32]) }), &Forge::default());
    from_ip(
        "passkeys/login/verify",
        &json!({ "challenge_id": "no-such-challenge", "credential": unknown }),
    )
    .assert_problem(429, "rate_limited");
}

// ---------------------------------------------------------------------------------------
// Two-factor accounts.

/// Turns TOTP on for the account (enroll, confirm with the current step's code): the
/// secret's key and the step spent.
fn enable_totp(app: &TestApp, access: &str) -> (Vec<u8>, u64) {
    let answer = post(
        app,
        "mfa/totp/enroll",
        Some(access),
        &json!({ "current_password": PASSWORD }),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let key = totp::base32_decode(answer.json()["secret"].as_str().unwrap()).unwrap();
    let step = now_step();
    let answer = post(
        app,
        "mfa/totp/confirm",
        Some(access),
        &json!({ "code": totp::hotp(&key, step, 6) }),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    (key, step)
}

/// The current TOTP step, t = now / 30.
fn now_step() -> u64 {
    crate::harness::unix_now() as u64 / 30
}

fn mfa_passkey_options(app: &TestApp, mfa_token: &str) -> Answer {
    post(app, "mfa/passkey/options", None, &json!({ "mfa_token": mfa_token }))
}

fn mfa_verify_passkey(app: &TestApp, mfa_token: &str, challenge_id: &str, credential: &Value) -> Answer {
    post(
        app,
        "mfa/verify",
        None,
        &json!({ "mfa_token": mfa_token, "challenge_id": challenge_id, "credential": credential }),
    )
}

pub fn a_2fa_account_needs_the_second_factor_without_user_verification() {
    let app = spawn_app();
    let user = user(app, "pk-2fa");
    let (mut passkey, object) = add_passkey(app, &user.access, Algorithm::Es256);
    let (key, step) = enable_totp(app, &user.access);

    // Without UV the passkey is one factor: the challenge, with no passkey method.
    let token = assert_mfa_challenge(
        &sign_in(app, &mut passkey, None, &Forge::without_uv()),
        &["totp", "recovery_code"],
    );
    let code = totp::hotp(&key, (step + 1).max(now_step()), 6);
    let answer = post(app, "mfa/verify", None, &json!({ "mfa_token": token, "code": code }));
    let access = assert_login_response(&answer);
    assert_eq!(auth_methods(app, &access), json!(["passkey", "totp"]));

    // With UV it is both.
    let answer = sign_in(app, &mut passkey, Some(&user.email), &Forge::default());
    let access = assert_login_response(&answer);
    assert_eq!(answer.json()["user"]["mfa_enabled"], true);
    assert_eq!(auth_methods(app, &access), json!(["passkey"]));

    // A password login of an account with a passkey offers it, and no longer once it is gone.
    assert_mfa_challenge(&app.login(&user.email, PASSWORD), &["totp", "recovery_code", "passkey"]);
    assert_eq!(delete(app, &access, object["id"].as_str().unwrap()).status, 204);
    assert_mfa_challenge(&app.login(&user.email, PASSWORD), &["totp", "recovery_code"]);
}

pub fn mfa_passkey_options_need_a_passkey_and_a_live_token() {
    let app = spawn_app();
    let user = user(app, "pk-mfa-none");
    enable_totp(app, &user.access);
    let token = assert_mfa_challenge(&app.login(&user.email, PASSWORD), &["totp", "recovery_code"]);
    mfa_passkey_options(app, &token).assert_problem(409, "passkey_not_registered");
    mfa_passkey_options(app, "no-such-mfa-token-at-all").assert_problem(400, "invalid_mfa_token");
}

pub fn mfa_verify_takes_a_passkey_assertion_as_second_factor() {
    let app = spawn_app();
    let user = user(app, "pk-mfa");
    let (first, _) = add_passkey(app, &user.access, Algorithm::Ed25519);
    let (mut second, _) = add_passkey(app, &user.access, Algorithm::Es256);
    enable_totp(app, &user.access);
    let token = assert_mfa_challenge(&app.login(&user.email, PASSWORD), &["totp", "recovery_code", "passkey"]);
    let (id, options) = options_of(&mfa_passkey_options(app, &token));
    assert_eq!(options["userVerification"], "discouraged");
    assert_eq!(options["rpId"], authenticator::RP_ID);
    let listed: BTreeSet<String> = descriptor_ids(&options["allowCredentials"]).into_iter().collect();
    assert_eq!(listed, [first.id(), second.id()].into_iter().collect());
    // User verification is not required for the second factor.
    let assertion = second.assert(&options, &Forge::without_uv());
    let answer = mfa_verify_passkey(app, &token, &id, &assertion);
    let access = assert_login_response(&answer);
    assert_eq!(auth_methods(app, &access), json!(["password", "passkey"]));
    mfa_verify_passkey(app, &token, &id, &assertion).assert_problem(400, "invalid_mfa_token");
}

pub fn wrong_passkeys_at_mfa_verify_count_against_the_tokens_five_tries() {
    let app = spawn_app();
    let user = user(app, "pk-mfa-wrong");
    let stranger = self::user(app, "pk-mfa-stranger");
    let (mut passkey, _) = add_passkey(app, &user.access, Algorithm::Es256);
    let (mut theirs, _) = add_passkey(app, &stranger.access, Algorithm::Es256);
    enable_totp(app, &user.access);
    let token = assert_mfa_challenge(&app.login(&user.email, PASSWORD), &["totp", "recovery_code", "passkey"]);
    for attempt in 0..5 {
        let (id, options) = options_of(&mfa_passkey_options(app, &token));
        let assertion = if attempt == 0 {
            // Another user's registered passkey.
            theirs.assert(&options, &Forge::default())
        } else {
            let counter = passkey.counter;
            let forged = passkey.assert(
                &options,
                &Forge {
                    wrong_key: true,
                    ..Forge::default()
                },
            );
            passkey.counter = counter;
            forged
        };
        mfa_verify_passkey(app, &token, &id, &assertion).assert_problem(401, "passkey_invalid");
    }
    // Dead after five: even the right passkey (under a challenge of a fresh token, as
    // the dead one makes none) cannot revive it.
    mfa_passkey_options(app, &token).assert_problem(400, "invalid_mfa_token");
    let fresh = assert_mfa_challenge(&app.login(&user.email, PASSWORD), &["totp", "recovery_code", "passkey"]);
    let (id, options) = options_of(&mfa_passkey_options(app, &fresh));
    let assertion = passkey.assert(&options, &Forge::default());
    mfa_verify_passkey(app, &token, &id, &assertion).assert_problem(400, "invalid_mfa_token");
}

pub fn challenges_of_other_ceremonies_or_tokens_are_refused_at_mfa_verify() {
    let app = spawn_app();
    let user = user(app, "pk-mfa-ceremony");
    let (mut passkey, _) = add_passkey(app, &user.access, Algorithm::Es256);
    enable_totp(app, &user.access);
    let methods = ["totp", "recovery_code", "passkey"];
    let token = assert_mfa_challenge(&app.login(&user.email, PASSWORD), &methods);

    // A login-ceremony challenge at mfa/verify.
    let (id, options) = options_of(&login_options(app, None));
    let assertion = passkey.assert(&options, &Forge::default());
    mfa_verify_passkey(app, &token, &id, &assertion).assert_problem(400, "invalid_challenge");

    // A challenge bound to another mfa_token of the same user.
    let other = assert_mfa_challenge(&app.login(&user.email, PASSWORD), &methods);
    let (id, options) = options_of(&mfa_passkey_options(app, &other));
    let assertion = passkey.assert(&options, &Forge::default());
    mfa_verify_passkey(app, &token, &id, &assertion).assert_problem(400, "invalid_challenge");

    // An MFA challenge at login/verify.
    let (id, options) = options_of(&mfa_passkey_options(app, &token));
    let assertion = passkey.assert(&options, &Forge::default());
    login_verify(app, &id, &assertion).assert_problem(400, "invalid_challenge");

    // The token still works with a challenge of its own.
    let (id, options) = options_of(&mfa_passkey_options(app, &token));
    let assertion = passkey.assert(&options, &Forge::default());
    assert_login_response(&mfa_verify_passkey(app, &token, &id, &assertion));
}

pub fn the_openapi_document_lists_the_passkey_routes() {
    let app = spawn_app();
    let doc = app.get("/openapi.json").json();
    let paths = &doc["paths"];
    let prefix = "/balance_hub/auth";
    for (path, method, statuses) in [
        (
            "passkeys/register/options",
            "post",
            &["200", "401", "403", "409", "422", "429"][..],
        ),
        (
            "passkeys/register/verify",
            "post",
            &["201", "400", "401", "409", "422", "429"][..],
        ),
        ("passkeys", "get", &["200", "401", "429"][..]),
        ("passkeys/{id}", "patch", &["200", "401", "404", "422", "429"][..]),
        ("passkeys/{id}", "delete", &["204", "401", "404", "409", "429"][..]),
        ("passkeys/login/options", "post", &["200", "422", "429"][..]),
        (
            "passkeys/login/verify",
            "post",
            &["200", "400", "401", "403", "422", "429"][..],
        ),
        ("mfa/passkey/options", "post", &["200", "400", "409", "422", "429"][..]),
    ] {
        // The path parameter may have any name: `passkeys/{...}`.
        let operation = paths
            .as_object()
            .unwrap()
            .iter()
            .find(|(key, _)| same_template(key, &format!("{prefix}/{path}")))
            .map(|(_, item)| &item[method])
            .unwrap_or(&Value::Null);
        assert!(operation.is_object(), "{method} {path} is not in the document");
        for status in statuses {
            assert!(
                operation["responses"][*status].is_object(),
                "{method} {path}: no {status} in {}",
                operation["responses"]
            );
        }
    }
}

/// Whether two path templates are equal up to the names of their parameters.
fn same_template(a: &str, b: &str) -> bool {
    let parts = |t: &str| -> Vec<String> {
        t.split('/')
            .map(|p| {
                if p.starts_with('{') {
                    "{}".to_owned()
                } else {
                    p.to_owned()
                }
            })
            .collect()
    };
    parts(a) == parts(b)
}

pub fn tests() -> Vec<libtest_mimic::Trial> {
    crate::trials![
        the_authenticator_encodes_cbor_as_rfc_8949_does,
        the_authenticator_signs_as_rfc_6979_and_rfc_8032_do,
        the_authenticator_lays_out_its_ceremonies_as_webauthn_does,
        registration_options_are_webauthns_creation_options,
        register_options_need_reauthentication,
        an_es256_passkey_registers_is_listed_and_excluded,
        an_ed25519_passkey_registers_is_listed_and_excluded,
        registration_refuses_each_forged_check_with_passkey_invalid,
        registration_needs_no_user_verification_and_ignores_the_attestation,
        garbage_credentials_are_refused_never_500,
        a_credential_id_over_1023_bytes_is_refused,
        passkey_management_needs_an_access_token,
        a_registration_challenge_works_once_whatever_the_outcome,
        a_challenge_of_another_ceremony_user_or_session_is_refused_at_registration,
        a_credential_registers_once_across_all_accounts,
        a_registration_mails_passkey_added_in_text_and_html,
        names_default_to_the_device_are_trimmed_and_limited,
        a_bad_name_at_registration_is_422_and_stores_nothing,
        the_list_is_newest_first,
        other_users_passkeys_are_404_and_untouched,
        a_deleted_passkey_is_gone_and_mailed,
        the_last_credential_of_an_account_without_a_password_stays,
        concurrent_deletes_never_leave_an_account_without_credentials,
        an_account_with_a_password_may_delete_its_only_passkey,
        the_passkey_limit_is_kept_at_options_and_at_verify,
        challenges_expire,
        one_assertion_sent_ten_times_at_once_signs_in_once,
        assertions_with_one_counter_value_at_once_sign_in_once,
        concurrent_registrations_keep_the_passkey_limit,
        one_credential_registered_by_two_accounts_at_once_goes_to_one,
        a_login_challenge_is_spent_by_a_failed_verify,
        login_options_are_limited_per_email,
        passkey_login_is_limited_per_ip,
        a_discoverable_login_signs_in_with_the_passkey,
        an_email_login_lists_the_accounts_passkeys_and_signs_in,
        login_options_do_not_tell_accounts_apart,
        login_refuses_each_forged_check_with_passkey_invalid,
        a_login_challenge_for_an_email_refuses_another_accounts_passkey,
        other_ceremonies_challenges_are_refused_at_login,
        a_counter_regression_is_refused_counted_and_the_passkey_stays,
        an_ed25519_passkey_whose_counter_stays_zero_signs_in_again_and_again,
        an_unverified_email_is_403_after_the_passkey_checks,
        a_2fa_account_needs_the_second_factor_without_user_verification,
        mfa_passkey_options_need_a_passkey_and_a_live_token,
        mfa_verify_takes_a_passkey_assertion_as_second_factor,
        wrong_passkeys_at_mfa_verify_count_against_the_tokens_five_tries,
        challenges_of_other_ceremonies_or_tokens_are_refused_at_mfa_verify,
        the_openapi_document_lists_the_passkey_routes,
    ]
}
