//! One passkey ceremony in a real browser: headless Debian Chromium (driven by
//! playwright-core, never a downloaded browser) with a DevTools virtual authenticator,
//! against a Worker of its own whose relying party is `localhost`. The page side is
//! `browser/passkey.mjs`; it gets the access token of an account registered here and
//! reports what it saw as one JSON line.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::worker::node;
use crate::harness::{spawn_isolated_app_with, TestApp, PASSWORD, PREFIX};

/// How long the script may take (a cold Chromium start is a few seconds).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// The page's origin: `http://localhost:<a free port>`, where the script serves the page
/// from a loopback server of its own.
fn page_origin() -> &'static str {
    static ORIGIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(|| {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        format!("http://localhost:{port}")
    })
}

fn browser_app() -> &'static TestApp {
    let origin = page_origin();
    spawn_isolated_app_with(
        "passkeys-browser",
        &[
            ("FRONTEND_URL", origin),
            ("CORS_ORIGINS", origin),
            ("WEBAUTHN_RP_ID", "localhost"),
            ("WEBAUTHN_ORIGINS", origin),
        ],
        TestApp::is_healthy,
    )
}

/// Runs the script for `access`: its report.
fn run_script(app: &TestApp, access: &str) -> Value {
    let mut child = node()
        .arg("tests/e2e/browser/passkey.mjs")
        .env("WORKER_URL", &app.address)
        .env("PAGE_ORIGIN", page_origin())
        .env("API_PREFIX", PREFIX)
        .env("ACCESS_TOKEN", access)
        .env("PASSWORD", PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs (run scripts/setup.sh first)");
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("browser/passkey.mjs took longer than {SCRIPT_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "browser/passkey.mjs failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("the script's report is JSON ({e}): {stdout}"))
}

pub fn chromium_registers_a_passkey_and_signs_in_with_it() {
    let app = browser_app();
    let (email, access) = app.logged_in_user("browser");
    let report = run_script(app, &access);
    assert_eq!(report["secureContext"], true, "{report}");
    assert_eq!(report["registerOptions"], 200, "{report}");
    assert_eq!(report["registerVerify"], 201, "{report}");
    assert_eq!(report["passkey"]["name"], "Virtual authenticator", "{report}");
    assert_eq!(report["loginOptions"], 200, "{report}");
    assert_eq!(
        report["assertionHasUserHandle"], true,
        "a discoverable credential: {report}"
    );
    assert_eq!(report["loginVerify"], 200, "{report}");
    assert_eq!(report["residentCredentials"], 1, "{report}");
    assert_eq!(report["login"]["user"]["email"], email.as_str(), "{report}");

    // The browser's session is a passkey login of that account.
    let token = report["login"]["access_token"].as_str().expect("an access token");
    let sessions = app.get_with_token(&app.auth("sessions"), token);
    assert_eq!(sessions.status, 200, "{}", sessions.body);
    let current: Vec<Value> = sessions.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["current"] == true)
        .cloned()
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["auth_methods"], serde_json::json!(["passkey"]));
    let listed = app.get_with_token(&app.auth("passkeys"), &access).json();
    assert_eq!(listed["items"][0]["id"], report["passkey"]["id"]);
    assert!(listed["items"][0]["last_used_at"].is_string(), "{listed}");
}

pub fn tests() -> Vec<libtest_mimic::Trial> {
    crate::trials![chromium_registers_a_passkey_and_signs_in_with_it]
}
