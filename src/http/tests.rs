//! The HTTP edge, natively: statuses, headers and CORS without a Worker.

use std::cell::RefCell;

use super::*;
use crate::config::test_config;
use crate::domain::LimiterError;
use crate::domain::{Mail, UnixSeconds};
use crate::observability::metrics::Aggregate;
use crate::rate_limit::memory::MemoryLimiter;
use crate::rate_limit::policy::{Decision, Gate, LockoutPolicy, Policy};
use crate::storage::memory::MemoryStore;
use std::rc::Rc;

struct Fixed;
impl Clock for Fixed {
    fn now(&self) -> UnixSeconds {
        1_800_000_000
    }
}

#[derive(Default)]
struct Outgoing(RefCell<Vec<Mail>>);
impl Outbox for Outgoing {
    fn send(&self, mail: Mail) {
        self.0.borrow_mut().push(mail);
    }
}

#[derive(Default)]
struct Reports(RefCell<Vec<String>>);
impl ErrorReporter for Reports {
    fn report(&self, failure: &Failure<'_>) {
        let Failure {
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

struct NoMetrics;
#[async_trait::async_trait(?Send)]
impl MetricsSource for NoMetrics {
    async fn snapshot(&self) -> Result<Aggregate, String> {
        let mut aggregate = Aggregate::default();
        aggregate.record_request("GET", "/health", 200, 2);
        Ok(aggregate)
    }
}

fn send(request: Request) -> Response {
    send_limited(request, &MemoryLimiter::new(Rc::new(Fixed)), test_config())
}

fn send_limited(request: Request, limiter: &dyn RateLimiter, config: crate::config::Config) -> Response {
    send_full(request, limiter, config).0.response
}

/// The whole outcome, with the failures reported on the way.
fn send_full(request: Request, limiter: &dyn RateLimiter, mut config: crate::config::Config) -> (Handled, Vec<String>) {
    config.cors_origins = vec!["https://app.example".into()];
    let state = AppState::new(config);
    let (store, outbox, reports) = (MemoryStore::default(), Outgoing::default(), Reports::default());
    let services = Services {
        store: &store,
        outbox: &outbox,
        clock: &Fixed,
        reporter: &reports,
        limiter,
        metrics: &NoMetrics,
    };
    let handled = pollster::block_on(handle(request, &state, &services));
    (handled, reports.0.into_inner())
}

fn problem(response: &Response) -> serde_json::Value {
    assert_eq!(response.header("content-type"), Some("application/problem+json"));
    serde_json::from_slice(&response.body).unwrap()
}

#[test]
fn unknown_routes_and_wrong_methods_answer_problems() {
    let response = send(Request::new("GET", "/nope"));
    assert_eq!(
        (response.status, problem(&response)["code"].as_str()),
        (404, Some("not_found"))
    );
    let response = send(Request::new("GET", "/balance_hub/auth/login"));
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("POST, OPTIONS"));
}

#[test]
fn oversized_bodies_are_refused_before_parsing() {
    let body = format!(r#"{{"email":"{}@example.com","password":"x"}}"#, "a".repeat(17 * 1024));
    let request = Request::new("POST", "/balance_hub/auth/register")
        .with_header("content-type", "application/json")
        .with_body(body);
    let response = send(request);
    assert_eq!(
        (response.status, problem(&response)["code"].as_str()),
        (413, Some("payload_too_large"))
    );
}

#[test]
fn auth_routes_are_never_cached_and_every_answer_has_a_request_id() {
    let response = send(Request::new("GET", "/balance_hub/auth/me"));
    assert_eq!(response.status, 401);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert!(response.header("x-request-id").is_some_and(|id| id.len() == 36));
    let echoed = send(Request::new("GET", "/").with_header("x-request-id", "trace-123"));
    assert_eq!(echoed.header("x-request-id"), Some("trace-123"));
    assert_eq!(echoed.header("cache-control"), None);
}

#[test]
fn cors_allows_listed_origins_only() {
    let preflight = |origin: &str| {
        send(
            Request::new("OPTIONS", "/balance_hub/auth/login")
                .with_header("origin", origin)
                .with_header("access-control-request-method", "POST"),
        )
    };
    let allowed = preflight("https://app.example");
    assert_eq!(allowed.status, 204);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(allowed.header("access-control-allow-credentials"), Some("true"));
    let refused = preflight("https://evil.example");
    assert_eq!(refused.header("access-control-allow-origin"), None);
    assert_eq!(refused.header("access-control-allow-methods"), None);
}

#[test]
fn the_openapi_document_lists_every_route_under_the_prefix() {
    let response = send(Request::new("GET", "/openapi.json"));
    let doc: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (_, method, template) in router::ROUTES {
        let path = template.replace("{p}", "/balance_hub");
        let operation = &doc["paths"][&path][method.to_ascii_lowercase()];
        assert!(
            operation.is_object(),
            "{method} {path} is missing from the OpenAPI document"
        );
    }
}

fn forget(email: &str) -> Request {
    Request::new("POST", "/balance_hub/auth/password/forget")
        .with_header("content-type", "application/json")
        .with_header("cf-connecting-ip", "198.51.100.7")
        .with_body(format!(r#"{{"email":"{email}"}}"#))
}

#[test]
fn the_request_over_a_limit_is_429_with_retry_after() {
    let limiter = MemoryLimiter::new(Rc::new(Fixed));
    let mut config = test_config();
    config.limits =
        crate::rate_limit::limits::Limits::from_vars(|name| (name == "RATE_LIMIT_FORGET_EMAIL").then(|| "2/60".into()))
            .unwrap();
    let statuses: Vec<u16> = (0..3)
        .map(|_| send_limited(forget("ada@example.com"), &limiter, config.clone()).status)
        .collect();
    assert_eq!(statuses, [202, 202, 429]);
    let refused = send_limited(forget("ada@example.com"), &limiter, config.clone());
    assert_eq!(problem(&refused)["code"], "rate_limited");
    assert_eq!(refused.header("retry-after"), Some("30"));
    assert_eq!(refused.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(
        send_limited(forget("bo@example.com"), &limiter, config).status,
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
    async fn ping(&self) -> Result<(), LimiterError> {
        Err(LimiterError("connection refused".into()))
    }
}

#[test]
fn without_the_limiter_auth_routes_fail_closed() {
    let login = Request::new("POST", "/balance_hub/auth/login")
        .with_header("content-type", "application/json")
        .with_body(r#"{"email":"ada@example.com","password":"whatever it is"}"#);
    let response = send_limited(login, &Unreachable, test_config());
    assert_eq!(response.status, 503);
    assert_eq!(problem(&response)["checks"]["rate_limiter"], "unavailable");
    assert_eq!(
        send_limited(Request::new("GET", "/"), &Unreachable, test_config()).status,
        200
    );
}

#[test]
fn metrics_need_the_token_when_one_is_set() {
    let limiter = MemoryLimiter::new(Rc::new(Fixed));
    let mut config = test_config();
    config.metrics_token = crate::config::Config::from_env(|n| match n {
        "SECRET_KEY" => Some("a-test-secret-key-that-is-long-enough-0123".into()),
        "METRICS_TOKEN" => Some("scrape-me".into()),
        _ => None,
    })
    .unwrap()
    .metrics_token;
    let scrape = |auth: Option<&str>| {
        let mut request = Request::new("GET", "/metrics");
        if let Some(value) = auth {
            request = request.with_header("authorization", value);
        }
        send_limited(request, &limiter, config.clone())
    };
    assert_eq!(scrape(None).status, 401);
    assert_eq!(scrape(Some("Bearer scrape-mE")).status, 401);
    let ok = scrape(Some("Bearer scrape-me"));
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(ok.body).unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/health",status="200"} 1"#),
        "{text}"
    );
}

#[test]
fn an_injected_fault_is_a_500_reported_once_with_its_ids() {
    let limiter = MemoryLimiter::new(Rc::new(Fixed));
    let mut config = test_config();
    config.fault_injection = true;
    let request = Request::new("POST", "/balance_hub/auth/login")
        .with_header("x-fault-inject", "internal")
        .with_header("x-request-id", "req-42")
        .with_body(r#"{"email":"ada@example.com"}"#);
    let (handled, reports) = send_full(request.clone(), &limiter, config);
    assert_eq!(handled.response.status, 500);
    let body = problem(&handled.response);
    assert_eq!(body["code"], "internal_error");
    assert!(
        !String::from_utf8_lossy(&handled.response.body).contains("injected"),
        "no internals in the body"
    );
    assert_eq!(reports.len(), 1);
    let error_id = body["error_id"].as_str().unwrap();
    let expected = format!("{error_id} req-42 POST {{p}}/auth/login 500");
    assert!(reports[0].starts_with(&expected), "{}", reports[0]);
    let (off, _) = send_full(request, &limiter, test_config());
    assert_ne!(
        off.response.status, 500,
        "without FAULT_INJECTION the header does nothing"
    );
}

#[test]
fn answers_become_auth_events() {
    let limiter = MemoryLimiter::new(Rc::new(Fixed));
    let login = Request::new("POST", "/balance_hub/auth/login")
        .with_header("content-type", "application/json")
        .with_body(r#"{"email":"nobody@example.com","password":"wrong but long"}"#);
    let (handled, _) = send_full(login, &limiter, test_config());
    assert_eq!((handled.response.status, handled.route), (401, "{p}/auth/login"));
    assert_eq!(handled.events, ["login_failed"]);
    assert_eq!(handled.outcome, "invalid_credentials");
}
