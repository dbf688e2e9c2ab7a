//! Login, tokens and sessions.

use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::harness::{spawn_app, unique_email, Answer, TestApp, ALLOWED_ORIGIN, BCRYPT_COST, FRONTEND_URL, PASSWORD};

/// bcrypt's limit is 72 bytes: the right password, padded one byte past it.
fn over_long_password() -> String {
    format!("{PASSWORD}{}", "x".repeat(73 - PASSWORD.len()))
}

/// A login as FastAPI's OAuth2 password flow sends it, with extra headers.
fn login_form(app: &TestApp, email: &str, password: &str, headers: &[(&str, &str)]) -> Answer {
    let form = format!(
        "username={}&password={}",
        email.replace('@', "%40"),
        password.replace(' ', "+")
    );
    let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    app.request("POST", &app.auth("login"), &all, Some(form.as_bytes()))
}

/// A JSON login with extra headers.
fn login_json(app: &TestApp, email: &str, password: &str, headers: &[(&str, &str)]) -> Answer {
    let body = json!({ "email": email, "password": password }).to_string();
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    app.request("POST", &app.auth("login"), &all, Some(body.as_bytes()))
}

pub fn login_returns_a_token_and_an_http_only_cookie() {
    let app = spawn_app();
    let email = app.verified_user("login");
    let answer = app.login(&email.to_uppercase(), PASSWORD);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1800);
    assert_eq!(body["user"]["email"], email);
    assert_eq!(body["user"]["email_verified"], true);
    assert!(body["user"].get("password_hash").is_none());
    let cookie = answer.header("set-cookie").unwrap();
    for attribute in ["access_token=", "HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(app.get_with_token(&app.auth("me"), token).json()["email"], email);
}

pub fn the_oauth2_form_logs_in_too() {
    let app = spawn_app();
    let email = app.verified_user("form");
    let answer = login_form(app, &email, PASSWORD, &[]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.json()["access_token"].is_string());
}

pub fn unknown_email_and_wrong_password_look_alike() {
    let app = spawn_app();
    let email = app.verified_user("alike");
    let unknown = unique_email("alike-unknown");
    let timed = |email: &str| {
        let started = Instant::now();
        let answer = app.login(email, "wrong but long enough");
        (answer, started.elapsed())
    };
    // Warm the dummy hash so the first unknown-email login is not the odd one out.
    timed(&unknown);
    let (wrong, _) = timed(&email);
    let (missing, _) = timed(&unknown);
    let problem = wrong.assert_problem(401, "invalid_credentials");
    missing.assert_problem(401, "invalid_credentials");
    assert_eq!(problem["detail"], missing.json()["detail"]);
    // Both paths run one bcrypt verification; median of several runs to smooth noise.
    let median = |email: &str| {
        let mut times: Vec<_> = (0..5).map(|_| timed(email).1).collect();
        times.sort();
        times[2]
    };
    let (known, unknown_time) = (median(&email), median(&unknown));
    let ratio =
        known.as_secs_f64().max(unknown_time.as_secs_f64()) / known.as_secs_f64().min(unknown_time.as_secs_f64());
    assert!(
        ratio < 3.0,
        "known {known:?} vs unknown {unknown_time:?} at cost {BCRYPT_COST}"
    );
}

pub fn unverified_accounts_are_403_only_with_the_right_password() {
    let app = spawn_app();
    let email = unique_email("unverified");
    app.register(&email, PASSWORD);
    app.login(&email, PASSWORD).assert_problem(403, "email_not_verified");
    app.login(&email, "wrong but long enough")
        .assert_problem(401, "invalid_credentials");
}

pub fn forged_tokens_are_401() {
    let app = spawn_app();
    let (_, token) = app.logged_in_user("forged");
    let parts: Vec<&str> = token.split('.').collect();
    let payload: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let encode = |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let mut far_future = payload.clone();
    far_future["exp"] = json!(4_000_000_000u64);
    let mut other_user = payload.clone();
    other_user["sub"] = json!("00000000-0000-4000-8000-000000000000");
    let forged = [
        format!("{}.{}.", encode(&json!({ "alg": "none", "typ": "JWT" })), parts[1]),
        format!(
            "{}.{}.{}",
            encode(&json!({ "alg": "HS512", "typ": "JWT" })),
            parts[1],
            parts[2]
        ),
        format!("{}.{}.{}", parts[0], encode(&far_future), parts[2]),
        format!("{}.{}.{}", parts[0], encode(&other_user), parts[2]),
        format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode([0u8; 32])),
        "garbage".to_owned(),
        format!("{token}x"),
    ];
    for bad in forged {
        app.get_with_token(&app.auth("me"), &bad)
            .assert_problem(401, "invalid_token");
    }
    let missing = app.get(&app.auth("me"));
    missing.assert_problem(401, "not_authenticated");
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
}

pub fn the_cookie_authenticates_me() {
    let app = spawn_app();
    let (email, token) = app.logged_in_user("cookie");
    let answer = app.request(
        "GET",
        &app.auth("me"),
        &[("Cookie", &format!("theme=dark; access_token={token}"))],
        None,
    );
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["email"], email);
}

pub fn logout_revokes_the_session() {
    let app = spawn_app();
    let (_, token) = app.logged_in_user("logout");
    let answer = app.request(
        "POST",
        &app.auth("logout"),
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    );
    assert_eq!(answer.status, 204);
    assert!(answer.header("set-cookie").unwrap().contains("Max-Age=0"));
    app.get_with_token(&app.auth("me"), &token)
        .assert_problem(401, "invalid_token");
    app.request(
        "POST",
        &app.auth("logout"),
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    )
    .assert_problem(401, "invalid_token");
}

/// A hash of `PASSWORD` at cost 5 from another bcrypt implementation (`$2y$`), written
/// straight into D1: it must verify, and be re-hashed at the configured cost on login.
pub fn hashes_from_elsewhere_verify_and_are_upgraded() {
    let app = spawn_app();
    let email = app.verified_user("legacy");
    let legacy = bcrypt::hash_with_result(PASSWORD, 5)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    app.set_password_hash(&email, &legacy);
    assert_eq!(app.login(&email, PASSWORD).status, 200);
    let hash = app.password_hash(&email);
    assert!(
        hash.starts_with(&format!("$2b$0{BCRYPT_COST}$")),
        "not upgraded: {hash}"
    );
    assert_eq!(app.login(&email, PASSWORD).status, 200);
}

/// A password bcrypt cannot read whole is bad input, refused before the account is looked
/// up: a known account's answer (no hash to run) would otherwise come back faster than an
/// unknown email's (the dummy hash), and tell that the account exists.
pub fn an_over_long_password_is_422_whether_or_not_the_account_exists() {
    let app = spawn_app();
    let known = app.verified_user("long-known");
    let unknown = unique_email("long-unknown");
    let password = over_long_password();
    let answers = [
        login_json(app, &known, &password, &[]),
        login_json(app, &unknown, &password, &[]),
        login_form(app, &known, &password, &[]),
        login_form(app, &unknown, &password, &[]),
    ];
    let problems: Vec<Value> = answers
        .iter()
        .map(|answer| {
            let problem = answer.assert_problem(422, "validation_error");
            assert_eq!(
                problem["errors"],
                json!([{ "field": "password", "message": problem["errors"][0]["message"] }])
            );
            assert_eq!(answer.header("x-ratelimit-remaining"), None, "no limit was asked");
            problem
        })
        .collect();
    assert!(problems.iter().all(|p| *p == problems[0]), "{problems:#?}");
}

/// Login CSRF: a page elsewhere must not log the visitor's browser into an account of its
/// choosing. A browser names the page's origin on every cross-site POST; a foreign one (or
/// an opaque `null`) is refused before the body is parsed or a limit is asked.
pub fn a_login_from_a_foreign_origin_is_403() {
    let app = spawn_app();
    let email = app.verified_user("csrf");
    let foreign = [
        "http://evil.test",
        "null",
        &format!("{FRONTEND_URL}.evil.test"),
        &format!("{ALLOWED_ORIGIN}:8080"),
        &FRONTEND_URL.replacen("http://", "https://", 1),
    ];
    for origin in foreign {
        let headers = [("Origin", origin)];
        for answer in [
            login_json(app, &email, PASSWORD, &headers),
            login_form(app, &email, PASSWORD, &headers),
        ] {
            answer.assert_problem(403, "forbidden_origin");
            assert_eq!(answer.header("set-cookie"), None, "{origin}");
            assert_eq!(
                answer.header("x-ratelimit-remaining"),
                None,
                "{origin}: no limit was asked"
            );
        }
    }
    let unreadable = app.request(
        "POST",
        &app.auth("login"),
        &[("Content-Type", "application/json"), ("Origin", "http://evil.test")],
        Some(b"{not json"),
    );
    unreadable.assert_problem(403, "forbidden_origin");
}

/// The frontend, the other configured origins, and clients that send no `Origin` at all
/// (curl, mobile apps, servers) log in as before.
pub fn a_login_from_an_allowed_origin_or_none_works() {
    let app = spawn_app();
    let email = app.verified_user("origin-ok");
    for origin in [Some(ALLOWED_ORIGIN), Some(FRONTEND_URL), None] {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        for answer in [
            login_json(app, &email, PASSWORD, &headers),
            login_form(app, &email, PASSWORD, &headers),
        ] {
            assert_eq!(answer.status, 200, "{origin:?}: {}", answer.body);
            assert!(answer.header("set-cookie").is_some(), "{origin:?}");
            assert_eq!(answer.header("access-control-allow-origin"), origin, "{origin:?}");
        }
    }
}

/// Limits key IPv6 clients by their /64; the session still records the address as given.
pub fn a_session_records_the_full_client_address() {
    let app = spawn_app();
    let email = app.verified_user("session-ip");
    for ip in ["2001:db8:5e55:1:aaaa:bbbb:cccc:dddd", "198.51.100.23"] {
        let answer = login_json(app, &email, PASSWORD, &[("CF-Connecting-IP", ip)]);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let sql = format!(
            "SELECT s.ip FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = '{email}' AND s.ip = '{ip}'"
        );
        assert_eq!(app.query(&sql, &sql).len(), 1, "{ip} is stored whole");
    }
}

/// Addresses are compared in Unicode lower case (API.md), which the Worker has its runtime
/// compute for what is not ASCII: an account registered in capitals with accents, Greek
/// (a final sigma) and Cyrillic is stored as Rust lower-cases it, and found in either case.
pub fn unicode_addresses_are_one_account_in_either_case() {
    let app = spawn_app();
    let lower = unique_email("élodie.ünï.привет.οδος");
    let upper = lower.to_uppercase();
    assert_eq!(upper.to_lowercase(), lower, "the test's own round trip");
    let registered = app.register(&upper, PASSWORD);
    assert_eq!(registered.status, 201, "{}", registered.body);
    let code = app.sendgrid.latest_code(&lower, 1);
    let verified = app.verify(&upper, &code);
    assert_eq!(verified.status, 200, "{}", verified.body);
    for form in [&upper, &lower] {
        let answer = app.login(form, PASSWORD);
        assert_eq!(answer.status, 200, "{form}: {}", answer.body);
        assert_eq!(answer.json()["user"]["email"], lower.as_str());
    }
    let again = app.register(&lower, "another good passphrase");
    assert_eq!(again.status, 201);
    let mails = app.sendgrid.wait_for_mails(&lower, 2);
    assert!(
        mails[1].subject.contains("already have"),
        "the same account: {}",
        mails[1].subject
    );
}

pub fn tests() -> Vec<libtest_mimic::Trial> {
    crate::trials![
        login_returns_a_token_and_an_http_only_cookie,
        unicode_addresses_are_one_account_in_either_case,
        the_oauth2_form_logs_in_too,
        unknown_email_and_wrong_password_look_alike,
        unverified_accounts_are_403_only_with_the_right_password,
        forged_tokens_are_401,
        the_cookie_authenticates_me,
        logout_revokes_the_session,
        hashes_from_elsewhere_verify_and_are_upgraded,
        an_over_long_password_is_422_whether_or_not_the_account_exists,
        a_login_from_a_foreign_origin_is_403,
        a_login_from_an_allowed_origin_or_none_works,
        a_session_records_the_full_client_address,
    ]
}
