//! Starts the real Worker under `wrangler dev` with its own fresh local state (D1, Durable
//! Objects, and for the Postgres run a throwaway cluster) on a free port, pointed at the
//! fake SendGrid and Sentry; stops all of it when the guard drops, pass or fail.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use super::app::{
    Database, TestApp, ALLOWED_ORIGIN, BCRYPT_COST, FRONTEND_URL, LOCKOUT_FREE_ATTEMPTS, LOGIN_ACCOUNT_LIMIT,
    METRICS_TOKEN,
};
use super::fake_sendgrid::{self, FakeSendGrid};
use super::fake_sentry::FakeSentry;
use super::postgres::{self, Cluster};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A port that is free now, from below the kernel's ephemeral range (32768–60999 on
/// Linux): a port the kernel hands out may be taken by any outbound connection between
/// this check and Wrangler's bind, and the suite makes thousands of them. Spread by the
/// process id and a counter, so parallel instances rarely try the same one.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7919);
    loop {
        let port =
            20_000 + (start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(104_729)) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The project's Wrangler, with the project's Node first on PATH.
pub fn wrangler(state_dir: &Path) -> Command {
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

/// The project's Node (`.tools/node` when setup installed one, else the system's), run
/// from the project root so scripts find the npm packages (`jose`).
pub fn node() -> Command {
    let root = root();
    let local = root.join(".tools/node/bin/node");
    let mut command = Command::new(if local.exists() { local } else { PathBuf::from("node") });
    command.current_dir(&root);
    command
}

/// Which database this run uses: `E2E_BACKEND=d1` (default) or `postgres`.
pub fn backend() -> &'static str {
    match std::env::var("E2E_BACKEND").as_deref() {
        Ok("postgres") => "postgres",
        Ok("d1") | Err(_) => "d1",
        Ok(other) => panic!("E2E_BACKEND={other}: use d1 or postgres"),
    }
}

/// Stops `wrangler dev` (its whole process group) and the database, then removes the
/// state directory (kept with `E2E_KEEP_STATE=1`).
pub struct Worker {
    child: Option<Child>,
    /// `wrangler dev`'s inspector (DevTools protocol): the benchmark profiles the isolate.
    inspector_port: u16,
    state_dir: PathBuf,
    generated_config: Option<PathBuf>,
    cluster: Option<Arc<Cluster>>,
}

impl Worker {
    /// The process group of `wrangler dev` (the benchmark reads its CPU time).
    #[allow(dead_code)] // used by the benchmark only
    pub fn pgid(&self) -> u32 {
        self.child.as_ref().expect("wrangler dev runs").id()
    }

    #[allow(dead_code)] // used by the benchmark only
    pub fn inspector_port(&self) -> u16 {
        self.inspector_port
    }

    /// Stops `wrangler dev` and everything it started (its process group).
    fn stop_wrangler(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let group = format!("-{}", child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && !matches!(child.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop_wrangler();
        if let Some(cluster) = &self.cluster {
            cluster.stop_server();
        }
        if let Some(config) = &self.generated_config {
            let _ = std::fs::remove_file(config);
        }
        if std::env::var_os("E2E_KEEP_STATE").is_none() {
            let _ = std::fs::remove_dir_all(&self.state_dir);
        }
    }
}

/// Whether `wrangler dev` adds its `GET /__scheduled` route (`--test-scheduled`, how the
/// tests run housekeeping). It is a layer of JavaScript around every request, which a
/// deployed Worker and the benchmark's peer do not have: the benchmark turns it off.
pub static TEST_SCHEDULED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Starts a Worker whose variables are the test configuration overridden by `overrides`
/// (the benchmark raises the limits and the bcrypt cost), up once `/health` answers 200.
pub fn start_worker_with(overrides: &[(&str, String)]) -> (Worker, TestApp) {
    start_worker_until(overrides, TestApp::is_healthy)
}

/// Starts a Worker like `start_worker_with`, up once `ready` holds: a configuration made
/// to fail (no mail, a refused variable) never answers `/health` with 200.
pub fn start_worker_until(overrides: &[(&str, String)], ready: fn(&TestApp) -> bool) -> (Worker, TestApp) {
    launch(overrides, ready, true)
}

/// Starts a Worker like `start_worker_with` from wrangler.toml without its `[assets]` block
/// (D1 only): the benchmark's probe of what the local asset router in front of the Worker
/// costs a route that reads no asset (`GET /`). On Cloudflare that routing is not the
/// Worker's billed time.
#[allow(dead_code)] // used by the benchmark only
pub fn start_worker_without_assets(overrides: &[(&str, String)]) -> (Worker, TestApp) {
    assert_eq!(backend(), "d1", "the probe without assets runs on D1");
    launch(overrides, TestApp::is_healthy, false)
}

/// wrangler.toml with its `[assets]` table left out.
fn without_assets(config: &str) -> String {
    let mut inside = false;
    let mut out = String::new();
    for line in config.lines() {
        if line.starts_with('[') {
            inside = line.trim() == "[assets]";
        }
        if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn launch(overrides: &[(&str, String)], ready: fn(&TestApp) -> bool, assets: bool) -> (Worker, TestApp) {
    let root = root();
    let sendgrid = FakeSendGrid::start();
    let sentry = FakeSentry::start();
    // One directory per instance: the benchmark runs two at once.
    static INSTANCES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let instance = INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let state_dir = std::env::temp_dir().join(format!("edge-auth-e2e-{}-{}-{instance}", backend(), std::process::id()));
    let _ = std::fs::remove_dir_all(&state_dir);
    std::fs::create_dir_all(&state_dir).unwrap();
    let persist = state_dir.join("state");

    let (database, generated_config) = if backend() == "postgres" {
        let bin = postgres::find_bin_dir().expect("Postgres is not installed (Debian: apt-get install postgresql)");
        let cluster = Arc::new(Cluster::start(bin, &state_dir.join("postgres"), free_port(), &root));
        let config = root.join(format!("wrangler.e2e-{}-{instance}.generated.toml", std::process::id()));
        let status = Command::new("bash")
            .arg(root.join("scripts/wrangler-postgres.sh"))
            .arg(&config)
            .arg(&cluster.url)
            .status()
            .unwrap();
        assert!(status.success(), "scripts/wrangler-postgres.sh failed");
        (Database::Postgres(cluster), Some(config))
    } else {
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
        let config = (!assets).then(|| {
            let config = root.join(format!(
                "wrangler.bench-{}-{instance}.generated.toml",
                std::process::id()
            ));
            let toml = std::fs::read_to_string(root.join("wrangler.toml")).unwrap();
            std::fs::write(&config, without_assets(&toml)).unwrap();
            config
        });
        (
            Database::D1 {
                state_dir: state_dir.clone(),
            },
            config,
        )
    };

    let secret: String = (0..48)
        .map(|i| char::from(b'a' + ((std::process::id() as usize * 7 + i * 13) % 26) as u8))
        .collect();
    let mut vars = vec![
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
        ("RATE_LIMIT_LOGIN_ACCOUNT", LOGIN_ACCOUNT_LIMIT.to_owned()),
        ("LOCKOUT_FREE_ATTEMPTS", LOCKOUT_FREE_ATTEMPTS.to_string()),
        ("LOCKOUT_BASE_SECONDS", "1".to_owned()),
        ("LOCKOUT_MAX_SECONDS", "4".to_owned()),
        ("METRICS_TOKEN", METRICS_TOKEN.to_owned()),
        ("FAULT_INJECTION", "true".to_owned()),
    ];
    for (name, value) in overrides {
        vars.retain(|(n, _)| n != name);
        vars.push((name, value.clone()));
    }
    let secret_key = vars
        .iter()
        .find(|(name, _)| *name == "SECRET_KEY")
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    let log_file = state_dir.join("wrangler.log");
    let mut worker = Worker {
        child: None,
        inspector_port: 0,
        state_dir: state_dir.clone(),
        generated_config: generated_config.clone(),
        cluster: match &database {
            Database::Postgres(cluster) => Some(cluster.clone()),
            Database::D1 { .. } => None,
        },
    };

    // A port found free can still be taken before Wrangler binds it: then it exits with
    // "Address already in use", and the next attempt takes other ports.
    for attempt in 1.. {
        let port = free_port();
        worker.inspector_port = free_port();
        let log = std::fs::File::create(&log_file).unwrap();
        let mut command = wrangler(&state_dir);
        command.args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string()]);
        if let Some(config) = &generated_config {
            command.arg("--config").arg(config);
        }
        command
            .args([
                "--inspector-port",
                &worker.inspector_port.to_string(),
                "--show-interactive-dev-session=false",
                "--persist-to",
            ])
            .arg(&persist);
        if TEST_SCHEDULED.load(std::sync::atomic::Ordering::Relaxed) {
            // GET /__scheduled?cron=... runs the scheduled handler (housekeeping).
            command.arg("--test-scheduled");
        }
        for (name, value) in &vars {
            command.arg("--var").arg(format!("{name}:{value}"));
        }
        use std::os::unix::process::CommandExt;
        worker.child = Some(
            command
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("wrangler dev starts"),
        );
        let app = TestApp::new(
            format!("http://127.0.0.1:{port}"),
            sendgrid.clone(),
            sentry.clone(),
            database.clone(),
            log_file.clone(),
            secret_key.clone(),
        );
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Ok(Some(status)) = worker.child.as_mut().unwrap().try_wait() {
                let log = std::fs::read_to_string(&log_file).unwrap_or_default();
                if log.contains("Address already in use") && attempt < 5 {
                    worker.stop_wrangler();
                    break;
                }
                panic!("wrangler dev exited ({status}):\n{log}");
            }
            if ready(&app) {
                return (worker, app);
            }
            assert!(
                Instant::now() < deadline,
                "the Worker did not answer /health:\n{}",
                std::fs::read_to_string(&log_file).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    unreachable!("the attempts above return or panic")
}
