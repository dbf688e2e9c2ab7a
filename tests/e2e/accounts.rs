//! Registration, verification codes and resend.

use std::thread;

use serde_json::json;

use crate::harness::fake_sendgrid::FAIL_MARKER;
use crate::harness::{spawn_app, unique_email, PASSWORD};

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

/// Pre-registration hijack: someone registers an address first, its owner registers too.
/// The second attempt gets a fresh code (as resend would) and changes no password; but once
/// the address is proven, no password chosen before the proof works: a reset link arrives.
pub fn a_contested_unverified_account_needs_a_reset_once_verified() {
    let app = spawn_app();
    let email = unique_email("again");
    app.register(&email, PASSWORD);
    app.sendgrid.wait_for_mails(&email, 1);
    let squatters_hash = app.password_hash(&email);
    app.age_tokens(&email, 120);
    assert_eq!(app.register(&email, "a different passphrase").status, 201);
    assert_eq!(
        app.password_hash(&email),
        squatters_hash,
        "the second attempt sets nothing"
    );
    let code = app.sendgrid.latest_code(&email, 2);
    assert_eq!(app.verify(&email, &code).status, 200);
    for password in [PASSWORD, "a different passphrase"] {
        app.login(&email, password).assert_problem(401, "invalid_credentials");
    }
    let mails = app.sendgrid.wait_for_mails(&email, 3);
    let link = mails
        .last()
        .unwrap()
        .text
        .split("token=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let reset = app.post_json(
        &app.auth("password/reset"),
        &json!({ "token": link, "new_password": "the owner's own passphrase" }),
    );
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(app.login(&email, "the owner's own passphrase").status, 200);
}

/// A single registration is not contested: its password works once verified.
pub fn a_registration_once_is_not_contested() {
    let app = spawn_app();
    let email = unique_email("once");
    app.register(&email, PASSWORD);
    let code = app.sendgrid.latest_code(&email, 1);
    assert_eq!(app.verify(&email, &code).status, 200);
    assert_eq!(app.login(&email, PASSWORD).status, 200);
    assert_eq!(app.sendgrid.mails_to(&email).len(), 1, "no reset link");
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

// `me` and `update-user`.

fn update(token: &str, body: serde_json::Value) -> crate::harness::Answer {
    let app = spawn_app();
    app.request(
        "PUT",
        &app.auth("update-user"),
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "application/json"),
        ],
        Some(body.to_string().as_bytes()),
    )
}

pub fn update_user_changes_the_full_name() {
    let app = spawn_app();
    let (_, token) = app.logged_in_user("rename");
    let answer = update(&token, json!({ "full_name": "  Grace Hopper " }));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["full_name"], "Grace Hopper");
    assert_eq!(
        app.get_with_token(&app.auth("me"), &token).json()["full_name"],
        "Grace Hopper"
    );
    update(&token, json!({ "full_name": "x".repeat(101) })).assert_problem(422, "validation_error");
}

pub fn changing_the_password_needs_the_current_one() {
    let (email, token) = spawn_app().logged_in_user("needs-current");
    update(&token, json!({ "password": "a fresh passphrase" })).assert_problem(403, "current_password_required");
    update(
        &token,
        json!({ "password": "a fresh passphrase", "current_password": "not the password" }),
    )
    .assert_problem(401, "invalid_credentials");
    update(&token, json!({ "email": unique_email("moved") })).assert_problem(403, "current_password_required");
    update(&token, json!({ "password": "password1", "current_password": PASSWORD }))
        .assert_problem(422, "password_too_common");
    assert_eq!(spawn_app().login(&email, PASSWORD).status, 200, "nothing changed");
}

pub fn a_new_password_ends_other_sessions() {
    let app = spawn_app();
    let (email, token) = app.logged_in_user("new-password");
    let other = app.login(&email, PASSWORD).json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = update(
        &token,
        json!({ "password": "a fresh passphrase", "current_password": PASSWORD }),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    app.get_with_token(&app.auth("me"), &other)
        .assert_problem(401, "invalid_token");
    assert_eq!(
        app.get_with_token(&app.auth("me"), &token).status,
        200,
        "the caller's own session stays"
    );
    app.login(&email, PASSWORD).assert_problem(401, "invalid_credentials");
    assert_eq!(app.login(&email, "a fresh passphrase").status, 200);
    let mails = app.sendgrid.wait_for_mails(&email, 2);
    assert!(mails.iter().any(|m| m.subject.contains("password was changed")));
}

pub fn an_email_change_waits_for_the_code() {
    let app = spawn_app();
    let (old, token) = app.logged_in_user("old-address");
    let new = unique_email("new-address");
    let answer = update(&token, json!({ "email": new, "current_password": PASSWORD }));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.json()["email"],
        old,
        "the old address stays until the new one is confirmed"
    );
    let code = app.sendgrid.latest_code(&new, 1);
    let notices = app.sendgrid.wait_for_mails(&old, 2);
    assert!(
        notices.iter().any(|m| m.subject.contains("change of your")),
        "the old address is told"
    );
    assert_eq!(app.get_with_token(&app.auth("me"), &token).json()["email"], old);
    assert_eq!(app.verify(&new, &code).status, 200);
    assert_eq!(app.get_with_token(&app.auth("me"), &token).json()["email"], new);
    app.verify(&new, &code).assert_problem(400, "invalid_code");
    assert_eq!(app.login(&new, PASSWORD).status, 200);
    app.login(&old, PASSWORD).assert_problem(401, "invalid_credentials");
}

/// The account-dependent work of a request, in database round trips, from its log line.
fn round_trips(
    app: &crate::harness::TestApp,
    path: &str,
    headers: &[(&str, &str)],
    body: serde_json::Value,
) -> (u16, u64) {
    let (answer, log) = app.traced("POST", path, headers, &body);
    (
        answer.status,
        log["db_round_trips"].as_u64().expect("the log line counts round trips"),
    )
}

/// Enumeration by time: whatever the address, register, resend and verify-email answer
/// alike and make the same round trips to the database.
pub fn answers_about_addresses_cost_the_same_whoever_owns_them() {
    let app = spawn_app();
    let verified = app.verified_user("same-verified");
    let unverified = unique_email("same-unverified");
    app.register(&unverified, PASSWORD);
    app.sendgrid.wait_for_mails(&unverified, 1);
    let unknown = unique_email("same-unknown");
    let register = |email: &str| {
        round_trips(
            app,
            &app.auth("register"),
            &[],
            json!({ "email": email, "password": PASSWORD }),
        )
    };
    let fresh = unique_email("same-new");
    let costs = [register(&fresh), register(&verified), register(&unverified)];
    assert!(
        costs.iter().all(|c| *c == costs[0] && c.0 == 201),
        "register: {costs:?}"
    );
    let resend = |email: &str| round_trips(app, &app.auth("resend-verification"), &[], json!({ "email": email }));
    let costs = [resend(&unknown), resend(&verified), resend(&unverified)];
    assert!(costs.iter().all(|c| *c == costs[0] && c.0 == 202), "resend: {costs:?}");
    let verify = |email: &str| {
        round_trips(
            app,
            &app.auth("verify-email"),
            &[],
            json!({ "email": email, "code": "000000" }),
        )
    };
    let costs = [verify(&unknown), verify(&verified), verify(&unverified)];
    assert!(
        costs.iter().all(|c| *c == costs[0] && c.0 == 400),
        "verify-email: {costs:?}"
    );
}

/// A burst of parallel wrong codes is counted as it arrives: the code has at most five
/// tries, not one per request in flight.
pub fn a_burst_of_wrong_codes_counts_every_try_at_once() {
    let app = spawn_app();
    let email = unique_email("burst");
    app.register(&email, PASSWORD);
    let code = app.sendgrid.latest_code(&email, 1);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    thread::scope(|scope| {
        let handles: Vec<_> = (0..25)
            .map(|_| scope.spawn(|| app.verify(&email, wrong).status))
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap(), 400);
        }
    });
    let stored = app.stored_tokens(&email);
    let attempts: i64 = stored.iter().map(|t| t["attempts"].as_i64().unwrap()).sum();
    assert_eq!(attempts, 5, "tries counted past the limit: {stored:?}");
    app.verify(&email, &code).assert_problem(400, "invalid_code");
}

/// Re-issued codes do not give five fresh tries each without end: an address has a daily cap.
pub fn codes_mailed_to_one_address_have_a_daily_cap_on_tries() {
    let app = spawn_app();
    let email = unique_email("daily");
    app.register(&email, PASSWORD);
    for round in 1..=4 {
        let code = app.sendgrid.latest_code(&email, round);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..5 {
            assert_eq!(app.verify(&email, wrong).status, 400);
        }
        app.age_tokens(&email, 120);
        let resent = app.post_json(&app.auth("resend-verification"), &json!({ "email": email }));
        assert_eq!(resent.status, 202);
    }
    let fifth = app.sendgrid.latest_code(&email, 5);
    app.verify(&email, &fifth).assert_problem(400, "invalid_code");
}

fn update_user(token: &str, body: serde_json::Value) -> crate::harness::Answer {
    let app = spawn_app();
    app.request(
        "PUT",
        &app.auth("update-user"),
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "application/json"),
        ],
        Some(body.to_string().as_bytes()),
    )
}

/// A stolen token does not allow silent guessing of `current_password`: wrong answers
/// count in the account's login lockout, which then refuses update-user and login alike.
pub fn wrong_current_passwords_lock_the_account_like_logins() {
    let app = spawn_app();
    let (email, token) = app.logged_in_user("reauth-lock");
    let guess = |password: &str| {
        update_user(
            &token,
            json!({ "password": "a brand new passphrase", "current_password": password }),
        )
    };
    // The backoff doubles up to a few seconds here; requests come faster than that, so
    // wrong answers that count meet a 429 within a few tries past the free ones.
    let statuses: Vec<u16> = (0..40)
        .map(|_| guess("a wrong guess at it").status)
        .take_while(|status| *status != 429)
        .collect();
    assert!(statuses.len() < 40, "never locked");
    assert!(
        statuses.len() as u32 >= crate::harness::LOCKOUT_FREE_ATTEMPTS,
        "locked too early: {statuses:?}"
    );
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let kinds: Vec<String> = app
        .sendgrid
        .wait_for_mails(&email, 2)
        .iter()
        .map(|m| m.subject.clone())
        .collect();
    assert!(
        kinds[1].contains("paused"),
        "the owner is told of the lockout: {kinds:?}"
    );
}

/// An email change confirmed ends the other sessions (not the one that asked) and every
/// other unused token of the account.
pub fn a_confirmed_email_change_ends_other_sessions_and_tokens() {
    let app = spawn_app();
    let (email, token) = app.logged_in_user("move");
    let other = app.login(&email, PASSWORD).json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let forgot = app.post_json(&app.auth("password/forget"), &json!({ "email": email }));
    assert_eq!(forgot.status, 202);
    let link = app.sendgrid.wait_for_mails(&email, 2)[1].text.clone();
    let reset_token = link
        .split("token=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let new_email = unique_email("moved");
    let asked = update_user(&token, json!({ "email": new_email, "current_password": PASSWORD }));
    assert_eq!(asked.status, 200, "{}", asked.body);
    let code = app.sendgrid.latest_code(&new_email, 1);
    assert_eq!(app.verify(&new_email, &code).status, 200);
    assert_eq!(
        app.get_with_token(&app.auth("me"), &token).json()["email"],
        new_email.as_str()
    );
    app.get_with_token(&app.auth("me"), &other)
        .assert_problem(401, "invalid_token");
    let reset = app.post_json(
        &app.auth("password/reset"),
        &json!({ "token": reset_token, "new_password": "a brand new passphrase" }),
    );
    reset.assert_problem(400, "invalid_token");
}

/// A password change ends every pending email change and reset link.
pub fn a_password_change_ends_pending_codes_and_links() {
    let app = spawn_app();
    let (email, token) = app.logged_in_user("pw-ends");
    let new_email = unique_email("pw-ends-new");
    assert_eq!(
        update_user(&token, json!({ "email": new_email, "current_password": PASSWORD })).status,
        200
    );
    let code = app.sendgrid.latest_code(&new_email, 1);
    let changed = update_user(
        &token,
        json!({ "password": "a brand new passphrase", "current_password": PASSWORD }),
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    app.verify(&new_email, &code).assert_problem(400, "invalid_code");
    assert_eq!(app.login(&email, "a brand new passphrase").status, 200);
}

/// update-user cannot be turned into a mail cannon: email changes are limited per user
/// and per target address.
pub fn email_change_requests_are_limited_per_user_and_per_target() {
    let app = spawn_app();
    let (_, token) = app.logged_in_user("cannon");
    let statuses: Vec<u16> = (0..7)
        .map(|_| {
            update_user(
                &token,
                json!({ "email": unique_email("cannon-target"), "current_password": PASSWORD }),
            )
            .status
        })
        .collect();
    assert_eq!(&statuses[..5], [200; 5], "{statuses:?}");
    assert_eq!(statuses[5], 429, "{statuses:?}");
    let target = app.verified_user("cannon-victim");
    let from_many: Vec<u16> = (0..6)
        .map(|i| {
            let (_, token) = app.logged_in_user(&format!("cannon-{i}"));
            update_user(&token, json!({ "email": target, "current_password": PASSWORD })).status
        })
        .collect();
    assert_eq!(from_many.iter().filter(|s| **s == 429).count(), 1, "{from_many:?}");
}

/// Two accounts asking for one address: the first one's code still confirms it.
pub fn a_second_account_asking_for_an_address_cannot_block_the_first() {
    let app = spawn_app();
    let wanted = unique_email("wanted");
    let (_, first) = app.logged_in_user("wanted-first");
    let (_, second) = app.logged_in_user("wanted-second");
    assert_eq!(
        update_user(&first, json!({ "email": wanted, "current_password": PASSWORD })).status,
        200
    );
    let first_code = app.sendgrid.latest_code(&wanted, 1);
    assert_eq!(
        update_user(&second, json!({ "email": wanted, "current_password": PASSWORD })).status,
        200
    );
    app.sendgrid.wait_for_mails(&wanted, 2);
    assert_eq!(app.verify(&wanted, &first_code).status, 200);
    assert_eq!(
        app.get_with_token(&app.auth("me"), &first).json()["email"],
        wanted.as_str()
    );
}

pub fn tests() -> Vec<libtest_mimic::Trial> {
    crate::trials![
        registration_mails_a_code_and_answers_201,
        taken_and_free_emails_get_identical_answers,
        a_contested_unverified_account_needs_a_reset_once_verified,
        a_registration_once_is_not_contested,
        answers_about_addresses_cost_the_same_whoever_owns_them,
        a_burst_of_wrong_codes_counts_every_try_at_once,
        codes_mailed_to_one_address_have_a_daily_cap_on_tries,
        wrong_current_passwords_lock_the_account_like_logins,
        a_confirmed_email_change_ends_other_sessions_and_tokens,
        a_password_change_ends_pending_codes_and_links,
        email_change_requests_are_limited_per_user_and_per_target,
        a_second_account_asking_for_an_address_cannot_block_the_first,
        common_and_overlong_passwords_are_refused,
        codes_are_stored_only_as_digests,
        a_code_works_once,
        wrong_codes_are_400_and_five_kill_the_code,
        twenty_concurrent_verifications_give_exactly_one_success,
        twenty_concurrent_registrations_give_one_account,
        resend_answers_alike_and_respects_the_cooldown,
        sendgrid_failing_never_breaks_registration,
        update_user_changes_the_full_name,
        changing_the_password_needs_the_current_one,
        a_new_password_ends_other_sessions,
        an_email_change_waits_for_the_code,
    ]
}
