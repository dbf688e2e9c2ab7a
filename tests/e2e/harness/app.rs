//! `spawn_app()` and the client the tests use: the real Worker (started by `worker.rs`),
//! the fakes, and direct access to the instance's database for arranging and inspecting rows.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use serde_json::Value;

use super::fake_sendgrid::FakeSendGrid;
use super::fake_sentry::FakeSentry;
use super::postgres::Cluster;
use super::worker::{start_worker_until, start_worker_with, wrangler, Worker};

pub const PREFIX: &str = "/balance_hub";
pub const PASSWORD: &str = "correct horse battery staple";
pub const FRONTEND_URL: &str = "http://frontend.test";
pub const ALLOWED_ORIGIN: &str = "http://allowed.test";
pub const BCRYPT_COST: u32 = 4;
pub const LOCKOUT_FREE_ATTEMPTS: u32 = 10;
pub const METRICS_TOKEN: &str = "e2e-metrics-token";
/// Logins per account on the test instance: a burst of 40, then one per 15 s.
pub const LOGIN_ACCOUNT_LIMIT: &str = "40/600";

/// The instance's database, reached without the Worker.
#[derive(Clone)]
pub enum Database {
    D1 { state_dir: PathBuf },
    Postgres(Arc<Cluster>),
}

pub struct TestApp {
    pub address: String,
    pub sendgrid: FakeSendGrid,
    pub sentry: FakeSentry,
    pub database: Database,
    pub log_file: PathBuf,
    /// The instance's `SECRET_KEY` (for tests that forge what only the key holder can make).
    pub secret_key: String,
    agent: ureq::Agent,
    /// Follows no redirect: the OAuth tests read each `Location` themselves.
    browser: ureq::Agent,
    /// Requests share it; direct database access takes it alone (local D1 is one SQLite
    /// file: a second writer would meet SQLITE_BUSY), and so does stopping the database.
    gate: RwLock<()>,
}

/// Every instance started, stopped by `stop_all` (main calls it, pass or fail).
static WORKERS: Mutex<Vec<Worker>> = Mutex::new(Vec::new());
static LOGS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static SHARED: OnceLock<&'static TestApp> = OnceLock::new();
static ISOLATED: Mutex<Option<HashMap<&'static str, &'static TestApp>>> = Mutex::new(None);

/// Keeps a started instance until `stop_all`.
fn keep((worker, app): (Worker, TestApp)) -> &'static TestApp {
    WORKERS.lock().unwrap_or_else(|e| e.into_inner()).push(worker);
    LOGS.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(app.log_file.clone());
    Box::leak(Box::new(app))
}

/// The Worker most tests share, with the test configuration and every OAuth provider
/// pointed at the run's mocks (`oauth_providers`); started before the first test. Other
/// instances have no provider unless they ask (their production-like configurations would
/// refuse the mocks' http URLs).
pub fn spawn_app() -> &'static TestApp {
    SHARED.get_or_init(|| keep(start_worker_with(&super::oauth_providers::oauth_vars())))
}

/// A Worker of its own for the tests of `group`, started on their first call: for tests
/// that read global counters, or trap the instance on purpose.
pub fn spawn_isolated_app(group: &'static str) -> &'static TestApp {
    spawn_isolated_app_with(group, &[], TestApp::is_healthy)
}

/// A Worker of its own for `group` whose variables are the test configuration with
/// `overrides` over it, up once `ready` holds (`TestApp::answers` for a configuration made
/// to fail). Every call of a group passes the same overrides; the first one starts it.
pub fn spawn_isolated_app_with(
    group: &'static str,
    overrides: &[(&str, &str)],
    ready: fn(&TestApp) -> bool,
) -> &'static TestApp {
    let overrides: Vec<(&str, String)> = overrides.iter().map(|(n, v)| (*n, (*v).to_owned())).collect();
    let mut isolated = ISOLATED.lock().unwrap_or_else(|e| e.into_inner());
    isolated
        .get_or_insert_with(HashMap::new)
        .entry(group)
        .or_insert_with(|| keep(start_worker_until(&overrides, ready)))
}

/// The log of every instance started so far.
pub fn logs() -> Vec<PathBuf> {
    LOGS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Stops every instance and its database.
pub fn stop_all() {
    let workers = std::mem::take(&mut *WORKERS.lock().unwrap_or_else(|e| e.into_inner()));
    drop(workers);
    super::oauth_providers::stop();
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
    pub fn new(
        address: String,
        sendgrid: FakeSendGrid,
        sentry: FakeSentry,
        database: Database,
        log_file: PathBuf,
        secret_key: String,
    ) -> Self {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
        Self {
            address,
            sendgrid,
            sentry,
            database,
            log_file,
            secret_key,
            agent,
            browser: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(30))
                .redirects(0)
                .build(),
            gate: RwLock::new(()),
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.agent.get(&self.url("/health")).call().is_ok()
    }

    /// The Worker itself answers `/health`, healthy or not (JSON or problem+json, not an
    /// error page of Wrangler's while it starts).
    pub fn answers(&self) -> bool {
        let response = match self.agent.get(&self.url("/health")).call() {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(_) => return false,
        };
        matches!(response.content_type(), "application/json" | "application/problem+json")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends a request. Unless the test names one, each request comes from its own
    /// `CF-Connecting-IP`, so per-IP limits only bite in the tests that aim at them.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Answer {
        let _shared = self.gate.read().unwrap_or_else(|e| e.into_inner());
        self.request_ungated(method, path, headers, body)
    }

    /// A request that does not wait for the gate: for the test that holds it.
    pub fn request_ungated(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Answer {
        self.send(&self.agent, method, path, headers, body)
    }

    fn send(
        &self,
        agent: &ureq::Agent,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Answer {
        let mut request = agent.request(method, &self.url(path));
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
        answer_of(response)
    }

    /// Sends a request and answers its answer as it is, a redirect not followed.
    pub fn request_unfollowed(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Answer {
        let _shared = self.gate.read().unwrap_or_else(|e| e.into_inner());
        self.send(&self.browser, method, path, headers, body)
    }

    /// Sends a request with no `User-Agent` header at all (ureq always names itself), over
    /// a plain HTTP/1.1 connection closed after the answer.
    pub fn request_without_user_agent(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        use std::io::{Read, Write};
        let _shared = self.gate.read().unwrap_or_else(|e| e.into_inner());
        let host = self.address.trim_start_matches("http://");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("cf-connecting-ip"))
        {
            head.push_str(&format!("CF-Connecting-IP: {}\r\n", unique_ip()));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut stream = std::net::TcpStream::connect(host).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        raw_answer(&raw)
    }

    /// Sends `body` with `Transfer-Encoding: chunked` (no `Content-Length`).
    pub fn request_chunked(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> Answer {
        let _shared = self.gate.read().unwrap_or_else(|e| e.into_inner());
        let request = self
            .agent
            .request(method, &self.url(path))
            .set("CF-Connecting-IP", &unique_ip())
            .set("Content-Type", content_type);
        let response = match request.send(std::io::Cursor::new(body.to_vec())) {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(e) => panic!("{method} {path} failed: {e}"),
        };
        answer_of(response)
    }

    pub fn get(&self, path: &str) -> Answer {
        self.request("GET", path, &[], None)
    }

    /// Runs the scheduled (cron) handler once, as the trigger would
    /// (`wrangler dev --test-scheduled`).
    pub fn trigger_scheduled(&self, cron: &str) -> Answer {
        self.get(&format!("/__scheduled?cron={}", cron.replace(' ', "+")))
    }

    pub fn get_with_token(&self, path: &str, token: &str) -> Answer {
        self.request("GET", path, &[("Authorization", &format!("Bearer {token}"))], None)
    }

    /// `GET {p}/auth/me` with a bearer token.
    pub fn me(&self, access_token: &str) -> Answer {
        self.get_with_token(&self.auth("me"), access_token)
    }

    /// The token of the latest reset link mailed to `email`, waiting up to 10 s for one.
    pub fn reset_link_token(&self, email: &str) -> String {
        let prefix = format!("{FRONTEND_URL}/reset-password?token=");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let found = self.sendgrid.mails_to(email).iter().rev().find_map(|mail| {
                let start = mail.text.find(&prefix)? + prefix.len();
                Some(mail.text[start..].split_whitespace().next()?.to_owned())
            });
            if let Some(token) = found {
                return token;
            }
            assert!(std::time::Instant::now() < deadline, "no reset link to {email}");
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
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
        let registered = self.register(&email, PASSWORD);
        assert_eq!(registered.status, 201, "register: {}", registered.body);
        let code = self.sendgrid.latest_code(&email, 1);
        let verified = self.verify(&email, &code);
        assert_eq!(verified.status, 200, "verify-email: {}", verified.body);
        email
    }

    /// A verified account, logged in: (email, access token).
    pub fn logged_in_user(&self, tag: &str) -> (String, String) {
        let email = self.verified_user(tag);
        let answer = self.login(&email, PASSWORD);
        assert_eq!(answer.status, 200, "{}", answer.body);
        (email, answer.json()["access_token"].as_str().unwrap().to_owned())
    }

    /// Sends a JSON request under a fresh request id and answers it with the Worker's log
    /// line for it (route, status, `db_round_trips`, ...).
    pub fn traced(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &Value) -> (Answer, Value) {
        static TRACE: AtomicU32 = AtomicU32::new(0);
        let id = format!("trace-{}-{}", std::process::id(), TRACE.fetch_add(1, Ordering::Relaxed));
        let mut all = vec![("X-Request-Id", id.as_str()), ("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        let answer = self.request(method, path, &all, Some(body.to_string().as_bytes()));
        (answer, self.log_line(&id))
    }

    /// The request log line of `request_id` (the one with a status), waiting for it a while.
    pub fn log_line(&self, request_id: &str) -> Value {
        let needle = format!("\"request_id\":\"{request_id}\"");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = std::fs::read_to_string(&self.log_file).unwrap_or_default();
            let found = log
                .lines()
                .filter(|line| line.contains(&needle) && line.contains("\"db_round_trips\""))
                .find_map(|line| serde_json::from_str::<Value>(&line[line.find('{')?..]).ok());
            if let Some(json) = found {
                return json;
            }
            assert!(std::time::Instant::now() < deadline, "no log line for {request_id}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Rows of a query written for each backend (D1 is SQLite; Postgres has its own types).
    pub fn query(&self, d1_sql: &str, postgres_sql: &str) -> Vec<Value> {
        let _exclusive = self.gate.write().unwrap_or_else(|e| e.into_inner());
        match &self.database {
            Database::D1 { state_dir } => d1_execute(state_dir, d1_sql),
            Database::Postgres(cluster) => cluster.query(postgres_sql),
        }
    }

    /// Runs a statement written for each backend.
    pub fn execute(&self, d1_sql: &str, postgres_sql: &str) {
        let _exclusive = self.gate.write().unwrap_or_else(|e| e.into_inner());
        match &self.database {
            Database::D1 { state_dir } => drop(d1_execute(state_dir, d1_sql)),
            Database::Postgres(cluster) => cluster.execute(postgres_sql),
        }
    }

    /// Makes every one-time token of `email`'s account look `seconds` older.
    pub fn age_tokens(&self, email: &str, seconds: i64) {
        self.execute(
            &format!("UPDATE one_time_tokens SET created_at = created_at - {seconds} WHERE user_id = (SELECT id FROM users WHERE email = '{email}')"),
            &format!("UPDATE one_time_tokens SET created_at = created_at - interval '{seconds} seconds' WHERE user_id = (SELECT id FROM users WHERE email = '{email}')"),
        );
    }

    /// Expires the account's tokens of `purpose`.
    pub fn expire_tokens(&self, email: &str, purpose: &str) {
        let filter = format!("purpose = '{purpose}' AND user_id = (SELECT id FROM users WHERE email = '{email}')");
        self.execute(
            &format!("UPDATE one_time_tokens SET expires_at = 0 WHERE {filter}"),
            &format!("UPDATE one_time_tokens SET expires_at = now() - interval '1 second' WHERE {filter}"),
        );
    }

    /// Every stored one-time token of the account, all columns.
    pub fn stored_tokens(&self, email: &str) -> Vec<Value> {
        let sql =
            format!("SELECT t.* FROM one_time_tokens t JOIN users u ON u.id = t.user_id WHERE u.email = '{email}'");
        self.query(&sql, &sql)
    }

    pub fn password_hash(&self, email: &str) -> String {
        let sql = format!("SELECT password_hash FROM users WHERE email = '{email}'");
        self.query(&sql, &sql)[0]["password_hash"].as_str().unwrap().to_owned()
    }

    pub fn set_password_hash(&self, email: &str, hash: &str) {
        let sql = format!("UPDATE users SET password_hash = '{hash}' WHERE email = '{email}'");
        self.execute(&sql, &sql);
    }

    /// A verified account written straight into the database (for an instance whose
    /// registration cannot work): answers its id.
    pub fn insert_verified_user(&self, email: &str, password_hash: &str) -> String {
        let id = fresh_uuid();
        let now = unix_now();
        let columns = "INSERT INTO users (id, email, full_name, password_hash, email_verified, created_at, updated_at)";
        self.execute(
            &format!("{columns} VALUES ('{id}', '{email}', NULL, '{password_hash}', 1, {now}, {now})"),
            &format!("{columns} VALUES ('{id}', '{email}', NULL, '{password_hash}', true, to_timestamp({now}), to_timestamp({now}))"),
        );
        id
    }

    /// An instant as each backend stores it: Unix seconds in D1, `timestamptz` in Postgres.
    pub fn instant(&self, unix_seconds: i64) -> String {
        match self.database {
            Database::D1 { .. } => unix_seconds.to_string(),
            Database::Postgres(_) => format!("to_timestamp({unix_seconds})"),
        }
    }

    pub fn count_users(&self, email: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) AS n FROM users WHERE email = '{email}'");
        self.query(&sql, &sql)[0]["n"].as_i64().unwrap()
    }

    /// Runs `during` with no other test's request in flight: they wait at the gate. Inside,
    /// use `request_ungated`.
    pub fn exclusively<T>(&self, during: impl FnOnce() -> T) -> T {
        let _exclusive = self.gate.write().unwrap_or_else(|e| e.into_inner());
        during()
    }

    /// For the Postgres run: stops the database while `during` runs, with every other
    /// test's requests held back, then starts it again.
    pub fn with_database_stopped(&self, during: impl FnOnce()) {
        let Database::Postgres(cluster) = &self.database else {
            panic!("only the Postgres run can stop its database");
        };
        self.exclusively(|| {
            cluster.stop_server();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(during));
            cluster.start_server();
            // Other tests wait at the gate until the Worker reaches the database again,
            // several times in a row (connections to the stopped server fail once each).
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            let mut healthy_in_a_row = 0;
            while healthy_in_a_row < 5 && std::time::Instant::now() < deadline {
                let health = self.request_ungated("GET", "/health", &[], None);
                healthy_in_a_row = if health.status == 200 { healthy_in_a_row + 1 } else { 0 };
                if healthy_in_a_row == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
            }
            if let Err(panic) = outcome {
                std::panic::resume_unwind(panic);
            }
        });
    }
}

fn answer_of(response: ureq::Response) -> Answer {
    let status = response.status();
    // `headers_names` names a repeated header once per line: each name once, all its values.
    let mut names = response.headers_names();
    let mut seen = std::collections::HashSet::new();
    names.retain(|name| seen.insert(name.clone()));
    let headers = names
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

/// An HTTP/1.1 answer read off the wire: status line, headers, and the body (chunked or not).
fn raw_answer(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let mut rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            let end = rest.windows(2).position(|w| w == b"\r\n").expect("a chunk size line");
            let size_line = String::from_utf8_lossy(&rest[..end]);
            let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16).expect("a chunk size");
            rest = &rest[end + 2..];
            if size == 0 {
                break;
            }
            body.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body
    } else {
        rest.to_vec()
    };
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn d1_execute(state_dir: &std::path::Path, sql: &str) -> Vec<Value> {
    let output = wrangler(state_dir)
        .args(["d1", "execute", "DB", "--local", "--json", "--persist-to"])
        .arg(state_dir.join("state"))
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

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A random-looking UUID (version 4 layout) no other call of the run repeats: an id for
/// rows a test writes itself.
pub fn fresh_uuid() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{n:012x}",
        std::process::id(),
        (nanos >> 16) & 0xffff,
        nanos & 0xfff,
        (nanos >> 4) & 0xfff,
    )
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

/// Runs `each` on one thread per item, all released at once (a barrier): their answers, in
/// the items' order. For races: concurrent uses of one code, token or credential.
pub fn at_once<T: Sync>(items: &[T], each: impl Fn(&T) -> Answer + Sync) -> Vec<Answer> {
    let barrier = std::sync::Barrier::new(items.len());
    std::thread::scope(|scope| {
        let running: Vec<_> = items
            .iter()
            .map(|item| {
                let (barrier, each) = (&barrier, &each);
                scope.spawn(move || {
                    barrier.wait();
                    each(item)
                })
            })
            .collect();
        running.into_iter().map(|r| r.join().unwrap()).collect()
    })
}
