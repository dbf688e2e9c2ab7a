//! Login, authentication, logout and the lockout, natively on real SQL.

use super::authenticate::{authenticate, AuthenticateError};
use super::login::{login, ClientInfo, LoginError};
use super::logout::{logout, Scope};
use super::{ACCOUNT_LOCKED, FEATURE};
use crate::features::users::passwords;
use crate::features::users::testing::{create_user, PASSWORD};
use crate::features::users::{self, Users};
use crate::kernel::config::test_var;
use crate::kernel::events::AuthEvent;
use crate::kernel::mail::{assert_renders_completely, Mail};
use crate::kernel::testing::TestWorld;
use crate::kernel::EmailAddress;

fn world() -> TestWorld {
    TestWorld::new(&[&users::FEATURE, &crate::features::signing::FEATURE, &FEATURE])
}

fn email(raw: &str) -> EmailAddress {
    EmailAddress::parse(raw).unwrap()
}

fn log_in(world: &TestWorld, address: &str, password: &str) -> Result<super::login::LoggedIn, LoginError> {
    world.with_ctx(|ctx| pollster::block_on(login(ctx, &email(address), password, ClientInfo::default())))
}

#[test]
fn a_login_issues_a_token_whose_session_authenticates() {
    let world = world();
    create_user(&world, "ada@example.com", true);
    let logged_in = log_in(&world, " ADA@example.com", PASSWORD).unwrap();
    let caller = world
        .with_ctx(|ctx| pollster::block_on(authenticate(ctx, Some(&logged_in.access_token))))
        .unwrap();
    assert_eq!(caller.user.email, "ada@example.com");
    assert!(matches!(world.events().as_slice(), [AuthEvent::LoginSucceeded { .. }]));
}

#[test]
fn an_unknown_email_and_a_wrong_password_fail_alike() {
    let world = world();
    create_user(&world, "bo@example.com", true);
    for (address, password) in [("nobody@example.com", PASSWORD), ("bo@example.com", "not the password")] {
        assert!(matches!(
            log_in(&world, address, password),
            Err(LoginError::InvalidCredentials)
        ));
    }
    assert_eq!(world.events(), [AuthEvent::LoginFailed, AuthEvent::LoginFailed]);
}

#[test]
fn an_unverified_account_is_refused_only_with_the_right_password() {
    let world = world();
    create_user(&world, "cy@example.com", false);
    assert!(matches!(
        log_in(&world, "cy@example.com", "not the password"),
        Err(LoginError::InvalidCredentials)
    ));
    assert!(matches!(
        log_in(&world, "cy@example.com", PASSWORD),
        Err(LoginError::EmailNotVerified)
    ));
}

#[test]
fn a_hash_made_at_another_cost_is_upgraded_at_login() {
    let world = world();
    let user = create_user(&world, "di@example.com", true);
    let old = passwords::hash(PASSWORD, 5).unwrap();
    pollster::block_on(Users(&world.db).set_password_hash(&user.id, &old, 1)).unwrap();
    log_in(&world, "di@example.com", PASSWORD).unwrap();
    let stored = pollster::block_on(Users(&world.db).by_id(&user.id)).unwrap().unwrap();
    assert_eq!(passwords::cost_of(&stored.password_hash), Some(4), "the test cost");
    assert!(passwords::verify(PASSWORD, &stored.password_hash, 4));
}

#[test]
fn logout_ends_the_session_for_good() {
    let world = world();
    create_user(&world, "ed@example.com", true);
    let token = log_in(&world, "ed@example.com", PASSWORD).unwrap().access_token;
    world.with_ctx(|ctx| {
        let caller = pollster::block_on(authenticate(ctx, Some(&token))).unwrap();
        pollster::block_on(logout(ctx, &caller, Scope::Local)).unwrap();
        assert!(matches!(
            pollster::block_on(authenticate(ctx, Some(&token))),
            Err(AuthenticateError::SessionEnded)
        ));
        assert!(matches!(
            pollster::block_on(authenticate(ctx, Some("garbage"))),
            Err(AuthenticateError::Token(_))
        ));
        assert!(matches!(
            pollster::block_on(authenticate(ctx, None)),
            Err(AuthenticateError::Missing)
        ));
    });
}

#[test]
fn the_lockout_blocks_after_the_free_attempts_and_tells_the_owner_once() {
    let read = |name: &str| match name {
        "LOCKOUT_FREE_ATTEMPTS" => Some("2".to_owned()),
        other => test_var(other),
    };
    let world = TestWorld::with_vars(&[&users::FEATURE, &crate::features::signing::FEATURE, &FEATURE], &read);
    create_user(&world, "fa@example.com", true);
    for _ in 0..3 {
        assert!(matches!(
            log_in(&world, "fa@example.com", "wrong password"),
            Err(LoginError::InvalidCredentials)
        ));
    }
    assert!(matches!(
        log_in(&world, "fa@example.com", PASSWORD),
        Err(LoginError::Locked {
            retry_after_seconds: 30
        })
    ));
    let locked: Vec<Mail> = world.outbox.to("fa@example.com");
    assert_eq!(locked.len(), 1);
    assert_eq!(locked[0].kind.name, "account_locked");
    assert_renders_completely(&locked[0]);
    assert!(world.events().contains(&AuthEvent::LockoutStarted));
    world.advance(30);
    assert!(log_in(&world, "fa@example.com", PASSWORD).is_ok(), "after the backoff");
    assert_eq!(ACCOUNT_LOCKED.name, "account_locked");
}

#[test]
fn bad_session_settings_name_their_variable() {
    for (name, value) in [
        ("ALGORITHM", "none"),
        ("ALGORITHM", "RS256"),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
        ("LOCKOUT_BASE_SECONDS", "0"),
    ] {
        let read = |var: &str| {
            if var == name {
                Some(value.to_owned())
            } else {
                test_var(var)
            }
        };
        let vars = crate::kernel::config::Vars::new(&read);
        let err = crate::kernel::feature::AppState::new(
            &[&users::FEATURE, &crate::features::signing::FEATURE, &FEATURE],
            &vars,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains(name), "{name}={value}: {err}");
    }
}
