//! The whole service, natively: every feature mounted, through the HTTP pipeline.

use std::collections::HashSet;

use super::*;
use crate::features::users::testing::PASSWORD;
use crate::kernel::config::test_vars_with;
use crate::kernel::events::AuthEvent;
use crate::kernel::testing::TestWorld;
use crate::rate_limit::{Decision, Gate, LimiterError, LockoutPolicy, Policy, RateLimiter};

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = serde_json::to_string_pretty(&http::openapi::document(FEATURES)).unwrap() + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap();
    assert!(
        committed == generated,
        "openapi.json differs from the code's annotations: run `make openapi`"
    );
}

#[test]
fn names_are_unique_across_features() {
    let mut routes = HashSet::new();
    let mut limits = HashSet::new();
    let mut mails = HashSet::new();
    let mut codes = std::collections::HashMap::new();
    for feature in FEATURES {
        for route in feature.routes {
            assert!(
                routes.insert((route.method, route.path)),
                "{} {} twice",
                route.method,
                route.path
            );
            for code in route.problem_answers() {
                let title = codes.entry((code.status, code.code)).or_insert(code.title);
                assert_eq!(*title, code.title, "{} {} has two titles", code.status, code.code);
            }
        }
        for limit in feature.limits {
            assert!(limits.insert(limit.name), "limit {} twice", limit.name);
            assert!(limits.insert(limit.var), "variable {} twice", limit.var);
        }
        for mail in feature.mails {
            assert!(mails.insert(mail.name), "mail kind {} twice", mail.name);
        }
    }
}

#[test]
fn every_mail_template_has_its_parts() {
    for mail in FEATURES.iter().flat_map(|f| f.mails.iter()) {
        assert!(mail.subject.contains("{{app_name}}"), "{}", mail.name);
        assert!(
            mail.html.contains("</html>") || mail.html.contains("</p>"),
            "{}",
            mail.name
        );
        assert!(!mail.text.is_empty(), "{}", mail.name);
    }
}

#[test]
fn the_default_configuration_is_valid_for_every_feature() {
    let read = |name: &str| match name {
        "SECRET_KEY" => Some("0123456789abcdef0123456789abcdef".to_owned()),
        "FRONTEND_URL" => Some("https://app.example".to_owned()),
        _ => None,
    };
    state(&read).unwrap();
}

#[test]
fn production_refuses_an_http_frontend() {
    let read = |name: &str| (name == "SECRET_KEY").then(|| "0123456789abcdef0123456789abcdef".to_owned());
    let err = state(&read).err().unwrap();
    assert!(err.to_string().contains("FRONTEND_URL"), "{err}");
}

#[test]
fn a_bad_limit_names_its_variable() {
    let read = |name: &str| match name {
        "SECRET_KEY" => Some("0123456789abcdef0123456789abcdef".to_owned()),
        "FRONTEND_URL" => Some("https://app.example".to_owned()),
        "RATE_LIMIT_USER_API" => Some("lots".to_owned()),
        _ => None,
    };
    let err = state(&read).err().unwrap();
    assert!(err.to_string().contains("RATE_LIMIT_USER_API"), "{err}");
}

struct Reports(std::cell::RefCell<Vec<String>>);

impl ErrorReporter for Reports {
    fn report(&self, failure: &http::Failure<'_>) {
        let http::Failure {
            error_id,
            request_id,
            method,
            route,
            status,
            cause,
        } = failure;
        self.0
            .borrow_mut()
            .push(format!("{error_id} {request_id} {method} {route} {status} {cause}"));
    }
}

/// One request through the whole service; the failures it reported on the way.
fn send_with(world: &TestWorld, services: &Services<'_>, request: Request) -> (Handled, Vec<String>) {
    let reports = Reports(Default::default());
    let handled = pollster::block_on(handle(request, &world.state, services, &reports));
    assert!(
        !handled.undocumented,
        "{} answered {} undocumented",
        handled.route, handled.response.status
    );
    (handled, reports.0.into_inner())
}

fn send(world: &TestWorld, request: Request) -> Handled {
    send_with(world, &world.services(), request).0
}

fn json(path: &str, body: &str) -> Request {
    Request::new("POST", path)
        .with_header("content-type", "application/json")
        .with_header("cf-connecting-ip", "198.51.100.7")
        .with_body(body)
}

fn problem(handled: &Handled) -> serde_json::Value {
    assert_eq!(
        handled.response.header("content-type"),
        Some("application/problem+json")
    );
    serde_json::from_slice(&handled.response.body).unwrap()
}

fn world_with(vars: &'static [(&'static str, &'static str)]) -> TestWorld {
    TestWorld::with_vars(FEATURES, &test_vars_with(vars))
}

#[test]
fn the_request_over_a_limit_is_429_with_retry_after_and_the_quota() {
    let world = world_with(&[("RATE_LIMIT_FORGET_EMAIL", "2/60")]);
    let forget = |email: &str| {
        json(
            "/balance_hub/auth/password/forget",
            &format!(r#"{{"email":"{email}"}}"#),
        )
    };
    let statuses: Vec<u16> = (0..3)
        .map(|_| send(&world, forget("ada@example.com")).response.status)
        .collect();
    assert_eq!(statuses, [202, 202, 429]);
    let refused = send(&world, forget("ada@example.com"));
    assert_eq!(problem(&refused)["code"], "rate_limited");
    assert_eq!(refused.response.header("retry-after"), Some("30"));
    assert_eq!(refused.response.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(refused.response.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(refused.events, [AuthEvent::RateLimited]);
    assert_eq!(
        send(&world, forget("bo@example.com")).response.status,
        202,
        "another email has its own budget"
    );
}

struct Unreachable;

#[async_trait::async_trait(?Send)]
impl RateLimiter for Unreachable {
    async fn take(&self, _: &str, _: Policy) -> Result<Decision, LimiterError> {
        Err(LimiterError("connection refused".into()))
    }
    async fn begin_login(&self, _: &str, _: LockoutPolicy, _: Policy) -> Result<Gate, LimiterError> {
        Err(LimiterError("connection refused".into()))
    }
    async fn login_succeeded(&self, _: &str) -> Result<(), LimiterError> {
        Err(LimiterError("connection refused".into()))
    }
    async fn login_refunded(&self, _: &str, _: LockoutPolicy) -> Result<(), LimiterError> {
        Err(LimiterError("connection refused".into()))
    }
    async fn ping(&self) -> Result<(), LimiterError> {
        Err(LimiterError("connection refused".into()))
    }
}

#[test]
fn without_the_limiter_limited_routes_fail_closed_and_the_rest_answers() {
    let world = TestWorld::new(FEATURES);
    let services = Services {
        limiter: &Unreachable,
        ..world.services()
    };
    let login = json(
        "/balance_hub/auth/login",
        r#"{"email":"ada@example.com","password":"whatever it is"}"#,
    );
    let (handled, reports) = send_with(&world, &services, login);
    assert_eq!(handled.response.status, 503);
    assert_eq!(problem(&handled)["checks"]["rate_limiter"], "unavailable");
    assert_eq!(handled.events, [AuthEvent::DependencyUnavailable]);
    assert_eq!(reports.len(), 1, "the cause is reported");
    assert_eq!(
        send_with(&world, &services, Request::new("GET", "/")).0.response.status,
        200
    );
    assert_eq!(
        send_with(&world, &services, Request::new("GET", "/health"))
            .0
            .response
            .status,
        503
    );
}

#[test]
fn without_the_deployments_assets_only_what_reads_them_is_503() {
    let world = TestWorld::new(FEATURES);
    let nothing = crate::kernel::testing::MemoryAssets::default();
    let services = Services {
        assets: &nothing,
        ..world.services()
    };
    let (document, reports) = send_with(&world, &services, Request::new("GET", "/openapi.json"));
    assert_eq!(document.response.status, 503);
    assert_eq!(problem(&document)["checks"]["assets"], "unavailable");
    assert_eq!(reports.len(), 1, "the cause is reported");
    let login = json(
        "/balance_hub/auth/login",
        r#"{"email":"ada@example.com","password":"whatever it is"}"#,
    );
    assert_eq!(send_with(&world, &services, login).0.response.status, 401);
    assert_eq!(
        send_with(&world, &services, Request::new("GET", "/health"))
            .0
            .response
            .status,
        200
    );
}

#[test]
fn metrics_need_the_token_when_one_is_set() {
    let world = world_with(&[("METRICS_TOKEN", "scrape-me")]);
    let scrape = |auth: Option<&str>| {
        let mut request = Request::new("GET", "/metrics");
        if let Some(value) = auth {
            request = request.with_header("authorization", value);
        }
        send(&world, request)
    };
    let refused = scrape(None);
    assert_eq!(problem(&refused)["code"], "invalid_token");
    assert_eq!(refused.response.header("www-authenticate"), Some("Bearer"));
    assert_eq!(scrape(Some("Bearer scrape-mE")).response.status, 401);
    let ok = scrape(Some("Bearer scrape-me"));
    assert_eq!(ok.response.status, 200);
    assert_eq!(
        ok.response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(ok.response.body).unwrap();
    assert!(text.contains(r#"auth_events_total{event="registration"} 0"#), "{text}");
}

#[test]
fn an_injected_fault_is_a_500_reported_once_with_its_ids() {
    let world = world_with(&[("FAULT_INJECTION", "true")]);
    let request = json("/balance_hub/auth/login", r#"{"email":"ada@example.com"}"#)
        .with_header("x-fault-inject", "internal")
        .with_header("x-request-id", "req-42");
    let (handled, reports) = send_with(&world, &world.services(), request.clone());
    assert_eq!(handled.response.status, 500);
    let body = problem(&handled);
    assert_eq!(body["code"], "internal_error");
    assert!(
        !String::from_utf8_lossy(&handled.response.body).contains("injected"),
        "no internals in the body"
    );
    assert_eq!(reports.len(), 1);
    let error_id = body["error_id"].as_str().unwrap();
    let expected = format!("{error_id} req-42 POST {{p}}/auth/login 500");
    assert!(reports[0].starts_with(&expected), "{}", reports[0]);
    let off = TestWorld::new(FEATURES);
    assert_ne!(
        send(&off, request).response.status,
        500,
        "without FAULT_INJECTION the header does nothing"
    );
}

#[test]
fn a_failed_login_is_a_typed_event_and_its_outcome_the_code() {
    let world = TestWorld::new(FEATURES);
    let login = json(
        "/balance_hub/auth/login",
        r#"{"email":"nobody@example.com","password":"wrong but long"}"#,
    );
    let handled = send(&world, login);
    assert_eq!((handled.response.status, handled.route), (401, "{p}/auth/login"));
    assert_eq!(handled.events, [AuthEvent::LoginFailed]);
    assert_eq!(handled.outcome, "invalid_credentials");
}

#[test]
fn a_whole_account_life_runs_through_the_pipeline() {
    let world = TestWorld::new(FEATURES);
    let email = "life@example.com";
    let registered = send(
        &world,
        json(
            "/balance_hub/auth/register",
            &format!(r#"{{"email":"{email}","password":"{PASSWORD}"}}"#),
        ),
    );
    assert_eq!(registered.response.status, 201);
    let code = world.outbox.to(email)[0].value("code").unwrap().to_owned();
    let verified = send(
        &world,
        json(
            "/balance_hub/auth/verify-email",
            &format!(r#"{{"email":"{email}","code":"{code}"}}"#),
        ),
    );
    assert_eq!(verified.response.status, 200);
    let form = Request::new("POST", "/balance_hub/auth/login")
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_body(format!("username={email}&password={}", PASSWORD.replace(' ', "+")));
    let logged_in = send(&world, form);
    assert_eq!(logged_in.response.status, 200);
    let cookie = logged_in.response.header("set-cookie").unwrap().to_owned();
    assert!(cookie.starts_with("access_token=") && cookie.contains("HttpOnly") && cookie.contains("Secure"));
    let token = cookie
        .trim_start_matches("access_token=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let me = send(
        &world,
        Request::new("GET", "/balance_hub/auth/me").with_header("cookie", &format!("access_token={token}")),
    );
    assert_eq!(me.response.status, 200);
    assert_eq!(me.user_id.as_deref().map(str::len), Some(36));
    assert_eq!(me.response.header("cache-control"), Some("no-store"));
    let out = send(
        &world,
        Request::new("POST", "/balance_hub/auth/logout").with_header("authorization", &format!("Bearer {token}")),
    );
    assert_eq!(out.response.status, 204);
    let after = send(
        &world,
        Request::new("GET", "/balance_hub/auth/me").with_header("authorization", &format!("Bearer {token}")),
    );
    assert_eq!(problem(&after)["code"], "invalid_token");
}

#[test]
fn every_registered_route_is_in_the_served_document() {
    let world = TestWorld::new(FEATURES);
    let served = send(&world, Request::new("GET", "/openapi.json"));
    let doc: serde_json::Value = serde_json::from_slice(&served.response.body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for route in FEATURES.iter().flat_map(|f| f.routes.iter()) {
        let path = route.path.replace("{p}", "/balance_hub");
        let operation = &doc["paths"][&path][route.method.to_ascii_lowercase()];
        assert!(operation.is_object(), "{} {path} is missing", route.method);
        for code in route.problem_answers() {
            let response = &operation["responses"][code.status.to_string()];
            let described = response["description"].as_str().unwrap_or_default();
            assert!(
                described.contains(code.code),
                "{} {path}: {} not documented",
                route.method,
                code.code
            );
            assert_eq!(
                response["content"]["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/Problem"
            );
        }
    }
}
