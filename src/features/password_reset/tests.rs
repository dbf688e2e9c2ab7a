//! The reset link, natively on real SQL.

use super::flow::{forget_password, reset_password, ResetPasswordError};
use super::FEATURE;
use crate::features::sessions::{self, Session, Sessions};
use crate::features::users::testing::create_user;
use crate::features::users::{self, passwords, Users};
use crate::kernel::events::AuthEvent;
use crate::kernel::mail::assert_renders_completely;
use crate::kernel::secrets::OpaqueToken;
use crate::kernel::testing::common_passwords;
use crate::kernel::testing::{TestWorld, T0};
use crate::kernel::{EmailAddress, Password, SessionId};

fn world() -> TestWorld {
    TestWorld::new(&[
        &users::FEATURE,
        &crate::features::signing::FEATURE,
        &sessions::FEATURE,
        &FEATURE,
    ])
}

fn forget(world: &TestWorld, address: &str) {
    let email = EmailAddress::parse(address).unwrap();
    world
        .with_ctx(|ctx| pollster::block_on(forget_password(ctx, &email)))
        .unwrap();
}

fn reset(world: &TestWorld, token: &OpaqueToken, password: &str) -> Result<(), ResetPasswordError> {
    let password = Password::parse(password, common_passwords()).unwrap();
    world.with_ctx(|ctx| pollster::block_on(reset_password(ctx, Some(token), &password)))
}

#[test]
fn a_link_resets_once_ends_every_session_and_proves_the_address() {
    let world = world();
    let user = create_user(&world, "ada@example.com", false);
    let session = Session::open(SessionId("s1".into()), user.id.clone(), T0, 1800, 1800);
    pollster::block_on(Sessions(&world.db).insert(&session)).unwrap();
    forget(&world, "ada@example.com");
    let link = world.outbox.to("ada@example.com")[0].clone();
    assert_eq!(link.kind.name, "password_reset");
    assert_renders_completely(&link);
    let url = link.value("reset_url").unwrap();
    assert!(url.starts_with("http://localhost:3000/reset-password?token="), "{url}");
    let token = OpaqueToken::parse(url.split("token=").nth(1).unwrap()).unwrap();
    reset(&world, &token, "a brand new passphrase").unwrap();
    assert!(matches!(
        reset(&world, &token, "another new passphrase"),
        Err(ResetPasswordError::InvalidToken)
    ));
    let after = pollster::block_on(Users(&world.db).by_id(&user.id)).unwrap().unwrap();
    assert!(passwords::verify("a brand new passphrase", &after.password_hash, 4));
    assert!(after.email_verified, "the link proved the address");
    assert!(pollster::block_on(Sessions(&world.db).live_user(&session.id, T0))
        .unwrap()
        .is_none());
    let kinds: Vec<&str> = world.outbox.to("ada@example.com").iter().map(|m| m.kind.name).collect();
    assert_eq!(kinds, ["password_reset", "password_changed"]);
    assert!(matches!(world.events().as_slice(), [AuthEvent::PasswordReset { .. }]));
}

#[test]
fn an_unknown_address_gets_nothing_and_a_made_up_token_nothing_either() {
    let world = world();
    forget(&world, "nobody@example.com");
    assert!(world.outbox.all().is_empty());
    assert!(matches!(
        reset(&world, &OpaqueToken::generate(), "a brand new passphrase"),
        Err(ResetPasswordError::InvalidToken)
    ));
}

#[test]
fn an_expired_link_is_refused() {
    let world = world();
    create_user(&world, "bo@example.com", true);
    forget(&world, "bo@example.com");
    let url = world.outbox.to("bo@example.com")[0]
        .value("reset_url")
        .unwrap()
        .to_owned();
    let token = OpaqueToken::parse(url.split("token=").nth(1).unwrap()).unwrap();
    world.advance(30 * 60);
    assert!(matches!(
        reset(&world, &token, "a brand new passphrase"),
        Err(ResetPasswordError::InvalidToken)
    ));
}

#[test]
fn a_reset_ends_the_login_lockout_so_the_owner_gets_in_at_once() {
    let world = world();
    create_user(&world, "locked@example.com", true);
    let login = |password: &str| {
        let email = EmailAddress::parse("locked@example.com").unwrap();
        world.with_ctx(|ctx| {
            pollster::block_on(async {
                let attempt = sessions::testing::begin(ctx, &email).await?;
                sessions::testing::complete(ctx, attempt, password, Default::default()).await
            })
        })
    };
    for _ in 0..6 {
        assert!(login("somebody guessing").is_err());
    }
    assert!(login(crate::features::users::testing::PASSWORD).is_err(), "locked out");
    forget(&world, "locked@example.com");
    let url = world
        .outbox
        .to("locked@example.com")
        .last()
        .unwrap()
        .value("reset_url")
        .unwrap()
        .to_owned();
    let token = OpaqueToken::parse(url.split("token=").nth(1).unwrap()).unwrap();
    reset(&world, &token, "a brand new passphrase").unwrap();
    assert!(
        login("a brand new passphrase").is_ok(),
        "the lockout ended with the reset"
    );
}

#[test]
fn a_second_reset_with_the_same_link_changes_nothing() {
    let world = world();
    let user = create_user(&world, "twice@example.com", true);
    forget(&world, "twice@example.com");
    let url = world.outbox.to("twice@example.com")[0]
        .value("reset_url")
        .unwrap()
        .to_owned();
    let token = OpaqueToken::parse(url.split("token=").nth(1).unwrap()).unwrap();
    reset(&world, &token, "the first new passphrase").unwrap();
    assert!(reset(&world, &token, "the second new passphrase").is_err());
    let after = pollster::block_on(Users(&world.db).by_id(&user.id)).unwrap().unwrap();
    assert!(passwords::verify("the first new passphrase", &after.password_hash, 4));
}

#[test]
fn a_new_link_replaces_the_old_one() {
    let world = world();
    create_user(&world, "relink@example.com", true);
    forget(&world, "relink@example.com");
    forget(&world, "relink@example.com");
    let links: Vec<String> = world
        .outbox
        .to("relink@example.com")
        .iter()
        .map(|m| m.value("reset_url").unwrap().split("token=").nth(1).unwrap().to_owned())
        .collect();
    let token = |i: usize| OpaqueToken::parse(&links[i]).unwrap();
    assert!(
        reset(&world, &token(0), "a brand new passphrase").is_err(),
        "superseded"
    );
    reset(&world, &token(1), "a brand new passphrase").unwrap();
}
