//! Forgotten passwords and reset links.

use serde_json::json;

use crate::harness::{spawn_app, unique_email, FRONTEND_URL, PASSWORD};

fn reset_token(email: &str, count: usize) -> String {
    let mails = spawn_app().sendgrid.wait_for_mails(email, count);
    let text = &mails.last().unwrap().text;
    let prefix = format!("{FRONTEND_URL}/reset-password?token=");
    let start = text.find(&prefix).unwrap_or_else(|| panic!("no reset link in {text}")) + prefix.len();
    text[start..].split_whitespace().next().unwrap().to_owned()
}

fn forget(email: &str) -> crate::harness::Answer {
    let app = spawn_app();
    app.post_json(&app.auth("password/forget"), &json!({ "email": email }))
}

fn reset(token: &str, new_password: &str) -> crate::harness::Answer {
    let app = spawn_app();
    app.post_json(
        &app.auth("password/reset"),
        &json!({ "token": token, "new_password": new_password }),
    )
}

pub fn forget_answers_alike_for_unknown_emails() {
    let known = spawn_app().verified_user("forget-known");
    let a = forget(&known);
    let b = forget(&unique_email("forget-unknown"));
    assert_eq!(a.status, 202);
    assert_eq!((a.status, a.json()), (b.status, b.json()));
    let token = reset_token(&known, 2);
    assert!(token.len() >= 22, "at least 128 bits: {token}");
}

pub fn a_reset_token_works_once_and_ends_sessions() {
    let app = spawn_app();
    let (email, token) = app.logged_in_user("reset");
    forget(&email);
    let reset_with = reset_token(&email, 2);
    let answer = reset(&reset_with, "a brand new passphrase");
    assert_eq!(answer.status, 200, "{}", answer.body);
    app.get_with_token(&app.auth("me"), &token)
        .assert_problem(401, "invalid_token");
    reset(&reset_with, "yet another passphrase").assert_problem(400, "invalid_token");
    app.login(&email, PASSWORD).assert_problem(401, "invalid_credentials");
    assert_eq!(app.login(&email, "a brand new passphrase").status, 200);
    let mails = app.sendgrid.wait_for_mails(&email, 3);
    assert!(mails.last().unwrap().subject.contains("password was changed"));
    let stored = app.stored_tokens(&email);
    assert!(
        !serde_json::to_string(&stored).unwrap().contains(&reset_with),
        "the token is stored in clear"
    );
}

pub fn bad_reset_tokens_are_400() {
    for token in ["", "short", &"A".repeat(43), "../../etc/passwd"] {
        reset(token, "a brand new passphrase").assert_problem(400, "invalid_token");
    }
    let app = spawn_app();
    let email = app.verified_user("expired-reset");
    forget(&email);
    let token = reset_token(&email, 2);
    app.expire_tokens(&email, "reset_password");
    reset(&token, "a brand new passphrase").assert_problem(400, "invalid_token");
}

pub fn a_weak_new_password_leaves_the_token_usable() {
    let email = spawn_app().verified_user("weak-reset");
    forget(&email);
    let token = reset_token(&email, 2);
    reset(&token, "password1").assert_problem(422, "password_too_common");
    reset(&token, "short").assert_problem(422, "validation_error");
    assert_eq!(reset(&token, "a brand new passphrase").status, 200);
}

/// Enumeration by time: forget makes the same round trips whether or not the address has an account.
pub fn forget_costs_the_same_for_unknown_emails() {
    let app = spawn_app();
    let known = app.verified_user("forget-same");
    let unknown = unique_email("forget-same-unknown");
    let cost = |email: &str| {
        let (answer, log) = app.traced("POST", &app.auth("password/forget"), &[], &json!({ "email": email }));
        (answer.status, answer.body, log["db_round_trips"].as_u64().unwrap())
    };
    assert_eq!(cost(&known), cost(&unknown));
}

/// A completed reset ends the account's login lockout: its owner logs in at once.
pub fn a_reset_ends_the_lockout() {
    let app = spawn_app();
    let email = app.verified_user("reset-lock");
    let mut locked = false;
    for _ in 0..(crate::harness::LOCKOUT_FREE_ATTEMPTS + 3) {
        locked |= app.login(&email, "somebody guessing wrong").status == 429;
    }
    assert!(locked, "the guesses locked the account");
    assert_eq!(forget(&email).status, 202);
    let token = reset_token(&email, 3);
    assert_eq!(reset(&token, "the owner's new passphrase").status, 200);
    assert_eq!(app.login(&email, "the owner's new passphrase").status, 200);
}

pub fn tests() -> Vec<libtest_mimic::Trial> {
    crate::trials![
        forget_costs_the_same_for_unknown_emails,
        a_reset_ends_the_lockout,
        forget_answers_alike_for_unknown_emails,
        a_reset_token_works_once_and_ends_sessions,
        bad_reset_tokens_are_400,
        a_weak_new_password_leaves_the_token_usable,
    ]
}
