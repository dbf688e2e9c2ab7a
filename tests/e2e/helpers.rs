//! `spawn_app()`: the real Worker under `wrangler dev`, with its own fresh local state
//! (D1, Durable Objects), on a free port, pointed at fake SendGrid and Sentry servers.
//! One instance serves the whole run; tests stay independent by using fresh emails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{OnceLock, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::fake_sendgrid::{self, FakeSendGrid};
use super::fake_sentry::FakeSentry;

pub const PREFIX: &str = "/balance_hub";
pub const PASSWORD: &str = "correct horse battery staple";
pub const FRONTEND_URL: &str = "http://frontend.test";
pub const ALLOWED_ORIGIN: &str = "http://allowed.test";
pub const BCRYPT_COST: u32 = 4;
pub const LOCKOUT_FREE_ATTEMPTS: u32 = 10;
pub const METRICS_TOKEN: &str = "e2e-metrics-token";

pub struct TestApp {
    pub address: String,
    pub sendgrid: FakeSendGrid,
    pub sentry: FakeSentry,
    pub state_dir: PathBuf,
    pub log_file: PathBuf,
    agent: ureq::Agent,
}

static APP: OnceLock<TestApp> = OnceLock::new();
/// Requests share it; direct D1 access (`TestApp::d1`) takes it alone.
static DB_GATE: RwLock<()> = RwLock::new(());

/// The running Worker. `start_worker` must have run (main does it before any test).
pub fn spawn_app() -> &'static TestApp {
    APP.get().expect("the Worker was started by main")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wrangler(state_dir: &Path) -> Command {
    let root = root();
    let mut command = Command::new(root.join("node_modules/.bin/wrangler"));
    let path = format!(
        "{}:{}",
        root.join(".tools/node/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    command
        .current_dir(&root)
        .env("PATH", path)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("XDG_CONFIG_HOME", state_dir.join("config"));
    command
}

/// A running `wrangler dev`, stopped (its whole process group) when dropped.
pub struct Worker {
    child: Child,
    state_dir: PathBuf,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
        if std::env::var_os("E2E_KEEP_STATE").is_none() {
            let _ = std::fs::remove_dir_all(&self.state_dir);
        }
    }
}

/// Applies the migrations to a fresh state directory, starts `wrangler dev` on a free port
/// and waits for `/health`.
pub fn start_worker() -> Worker {
    let sendgrid = FakeSendGrid::start();
    let sentry = FakeSentry::start();
    let state_dir = std::env::temp_dir().join(format!("edge-auth-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state_dir);
    std::fs::create_dir_all(&state_dir).unwrap();
    let persist = state_dir.join("state");

    let migrate = wrangler(&state_dir)
        .args(["d1", "migrations", "apply", "DB", "--local", "--persist-to"])
        .arg(&persist)
        .output()
        .expect("wrangler runs (run `make setup` first)");
    assert!(
        migrate.status.success(),
        "migrations failed: {}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    let port = free_port();
    let secret: String = (0..48)
        .map(|i| char::from(b'a' + ((std::process::id() as usize * 7 + i * 13) % 26) as u8))
        .collect();
    let vars = [
        ("SECRET_KEY", secret),
        ("BCRYPT_COST", BCRYPT_COST.to_string()),
        ("SENDGRID_API_URL", sendgrid.url.clone()),
        ("SENDGRID_API_KEY", fake_sendgrid::API_KEY.to_owned()),
        ("SENTRY_DSN", sentry.dsn.clone()),
        ("FRONTEND_URL", FRONTEND_URL.to_owned()),
        ("CORS_ORIGINS", ALLOWED_ORIGIN.to_owned()),
        ("ENVIRONMENT", "e2e".to_owned()),
        // Short windows and a small lockout, so limits can be met and outlived in seconds.
        ("RATE_LIMIT_FORGET_EMAIL", "3/12".to_owned()),
        ("RATE_LIMIT_VERIFY_ACCOUNT", "30/600".to_owned()),
        ("RATE_LIMIT_USER_API", "20/60".to_owned()),
        ("LOCKOUT_FREE_ATTEMPTS", LOCKOUT_FREE_ATTEMPTS.to_string()),
        ("LOCKOUT_BASE_SECONDS", "1".to_owned()),
        ("LOCKOUT_MAX_SECONDS", "4".to_owned()),
        ("METRICS_TOKEN", METRICS_TOKEN.to_owned()),
        ("FAULT_INJECTION", "true".to_owned()),
    ];
    let log_file = state_dir.join("wrangler.log");
    let log = std::fs::File::create(&log_file).unwrap();
    let mut command = wrangler(&state_dir);
    command
        .args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--inspector-port",
            &free_port().to_string(),
            "--show-interactive-dev-session=false",
            "--persist-to",
        ])
        .arg(&persist);
    for (name, value) in &vars {
        command.arg("--var").arg(format!("{name}:{value}"));
    }
    use std::os::unix::process::CommandExt;
    let child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("wrangler dev starts");
    let mut worker = Worker {
        child,
        state_dir: state_dir.clone(),
    };

    let address = format!("http://127.0.0.1:{port}");
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(Some(status)) = worker.child.try_wait() {
            panic!(
                "wrangler dev exited ({status}):\n{}",
                std::fs::read_to_string(&log_file).unwrap_or_default()
            );
        }
        if agent.get(&format!("{address}/health")).call().is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Worker did not answer /health:\n{}",
            std::fs::read_to_string(&log_file).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let app = TestApp {
        address,
        sendgrid,
        sentry,
        state_dir,
        log_file,
        agent,
    };
    assert!(APP.set(app).is_ok(), "start_worker runs once");
    worker
}

/// What a test needs of an answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a problem+json answer with this status and code.
    pub fn assert_problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "body: {}",
            self.body
        );
        let problem = self.json();
        assert_eq!(problem["code"], code, "body: {}", self.body);
        assert_eq!(problem["status"], status);
        assert!(problem["detail"].is_string() && problem["title"].is_string() && problem["type"].is_string());
        problem
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends a request. Unless the test names one, each request comes from its own
    /// `CF-Connecting-IP`, so per-IP limits only bite in the tests that aim at them.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Answer {
        let _shared = DB_GATE.read().unwrap_or_else(|e| e.into_inner());
        let mut request = self.agent.request(method, &self.url(path));
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("cf-connecting-ip"))
        {
            request = request.set("CF-Connecting-IP", &unique_ip());
        }
        for (name, value) in headers {
            request = request.set(name, value);
        }
        let result = match body {
            Some(bytes) => request.send_bytes(bytes),
            None => request.call(),
        };
        let response = match result {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(e) => panic!("{method} {path} failed: {e}"),
        };
        let status = response.status();
        let headers = response
            .headers_names()
            .into_iter()
            .flat_map(|name| {
                response
                    .all(&name)
                    .into_iter()
                    .map(move |v| (name.clone(), v.to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect();
        Answer {
            status,
            headers,
            body: response.into_string().unwrap_or_default(),
        }
    }

    pub fn get(&self, path: &str) -> Answer {
        self.request("GET", path, &[], None)
    }

    pub fn get_with_token(&self, path: &str, token: &str) -> Answer {
        self.request("GET", path, &[("Authorization", &format!("Bearer {token}"))], None)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            Some(body.to_string().as_bytes()),
        )
    }

    pub fn auth(&self, route: &str) -> String {
        format!("{PREFIX}/auth/{route}")
    }

    pub fn register(&self, email: &str, password: &str) -> Answer {
        self.post_json(
            &self.auth("register"),
            &serde_json::json!({ "email": email, "password": password }),
        )
    }

    pub fn verify(&self, email: &str, code: &str) -> Answer {
        self.post_json(
            &self.auth("verify-email"),
            &serde_json::json!({ "email": email, "code": code }),
        )
    }

    pub fn login(&self, email: &str, password: &str) -> Answer {
        self.post_json(
            &self.auth("login"),
            &serde_json::json!({ "email": email, "password": password }),
        )
    }

    /// Registers and verifies a fresh account; answers its email.
    pub fn verified_user(&self, tag: &str) -> String {
        let email = unique_email(tag);
        assert_eq!(self.register(&email, PASSWORD).status, 201);
        let code = self.sendgrid.latest_code(&email, 1);
        assert_eq!(self.verify(&email, &code).status, 200);
        email
    }

    /// A verified account, logged in: (email, access token).
    pub fn logged_in_user(&self, tag: &str) -> (String, String) {
        let email = self.verified_user(tag);
        let answer = self.login(&email, PASSWORD);
        assert_eq!(answer.status, 200, "{}", answer.body);
        (email, answer.json()["access_token"].as_str().unwrap().to_owned())
    }

    /// Runs SQL against the test instance's local D1 (for arranging and inspecting rows).
    /// Local D1 is one SQLite file: while this runs no test request is in flight (the
    /// gate), so neither side meets SQLITE_BUSY.
    pub fn d1(&self, sql: &str) -> Vec<Value> {
        let _exclusive = DB_GATE.write().unwrap_or_else(|e| e.into_inner());
        let output = wrangler(&self.state_dir)
            .args(["d1", "execute", "DB", "--local", "--json", "--persist-to"])
            .arg(self.state_dir.join("state"))
            .args(["--command", sql])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "d1 execute failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: Value = serde_json::from_slice(&output.stdout).expect("d1 execute --json prints JSON");
        json[0]["results"].as_array().cloned().unwrap_or_default()
    }
}

/// A fresh address per call, so tests never share accounts.
pub fn unique_email(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{tag}.{}.{n}@example.com", std::process::id())
}

/// A documentation-range address (198.18.0.0/15) not used by any other request of the run.
pub fn unique_ip() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("198.{}.{}.{}", 18 + (n >> 16) % 2, (n >> 8) & 0xff, n & 0xff)
}
