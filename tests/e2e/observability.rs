//! Metrics, Sentry reports and logs.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{spawn_isolated_app, unique_email, TestApp, METRICS_TOKEN, PASSWORD};

/// Counters and a trapped instance are this file's alone: its own Worker.
fn spawn_app() -> &'static TestApp {
    spawn_isolated_app("observability")
}

fn scrape() -> String {
    let app = spawn_app();
    let answer = app.request(
        "GET",
        "/metrics",
        &[("Authorization", &format!("Bearer {METRICS_TOKEN}"))],
        None,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    answer.body
}

/// The value of the sample whose name and labels are exactly `series`, 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |value| value.parse().unwrap())
}

/// Polls until `series` reaches `expected` (flushes run after the response), then checks
/// that it stays there.
fn wait_for(series: &str, expected: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let value = sample(&scrape(), series);
        if value == expected {
            break;
        }
        assert!(value < expected, "{series} overshot: {value} > {expected}");
        assert!(
            Instant::now() < deadline,
            "{series} stayed at {value}, expected {expected}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        sample(&scrape(), series),
        expected,
        "{series} moved past the requests made"
    );
}

/// One sequential story, so the counters it reads move only by what it does.
pub fn metrics_count_exactly_the_requests_made() {
    let app = spawn_app();
    // PATCH is used by no other test: its counter is this test's alone.
    let series = r#"http_requests_total{method="PATCH",route="/openapi.json",status="405"}"#;
    let before = sample(&scrape(), series);
    for _ in 0..3 {
        assert_eq!(app.request("PATCH", "/openapi.json", &[], None).status, 405);
    }
    wait_for(series, before + 3.0);

    // Counter and histogram come from the same deltas: within one scrape, a route's
    // histogram counts exactly its requests, and its buckets are cumulative.
    let text = scrape();
    let route = "/openapi.json";
    let requests: f64 = text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{") && l.contains(&format!("route=\"{route}\"")))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    let count = sample(
        &text,
        &format!("http_request_duration_seconds_count{{route=\"{route}\"}}"),
    );
    assert!(
        count >= 3.0 && count == requests,
        "histogram {count} vs counter {requests}"
    );
    let buckets: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(&format!("http_request_duration_seconds_bucket{{route=\"{route}\"")))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(buckets.len(), 12, "11 bounds and +Inf");
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "cumulative: {buckets:?}");
    assert_eq!(*buckets.last().unwrap(), count);

    let text = scrape();
    for needed in [
        "# TYPE http_requests_total counter",
        "# TYPE http_request_duration_seconds histogram",
        "# TYPE auth_events_total counter",
        "build_info{version=",
    ] {
        assert!(text.contains(needed), "missing {needed}");
    }
    assert!(!text.contains("@example.com"), "no raw paths or emails in labels");
}

pub fn auth_events_are_counted() {
    let app = spawn_app();
    let failed = r#"auth_events_total{event="login_failed"}"#;
    let registered = r#"auth_events_total{event="registration"}"#;
    let text = scrape();
    let (failed_before, registered_before) = (sample(&text, failed), sample(&text, registered));
    app.login(&unique_email("metrics-nobody"), "wrong but long enough")
        .assert_problem(401, "invalid_credentials");
    app.register(&unique_email("metrics-new"), PASSWORD);
    // Other tests log in and register concurrently: at least ours must show.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape();
        if sample(&text, failed) > failed_before && sample(&text, registered) > registered_before {
            break;
        }
        assert!(Instant::now() < deadline, "auth events did not move");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn metrics_require_the_token() {
    let app = spawn_app();
    app.get("/metrics").assert_problem(401, "invalid_token");
    app.request("GET", "/metrics", &[("Authorization", "Bearer wrong-token")], None)
        .assert_problem(401, "invalid_token");
    assert_eq!(
        app.request(
            "GET",
            "/metrics",
            &[("Authorization", &format!("Bearer {METRICS_TOKEN}"))],
            None
        )
        .status,
        200
    );
}

pub fn an_internal_error_reaches_sentry_scrubbed() {
    let app = spawn_app();
    let (email, token) = app.logged_in_user("sentry");
    let request_id = format!("sentry-trace-{}", std::process::id());
    let body = json!({ "email": email, "password": PASSWORD }).to_string();
    let answer = app.request(
        "POST",
        &app.auth("login"),
        &[
            ("Content-Type", "application/json"),
            ("X-Fault-Inject", "internal"),
            ("X-Request-Id", &request_id),
            ("Authorization", &format!("Bearer {token}")),
            ("Cookie", &format!("access_token={token}")),
        ],
        Some(body.as_bytes()),
    );
    let problem = answer.assert_problem(500, "internal_error");
    assert!(
        !answer.body.contains("injected"),
        "no internals in the answer: {}",
        answer.body
    );
    let error_id = problem["error_id"].as_str().unwrap().to_owned();

    let of_this_request = || -> Vec<serde_json::Value> {
        let events = app.sentry.events();
        events
            .into_iter()
            .filter(|e| e["tags"]["request_id"] == request_id.as_str())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while of_this_request().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let events = of_this_request();
    assert_eq!(events.len(), 1, "exactly one report for one failure");
    let event = &events[0];
    assert_eq!(event["tags"]["error_id"], error_id.as_str());
    assert_eq!(event["tags"]["route"], "{p}/auth/login");
    assert_eq!(event["environment"], "e2e");
    assert!(event["release"].as_str().unwrap().starts_with("edge-auth@"));
    assert!(
        event["exception"]["values"].as_array().is_some_and(|v| v.len() >= 2),
        "a cause chain"
    );
    let text = event.to_string();
    for secret in [PASSWORD, token.as_str(), email.as_str()] {
        assert!(!text.contains(secret), "the report leaks {secret}: {text}");
    }
}

pub fn a_failed_mail_is_reported() {
    let app = spawn_app();
    let email = unique_email(&format!("sentry-mail{}", crate::harness::fake_sendgrid::FAIL_MARKER));
    let request_id = format!("mail-trace-{}", std::process::id());
    let body = json!({ "email": email, "password": PASSWORD }).to_string();
    let answer = app.request(
        "POST",
        &app.auth("register"),
        &[("Content-Type", "application/json"), ("X-Request-Id", &request_id)],
        Some(body.as_bytes()),
    );
    assert_eq!(answer.status, 201);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = app
            .sentry
            .events()
            .into_iter()
            .any(|e| e["tags"]["request_id"] == request_id.as_str() && e["tags"]["route"] == "mail");
        if found {
            break;
        }
        assert!(Instant::now() < deadline, "no Sentry event for the failed mail");
        std::thread::sleep(Duration::from_millis(100));
    }
    let leaked = app.sentry.events().iter().any(|e| e.to_string().contains(&email));
    assert!(!leaked, "the address is scrubbed");
}

/// A panic traps the wasm instance; its report is parked outside the instance and sent by
/// the next request. Nothing else may be in flight meanwhile: the instance is re-created.
pub fn a_panic_is_reported_by_the_next_request() {
    let app = spawn_app();
    let request_id = format!("panic-trace-{}", std::process::id());
    let reported = |app: &TestApp| {
        app.sentry
            .events()
            .into_iter()
            .find(|e| e["tags"]["request_id"] == request_id.as_str())
    };
    let event = app.exclusively(|| {
        // Let deferred work (metric flushes, mail) finish: the re-created instance drops it.
        std::thread::sleep(Duration::from_millis(1500));
        let headers = [("X-Fault-Inject", "panic"), ("X-Request-Id", request_id.as_str())];
        let answer = app.request_ungated("GET", "/", &headers, None);
        assert!(answer.status >= 500, "a panic is no success: {}", answer.status);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let health = app.request_ungated("GET", "/health", &[], None);
            if let Some(event) = reported(app) {
                assert_eq!(health.status, 200, "the service recovers: {}", health.body);
                break event;
            }
            assert!(Instant::now() < deadline, "no Sentry event for the panic");
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    assert_eq!(event["tags"]["route"], "/");
    assert!(event.to_string().contains("injected panic"), "{event}");
    assert_eq!(event["environment"], "e2e");
}

pub fn tests() -> Vec<libtest_mimic::Trial> {
    crate::trials![
        metrics_count_exactly_the_requests_made,
        auth_events_are_counted,
        metrics_require_the_token,
        an_internal_error_reaches_sentry_scrubbed,
        a_failed_mail_is_reported,
        a_panic_is_reported_by_the_next_request,
    ]
}
