//! The pipeline, natively, on a feature made for the test: routing answers, the headers
//! every answer carries, CORS, body limits, 5xx reports and the documented-answer check.

use std::cell::RefCell;

use super::*;
use crate::handler;
use crate::kernel::feature::{Body, Feature, Route};
use crate::kernel::problem::ProblemCode;
use crate::kernel::testing::TestWorld;

const TEAPOT: ProblemCode = ProblemCode::new(418, "teapot", "Teapot");
const UNLISTED: ProblemCode = ProblemCode::new(409, "unlisted", "Not in the registration");

async fn echo(_: &Ctx<'_>, request: &Request) -> Result<Response, ApiError> {
    let value: serde_json::Map<String, serde_json::Value> = body::json(request)?;
    Ok(Response::json(200, &value))
}

async fn teapot(_: &Ctx<'_>, _: &Request) -> Result<Response, ApiError> {
    Err(ApiError::new(&TEAPOT, "short and stout"))
}

async fn unlisted(_: &Ctx<'_>, _: &Request) -> Result<Response, ApiError> {
    Err(ApiError::new(&UNLISTED, "nobody wrote this down"))
}

async fn broken(_: &Ctx<'_>, _: &Request) -> Result<Response, ApiError> {
    Err(ApiError::internal_cause("the disk is full"))
}

async fn wrong_success(_: &Ctx<'_>, _: &Request) -> Result<Response, ApiError> {
    Ok(Response::empty(204))
}

static TEST_FEATURE: Feature = Feature {
    name: "test",
    routes: &[
        Route::new("POST", "{p}/auth/echo", handler!(echo), 200).body(Body::Json),
        Route::new("GET", "/teapot", handler!(teapot), 200).problems(&[&TEAPOT]),
        Route::new("GET", "/unlisted", handler!(unlisted), 200),
        Route::new("GET", "/broken", handler!(broken), 200),
        Route::new("GET", "/wrong-success", handler!(wrong_success), 200),
    ],
    limits: &[],
    mails: &[],
    settings: None,
    housekeeping: &[],
    sign_in_completed: None,
    second_factors: &[],
    startup: None,
    openapi: utoipa::openapi::OpenApi::default,
};
static FEATURES: &[&Feature] = &[&TEST_FEATURE];

#[derive(Default)]
struct Reports(RefCell<Vec<String>>);

impl ErrorReporter for Reports {
    fn report(&self, failure: &Failure<'_>) {
        self.0
            .borrow_mut()
            .push(format!("{} {} {}", failure.route, failure.status, failure.cause));
    }
}

fn world() -> TestWorld {
    let read = |name: &str| match name {
        "CORS_ORIGINS" => Some("https://app.example".to_owned()),
        other => crate::kernel::config::test_var(other),
    };
    TestWorld::with_vars(&[], &read)
}

fn send_full(world: &TestWorld, request: Request) -> (Handled, Vec<String>) {
    let reports = Reports::default();
    let handled = pollster::block_on(handle(request, &world.state, FEATURES, &world.services(), &reports));
    (handled, reports.0.into_inner())
}

fn send(request: Request) -> Handled {
    send_full(&world(), request).0
}

fn code(handled: &Handled) -> String {
    assert_eq!(
        handled.response.header("content-type"),
        Some("application/problem+json")
    );
    let body: serde_json::Value = serde_json::from_slice(&handled.response.body).unwrap();
    body["code"].as_str().unwrap().to_owned()
}

#[test]
fn unknown_routes_and_wrong_methods_answer_problems() {
    let missing = send(Request::new("GET", "/nope"));
    assert_eq!((missing.response.status, code(&missing)), (404, "not_found".into()));
    assert_eq!(missing.route, "unmatched");
    let wrong = send(Request::new("GET", "/balance_hub/auth/echo"));
    assert_eq!(
        (wrong.response.status, code(&wrong)),
        (405, "method_not_allowed".into())
    );
    assert_eq!(wrong.response.header("allow"), Some("POST, OPTIONS"));
}

#[test]
fn oversized_bodies_are_refused_before_the_handler() {
    let body = format!(r#"{{"x":"{}"}}"#, "a".repeat(17 * 1024));
    let request = Request::new("POST", "/balance_hub/auth/echo")
        .with_header("content-type", "application/json")
        .with_body(body);
    let handled = send(request);
    assert_eq!(
        (handled.response.status, code(&handled)),
        (413, "payload_too_large".into())
    );
    assert!(!handled.undocumented, "every route with a body documents 413");
}

#[test]
fn auth_routes_are_never_cached_and_every_answer_has_a_request_id() {
    let handled = send(
        Request::new("POST", "/balance_hub/auth/echo")
            .with_header("content-type", "application/json")
            .with_body("{}"),
    );
    assert_eq!(handled.response.header("cache-control"), Some("no-store"));
    assert!(handled.response.header("x-request-id").is_some_and(|id| id.len() == 36));
    assert_eq!(handled.response.header("x-content-type-options"), Some("nosniff"));
    let echoed = send(Request::new("GET", "/teapot").with_header("x-request-id", "trace-123"));
    assert_eq!(echoed.response.header("x-request-id"), Some("trace-123"));
    assert_eq!(echoed.response.header("cache-control"), None);
    let unknown_auth_path = send(Request::new("GET", "/balance_hub/auth/nothing"));
    assert_eq!(unknown_auth_path.response.header("cache-control"), Some("no-store"));
    let bad_id = send(Request::new("GET", "/teapot").with_header("x-request-id", "has space"));
    assert_ne!(bad_id.response.header("x-request-id"), Some("has space"));
}

#[test]
fn generated_request_ids_are_distinct_version_8_uuids() {
    let ids: Vec<String> = (0..1000).map(|_| new_request_id()).collect();
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len());
    for id in &ids {
        let groups: Vec<&str> = id.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12],
            "{id}"
        );
        assert!(
            id.bytes()
                .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{id}"
        );
        assert!(groups[2].starts_with('8'), "version 8: {id}");
        assert!(
            matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
            "RFC 9562 variant: {id}"
        );
    }
    // One isolate's ids share their random half; the count is in the other.
    assert_eq!(ids[0][..18], ids[999][..18]);
}

#[test]
fn cors_allows_listed_origins_only() {
    let preflight = |origin: &str| {
        send(
            Request::new("OPTIONS", "/balance_hub/auth/echo")
                .with_header("origin", origin)
                .with_header("access-control-request-method", "POST"),
        )
        .response
    };
    let allowed = preflight("https://app.example");
    assert_eq!(allowed.status, 204);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(allowed.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(allowed.header("access-control-allow-methods"), Some("POST, OPTIONS"));
    let refused = preflight("https://evil.example");
    assert_eq!(refused.header("access-control-allow-origin"), None);
    assert_eq!(refused.header("access-control-allow-methods"), None);
}

#[test]
fn a_5xx_cause_is_reported_once_and_never_sent() {
    let (handled, reports) = send_full(&world(), Request::new("GET", "/broken"));
    assert_eq!(handled.response.status, 500);
    assert!(!String::from_utf8_lossy(&handled.response.body).contains("disk"));
    assert_eq!(reports, ["/broken 500 the disk is full"]);
    let (_, none) = send_full(&world(), Request::new("GET", "/teapot"));
    assert!(none.is_empty(), "a 4xx is not a failure");
}

#[test]
fn an_answer_the_route_does_not_document_is_flagged() {
    let listed = send(Request::new("GET", "/teapot"));
    assert_eq!((listed.response.status, listed.outcome), (418, "teapot"));
    assert!(!listed.undocumented);
    assert!(send(Request::new("GET", "/unlisted")).undocumented);
    assert!(send(Request::new("GET", "/wrong-success")).undocumented);
    assert!(
        !send(Request::new("GET", "/broken")).undocumented,
        "500 is always documented"
    );
    assert!(!send(Request::new("GET", "/nope")).undocumented, "not a route's answer");
}
