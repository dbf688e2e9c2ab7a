//! `me` and `update-user`.

use serde_json::json;

use super::helpers::{spawn_app, unique_email, PASSWORD};

fn update(token: &str, body: serde_json::Value) -> super::helpers::Answer {
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
