//! Rate limits and the login lockout, hammered concurrently.

use std::sync::atomic::{AtomicU16, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{spawn_app, unique_email, unique_ip, Answer, LOCKOUT_FREE_ATTEMPTS, PASSWORD};

fn concurrently<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                s.spawn({
                    let f = &f;
                    move || f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn count(answers: &[Answer], status: u16) -> usize {
    answers.iter().filter(|a| a.status == status).count()
}

fn login_from(ip: &str, email: &str, password: &str) -> Answer {
    let app = spawn_app();
    let body = json!({ "email": email, "password": password }).to_string();
    app.request(
        "POST",
        &app.auth("login"),
        &[("Content-Type", "application/json"), ("CF-Connecting-IP", ip)],
        Some(body.as_bytes()),
    )
}

/// The default register-per-IP policy is 20 per hour: 21 concurrent registrations from
/// one address give exactly 20 successes and one 429.
pub fn one_ip_gets_exactly_the_limit_of_registrations() {
    let app = spawn_app();
    let ip = unique_ip();
    let answers = concurrently(21, |i| {
        let body = json!({ "email": unique_email(&format!("ip-limit-{i}")), "password": PASSWORD }).to_string();
        app.request(
            "POST",
            &app.auth("register"),
            &[("Content-Type", "application/json"), ("CF-Connecting-IP", &ip)],
            Some(body.as_bytes()),
        )
    });
    assert_eq!((count(&answers, 201), count(&answers, 429)), (20, 1));
    let refused = answers.iter().find(|a| a.status == 429).unwrap();
    refused.assert_problem(429, "rate_limited");
    assert_eq!(refused.header("retry-after"), Some("180"), "one token per 3600/20 s");
    assert_eq!(refused.header("x-ratelimit-limit"), Some("20"));
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    let ok = answers.iter().find(|a| a.status == 201).unwrap();
    assert!(ok.header("x-ratelimit-remaining").is_some());
}

/// The first four groups of an IPv6 /64 (in 2001:db8::/32, for documentation) that no other
/// test uses; the /64 right after it is left unused too, for a neighbour.
fn unique_slash64() -> [u16; 4] {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    [
        0x2001,
        0x0db8,
        std::process::id() as u16,
        NEXT.fetch_add(2, Ordering::Relaxed),
    ]
}

/// The `i`th address of the /64 `p`, written in one of the forms a client may send.
fn address_in(p: [u16; 4], i: u16) -> String {
    let [a, b, c, d] = p;
    match i % 3 {
        0 => format!("{a:x}:{b:x}:{c:x}:{d:x}::{:x}", i + 1),
        1 => format!("{a:04X}:{b:04X}:{c:04X}:{d:04X}:0000:0000:0000:{:04X}", i + 1),
        _ => format!("{a:x}:{b:x}:{c:x}:{d:x}:{:x}:beef:{i:x}:1", 0xa000 + i),
    }
}

/// One IPv6 client holds a whole /64 (2^64 addresses), so per-IP limits count the /64:
/// 21 registrations from 21 addresses of one /64 meet the register-per-IP limit (20 per
/// hour), while the /64 next to it keeps its own budget.
pub fn ipv6_clients_share_a_limit_per_64() {
    let app = spawn_app();
    let crowded = unique_slash64();
    let addresses: Vec<String> = (0..21).map(|i| address_in(crowded, i)).collect();
    let register = |ip: &str| {
        let body = json!({ "email": unique_email("ipv6-limit"), "password": PASSWORD }).to_string();
        app.request(
            "POST",
            &app.auth("register"),
            &[("Content-Type", "application/json"), ("CF-Connecting-IP", ip)],
            Some(body.as_bytes()),
        )
    };
    let answers = concurrently(addresses.len(), |i| register(&addresses[i]));
    assert_eq!((count(&answers, 201), count(&answers, 429)), (20, 1), "{addresses:?}");
    let [a, b, c, d] = crowded;
    let neighbour = [a, b, c, d + 1];
    assert_eq!(
        register(&address_in(neighbour, 0)).status,
        201,
        "the next /64 has its own budget"
    );
}

/// The test instance allows 3 reset mails per email per 12 s: a burst of 3, then one
/// every 4 s (wide enough that a stalled request does not refill the bucket unseen).
pub fn a_limit_resets_when_its_window_passes() {
    let app = spawn_app();
    let email = unique_email("window");
    let forget = || app.post_json(&app.auth("password/forget"), &json!({ "email": email }));
    let started = Instant::now();
    let answers: Vec<Answer> = (0..10).map(|_| forget()).take_while(|a| a.status != 429).collect();
    let refused = forget();
    refused.assert_problem(429, "rate_limited");
    // A burst of 3; a slow machine may see a token come back (one per 4 s) meanwhile.
    let refills = (started.elapsed().as_secs_f64() / 4.0).floor() as usize;
    assert!(
        (3..=3 + refills).contains(&answers.len()) && answers.iter().all(|a| a.status == 202),
        "{} accepted in {:?}",
        answers.len(),
        started.elapsed()
    );
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=4).contains(&retry), "{retry}");
    thread::sleep(Duration::from_secs(retry) + Duration::from_millis(200));
    assert_eq!(forget().status, 202);
}

pub fn a_hundred_concurrent_wrong_logins_check_few_passwords() {
    let app = spawn_app();
    let email = app.verified_user("hammered");
    let started = Instant::now();
    let answers = concurrently(100, |_| login_from(&unique_ip(), &email, "wrong but long enough"));
    let elapsed = started.elapsed().as_secs_f64();
    let checked = count(&answers, 401);
    // The policy admits the free attempts, one more that starts the lockout, and one per
    // backoff (1 s, 2 s, 4 s, 4 s ... on the test instance) that ran out meanwhile.
    let mut waited = 0.0;
    let backoffs_passed = (0u32..)
        .map(|n| 1u32 << n.min(2))
        .take_while(|backoff| {
            waited += f64::from(*backoff);
            waited <= elapsed
        })
        .count();
    let allowed = LOCKOUT_FREE_ATTEMPTS as usize + 1 + backoffs_passed;
    assert!(
        checked <= allowed,
        "{checked} passwords checked in {elapsed:.1} s; the policy allows {allowed}"
    );
    assert_eq!(
        checked + count(&answers, 429),
        100,
        "only 401 or 429: {:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    let locked = answers.iter().find(|a| a.status == 429).unwrap();
    locked.assert_problem(429, "rate_limited");
    assert!(locked.header("retry-after").unwrap().parse::<u32>().unwrap() >= 1);
    let mails = app.sendgrid.wait_for_mails(&email, 2);
    thread::sleep(Duration::from_millis(500));
    let notices = app
        .sendgrid
        .mails_to(&email)
        .into_iter()
        .filter(|m| m.subject.contains("paused"))
        .count();
    assert_eq!(
        notices,
        1,
        "the owner hears of the lockout once: {:?}",
        mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    assert!(app
        .sendgrid
        .mails_to(&email)
        .iter()
        .any(|m| m.text.contains("/forgot-password")));
}

pub fn unknown_emails_are_locked_out_alike() {
    let known = spawn_app().verified_user("lock-known");
    let unknown = unique_email("lock-unknown");
    let run = |email: &str| -> Vec<u16> {
        (0..LOCKOUT_FREE_ATTEMPTS + 3)
            .map(|_| login_from(&unique_ip(), email, "wrong but long enough").status)
            .collect()
    };
    let (a, b) = (run(&known), run(&unknown));
    assert_eq!(a, b);
    assert!(a.contains(&429), "{a:?}");
}

pub fn a_lockout_ends_after_its_backoff_and_success_resets_it() {
    let app = spawn_app();
    let email = app.verified_user("backoff");
    let wrong = |n: u32| {
        (0..n)
            .map(|_| login_from(&unique_ip(), &email, "wrong but long enough").status)
            .collect::<Vec<_>>()
    };
    wrong(LOCKOUT_FREE_ATTEMPTS + 1);
    login_from(&unique_ip(), &email, PASSWORD).assert_problem(429, "rate_limited");
    thread::sleep(Duration::from_millis(1_300));
    assert_eq!(
        login_from(&unique_ip(), &email, PASSWORD).status,
        200,
        "the 1 s backoff has passed"
    );
    let after_reset = wrong(LOCKOUT_FREE_ATTEMPTS);
    assert!(
        after_reset.iter().all(|s| *s == 401),
        "a success starts a new streak: {after_reset:?}"
    );
}

pub fn thirty_wrong_logins_in_a_row_meet_a_429() {
    let email = spawn_app().verified_user("thirty");
    let statuses: Vec<u16> = (0..30)
        .map(|_| login_from(&unique_ip(), &email, "wrong but long enough").status)
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
}

/// The test instance allows 20 authenticated requests per user per minute.
pub fn authenticated_routes_are_limited_per_user() {
    let app = spawn_app();
    let (_, token) = app.logged_in_user("api-limit");
    let started = Instant::now();
    let served = (0..60)
        .map(|_| app.get_with_token(&app.auth("me"), &token))
        .take_while(|answer| answer.status == 200)
        .count();
    // A burst of 20 (20/60 here); one more per 3 s a slow run takes.
    let refills = (started.elapsed().as_secs_f64() / 3.0).floor() as usize;
    assert!(
        (20..=20 + refills).contains(&served),
        "{served} served in {:?}",
        started.elapsed()
    );
    app.get_with_token(&app.auth("me"), &token)
        .assert_problem(429, "rate_limited");
    let (_, other) = app.logged_in_user("api-limit-other");
    assert_eq!(
        app.get_with_token(&app.auth("me"), &other).status,
        200,
        "each user has their own budget"
    );
}

/// `RATE_LIMIT_LOGIN_IP`'s default burst, which the test instance keeps.
const LOGIN_IP_BURST: u32 = 30;

/// Sends `refused` more often than the lockout's free attempts and the per-IP login limit
/// allow, from one address, for `email`'s account; it must never have been counted: the
/// right password from the same address logs in straight after.
fn assert_never_counted(email: &str, refused: impl Fn(&str) -> Answer, status: u16) {
    let ip = unique_ip();
    let attempts = LOGIN_IP_BURST.max(LOCKOUT_FREE_ATTEMPTS) + 2;
    let statuses: Vec<u16> = (0..attempts).map(|_| refused(&ip).status).collect();
    assert!(statuses.iter().all(|s| *s == status), "{statuses:?}");
    let after = login_from(&ip, email, PASSWORD);
    assert_eq!(after.status, 200, "{}", after.body);
}

/// A password over bcrypt's 72 bytes is refused as input, before any limit: bad input is
/// not a guess, and counting it would lock the owner out for nothing.
pub fn over_long_passwords_never_lock_an_account() {
    let email = spawn_app().verified_user("long-lockout");
    let over_long = format!("{PASSWORD}{}", "x".repeat(73 - PASSWORD.len()));
    assert_never_counted(&email, |ip| login_from(ip, &email, &over_long), 422);
}

/// A login from a foreign origin is refused before any limit: a hostile page cannot spend
/// the lockout of an account (or its visitors' IP budget) by posting from their browsers.
pub fn foreign_origin_logins_never_lock_an_account() {
    let app = spawn_app();
    let email = app.verified_user("csrf-lockout");
    let body = json!({ "email": email, "password": "wrong but long enough" }).to_string();
    let from_elsewhere = |ip: &str| {
        app.request(
            "POST",
            &app.auth("login"),
            &[
                ("Content-Type", "application/json"),
                ("CF-Connecting-IP", ip),
                ("Origin", "http://evil.test"),
            ],
            Some(body.as_bytes()),
        )
    };
    assert_never_counted(&email, from_elsewhere, 403);
}

/// The test instance allows a burst of 40 logins per account, successful or not, from any
/// number of addresses.
pub fn logins_per_account_are_limited_whatever_the_ip() {
    let app = spawn_app();
    let email = app.verified_user("account-limit");
    let statuses: Vec<u16> = (0..40)
        .map(|_| login_from(&unique_ip(), &email, PASSWORD).status)
        .collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let refused = login_from(&unique_ip(), &email, PASSWORD);
    refused.assert_problem(429, "rate_limited");
    assert!(refused.header("retry-after").unwrap().parse::<u32>().unwrap() >= 1);
}

pub fn tests() -> Vec<libtest_mimic::Trial> {
    crate::trials![
        one_ip_gets_exactly_the_limit_of_registrations,
        a_limit_resets_when_its_window_passes,
        a_hundred_concurrent_wrong_logins_check_few_passwords,
        unknown_emails_are_locked_out_alike,
        a_lockout_ends_after_its_backoff_and_success_resets_it,
        thirty_wrong_logins_in_a_row_meet_a_429,
        authenticated_routes_are_limited_per_user,
        logins_per_account_are_limited_whatever_the_ip,
        ipv6_clients_share_a_limit_per_64,
        over_long_passwords_never_lock_an_account,
        foreign_origin_logins_never_lock_an_account,
    ]
}
