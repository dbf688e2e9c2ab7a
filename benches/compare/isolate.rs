//! Time inside one Worker's isolate under a load: bench/profile.mjs (V8's sampling profiler
//! through `wrangler dev`'s inspector port) around the same wrk load as the CPU figures.
//! Process CPU holds the local D1, the Durable Objects' storage, the asset router and
//! Wrangler's proxies, which run in other isolates and processes; this is the part the
//! Worker's own code and its calls into the runtime take, which is what Cloudflare bills.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use serde_json::{json, Map, Value};

use crate::harness::worker;
use crate::wrk::{run_wrk, Load, Scenario};

/// The load under the profiler; its answer holds the wrk figures and, under `isolate`,
/// the profile's time per request (ms): all of it (`busy`), by kind, and the functions
/// with the most time of their own. `failed` says why there is no profile.
pub fn profiled(address: &str, pgid: u32, inspector_port: u16, load: &Load, scenario: &Scenario) -> Value {
    let spawned = Command::new("node")
        .arg(worker::root().join("bench/profile.mjs"))
        .arg(inspector_port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => return json!({ "failed": format!("node bench/profile.mjs: {error}") }),
    };
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    let _ = out.read_line(&mut line);
    if line.trim() != "profiling" {
        let _ = child.kill();
        let _ = child.wait();
        return json!({ "failed": format!("the profiler did not start (it printed {line:?})") });
    }
    let result = run_wrk(address, pgid, load, scenario);
    drop(child.stdin.take()); // its standard input closes: it stops and reports
    let mut report = String::new();
    let _ = out.read_to_string(&mut report);
    let _ = child.wait();
    let Ok(profile) = serde_json::from_str::<Value>(report.trim()) else {
        return json!({ "failed": format!("the profiler reported {report:?}"), "load": result });
    };
    let requests = result["requests"].as_f64().unwrap_or(f64::NAN);
    let per = |ms: &Value| ms.as_f64().unwrap_or(f64::NAN) / requests;
    let kinds: Map<String, Value> = profile["kinds"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(kind, ms)| (kind.clone(), json!(per(ms))))
        .collect();
    let top: Vec<Value> = profile["top"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| json!({ "name": f["name"], "ms_per_request": per(&f["ms"]) }))
        .collect();
    json!({
        "load": result,
        "isolate": {
            "sampling_interval_us": profile["interval_us"],
            "busy_ms_per_request": per(&profile["busy_ms"]),
            "idle_share": profile["idle_ms"].as_f64().unwrap_or(0.0) / profile["wall_ms"].as_f64().unwrap_or(f64::NAN),
            "kinds_ms_per_request": kinds,
            "top_ms_per_request": top,
        },
    })
}

/// The profiles' table: each route's time in the isolate per request, ours and the peer's.
pub fn print(profiles: &[Value]) {
    if profiles.is_empty() {
        return;
    }
    println!(
        "\ninside the isolate (V8's sampling profiler through the inspector, the same load again; ms per request):"
    );
    println!(
        "{:<10} {:<30} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "route", "server", "requests", "isolate", "wasm", "js", "runtime", "other"
    );
    for profile in profiles {
        let mut busy = [f64::NAN; 2];
        for (i, side) in ["ours", "peer"].into_iter().enumerate() {
            let p = &profile[side];
            let label = if i == 0 {
                profile["route"].as_str().unwrap_or("")
            } else {
                ""
            };
            if let Some(failed) = p["failed"].as_str() {
                println!("{label:<10} {side:<30} profile failed: {failed}");
                continue;
            }
            let isolate = &p["isolate"];
            let kind = |k: &str| isolate["kinds_ms_per_request"][k].as_f64().unwrap_or(0.0);
            busy[i] = isolate["busy_ms_per_request"].as_f64().unwrap_or(f64::NAN);
            let named = kind("wasm") + kind("wasm boundary") + kind("javascript") + kind("runtime (native calls)");
            println!(
                "{label:<10} {:<30} {:>8} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                p["load"]["scenario"].as_str().unwrap_or(side),
                p["load"]["requests"],
                busy[i],
                kind("wasm") + kind("wasm boundary"),
                kind("javascript"),
                kind("runtime (native calls)"),
                busy[i] - named,
            );
        }
        println!(
            "{:<10} {:<30} {:>8} {:>9.2}",
            "",
            "  ours / theirs",
            "",
            busy[0] / busy[1]
        );
    }
}
