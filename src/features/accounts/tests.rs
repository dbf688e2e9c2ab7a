//! Registration, verification, resend and profile changes, natively on real SQL.

use super::register::{register, resend_verification, Registration};
use super::update_user::{update_user, UpdateUserError, UserUpdate};
use super::verify_email::{verify_email, VerifyEmailError};
use super::{mails, FEATURE, MAX_CODE_ATTEMPTS, RESEND_COOLDOWN_SECONDS};
use crate::features::sessions::{self, Caller};
use crate::features::users::testing::{create_user, PASSWORD};
use crate::features::users::{self, FullName, Users};
use crate::kernel::events::AuthEvent;
use crate::kernel::mail::assert_renders_completely;
use crate::kernel::secrets::VerificationCode;
use crate::kernel::testing::common_passwords;
use crate::kernel::testing::TestWorld;
use crate::kernel::{EmailAddress, Password, SessionId};

fn world() -> TestWorld {
    TestWorld::new(&[
        &users::FEATURE,
        &crate::features::signing::FEATURE,
        &sessions::FEATURE,
        &FEATURE,
    ])
}

fn email(raw: &str) -> EmailAddress {
    EmailAddress::parse(raw).unwrap()
}

fn sign_up(world: &TestWorld, address: &str) {
    let registration = Registration {
        email: email(address),
        password: Password::parse(PASSWORD, common_passwords()).unwrap(),
        full_name: None,
    };
    world
        .with_ctx(|ctx| pollster::block_on(register(ctx, registration)))
        .unwrap();
}

fn last_code(world: &TestWorld, to: &str) -> VerificationCode {
    let mails = world.outbox.to(to);
    let code = mails
        .iter()
        .rev()
        .find_map(|m| m.value("code"))
        .expect("a code was mailed");
    VerificationCode::parse(code).unwrap()
}

fn verify(world: &TestWorld, address: &str, code: &VerificationCode) -> Result<(), VerifyEmailError> {
    world.with_ctx(|ctx| pollster::block_on(verify_email(ctx, &email(address), Some(code))))
}

fn wrong(code: &VerificationCode) -> VerificationCode {
    VerificationCode::parse(if code.expose() == "000000" { "111111" } else { "000000" }).unwrap()
}

#[test]
fn a_registration_mails_a_code_that_verifies_the_address_once() {
    let world = world();
    sign_up(&world, "ada@example.com");
    let mails = world.outbox.to("ada@example.com");
    assert_eq!(mails.len(), 1);
    assert_renders_completely(&mails[0]);
    let code = last_code(&world, "ada@example.com");
    verify(&world, "ada@example.com", &code).unwrap();
    assert!(matches!(
        verify(&world, "ada@example.com", &code),
        Err(VerifyEmailError::InvalidCode)
    ));
    let user = pollster::block_on(Users(&world.db).by_email(&email("ada@example.com")))
        .unwrap()
        .unwrap();
    assert!(user.email_verified);
    let events = world.events();
    assert_eq!(events[0], AuthEvent::RegistrationAccepted);
    assert!(matches!(events[1], AuthEvent::EmailVerified { .. }));
}

#[test]
fn a_code_dies_after_five_wrong_guesses_and_a_resend_brings_a_new_one() {
    let world = world();
    sign_up(&world, "bo@example.com");
    let code = last_code(&world, "bo@example.com");
    for _ in 0..MAX_CODE_ATTEMPTS {
        assert!(matches!(
            verify(&world, "bo@example.com", &wrong(&code)),
            Err(VerifyEmailError::InvalidCode)
        ));
    }
    assert!(
        matches!(
            verify(&world, "bo@example.com", &code),
            Err(VerifyEmailError::InvalidCode)
        ),
        "the right code after five wrong guesses must be dead"
    );
    world.advance(RESEND_COOLDOWN_SECONDS + 1);
    world
        .with_ctx(|ctx| pollster::block_on(resend_verification(ctx, &email("bo@example.com"))))
        .unwrap();
    verify(&world, "bo@example.com", &last_code(&world, "bo@example.com")).unwrap();
}

#[test]
fn a_resend_within_the_cooldown_mails_nothing_and_keeps_the_code() {
    let world = world();
    sign_up(&world, "cy@example.com");
    let first = last_code(&world, "cy@example.com");
    world
        .with_ctx(|ctx| pollster::block_on(resend_verification(ctx, &email("cy@example.com"))))
        .unwrap();
    assert_eq!(world.outbox.to("cy@example.com").len(), 1);
    verify(&world, "cy@example.com", &first).unwrap();
}

#[test]
fn stored_codes_are_digests_only() {
    let world = world();
    sign_up(&world, "di@example.com");
    let code = last_code(&world, "di@example.com");
    let rows = world.query("SELECT digest FROM one_time_tokens");
    assert_eq!(rows.len(), 1);
    let digest = rows[0]["digest"].as_str().unwrap();
    assert_eq!(digest.len(), 64);
    assert!(!digest.contains(code.expose()));
}

#[test]
fn registering_a_taken_address_mails_the_owner_and_keeps_the_password() {
    let world = world();
    let owner = create_user(&world, "ed@example.com", true);
    sign_up(&world, "ed@example.com");
    let kinds: Vec<&str> = world.outbox.to("ed@example.com").iter().map(|m| m.kind.name).collect();
    assert_eq!(kinds, ["account_exists"]);
    assert_renders_completely(&world.outbox.to("ed@example.com")[0]);
    let stored = pollster::block_on(Users(&world.db).by_id(&owner.id)).unwrap().unwrap();
    assert_eq!(stored.password_hash, owner.password_hash);
    assert_eq!(
        world.events(),
        [AuthEvent::RegistrationAccepted],
        "the caller's answer is the same"
    );
}

fn caller_of(world: &TestWorld, address: &str) -> Caller {
    let user = pollster::block_on(Users(&world.db).by_email(&email(address)))
        .unwrap()
        .unwrap();
    Caller {
        user,
        session_id: SessionId("current".into()),
        last_seen_at: None,
        logged_in_at: crate::kernel::testing::T0,
        auth_methods: vec!["password".to_owned()],
    }
}

fn update(world: &TestWorld, caller: &Caller, update: UserUpdate) -> Result<users::User, UpdateUserError> {
    world.with_ctx(|ctx| pollster::block_on(update_user(ctx, caller, update)))
}

#[test]
fn changing_the_password_or_email_needs_the_current_password() {
    let world = world();
    create_user(&world, "fa@example.com", true);
    let caller = caller_of(&world, "fa@example.com");
    let new_password = || Some(Password::parse("a brand new passphrase", common_passwords()).unwrap());
    let missing = UserUpdate {
        password: new_password(),
        ..UserUpdate::default()
    };
    assert!(matches!(
        update(&world, &caller, missing),
        Err(UpdateUserError::CurrentPasswordRequired)
    ));
    let wrong = UserUpdate {
        email: Some(email("fa.new@example.com")),
        current_password: Some("not it".into()),
        ..UserUpdate::default()
    };
    assert!(matches!(
        update(&world, &caller, wrong),
        Err(UpdateUserError::InvalidCredentials)
    ));
    let name_only = UserUpdate {
        full_name: Some(FullName::parse(" Fa ").unwrap()),
        ..UserUpdate::default()
    };
    assert_eq!(
        update(&world, &caller, name_only).unwrap().full_name.as_deref(),
        Some("Fa")
    );
    let right = UserUpdate {
        password: new_password(),
        current_password: Some(PASSWORD.into()),
        ..UserUpdate::default()
    };
    update(&world, &caller, right).unwrap();
    let kinds: Vec<&str> = world.outbox.to("fa@example.com").iter().map(|m| m.kind.name).collect();
    assert_eq!(kinds, ["password_changed"]);
}

#[test]
fn an_email_change_waits_for_the_code_sent_to_the_new_address() {
    let world = world();
    create_user(&world, "ga@example.com", true);
    let caller = caller_of(&world, "ga@example.com");
    let change = UserUpdate {
        email: Some(email("ga.new@example.com")),
        current_password: Some(PASSWORD.into()),
        ..UserUpdate::default()
    };
    let after = update(&world, &caller, change).unwrap();
    assert_eq!(after.email, "ga@example.com", "unchanged until confirmed");
    let notice = world.outbox.to("ga@example.com");
    assert_eq!(notice[0].kind.name, "email_change_notice");
    assert_renders_completely(&notice[0]);
    assert!(
        !notice[0].value("new_email").unwrap().contains("ga.new"),
        "the new address is masked"
    );
    let code = last_code(&world, "ga.new@example.com");
    assert_renders_completely(&world.outbox.to("ga.new@example.com")[0]);
    verify(&world, "ga.new@example.com", &code).unwrap();
    let moved = pollster::block_on(Users(&world.db).by_id(&caller.user.id))
        .unwrap()
        .unwrap();
    assert_eq!(moved.email, "ga.new@example.com");
}

#[test]
fn an_email_change_to_a_taken_address_tells_its_owner_and_mails_no_code() {
    let world = world();
    create_user(&world, "ha@example.com", true);
    create_user(&world, "taken@example.com", true);
    let caller = caller_of(&world, "ha@example.com");
    let change = UserUpdate {
        email: Some(email("taken@example.com")),
        current_password: Some(PASSWORD.into()),
        ..UserUpdate::default()
    };
    update(&world, &caller, change).unwrap();
    let kinds: Vec<&str> = world
        .outbox
        .to("taken@example.com")
        .iter()
        .map(|m| m.kind.name)
        .collect();
    assert_eq!(kinds, ["account_exists"]);
    assert!(world.query("SELECT id FROM one_time_tokens").is_empty());
}

#[test]
fn every_mail_of_accounts_renders_completely() {
    let world = world();
    world.with_ctx(|ctx| {
        for mail in [
            mails::code(&mails::VERIFICATION_CODE, "a@example.com", "042817", 15),
            mails::code(&mails::EMAIL_CHANGE_CODE, "a@example.com", "042817", 15),
            mails::account_exists(ctx, "a@example.com"),
            mails::email_change_notice("a@example.com", &email("new@example.org")),
        ] {
            assert_renders_completely(&mail);
        }
    });
}

fn world_with_reset() -> TestWorld {
    TestWorld::new(&[
        &users::FEATURE,
        &crate::features::signing::FEATURE,
        &sessions::FEATURE,
        &FEATURE,
        &crate::features::password_reset::FEATURE,
    ])
}

#[test]
fn a_contested_registration_loses_its_password_and_gets_a_reset_link_once_verified() {
    let world = world_with_reset();
    sign_up(&world, "squat@example.com");
    world.advance(RESEND_COOLDOWN_SECONDS + 1);
    // The owner of the address registers too: the first password may be a squatter's.
    sign_up(&world, "squat@example.com");
    verify(&world, "squat@example.com", &last_code(&world, "squat@example.com")).unwrap();
    let user = pollster::block_on(Users(&world.db).by_email(&email("squat@example.com")))
        .unwrap()
        .unwrap();
    assert!(user.email_verified);
    assert!(
        !users::passwords::verify(PASSWORD, &user.password_hash, 4),
        "no password set before the proof works"
    );
    let kinds: Vec<&str> = world
        .outbox
        .to("squat@example.com")
        .iter()
        .map(|m| m.kind.name)
        .collect();
    assert_eq!(kinds, ["verification_code", "verification_code", "password_reset"]);
}

#[test]
fn an_uncontested_registration_keeps_its_password() {
    let world = world_with_reset();
    sign_up(&world, "plain@example.com");
    verify(&world, "plain@example.com", &last_code(&world, "plain@example.com")).unwrap();
    let user = pollster::block_on(Users(&world.db).by_email(&email("plain@example.com")))
        .unwrap()
        .unwrap();
    assert!(users::passwords::verify(PASSWORD, &user.password_hash, 4));
    assert_eq!(world.outbox.to("plain@example.com").len(), 1, "no reset link");
}

#[test]
fn wrong_current_passwords_count_in_the_login_lockout() {
    let read = |name: &str| match name {
        "LOCKOUT_FREE_ATTEMPTS" => Some("2".to_owned()),
        other => crate::kernel::config::test_var(other),
    };
    let world = TestWorld::with_vars(
        &[
            &users::FEATURE,
            &crate::features::signing::FEATURE,
            &sessions::FEATURE,
            &FEATURE,
        ],
        &read,
    );
    create_user(&world, "lock@example.com", true);
    let caller = caller_of(&world, "lock@example.com");
    let guess = |password: &str| UserUpdate {
        password: Some(Password::parse("a brand new passphrase", common_passwords()).unwrap()),
        current_password: Some(password.into()),
        ..UserUpdate::default()
    };
    for _ in 0..3 {
        assert!(matches!(
            update(&world, &caller, guess("not it")),
            Err(UpdateUserError::InvalidCredentials)
        ));
    }
    assert!(matches!(
        update(&world, &caller, guess(PASSWORD)),
        Err(UpdateUserError::Locked {
            retry_after_seconds: 30
        })
    ));
    let kinds: Vec<&str> = world
        .outbox
        .to("lock@example.com")
        .iter()
        .map(|m| m.kind.name)
        .collect();
    assert_eq!(kinds, ["account_locked"], "the owner is told once");
}

fn session_of(world: &TestWorld, caller: &Caller, id: &str) -> SessionId {
    let session = sessions::Session::open(
        SessionId(id.into()),
        caller.user.id.clone(),
        crate::kernel::testing::T0,
        3600,
        3600,
    );
    pollster::block_on(sessions::Sessions(&world.db).insert(&session)).unwrap();
    session.id
}

fn live(world: &TestWorld, session: &SessionId) -> bool {
    pollster::block_on(sessions::Sessions(&world.db).live_user(session, crate::kernel::testing::T0 + 60))
        .unwrap()
        .is_some()
}

#[test]
fn a_password_change_ends_other_sessions_and_pending_tokens_together() {
    let world = world();
    create_user(&world, "pw@example.com", true);
    let mut caller = caller_of(&world, "pw@example.com");
    caller.session_id = session_of(&world, &caller, "current");
    let other = session_of(&world, &caller, "other");
    let change = UserUpdate {
        email: Some(email("pw.new@example.com")),
        current_password: Some(PASSWORD.into()),
        ..UserUpdate::default()
    };
    update(&world, &caller, change).unwrap();
    let pending = last_code(&world, "pw.new@example.com");
    let new_password = UserUpdate {
        password: Some(Password::parse("a brand new passphrase", common_passwords()).unwrap()),
        current_password: Some(PASSWORD.into()),
        ..UserUpdate::default()
    };
    update(&world, &caller, new_password).unwrap();
    assert!(live(&world, &caller.session_id) && !live(&world, &other));
    assert!(
        matches!(
            verify(&world, "pw.new@example.com", &pending),
            Err(VerifyEmailError::InvalidCode)
        ),
        "the email change asked before the password change is over"
    );
}

#[test]
fn a_confirmed_email_change_ends_the_other_sessions_but_the_one_that_asked() {
    let world = world();
    create_user(&world, "mv@example.com", true);
    let mut caller = caller_of(&world, "mv@example.com");
    caller.session_id = session_of(&world, &caller, "asking");
    let other = session_of(&world, &caller, "elsewhere");
    let change = UserUpdate {
        email: Some(email("mv.new@example.com")),
        current_password: Some(PASSWORD.into()),
        ..UserUpdate::default()
    };
    update(&world, &caller, change).unwrap();
    verify(&world, "mv.new@example.com", &last_code(&world, "mv.new@example.com")).unwrap();
    assert!(live(&world, &caller.session_id) && !live(&world, &other));
}

#[test]
fn two_accounts_asking_for_one_address_each_confirm_their_own_code() {
    let world = world();
    create_user(&world, "first@example.com", true);
    create_user(&world, "second@example.com", true);
    let ask = |from: &str| {
        let caller = caller_of(&world, from);
        let change = UserUpdate {
            email: Some(email("wanted@example.com")),
            current_password: Some(PASSWORD.into()),
            ..UserUpdate::default()
        };
        update(&world, &caller, change).unwrap();
        last_code(&world, "wanted@example.com")
    };
    let first_code = ask("first@example.com");
    let second_code = ask("second@example.com");
    assert_ne!(first_code.expose(), second_code.expose());
    verify(&world, "wanted@example.com", &first_code).unwrap();
    let moved = pollster::block_on(Users(&world.db).by_email(&email("wanted@example.com")))
        .unwrap()
        .unwrap();
    assert_eq!(moved.id, caller_of(&world, "wanted@example.com").user.id);
    assert!(
        pollster::block_on(Users(&world.db).by_email(&email("first@example.com")))
            .unwrap()
            .is_none()
    );
    assert!(
        matches!(
            verify(&world, "wanted@example.com", &second_code),
            Err(VerifyEmailError::EmailTaken)
        ),
        "the second account's code cannot take the address now"
    );
}

#[test]
fn email_change_codes_are_issued_once_per_cooldown() {
    let world = world();
    create_user(&world, "cool@example.com", true);
    let caller = caller_of(&world, "cool@example.com");
    let change = || UserUpdate {
        email: Some(email("cool.new@example.com")),
        current_password: Some(PASSWORD.into()),
        ..UserUpdate::default()
    };
    update(&world, &caller, change()).unwrap();
    let first = last_code(&world, "cool.new@example.com");
    update(&world, &caller, change()).unwrap();
    assert_eq!(world.outbox.to("cool.new@example.com").len(), 1, "within the cooldown");
    world.advance(RESEND_COOLDOWN_SECONDS + 1);
    update(&world, &caller, change()).unwrap();
    assert_eq!(world.outbox.to("cool.new@example.com").len(), 2);
    assert!(matches!(
        verify(&world, "cool.new@example.com", &first),
        Err(VerifyEmailError::InvalidCode)
    ));
}
