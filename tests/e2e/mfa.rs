//! Two-factor sign-in with TOTP and recovery codes, black box: ../shared/spec/mfa.md (not
//! passkeys), its "Checks a black-box test can make" and the rules behind them, with the
//! terms of sessions.md §1 (login response, MFA challenge, reauthentication, status rule).
//!
//! The tests carry their own TOTP generator (`harness::totp`; RFC 6238: HMAC-SHA1, 6
//! digits, 30 s, T0 = 0, checked here against the RFC's vectors) and base32 decoder. Every accepted code
//! spends its step for the user (a later code must be of a later step, and only t−1, t and
//! t+1 are accepted), so each account's `Totp` remembers the last step it had accepted and
//! hands out the earliest step still allowed, waiting for the clock only when t+1 is spent.
//! Sequences that aim at one step on purpose first wait until enough of it is left.
//!
//! Most tests run on the shared instance (default MFA variables, a lockout after 10 free
//! attempts, 20 authenticated requests per user a minute: each test stays below that per
//! account). One instance of its own (`short_app`) has a 6 s `mfa_token`, a 12 s
//! enrollment, 5 verifies per IP, a lockout after 3 free attempts lasting a minute, and an
//! `APP_NAME` that needs percent-encoding; another (`mfa-store`) is read table by table.
//! Mails are told apart by their subject.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::harness::fake_sendgrid::SentMail;
use crate::harness::totp::{base32_decode, hotp};
use crate::harness::{at_once, spawn_app, spawn_isolated_app_with, unique_ip, Answer, TestApp, PASSWORD};

const CHROME_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Mail kinds, by the start of their subject (`templates/<kind>`).
const NEW_SIGN_IN: &str = "New sign-in to your";
const MFA_ENABLED: &str = "Two-factor sign-in is on for your";
const MFA_DISABLED: &str = "Two-factor sign-in was turned off for your";
const RECOVERY_CODES_REGENERATED: &str = "New recovery codes for your";
const RECOVERY_CODE_USED: &str = "A recovery code was used for your";

/// `MFA_TOKEN_EXPIRE_SECONDS` by default: the challenge's `expires_in`.
const MFA_TOKEN_SECONDS: i64 = 300;

// ---------------------------------------------------------------------------------------
// The instance with short lifetimes, a small verify limit and a small, long lockout.

/// `MFA_TOKEN_EXPIRE_SECONDS` on the short instance.
const SHORT_MFA_TOKEN_SECONDS: i64 = 6;
/// `MFA_ENROLL_EXPIRE_MINUTES` on the short instance, in seconds (0.2 minutes).
const SHORT_ENROLL_SECONDS: u64 = 12;
/// `RATE_LIMIT_MFA_VERIFY_IP` on the short instance: a burst of this many per 600 s.
const SHORT_VERIFY_IP_BURST: usize = 5;
/// `LOCKOUT_FREE_ATTEMPTS` on the short instance; its lockout lasts 60 s.
const SHORT_FREE_ATTEMPTS: usize = 3;
/// `APP_NAME` on the short instance: a space, `&` and `+` must be percent-encoded.
const SHORT_APP_NAME: &str = "Edge Auth & Co+";

fn short_app() -> &'static TestApp {
    spawn_isolated_app_with(
        "mfa-short",
        &[
            ("MFA_TOKEN_EXPIRE_SECONDS", "6"),
            ("MFA_ENROLL_EXPIRE_MINUTES", "0.2"),
            ("RATE_LIMIT_MFA_VERIFY_IP", "5/600"),
            ("LOCKOUT_FREE_ATTEMPTS", "3"),
            ("LOCKOUT_BASE_SECONDS", "60"),
            ("LOCKOUT_MAX_SECONDS", "60"),
            ("APP_NAME", SHORT_APP_NAME),
        ],
        TestApp::is_healthy,
    )
}

// ---------------------------------------------------------------------------------------
// TOTP (RFC 6238) and base32 (RFC 4648), written here, not taken from the Worker.

/// RFC 4648 base32 (upper case, padding optional): the bytes, or None for anything else.
fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// The current TOTP step, t = now / 30.
fn now_step() -> u64 {
    (now_seconds() / 30.0) as u64
}

/// Waits until at least `seconds` of the current step are left, so that the requests that
/// follow meet the step they were computed for.
fn leave_time(seconds: f64) {
    loop {
        let left = 30.0 - now_seconds() % 30.0;
        if left >= seconds {
            return;
        }
        std::thread::sleep(Duration::from_secs_f64(left + 0.05));
    }
}

/// Panics (the test's timing failed, not the Worker) when the step moved meanwhile.
fn assert_still_step(step: u64) {
    assert_eq!(
        now_step(),
        step,
        "the clock crossed a 30 s step in the middle of a timed sequence: too slow a run"
    );
}

/// One account's TOTP factor as its authenticator app holds it.
struct Totp {
    secret: String,
    key: Vec<u8>,
    /// The latest step the Worker accepted (or may have accepted) for the account.
    last: u64,
}

impl Totp {
    fn new(secret: &str) -> Self {
        let key = base32_decode(secret).unwrap_or_else(|| panic!("not base32: {secret}"));
        assert_eq!(key.len(), 20, "20 bytes of secret");
        Self {
            secret: secret.to_owned(),
            key,
            last: 0,
        }
    }

    fn code(&self, step: u64) -> String {
        hotp(&self.key, step, 6)
    }

    /// The code of the earliest step the Worker must still accept: after the last accepted
    /// one, and at most t+1 (t itself when it is free, so one crossing of a step boundary
    /// keeps it within the skew). Waits for the next step when t+1 is already spent.
    fn next(&mut self) -> (u64, String) {
        loop {
            let now = now_step();
            let step = (self.last + 1).max(now);
            if step <= now + 1 {
                self.last = step;
                return (step, self.code(step));
            }
            let left = 30.0 - now_seconds() % 30.0;
            std::thread::sleep(Duration::from_secs_f64(left + 0.2));
        }
    }

    fn next_code(&mut self) -> String {
        self.next().1
    }

    /// The code `next` would hand out, without spending its step.
    fn peek(&self) -> String {
        let step = (self.last + 1).max(now_step());
        self.code(step)
    }

    /// A six-digit code that is none of the codes of steps t−2 … t+2.
    fn wrong_code(&self) -> String {
        let now = now_step();
        let valid: Vec<String> = (now - 2..=now + 2).map(|s| self.code(s)).collect();
        (0..)
            .map(|i: u32| format!("{:06}", (i * 104_729 + 271_828) % 1_000_000))
            .find(|c| !valid.contains(c))
            .unwrap()
    }
}

/// RFC 6238 appendix B, the SHA1 rows (8 digits, key "12345678901234567890"), through the
/// base32 form an authenticator app would be given; and the 6-digit truncation of RFC 4226
/// appendix D.
pub fn the_totp_generator_meets_rfc_6238s_vectors() {
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let key = base32_decode(secret).unwrap();
    assert_eq!(key, b"12345678901234567890");
    for (time, expected) in [
        (59u64, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(hotp(&key, time / 30, 8), expected, "T = {time}");
    }
    let rfc4226 = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489",
    ];
    for (counter, expected) in rfc4226.iter().enumerate() {
        assert_eq!(hotp(&key, counter as u64, 6), *expected, "counter {counter}");
    }
    let totp = Totp::new(secret);
    assert_eq!(totp.code(1), "287082");
    assert_eq!(base32_decode("MZXW6YTBOI======").unwrap(), b"foobar");
    assert_eq!(base32_decode("MZXW6YQ").unwrap(), b"foob");
    assert!(base32_decode("mzxw6").is_none() && base32_decode("MZ1W").is_none());
}

// ---------------------------------------------------------------------------------------
// Requests.

fn post(app: &TestApp, route: &str, access: Option<&str>, body: &Value) -> Answer {
    post_as(app, route, access, body, &[])
}

fn post_as(app: &TestApp, route: &str, access: Option<&str>, body: &Value, extra: &[(&str, &str)]) -> Answer {
    let authorization = access.map(|a| format!("Bearer {a}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(value) = &authorization {
        headers.push(("Authorization", value));
    }
    headers.extend_from_slice(extra);
    app.request("POST", &app.auth(route), &headers, Some(body.to_string().as_bytes()))
}

fn enroll(app: &TestApp, access: &str) -> Answer {
    post(
        app,
        "mfa/totp/enroll",
        Some(access),
        &json!({ "current_password": PASSWORD }),
    )
}

fn confirm(app: &TestApp, access: &str, code: &str) -> Answer {
    post(app, "mfa/totp/confirm", Some(access), &json!({ "code": code }))
}

fn disable(app: &TestApp, access: &str, factor: Value) -> Answer {
    let mut body = json!({ "current_password": PASSWORD });
    body.as_object_mut()
        .unwrap()
        .extend(factor.as_object().unwrap().clone());
    post(app, "mfa/totp/disable", Some(access), &body)
}

fn regenerate(app: &TestApp, access: &str, code: &str) -> Answer {
    post(
        app,
        "mfa/recovery-codes",
        Some(access),
        &json!({ "current_password": PASSWORD, "code": code }),
    )
}

fn verify(app: &TestApp, body: &Value) -> Answer {
    post(app, "mfa/verify", None, body)
}

fn verify_code(app: &TestApp, token: &str, code: &str) -> Answer {
    verify(app, &json!({ "mfa_token": token, "code": code }))
}

fn verify_recovery(app: &TestApp, token: &str, recovery_code: &str) -> Answer {
    verify(app, &json!({ "mfa_token": token, "recovery_code": recovery_code }))
}

fn me_json(app: &TestApp, access: &str) -> Value {
    let answer = app.me(access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

fn refresh(app: &TestApp, token: &str) -> Answer {
    post(app, "token/refresh", None, &json!({ "refresh_token": token }))
}

fn login_form(app: &TestApp, email: &str, password: &str) -> Answer {
    let form = format!(
        "username={}&password={}",
        email.replace('+', "%2B").replace('@', "%40"),
        password.replace(' ', "+")
    );
    app.request(
        "POST",
        &app.auth("login"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(form.as_bytes()),
    )
}

fn keys(body: &Value) -> BTreeSet<String> {
    body.as_object()
        .unwrap_or_else(|| panic!("not an object: {body}"))
        .keys()
        .cloned()
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn set_cookies(answer: &Answer) -> Vec<(String, String)> {
    answer
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, header)| {
            let first = header.split(';').next().unwrap().trim();
            let (name, value) = first.split_once('=').expect("name=value");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Answers.

/// A login response (sessions.md §1): the body's pair and user, both cookies with the
/// body's tokens.
struct Session {
    access: String,
    refresh: String,
    user: Value,
}

fn assert_login_response(answer: &Answer, mfa_enabled: bool) -> Session {
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    assert_eq!(
        keys(&body),
        set(&[
            "access_token",
            "token_type",
            "expires_in",
            "refresh_token",
            "refresh_expires_in",
            "user"
        ]),
        "a login response: {body}"
    );
    assert_eq!(body["token_type"], "bearer");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let mut cookies = set_cookies(answer);
    cookies.sort();
    assert_eq!(
        cookies,
        vec![
            ("access_token".to_owned(), access.clone()),
            ("refresh_token".to_owned(), refresh.clone())
        ],
        "both cookies carry the body's tokens"
    );
    let user = body["user"].clone();
    assert_eq!(user["mfa_enabled"], mfa_enabled, "{user}");
    Session { access, refresh, user }
}

/// The MFA challenge: 200 `{mfa_required: true, mfa_token, methods, expires_in}` and
/// nothing else: no token, no cookie. Answers the `mfa_token`.
fn assert_challenge(answer: &Answer, expires_in: i64, methods: &[&str]) -> String {
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    assert_eq!(
        keys(&body),
        set(&["mfa_required", "mfa_token", "methods", "expires_in"]),
        "the MFA challenge and nothing else (no access_token): {body}"
    );
    assert_eq!(body["mfa_required"], true, "{body}");
    assert_eq!(body["expires_in"], expires_in, "{body}");
    let listed: Vec<&str> = body["methods"]
        .as_array()
        .unwrap_or_else(|| panic!("methods is an array: {body}"))
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(
        listed.iter().copied().collect::<BTreeSet<_>>().len(),
        listed.len(),
        "{body}"
    );
    assert_eq!(
        listed.iter().map(|m| (*m).to_owned()).collect::<BTreeSet<_>>(),
        set(methods),
        "{body}"
    );
    assert!(
        !answer.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("set-cookie")),
        "a challenge sets no cookie: {:?}",
        answer.headers
    );
    let token = body["mfa_token"].as_str().expect("mfa_token is a string").to_owned();
    assert!(
        token.len() >= 22 && token.len() <= 512 && token.bytes().all(|b| b.is_ascii_graphic()),
        "at least 128 random bits, printable: {token:?}"
    );
    token
}

/// A login (JSON) of a 2FA account with both methods: its `mfa_token`.
fn challenge(app: &TestApp, email: &str) -> String {
    assert_challenge(
        &app.login(email, PASSWORD),
        MFA_TOKEN_SECONDS,
        &["totp", "recovery_code"],
    )
}

/// The `recovery_codes` of a confirm or regeneration answer: 10 distinct `xxxxx-xxxxx` of
/// lower-case Crockford base32, and nothing else in the body.
fn assert_recovery_codes(answer: &Answer) -> Vec<String> {
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    assert_eq!(keys(&body), set(&["recovery_codes"]), "{body}");
    let codes: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().expect("strings").to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{body}");
    assert_eq!(codes.iter().collect::<BTreeSet<_>>().len(), 10, "distinct: {body}");
    const CROCKFORD: &str = "0123456789abcdefghjkmnpqrstvwxyz";
    for code in &codes {
        let b = code.as_bytes();
        let shaped =
            b.len() == 11 && b[5] == b'-' && code.chars().enumerate().all(|(i, c)| i == 5 || CROCKFORD.contains(c));
        assert!(shaped, "xxxxx-xxxxx of lower-case Crockford base32: {code:?}");
    }
    codes
}

/// The auth methods of the session of `access`, as the session list shows them.
fn auth_methods(app: &TestApp, access: &str) -> Value {
    let answer = app.get_with_token(&app.auth("sessions"), access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let items = answer.json()["items"].as_array().unwrap().clone();
    let current: Vec<&Value> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{items:?}");
    current[0]["auth_methods"].clone()
}

fn session_count(app: &TestApp, access: &str) -> usize {
    let answer = app.get_with_token(&app.auth("sessions"), access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["items"].as_array().unwrap().len()
}

// ---------------------------------------------------------------------------------------
// Mails.

/// Waits for `count` mails to `email` after the first `before`, then a little longer:
/// exactly `count` new ones.
fn new_mails(app: &TestApp, email: &str, before: usize, count: usize) -> Vec<SentMail> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.sendgrid.mails_to(email).len() < before + count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(25));
    }
    std::thread::sleep(Duration::from_millis(700));
    let mails = app.sendgrid.mails_to(email);
    let fresh = mails[before.min(mails.len())..].to_vec();
    assert_eq!(
        fresh.len(),
        count,
        "new mails to {email}: {:#?}",
        fresh.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    fresh
}

fn mail_count(app: &TestApp, email: &str) -> usize {
    app.sendgrid.mails_to(email).len()
}

/// Whether `number` stands in `text` as a number of its own (not part of a longer one).
fn mentions_number(text: &str, number: usize) -> bool {
    let wanted = number.to_string();
    text.split(|c: char| !c.is_ascii_digit()).any(|w| w == wanted)
}

// ---------------------------------------------------------------------------------------
// Reading the QR code of `qr_svg`: its dark shapes (rects and paths of straight lines)
// sampled at each module's centre, the grid decoded by `rqrr`.

/// A dark shape of the SVG: closed polygons (a rect is one), filled with the nonzero rule
/// unless `evenodd`.
struct Shape {
    polygons: Vec<Vec<(f64, f64)>>,
    even_odd: bool,
}

/// The value of attribute `name` in the start tag `tag`, if any.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(found) = tag[from..].find(name) {
        let at = from + found;
        from = at + name.len();
        let before = tag[..at].chars().last();
        if !before.is_some_and(char::is_whitespace) {
            continue;
        }
        let rest = tag[from..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else { continue };
        let rest = rest.trim_start();
        let quote = rest.chars().next()?;
        if quote != '"' && quote != '\'' {
            continue;
        }
        let value = &rest[1..];
        return value.find(quote).map(|end| &value[..end]);
    }
    None
}

/// Whether a shape with this start tag paints dark: its fill (attribute or style) is not
/// none, transparent or white. Inherited fills are taken as black, as SVG's default.
fn paints_dark(tag: &str) -> bool {
    let style_fill = attribute(tag, "style").and_then(|style| {
        style
            .split(';')
            .filter_map(|d| d.split_once(':'))
            .find(|(k, _)| k.trim() == "fill")
            .map(|(_, v)| v.trim().to_owned())
    });
    let fill = style_fill
        .or_else(|| attribute(tag, "fill").map(str::to_owned))
        .unwrap_or_else(|| "#000".to_owned())
        .to_ascii_lowercase();
    !matches!(
        fill.as_str(),
        "none" | "transparent" | "white" | "#fff" | "#ffffff" | "#ffff" | "#ffffffff" | "rgb(255,255,255)"
    )
}

fn number(text: &str) -> f64 {
    text.trim()
        .trim_end_matches("px")
        .parse()
        .unwrap_or_else(|_| panic!("a number: {text:?}"))
}

/// The polygons of a path of straight lines (M, L, H, V, Z in either case).
fn path_polygons(d: &str) -> Vec<Vec<(f64, f64)>> {
    // Tokens: command letters and numbers.
    let mut tokens: Vec<String> = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, tokens: &mut Vec<String>| {
        if !current.is_empty() {
            tokens.push(std::mem::take(current));
        }
    };
    for c in d.chars() {
        match c {
            'M' | 'm' | 'L' | 'l' | 'H' | 'h' | 'V' | 'v' | 'Z' | 'z' => {
                flush(&mut current, &mut tokens);
                tokens.push(c.to_string());
            }
            'C' | 'c' | 'S' | 's' | 'Q' | 'q' | 'T' | 't' | 'A' | 'a' => panic!("a curve in the QR path: {c}"),
            '-' if !current.is_empty() && !current.ends_with(['e', 'E']) => {
                flush(&mut current, &mut tokens);
                current.push(c);
            }
            '.' if current.contains('.') => {
                flush(&mut current, &mut tokens);
                current.push(c);
            }
            ',' | ' ' | '\n' | '\t' | '\r' => flush(&mut current, &mut tokens),
            _ => current.push(c),
        }
    }
    flush(&mut current, &mut tokens);
    let mut polygons: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut polygon: Vec<(f64, f64)> = Vec::new();
    let (mut x, mut y, mut start) = (0.0, 0.0, (0.0, 0.0));
    let mut command = 'M';
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        if token.len() == 1 && token.chars().next().unwrap().is_ascii_alphabetic() {
            command = token.chars().next().unwrap();
            i += 1;
            if command == 'Z' || command == 'z' {
                if polygon.len() > 2 {
                    polygons.push(std::mem::take(&mut polygon));
                }
                polygon.clear();
                (x, y) = start;
            }
            continue;
        }
        let value = |k: usize| number(&tokens[i + k]);
        match command {
            'M' | 'm' => {
                if polygon.len() > 2 {
                    polygons.push(std::mem::take(&mut polygon));
                }
                polygon.clear();
                let (nx, ny) = if command == 'M' {
                    (value(0), value(1))
                } else {
                    (x + value(0), y + value(1))
                };
                (x, y) = (nx, ny);
                start = (x, y);
                polygon.push((x, y));
                // Further pairs after a moveto are linetos.
                command = if command == 'M' { 'L' } else { 'l' };
                i += 2;
            }
            'L' => {
                (x, y) = (value(0), value(1));
                polygon.push((x, y));
                i += 2;
            }
            'l' => {
                (x, y) = (x + value(0), y + value(1));
                polygon.push((x, y));
                i += 2;
            }
            'H' => {
                x = value(0);
                polygon.push((x, y));
                i += 1;
            }
            'h' => {
                x += value(0);
                polygon.push((x, y));
                i += 1;
            }
            'V' => {
                y = value(0);
                polygon.push((x, y));
                i += 1;
            }
            'v' => {
                y += value(0);
                polygon.push((x, y));
                i += 1;
            }
            other => panic!("path command {other} with arguments"),
        }
    }
    if polygon.len() > 2 {
        polygons.push(polygon);
    }
    polygons
}

/// The dark shapes of an SVG: its `<rect>`s and `<path>`s that paint dark.
fn dark_shapes(svg: &str) -> Vec<Shape> {
    let mut shapes = Vec::new();
    for (at, _) in svg.match_indices('<') {
        let tag = &svg[at..at + svg[at..].find('>').unwrap_or(svg.len() - at)];
        let name: String = tag[1..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        if !paints_dark(tag) {
            continue;
        }
        let even_odd = attribute(tag, "fill-rule") == Some("evenodd");
        match name.as_str() {
            "rect" => {
                let get = |n: &str| attribute(tag, n).map(number).unwrap_or(0.0);
                let (x, y, w, h) = (get("x"), get("y"), get("width"), get("height"));
                assert!(
                    !attribute(tag, "width").unwrap_or("").ends_with('%'),
                    "a dark rect of a relative size: {tag}"
                );
                shapes.push(Shape {
                    polygons: vec![vec![(x, y), (x + w, y), (x + w, y + h), (x, y + h)]],
                    even_odd,
                });
            }
            "path" => shapes.push(Shape {
                polygons: path_polygons(attribute(tag, "d").unwrap_or_default()),
                even_odd,
            }),
            _ => {}
        }
    }
    shapes
}

/// The winding number of the polygon around `(px, py)`.
fn winding(polygon: &[(f64, f64)], px: f64, py: f64) -> i32 {
    let mut winding = 0;
    for i in 0..polygon.len() {
        let (x0, y0) = polygon[i];
        let (x1, y1) = polygon[(i + 1) % polygon.len()];
        let cross = (x1 - x0) * (py - y0) - (px - x0) * (y1 - y0);
        if y0 <= py && y1 > py && cross > 0.0 {
            winding += 1;
        } else if y0 > py && y1 <= py && cross < 0.0 {
            winding -= 1;
        }
    }
    winding
}

fn is_dark(shapes: &[Shape], px: f64, py: f64) -> bool {
    shapes.iter().any(|shape| {
        let windings: Vec<i32> = shape.polygons.iter().map(|p| winding(p, px, py)).collect();
        if shape.even_odd {
            windings.iter().map(|w| w.abs()).sum::<i32>() % 2 == 1
        } else {
            windings.iter().sum::<i32>() != 0
        }
    })
}

struct ModuleGrid {
    size: usize,
    dark: Vec<bool>,
}

impl rqrr::BitGrid for ModuleGrid {
    fn size(&self) -> usize {
        self.size
    }

    fn bit(&self, y: usize, x: usize) -> bool {
        self.dark[y * self.size + x]
    }
}

/// The module grid an SVG draws: the dark area's bounding box is the symbol (its finder
/// patterns sit in three corners), the smallest step between edges one module.
fn module_grid(svg: &str) -> ModuleGrid {
    let shapes = dark_shapes(svg);
    let points: Vec<(f64, f64)> = shapes
        .iter()
        .flat_map(|s| s.polygons.iter().flatten().copied())
        .collect();
    assert!(!points.is_empty(), "no dark shape in qr_svg");
    let left = points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let right = points.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let top = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let bottom = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let mut xs: Vec<f64> = points.iter().map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    let epsilon = (right - left) / 10_000.0;
    let module = xs
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|gap| *gap > epsilon)
        .fold(f64::INFINITY, f64::min);
    let size = ((right - left) / module).round() as usize;
    assert!(
        (21..=177).contains(&size) && (size - 17).is_multiple_of(4),
        "not a QR symbol's size: {size} modules ({left}..{right}, module {module})"
    );
    assert!(((bottom - top) / module - size as f64).abs() < 0.01, "a square symbol");
    let mut dark = Vec::with_capacity(size * size);
    for y in 0..size {
        for x in 0..size {
            dark.push(is_dark(
                &shapes,
                left + (x as f64 + 0.5) * module,
                top + (y as f64 + 0.5) * module,
            ));
        }
    }
    ModuleGrid { size, dark }
}

/// The QR code of `svg`, decoded: its text and its error correction level (0 is M, in the
/// order of the format bits: M, L, H, Q).
fn read_qr(svg: &str) -> (String, u16) {
    let grid = rqrr::Grid::new(module_grid(svg));
    let (meta, text) = grid
        .decode()
        .unwrap_or_else(|e| panic!("qr_svg is no readable QR code: {e:?}"));
    (text, meta.ecc_level)
}

const ECC_M: u16 = 0;

/// The reader above, on QR codes made here (error correction M, not boosted): drawn as one
/// rect per module, and as one path of unit squares offset by a quiet zone and scaled.
pub fn the_qr_reader_reads_what_it_should() {
    use qrcodegen::{QrCode, QrCodeEcc, QrSegment, Version};
    let text = "otpauth://totp/Auth%20System:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Auth%20System&algorithm=SHA1&digits=6&period=30";
    let segments = QrSegment::make_segments(text);
    for (ecl, level) in [
        (QrCodeEcc::Medium, 0u16),
        (QrCodeEcc::Low, 1),
        (QrCodeEcc::High, 2),
        (QrCodeEcc::Quartile, 3),
    ] {
        let code = QrCode::encode_segments_advanced(&segments, ecl, Version::MIN, Version::MAX, None, false).unwrap();
        let n = code.size();
        let mut rects = String::from(
            r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100"><rect width="100%" height="100%" fill="#fff"/>"##,
        );
        let mut path = String::new();
        for y in 0..n {
            for x in 0..n {
                if code.get_module(x, y) {
                    rects.push_str(&format!(r#"<rect x="{x}" y="{y}" width="1" height="1" fill="black"/>"#));
                    path.push_str(&format!(
                        "M{},{}h2.5v2.5h-2.5z",
                        10.0 + 2.5 * x as f64,
                        10.0 + 2.5 * y as f64
                    ));
                }
            }
        }
        rects.push_str("</svg>");
        let path = format!(
            r##"<svg viewBox="0 0 200 200"><rect x="0" y="0" width="200" height="200" fill="#FFFFFF"/><path fill="#000000" d="{path}"/></svg>"##
        );
        assert_eq!(read_qr(&rects), (text.to_owned(), level));
        assert_eq!(read_qr(&path), (text.to_owned(), level));
    }
}

// ---------------------------------------------------------------------------------------
// Accounts.

/// A verified account with 2FA on: its first login's session (from before 2FA), its
/// factor, and its first recovery codes.
struct Account {
    email: String,
    access: String,
    refresh: String,
    totp: Totp,
    codes: Vec<String>,
}

/// Registers, logs in, enrolls and confirms. The confirmation sends the previous step's
/// code (t−1 is within the skew), so t and t+1 are still free for the test.
fn enrolled(app: &TestApp, tag: &str) -> Account {
    let email = app.verified_user(tag);
    let login = app.login(&email, PASSWORD);
    assert_eq!(login.status, 200, "{}", login.body);
    let access = login.json()["access_token"].as_str().unwrap().to_owned();
    let refresh = login.json()["refresh_token"].as_str().unwrap_or_default().to_owned();
    let answer = enroll(app, &access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut totp = Totp::new(answer.json()["secret"].as_str().unwrap());
    let mails = mail_count(app, &email);
    let codes = confirm_at_the_previous_step(app, &access, &mut totp);
    // The `mfa_enabled` mail is in before the test counts mails of its own.
    app.sendgrid.wait_for_mails(&email, mails + 1);
    Account {
        email,
        access,
        refresh,
        totp,
        codes,
    }
}

/// Confirms the pending enrollment with the code of step t−1 (within the skew), once at
/// least 3 s of step t are left: t and t+1 stay free for what follows.
fn confirm_at_the_previous_step(app: &TestApp, access: &str, totp: &mut Totp) -> Vec<String> {
    leave_time(3.0);
    let step = now_step() - 1;
    let codes = assert_recovery_codes(&confirm(app, access, &totp.code(step)));
    totp.last = step;
    codes
}

// ---------------------------------------------------------------------------------------
// Enrollment.

/// `otpauth://totp/<label>?<query>`: the raw label and the raw query parameters, in order.
fn otpauth_parts(uri: &str) -> (String, Vec<(String, String)>) {
    let rest = uri
        .strip_prefix("otpauth://totp/")
        .unwrap_or_else(|| panic!("otpauth://totp/...: {uri}"));
    let (label, query) = rest.split_once('?').unwrap_or_else(|| panic!("a query: {uri}"));
    let params = query
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or_else(|| panic!("name=value: {p} in {uri}"));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (label.to_owned(), params)
}

/// RFC 3986 percent-encoding of a component: everything but the unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Checks `otpauth_uri` exactly: `otpauth://totp/<APP_NAME>:<email>?secret=<secret>&issuer=
/// <APP_NAME>&algorithm=SHA1&digits=6&period=30`, label and issuer percent-encoded (an `@`
/// may stay as it is in the label, as the Key URI format's examples write it).
fn assert_otpauth_uri(uri: &str, app_name: &str, email: &str, secret: &str) {
    let (label, params) = otpauth_parts(uri);
    let strict = format!("{}:{}", percent_encode(app_name), percent_encode(email));
    let at_kept = strict.replace("%40", "@");
    assert!(
        label == strict || label == at_kept,
        "label {label:?}: expected {strict:?} (percent-encoded, RFC 3986)"
    );
    let expected: Vec<(String, String)> = [
        ("secret", secret.to_owned()),
        ("issuer", percent_encode(app_name)),
        ("algorithm", "SHA1".to_owned()),
        ("digits", "6".to_owned()),
        ("period", "30".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut sorted = params.clone();
    sorted.sort();
    let mut wanted = expected.clone();
    wanted.sort();
    assert_eq!(sorted, wanted, "the parameters of {uri}");
    assert_eq!(params, expected, "in the contract's order: {uri}");
}

/// `qr_svg`: an SVG document from its first byte (no XML prolog), with no script, no
/// event handler and no reference outside itself.
fn assert_safe_svg(svg: &str) {
    assert!(
        svg.starts_with("<svg"),
        "starts with <svg: {:?}",
        &svg[..svg.len().min(80)]
    );
    assert!(svg.trim_end().ends_with("</svg>"), "one whole SVG element");
    let lower = svg.to_ascii_lowercase();
    for banned in [
        "<script",
        "<foreignobject",
        "<image",
        "<iframe",
        "<object",
        "<embed",
        "javascript:",
        "url(",
        "@import",
        "<!entity",
        "<!doctype",
        "<?xml",
    ] {
        assert!(!lower.contains(banned), "qr_svg contains {banned:?}");
    }
    // Namespace declarations name URLs without referring to them: take them out first.
    let mut rest = lower.clone();
    for name in ["xmlns", "xmlns:xlink", "xmlns:svg"] {
        for url in ["http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"] {
            rest = rest
                .replace(&format!("{name}=\"{url}\""), "")
                .replace(&format!("{name}='{url}'"), "");
        }
    }
    assert!(
        !rest.contains("http") && !rest.contains("//"),
        "an external reference in qr_svg"
    );
    for (at, _) in rest.match_indices("href") {
        let value = rest[at + 4..].trim_start_matches(['=', '"', '\'', ' ']);
        assert!(
            value.starts_with('#'),
            "only references within the SVG: {}",
            &rest[at..(at + 40).min(rest.len())]
        );
    }
    // No event handler attribute (` onload=`, ` onclick=` ...).
    let bytes = rest.as_bytes();
    for (at, _) in rest.match_indices(" on") {
        let name: String = bytes[at + 1..]
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .map(|b| *b as char)
            .collect();
        let after = rest[at + 1 + name.len()..].trim_start();
        assert!(!after.starts_with('='), "an event handler attribute {name} in qr_svg");
    }
    assert!(
        lower.contains("<rect") || lower.contains("<path"),
        "the modules of a QR code"
    );
}

/// enroll → 200 with a 32-character base32 secret, the exact `otpauth_uri` (an email with
/// `+`, which must be encoded) and a safe `qr_svg`; a pending enrollment is not 2FA (the
/// user object and a login say so); confirm with a computed code → 10 distinct recovery
/// codes, `mfa_enabled` true, one `mfa_enabled` mail, the other session still alive;
/// enroll and confirm again → 409 `mfa_already_enabled`.
pub fn enroll_and_confirm_turn_2fa_on() {
    let app = spawn_app();
    let email = app.verified_user("mfa+enroll");
    let other = app.login(&email, PASSWORD);
    let other_access = other.json()["access_token"].as_str().unwrap().to_owned();
    let login = app.login(&email, PASSWORD);
    let access = login.json()["access_token"].as_str().unwrap().to_owned();
    let app_name = app.get("/").json()["name"].as_str().unwrap().to_owned();

    let answer = enroll(app, &access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.header("cache-control"),
        Some("no-store"),
        "the secret is never cached"
    );
    let body = answer.json();
    assert_eq!(keys(&body), set(&["secret", "otpauth_uri", "qr_svg"]), "{body}");
    let secret = body["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "{secret}");
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
        "upper-case base32 without padding: {secret}"
    );
    let mut totp = Totp::new(secret);
    assert_otpauth_uri(body["otpauth_uri"].as_str().unwrap(), &app_name, &email, secret);
    let svg = body["qr_svg"].as_str().expect("qr_svg is a string");
    assert_safe_svg(svg);
    let (text, ecc) = read_qr(svg);
    assert_eq!(
        text,
        body["otpauth_uri"].as_str().unwrap(),
        "the QR code holds exactly otpauth_uri"
    );
    assert_eq!(ecc, ECC_M, "error correction M (format bits: M 0, L 1, H 2, Q 3)");

    assert_eq!(
        me_json(app, &access)["mfa_enabled"],
        false,
        "a pending enrollment is not 2FA"
    );
    assert_login_response(&app.login(&email, PASSWORD), false);

    let mails = mail_count(app, &email);
    let confirmed = confirm(app, &access, &totp.next_code());
    assert_eq!(
        confirmed.header("cache-control"),
        Some("no-store"),
        "recovery codes are never cached"
    );
    let codes = assert_recovery_codes(&confirmed);
    assert!(!codes.iter().any(|c| c.contains(&secret.to_ascii_lowercase())));
    let user = me_json(app, &access);
    assert_eq!(user["mfa_enabled"], true, "{user}");
    assert_eq!(
        user["sign_in_methods"],
        json!(["password"]),
        "TOTP is no sign-in method: {user}"
    );
    let mail = new_mails(app, &email, mails, 1).remove(0);
    assert!(
        mail.subject.starts_with(MFA_ENABLED),
        "the mfa_enabled mail: {}",
        mail.subject
    );
    assert!(
        !mail.text.contains(secret) && !codes.iter().any(|c| mail.text.contains(c.as_str())),
        "{}",
        mail.text
    );
    assert_eq!(app.me(&other_access).status, 200, "other sessions stay");

    enroll(app, &access).assert_problem(409, "mfa_already_enabled");
    confirm(app, &access, &totp.code(now_step())).assert_problem(409, "mfa_already_enabled");
    assert_eq!(me_json(app, &access)["mfa_enabled"], true);
}

/// On an instance whose `APP_NAME` holds a space, `&` and `+`: the label and the issuer
/// encode them (`%20`, `%26`, `%2B`), never as `+` or raw.
pub fn the_otpauth_uri_percent_encodes_the_app_name() {
    let app = short_app();
    assert_eq!(app.get("/").json()["name"], SHORT_APP_NAME, "the instance's APP_NAME");
    let email = app.verified_user("mfa+name");
    let login = app.login(&email, PASSWORD);
    let access = login.json()["access_token"].as_str().unwrap().to_owned();
    let answer = enroll(app, &access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    let uri = body["otpauth_uri"].as_str().unwrap();
    assert_otpauth_uri(uri, SHORT_APP_NAME, &email, body["secret"].as_str().unwrap());
    assert!(uri.contains("issuer=Edge%20Auth%20%26%20Co%2B&"), "{uri}");
}

/// enroll is a reauth route: without `current_password` 403 `current_password_required`,
/// a wrong one 401 `invalid_credentials` (a recent login is not enough for a user with a
/// password); no access token 401 `not_authenticated`, a bad one 401 `invalid_token`; the
/// other MFA routes of a user likewise need a token.
pub fn enroll_needs_reauthentication() {
    let app = spawn_app();
    let (_, access) = app.logged_in_user("mfa-reauth");
    post(app, "mfa/totp/enroll", Some(&access), &json!({})).assert_problem(403, "current_password_required");
    post(
        app,
        "mfa/totp/enroll",
        Some(&access),
        &json!({ "current_password": "not the password at all" }),
    )
    .assert_problem(401, "invalid_credentials");
    for (route, body) in [
        ("mfa/totp/enroll", json!({ "current_password": PASSWORD })),
        ("mfa/totp/confirm", json!({ "code": "123456" })),
        (
            "mfa/totp/disable",
            json!({ "current_password": PASSWORD, "code": "123456" }),
        ),
        (
            "mfa/recovery-codes",
            json!({ "current_password": PASSWORD, "code": "123456" }),
        ),
    ] {
        post(app, route, None, &body).assert_problem(401, "not_authenticated");
        post(app, route, Some("not.a.token"), &body).assert_problem(401, "invalid_token");
    }
    let answer = enroll(app, &access);
    assert_eq!(answer.status, 200, "{}", answer.body);
}

/// Without 2FA on: confirm without an enrollment 409 `mfa_enrollment_missing`, disable and
/// recovery-codes 409 `mfa_not_enabled`; a login is a login response.
pub fn routes_of_2fa_refuse_an_account_without_it() {
    let app = spawn_app();
    let (email, access) = app.logged_in_user("mfa-off");
    confirm(app, &access, "123456").assert_problem(409, "mfa_enrollment_missing");
    disable(app, &access, json!({ "code": "123456" })).assert_problem(409, "mfa_not_enabled");
    disable(app, &access, json!({ "recovery_code": "abcde-fghjk" })).assert_problem(409, "mfa_not_enabled");
    regenerate(app, &access, "123456").assert_problem(409, "mfa_not_enabled");
    assert_login_response(&app.login(&email, PASSWORD), false);
}

/// confirm: a wrong code 400 `invalid_code` five times, then the enrollment is gone (the
/// right code: 409 `mfa_enrollment_missing`, 2FA still off); malformed codes 422 whatever
/// the state; a new enrollment confirms.
pub fn confirm_forgets_the_enrollment_after_five_wrong_codes() {
    let app = spawn_app();
    let (email, access) = app.logged_in_user("mfa-confirm");
    let answer = enroll(app, &access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let totp = Totp::new(answer.json()["secret"].as_str().unwrap());
    for attempt in 1..=5 {
        let answer = confirm(app, &access, &totp.wrong_code());
        assert_eq!(answer.status, 400, "wrong code {attempt}: {}", answer.body);
        answer.assert_problem(400, "invalid_code");
    }
    confirm(app, &access, &totp.code(now_step())).assert_problem(409, "mfa_enrollment_missing");
    for code in [json!("12345"), json!("1234567"), json!("abcdef"), json!(123456)] {
        let answer = post(app, "mfa/totp/confirm", Some(&access), &json!({ "code": code }));
        assert_eq!(answer.status, 422, "code {code}: {}", answer.body);
        answer.assert_problem(422, "validation_error");
    }
    post(app, "mfa/totp/confirm", Some(&access), &json!({})).assert_problem(422, "validation_error");
    assert_eq!(me_json(app, &access)["mfa_enabled"], false);
    assert_login_response(&app.login(&email, PASSWORD), false);

    let again = enroll(app, &access);
    assert_eq!(again.status, 200, "{}", again.body);
    let mut fresh = Totp::new(again.json()["secret"].as_str().unwrap());
    assert_ne!(fresh.secret, totp.secret);
    assert_recovery_codes(&confirm(app, &access, &fresh.next_code()));
}

/// A second enroll replaces the pending secret: the first secret's code is 400
/// `invalid_code`, the second's confirms.
pub fn enrolling_again_replaces_the_pending_secret() {
    let app = spawn_app();
    let (_, access) = app.logged_in_user("mfa-reenroll");
    let first = enroll(app, &access);
    assert_eq!(first.status, 200, "{}", first.body);
    let first = first.json();
    let second = enroll(app, &access);
    assert_eq!(second.status, 200, "{}", second.body);
    let second = second.json();
    assert_ne!(first["secret"], second["secret"]);
    assert_ne!(first["otpauth_uri"], second["otpauth_uri"]);
    let old = Totp::new(first["secret"].as_str().unwrap());
    let mut new = Totp::new(second["secret"].as_str().unwrap());
    leave_time(3.0);
    let step = now_step();
    let old_code = old.code(step);
    assert_ne!(old_code, new.code(step), "two secrets agree on this step: run again");
    confirm(app, &access, &old_code).assert_problem(400, "invalid_code");
    assert_recovery_codes(&confirm(app, &access, &new.next_code()));
}

/// An enrollment not confirmed within `MFA_ENROLL_EXPIRE_MINUTES` (12 s here) is gone.
pub fn an_enrollment_expires() {
    let app = short_app();
    let (_, access) = app.logged_in_user("mfa-enroll-expiry");
    let answer = enroll(app, &access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut totp = Totp::new(answer.json()["secret"].as_str().unwrap());
    std::thread::sleep(Duration::from_secs(SHORT_ENROLL_SECONDS + 1));
    confirm(app, &access, &totp.next_code()).assert_problem(409, "mfa_enrollment_missing");
    assert_eq!(me_json(app, &access)["mfa_enabled"], false);
}

// ---------------------------------------------------------------------------------------
// The login challenge and verify.

/// A password login of a 2FA account (JSON and form) answers the challenge: no token, no
/// cookie, no session, no `new_sign_in` mail even from a new device; the `mfa_token` is no
/// access token; a wrong password stays 401 `invalid_credentials`. verify with the current
/// code → the login response (a session `password` + `totp`, the new-device mail now);
/// the same `mfa_token` again → 400 `invalid_mfa_token`.
pub fn a_2fa_login_answers_the_challenge_then_verify_signs_in() {
    let app = spawn_app();
    let mut account = enrolled(app, "mfa-challenge");
    let email = account.email.clone();
    let mails = mail_count(app, &email);

    let chrome = [("User-Agent", CHROME_WINDOWS)];
    let body = json!({ "email": email, "password": PASSWORD });
    let token = assert_challenge(
        &post_as(app, "login", None, &body, &chrome),
        MFA_TOKEN_SECONDS,
        &["totp", "recovery_code"],
    );
    let form_token = assert_challenge(
        &login_form(app, &email, PASSWORD),
        MFA_TOKEN_SECONDS,
        &["totp", "recovery_code"],
    );
    assert_ne!(token, form_token);
    app.login(&email, "not the password at all")
        .assert_problem(401, "invalid_credentials");
    login_form(app, &email, "not the password at all").assert_problem(401, "invalid_credentials");

    app.get(&app.auth("me")).assert_problem(401, "not_authenticated");
    app.get_with_token(&app.auth("me"), &token)
        .assert_problem(401, "invalid_token");
    app.request(
        "GET",
        &app.auth("me"),
        &[("Cookie", &format!("access_token={token}"))],
        None,
    )
    .assert_problem(401, "invalid_token");
    assert_eq!(session_count(app, &account.access), 1, "a challenge opens no session");
    new_mails(app, &email, mails, 0);

    let (_, code) = account.totp.next();
    let session = assert_login_response(
        &post_as(
            app,
            "mfa/verify",
            None,
            &json!({ "mfa_token": token, "code": code }),
            &chrome,
        ),
        true,
    );
    assert_eq!(session.user["email"], email);
    assert_eq!(auth_methods(app, &session.access), json!(["password", "totp"]));
    assert_eq!(session_count(app, &session.access), 2);
    let mail = new_mails(app, &email, mails, 1).remove(0);
    assert!(
        mail.subject.starts_with(NEW_SIGN_IN),
        "the new-device rule applies at the login response: {}",
        mail.subject
    );

    let (_, fresh) = account.totp.next();
    verify_code(app, &token, &fresh).assert_problem(400, "invalid_mfa_token");
    let form_session = assert_login_response(&verify_code(app, &form_token, &fresh), true);
    assert_eq!(auth_methods(app, &form_session.access), json!(["password", "totp"]));
    assert_eq!(
        refresh(app, &form_session.refresh).status,
        200,
        "the verified session refreshes"
    );
}

/// Skew and replay, within one step t: confirm refuses t−2 and t+2 and takes t−1; verify
/// refuses t+2 and t−1 (already spent at confirm) and takes t; disable then refuses t (the
/// code verify accepted, in the same step) and t−1 (an earlier step) and takes t+1.
pub fn codes_are_accepted_within_the_skew_once_and_in_order() {
    let app = spawn_app();
    let email = app.verified_user("mfa-skew");
    let login = app.login(&email, PASSWORD);
    let access = login.json()["access_token"].as_str().unwrap().to_owned();
    // About twelve requests must meet one step.
    leave_time(15.0);
    let t = now_step();
    let answer = enroll(app, &access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let totp = Totp::new(answer.json()["secret"].as_str().unwrap());
    confirm(app, &access, &totp.code(t - 2)).assert_problem(400, "invalid_code");
    confirm(app, &access, &totp.code(t + 2)).assert_problem(400, "invalid_code");
    assert_recovery_codes(&confirm(app, &access, &totp.code(t - 1)));

    let token = challenge(app, &email);
    verify_code(app, &token, &totp.code(t + 2)).assert_problem(401, "invalid_mfa_code");
    verify_code(app, &token, &totp.code(t - 1)).assert_problem(401, "invalid_mfa_code");
    let session = assert_login_response(&verify_code(app, &token, &totp.code(t)), true);
    assert_still_step(t);

    disable(app, &session.access, json!({ "code": totp.code(t) })).assert_problem(401, "invalid_mfa_code");
    disable(app, &session.access, json!({ "code": totp.code(t - 1) })).assert_problem(401, "invalid_mfa_code");
    assert_still_step(t);
    let answer = disable(app, &session.access, json!({ "code": totp.code(t + 1) }));
    assert_eq!(answer.status, 204, "the next step's code: {}", answer.body);
    assert_eq!(me_json(app, &session.access)["mfa_enabled"], false);
}

/// verify takes the previous step's code too (t−1, when no later step was accepted): the
/// account confirmed at step c−1, the clock moves on to c+1, and the code of step c signs
/// in; the code of step c+3 (t+2) is refused before it.
pub fn verify_accepts_the_previous_steps_code() {
    let app = spawn_app();
    let mut account = enrolled(app, "mfa-previous-step");
    let confirmed = account.totp.last;
    // Step c is confirmed + 1; wait for step c + 1.
    while now_step() < confirmed + 2 {
        std::thread::sleep(Duration::from_secs_f64(30.2 - now_seconds() % 30.0));
    }
    leave_time(5.0);
    let t = now_step();
    let token = challenge(app, &account.email);
    verify_code(app, &token, &account.totp.code(t + 2)).assert_problem(401, "invalid_mfa_code");
    let session = assert_login_response(&verify_code(app, &token, &account.totp.code(t - 1)), true);
    assert_still_step(t);
    account.totp.last = t - 1;
    assert_eq!(auth_methods(app, &session.access), json!(["password", "totp"]));
}

/// The confirmation's code is spent: the same code at the first verify (same step) → 401.
pub fn the_code_that_confirmed_does_not_verify() {
    let app = spawn_app();
    let email = app.verified_user("mfa-confirm-replay");
    let login = app.login(&email, PASSWORD);
    let access = login.json()["access_token"].as_str().unwrap().to_owned();
    let answer = enroll(app, &access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut totp = Totp::new(answer.json()["secret"].as_str().unwrap());
    leave_time(5.0);
    let t = now_step();
    assert_recovery_codes(&confirm(app, &access, &totp.code(t)));
    totp.last = t;
    let token = challenge(app, &email);
    verify_code(app, &token, &totp.code(t)).assert_problem(401, "invalid_mfa_code");
    assert_still_step(t);
    assert_login_response(&verify_code(app, &token, &totp.next_code()), true);
}

/// Codes of another secret (a random one, another 2FA user's current code) and another
/// user's recovery code → 401 `invalid_mfa_code`: the `mfa_token` is bound to its user.
pub fn codes_of_another_secret_are_refused() {
    let app = spawn_app();
    let mut account = enrolled(app, "mfa-wrong-secret");
    let mut stranger = enrolled(app, "mfa-stranger");
    let random = Totp::new("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
    let token = challenge(app, &account.email);
    let now = now_step();
    let own: Vec<String> = (now - 1..=now + 1).map(|s| account.totp.code(s)).collect();
    let mut tried = 0;
    // Four wrong factors at most: a fifth would end the token.
    for step in [now, now + 1] {
        let code = random.code(step);
        if own.contains(&code) {
            continue;
        }
        verify_code(app, &token, &code).assert_problem(401, "invalid_mfa_code");
        tried += 1;
    }
    verify_recovery(app, &token, &stranger.codes[0]).assert_problem(401, "invalid_mfa_code");
    let theirs = stranger.totp.next_code();
    if !own.contains(&theirs) {
        verify_code(app, &token, &theirs).assert_problem(401, "invalid_mfa_code");
        tried += 1;
    }
    assert!(tried >= 3);
    // Neither the stranger's code nor their recovery code was spent on another's token.
    assert_login_response(&verify_code(app, &token, &account.totp.next_code()), true);
    // The stranger's code was not spent on the other account's token.
    let their_token = challenge(app, &stranger.email);
    assert_login_response(&verify_code(app, &their_token, &theirs), true);
    let their_token = challenge(app, &stranger.email);
    assert_login_response(&verify_recovery(app, &their_token, &stranger.codes[0]), true);
}

/// Four wrong codes and the right one: 200. Five wrong codes kill the token: the right
/// code then → 400 `invalid_mfa_token`.
pub fn five_wrong_codes_kill_the_mfa_token() {
    let app = spawn_app();
    let mut account = enrolled(app, "mfa-five");
    let lives = challenge(app, &account.email);
    for _ in 0..4 {
        verify_code(app, &lives, &account.totp.wrong_code()).assert_problem(401, "invalid_mfa_code");
    }
    assert_login_response(&verify_code(app, &lives, &account.totp.next_code()), true);

    let dies = challenge(app, &account.email);
    for _ in 0..5 {
        verify_code(app, &dies, &account.totp.wrong_code()).assert_problem(401, "invalid_mfa_code");
    }
    verify_code(app, &dies, &account.totp.next_code()).assert_problem(400, "invalid_mfa_token");
    verify_recovery(app, &dies, &account.codes[0]).assert_problem(400, "invalid_mfa_token");
}

/// 20 concurrent verifies with one token and one valid code: exactly one 200 (one new
/// session), the others 400 `invalid_mfa_token` or 401 `invalid_mfa_code` (or the lockout's
/// 429), never a 5xx.
pub fn twenty_concurrent_verifies_of_one_token_succeed_once() {
    let app = spawn_app();
    let mut account = enrolled(app, "mfa-twenty");
    let token = challenge(app, &account.email);
    let code = account.totp.next_code();
    let answers = at_once(&[(); 20], |_| verify_code(app, &token, &code));
    let winners: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        answers.iter().map(|a| (a.status, &a.body)).collect::<Vec<_>>()
    );
    for answer in answers.iter().filter(|a| a.status != 200) {
        let code = answer.json()["code"].as_str().unwrap_or_default().to_owned();
        assert!(
            matches!(
                (answer.status, code.as_str()),
                (400, "invalid_mfa_token") | (401, "invalid_mfa_code") | (429, "rate_limited")
            ),
            "{} {}",
            answer.status,
            answer.body
        );
    }
    let session = assert_login_response(winners[0], true);
    assert_eq!(
        session_count(app, &session.access),
        2,
        "the first login's session and one more"
    );
}

/// Two different valid recovery codes on one `mfa_token` at once: one signs in, and the
/// other, which signed nobody in, is still unused afterwards (it is not lost to the race).
pub fn a_recovery_code_that_loses_a_race_for_the_token_still_works() {
    let app = spawn_app();
    let account = enrolled(app, "mfa-factor-race");
    let mut codes = account.codes.clone();
    for trial in 0..4 {
        let token = challenge(app, &account.email);
        let (first, second) = (codes.pop().unwrap(), codes.pop().unwrap());
        let answers = at_once(&[&first, &second], |code| verify_recovery(app, &token, code));
        let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "trial {trial}: {:?}",
            answers.iter().map(|a| (a.status, &a.body)).collect::<Vec<_>>()
        );
        let loser = if statuses[0] == 200 { second } else { first };
        let loss = answers.iter().find(|a| a.status != 200).unwrap();
        assert_eq!(
            (loss.status, loss.json()["code"].as_str().unwrap_or_default()),
            (400, "invalid_mfa_token"),
            "trial {trial}: {}",
            loss.body
        );
        let again = verify_recovery(app, &challenge(app, &account.email), &loser);
        assert_eq!(
            again.status, 200,
            "trial {trial}: the losing code still works: {}",
            again.body
        );
    }
}

/// One valid code on five different `mfa_token`s at once: one success, four 401
/// `invalid_mfa_code` (the step is spent atomically).
pub fn one_code_on_several_tokens_at_once_succeeds_once() {
    let app = spawn_app();
    let mut account = enrolled(app, "mfa-race");
    let tokens: Vec<String> = (0..5).map(|_| challenge(app, &account.email)).collect();
    let code = account.totp.next_code();
    let answers = at_once(&tokens, |token| verify_code(app, token, &code));
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    for answer in answers.iter().filter(|a| a.status != 200) {
        answer.assert_problem(401, "invalid_mfa_code");
    }
}

/// One recovery code on five different `mfa_token`s at once: it is consumed atomically,
/// so one sign-in, four 401 `invalid_mfa_code`, one `recovery_code_used` mail.
pub fn one_recovery_code_on_several_tokens_at_once_signs_in_once() {
    let app = spawn_app();
    let account = enrolled(app, "mfa-recovery-race");
    let tokens: Vec<String> = (0..5).map(|_| challenge(app, &account.email)).collect();
    let before = mail_count(app, &account.email);
    let code = &account.codes[3];
    let answers = at_once(&tokens, |token| verify_recovery(app, token, code));
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    for answer in answers.iter().filter(|a| a.status != 200) {
        answer.assert_problem(401, "invalid_mfa_code");
    }
    let mail = new_mails(app, &account.email, before, 1).remove(0);
    assert!(mail.subject.starts_with(RECOVERY_CODE_USED), "{}", mail.subject);
    assert!(mentions_number(&mail.text, 9), "nine left: {}", mail.text);
}

/// `n` concurrent confirms of the account's new enrollment with one valid code: exactly
/// one 200, the others 400 `invalid_code` or 409 (`mfa_already_enabled`,
/// `mfa_enrollment_missing`). Answers the winner's recovery codes and the factor.
fn confirm_concurrently(app: &TestApp, access: &str, n: usize) -> (Vec<String>, Totp) {
    let answer = enroll(app, access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut totp = Totp::new(answer.json()["secret"].as_str().unwrap());
    let code = totp.next_code();
    let answers = at_once(&vec![(); n], |_| confirm(app, access, &code));
    let winners: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        answers.iter().map(|a| (a.status, &a.body)).collect::<Vec<_>>()
    );
    for answer in answers.iter().filter(|a| a.status != 200) {
        let code = answer.json()["code"].as_str().unwrap_or_default().to_owned();
        assert!(
            matches!(
                (answer.status, code.as_str()),
                (400, "invalid_code") | (409, "mfa_already_enabled") | (409, "mfa_enrollment_missing")
            ),
            "{} {}",
            answer.status,
            answer.body
        );
    }
    (assert_recovery_codes(winners[0]), totp)
}

/// Five concurrent confirms with one valid code: 2FA turns on once (one answer with
/// recovery codes, the others refused), one `mfa_enabled` mail, and the factor signs in.
/// (That the winner's recovery codes then work is
/// `concurrent_confirms_keep_the_winners_recovery_codes`.)
pub fn concurrent_confirms_turn_2fa_on_once() {
    let app = spawn_app();
    let (email, access) = app.logged_in_user("mfa-confirm-race");
    let before = mail_count(app, &email);
    let (_, mut totp) = confirm_concurrently(app, &access, 5);
    let mail = new_mails(app, &email, before, 1).remove(0);
    assert!(mail.subject.starts_with(MFA_ENABLED), "{}", mail.subject);
    assert_eq!(me_json(app, &access)["mfa_enabled"], true);
    let token = app.login(&email, PASSWORD).json()["mfa_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_login_response(&verify_code(app, &token, &totp.next_code()), true);
}

/// mfa.md: confirm "returns the first recovery codes", and each works once. After ten
/// concurrent confirms with one valid code, the one 200 answer's codes must be the
/// account's: the challenge lists `recovery_code` and a code signs in. (The Worker lost
/// them about one race in three while a refused confirm's batch still deleted the user's
/// codes; five accounts make such a race show.)
pub fn concurrent_confirms_keep_the_winners_recovery_codes() {
    let app = spawn_app();
    for round in 0..5 {
        let (email, access) = app.logged_in_user("mfa-bug-confirm-race");
        let (codes, _) = confirm_concurrently(app, &access, 10);
        let challenge = app.login(&email, PASSWORD);
        let methods = challenge.json()["methods"].clone();
        assert!(
            methods.as_array().unwrap().contains(&json!("recovery_code")),
            "round {round}: {}",
            challenge.body
        );
        let token = challenge.json()["mfa_token"].as_str().unwrap().to_owned();
        assert_login_response(&verify_recovery(app, &token, &codes[0]), true);
    }
}

/// `code` with spaces is accepted; malformed second factors are 422 `validation_error` and
/// no try of the token: five digits, seven, letters, a number, an empty string, both
/// `code` and `recovery_code`, neither; a missing or non-string `mfa_token`.
pub fn malformed_verify_bodies_are_422_and_spaces_are_ignored() {
    let app = spawn_app();
    let mut account = enrolled(app, "mfa-malformed");
    let token = challenge(app, &account.email);
    let bodies = [
        json!({ "mfa_token": token, "code": "12345" }),
        json!({ "mfa_token": token, "code": "1234567" }),
        json!({ "mfa_token": token, "code": "12a456" }),
        json!({ "mfa_token": token, "code": "abcdef" }),
        json!({ "mfa_token": token, "code": 123456 }),
        json!({ "mfa_token": token, "code": "" }),
        json!({ "mfa_token": token, "code": null }),
        json!({ "mfa_token": token, "code": "12345６" }),
        json!({ "mfa_token": token, "code": "1".repeat(10_000) }),
        json!({ "mfa_token": token, "recovery_code": 1234567890 }),
        json!({ "mfa_token": token, "recovery_code": null }),
        json!({ "mfa_token": token, "code": "123456", "recovery_code": account.codes[0] }),
        json!({ "mfa_token": token }),
        json!({ "code": "123456" }),
        json!({ "mfa_token": 12345, "code": "123456" }),
        json!({ "mfa_token": null, "code": "123456" }),
        json!([token, "123456"]),
    ];
    for body in &bodies {
        let answer = verify(app, body);
        assert_eq!(answer.status, 422, "{body}: {}", answer.body);
        answer.assert_problem(422, "validation_error");
    }
    let raw = |content_type: &str, body: &[u8]| {
        app.request(
            "POST",
            &app.auth("mfa/verify"),
            &[("Content-Type", content_type)],
            Some(body),
        )
    };
    raw("application/json", b"{\"mfa_token\": ").assert_problem(400, "malformed_body");
    raw(
        "text/plain",
        json!({ "mfa_token": token, "code": "123456" }).to_string().as_bytes(),
    )
    .assert_problem(415, "unsupported_media_type");
    let code = account.totp.next_code();
    let spaced = format!(" {} {} ", &code[..3], &code[3..]);
    let session = assert_login_response(&verify_code(app, &token, &spaced), true);
    assert_eq!(auth_methods(app, &session.access), json!(["password", "totp"]));
}

/// Unknown tokens → 400 `invalid_mfa_token` (a random one, an access token, a token of
/// another shape); an oversized or empty one → 400 `invalid_mfa_token` or 422.
pub fn unknown_and_malformed_mfa_tokens_are_refused() {
    let app = spawn_app();
    let mut account = enrolled(app, "mfa-bad-token");
    let code = account.totp.next_code();
    let random = "q8bUk2XGm3T0vJ8dY4x1Lr6cW9nQ0ZsA5pE7hF2jKkM";
    verify_code(app, random, &code).assert_problem(400, "invalid_mfa_token");
    verify_code(app, &format!("{random}x"), &code).assert_problem(400, "invalid_mfa_token");
    for token in [
        account.access.clone(),
        "A".repeat(10_000),
        String::new(),
        "%00\u{0}'\"--".to_owned(),
    ] {
        let answer = verify_code(app, &token, &code);
        let problem = answer.json();
        assert!(
            matches!(
                (answer.status, problem["code"].as_str()),
                (400, Some("invalid_mfa_token")) | (422, Some("validation_error"))
            ),
            "{} chars: {} {}",
            token.len(),
            answer.status,
            answer.body
        );
        answer.assert_problem(answer.status, problem["code"].as_str().unwrap());
    }
    // The code was never spent: a real token takes it.
    let token = challenge(app, &account.email);
    assert_login_response(&verify_code(app, &token, &code), true);
}

/// An `mfa_token` older than `MFA_TOKEN_EXPIRE_SECONDS` (6 s here, and the challenge says
/// so) → 400 `invalid_mfa_token`; a fresh one takes the same code.
pub fn an_mfa_token_expires() {
    let app = short_app();
    let mut account = enrolled(app, "mfa-token-expiry");
    let stale = assert_challenge(
        &app.login(&account.email, PASSWORD),
        SHORT_MFA_TOKEN_SECONDS,
        &["totp", "recovery_code"],
    );
    std::thread::sleep(Duration::from_secs(SHORT_MFA_TOKEN_SECONDS as u64 + 1));
    let code = account.totp.next_code();
    verify_code(app, &stale, &code).assert_problem(400, "invalid_mfa_token");
    let fresh = assert_challenge(
        &app.login(&account.email, PASSWORD),
        SHORT_MFA_TOKEN_SECONDS,
        &["totp", "recovery_code"],
    );
    assert_login_response(&verify_code(app, &fresh, &code), true);
}

/// `RATE_LIMIT_MFA_VERIFY_IP` (5/600 here) comes first: five verifies from one address get
/// their answers (400 for unknown tokens), the sixth 429 `rate_limited` with `Retry-After`,
/// even with a valid token and code; another address is not limited.
pub fn verify_is_limited_per_ip() {
    let app = short_app();
    let mut account = enrolled(app, "mfa-ip-limit");
    let ip = unique_ip();
    let from = |body: &Value, ip: &str| post_as(app, "mfa/verify", None, body, &[("CF-Connecting-IP", ip)]);
    for i in 0..SHORT_VERIFY_IP_BURST {
        let body = json!({ "mfa_token": format!("unknown-token-{i}-aaaaaaaaaaaaaaaaaaaaaa"), "code": "123456" });
        from(&body, &ip).assert_problem(400, "invalid_mfa_token");
    }
    let token = challenge_short(app, &account.email);
    let code = account.totp.next_code();
    let refused = from(&json!({ "mfa_token": token, "code": code }), &ip);
    refused.assert_problem(429, "rate_limited");
    let retry: u64 = refused.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=120).contains(&retry), "one try per 120 s: {retry}");
    assert_login_response(&from(&json!({ "mfa_token": token, "code": code }), &unique_ip()), true);
}

fn challenge_short(app: &TestApp, email: &str) -> String {
    assert_challenge(
        &app.login(email, PASSWORD),
        SHORT_MFA_TOKEN_SECONDS,
        &["totp", "recovery_code"],
    )
}

/// Wrong codes across several tokens meet the account's lockout (3 free attempts here),
/// like wrong passwords: alternating between two tokens, every answer is 401
/// `invalid_mfa_code` until a 429 `rate_limited` with `Retry-After`, met within the free
/// attempts and the one that starts the lockout; then the other token with the right code
/// and a password login → 429 too. (The exact count is
/// `a_right_password_of_a_2fa_account_is_no_failed_login`'s.)
pub fn wrong_codes_across_tokens_reach_the_lockout() {
    let app = short_app();
    let mut account = enrolled(app, "mfa-lockout");
    let tokens = [
        challenge_short(app, &account.email),
        challenge_short(app, &account.email),
    ];
    let mut locked = None;
    for attempt in 0..=SHORT_FREE_ATTEMPTS + 1 {
        let answer = verify_code(app, &tokens[attempt % 2], &account.totp.wrong_code());
        if answer.status == 429 {
            locked = Some((attempt, answer));
            break;
        }
        answer.assert_problem(401, "invalid_mfa_code");
    }
    let (attempt, answer) = locked.unwrap_or_else(|| panic!("{} wrong codes and no lockout", SHORT_FREE_ATTEMPTS + 2));
    answer.assert_problem(429, "rate_limited");
    let retry: u64 = answer.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let other = &tokens[(attempt + 1) % 2];
    let refused = verify_code(app, other, &account.totp.next_code());
    refused.assert_problem(429, "rate_limited");
    assert!(refused.header("retry-after").is_some());
    let login = app.login(&account.email, PASSWORD);
    login.assert_problem(429, "rate_limited");
    assert!(login.header("retry-after").is_some());
}

/// mfa.md: a wrong second factor counts "as a failed login in the lockout", wrong codes
/// reach the lockout "like wrong passwords", and "checks before the challenge stay as they
/// are"; a right password is no failed login. So with 3 free attempts: five logins of a
/// 2FA account with the right password all answer the challenge; 3 wrong codes and then
/// the right one sign in (as 3 wrong passwords and then the right one do); 4 wrong codes
/// answer 401, the 5th attempt 429. (A known bug until `mfa` c8a53a8: the Worker counted
/// each right password of a 2FA account as a failed attempt.)
pub fn a_right_password_of_a_2fa_account_is_no_failed_login() {
    let app = short_app();
    let account = enrolled(app, "mfa-bug-logins");
    let logins: Vec<u16> = (0..=SHORT_FREE_ATTEMPTS + 1)
        .map(|_| app.login(&account.email, PASSWORD).status)
        .collect();
    assert_eq!(
        logins,
        vec![200; SHORT_FREE_ATTEMPTS + 2],
        "right passwords are no failed logins"
    );

    let mut account = enrolled(app, "mfa-bug-codes");
    let token = challenge_short(app, &account.email);
    for _ in 0..SHORT_FREE_ATTEMPTS {
        verify_code(app, &token, &account.totp.wrong_code()).assert_problem(401, "invalid_mfa_code");
    }
    assert_login_response(&verify_code(app, &token, &account.totp.next_code()), true);

    let account = enrolled(app, "mfa-bug-count");
    let tokens = [
        challenge_short(app, &account.email),
        challenge_short(app, &account.email),
    ];
    for attempt in 0..=SHORT_FREE_ATTEMPTS {
        verify_code(app, &tokens[attempt % 2], &account.totp.wrong_code()).assert_problem(401, "invalid_mfa_code");
    }
    verify_code(app, &tokens[0], &account.totp.wrong_code()).assert_problem(429, "rate_limited");
}

/// A success at verify ends the streak (a correct password alone does not): rounds of a
/// challenge, two wrong codes and the right one → 200 both times, where the second round
/// without a reset would have met the lockout (the codes are taken first: a token lives 6 s).
pub fn a_verified_login_resets_the_lockout_streak() {
    let app = short_app();
    let mut account = enrolled(app, "mfa-streak");
    for round in 0..2 {
        let code = account.totp.next_code();
        let token = challenge_short(app, &account.email);
        for _ in 0..SHORT_FREE_ATTEMPTS - 1 {
            verify_code(app, &token, &account.totp.wrong_code()).assert_problem(401, "invalid_mfa_code");
        }
        let answer = verify_code(app, &token, &code);
        assert_eq!(answer.status, 200, "round {round}: {}", answer.body);
        assert_login_response(&answer, true);
    }
}

/// sessions.md §1: a wrong `current_password` is counted in the account's lockout, a
/// missing one is not: five enrolls without it (403) leave the login open; four with a wrong
/// one (401 `invalid_credentials`, 3 free attempts here) lock it (429).
pub fn reauthentication_counts_only_wrong_passwords_in_the_lockout() {
    let app = short_app();
    let (email, access) = app.logged_in_user("mfa-reauth-lockout");
    for _ in 0..=SHORT_FREE_ATTEMPTS + 1 {
        post(app, "mfa/totp/enroll", Some(&access), &json!({})).assert_problem(403, "current_password_required");
    }
    assert_login_response(&app.login(&email, PASSWORD), false);
    for _ in 0..=SHORT_FREE_ATTEMPTS {
        post(
            app,
            "mfa/totp/enroll",
            Some(&access),
            &json!({ "current_password": "not the password at all" }),
        )
        .assert_problem(401, "invalid_credentials");
    }
    app.login(&email, PASSWORD).assert_problem(429, "rate_limited");
}

/// A wrong `code` at disable counts as a failed login in the lockout: after four, a
/// password login → 429.
pub fn wrong_codes_at_disable_count_in_the_lockout() {
    let app = short_app();
    let account = enrolled(app, "mfa-disable-lockout");
    for _ in 0..=SHORT_FREE_ATTEMPTS {
        disable(app, &account.access, json!({ "code": account.totp.wrong_code() }))
            .assert_problem(401, "invalid_mfa_code");
    }
    app.login(&account.email, PASSWORD).assert_problem(429, "rate_limited");
}

// ---------------------------------------------------------------------------------------
// Recovery codes.

/// A recovery code signs in once, in any case and with or without its dash or with spaces
/// (a session `password` + `recovery_code`, a `recovery_code_used` mail with the number
/// left); used again → 401 `invalid_mfa_code`.
pub fn a_recovery_code_works_once_in_any_case() {
    let app = spawn_app();
    let account = enrolled(app, "mfa-recovery");
    let before = mail_count(app, &account.email);
    let first = &account.codes[0];
    let shouted = first.to_uppercase().replace('-', " ");
    let session = assert_login_response(&verify_recovery(app, &challenge(app, &account.email), &shouted), true);
    assert_eq!(auth_methods(app, &session.access), json!(["password", "recovery_code"]));
    let mail = new_mails(app, &account.email, before, 1).remove(0);
    assert!(mail.subject.starts_with(RECOVERY_CODE_USED), "{}", mail.subject);
    assert!(mentions_number(&mail.text, 9), "nine codes left: {}", mail.text);
    assert!(
        !account.codes.iter().any(|c| mail.text.contains(c.as_str())),
        "{}",
        mail.text
    );

    let token = challenge(app, &account.email);
    verify_recovery(app, &token, first).assert_problem(401, "invalid_mfa_code");
    verify_recovery(app, &token, &first.replace('-', "")).assert_problem(401, "invalid_mfa_code");
    let second = format!(" {} ", account.codes[1].to_uppercase());
    assert_login_response(&verify_recovery(app, &token, &second), true);
    let mail = new_mails(app, &account.email, before + 1, 1).remove(0);
    assert!(mail.subject.starts_with(RECOVERY_CODE_USED), "{}", mail.subject);
    assert!(mentions_number(&mail.text, 8), "eight codes left: {}", mail.text);
}

/// Each of the ten codes once: the challenge lists `recovery_code` while one is left and
/// only `totp` after the last; a used code stays refused.
pub fn the_last_recovery_code_drops_the_method() {
    let app = spawn_app();
    let mut account = enrolled(app, "mfa-ten");
    for code in &account.codes {
        let token = challenge(app, &account.email);
        assert_login_response(&verify_recovery(app, &token, code), true);
    }
    let token = assert_challenge(&app.login(&account.email, PASSWORD), MFA_TOKEN_SECONDS, &["totp"]);
    verify_recovery(app, &token, &account.codes[9]).assert_problem(401, "invalid_mfa_code");
    assert_login_response(&verify_code(app, &token, &account.totp.next_code()), true);
}

/// recovery-codes needs reauth and a TOTP code: without `current_password` 403, a wrong
/// one 401 `invalid_credentials`; a recovery code instead of the TOTP code 422, a wrong
/// TOTP code 401 `invalid_mfa_code`; the right one → 10 new codes, a mail; the old codes
/// then fail (401) and the new ones work.
pub fn regenerated_recovery_codes_replace_the_old_ones() {
    let app = spawn_app();
    let mut account = enrolled(app, "mfa-regenerate");
    let access = account.access.clone();
    let route = "mfa/recovery-codes";
    // A code that would be accepted: only the missing or wrong password refuses these.
    let code = account.totp.peek();
    post(app, route, Some(&access), &json!({ "code": code })).assert_problem(403, "current_password_required");
    post(
        app,
        route,
        Some(&access),
        &json!({ "current_password": "not the password at all", "code": code }),
    )
    .assert_problem(401, "invalid_credentials");
    for body in [
        json!({ "current_password": PASSWORD, "code": account.codes[0] }),
        json!({ "current_password": PASSWORD, "recovery_code": account.codes[0] }),
        json!({ "current_password": PASSWORD }),
    ] {
        let answer = post(app, route, Some(&access), &body);
        assert_eq!(answer.status, 422, "{body}: {}", answer.body);
        answer.assert_problem(422, "validation_error");
    }
    regenerate(app, &access, &account.totp.wrong_code()).assert_problem(401, "invalid_mfa_code");
    let confirmed_with = account.totp.code(account.totp.last);
    regenerate(app, &access, &confirmed_with).assert_problem(401, "invalid_mfa_code");
    let before = mail_count(app, &account.email);
    let fresh = assert_recovery_codes(&regenerate(app, &access, &account.totp.next_code()));
    assert!(fresh.iter().all(|c| !account.codes.contains(c)), "all new");
    let mail = new_mails(app, &account.email, before, 1).remove(0);
    assert!(mail.subject.starts_with(RECOVERY_CODES_REGENERATED), "{}", mail.subject);

    let token = challenge(app, &account.email);
    for old in &account.codes[..2] {
        verify_recovery(app, &token, old).assert_problem(401, "invalid_mfa_code");
    }
    let session = assert_login_response(&verify_recovery(app, &token, &fresh[0]), true);
    assert_eq!(auth_methods(app, &session.access), json!(["password", "recovery_code"]));
}

/// Five concurrent regenerations with one valid code: the step is accepted once, so one
/// 200 with new codes and four 401 `invalid_mfa_code`; the winner's codes work, the first
/// ones do not.
pub fn concurrent_regenerations_with_one_code_succeed_once() {
    let app = spawn_app();
    let mut account = enrolled(app, "mfa-regenerate-race");
    let code = account.totp.next_code();
    let answers = at_once(&[(); 5], |_| regenerate(app, &account.access, &code));
    let winners: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        answers.iter().map(|a| (a.status, &a.body)).collect::<Vec<_>>()
    );
    for answer in answers.iter().filter(|a| a.status != 200) {
        answer.assert_problem(401, "invalid_mfa_code");
    }
    let fresh = assert_recovery_codes(winners[0]);
    let token = challenge(app, &account.email);
    verify_recovery(app, &token, &account.codes[0]).assert_problem(401, "invalid_mfa_code");
    assert_login_response(&verify_recovery(app, &token, &fresh[0]), true);
}

// ---------------------------------------------------------------------------------------
// Disabling.

/// disable needs reauth (403, 401) and one second factor (both or neither 422, a wrong
/// code 401); with a current code → 204: the other session's access and refresh tokens →
/// 401, the caller's session stays, one `mfa_disabled` mail, `mfa_enabled` false, the next
/// login without challenge, a second disable 409 `mfa_not_enabled`.
pub fn disabling_ends_the_other_sessions_and_keeps_the_callers() {
    let app = spawn_app();
    let mut account = enrolled(app, "mfa-disable");
    let token = challenge(app, &account.email);
    let caller = assert_login_response(&verify_code(app, &token, &account.totp.next_code()), true);
    // A code that would be accepted: only the missing or wrong password refuses these.
    let code = account.totp.peek();
    let route = "mfa/totp/disable";
    post(app, route, Some(&caller.access), &json!({ "code": code })).assert_problem(403, "current_password_required");
    post(
        app,
        route,
        Some(&caller.access),
        &json!({ "current_password": "not the password at all", "code": code }),
    )
    .assert_problem(401, "invalid_credentials");
    for factor in [json!({ "code": code, "recovery_code": account.codes[0] }), json!({})] {
        let answer = disable(app, &caller.access, factor.clone());
        assert_eq!(answer.status, 422, "{factor}: {}", answer.body);
        answer.assert_problem(422, "validation_error");
    }
    disable(app, &caller.access, json!({ "code": account.totp.wrong_code() })).assert_problem(401, "invalid_mfa_code");
    disable(app, &caller.access, json!({ "recovery_code": "zzzzz-zzzzz" })).assert_problem(401, "invalid_mfa_code");
    assert_eq!(
        me_json(app, &caller.access)["mfa_enabled"],
        true,
        "still on after the refusals"
    );

    let pending = challenge(app, &account.email);
    let before = mail_count(app, &account.email);
    let answer = disable(app, &caller.access, json!({ "code": account.totp.next_code() }));
    assert_eq!(
        answer.status, 204,
        "a code no refused request may have spent: {}",
        answer.body
    );
    assert!(answer.body.is_empty());
    app.me(&account.access).assert_problem(401, "invalid_token");
    refresh(app, &account.refresh).assert_problem(401, "invalid_refresh_token");
    let user = me_json(app, &caller.access);
    assert_eq!(user["mfa_enabled"], false, "{user}");
    assert_eq!(refresh(app, &caller.refresh).status, 200, "the caller's session stays");
    let mail = new_mails(app, &account.email, before, 1).remove(0);
    assert!(mail.subject.starts_with(MFA_DISABLED), "{}", mail.subject);
    // A challenge issued before: the factors it waits for are gone.
    for late in [
        verify_code(app, &pending, &account.totp.peek()),
        verify_recovery(app, &pending, &account.codes[5]),
    ] {
        assert!(
            matches!(late.status, 400 | 401) && late.header("set-cookie").is_none(),
            "a second factor of a disabled 2FA: {} {}",
            late.status,
            late.body
        );
    }
    assert_login_response(&app.login(&account.email, PASSWORD), false);
    disable(app, &caller.access, json!({ "code": account.totp.code(now_step()) }))
        .assert_problem(409, "mfa_not_enabled");
}

/// disable with an unused recovery code → 204; it kills every recovery code: after a new
/// enrollment the old codes fail (401) and the new ones work.
pub fn disabling_with_a_recovery_code_kills_all_of_them() {
    let app = spawn_app();
    let mut account = enrolled(app, "mfa-disable-recovery");
    let answer = disable(
        app,
        &account.access,
        json!({ "recovery_code": account.codes[0].to_uppercase() }),
    );
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(me_json(app, &account.access)["mfa_enabled"], false);
    let again = enroll(app, &account.access);
    assert_eq!(again.status, 200, "{}", again.body);
    let mut totp = Totp::new(again.json()["secret"].as_str().unwrap());
    totp.last = account.totp.last;
    let fresh = assert_recovery_codes(&confirm(app, &account.access, &totp.next_code()));
    account.totp = totp;
    let token = challenge(app, &account.email);
    for old in &account.codes[1..3] {
        verify_recovery(app, &token, old).assert_problem(401, "invalid_mfa_code");
    }
    assert_login_response(&verify_recovery(app, &token, &fresh[0]), true);
}

// ---------------------------------------------------------------------------------------
// Other flows.

/// forget → reset → login with the new password → still the MFA challenge; 2FA stays on.
pub fn a_password_reset_does_not_bypass_2fa() {
    let app = spawn_app();
    let mut account = enrolled(app, "mfa-reset");
    let answer = app.post_json(&app.auth("password/forget"), &json!({ "email": account.email }));
    assert_eq!(answer.status, 202, "{}", answer.body);
    let token = app.reset_link_token(&account.email);
    let new_password = "a brand new passphrase for this one";
    let answer = app.post_json(
        &app.auth("password/reset"),
        &json!({ "token": token, "new_password": new_password }),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    app.me(&account.access).assert_problem(401, "invalid_token");
    let challenge = assert_challenge(
        &app.login(&account.email, new_password),
        MFA_TOKEN_SECONDS,
        &["totp", "recovery_code"],
    );
    let session = assert_login_response(&verify_code(app, &challenge, &account.totp.next_code()), true);
    assert_eq!(me_json(app, &session.access)["mfa_enabled"], true);
}

/// Whether `text` holds `needle` in any case.
fn holds(text: &str, needle: &str) -> bool {
    text.to_ascii_lowercase().contains(&needle.to_ascii_lowercase())
}

/// Across a whole life of 2FA (enroll, confirm, logins, verifies right and wrong,
/// regeneration, refusals, disable), no answer but enroll holds the TOTP secret, and none
/// but confirm and recovery-codes holds a recovery code (with or without its dash), in its
/// body or a header.
pub fn only_enroll_shows_the_secret_and_only_confirm_and_regeneration_the_codes() {
    let app = spawn_app();
    let (email, access) = app.logged_in_user("mfa-secrets");
    let mut answers: Vec<(&str, Answer)> = Vec::new();
    let enrolled = enroll(app, &access);
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);
    let mut totp = Totp::new(enrolled.json()["secret"].as_str().unwrap());
    answers.push(("me (pending)", app.me(&access)));
    leave_time(3.0);
    totp.last = now_step() - 1;
    let confirmed = confirm(app, &access, &totp.code(now_step() - 1));
    let mut codes = assert_recovery_codes(&confirmed);
    answers.push(("enroll (on)", enroll(app, &access)));
    answers.push(("confirm (on)", confirm(app, &access, &totp.code(now_step()))));
    answers.push(("me", app.me(&access)));
    let login = app.login(&email, PASSWORD);
    let token = login.json()["mfa_token"].as_str().unwrap_or_default().to_owned();
    answers.push(("login", login));
    answers.push(("form login", login_form(app, &email, PASSWORD)));
    answers.push(("verify wrong", verify_code(app, &token, &totp.wrong_code())));
    answers.push(("verify wrong recovery", verify_recovery(app, &token, "zzzzz-zzzzz")));
    answers.push((
        "verify malformed",
        verify(app, &json!({ "mfa_token": token, "code": "12" })),
    ));
    let verified = verify_code(app, &token, &totp.next_code());
    let session = assert_login_response(&verified, true);
    answers.push(("verify", verified));
    answers.push(("sessions", app.get_with_token(&app.auth("sessions"), &session.access)));
    answers.push(("refresh", refresh(app, &session.refresh)));
    let recovered = verify_recovery(app, &challenge(app, &email), &codes[0]);
    assert_eq!(recovered.status, 200, "{}", recovered.body);
    answers.push(("verify recovery", recovered));
    answers.push(("regenerate wrong", regenerate(app, &access, &totp.wrong_code())));
    let regenerated = regenerate(app, &access, &totp.next_code());
    codes.extend(assert_recovery_codes(&regenerated));
    answers.push((
        "disable wrong",
        disable(app, &access, json!({ "code": totp.wrong_code() })),
    ));
    answers.push(("disable", disable(app, &access, json!({ "recovery_code": codes[10] }))));
    answers.push(("me after", app.me(&access)));
    answers.push(("openapi", app.get("/openapi.json")));
    for (what, answer) in &answers {
        assert!(answer.status < 500, "{what}: {}", answer.body);
        let headers: String = answer.headers.iter().map(|(n, v)| format!("{n}: {v}\n")).collect();
        for text in [&answer.body, &headers] {
            assert!(!holds(text, &totp.secret), "{what} shows the secret: {text}");
            for code in &codes {
                assert!(
                    !holds(text, code) && !holds(text, &code.replace('-', "")),
                    "{what} shows a recovery code: {text}"
                );
            }
        }
    }
    assert!(!holds(&confirmed.body, &totp.secret) && !holds(&regenerated.body, &totp.secret));
    assert!(!holds(&enrolled.body, &codes[0]));
}

/// Every row of every table of the instance's database, as text (lower case).
fn stored_text(app: &TestApp) -> String {
    let tables = app.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%'",
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    let mut text = String::new();
    for table in tables {
        let name = table["name"].as_str().unwrap();
        let sql = format!("SELECT * FROM \"{name}\"");
        for row in app.query(&sql, &sql) {
            text.push_str(&row.to_string());
            text.push('\n');
        }
    }
    text.to_ascii_lowercase()
}

/// mfa.md: the secret is "stored sealed", recovery codes "only as HMAC-SHA256 digests", the
/// `mfa_token` "only as an HMAC digest". No row of any table holds a pending or a confirmed
/// secret (base32, hex, base64 or as a list of bytes), a recovery code (with or without
/// its dash) or a live `mfa_token`.
pub fn no_secret_code_or_mfa_token_is_stored_in_the_clear() {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine;
    // An instance of its own: reading every table holds its gate for a while (local D1 is
    // one SQLite file), which would keep other tests' short-lived tokens waiting.
    let app = spawn_isolated_app_with("mfa-store", &[], TestApp::is_healthy);
    let account = enrolled(app, "mfa-stored");
    let token = challenge(app, &account.email);
    let (_, pending_access) = app.logged_in_user("mfa-stored-pending");
    let pending = enroll(app, &pending_access);
    assert_eq!(pending.status, 200, "{}", pending.body);
    let pending = Totp::new(pending.json()["secret"].as_str().unwrap());
    let stored = stored_text(app);
    assert!(stored.contains(&account.email), "the dump holds the account's rows");
    let mut needles: Vec<(String, String)> = vec![("mfa_token".into(), token.to_ascii_lowercase())];
    for (what, totp) in [("the secret", &account.totp), ("the pending secret", &pending)] {
        let key = &totp.key;
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let bytes: Vec<String> = key.iter().map(u8::to_string).collect();
        for form in [
            totp.secret.clone(),
            hex,
            STANDARD.encode(key),
            URL_SAFE_NO_PAD.encode(key),
            bytes.join(","),
        ] {
            needles.push((what.into(), form.to_ascii_lowercase()));
        }
    }
    for code in &account.codes {
        needles.push(("a recovery code".into(), code.clone()));
        needles.push(("a recovery code".into(), code.replace('-', "")));
    }
    for (what, needle) in &needles {
        assert!(
            !stored.contains(needle.as_str()),
            "{what} is stored in the clear: {needle}"
        );
    }
}

/// The OpenAPI document lists the TOTP routes with their statuses.
pub fn the_openapi_document_lists_the_mfa_routes() {
    let app = spawn_app();
    let doc = app.get("/openapi.json").json();
    let paths = &doc["paths"];
    for (path, statuses) in [
        ("mfa/totp/enroll", &["200", "401", "403", "409", "422", "429"][..]),
        ("mfa/totp/confirm", &["200", "400", "401", "409", "422", "429"][..]),
        ("mfa/totp/disable", &["204", "401", "403", "409", "422", "429"][..]),
        ("mfa/recovery-codes", &["200", "401", "403", "409", "422", "429"][..]),
        ("mfa/verify", &["200", "400", "401", "422", "429"][..]),
    ] {
        let operation = &paths[format!("/balance_hub/auth/{path}")]["post"];
        assert!(operation.is_object(), "POST {path} is not in the document");
        for status in statuses {
            assert!(
                operation["responses"][*status].is_object(),
                "POST {path}: no {status} in {}",
                operation["responses"]
            );
        }
    }
    assert!(
        doc.to_string().contains("mfa_required"),
        "the login's MFA challenge is described"
    );
}

pub fn tests() -> Vec<libtest_mimic::Trial> {
    crate::trials![
        // The short instance's tests first: they wait, and start its Worker early.
        an_enrollment_expires,
        an_mfa_token_expires,
        the_otpauth_uri_percent_encodes_the_app_name,
        verify_is_limited_per_ip,
        wrong_codes_across_tokens_reach_the_lockout,
        a_right_password_of_a_2fa_account_is_no_failed_login,
        no_secret_code_or_mfa_token_is_stored_in_the_clear,
        reauthentication_counts_only_wrong_passwords_in_the_lockout,
        a_verified_login_resets_the_lockout_streak,
        wrong_codes_at_disable_count_in_the_lockout,
        the_totp_generator_meets_rfc_6238s_vectors,
        the_qr_reader_reads_what_it_should,
        enroll_and_confirm_turn_2fa_on,
        enroll_needs_reauthentication,
        routes_of_2fa_refuse_an_account_without_it,
        confirm_forgets_the_enrollment_after_five_wrong_codes,
        enrolling_again_replaces_the_pending_secret,
        a_2fa_login_answers_the_challenge_then_verify_signs_in,
        codes_are_accepted_within_the_skew_once_and_in_order,
        the_code_that_confirmed_does_not_verify,
        verify_accepts_the_previous_steps_code,
        codes_of_another_secret_are_refused,
        five_wrong_codes_kill_the_mfa_token,
        twenty_concurrent_verifies_of_one_token_succeed_once,
        one_code_on_several_tokens_at_once_succeeds_once,
        a_recovery_code_that_loses_a_race_for_the_token_still_works,
        one_recovery_code_on_several_tokens_at_once_signs_in_once,
        concurrent_confirms_turn_2fa_on_once,
        malformed_verify_bodies_are_422_and_spaces_are_ignored,
        unknown_and_malformed_mfa_tokens_are_refused,
        a_recovery_code_works_once_in_any_case,
        the_last_recovery_code_drops_the_method,
        regenerated_recovery_codes_replace_the_old_ones,
        concurrent_regenerations_with_one_code_succeed_once,
        disabling_ends_the_other_sessions_and_keeps_the_callers,
        disabling_with_a_recovery_code_kills_all_of_them,
        a_password_reset_does_not_bypass_2fa,
        only_enroll_shows_the_secret_and_only_confirm_and_regeneration_the_codes,
        the_openapi_document_lists_the_mfa_routes,
        concurrent_confirms_keep_the_winners_recovery_codes,
    ]
}
