//! Refresh tokens, the session list, logout scopes and the new-device mail, black box:
//! ../shared/spec/sessions.md, "Checks a black-box test can make", and the rules of §3–§5.
//! Most tests run on the shared instance (default lifetimes: refresh tokens 30 days, a
//! reuse window of 10 s, 30 refreshes per session a minute). One instance of its own runs
//! short lifetimes, a reuse window of 2 s and a small per-session refresh limit, for what
//! only waiting can show: the end of the reuse window, idle and absolute expiry, the limit.
//! Clients send real browser User-Agents (or none at all); each request names its own
//! `CF-Connecting-IP`. Mails are told apart by their subject.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::harness::fake_sendgrid::SentMail;
use crate::harness::{
    fresh_uuid, spawn_app, spawn_isolated_app_with, unique_ip, Answer, TestApp, FRONTEND_URL, PASSWORD, PREFIX,
};

const CHROME_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
/// The same families as `FIREFOX_LINUX`, a later version.
const FIREFOX_LINUX_NEWER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:134.0) Gecko/20100101 Firefox/134.0";
/// The browser of `FIREFOX_LINUX` on another system.
const FIREFOX_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
                             (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
const CURL: &str = "curl/8.5.0";

/// The path the refresh cookie is scoped to: `{p}/auth/token`.
const REFRESH_COOKIE_PATH: &str = "/balance_hub/auth/token";
const THIRTY_DAYS: i64 = 30 * 86_400;
/// What a request's `request.cf` holds under `wrangler dev` with
/// `CLOUDFLARE_CF_FETCH_ENABLED=false`: miniflare's fallback object (`fallbackCf` in
/// miniflare's source: `country: "US"`, `city: "Austin"`).
const CF_COUNTRY: &str = "US";
const CF_CITY: &str = "Austin";

/// Mail kinds, by the start of their subject (`templates/<kind>`).
const NEW_SIGN_IN: &str = "New sign-in to your";
const SUSPICIOUS_REFRESH: &str = "A session of your";

// ---------------------------------------------------------------------------------------
// The instance with short lifetimes.

/// `REFRESH_TOKEN_EXPIRE_DAYS` on the short instance, in seconds.
const SHORT_IDLE: i64 = 6;
/// `SESSION_MAX_DAYS` on the short instance, in seconds.
const SHORT_MAX: i64 = 8;
/// `REFRESH_REUSE_INTERVAL_SECONDS` on the short instance.
const SHORT_REUSE: f64 = 2.0;
/// `RATE_LIMIT_REFRESH_SESSION` on the short instance: a burst of this many a minute.
const SHORT_SESSION_LIMIT: usize = 5;
/// `NEW_DEVICE_WINDOW_DAYS` on the short instance, in seconds.
const SHORT_DEVICE_WINDOW: f64 = 2.0;

/// Idle expiry 6 s, absolute expiry 8 s, reuse window 2 s, 5 refreshes per session a minute,
/// a new-device window of 2 s. Every test on it stays within five refreshes per session.
fn short_app() -> &'static TestApp {
    spawn_isolated_app_with(
        "refresh-short",
        &[
            // 0.0000694444 days is 6.0 s, 0.0000925926 days 8.0 s (whole seconds, rounded).
            ("REFRESH_TOKEN_EXPIRE_DAYS", "0.0000694444"),
            ("SESSION_MAX_DAYS", "0.0000925926"),
            ("REFRESH_REUSE_INTERVAL_SECONDS", "2"),
            ("RATE_LIMIT_REFRESH_SESSION", "5/60"),
            // 2.0 s.
            ("NEW_DEVICE_WINDOW_DAYS", "0.0000231482"),
        ],
        TestApp::is_healthy,
    )
}

// ---------------------------------------------------------------------------------------
// Clients and requests.

/// Who a request comes from: a User-Agent (`None`: no such header at all) and an address.
struct Client {
    user_agent: Option<&'static str>,
    ip: String,
}

impl Client {
    fn new(user_agent: Option<&'static str>) -> Self {
        Self {
            user_agent,
            ip: unique_ip(),
        }
    }

    fn browser() -> Self {
        Self::new(Some(FIREFOX_LINUX))
    }
}

fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    client: &Client,
    extra: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Answer {
    let mut headers = vec![("CF-Connecting-IP", client.ip.as_str())];
    if let Some(user_agent) = client.user_agent {
        headers.push(("User-Agent", user_agent));
    }
    headers.extend_from_slice(extra);
    match client.user_agent {
        Some(_) => app.request(method, path, &headers, body),
        None => app.request_without_user_agent(method, path, &headers, body.unwrap_or_default()),
    }
}

fn login_answer(app: &TestApp, email: &str, client: &Client) -> Answer {
    let body = json!({ "email": email, "password": PASSWORD }).to_string();
    send(
        app,
        "POST",
        &app.auth("login"),
        client,
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    )
}

/// A login from `client`, checked as a login response.
fn login_from(app: &TestApp, email: &str, client: &Client) -> Pair {
    assert_login_response(&login_answer(app, email, client))
}

fn login(app: &TestApp, email: &str) -> Pair {
    login_from(app, email, &Client::browser())
}

fn refresh_from(app: &TestApp, token: &str, client: &Client) -> Answer {
    let body = json!({ "refresh_token": token }).to_string();
    send(
        app,
        "POST",
        &app.auth("token/refresh"),
        client,
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    )
}

/// A refresh with the token in the body.
fn refresh(app: &TestApp, token: &str) -> Answer {
    refresh_from(app, token, &Client::browser())
}

/// A refresh with no body, the token in the `refresh_token` cookie (and other cookies).
fn refresh_by_cookie(app: &TestApp, cookie_header: &str) -> Answer {
    app.request("POST", &app.auth("token/refresh"), &[("Cookie", cookie_header)], None)
}

fn bearer(access: &str) -> String {
    format!("Bearer {access}")
}

fn assert_alive(app: &TestApp, access: &str, what: &str) {
    let answer = app.me(access);
    assert_eq!(answer.status, 200, "{what}: {}", answer.body);
}

fn assert_ended(app: &TestApp, access: &str, what: &str) {
    let answer = app.me(access);
    assert_eq!(answer.status, 401, "{what} still answers me: {}", answer.body);
    answer.assert_problem(401, "invalid_token");
}

fn assert_refresh_refused(app: &TestApp, refresh_token: &str, what: &str) {
    let answer = refresh(app, refresh_token);
    assert_eq!(
        answer.status, 401,
        "{what}: the refresh token still works: {}",
        answer.body
    );
    answer.assert_problem(401, "invalid_refresh_token");
    assert_refresh_cookie_cleared(&answer);
}

fn sessions_answer(app: &TestApp, access: &str) -> Answer {
    app.get_with_token(&app.auth("sessions"), access)
}

/// The caller's live sessions, as listed.
fn sessions(app: &TestApp, access: &str) -> Vec<Value> {
    let answer = sessions_answer(app, access);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["items"],
        "{body}"
    );
    body["items"].as_array().unwrap().clone()
}

fn listed_ids(app: &TestApp, access: &str) -> Vec<String> {
    sessions(app, access)
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

fn logout(app: &TestApp, access: &str, body: Option<&Value>) -> Answer {
    let authorization = bearer(access);
    match body {
        Some(body) => app.request(
            "POST",
            &app.auth("logout"),
            &[("Authorization", &authorization), ("Content-Type", "application/json")],
            Some(body.to_string().as_bytes()),
        ),
        None => app.request("POST", &app.auth("logout"), &[("Authorization", &authorization)], None),
    }
}

fn delete_session(app: &TestApp, access: &str, id: &str) -> Answer {
    app.request(
        "DELETE",
        &format!("{PREFIX}/auth/sessions/{id}"),
        &[("Authorization", &bearer(access))],
        None,
    )
}

/// `sid` of an access token: the session it belongs to.
fn session_of(access: &str) -> String {
    let payload = access.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sid"].as_str().expect("a sid claim").to_owned()
}

fn sleep_until(start: Instant, seconds: f64) {
    let until = start + Duration::from_secs_f64(seconds);
    if let Some(left) = until.checked_duration_since(Instant::now()) {
        std::thread::sleep(left);
    }
}

// ---------------------------------------------------------------------------------------
// Login responses and cookies.

/// A login response, checked: the body's pair and user, and its two cookies.
struct Pair {
    access: String,
    refresh: String,
    expires_in: i64,
    refresh_expires_in: i64,
    user: Value,
    session: String,
}

#[derive(Debug)]
struct SetCookie {
    name: String,
    value: String,
    attributes: Vec<String>,
}

fn set_cookies(answer: &Answer) -> Vec<SetCookie> {
    answer
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, header)| {
            let mut parts = header.split(';').map(str::trim);
            let (name, value) = parts.next().unwrap().split_once('=').expect("name=value");
            SetCookie {
                name: name.to_owned(),
                value: value.to_owned(),
                attributes: parts.filter(|p| !p.is_empty()).map(str::to_owned).collect(),
            }
        })
        .collect()
}

/// The one `Set-Cookie` of `name`.
fn cookie(answer: &Answer, name: &str) -> SetCookie {
    let mut found: Vec<SetCookie> = set_cookies(answer).into_iter().filter(|c| c.name == name).collect();
    assert_eq!(found.len(), 1, "one {name} cookie in {:?}", answer.headers);
    found.remove(0)
}

fn assert_attributes(cookie: &SetCookie, expected: &[String]) {
    let mut actual = cookie.attributes.clone();
    let mut expected = expected.to_vec();
    actual.sort();
    expected.sort();
    assert_eq!(actual, expected, "attributes of the {} cookie", cookie.name);
}

/// `refresh_token=...; HttpOnly; Secure; SameSite=Strict; Path={p}/auth/token; Max-Age=...`
/// (the test configuration leaves `COOKIE_SECURE` at its default, true).
fn refresh_cookie_attributes(max_age: i64) -> Vec<String> {
    [
        "HttpOnly".to_owned(),
        "Secure".to_owned(),
        "SameSite=Strict".to_owned(),
        format!("Path={REFRESH_COOKIE_PATH}"),
        format!("Max-Age={max_age}"),
    ]
    .to_vec()
}

fn access_cookie_attributes(max_age: i64) -> Vec<String> {
    [
        "HttpOnly".to_owned(),
        "Secure".to_owned(),
        "SameSite=Lax".to_owned(),
        "Path=/".to_owned(),
        format!("Max-Age={max_age}"),
    ]
    .to_vec()
}

/// The refresh cookie is deleted: empty, `Max-Age=0`, on its own path (a browser deletes
/// only the cookie of the same name and path).
fn assert_refresh_cookie_cleared(answer: &Answer) {
    let cleared = cookie(answer, "refresh_token");
    assert_eq!(cleared.value, "", "{cleared:?}");
    assert_attributes(&cleared, &refresh_cookie_attributes(0));
}

fn assert_both_cookies_cleared(answer: &Answer) {
    assert_refresh_cookie_cleared(answer);
    let cleared = cookie(answer, "access_token");
    assert_eq!(cleared.value, "", "{cleared:?}");
    assert_attributes(&cleared, &access_cookie_attributes(0));
    assert_eq!(set_cookies(answer).len(), 2, "{:?}", answer.headers);
}

fn assert_no_cookies(answer: &Answer, what: &str) {
    let cookies = set_cookies(answer);
    assert!(cookies.is_empty(), "{what} set cookies: {cookies:?}");
}

fn is_url_safe(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 512
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// sessions.md §1: `{access_token, token_type, expires_in, refresh_token,
/// refresh_expires_in, user}` with both cookies, each cookie's value the body's token and
/// its `Max-Age` the body's lifetime; a user object with `roles`, `mfa_enabled` and
/// `sign_in_methods`.
fn assert_login_response(answer: &Answer) -> Pair {
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    let keys: BTreeSet<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "access_token",
            "token_type",
            "expires_in",
            "refresh_token",
            "refresh_expires_in",
            "user"
        ]),
        "{body}"
    );
    assert_eq!(body["token_type"], "bearer");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let expires_in = body["expires_in"].as_i64().expect("whole seconds");
    let refresh_expires_in = body["refresh_expires_in"].as_i64().expect("whole seconds");
    assert!((1..=1800).contains(&expires_in), "{body}");
    assert!(refresh_expires_in >= 1, "{body}");
    assert!(is_url_safe(&refresh), "an opaque URL-safe string: {refresh}");
    let access_cookie = cookie(answer, "access_token");
    assert_eq!(access_cookie.value, access);
    assert_attributes(&access_cookie, &access_cookie_attributes(expires_in));
    let refresh_cookie = cookie(answer, "refresh_token");
    assert_eq!(refresh_cookie.value, refresh, "the cookie carries the body's token");
    assert_attributes(&refresh_cookie, &refresh_cookie_attributes(refresh_expires_in));
    assert_eq!(set_cookies(answer).len(), 2, "{:?}", answer.headers);
    let user = body["user"].clone();
    assert_eq!(user["roles"], json!(["user"]), "{user}");
    assert_eq!(user["mfa_enabled"], false, "{user}");
    assert_eq!(user["sign_in_methods"], json!(["password"]), "{user}");
    assert!(user.get("password_hash").is_none());
    Pair {
        session: session_of(&access),
        access,
        refresh,
        expires_in,
        refresh_expires_in,
        user,
    }
}

// ---------------------------------------------------------------------------------------
// Mails and times.

fn mails_of(app: &TestApp, email: &str, kind: &str) -> Vec<SentMail> {
    app.sendgrid
        .mails_to(email)
        .into_iter()
        .filter(|m| m.subject.starts_with(kind))
        .collect()
}

/// Waits for `count` mails of `kind` to `email`, then a little longer: exactly `count`.
fn assert_mails(app: &TestApp, email: &str, kind: &str, count: usize) -> Vec<SentMail> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while mails_of(app, email, kind).len() < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(25));
    }
    std::thread::sleep(Duration::from_millis(600));
    let mails = mails_of(app, email, kind);
    assert_eq!(
        mails.len(),
        count,
        "mails {kind:?}... to {email}: {:#?}",
        mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    mails
}

/// Unix seconds of an RFC 3339 UTC timestamp (`2026-11-24T10:00:00Z`, fractions allowed).
fn unix_of(timestamp: &str) -> i64 {
    let b = timestamp.as_bytes();
    let shaped = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[b.len() - 1] == b'Z'
        && (b.len() == 20 || (b[19] == b'.' && b.len() > 21 && b[20..b.len() - 1].iter().all(u8::is_ascii_digit)));
    assert!(shaped, "not RFC 3339 UTC: {timestamp:?}");
    let number = |range: std::ops::Range<usize>| -> i64 {
        timestamp[range]
            .parse()
            .unwrap_or_else(|_| panic!("not RFC 3339: {timestamp:?}"))
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    assert!((1..=12).contains(&month) && (1..=31).contains(&day) && hour < 24 && minute < 60 && second < 61);
    // Days from civil (H. Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hour * 3600 + minute * 60 + second
}

fn now() -> i64 {
    crate::harness::unix_now()
}

// ---------------------------------------------------------------------------------------
// §1: the login response.

/// Both login forms set the refresh cookie exactly as §1 says, its value the body's token;
/// a new session's refresh token lives 30 days, its access token at most 30 minutes; each
/// login is a session of its own with a token of its own.
pub fn a_login_sets_the_refresh_cookie_with_the_body_token() {
    let app = spawn_app();
    let email = app.verified_user("refresh-login");
    let json_login = login(app, &email);
    assert_eq!(json_login.refresh_expires_in, THIRTY_DAYS);
    assert_eq!(json_login.expires_in, 1800);
    assert_eq!(json_login.user["email"], email);
    let form = format!(
        "username={}&password={}",
        email.replace('@', "%40"),
        PASSWORD.replace(' ', "+")
    );
    let form_login = assert_login_response(&app.request(
        "POST",
        &app.auth("login"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(form.as_bytes()),
    ));
    assert_eq!(form_login.refresh_expires_in, THIRTY_DAYS);
    assert_ne!(form_login.refresh, json_login.refresh);
    assert_ne!(form_login.session, json_login.session, "a login creates a session");
    // A refresh token is no access token.
    app.me(&json_login.refresh).assert_problem(401, "invalid_token");
    assert_alive(app, &json_login.access, "the login's access token");
}

// ---------------------------------------------------------------------------------------
// §3: refresh.

/// A refresh answers a login response with a new refresh token and both cookies, never
/// cached; its user is read afresh; the new access token works for the same session, the
/// one issued before it still does (a rotation ends no access token); the cookie alone,
/// among other cookies, refreshes too.
pub fn a_refresh_rotates_the_token_and_sets_both_cookies() {
    let app = spawn_app();
    let email = app.verified_user("refresh-rotate");
    let first = login(app, &email);
    let renamed = app.request(
        "PUT",
        &app.auth("update-user"),
        &[
            ("Authorization", &bearer(&first.access)),
            ("Content-Type", "application/json"),
        ],
        Some(br#"{"full_name": "Ada Lovelace"}"#),
    );
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let answer = refresh(app, &first.refresh);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let second = assert_login_response(&answer);
    assert_eq!(second.user["full_name"], "Ada Lovelace", "the user as stored now");
    assert_ne!(second.refresh, first.refresh, "a refresh returns a different token");
    assert_eq!(second.session, first.session, "the same session");
    assert_eq!(second.refresh_expires_in, THIRTY_DAYS, "renewed from the refresh");
    assert_eq!(second.user["email"], email);
    assert_eq!(app.me(&second.access).json(), second.user, "the body's user is me");
    assert_alive(app, &first.access, "the access token issued before the rotation");
    let by_cookie = refresh_by_cookie(
        app,
        &format!(
            "theme=dark; refresh_token={}; access_token={}",
            second.refresh, second.access
        ),
    );
    let third = assert_login_response(&by_cookie);
    assert!(![&first.refresh, &second.refresh].contains(&&third.refresh));
    assert_eq!(third.session, first.session);
    assert_alive(app, &third.access, "the cookie refresh's access token");
}

/// The body field wins over the cookie: a bad cookie with a good body rotates the body's
/// token; a good cookie with a bad body is refused, and leaves the cookie's token unused.
/// A body without the field (`{}`) falls back to the cookie.
pub fn the_body_token_wins_over_the_cookie() {
    let app = spawn_app();
    let email = app.verified_user("refresh-body-wins");
    let good = login(app, &email);
    let json_type = ("Content-Type", "application/json");
    let with_cookie = |cookie_token: &str, body: &Value| {
        app.request(
            "POST",
            &app.auth("token/refresh"),
            &[json_type, ("Cookie", &format!("refresh_token={cookie_token}"))],
            Some(body.to_string().as_bytes()),
        )
    };
    let unknown = URL_SAFE_NO_PAD.encode([7u8; 32]);
    let rotated = assert_login_response(&with_cookie(&unknown, &json!({ "refresh_token": good.refresh })));
    assert_ne!(rotated.refresh, good.refresh);
    let refused = with_cookie(&rotated.refresh, &json!({ "refresh_token": unknown }));
    refused.assert_problem(401, "invalid_refresh_token");
    assert_refresh_cookie_cleared(&refused);
    let fallback = assert_login_response(&with_cookie(&rotated.refresh, &json!({})));
    assert!(![&good.refresh, &rotated.refresh].contains(&&fallback.refresh));
    assert_eq!(fallback.session, good.session);
}

/// Rule 1: no token at all (no body, an empty object, a null field, whitespace) is
/// `not_authenticated`.
pub fn no_refresh_token_is_not_authenticated() {
    let app = spawn_app();
    let path = app.auth("token/refresh");
    app.request("POST", &path, &[], None)
        .assert_problem(401, "not_authenticated");
    for body in ["{}", r#"{"refresh_token": null}"#, "  "] {
        let answer = app.request(
            "POST",
            &path,
            &[("Content-Type", "application/json")],
            Some(body.as_bytes()),
        );
        answer.assert_problem(401, "not_authenticated");
    }
    app.request("POST", &path, &[("Cookie", "theme=dark; access_token=abc")], None)
        .assert_problem(401, "not_authenticated");
}

/// Rule 2 for tokens that are no token of any session: malformed (spaces, `+/`, an access
/// token, over 512 characters, non-ASCII) or well-formed but unknown (also exactly 512
/// characters): 401 `invalid_refresh_token`, the refresh cookie cleared. Bodies the route
/// cannot read are problems of their own, never a 500.
pub fn bad_refresh_tokens_are_invalid_and_clear_the_cookie() {
    let app = spawn_app();
    let (_, access) = app.logged_in_user("refresh-bad");
    let bad = [
        "has space".to_owned(),
        "plus+slash/".to_owned(),
        access.clone(),
        "ä".repeat(20),
        URL_SAFE_NO_PAD.encode([0u8; 32]),
        "A".repeat(512),
        "A".repeat(513),
        "A".repeat(4096),
    ];
    for token in &bad {
        let answer = refresh(app, token);
        assert_eq!(answer.status, 401, "{} chars: {}", token.len(), answer.body);
        answer.assert_problem(401, "invalid_refresh_token");
        assert_refresh_cookie_cleared(&answer);
        if token.is_ascii() {
            let by_cookie = refresh_by_cookie(app, &format!("refresh_token={}", token.replace(' ', "")));
            by_cookie.assert_problem(401, "invalid_refresh_token");
            assert_refresh_cookie_cleared(&by_cookie);
        }
    }
    let path = app.auth("token/refresh");
    let json_type = [("Content-Type", "application/json")];
    // Headers, body, and the status and code it meets.
    type Unreadable<'a> = (&'a [(&'a str, &'a str)], Vec<u8>, u16, &'a str);
    let unreadable: [Unreadable; 6] = [
        (&json_type, b"{not json".to_vec(), 400, "malformed_body"),
        (&json_type, br#"{"refresh_token": 5}"#.to_vec(), 422, "validation_error"),
        (&json_type, br#"["a token"]"#.to_vec(), 422, "validation_error"),
        (&json_type, br#""a token""#.to_vec(), 422, "validation_error"),
        (
            &[("Content-Type", "text/plain")],
            b"refresh_token=abc".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            &json_type,
            json!({ "refresh_token": "A".repeat(20_000) }).to_string().into_bytes(),
            413,
            "payload_too_large",
        ),
    ];
    for (headers, body, status, code) in unreadable {
        let answer = app.request("POST", &path, headers, Some(&body));
        assert_eq!(
            answer.status,
            status,
            "{}: {}",
            String::from_utf8_lossy(&body[..body.len().min(40)]),
            answer.body
        );
        answer.assert_problem(status, code);
    }
    let typed = app.request("POST", &path, &json_type, Some(br#"{"refresh_token": 5}"#));
    assert_eq!(typed.json()["errors"][0]["field"], "refresh_token", "{}", typed.body);
}

/// Rule 4 on the default window (10 s): the previous token, again at once, answers the
/// current refresh token byte for byte and an access token for the session; nothing
/// rotates, so the current token then rotates as usual.
pub fn the_previous_token_within_the_window_answers_the_current_one() {
    let app = spawn_app();
    let email = app.verified_user("refresh-window");
    let a = login(app, &email);
    let b = assert_login_response(&refresh(app, &a.refresh));
    for _ in 0..2 {
        let again = assert_login_response(&refresh(app, &a.refresh));
        assert_eq!(again.refresh, b.refresh, "the current token again, byte-identical");
        assert_eq!(again.session, a.session);
        assert_alive(app, &again.access, "the access token of the answer within the window");
    }
    let c = assert_login_response(&refresh(app, &b.refresh));
    assert!(
        ![&a.refresh, &b.refresh].contains(&&c.refresh),
        "B rotates to a new token"
    );
}

/// Rule 5 at once: a token two rotations old ends the session whatever the window: 401
/// `refresh_token_reused` with both cookies cleared, every token and access token of the
/// session refused after it, one `suspicious_refresh` mail; the owner's other session
/// lives on, and the ended one is no longer listed.
pub fn a_token_two_rotations_old_ends_the_session_at_once() {
    let app = spawn_app();
    let email = app.verified_user("refresh-two-old");
    let other = login(app, &email);
    let a = login(app, &email);
    let b = assert_login_response(&refresh(app, &a.refresh));
    let c = assert_login_response(&refresh(app, &b.refresh));
    let reused = refresh(app, &a.refresh);
    reused.assert_problem(401, "refresh_token_reused");
    assert_both_cookies_cleared(&reused);
    for (token, what) in [
        (&c.refresh, "the current token C"),
        (&b.refresh, "the previous token B"),
    ] {
        assert_refresh_refused(app, token, what);
    }
    for (access, what) in [(&a.access, "A's access token"), (&c.access, "C's access token")] {
        assert_ended(app, access, what);
    }
    assert_alive(app, &other.access, "the owner's other session");
    assert_eq!(listed_ids(app, &other.access), vec![other.session.clone()]);
    // Presented again, a reused token is just a token of an ended session.
    assert_refresh_refused(app, &a.refresh, "the reused token, again");
    assert_mails(app, &email, SUSPICIOUS_REFRESH, 1);
}

/// Rule 6: twenty refreshes at once with one token all answer 200 with one and the same new
/// token, of the same session; the counter moved once, so that token rotates as usual
/// and the first token is then two rotations old.
pub fn twenty_concurrent_refreshes_agree_on_one_token() {
    let app = spawn_app();
    let email = app.verified_user("refresh-twenty");
    let first = login(app, &email);
    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let running: Vec<_> = (0..20).map(|_| scope.spawn(|| refresh(app, &first.refresh))).collect();
        running.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [200; 20],
        "{:?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    let pairs: Vec<Pair> = answers.iter().map(assert_login_response).collect();
    let tokens: BTreeSet<&str> = pairs.iter().map(|p| p.refresh.as_str()).collect();
    assert_eq!(tokens.len(), 1, "one distinct refresh token: {tokens:?}");
    assert!(pairs.iter().all(|p| p.session == first.session));
    let next = pairs[0].refresh.clone();
    assert_ne!(next, first.refresh);
    let after = assert_login_response(&refresh(app, &next));
    assert!(![&first.refresh, &next].contains(&&after.refresh));
    refresh(app, &first.refresh).assert_problem(401, "refresh_token_reused");
}

/// Rules 5 and 6 together: a stolen token two rotations old, replayed ten times at once,
/// ends the session once: the replay whose statement ended it answers 401
/// `refresh_token_reused`, every other meets an ended session (401
/// `invalid_refresh_token`), and the owner gets one mail. (Each replay used to end the
/// session and mail on its own: ten mails on Postgres.)
pub fn concurrent_replays_of_an_old_token_end_the_session_once() {
    let app = spawn_app();
    let email = app.verified_user("refresh-replays");
    let a = login(app, &email);
    let b = assert_login_response(&refresh(app, &a.refresh));
    let c = assert_login_response(&refresh(app, &b.refresh));
    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let running: Vec<_> = (0..10).map(|_| scope.spawn(|| refresh(app, &a.refresh))).collect();
        running.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let codes: Vec<String> = answers
        .iter()
        .map(|answer| {
            assert_eq!(answer.status, 401, "{}", answer.body);
            answer.json()["code"].as_str().unwrap().to_owned()
        })
        .collect();
    let reused = codes.iter().filter(|c| *c == "refresh_token_reused").count();
    let invalid = codes.iter().filter(|c| *c == "invalid_refresh_token").count();
    assert_eq!(reused + invalid, codes.len(), "{codes:?}");
    assert_refresh_refused(app, &c.refresh, "the current token after the replays");
    // Every mail of the replays has left within a second and a half.
    std::thread::sleep(Duration::from_millis(1500));
    let mails = mails_of(app, &email, SUSPICIOUS_REFRESH).len();
    assert_eq!(
        (reused, mails),
        (1, 1),
        "one replay ends the session and mails its owner; the others meet an ended session: {codes:?}"
    );
}

// ---------------------------------------------------------------------------------------
// §2: sessions end, and take their refresh tokens with them.

/// Logout, `DELETE` of the session, a password change (the other sessions) and a password
/// reset (all): the ended sessions' refresh tokens are 401 `invalid_refresh_token` with the
/// cookie cleared — not reuse, so no `suspicious_refresh` mail; the session that changed
/// the password keeps refreshing.
pub fn ended_sessions_refuse_their_refresh_tokens_without_mail() {
    let app = spawn_app();
    let email = app.verified_user("refresh-ended");
    let logged_out = login(app, &email);
    let deleted = login(app, &email);
    let changer = login(app, &email);
    let bystander = login(app, &email);

    assert_eq!(logout(app, &logged_out.access, None).status, 204);
    assert_refresh_refused(app, &logged_out.refresh, "after logout");

    assert_eq!(delete_session(app, &changer.access, &deleted.session).status, 204);
    assert_refresh_refused(app, &deleted.refresh, "after DELETE of its session");

    let changed = app.request(
        "PUT",
        &app.auth("update-user"),
        &[
            ("Authorization", &bearer(&changer.access)),
            ("Content-Type", "application/json"),
        ],
        Some(
            json!({ "password": "a changed passphrase", "current_password": PASSWORD })
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_refresh_refused(app, &bystander.refresh, "another session after a password change");
    let kept = assert_login_response(&refresh(app, &changer.refresh));

    let forget = app.post_json(&app.auth("password/forget"), &json!({ "email": email }));
    assert_eq!(forget.status, 202);
    let token = app.reset_link_token(&email);
    let reset = app.post_json(
        &app.auth("password/reset"),
        &json!({ "token": token, "new_password": "a reset passphrase" }),
    );
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_refresh_refused(app, &kept.refresh, "after a password reset");
    assert_refresh_refused(app, &changer.refresh, "the changer's previous token after the reset");
    assert_mails(app, &email, SUSPICIOUS_REFRESH, 0);
}

/// Rules 4 and 5 with a 2 s window: A → B; A again within the window → B byte for byte
/// and a working access token; A after the window → 401 `refresh_token_reused` with both
/// cookies cleared; then B is 401 `invalid_refresh_token`, the session's access tokens
/// 401, and exactly one `suspicious_refresh` mail reaches the owner naming the device and
/// address that presented A, with the forgot-password link.
pub fn an_old_token_after_the_window_ends_the_session_and_mails_the_owner() {
    let app = short_app();
    let email = app.verified_user("refresh-reuse");
    let a = login(app, &email);
    let b = assert_login_response(&refresh(app, &a.refresh));
    // A was used (B issued) before this instant.
    let rotated_at = Instant::now();
    let again = assert_login_response(&refresh(app, &a.refresh));
    assert_eq!(
        again.refresh, b.refresh,
        "within the window: the current token, byte-identical"
    );
    assert_eq!(again.session, a.session);
    // Whole seconds on the server: one more than the window is past it for sure.
    sleep_until(rotated_at, SHORT_REUSE + 1.05);
    assert_alive(app, &again.access, "the session before the reuse");
    let thief = Client::new(Some(CHROME_WINDOWS));
    let reused = refresh_from(app, &a.refresh, &thief);
    reused.assert_problem(401, "refresh_token_reused");
    assert_both_cookies_cleared(&reused);
    assert_refresh_refused(app, &b.refresh, "B after the reuse");
    for (access, what) in [
        (&a.access, "the login's access token"),
        (&again.access, "the window's access token"),
    ] {
        assert_ended(app, access, what);
    }
    let mail = &assert_mails(app, &email, SUSPICIOUS_REFRESH, 1)[0];
    for part in [&mail.text, &mail.html] {
        assert!(part.contains("Chrome on Windows"), "the device: {part}");
        assert!(part.contains(&thief.ip), "the address: {part}");
        assert!(part.contains(CF_COUNTRY), "the country: {part}");
        assert!(part.contains(&format!("{FRONTEND_URL}/forgot-password")), "{part}");
    }
}

/// Idle expiry (6 s here): a session left alone past it refuses its refresh token; one
/// refreshed meanwhile lives on, so it is the idle timeout that ended the other (the
/// absolute one, 8 s, has not passed). No mail.
pub fn an_idle_session_refuses_its_refresh_token() {
    let app = short_app();
    let email = app.verified_user("refresh-idle");
    let started = Instant::now();
    let idle = login(app, &email);
    let active = login(app, &email);
    let logged_in = Instant::now();
    assert_eq!(idle.refresh_expires_in, SHORT_IDLE);
    assert!(
        idle.expires_in <= SHORT_IDLE,
        "an access token never outlives its session"
    );
    sleep_until(logged_in, 3.0);
    let active = assert_login_response(&refresh(app, &active.refresh));
    sleep_until(logged_in, SHORT_IDLE as f64 + 0.2);
    // Seconds are whole on the server: within 7 s of the logins, 8 s have not passed there.
    assert!(
        started.elapsed().as_secs_f64() < SHORT_MAX as f64 - 1.0,
        "too slow to tell idle from absolute expiry"
    );
    let active = assert_login_response(&refresh(app, &active.refresh));
    assert_refresh_refused(app, &idle.refresh, "a session idle past REFRESH_TOKEN_EXPIRE_DAYS");
    assert_ended(app, &idle.access, "the idle session's access token");
    assert_eq!(
        listed_ids(app, &active.access),
        vec![active.session.clone()],
        "an expired session is not listed"
    );
    assert_mails(app, &email, SUSPICIOUS_REFRESH, 0);
}

/// Absolute expiry (8 s from the login here, the idle timeout 6 s): `refresh_expires_in`
/// (and the cookie's `Max-Age`) never exceeds what is left of the session, and once it has
/// passed the refresh is refused although the last token is well within its idle life.
pub fn a_session_ends_at_its_absolute_lifetime() {
    let app = short_app();
    let email = app.verified_user("refresh-absolute");
    let first = login(app, &email);
    let logged_in = Instant::now();
    assert_eq!(first.refresh_expires_in, SHORT_IDLE.min(SHORT_MAX));
    let mut token = first.refresh;
    for at in [3.0, 5.2] {
        sleep_until(logged_in, at);
        let sent = logged_in.elapsed().as_secs_f64();
        let pair = assert_login_response(&refresh(app, &token));
        // At least floor(sent) whole seconds of the session's life have passed.
        let left = SHORT_MAX - sent.floor() as i64;
        assert!(
            pair.refresh_expires_in <= left.min(SHORT_IDLE),
            "{} s at {sent:.1} s after the login",
            pair.refresh_expires_in
        );
        assert!(
            pair.expires_in <= pair.refresh_expires_in,
            "the access token outlives the session"
        );
        if at > 5.0 {
            // The earlier of idle and absolute expiry: the absolute one now.
            let listed = sessions(app, &pair.access);
            let created = unix_of(listed[0]["created_at"].as_str().unwrap());
            assert_eq!(
                unix_of(listed[0]["expires_at"].as_str().unwrap()) - created,
                SHORT_MAX,
                "{listed:?}"
            );
        }
        token = pair.refresh;
    }
    sleep_until(logged_in, SHORT_MAX as f64 + 0.2);
    // The last token was issued at 5 s or later: its idle life lasts past 10 s.
    assert!(
        logged_in.elapsed().as_secs_f64() < SHORT_MAX as f64 + 1.5,
        "too slow to tell absolute from idle expiry"
    );
    assert_refresh_refused(app, &token, "past SESSION_MAX_DAYS");
    assert_mails(app, &email, SUSPICIOUS_REFRESH, 0);
}

/// `RATE_LIMIT_REFRESH_SESSION` (5 a minute here): the sixth refresh of one session, with
/// its current token, is 429 `rate_limited` with `Retry-After` and ends nothing (no cookie
/// touched); another session of the same user refreshes as before.
pub fn the_refreshes_of_one_session_are_limited() {
    let app = short_app();
    let email = app.verified_user("refresh-limit");
    let busy = login(app, &email);
    let calm = login(app, &email);
    let mut token = busy.refresh;
    for _ in 0..SHORT_SESSION_LIMIT {
        token = assert_login_response(&refresh(app, &token)).refresh;
    }
    let limited = refresh(app, &token);
    limited.assert_problem(429, "rate_limited");
    let retry: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    assert_no_cookies(&limited, "a rate-limited refresh");
    assert_login_response(&refresh(app, &calm.refresh));
}

/// sessions.md §1: duration variables accept decimals; `REFRESH_REUSE_INTERVAL_SECONDS` is
/// one (§2's table of lifetimes), so `1.5` starts a healthy Worker whose window works.
pub fn a_decimal_reuse_interval_is_accepted() {
    let app = spawn_isolated_app_with(
        "refresh-decimal-window",
        &[("REFRESH_REUSE_INTERVAL_SECONDS", "1.5")],
        TestApp::answers,
    );
    let health = app.get("/health");
    assert_eq!(health.status, 200, "{}", health.body);
    let email = app.verified_user("refresh-decimal");
    let a = login(app, &email);
    let b = assert_login_response(&refresh(app, &a.refresh));
    assert_eq!(assert_login_response(&refresh(app, &a.refresh)).refresh, b.refresh);
}

// ---------------------------------------------------------------------------------------
// §4: logout scopes.

/// `others` ends every other session of the caller (their access and refresh tokens 401)
/// and keeps the caller's, cookies untouched; `global` then ends all of them and clears
/// both cookies. Another user's session lives through both.
pub fn logout_others_keeps_the_caller_and_global_ends_all() {
    let app = spawn_app();
    let email = app.verified_user("logout-scopes");
    let (first, caller, third) = (login(app, &email), login(app, &email), login(app, &email));
    let stranger = login(app, &app.verified_user("logout-stranger"));

    let others = logout(app, &caller.access, Some(&json!({ "scope": "others" })));
    assert_eq!(others.status, 204, "{}", others.body);
    assert_no_cookies(&others, "logout of the others");
    for ended in [&first, &third] {
        assert_ended(app, &ended.access, "another session after logout others");
        assert_refresh_refused(app, &ended.refresh, "another session after logout others");
    }
    assert_alive(app, &caller.access, "the caller after logout others");
    let caller = assert_login_response(&refresh(app, &caller.refresh));
    assert_eq!(listed_ids(app, &caller.access), vec![caller.session.clone()]);

    let fourth = login(app, &email);
    let global = logout(app, &caller.access, Some(&json!({ "scope": "global" })));
    assert_eq!(global.status, 204, "{}", global.body);
    assert_both_cookies_cleared(&global);
    for ended in [&caller, &fourth] {
        assert_ended(app, &ended.access, "a session after logout global");
        assert_refresh_refused(app, &ended.refresh, "a session after logout global");
    }
    assert_alive(app, &stranger.access, "another user's session");
    assert_login_response(&refresh(app, &stranger.refresh));
}

/// No body or `{}` is `local`, as is `{"scope": "local"}`: the presented session ends, both
/// cookies cleared, the others live on. A scope that is none of the three is 422
/// `validation_error` naming `scope`, and ends nothing.
pub fn logout_is_local_by_default_and_refuses_other_scopes() {
    let app = spawn_app();
    let email = app.verified_user("logout-local");
    let (first, second, third) = (login(app, &email), login(app, &email), login(app, &email));
    for scope in [
        json!("everywhere"),
        json!("LOCAL"),
        json!(""),
        json!(5),
        json!(["global"]),
    ] {
        let answer = logout(app, &first.access, Some(&json!({ "scope": scope })));
        let problem = answer.assert_problem(422, "validation_error");
        assert_eq!(problem["errors"][0]["field"], "scope", "{scope}: {problem}");
        assert_no_cookies(&answer, "a refused logout");
    }
    assert_alive(app, &first.access, "the caller after refused logouts");
    assert_alive(app, &second.access, "another session after refused logouts");
    let first = assert_login_response(&refresh(app, &first.refresh));

    for (ended, body) in [
        (&first, None),
        (&second, Some(json!({}))),
        (&third, Some(json!({ "scope": "local" }))),
    ] {
        let answer = logout(app, &ended.access, body.as_ref());
        assert_eq!(answer.status, 204, "{body:?}: {}", answer.body);
        assert_both_cookies_cleared(&answer);
        assert_ended(app, &ended.access, "the logged-out session");
        assert_refresh_refused(app, &ended.refresh, "the logged-out session");
    }
}

// ---------------------------------------------------------------------------------------
// §4: the session list.

/// Each live session of the caller, and only those: every field with its type, RFC 3339
/// times (`expires_at` 30 days after the login), the address and User-Agent of the login,
/// the device named from it (Chrome, Firefox, curl, none at all), Cloudflare's country and
/// city, `auth_methods` `["password"]`, `current` for the caller's session alone.
pub fn the_session_list_describes_each_live_session() {
    let app = spawn_app();
    let email = app.verified_user("sessions-list");
    let clients = [
        (Client::new(Some(CHROME_WINDOWS)), "Chrome on Windows"),
        (Client::new(Some(FIREFOX_LINUX)), "Firefox on Linux"),
        (Client::new(Some(CURL)), "curl"),
        (Client::new(None), "Unknown device"),
    ];
    let before = now();
    let logins: Vec<Pair> = clients
        .iter()
        .map(|(client, _)| login_from(app, &email, client))
        .collect();
    let after = now();
    let ended = login_from(app, &email, &Client::new(Some(SAFARI_IPHONE)));
    assert_eq!(logout(app, &ended.access, None).status, 204);
    let stranger = login(app, &app.verified_user("sessions-list-stranger"));

    let caller = &logins[1];
    let items = sessions(app, &caller.access);
    assert_eq!(items.len(), clients.len(), "{items:#?}");
    let keys = BTreeSet::from([
        "id",
        "created_at",
        "last_seen_at",
        "expires_at",
        "ip",
        "user_agent",
        "device",
        "country",
        "city",
        "current",
        "auth_methods",
    ]);
    for ((client, device), pair) in clients.iter().zip(&logins) {
        let item = items
            .iter()
            .find(|item| item["id"] == pair.session.as_str())
            .unwrap_or_else(|| panic!("{device}'s session is not listed: {items:#?}"));
        let item_keys: BTreeSet<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(item_keys, keys, "{item}");
        let created = unix_of(item["created_at"].as_str().unwrap());
        let seen = unix_of(item["last_seen_at"].as_str().unwrap());
        let expires = unix_of(item["expires_at"].as_str().unwrap());
        assert!((before..=after).contains(&created), "{item}");
        assert!(seen >= created && seen <= now(), "{item}");
        assert_eq!(expires - created, THIRTY_DAYS, "idle expiry of a new session: {item}");
        assert_eq!(item["ip"], client.ip.as_str(), "{item}");
        assert_eq!(item["user_agent"], json!(client.user_agent), "{item}");
        assert_eq!(item["device"], *device, "{item}");
        assert_eq!(item["country"], CF_COUNTRY, "{item}");
        assert_eq!(item["city"], CF_CITY, "{item}");
        assert_eq!(item["auth_methods"], json!(["password"]), "{item}");
        assert_eq!(item["current"], pair.session == caller.session, "{item}");
    }
    assert!(items
        .iter()
        .all(|i| i["id"] != ended.session.as_str() && i["id"] != stranger.session.as_str()));
    // Anyone's current session is the one of the token they present.
    let from_curl: Vec<Value> = sessions(app, &logins[2].access)
        .into_iter()
        .filter(|i| i["current"] == true)
        .collect();
    assert_eq!(from_curl.len(), 1);
    assert_eq!(from_curl[0]["id"], logins[2].session.as_str());
    sessions_answer(app, &ended.access).assert_problem(401, "invalid_token");
    app.get(&app.auth("sessions")).assert_problem(401, "not_authenticated");
}

/// Latest `last_seen_at` first: a later login comes first, and a refresh moves its session
/// back up, recording the refresh's address, User-Agent and device while the login time
/// and factors stay.
pub fn sessions_are_listed_latest_seen_first() {
    let app = spawn_app();
    let email = app.verified_user("sessions-order");
    let older = login_from(app, &email, &Client::new(Some(FIREFOX_LINUX)));
    // Times are whole seconds: the next event must fall in a later one.
    std::thread::sleep(Duration::from_millis(1100));
    let newer = login_from(app, &email, &Client::new(Some(CHROME_WINDOWS)));
    let listed = sessions(app, &newer.access);
    assert_eq!(
        listed.iter().map(|s| s["id"].clone()).collect::<Vec<_>>(),
        [json!(newer.session), json!(older.session)]
    );
    let (newer_before, before) = (listed[0].clone(), listed[1].clone());
    std::thread::sleep(Duration::from_millis(1100));
    let phone = Client::new(Some(SAFARI_IPHONE));
    let refreshed = assert_login_response(&refresh_from(app, &older.refresh, &phone));
    let listed = sessions(app, &newer.access);
    assert_eq!(
        listed.iter().map(|s| s["id"].clone()).collect::<Vec<_>>(),
        [json!(older.session), json!(newer.session)],
        "the refresh moved its session up: {listed:#?}"
    );
    let after = &listed[0];
    assert!(unix_of(after["last_seen_at"].as_str().unwrap()) > unix_of(listed[1]["last_seen_at"].as_str().unwrap()));
    assert_eq!(after["created_at"], before["created_at"], "the login time stays");
    assert_eq!(after["auth_methods"], before["auth_methods"]);
    assert_eq!(after["ip"], phone.ip.as_str());
    assert_eq!(after["user_agent"], SAFARI_IPHONE);
    assert_eq!(after["device"], "Safari on iOS");
    assert_eq!(
        unix_of(after["expires_at"].as_str().unwrap()) - unix_of(after["last_seen_at"].as_str().unwrap()),
        THIRTY_DAYS,
        "the idle expiry moves with the refresh: {after}"
    );
    assert_eq!(after["current"], false);
    assert_eq!(refreshed.session, older.session);

    // An authenticated request records itself once the recorded `last_seen_at` is over 5
    // minutes old: the newer session, made to look 10 minutes older, is seen again at `me`.
    let id = &newer.session;
    app.execute(
        &format!(
            "UPDATE sessions SET created_at = created_at - 600, last_seen_at = last_seen_at - 600 WHERE id = '{id}'"
        ),
        &format!(
            "UPDATE sessions SET created_at = created_at - interval '600 seconds', \
             last_seen_at = last_seen_at - interval '600 seconds' WHERE id = '{id}'"
        ),
    );
    let seen_from = now();
    assert_alive(app, &newer.access, "the aged session");
    let listed = sessions(app, &refreshed.access);
    let aged = listed.iter().find(|s| s["id"] == id.as_str()).unwrap();
    let created = unix_of(aged["created_at"].as_str().unwrap());
    assert_eq!(
        created,
        unix_of(newer_before["created_at"].as_str().unwrap()) - 600,
        "{aged}"
    );
    assert!(
        unix_of(aged["last_seen_at"].as_str().unwrap()) >= seen_from,
        "me was recorded: {aged}"
    );
}

/// `DELETE {p}/auth/sessions/{id}`: another user's id, a made-up one and a malformed one
/// are 404 `not_found` (the other user's session lives on); another own session is 204
/// without touching the caller's cookies, and 404 the second time; the current session is
/// 204 with both cookies cleared.
pub fn deleting_sessions() {
    let app = spawn_app();
    let email = app.verified_user("sessions-delete");
    let (caller, other, spare) = (login(app, &email), login(app, &email), login(app, &email));
    let stranger = login(app, &app.verified_user("sessions-delete-stranger"));

    for id in [
        stranger.session.clone(),
        stranger.session.to_uppercase(),
        fresh_uuid(),
        "not-a-session".to_owned(),
        format!("{}x", other.session),
        "..%2F..%2Fme".to_owned(),
    ] {
        let answer = delete_session(app, &caller.access, &id);
        assert_eq!(answer.status, 404, "{id}: {}", answer.body);
        answer.assert_problem(404, "not_found");
        assert_no_cookies(&answer, "a refused DELETE");
    }
    assert_alive(app, &stranger.access, "the other user's session");
    assert_login_response(&refresh(app, &stranger.refresh));

    let answer = delete_session(app, &caller.access, &other.session);
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_no_cookies(&answer, "DELETE of another own session");
    assert_ended(app, &other.access, "the deleted session");
    delete_session(app, &caller.access, &other.session).assert_problem(404, "not_found");

    let answer = delete_session(app, &caller.access, &caller.session);
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_both_cookies_cleared(&answer);
    assert_ended(app, &caller.access, "the deleted current session");
    assert_refresh_refused(app, &caller.refresh, "the deleted current session");
    assert_eq!(listed_ids(app, &spare.access), vec![spare.session.clone()]);
    assert_mails(app, &email, SUSPICIOUS_REFRESH, 0);
}

// ---------------------------------------------------------------------------------------
// §5: the new-device mail.

/// The first login after registration mails nothing; the same browser and system again
/// (another version) nothing; a new browser family one `new_sign_in` naming the device,
/// address and place, with the forgot-password link; that one again nothing; a refresh
/// from yet another device nothing; the known browser on a new system one more.
pub fn a_new_device_is_mailed_once_and_never_at_refresh() {
    let app = spawn_app();
    let email = app.verified_user("new-device");
    let first = login_from(app, &email, &Client::new(Some(FIREFOX_LINUX)));
    login_from(app, &email, &Client::new(Some(FIREFOX_LINUX_NEWER)));
    assert_mails(app, &email, NEW_SIGN_IN, 0);

    let chrome = Client::new(Some(CHROME_WINDOWS));
    login_from(app, &email, &chrome);
    let mail = &assert_mails(app, &email, NEW_SIGN_IN, 1)[0];
    for part in [&mail.text, &mail.html] {
        assert!(part.contains("Chrome on Windows"), "the device: {part}");
        assert!(part.contains(&chrome.ip), "the address: {part}");
        assert!(part.contains(CF_CITY) && part.contains(CF_COUNTRY), "the place: {part}");
        assert!(part.contains(&format!("{FRONTEND_URL}/forgot-password")), "{part}");
    }

    login_from(app, &email, &Client::new(Some(CHROME_WINDOWS)));
    let refreshed = assert_login_response(&refresh_from(app, &first.refresh, &Client::new(Some(SAFARI_IPHONE))));
    assert_login_response(&refresh_from(app, &refreshed.refresh, &Client::new(Some(CURL))));
    // A login with a new system (the browser is known) is mailed: it comes after the
    // repeat and the refreshes, so their mails, were there any, would have come first.
    login_from(app, &email, &Client::new(Some(FIREFOX_WINDOWS)));
    let mails = assert_mails(app, &email, NEW_SIGN_IN, 2);
    assert!(mails[1].text.contains("Firefox on Windows"), "{}", mails[1].text);
}

/// A login from a device that was only ever seen at a refresh is still new: refreshes
/// record no device for the new-device mail.
pub fn a_device_seen_only_at_a_refresh_is_still_new_at_login() {
    let app = spawn_app();
    let email = app.verified_user("new-device-refresh");
    let first = login_from(app, &email, &Client::new(Some(FIREFOX_LINUX)));
    assert_login_response(&refresh_from(app, &first.refresh, &Client::new(Some(CURL))));
    login_from(app, &email, &Client::new(Some(CURL)));
    let mail = &assert_mails(app, &email, NEW_SIGN_IN, 1)[0];
    assert!(mail.text.contains("curl"), "{}", mail.text);
}

/// `NEW_DEVICE_WINDOW_DAYS` (2 s here): a device seen at a login within the window is not
/// new; once a whole window has passed since its latest login, it is new again.
pub fn a_device_unseen_for_the_window_is_new_again() {
    let app = short_app();
    let email = app.verified_user("new-device-window");
    login_from(app, &email, &Client::new(Some(FIREFOX_LINUX)));
    login_from(app, &email, &Client::new(Some(CHROME_WINDOWS)));
    login_from(app, &email, &Client::new(Some(CHROME_WINDOWS)));
    let last_seen = Instant::now();
    assert_mails(app, &email, NEW_SIGN_IN, 1);
    // Whole seconds on the server: the window's length after the latest login is past it.
    sleep_until(last_seen, SHORT_DEVICE_WINDOW + 0.05);
    login_from(app, &email, &Client::new(Some(CHROME_WINDOWS)));
    let mails = assert_mails(app, &email, NEW_SIGN_IN, 2);
    assert!(mails[1].text.contains("Chrome on Windows"), "{}", mails[1].text);
}

// ---------------------------------------------------------------------------------------
// Refresh tokens stay where they belong.

/// No answer but the login and the refresh carries a refresh token: not in a body, not in
/// a cookie (a cleared cookie is empty), across registration, verification, resend, `me`,
/// `update-user`, the session list, forget, `DELETE`, logout and refused refreshes.
pub fn only_login_and_refresh_answers_carry_a_refresh_token() {
    let app = spawn_app();
    let email = crate::harness::unique_email("refresh-nowhere");
    let mut answers: Vec<(&str, Answer)> = Vec::new();
    answers.push(("register", app.register(&email, PASSWORD)));
    let code = app.sendgrid.latest_code(&email, 1);
    answers.push(("verify", app.verify(&email, &code)));
    answers.push((
        "resend",
        app.post_json(&app.auth("resend-verification"), &json!({ "email": email })),
    ));
    answers.push(("register again", app.register(&email, PASSWORD)));
    let first = login(app, &email);
    let spare = login(app, &email);
    let second = assert_login_response(&refresh(app, &first.refresh));
    let tokens = [first.refresh.clone(), spare.refresh.clone(), second.refresh.clone()];
    let authorization = bearer(&second.access);
    let auth = [("Authorization", authorization.as_str())];
    answers.push(("me", app.me(&second.access)));
    answers.push(("sessions", sessions_answer(app, &second.access)));
    answers.push((
        "update-user",
        app.request(
            "PUT",
            &app.auth("update-user"),
            &[auth[0], ("Content-Type", "application/json")],
            Some(br#"{"full_name": "Ada"}"#),
        ),
    ));
    answers.push((
        "forget",
        app.post_json(&app.auth("password/forget"), &json!({ "email": email })),
    ));
    answers.push(("unknown token", refresh(app, &URL_SAFE_NO_PAD.encode([1u8; 32]))));
    answers.push(("missing", app.request("POST", &app.auth("token/refresh"), &[], None)));
    answers.push(("delete", delete_session(app, &second.access, &spare.session)));
    answers.push(("refused", refresh(app, &spare.refresh)));
    answers.push(("logout", logout(app, &second.access, None)));
    answers.push(("me after logout", app.me(&second.access)));
    answers.push(("root", app.get("/")));
    for (what, answer) in &answers {
        assert!(answer.status < 500, "{what}: {}", answer.body);
        for token in &tokens {
            assert!(
                !answer.body.contains(token.as_str()),
                "{what} answers a refresh token: {}",
                answer.body
            );
            assert!(
                !answer.headers.iter().any(|(_, v)| v.contains(token.as_str())),
                "{what} has a refresh token in a header: {:?}",
                answer.headers
            );
        }
        if let Ok(body) = serde_json::from_str::<Value>(&answer.body) {
            assert!(!has_key(&body, "refresh_token"), "{what}: {}", answer.body);
        }
        for cookie in set_cookies(answer) {
            assert!(cookie.value.is_empty(), "{what} sets {cookie:?}");
        }
    }
}

/// Whether `key` names a member anywhere in `value`.
fn has_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(members) => members.iter().any(|(k, v)| k == key || has_key(v, key)),
        Value::Array(items) => items.iter().any(|v| has_key(v, key)),
        _ => false,
    }
}

/// The OpenAPI document describes the refresh route (its body field at most 512
/// characters, its 401 codes) and the session routes.
pub fn the_openapi_document_describes_refresh_and_sessions() {
    let app = spawn_app();
    let doc = app.get("/openapi.json").json();
    let paths = &doc["paths"];
    let refresh = &paths["/balance_hub/auth/token/refresh"]["post"];
    assert!(refresh.is_object(), "{}", paths);
    for status in ["200", "401", "429"] {
        assert!(refresh["responses"][status].is_object(), "refresh {status}: {refresh}");
    }
    assert!(paths["/balance_hub/auth/sessions"]["get"]["responses"]["200"].is_object());
    let delete = &paths["/balance_hub/auth/sessions/{id}"]["delete"]["responses"];
    assert!(delete["204"].is_object() && delete["404"].is_object(), "{delete}");
    assert!(paths["/balance_hub/auth/logout"]["post"]["responses"]["422"].is_object());
    let schema = &doc["components"]["schemas"]["RefreshRequest"]["properties"]["refresh_token"];
    assert_eq!(schema["maxLength"], 512, "{schema}");
}

pub fn tests() -> Vec<libtest_mimic::Trial> {
    crate::trials![
        // The short instance's tests first: they wait, and start its Worker early.
        a_session_ends_at_its_absolute_lifetime,
        an_idle_session_refuses_its_refresh_token,
        an_old_token_after_the_window_ends_the_session_and_mails_the_owner,
        the_refreshes_of_one_session_are_limited,
        a_login_sets_the_refresh_cookie_with_the_body_token,
        a_refresh_rotates_the_token_and_sets_both_cookies,
        the_body_token_wins_over_the_cookie,
        no_refresh_token_is_not_authenticated,
        bad_refresh_tokens_are_invalid_and_clear_the_cookie,
        the_previous_token_within_the_window_answers_the_current_one,
        a_token_two_rotations_old_ends_the_session_at_once,
        twenty_concurrent_refreshes_agree_on_one_token,
        ended_sessions_refuse_their_refresh_tokens_without_mail,
        logout_others_keeps_the_caller_and_global_ends_all,
        logout_is_local_by_default_and_refuses_other_scopes,
        the_session_list_describes_each_live_session,
        sessions_are_listed_latest_seen_first,
        deleting_sessions,
        a_new_device_is_mailed_once_and_never_at_refresh,
        a_device_seen_only_at_a_refresh_is_still_new_at_login,
        a_device_unseen_for_the_window_is_new_again,
        only_login_and_refresh_answers_carry_a_refresh_token,
        the_openapi_document_describes_refresh_and_sessions,
        concurrent_replays_of_an_old_token_end_the_session_once,
        a_decimal_reuse_interval_is_accepted,
    ]
}
