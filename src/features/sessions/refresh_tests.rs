//! Refresh rotation and reuse, the session list, logout scopes and the new-device mail,
//! natively on real SQL (sessions.md §3–§5).

use super::authenticate::{authenticate, AuthenticateError, Caller};
use super::login::{login, ClientInfo, LoggedIn};
use super::logout::{logout, Scope};
use super::rotation::{self, RefreshError, Refreshed};
use super::{Sessions, FEATURE};
use crate::features::users::testing::{create_user, PASSWORD};
use crate::features::users::{self, User};
use crate::kernel::config::test_vars_with;
use crate::kernel::events::AuthEvent;
use crate::kernel::mail::assert_renders_completely;
use crate::kernel::testing::TestWorld;
use crate::kernel::{EmailAddress, SessionId};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const CHROME: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const DAY: i64 = 86_400;

fn world_with(vars: &[(&str, &str)]) -> TestWorld {
    TestWorld::with_vars(
        &[&users::FEATURE, &crate::features::signing::FEATURE, &FEATURE],
        &test_vars_with(vars),
    )
}

fn client(user_agent: &str, country: Option<&str>) -> ClientInfo {
    ClientInfo {
        user_agent: Some(user_agent.to_owned()),
        ip: Some("192.0.2.1".to_owned()),
        country: country.map(str::to_owned),
        city: None,
    }
}

fn log_in_with(world: &TestWorld, user: &User, client: ClientInfo) -> LoggedIn {
    let email = EmailAddress::parse(&user.email).unwrap();
    world
        .with_ctx(|ctx| pollster::block_on(login(ctx, &email, PASSWORD, client)))
        .unwrap()
}

fn log_in(world: &TestWorld, user: &User) -> LoggedIn {
    log_in_with(world, user, client(FIREFOX, Some("DE")))
}

fn refresh(world: &TestWorld, token: &str) -> Result<Refreshed, RefreshError> {
    world.with_ctx(|ctx| {
        pollster::block_on(async {
            let located = rotation::locate(ctx, Some(token)).await?;
            rotation::refresh(ctx, located, client(CHROME, Some("FR"))).await
        })
    })
}

fn caller(world: &TestWorld, access_token: &str) -> Result<Caller, AuthenticateError> {
    world.with_ctx(|ctx| pollster::block_on(authenticate(ctx, Some(access_token))))
}

fn mails_of_kind(world: &TestWorld, to: &str, kind: &str) -> usize {
    world.outbox.to(to).iter().filter(|m| m.kind.name == kind).count()
}

#[test]
fn a_refresh_rotates_and_the_previous_token_answers_the_same_pair_within_the_window() {
    let world = world_with(&[]);
    let user = create_user(&world, "ada@example.com", true);
    let login = log_in(&world, &user);
    let a = login.refresh_token.expose().to_owned();
    world.advance(1);
    let b = refresh(&world, &a).unwrap();
    assert_ne!(b.refresh_token.expose(), a);
    assert!(caller(&world, &b.access_token).is_ok());
    assert!(
        caller(&world, &login.access_token).is_ok(),
        "a rotation keeps issued access tokens"
    );
    world.advance(9);
    let again = refresh(&world, &a).unwrap();
    assert_eq!(again.refresh_token, b.refresh_token, "byte-identical, recomputed");
    assert_ne!(again.access_token, b.access_token);
    let counter = world.query("SELECT refresh_counter FROM sessions");
    assert_eq!(counter[0]["refresh_counter"], 1, "nothing rotated");
    // The current token still rotates onward.
    let c = refresh(&world, b.refresh_token.expose()).unwrap();
    assert_ne!(c.refresh_token, b.refresh_token);
    assert_eq!(mails_of_kind(&world, "ada@example.com", "suspicious_refresh"), 0);
}

#[test]
fn the_previous_token_after_the_window_ends_the_session_and_tells_the_owner() {
    let world = world_with(&[]);
    let user = create_user(&world, "bo@example.com", true);
    let login = log_in(&world, &user);
    let a = login.refresh_token.expose().to_owned();
    let b = refresh(&world, &a).unwrap();
    world.events();
    world.advance(11);
    assert!(matches!(refresh(&world, &a), Err(RefreshError::Reused)));
    assert!(matches!(
        refresh(&world, b.refresh_token.expose()),
        Err(RefreshError::Invalid)
    ));
    assert!(matches!(
        caller(&world, &b.access_token),
        Err(AuthenticateError::SessionEnded)
    ));
    let mails: Vec<_> = world
        .outbox
        .to("bo@example.com")
        .into_iter()
        .filter(|m| m.kind.name == "suspicious_refresh")
        .collect();
    assert_eq!(mails.len(), 1);
    assert_renders_completely(&mails[0]);
    let text = mails[0].render("Test").text;
    assert!(text.contains("Chrome on macOS") && text.contains("FR"), "{text}");
    assert!(matches!(world.events().as_slice(), [AuthEvent::RefreshReused { .. }]));
    // A second replay of the reused token finds the session ended: no second mail.
    assert!(matches!(refresh(&world, &a), Err(RefreshError::Invalid)));
    assert_eq!(mails_of_kind(&world, "bo@example.com", "suspicious_refresh"), 1);
}

#[test]
fn a_token_two_rotations_old_is_refused_at_once() {
    let world = world_with(&[]);
    let user = create_user(&world, "cy@example.com", true);
    let a = log_in(&world, &user).refresh_token.expose().to_owned();
    let b = refresh(&world, &a).unwrap().refresh_token;
    refresh(&world, b.expose()).unwrap();
    assert!(matches!(refresh(&world, &a), Err(RefreshError::Reused)));
}

#[test]
fn many_refreshes_with_one_token_advance_the_counter_once() {
    let world = world_with(&[]);
    let user = create_user(&world, "di@example.com", true);
    let a = log_in(&world, &user).refresh_token.expose().to_owned();
    let answers: Vec<_> = (0..20).map(|_| refresh(&world, &a).unwrap().refresh_token).collect();
    assert!(answers.iter().all(|t| *t == answers[0]));
    assert_eq!(
        world.query("SELECT refresh_counter FROM sessions")[0]["refresh_counter"],
        1
    );
    assert_eq!(world.query("SELECT count(*) AS n FROM refresh_tokens")[0]["n"], 2);
}

#[test]
fn unknown_malformed_and_missing_tokens_are_refused_without_a_mail() {
    let world = world_with(&[]);
    let user = create_user(&world, "ed@example.com", true);
    log_in(&world, &user);
    let forged = crate::features::sessions::refresh::RefreshToken::first();
    assert!(matches!(refresh(&world, forged.expose()), Err(RefreshError::Invalid)));
    assert!(matches!(refresh(&world, "not a token!"), Err(RefreshError::Invalid)));
    assert!(matches!(refresh(&world, &"a".repeat(600)), Err(RefreshError::Invalid)));
    let missing = world.with_ctx(|ctx| pollster::block_on(rotation::locate(ctx, None)).err());
    assert!(matches!(missing, Some(RefreshError::Missing)));
    assert_eq!(mails_of_kind(&world, "ed@example.com", "suspicious_refresh"), 0);
}

#[test]
fn an_idle_session_ends_and_none_outlives_its_absolute_life() {
    let world = world_with(&[("REFRESH_TOKEN_EXPIRE_DAYS", "1"), ("SESSION_MAX_DAYS", "2.5")]);
    let user = create_user(&world, "fa@example.com", true);
    let idle = log_in(&world, &user);
    assert_eq!(idle.refresh_expires_in, DAY);
    world.advance(DAY);
    assert!(matches!(
        refresh(&world, idle.refresh_token.expose()),
        Err(RefreshError::Invalid)
    ));

    let kept = log_in(&world, &user);
    let mut token = kept.refresh_token;
    let mut last = None;
    for _ in 0..2 {
        world.advance(DAY - 60);
        let refreshed = refresh(&world, token.expose()).unwrap();
        assert!(refreshed.expires_in <= 30 * 60);
        token = refreshed.refresh_token.clone();
        last = Some(refreshed);
    }
    // 2 × (1 day − 1 min) after the login, half a day minus two minutes is left.
    let last = last.unwrap();
    assert_eq!(last.refresh_expires_in, DAY / 2 + 120);
    world.advance(DAY / 2 + 120 - 60);
    let near_end = refresh(&world, token.expose()).unwrap();
    assert_eq!(near_end.expires_in, 60, "never past the session's end");
    assert_eq!(near_end.refresh_expires_in, 60);
    world.advance(60);
    assert!(matches!(
        refresh(&world, near_end.refresh_token.expose()),
        Err(RefreshError::Invalid)
    ));
}

#[test]
fn a_refresh_records_the_client_and_keeps_the_login_facts() {
    let world = world_with(&[]);
    let user = create_user(&world, "gu@example.com", true);
    let login = log_in(&world, &user);
    world.advance(100);
    refresh(&world, login.refresh_token.expose()).unwrap();
    let rows = world.query("SELECT device, country, last_seen_at, created_at, auth_methods FROM sessions");
    assert_eq!(rows[0]["device"], "Chrome on macOS");
    assert_eq!(rows[0]["country"], "FR");
    assert_eq!(
        rows[0]["last_seen_at"].as_i64().unwrap(),
        rows[0]["created_at"].as_i64().unwrap() + 100
    );
    assert_eq!(rows[0]["auth_methods"], "password");
}

#[test]
fn after_logout_the_refresh_token_is_invalid_and_no_mail_is_sent() {
    let world = world_with(&[]);
    let user = create_user(&world, "ha@example.com", true);
    let login = log_in(&world, &user);
    let me = caller(&world, &login.access_token).unwrap();
    world
        .with_ctx(|ctx| pollster::block_on(logout(ctx, &me, Scope::Local)))
        .unwrap();
    assert!(matches!(
        refresh(&world, login.refresh_token.expose()),
        Err(RefreshError::Invalid)
    ));
    assert_eq!(mails_of_kind(&world, "ha@example.com", "suspicious_refresh"), 0);
}

#[test]
fn logout_scopes_end_exactly_their_sessions() {
    let world = world_with(&[]);
    let user = create_user(&world, "io@example.com", true);
    let other_user = create_user(&world, "ja@example.com", true);
    let theirs = log_in(&world, &other_user);
    let sessions: Vec<LoggedIn> = (0..3).map(|_| log_in(&world, &user)).collect();
    let me = caller(&world, &sessions[0].access_token).unwrap();
    let ended = world
        .with_ctx(|ctx| pollster::block_on(logout(ctx, &me, Scope::Others)))
        .unwrap();
    assert_eq!(ended, 2);
    assert!(
        caller(&world, &sessions[0].access_token).is_ok(),
        "others keeps this one"
    );
    assert!(caller(&world, &sessions[1].access_token).is_err());
    assert!(caller(&world, &sessions[2].access_token).is_err());
    let again = log_in(&world, &user);
    let ended = world
        .with_ctx(|ctx| pollster::block_on(logout(ctx, &me, Scope::Global)))
        .unwrap();
    assert_eq!(ended, 2);
    assert!(caller(&world, &sessions[0].access_token).is_err());
    assert!(caller(&world, &again.access_token).is_err());
    assert!(caller(&world, &theirs.access_token).is_ok(), "another user's stays");
}

#[test]
fn the_list_shows_live_sessions_latest_seen_first_and_revoking_checks_the_owner() {
    let world = world_with(&[]);
    let user = create_user(&world, "ka@example.com", true);
    let intruder = create_user(&world, "lu@example.com", true);
    let first = log_in(&world, &user);
    world.advance(10);
    let second = log_in_with(&world, &user, client(CHROME, None));
    world.advance(10);
    refresh(&world, first.refresh_token.expose()).unwrap();
    let ended = log_in(&world, &user);
    let me = caller(&world, &ended.access_token).unwrap();
    world
        .with_ctx(|ctx| pollster::block_on(logout(ctx, &me, Scope::Local)))
        .unwrap();
    let listed = world.with_ctx(|ctx| pollster::block_on(Sessions(ctx.db).live_of_user(&user.id, ctx.clock.now())));
    let listed = listed.unwrap();
    let ids: Vec<&str> = listed.iter().map(|s| s.id.as_str()).collect();
    let first_id = caller(&world, &first.access_token).unwrap().session_id;
    let second_id = caller(&world, &second.access_token).unwrap().session_id;
    assert_eq!(ids, [first_id.0.as_str(), second_id.0.as_str()], "refreshed first");

    let revoke = |id: &SessionId, by: &User| {
        world.with_ctx(|ctx| pollster::block_on(Sessions(ctx.db).revoke_of_user(id, &by.id, ctx.clock.now())))
    };
    assert!(!revoke(&second_id, &intruder).unwrap(), "not theirs");
    assert!(caller(&world, &second.access_token).is_ok());
    assert!(revoke(&second_id, &user).unwrap());
    assert!(caller(&world, &second.access_token).is_err());
    assert!(!revoke(&second_id, &user).unwrap(), "once");
}

#[test]
fn only_a_new_device_after_the_first_login_is_mailed() {
    let world = world_with(&[("NEW_DEVICE_WINDOW_DAYS", "30")]);
    let user = create_user(&world, "mo@example.com", true);
    let new_sign_ins = || mails_of_kind(&world, "mo@example.com", "new_sign_in");
    log_in(&world, &user);
    assert_eq!(new_sign_ins(), 0, "the first login ever");
    log_in(&world, &user);
    assert_eq!(new_sign_ins(), 0, "the same device");
    let older_firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
    log_in_with(&world, &user, client(older_firefox, Some("DE")));
    assert_eq!(new_sign_ins(), 0, "versions do not count");
    log_in_with(&world, &user, client(CHROME, Some("DE")));
    assert_eq!(new_sign_ins(), 1, "a new browser family");
    log_in_with(&world, &user, client(FIREFOX, Some("FR")));
    assert_eq!(new_sign_ins(), 2, "a new country");
    world.advance(31 * DAY);
    log_in(&world, &user);
    assert_eq!(new_sign_ins(), 3, "not seen within the window");
    let mail = world
        .outbox
        .to("mo@example.com")
        .into_iter()
        .find(|m| m.kind.name == "new_sign_in")
        .unwrap();
    assert_renders_completely(&mail);
    assert!(mail.render("Test").text.contains("Chrome on macOS"));
    // A refresh from yet another device is no login: nothing.
    let login = log_in(&world, &user);
    world.outbox.to("mo@example.com");
    refresh(&world, login.refresh_token.expose()).unwrap();
    assert_eq!(new_sign_ins(), 3);
}

#[test]
fn housekeeping_forgets_old_devices_but_each_users_latest() {
    let world = world_with(&[]);
    let user = create_user(&world, "no@example.com", true);
    log_in_with(&world, &user, client(CHROME, None));
    world.advance(DAY);
    log_in(&world, &user);
    assert_eq!(mails_of_kind(&world, "no@example.com", "new_sign_in"), 1);
    world.advance(400 * DAY);
    let now = crate::kernel::ids::Clock::now(&*world.clock);
    let deleted = pollster::block_on(crate::kernel::sql::Database::run(
        &world.db,
        &super::devices::PURGE_FORGOTTEN,
        &[now.into()],
    ))
    .unwrap()
    .changes;
    assert_eq!(deleted, 1);
    log_in_with(&world, &user, client(CHROME, None));
    assert_eq!(
        mails_of_kind(&world, "no@example.com", "new_sign_in"),
        2,
        "the user is still known, the device is new again"
    );
}

#[test]
fn reauthentication_takes_the_password_or_a_recent_login() {
    let world = world_with(&[("LOCKOUT_FREE_ATTEMPTS", "1")]);
    let user = create_user(&world, "pa@example.com", true);
    let me = caller(&world, &log_in(&world, &user).access_token).unwrap();
    let reauth = |me: &Caller, password: Option<&str>| {
        world.with_ctx(|ctx| pollster::block_on(super::reauthenticate(ctx, me, password)))
    };
    let code = |answer: Result<(), crate::kernel::problem::ApiError>| answer.err().map(|e| e.problem.code);
    assert_eq!(code(reauth(&me, None)).as_deref(), Some("current_password_required"));
    assert_eq!(
        code(reauth(&me, Some(""))).as_deref(),
        Some("current_password_required")
    );
    for _ in 0..2 {
        assert_eq!(
            code(reauth(&me, Some("wrong password"))).as_deref(),
            Some("invalid_credentials")
        );
    }
    // The wrong ones counted in the lockout, as wrong logins would: the next one waits.
    assert_eq!(code(reauth(&me, Some(PASSWORD))).as_deref(), Some("rate_limited"));
    world.advance(30);
    assert!(reauth(&me, Some(PASSWORD)).is_ok());

    // Without a password, only a recent login counts, and a refresh does not renew it.
    let passwordless = create_user(&world, "qu@example.com", true);
    let login = log_in(&world, &passwordless);
    let mut me = caller(&world, &login.access_token).unwrap();
    me.user.password_hash.clear();
    assert!(reauth(&me, None).is_ok());
    world.advance(10 * 60);
    assert!(reauth(&me, None).is_ok(), "exactly the limit");
    world.advance(1);
    let refreshed = refresh(&world, login.refresh_token.expose()).unwrap();
    let mut me = caller(&world, &refreshed.access_token).unwrap();
    me.user.password_hash.clear();
    assert_eq!(code(reauth(&me, None)).as_deref(), Some("reauthentication_required"));
}
