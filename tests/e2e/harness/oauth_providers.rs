//! The identity providers every Worker instance of the run is pointed at: the OIDC mock
//! for Google and Microsoft (`tests/e2e/tools/oidc-mock.mjs`, `oauth2-mock-server` under
//! the project's Node, one child process for the run) and the fake GitHub (in process).
//! `oauth_vars` are the `OAUTH_*` variables of the test configuration.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;

use super::fake_github::{self, FakeGitHub};
use super::worker::{node, root};

pub const GOOGLE_CLIENT_ID: &str = "e2e-google-client.apps.googleusercontent.com";
pub const GOOGLE_CLIENT_SECRET: &str = "e2e-google-secret";
pub const MICROSOFT_CLIENT_ID: &str = "0b8c2a3e-0000-4000-8000-00000000e2e0";
pub const MICROSOFT_CLIENT_SECRET: &str = "e2e-microsoft-secret";

pub struct Providers {
    /// The mock's origin for Google: its issuer, `/authorize`, `/token`, `/jwks`.
    pub google: String,
    /// The mock's origin for Microsoft; its issuers are `{microsoft}/{tid}/v2.0`.
    pub microsoft: String,
    pub github: FakeGitHub,
    agent: ureq::Agent,
}

/// The mock's process; its stdin is held open, and it exits when that closes.
static MOCK: Mutex<Option<(Child, ChildStdin)>> = Mutex::new(None);
static PROVIDERS: OnceLock<Providers> = OnceLock::new();

/// The providers, started on first use.
pub fn providers() -> &'static Providers {
    PROVIDERS.get_or_init(start)
}

fn start() -> Providers {
    let config = serde_json::json!([
        { "name": "google", "client_id": GOOGLE_CLIENT_ID, "client_secret": GOOGLE_CLIENT_SECRET },
        { "name": "microsoft", "client_id": MICROSOFT_CLIENT_ID, "client_secret": MICROSOFT_CLIENT_SECRET },
    ]);
    let mut child = node()
        .arg(root().join("tests/e2e/tools/oidc-mock.mjs"))
        .arg(config.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs the OIDC mock (run `bash scripts/setup.sh` first)");
    let stdin = child.stdin.take().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("the OIDC mock prints its addresses");
    let started: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("the OIDC mock did not start ({e}): {line:?}"));
    *MOCK.lock().unwrap_or_else(|e| e.into_inner()) = Some((child, stdin));
    Providers {
        google: started["google"].as_str().unwrap().to_owned(),
        microsoft: started["microsoft"].as_str().unwrap().to_owned(),
        github: FakeGitHub::start(),
        agent: ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .redirects(0)
            .build(),
    }
}

/// Ends the mock's process (main calls it at the end of the run, pass or fail).
pub fn stop() {
    if let Some((mut child, stdin)) = MOCK.lock().unwrap_or_else(|e| e.into_inner()).take() {
        drop(stdin);
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The `OAUTH_*` variables of the shared instance (and of instances that ask for them):
/// every provider configured, each endpoint pointed at its mock (`OAUTH_MICROSOFT_TENANT`
/// stays `common`).
pub fn oauth_vars() -> Vec<(&'static str, String)> {
    let p = providers();
    let (g, m, gh) = (&p.google, &p.microsoft, &p.github.url);
    vec![
        // oauth.md: http provider endpoints only with ENVIRONMENT=development.
        ("ENVIRONMENT", "development".to_owned()),
        ("OAUTH_GOOGLE_CLIENT_ID", GOOGLE_CLIENT_ID.to_owned()),
        ("OAUTH_GOOGLE_CLIENT_SECRET", GOOGLE_CLIENT_SECRET.to_owned()),
        ("OAUTH_GOOGLE_ISSUER", g.clone()),
        ("OAUTH_GOOGLE_AUTHORIZE_URL", format!("{g}/authorize")),
        ("OAUTH_GOOGLE_TOKEN_URL", format!("{g}/token")),
        ("OAUTH_GOOGLE_JWKS_URL", format!("{g}/jwks")),
        ("OAUTH_MICROSOFT_CLIENT_ID", MICROSOFT_CLIENT_ID.to_owned()),
        ("OAUTH_MICROSOFT_CLIENT_SECRET", MICROSOFT_CLIENT_SECRET.to_owned()),
        ("OAUTH_MICROSOFT_ISSUER", format!("{m}/{{tid}}/v2.0")),
        ("OAUTH_MICROSOFT_AUTHORIZE_URL", format!("{m}/authorize")),
        ("OAUTH_MICROSOFT_TOKEN_URL", format!("{m}/token")),
        ("OAUTH_MICROSOFT_JWKS_URL", format!("{m}/jwks")),
        ("OAUTH_GITHUB_CLIENT_ID", fake_github::CLIENT_ID.to_owned()),
        ("OAUTH_GITHUB_CLIENT_SECRET", fake_github::CLIENT_SECRET.to_owned()),
        ("OAUTH_GITHUB_AUTHORIZE_URL", format!("{gh}/login/oauth/authorize")),
        ("OAUTH_GITHUB_TOKEN_URL", format!("{gh}/login/oauth/access_token")),
        ("OAUTH_GITHUB_USERINFO_URL", format!("{gh}/user")),
    ]
}

impl Providers {
    /// What the OIDC mock at `origin` does for `code` at its token endpoint: claims for the
    /// ID token, a signing mode, an outage (see the script's header).
    pub fn arrange(&self, origin: &str, arrangement: &Value) {
        self.agent
            .post(&format!("{origin}/__arrange"))
            .send_json(arrangement.clone())
            .unwrap_or_else(|e| panic!("arranging the mock: {e}"));
    }

    /// What the OIDC mock at `origin` saw for `code`: `{"authorize": {query}, "token":
    /// {"form", "headers"} | null}`.
    pub fn seen(&self, origin: &str, code: &str) -> Value {
        self.agent
            .get(&format!("{origin}/__seen"))
            .query("code", code)
            .call()
            .unwrap_or_else(|e| panic!("reading the mock: {e}"))
            .into_json()
            .unwrap()
    }

    /// A GET that follows no redirect (the test is the browser): (status, Location).
    pub fn visit(&self, url: &str) -> (u16, Option<String>) {
        let response = match self.agent.get(url).call() {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("GET {url}: {e}"),
        };
        (response.status(), response.header("location").map(str::to_owned))
    }
}
