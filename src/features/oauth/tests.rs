//! Provider sign-in through the whole pipeline, natively on real SQL, against fake
//! providers (a token endpoint that checks PKCE, a JWKS, GitHub's API) answering through
//! the HTTP port: every account rule, and what a forged, replayed or misdirected step gets.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::provider::PERSONAL_TENANT;
use crate::features::users::testing::{create_user, PASSWORD};
use crate::features::{accounts, mfa, one_time_tokens, password_reset, sessions, signing, users};
use crate::http::Handled;
use crate::kernel::events::AuthEvent;
use crate::kernel::feature::Feature;
use crate::kernel::fetch::{form_decode, FetchError, HttpRequest, HttpResponse};
use crate::kernel::ids::Clock;
use crate::kernel::mail::assert_renders_completely;
use crate::kernel::sql::Database;
use crate::kernel::testing::TestWorld;
use crate::kernel::web::Request;

const P: &str = "/balance_hub/auth";
const APP: &str = "https://app.example.com";

const FEATURES: &[&Feature] = &[
    &users::FEATURE,
    &one_time_tokens::FEATURE,
    &signing::FEATURE,
    &accounts::FEATURE,
    &sessions::FEATURE,
    &password_reset::FEATURE,
    &mfa::FEATURE,
    &super::FEATURE,
];

const ORG_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

const VARS: &[(&str, &str)] = &[
    ("FRONTEND_URL", APP),
    ("CORS_ORIGINS", "https://admin.example.com"),
    ("PUBLIC_URL", "https://auth.example.com"),
    ("OAUTH_GOOGLE_CLIENT_ID", "google-client"),
    ("OAUTH_GOOGLE_CLIENT_SECRET", "google-secret"),
    ("OAUTH_GOOGLE_TOKEN_URL", "https://google.test/token"),
    ("OAUTH_GOOGLE_JWKS_URL", "https://google.test/jwks"),
    ("OAUTH_MICROSOFT_CLIENT_ID", "ms-client"),
    ("OAUTH_MICROSOFT_CLIENT_SECRET", "ms-secret"),
    ("OAUTH_MICROSOFT_TOKEN_URL", "https://ms.test/token"),
    ("OAUTH_MICROSOFT_JWKS_URL", "https://ms.test/jwks"),
    ("OAUTH_GITHUB_CLIENT_ID", "gh-client"),
    ("OAUTH_GITHUB_CLIENT_SECRET", "gh-secret"),
    ("OAUTH_GITHUB_TOKEN_URL", "https://github.test/token"),
    ("OAUTH_GITHUB_USERINFO_URL", "https://api.github.test/user"),
];

/// The provider side, as the fakes answer it.
#[derive(Default)]
struct Fake {
    /// The `code_challenge` of the authorize URL: the token endpoint checks the verifier.
    challenge: Option<String>,
    /// What the token endpoint answers as `id_token`.
    id_token: Option<String>,
    /// Overrides the token endpoint's answer.
    token_answer: Option<Result<HttpResponse, FetchError>>,
    jwks: Option<String>,
    jwks_fetches: u32,
    github_user: Value,
    github_emails: Value,
}

struct Env {
    world: TestWorld,
    fake: Rc<RefCell<Fake>>,
}

fn ok(body: impl ToString) -> Result<HttpResponse, FetchError> {
    Ok(HttpResponse {
        status: 200,
        body: body.to_string(),
    })
}

fn answer_as_provider(fake: &Rc<RefCell<Fake>>, request: &HttpRequest) -> Result<HttpResponse, FetchError> {
    let mut fake = fake.borrow_mut();
    if request.url.ends_with("/jwks") {
        fake.jwks_fetches += 1;
        return ok(fake.jwks.clone().unwrap_or_else(jwks));
    }
    if request.url.ends_with("/token") {
        if let Some(answer) = fake.token_answer.clone() {
            return answer;
        }
        let form = form_decode(request.body.as_deref().unwrap_or_default());
        let field = |name: &str| form.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let verifier = field("code_verifier").unwrap_or_default();
        let pkce_ok = fake.challenge.as_deref() == Some(&URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())));
        if field("code").as_deref() != Some("provider-code") || !pkce_ok || field("grant_type").is_none() {
            return Ok(HttpResponse {
                status: 400,
                body: r#"{"error":"invalid_grant"}"#.into(),
            });
        }
        return ok(json!({"access_token": "provider-access-token", "id_token": fake.id_token}));
    }
    if request.url == "https://api.github.test/user" {
        return ok(&fake.github_user);
    }
    if request.url == "https://api.github.test/user/emails" {
        return ok(&fake.github_emails);
    }
    Err(FetchError::Network(format!("nothing at {}", request.url)))
}

fn env_with(extra: &'static [(&'static str, &'static str)]) -> Env {
    let read = move |name: &str| {
        extra
            .iter()
            .chain(VARS)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
            .or_else(|| crate::kernel::config::test_var(name))
    };
    let world = TestWorld::with_vars(FEATURES, &read);
    let fake = Rc::new(RefCell::new(Fake::default()));
    let answering = fake.clone();
    world
        .http
        .answer(move |request| answer_as_provider(&answering, request));
    Env { world, fake }
}

fn env() -> Env {
    env_with(&[])
}

// --- keys and tokens -------------------------------------------------------------------

fn rsa_key() -> &'static rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap())
}

fn other_rsa_key() -> &'static rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap())
}

fn ec_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_jwk(kid: &str, key: &rsa::RsaPrivateKey) -> Value {
    use rsa::traits::PublicKeyParts;
    json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
        "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())})
}

fn ec_jwk(kid: &str) -> Value {
    let point = ec_key().verifying_key().to_encoded_point(false);
    json!({"kty": "EC", "kid": kid, "crv": "P-256",
        "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())})
}

fn jwks() -> String {
    json!({"keys": [rsa_jwk("rsa-1", rsa_key()), ec_jwk("ec-1")]}).to_string()
}

/// A compact JWS of `claims` with this header, signed as `alg` says (`RS256` by
/// `rsa_key`, `ES256` by `ec_key`, anything else with an empty signature).
fn sign(header: Value, claims: &Value) -> String {
    sign_with(header, claims, rsa_key())
}

fn sign_with(header: Value, claims: &Value, rsa: &rsa::RsaPrivateKey) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = match header["alg"].as_str() {
        Some("RS256") => {
            use rsa::signature::{SignatureEncoding, Signer};
            let key = rsa::pkcs1v15::SigningKey::<Sha256>::new(rsa.clone());
            key.sign(input.as_bytes()).to_vec()
        }
        Some("ES256") => {
            use p256::ecdsa::signature::Signer;
            let signature: p256::ecdsa::Signature = ec_key().sign(input.as_bytes());
            signature.to_bytes().to_vec()
        }
        Some("HS256") => {
            use hmac::{Hmac, Mac};
            let mut mac = Hmac::<Sha256>::new_from_slice(b"google-secret").unwrap();
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        _ => Vec::new(),
    };
    format!("{input}.{}", b64(&signature))
}

fn rs256() -> Value {
    json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"})
}

fn google_claims(world: &TestWorld, nonce: &str, email: &str) -> Value {
    let now = world.clock.now();
    json!({"iss": "https://accounts.google.com", "aud": "google-client", "azp": "google-client",
        "sub": "google-sub-1", "email": email, "email_verified": true, "name": "Ada Lovelace",
        "exp": now + 600, "iat": now, "nonce": nonce})
}

fn microsoft_claims(world: &TestWorld, nonce: &str, tid: &str, email: &str) -> Value {
    let now = world.clock.now();
    json!({"iss": format!("https://login.microsoftonline.com/{tid}/v2.0"), "aud": "ms-client",
        "sub": "ms-sub-1", "tid": tid, "email": email, "xms_edov": true, "name": "Ada",
        "exp": now + 600, "iat": now, "nonce": nonce})
}

// --- the flow as a browser runs it -----------------------------------------------------

thread_local! {
    /// The events of every request sent, until `events` takes them.
    static EVENTS: RefCell<Vec<AuthEvent>> = const { RefCell::new(Vec::new()) };
}

fn events() -> Vec<AuthEvent> {
    EVENTS.with(|events| events.take())
}

fn send(world: &TestWorld, request: Request) -> Handled {
    let handled = crate::http::testing::send(world, FEATURES, request);
    EVENTS.with(|events| events.borrow_mut().extend(handled.events.iter().cloned()));
    handled
}

fn body(handled: &Handled) -> Value {
    serde_json::from_slice(&handled.response.body).unwrap_or(Value::Null)
}

fn code(handled: &Handled) -> (u16, String) {
    let code = body(handled)["code"].as_str().unwrap_or_default().to_owned();
    (handled.response.status, code)
}

fn get(path_and_query: &str) -> Request {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let mut request = Request::new("GET", &format!("{P}{path}")).with_header("cf-connecting-ip", "198.51.100.9");
    request.query = query.to_owned();
    request
}

fn post(path: &str, token: Option<&str>, body: Value) -> Request {
    let request = Request::new("POST", &format!("{P}{path}"))
        .with_header("content-type", "application/json")
        .with_header("cf-connecting-ip", "198.51.100.9")
        .with_body(body.to_string());
    match token {
        Some(token) => request.with_header("authorization", &format!("Bearer {token}")),
        None => request,
    }
}

fn location(handled: &Handled) -> String {
    assert_eq!(handled.response.status, 302, "{:?}", body(handled));
    handled.response.header("location").unwrap().to_owned()
}

fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once(['?', '#']).map(|(_, q)| q).unwrap_or_default();
    form_decode(&query.replace('#', "&"))
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// An authorize request on its way: the provider URL's state and nonce, the binding.
struct Started {
    state: String,
    nonce: String,
    binding: String,
    provider_url: String,
}

fn authorize(env: &Env, provider: &str, query: &str) -> Started {
    let handled = send(&env.world, get(&format!("/oauth/{provider}/authorize?{query}")));
    let url = location(&handled);
    let cookie = handled.response.header("set-cookie").unwrap().to_owned();
    let binding = cookie
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("oauth_binding=")
        .unwrap()
        .to_owned();
    env.fake.borrow_mut().challenge = param(&url, "code_challenge");
    Started {
        state: param(&url, "state").unwrap(),
        nonce: param(&url, "nonce").unwrap_or_default(),
        binding,
        provider_url: url,
    }
}

fn callback_with(env: &Env, provider: &str, query: &str, binding: Option<&str>) -> Handled {
    let mut request = get(&format!("/oauth/{provider}/callback?{query}"));
    if let Some(binding) = binding {
        request = request.with_header("cookie", &format!("oauth_binding={binding}"));
    }
    send(&env.world, request)
}

fn callback(env: &Env, provider: &str, started: &Started) -> Handled {
    let query = format!("code=provider-code&state={}", started.state);
    callback_with(env, provider, &query, Some(&started.binding))
}

/// A whole Google sign-in up to the final redirect, with the ID token `claims` makes.
fn google_sign_in(env: &Env, claims: impl FnOnce(&TestWorld, &str) -> Value) -> String {
    let started = authorize(env, "google", "");
    let token = sign(rs256(), &claims(&env.world, &started.nonce));
    env.fake.borrow_mut().id_token = Some(token);
    location(&callback(env, "google", &started))
}

fn exchange(env: &Env, code: &str) -> Handled {
    send(&env.world, post("/oauth/exchange", None, json!({ "code": code })))
}

fn signed_in(env: &Env, redirect: &str) -> Value {
    let code = param(redirect, "code").unwrap_or_else(|| panic!("no code in {redirect}"));
    let handled = exchange(env, &code);
    assert_eq!(handled.response.status, 200, "{:?}", body(&handled));
    body(&handled)
}

fn users_with(world: &TestWorld, email: &str) -> Vec<Value> {
    world.query(&format!(
        "SELECT id, password_hash, email_verified, full_name, identity_providers FROM users WHERE email = '{email}'"
    ))
}

fn mail_kinds(world: &TestWorld, to: &str) -> Vec<&'static str> {
    world.outbox.to(to).iter().map(|m| m.kind.name).collect()
}

// --- authorize -------------------------------------------------------------------------

#[test]
fn authorize_sends_the_browser_to_the_provider_with_state_pkce_and_nonce() {
    let env = env();
    let started = authorize(
        &env,
        "google",
        "redirect_to=https%3A%2F%2Fapp.example.com%2Fdone&response_mode=query",
    );
    let url = &started.provider_url;
    assert!(
        url.starts_with("https://accounts.google.com/o/oauth2/v2/auth?"),
        "{url}"
    );
    assert_eq!(param(url, "response_type").as_deref(), Some("code"));
    assert_eq!(param(url, "client_id").as_deref(), Some("google-client"));
    assert_eq!(
        param(url, "redirect_uri").as_deref(),
        Some("https://auth.example.com/balance_hub/auth/oauth/google/callback")
    );
    assert_eq!(param(url, "scope").as_deref(), Some("openid email profile"));
    assert_eq!(param(url, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param(url, "code_challenge").unwrap().len(), 43, "BASE64URL(SHA-256)");
    assert!(
        started.state.len() >= 22 && started.nonce.len() >= 22,
        "≥ 128 bits each"
    );
    let stored = env
        .world
        .query("SELECT digest, verifier, nonce, redirect_to, response_mode FROM oauth_states");
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0]["digest"], started.state, "only a digest of the state is kept");
    assert!(
        stored[0]["verifier"].as_str().unwrap().starts_with("v1."),
        "the verifier is sealed"
    );
    assert_eq!(stored[0]["redirect_to"], "https://app.example.com/done");
    assert_eq!(stored[0]["response_mode"], "query");
}

#[test]
fn the_binding_cookie_is_http_only_scoped_and_reused() {
    let env = env();
    let handled = send(&env.world, get("/oauth/github/authorize"));
    let cookie = handled.response.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.ends_with("; HttpOnly; Secure; SameSite=Lax; Path=/balance_hub/auth/oauth/; Max-Age=600"),
        "{cookie}"
    );
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("oauth_binding=")
        .unwrap()
        .to_owned();
    assert!(value.len() >= 22);
    assert_eq!(param(&location(&handled), "nonce"), None, "GitHub is not OIDC");
    let again = get("/oauth/github/authorize").with_header("cookie", &format!("oauth_binding={value}"));
    let reused = send(&env.world, again);
    assert!(reused
        .response
        .header("set-cookie")
        .unwrap()
        .starts_with(&format!("oauth_binding={value};")));
    let forged = get("/oauth/github/authorize").with_header("cookie", "oauth_binding=short");
    let replaced = send(&env.world, forged);
    assert!(!replaced
        .response
        .header("set-cookie")
        .unwrap()
        .starts_with("oauth_binding=short;"));
}

#[test]
fn redirect_targets_off_our_origins_are_refused_before_any_redirect() {
    let env = env();
    for target in [
        "https%3A%2F%2Fevil.test%2F",
        "javascript%3Aalert(1)",
        "https%3A%2F%2Fapp.example.com.evil.test%2F",
        "https%3A%2F%2Fapp.example.com%40evil.test%2F",
        "https%3A%2F%2Fapp.example.com%2F%23x",
    ] {
        let handled = send(
            &env.world,
            get(&format!("/oauth/google/authorize?redirect_to={target}")),
        );
        assert_eq!(code(&handled), (400, "invalid_redirect".into()), "{target}");
        assert!(handled.response.header("location").is_none());
    }
    let other_mode = send(&env.world, get("/oauth/google/authorize?response_mode=form_post"));
    assert_eq!(other_mode.response.status, 422);
    let admin = send(
        &env.world,
        get("/oauth/google/authorize?redirect_to=https%3A%2F%2Fadmin.example.com%2Fx"),
    );
    assert_eq!(admin.response.status, 302, "a CORS origin is ours");
    assert!(
        env.world.query("SELECT 1 AS n FROM oauth_states").len() == 1,
        "no state for a refusal"
    );
}

#[test]
fn unknown_providers_are_not_found_and_unconfigured_ones_say_so() {
    let env = env_with(&[("OAUTH_GITHUB_CLIENT_ID", "")]);
    assert_eq!(
        code(&send(&env.world, get("/oauth/gitlab/authorize"))),
        (404, "not_found".into())
    );
    let unconfigured = send(&env.world, get("/oauth/github/authorize"));
    assert_eq!(code(&unconfigured), (404, "provider_not_configured".into()));
    let callback = send(&env.world, get("/oauth/github/callback?code=x&state=y"));
    assert_eq!(code(&callback), (404, "provider_not_configured".into()));
    let providers = body(&send(&env.world, get("/oauth/providers")));
    assert_eq!(
        providers,
        json!({"items": [{"provider": "google", "name": "Google"}, {"provider": "microsoft", "name": "Microsoft"}]})
    );
}

#[test]
fn a_client_id_without_its_secret_or_an_http_endpoint_in_production_is_refused_by_name() {
    let missing = |name: &str| match name {
        "OAUTH_GOOGLE_CLIENT_ID" => Some("id".to_owned()),
        other => crate::kernel::config::test_var(other),
    };
    let error = crate::kernel::feature::AppState::new(FEATURES, &crate::kernel::config::Vars::new(&missing))
        .err()
        .unwrap();
    assert!(error.to_string().contains("OAUTH_GOOGLE_CLIENT_SECRET"), "{error}");
    let production = |name: &str| match name {
        "ENVIRONMENT" => Some("production".to_owned()),
        "OAUTH_GOOGLE_CLIENT_ID" | "OAUTH_GOOGLE_CLIENT_SECRET" => Some("x".to_owned()),
        "OAUTH_GOOGLE_TOKEN_URL" => Some("http://127.0.0.1:9/token".to_owned()),
        other => crate::kernel::config::test_var(other),
    };
    let error = crate::kernel::feature::AppState::new(FEATURES, &crate::kernel::config::Vars::new(&production))
        .err()
        .unwrap();
    assert!(error.to_string().contains("OAUTH_GOOGLE_TOKEN_URL"), "{error}");
    // oauth.md: http endpoints only with ENVIRONMENT=development, not in a staging either.
    for (environment, accepted) in [("development", true), ("staging", false), ("test", false)] {
        let vars = move |name: &str| match name {
            "ENVIRONMENT" => Some(environment.to_owned()),
            "OAUTH_GOOGLE_CLIENT_ID" | "OAUTH_GOOGLE_CLIENT_SECRET" => Some("x".to_owned()),
            "OAUTH_GOOGLE_TOKEN_URL" => Some("http://127.0.0.1:9/token".to_owned()),
            other => crate::kernel::config::test_var(other),
        };
        let state = crate::kernel::feature::AppState::new(FEATURES, &crate::kernel::config::Vars::new(&vars));
        assert_eq!(state.is_ok(), accepted, "{environment}");
    }
}

// --- the state -------------------------------------------------------------------------

#[test]
fn a_state_works_once_for_its_provider_and_its_browser_only() {
    let env = env();
    let started = authorize(&env, "google", "");
    env.fake.borrow_mut().id_token = Some(sign(
        rs256(),
        &google_claims(&env.world, &started.nonce, "ada@example.com"),
    ));
    let query = format!("code=provider-code&state={}", started.state);
    assert_eq!(callback(&env, "google", &started).response.status, 302);
    let replay = callback(&env, "google", &started);
    assert_eq!(code(&replay), (400, "invalid_state".into()), "a replay");

    let other = authorize(&env, "google", "");
    let query_other = format!("code=provider-code&state={}", other.state);
    let wrong_provider = callback_with(&env, "microsoft", &query_other, Some(&other.binding));
    assert_eq!(
        code(&wrong_provider),
        (400, "invalid_state".into()),
        "another provider's state"
    );
    assert_eq!(
        code(&callback_with(&env, "google", &query_other, Some(&other.binding))),
        (400, "invalid_state".into()),
        "consumed by the failed try"
    );

    for binding in [None, Some("a-different-binding-value-of-43-characters!!")] {
        let fresh = authorize(&env, "google", "");
        let q = format!("code=provider-code&state={}", fresh.state);
        assert_eq!(
            code(&callback_with(&env, "google", &q, binding)),
            (400, "invalid_state".into())
        );
    }
    let _ = query;
    let unknown = callback_with(&env, "google", "code=x&state=made-up", Some(&started.binding));
    assert_eq!(code(&unknown), (400, "invalid_state".into()));
    let none = callback_with(&env, "google", "code=x", Some(&started.binding));
    assert_eq!(code(&none), (400, "invalid_state".into()));
}

#[test]
fn a_state_expires_after_ten_minutes() {
    let env = env();
    let started = authorize(&env, "google", "");
    env.world.advance(601);
    assert_eq!(code(&callback(&env, "google", &started)), (400, "invalid_state".into()));
}

// --- Google sign-up and sign-in ----------------------------------------------------------

#[test]
fn a_new_google_user_gets_a_password_less_verified_account_and_a_session() {
    let env = env();
    let redirect = google_sign_in(&env, |w, n| google_claims(w, n, " Ada@Example.com"));
    assert!(redirect.starts_with("https://app.example.com#code="), "{redirect}");
    assert!(!redirect.contains("access_token") && !redirect.contains("refresh_token"));
    let events = events();
    assert!(events
        .iter()
        .any(|e| matches!(e, AuthEvent::UserCreated { method: "google", .. })));
    assert!(events.iter().any(|e| matches!(
        e,
        AuthEvent::IdentityLinked {
            provider: "google",
            by: "sign_up",
            ..
        }
    )));
    let login = signed_in(&env, &redirect);
    assert_eq!(login["user"]["email"], "ada@example.com");
    assert_eq!(login["user"]["email_verified"], true);
    assert_eq!(login["user"]["full_name"], "Ada Lovelace");
    assert_eq!(login["user"]["sign_in_methods"], json!(["google"]));
    assert!(login["refresh_token"].is_string());
    let sessions = env.world.query("SELECT auth_methods FROM sessions");
    assert_eq!(sessions[0]["auth_methods"], "google");
    let row = &users_with(&env.world, "ada@example.com")[0];
    assert_eq!(row["password_hash"], "");
    let identities = env.world.query("SELECT provider, subject, email FROM identities");
    assert_eq!(
        identities,
        [json!({"provider": "google", "subject": "google-sub-1", "email": "ada@example.com"})]
    );
    let sent = &env.world.http.sent();
    let token_request = sent.iter().find(|r| r.url.ends_with("/token")).unwrap();
    assert_eq!(token_request.header("accept"), Some("application/json"));
    let form = form_decode(token_request.body.as_deref().unwrap());
    for (name, value) in [
        ("grant_type", "authorization_code"),
        (
            "redirect_uri",
            "https://auth.example.com/balance_hub/auth/oauth/google/callback",
        ),
        ("client_id", "google-client"),
        ("client_secret", "google-secret"),
    ] {
        assert!(form.contains(&(name.to_owned(), value.to_owned())), "{name}");
    }
    assert_eq!(token_request.timeout_ms, 10_000);
}

#[test]
fn a_linked_identity_signs_its_user_in_and_records_the_latest_address() {
    let env = env();
    signed_in(
        &env,
        &google_sign_in(&env, |w, n| google_claims(w, n, "ada@example.com")),
    );
    env.world.advance(100);
    let mut claims = None;
    let redirect = google_sign_in(&env, |w, n| {
        let mut c = google_claims(w, n, "ada.new@example.com");
        c["email_verified"] = json!(false);
        claims = Some(c.clone());
        c
    });
    let login = signed_in(&env, &redirect);
    assert_eq!(
        login["user"]["email"], "ada@example.com",
        "the account keeps its own address"
    );
    let identity = &env.world.query("SELECT email, last_used_at FROM identities")[0];
    assert_eq!(identity["email"], "ada.new@example.com");
    assert_eq!(identity["last_used_at"], env.world.clock.now());
    assert_eq!(env.world.query("SELECT id FROM users").len(), 1);
}

#[test]
fn long_provider_names_are_cut_to_a_hundred_characters() {
    let env = env();
    let redirect = google_sign_in(&env, |w, n| {
        let mut c = google_claims(w, n, "ada@example.com");
        c["name"] = json!("é".repeat(150));
        c
    });
    let login = signed_in(&env, &redirect);
    assert_eq!(login["user"]["full_name"].as_str().unwrap().chars().count(), 100);
}

#[test]
fn an_address_google_does_not_vouch_for_signs_nobody_in() {
    let env = env();
    create_user(&env.world, "ada@example.com", true);
    let redirect = google_sign_in(&env, |w, n| {
        let mut c = google_claims(w, n, "ada@example.com");
        c["email_verified"] = json!(false);
        c
    });
    assert_eq!(param(&redirect, "error").as_deref(), Some("email_not_verified"));
    assert!(env.world.query("SELECT 1 AS n FROM identities").is_empty());
}

#[test]
fn a_verified_local_account_is_linked_by_its_email_and_told() {
    let env = env();
    let user = create_user(&env.world, "ada@example.com", true);
    let login = signed_in(
        &env,
        &google_sign_in(&env, |w, n| google_claims(w, n, "ada@example.com")),
    );
    assert_eq!(login["user"]["id"], user.id.0.as_str());
    assert_eq!(login["user"]["sign_in_methods"], json!(["password", "google"]));
    assert_eq!(mail_kinds(&env.world, "ada@example.com")[0], "identity_linked");
    let mail = &env.world.outbox.to("ada@example.com")[0];
    assert_renders_completely(mail);
    let rendered = mail.render("Auth");
    assert!(rendered.subject.contains("Google") && rendered.html.contains("Google"));
    assert!(events()
        .iter()
        .any(|e| matches!(e, AuthEvent::IdentityLinked { by: "email_match", .. })));
}

#[test]
fn an_account_with_another_identity_of_the_provider_is_not_linked_again() {
    let env = env();
    create_user(&env.world, "ada@example.com", true);
    signed_in(
        &env,
        &google_sign_in(&env, |w, n| google_claims(w, n, "ada@example.com")),
    );
    let redirect = google_sign_in(&env, |w, n| {
        let mut c = google_claims(w, n, "ada@example.com");
        c["sub"] = json!("google-sub-2");
        c
    });
    assert_eq!(param(&redirect, "error").as_deref(), Some("provider_already_linked"));
    assert_eq!(env.world.query("SELECT 1 AS n FROM identities").len(), 1);
}

#[test]
fn an_unverified_local_account_is_replaced_never_linked() {
    let env = env();
    let squatter = create_user(&env.world, "ada@example.com", false);
    let login = signed_in(
        &env,
        &google_sign_in(&env, |w, n| google_claims(w, n, "ada@example.com")),
    );
    assert_ne!(login["user"]["id"], squatter.id.0.as_str());
    let rows = users_with(&env.world, "ada@example.com");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["password_hash"], "", "the squatter's password is gone");
    assert!(events().iter().any(|e| matches!(
        e,
        AuthEvent::UserDeleted { reason: "replaced_unverified", user_id } if *user_id == squatter.id
    )));
    let old_password = send(
        &env.world,
        post(
            "/login",
            None,
            json!({"email": "ada@example.com", "password": PASSWORD}),
        ),
    );
    assert_eq!(code(&old_password), (401, "invalid_credentials".into()));
}

// --- ID token checks -------------------------------------------------------------------

/// A change to valid claims that makes them someone else's.
type ClaimChange = Box<dyn Fn(&mut Value)>;
/// A token made from valid claims some way the provider would not.
type Forgery = Box<dyn Fn(&Value) -> String>;

fn refused_token(env: &Env, token: impl FnOnce(&TestWorld, &str) -> String) -> Option<String> {
    let started = authorize(env, "google", "");
    let id_token = token(&env.world, &started.nonce);
    env.fake.borrow_mut().id_token = Some(id_token);
    let redirect = location(&callback(env, "google", &started));
    param(&redirect, "error")
}

#[test]
fn id_tokens_that_are_not_for_us_now_and_this_sign_in_are_refused() {
    let cases: Vec<(&str, ClaimChange)> = vec![
        ("another audience", Box::new(|c| c["aud"] = json!("someone-else"))),
        (
            "another authorized party",
            Box::new(|c| c["azp"] = json!("someone-else")),
        ),
        ("another issuer", Box::new(|c| c["iss"] = json!("https://evil.test"))),
        ("another nonce", Box::new(|c| c["nonce"] = json!("replayed-nonce"))),
        (
            "no nonce",
            Box::new(|c| c.as_object_mut().unwrap().retain(|k, _| k != "nonce")),
        ),
        (
            "expired",
            Box::new(|c| c["exp"] = json!(c["iat"].as_i64().unwrap() - 1)),
        ),
        (
            "issued in the future",
            Box::new(|c| c["iat"] = json!(c["iat"].as_i64().unwrap() + 301)),
        ),
    ];
    for (why, change) in cases {
        let env = env();
        let error = refused_token(&env, |w, n| {
            let mut claims = google_claims(w, n, "ada@example.com");
            change(&mut claims);
            sign(rs256(), &claims)
        });
        assert_eq!(error.as_deref(), Some("oauth_failed"), "{why}");
        assert!(
            env.world.query("SELECT 1 AS n FROM users").is_empty(),
            "{why}: no account"
        );
    }
    let env = env();
    let accepted = refused_token(&env, |w, n| {
        let mut claims = google_claims(w, n, "ada@example.com");
        claims["aud"] = json!(["other", "google-client"]);
        claims["iss"] = json!("accounts.google.com");
        claims["iat"] = json!(claims["iat"].as_i64().unwrap() + 299);
        claims.as_object_mut().unwrap().remove("azp");
        sign(rs256(), &claims)
    });
    assert_eq!(accepted, None, "an audience list, the bare issuer, a little clock skew");
}

#[test]
fn only_a_signature_by_a_key_of_the_jwks_in_its_own_algorithm_counts() {
    let forged: Vec<(&str, Forgery)> = vec![
        ("another RSA key", Box::new(|c| sign_with(rs256(), c, other_rsa_key()))),
        (
            "alg none",
            Box::new(|c| sign(json!({"alg": "none", "kid": "rsa-1"}), c)),
        ),
        (
            "HS256 with the client secret",
            Box::new(|c| sign(json!({"alg": "HS256", "kid": "rsa-1"}), c)),
        ),
        (
            "ES256 on the RSA key",
            Box::new(|c| sign(json!({"alg": "ES256", "kid": "rsa-1"}), c)),
        ),
        (
            "RS256 on the EC key",
            Box::new(|c| sign(json!({"alg": "RS256", "kid": "ec-1"}), c)),
        ),
        ("no kid", Box::new(|c| sign(json!({"alg": "RS256"}), c))),
        (
            "a crit header",
            Box::new(|c| sign(json!({"alg": "RS256", "kid": "rsa-1", "crit": ["x"]}), c)),
        ),
        (
            "a changed payload",
            Box::new(|c| {
                let token = sign(rs256(), c);
                let parts: Vec<&str> = token.split('.').collect();
                let mut changed = c.clone();
                changed["sub"] = json!("someone-else");
                format!("{}.{}.{}", parts[0], b64(changed.to_string().as_bytes()), parts[2])
            }),
        ),
        ("not a JWS", Box::new(|_| "a.b".to_owned())),
    ];
    for (why, token) in forged {
        let env = env();
        let error = refused_token(&env, |w, n| token(&google_claims(w, n, "ada@example.com")));
        assert_eq!(error.as_deref(), Some("oauth_failed"), "{why}");
    }
    let env = env();
    let es256 = refused_token(&env, |w, n| {
        sign(
            json!({"alg": "ES256", "kid": "ec-1"}),
            &google_claims(w, n, "ada@example.com"),
        )
    });
    assert_eq!(es256, None, "an ES256 key of the JWKS");
}

#[test]
fn an_unknown_kid_refetches_the_jwks_at_most_once_a_minute() {
    let env = env();
    let rotated = |w: &TestWorld, n: &str| {
        sign(
            json!({"alg": "RS256", "kid": "rsa-2"}),
            &google_claims(w, n, "a@example.com"),
        )
    };
    assert_eq!(refused_token(&env, rotated).as_deref(), Some("oauth_failed"));
    assert_eq!(env.fake.borrow().jwks_fetches, 1);
    // The provider rotates in rsa-2; within the minute the cached set still answers.
    env.fake.borrow_mut().jwks = Some(json!({"keys": [rsa_jwk("rsa-2", rsa_key())]}).to_string());
    env.world.advance(30);
    assert_eq!(refused_token(&env, rotated).as_deref(), Some("oauth_failed"));
    assert_eq!(env.fake.borrow().jwks_fetches, 1, "no refetch within a minute");
    env.world.advance(31);
    assert_eq!(refused_token(&env, rotated), None, "refetched once the minute passed");
    assert_eq!(env.fake.borrow().jwks_fetches, 2);
    // A known kid is served from the cache for up to an hour, then fetched again.
    let env2 = &env;
    env2.world.advance(3000);
    let known = |w: &TestWorld, n: &str| {
        let mut c = google_claims(w, n, "a@example.com");
        c["sub"] = json!("google-sub-1");
        sign(json!({"alg": "RS256", "kid": "rsa-2"}), &c)
    };
    assert_eq!(refused_token(env2, known), None);
    assert_eq!(env2.fake.borrow().jwks_fetches, 2);
    env2.world.advance(600);
    assert_eq!(refused_token(env2, known), None);
    assert_eq!(env2.fake.borrow().jwks_fetches, 3, "an hour old: fetched again");
}

// --- the token endpoint ----------------------------------------------------------------

#[test]
fn the_token_endpoint_sees_the_verifier_of_the_challenge() {
    let env = env();
    let started = authorize(&env, "google", "");
    env.fake.borrow_mut().id_token = Some(sign(
        rs256(),
        &google_claims(&env.world, &started.nonce, "a@example.com"),
    ));
    // Another challenge than this sign-in's: the fake refuses the verifier it receives.
    env.fake.borrow_mut().challenge = Some(b64(&Sha256::digest(b"some other verifier")));
    let redirect = location(&callback(&env, "google", &started));
    assert_eq!(param(&redirect, "error").as_deref(), Some("oauth_failed"));
}

#[test]
fn provider_outages_and_refusals_redirect_with_their_codes() {
    let cases: Vec<(Result<HttpResponse, FetchError>, &str)> = vec![
        (Err(FetchError::Timeout(10_000)), "provider_unavailable"),
        (Err(FetchError::Network("reset".into())), "provider_unavailable"),
        (
            Ok(HttpResponse {
                status: 503,
                body: String::new(),
            }),
            "provider_unavailable",
        ),
        (
            Ok(HttpResponse {
                status: 401,
                body: "{}".into(),
            }),
            "oauth_failed",
        ),
        (
            Ok(HttpResponse {
                status: 200,
                body: "not json".into(),
            }),
            "oauth_failed",
        ),
        (
            Ok(HttpResponse {
                status: 200,
                body: r#"{"access_token":"x"}"#.into(),
            }),
            "oauth_failed",
        ),
    ];
    for (answer, expected) in cases {
        let env = env();
        env.fake.borrow_mut().token_answer = Some(answer.clone());
        let started = authorize(&env, "google", "response_mode=query");
        let redirect = location(&callback(&env, "google", &started));
        assert!(redirect.starts_with("https://app.example.com?error="), "{redirect}");
        assert_eq!(param(&redirect, "error").as_deref(), Some(expected), "{answer:?}");
    }
    for (error, expected) in [("access_denied", "access_denied"), ("server_error", "oauth_failed")] {
        let env = env();
        let started = authorize(&env, "google", "");
        let query = format!("error={error}&state={}", started.state);
        let redirect = location(&callback_with(&env, "google", &query, Some(&started.binding)));
        assert_eq!(param(&redirect, "error").as_deref(), Some(expected));
        assert!(
            env.world.http.sent().is_empty(),
            "no token request after a provider error"
        );
    }
}

// --- Microsoft -------------------------------------------------------------------------

fn microsoft_error(
    extra: &'static [(&'static str, &'static str)],
    claims: impl FnOnce(&TestWorld, &str) -> Value,
) -> Option<String> {
    let env = env_with(extra);
    let started = authorize(&env, "microsoft", "");
    env.fake.borrow_mut().id_token = Some(sign(rs256(), &claims(&env.world, &started.nonce)));
    param(&location(&callback(&env, "microsoft", &started)), "error")
}

#[test]
fn microsoft_tenants_admit_only_their_accounts() {
    let org = |w: &TestWorld, n: &str| microsoft_claims(w, n, ORG_TENANT, "ada@contoso.test");
    let personal = |w: &TestWorld, n: &str| microsoft_claims(w, n, PERSONAL_TENANT, "ada@outlook.test");
    assert_eq!(microsoft_error(&[], org), None, "common takes work accounts");
    assert_eq!(microsoft_error(&[], personal), None, "and personal ones");
    let organizations: &[(&str, &str)] = &[("OAUTH_MICROSOFT_TENANT", "organizations")];
    assert_eq!(
        microsoft_error(organizations, personal).as_deref(),
        Some("oauth_failed")
    );
    assert_eq!(microsoft_error(organizations, org), None);
    let consumers: &[(&str, &str)] = &[("OAUTH_MICROSOFT_TENANT", "consumers")];
    assert_eq!(microsoft_error(consumers, org).as_deref(), Some("oauth_failed"));
    assert_eq!(microsoft_error(consumers, personal), None);
    let one: &[(&str, &str)] = &[("OAUTH_MICROSOFT_TENANT", ORG_TENANT)];
    assert_eq!(microsoft_error(one, org), None);
    assert_eq!(microsoft_error(one, personal).as_deref(), Some("oauth_failed"));
    let wrong_issuer = |w: &TestWorld, n: &str| {
        let mut c = microsoft_claims(w, n, ORG_TENANT, "ada@contoso.test");
        c["iss"] = json!(format!("https://login.microsoftonline.com/{PERSONAL_TENANT}/v2.0"));
        c
    };
    assert_eq!(
        microsoft_error(&[], wrong_issuer).as_deref(),
        Some("oauth_failed"),
        "iss names another tid"
    );
    let override_issuer: &[(&str, &str)] = &[("OAUTH_MICROSOFT_ISSUER", "https://ms.test/{tid}/v2.0")];
    let mock = |w: &TestWorld, n: &str| {
        let mut c = microsoft_claims(w, n, ORG_TENANT, "ada@contoso.test");
        c["iss"] = json!(format!("https://ms.test/{ORG_TENANT}/v2.0"));
        c
    };
    assert_eq!(
        microsoft_error(override_issuer, mock),
        None,
        "{{tid}} in an issuer override"
    );
    assert_eq!(microsoft_error(override_issuer, org).as_deref(), Some("oauth_failed"));
}

#[test]
fn a_microsoft_work_address_counts_only_when_its_domain_owner_verified_it() {
    let unproven = |w: &TestWorld, n: &str| {
        let mut c = microsoft_claims(w, n, ORG_TENANT, "ada@contoso.test");
        c.as_object_mut().unwrap().remove("xms_edov");
        c
    };
    assert_eq!(microsoft_error(&[], unproven).as_deref(), Some("email_not_verified"));
    let personal = |w: &TestWorld, n: &str| {
        let mut c = microsoft_claims(w, n, PERSONAL_TENANT, "ada@outlook.test");
        c.as_object_mut().unwrap().remove("xms_edov");
        c
    };
    assert_eq!(microsoft_error(&[], personal), None, "personal accounts are verified");
    let env = env();
    let started = authorize(&env, "microsoft", "");
    let claims = microsoft_claims(&env.world, &started.nonce, ORG_TENANT, "ada@contoso.test");
    env.fake.borrow_mut().id_token = Some(sign(rs256(), &claims));
    signed_in(&env, &location(&callback(&env, "microsoft", &started)));
    let subject = &env.world.query("SELECT subject FROM identities")[0]["subject"];
    assert_eq!(*subject, format!("{ORG_TENANT}:ms-sub-1"), "tid + sub");
}

// --- GitHub ----------------------------------------------------------------------------

fn github(env: &Env, emails: Value) -> String {
    env.fake.borrow_mut().github_user = json!({"id": 4242, "login": "ada", "name": null});
    env.fake.borrow_mut().github_emails = emails;
    let started = authorize(env, "github", "");
    location(&callback(env, "github", &started))
}

#[test]
fn github_signs_in_by_the_primary_verified_address_only() {
    for emails in [
        json!([{"email": "ada@example.com", "primary": true, "verified": false}]),
        json!([{"email": "ada@example.com", "primary": false, "verified": true}]),
        json!([]),
    ] {
        let env = env();
        let redirect = github(&env, emails.clone());
        assert_eq!(
            param(&redirect, "error").as_deref(),
            Some("email_not_verified"),
            "{emails}"
        );
    }
    let env = env();
    let redirect = github(
        &env,
        json!([
            {"email": "other@example.com", "primary": false, "verified": true},
            {"email": "Ada@Example.com", "primary": true, "verified": true}
        ]),
    );
    let login = signed_in(&env, &redirect);
    assert_eq!(login["user"]["email"], "ada@example.com");
    assert_eq!(login["user"]["full_name"], "ada", "the login when there is no name");
    assert_eq!(env.world.query("SELECT subject FROM identities")[0]["subject"], "4242");
    let sent = env.world.http.sent();
    let user_request = sent.iter().find(|r| r.url == "https://api.github.test/user").unwrap();
    assert_eq!(
        user_request.header("authorization"),
        Some("Bearer provider-access-token")
    );
    assert_eq!(user_request.header("accept"), Some("application/vnd.github+json"));
    assert_eq!(user_request.header("user-agent"), Some("Auth System"));
}

// --- exchange --------------------------------------------------------------------------

#[test]
fn an_exchange_code_works_once_and_for_sixty_seconds() {
    let env = env();
    let redirect = google_sign_in(&env, |w, n| google_claims(w, n, "ada@example.com"));
    let code_value = param(&redirect, "code").unwrap();
    assert!(code_value.len() >= 22);
    let stored = env.world.query("SELECT digest FROM oauth_exchange_codes");
    assert_ne!(stored[0]["digest"], code_value.as_str(), "kept as a digest");
    assert_eq!(exchange(&env, &code_value).response.status, 200);
    assert_eq!(
        code(&exchange(&env, &code_value)),
        (400, "invalid_code".into()),
        "a reuse"
    );
    let late = param(
        &google_sign_in(&env, |w, n| google_claims(w, n, "ada@example.com")),
        "code",
    )
    .unwrap();
    env.world.advance(61);
    assert_eq!(code(&exchange(&env, &late)), (400, "invalid_code".into()), "expired");
    assert_eq!(code(&exchange(&env, "made-up")), (400, "invalid_code".into()));
    let fresh = param(
        &google_sign_in(&env, |w, n| google_claims(w, n, "ada@example.com")),
        "code",
    )
    .unwrap();
    let foreign = post("/oauth/exchange", None, json!({ "code": fresh })).with_header("origin", "https://evil.test");
    assert_eq!(
        code(&send(&env.world, foreign)),
        (403, "forbidden_origin".into()),
        "login CSRF"
    );
    let ours = post("/oauth/exchange", None, json!({ "code": fresh })).with_header("origin", APP);
    assert_eq!(
        send(&env.world, ours).response.status,
        200,
        "the code was not spent by the refusal"
    );
    assert_eq!(code(&exchange(&env, "")), (400, "invalid_code".into()));
}

fn totp_enabled(env: &Env, email: &str) -> Vec<u8> {
    let token = {
        let login = send(
            &env.world,
            post("/login", None, json!({"email": email, "password": PASSWORD})),
        );
        body(&login)["access_token"].as_str().unwrap().to_owned()
    };
    let enrollment = body(&send(
        &env.world,
        post("/mfa/totp/enroll", Some(&token), json!({"current_password": PASSWORD})),
    ));
    let secret = decode_base32(enrollment["secret"].as_str().unwrap());
    let code = mfa::testing::code_text(&secret, mfa::testing::step_at(env.world.clock.now()));
    let confirmed = send(
        &env.world,
        post("/mfa/totp/confirm", Some(&token), json!({ "code": code })),
    );
    assert_eq!(confirmed.response.status, 200, "{:?}", body(&confirmed));
    env.world.advance(mfa::testing::STEP_SECONDS);
    secret
}

fn decode_base32(text: &str) -> Vec<u8> {
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            _ => c - b'2' + 26,
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

#[test]
fn a_2fa_account_is_challenged_and_its_email_match_link_waits_for_the_second_factor() {
    let env = env();
    create_user(&env.world, "ada@example.com", true);
    let secret = totp_enabled(&env, "ada@example.com");
    let redirect = google_sign_in(&env, |w, n| google_claims(w, n, "ada@example.com"));
    assert!(
        env.world.query("SELECT 1 AS n FROM identities").is_empty(),
        "not linked at the callback"
    );
    let challenge = signed_in(&env, &redirect);
    assert_eq!(challenge["mfa_required"], true, "{challenge:?}");
    assert!(challenge.get("access_token").is_none());
    assert!(
        env.world.query("SELECT 1 AS n FROM identities").is_empty(),
        "nor at the exchange"
    );
    let wrong = send(
        &env.world,
        post(
            "/mfa/verify",
            None,
            json!({"mfa_token": challenge["mfa_token"], "code": "000000"}),
        ),
    );
    assert_eq!(wrong.response.status, 401);
    assert!(
        env.world.query("SELECT 1 AS n FROM identities").is_empty(),
        "nor after a wrong code"
    );
    let code = mfa::testing::code_text(&secret, mfa::testing::step_at(env.world.clock.now()));
    let verified = send(
        &env.world,
        post(
            "/mfa/verify",
            None,
            json!({"mfa_token": challenge["mfa_token"], "code": code}),
        ),
    );
    assert_eq!(verified.response.status, 200, "{:?}", body(&verified));
    assert_eq!(
        body(&verified)["user"]["sign_in_methods"],
        json!(["password", "google"])
    );
    let sessions = env
        .world
        .query("SELECT auth_methods FROM sessions ORDER BY created_at DESC, rowid DESC");
    assert_eq!(sessions[0]["auth_methods"], "google,totp");
    assert_eq!(
        env.world.query("SELECT provider FROM identities"),
        [json!({"provider": "google"})]
    );
    assert!(mail_kinds(&env.world, "ada@example.com").contains(&"identity_linked"));
    assert!(env
        .world
        .query("SELECT 1 AS n FROM oauth_exchange_codes WHERE link_subject IS NOT NULL")
        .is_empty());
}

// --- link mode -------------------------------------------------------------------------

fn password_login(env: &Env, email: &str) -> String {
    let login = send(
        &env.world,
        post("/login", None, json!({"email": email, "password": PASSWORD})),
    );
    assert_eq!(login.response.status, 200, "{:?}", body(&login));
    body(&login)["access_token"].as_str().unwrap().to_owned()
}

fn link(env: &Env, token: &str, provider: &str, input: Value) -> Handled {
    send(&env.world, post(&format!("/oauth/{provider}/link"), Some(token), input))
}

/// The link's provider URL, then the callback with the browser's binding.
fn complete_link(env: &Env, token: &str, claims: impl FnOnce(&TestWorld, &str) -> Value) -> String {
    let handled = link(env, token, "google", json!({"current_password": PASSWORD}));
    assert_eq!(handled.response.status, 200, "{:?}", body(&handled));
    let url = body(&handled)["url"].as_str().unwrap().to_owned();
    let cookie = handled.response.header("set-cookie").unwrap().to_owned();
    let binding = cookie
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("oauth_binding=")
        .unwrap()
        .to_owned();
    let nonce = param(&url, "nonce").unwrap();
    env.fake.borrow_mut().challenge = param(&url, "code_challenge");
    env.fake.borrow_mut().id_token = Some(sign(rs256(), &claims(&env.world, &nonce)));
    let query = format!("code=provider-code&state={}", param(&url, "state").unwrap());
    location(&callback_with(env, "google", &query, Some(&binding)))
}

#[test]
fn a_signed_in_user_links_a_provider_after_reauthenticating() {
    let env = env();
    create_user(&env.world, "ada@example.com", true);
    let token = password_login(&env, "ada@example.com");
    assert_eq!(
        code(&link(&env, &token, "google", json!({}))),
        (403, "current_password_required".into())
    );
    assert_eq!(
        code(&link(
            &env,
            &token,
            "google",
            json!({"current_password": "wrong password"})
        )),
        (401, "invalid_credentials".into())
    );
    assert_eq!(
        code(&link(
            &env,
            &token,
            "google",
            json!({"current_password": PASSWORD, "redirect_to": "https://evil.test/"})
        )),
        (400, "invalid_redirect".into())
    );
    // Another address at Google: linking by the user does not need it to match.
    let redirect = complete_link(&env, &token, |w, n| google_claims(w, n, "ada.work@example.com"));
    assert_eq!(redirect, "https://app.example.com#linked=google");
    assert_eq!(
        env.world.query("SELECT email FROM identities")[0]["email"],
        "ada.work@example.com"
    );
    assert!(mail_kinds(&env.world, "ada@example.com").contains(&"identity_linked"));
    let listed = body(&send(
        &env.world,
        get("/identities").with_header("authorization", &format!("Bearer {token}")),
    ));
    assert_eq!(listed["items"][0]["provider"], "google");
    assert_eq!(listed["items"][0]["email"], "ada.work@example.com");
    assert!(listed["items"][0]["created_at"].as_str().unwrap().ends_with('Z'));
    let again = complete_link(&env, &token, |w, n| google_claims(w, n, "ada.work@example.com"));
    assert_eq!(
        again, "https://app.example.com#linked=google",
        "already this user's: success"
    );
    let other = complete_link(&env, &token, |w, n| {
        let mut c = google_claims(w, n, "x@example.com");
        c["sub"] = json!("google-sub-9");
        c
    });
    assert_eq!(param(&other, "error").as_deref(), Some("provider_already_linked"));
}

#[test]
fn an_identity_of_another_user_is_never_linked_and_an_ended_session_links_nothing() {
    let env = env();
    signed_in(
        &env,
        &google_sign_in(&env, |w, n| google_claims(w, n, "first@example.com")),
    );
    create_user(&env.world, "ada@example.com", true);
    let token = password_login(&env, "ada@example.com");
    let taken = complete_link(&env, &token, |w, n| google_claims(w, n, "first@example.com"));
    assert_eq!(param(&taken, "error").as_deref(), Some("identity_in_use"));

    let handled = link(&env, &token, "google", json!({"current_password": PASSWORD}));
    let url = body(&handled)["url"].as_str().unwrap().to_owned();
    let cookie = handled.response.header("set-cookie").unwrap().to_owned();
    let binding = cookie
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("oauth_binding=")
        .unwrap()
        .to_owned();
    let logout = send(&env.world, post("/logout", Some(&token), json!({})));
    assert_eq!(logout.response.status, 204);
    env.fake.borrow_mut().challenge = param(&url, "code_challenge");
    let mut claims = google_claims(&env.world, &param(&url, "nonce").unwrap(), "ada@example.com");
    claims["sub"] = json!("google-sub-7");
    env.fake.borrow_mut().id_token = Some(sign(rs256(), &claims));
    let query = format!("code=provider-code&state={}", param(&url, "state").unwrap());
    let ended = location(&callback_with(&env, "google", &query, Some(&binding)));
    assert_eq!(param(&ended, "error").as_deref(), Some("oauth_failed"));
}

// --- identities and password-less accounts ------------------------------------------------

fn unlink(env: &Env, token: &str, provider: &str) -> Handled {
    let request = Request::new("DELETE", &format!("{P}/identities/{provider}"))
        .with_header("authorization", &format!("Bearer {token}"));
    send(&env.world, request)
}

#[test]
fn the_last_credential_cannot_be_unlinked_and_others_can() {
    let env = env();
    let login = signed_in(
        &env,
        &google_sign_in(&env, |w, n| google_claims(w, n, "ada@example.com")),
    );
    let token = login["access_token"].as_str().unwrap().to_owned();
    assert_eq!(code(&unlink(&env, &token, "google")), (409, "last_credential".into()));
    assert_eq!(code(&unlink(&env, &token, "microsoft")), (404, "not_found".into()));
    assert_eq!(code(&unlink(&env, &token, "gitlab")), (404, "not_found".into()));
    assert_eq!(env.world.query("SELECT 1 AS n FROM identities").len(), 1);
    // A passkey (as the passkeys feature mirrors it) is another credential.
    env.world.query("UPDATE users SET passkey_count = 1 RETURNING id");
    assert_eq!(unlink(&env, &token, "google").response.status, 204);
    assert!(env.world.query("SELECT 1 AS n FROM identities").is_empty());
    assert_eq!(users_with(&env.world, "ada@example.com")[0]["identity_providers"], "");
    assert!(mail_kinds(&env.world, "ada@example.com").contains(&"identity_unlinked"));
    assert_renders_completely(&env.world.outbox.to("ada@example.com").last().unwrap().clone());
}

#[test]
fn identity_providers_mirror_the_links_in_link_order() {
    let env = env();
    let login = signed_in(
        &env,
        &google_sign_in(&env, |w, n| google_claims(w, n, "ada@example.com")),
    );
    env.world.advance(10);
    let redirect = github(
        &env,
        json!([{"email": "ada@example.com", "primary": true, "verified": true}]),
    );
    let second = signed_in(&env, &redirect);
    assert_eq!(second["user"]["sign_in_methods"], json!(["google", "github"]));
    let token = login["access_token"].as_str().unwrap();
    assert_eq!(unlink(&env, token, "google").response.status, 204, "github remains");
    assert_eq!(
        users_with(&env.world, "ada@example.com")[0]["identity_providers"],
        "github"
    );
}

#[test]
fn a_password_less_account_answers_a_password_login_like_a_wrong_password() {
    let env = env();
    signed_in(
        &env,
        &google_sign_in(&env, |w, n| google_claims(w, n, "ada@example.com")),
    );
    events();
    for password in ["", "anything at all"] {
        let handled = send(
            &env.world,
            post(
                "/login",
                None,
                json!({"email": "ada@example.com", "password": password}),
            ),
        );
        let expected = if password.is_empty() { 422 } else { 401 };
        assert_eq!(handled.response.status, expected);
    }
    let unknown = send(
        &env.world,
        post(
            "/login",
            None,
            json!({"email": "nobody@example.com", "password": "anything at all"}),
        ),
    );
    assert_eq!(
        code(&unknown),
        (401, "invalid_credentials".into()),
        "the same answer as an unknown email"
    );
    assert_eq!(
        events().iter().filter(|e| matches!(e, AuthEvent::LoginFailed)).count(),
        2,
        "counted as failed logins"
    );
    // No usable hash costs a dummy bcrypt check, as an unknown email does (passwords::verify).
    assert!(!crate::features::users::passwords::verify("anything at all", "", 4));
}

#[test]
fn a_password_less_account_sets_its_first_password_only_through_a_reset() {
    let env = env();
    let login = signed_in(
        &env,
        &google_sign_in(&env, |w, n| google_claims(w, n, "ada@example.com")),
    );
    let token = login["access_token"].as_str().unwrap().to_owned();
    let update = |input: Value| {
        let request = Request::new("PUT", &format!("{P}/update-user"))
            .with_header("content-type", "application/json")
            .with_header("authorization", &format!("Bearer {token}"))
            .with_body(input.to_string());
        send(&env.world, request)
    };
    let refused = update(json!({"password": "a brand new passphrase"}));
    assert_eq!(code(&refused), (403, "password_not_set".into()));
    assert_eq!(
        users_with(&env.world, "ada@example.com")[0]["password_hash"],
        "",
        "nothing changed"
    );
    assert_eq!(
        update(json!({"email": "ada.new@example.com"})).response.status,
        200,
        "a recent login"
    );
    env.world.advance(11 * 60);
    let stale = update(json!({"email": "ada.newer@example.com"}));
    assert_eq!(code(&stale), (403, "reauthentication_required".into()));

    let forget = send(
        &env.world,
        post("/password/forget", None, json!({"email": "ada@example.com"})),
    );
    assert_eq!(forget.response.status, 202);
    let mail = env
        .world
        .outbox
        .to("ada@example.com")
        .into_iter()
        .find(|m| m.kind.name == "password_reset")
        .unwrap();
    let reset_token = mail
        .value("reset_url")
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_owned();
    let reset = send(
        &env.world,
        post(
            "/password/reset",
            None,
            json!({"token": reset_token, "new_password": "a brand new passphrase"}),
        ),
    );
    assert_eq!(reset.response.status, 200, "{:?}", body(&reset));
    assert!(mail_kinds(&env.world, "ada@example.com").contains(&"password_changed"));
    let relogin = send(
        &env.world,
        post(
            "/login",
            None,
            json!({"email": "ada@example.com", "password": "a brand new passphrase"}),
        ),
    );
    assert_eq!(relogin.response.status, 200);
    assert_eq!(body(&relogin)["user"]["sign_in_methods"], json!(["password", "google"]));
}

#[test]
fn housekeeping_drops_expired_states_and_codes() {
    let env = env();
    authorize(&env, "google", "");
    google_sign_in(&env, |w, n| google_claims(w, n, "ada@example.com"));
    env.world.advance(601);
    let now = env.world.clock.now();
    for statement in super::FEATURE.housekeeping {
        pollster::block_on(env.world.db.run(statement, &[now.into()])).unwrap();
    }
    assert!(env.world.query("SELECT 1 AS n FROM oauth_states").is_empty());
    assert!(env.world.query("SELECT 1 AS n FROM oauth_exchange_codes").is_empty());
}

#[test]
fn the_mails_render() {
    let env = env();
    env.world.with_ctx(|ctx| {
        for kind in [&super::mails::IDENTITY_LINKED, &super::mails::IDENTITY_UNLINKED] {
            assert_renders_completely(&super::mails::notice(
                ctx,
                kind,
                "ada@example.com",
                super::Provider::GitHub,
            ));
        }
    });
}
