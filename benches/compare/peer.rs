//! The reference peer (bench/peer: better-auth on D1) under the project's own `wrangler dev`,
//! on a free port with fresh local state, like the harness starts our Worker; its whole
//! process group is stopped when the guard drops, pass or fail.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::worker;

pub const CONFIG: &str = "bench/peer/wrangler.toml";

pub struct Peer {
    pub child: Child,
    pub address: String,
    /// `wrangler dev`'s inspector (DevTools protocol), to profile the isolate.
    pub inspector_port: u16,
    pub log_file: PathBuf,
    state_dir: PathBuf,
    agent: ureq::Agent,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && !matches!(self.child.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
        if std::env::var_os("E2E_KEEP_STATE").is_none() {
            let _ = std::fs::remove_dir_all(&self.state_dir);
        }
    }
}

/// The better-auth version installed in bench/peer/node_modules (the lock file pins it), or
/// why there is none (bench/peer/install.sh could not reach npm: the comparison is skipped).
pub fn installed_version() -> Result<String, String> {
    let manifest = worker::root().join("bench/peer/node_modules/better-auth/package.json");
    let text = std::fs::read_to_string(&manifest).map_err(|_| {
        format!(
            "{} is missing: run `bash bench/peer/install.sh` (make bench does; it needs the npm registry)",
            manifest.display()
        )
    })?;
    let manifest: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
    manifest["version"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "better-auth's package.json has no version".to_owned())
}

pub fn better_auth_version() -> String {
    installed_version().unwrap_or_else(|reason| panic!("{reason}"))
}

/// Applies the peer's migrations to a fresh local D1 and starts `wrangler dev` on it.
pub fn start() -> Peer {
    better_auth_version(); // fails early, with the fix, when the packages are not installed
    let state_dir = std::env::temp_dir().join(format!("edge-auth-bench-peer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state_dir);
    std::fs::create_dir_all(&state_dir).unwrap();
    let persist = state_dir.join("state");
    let migrate = worker::wrangler(&state_dir)
        .args([
            "d1",
            "migrations",
            "apply",
            "DB",
            "--local",
            "--config",
            CONFIG,
            "--persist-to",
        ])
        .arg(&persist)
        .output()
        .expect("wrangler runs (run `make setup` first)");
    assert!(
        migrate.status.success(),
        "the peer's migrations failed: {}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    let port = worker::free_port();
    let address = format!("http://127.0.0.1:{port}");
    let secret: String = (0..48)
        .map(|i| char::from(b'a' + ((std::process::id() as usize * 11 + i * 7) % 26) as u8))
        .collect();
    let log_file = state_dir.join("wrangler.log");
    let log = std::fs::File::create(&log_file).unwrap();
    use std::os::unix::process::CommandExt;
    let inspector_port = worker::free_port();
    let child = worker::wrangler(&state_dir)
        .args([
            "dev",
            "--config",
            CONFIG,
            "--ip",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .args([
            "--inspector-port",
            &inspector_port.to_string(),
            "--show-interactive-dev-session=false",
        ])
        .arg("--persist-to")
        .arg(&persist)
        .arg("--var")
        .arg(format!("BETTER_AUTH_SECRET:{secret}"))
        .arg("--var")
        .arg(format!("BETTER_AUTH_URL:{address}"))
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("wrangler dev starts");
    let mut peer = Peer {
        child,
        address,
        inspector_port,
        log_file,
        state_dir,
        agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build(),
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(Some(status)) = peer.child.try_wait() {
            panic!("the peer's wrangler dev exited ({status}):\n{}", peer.log());
        }
        if peer.request("GET", "/healthz", None, None).0 == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the peer did not answer /healthz:\n{}",
            peer.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    peer
}

impl Peer {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// (status, Set-Cookie name=value pairs, body); 0 when the server is not reachable.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, String, String) {
        let mut request = self.agent.request(method, &format!("{}{path}", self.address));
        if let Some(cookie) = cookie {
            request = request.set("Cookie", cookie);
        }
        let result = match body {
            Some(body) => request.send_json(body.clone()),
            None => request.call(),
        };
        let response = match result {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(_) => return (0, String::new(), String::new()),
        };
        let status = response.status();
        let cookies: Vec<String> = response
            .all("set-cookie")
            .iter()
            .filter_map(|c| c.split(';').next())
            .map(str::to_owned)
            .collect();
        (status, cookies.join("; "), response.into_string().unwrap_or_default())
    }

    pub fn sign_up(&self, email: &str, password: &str) -> u16 {
        let body = serde_json::json!({ "email": email, "password": password, "name": "bench" });
        self.request("POST", "/api/auth/sign-up/email", None, Some(&body)).0
    }

    /// Signs in; answers the status and the session cookie (`better-auth.session_token=…`).
    pub fn sign_in(&self, email: &str, password: &str) -> (u16, String) {
        let body = serde_json::json!({ "email": email, "password": password });
        let (status, cookie, _) = self.request("POST", "/api/auth/sign-in/email", None, Some(&body));
        (status, cookie)
    }
}
