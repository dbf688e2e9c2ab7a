//! Registration, verification codes and resend.

use std::thread;

use serde_json::json;

use super::fake_sendgrid::FAIL_MARKER;
use super::helpers::{spawn_app, unique_email, PASSWORD};

pub fn registration_mails_a_code_and_answers_201() {
    let app = spawn_app();
    let email = unique_email("new");
    let answer = app.post_json(
        &app.auth("register"),
        &json!({ "email": format!("  {}  ", email.to_uppercase()), "password": PASSWORD, "full_name": "Ada" }),
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert!(answer.json()["message"].is_string());
    let mail = &app.sendgrid.wait_for_mails(&email, 1)[0];
    assert!(mail.subject.contains("verification code"), "{}", mail.subject);
    assert_eq!(mail.from, "no-reply@example.com");
    let code = app.sendgrid.latest_code(&email, 1);
    assert!(mail.html.contains(&code));
}

pub fn taken_and_free_emails_get_identical_answers() {
    let app = spawn_app();
    let taken = app.verified_user("taken");
    let free = unique_email("free");
    let a = app.register(&taken, "another good passphrase");
    let b = app.register(&free, "another good passphrase");
    assert_eq!((a.status, a.json()), (b.status, b.json()));
    let mails = app.sendgrid.wait_for_mails(&taken, 2);
    assert!(
        mails[1].subject.contains("already have"),
        "the owner is told: {}",
        mails[1].subject
    );
    assert_eq!(
        app.login(&taken, PASSWORD).status,
        200,
        "the stored password is unchanged"
    );
}

pub fn unverified_reregistration_gets_a_fresh_code_and_keeps_the_password() {
    let app = spawn_app();
    let email = unique_email("again");
    app.register(&email, PASSWORD);
    app.sendgrid.wait_for_mails(&email, 1);
    app.age_tokens(&email, 120);
    assert_eq!(app.register(&email, "a different passphrase").status, 201);
    let code = app.sendgrid.latest_code(&email, 2);
    assert_eq!(app.verify(&email, &code).status, 200);
    assert_eq!(app.login(&email, PASSWORD).status, 200);
    app.login(&email, "a different passphrase")
        .assert_problem(401, "invalid_credentials");
}

pub fn common_and_overlong_passwords_are_refused() {
    let app = spawn_app();
    let email = unique_email("weak");
    for common in ["password123", "qwertyuiop", "Iloveyou1"] {
        app.register(&email, common).assert_problem(422, "password_too_common");
    }
    let problem = app
        .register(&email, &"x".repeat(73))
        .assert_problem(422, "validation_error");
    assert_eq!(problem["errors"][0]["field"], "password");
    assert_eq!(
        app.register(&email, &"é".repeat(36)).status,
        201,
        "72 bytes is the limit, not 72 characters"
    );
}

pub fn codes_are_stored_only_as_digests() {
    let app = spawn_app();
    let email = unique_email("digest");
    app.register(&email, PASSWORD);
    let code = app.sendgrid.latest_code(&email, 1);
    let rows = app.stored_tokens(&email);
    assert_eq!(rows.len(), 1);
    let row = serde_json::to_string(&rows[0]).unwrap();
    assert!(!row.contains(&code), "the code is stored in clear: {row}");
    assert_eq!(rows[0]["digest"].as_str().unwrap().len(), 64);
    assert!(app.password_hash(&email).starts_with("$2b$"));
}

pub fn a_code_works_once() {
    let app = spawn_app();
    let email = unique_email("once");
    app.register(&email, PASSWORD);
    let code = app.sendgrid.latest_code(&email, 1);
    assert_eq!(app.verify(&email, &code).status, 200);
    app.verify(&email, &code).assert_problem(400, "invalid_code");
}

pub fn wrong_codes_are_400_and_five_kill_the_code() {
    let app = spawn_app();
    let email = unique_email("guess");
    app.register(&email, PASSWORD);
    let code = app.sendgrid.latest_code(&email, 1);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        app.verify(&email, wrong).assert_problem(400, "invalid_code");
    }
    app.verify(&email, &code).assert_problem(400, "invalid_code");
    app.verify(&unique_email("nobody"), &code)
        .assert_problem(400, "invalid_code");
    app.verify(&email, "abc").assert_problem(400, "invalid_code");
}

pub fn twenty_concurrent_verifications_give_exactly_one_success() {
    let app = spawn_app();
    let email = unique_email("race");
    app.register(&email, PASSWORD);
    let code = app.sendgrid.latest_code(&email, 1);
    let statuses: Vec<u16> = thread::scope(|s| {
        let handles: Vec<_> = (0..20).map(|_| s.spawn(|| app.verify(&email, &code).status)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 400), "{statuses:?}");
}

pub fn twenty_concurrent_registrations_give_one_account() {
    let app = spawn_app();
    let email = unique_email("stampede");
    let statuses: Vec<u16> = thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| s.spawn(|| app.register(&email, PASSWORD).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.contains(&201), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 429),
        "no 5xx, and no other answer: {statuses:?}"
    );
    assert_eq!(app.count_users(&email), 1);
}

pub fn resend_answers_alike_and_respects_the_cooldown() {
    let app = spawn_app();
    let unverified = unique_email("resend");
    app.register(&unverified, PASSWORD);
    let first = app.sendgrid.latest_code(&unverified, 1);
    let verified = app.verified_user("resend-verified");
    let unknown = unique_email("resend-unknown");
    let answers: Vec<_> = [&unverified, &verified, &unknown]
        .iter()
        .map(|email| app.post_json(&app.auth("resend-verification"), &json!({ "email": email })))
        .collect();
    for answer in &answers {
        assert_eq!((answer.status, answer.json()), (202, answers[0].json()));
    }
    // Within the cooldown nothing is sent and the first code stays valid.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(app.sendgrid.mails_to(&unverified).len(), 1);
    assert_eq!(
        app.sendgrid.mails_to(&verified).len(),
        1,
        "a verified account gets no code"
    );
    // After the cooldown a new code replaces the old one.
    app.age_tokens(&unverified, 120);
    app.post_json(&app.auth("resend-verification"), &json!({ "email": unverified }));
    let second = app.sendgrid.latest_code(&unverified, 2);
    if second != first {
        app.verify(&unverified, &first).assert_problem(400, "invalid_code");
    }
    assert_eq!(app.verify(&unverified, &second).status, 200);
}

pub fn sendgrid_failing_never_breaks_registration() {
    let app = spawn_app();
    let email = unique_email(&format!("outage{FAIL_MARKER}"));
    let answer = app.register(&email, PASSWORD);
    assert_eq!(answer.status, 201, "{}", answer.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.sendgrid.attempts_for(&email).len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        app.sendgrid.attempts_for(&email),
        [500, 500, 500],
        "a 5xx is retried, then given up"
    );
    assert_eq!(app.get("/health").status, 200);
}
