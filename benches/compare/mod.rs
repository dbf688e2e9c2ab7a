//! The peer comparison of `make bench`: the same four routes on our Worker and on a minimal
//! better-auth Worker (bench/peer), both under `wrangler dev` on this machine in this run,
//! each route loaded on ours and then on the peer with the same wrk parameters.

mod isolate;
mod peer;

use serde_json::{json, Value};

use crate::harness::{self, unique_email, worker, TestApp, PASSWORD};
use crate::wrk::{combine, run_wrk, Load, Scenario};

/// The parameters: wrk, 16 connections kept alive, 15 s per test.
pub const THREADS: u32 = 2;
pub const CONNECTIONS: u32 = 16;
pub const SECONDS: u32 = 15;
/// A bound on each load that the servers here never reach in 15 s.
const MAX_PER_THREAD: u32 = 20_000;
/// Long enough that a queue of 16 hashing requests is not a timeout.
const TIMEOUT_SECONDS: u32 = 30;
/// Sequential requests per route and server before the loads (compiles and warms isolates).
const WARM_UP: usize = 5;
/// Seconds of each load under the isolate profiler (`BENCH_PROFILE_SECONDS`; `BENCH_PROFILE=0`
/// leaves the profiles out).
const PROFILE_SECONDS: u32 = 8;
/// A load fails its check when more than this share of its answers are errors (or none is
/// the route's success status).
const MAX_ERROR_SHARE: f64 = 0.01;

struct Pair {
    route: &'static str,
    ours: Scenario,
    peer: Scenario,
}

fn scenario(
    name: &'static str,
    method: &'static str,
    path: &str,
    kind: &'static str,
    expected: u16,
    env: Vec<(&'static str, String)>,
) -> Scenario {
    Scenario {
        name,
        method,
        path: path.to_owned(),
        kind,
        expected,
        env,
    }
}

/// A number from the environment, or `default`.
fn env_number(name: &str, default: u32) -> u32 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What `LOG_REQUESTS` is where the Worker is deployed (`ENVIRONMENT=production`'s
/// default): the comparison runs ours as deployed; a probe shows the cost of `all`.
pub const DEPLOYED_LOG_REQUESTS: &str = "errors";

/// Runs the four pairs (`BENCH_ROUTES=cheapest,who-am-I,login,register` picks some),
/// `BENCH_ROUNDS` times (default 1; each round loads ours, then the peer, route by route),
/// `BENCH_SECONDS` each (default 15). Beside them, in each round, the cheapest route on a
/// second instance of ours with `LOG_REQUESTS=all`; and after the loads, when login or
/// register is asked, the hash split (`hash_split`) against a third at cost + 1.
/// `overrides` are our Worker's variables (limits lifted, the bcrypt cost). Answers the
/// `peer_comparison` section of bench-results/latest.json.
/// Without the peer's packages (no npm registry when `make bench` installed them) the
/// section says the comparison was skipped, and why.
pub fn run(overrides: &[(&str, String)], bcrypt_cost: u32) -> Value {
    if let Err(reason) = peer::installed_version() {
        return json!({ "skipped": reason, "failed_checks": [] });
    }
    let rounds = env_number("BENCH_ROUNDS", 1).max(1);
    let seconds = env_number("BENCH_SECONDS", SECONDS).max(1);
    let selected = std::env::var("BENCH_ROUTES").ok();
    let wanted = |route: &str| {
        selected
            .as_deref()
            .is_none_or(|s| s.split(',').any(|r| r.trim() == route))
    };
    let with = |extra: &[(&'static str, String)]| -> Vec<(&str, String)> {
        let mut vars: Vec<(&str, String)> = overrides.to_vec();
        vars.retain(|(name, _)| !extra.iter().any(|(n, _)| n == name));
        vars.extend(extra.iter().cloned());
        vars
    };
    let deployed = with(&[("LOG_REQUESTS", DEPLOYED_LOG_REQUESTS.to_owned())]);
    let (ours_guard, app) = worker::start_worker_with(&deployed);
    let ours_pgid = ours_guard.pgid();
    let hashing = wanted("login") || wanted("register");
    let next = hashing.then(|| {
        let vars = with(&[
            ("LOG_REQUESTS", DEPLOYED_LOG_REQUESTS.to_owned()),
            ("BCRYPT_COST", (bcrypt_cost + 1).to_string()),
        ]);
        let (guard, next_app) = worker::start_worker_with(&vars);
        let email = next_app.verified_user("compare-cost");
        (guard, next_app, email)
    });
    let all_logs = wanted("cheapest").then(|| worker::start_worker_with(&with(&[("LOG_REQUESTS", "all".to_owned())])));
    // The probe of the local asset router: ours once more, from wrangler.toml without `[assets]`
    // (the cheapest route only: without the binding a registration cannot check the common-
    // password list, so that instance has no user to ask `me` for).
    let bare = wanted("cheapest").then(|| worker::start_worker_without_assets(&deployed));
    let peer = peer::start();
    let peer_pgid = peer.child.id();

    let email = app.verified_user("compare-login");
    let token = app.login(&email, PASSWORD).json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let peer_email = unique_email("compare-peer-login");
    assert_eq!(
        peer.sign_up(&peer_email, PASSWORD),
        200,
        "peer sign-up:\n{}",
        peer.log()
    );
    let (status, cookie) = peer.sign_in(&peer_email, PASSWORD);
    assert!(
        status == 200 && cookie.contains("session_token="),
        "peer sign-in answered {status} with cookie {cookie:?}:\n{}",
        peer.log()
    );

    let me = format!("{}/auth/me", harness::PREFIX);
    for i in 0..WARM_UP {
        assert_eq!(app.get("/").status, 200);
        assert_eq!(app.get_with_token(&me, &token).status, 200);
        assert_eq!(app.login(&email, PASSWORD).status, 200);
        assert_eq!(app.register(&unique_email("compare-warm"), PASSWORD).status, 201);
        if let Some((_, next_app, next_email)) = &next {
            assert_eq!(next_app.login(next_email, PASSWORD).status, 200);
        }
        if let Some((_, logging)) = &all_logs {
            assert_eq!(logging.get("/").status, 200);
        }
        if let Some((_, bare)) = &bare {
            assert_eq!(bare.get("/").status, 200);
        }
        assert_eq!(peer.request("GET", "/healthz", None, None).0, 200);
        assert_eq!(peer.request("GET", "/api/auth/get-session", Some(&cookie), None).0, 200);
        assert_eq!(peer.sign_in(&peer_email, PASSWORD).0, 200);
        assert_eq!(peer.sign_up(&format!("compare-warm-{i}@example.com"), PASSWORD), 200);
    }

    let auth = |route: &str| format!("{}/auth/{route}", harness::PREFIX);
    let login_env = |email: &str| {
        vec![
            ("BENCH_EMAIL", email.to_owned()),
            ("BENCH_PASSWORD", PASSWORD.to_owned()),
        ]
    };
    let pairs = [
        Pair {
            route: "cheapest",
            ours: scenario("GET /", "GET", "/", "plain", 200, vec![]),
            peer: scenario("GET /healthz", "GET", "/healthz", "plain", 200, vec![]),
        },
        Pair {
            route: "who-am-I",
            ours: scenario(
                "GET {p}/auth/me",
                "GET",
                &me,
                "plain",
                200,
                vec![("BENCH_TOKEN", token.clone())],
            ),
            peer: scenario(
                "GET /api/auth/get-session",
                "GET",
                "/api/auth/get-session",
                "plain",
                200,
                vec![("BENCH_COOKIE", cookie.clone())],
            ),
        },
        Pair {
            route: "login",
            ours: scenario(
                "POST {p}/auth/login",
                "POST",
                &auth("login"),
                "login",
                200,
                login_env(&email),
            ),
            peer: scenario(
                "POST /api/auth/sign-in/email",
                "POST",
                "/api/auth/sign-in/email",
                "login",
                200,
                login_env(&peer_email),
            ),
        },
        Pair {
            route: "register",
            ours: scenario(
                "POST {p}/auth/register",
                "POST",
                &auth("register"),
                "register",
                201,
                vec![],
            ),
            peer: scenario(
                "POST /api/auth/sign-up/email",
                "POST",
                "/api/auth/sign-up/email",
                "register",
                200,
                vec![("BENCH_REGISTER_NAME", "bench".to_owned())],
            ),
        },
    ];
    let pairs: Vec<&Pair> = pairs.iter().filter(|p| wanted(p.route)).collect();
    let logged_root = scenario("GET / with LOG_REQUESTS=all", "GET", "/", "plain", 200, vec![]);
    let bare_root = scenario("GET / without [assets]", "GET", "/", "plain", 200, vec![]);
    let load = Load {
        threads: THREADS,
        connections: CONNECTIONS,
        seconds,
        max_per_thread: MAX_PER_THREAD,
        timeout_seconds: TIMEOUT_SECONDS,
    };
    let mut runs: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    let mut record = |key: String, result: Value| runs.entry(key).or_default().push(result);
    for _ in 0..rounds {
        for pair in &pairs {
            record(
                format!("{}/ours", pair.route),
                run_wrk(&app.address, ours_pgid, &load, &pair.ours),
            );
            record(
                format!("{}/peer", pair.route),
                run_wrk(&peer.address, peer_pgid, &load, &pair.peer),
            );
            if pair.route == "cheapest" {
                if let Some((guard, logging)) = &all_logs {
                    let result = run_wrk(&logging.address, guard.pgid(), &load, &logged_root);
                    record("cheapest/all-logs".to_owned(), result);
                }
                if let Some((guard, bare)) = &bare {
                    let result = run_wrk(&bare.address, guard.pgid(), &load, &bare_root);
                    record("cheapest/without-assets".to_owned(), result);
                }
            }
        }
    }
    // The same loads once more, each under the profiler of the server's isolate.
    let profiled = env_number("BENCH_PROFILE", 1) != 0;
    let profile_load = Load {
        seconds: env_number("BENCH_PROFILE_SECONDS", PROFILE_SECONDS).max(1),
        ..load
    };
    let profiles: Vec<Value> = pairs
        .iter()
        .filter(|_| profiled)
        .map(|pair| {
            json!({
                "route": pair.route,
                "ours": isolate::profiled(&app.address, ours_pgid, ours_guard.inspector_port(), &profile_load, &pair.ours),
                "peer": isolate::profiled(&peer.address, peer_pgid, peer.inspector_port, &profile_load, &pair.peer),
            })
        })
        .collect();
    let combined: std::collections::BTreeMap<String, Value> = runs
        .iter()
        .map(|(key, results)| (key.clone(), combine(results)))
        .collect();
    let mut failed = Vec::new();
    for (key, result) in &combined {
        let (requests, errors) = (number(result, "requests"), number(result, "errors"));
        if requests - errors <= 0.0 || errors > requests * MAX_ERROR_SHARE {
            failed.push(format!(
                "{key} {}: {errors} of {requests} answers were not {} (statuses {})",
                result["scenario"], result["expected_status"], result["statuses"]
            ));
        }
    }
    let routes: Vec<Value> = pairs
        .iter()
        .map(|pair| {
            let ours = &combined[&format!("{}/ours", pair.route)];
            let theirs = &combined[&format!("{}/peer", pair.route)];
            let ratio = |key: &str| number(ours, key) / number(theirs, key);
            json!({
                "route": pair.route,
                "ours": ours,
                "peer": theirs,
                "ours_over_theirs": {
                    "rps": ratio("rps"),
                    "cpu_ms_per_request": ratio("cpu_ms_per_request"),
                    "workerd_cpu_ms_per_request": ratio("workerd_cpu_ms_per_request"),
                },
            })
        })
        .collect();
    let split = next
        .as_ref()
        .map(|(guard, next_app, next_email)| hash_split(&app, ours_pgid, &email, (next_app, guard.pgid(), next_email)));
    let probes = json!({
        "cheapest_with_all_logs": combined.get("cheapest/all-logs"),
        "cheapest_without_assets": combined.get("cheapest/without-assets"),
        "hash_split": split,
    });
    let goals = goals(&routes, &probes);
    if !failed.is_empty() {
        let log = peer.log();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        eprintln!("the peer's log, last lines:");
        for line in tail.iter().rev() {
            eprintln!("  {line}");
        }
    }
    drop(peer);
    drop(next);
    drop(all_logs);
    drop(bare);
    drop(ours_guard);
    json!({
        "threads": THREADS,
        "connections": CONNECTIONS,
        "seconds_per_test": seconds,
        "rounds": rounds,
        "ours": { "bcrypt_cost": bcrypt_cost, "limits": "lifted", "log_requests": DEPLOYED_LOG_REQUESTS },
        "peer": {
            "library": "better-auth",
            "version": peer::better_auth_version(),
            "database": "D1 through better-auth's Kysely adapter (its built-in D1 dialect)",
            "password_hash": "better-auth's default: scrypt N=16384 r=16 p=1 (node:crypto, nodejs_compat)",
            "rate_limit": false,
            "email_verification": false,
            "config": peer::CONFIG,
        },
        "routes": routes,
        "isolate_profiles": profiles,
        "probes": probes,
        "goals": goals,
        "failed_checks": failed,
    })
}

/// Sequential requests per kind in the hash split, in chunks that alternate between kinds
/// so that drift in the machine's speed hits all alike.
const SPLIT_CHUNKS: usize = 4;
const SPLIT_CHUNK: usize = 5;

/// CPU of `n` sequential requests (one connection, nothing queued) on the server of process
/// group `pgid`, read before and after: (workerd ms, all ms).
fn sequential_cpu(pgid: u32, n: usize, send: impl Fn(usize)) -> (f64, f64) {
    let before = crate::wrk::group_cpu_ms(pgid);
    (0..n).for_each(send);
    std::thread::sleep(std::time::Duration::from_millis(300)); // deferred work: mail, metrics
    let after = crate::wrk::group_cpu_ms(pgid);
    (after.0 - before.0, after.1 - before.1)
}

/// The hash's own CPU and what the rest of a login and a registration costs, sequentially:
/// logins on ours at the bench's cost and on a second instance at cost + 1 (a hash at one
/// more is exactly two at cost, so their difference is one hash), and registrations at
/// cost, in alternating chunks. No request is in flight when the CPU is read, so none is
/// counted half (as a load's last ones are); "all" also holds Wrangler's idle Node (about
/// 20 ms a second here), which makes the slower requests look dearer.
fn hash_split(app: &TestApp, pgid: u32, email: &str, next: (&TestApp, u32, &String)) -> Value {
    let (next_app, next_pgid, next_email) = next;
    let mut totals = [(0.0, 0.0); 3];
    let add = |total: &mut (f64, f64), (w, a): (f64, f64)| {
        total.0 += w;
        total.1 += a;
    };
    for _ in 0..SPLIT_CHUNKS {
        add(
            &mut totals[0],
            sequential_cpu(pgid, SPLIT_CHUNK, |_| {
                assert_eq!(app.login(email, PASSWORD).status, 200);
            }),
        );
        add(
            &mut totals[1],
            sequential_cpu(next_pgid, SPLIT_CHUNK, |_| {
                assert_eq!(next_app.login(next_email, PASSWORD).status, 200);
            }),
        );
        add(
            &mut totals[2],
            sequential_cpu(pgid, SPLIT_CHUNK, |_| {
                assert_eq!(app.register(&unique_email("compare-split"), PASSWORD).status, 201);
            }),
        );
    }
    let n = (SPLIT_CHUNKS * SPLIT_CHUNK) as f64;
    let per = |(w, a): (f64, f64)| json!({ "workerd_cpu_ms_per_request": w / n, "cpu_ms_per_request": a / n });
    json!({
        "requests_per_kind": n,
        "login_at_cost": per(totals[0]),
        "login_at_cost_plus_one": per(totals[1]),
        "register_at_cost": per(totals[2]),
    })
}

/// The goals, each from figures of this run (CPU of the whole server, Wrangler's
/// Node included, per request): the cheapest route at most the peer's; who-am-I's CPU
/// beyond the cheapest route at most half of the peer's; login at most the hash + 5 ms and
/// register at most the hash + 10 ms, the hash being the CPU a login at cost + 1 costs
/// beyond one at cost.
fn goals(routes: &[Value], probes: &Value) -> Value {
    let cpu = |route: &str, side: &str, key: &str| {
        routes
            .iter()
            .find(|r| r["route"] == route)
            .map(|r| number(&r[side], key))
    };
    let mut goals = Vec::new();
    for key in ["cpu_ms_per_request", "workerd_cpu_ms_per_request"] {
        let scope = if key == "cpu_ms_per_request" { "all" } else { "workerd" };
        if let (Some(ours), Some(theirs)) = (cpu("cheapest", "ours", key), cpu("cheapest", "peer", key)) {
            goals.push(json!({ "goal": "cheapest route CPU <= better-auth's", "cpu": scope,
                "ours_ms": ours, "limit_ms": theirs, "met": ours <= theirs }));
        }
        if let (Some(me), Some(root), Some(peer_me), Some(peer_root)) = (
            cpu("who-am-I", "ours", key),
            cpu("cheapest", "ours", key),
            cpu("who-am-I", "peer", key),
            cpu("cheapest", "peer", key),
        ) {
            let (ours, limit) = (me - root, (peer_me - peer_root) / 2.0);
            goals.push(
                json!({ "goal": "who-am-I CPU beyond the cheapest route <= half of better-auth's", "cpu": scope,
                "ours_ms": ours, "limit_ms": limit, "met": ours <= limit }),
            );
        }
        // The same goal with ours measured without the local asset router in front.
        let bare = &probes["cheapest_without_assets"];
        if let (true, Some(theirs)) = (bare.is_object(), cpu("cheapest", "peer", key)) {
            let ours = number(bare, key);
            goals.push(
                json!({ "goal": "cheapest route CPU <= better-auth's, ours without [assets]", "cpu": scope,
                "ours_ms": ours, "limit_ms": theirs, "met": ours <= theirs }),
            );
        }
        let split = &probes["hash_split"];
        if split.is_object() {
            let at = |kind: &str| number(&split[kind], key);
            let hash = at("login_at_cost_plus_one") - at("login_at_cost");
            for (route, kind, slack) in [("login", "login_at_cost", 5.0), ("register", "register_at_cost", 10.0)] {
                let ours = at(kind);
                goals.push(
                    json!({ "goal": format!("{route} CPU <= bcrypt + {slack} ms (sequential)"), "cpu": scope,
                    "bcrypt_ms": hash, "ours_ms": ours, "limit_ms": hash + slack, "met": ours <= hash + slack }),
                );
            }
        }
    }
    json!(goals)
}

fn number(result: &Value, key: &str) -> f64 {
    result[key].as_f64().unwrap_or(f64::NAN)
}

pub fn print_table(section: &Value) {
    if let Some(reason) = section["skipped"].as_str() {
        println!("\npeer comparison skipped: {reason}");
        return;
    }
    println!(
        "\npeer comparison: edge-auth (bcrypt cost {}, LOG_REQUESTS={}) vs better-auth {} (scrypt), one after the other,",
        section["ours"]["bcrypt_cost"],
        section["ours"]["log_requests"].as_str().unwrap_or("?"),
        section["peer"]["version"].as_str().unwrap_or("?")
    );
    println!(
        "wrk -t{} -c{} -d{}s keep-alive each, {} round(s); CPU ms per request of the server's wrangler dev process group",
        section["threads"], section["connections"], section["seconds_per_test"], section["rounds"]
    );
    println!(
        "{:<10} {:<30} {:>8} {:>8} {:>9} {:>7} {:>12} {:>10}",
        "route", "server", "requests", "req/s", "p50 ms", "errors", "workerd CPU", "all CPU"
    );
    for route in section["routes"].as_array().unwrap() {
        for (label, side) in [("ours", "ours"), ("", "peer")] {
            let r = &route[side];
            println!(
                "{:<10} {:<30} {:>8} {:>8.1} {:>9.2} {:>7} {:>12.2} {:>10.2}",
                if label.is_empty() {
                    ""
                } else {
                    route["route"].as_str().unwrap()
                },
                r["scenario"].as_str().unwrap(),
                number(r, "requests"),
                number(r, "rps"),
                number(r, "p50_ms"),
                number(r, "errors"),
                number(r, "workerd_cpu_ms_per_request"),
                number(r, "cpu_ms_per_request"),
            );
        }
        let ratio = &route["ours_over_theirs"];
        println!(
            "{:<10} {:<30} {:>8} {:>8.2} {:>9} {:>7} {:>12.2} {:>10.2}",
            "",
            "  ours / theirs",
            "",
            number(ratio, "rps"),
            "",
            "",
            number(ratio, "workerd_cpu_ms_per_request"),
            number(ratio, "cpu_ms_per_request"),
        );
    }
    let r = &section["probes"]["cheapest_without_assets"];
    if r.is_object() {
        println!(
            "probe: ours, cheapest route from wrangler.toml without [assets] (no local asset router in front): {:.1} req/s, workerd {:.2} ms, all {:.2} ms per request",
            number(r, "rps"),
            number(r, "workerd_cpu_ms_per_request"),
            number(r, "cpu_ms_per_request")
        );
    }
    isolate::print(section["isolate_profiles"].as_array().map_or(&[][..], Vec::as_slice));
    let probes = &section["probes"];
    let r = &probes["cheapest_with_all_logs"];
    if r.is_object() {
        println!(
            "probe: ours, cheapest route with LOG_REQUESTS=all (the default outside production): {:.1} req/s, workerd {:.2} ms, all {:.2} ms per request",
            number(r, "rps"),
            number(r, "workerd_cpu_ms_per_request"),
            number(r, "cpu_ms_per_request")
        );
    }
    let split = &probes["hash_split"];
    if split.is_object() {
        println!(
            "probe: sequential, {} requests each, in alternating chunks (CPU ms per request, workerd / all):",
            split["requests_per_kind"]
        );
        for (kind, label) in [
            ("login_at_cost", "login at the bench's bcrypt cost"),
            ("login_at_cost_plus_one", "login at cost + 1 (a second instance)"),
            ("register_at_cost", "register at the bench's cost"),
        ] {
            println!(
                "  {label:<40} {:>8.2} {:>8.2}",
                number(&split[kind], "workerd_cpu_ms_per_request"),
                number(&split[kind], "cpu_ms_per_request")
            );
        }
    }
    println!("\ngoals (CPU per request, this run):");
    for goal in section["goals"].as_array().into_iter().flatten() {
        let bcrypt = goal["bcrypt_ms"]
            .as_f64()
            .map(|b| format!(" (bcrypt {b:.2} ms)"))
            .unwrap_or_default();
        println!(
            "  {:<3} {:<66} {:<8} ours {:>8.2} ms, limit {:>8.2} ms{bcrypt}",
            if goal["met"] == true { "MET" } else { "NOT" },
            goal["goal"].as_str().unwrap_or(""),
            goal["cpu"].as_str().unwrap_or(""),
            number(goal, "ours_ms"),
            number(goal, "limit_ms"),
        );
    }
    for failure in section["failed_checks"].as_array().unwrap() {
        println!("CHECK FAILED: {}", failure.as_str().unwrap());
    }
}
