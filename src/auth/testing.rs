//! Native tests of the flows against the in-memory store, a recording outbox and a fixed clock.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::authenticate::authenticate;
use super::login::{login, ClientInfo, LoginError};
use super::password_reset::{forget_password, reset_password, ResetPasswordError};
use super::register::{register, resend_verification, Registration};
use super::tokens::TokenService;
use super::verify_email::{verify_email, VerifyEmailError};
use super::Deps;
use crate::config::{test_config, Config};
use crate::domain::{
    Clock, EmailAddress, Mail, Outbox, Password, ResetToken, SecretDigester, UnixSeconds, VerificationCode,
};
use crate::rate_limit::memory::MemoryLimiter;
use crate::storage::memory::MemoryStore;

struct FixedClock(Cell<UnixSeconds>);
impl Clock for FixedClock {
    fn now(&self) -> UnixSeconds {
        self.0.get()
    }
}

#[derive(Default)]
struct RecordingOutbox(RefCell<Vec<Mail>>);
impl Outbox for RecordingOutbox {
    fn send(&self, mail: Mail) {
        self.0.borrow_mut().push(mail);
    }
}

struct World {
    config: Config,
    store: MemoryStore,
    outbox: RecordingOutbox,
    clock: Rc<FixedClock>,
    limiter: MemoryLimiter,
    events: crate::http::EventLog,
    digester: SecretDigester,
    tokens: TokenService,
}

impl World {
    fn new() -> Self {
        let config = test_config();
        let clock = Rc::new(FixedClock(Cell::new(1_800_000_000)));
        Self {
            digester: SecretDigester::new(config.secret_key.expose().as_bytes()),
            tokens: TokenService::new(&config),
            config,
            store: MemoryStore::default(),
            outbox: RecordingOutbox::default(),
            clock: clock.clone(),
            limiter: MemoryLimiter::new(clock),
            events: Default::default(),
        }
    }

    fn deps(&self) -> Deps<'_> {
        Deps {
            config: &self.config,
            store: &self.store,
            outbox: &self.outbox,
            clock: &*self.clock,
            digester: &self.digester,
            tokens: &self.tokens,
            limiter: &self.limiter,
            events: &self.events,
        }
    }

    fn advance(&self, seconds: i64) {
        self.clock.0.set(self.clock.0.get() + seconds);
    }

    fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.outbox
            .0
            .borrow()
            .iter()
            .filter(|m| m.recipient() == to)
            .cloned()
            .collect()
    }

    fn last_code(&self, to: &str) -> VerificationCode {
        let code = self.mails_to(to).iter().rev().find_map(|m| match m {
            Mail::VerificationCode { code, .. } | Mail::EmailChangeCode { code, .. } => Some(code.clone()),
            _ => None,
        });
        VerificationCode::parse(&code.expect("a code was mailed")).unwrap()
    }

    fn register(&self, email: &str) {
        let registration = Registration {
            email: email_of(email),
            password: Password::parse(PASSWORD).unwrap(),
            full_name: None,
        };
        pollster::block_on(register(&self.deps(), registration)).unwrap();
    }
}

const PASSWORD: &str = "correct horse battery";

fn email_of(raw: &str) -> EmailAddress {
    EmailAddress::parse(raw).unwrap()
}

#[test]
fn registration_verification_and_login_work_end_to_end() {
    let world = World::new();
    world.register("ada@example.com");
    let code = world.last_code("ada@example.com");
    let deps = world.deps();
    assert!(matches!(
        pollster::block_on(login(
            &deps,
            &email_of("ada@example.com"),
            PASSWORD,
            ClientInfo::default()
        )),
        Err(LoginError::EmailNotVerified)
    ));
    pollster::block_on(verify_email(&deps, &email_of("ada@example.com"), Some(&code))).unwrap();
    let logged_in = pollster::block_on(login(
        &deps,
        &email_of("ADA@example.com "),
        PASSWORD,
        ClientInfo::default(),
    ))
    .unwrap();
    let caller = pollster::block_on(authenticate(&deps, Some(&logged_in.access_token))).unwrap();
    assert_eq!(caller.user.email, "ada@example.com");
}

#[test]
fn a_code_works_once_and_dies_after_five_wrong_guesses() {
    let world = World::new();
    world.register("bo@example.com");
    let code = world.last_code("bo@example.com");
    let deps = world.deps();
    let wrong = VerificationCode::parse(if code.expose() == "000000" { "111111" } else { "000000" }).unwrap();
    for _ in 0..super::MAX_CODE_ATTEMPTS {
        let result = pollster::block_on(verify_email(&deps, &email_of("bo@example.com"), Some(&wrong)));
        assert!(matches!(result, Err(VerifyEmailError::InvalidCode)));
    }
    let result = pollster::block_on(verify_email(&deps, &email_of("bo@example.com"), Some(&code)));
    assert!(
        matches!(result, Err(VerifyEmailError::InvalidCode)),
        "the right code after five wrong guesses must be dead"
    );

    world.advance(super::RESEND_COOLDOWN_SECONDS + 1);
    pollster::block_on(resend_verification(&deps, &email_of("bo@example.com"))).unwrap();
    let fresh = world.last_code("bo@example.com");
    pollster::block_on(verify_email(&deps, &email_of("bo@example.com"), Some(&fresh))).unwrap();
    let replay = pollster::block_on(verify_email(&deps, &email_of("bo@example.com"), Some(&fresh)));
    assert!(matches!(replay, Err(VerifyEmailError::InvalidCode)));
}

#[test]
fn resend_within_the_cooldown_mails_nothing_and_keeps_the_code() {
    let world = World::new();
    world.register("cy@example.com");
    let first = world.last_code("cy@example.com");
    pollster::block_on(resend_verification(&world.deps(), &email_of("cy@example.com"))).unwrap();
    assert_eq!(world.mails_to("cy@example.com").len(), 1);
    pollster::block_on(verify_email(&world.deps(), &email_of("cy@example.com"), Some(&first))).unwrap();
}

#[test]
fn stored_tokens_hold_digests_only() {
    let world = World::new();
    world.register("di@example.com");
    let code = world.last_code("di@example.com");
    for token in world.store.tokens() {
        assert!(!token.digest.contains(code.expose()));
        assert_eq!(token.digest.len(), 64);
    }
}

#[test]
fn a_reset_token_works_once_and_ends_every_session() {
    let world = World::new();
    world.register("ed@example.com");
    let deps = world.deps();
    pollster::block_on(verify_email(
        &deps,
        &email_of("ed@example.com"),
        Some(&world.last_code("ed@example.com")),
    ))
    .unwrap();
    let session = pollster::block_on(login(
        &deps,
        &email_of("ed@example.com"),
        PASSWORD,
        ClientInfo::default(),
    ))
    .unwrap();
    pollster::block_on(forget_password(&deps, &email_of("ed@example.com"))).unwrap();
    let link = world.mails_to("ed@example.com").iter().find_map(|m| match m {
        Mail::PasswordResetLink { reset_url, .. } => Some(reset_url.clone()),
        _ => None,
    });
    let token = ResetToken::parse(link.unwrap().split("token=").nth(1).unwrap()).unwrap();
    let new_password = Password::parse("a brand new passphrase").unwrap();
    pollster::block_on(reset_password(&deps, Some(&token), &new_password)).unwrap();
    let again = pollster::block_on(reset_password(&deps, Some(&token), &new_password));
    assert!(matches!(again, Err(ResetPasswordError::InvalidToken)));
    assert!(
        pollster::block_on(authenticate(&deps, Some(&session.access_token))).is_err(),
        "old sessions end"
    );
    assert!(pollster::block_on(login(
        &deps,
        &email_of("ed@example.com"),
        "a brand new passphrase",
        ClientInfo::default()
    ))
    .is_ok());
}

#[test]
fn registering_a_taken_email_mails_the_owner_not_the_caller() {
    let world = World::new();
    world.register("fa@example.com");
    pollster::block_on(verify_email(
        &world.deps(),
        &email_of("fa@example.com"),
        Some(&world.last_code("fa@example.com")),
    ))
    .unwrap();
    world.register("fa@example.com");
    let kinds: Vec<&str> = world.mails_to("fa@example.com").iter().map(Mail::kind).collect();
    assert_eq!(kinds, ["verification_code", "account_exists"]);
}
