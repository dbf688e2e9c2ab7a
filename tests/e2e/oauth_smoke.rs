//! One smoke test of provider sign-in under `wrangler dev`: the platform's side of it
//! (outbound `Fetch` to a token endpoint and a JWKS, RS256 through WebCrypto's
//! `importKey('jwk')` + `verify`), which native tests cannot reach. A fake Google (token
//! endpoint + JWKS) on loopback; the browser's part is played by hand. The full black-box
//! suite of oauth.md is tests/e2e/oauth.rs (another branch).

use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::harness::{spawn_isolated_app_with, unique_email, unix_now, TestApp};

pub fn tests() -> Vec<libtest_mimic::Trial> {
    crate::trials![a_google_sign_in_fetches_the_token_and_jwks_and_verifies_rs256_in_the_worker]
}

/// What the fake provider answers and saw.
#[derive(Default)]
struct Seen {
    id_token: Option<String>,
    token_form: Option<String>,
}

struct FakeGoogle {
    url: String,
    seen: Arc<Mutex<Seen>>,
    key: rsa::RsaPrivateKey,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn fake_google() -> &'static FakeGoogle {
    static FAKE: OnceLock<FakeGoogle> = OnceLock::new();
    FAKE.get_or_init(|| {
        use rsa::traits::PublicKeyParts;
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let jwks = json!({"keys": [{"kty": "RSA", "kid": "smoke-1", "alg": "RS256", "use": "sig",
            "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())}]})
        .to_string();
        let server = tiny_http::Server::http("127.0.0.1:0").expect("the fake provider binds");
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let mut body = String::new();
                let _ = request.as_reader().read_to_string(&mut body);
                let answer = if request.url().starts_with("/jwks") {
                    jwks.clone()
                } else {
                    let mut seen = shared.lock().unwrap();
                    seen.token_form = Some(body);
                    json!({"access_token": "smoke-access", "id_token": seen.id_token}).to_string()
                };
                let header = tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap();
                let _ = request.respond(tiny_http::Response::from_string(answer).with_header(header));
            }
        });
        FakeGoogle { url, seen, key }
    })
}

fn app() -> &'static TestApp {
    let fake = fake_google();
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let overrides: &'static [(&'static str, &'static str)] = Box::leak(Box::new([
        ("OAUTH_GOOGLE_CLIENT_ID", "smoke-client"),
        ("OAUTH_GOOGLE_CLIENT_SECRET", "smoke-secret"),
        ("OAUTH_GOOGLE_ISSUER", leak(fake.url.clone())),
        ("OAUTH_GOOGLE_AUTHORIZE_URL", leak(format!("{}/authorize", fake.url))),
        ("OAUTH_GOOGLE_TOKEN_URL", leak(format!("{}/token", fake.url))),
        ("OAUTH_GOOGLE_JWKS_URL", leak(format!("{}/jwks", fake.url))),
    ]));
    spawn_isolated_app_with("oauth_smoke", overrides, TestApp::is_healthy)
}

fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once(['?', '#']).map(|(_, q)| q.replace('#', "&"))?;
    query.split('&').find_map(|pair| {
        let (n, v) = pair.split_once('=')?;
        (n == name).then(|| v.replace("%2F", "/").replace("%3A", ":").replace("%2B", "+"))
    })
}

fn sign(key: &rsa::RsaPrivateKey, claims: &Value) -> String {
    use rsa::signature::{SignatureEncoding, Signer};
    let header = json!({"alg": "RS256", "kid": "smoke-1", "typ": "JWT"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone());
    format!("{input}.{}", b64(&signer.sign(input.as_bytes()).to_vec()))
}

pub fn a_google_sign_in_fetches_the_token_and_jwks_and_verifies_rs256_in_the_worker() {
    let app = app();
    let fake = fake_google();
    let no_redirects = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(30))
        .build();
    let get = |path: &str, cookie: Option<&str>| {
        let mut request = no_redirects.get(&app.url(path));
        if let Some(cookie) = cookie {
            request = request.set("Cookie", cookie);
        }
        match request.call() {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(e) => panic!("GET {path}: {e}"),
        }
    };
    let authorize = get(&app.auth("oauth/google/authorize"), None);
    assert_eq!(authorize.status(), 302);
    let provider_url = authorize.header("location").unwrap().to_owned();
    let binding = authorize
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (state, nonce) = (
        param(&provider_url, "state").unwrap(),
        param(&provider_url, "nonce").unwrap(),
    );
    let challenge = param(&provider_url, "code_challenge").unwrap();

    let email = unique_email("oauth-smoke");
    let now = unix_now();
    let claims = json!({"iss": fake.url, "aud": "smoke-client", "sub": format!("sub-{email}"),
        "email": email, "email_verified": true, "name": "Smoke Test",
        "iat": now, "exp": now + 300, "nonce": nonce});
    fake.seen.lock().unwrap().id_token = Some(sign(&fake.key, &claims));
    let callback = get(
        &app.auth(&format!("oauth/google/callback?code=smoke-code&state={state}")),
        Some(&binding),
    );
    assert_eq!(callback.status(), 302);
    let redirect = callback.header("location").unwrap().to_owned();
    assert_eq!(param(&redirect, "error"), None, "{redirect}");
    let code = param(&redirect, "code").unwrap_or_else(|| panic!("no code in {redirect}"));

    let form = fake.seen.lock().unwrap().token_form.clone().unwrap();
    let verifier = form
        .split('&')
        .find_map(|pair| pair.strip_prefix("code_verifier="))
        .unwrap()
        .to_owned();
    assert_eq!(b64(&Sha256::digest(verifier.as_bytes())), challenge, "PKCE S256");

    let exchanged = app.post_json(&app.auth("oauth/exchange"), &json!({ "code": code }));
    assert_eq!(exchanged.status, 200, "{}", exchanged.body);
    let login = exchanged.json();
    assert_eq!(login["user"]["email"], email.as_str());
    assert_eq!(login["user"]["sign_in_methods"], json!(["google"]));
    assert_eq!(app.me(login["access_token"].as_str().unwrap()).status, 200);
}
