//! A throwaway Postgres cluster for the Postgres run: `initdb` + `pg_ctl` on a free port in
//! the run's temp dir, migrated with scripts/migrate-pg.sh, stopped and removed afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The server binaries: Debian's /usr/lib/postgresql/<version>/bin (newest first), else PATH.
pub fn find_bin_dir() -> Option<PathBuf> {
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| dirs.flatten().map(|d| d.path().join("bin")).collect())
        .unwrap_or_default();
    debian.sort();
    debian.reverse();
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    debian.into_iter().chain(on_path).find(|dir| {
        ["initdb", "pg_ctl", "postgres", "psql"]
            .iter()
            .all(|tool| dir.join(tool).exists())
    })
}

pub struct Cluster {
    pub url: String,
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    log: PathBuf,
}

const USER: &str = "edge";
const PASSWORD: &str = "edge-e2e";
const DATABASE: &str = "edge_auth";

/// initdb refuses to run as root: then the cluster belongs to the `postgres` user.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

fn run(mut command: Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Cluster {
    pub fn start(bin: PathBuf, dir: &Path, port: u16, root: &Path) -> Self {
        let data = dir.join("pgdata");
        std::fs::create_dir_all(&data).unwrap();
        if is_root() {
            let mut chown = Command::new("chown");
            chown.args(["-R", "postgres:postgres"]).arg(dir);
            run(chown, "chown the cluster dir");
        }
        let mut initdb = as_owner(&bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"]);
        run(initdb, "initdb");
        let cluster = Self {
            url: format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}"),
            bin,
            data,
            port,
            log: dir.join("postgres.log"),
        };
        cluster.start_server();
        let mut create = Command::new(cluster.bin.join("psql"));
        create
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                USER,
                "-d",
                "postgres",
                "-q",
                "-c",
            ])
            .arg(format!("CREATE DATABASE {DATABASE}"));
        run(create, "create the database");
        let mut migrate = Command::new("bash");
        migrate
            .arg(root.join("scripts/migrate-pg.sh"))
            .env("DATABASE_URL", &cluster.url);
        run(migrate, "scripts/migrate-pg.sh");
        cluster
    }

    pub fn start_server(&self) {
        let mut pg_ctl = as_owner(&self.bin.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .arg("-o")
            .arg(format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
                self.port,
                self.data.display()
            ))
            .args(["-w", "start"]);
        run(pg_ctl, "pg_ctl start");
    }

    pub fn stop_server(&self) {
        let mut pg_ctl = as_owner(&self.bin.join("pg_ctl"));
        pg_ctl.arg("-D").arg(&self.data).args(["-m", "immediate", "-w", "stop"]);
        let _ = pg_ctl.output();
    }

    /// Runs SQL and answers the rows as JSON objects (psql, so the Worker is not involved).
    pub fn query(&self, sql: &str) -> Vec<serde_json::Value> {
        let wrapped = format!("SELECT coalesce(json_agg(t), '[]'::json) FROM ({sql}) t");
        let output = Command::new(self.bin.join("psql"))
            .arg(&self.url)
            .args(["-At", "-X", "-c", &wrapped])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout)
            .unwrap()
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn execute(&self, sql: &str) {
        let mut psql = Command::new(self.bin.join("psql"));
        psql.arg(&self.url)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql]);
        run(psql, "psql");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_server();
    }
}
