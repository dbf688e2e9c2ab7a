//! The peer comparison of `make bench`: the same four routes on our Worker and on a minimal
//! better-auth Worker (bench/peer), both under `wrangler dev` on this machine in this run,
//! each route loaded on ours and then on the peer with the same wrk parameters.

mod peer;

use serde_json::{json, Value};

use crate::harness::{self, unique_email, worker, PASSWORD};
use crate::wrk::{run_wrk, Load, Scenario};

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

/// Runs the four pairs; `overrides` are our Worker's variables (limits lifted, the bcrypt
/// cost). Answers the `peer_comparison` section of bench-results/latest.json.
pub fn run(overrides: &[(&str, String)], bcrypt_cost: u32) -> Value {
    let (ours_guard, app) = worker::start_worker_with(overrides);
    let ours_pgid = ours_guard.child.id();
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
    let load = Load {
        threads: THREADS,
        connections: CONNECTIONS,
        seconds: SECONDS,
        max_per_thread: MAX_PER_THREAD,
        timeout_seconds: TIMEOUT_SECONDS,
    };
    let mut failed = Vec::new();
    let routes: Vec<Value> = pairs
        .iter()
        .map(|pair| {
            let ours = run_wrk(&app.address, ours_pgid, &load, &pair.ours);
            let theirs = run_wrk(&peer.address, peer_pgid, &load, &pair.peer);
            for (server, result) in [("edge-auth", &ours), ("better-auth", &theirs)] {
                let (requests, errors) = (number(result, "requests"), number(result, "errors"));
                if requests - errors <= 0.0 || errors > requests * MAX_ERROR_SHARE {
                    failed.push(format!(
                        "{server} {}: {errors} of {requests} answers were not {} (statuses {})",
                        result["scenario"], result["expected_status"], result["statuses"]
                    ));
                }
            }
            let ratio = |key: &str| number(&ours, key) / number(&theirs, key);
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
    if !failed.is_empty() {
        let log = peer.log();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        eprintln!("the peer's log, last lines:");
        for line in tail.iter().rev() {
            eprintln!("  {line}");
        }
    }
    drop(peer);
    drop(ours_guard);
    json!({
        "threads": THREADS,
        "connections": CONNECTIONS,
        "seconds_per_test": SECONDS,
        "ours": { "bcrypt_cost": bcrypt_cost, "limits": "lifted" },
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
        "failed_checks": failed,
    })
}

fn number(result: &Value, key: &str) -> f64 {
    result[key].as_f64().unwrap_or(f64::NAN)
}

pub fn print_table(section: &Value) {
    println!(
        "\npeer comparison: edge-auth (bcrypt cost {}) vs better-auth {} (scrypt), one after the other,",
        section["ours"]["bcrypt_cost"],
        section["peer"]["version"].as_str().unwrap_or("?")
    );
    println!(
        "wrk -t{} -c{} -d{}s keep-alive each; CPU ms per request of the server's wrangler dev process group",
        section["threads"], section["connections"], section["seconds_per_test"]
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
    for failure in section["failed_checks"].as_array().unwrap() {
        println!("CHECK FAILED: {}", failure.as_str().unwrap());
    }
}
