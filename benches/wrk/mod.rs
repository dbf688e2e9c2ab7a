//! One bounded wrk load against a server under `wrangler dev`, with the CPU that server's
//! whole process group spent on it. Shared by the route table and the peer comparison.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::worker;

/// wrk's shape: threads, connections (kept alive), seconds, a cap on requests per thread,
/// and the socket timeout.
pub struct Load {
    pub threads: u32,
    pub connections: u32,
    pub seconds: u32,
    pub max_per_thread: u32,
    pub timeout_seconds: u32,
}

/// One route under load: what bench/wrk.lua sends (`kind` and `env`) and the success status.
pub struct Scenario {
    pub name: &'static str,
    pub method: &'static str,
    pub path: String,
    pub kind: &'static str,
    pub expected: u16,
    pub env: Vec<(&'static str, String)>,
}

/// CPU time (user + system, ms) of a process group: (workerd, everything). Under
/// `wrangler dev`, workerd runs the Worker and its local storage (D1, Durable Objects); the
/// rest is Wrangler's Node process, which proxies and logs in local development only.
pub fn group_cpu_ms(pgid: u32) -> (f64, f64) {
    let ticks_per_second: f64 = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0);
    let (mut workerd, mut all) = (0u64, 0u64);
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the parenthesised command name: state ppid pgrp ... utime(14) stime(15).
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) {
            let tick = |i: usize| fields.get(i).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
            let ticks = tick(11) + tick(12);
            all += ticks;
            if stat.contains("(workerd)") {
                workerd += ticks;
            }
        }
    }
    let ms = |ticks: u64| ticks as f64 * 1000.0 / ticks_per_second;
    (ms(workerd), ms(all))
}

/// Runs wrk with bench/wrk.lua against `address`, reading the CPU of process group `pgid`
/// before and after (plus half a second for deferred work: mail, metrics). Errors are the
/// answers other than the scenario's success status, plus socket errors.
pub fn run_wrk(address: &str, pgid: u32, load: &Load, scenario: &Scenario) -> Value {
    let script = worker::root().join("bench/wrk.lua");
    let cpu_before = group_cpu_ms(pgid);
    let output = Command::new("wrk")
        .args([
            "-t",
            &load.threads.to_string(),
            "-c",
            &load.connections.to_string(),
            "-d",
            &format!("{}s", load.seconds),
            "--timeout",
            &format!("{}s", load.timeout_seconds),
        ])
        .arg("-s")
        .arg(&script)
        .arg(address)
        .env("BENCH_METHOD", scenario.method)
        .env("BENCH_PATH", &scenario.path)
        .env("BENCH_KIND", scenario.kind)
        .env("BENCH_THREADS", load.threads.to_string())
        .env("BENCH_MAX_PER_THREAD", load.max_per_thread.to_string())
        .envs(scenario.env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("wrk runs (make bench installs it: apt-get install wrk)");
    std::thread::sleep(Duration::from_millis(500)); // let deferred work (mail, metrics) settle
    let cpu_after = group_cpu_ms(pgid);
    let (workerd_ms, all_ms) = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BENCH_JSON "))
        .unwrap_or_else(|| {
            panic!(
                "wrk printed no result:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let raw: Value = serde_json::from_str(line).expect("BENCH_JSON is JSON");
    let requests = raw["requests"].as_f64().unwrap();
    let seconds = raw["duration_us"].as_f64().unwrap() / 1e6;
    let ok = raw["statuses"][scenario.expected.to_string()].as_f64().unwrap_or(0.0);
    json!({
        "scenario": scenario.name,
        "requests": requests,
        "rps": requests / seconds,
        "p50_ms": raw["p50_us"].as_f64().unwrap() / 1000.0,
        "p99_ms": raw["p99_us"].as_f64().unwrap() / 1000.0,
        "errors": requests - ok + raw["socket_errors"].as_f64().unwrap(),
        "expected_status": scenario.expected,
        "statuses": raw["statuses"],
        "seconds": seconds,
        "workerd_cpu_ms": workerd_ms,
        "cpu_ms": all_ms,
        "workerd_cpu_ms_per_request": workerd_ms / requests.max(1.0),
        "cpu_ms_per_request": all_ms / requests.max(1.0),
    })
}

/// Several loads of one scenario as one: requests, errors and CPU added up, req/s over the
/// time they took together, p50 the median of theirs; `rounds` keeps each one.
pub fn combine(runs: &[Value]) -> Value {
    let sum = |key: &str| runs.iter().map(|r| r[key].as_f64().unwrap_or(0.0)).sum::<f64>();
    let (requests, seconds) = (sum("requests"), sum("seconds"));
    let (workerd_ms, all_ms) = (sum("workerd_cpu_ms"), sum("cpu_ms"));
    let mut p50s: Vec<f64> = runs.iter().filter_map(|r| r["p50_ms"].as_f64()).collect();
    p50s.sort_by(f64::total_cmp);
    let mut statuses = serde_json::Map::new();
    for run in runs {
        for (status, n) in run["statuses"].as_object().into_iter().flatten() {
            let total = statuses.get(status).and_then(Value::as_f64).unwrap_or(0.0) + n.as_f64().unwrap_or(0.0);
            statuses.insert(status.clone(), json!(total));
        }
    }
    json!({
        "scenario": runs[0]["scenario"],
        "expected_status": runs[0]["expected_status"],
        "requests": requests,
        "seconds": seconds,
        "rps": requests / seconds.max(1e-9),
        "p50_ms": p50s.get(p50s.len() / 2).copied().unwrap_or(f64::NAN),
        "errors": sum("errors"),
        "statuses": statuses,
        "workerd_cpu_ms": workerd_ms,
        "cpu_ms": all_ms,
        "workerd_cpu_ms_per_request": workerd_ms / requests.max(1.0),
        "cpu_ms_per_request": all_ms / requests.max(1.0),
        "rounds": runs,
    })
}
