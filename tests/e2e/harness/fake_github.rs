//! A fake of GitHub's OAuth app endpoints on loopback: `GET /login/oauth/authorize` (it
//! redirects straight back with a code, as a user who consents), `POST
//! /login/oauth/access_token`, `GET /user` and `GET /user/emails`. It checks what GitHub
//! checks: the app's id and secret, a code it issued and used once, the authorize request's
//! `redirect_uri`, the PKCE `code_verifier` against the `code_challenge` (S256); the API
//! wants `Authorization: Bearer <a token it issued>`, `Accept: application/vnd.github+json`
//! and a `User-Agent`. Like GitHub, a refused code exchange is a 200 with an `error` field.
//! Each test arranges the account (and its emails) for the code it was issued.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "e2e-github-client";
pub const CLIENT_SECRET: &str = "e2e-github-secret";

/// What the fake answers for one code.
#[derive(Clone, Debug)]
pub struct GitHubCase {
    /// `GET /user`: `{"id", "login", "name", "email"}`.
    pub user: Value,
    /// `GET /user/emails`: `[{"email", "primary", "verified", "visibility"}]`.
    pub emails: Value,
    /// The token endpoint answers this status (a 5xx outage) instead.
    pub token_status: Option<u16>,
}

/// The requests the fake saw for one code.
#[derive(Clone, Debug, Default)]
pub struct GitHubSeen {
    pub authorize: HashMap<String, String>,
    pub token_form: HashMap<String, String>,
    pub token_headers: HashMap<String, String>,
    pub user_headers: HashMap<String, String>,
    pub emails_headers: HashMap<String, String>,
}

#[derive(Default)]
struct State {
    /// code → (the authorize query, used)
    grants: HashMap<String, (HashMap<String, String>, bool)>,
    cases: HashMap<String, GitHubCase>,
    /// access token → code
    tokens: HashMap<String, String>,
    seen: HashMap<String, GitHubSeen>,
}

#[derive(Clone)]
pub struct FakeGitHub {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeGitHub {
    pub fn start() -> Self {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("fake GitHub binds");
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let mut body = String::new();
                let _ = request.as_reader().read_to_string(&mut body);
                let (status, headers, answer) = handle(&request, &body, &shared);
                let mut response = tiny_http::Response::from_string(answer).with_status_code(status);
                for (name, value) in headers {
                    response.add_header(tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap());
                }
                let _ = request.respond(response);
            }
        });
        Self { url, state }
    }

    pub fn arrange(&self, code: &str, case: GitHubCase) {
        self.state.lock().unwrap().cases.insert(code.to_owned(), case);
    }

    pub fn seen(&self, code: &str) -> GitHubSeen {
        self.state.lock().unwrap().seen.get(code).cloned().unwrap_or_default()
    }
}

fn fresh(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}{n:06x}{nanos:08x}")
}

fn form(text: &str) -> HashMap<String, String> {
    url_pairs(text).into_iter().collect()
}

/// `a=1&b=2` percent-decoded (`+` is a space), as a form or a query.
pub fn url_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(())
                {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

type Reply = (u16, Vec<(String, String)>, String);

fn json_reply(status: u16, body: Value) -> Reply {
    (
        status,
        vec![("Content-Type".into(), "application/json; charset=utf-8".into())],
        body.to_string(),
    )
}

fn handle(request: &tiny_http::Request, body: &str, state: &Mutex<State>) -> Reply {
    let headers: HashMap<String, String> = request
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_owned(),
            )
        })
        .collect();
    let (path, query) = request.url().split_once('?').unwrap_or((request.url(), ""));
    let mut state = state.lock().unwrap();
    match (request.method(), path) {
        (tiny_http::Method::Get, "/login/oauth/authorize") => {
            let query = form(query);
            if query.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
                return (404, vec![], "Not Found".into());
            }
            let Some(redirect) = query.get("redirect_uri").cloned() else {
                return (400, vec![], "redirect_uri required".into());
            };
            let code = fresh("ghc");
            let mut location = format!(
                "{redirect}{}code={code}",
                if redirect.contains('?') { '&' } else { '?' }
            );
            if let Some(s) = query.get("state") {
                location.push_str(&format!("&state={}", encode(s)));
            }
            state.seen.entry(code.clone()).or_default().authorize = query.clone();
            state.grants.insert(code, (query, false));
            (302, vec![("Location".into(), location)], String::new())
        }
        (tiny_http::Method::Post, "/login/oauth/access_token") => {
            let form = form(body);
            let code = form.get("code").cloned().unwrap_or_default();
            let entry = state.seen.entry(code.clone()).or_default();
            entry.token_form = form.clone();
            entry.token_headers = headers.clone();
            if let Some(status) = state.cases.get(&code).and_then(|c| c.token_status) {
                return (status, vec![], "GitHub is having a moment".into());
            }
            // Without `Accept: application/json` GitHub answers a form-encoded body.
            let wants_json = headers.get("accept").is_some_and(|a| a.contains("application/json"));
            let refuse = |error: &str| {
                if wants_json {
                    json_reply(200, json!({ "error": error, "error_description": error }))
                } else {
                    (200, vec![], format!("error={error}"))
                }
            };
            if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
                || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
            {
                return refuse("incorrect_client_credentials");
            }
            let Some((grant, used)) = state.grants.get_mut(&code) else {
                return refuse("bad_verification_code");
            };
            if *used {
                return refuse("bad_verification_code");
            }
            *used = true;
            if form.get("redirect_uri") != grant.get("redirect_uri") {
                return refuse("redirect_uri_mismatch");
            }
            if let Some(challenge) = grant.get("code_challenge") {
                let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                let digest =
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                if grant.get("code_challenge_method").map(String::as_str) != Some("S256") || &digest != challenge {
                    return refuse("bad_verification_code");
                }
            }
            let token = fresh("gho_");
            state.tokens.insert(token.clone(), code);
            if !wants_json {
                return (
                    200,
                    vec![],
                    format!("access_token={token}&scope=read%3Auser%2Cuser%3Aemail&token_type=bearer"),
                );
            }
            json_reply(
                200,
                json!({ "access_token": token, "token_type": "bearer", "scope": "read:user,user:email" }),
            )
        }
        (tiny_http::Method::Get, "/user") | (tiny_http::Method::Get, "/user/emails") => {
            let token = headers
                .get("authorization")
                .and_then(|a| a.strip_prefix("Bearer ").or_else(|| a.strip_prefix("bearer ")))
                .unwrap_or_default();
            let Some(code) = state.tokens.get(token).cloned() else {
                return json_reply(401, json!({ "message": "Bad credentials" }));
            };
            let entry = state.seen.entry(code.clone()).or_default();
            if path == "/user" {
                entry.user_headers = headers.clone();
            } else {
                entry.emails_headers = headers.clone();
            }
            if headers.get("user-agent").is_none_or(|ua| ua.trim().is_empty()) {
                return (
                    403,
                    vec![],
                    "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"
                        .into(),
                );
            }
            if !headers
                .get("accept")
                .is_some_and(|a| a.contains("application/vnd.github+json"))
            {
                return json_reply(415, json!({ "message": "Unsupported 'Accept' header" }));
            }
            let Some(case) = state.cases.get(&code) else {
                return json_reply(404, json!({ "message": "Not Found" }));
            };
            json_reply(
                200,
                if path == "/user" {
                    case.user.clone()
                } else {
                    case.emails.clone()
                },
            )
        }
        _ => (404, vec![], "Not Found".into()),
    }
}

/// Percent-encodes everything but the unreserved characters (RFC 3986).
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
