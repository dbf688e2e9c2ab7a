//! System routes and the HTTP edge every route relies on.

use std::time::{Duration, Instant};

use crate::harness::{
    fresh_uuid, spawn_app, spawn_isolated_app_with, unique_email, unix_now, TestApp, ALLOWED_ORIGIN, BCRYPT_COST,
    METRICS_TOKEN, PASSWORD, PREFIX,
};
use serde_json::json;

/// Tests that only the Postgres run has (D1 cannot be stopped from outside).
pub const POSTGRES_ONLY: &[&str] = &["a_stopped_database_is_503_within_seconds"];

pub fn root_names_the_service() {
    let answer = spawn_app().get("/");
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["docs"], "/docs");
    assert!(body["name"].is_string() && body["version"].is_string());
}

/// The bearer of METRICS_TOKEN is shown the details: the backend and where mail goes.
pub fn health_checks_the_database() {
    let answer = spawn_app().get_with_token("/health", METRICS_TOKEN);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["status"], "ok");
    assert_eq!(answer.json()["checks"]["database"], "ok");
    assert_eq!(answer.json()["checks"]["rate_limiter"], "ok");
    assert_eq!(
        answer.json()["checks"]["database_backend"],
        crate::harness::worker::backend()
    );
    assert_eq!(answer.json()["checks"]["mail"], "sendgrid");
}

/// Anyone else learns whether the service is up, not what it runs on.
pub fn health_shows_anonymous_callers_neither_backend_nor_mail() {
    let app = spawn_app();
    for answer in [
        app.get("/health"),
        app.get_with_token("/health", "not-the-metrics-token"),
    ] {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(
            answer.json()["checks"],
            json!({ "database": "ok", "rate_limiter": "ok" }),
            "{}",
            answer.body
        );
    }
}

pub fn openapi_describes_every_route() {
    let doc = spawn_app().get("/openapi.json").json();
    assert_eq!(doc["openapi"], "3.1.0");
    let expected = [
        ("/", "get"),
        ("/health", "get"),
        ("/openapi.json", "get"),
        ("/auth/register", "post"),
        ("/auth/verify-email", "post"),
        ("/auth/resend-verification", "post"),
        ("/auth/login", "post"),
        ("/auth/logout", "post"),
        ("/auth/me", "get"),
        ("/auth/update-user", "put"),
        ("/auth/password/forget", "post"),
        ("/auth/password/reset", "post"),
    ];
    for (path, method) in expected {
        let path = if path.starts_with("/auth") {
            format!("{PREFIX}{path}")
        } else {
            path.to_owned()
        };
        assert!(doc["paths"][&path][method].is_object(), "{method} {path} missing");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

pub fn docs_page_and_its_assets_are_served_locally() {
    let app = spawn_app();
    let page = app.get("/docs");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("/openapi.json"));
    // The Worker answers it, with the headers every answer carries.
    assert!(page.header("x-request-id").is_some());
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(
        !page.body.contains("https://"),
        "the page must not load anything from a CDN"
    );
    for asset in ["/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"] {
        let answer = app.get(asset);
        assert_eq!(answer.status, 200, "{asset}");
        assert!(answer.body.len() > 10_000, "{asset} is too small to be the real thing");
    }
}

pub fn the_files_the_worker_reads_from_its_assets_are_not_served() {
    let app = spawn_app();
    // Read through the ASSETS binding (the document above, the password check in
    // accounts), but a request for them reaches the Worker, which has no such route.
    for path in ["/_worker/openapi.json", "/_worker/common-passwords.txt", "/_worker/"] {
        let answer = app.get(path);
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.json()["code"], "not_found", "{path}");
    }
    // The document as served is the committed one under this instance's prefix and name.
    let committed: serde_json::Value =
        serde_json::from_str(include_str!("../../openapi.json")).expect("openapi.json parses");
    let served = app.get("/openapi.json").json();
    assert_eq!(
        served["paths"].as_object().map(|p| p.len()),
        committed["paths"].as_object().map(|p| p.len())
    );
    assert_eq!(served["components"], committed["components"]);
}

pub fn unknown_routes_are_404_problems() {
    let app = spawn_app();
    app.get("/no/such/route").assert_problem(404, "not_found");
    app.post_json(&format!("{PREFIX}/auth/nothing"), &json!({}))
        .assert_problem(404, "not_found");
}

pub fn wrong_methods_are_405_with_allow() {
    let app = spawn_app();
    let answer = app.get(&app.auth("login"));
    answer.assert_problem(405, "method_not_allowed");
    assert_eq!(answer.header("allow"), Some("POST, OPTIONS"));
    let answer = app.request("DELETE", "/health", &[], None);
    answer.assert_problem(405, "method_not_allowed");
    assert_eq!(answer.header("allow"), Some("GET, OPTIONS"));
}

pub fn oversized_bodies_are_413() {
    let app = spawn_app();
    let big = json!({ "email": "a@example.com", "password": "x".repeat(17 * 1024) });
    app.post_json(&app.auth("register"), &big)
        .assert_problem(413, "payload_too_large");
}

/// Without `Content-Length` the limit is counted while the body streams in.
pub fn an_oversized_chunked_body_is_413() {
    let app = spawn_app();
    let big = json!({ "email": "a@example.com", "password": "x".repeat(40 * 1024) }).to_string();
    let answer = app.request_chunked("POST", &app.auth("register"), "application/json", big.as_bytes());
    answer.assert_problem(413, "payload_too_large");
    assert!(answer.header("x-request-id").is_some(), "answered by the pipeline");
    let small = json!({ "email": "not-an-address", "password": "correct horse battery" }).to_string();
    let answer = app.request_chunked("POST", &app.auth("register"), "application/json", small.as_bytes());
    answer.assert_problem(422, "validation_error");
}

/// A method the runtime knows but the Worker's routes do not is a 405, never a GET.
pub fn unknown_methods_are_405_not_a_get() {
    let app = spawn_app();
    for (method, path) in [
        ("PROPFIND", "/health"),
        ("QUERY", "/"),
        ("PATCH", "/balance_hub/auth/me"),
    ] {
        let answer = app.request(method, path, &[], None);
        answer.assert_problem(405, "method_not_allowed");
        assert_eq!(answer.header("allow"), Some("GET, OPTIONS"), "{method} {path}");
    }
}

pub fn wrong_content_types_are_415() {
    let app = spawn_app();
    let body = br#"{"email":"a@example.com","password":"correct horse battery"}"#;
    app.request(
        "POST",
        &app.auth("register"),
        &[("Content-Type", "text/plain")],
        Some(body),
    )
    .assert_problem(415, "unsupported_media_type");
    app.request("POST", &app.auth("register"), &[], Some(body))
        .assert_problem(415, "unsupported_media_type");
}

pub fn malformed_json_is_400() {
    let app = spawn_app();
    for body in [&b"{\"email\": "[..], b"not json", b""] {
        app.request(
            "POST",
            &app.auth("register"),
            &[("Content-Type", "application/json")],
            Some(body),
        )
        .assert_problem(400, "malformed_body");
    }
}

pub fn invalid_fields_are_422_naming_the_field() {
    let app = spawn_app();
    let cases = [
        (json!({ "password": "correct horse battery" }), "email"),
        (
            json!({ "email": "not-an-email", "password": "correct horse battery" }),
            "email",
        ),
        (json!({ "email": "a@example.com", "password": "short" }), "password"),
        (json!({ "email": "a@example.com", "password": 12345678 }), "password"),
        (json!([1, 2, 3]), "body"),
    ];
    for (body, field) in cases {
        let problem = app
            .post_json(&app.auth("register"), &body)
            .assert_problem(422, "validation_error");
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body}: {fields:?}");
    }
}

pub fn request_ids_are_echoed_or_generated() {
    let app = spawn_app();
    let echoed = app.request("GET", "/health", &[("X-Request-Id", "e2e-trace-1")], None);
    assert_eq!(echoed.header("x-request-id"), Some("e2e-trace-1"));
    let first = app.get("/");
    let second = app.get("/");
    let (a, b) = (
        first.header("x-request-id").unwrap(),
        second.header("x-request-id").unwrap(),
    );
    assert!(!a.is_empty() && a != b);
    let auth = app.post_json(&app.auth("login"), &json!({}));
    assert_eq!(auth.header("cache-control"), Some("no-store"));
    assert!(auth.header("x-request-id").is_some());
}

pub fn cors_allows_configured_origins_only() {
    let app = spawn_app();
    let preflight = |origin: &str| {
        app.request(
            "OPTIONS",
            &app.auth("login"),
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type"),
            ],
            None,
        )
    };
    let allowed = preflight(ALLOWED_ORIGIN);
    assert!(allowed.status == 204 || allowed.status == 200, "{}", allowed.status);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(ALLOWED_ORIGIN));
    assert_eq!(allowed.header("access-control-allow-credentials"), Some("true"));
    assert!(allowed.header("access-control-allow-methods").unwrap().contains("POST"));
    let frontend = preflight(crate::harness::FRONTEND_URL);
    assert_eq!(
        frontend.header("access-control-allow-origin"),
        Some(crate::harness::FRONTEND_URL)
    );
    let refused = preflight("http://evil.test");
    assert_eq!(refused.header("access-control-allow-origin"), None);
    let simple = app.request("GET", "/", &[("Origin", "http://evil.test")], None);
    assert_eq!(simple.header("access-control-allow-origin"), None);
}

pub fn request_logs_carry_the_request_id() {
    let app = spawn_app();
    let id = format!("log-trace-{}", std::process::id());
    app.request("GET", "/health", &[("X-Request-Id", &id)], None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(&app.log_file).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains(&id)) {
            let json: serde_json::Value = serde_json::from_str(&line[line.find('{').unwrap()..]).unwrap();
            assert_eq!(json["route"], "/health");
            assert_eq!(json["status"], 200);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no log line with {id}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Postgres run only: a stopped database gives 503 naming it within seconds (never a
/// hang), auth routes degrade the same way, and the service recovers when it is back.
pub fn a_stopped_database_is_503_within_seconds() {
    let app = spawn_app();
    app.with_database_stopped(|| {
        let started = std::time::Instant::now();
        let health = app.request_ungated("GET", "/health", &[], None);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(8),
            "took {:?}",
            started.elapsed()
        );
        let problem = health.assert_problem(503, "dependency_unavailable");
        assert_eq!(problem["checks"]["database"], "unavailable");
        assert_eq!(problem["checks"]["rate_limiter"], "ok");
        let body = json!({ "email": "someone@example.com", "password": "whatever it is" }).to_string();
        let login = app.request_ungated(
            "POST",
            &app.auth("login"),
            &[("Content-Type", "application/json")],
            Some(body.as_bytes()),
        );
        login.assert_problem(503, "dependency_unavailable");
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while app.get("/health").status != 200 {
        assert!(std::time::Instant::now() < deadline, "the Worker did not recover");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A deployment as production runs it (https origins, no fault injection) but without
/// `SENDGRID_API_KEY`: its own Worker, since its mail and `/health` are unlike the others'.
fn without_mail() -> &'static TestApp {
    spawn_isolated_app_with(
        "without-mail",
        &[
            ("ENVIRONMENT", "production"),
            // Blank is unset to the Worker, even if .dev.vars names a key.
            ("SENDGRID_API_KEY", ""),
            ("FRONTEND_URL", "https://frontend.test"),
            ("CORS_ORIGINS", "https://allowed.test"),
            ("FAULT_INJECTION", "false"),
        ],
        TestApp::answers,
    )
}

/// No line of the Worker's log holds a mail or anything shaped like a six-digit code.
fn assert_no_code_logged(app: &TestApp, recipients: &[&str]) {
    let log = std::fs::read_to_string(&app.log_file).unwrap();
    for line in log.lines() {
        assert!(!line.contains(r#""message":"mail ("#), "a mail in the log: {line}");
        for recipient in recipients {
            assert!(!line.contains(recipient), "{recipient} in the log: {line}");
        }
        let Some(json) = line.find('{').map(|start| &line[start..]) else {
            continue;
        };
        let code = json
            .split(|c: char| !c.is_ascii_alphanumeric())
            .find(|word| word.len() == 6 && word.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(code, None, "a six-digit code in the log: {line}");
    }
}

/// Without a mail key outside development, the routes that exist to mail a code or a link
/// answer 503 naming mail before doing anything, rather than 201/202 for mail nobody sends.
pub fn without_a_mail_key_mailing_routes_are_503_naming_mail() {
    let app = without_mail();
    let email = unique_email("no-mail");
    let requests = [
        ("register", json!({ "email": email, "password": PASSWORD })),
        ("resend-verification", json!({ "email": email })),
        ("password/forget", json!({ "email": email })),
    ];
    for (route, body) in requests {
        let problem = app
            .post_json(&app.auth(route), &body)
            .assert_problem(503, "dependency_unavailable");
        assert_eq!(problem["checks"], json!({ "mail": "unconfigured" }), "{route}");
    }
    assert_eq!(app.count_users(&email), 0, "refused before anything was stored");
    assert!(app.sendgrid.attempts_for(&email).is_empty());
    assert_no_code_logged(app, &[&email]);
}

pub fn without_a_mail_key_health_is_503_naming_mail() {
    let app = without_mail();
    let problem = app.get("/health").assert_problem(503, "dependency_unavailable");
    assert_eq!(problem["checks"]["mail"], "unconfigured");
    assert_eq!(problem["checks"]["database"], "ok");
    assert_eq!(problem["checks"]["rate_limiter"], "ok");
}

/// Mail that other flows send (here an email change's code and notice) cannot be refused
/// up front: each one is a logged, reported failure, and no code reaches the log.
pub fn without_a_mail_key_other_mail_is_reported_and_never_logged() {
    let app = without_mail();
    let (email, new_email) = (unique_email("no-mail-owner"), unique_email("no-mail-new"));
    app.insert_verified_user(&email, &bcrypt::hash(PASSWORD, BCRYPT_COST).unwrap());
    let login = app.login(&email, PASSWORD);
    assert_eq!(login.status, 200, "{}", login.body);
    let token = login.json()["access_token"].as_str().unwrap().to_owned();
    let request_id = format!("no-mail-trace-{}", std::process::id());
    let body = json!({ "email": new_email, "current_password": PASSWORD }).to_string();
    let answer = app.request(
        "PUT",
        &app.auth("update-user"),
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &format!("Bearer {token}")),
            ("X-Request-Id", &request_id),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);

    let failures = || {
        let log = std::fs::read_to_string(&app.log_file).unwrap();
        log.lines()
            .filter(|l| l.contains(r#""message":"dependency failed""#) && l.contains(&request_id))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while failures().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no error line per unsent mail: {:?}",
            failures()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for line in failures() {
        assert!(
            line.contains(r#""level":"error""#) && line.contains(r#""dependency":"mail""#),
            "{line}"
        );
        assert!(line.contains("SENDGRID_API_KEY"), "names the variable: {line}");
    }
    while !app
        .sentry
        .events()
        .iter()
        .any(|e| e["tags"]["request_id"] == request_id.as_str() && e["tags"]["route"] == "mail")
    {
        assert!(Instant::now() < deadline, "no Sentry event for the unsent mail");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(app.sendgrid.attempts_for(&new_email).is_empty());
    assert_no_code_logged(app, &[&email, &new_email]);
}

/// Production with a test's settings (the harness's http origins and fault injection)
/// refuses to start: every request is a 500 that shows nothing, and the log names the
/// variable, as for a weak SECRET_KEY.
pub fn production_with_an_http_frontend_refuses_every_request_naming_it() {
    let app = spawn_isolated_app_with(
        "production-with-test-settings",
        &[("ENVIRONMENT", "production")],
        TestApp::answers,
    );
    for answer in [
        app.get("/"),
        app.get("/health"),
        app.register(&unique_email("refused"), PASSWORD),
    ] {
        answer.assert_problem(500, "internal_error");
        assert!(!answer.body.contains("FRONTEND_URL"), "no internals: {}", answer.body);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(&app.log_file).unwrap();
        let named = log
            .lines()
            .any(|l| l.contains(r#""message":"configuration is invalid""#) && l.contains("FRONTEND_URL"));
        if named {
            break;
        }
        assert!(Instant::now() < deadline, "no log line names FRONTEND_URL:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A row the housekeeping test writes: its id, what it is, `expires_at`, `revoked_at` (or
/// `used_at`), and whether it must be kept.
type Arranged = (String, &'static str, i64, Option<i64>, bool);

fn arranged(rows: [(&'static str, i64, Option<i64>, bool); 5]) -> Vec<Arranged> {
    rows.into_iter()
        .map(|(name, expires, ended, kept)| (fresh_uuid(), name, expires, ended, kept))
        .collect()
}

/// The cron trigger's handler drops exactly the sessions and one-time tokens that ended more
/// than a day ago (used or not), keeps the rest, and says what it deleted in one log line.
pub fn housekeeping_drops_exactly_the_sessions_and_tokens_over_a_day_past() {
    const DAY: i64 = 86_400;
    let app = spawn_app();
    let user = app.insert_verified_user(&unique_email("housekeeping"), "not-a-login");
    let (now, at) = (unix_now(), |t: i64| app.instant(t));
    let or_null = |t: Option<i64>| t.map_or_else(|| "NULL".to_owned(), at);
    let sessions = arranged([
        ("expired two days ago", now - 2 * DAY, None, false),
        ("revoked two days ago", now + 3600, Some(now - 2 * DAY), false),
        ("expired an hour ago", now - 3600, None, true),
        ("revoked an hour ago", now + 3600, Some(now - 3600), true),
        ("live", now + 3600, None, true),
    ]);
    let tokens = arranged([
        ("expired two days ago", now - 2 * DAY, None, false),
        ("used, expired two days ago", now - 2 * DAY, Some(now - 3 * DAY), false),
        ("expired an hour ago", now - 3600, None, true),
        ("used, live", now + 600, Some(now - 60), true),
        ("live", now + 600, None, true),
    ]);
    let values = |rows: &[Arranged], extra: &dyn Fn(&str) -> String| {
        rows.iter()
            .map(|(id, _, expires, ended, _)| {
                let (created, expires, ended) = (at(now - 3 * DAY), at(*expires), or_null(*ended));
                format!("('{id}', '{user}', {}{created}, {expires}, {ended})", extra(id))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Instants are written for this run's backend (`instant`), so one text serves both.
    let insert_sessions = format!(
        "INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at) VALUES {}",
        values(&sessions, &|_| String::new())
    );
    app.execute(&insert_sessions, &insert_sessions);
    let insert_tokens = format!(
        "INSERT INTO one_time_tokens (id, user_id, purpose, digest, created_at, expires_at, used_at) VALUES {}",
        values(&tokens, &|id| format!("'reset_password', 'housekeeping-{id}', "))
    );
    app.execute(&insert_tokens, &insert_tokens);

    let runs = || -> Vec<serde_json::Value> {
        let log = std::fs::read_to_string(&app.log_file).unwrap();
        log.lines()
            .filter(|l| l.contains(r#""message":"housekeeping""#))
            .map(|l| serde_json::from_str(&l[l.find('{').unwrap()..]).unwrap())
            .collect()
    };
    let before = runs().len();
    let answer = app.trigger_scheduled("17 * * * *");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let deadline = Instant::now() + Duration::from_secs(10);
    let run = loop {
        if let Some(run) = runs().into_iter().nth(before) {
            break run;
        }
        assert!(Instant::now() < deadline, "no housekeeping log line after the trigger");
        std::thread::sleep(Duration::from_millis(100));
    };
    for table in ["sessions", "one_time_tokens"] {
        assert!(run["deleted"][table].as_u64().unwrap() >= 2, "{table}: {run}");
    }

    for (table, rows) in [("sessions", &sessions), ("one_time_tokens", &tokens)] {
        let left = app.query(
            &format!("SELECT id FROM {table} WHERE user_id = '{user}'"),
            &format!("SELECT id::text AS id FROM {table} WHERE user_id = '{user}'"),
        );
        let left: Vec<&str> = left.iter().map(|row| row["id"].as_str().unwrap()).collect();
        for (id, name, _, _, kept) in rows {
            assert_eq!(left.contains(&id.as_str()), *kept, "{table}: {name}");
        }
    }
}

pub fn tests() -> Vec<libtest_mimic::Trial> {
    crate::trials![
        root_names_the_service,
        health_checks_the_database,
        health_shows_anonymous_callers_neither_backend_nor_mail,
        openapi_describes_every_route,
        docs_page_and_its_assets_are_served_locally,
        the_files_the_worker_reads_from_its_assets_are_not_served,
        unknown_routes_are_404_problems,
        wrong_methods_are_405_with_allow,
        oversized_bodies_are_413,
        an_oversized_chunked_body_is_413,
        unknown_methods_are_405_not_a_get,
        wrong_content_types_are_415,
        malformed_json_is_400,
        invalid_fields_are_422_naming_the_field,
        request_ids_are_echoed_or_generated,
        cors_allows_configured_origins_only,
        request_logs_carry_the_request_id,
        a_stopped_database_is_503_within_seconds,
        without_a_mail_key_mailing_routes_are_503_naming_mail,
        without_a_mail_key_health_is_503_naming_mail,
        without_a_mail_key_other_mail_is_reported_and_never_logged,
        production_with_an_http_frontend_refuses_every_request_naming_it,
        housekeeping_drops_exactly_the_sessions_and_tokens_over_a_day_past,
    ]
}
