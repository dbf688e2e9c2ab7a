//! Two-factor sign-in through the whole pipeline (the features it meets mounted), natively on
//! real SQL: what a client sees, and what an attacker with a password, a session or a
//! captured code can and cannot do.

use serde_json::{json, Value};

use super::totp;
use crate::features::users::testing::{create_user, PASSWORD};
use crate::features::{accounts, one_time_tokens, password_reset, sessions, signing, users};
use crate::http::Handled;
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Feature;
use crate::kernel::ids::Clock;
use crate::kernel::mail::assert_renders_completely;
use crate::kernel::testing::TestWorld;
use crate::kernel::web::Request;

const P: &str = "/balance_hub/auth";

/// What two-factor sign-in meets in a deployment (the app's list, without `system`).
const FEATURES: &[&Feature] = &[
    &users::FEATURE,
    &one_time_tokens::FEATURE,
    &signing::FEATURE,
    &accounts::FEATURE,
    &sessions::FEATURE,
    &password_reset::FEATURE,
    &super::FEATURE,
];

fn send(world: &TestWorld, request: Request) -> Handled {
    crate::http::testing::send(world, FEATURES, request)
}

fn post(path: &str, token: Option<&str>, body: Value) -> Request {
    let request = Request::new("POST", &format!("{P}{path}"))
        .with_header("content-type", "application/json")
        .with_header("cf-connecting-ip", "198.51.100.7")
        .with_body(body.to_string());
    match token {
        Some(token) => request.with_header("authorization", &format!("Bearer {token}")),
        None => request,
    }
}

fn body(handled: &Handled) -> Value {
    serde_json::from_slice(&handled.response.body).unwrap_or(Value::Null)
}

/// `(status, problem code or "")`.
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

fn login(world: &TestWorld, email: &str) -> Handled {
    send(
        world,
        post("/login", None, json!({"email": email, "password": PASSWORD})),
    )
}

fn access_token(handled: &Handled) -> String {
    assert_eq!(handled.response.status, 200, "{:?}", body(handled));
    body(handled)["access_token"].as_str().unwrap().to_owned()
}

/// RFC 4648 base32 (upper case, no padding) back to bytes, as an authenticator app reads it.
fn decode_base32(text: &str) -> Vec<u8> {
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {text}"),
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// A user with 2FA on: the access token of the session that turned it on, the secret,
/// the recovery codes.
struct Enrolled {
    email: String,
    token: String,
    secret: Vec<u8>,
    recovery_codes: Vec<String>,
}

impl Enrolled {
    /// The code the user's app shows `offset` steps from now.
    fn code(&self, world: &TestWorld, offset: i64) -> String {
        totp::code_text(&self.secret, totp::step_at(world.clock.now()) + offset)
    }
}

fn enroll(world: &TestWorld, token: &str) -> Handled {
    send(
        world,
        post("/mfa/totp/enroll", Some(token), json!({"current_password": PASSWORD})),
    )
}

fn enrolled(world: &TestWorld, email: &str) -> Enrolled {
    create_user(world, email, true);
    let token = access_token(&login(world, email));
    let enrollment = enroll(world, &token);
    assert_eq!(enrollment.response.status, 200, "{:?}", body(&enrollment));
    let secret = decode_base32(body(&enrollment)["secret"].as_str().unwrap());
    let code = totp::code_text(&secret, totp::step_at(world.clock.now()));
    let confirmed = send(world, post("/mfa/totp/confirm", Some(&token), json!({ "code": code })));
    assert_eq!(confirmed.response.status, 200, "{:?}", body(&confirmed));
    let recovery_codes = body(&confirmed)["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    // The confirming code's step is spent: the tests' codes start at the next step.
    world.advance(totp::STEP_SECONDS);
    Enrolled {
        email: email.to_owned(),
        token,
        secret,
        recovery_codes,
    }
}

fn mfa_token(handled: &Handled) -> String {
    let challenge = body(handled);
    assert_eq!(challenge["mfa_required"], true, "{challenge:?}");
    challenge["mfa_token"].as_str().unwrap().to_owned()
}

fn verify(world: &TestWorld, mfa_token: &str, factor: Value) -> Handled {
    let mut body = json!({ "mfa_token": mfa_token });
    body.as_object_mut()
        .unwrap()
        .extend(factor.as_object().unwrap().clone());
    send(world, post("/mfa/verify", None, body))
}

fn me(world: &TestWorld, token: &str) -> Handled {
    send(
        world,
        Request::new("GET", &format!("{P}/me")).with_header("authorization", &format!("Bearer {token}")),
    )
}

fn mail_kinds(world: &TestWorld, to: &str) -> Vec<&'static str> {
    world.outbox.to(to).iter().map(|m| m.kind.name).collect()
}

#[test]
fn enrolling_and_confirming_turns_2fa_on_with_ten_distinct_recovery_codes() {
    let world = world();
    create_user(&world, "ada@example.com", true);
    let token = access_token(&login(&world, "ada@example.com"));
    let enrollment = body(&enroll(&world, &token));
    let secret = enrollment["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32);
    assert_eq!(
        enrollment["otpauth_uri"],
        format!(
            "otpauth://totp/Auth%20System:ada%40example.com?secret={secret}&issuer=Auth%20System\
             &algorithm=SHA1&digits=6&period=30"
        )
    );
    let svg = enrollment["qr_svg"].as_str().unwrap();
    assert!(svg.starts_with("<svg") && !svg.contains("<script"));
    assert_eq!(
        body(&me(&world, &token))["mfa_enabled"],
        false,
        "not before the confirmation"
    );

    let code = totp::code_text(&decode_base32(secret), totp::step_at(world.clock.now()));
    let confirmed = send(&world, post("/mfa/totp/confirm", Some(&token), json!({ "code": code })));
    assert_eq!(confirmed.response.status, 200);
    let mut codes: Vec<String> = serde_json::from_value(body(&confirmed)["recovery_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), 10, "distinct");
    assert_eq!(body(&me(&world, &token))["mfa_enabled"], true);
    assert_eq!(mail_kinds(&world, "ada@example.com"), ["mfa_enabled"]);
    assert!(body(&me(&world, &token)).to_string().find(secret).is_none());
}

#[test]
fn the_secret_and_the_recovery_codes_are_not_stored_readable() {
    let world = world();
    let ada = enrolled(&world, "ada@example.com");
    let stored = world.query("SELECT secret FROM mfa_totp")[0]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(stored.starts_with("v1."), "sealed: {stored}");
    let secret_text = super::secret::base32(&ada.secret, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    assert!(!stored.contains(&secret_text));
    let digests = world.query("SELECT digest FROM mfa_recovery_codes");
    assert_eq!(digests.len(), 10);
    for row in digests {
        let digest = row["digest"].as_str().unwrap();
        assert!(ada.recovery_codes.iter().all(|c| !digest.contains(&c[..5])));
    }
}

#[test]
fn enroll_needs_reauthentication_and_is_refused_while_2fa_is_on() {
    let world = world();
    create_user(&world, "bo@example.com", true);
    let token = access_token(&login(&world, "bo@example.com"));
    let without = send(&world, post("/mfa/totp/enroll", Some(&token), json!({})));
    assert_eq!(answer(&without), (403, "current_password_required".into()));
    let wrong = send(
        &world,
        post(
            "/mfa/totp/enroll",
            Some(&token),
            json!({"current_password": "nope nope"}),
        ),
    );
    assert_eq!(answer(&wrong), (401, "invalid_credentials".into()));
    let nobody = send(
        &world,
        post("/mfa/totp/enroll", None, json!({"current_password": PASSWORD})),
    );
    assert_eq!(nobody.response.status, 401);

    let cy = enrolled(&world, "cy@example.com");
    assert_eq!(answer(&enroll(&world, &cy.token)), (409, "mfa_already_enabled".into()));
    let again = send(
        &world,
        post(
            "/mfa/totp/confirm",
            Some(&cy.token),
            json!({"code": cy.code(&world, 0)}),
        ),
    );
    assert_eq!(answer(&again), (409, "mfa_already_enabled".into()));
}

#[test]
fn a_wrong_confirmation_code_is_a_400_and_five_end_the_enrollment() {
    let world = world();
    create_user(&world, "di@example.com", true);
    let token = access_token(&login(&world, "di@example.com"));
    let missing = send(
        &world,
        post("/mfa/totp/confirm", Some(&token), json!({"code": "123456"})),
    );
    assert_eq!(answer(&missing), (409, "mfa_enrollment_missing".into()));
    let secret = decode_base32(body(&enroll(&world, &token))["secret"].as_str().unwrap());
    let right = totp::code_text(&secret, totp::step_at(world.clock.now()));
    let wrong = if right == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        let refused = send(
            &world,
            post("/mfa/totp/confirm", Some(&token), json!({ "code": wrong })),
        );
        assert_eq!(answer(&refused), (400, "invalid_code".into()));
    }
    let gone = send(
        &world,
        post("/mfa/totp/confirm", Some(&token), json!({ "code": right })),
    );
    assert_eq!(answer(&gone), (409, "mfa_enrollment_missing".into()));
    let malformed = send(
        &world,
        post("/mfa/totp/confirm", Some(&token), json!({"code": "12345"})),
    );
    assert_eq!(answer(&malformed), (422, "validation_error".into()));
}

#[test]
fn an_enrollment_expires_and_a_new_one_replaces_the_old_secret() {
    let world = with_vars(&[("MFA_ENROLL_EXPIRE_MINUTES", "1")]);
    create_user(&world, "ed@example.com", true);
    let token = access_token(&login(&world, "ed@example.com"));
    let first = decode_base32(body(&enroll(&world, &token))["secret"].as_str().unwrap());
    world.advance(61);
    let code = totp::code_text(&first, totp::step_at(world.clock.now()));
    let expired = send(&world, post("/mfa/totp/confirm", Some(&token), json!({ "code": code })));
    assert_eq!(answer(&expired), (409, "mfa_enrollment_missing".into()));

    let old = decode_base32(body(&enroll(&world, &token))["secret"].as_str().unwrap());
    let new = decode_base32(body(&enroll(&world, &token))["secret"].as_str().unwrap());
    let step = totp::step_at(world.clock.now());
    if totp::code_text(&old, step) != totp::code_text(&new, step) {
        let stale = send(
            &world,
            post(
                "/mfa/totp/confirm",
                Some(&token),
                json!({"code": totp::code_text(&old, step)}),
            ),
        );
        assert_eq!(
            answer(&stale),
            (400, "invalid_code".into()),
            "the replaced secret's code"
        );
    }
    let confirmed = send(
        &world,
        post(
            "/mfa/totp/confirm",
            Some(&token),
            json!({"code": totp::code_text(&new, step)}),
        ),
    );
    assert_eq!(confirmed.response.status, 200);
}

#[test]
fn a_2fa_login_is_a_challenge_without_token_cookie_session_or_mail() {
    let world = world();
    let ada = enrolled(&world, "ada@example.com");
    let sessions_before = world.query("SELECT id FROM sessions").len();
    let mails_before = world.outbox.all().len();
    world.events();
    let challenge = login(&world, &ada.email);
    assert_eq!(challenge.response.status, 200);
    assert_eq!(challenge.response.header("set-cookie"), None);
    let json = body(&challenge);
    assert!(json.get("access_token").is_none());
    assert_eq!(json["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(json["expires_in"], 300);
    assert!(json["mfa_token"].as_str().unwrap().len() >= 22, "at least 128 bits");
    assert_eq!(world.query("SELECT id FROM sessions").len(), sessions_before);
    assert_eq!(world.outbox.all().len(), mails_before);
    assert!(matches!(challenge.events.as_slice(), [AuthEvent::MfaChallenged { .. }]));

    let form = Request::new("POST", &format!("{P}/login"))
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_body(format!(
            "username={}&password={}",
            ada.email,
            PASSWORD.replace(' ', "+")
        ));
    let by_form = send(&world, form);
    assert_eq!(body(&by_form)["mfa_required"], true, "the OAuth2 form too");
    assert_eq!(by_form.response.header("set-cookie"), None);
}

#[test]
fn verify_with_the_current_code_opens_a_session_by_both_factors_once() {
    let world = world();
    let ada = enrolled(&world, "ada@example.com");
    let token = mfa_token(&login(&world, &ada.email));
    let verified = verify(&world, &token, json!({"code": ada.code(&world, 0)}));
    let access = access_token(&verified);
    assert!(verified.response.header("set-cookie").is_some());
    assert_eq!(body(&me(&world, &access))["mfa_enabled"], true);
    let methods = world.query("SELECT auth_methods FROM sessions ORDER BY created_at DESC, rowid DESC LIMIT 1");
    assert_eq!(methods[0]["auth_methods"], "password,totp");
    assert!(verified
        .events
        .iter()
        .any(|e| matches!(e, AuthEvent::LoginSucceeded { .. })));

    let again = verify(&world, &token, json!({"code": ada.code(&world, 1)}));
    assert_eq!(
        answer(&again),
        (400, "invalid_mfa_token".into()),
        "consumed by the first success"
    );
}

#[test]
fn a_code_accepted_once_is_refused_everywhere_in_its_step_and_the_next_steps_code_works() {
    let world = world();
    let ada = enrolled(&world, "ada@example.com");
    let code = ada.code(&world, 0);
    access_token(&verify(
        &world,
        &mfa_token(&login(&world, &ada.email)),
        json!({ "code": code }),
    ));

    let replayed = verify(&world, &mfa_token(&login(&world, &ada.email)), json!({ "code": code }));
    assert_eq!(answer(&replayed), (401, "invalid_mfa_code".into()));
    let disable = |code: &str| {
        send(
            &world,
            post(
                "/mfa/totp/disable",
                Some(&ada.token),
                json!({"current_password": PASSWORD, "code": code}),
            ),
        )
    };
    assert_eq!(
        answer(&disable(&code)),
        (401, "invalid_mfa_code".into()),
        "on another route"
    );
    let earlier = ada.code(&world, -1);
    if earlier != code {
        assert_eq!(
            answer(&disable(&earlier)),
            (401, "invalid_mfa_code".into()),
            "an earlier step"
        );
    }
    assert_eq!(
        disable(&ada.code(&world, 1)).response.status,
        204,
        "the next step, within skew"
    );
}

#[test]
fn codes_two_steps_away_are_refused() {
    let world = world();
    let ada = enrolled(&world, "ada@example.com");
    for offset in [-2, 2] {
        let code = ada.code(&world, offset);
        if [-1, 0, 1].iter().any(|o| ada.code(&world, *o) == code) {
            continue;
        }
        let refused = verify(&world, &mfa_token(&login(&world, &ada.email)), json!({ "code": code }));
        assert_eq!(answer(&refused), (401, "invalid_mfa_code".into()), "offset {offset}");
    }
}

#[test]
fn of_many_verifies_with_one_token_and_one_code_exactly_one_succeeds() {
    let world = world();
    let ada = enrolled(&world, "ada@example.com");
    let token = mfa_token(&login(&world, &ada.email));
    let code = ada.code(&world, 0);
    let statuses: Vec<u16> = (0..4)
        .map(|_| verify(&world, &token, json!({ "code": code })).response.status)
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
}

#[test]
fn an_mfa_token_dies_after_five_wrong_codes() {
    let world = world();
    let ada = enrolled(&world, "ada@example.com");
    let token = mfa_token(&login(&world, &ada.email));
    let right = ada.code(&world, 0);
    let wrong = if right == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(
            answer(&verify(&world, &token, json!({ "code": wrong }))),
            (401, "invalid_mfa_code".into())
        );
    }
    let late = verify(&world, &token, json!({ "code": right }));
    assert_eq!(answer(&late), (400, "invalid_mfa_token".into()));
    assert_eq!(
        answer(&verify(&world, "no-such-token", json!({ "code": right }))),
        (400, "invalid_mfa_token".into())
    );
}

#[test]
fn an_mfa_token_expires() {
    let world = with_vars(&[("MFA_TOKEN_EXPIRE_SECONDS", "60")]);
    let ada = enrolled(&world, "ada@example.com");
    let challenge = login(&world, &ada.email);
    assert_eq!(body(&challenge)["expires_in"], 60);
    let token = mfa_token(&challenge);
    world.advance(61);
    let expired = verify(&world, &token, json!({"code": ada.code(&world, 0)}));
    assert_eq!(answer(&expired), (400, "invalid_mfa_token".into()));
}

#[test]
fn wrong_codes_across_tokens_reach_the_login_lockout_and_a_right_password_does_not_reset_it() {
    let world = world();
    let ada = enrolled(&world, "ada@example.com");
    let right = ada.code(&world, 0);
    let wrong = if right == "000000" { "000001" } else { "000000" };
    let mut locked = None;
    for round in 0..10 {
        let challenge = login(&world, &ada.email);
        if challenge.response.status == 429 {
            locked = Some(challenge);
            break;
        }
        let refused = verify(&world, &mfa_token(&challenge), json!({ "code": wrong }));
        if refused.response.status == 429 {
            locked = Some(refused);
            break;
        }
        assert_eq!(answer(&refused), (401, "invalid_mfa_code".into()), "round {round}");
        assert!(refused
            .events
            .iter()
            .any(|e| matches!(e, AuthEvent::SecondFactorFailed { .. })));
    }
    let locked = locked.expect("the lockout answered 429");
    assert_eq!(answer(&locked).0, 429);
    assert!(locked.response.header("retry-after").is_some());
    assert!(mail_kinds(&world, &ada.email).contains(&"account_locked"));
}

#[test]
fn a_recovery_code_works_once_and_says_how_many_are_left() {
    let world = world();
    let ada = enrolled(&world, "ada@example.com");
    let code = ada.recovery_codes[0].to_uppercase().replace('-', " ");
    let verified = verify(
        &world,
        &mfa_token(&login(&world, &ada.email)),
        json!({ "recovery_code": code }),
    );
    access_token(&verified);
    let used = world
        .outbox
        .to(&ada.email)
        .into_iter()
        .find(|m| m.kind.name == "recovery_code_used")
        .unwrap();
    assert_eq!(used.value("remaining"), Some("9"));
    assert_renders_completely(&used);
    assert!(verified
        .events
        .iter()
        .any(|e| matches!(e, AuthEvent::RecoveryCodeUsed { remaining: 9, .. })));
    let methods = world.query("SELECT auth_methods FROM sessions ORDER BY created_at DESC, rowid DESC LIMIT 1");
    assert_eq!(methods[0]["auth_methods"], "password,recovery_code");

    let again = verify(
        &world,
        &mfa_token(&login(&world, &ada.email)),
        json!({"recovery_code": ada.recovery_codes[0]}),
    );
    assert_eq!(answer(&again), (401, "invalid_mfa_code".into()));
}

#[test]
fn new_recovery_codes_need_a_totp_code_and_kill_the_old_ones() {
    let world = world();
    let ada = enrolled(&world, "ada@example.com");
    let by_recovery = send(
        &world,
        post(
            "/mfa/recovery-codes",
            Some(&ada.token),
            json!({"current_password": PASSWORD, "recovery_code": ada.recovery_codes[0]}),
        ),
    );
    assert_eq!(answer(&by_recovery), (422, "validation_error".into()));
    let regenerated = send(
        &world,
        post(
            "/mfa/recovery-codes",
            Some(&ada.token),
            json!({"current_password": PASSWORD, "code": ada.code(&world, 0)}),
        ),
    );
    assert_eq!(regenerated.response.status, 200);
    let fresh: Vec<String> = serde_json::from_value(body(&regenerated)["recovery_codes"].clone()).unwrap();
    assert_eq!(fresh.len(), 10);
    assert!(mail_kinds(&world, &ada.email).contains(&"recovery_codes_regenerated"));
    let old = verify(
        &world,
        &mfa_token(&login(&world, &ada.email)),
        json!({"recovery_code": ada.recovery_codes[1]}),
    );
    assert_eq!(answer(&old), (401, "invalid_mfa_code".into()));
    let new = verify(
        &world,
        &mfa_token(&login(&world, &ada.email)),
        json!({"recovery_code": fresh[0]}),
    );
    assert_eq!(new.response.status, 200);
}

#[test]
fn disable_ends_the_other_sessions_and_the_next_login_needs_only_the_password() {
    let world = world();
    let ada = enrolled(&world, "ada@example.com");
    let other = access_token(&verify(
        &world,
        &mfa_token(&login(&world, &ada.email)),
        json!({"code": ada.code(&world, 0)}),
    ));
    let disabled = send(
        &world,
        post(
            "/mfa/totp/disable",
            Some(&ada.token),
            json!({"current_password": PASSWORD, "recovery_code": ada.recovery_codes[3]}),
        ),
    );
    assert_eq!(disabled.response.status, 204);
    assert_eq!(me(&world, &other).response.status, 401, "the other session ended");
    assert_eq!(
        body(&me(&world, &ada.token))["mfa_enabled"],
        false,
        "the caller's stays"
    );
    assert!(mail_kinds(&world, &ada.email).contains(&"mfa_disabled"));
    assert!(world.query("SELECT digest FROM mfa_recovery_codes").is_empty());
    access_token(&login(&world, &ada.email));
    let again = send(
        &world,
        post(
            "/mfa/totp/disable",
            Some(&ada.token),
            json!({"current_password": PASSWORD, "code": "123456"}),
        ),
    );
    assert_eq!(answer(&again), (409, "mfa_not_enabled".into()));
}

#[test]
fn disable_and_new_codes_count_wrong_codes_in_the_lockout() {
    let world = world();
    let ada = enrolled(&world, "ada@example.com");
    let right = ada.code(&world, 0);
    let wrong = if right == "000000" { "000001" } else { "000000" };
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let refused = send(
            &world,
            post(
                "/mfa/totp/disable",
                Some(&ada.token),
                json!({"current_password": PASSWORD, "code": wrong}),
            ),
        );
        statuses.push(refused.response.status);
    }
    assert_eq!(statuses[0], 401);
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let also_locked = send(
        &world,
        post(
            "/mfa/recovery-codes",
            Some(&ada.token),
            json!({"current_password": PASSWORD, "code": right}),
        ),
    );
    assert_eq!(also_locked.response.status, 429);
}

#[test]
fn a_verify_body_names_exactly_one_second_factor() {
    let world = world();
    let ada = enrolled(&world, "ada@example.com");
    let token = mfa_token(&login(&world, &ada.email));
    let bodies = [
        json!({}),
        json!({"code": ada.code(&world, 0), "recovery_code": ada.recovery_codes[0]}),
        json!({"code": "12345"}),
        json!({"code": 123456}),
        json!({"challenge_id": "c"}),
        json!({"credential": {}}),
        json!({"challenge_id": "c", "credential": {}, "code": ada.code(&world, 0)}),
    ];
    for factor in bodies {
        let refused = verify(&world, &token, factor.clone());
        assert_eq!(answer(&refused), (422, "validation_error".into()), "{factor}");
    }
    assert_eq!(
        verify(&world, &token, json!({"code": ada.code(&world, 0)}))
            .response
            .status,
        200,
        "no try spent"
    );
}

#[test]
fn verify_is_limited_per_ip() {
    let world = with_vars(&[("RATE_LIMIT_MFA_VERIFY_IP", "2/600")]);
    for _ in 0..2 {
        assert_eq!(verify(&world, "x", json!({"code": "123456"})).response.status, 400);
    }
    let limited = verify(&world, "x", json!({"code": "123456"}));
    assert_eq!(limited.response.status, 429);
}

#[test]
fn a_password_reset_leaves_2fa_on() {
    let world = world();
    let ada = enrolled(&world, "ada@example.com");
    let forgot = send(&world, post("/password/forget", None, json!({"email": ada.email})));
    assert_eq!(forgot.response.status, 202);
    let mail = world
        .outbox
        .to(&ada.email)
        .into_iter()
        .find(|m| m.kind.name == "password_reset")
        .unwrap();
    let reset_token = mail
        .value("reset_url")
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_owned();
    let reset = send(
        &world,
        post(
            "/password/reset",
            None,
            json!({"token": reset_token, "new_password": "a brand new passphrase"}),
        ),
    );
    assert_eq!(reset.response.status, 200);
    let challenge = send(
        &world,
        post(
            "/login",
            None,
            json!({"email": ada.email, "password": "a brand new passphrase"}),
        ),
    );
    assert_eq!(body(&challenge)["mfa_required"], true);
}

#[test]
fn housekeeping_drops_expired_mfa_tokens_and_stale_enrollments() {
    let world = world();
    let ada = enrolled(&world, "ada@example.com");
    login(&world, &ada.email);
    create_user(&world, "fay@example.com", true);
    let fay = access_token(&login(&world, "fay@example.com"));
    enroll(&world, &fay);
    let purge = || {
        for feature in FEATURES {
            for statement in feature.housekeeping {
                let now = world.clock.now();
                pollster::block_on(crate::kernel::sql::Database::run(&world.db, statement, &[now.into()])).unwrap();
            }
        }
    };
    purge();
    assert_eq!(world.query("SELECT digest FROM mfa_tokens").len(), 1);
    assert_eq!(world.query("SELECT user_id FROM mfa_totp").len(), 2);
    world.advance(3600);
    purge();
    assert!(world.query("SELECT digest FROM mfa_tokens").is_empty());
    assert_eq!(
        world.query("SELECT user_id FROM mfa_totp").len(),
        1,
        "the confirmed factor stays"
    );
}

#[test]
fn every_mfa_mail_renders_completely() {
    let world = world();
    world.with_ctx(|ctx| {
        for kind in [
            &super::mails::MFA_ENABLED,
            &super::mails::MFA_DISABLED,
            &super::mails::RECOVERY_CODES_REGENERATED,
        ] {
            assert_renders_completely(&super::mails::notice(ctx, kind, "ada@example.com"));
        }
        assert_renders_completely(&super::mails::recovery_code_used(ctx, "ada@example.com", 3));
    });
}

#[test]
fn a_right_password_of_a_2fa_account_is_neither_a_failure_nor_the_end_of_the_streak() {
    let world = with_vars(&[
        ("LOCKOUT_FREE_ATTEMPTS", "3"),
        ("LOCKOUT_BASE_SECONDS", "60"),
        ("LOCKOUT_MAX_SECONDS", "60"),
    ]);
    let ada = enrolled(&world, "ada@example.com");
    let right = ada.code(&world, 0);
    let wrong = if right == "000000" { "000001" } else { "000000" };
    // Three free attempts: logins between wrong codes neither count nor reset.
    let first = mfa_token(&login(&world, &ada.email));
    for _ in 0..2 {
        assert_eq!(verify(&world, &first, json!({ "code": wrong })).response.status, 401);
    }
    let second = mfa_token(&login(&world, &ada.email));
    assert_eq!(verify(&world, &second, json!({ "code": wrong })).response.status, 401);
    // A right current_password elsewhere (update-user) does not reset the streak either.
    let renamed = send(
        &world,
        Request::new("PUT", &format!("{P}/update-user"))
            .with_header("content-type", "application/json")
            .with_header("authorization", &format!("Bearer {}", ada.token))
            .with_body(json!({"current_password": PASSWORD, "password": "another fine passphrase"}).to_string()),
    );
    assert_eq!(renamed.response.status, 200, "{:?}", body(&renamed));
    assert_eq!(
        verify(&world, &second, json!({ "code": wrong })).response.status,
        401,
        "the fourth starts the wait"
    );
    assert_eq!(answer(&verify(&world, &second, json!({ "code": right }))).0, 429);
    world.advance(61);
    // After the wait, the right code completes the sign-in and ends the streak.
    let third = mfa_token(&send(
        &world,
        post(
            "/login",
            None,
            json!({"email": ada.email, "password": "another fine passphrase"}),
        ),
    ));
    access_token(&verify(&world, &third, json!({"code": ada.code(&world, 0)})));
    for _ in 0..3 {
        assert_eq!(
            verify(
                &world,
                &mfa_token(&send(
                    &world,
                    post(
                        "/login",
                        None,
                        json!({"email": ada.email, "password": "another fine passphrase"})
                    ),
                )),
                json!({ "code": wrong })
            )
            .response
            .status,
            401
        );
    }
}

#[test]
fn a_request_without_current_password_costs_no_lockout_attempt() {
    let world = with_vars(&[("LOCKOUT_FREE_ATTEMPTS", "2")]);
    let ada = enrolled(&world, "ada@example.com");
    for _ in 0..5 {
        let refused = send(
            &world,
            post(
                "/mfa/totp/disable",
                Some(&ada.token),
                json!({"code": ada.code(&world, 0)}),
            ),
        );
        assert_eq!(answer(&refused), (403, "current_password_required".into()));
    }
    let disabled = send(
        &world,
        post(
            "/mfa/totp/disable",
            Some(&ada.token),
            json!({"current_password": PASSWORD, "code": ada.code(&world, 0)}),
        ),
    );
    assert_eq!(disabled.response.status, 204);
}

#[test]
fn a_step_accepted_before_a_disable_does_not_confirm_the_next_enrollment() {
    let world = world();
    let ada = enrolled(&world, "ada@example.com");
    let verified = verify(
        &world,
        &mfa_token(&login(&world, &ada.email)),
        json!({"code": ada.code(&world, 0)}),
    );
    assert_eq!(verified.response.status, 200, "{:?}", body(&verified));
    let disabled = send(
        &world,
        post(
            "/mfa/totp/disable",
            Some(&ada.token),
            json!({"current_password": PASSWORD, "recovery_code": ada.recovery_codes[0]}),
        ),
    );
    assert_eq!(disabled.response.status, 204);
    let enrollment = enroll(&world, &ada.token);
    assert_eq!(enrollment.response.status, 200, "{:?}", body(&enrollment));
    let secret = decode_base32(body(&enrollment)["secret"].as_str().unwrap());
    let step = totp::step_at(world.clock.now());
    let confirm = |code: String| {
        send(
            &world,
            post("/mfa/totp/confirm", Some(&ada.token), json!({ "code": code })),
        )
    };
    let same_step = confirm(totp::code_text(&secret, step));
    assert_eq!(
        answer(&same_step),
        (400, "invalid_code".into()),
        "the step was spent before the disable"
    );
    let next_step = confirm(totp::code_text(&secret, step + 1));
    assert_eq!(next_step.response.status, 200, "{:?}", body(&next_step));
    // Once the window has passed, housekeeping may drop a disabled factor's row.
    let disabled_too = enrolled(&world, "bob@example.com");
    let disabled = send(
        &world,
        post(
            "/mfa/totp/disable",
            Some(&disabled_too.token),
            json!({"current_password": PASSWORD, "recovery_code": disabled_too.recovery_codes[0]}),
        ),
    );
    assert_eq!(disabled.response.status, 204);
    let rows = || world.query("SELECT user_id FROM mfa_totp").len();
    assert_eq!(rows(), 2);
    world.advance(5 * totp::STEP_SECONDS);
    for feature in FEATURES {
        for statement in feature.housekeeping {
            let now = world.clock.now();
            pollster::block_on(crate::kernel::sql::Database::run(&world.db, statement, &[now.into()])).unwrap();
        }
    }
    assert_eq!(rows(), 1, "ada's confirmed factor stays, bob's disabled one goes");
}
