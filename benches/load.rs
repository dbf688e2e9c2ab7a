//! `make bench`: the release Worker under `wrangler dev` with fresh local state, loaded with
//! wrk on loopback, bounded in time and request count. Prints a table and writes
//! bench-results/latest.json. See BENCHMARKS.md for the method.

// The benchmark reuses the end-to-end harness; it needs only part of it.
mod compare;
#[path = "../tests/e2e/harness/mod.rs"]
#[allow(dead_code)]
mod harness;
mod wrk;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use harness::worker;
use harness::{unique_email, TestApp, PASSWORD};
use wrk::{run_wrk, Load, Scenario};

/// The bcrypt cost of the benchmark instance (production default: 12).
const BENCH_COST: u32 = 10;
const CONNECTIONS: u32 = 8;
const THREADS: u32 = 2;
const SECONDS: u32 = 10;
const MAX_PER_THREAD: u32 = 20_000;
const VERIFY_USERS: usize = 200;
/// Accounts with 2FA on for `mfa/verify`: each spends its ten recovery codes.
const MFA_USERS: usize = 20;
const LOGIN_SAMPLES: usize = 60;

fn overrides(cost: u32) -> Vec<(&'static str, String)> {
    let unlimited = "1000000000/1".to_owned();
    let mut vars: Vec<(&'static str, String)> = [
        "RATE_LIMIT_LOGIN_IP",
        "RATE_LIMIT_LOGIN_ACCOUNT",
        "RATE_LIMIT_REGISTER_IP",
        "RATE_LIMIT_REGISTER_EMAIL",
        "RATE_LIMIT_RESEND_IP",
        "RATE_LIMIT_RESEND_EMAIL",
        "RATE_LIMIT_FORGET_IP",
        "RATE_LIMIT_FORGET_EMAIL",
        "RATE_LIMIT_VERIFY_IP",
        "RATE_LIMIT_VERIFY_ACCOUNT",
        "RATE_LIMIT_RESET_IP",
        "RATE_LIMIT_RESET_TOKEN",
        "RATE_LIMIT_USER_API",
        "RATE_LIMIT_REFRESH_IP",
        "RATE_LIMIT_REFRESH_SESSION",
        "RATE_LIMIT_MFA_VERIFY_IP",
    ]
    .into_iter()
    .map(|name| (name, unlimited.clone()))
    .collect();
    vars.push(("LOCKOUT_FREE_ATTEMPTS", "1000000000".to_owned()));
    vars.push(("BCRYPT_COST", cost.to_string()));
    vars.push(("FAULT_INJECTION", "false".to_owned()));
    // As deployed: production's default (the end-to-end configuration would log every answer).
    vars.push(("LOG_REQUESTS", compare::DEPLOYED_LOG_REQUESTS.to_owned()));
    vars
}

/// Median latencies of sequential logins (one connection, nothing else running) on two
/// warmed-up instances, taken alternately so that drift in the machine's speed hits both.
fn interleaved_login_p50s_ms(a: (&TestApp, &str), b: (&TestApp, &str)) -> (f64, f64) {
    let (mut xs, mut ys): (Vec<f64>, Vec<f64>) = (0..LOGIN_SAMPLES).map(|_| (time_login(a), time_login(b))).unzip();
    let median = |samples: &mut Vec<f64>| {
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    };
    (median(&mut xs), median(&mut ys))
}

fn time_login((app, email): (&TestApp, &str)) -> f64 {
    let started = Instant::now();
    assert_eq!(app.login(email, PASSWORD).status, 200);
    started.elapsed().as_secs_f64() * 1000.0
}

/// Per route template: the total time by the Worker's own clock (ms) and the number of
/// requests so far, from /metrics. workerd's clock stands still while the Worker computes and
/// catches up when an I/O answer arrives, so a request's time by it runs from its start to
/// its last storage answer: all of its storage round trips, plus whatever it computed
/// between them (for a login, the password hash).
fn worker_clock_totals(app: &TestApp) -> std::collections::HashMap<String, (f64, f64)> {
    std::thread::sleep(Duration::from_millis(2500)); // the isolate flushes metrics every second
    let auth = format!("Bearer {}", harness::METRICS_TOKEN);
    let answer = app.request("GET", "/metrics", &[("Authorization", auth.as_str())], None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut totals = std::collections::HashMap::new();
    for line in answer.body.lines() {
        let Some(rest) = line.strip_prefix("http_request_duration_seconds_") else {
            continue;
        };
        let Some((series, rest)) = rest.split_once("{route=\"") else {
            continue;
        };
        let Some((route, value)) = rest.split_once("\"} ") else {
            continue;
        };
        let value: f64 = value.trim().parse().unwrap();
        let entry = totals.entry(route.to_owned()).or_insert((0.0, 0.0));
        match series {
            "sum" => entry.0 = value * 1000.0,
            "count" => entry.1 = value,
            _ => {}
        }
    }
    totals
}

/// Median latency of sequential GETs (one connection, nothing else running): what one
/// request costs end to end when nothing queues.
fn sequential_p50_ms(app: &TestApp, path: &str, token: Option<&str>) -> f64 {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let mut samples: Vec<f64> = (0..LOGIN_SAMPLES)
        .map(|_| {
            let started = Instant::now();
            assert_eq!(app.request("GET", path, &headers, None).status, 200);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Native bcrypt verification at `cost`, the same crate and profile as the Worker's.
fn native_verify_ms(cost: u32) -> f64 {
    let hash = bcrypt::hash(PASSWORD, cost).unwrap();
    let mut samples: Vec<f64> = (0..15)
        .map(|_| {
            let started = Instant::now();
            assert!(bcrypt::verify(PASSWORD, &hash).unwrap());
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The deployable Worker's size, gzip -9 as Cloudflare counts it: the default build (D1,
/// build/) and the one with every feature in (Postgres too, build-postgres/) when built.
fn bundle() -> Value {
    let root = worker::root();
    let gzip = |file: &str| -> u64 {
        let output = Command::new("sh")
            .arg("-c")
            .arg(format!("gzip -9 -c '{}' | wc -c", root.join(file).display()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().parse().unwrap_or(0)
    };
    let raw = |file: &str| std::fs::metadata(root.join(file)).map(|m| m.len()).unwrap_or(0);
    let build = |dir: &str| {
        let (wasm, js) = (format!("{dir}/index_bg.wasm"), format!("{dir}/index.js"));
        json!({
            "wasm_bytes": raw(&wasm),
            "wasm_gzip_bytes": gzip(&wasm),
            "js_bytes": raw(&js),
            "js_gzip_bytes": gzip(&js),
            "total_gzip_bytes": gzip(&wasm) + gzip(&js),
        })
    };
    let mut bundle = build("build");
    if root.join("build-postgres/index_bg.wasm").exists() {
        bundle["all_features"] = build("build-postgres");
    }
    bundle
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and friends: nothing to enumerate
    }
    // Measured as deployed: without Wrangler's `/__scheduled` layer around every request.
    worker::TEST_SCHEDULED.store(false, std::sync::atomic::Ordering::Relaxed);
    // `BENCH_PEER_ONLY=1 cargo bench --bench load`: the peer comparison alone.
    if std::env::var_os("BENCH_PEER_ONLY").is_some() {
        let comparison = compare::run(&overrides(BENCH_COST), BENCH_COST);
        compare::print_table(&comparison);
        finish(json!({ "peer_comparison": comparison }));
        return;
    }
    let native_ms = native_verify_ms(BENCH_COST);
    let native_next_ms = native_verify_ms(BENCH_COST + 1);

    // A second instance at cost BENCH_COST + 1: the extra cost doubles the hash, so the
    // difference of the two login medians is one hash at BENCH_COST as the Worker computes it.
    let (guard, app) = worker::start_worker_with(&overrides(BENCH_COST));
    let pgid = guard.pgid();
    let email = app.verified_user("bench-login");
    let token = app.login(&email, PASSWORD).json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = format!("{}/auth/me", harness::PREFIX);
    let (next_guard, next_app) = worker::start_worker_with(&overrides(BENCH_COST + 1));
    let next_email = next_app.verified_user("bench-cost");
    for _ in 0..5 {
        time_login((&app, &email)); // warm up both isolates
        time_login((&next_app, &next_email));
    }
    for _ in 0..5 {
        for path in ["/", "/health"] {
            assert_eq!(app.get(path).status, 200);
        }
        assert_eq!(app.get_with_token(&me, &token).status, 200);
    }

    // Everything sequential, between two readings of the Worker's clock totals.
    let before = worker_clock_totals(&app);
    let (login_p50, login_next_p50) = interleaved_login_p50s_ms((&app, &email), (&next_app, &next_email));
    drop(next_guard);
    let sequential = json!({
        "GET /": sequential_p50_ms(&app, "/", None),
        "GET /health": sequential_p50_ms(&app, "/health", None),
        "GET {p}/auth/me": sequential_p50_ms(&app, &me, Some(&token)),
        "POST {p}/auth/login": login_p50,
    });
    let after = worker_clock_totals(&app);
    let clock_mean = |route: &str| {
        let (sum, count) = after[route];
        let (sum_before, count_before) = before.get(route).copied().unwrap_or_default();
        (sum - sum_before) / (count - count_before)
    };
    let worker_clock = json!({
        "GET /": clock_mean("/"),
        "GET /health": clock_mean("/health"),
        "GET {p}/auth/me": clock_mean("{p}/auth/me"),
        "POST {p}/auth/login": clock_mean("{p}/auth/login"),
    });

    let pairs_file = std::env::temp_dir().join(format!("edge-auth-bench-pairs-{}", std::process::id()));
    let pairs: Vec<String> = (0..VERIFY_USERS)
        .map(|i| {
            let email = unique_email(&format!("bench-verify-{i}"));
            assert_eq!(app.register(&email, PASSWORD).status, 201);
            email
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|email| format!("{email} {}", app.sendgrid.latest_code(&email, 1)))
        .collect();
    std::fs::write(&pairs_file, pairs.join("\n") + "\n").unwrap();
    // One session per connection (twice over): a refresh rotates its session's token, so
    // each connection chains its own.
    let tokens_file = std::env::temp_dir().join(format!("edge-auth-bench-refresh-{}", std::process::id()));
    let refresh_tokens: Vec<String> = (0..2 * CONNECTIONS)
        .map(|_| {
            let answer = app.login(&email, PASSWORD);
            assert_eq!(answer.status, 200, "{}", answer.body);
            answer.json()["refresh_token"].as_str().unwrap().to_owned()
        })
        .collect();
    std::fs::write(&tokens_file, refresh_tokens.join("\n") + "\n").unwrap();
    let mfa_file = std::env::temp_dir().join(format!("edge-auth-bench-mfa-{}", std::process::id()));
    let mfa_pairs: Vec<String> = (0..MFA_USERS).flat_map(|_| mfa_pairs(&app)).collect();
    std::fs::write(&mfa_file, mfa_pairs.join("\n") + "\n").unwrap();

    let auth = |route: &str| format!("{}/auth/{route}", harness::PREFIX);
    let scenarios = [
        Scenario {
            name: "GET / (no storage)",
            method: "GET",
            path: "/".into(),
            kind: "plain",
            expected: 200,
            env: vec![],
        },
        Scenario {
            name: "GET /health",
            method: "GET",
            path: "/health".into(),
            kind: "plain",
            expected: 200,
            env: vec![],
        },
        Scenario {
            name: "GET {p}/auth/me",
            method: "GET",
            path: auth("me"),
            kind: "plain",
            expected: 200,
            env: vec![("BENCH_TOKEN", token.clone())],
        },
        Scenario {
            name: "POST {p}/auth/login",
            method: "POST",
            path: auth("login"),
            kind: "login",
            expected: 200,
            env: vec![("BENCH_EMAIL", email.clone()), ("BENCH_PASSWORD", PASSWORD.to_owned())],
        },
        Scenario {
            name: "POST {p}/auth/register",
            method: "POST",
            path: auth("register"),
            kind: "register",
            expected: 201,
            env: vec![],
        },
        Scenario {
            name: "POST {p}/auth/verify-email",
            method: "POST",
            path: auth("verify-email"),
            kind: "verify",
            expected: 200,
            env: vec![("BENCH_PAIRS", pairs_file.display().to_string())],
        },
        Scenario {
            name: "POST {p}/auth/token/refresh",
            method: "POST",
            path: auth("token/refresh"),
            kind: "refresh",
            expected: 200,
            env: vec![("BENCH_REFRESH_TOKENS", tokens_file.display().to_string())],
        },
        Scenario {
            name: "POST {p}/auth/mfa/verify",
            method: "POST",
            path: auth("mfa/verify"),
            kind: "mfa",
            expected: 200,
            env: vec![("BENCH_PAIRS", mfa_file.display().to_string())],
        },
    ];
    let load = Load {
        threads: THREADS,
        connections: CONNECTIONS,
        seconds: SECONDS,
        max_per_thread: MAX_PER_THREAD,
        timeout_seconds: 10,
    };
    let results: Vec<Value> = scenarios
        .iter()
        .map(|s| run_wrk(&app.address, pgid, &load, s))
        .collect();
    drop(guard);
    let _ = std::fs::remove_file(&pairs_file);
    let _ = std::fs::remove_file(&tokens_file);
    let _ = std::fs::remove_file(&mfa_file);
    let comparison = compare::run(&overrides(BENCH_COST), BENCH_COST);

    let worker_hash_ms = login_next_p50 - login_p50;
    let login = json!({
        "bcrypt_cost": BENCH_COST,
        "login_p50_ms": login_p50,
        "login_p50_ms_at_cost_plus_one": login_next_p50,
        "worker_bcrypt_ms": worker_hash_ms,
        "native_bcrypt_ms": native_ms,
        "native_bcrypt_ms_at_cost_plus_one": native_next_ms,
        "wasm_over_native": worker_hash_ms / native_ms,
        "non_hashing_overhead_p50_ms": login_p50 - worker_hash_ms,
        // Inside the Worker apart from the hash: its storage round trips (by its clock).
        "storage_round_trips_mean_ms": worker_clock["POST {p}/auth/login"].as_f64().unwrap() - worker_hash_ms,
    });
    let report = json!({
        "connections": CONNECTIONS,
        "threads": THREADS,
        "seconds_per_scenario": SECONDS,
        "routes": results,
        "login_cost": login,
        "sequential_p50_ms": sequential,
        "sequential_worker_clock_mean_ms": worker_clock,
        "bundle": bundle(),
        "peer_comparison": comparison,
    });
    print_table(&report);
    compare::print_table(&report["peer_comparison"]);
    finish(report);
}

/// A fresh account with 2FA on and its ten recovery codes, each paired with the `mfa_token`
/// of one password login: "mfa_token recovery_code" lines, each good for one `mfa/verify`.
fn mfa_pairs(app: &TestApp) -> Vec<String> {
    let (email, access) = app.logged_in_user("bench-mfa");
    let post = |route: &str, body: Value| {
        let body = body.to_string();
        let bearer = format!("Bearer {access}");
        let headers = [("content-type", "application/json"), ("authorization", bearer.as_str())];
        app.request("POST", &app.auth(route), &headers, Some(body.as_bytes()))
    };
    let enrolled = post("mfa/totp/enroll", json!({ "current_password": PASSWORD }));
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);
    let secret = enrolled.json()["secret"].as_str().unwrap().to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let confirmed = post(
        "mfa/totp/confirm",
        json!({ "code": harness::totp::code_at(&secret, now) }),
    );
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    confirmed.json()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| {
            let challenge = app.login(&email, PASSWORD);
            assert_eq!(challenge.status, 200, "{}", challenge.body);
            let token = challenge.json()["mfa_token"].as_str().unwrap().to_owned();
            format!("{token} {}", code.as_str().unwrap())
        })
        .collect()
}

/// Writes bench-results/latest.json (with when it was measured and the machine's load); fails
/// the run, after writing, when a load of the peer comparison failed its status check.
fn finish(mut report: Value) {
    report["measured_at_unix"] = json!(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs());
    report["loadavg_at_end"] = json!(std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());
    let dir = worker::root().join("bench-results");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("latest.json"), serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("\nwrote bench-results/latest.json");
    let failed = report["peer_comparison"]["failed_checks"]
        .as_array()
        .map_or(0, Vec::len);
    if failed > 0 {
        eprintln!("{failed} load(s) of the peer comparison failed their status check (see above)");
        std::process::exit(1);
    }
}

fn print_table(report: &Value) {
    println!(
        "\n{:<30} {:>9} {:>9} {:>9} {:>9} {:>7} {:>15} {:>11}",
        "route", "requests", "req/s", "p50 ms", "p99 ms", "errors", "workerd CPU ms", "all CPU ms"
    );
    for r in report["routes"].as_array().unwrap() {
        let number = |key: &str| r[key].as_f64().unwrap();
        println!(
            "{:<30} {:>9} {:>9.1} {:>9.2} {:>9.2} {:>7} {:>15.2} {:>11.2}",
            r["scenario"].as_str().unwrap(),
            number("requests"),
            number("rps"),
            number("p50_ms"),
            number("p99_ms"),
            number("errors"),
            number("workerd_cpu_ms_per_request"),
            number("cpu_ms_per_request"),
        );
    }
    println!("\nsequential (one connection, nothing queued): p50, and the mean time by the Worker's own");
    println!("clock, which stands still while it computes: its storage round trips (and, for a");
    println!("login, the hash between them):");
    let clock = &report["sequential_worker_clock_mean_ms"];
    for (route, ms) in report["sequential_p50_ms"].as_object().unwrap() {
        println!(
            "  {route:<30} {:>8.2} ms   Worker clock {:>6.2} ms",
            ms.as_f64().unwrap(),
            clock[route].as_f64().unwrap()
        );
    }
    let l = &report["login_cost"];
    println!(
        "\nlogin at bcrypt cost {} (sequential, one connection):",
        l["bcrypt_cost"]
    );
    println!(
        "  login p50                      {:>8.2} ms",
        l["login_p50_ms"].as_f64().unwrap()
    );
    println!(
        "  bcrypt in the Worker (wasm)    {:>8.2} ms  (login p50 at cost+1 minus at cost)",
        l["worker_bcrypt_ms"].as_f64().unwrap()
    );
    println!(
        "  bcrypt native, same crate      {:>8.2} ms  (ratio wasm/native {:.2})",
        l["native_bcrypt_ms"].as_f64().unwrap(),
        l["wasm_over_native"].as_f64().unwrap()
    );
    println!(
        "  everything else in the login   {:>8.2} ms",
        l["non_hashing_overhead_p50_ms"].as_f64().unwrap()
    );
    println!(
        "    storage round trips          {:>8.2} ms  (Worker clock minus the hash; mean)",
        l["storage_round_trips_mean_ms"].as_f64().unwrap()
    );
    let b = &report["bundle"];
    println!(
        "\nbundle (D1): wasm {} B ({} B gzip), JS {} B ({} B gzip), total {} B gzip",
        b["wasm_bytes"], b["wasm_gzip_bytes"], b["js_bytes"], b["js_gzip_bytes"], b["total_gzip_bytes"]
    );
    if let Some(all) = b.get("all_features") {
        println!(
            "bundle (every feature, Postgres too): total {} B gzip",
            all["total_gzip_bytes"]
        );
    }
}
